/* file_bench: a cached file sent on TCP loopback, four ways, in one run, interleaved,
 * with medians and ratios of throughput and of the sender's CPU time:
 *
 *   sendfile-sk   sk_tcp_sendfile, a 5 s budget
 *   sendfile-raw  its twin: sendfile(2) in a loop on a blocking socket, no timeout
 *   copy-sk       pread 64 KiB + sk_tcp_send_all, a 5 s budget per call (what a
 *                 program writes without sendfile)
 *   copy-raw      its twin: pread + send(MSG_NOSIGNAL) loops
 *
 *   file_bench [-r ROUNDS] [-m MIB] [--only VARIANT] [--smoke]
 *
 * The peer of every variant is the same raw thread: it reads 64 KiB at a time until it
 * has the whole file, then answers one byte, so a figure includes delivery. Each round
 * runs every variant once, in an order that reverses every other round. --smoke: a
 * small file, every byte checked by the peer, exit 1 on any failure; nothing timed is
 * asserted. --only runs one variant (for strace -c -f). */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sockkit.h>

#define TWIN_PROG "file_bench"
#include "twin.h"

#define CHUNK 65536
#define TIMEOUT_MS 5000
#define MAX_ROUNDS 64

enum { SF_SK, SF_RAW, COPY_SK, COPY_RAW, NVARIANTS };
static const char *const names[NVARIANTS] = {"sendfile-sk", "sendfile-raw", "copy-sk", "copy-raw"};

static size_t file_bytes = 256u << 20;
static int smoke;

/* ---- the raw peer ------------------------------------------------------------- */

struct peer {
    int lfd;
    pthread_t th;
    int bad; /* smoke: a byte differed, or the count did */
};

static void *peer_main(void *p)
{
    struct peer *pr = p;
    static unsigned char buf[CHUNK];
    for (;;) {
        int fd = accept(pr->lfd, NULL, NULL);
        size_t got = 0;
        if (fd < 0)
            return NULL; /* the listener was shut down: the run is over */
        while (got < file_bytes) {
            ssize_t k = recv(fd, buf, sizeof buf, 0);
            if (k <= 0)
                break;
            if (smoke)
                for (ssize_t i = 0; i < k; i++)
                    pr->bad |= buf[i] != pattern(got + (size_t)i);
            got += (size_t)k;
        }
        pr->bad |= got != file_bytes;
        (void)!send(fd, "k", 1, MSG_NOSIGNAL);
        close(fd);
    }
}

/* ---- the senders -------------------------------------------------------------- */

/* One variant: the whole file once. Returns 0, or -1 on a failure. */
static int run(int v, int port, int file)
{
    static char buf[CHUNK];
    size_t off = 0;

    if (v == SF_SK || v == COPY_SK) {
        sk_tcp *c;
        size_t sent = 0;
        int rc = sk_tcp_connect(&c, "127.0.0.1", port, TIMEOUT_MS);
        if (rc != SK_OK)
            return -1;
        if (v == SF_SK) {
            rc = sk_tcp_sendfile(c, file, 0, file_bytes, &sent, TIMEOUT_MS);
        } else {
            while (rc == SK_OK && off < file_bytes) {
                ssize_t k = pread(file, buf, sizeof buf, (off_t)off);
                if (k <= 0)
                    return -1;
                rc = sk_tcp_send_all(c, buf, (size_t)k, &sent, TIMEOUT_MS);
                off += sent;
            }
        }
        if (rc != SK_OK)
            return -1;
        wait_ack(sk_tcp_fd(c));
        sk_tcp_close(c);
        return 0;
    }
    {
        int fd = raw_connect(port);
        if (v == SF_RAW) {
            off_t o = 0;
            while ((size_t)o < file_bytes) {
                ssize_t k = sendfile(fd, file, &o, file_bytes - (size_t)o);
                if (k <= 0 && errno != EINTR)
                    return -1;
            }
        } else {
            while (off < file_bytes) {
                ssize_t k = pread(file, buf, sizeof buf, (off_t)off);
                if (k <= 0)
                    return -1;
                if (raw_send_all(fd, buf, (size_t)k) != 0)
                    return -1;
                off += (size_t)k;
            }
        }
        wait_ack(fd);
        close(fd);
        return 0;
    }
}

