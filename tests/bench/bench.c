/* sk_bench: the same loopback workloads through plain POSIX calls and through
 * libsockkit, in one process, interleaved round by round (raw, sockkit, raw, sockkit,
 * ...), with the median of each side and the ratio sockkit/raw. A measurement tool:
 * CTest runs only its smoke mode, which checks that every byte arrived intact and
 * asserts nothing about speed.
 *
 *   sk_bench                      every workload, 5 rounds, full sizes
 *   sk_bench --smoke              tiny sizes, 1 round, data checked byte for byte
 *   sk_bench --rounds 7 --rows pingpong,bulk-send
 *   sk_bench --only pingpong-sockkit --n 20000   one variant alone (for strace -c -f)
 *   sk_bench --list               the variants and rows
 *   sk_bench --probe              what single system calls cost on this machine
 *
 * The measured side runs in the main thread; the other end of every workload (the
 * "peer") runs in a second thread and is the same raw POSIX code for both variants,
 * so only the measured side differs. All sockets are on 127.0.0.1 with ephemeral
 * ports; every wait is bounded and a watchdog (alarm) ends a run that hangs. */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sockkit.h>

/* ------------------------------------------------------------------------------ */
/* Helpers shared with the measured sides                                          */
/* ------------------------------------------------------------------------------ */

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_start(struct bench_run *r)
{
    r->cpu0 = thread_cpu_ns();
    r->t0 = bench_now_ns();
}

void bench_stop(struct bench_run *r)
{
    r->t1 = bench_now_ns();
    r->cpu1 = thread_cpu_ns();
}

static void vfail(char *dst, size_t cap, const char *fmt, va_list ap)
{
    if (dst[0] == '\0')
        vsnprintf(dst, cap, fmt, ap);
}

