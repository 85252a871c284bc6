/* sk_bench: the raw twins. What a careful programmer writes with plain blocking POSIX
 * calls and no library: loops that handle short transfers and EINTR, MSG_NOSIGNAL,
 * close-on-exec, TCP_NODELAY where the libsockkit side has it (it is that library's
 * default), and, in the "timeout" variants, SO_RCVTIMEO / SO_SNDTIMEO set once. No
 * libsockkit header is included here. */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h> /* struct iovec */
#include <unistd.h>

static struct sockaddr_in lo(int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

static int set_timeo(int fd, int name, int ms)
{
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return setsockopt(fd, SOL_SOCKET, name, &tv, sizeof tv);
}

static int nodelay(int fd, int on)
{
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

/* A connected TCP socket to 127.0.0.1:port; timeout_ms > 0 sets both socket timeouts
 * once (so that every later call is bounded). */
static int tcp_connect(struct bench_run *r, int port, int nd, int timeout_ms, int *out)
{
    struct sockaddr_in sa = lo(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bench_fail(r, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || (nd && nodelay(fd, 1) != 0) ||
        (timeout_ms > 0 && (set_timeo(fd, SO_RCVTIMEO, timeout_ms) != 0 || set_timeo(fd, SO_SNDTIMEO, timeout_ms) != 0))) {
        int err = errno;
        close(fd);
        return bench_fail(r, "connect: %s", strerror(err));
    }
    *out = fd;
    return 0;
}

static int send_full(int fd, const void *buf, size_t len)
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

/* Bytes received, fewer than len only at end of stream; -1 on error. */
static ssize_t recv_full(int fd, void *buf, size_t len)
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

static int fail_close(struct bench_run *r, int fd, const char *what)
{
    int err = errno;
    close(fd);
    return bench_fail(r, "%s: %s", what, strerror(err));
}

int raw_bulk_send(struct bench_run *r)
{
    const unsigned char *pat = bench_pattern();
    uint64_t off = 0, ack = 0;
    int fd;
    if (tcp_connect(r, r->peer_port, 1, 0, &fd) != 0)
        return -1;
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++, off += BENCH_CHUNK)
        if (send_full(fd, pat + off % BENCH_PERIOD, BENCH_CHUNK) != 0)
            return fail_close(r, fd, "send");
    if (shutdown(fd, SHUT_WR) != 0 || recv_full(fd, &ack, sizeof ack) != (ssize_t)sizeof ack)
        return fail_close(r, fd, "shutdown/ack");
    bench_stop(r);
    close(fd);
    r->done = off;
    if (ack != off)
        return bench_fail(r, "peer received %llu of %llu bytes", (unsigned long long)ack, (unsigned long long)off);
    return 0;
}

int raw_bulk_recv(struct bench_run *r)
{
    static unsigned char buf[BENCH_CHUNK];
    uint64_t total = 0;
    int fd;
    if (tcp_connect(r, r->peer_port, 1, 0, &fd) != 0)
        return -1;
    bench_start(r);
    if (send_full(fd, "g", 1) != 0)
        return fail_close(r, fd, "send go");
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k == 0)
            break;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return fail_close(r, fd, "recv");
        }
        if (r->verify && bench_check_bulk(buf, (size_t)k, total) != 0) {
            close(fd);
            return bench_fail(r, "bulk data differ after byte %llu", (unsigned long long)total);
        }
        total += (uint64_t)k;
    }
    bench_stop(r);
    close(fd);
    r->done = total;
    if (total != r->n * BENCH_CHUNK)
        return bench_fail(r, "received %llu bytes", (unsigned long long)total);
    return 0;
}

int raw_pingpong(struct bench_run *r)
{
    unsigned char out[BENCH_PING], in[BENCH_PING];
    int fd;
    if (tcp_connect(r, r->peer_port, 1, r->opt, &fd) != 0)
        return -1;
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        bench_fill_msg(out, sizeof out, i);
        if (send_full(fd, out, sizeof out) != 0)
            return fail_close(r, fd, "send");
        if (recv_full(fd, in, sizeof in) != (ssize_t)sizeof in)
            return fail_close(r, fd, "recv");
        if (memcmp(in, out, sizeof in) != 0) {
            close(fd);
            return bench_fail(r, "echo %llu differs", (unsigned long long)i);
        }
        r->done++;
    }
    bench_stop(r);
    close(fd);
    return 0;
}

