/* relay_bench: a relay in the middle of two TCP loopback connections, four ways, in one
 * run, interleaved, with medians of paired ratios of throughput and of the relay
 * thread's CPU time:
 *
 *   splice-sk   sk_tcp_splice(from, to, N, ...), one call, a 5 s budget
 *   splice-raw  its twin: a pipe and splice(2) in and out, blocking sockets, no timeout
 *   copy-sk     recv 64 KiB (sk_tcp_recv) + sk_tcp_send_all, a 5 s budget per call
 *               (the loop a program writes without splice)
 *   copy-raw    its twin: recv + send(MSG_NOSIGNAL) loops
 *
 *   relay_bench [-r ROUNDS] [-m MIB] [--only VARIANT] [--smoke]
 *
 * A raw source thread connects to the relay and writes N bytes (the pattern); a raw
 * sink thread reads 64 KiB at a time until it has them and answers one byte, which the
 * relay waits for, so a figure includes delivery. Each round runs every variant once,
 * in an order that reverses every other round; a ratio is taken within each round and
 * the median of the rounds' ratios printed. --smoke: small, every byte checked by the
 * sink, exit 1 on any failure; nothing timed is asserted. --only runs one variant (for
 * strace -c -f). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sockkit.h>

#define TWIN_PROG "relay_bench"
#include "twin.h"

#define CHUNK 65536
#define TIMEOUT_MS 5000
#define MAX_ROUNDS 64

enum { SPLICE_SK, SPLICE_RAW, COPY_SK, COPY_RAW, NVARIANTS };
static const char *const names[NVARIANTS] = {"splice-sk", "splice-raw", "copy-sk", "copy-raw"};

static size_t total = 256u << 20;
static int smoke;
static unsigned char *source_data;

static int raw_listen(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        die("listen");
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- the raw source and sink --------------------------------------------------- */

struct ends {
    int relay_port;      /* where the source connects */
    int sink_lfd;        /* where the relay connects */
    int runs;            /* how many transfers the source makes */
    pthread_t src, sink;
    int bad;             /* smoke: the sink got a wrong byte or count */
};

static void *source_main(void *p)
{
    struct ends *e = p;
    for (int i = 0; i < e->runs; i++) {
        int fd = raw_connect(e->relay_port);
        size_t put = 0;
        while (put < total) {
            ssize_t k = send(fd, source_data + put, total - put, MSG_NOSIGNAL);
            if (k < 0 && errno != EINTR)
                break;
            if (k > 0)
                put += (size_t)k;
        }
        close(fd);
    }
    return NULL;
}

static void *sink_main(void *p)
{
    struct ends *e = p;
    static unsigned char buf[CHUNK];
    for (;;) {
        int fd = accept(e->sink_lfd, NULL, NULL);
        size_t got = 0;
        if (fd < 0)
            return NULL; /* shut down: the run is over */
        while (got < total) {
            ssize_t k = recv(fd, buf, sizeof buf, 0);
            if (k <= 0)
                break;
            if (smoke)
                for (ssize_t i = 0; i < k; i++)
                    e->bad |= buf[i] != pattern(got + (size_t)i);
            got += (size_t)k;
        }
        e->bad |= got != total;
        (void)!send(fd, "k", 1, MSG_NOSIGNAL);
        close(fd);
    }
}

/* ---- the relays ------------------------------------------------------------------ */