int bench_fail(struct bench_run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int peer_fail(struct bench_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int peer_fail(struct bench_run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r->peer_err, sizeof r->peer_err, fmt, ap);
    va_end(ap);
    return -1;
}

static unsigned char pattern[BENCH_CHUNK + BENCH_PERIOD];

static void pattern_init(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (unsigned char)(((i % BENCH_PERIOD) * 37 + 11) & 0xff);
}

const unsigned char *bench_pattern(void)
{
    return pattern;
}

int bench_check_bulk(const unsigned char *buf, size_t len, uint64_t off)
{
    /* A read is at most BENCH_CHUNK bytes in this program. */
    if (len > BENCH_CHUNK)
        return -1;
    return memcmp(buf, pattern + off % BENCH_PERIOD, len) == 0 ? 0 : -1;
}

void bench_fill_msg(unsigned char *buf, size_t len, uint64_t seq)
{
    memcpy(buf, &seq, sizeof seq);
    memset(buf + sizeof seq, (int)(seq * 7 + 1) & 0xff, len - sizeof seq);
}

int bench_check_msg(const unsigned char *buf, size_t len, uint64_t seq)
{
    uint64_t got;
    unsigned char fill = (unsigned char)((seq * 7 + 1) & 0xff);
    if (len < sizeof seq)
        return -1;
    memcpy(&got, buf, sizeof got);
    if (got != seq)
        return -1;
    for (size_t i = sizeof seq; i < len; i++)
        if (buf[i] != fill)
            return -1;
    return 0;
}

void bench_fill_line_n(unsigned char *buf, size_t want, uint64_t seq)
{
    /* "L" + 16 hex digits + filler + '\n': want bytes, no '\n' before the end. */
    static const char hex[] = "0123456789abcdef";
    buf[0] = 'L';
    for (int i = 0; i < 16; i++)
        buf[1 + i] = (unsigned char)hex[(seq >> (60 - 4 * i)) & 0xf];
    memset(buf + 17, 'a' + (int)(seq % 26), want - 18);
    buf[want - 1] = '\n';
}

int bench_check_line_n(const unsigned char *buf, size_t len, size_t want, uint64_t seq)
{
    unsigned char w[BENCH_LINE_1K];
    if (len != want || want > sizeof w)
        return -1;
    bench_fill_line_n(w, want, seq);
    return memcmp(buf, w, want) == 0 ? 0 : -1;
}

void bench_fill_line(unsigned char *buf, uint64_t seq)
{
    bench_fill_line_n(buf, BENCH_LINE, seq);
}

int bench_check_line(const unsigned char *buf, size_t len, uint64_t seq)
{
    return bench_check_line_n(buf, len, BENCH_LINE, seq);
}

int bench_is_marker(const unsigned char *buf, size_t len)
{
    uint64_t seq;
    if (len != BENCH_DGRAM)
        return 0;
    memcpy(&seq, buf, sizeof seq);
    return seq == BENCH_MARK;
}

/* ------------------------------------------------------------------------------ */
/* The peer: plain blocking POSIX code, the same for both variants                  */
/* ------------------------------------------------------------------------------ */

#define PEER_WAIT_S 10 /* every peer wait is bounded by this */

static void set_timeouts(int fd, int seconds)
{
    struct timeval tv = {seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

/* Bytes received (< len only at end of stream), or -1. */
static ssize_t peer_recv_full(int fd, void *buf, size_t len)
{
    size_t n = 0;
    while (n < len) {
        ssize_t k = recv(fd, (char *)buf + n, len - n, 0);
        if (k == 0)
            break;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        n += (size_t)k;
    }
    return (ssize_t)n;
}

static int peer_send_full(int fd, const void *buf, size_t len)
{
    size_t n = 0;
    while (n < len) {
        ssize_t k = send(fd, (const char *)buf + n, len - n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        n += (size_t)k;
    }
    return 0;
}

/* Wait for the measured side's go (sources of UDP), at most PEER_WAIT_S. */
static int peer_wait_go(struct bench_run *r)
{
    struct timespec until;
    int ok;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PEER_WAIT_S;
    pthread_mutex_lock(&r->mu);
    while (!r->go)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) != 0)
            break;
    ok = r->go;
    pthread_mutex_unlock(&r->mu);
    return ok ? 0 : peer_fail(r, "peer: no go within %d s", PEER_WAIT_S);
}

void bench_go(struct bench_run *r)
{
    pthread_mutex_lock(&r->mu);
    r->go = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static int stopped(struct bench_run *r)
{
    return __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE);
}

static void set_stop(struct bench_run *r)
{
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
}

/* End markers on fd to the peer's port until the receiver saw one, at most 2 s. */
void bench_udp_send_markers(struct bench_run *r, int fd)
{
    unsigned char m[BENCH_DGRAM];
    struct sockaddr_in to = loopback(r->peer_port);
    uint64_t mark = BENCH_MARK;
    memset(m, 0, sizeof m);
    memcpy(m, &mark, sizeof mark);
    for (int i = 0; i < 2000 && !stopped(r); i++) {
        struct timespec ms = {0, 1000000};
        sendto(fd, m, sizeof m, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&to, sizeof to);
        nanosleep(&ms, NULL);
    }
}

/* Markers from a connected source socket (the peer side of UDP receive workloads). */
static void peer_udp_markers(struct bench_run *r, int fd)
{
    unsigned char m[BENCH_DGRAM];
    uint64_t mark = BENCH_MARK;
    memset(m, 0, sizeof m);
    memcpy(m, &mark, sizeof mark);
    for (int i = 0; i < 2000 && !stopped(r); i++) {
        struct timespec ms = {0, 1000000};
        send(fd, m, sizeof m, MSG_DONTWAIT | MSG_NOSIGNAL);
        nanosleep(&ms, NULL);
    }
}

static int peer_accept(struct bench_run *r)
{
    int c;
    do
        c = accept4(r->peer_fd, NULL, NULL, SOCK_CLOEXEC);
    while (c < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (c < 0)
        return peer_fail(r, "peer: accept: %s", strerror(errno));
    set_timeouts(c, PEER_WAIT_S);
    return c;
}

/* Drains a bulk stream until end of stream, then answers with the byte count. */
static void peer_bulk_sink(struct bench_run *r, int c)
{
    static unsigned char buf[BENCH_CHUNK];
    uint64_t total = 0;
    for (;;) {
        ssize_t k = recv(c, buf, sizeof buf, 0);
        if (k == 0)
            break;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            peer_fail(r, "peer: recv after %llu bytes: %s", (unsigned long long)total, strerror(errno));
            return;
        }
        if (r->verify && bench_check_bulk(buf, (size_t)k, total) != 0) {
            peer_fail(r, "peer: bulk data differ within bytes %llu..%llu", (unsigned long long)total,
                      (unsigned long long)total + (unsigned long long)k);
            return;
        }
        total += (uint64_t)k;
    }
    r->peer_count = total;
    if (peer_send_full(c, &total, sizeof total) != 0)
        peer_fail(r, "peer: send count: %s", strerror(errno));
}

/* Waits for the measured side's 1-byte go. */
static int peer_tcp_go(struct bench_run *r, int c)
{
    char go;
    if (peer_recv_full(c, &go, 1) != 1)
        return peer_fail(r, "peer: no go byte");
    return 0;
}

static void peer_bulk_source(struct bench_run *r, int c)
{
    uint64_t off = 0;
    if (peer_tcp_go(r, c) != 0)
        return;
    for (uint64_t i = 0; i < r->n; i++, off += BENCH_CHUNK)
        if (peer_send_full(c, pattern + off % BENCH_PERIOD, BENCH_CHUNK) != 0) {
            peer_fail(r, "peer: send at byte %llu: %s", (unsigned long long)off, strerror(errno));
            return;
        }
    r->peer_count = off;
}

static void peer_echo(struct bench_run *r, int c)
{
    unsigned char buf[BENCH_PING];
    uint64_t n = 0;
    for (;;) {
        ssize_t k = peer_recv_full(c, buf, sizeof buf);
        if (k == 0)
            break;
        if (k != (ssize_t)sizeof buf) {
            peer_fail(r, "peer: echo recv after %llu: %s", (unsigned long long)n, k < 0 ? strerror(errno) : "short");
            return;
        }
        if (peer_send_full(c, buf, sizeof buf) != 0) {
            peer_fail(r, "peer: echo send: %s", strerror(errno));
            return;
        }
        n++;
    }
    r->peer_count = n;
}

/* Drains 64-byte messages in 64 KiB reads, checks each one's sequence number and
 * contents, and answers end of stream with the count. */
static void peer_msg_sink(struct bench_run *r, int c)
{
    static unsigned char buf[BENCH_CHUNK + BENCH_MSG];
    size_t have = 0; /* bytes of an incomplete message kept at buf[0] */
    uint64_t seq = 0;
    for (;;) {
        size_t at = 0;
        ssize_t k = recv(c, buf + have, BENCH_CHUNK, 0);
        if (k == 0)
            break;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            peer_fail(r, "peer: recv after %llu messages: %s", (unsigned long long)seq, strerror(errno));
            return;
        }
        have += (size_t)k;
        for (; have - at >= BENCH_MSG; at += BENCH_MSG, seq++)
            if (bench_check_msg(buf + at, BENCH_MSG, seq) != 0) {
                peer_fail(r, "peer: message %llu differs", (unsigned long long)seq);
                return;
            }
        memmove(buf, buf + at, have - at);
        have -= at;
    }
    if (have != 0) {
        peer_fail(r, "peer: %zu stray bytes after %llu messages", have, (unsigned long long)seq);
        return;
    }
    r->peer_count = seq;
    if (peer_send_full(c, &seq, sizeof seq) != 0)
        peer_fail(r, "peer: send count: %s", strerror(errno));
}

/* Writes n records of size bytes (64-byte messages, or lines) in 64 KiB writes. */
static void peer_record_source(struct bench_run *r, int c, int lines, size_t size)
{
    static unsigned char buf[BENCH_CHUNK];
    const uint64_t per = BENCH_CHUNK / size;
    uint64_t seq = 0;
    if (peer_tcp_go(r, c) != 0)
        return;
    while (seq < r->n) {
        uint64_t k = r->n - seq < per ? r->n - seq : per;
        for (uint64_t i = 0; i < k; i++) {
            if (lines)
                bench_fill_line_n(buf + i * size, size, seq + i);
            else
                bench_fill_msg(buf + i * size, size, seq + i);
        }
        if (peer_send_full(c, buf, (size_t)(k * size)) != 0) {
            peer_fail(r, "peer: send at record %llu: %s", (unsigned long long)seq, strerror(errno));
            return;
        }
        seq += k;
    }
    r->peer_count = seq;
}

static void peer_reqresp(struct bench_run *r, int c)
{
    unsigned char req[BENCH_REQ_HEAD + BENCH_REQ_BODY], resp[64];
    uint64_t seq = 0;
    for (;;) {
        ssize_t k = peer_recv_full(c, req, sizeof req);
        if (k == 0)
            break;
        if (k != (ssize_t)sizeof req || bench_check_msg(req, sizeof req, seq) != 0) {
            peer_fail(r, "peer: request %llu %s", (unsigned long long)seq, k < 0 ? strerror(errno) : "differs");
            return;
        }
        bench_fill_msg(resp, sizeof resp, seq);
        if (peer_send_full(c, resp, sizeof resp) != 0) {
            peer_fail(r, "peer: response: %s", strerror(errno));
            return;
        }
        seq++;
    }
    r->peer_count = seq;
}

/* Close without TIME_WAIT: an RST, once the measured side has closed its end. */
static void close_reset(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* For K_CONNECT: accepts n connections; each is read to its end, then reset (so that
 * neither side keeps a TIME_WAIT entry and the ephemeral ports last). */
static void peer_acceptor(struct bench_run *r)
{
    uint64_t i;
    for (i = 0; i < r->n; i++) {
        char b;
        ssize_t k;
        int c = peer_accept(r);
        if (c < 0)
            break;
        do
            k = recv(c, &b, 1, 0);
        while (k < 0 && errno == EINTR);
        close_reset(c);
        if (k != 0) {
            peer_fail(r, "peer: connection %llu: %s", (unsigned long long)i, k < 0 ? strerror(errno) : "data");
            break;
        }
    }
    r->peer_count = i;
}

/* For K_ACCEPT: n connect + wait for the server's close + reset cycles. */
static void peer_connector(struct bench_run *r)
{
    struct sockaddr_in sa = loopback(r->peer_port);
    uint64_t i;
    for (i = 0; i < r->n; i++) {
        char b;
        ssize_t k;
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) {
            peer_fail(r, "peer: socket: %s", strerror(errno));
            break;
        }
        if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
            peer_fail(r, "peer: connect %llu: %s", (unsigned long long)i, strerror(errno));
            close(s);
            break;
        }
        do
            k = recv(s, &b, 1, 0);
        while (k < 0 && errno == EINTR);
        close_reset(s);
        if (k != 0) {
            peer_fail(r, "peer: connection %llu: %s", (unsigned long long)i, k < 0 ? strerror(errno) : "data");
            break;
        }
    }
    r->peer_count = i;
}

/* For K_UDP_SEND: counts and checks datagrams until an end marker. Datagrams may be
 * lost (UDP), never changed, duplicated or reordered (loopback). */
static void peer_udp_sink(struct bench_run *r)
{
    unsigned char buf[2048];
    uint64_t count = 0, next = 0;
    int idle = 0;
    struct timeval tv = {0, 100000};
    setsockopt(r->peer_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        uint64_t seq;
        ssize_t k = recv(r->peer_fd, buf, sizeof buf, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && ++idle < 10 * PEER_WAIT_S)
                continue;
            peer_fail(r, "peer: udp recv after %llu: %s", (unsigned long long)count, strerror(errno));
            break;
        }
        idle = 0;
        if (bench_is_marker(buf, (size_t)k))
            break;
        memcpy(&seq, buf, sizeof seq);
        if (k != BENCH_DGRAM || seq < next || bench_check_msg(buf, (size_t)k, seq) != 0) {
            peer_fail(r, "peer: datagram %llu (after %llu) differs", (unsigned long long)seq,
                      (unsigned long long)next);
            break;
        }
        next = seq + 1;
        count++;
    }
    r->peer_count = count;
    set_stop(r);
}

/* For K_UDP_RECV and K_UDP_BURST: n datagrams as fast as they go, then markers. The
 * burst source hands the kernel 64 datagrams per sendmmsg call, to outrun a receiver. */
