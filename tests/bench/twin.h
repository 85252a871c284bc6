/* What the standalone benchmark programs (file_bench.c, relay_bench.c) share: clocks,
 * the byte pattern their peers check, a raw loopback connect, the peer's one-byte
 * answer, medians, and the raw twin's send-everything loop. Define TWIN_PROG (the
 * program's name, for its error messages) before including it. */
#ifndef SK_BENCH_TWIN_H
#define SK_BENCH_TWIN_H

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#ifndef TWIN_PROG
#error "define TWIN_PROG before including twin.h"
#endif

static inline double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void die(const char *what)
{
    fprintf(stderr, TWIN_PROG ": %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The byte at stream offset i, which the peers check. */
static inline unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static inline int raw_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
    return fd;
}

/* The peer answers one byte once it has everything: a figure includes delivery. */
static inline void wait_ack(int fd)
{
    char c;
    if (recv(fd, &c, 1, 0) != 1)
        die("the peer's answer");
}

/* The raw twin's write loop: all of buf, or -1. */
static inline int raw_send_all(int fd, const void *data, size_t len)
{
    const char *buf = data;
    size_t put = 0;
    while (put < len) {
        ssize_t w = send(fd, buf + put, len - put, MSG_NOSIGNAL);
        if (w < 0 && errno != EINTR)
            return -1;
        if (w > 0)
            put += (size_t)w;
    }
    return 0;
}

static inline int twin_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, twin_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