/* The library's two relays: both endpoints made by the library. */
static int run_sk(int v, sk_tcp *listener, int sink_port, double *wall, double *cpu)
{
    static char buf[CHUNK];
    sk_tcp *from, *to;
    size_t moved = 0;
    double w0, c0;
    int rc;

    if (sk_tcp_accept(listener, &from, TIMEOUT_MS) != SK_OK || sk_tcp_connect(&to, "127.0.0.1", sink_port, TIMEOUT_MS) != SK_OK)
        return -1;
    w0 = clock_s(CLOCK_MONOTONIC);
    c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    if (v == SPLICE_SK) {
        rc = sk_tcp_splice(from, to, total, &moved, TIMEOUT_MS);
    } else {
        rc = SK_OK;
        while (rc == SK_OK && moved < total) {
            size_t n = 0, sent = 0;
            rc = sk_tcp_recv(from, buf, sizeof buf, &n, TIMEOUT_MS);
            if (rc == SK_OK)
                rc = sk_tcp_send_all(to, buf, n, &sent, TIMEOUT_MS);
            moved += sent;
        }
    }
    if (rc != SK_OK || moved != total)
        return -1;
    wait_ack(sk_tcp_fd(to));
    *cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    *wall = clock_s(CLOCK_MONOTONIC) - w0;
    sk_tcp_close(from);
    sk_tcp_close(to);
    return 0;
}