static void peer_udp_source(struct bench_run *r, int burst)
{
    enum { B = 64 };
    static unsigned char bufs[B][BENCH_DGRAM];
    struct iovec iov[B];
    struct mmsghdr mm[B];
    struct sockaddr_in to = loopback(r->peer_port);
    uint64_t seq = 0;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&to, sizeof to) != 0) {
        peer_fail(r, "peer: udp socket: %s", strerror(errno));
        if (s >= 0)
            close(s);
        return;
    }
    set_timeouts(s, PEER_WAIT_S);
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < B; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = BENCH_DGRAM;
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    if (peer_wait_go(r) != 0) {
        close(s);
        return;
    }
    while (seq < r->n && !stopped(r)) {
        if (burst) {
            int k = (int)(r->n - seq < B ? r->n - seq : B), sent;
            for (int i = 0; i < k; i++)
                bench_fill_msg(bufs[i], BENCH_DGRAM, seq + (uint64_t)i);
            sent = sendmmsg(s, mm, (unsigned)k, MSG_NOSIGNAL);
            if (sent > 0) {
                seq += (uint64_t)sent;
                continue;
            }
        } else {
            bench_fill_msg(bufs[0], BENCH_DGRAM, seq);
            if (send(s, bufs[0], BENCH_DGRAM, MSG_NOSIGNAL) == BENCH_DGRAM) {
                seq++;
                continue;
            }
        }
        /* ECONNREFUSED: the receiver went away; ENOBUFS: try again. */
        if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
            continue;
        peer_fail(r, "peer: udp send %llu: %s", (unsigned long long)seq, strerror(errno));
        break;
    }
    r->peer_count = seq;
    peer_udp_markers(r, s);
    close(s);
}

/* The offload workloads' 1200-byte datagrams: UDP_GRO buffers of up to 64 KiB. */
#define BIG_MSGS 8
#define BIG_BUF 65536

/* For K_UDP_BIG_SEND: counts and checks 1200-byte datagrams until an end marker, with
 * UDP_GRO on and recvmmsg of 8 buffers, so that the receiver is not what limits the
 * sender, whether its datagrams come coalesced (UDP_SEGMENT) or one by one. */
static void peer_udp_big_sink(struct bench_run *r)
{
    static unsigned char bufs[BIG_MSGS][BIG_BUF];
    static union {
        size_t align;
        char b[64];
    } ctl[BIG_MSGS];
    struct iovec iov[BIG_MSGS];
    struct mmsghdr mm[BIG_MSGS];
    uint64_t count = 0, next = 0;
    int idle = 0, on = 1, end = 0;
    struct timeval tv = {0, 100000};
    (void)on;
    setsockopt(r->peer_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (!end) {
        int k;
        memset(mm, 0, sizeof mm);
        for (int i = 0; i < BIG_MSGS; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = BIG_BUF;
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
            mm[i].msg_hdr.msg_control = ctl[i].b;
            mm[i].msg_hdr.msg_controllen = sizeof ctl[i].b;
        }
        k = recvmmsg(r->peer_fd, mm, BIG_MSGS, MSG_WAITFORONE, NULL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && ++idle < 10 * PEER_WAIT_S)
                continue;
            peer_fail(r, "peer: udp recvmmsg after %llu: %s", (unsigned long long)count, strerror(errno));
            break;
        }
        idle = 0;
        for (int i = 0; i < k && !end; i++) {
            size_t len = mm[i].msg_len, seg = len;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&mm[i].msg_hdr); c != NULL; c = CMSG_NXTHDR(&mm[i].msg_hdr, c))
                if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
                    int g;
                    memcpy(&g, CMSG_DATA(c), sizeof g);
                    seg = (size_t)g;
                }
            if (bench_is_marker(bufs[i], len)) {
                end = 1;
                break;
            }
            for (size_t off = 0; off < len; off += seg) {
                uint64_t sq;
                const unsigned char *d = bufs[i] + off;
                memcpy(&sq, d, sizeof sq);
                if (seg != BENCH_DGRAM_BIG || len - off < seg || sq < next ||
                    bench_check_msg(d, BENCH_DGRAM_BIG, sq) != 0) {
                    peer_fail(r, "peer: datagram %llu (after %llu) differs", (unsigned long long)sq,
                              (unsigned long long)next);
                    end = 1;
                    break;
                }
                next = sq + 1;
                count++;
            }
        }
    }
    r->peer_count = count;
    set_stop(r);
}

/* For K_UDP_BIG_BURST: n 1200-byte datagrams in bursts of BENCH_BURST sent at once
 * (sendmmsg of 4 UDP_SEGMENT messages of 50 datagrams, 200 a call), 50 ms apart so
 * that a receiver can drain its queue between them, then markers. */
static void peer_udp_big_source(struct bench_run *r)
{
    enum { M = 4, SEGS = 50 };
    static unsigned char bufs[M][SEGS * BENCH_DGRAM_BIG];
    static union {
        size_t align;
        char b[CMSG_SPACE(sizeof(uint16_t))];
    } ctl[M];
    struct iovec iov[M];
    struct mmsghdr mm[M];
    struct sockaddr_in to = loopback(r->peer_port);
    uint64_t seq = 0;
    uint16_t segsize = BENCH_DGRAM_BIG;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&to, sizeof to) != 0) {
        peer_fail(r, "peer: udp socket: %s", strerror(errno));
        if (s >= 0)
            close(s);
        return;
    }
    set_timeouts(s, PEER_WAIT_S);
    memset(mm, 0, sizeof mm);
    memset(ctl, 0, sizeof ctl);
    for (int i = 0; i < M; i++) {
        struct cmsghdr *c;
        iov[i].iov_base = bufs[i];
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
        mm[i].msg_hdr.msg_control = ctl[i].b;
        mm[i].msg_hdr.msg_controllen = sizeof ctl[i].b;
        c = CMSG_FIRSTHDR(&mm[i].msg_hdr);
        c->cmsg_level = IPPROTO_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof segsize);
        memcpy(CMSG_DATA(c), &segsize, sizeof segsize);
    }
    if (peer_wait_go(r) != 0) {
        close(s);
        return;
    }
    while (seq < r->n && !stopped(r)) {
        uint64_t q = seq;
        int k = 0, sent;
        if (seq > 0 && seq % BENCH_BURST == 0) {
            struct timespec pause = {0, 50000000};
            nanosleep(&pause, NULL);
        }
        /* This call stops at the end of the burst it is in. */
        uint64_t end = (seq / BENCH_BURST + 1) * BENCH_BURST < r->n ? (seq / BENCH_BURST + 1) * BENCH_BURST : r->n;
        for (; k < M && q < end; k++) {
            size_t segs = end - q < SEGS ? (size_t)(end - q) : SEGS;
            for (size_t j = 0; j < segs; j++)
                bench_fill_msg(bufs[k] + j * BENCH_DGRAM_BIG, BENCH_DGRAM_BIG, q + j);
            iov[k].iov_len = segs * BENCH_DGRAM_BIG;
            q += segs;
        }
        sent = sendmmsg(s, mm, (unsigned)k, MSG_NOSIGNAL);
        if (sent > 0) {
            for (int i = 0; i < sent; i++)
                seq += iov[i].iov_len / BENCH_DGRAM_BIG;
            continue;
        }
        if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
            continue;
        peer_fail(r, "peer: udp UDP_SEGMENT sendmmsg %llu: %s", (unsigned long long)seq, strerror(errno));
        break;
    }
    r->peer_count = seq;
    peer_udp_markers(r, s);
    close(s);
}