int raw_msg_send(struct bench_run *r)
{
    unsigned char m[BENCH_MSG];
    uint64_t ack = 0;
    int fd;
    if (tcp_connect(r, r->peer_port, r->opt, 0, &fd) != 0)
        return -1;
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        bench_fill_msg(m, sizeof m, i);
        if (send_full(fd, m, sizeof m) != 0)
            return fail_close(r, fd, "send");
    }
    if (shutdown(fd, SHUT_WR) != 0 || recv_full(fd, &ack, sizeof ack) != (ssize_t)sizeof ack)
        return fail_close(r, fd, "shutdown/ack");
    bench_stop(r);
    close(fd);
    r->done = r->n;
    if (ack != r->n)
        return bench_fail(r, "peer counted %llu messages", (unsigned long long)ack);
    return 0;
}

int raw_msg_recv(struct bench_run *r)
{
    unsigned char m[BENCH_MSG];
    int fd;
    if (tcp_connect(r, r->peer_port, 1, 0, &fd) != 0)
        return -1;
    bench_start(r);
    if (send_full(fd, "g", 1) != 0)
        return fail_close(r, fd, "send go");
    for (uint64_t i = 0; i < r->n; i++) {
        if (recv_full(fd, m, sizeof m) != (ssize_t)sizeof m)
            return fail_close(r, fd, "recv");
        if (bench_check_msg(m, sizeof m, i) != 0) {
            close(fd);
            return bench_fail(r, "message %llu differs", (unsigned long long)i);
        }
        r->done++;
    }
    bench_stop(r);
    close(fd);
    return 0;
}

int raw_udp_send(struct bench_run *r)
{
    enum { B = 64 };
    static unsigned char d[B][BENCH_DGRAM];
    struct iovec iov[B];
    struct mmsghdr mm[B];
    struct sockaddr_in to = lo(r->peer_port), me = lo(0);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bench_fail(r, "socket: %s", strerror(errno));
    if (r->opt == 1 ? bind(fd, (struct sockaddr *)&me, sizeof me) : connect(fd, (struct sockaddr *)&to, sizeof to))
        return fail_close(r, fd, "connect/bind");
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < B; i++) {
        iov[i].iov_base = d[i];
        iov[i].iov_len = BENCH_DGRAM;
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    bench_start(r);
    for (uint64_t i = 0; i < r->n;) {
        if (r->opt == 2) {
            /* sendmmsg() of up to 64; a short count is resumed from the first unsent. */
            unsigned k = (unsigned)(r->n - i < B ? r->n - i : B);
            int sent;
            for (unsigned j = 0; j < k; j++)
                bench_fill_msg(d[j], BENCH_DGRAM, i + j);
            for (unsigned j = 0; j < k; j += (unsigned)sent) {
                sent = sendmmsg(fd, mm + j, k - j, MSG_NOSIGNAL);
                if (sent < 0) {
                    if (errno == EINTR) {
                        sent = 0;
                        continue;
                    }
                    return fail_close(r, fd, "sendmmsg");
                }
            }
            i += k;
        } else {
            ssize_t k;
            bench_fill_msg(d[0], BENCH_DGRAM, i);
            do
                k = r->opt == 0 ? send(fd, d[0], BENCH_DGRAM, MSG_NOSIGNAL)
                                : sendto(fd, d[0], BENCH_DGRAM, MSG_NOSIGNAL, (struct sockaddr *)&to, sizeof to);
            while (k < 0 && errno == EINTR);
            if (k != BENCH_DGRAM)
                return fail_close(r, fd, "send");
            i++;
        }
    }
    bench_stop(r);
    r->done = r->n;
    bench_udp_send_markers(r, fd);
    close(fd);
    return 0;
}

/* Receives datagrams until an end marker: each must be intact and later than the one
 * before (loopback loses datagrams, but never reorders or changes them). */
static int udp_take(struct bench_run *r, const unsigned char *d, size_t len, uint64_t *next)
{
    uint64_t seq;
    memcpy(&seq, d, sizeof seq);
    if (len != BENCH_DGRAM || seq < *next || seq >= r->n || bench_check_msg(d, len, seq) != 0)
        return bench_fail(r, "datagram %llu (expected >= %llu) differs", (unsigned long long)seq,
                          (unsigned long long)*next);
    *next = seq + 1;
    r->done++;
    return 0;
}