static int run_raw(int v, int lfd, int sink_port, double *wall, double *cpu)
{
    static char buf[CHUNK];
    int from = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), to, p[2];
    size_t moved = 0;
    double w0, c0;

    if (from < 0)
        return -1;
    to = raw_connect(sink_port);
    w0 = clock_s(CLOCK_MONOTONIC);
    c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    if (v == SPLICE_RAW) {
        /* A pipe per transfer, as a program that splices writes it. */
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
            return -1;
        while (moved < total) {
            size_t want = total - moved < CHUNK ? total - moved : CHUNK;
            ssize_t in = splice(from, NULL, p[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (in <= 0) {
                if (in < 0 && errno == EINTR)
                    continue;
                return -1;
            }
            while (in > 0) {
                ssize_t out = splice(p[0], NULL, to, NULL, (size_t)in, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (out < 0 && errno != EINTR)
                    return -1;
                if (out > 0) {
                    in -= out;
                    moved += (size_t)out;
                }
            }
        }
        close(p[0]);
        close(p[1]);
    } else {
        while (moved < total) {
            ssize_t k = recv(from, buf, sizeof buf, 0);
            if (k <= 0) {
                if (k < 0 && errno == EINTR)
                    continue;
                return -1;
            }
            if (raw_send_all(to, buf, (size_t)k) != 0)
                return -1;
            moved += (size_t)k;
        }
    }
    wait_ack(to);
    *cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    *wall = clock_s(CLOCK_MONOTONIC) - w0;
    close(from);
    close(to);
    return 0;
}

/* The median over the rounds of num's figure over den's, in the same round. */
static double paired(double (*x)[MAX_ROUNDS], int num, int den, int rounds)
{
    double r[MAX_ROUNDS];
    for (int i = 0; i < rounds; i++)
        r[i] = x[num][i] / x[den][i];
    return median(r, rounds);
}

int main(int argc, char **argv)
{
    int rounds = 9, only = -1, sink_port, relay_port, raw_lfd, raw_port;
    double wall[NVARIANTS][MAX_ROUNDS], cpu[NVARIANTS][MAX_ROUNDS], mbs[NVARIANTS][MAX_ROUNDS];
    double cpug[NVARIANTS][MAX_ROUNDS];
    struct ends e;
    sk_tcp *listener;
    sk_addr la;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
            total = (size_t)atol(argv[++i]) << 20;
        else if (strcmp(argv[i], "--smoke") == 0)
            smoke = 1;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            const char *n = argv[++i];
            for (int v = 0; v < NVARIANTS; v++)
                if (strcmp(n, names[v]) == 0)
                    only = v;
            if (only < 0) {
                fprintf(stderr, "relay_bench: no variant %s\n", n);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: relay_bench [-r ROUNDS] [-m MIB] [--only VARIANT] [--smoke]\n");
            return 2;
        }
    }
    if (smoke) {
        rounds = 2;
        total = 3 * 1024 * 1024 + 7;
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || total == 0) {
        fprintf(stderr, "relay_bench: 1..%d rounds, and at least 1 MiB\n", MAX_ROUNDS);
        return 2;
    }
    if ((source_data = malloc(total)) == NULL)
        die("malloc");
    for (size_t i = 0; i < total; i++)
        source_data[i] = pattern(i);

    /* The relay listens twice: with the library for the sk variants, raw for the raw
     * ones; the source connects to whichever the next variant uses. */
    if (sk_tcp_listen(&listener, "127.0.0.1", 0, 16) != SK_OK || sk_tcp_local_addr(listener, &la) != SK_OK)
        die("sk_tcp_listen");
    relay_port = sk_addr_port(&la);
    raw_lfd = raw_listen(&raw_port);
    memset(&e, 0, sizeof e);
    e.sink_lfd = raw_listen(&sink_port);
    if (pthread_create(&e.sink, NULL, sink_main, &e) != 0)
        die("pthread_create");

    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < NVARIANTS; j++) {
            int v = r % 2 ? NVARIANTS - 1 - j : j, rc;
            const int sk = v == SPLICE_SK || v == COPY_SK;
            if (only >= 0 && v != only)
                continue;
            e.relay_port = sk ? relay_port : raw_port;
            e.runs = 1;
            if (pthread_create(&e.src, NULL, source_main, &e) != 0)
                die("pthread_create");
            rc = sk ? run_sk(v, listener, sink_port, &wall[v][r], &cpu[v][r])
                    : run_raw(v, raw_lfd, sink_port, &wall[v][r], &cpu[v][r]);
            pthread_join(e.src, NULL);
            if (rc != 0) {
                fprintf(stderr, "relay_bench: %s failed\n", names[v]);
                return 1;
            }
            mbs[v][r] = (double)total / 1e6 / wall[v][r];
            cpug[v][r] = cpu[v][r] / ((double)total / (1u << 30));
        }
    }
    shutdown(e.sink_lfd, SHUT_RDWR);
    pthread_join(e.sink, NULL);
    close(e.sink_lfd);
    close(raw_lfd);
    sk_tcp_close(listener);
    free(source_data);
    if (e.bad) {
        fprintf(stderr, "relay_bench: the sink got wrong bytes or a wrong count\n");
        return 1;
    }
    if (smoke) {
        printf("relay_bench: smoke: every variant relayed %zu bytes intact\n", total);
        return 0;
    }
    printf("relay_bench: %zu MiB relayed over TCP loopback, %d rounds, medians\n", total >> 20, rounds);
    for (int v = 0; v < NVARIANTS; v++) {
        double m[MAX_ROUNDS], c[MAX_ROUNDS];
        if (only >= 0 && v != only)
            continue;
        memcpy(m, mbs[v], sizeof m);
        memcpy(c, cpug[v], sizeof c);
        printf("  %-11s %8.0f MB/s   relay CPU %7.1f ms per GiB\n", names[v], median(m, rounds), median(c, rounds) * 1e3);
    }
    if (only < 0) {
        printf("  paired ratios, median of %d rounds (throughput, CPU per GiB):\n", rounds);
        printf("    splice-sk / splice-raw  %.3f, %.3f\n", paired(mbs, SPLICE_SK, SPLICE_RAW, rounds),
               paired(cpug, SPLICE_SK, SPLICE_RAW, rounds));
        printf("    copy-sk   / copy-raw    %.3f, %.3f\n", paired(mbs, COPY_SK, COPY_RAW, rounds),
               paired(cpug, COPY_SK, COPY_RAW, rounds));
        printf("    splice-sk / copy-sk     %.3f, %.3f   (CPU saved: %.1f %%)\n", paired(mbs, SPLICE_SK, COPY_SK, rounds),
               paired(cpug, SPLICE_SK, COPY_SK, rounds), 100.0 * (1.0 - paired(cpug, SPLICE_SK, COPY_SK, rounds)));
    }
    return 0;
}