static void *peer_main(void *arg)
{
    struct bench_run *r = arg;
    int c = -1;
    switch (r->kind) {
    case K_BULK_SEND:
    case K_BULK_RECV:
    case K_PINGPONG:
    case K_MSG_SEND:
    case K_MSG_RECV:
    case K_REQRESP:
    case K_LINES:
    case K_LINES1K:
    case K_HEADBODY:
        if ((c = peer_accept(r)) < 0)
            return NULL;
        break;
    default:
        break;
    }
    switch ((enum bench_kind)r->kind) {
    case K_BULK_SEND: peer_bulk_sink(r, c); break;
    case K_BULK_RECV: peer_bulk_source(r, c); break;
    case K_PINGPONG: peer_echo(r, c); break;
    case K_MSG_SEND:
    case K_HEADBODY: peer_msg_sink(r, c); break;
    case K_MSG_RECV: peer_record_source(r, c, 0, BENCH_MSG); break;
    case K_LINES:
    case K_LINES1K: peer_record_source(r, c, 1, bench_line_len(r)); break;
    case K_REQRESP: peer_reqresp(r, c); break;
    case K_CONNECT: peer_acceptor(r); break;
    case K_ACCEPT: peer_connector(r); break;
    case K_UDP_SEND: peer_udp_sink(r); break;
    case K_UDP_RECV: peer_udp_source(r, 0); break;
    case K_UDP_BURST: peer_udp_source(r, 1); break;
    case K_UDP_BIG_SEND: peer_udp_big_sink(r); break;
    case K_UDP_BIG_BURST: peer_udp_big_source(r); break;
    case K_KINDS: break;
    }
    if (c >= 0)
        close(c);
    return NULL;
}

int bench_peer_start(struct bench_run *r, int port)
{
    int rc;
    r->peer_port = port;
    rc = pthread_create(&r->peer, NULL, peer_main, r);
    if (rc != 0)
        return bench_fail(r, "pthread_create: %s", strerror(rc));
    r->peer_running = 1;
    return 0;
}

/* The kinds whose peer exists before the measured side (it listens or is bound). */
static int peer_first(int kind)
{
    return kind != K_ACCEPT && kind != K_UDP_RECV && kind != K_UDP_BURST && kind != K_UDP_BIG_BURST;
}

/* ------------------------------------------------------------------------------ */
/* Variants and rows                                                               */
/* ------------------------------------------------------------------------------ */

struct variant {
    const char *name;
    int kind;
    bench_fn fn;
    int opt;
    int batch;          /* needs the batch APIs */
    const char *what;
};

#define TO BENCH_TIMEOUT_MS
static const struct variant variants[] = {
    {"bulk-send-raw", K_BULK_SEND, raw_bulk_send, 0, 0, "send() loop, 64 KiB, blocking"},
    {"bulk-send-sockkit", K_BULK_SEND, sk_bulk_send, TO, 0, "sk_tcp_send_all(64 KiB, 5000 ms)"},
    {"bulk-recv-raw", K_BULK_RECV, raw_bulk_recv, 0, 0, "recv(64 KiB), blocking"},
    {"bulk-recv-sockkit", K_BULK_RECV, sk_bulk_recv, TO, 0, "sk_tcp_recv(64 KiB, 5000 ms)"},
    {"pingpong-raw", K_PINGPONG, raw_pingpong, 0, 0, "send()+recv() loops, blocking, no timeout"},
    {"pingpong-rawto", K_PINGPONG, raw_pingpong, TO, 0, "same, SO_RCVTIMEO/SO_SNDTIMEO 5 s set once"},
    {"pingpong-sockkit", K_PINGPONG, sk_pingpong, TO, 0, "sk_tcp_send_all + sk_tcp_recv_exact, 5000 ms"},
    {"pingpong-sockkit-forever", K_PINGPONG, sk_pingpong, -1, 0, "same, SK_FOREVER"},
    {"msg64-send-raw", K_MSG_SEND, raw_msg_send, 1, 0, "send(64 B) per message, TCP_NODELAY"},
    {"msg64-send-raw-nagle", K_MSG_SEND, raw_msg_send, 0, 0, "send(64 B) per message, Nagle (socket default)"},
    {"msg64-send-sockkit", K_MSG_SEND, sk_msg_send, TO, 0, "sk_tcp_send_all(64 B, 5000 ms)"},
    {"msg64-send-sockkit-forever", K_MSG_SEND, sk_msg_send, -1, 0, "sk_tcp_send_all(64 B, SK_FOREVER)"},
    {"msg64-recv-raw", K_MSG_RECV, raw_msg_recv, 0, 0, "recv() loop for 64 B per message"},
    {"msg64-recv-sockkit", K_MSG_RECV, sk_msg_recv, TO, 0, "sk_tcp_recv_exact(64 B, 5000 ms)"},
    {"msg64-recv-sockkit-forever", K_MSG_RECV, sk_msg_recv, -1, 0, "sk_tcp_recv_exact(64 B, SK_FOREVER)"},
    {"udp-send-raw", K_UDP_SEND, raw_udp_send, 0, 0, "connected socket, send() per datagram"},
    {"udp-send-sockkit", K_UDP_SEND, sk_udp_send_, 0, 0, "sk_udp_connect + sk_udp_send(5000 ms)"},
    {"udp-sendto-raw", K_UDP_SEND, raw_udp_send, 1, 0, "bound socket, sendto() per datagram"},
    {"udp-sendto-sockkit", K_UDP_SEND, sk_udp_send_, 1, 0, "sk_udp_bind + sk_udp_sendto(5000 ms)"},
    {"udp-recv-raw", K_UDP_RECV, raw_udp_recv, 0, 0, "recv() per datagram, SO_RCVTIMEO 5 s set once"},
    {"udp-recv-sockkit", K_UDP_RECV, sk_udp_recv_, 0, 0, "sk_udp_recv(5000 ms) per datagram"},
    {"accept-raw", K_ACCEPT, raw_accept, 0, 0, "blocking accept4() + TCP_NODELAY + close()"},
    {"accept-sockkit", K_ACCEPT, sk_accept, TO, 0, "sk_tcp_accept(5000 ms) + sk_tcp_close"},
    {"connect-raw", K_CONNECT, raw_connect, 0, 0, "socket() + blocking connect() + TCP_NODELAY + close()"},
    {"connect-rawto", K_CONNECT, raw_connect, TO, 0, "same, SO_SNDTIMEO 5 s before connect() (bounded)"},
    {"connect-sockkit", K_CONNECT, sk_connect_, TO, 0, "sk_tcp_connect(\"127.0.0.1\", 5000 ms) + sk_tcp_close"},
    {"reqresp-raw-nagle", K_REQRESP, raw_reqresp, 0, 0, "send(4) send(60) recv(64), socket default (Nagle on)"},
    {"reqresp-raw-nodelay", K_REQRESP, raw_reqresp, 1, 0, "same with TCP_NODELAY"},
    {"reqresp-sockkit", K_REQRESP, sk_reqresp, 1, 0, "sk_tcp_send_all x2 + sk_tcp_recv_exact, library default"},
    {"reqresp-sockkit-nagle", K_REQRESP, sk_reqresp, 0, 0, "same after sk_tcp_set_nodelay(conn, 0)"},
    /* Batch APIs (issue 6). */
    {"lines-raw-perline", K_LINES, raw_lines, 0, 0, "one recv() of 64 B per line"},
    {"lines-raw-buffered", K_LINES, raw_lines, 8192, 0, "own 8 KiB buffer (as the library's): recv() + memchr()"},
    {"lines-raw-buffered64k", K_LINES, raw_lines, 65536, 0, "own 64 KiB buffer: recv() + memchr()"},
    {"lines-sockkit", K_LINES, sk_lines, TO, 1, "sk_tcp_recv_until('\\n', 5000 ms) per line"},
    {"lines-sockkit-forever", K_LINES, sk_lines, -1, 1, "sk_tcp_recv_until('\\n', SK_FOREVER) per line"},
    {"lines-sockkit-slice", K_LINES, sk_lines_slice, TO, 1, "sk_tcp_recv_slice('\\n', 5000 ms) per line"},
    {"lines1k-raw-buffered", K_LINES1K, raw_lines, 8192, 0, "1 KB lines, own 8 KiB buffer: recv() + memchr()"},
    {"lines1k-sockkit", K_LINES1K, sk_lines, TO, 1, "1 KB lines, sk_tcp_recv_until('\\n', 5000 ms)"},
    {"lines1k-sockkit-slice", K_LINES1K, sk_lines_slice, TO, 1, "1 KB lines, sk_tcp_recv_slice('\\n', 5000 ms)"},
    {"headbody-raw-2send", K_HEADBODY, raw_headbody, 0, 0, "send(8 B header) + send(56 B body)"},
    {"headbody-raw-sendmsg", K_HEADBODY, raw_headbody, 1, 0, "sendmsg(header, body) loop"},
    {"headbody-sockkit", K_HEADBODY, sk_headbody, TO, 1, "sk_tcp_send_allv(header, body, 5000 ms)"},
    {"udp-send-mmsg-raw", K_UDP_SEND, raw_udp_send, 2, 0, "connected socket, sendmmsg() of 64"},
    {"udp-recv-mmsg-raw", K_UDP_RECV, raw_udp_recv, 1, 0, "recvmmsg(64, MSG_WAITFORONE), SO_RCVTIMEO 5 s once"},
    {"udp-send-batch-sockkit", K_UDP_SEND, sk_udp_send_batch_, 64, 1, "sk_udp_send_batch, 64 per call"},
    {"udp-recv-batch-sockkit", K_UDP_RECV, sk_udp_recv_batch_, 64, 1, "sk_udp_recv_batch, up to 64 per call"},
    {"udp-burst-raw", K_UDP_BURST, raw_udp_burst, 0, 0, "recv() per datagram; sender uses sendmmsg"},
    {"udp-burst-sockkit", K_UDP_BURST, sk_udp_burst, 64, 1, "sk_udp_recv_batch, up to 64 per call"},
    /* UDP offloads (issue 15): 1200-byte datagrams. */
    {"udp1200-mmsg-raw", K_UDP_BIG_SEND, raw_udp_big_send, 0, 0, "connected socket, sendmmsg() of 64"},
    {"udp1200-gso-raw", K_UDP_BIG_SEND, raw_udp_big_send, 1, 0,
     "connected socket, sendmmsg() of 64 as UDP_SEGMENT runs (54 + 10)"},
    {"udp1200-batch-sockkit", K_UDP_BIG_SEND, sk_udp_big_send, 64, 1, "sk_udp_send_batch, 64 per call"},
    {"udp1200-burst-raw", K_UDP_BIG_BURST, raw_udp_big_burst, 0, 0, "recv() per datagram; sender: UDP_SEGMENT"},
    {"udp1200-burst-batch-sockkit", K_UDP_BIG_BURST, sk_udp_big_burst, 0, 1, "sk_udp_recv_batch of 64, no GRO"},
    {"udp1200-burst-gro-sockkit", K_UDP_BIG_BURST, sk_udp_big_burst, 1, 1,
     "sk_udp_set_gro + sk_udp_recv_batch of 64"},
};
#undef TO
#define NVARIANTS (sizeof variants / sizeof variants[0])