int main(int argc, char **argv)
{
    int rounds = 7, only = -1, port, file;
    double wall[NVARIANTS][MAX_ROUNDS], cpu[NVARIANTS][MAX_ROUNDS];
    struct peer pr;
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    char path[] = "/tmp/sk-file-bench-XXXXXX";

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
            file_bytes = (size_t)atol(argv[++i]) << 20;
        else if (strcmp(argv[i], "--smoke") == 0)
            smoke = 1;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            const char *n = argv[++i];
            for (int v = 0; v < NVARIANTS; v++)
                if (strcmp(n, names[v]) == 0)
                    only = v;
            if (only < 0) {
                fprintf(stderr, "file_bench: no variant %s\n", n);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: file_bench [-r ROUNDS] [-m MIB] [--only VARIANT] [--smoke]\n");
            return 2;
        }
    }
    if (smoke) {
        rounds = 2;
        file_bytes = 3 * 1024 * 1024 + 7;
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || file_bytes == 0) {
        fprintf(stderr, "file_bench: 1..%d rounds, and a file of at least 1 MiB\n", MAX_ROUNDS);
        return 2;
    }

    /* The file, written once and so in the page cache for every variant. */
    if ((file = mkstemp(path)) < 0)
        die("mkstemp");
    unlink(path);
    {
        static unsigned char buf[CHUNK];
        for (size_t off = 0; off < file_bytes;) {
            size_t n = file_bytes - off < sizeof buf ? file_bytes - off : sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = pattern(off + i);
            if (write(file, buf, n) != (ssize_t)n)
                die("write the file");
            off += n;
        }
    }

    memset(&pr, 0, sizeof pr);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((pr.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 || bind(pr.lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(pr.lfd, 16) != 0 || getsockname(pr.lfd, (struct sockaddr *)&a, &alen) != 0)
        die("listen");
    port = ntohs(a.sin_port);
    if (pthread_create(&pr.th, NULL, peer_main, &pr) != 0)
        die("pthread_create");

    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < NVARIANTS; j++) {
            int v = r % 2 ? NVARIANTS - 1 - j : j;
            double w0, c0;
            if (only >= 0 && v != only)
                continue;
            w0 = clock_s(CLOCK_MONOTONIC);
            c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
            if (run(v, port, file) != 0) {
                fprintf(stderr, "file_bench: %s failed\n", names[v]);
                return 1;
            }
            cpu[v][r] = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
            wall[v][r] = clock_s(CLOCK_MONOTONIC) - w0;
        }
    }
    shutdown(pr.lfd, SHUT_RDWR);
    pthread_join(pr.th, NULL);
    close(pr.lfd);
    close(file);
    if (pr.bad) {
        fprintf(stderr, "file_bench: the peer got wrong bytes or a wrong count\n");
        return 1;
    }
    if (smoke) {
        printf("file_bench: smoke: every variant delivered %zu bytes intact\n", file_bytes);
        return 0;
    }

    {
        double mbs[NVARIANTS], cpums[NVARIANTS];
        printf("file_bench: %zu MiB cached file over TCP loopback, %d rounds, medians\n", file_bytes >> 20, rounds);
        for (int v = 0; v < NVARIANTS; v++) {
            if (only >= 0 && v != only)
                continue;
            mbs[v] = (double)file_bytes / 1e6 / median(wall[v], rounds);
            cpums[v] = median(cpu[v], rounds) * 1e3;
            printf("  %-13s %8.0f MB/s   sender CPU %7.1f ms\n", names[v], mbs[v], cpums[v]);
        }
        if (only < 0) {
            printf("  sendfile sk/raw throughput %.3f, CPU %.3f\n", mbs[SF_SK] / mbs[SF_RAW], cpums[SF_SK] / cpums[SF_RAW]);
            printf("  copy     sk/raw throughput %.3f, CPU %.3f\n", mbs[COPY_SK] / mbs[COPY_RAW],
                   cpums[COPY_SK] / cpums[COPY_RAW]);
            printf("  sk sendfile/copy throughput %.2fx, CPU %.2f of it\n", mbs[SF_SK] / mbs[COPY_SK],
                   cpums[SF_SK] / cpums[COPY_SK]);
        }
    }
    return 0;
}