static int udp_recv_loop(struct bench_run *r, int mmsg)
{
    enum { B = 64 };
    static unsigned char d[B][2048];
    struct iovec iov[B];
    struct mmsghdr mm[B];
    struct sockaddr_in me = lo(0);
    socklen_t len = sizeof me;
    uint64_t next = 0;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bench_fail(r, "socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0 || getsockname(fd, (struct sockaddr *)&me, &len) != 0 ||
        set_timeo(fd, SO_RCVTIMEO, BENCH_TIMEOUT_MS) != 0)
        return fail_close(r, fd, "bind");
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < B; i++) {
        iov[i].iov_base = d[i];
        iov[i].iov_len = sizeof d[i];
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    if (bench_peer_start(r, ntohs(me.sin_port)) != 0) {
        close(fd);
        return -1;
    }
    bench_start(r);
    bench_go(r);
    for (int end = 0; !end;) {
        int k;
        if (mmsg) {
            /* Wait (SO_RCVTIMEO) for the first, then take what is there. */
            k = recvmmsg(fd, mm, B, MSG_WAITFORONE, NULL);
        } else {
            ssize_t got = recv(fd, d[0], sizeof d[0], 0);
            mm[0].msg_len = got >= 0 ? (unsigned)got : 0;
            k = got >= 0 ? 1 : -1;
        }
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return fail_close(r, fd, mmsg ? "recvmmsg" : "recv");
        }
        r->calls++;
        for (int i = 0; i < k && !end; i++) {
            if (bench_is_marker(d[i], mm[i].msg_len))
                end = 1;
            else if (udp_take(r, d[i], mm[i].msg_len, &next) != 0) {
                close(fd);
                return -1;
            }
        }
    }
    bench_stop(r);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    close(fd);
    r->extra = r->n - r->done;
    return 0;
}

int raw_udp_recv(struct bench_run *r)
{
    return udp_recv_loop(r, r->opt == 1);
}

int raw_udp_burst(struct bench_run *r)
{
    return udp_recv_loop(r, 0);
}

/* 1200-byte datagrams, 64 per call, to a connected peer: opt 0 sendmmsg() of 64
 * messages (what a careful program does without offloads), opt 1 sendmmsg() of two
 * UDP_SEGMENT messages (54 datagrams, the most 65507 bytes hold, and 10): the raw
 * twin of sk_udp_send_batch with GSO. */
int raw_udp_big_send(struct bench_run *r)
{
    enum { B = 64, RUN = 54 };
    static unsigned char d[B][BENCH_DGRAM_BIG];
    static union {
        size_t align;
        char b[CMSG_SPACE(sizeof(uint16_t))];
    } ctl[2];
    struct iovec iov[B];
    struct mmsghdr mm[B];
    struct sockaddr_in to = lo(r->peer_port);
    uint16_t seg = BENCH_DGRAM_BIG;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bench_fail(r, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0)
        return fail_close(r, fd, "connect");
    for (int i = 0; i < B; i++) {
        iov[i].iov_base = d[i];
        iov[i].iov_len = BENCH_DGRAM_BIG;
    }
    bench_start(r);
    for (uint64_t i = 0; i < r->n;) {
        unsigned k = (unsigned)(r->n - i < B ? r->n - i : B), nmsg = 0;
        int sent;
        for (unsigned j = 0; j < k; j++)
            bench_fill_msg(d[j], BENCH_DGRAM_BIG, i + j);
        memset(mm, 0, sizeof mm);
        if (r->opt == 1) {
            for (unsigned j = 0; j < k; nmsg++) {
                unsigned segs = k - j < RUN ? k - j : RUN;
                mm[nmsg].msg_hdr.msg_iov = &iov[j];
                mm[nmsg].msg_hdr.msg_iovlen = segs;
                if (segs > 1) {
                    struct cmsghdr *c;
                    mm[nmsg].msg_hdr.msg_control = ctl[nmsg].b;
                    mm[nmsg].msg_hdr.msg_controllen = sizeof ctl[nmsg].b;
                    c = CMSG_FIRSTHDR(&mm[nmsg].msg_hdr);
                    c->cmsg_level = IPPROTO_UDP;
                    c->cmsg_type = UDP_SEGMENT;
                    c->cmsg_len = CMSG_LEN(sizeof seg);
                    memcpy(CMSG_DATA(c), &seg, sizeof seg);
                }
                j += segs;
            }
        } else {
            for (; nmsg < k; nmsg++) {
                mm[nmsg].msg_hdr.msg_iov = &iov[nmsg];
                mm[nmsg].msg_hdr.msg_iovlen = 1;
            }
        }
        /* A short count is resumed from the first unsent message. */
        for (unsigned j = 0; j < nmsg; j += (unsigned)sent) {
            sent = sendmmsg(fd, mm + j, nmsg - j, MSG_NOSIGNAL);
            if (sent < 0) {
                if (errno == EINTR) {
                    sent = 0;
                    continue;
                }
                return fail_close(r, fd, "sendmmsg");
            }
        }
        i += k;
    }
    bench_stop(r);
    r->done = r->n;
    bench_udp_send_markers(r, fd);
    close(fd);
    return 0;
}