enum unit { U_MIBS, U_RTS, U_MSGS, U_DGRAMS, U_CONNS, U_LINES };
static const char *unit_name[] = {"MiB/s", "rt/s", "msg/s", "dgram/s", "conn/s", "line/s"};

struct row {
    const char *name;   /* for --rows */
    const char *label;
    const char *raw, *sk;
    int unit;
    int batch;
};

static const struct row rows[] = {
    {"bulk-send", "bulk TCP send, 64 KiB writes", "bulk-send-raw", "bulk-send-sockkit", U_MIBS, 0},
    {"bulk-recv", "bulk TCP recv, 64 KiB reads", "bulk-recv-raw", "bulk-recv-sockkit", U_MIBS, 0},
    {"pingpong", "ping-pong 32 B, NODELAY, forever", "pingpong-raw", "pingpong-sockkit-forever", U_RTS, 0},
    {"pingpong-to", "ping-pong 32 B, NODELAY, 5 s timeout", "pingpong-rawto", "pingpong-sockkit", U_RTS, 0},
    /* Issue 15: a finite budget against raw blocking code with no timeout at all. */
    {"pingpong-budget", "ping-pong 32 B: 5 s budget vs raw blocking", "pingpong-raw", "pingpong-sockkit", U_RTS, 0},
    {"pingpong-rawto", "ping-pong 32 B: raw SO_*TIMEO vs raw blocking", "pingpong-raw", "pingpong-rawto", U_RTS, 0},
    {"msg64-send", "64 B messages one way, send", "msg64-send-raw", "msg64-send-sockkit", U_MSGS, 0},
    {"msg64-send-default", "64 B one way, send, raw default Nagle", "msg64-send-raw-nagle", "msg64-send-sockkit",
     U_MSGS, 0},
    {"msg64-recv", "64 B messages one way, recv", "msg64-recv-raw", "msg64-recv-sockkit", U_MSGS, 0},
    {"udp-send", "UDP 64 B send, connected", "udp-send-raw", "udp-send-sockkit", U_DGRAMS, 0},
    {"udp-sendto", "UDP 64 B sendto", "udp-sendto-raw", "udp-sendto-sockkit", U_DGRAMS, 0},
    {"udp-recv", "UDP 64 B recv (received/s)", "udp-recv-raw", "udp-recv-sockkit", U_DGRAMS, 0},
    {"accept", "accept + close (connect by peer)", "accept-raw", "accept-sockkit", U_CONNS, 0},
    {"connect", "connect + close, raw unbounded", "connect-raw", "connect-sockkit", U_CONNS, 0},
    {"connect-to", "connect + close, raw SO_SNDTIMEO", "connect-rawto", "connect-sockkit", U_CONNS, 0},
    /* Batch APIs (issue 6). */
    {"lines", "64 B lines: recv_until vs recv/line", "lines-raw-perline", "lines-sockkit", U_LINES, 1},
    {"lines-buffered", "64 B lines: recv_until vs own 8 KiB", "lines-raw-buffered", "lines-sockkit", U_LINES, 1},
    {"lines-buffered64k", "64 B lines: recv_until vs own 64 KiB", "lines-raw-buffered64k", "lines-sockkit", U_LINES,
     1},
    {"lines-forever", "64 B lines: until(FOREVER) vs 8 KiB", "lines-raw-buffered", "lines-sockkit-forever",
     U_LINES, 1},
    {"lines-slice", "64 B lines: recv_slice vs own 8 KiB", "lines-raw-buffered", "lines-sockkit-slice", U_LINES, 1},
    {"lines1k", "1 KB lines: recv_until vs own 8 KiB", "lines1k-raw-buffered", "lines1k-sockkit", U_LINES, 1},
    {"lines1k-slice", "1 KB lines: recv_slice vs own 8 KiB", "lines1k-raw-buffered", "lines1k-sockkit-slice",
     U_LINES, 1},
    {"headbody", "header+body: send_allv vs 2 send()", "headbody-raw-2send", "headbody-sockkit", U_MSGS, 1},
    {"headbody-sendmsg", "header+body: send_allv vs sendmsg()", "headbody-raw-sendmsg", "headbody-sockkit", U_MSGS,
     1},
    {"udp-send-batch", "UDP 64 B: send_batch vs send()", "udp-send-raw", "udp-send-batch-sockkit", U_DGRAMS, 1},
    {"udp-send-mmsg", "UDP 64 B: send_batch vs raw sendmmsg", "udp-send-mmsg-raw", "udp-send-batch-sockkit",
     U_DGRAMS, 1},
    {"udp-recv-batch", "UDP 64 B: recv_batch vs recv()", "udp-recv-raw", "udp-recv-batch-sockkit", U_DGRAMS, 1},
    {"udp-recv-mmsg", "UDP 64 B: recv_batch vs raw recvmmsg", "udp-recv-mmsg-raw", "udp-recv-batch-sockkit",
     U_DGRAMS, 1},
    {"udp-burst", "UDP burst: recv_batch vs recv()", "udp-burst-raw", "udp-burst-sockkit", U_DGRAMS, 1},
    /* UDP offloads (issue 15): datagrams received per second. */
    {"udp1200-gso", "UDP 1200 B: send_batch (GSO) vs sendmmsg", "udp1200-mmsg-raw", "udp1200-batch-sockkit",
     U_DGRAMS, 1},
    {"udp1200-gso-twin", "UDP 1200 B: send_batch vs raw GSO", "udp1200-gso-raw", "udp1200-batch-sockkit", U_DGRAMS,
     1},
    {"udp1200-burst", "UDP 1200 B burst: batch+GRO vs recv()", "udp1200-burst-raw", "udp1200-burst-gro-sockkit",
     U_DGRAMS, 1},
    {"udp1200-burst-nogro", "UDP 1200 B burst: batch vs recv()", "udp1200-burst-raw",
     "udp1200-burst-batch-sockkit", U_DGRAMS, 1},
};
#define NROWS (sizeof rows / sizeof rows[0])

