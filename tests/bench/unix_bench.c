/* unix_bench: Unix domain stream sockets through libsockkit against a twin written on
 * raw system calls, in one run, interleaved, with medians and ratios; and the same
 * workloads over TCP loopback through libsockkit, for scale.
 *
 *   unix_bench [-r ROUNDS] [-n ROUNDTRIPS] [-m MIB] [--only VARIANT] [--smoke]
 *
 * Variants: pingpong-unix-sk, pingpong-unix-raw, pingpong-tcp-sk, bulk-unix-sk,
 * bulk-unix-raw, bulk-tcp-sk. The peer of every variant is the same raw thread (an
 * echo of 64-byte requests, or a sink that reads 64 KiB at a time and answers with the
 * byte count), so only the measured side differs. Each round runs every variant once,
 * in an order that reverses every other round. --smoke: tiny sizes, every byte
 * checked, exit 1 on any failure; nothing timed is asserted. With --only, one variant
 * runs (for strace -c -f: tests/bench/syscalls.sh style, N and 2N). */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sockkit.h>

#define REQ 64
#define CHUNK 65536
#define TIMEOUT_MS 5000
#define MAX_ROUNDS 64

enum { PP_UNIX_SK, PP_UNIX_RAW, PP_TCP_SK, BULK_UNIX_SK, BULK_UNIX_RAW, BULK_TCP_SK, NVARIANTS };
static const char *const names[NVARIANTS] = {"pingpong-unix-sk", "pingpong-unix-raw", "pingpong-tcp-sk",
                                             "bulk-unix-sk",     "bulk-unix-raw",     "bulk-tcp-sk"};

static long roundtrips = 20000;
static long long bulk_bytes = 256LL << 20;
static int smoke;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "unix_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- the raw peer ------------------------------------------------------------- */

struct peer {
    int lfd;
    int bulk;
    pthread_t th;
};