/* One recv() per 1200-byte datagram until an end marker: what a burst loses when
 * every datagram costs a system call and its own place in the receive queue. */
int raw_udp_big_burst(struct bench_run *r)
{
    static unsigned char d[2048];
    struct sockaddr_in me = lo(0);
    socklen_t len = sizeof me;
    uint64_t next = 0;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bench_fail(r, "socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0 || getsockname(fd, (struct sockaddr *)&me, &len) != 0 ||
        set_timeo(fd, SO_RCVTIMEO, BENCH_TIMEOUT_MS) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){BENCH_BURST_RCVBUF}, sizeof(int)) != 0)
        return fail_close(r, fd, "bind");
    if (bench_peer_start(r, ntohs(me.sin_port)) != 0) {
        close(fd);
        return -1;
    }
    bench_start(r);
    bench_go(r);
    for (;;) {
        uint64_t seq;
        ssize_t k = recv(fd, d, sizeof d, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return fail_close(r, fd, "recv");
        }
        r->calls++;
        if (bench_is_marker(d, (size_t)k))
            break;
        memcpy(&seq, d, sizeof seq);
        if (k != BENCH_DGRAM_BIG || seq < next || seq >= r->n || bench_check_msg(d, (size_t)k, seq) != 0) {
            close(fd);
            return bench_fail(r, "datagram %llu (expected >= %llu) differs", (unsigned long long)seq,
                              (unsigned long long)next);
        }
        next = seq + 1;
        r->done++;
    }
    bench_stop(r);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    close(fd);
    r->extra = r->n - r->done;
    return 0;
}

int raw_accept(struct bench_run *r)
{
    struct sockaddr_in sa = lo(0);
    socklen_t len = sizeof sa;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bench_fail(r, "socket: %s", strerror(errno));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return fail_close(r, fd, "listen");
    if (bench_peer_start(r, ntohs(sa.sin_port)) != 0) {
        close(fd);
        return -1;
    }
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        int c;
        do
            c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        while (c < 0 && (errno == EINTR || errno == ECONNABORTED));
        if (c < 0)
            return fail_close(r, fd, "accept");
        if (nodelay(c, 1) != 0) {
            close(c);
            return fail_close(r, fd, "TCP_NODELAY");
        }
        close(c);
        r->done++;
    }
    bench_stop(r);
    close(fd);
    return 0;
}

int raw_connect(struct bench_run *r)
{
    struct sockaddr_in sa = lo(r->peer_port);
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return bench_fail(r, "socket: %s", strerror(errno));
        /* Linux bounds a blocking connect() by SO_SNDTIMEO (EINPROGRESS when it ends). */
        if (r->opt > 0 && set_timeo(fd, SO_SNDTIMEO, r->opt) != 0)
            return fail_close(r, fd, "SO_SNDTIMEO");
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            return fail_close(r, fd, "connect");
        if (nodelay(fd, 1) != 0)
            return fail_close(r, fd, "TCP_NODELAY");
        close(fd);
        r->done++;
    }
    bench_stop(r);
    return 0;
}

int raw_reqresp(struct bench_run *r)
{
    unsigned char req[BENCH_REQ_HEAD + BENCH_REQ_BODY], resp[64];
    int fd;
    if (tcp_connect(r, r->peer_port, r->opt, 0, &fd) != 0)
        return -1;
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        int64_t t = bench_now_ns();
        bench_fill_msg(req, sizeof req, i);
        if (send_full(fd, req, BENCH_REQ_HEAD) != 0 || send_full(fd, req + BENCH_REQ_HEAD, BENCH_REQ_BODY) != 0)
            return fail_close(r, fd, "send");
        if (recv_full(fd, resp, sizeof resp) != (ssize_t)sizeof resp)
            return fail_close(r, fd, "recv");
        if (bench_check_msg(resp, sizeof resp, i) != 0) {
            close(fd);
            return bench_fail(r, "response %llu differs", (unsigned long long)i);
        }
        if (r->lat_us != NULL)
            r->lat_us[i] = (double)(bench_now_ns() - t) / 1e3;
        r->done++;
    }
    bench_stop(r);
    close(fd);
    return 0;
}