static const char *nagle_variants[] = {"reqresp-raw-nagle", "reqresp-raw-nodelay", "reqresp-sockkit",
                                       "reqresp-sockkit-nagle"};
#define NNAGLE (sizeof nagle_variants / sizeof nagle_variants[0])

static const struct variant *find_variant(const char *name)
{
    for (size_t i = 0; i < NVARIANTS; i++)
        if (strcmp(variants[i].name, name) == 0)
            return &variants[i];
    return NULL;
}

/* ------------------------------------------------------------------------------ */
/* Options and sizes                                                               */
/* ------------------------------------------------------------------------------ */

static struct {
    int smoke;
    int rounds;
    double scale;
    int verify;
    int verbose;
    const char *only;
    uint64_t only_n;
    const char *rows;
    int nagle;
} opt = {0, 5, 1.0, -1, 0, NULL, 0, NULL, 1};

/* Operations per run, by kind: full mode and smoke mode. */
static const uint64_t full_n[K_KINDS] = {
    [K_BULK_SEND] = 16384,   /* x 64 KiB = 1 GiB */
    [K_BULK_RECV] = 16384,
    [K_PINGPONG] = 20000,
    [K_MSG_SEND] = 1000000,
    [K_MSG_RECV] = 1000000,
    [K_UDP_SEND] = 300000,
    [K_UDP_RECV] = 300000,
    [K_ACCEPT] = 10000,
    [K_CONNECT] = 10000,
    [K_REQRESP] = 20,
    [K_LINES] = 1000000,
    [K_LINES1K] = 300000,
    [K_HEADBODY] = 1000000,
    [K_UDP_BURST] = 300000,
    [K_UDP_BIG_SEND] = 300000,
    [K_UDP_BIG_BURST] = 30000, /* 20 bursts, 50 ms apart */
};
static const uint64_t smoke_n[K_KINDS] = {
    [K_BULK_SEND] = 64,      /* 4 MiB */
    [K_BULK_RECV] = 64,
    [K_PINGPONG] = 500,
    [K_MSG_SEND] = 20000,
    [K_MSG_RECV] = 20000,
    [K_UDP_SEND] = 2000,
    [K_UDP_RECV] = 2000,
    [K_ACCEPT] = 100,
    [K_CONNECT] = 100,
    [K_REQRESP] = 2,
    [K_LINES] = 20000,
    [K_LINES1K] = 2000,
    [K_HEADBODY] = 20000,
    [K_UDP_BURST] = 2000,
    [K_UDP_BIG_SEND] = 2000,
    [K_UDP_BIG_BURST] = 2000,
};

static uint64_t ops_for(int kind)
{
    uint64_t n;
    if (opt.only_n > 0)
        return opt.only_n;
    n = opt.smoke ? smoke_n[kind] : full_n[kind];
    n = (uint64_t)((double)n * opt.scale);
    return n > 0 ? n : 1;
}

/* ------------------------------------------------------------------------------ */
/* Running one variant                                                             */
/* ------------------------------------------------------------------------------ */

struct result {
    int ok;
    double rate;        /* in the row's unit */
    uint64_t done, extra, peer_count, n, calls;
    double secs;
    double cpu_ns_op;   /* the measured thread's CPU time per operation */
};

static double rate_of(int kind, uint64_t done, double secs)
{
    double per = (double)done / secs;
    return kind == K_BULK_SEND || kind == K_BULK_RECV ? per / (1024.0 * 1024.0) : per;
}

/* Opens the peer's listening or bound socket on 127.0.0.1, port 0. */
static int open_peer_socket(struct bench_run *r, int type)
{
    struct sockaddr_in sa = loopback(0);
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bench_fail(r, "peer socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || (type == SOCK_STREAM && listen(fd, SOMAXCONN) != 0) ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return bench_fail(r, "peer bind/listen: %s", strerror(errno));
    }
    r->peer_fd = fd;
    r->peer_port = ntohs(sa.sin_port);
    return 0;
}

static int is_udp(int kind)
{
    return kind == K_UDP_SEND || kind == K_UDP_RECV || kind == K_UDP_BURST || kind == K_UDP_BIG_SEND ||
           kind == K_UDP_BIG_BURST;
}

static struct result run_variant(const struct variant *v, uint64_t n, double *lat_us)
{
    struct bench_run r;
    struct result res;
    int rc = 0;