static int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t k = recv(fd, (char *)buf + got, len - got, 0);
        if (k <= 0) {
            if (k < 0 && errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t k = send(fd, (const char *)buf + put, len - put, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        put += (size_t)k;
    }
    return 0;
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    static char buf[CHUNK];
    int fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (!p->bulk) {
        char req[REQ];
        while (read_full(fd, req, REQ) == 0 && write_full(fd, req, REQ) == 0)
            ;
    } else {
        unsigned long long total = 0;
        unsigned char expect = 0;
        for (;;) {
            ssize_t k = recv(fd, buf, sizeof buf, 0);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            if (smoke)
                for (ssize_t i = 0; i < k; i++, expect++)
                    if ((unsigned char)buf[i] != expect)
                        total = ~0ULL >> 1; /* poisoned: the count will not match */
            total += (unsigned long long)k;
        }
        (void)write_full(fd, &total, sizeof total);
    }
    close(fd);
    return NULL;
}

/* A listening raw socket, Unix (abstract name into name) or TCP (port into *port). */
static int raw_listener(int unix_, char *name, size_t cap, int *port)
{
    int fd = socket(unix_ ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    static int k;
    if (fd < 0)
        die("socket");
    if (unix_) {
        struct sockaddr_un su = {.sun_family = AF_UNIX};
        /* The name's text ("@..."), then the same bytes after sun_path's leading NUL. */
        int n = snprintf(name, cap, "@skub-%d-%d", (int)getpid(), k++);
        if (n < 2 || (size_t)n >= cap || (size_t)n > sizeof su.sun_path)
            die("name");
        memcpy(su.sun_path + 1, name + 1, (size_t)n - 1);
        if (bind(fd, (struct sockaddr *)&su, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n)) != 0)
            die("bind");
    } else {
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof in;
        if (bind(fd, (struct sockaddr *)&in, sizeof in) != 0 || getsockname(fd, (struct sockaddr *)&in, &len) != 0)
            die("bind");
        *port = ntohs(in.sin_port);
    }
    if (listen(fd, 4) != 0)
        die("listen");
    return fd;
}

/* ---- the measured side -------------------------------------------------------- */

static int raw_connect(const char *name)
{
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    size_t n = strlen(name + 1);
    struct timeval tv = {TIMEOUT_MS / 1000, 0};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memcpy(su.sun_path + 1, name + 1, n);
    if (fd < 0 || connect(fd, (struct sockaddr *)&su, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) != 0)
        die("connect");
    /* The raw twin bounds its waits too, once, as a careful program would. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static void sk_check(int rc, const char *what)
{
    if (rc != SK_OK) {
        fprintf(stderr, "unix_bench: %s: %s\n", what, sk_strerror(rc));
        exit(1);
    }
}

/* One variant once: returns seconds. */
static double run(int v)
{
    struct peer p = {0};
    char name[64];
    int port = 0, unix_ = v != PP_TCP_SK && v != BULK_TCP_SK, raw = v == PP_UNIX_RAW || v == BULK_UNIX_RAW;
    sk_tcp *c = NULL;
    int fd = -1;
    static char buf[CHUNK];
    double t0, t;

    p.bulk = v >= BULK_UNIX_SK;
    p.lfd = raw_listener(unix_, name, sizeof name, &port);
    if (pthread_create(&p.th, NULL, peer_main, &p) != 0)
        die("pthread_create");
    if (raw)
        fd = raw_connect(name);
    else if (unix_)
        sk_check(sk_unix_connect(&c, name, TIMEOUT_MS), "sk_unix_connect");
    else
        sk_check(sk_tcp_connect(&c, "127.0.0.1", port, TIMEOUT_MS), "sk_tcp_connect");

    t0 = now_s();
    if (!p.bulk) {
        char req[REQ], rep[REQ];
        for (int i = 0; i < REQ; i++)
            req[i] = (char)i;
        for (long i = 0; i < roundtrips; i++) {
            req[0] = (char)i;
            if (raw) {
                if (write_full(fd, req, REQ) != 0 || read_full(fd, rep, REQ) != 0)
                    die("raw ping-pong");
            } else {
                sk_check(sk_tcp_send_all(c, req, REQ, NULL, TIMEOUT_MS), "sk_tcp_send_all");
                sk_check(sk_tcp_recv_exact(c, rep, REQ, NULL, TIMEOUT_MS), "sk_tcp_recv_exact");
            }
            if (smoke && memcmp(req, rep, REQ) != 0) {
                fprintf(stderr, "unix_bench: %s: the echo differs\n", names[v]);
                exit(1);
            }
        }
    } else {
        unsigned long long total = 0;
        unsigned char next = 0;
        for (long long left = bulk_bytes; left > 0;) {
            size_t n = left < CHUNK ? (size_t)left : CHUNK;
            if (smoke)
                for (size_t i = 0; i < n; i++)
                    buf[i] = (char)next++;
            if (raw) {
                if (write_full(fd, buf, n) != 0)
                    die("raw bulk");
            } else {
                sk_check(sk_tcp_send_all(c, buf, n, NULL, TIMEOUT_MS), "sk_tcp_send_all");
            }
            left -= (long long)n;
        }
        if (raw) {
            shutdown(fd, SHUT_WR);
            if (read_full(fd, &total, sizeof total) != 0)
                die("raw count");
        } else {
            sk_check(sk_tcp_shutdown(c, SK_SHUT_WR), "sk_tcp_shutdown");
            sk_check(sk_tcp_recv_exact(c, &total, sizeof total, NULL, TIMEOUT_MS), "sk_tcp_recv_exact");
        }
        if (total != (unsigned long long)bulk_bytes) {
            fprintf(stderr, "unix_bench: %s: the sink counted %llu of %lld bytes\n", names[v], total, bulk_bytes);
            exit(1);
        }
    }
    t = now_s() - t0;
    if (raw)
        close(fd);
    else
        sk_tcp_close(c);
    pthread_join(p.th, NULL);
    close(p.lfd);
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int rounds = 5, only = -1;
    static double t[NVARIANTS][MAX_ROUNDS];
    double med[NVARIANTS];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "-r") == 0 && more)
            rounds = atoi(argv[++i]);
        else if (strcmp(a, "-n") == 0 && more)
            roundtrips = atol(argv[++i]);
        else if (strcmp(a, "-m") == 0 && more)
            bulk_bytes = atoll(argv[++i]) << 20;
        else if (strcmp(a, "--smoke") == 0)
            smoke = 1;
        else if (strcmp(a, "--only") == 0 && more) {
            const char *w = argv[++i];
            for (int v = 0; v < NVARIANTS; v++)
                if (strcmp(names[v], w) == 0)
                    only = v;
            if (only < 0) {
                fprintf(stderr, "unix_bench: no variant %s\n", w);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: unix_bench [-r ROUNDS] [-n ROUNDTRIPS] [-m MIB] [--only VARIANT] [--smoke]\n");
            return 2;
        }
    }
    if (smoke) {
        rounds = 1;
        roundtrips = 200;
        bulk_bytes = (1 << 20) + 12345;
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || roundtrips < 1 || bulk_bytes < 1) {
        fprintf(stderr, "unix_bench: bad sizes\n");
        return 2;
    }
    if (only >= 0) {
        printf("%s: %.3f s\n", names[only], run(only));
        return 0;
    }
    printf("unix_bench: libsockkit %s, %d rounds, %ld round trips of %d bytes, %lld MiB bulk in %d KiB writes\n",
           sk_version_string(), rounds, roundtrips, REQ, bulk_bytes >> 20, CHUNK / 1024);
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < NVARIANTS; k++) {
            int v = r % 2 ? NVARIANTS - 1 - k : k;
            t[v][r] = run(v);
        }
    for (int v = 0; v < NVARIANTS; v++) {
        med[v] = median(t[v], rounds);
        if (v < BULK_UNIX_SK)
            printf("  %-18s %8.2f us per round trip   %10.0f round trips/s\n", names[v], med[v] * 1e6 / (double)roundtrips,
                   (double)roundtrips / med[v]);
        else
            printf("  %-18s %8.0f MB/s\n", names[v], (double)bulk_bytes / med[v] / 1e6);
    }
    printf("ratios (throughput, medians; >= 0.98 is the target for sockkit/raw):\n");
    printf("  ping-pong unix sockkit/raw  %.3f\n", med[PP_UNIX_RAW] / med[PP_UNIX_SK]);
    printf("  bulk      unix sockkit/raw  %.3f\n", med[BULK_UNIX_RAW] / med[BULK_UNIX_SK]);
    printf("  ping-pong unix/tcp (sockkit) %.3f\n", med[PP_TCP_SK] / med[PP_UNIX_SK]);
    printf("  bulk      unix/tcp (sockkit) %.3f\n", med[BULK_TCP_SK] / med[BULK_UNIX_SK]);
    return 0;
}