int raw_lines(struct bench_run *r)
{
    static unsigned char buf[BENCH_CHUNK];
    size_t cap = r->opt > 0 && r->opt <= BENCH_CHUNK ? (size_t)r->opt : BENCH_CHUNK;
    size_t have = 0, at = 0, L = bench_line_len(r);
    int fd;
    if (tcp_connect(r, r->peer_port, 1, 0, &fd) != 0)
        return -1;
    bench_start(r);
    if (send_full(fd, "g", 1) != 0)
        return fail_close(r, fd, "send go");
    for (uint64_t i = 0; i < r->n; i++) {
        const unsigned char *line;
        size_t len;
        if (r->opt == 0) {
            /* One recv() per line: possible here only because every line has L bytes. */
            ssize_t k = recv_full(fd, buf, L);
            if (k != (ssize_t)L)
                return fail_close(r, fd, "recv");
            line = buf;
            len = L;
        } else {
            /* The careful way: a buffer of our own, refilled when no '\n' is left in it. */
            unsigned char *nl;
            while ((nl = memchr(buf + at, '\n', have - at)) == NULL) {
                ssize_t k;
                memmove(buf, buf + at, have - at);
                have -= at;
                at = 0;
                if (have == cap) {
                    close(fd);
                    return bench_fail(r, "line %llu too long", (unsigned long long)i);
                }
                do
                    k = recv(fd, buf + have, cap - have, 0);
                while (k < 0 && errno == EINTR);
                if (k <= 0)
                    return fail_close(r, fd, "recv");
                have += (size_t)k;
            }
            line = buf + at;
            len = (size_t)(nl - line) + 1;
            at += len;
        }
        if (bench_check_line_n(line, len, L, i) != 0) {
            close(fd);
            return bench_fail(r, "line %llu differs", (unsigned long long)i);
        }
        r->done++;
    }
    bench_stop(r);
    close(fd);
    return 0;
}

int raw_headbody(struct bench_run *r)
{
    unsigned char m[BENCH_MSG];
    uint64_t ack = 0;
    int fd;
    if (tcp_connect(r, r->peer_port, 1, 0, &fd) != 0)
        return -1;
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        bench_fill_msg(m, sizeof m, i);
        if (r->opt == 0) {
            if (send_full(fd, m, 8) != 0 || send_full(fd, m + 8, sizeof m - 8) != 0)
                return fail_close(r, fd, "send");
        } else {
            /* sendmsg() (writev() with MSG_NOSIGNAL) until everything left, resuming
             * inside whichever buffer it stopped. */
            struct iovec iov[2] = {{m, 8}, {m + 8, sizeof m - 8}};
            struct iovec *v = iov;
            size_t cnt = 2;
            while (cnt > 0) {
                struct msghdr mh;
                ssize_t k;
                memset(&mh, 0, sizeof mh);
                mh.msg_iov = v;
                mh.msg_iovlen = cnt;
                k = sendmsg(fd, &mh, MSG_NOSIGNAL);
                if (k < 0) {
                    if (errno == EINTR)
                        continue;
                    return fail_close(r, fd, "sendmsg");
                }
                while (cnt > 0 && (size_t)k >= v->iov_len) {
                    k -= (ssize_t)v->iov_len;
                    v++;
                    cnt--;
                }
                if (cnt > 0) {
                    v->iov_base = (char *)v->iov_base + k;
                    v->iov_len -= (size_t)k;
                }
            }
        }
    }
    if (shutdown(fd, SHUT_WR) != 0 || recv_full(fd, &ack, sizeof ack) != (ssize_t)sizeof ack)
        return fail_close(r, fd, "shutdown/ack");
    bench_stop(r);
    close(fd);
    r->done = r->n;
    if (ack != r->n)
        return bench_fail(r, "peer counted %llu messages", (unsigned long long)ack);
    return 0;
}