    memset(&r, 0, sizeof r);
    memset(&res, 0, sizeof res);
    r.kind = v->kind;
    r.n = n;
    r.verify = opt.verify;
    r.opt = v->opt;
    r.peer_fd = -1;
    r.lat_us = lat_us;
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);

    alarm(opt.smoke ? 60 : 600); /* a hung run ends the program (SIGALRM) */
    if (peer_first(v->kind)) {
        rc = open_peer_socket(&r, v->kind == K_UDP_SEND || v->kind == K_UDP_BIG_SEND ? SOCK_DGRAM : SOCK_STREAM);
        if (rc == 0 && v->kind == K_UDP_BIG_SEND) {
            /* Before the sender starts: UDP_GRO, and room for what the sender outruns
             * the receiver by (forced past rmem_max as root). */
            int on = 1, big = 64 << 20;
            setsockopt(r.peer_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
            setsockopt(r.peer_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
            if (setsockopt(r.peer_fd, IPPROTO_UDP, UDP_GRO, &on, sizeof on) != 0)
                rc = bench_fail(&r, "UDP_GRO on the receiver: %s", strerror(errno));
        }
        if (rc == 0)
            rc = bench_peer_start(&r, r.peer_port);
    }
    if (rc == 0)
        rc = v->fn(&r);
    if (rc != 0 && r.err[0] == '\0')
        bench_fail(&r, "failed without a message");
    if (r.err[0] != '\0') {
        /* Wake a peer still waiting for us: accept() returns on shutdown(). */
        if (r.peer_fd >= 0)
            shutdown(r.peer_fd, SHUT_RDWR);
        set_stop(&r);
        bench_go(&r);
    }
    if (r.peer_running)
        pthread_join(r.peer, NULL);
    if (r.peer_fd >= 0)
        close(r.peer_fd);
    alarm(0);

    res.n = n;
    res.done = r.done;
    res.extra = r.extra;
    res.calls = r.calls;
    res.peer_count = r.peer_count;
    res.secs = (double)(r.t1 - r.t0) / 1e9;
    if (r.err[0] != '\0' || r.peer_err[0] != '\0') {
        fprintf(stderr, "sk_bench: %s: FAILED: %s%s%s\n", v->name, r.err, r.err[0] && r.peer_err[0] ? "; " : "",
                r.peer_err);
    } else if (res.secs <= 0) {
        fprintf(stderr, "sk_bench: %s: FAILED: no time measured\n", v->name);
    } else {
        uint64_t ops = v->kind == K_BULK_SEND || v->kind == K_BULK_RECV ? r.done / BENCH_CHUNK : r.done;
        res.ok = 1;
        /* Offloaded sends: what the receiver got (what a sender loses is no speed). */
        res.rate = rate_of(v->kind, v->kind == K_UDP_BIG_SEND ? r.peer_count : r.done, res.secs);
        res.cpu_ns_op = ops > 0 ? (double)(r.cpu1 - r.cpu0) / (double)ops : NAN;
    }
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    return res;
}

/* ------------------------------------------------------------------------------ */
/* Statistics and printing                                                          */
/* ------------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double *s;
    double m;
    if (n <= 0)
        return NAN;
    s = malloc((size_t)n * sizeof *s);
    if (s == NULL)
        return NAN;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

static double quantile(double *v, int n, double q)
{
    int i;
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    i = (int)ceil(q * n) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i];
}

/* Spread of the rounds: (max - min) / median, in percent. */
static double spread(const double *v, int n)
{
    double lo = v[0], hi = v[0], m = median(v, n);
    for (int i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    return m > 0 ? 100.0 * (hi - lo) / m : NAN;
}

static void fmt_rate(char *buf, size_t cap, double x)
{
    if (isnan(x))
        snprintf(buf, cap, "-");
    else if (x >= 100)
        snprintf(buf, cap, "%.0f", x);
    else
        snprintf(buf, cap, "%.1f", x);
}

static int row_selected(const struct row *w)
{
    const char *p;
    size_t len = strlen(w->name);
    if (opt.rows == NULL)
        return 1;
    for (p = opt.rows; *p;) {
        size_t k = strcspn(p, ",");
        if (k == len && strncmp(p, w->name, len) == 0)
            return 1;
        p += k;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int nagle_selected(void)
{
    const char *p;
    if (!opt.nagle)
        return 0;
    if (opt.rows == NULL)
        return 1;
    for (p = opt.rows; *p;) {
        size_t k = strcspn(p, ",");
        if (k == 5 && strncmp(p, "nagle", 5) == 0)
            return 1;
        p += k;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ------------------------------------------------------------------------------ */
/* Modes                                                                            */
/* ------------------------------------------------------------------------------ */

static void print_machine(void)
{
    char model[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f) != NULL)
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c != NULL) {
                    snprintf(model, sizeof model, "%s", c + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        fclose(f);
    }
    printf("sk_bench: libsockkit %s, %ld CPUs (%s), %s mode, %d round%s, timeout %d ms on every sockkit call\n",
           sk_version_string(), sysconf(_SC_NPROCESSORS_ONLN), model, opt.smoke ? "smoke" : "full", opt.rounds,
           opt.rounds == 1 ? "" : "s", BENCH_TIMEOUT_MS);
}

static int run_only(void)
{
    const struct variant *v = find_variant(opt.only);
    struct result res;
    double *lat = NULL;
    uint64_t n;
    if (v == NULL) {
        fprintf(stderr, "sk_bench: no variant %s (see --list)\n", opt.only);
        return 2;
    }
    n = ops_for(v->kind);
    if (v->kind == K_REQRESP && (lat = calloc(n, sizeof *lat)) == NULL)
        return 1;
    /* The measured side is this thread: strace -ff names its file after this id. */
    fprintf(stderr, "sk_bench: measured thread %ld\n", (long)syscall(SYS_gettid));
    res = run_variant(v, n, lat);
    if (res.ok && lat != NULL) {
        printf("%s: latency of each exchange, us:", v->name);
        for (uint64_t i = 0; i < res.done; i++)
            printf(" %.0f", lat[i]);
        printf("\n");
    }
    free(lat);
    if (!res.ok)
        return 1;
    /* Operations as counted for syscalls.sh: 64 KiB writes or reads for bulk. */
    if (v->kind == K_BULK_SEND || v->kind == K_BULK_RECV)
        res.done /= BENCH_CHUNK;
    printf("%s: %llu of %llu ops in %.3f s: %.1f ops/s", v->name, (unsigned long long)res.done,
           (unsigned long long)n, res.secs, (double)res.done / res.secs);
    if (v->kind == K_UDP_SEND || v->kind == K_UDP_BIG_SEND)
        printf(" (peer received %llu)", (unsigned long long)res.peer_count);
    if (v->kind == K_UDP_RECV || v->kind == K_UDP_BURST || v->kind == K_UDP_BIG_BURST)
        printf(" (lost %llu)", (unsigned long long)res.extra);
    printf(", measured thread cpu %.0f ns/op\n", res.cpu_ns_op);
    return 0;
}

static int run_table(void)
{
    const struct variant *order[2 * NROWS];
    int norder = 0, failed = 0, R = opt.rounds;
    double (*rate)[64];
    double (*loss)[64];
    double (*percall)[64];
    double (*cpu)[64];
    double *nagle_lat[NNAGLE];
    int nagle_count[NNAGLE];
    int do_nagle = nagle_selected();
    uint64_t nagle_n = ops_for(K_REQRESP);

    if (R > 64)
        R = opt.rounds = 64;
    /* The variants of the selected rows, each once, in row order: raw, sockkit, ... */
    for (size_t i = 0; i < NROWS; i++) {
        const char *names[2] = {rows[i].raw, rows[i].sk};
        if (!row_selected(&rows[i]))
            continue;
        for (int j = 0; j < 2; j++) {
            const struct variant *v = find_variant(names[j]);
            int seen = 0;
            for (int k = 0; k < norder; k++)
                seen |= order[k] == v;
            if (!seen)
                order[norder++] = v;
        }
    }
    rate = calloc(NVARIANTS, sizeof *rate);
    loss = calloc(NVARIANTS, sizeof *loss);
    percall = calloc(NVARIANTS, sizeof *percall);
    cpu = calloc(NVARIANTS, sizeof *cpu);
    for (size_t i = 0; i < NNAGLE; i++) {
        nagle_lat[i] = calloc((size_t)(nagle_n * (uint64_t)R), sizeof(double));
        nagle_count[i] = 0;
    }
    if (rate == NULL || loss == NULL || percall == NULL || cpu == NULL)
        return 1;

    print_machine();
    fflush(stdout);
    for (int round = 0; round < R; round++) {
        for (int k = 0; k < norder; k++) {
            /* raw, sockkit, raw, sockkit, ... and the other way round in odd rounds,
             * so that neither side of a pair always runs first. */
            const struct variant *v = order[round % 2 ? norder - 1 - k : k];
            size_t vi = (size_t)(v - variants);
            struct result res = run_variant(v, ops_for(v->kind), NULL);
            if (!res.ok) {
                failed = 1;
                rate[vi][round] = NAN;
                cpu[vi][round] = NAN;
                continue;
            }
            rate[vi][round] = res.rate;
            cpu[vi][round] = res.cpu_ns_op;
            loss[vi][round] = v->kind == K_UDP_SEND || v->kind == K_UDP_BIG_SEND ? (double)(res.done - res.peer_count)
                                                                               : (double)res.extra;
            percall[vi][round] = res.calls > 0 ? (double)(res.done + 1) / (double)res.calls : NAN;
            if (opt.verbose) {
                fprintf(stderr, "  round %d %-26s %12.1f %-6s cpu %9.0f ns/op", round + 1, v->name, res.rate,
                        v->kind == K_BULK_SEND || v->kind == K_BULK_RECV ? "MiB/s" : "ops/s", res.cpu_ns_op);
                if (is_udp(v->kind))
                    fprintf(stderr, "  lost %.0f of %llu", loss[vi][round], (unsigned long long)res.n);
                fprintf(stderr, "\n");
            }
        }
        if (do_nagle) {
            for (size_t i = 0; i < NNAGLE; i++) {
                const struct variant *v = find_variant(nagle_variants[i]);
                struct result res = run_variant(v, nagle_n, nagle_lat[i] + nagle_count[i]);
                if (!res.ok) {
                    failed = 1;
                    continue;
                }
                nagle_count[i] += (int)res.done;
            }
        }
        if (!opt.verbose)
            fprintf(stderr, "sk_bench: round %d of %d done\n", round + 1, R);
    }

    for (int section = 0; section < 2; section++) {
        int header = 0;
        for (size_t i = 0; i < NROWS; i++) {
            const struct row *w = &rows[i];
            size_t a, b;
            double ma, mb, paired[64], ca, cb;
            char sa[32], sb[32];
            if (w->batch != section || !row_selected(w))
                continue;
            if (!header) {
                printf("\n%s\n", section ? "Batch APIs (issue 6): sockkit batch call vs raw code"
                                           : "Zero overhead: the same work, raw and through libsockkit");
                printf("%-38s %11s %11s %-7s %6s %6s %9s %9s %7s  %s\n", "workload", "raw median", "sk median",
                       "unit", "ratio", "paired", "raw cpu", "sk cpu", "sk cpu", "spread");
                printf("%-38s %11s %11s %-7s %6s %6s %9s %9s %7s  %s\n", "", "", "", "", "", "ratio", "ns/op",
                       "ns/op", "vs raw", "raw/sk");
                header = 1;
            }
            a = (size_t)(find_variant(w->raw) - variants);
            b = (size_t)(find_variant(w->sk) - variants);
            ma = median(rate[a], R);
            mb = median(rate[b], R);
            for (int j = 0; j < R; j++)
                paired[j] = rate[b][j] / rate[a][j];
            ca = median(cpu[a], R);
            cb = median(cpu[b], R);
            fmt_rate(sa, sizeof sa, ma);
            fmt_rate(sb, sizeof sb, mb);
            printf("%-38s %11s %11s %-7s %6.3f %6.3f %9.0f %9.0f %+6.0f%%  %3.0f%%/%.0f%%\n", w->label, sa, sb,
                   unit_name[w->unit], mb / ma, median(paired, R), ca, cb, 100.0 * (cb - ca) / ca, spread(rate[a], R),
                   spread(rate[b], R));
        }
    }
    printf("\nratio: sockkit median / raw median, higher is better for every unit. paired ratio: the median over\n"
           "the %d rounds of sockkit / raw within a round (the two ran back to back). cpu: the measured thread's\n"
           "CPU time (user + system) per operation (64 KiB for bulk, a datagram received for UDP receivers),\n"
           "median; it does not count time spent waiting, so it shows a wrapper's cost where the machine's load\n"
           "blurs the rates. spread: (max - min) / median of the rates over the rounds.\n",
           R);

    /* Losses of the UDP variants. */
    {
        int header = 0;
        for (int k = 0; k < norder; k++) {
            const struct variant *v = order[k];
            size_t vi = (size_t)(v - variants);
            if (!is_udp(v->kind))
                continue;
            if (!header) {
                printf("\n%-26s %14s %12s %11s   %s\n", "UDP variant", "datagrams/run", "lost median",
                       "dgrams/call", "(lost per round)");
                header = 1;
            }
            {
                /* Receivers: datagrams (the end marker included) per receive call. */
                char pc[32] = "";
                if (v->kind != K_UDP_SEND && v->kind != K_UDP_BIG_SEND)
                    snprintf(pc, sizeof pc, "%.2f", median(percall[vi], R));
                printf("%-26s %14llu %12.0f %11s   (", v->name, (unsigned long long)ops_for(v->kind),
                       median(loss[vi], R), pc);
            }
            for (int j = 0; j < R; j++)
                printf("%s%.0f", j ? " " : "", loss[vi][j]);
            printf(")\n");
        }
    }

    if (do_nagle) {
        printf("\n4-byte header then 60-byte body, 64-byte response (%llu exchanges x %d rounds per variant)\n",
               (unsigned long long)nagle_n, R);
        printf("%-24s %12s %12s %12s %10s  %s\n", "variant", "median us", "p90 us", "max us", ">= 20 ms",
               "what");
        for (size_t i = 0; i < NNAGLE; i++) {
            const struct variant *v = find_variant(nagle_variants[i]);
            int slow = 0, n = nagle_count[i];
            for (int j = 0; j < n; j++)
                slow += nagle_lat[i][j] >= 20000.0;
            {
                double med = median(nagle_lat[i], n);
                double p90 = quantile(nagle_lat[i], n, 0.9);
                double mx = n > 0 ? nagle_lat[i][n - 1] : NAN; /* sorted by quantile() */
                printf("%-24s %12.0f %12.0f %12.0f %6d/%-3d  %s\n", v->name, med, p90, mx, slow, n, v->what);
            }
        }
    }
    for (size_t i = 0; i < NNAGLE; i++)
        free(nagle_lat[i]);
    free(rate);
    free(loss);
    free(percall);
    free(cpu);
    if (failed) {
        fprintf(stderr, "sk_bench: some runs FAILED (see above)\n");
        return 1;
    }
    return 0;
}

/* --probe: what single calls cost on this machine, the floor under every figure. */
static double per_call_ns(int64_t t0, int n)
{
    return (double)(bench_now_ns() - t0) / n;
}

static int run_probe(void)
{
    enum { N = 100000 };
    struct sockaddr_in sa = loopback(0);
    socklen_t len = sizeof sa;
    struct timespec ts;
    struct pollfd pfd;
    int one = 1, fl;
    char c;
    int64_t t;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int sv = -1;
    if (l < 0 || cl < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 16) != 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) != 0 || connect(cl, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        (sv = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        perror("sk_bench --probe");
        return 1;
    }
    printf("what one call costs here (mean of %d, ns):\n", N);
    t = bench_now_ns();
    for (int i = 0; i < N; i++)
        clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("  %-46s %7.0f\n", "clock_gettime(CLOCK_MONOTONIC) (vDSO, no syscall)", per_call_ns(t, N));
    t = bench_now_ns();
    for (int i = 0; i < N; i++)
        syscall(SYS_getppid);
    printf("  %-46s %7.0f\n", "getppid() (the cheapest system call)", per_call_ns(t, N));
    t = bench_now_ns();
    for (int i = 0; i < N; i++)
        if (recv(sv, &c, 1, MSG_DONTWAIT) >= 0)
            break;
    printf("  %-46s %7.0f\n", "recv(MSG_DONTWAIT) -> EAGAIN", per_call_ns(t, N));
    pfd.fd = l;
    pfd.events = POLLIN;
    t = bench_now_ns();
    for (int i = 0; i < N; i++)
        poll(&pfd, 1, 0);
    printf("  %-46s %7.0f\n", "poll(listener, 0) -> nothing", per_call_ns(t, N));
    t = bench_now_ns();
    for (int i = 0; i < N; i++)
        if (accept4(l, NULL, NULL, SOCK_CLOEXEC) >= 0)
            break;
    printf("  %-46s %7.0f\n", "accept4(non-blocking listener) -> EAGAIN", per_call_ns(t, N));
    t = bench_now_ns();
    for (int i = 0; i < N; i++)
        setsockopt(sv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    printf("  %-46s %7.0f\n", "setsockopt(TCP_NODELAY)", per_call_ns(t, N));
    t = bench_now_ns();
    for (int i = 0; i < N; i++)
        fl = fcntl(sv, F_GETFL);
    printf("  %-46s %7.0f\n", "fcntl(F_GETFL)", per_call_ns(t, N));
    t = bench_now_ns();
    for (int i = 0; i < N; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        getpeername(sv, (struct sockaddr *)&ss, &sl);
    }
    printf("  %-46s %7.0f\n", "getpeername()", per_call_ns(t, N));
    (void)fl;
    close(sv);
    close(cl);
    close(l);
    return 0;
}

static void list_all(void)
{
    printf("variants (for --only):\n");
    for (size_t i = 0; i < NVARIANTS; i++)
        printf("  %-26s %s\n", variants[i].name, variants[i].what);
    printf("rows (for --rows, comma-separated; \"nagle\" for the request/response table):\n");
    for (size_t i = 0; i < NROWS; i++)
        printf("  %-20s %s: %s vs %s\n", rows[i].name, rows[i].label, rows[i].raw, rows[i].sk);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sk_bench [--smoke] [--rounds N] [--scale F] [--rows a,b,...] [--no-nagle]\n"
               "                [--verify|--no-verify] [-v]\n"
               "       sk_bench --only VARIANT [--n OPS] [--verify]\n"
               "       sk_bench --list | --probe\n");
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* belt and braces: every send here uses MSG_NOSIGNAL */
    pattern_init();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--smoke") == 0) {
            opt.smoke = 1;
        } else if (strcmp(a, "--rounds") == 0 && more) {
            opt.rounds = atoi(argv[++i]);
        } else if (strcmp(a, "--scale") == 0 && more) {
            opt.scale = atof(argv[++i]);
        } else if (strcmp(a, "--rows") == 0 && more) {
            opt.rows = argv[++i];
        } else if (strcmp(a, "--only") == 0 && more) {
            opt.only = argv[++i];
        } else if ((strcmp(a, "--n") == 0 || strcmp(a, "-n") == 0) && more) {
            opt.only_n = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(a, "--verify") == 0) {
            opt.verify = 1;
        } else if (strcmp(a, "--no-verify") == 0) {
            opt.verify = 0;
        } else if (strcmp(a, "--no-nagle") == 0) {
            opt.nagle = 0;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            opt.verbose = 1;
        } else if (strcmp(a, "--probe") == 0) {
            return run_probe();
        } else if (strcmp(a, "--list") == 0) {
            list_all();
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (opt.smoke && opt.only == NULL && opt.rounds == 5)
        opt.rounds = 1;
    if (opt.verify < 0)
        opt.verify = opt.smoke; /* every bulk byte in smoke mode; counts only in full mode */
    if (opt.rounds < 1 || opt.scale <= 0) {
        usage(stderr);
        return 2;
    }
    if (opt.only != NULL)
        return run_only();
    return run_table();
}
