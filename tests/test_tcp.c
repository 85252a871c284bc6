/* TCP endpoints (include/sockkit/tcp.h): connecting, listening, accepting, transfers,
 * timeouts, shutdown, addresses, descriptors and bad input.
 *
 * Every helper thread here stops by itself (finite budgets, bounded loops) and never
 * calls cr_assert: it records what happened and the test thread checks it after
 * pthread_join. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "signal_util.h"

TestSuite(tcp, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(tcp_timeout, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_timeout, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(tcp_errors, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(tcp_args, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_args, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

/* ------------------------------------------------------------------------------------ */
/* Helpers                                                                              */
/* ------------------------------------------------------------------------------------ */

#define MIB ((size_t)1024 * 1024)
/* A budget for helper threads and for steps that are expected to succeed: long enough
 * for a noisy machine, short enough that a hang ends the test. */
#define LONG_MS 20000

/* A non-NULL value that no function may return: out-parameters are pre-set to it to
 * check that a failing call really stores NULL. */
static char dummy_object_;
#define DUMMY_TCP ((sk_tcp *)(void *)&dummy_object_)

/* Pseudo-random bytes (xorshift64), reproducible from the seed. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static unsigned char *random_bytes(size_t len, uint64_t seed)
{
    unsigned char *p = malloc(len ? len : 1);
    uint64_t s = seed ? seed : 0x9e3779b97f4a7c15ULL;
    cr_assert_not_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(rng_next(&s) >> 24);
    return p;
}

static int local_port(const sk_tcp *t)
{
    sk_addr a;
    cr_assert_eq(sk_tcp_local_addr(t, &a), SK_OK);
    int p = sk_addr_port(&a);
    cr_assert_gt(p, 0);
    return p;
}

static void local_text(const sk_tcp *t, char *buf)
{
    sk_addr a;
    cr_assert_eq(sk_tcp_local_addr(t, &a), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, SK_ADDR_STRLEN), SK_OK);
}

static void peer_text(const sk_tcp *t, char *buf)
{
    sk_addr a;
    cr_assert_eq(sk_tcp_peer_addr(t, &a), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, SK_ADDR_STRLEN), SK_OK);
}

/* A valid address, so that a later check can tell that a failing call emptied it. */
static void prefill_addr(sk_addr *a)
{
    cr_assert_eq(sk_addr_parse(a, "10.1.2.3:4567"), SK_OK);
}

static int int_sockopt(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0, "getsockopt: %s", strerror(errno));
    return v;
}

/* SO_LINGER 0, so that closing sends a reset (RST) instead of end of stream; for
 * threads, which may not cr_assert (the test thread uses tu_close_with_reset). */
static int set_linger_zero(sk_tcp *t)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    return setsockopt(sk_tcp_fd(t), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* Whether this machine can bind ::1 at all (some containers have no IPv6). */
static int have_ipv6_loopback(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 a;
    int ok;
    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static pthread_t start_thread(void *(*fn)(void *), void *arg)
{
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, fn, arg), 0);
    return th;
}

/* --- transfer jobs run in helper threads (and tu_xfer, testutil.h) --- */

/* sk_tcp_send / sk_tcp_recv loops with pseudo-random chunk sizes. */
struct loop_xfer {
    sk_tcp *conn;
    unsigned char *buf;
    size_t len;
    uint64_t seed;
    int rc;
    size_t total;
    size_t calls;
    size_t bad_count_at; /* total when a call reported an impossible count, else -1 */
    size_t bad_count;
};

static size_t chunk_size(uint64_t *seed, size_t left)
{
    size_t c = 1 + (size_t)(rng_next(seed) % 65536);
    return c < left ? c : left;
}

static void *send_loop_job(void *p)
{
    struct loop_xfer *x = p;
    x->rc = SK_OK;
    x->bad_count_at = (size_t)-1;
    while (x->total < x->len && x->calls < 10 * 1000 * 1000) {
        size_t want = chunk_size(&x->seed, x->len - x->total);
        size_t n = (size_t)-1;
        x->calls++;
        x->rc = sk_tcp_send(x->conn, x->buf + x->total, want, &n, LONG_MS);
        if (x->rc != SK_OK)
            break;
        if (n < 1 || n > want) {
            x->bad_count_at = x->total;
            x->bad_count = n;
            break;
        }
        x->total += n;
    }
    return NULL;
}

static void *recv_loop_job(void *p)
{
    struct loop_xfer *x = p;
    x->rc = SK_OK;
    x->bad_count_at = (size_t)-1;
    while (x->total < x->len && x->calls < 10 * 1000 * 1000) {
        size_t cap = chunk_size(&x->seed, x->len - x->total);
        size_t n = (size_t)-1;
        x->calls++;
        x->rc = sk_tcp_recv(x->conn, x->buf + x->total, cap, &n, LONG_MS);
        if (x->rc != SK_OK)
            break;
        if (n < 1 || n > cap) {
            x->bad_count_at = x->total;
            x->bad_count = n;
            break;
        }
        x->total += n;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* tcp: the basics                                                                      */
/* ------------------------------------------------------------------------------------ */

Test(stream, connect_accept_and_exchange_a_small_message_both_ways)
{
    sk_tcp *l, *c, *s;
    char buf[8] = {0};
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);

    cr_assert_eq(sk_tcp_send_all(c, "ping", 4, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 4);
    n = 99;
    cr_assert_eq(sk_tcp_recv_exact(s, buf, 4, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(buf, "ping", 4), 0);

    n = 99;
    cr_assert_eq(sk_tcp_send_all(s, "pong!", 5, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 5);
    n = 99;
    cr_assert_eq(sk_tcp_recv_exact(c, buf, 5, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(buf, "pong!", 5), 0);

    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp, listen_on_port_zero_picks_a_nonzero_port_that_local_addr_tells)
{
    sk_tcp *l = DUMMY_TCP;
    sk_addr a;
    char text[SK_ADDR_STRLEN], want[SK_ADDR_STRLEN];

    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 8), SK_OK);
    cr_assert(l != NULL && l != DUMMY_TCP);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    int port = sk_addr_port(&a);
    cr_assert(port > 0 && port <= 65535, "port %d", port);
    cr_assert_eq(sk_addr_family(&a), 4);
    cr_assert_eq(sk_addr_format(&a, text, sizeof text), SK_OK);
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    cr_assert_str_eq(text, want);

    /* The port is really the one the socket is bound to. */
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    cr_assert_eq(getsockname(sk_tcp_fd(l), (struct sockaddr *)&sin, &sl), 0);
    cr_assert_eq(ntohs(sin.sin_port), port);
    sk_tcp_close(l);
}

Test(stream, local_and_peer_addresses_of_the_two_ends_mirror_each_other)
{
    sk_tcp *l, *c, *s;
    char c_local[SK_ADDR_STRLEN], c_peer[SK_ADDR_STRLEN];
    char s_local[SK_ADDR_STRLEN], s_peer[SK_ADDR_STRLEN], l_local[SK_ADDR_STRLEN];
    tu_tcp_pair(&l, &c, &s);

    local_text(c, c_local);
    peer_text(c, c_peer);
    local_text(s, s_local);
    peer_text(s, s_peer);
    local_text(l, l_local);

    cr_assert_str_eq(c_peer, s_local);
    cr_assert_str_eq(s_peer, c_local);
    /* The client reached the listener's address: same text as the listener's own. */
    cr_assert_str_eq(c_peer, l_local);
    if (strcmp(tu_stream_kind(), "tcp") == 0) {
        cr_assert_eq(strncmp(c_local, "127.0.0.1:", 10), 0, "client local address %s", c_local);
        cr_assert_neq(local_port(c), local_port(l));
    } else {
        /* A Unix client that never bound is unnamed; the listener has the name. */
        cr_assert_str_eq(c_local, "unix:");
        cr_assert_eq(strncmp(l_local, "unix:", 5), 0, "listener address %s", l_local);
        cr_assert_gt(strlen(l_local), 5);
    }

    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp, nodelay_is_on_by_default_for_connected_and_accepted_endpoints)
{
    sk_tcp *l, *c, *s;
    tu_tcp_pair(&l, &c, &s);
    cr_assert_neq(int_sockopt(sk_tcp_fd(c), IPPROTO_TCP, TCP_NODELAY), 0, "connect: TCP_NODELAY off");
    cr_assert_neq(int_sockopt(sk_tcp_fd(s), IPPROTO_TCP, TCP_NODELAY), 0, "accept: TCP_NODELAY off");
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp, set_nodelay_turns_nagle_on_and_off_again)
{
    sk_tcp *l, *c, *s;
    tu_tcp_pair(&l, &c, &s);
    sk_tcp *ends[2] = {c, s};
    for (int i = 0; i < 2; i++) {
        int fd = sk_tcp_fd(ends[i]);
        cr_assert_eq(sk_tcp_set_nodelay(ends[i], 0), SK_OK);
        cr_assert_eq(int_sockopt(fd, IPPROTO_TCP, TCP_NODELAY), 0);
        cr_assert_eq(sk_tcp_set_nodelay(ends[i], 1), SK_OK);
        cr_assert_neq(int_sockopt(fd, IPPROTO_TCP, TCP_NODELAY), 0);
        cr_assert_eq(sk_tcp_set_nodelay(ends[i], 0), SK_OK);
        /* "Non-zero" means on, not only 1. */
        cr_assert_eq(sk_tcp_set_nodelay(ends[i], 7), SK_OK);
        cr_assert_neq(int_sockopt(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    }
    /* Still a working connection. */
    char b = 0;
    cr_assert_eq(sk_tcp_send_all(c, "z", 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, &b, 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(b, 'z');
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, fd_returns_the_stream_socket_the_endpoint_owns)
{
    sk_tcp *l, *c, *s;
    tu_tcp_pair(&l, &c, &s);
    int lf = sk_tcp_fd(l), cf = sk_tcp_fd(c), sf = sk_tcp_fd(s);
    cr_assert(lf >= 0 && cf >= 0 && sf >= 0);
    cr_assert(lf != cf && lf != sf && cf != sf);
    cr_assert_eq(int_sockopt(lf, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    cr_assert_eq(int_sockopt(cf, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    cr_assert_eq(int_sockopt(sf, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    cr_assert_neq(int_sockopt(lf, SOL_SOCKET, SO_ACCEPTCONN), 0);
    cr_assert_eq(int_sockopt(cf, SOL_SOCKET, SO_ACCEPTCONN), 0);
    cr_assert_eq(int_sockopt(sf, SOL_SOCKET, SO_ACCEPTCONN), 0);
    /* Stable: the same descriptor every time. */
    cr_assert_eq(sk_tcp_fd(c), cf);

    /* The descriptor's own address is the endpoint's local address. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    sk_addr own, local;
    cr_assert_eq(getsockname(lf, (struct sockaddr *)&ss, &sl), 0);
    cr_assert_eq(sk_addr_from_sockaddr(&own, &ss, sl), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &local), SK_OK);
    {
        size_t la = 0, lb = 0;
        const void *pa = sk_addr_sockaddr(&own, &la), *pb = sk_addr_sockaddr(&local, &lb);
        cr_assert(la == lb && la > 0 && memcmp(pa, pb, la) == 0);
    }
    cr_assert_eq(int_sockopt(cf, SOL_SOCKET, SO_DOMAIN),
                 strcmp(tu_stream_kind(), "tcp") == 0 ? AF_INET : AF_UNIX);

    /* Usable for poll, which is what it is there for. */
    cr_assert_eq(sk_tcp_send_all(c, "!", 1, NULL, LONG_MS), SK_OK);
    tu_wait_fd(sf, POLLIN, LONG_MS);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, every_descriptor_is_close_on_exec)
{
    sk_tcp *l, *c, *s;
    tu_tcp_pair(&l, &c, &s);
    int fl = fcntl(sk_tcp_fd(l), F_GETFD), fc = fcntl(sk_tcp_fd(c), F_GETFD), fs = fcntl(sk_tcp_fd(s), F_GETFD);
    cr_assert(fl >= 0 && fc >= 0 && fs >= 0);
    cr_assert(fl & FD_CLOEXEC, "listener is not close-on-exec");
    cr_assert(fc & FD_CLOEXEC, "connected endpoint is not close-on-exec");
    cr_assert(fs & FD_CLOEXEC, "accepted endpoint is not close-on-exec");
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp, listener_sets_so_reuseaddr)
{
    sk_tcp *l = NULL;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    cr_assert_neq(int_sockopt(sk_tcp_fd(l), SOL_SOCKET, SO_REUSEADDR), 0);
    sk_tcp_close(l);
}

Test(tcp, connect_by_name_localhost_reaches_a_loopback_listener_with_either_hosts_layout)
{
    sk_tcp *l, *c = NULL, *s = NULL;
    char b[3];
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    /* Where localhost resolves to ::1 first, connect must go on to 127.0.0.1. */
    cr_assert_eq(sk_tcp_connect(&c, "localhost", local_port(l), LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_send_all(c, "abc", 3, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, b, 3, NULL, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(b, "abc", 3), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, send_all_from_a_thread_and_recv_exact_move_8_mib_byte_for_byte)
{
    const size_t len = 8 * MIB;
    sk_tcp *l, *c, *s;
    unsigned char *src = random_bytes(len, 12345), *dst = calloc(1, len);
    size_t got = (size_t)-1;
    char extra;
    cr_assert_not_null(dst);
    tu_tcp_pair(&l, &c, &s);

    struct tu_xfer job = {.conn = c, .buf = src, .len = len, .timeout_ms = LONG_MS};
    pthread_t th = start_thread(tu_send_all_job, &job);
    int rc = sk_tcp_recv_exact(s, dst, len, &got, LONG_MS);
    pthread_join(th, NULL);

    cr_assert_eq(job.rc, SK_OK, "send_all: %s", sk_errname(job.rc));
    cr_assert_eq(job.done, len);
    cr_assert_eq(rc, SK_OK, "recv_exact: %s", sk_errname(rc));
    cr_assert_eq(got, len);
    tu_assert_same_bytes(dst, src, len);
    /* Not one byte more was sent. */
    got = 99;
    cr_assert_eq(sk_tcp_recv(s, &extra, 1, &got, 0), SK_ETIMEDOUT);
    cr_assert_eq(got, 0);

    free(src);
    free(dst);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, send_and_recv_loops_move_8_mib_byte_for_byte)
{
    const size_t len = 8 * MIB;
    sk_tcp *l, *c, *s;
    unsigned char *src = random_bytes(len, 777), *dst = calloc(1, len);
    unsigned char extra;
    size_t n = 99;
    cr_assert_not_null(dst);
    tu_tcp_pair(&l, &c, &s);

    struct loop_xfer tx = {.conn = c, .buf = src, .len = len, .seed = 1};
    struct loop_xfer rx = {.conn = s, .buf = dst, .len = len, .seed = 2};
    pthread_t th = start_thread(send_loop_job, &tx);
    recv_loop_job(&rx);
    pthread_join(th, NULL);

    cr_assert_eq(tx.rc, SK_OK, "send: %s after %zu bytes", sk_errname(tx.rc), tx.total);
    cr_assert_eq(tx.bad_count_at, (size_t)-1, "send reported %zu bytes at offset %zu", tx.bad_count,
                 tx.bad_count_at);
    cr_assert_eq(tx.total, len);
    cr_assert_eq(rx.rc, SK_OK, "recv: %s after %zu bytes", sk_errname(rx.rc), rx.total);
    cr_assert_eq(rx.bad_count_at, (size_t)-1, "recv reported %zu bytes at offset %zu", rx.bad_count,
                 rx.bad_count_at);
    cr_assert_eq(rx.total, len);
    tu_assert_same_bytes(dst, src, len);

    /* The sender closes: the receiver sees end of stream with no byte. */
    sk_tcp_close(c);
    cr_assert_eq(sk_tcp_recv(s, &extra, 1, &n, LONG_MS), SK_ECLOSED);
    cr_assert_eq(n, 0);

    free(src);
    free(dst);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, zero_length_transfers_succeed_at_once_even_with_a_null_buffer)
{
    sk_tcp *l, *c, *s;
    char b[4] = "abc";
    size_t n;
    tu_tcp_pair(&l, &c, &s);

    /* Nothing is pending on either side, and the budget is SK_FOREVER: any wait would
     * hang (the suite's timeout catches that). */
    int64_t t0 = tu_now_ms();
    for (int with_buf = 0; with_buf < 2; with_buf++) {
        void *p = with_buf ? b : NULL;
        const int budgets[] = {SK_FOREVER, 0, 100};
        for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
            int tmo = budgets[i];
            n = 42;
            cr_assert_eq(sk_tcp_send_all(c, p, 0, &n, tmo), SK_OK);
            cr_assert_eq(n, 0);
            n = 42;
            cr_assert_eq(sk_tcp_recv_exact(s, p, 0, &n, tmo), SK_OK);
            cr_assert_eq(n, 0);
            n = 42;
            cr_assert_eq(sk_tcp_send(c, p, 0, &n, tmo), SK_OK);
            cr_assert_eq(n, 0);
            n = 42;
            cr_assert_eq(sk_tcp_recv(s, p, 0, &n, tmo), SK_OK);
            cr_assert_eq(n, 0);
            cr_assert_eq(sk_tcp_send_all(c, p, 0, NULL, tmo), SK_OK);
            cr_assert_eq(sk_tcp_recv_exact(s, p, 0, NULL, tmo), SK_OK);
        }
    }
    tu_assert_took(t0, 0);
    cr_assert_str_eq(b, "abc");

    /* Nothing moved: the first byte the server gets is the one sent now. */
    cr_assert_eq(sk_tcp_send_all(c, "Q", 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, b, 1, &n, LONG_MS), SK_OK);
    cr_assert_eq(b[0], 'Q');
    n = 42;
    cr_assert_eq(sk_tcp_recv(s, b, 1, &n, 0), SK_ETIMEDOUT);
    cr_assert_eq(n, 0);

    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, transfers_accept_null_progress_pointers)
{
    sk_tcp *l, *c, *s;
    char b[16] = {0};
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(c, "hello", 5, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, b, 5, NULL, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(b, "hello", 5), 0);
    cr_assert_eq(sk_tcp_send(s, "W", 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv(c, b, sizeof b, NULL, LONG_MS), SK_OK);
    cr_assert_eq(b[0], 'W');
    /* And on failure too. */
    cr_assert_eq(sk_tcp_recv_exact(c, b, 1, NULL, 0), SK_ETIMEDOUT);
    cr_assert_eq(sk_tcp_recv(c, b, 1, NULL, 0), SK_ETIMEDOUT);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, recv_returns_what_has_arrived_without_waiting_to_fill_its_buffer)
{
    sk_tcp *l, *c, *s;
    char b[100];
    size_t n = 0, total = 0;
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(c, "0123456789", 10, NULL, LONG_MS), SK_OK);
    /* A budget of 20 s and room for 100 bytes: only 10 come, and recv must return them
     * (SK_OK) instead of waiting for more. */
    while (total < 10) {
        n = 0;
        cr_assert_eq(sk_tcp_recv(s, b + total, sizeof b - total, &n, LONG_MS), SK_OK);
        cr_assert(n >= 1 && n <= 10 - total, "recv gave %zu bytes", n);
        total += n;
    }
    cr_assert_eq(memcmp(b, "0123456789", 10), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, recv_never_stores_more_than_its_capacity)
{
    sk_tcp *l, *c, *s;
    char b[16];
    size_t n, total = 0;
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(c, "abcdefghij", 10, NULL, LONG_MS), SK_OK);
    tu_wait_fd(sk_tcp_fd(s), POLLIN, LONG_MS);
    memset(b, '#', sizeof b);
    while (total < 10) {
        n = 0;
        cr_assert_eq(sk_tcp_recv(s, b + total, 4, &n, LONG_MS), SK_OK);
        cr_assert(n >= 1 && n <= 4, "recv with cap 4 gave %zu", n);
        total += n;
        cr_assert_leq(total, 10);
    }
    cr_assert_eq(memcmp(b, "abcdefghij", 10), 0);
    cr_assert_eq(b[10], '#', "recv wrote past the bytes it reported");
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, send_hands_at_least_one_byte_and_at_most_len_to_the_system)
{
    sk_tcp *l, *c, *s;
    const size_t len = 200000;
    unsigned char *src = random_bytes(len, 5), *dst = malloc(len);
    size_t n = 0;
    cr_assert_not_null(dst);
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send(c, src, len, &n, LONG_MS), SK_OK);
    cr_assert(n >= 1 && n <= len, "send reported %zu", n);
    size_t got = 0;
    cr_assert_eq(sk_tcp_recv_exact(s, dst, n, &got, LONG_MS), SK_OK);
    cr_assert_eq(got, n);
    tu_assert_same_bytes(dst, src, n);
    /* Exactly n bytes were sent: nothing more arrives. */
    got = 99;
    cr_assert_eq(sk_tcp_recv(s, dst, 1, &got, 100), SK_ETIMEDOUT);
    cr_assert_eq(got, 0);
    free(src);
    free(dst);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

/* Echoes what it receives until end of stream, then shuts its sending half. */
struct echo_job {
    sk_tcp *conn;
    int rc;
    size_t total;
};

static void *echo_job_main(void *p)
{
    struct echo_job *e = p;
    unsigned char chunk[65536];
    for (int i = 0; i < 1000000; i++) {
        size_t n = 0;
        int rc = sk_tcp_recv(e->conn, chunk, sizeof chunk, &n, LONG_MS);
        if (rc == SK_ECLOSED && n == 0) {
            e->rc = sk_tcp_shutdown(e->conn, SK_SHUT_WR);
            return NULL;
        }
        if (rc != SK_OK) {
            e->rc = rc;
            return NULL;
        }
        rc = sk_tcp_send_all(e->conn, chunk, n, NULL, LONG_MS);
        if (rc != SK_OK) {
            e->rc = rc;
            return NULL;
        }
        e->total += n;
    }
    e->rc = SK_EINVAL; /* too many rounds: report it */
    return NULL;
}

Test(stream, one_thread_sends_while_another_receives_an_echo_of_1_mib)
{
    /* Through an echo, 1 MiB only gets through when the client reads while it sends:
     * with one thread doing both in turn, both sides' buffers would fill. */
    const size_t len = 1 * MIB;
    sk_tcp *l, *c, *s;
    unsigned char *src = random_bytes(len, 99), *dst = calloc(1, len);
    size_t got = 0, n = 99;
    char extra;
    cr_assert_not_null(dst);
    tu_tcp_pair(&l, &c, &s);

    struct echo_job echo = {.conn = s};
    struct tu_xfer tx = {.conn = c, .buf = src, .len = len, .timeout_ms = LONG_MS, .shut_after = SK_SHUT_WR};
    pthread_t te = start_thread(echo_job_main, &echo);
    pthread_t tt = start_thread(tu_send_all_job, &tx);
    int rc = sk_tcp_recv_exact(c, dst, len, &got, LONG_MS);
    int rc_eos = sk_tcp_recv(c, &extra, 1, &n, LONG_MS);
    pthread_join(tt, NULL);
    pthread_join(te, NULL);

    cr_assert_eq(tx.rc, SK_OK, "sender: %s", sk_errname(tx.rc));
    cr_assert_eq(tx.done, len);
    cr_assert_eq(echo.rc, SK_OK, "echo: %s", sk_errname(echo.rc));
    cr_assert_eq(echo.total, len);
    cr_assert_eq(rc, SK_OK, "receiver: %s", sk_errname(rc));
    cr_assert_eq(got, len);
    tu_assert_same_bytes(dst, src, len);
    cr_assert_eq(rc_eos, SK_ECLOSED);
    cr_assert_eq(n, 0);

    free(src);
    free(dst);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, both_ends_send_and_receive_1_mib_at_the_same_time)
{
    const size_t len = 1 * MIB;
    sk_tcp *l, *c, *s;
    unsigned char *a = random_bytes(len, 1001), *b = random_bytes(len, 2002);
    unsigned char *a_got = calloc(1, len), *b_got = calloc(1, len);
    cr_assert(a_got && b_got);
    tu_tcp_pair(&l, &c, &s);

    struct tu_xfer c_tx = {.conn = c, .buf = a, .len = len, .timeout_ms = LONG_MS};
    struct tu_xfer s_tx = {.conn = s, .buf = b, .len = len, .timeout_ms = LONG_MS};
    struct tu_xfer c_rx = {.conn = c, .buf = b_got, .len = len, .timeout_ms = LONG_MS};
    struct tu_xfer s_rx = {.conn = s, .buf = a_got, .len = len, .timeout_ms = LONG_MS};
    pthread_t t1 = start_thread(tu_send_all_job, &c_tx);
    pthread_t t2 = start_thread(tu_send_all_job, &s_tx);
    pthread_t t3 = start_thread(tu_recv_exact_job, &c_rx);
    tu_recv_exact_job(&s_rx);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_join(t3, NULL);

    cr_assert_eq(c_tx.rc, SK_OK, "client send: %s", sk_errname(c_tx.rc));
    cr_assert_eq(s_tx.rc, SK_OK, "server send: %s", sk_errname(s_tx.rc));
    cr_assert_eq(c_rx.rc, SK_OK, "client recv: %s", sk_errname(c_rx.rc));
    cr_assert_eq(s_rx.rc, SK_OK, "server recv: %s", sk_errname(s_rx.rc));
    cr_assert_eq(c_tx.done, len);
    cr_assert_eq(s_tx.done, len);
    cr_assert_eq(c_rx.done, len);
    cr_assert_eq(s_rx.done, len);
    tu_assert_same_bytes(a_got, a, len);
    tu_assert_same_bytes(b_got, b, len);

    free(a);
    free(b);
    free(a_got);
    free(b_got);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

/* --- end of stream, reset --- */

Test(stream, recv_exact_keeps_the_bytes_when_the_peer_closes_midway)
{
    sk_tcp *l, *c, *s;
    char b[10];
    size_t n = 99;
    memset(b, '#', sizeof b);
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(c, "hello", 5, NULL, LONG_MS), SK_OK);
    sk_tcp_close(c);

    errno = 0;
    cr_assert_eq(sk_tcp_recv_exact(s, b, 10, &n, LONG_MS), SK_ECLOSED);
    /* error.h: an orderly end of stream sets errno to ENOTCONN. */
    cr_assert_eq(errno, ENOTCONN, "errno %d (%s)", errno, strerror(errno));
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(b, "hello", 5), 0);
    cr_assert_eq(b[5], '#');
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, recv_at_end_of_stream_returns_closed_with_zero_bytes_every_time)
{
    sk_tcp *l, *c, *s;
    char b[8];
    size_t n;
    tu_tcp_pair(&l, &c, &s);
    sk_tcp_close(c);
    for (int i = 0; i < 3; i++) {
        n = 99;
        cr_assert_eq(sk_tcp_recv(s, b, sizeof b, &n, LONG_MS), SK_ECLOSED, "call %d", i);
        cr_assert_eq(n, 0);
    }
    n = 99;
    cr_assert_eq(sk_tcp_recv_exact(s, b, 1, &n, LONG_MS), SK_ECLOSED);
    cr_assert_eq(n, 0);
    /* Even with a zero budget: end of stream is there now, so it is not a timeout. */
    n = 99;
    cr_assert_eq(sk_tcp_recv(s, b, sizeof b, &n, 0), SK_ECLOSED);
    cr_assert_eq(n, 0);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp, recv_reports_a_peer_that_reset_the_connection)
{
    sk_tcp *l, *c, *s;
    char b[8];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    tu_close_with_reset(s);
    errno = 0;
    cr_assert_eq(sk_tcp_recv(c, b, sizeof b, &n, LONG_MS), SK_ECONNRESET);
    cr_assert_eq(errno, ECONNRESET, "errno %d (%s)", errno, strerror(errno));
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(l);
}

struct reset_job {
    sk_tcp *conn;
    int rc;
};

static void *send_then_reset_job(void *p)
{
    struct reset_job *r = p;
    tu_sleep_ms(100);
    r->rc = sk_tcp_send_all(r->conn, "abc", 3, NULL, LONG_MS);
    tu_sleep_ms(150);
    if (set_linger_zero(r->conn) != 0 && r->rc == SK_OK)
        r->rc = SK_EOS;
    sk_tcp_close(r->conn);
    return NULL;
}

Test(tcp, recv_exact_reports_a_reset_with_the_bytes_that_came_before)
{
    sk_tcp *l, *c, *s;
    char b[10];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    struct reset_job job = {.conn = s};
    pthread_t th = start_thread(send_then_reset_job, &job);
    int rc = sk_tcp_recv_exact(c, b, sizeof b, &n, LONG_MS);
    pthread_join(th, NULL);
    cr_assert_eq(job.rc, SK_OK);
    cr_assert_eq(rc, SK_ECONNRESET, "got %s", sk_errname(rc));
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(b, "abc", 3), 0);
    sk_tcp_close(c);
    sk_tcp_close(l);
}

/* Sends 64 KiB blocks until a call fails (bounded): the first sends may still be
 * accepted by the local system before the reset is known. */
static int send_until_failure(sk_tcp *c, size_t *last_sent)
{
    static unsigned char block[65536];
    int rc = SK_OK;
    for (int i = 0; i < 50 && rc == SK_OK; i++) {
        *last_sent = (size_t)-1;
        rc = sk_tcp_send_all(c, block, sizeof block, last_sent, LONG_MS);
        if (rc == SK_OK)
            tu_sleep_ms(20);
    }
    return rc;
}

Test(tcp, send_all_to_a_reset_peer_fails_with_connreset_and_raises_no_sigpipe)
{
    sk_tcp *l, *c, *s;
    size_t n = 0;
    /* The default disposition: a SIGPIPE would kill this test process. */
    cr_assert_neq(signal(SIGPIPE, SIG_DFL), SIG_ERR);
    tu_tcp_pair(&l, &c, &s);
    tu_close_with_reset(s);

    errno = 0;
    int rc = send_until_failure(c, &n);
    /* A broken connection is SK_ECONNRESET; SK_ECLOSED is only for this end's own
     * shutdown (or end of stream on receive), so it would be wrong here. */
    cr_assert_eq(rc, SK_ECONNRESET, "got %s", sk_errname(rc));
    cr_assert(errno == ECONNRESET || errno == EPIPE, "errno %d (%s)", errno, strerror(errno));
    cr_assert_lt(n, 65536);
    /* Later sends keep failing the same way (EPIPE from now on), still no signal. */
    n = 99;
    cr_assert_eq(sk_tcp_send_all(c, "x", 1, &n, LONG_MS), SK_ECONNRESET);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_send(c, "x", 1, &n, LONG_MS), SK_ECONNRESET);
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(l);
}

Test(stream, send_all_to_a_peer_that_closed_fails_with_connreset_and_raises_no_sigpipe)
{
    sk_tcp *l, *c, *s;
    size_t n = 0;
    cr_assert_neq(signal(SIGPIPE, SIG_DFL), SIG_ERR);
    tu_tcp_pair(&l, &c, &s);
    /* An orderly close, but the peer's system answers further data with a reset: the
     * connection is broken (EPIPE / ECONNRESET), not "closed by this end". */
    sk_tcp_close(s);
    int rc = send_until_failure(c, &n);
    cr_assert_eq(rc, SK_ECONNRESET, "got %s", sk_errname(rc));
    sk_tcp_close(c);
    sk_tcp_close(l);
}

/* --- shutdown --- */

struct shut_job {
    sk_tcp *conn;
    int how;
    int delay_ms;
    int rc;
    int64_t at_ms;
};

static void *shut_job_main(void *p)
{
    struct shut_job *j = p;
    tu_sleep_ms(j->delay_ms);
    j->at_ms = tu_now_ms();
    j->rc = sk_tcp_shutdown(j->conn, j->how);
    return NULL;
}

Test(stream, shutdown_rd_from_another_thread_wakes_a_blocked_recv_exact)
{
    sk_tcp *l, *c, *s;
    char b[10];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(c, "abc", 3, NULL, LONG_MS), SK_OK);

    struct shut_job job = {.conn = s, .how = SK_SHUT_RD, .delay_ms = 300};
    pthread_t th = start_thread(shut_job_main, &job);
    int rc = sk_tcp_recv_exact(s, b, sizeof b, &n, SK_FOREVER);
    int64_t back = tu_now_ms();
    pthread_join(th, NULL);

    cr_assert_eq(job.rc, SK_OK, "shutdown: %s", sk_errname(job.rc));
    cr_assert_eq(rc, SK_ECLOSED, "recv_exact: %s", sk_errname(rc));
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(b, "abc", 3), 0);
    cr_assert_geq(back, job.at_ms, "recv_exact returned before the shutdown");
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, shutdown_rdwr_from_another_thread_wakes_a_blocked_recv)
{
    sk_tcp *l, *c, *s;
    char b[10];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    struct shut_job job = {.conn = s, .how = SK_SHUT_RDWR, .delay_ms = 300};
    pthread_t th = start_thread(shut_job_main, &job);
    int rc = sk_tcp_recv(s, b, sizeof b, &n, SK_FOREVER);
    int64_t back = tu_now_ms();
    pthread_join(th, NULL);
    cr_assert_eq(job.rc, SK_OK);
    cr_assert_eq(rc, SK_ECLOSED, "recv: %s", sk_errname(rc));
    cr_assert_eq(n, 0);
    cr_assert_geq(back, job.at_ms, "recv returned before the shutdown");
    /* The peer sees end of stream (the write half went too). */
    n = 99;
    cr_assert_eq(sk_tcp_recv(c, b, sizeof b, &n, LONG_MS), SK_ECLOSED);
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, shutdown_wr_lets_the_peer_see_end_of_stream_while_the_other_direction_works)
{
    sk_tcp *l, *c, *s;
    char b[16];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(c, "req", 3, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_shutdown(c, SK_SHUT_WR), SK_OK);

    cr_assert_eq(sk_tcp_recv_exact(s, b, 3, &n, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(b, "req", 3), 0);
    n = 99;
    cr_assert_eq(sk_tcp_recv(s, b, sizeof b, &n, LONG_MS), SK_ECLOSED);
    cr_assert_eq(n, 0);

    /* The server can still answer, and the client still receives. */
    cr_assert_eq(sk_tcp_send_all(s, "response", 8, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 8);
    cr_assert_eq(sk_tcp_recv_exact(c, b, 8, &n, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(b, "response", 8), 0);
    sk_tcp_close(s);
    n = 99;
    cr_assert_eq(sk_tcp_recv(c, b, sizeof b, &n, LONG_MS), SK_ECLOSED);
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(l);
}

Test(stream, send_after_this_end_shut_its_sending_half_returns_closed)
{
    sk_tcp *l, *c, *s;
    size_t n;
    char b[4];
    /* The system reports EPIPE here: it must raise no signal either. */
    cr_assert_neq(signal(SIGPIPE, SIG_DFL), SIG_ERR);
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_shutdown(c, SK_SHUT_WR), SK_OK);
    n = 99;
    cr_assert_eq(sk_tcp_send_all(c, "late", 4, &n, LONG_MS), SK_ECLOSED);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_send(c, "late", 4, &n, LONG_MS), SK_ECLOSED);
    cr_assert_eq(n, 0);
    /* Nothing of it reached the peer, which only sees end of stream. */
    n = 99;
    cr_assert_eq(sk_tcp_recv(s, b, sizeof b, &n, LONG_MS), SK_ECLOSED);
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream, recv_after_this_end_shut_its_receiving_half_returns_closed)
{
    sk_tcp *l, *c, *s;
    char b[4];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_shutdown(s, SK_SHUT_RD), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, b, sizeof b, &n, LONG_MS), SK_ECLOSED);
    cr_assert_eq(n, 0);
    /* The sending half still works. */
    cr_assert_eq(sk_tcp_send_all(s, "ok", 2, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(c, b, 2, NULL, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(b, "ok", 2), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

/* --- accepting --- */

Test(tcp, accept_leaves_the_listener_usable_after_a_timeout)
{
    sk_tcp *l, *c = NULL, *s = DUMMY_TCP;
    char b = 0;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, 100), SK_ETIMEDOUT);
    cr_assert_null(s);
    cr_assert_eq(sk_tcp_accept(l, &s, 0), SK_ETIMEDOUT);
    cr_assert_null(s);

    cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", local_port(l), LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    cr_assert_not_null(s);
    cr_assert_eq(sk_tcp_send_all(c, "k", 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, &b, 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(b, 'k');
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp, several_clients_are_accepted_in_the_order_they_connected)
{
    enum { N = 5 };
    sk_tcp *l, *c[N], *s[N];
    char want[SK_ADDR_STRLEN], got[SK_ADDR_STRLEN];
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 16), SK_OK);
    int port = local_port(l);
    for (int i = 0; i < N; i++)
        cr_assert_eq(sk_tcp_connect(&c[i], "127.0.0.1", port, LONG_MS), SK_OK);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(sk_tcp_accept(l, &s[i], LONG_MS), SK_OK);
        local_text(c[i], want);
        peer_text(s[i], got);
        cr_assert_str_eq(got, want, "accepted #%d is %s, expected client %s", i, got, want);
    }
    /* Each accepted endpoint talks to its own client. */
    for (int i = 0; i < N; i++) {
        char b = (char)('0' + i), r = 0;
        cr_assert_eq(sk_tcp_send_all(c[i], &b, 1, NULL, LONG_MS), SK_OK);
        cr_assert_eq(sk_tcp_recv_exact(s[i], &r, 1, NULL, LONG_MS), SK_OK);
        cr_assert_eq(r, b);
    }
    for (int i = 0; i < N; i++) {
        sk_tcp_close(c[i]);
        sk_tcp_close(s[i]);
    }
    sk_tcp_close(l);
}

Test(tcp, backlog_zero_and_negative_mean_the_system_default)
{
    /* A backlog of 0 passed as given would let Linux queue one connection only; the
     * contract says 0 or negative means SOMAXCONN, so 4 unaccepted clients fit. */
    const int backlogs[] = {0, -1, -100};
    for (size_t b = 0; b < sizeof backlogs / sizeof backlogs[0]; b++) {
        sk_tcp *l = DUMMY_TCP, *c[4];
        cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, backlogs[b]), SK_OK, "backlog %d", backlogs[b]);
        int port = local_port(l);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(sk_tcp_connect(&c[i], "127.0.0.1", port, 5000), SK_OK, "backlog %d, client %d",
                         backlogs[b], i);
        for (int i = 0; i < 4; i++) {
            sk_tcp *s = NULL;
            cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
            sk_tcp_close(s);
            sk_tcp_close(c[i]);
        }
        sk_tcp_close(l);
    }
}

Test(tcp, hundred_connect_accept_close_cycles_leave_the_descriptor_count_unchanged)
{
    sk_tcp *l;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 16), SK_OK);
    int port = local_port(l);
    int before = tu_count_fds();
    for (int i = 0; i < 100; i++) {
        sk_tcp *c = NULL, *s = NULL;
        char b = (char)i, r = 0;
        cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", port, LONG_MS), SK_OK, "cycle %d", i);
        cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK, "cycle %d", i);
        cr_assert_eq(sk_tcp_send_all(c, &b, 1, NULL, LONG_MS), SK_OK);
        cr_assert_eq(sk_tcp_recv_exact(s, &r, 1, NULL, LONG_MS), SK_OK);
        cr_assert_eq(r, b);
        sk_tcp_close(c);
        sk_tcp_close(s);
    }
    cr_assert_eq(tu_count_fds(), before);
    sk_tcp_close(l);
}

/* --- IPv6, dual stack, names --- */

Test(tcp, ipv6_loopback_listens_connects_and_exchanges)
{
    sk_tcp *l, *c = NULL, *s = NULL;
    char text[SK_ADDR_STRLEN], want[SK_ADDR_STRLEN];
    char b[8];
    sk_addr a;
    if (!have_ipv6_loopback())
        cr_skip_test("no IPv6 loopback on this machine");
    cr_assert_eq(sk_tcp_listen(&l, "::1", 0, 4), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    cr_assert_eq(sk_addr_family(&a), 6);
    int port = sk_addr_port(&a);
    cr_assert_gt(port, 0);
    cr_assert_eq(sk_addr_format(&a, text, sizeof text), SK_OK);
    snprintf(want, sizeof want, "[::1]:%d", port);
    cr_assert_str_eq(text, want);

    cr_assert_eq(sk_tcp_connect(&c, "::1", port, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_send_all(c, "six", 3, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, b, 3, NULL, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(b, "six", 3), 0);
    cr_assert_eq(sk_tcp_send_all(s, "v6", 2, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(c, b, 2, NULL, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(b, "v6", 2), 0);

    local_text(c, text);
    snprintf(want, sizeof want, "[::1]:%d", local_port(c));
    cr_assert_str_eq(text, want);
    peer_text(s, text);
    cr_assert_str_eq(text, want);
    peer_text(c, text);
    snprintf(want, sizeof want, "[::1]:%d", port);
    cr_assert_str_eq(text, want);
    cr_assert_neq(int_sockopt(sk_tcp_fd(c), IPPROTO_TCP, TCP_NODELAY), 0);
    cr_assert_neq(int_sockopt(sk_tcp_fd(s), IPPROTO_TCP, TCP_NODELAY), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

static void check_dual_stack_client(sk_tcp *l, const char *host, const char *want_prefix)
{
    sk_tcp *c = NULL, *s = NULL;
    char c_local[SK_ADDR_STRLEN], s_peer[SK_ADDR_STRLEN], c_peer[SK_ADDR_STRLEN], s_local[SK_ADDR_STRLEN];
    char b = 0;
    int port = local_port(l);
    cr_assert_eq(sk_tcp_connect(&c, host, port, LONG_MS), SK_OK, "connect via %s", host);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK, "accept of the %s client", host);
    cr_assert_eq(sk_tcp_send_all(c, "d", 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, &b, 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(b, 'd');
    local_text(c, c_local);
    peer_text(c, c_peer);
    peer_text(s, s_peer);
    local_text(s, s_local);
    /* Never the IPv4-mapped form: the server shows the client as the client sees itself. */
    cr_assert_str_eq(s_peer, c_local, "client via %s", host);
    cr_assert_str_eq(s_local, c_peer, "client via %s", host);
    cr_assert_eq(strncmp(s_peer, want_prefix, strlen(want_prefix)), 0, "peer %s, expected %s...", s_peer,
                 want_prefix);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(tcp, dual_stack_listener_answers_ipv4_ipv6_and_localhost_clients_with_either_hosts_layout)
{
    sk_tcp *l = NULL;
    char text[SK_ADDR_STRLEN], want[SK_ADDR_STRLEN];
    cr_assert_eq(sk_tcp_listen(&l, NULL, 0, 16), SK_OK);
    check_dual_stack_client(l, "127.0.0.1", "127.0.0.1:");
    /* The IPv4 client seen from the server is 127.0.0.1:port, not [::ffff:127.0.0.1]. */
    if (have_ipv6_loopback()) {
        check_dual_stack_client(l, "::1", "[::1]:");
        /* localhost is 127.0.0.1 or ::1 depending on the system. */
        check_dual_stack_client(l, "localhost", "");
    } else {
        check_dual_stack_client(l, "localhost", "127.0.0.1:");
    }

    /* Bound to every address: the IPv6 any address where the system has IPv6 (the
     * dual-stack socket), else the IPv4 one. */
    sk_addr a;
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    cr_assert_eq(sk_addr_format(&a, text, sizeof text), SK_OK);
    if (sk_addr_family(&a) == 6) {
        snprintf(want, sizeof want, "[::]:%d", sk_addr_port(&a));
        /* Dual-stack: IPV6_V6ONLY explicitly off. */
        cr_assert_eq(int_sockopt(sk_tcp_fd(l), IPPROTO_IPV6, IPV6_V6ONLY), 0);
    } else {
        snprintf(want, sizeof want, "0.0.0.0:%d", sk_addr_port(&a));
    }
    cr_assert_str_eq(text, want);
    sk_tcp_close(l);
}

Test(tcp, listen_on_an_empty_host_is_every_address_like_null)
{
    sk_tcp *l = NULL;
    cr_assert_eq(sk_tcp_listen(&l, "", 0, 16), SK_OK);
    check_dual_stack_client(l, "127.0.0.1", "127.0.0.1:");
    if (have_ipv6_loopback())
        check_dual_stack_client(l, "::1", "[::1]:");
    sk_tcp_close(l);
}

Test(tcp, listen_on_localhost_answers_a_client_dialing_127_0_0_1_with_either_hosts_layout)
{
    sk_tcp *l = NULL, *c = NULL, *s = NULL;
    char text[SK_ADDR_STRLEN], want[SK_ADDR_STRLEN];
    char b = 0;
    cr_assert_eq(sk_tcp_listen(&l, "localhost", 0, 4), SK_OK);
    int port = local_port(l);
    /* The first IPv4 address of localhost is used. */
    local_text(l, text);
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    cr_assert_str_eq(text, want);
    cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", port, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_send_all(s, "L", 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(c, &b, 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(b, 'L');
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

/* --- interoperation with plain POSIX sockets --- */

struct posix_client {
    int port;
    const unsigned char *out;
    size_t out_len;
    unsigned char *in;
    size_t in_cap;
    size_t in_got;
    int failed_step; /* 0 when all went well */
    int failed_errno;
    int saw_eof;
};

static void *posix_client_main(void *p)
{
    struct posix_client *pc = p;
    struct timeval tv = {10, 0};
    struct sockaddr_in a;
    size_t off = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        pc->failed_step = 1;
        pc->failed_errno = errno;
        return NULL;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)pc->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        pc->failed_step = 2;
        pc->failed_errno = errno;
        goto out;
    }
    while (off < pc->out_len) {
        ssize_t n = send(fd, pc->out + off, pc->out_len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            pc->failed_step = 3;
            pc->failed_errno = errno;
            goto out;
        }
        off += (size_t)n;
    }
    if (shutdown(fd, SHUT_WR) != 0) {
        pc->failed_step = 4;
        pc->failed_errno = errno;
        goto out;
    }
    for (;;) {
        ssize_t n = recv(fd, pc->in + pc->in_got, pc->in_cap - pc->in_got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            pc->failed_step = 5;
            pc->failed_errno = errno;
            goto out;
        }
        if (n == 0) {
            pc->saw_eof = 1;
            break;
        }
        pc->in_got += (size_t)n;
        if (pc->in_got == pc->in_cap) {
            /* Room for one more byte would be an error: check that EOF follows. */
            char extra;
            n = recv(fd, &extra, 1, 0);
            pc->saw_eof = n == 0;
            if (n > 0)
                pc->in_got++;
            break;
        }
    }
out:
    close(fd);
    return NULL;
}

Test(tcp, a_plain_posix_client_interoperates_byte_for_byte)
{
    const size_t out_len = 1 * MIB, reply_len = 300000;
    sk_tcp *l = NULL, *s = NULL;
    unsigned char *out = random_bytes(out_len, 31), *reply = random_bytes(reply_len, 32);
    unsigned char *got = calloc(1, out_len), *in = calloc(1, reply_len);
    size_t n = 0;
    char extra;
    cr_assert(got && in);
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);

    struct posix_client pc = {.port = local_port(l), .out = out, .out_len = out_len, .in = in, .in_cap = reply_len};
    pthread_t th = start_thread(posix_client_main, &pc);
    int rc_acc = sk_tcp_accept(l, &s, LONG_MS);
    int rc_rx = rc_acc == SK_OK ? sk_tcp_recv_exact(s, got, out_len, &n, LONG_MS) : rc_acc;
    size_t eos_n = 99;
    int rc_eos = rc_rx == SK_OK ? sk_tcp_recv(s, &extra, 1, &eos_n, LONG_MS) : rc_rx;
    int rc_tx = rc_eos == SK_ECLOSED ? sk_tcp_send_all(s, reply, reply_len, NULL, LONG_MS) : rc_eos;
    sk_tcp_close(s); /* the client sees end of stream */
    pthread_join(th, NULL);

    cr_assert_eq(rc_acc, SK_OK);
    cr_assert_eq(rc_rx, SK_OK, "recv_exact: %s", sk_errname(rc_rx));
    cr_assert_eq(n, out_len);
    tu_assert_same_bytes(got, out, out_len);
    cr_assert_eq(rc_eos, SK_ECLOSED, "after the client's shutdown: %s", sk_errname(rc_eos));
    cr_assert_eq(eos_n, 0);
    cr_assert_eq(rc_tx, SK_OK);
    cr_assert_eq(pc.failed_step, 0, "client failed at step %d: %s", pc.failed_step, strerror(pc.failed_errno));
    cr_assert_eq(pc.in_got, reply_len);
    cr_assert(pc.saw_eof);
    tu_assert_same_bytes(in, reply, reply_len);

    free(out);
    free(reply);
    free(got);
    free(in);
    sk_tcp_close(l);
}

struct posix_server {
    int listen_fd;
    size_t len;
    int failed_step;
    int failed_errno;
};

/* Accepts one client, reads exactly len bytes, sends them back XOR 0x5a, closes. */
static void *posix_server_main(void *p)
{
    struct posix_server *ps = p;
    struct pollfd pf = {.fd = ps->listen_fd, .events = POLLIN};
    struct timeval tv = {10, 0};
    unsigned char *buf = malloc(ps->len);
    size_t off = 0;
    int fd = -1;
    if (buf == NULL) {
        ps->failed_step = 1;
        return NULL;
    }
    if (poll(&pf, 1, LONG_MS) != 1 || (fd = accept(ps->listen_fd, NULL, NULL)) < 0) {
        ps->failed_step = 2;
        ps->failed_errno = errno;
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    while (off < ps->len) {
        ssize_t n = recv(fd, buf + off, ps->len - off, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ps->failed_step = 3;
            ps->failed_errno = errno;
            goto out;
        }
        off += (size_t)n;
    }
    for (size_t i = 0; i < ps->len; i++)
        buf[i] ^= 0x5a;
    for (off = 0; off < ps->len;) {
        ssize_t n = send(fd, buf + off, ps->len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ps->failed_step = 4;
            ps->failed_errno = errno;
            goto out;
        }
        off += (size_t)n;
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

Test(tcp, a_plain_posix_server_interoperates_byte_for_byte)
{
    const size_t len = 512 * 1024;
    unsigned char *out = random_bytes(len, 41), *want = malloc(len), *got = calloc(1, len);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    sk_tcp *c = NULL;
    size_t n = 0;
    char extra;
    cr_assert(want && got);
    for (size_t i = 0; i < len; i++)
        want[i] = out[i] ^ 0x5a;

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(lfd, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(lfd, 4), 0);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &al), 0);

    struct posix_server ps = {.listen_fd = lfd, .len = len};
    pthread_t th = start_thread(posix_server_main, &ps);
    int rc_c = sk_tcp_connect(&c, "127.0.0.1", ntohs(a.sin_port), LONG_MS);
    int rc_tx = rc_c == SK_OK ? sk_tcp_send_all(c, out, len, &n, LONG_MS) : rc_c;
    size_t got_n = 0, eos_n = 99;
    int rc_rx = rc_tx == SK_OK ? sk_tcp_recv_exact(c, got, len, &got_n, LONG_MS) : rc_tx;
    int rc_eos = rc_rx == SK_OK ? sk_tcp_recv(c, &extra, 1, &eos_n, LONG_MS) : rc_rx;
    if (rc_c != SK_OK)
        shutdown(lfd, SHUT_RDWR); /* let the server thread's wait end */
    pthread_join(th, NULL);
    close(lfd);

    cr_assert_eq(rc_c, SK_OK, "connect: %s", sk_errname(rc_c));
    cr_assert_eq(ps.failed_step, 0, "server failed at step %d: %s", ps.failed_step, strerror(ps.failed_errno));
    cr_assert_eq(rc_tx, SK_OK);
    cr_assert_eq(n, len);
    cr_assert_eq(rc_rx, SK_OK, "recv_exact: %s", sk_errname(rc_rx));
    cr_assert_eq(got_n, len);
    tu_assert_same_bytes(got, want, len);
    cr_assert_eq(rc_eos, SK_ECLOSED);
    cr_assert_eq(eos_n, 0);

    free(out);
    free(want);
    free(got);
    sk_tcp_close(c);
}

/* ------------------------------------------------------------------------------------ */
/* tcp_timeout                                                                          */
/* ------------------------------------------------------------------------------------ */

Test(stream_timeout, recv_exact_times_out_after_its_budget_when_nothing_arrives)
{
    sk_tcp *l, *c, *s;
    char b[8];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    int64_t t0 = tu_now_ms();
    errno = 0;
    cr_assert_eq(sk_tcp_recv_exact(s, b, sizeof b, &n, 200), SK_ETIMEDOUT);
    tu_assert_took(t0, 200);
    cr_assert_eq(errno, ETIMEDOUT, "errno %d (%s)", errno, strerror(errno));
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_timeout, recv_times_out_after_its_budget_when_nothing_arrives)
{
    sk_tcp *l, *c, *s;
    char b[8];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_recv(c, b, sizeof b, &n, 200), SK_ETIMEDOUT);
    tu_assert_took(t0, 200);
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_timeout, recv_exact_tells_how_many_bytes_came_before_the_timeout_and_can_resume)
{
    sk_tcp *l, *c, *s;
    char b[10];
    size_t n = 99;
    memset(b, '#', sizeof b);
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(c, "12345", 5, NULL, LONG_MS), SK_OK);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_recv_exact(s, b, 10, &n, 300), SK_ETIMEDOUT);
    tu_assert_took(t0, 300);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(b, "12345", 5), 0);
    cr_assert_eq(b[5], '#');
    /* Resume where it stopped. */
    cr_assert_eq(sk_tcp_send_all(c, "67890", 5, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, b + n, 10 - n, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(b, "1234567890", 10), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

struct drip_job {
    sk_tcp *conn;
    atomic_int stop;
    int sent;
    int rc;
};

/* One byte every 100 ms, for at most 3 s, until told to stop. */
static void *drip_job_main(void *p)
{
    struct drip_job *d = p;
    for (int i = 0; i < 30; i++) {
        tu_sleep_ms(100);
        if (atomic_load(&d->stop))
            break;
        d->rc = sk_tcp_send_all(d->conn, "x", 1, NULL, 1000);
        if (d->rc != SK_OK)
            break;
        d->sent++;
    }
    return NULL;
}

Test(stream_timeout, a_peer_dripping_bytes_does_not_stretch_recv_exact_past_its_budget)
{
    sk_tcp *l, *c, *s;
    char b[100];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    struct drip_job d = {.conn = c};
    atomic_init(&d.stop, 0);
    pthread_t th = start_thread(drip_job_main, &d);
    int64_t t0 = tu_now_ms();
    int rc = sk_tcp_recv_exact(s, b, sizeof b, &n, 350);
    int64_t t1 = tu_now_ms();
    atomic_store(&d.stop, 1);
    pthread_join(th, NULL);

    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    /* A per-system-call timeout would go on until the drip ends (3 s). */
    cr_assert_geq(t1 - t0, 350, "returned after %lld ms", (long long)(t1 - t0));
    cr_assert_leq(t1 - t0, 350 + TU_LATE_MARGIN_MS, "returned after %lld ms", (long long)(t1 - t0));
    cr_assert(n >= 1 && n <= 4, "received %zu bytes in 350 ms at one per 100 ms", n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(b[i], 'x');
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

struct two_part_job {
    sk_tcp *conn;
    int rc;
};

/* "abc" after 150 ms, "def" 200 ms later. */
static void *two_part_job_main(void *p)
{
    struct two_part_job *j = p;
    tu_sleep_ms(150);
    j->rc = sk_tcp_send_all(j->conn, "abc", 3, NULL, LONG_MS);
    if (j->rc != SK_OK)
        return NULL;
    tu_sleep_ms(200);
    j->rc = sk_tcp_send_all(j->conn, "def", 3, NULL, LONG_MS);
    return NULL;
}

Test(stream_timeout, recv_exact_with_a_budget_gathers_bytes_from_several_arrivals)
{
    sk_tcp *l, *c, *s;
    char b[6];
    size_t n = 0;
    tu_tcp_pair(&l, &c, &s);
    struct two_part_job j = {.conn = c};
    int64_t t0 = tu_now_ms();
    pthread_t th = start_thread(two_part_job_main, &j);
    /* Several waits, one 5 s budget: the call succeeds once the second part is in. */
    int rc = sk_tcp_recv_exact(s, b, 6, &n, 5000);
    int64_t el = tu_now_ms() - t0;
    pthread_join(th, NULL);
    cr_assert_eq(j.rc, SK_OK);
    cr_assert_eq(rc, SK_OK, "got %s", sk_errname(rc));
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(b, "abcdef", 6), 0);
    cr_assert_geq(el, 350, "returned after %lld ms, before the second part was sent", (long long)el);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_timeout, recv_exact_forever_waits_for_late_data)
{
    sk_tcp *l, *c, *s;
    char b[4];
    size_t n = 0;
    tu_tcp_pair(&l, &c, &s);
    struct tu_xfer late = {.conn = c, .buf = (unsigned char *)"late", .len = 4, .timeout_ms = LONG_MS, .delay_ms = 300};
    int64_t t0 = tu_now_ms();
    pthread_t th = start_thread(tu_send_all_job, &late);
    int rc = sk_tcp_recv_exact(s, b, 4, &n, SK_FOREVER);
    int64_t el = tu_now_ms() - t0;
    pthread_join(th, NULL);
    cr_assert_eq(late.rc, SK_OK);
    cr_assert_eq(rc, SK_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(b, "late", 4), 0);
    cr_assert_geq(el, 300, "data came after %lld ms?", (long long)el);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_timeout, recv_with_zero_timeout_and_nothing_pending_times_out_at_once)
{
    sk_tcp *l, *c, *s;
    char b[4];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_recv(s, b, sizeof b, &n, 0), SK_ETIMEDOUT);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_recv_exact(s, b, sizeof b, &n, 0), SK_ETIMEDOUT);
    cr_assert_eq(n, 0);
    tu_assert_took(t0, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_timeout, recv_with_zero_timeout_returns_data_that_is_already_there)
{
    sk_tcp *l, *c, *s;
    char b[16];
    size_t n = 0;
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(c, "xyz", 3, NULL, LONG_MS), SK_OK);
    tu_wait_fd(sk_tcp_fd(s), POLLIN, LONG_MS);
    cr_assert_eq(sk_tcp_recv(s, b, sizeof b, &n, 0), SK_OK);
    cr_assert(n >= 1 && n <= 3, "got %zu", n);
    cr_assert_eq(memcmp(b, "xyz", n), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_timeout, recv_exact_with_zero_timeout_takes_what_is_there_then_times_out)
{
    sk_tcp *l, *c, *s;
    char b[10];
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(c, "hello", 5, NULL, LONG_MS), SK_OK);
    tu_wait_fd(sk_tcp_fd(s), POLLIN, LONG_MS);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_recv_exact(s, b, sizeof b, &n, 0), SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    /* One 5-byte send on loopback arrives as one segment: all 5 are there. */
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(b, "hello", 5), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_timeout, send_all_to_a_peer_that_never_reads_times_out_with_an_exact_count)
{
    const size_t len = 16 * MIB; /* far more than loopback buffers hold (~4 MiB here) */
    sk_tcp *l, *c, *s;
    unsigned char *src = random_bytes(len, 4242), *dst = malloc(len);
    size_t sent = 0, got = 0;
    cr_assert_not_null(dst);
    tu_tcp_pair(&l, &c, &s);

    int64_t t0 = tu_now_ms();
    errno = 0;
    int rc = sk_tcp_send_all(c, src, len, &sent, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_eq(errno, ETIMEDOUT);
    cr_assert(sent > 0 && sent < len, "sent %zu of %zu", sent, len);

    /* *sent is exact: the peer gets exactly those bytes, in order, and no more. */
    cr_assert_eq(sk_tcp_recv_exact(s, dst, sent, &got, LONG_MS), SK_OK);
    cr_assert_eq(got, sent);
    tu_assert_same_bytes(dst, src, sent);
    got = 99;
    cr_assert_eq(sk_tcp_recv(s, dst, 1, &got, 200), SK_ETIMEDOUT);
    cr_assert_eq(got, 0);

    free(src);
    free(dst);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_timeout, send_with_zero_timeout_on_a_full_buffer_times_out_at_once)
{
    const size_t len = 16 * MIB;
    sk_tcp *l, *c, *s;
    unsigned char *src = random_bytes(len, 7);
    size_t sent = 0;
    tu_tcp_pair(&l, &c, &s);

    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_send_all(c, src, len, &sent, 0), SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    cr_assert(sent > 0 && sent < len, "sent %zu of %zu", sent, len);

    /* Keep filling with zero budgets until the system takes nothing more (bounded):
     * that call must fail at once with 0 bytes. */
    int rc = SK_OK;
    size_t n = 0;
    for (int i = 0; i < 1000 && rc == SK_OK; i++) {
        n = 99;
        t0 = tu_now_ms();
        rc = sk_tcp_send(c, src, 65536, &n, 0);
    }
    cr_assert_eq(rc, SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    cr_assert_eq(n, 0);
    free(src);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp_timeout, accept_without_a_client_times_out_after_its_budget)
{
    sk_tcp *l, *s = DUMMY_TCP;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    int64_t t0 = tu_now_ms();
    errno = 0;
    cr_assert_eq(sk_tcp_accept(l, &s, 250), SK_ETIMEDOUT);
    tu_assert_took(t0, 250);
    cr_assert_eq(errno, ETIMEDOUT);
    cr_assert_null(s);
    sk_tcp_close(l);
}

Test(tcp_timeout, accept_with_zero_timeout_and_no_client_times_out_at_once)
{
    sk_tcp *l, *s = DUMMY_TCP;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_accept(l, &s, 0), SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    cr_assert_null(s);
    sk_tcp_close(l);
}

Test(tcp_timeout, accept_with_zero_timeout_takes_a_client_that_is_waiting)
{
    sk_tcp *l, *c = NULL, *s = NULL;
    char b = 0;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", local_port(l), LONG_MS), SK_OK);
    tu_wait_fd(sk_tcp_fd(l), POLLIN, LONG_MS);
    cr_assert_eq(sk_tcp_accept(l, &s, 0), SK_OK);
    cr_assert_not_null(s);
    cr_assert_eq(sk_tcp_send_all(s, "a", 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(c, &b, 1, NULL, LONG_MS), SK_OK);
    cr_assert_eq(b, 'a');
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp_timeout, connect_to_a_listener_with_a_full_queue_times_out_after_its_budget)
{
    /* Backlog 1 and no accept: once the queue is full Linux drops the SYN, so the
     * handshake cannot finish within the budget and connect must not return early. */
    enum { MAX = 16 };
    sk_tcp *l, *c[MAX];
    int ok = 0, rc = SK_OK;
    int64_t t0 = 0;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 1), SK_OK);
    int port = local_port(l);
    for (ok = 0; ok < MAX; ok++) {
        c[ok] = DUMMY_TCP;
        t0 = tu_now_ms();
        rc = sk_tcp_connect(&c[ok], "127.0.0.1", port, 300);
        if (rc != SK_OK)
            break;
    }
    cr_assert_lt(ok, MAX, "%d connects to a backlog-1 listener all succeeded", MAX);
    cr_assert_eq(rc, SK_ETIMEDOUT, "connect #%d: %s", ok, sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_null(c[ok]);
    cr_assert_geq(ok, 1, "not even the first client fit in the queue");
    for (int i = 0; i < ok; i++)
        sk_tcp_close(c[i]);
    sk_tcp_close(l);
}

/* --- signals: EINTR is retried with what is left of the budget (tu_pester) --- */

Test(stream_timeout, signals_do_not_end_a_recv_exact_before_its_budget)
{
    sk_tcp *l, *c, *s;
    char b[8];
    size_t n = 99;
    struct tu_pester pj;
    tu_tcp_pair(&l, &c, &s);
    pthread_t th = tu_pester_start(&pj, 25, 3000);
    int64_t t0 = tu_now_ms();
    int rc = sk_tcp_recv_exact(s, b, sizeof b, &n, 400);
    int64_t t1 = tu_now_ms();
    tu_pester_stop(&pj, th);
    cr_assert_geq(pj.sent, 3, "the signals were not sent");
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_assert_geq(t1 - t0, 400, "returned after %lld ms", (long long)(t1 - t0));
    cr_assert_leq(t1 - t0, 400 + TU_LATE_MARGIN_MS, "returned after %lld ms", (long long)(t1 - t0));
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_timeout, signals_do_not_break_a_recv_exact_that_waits_forever)
{
    sk_tcp *l, *c, *s;
    char b[6];
    size_t n = 0;
    struct tu_pester pj;
    tu_tcp_pair(&l, &c, &s);
    struct two_part_job j = {.conn = c};
    pthread_t tp = tu_pester_start(&pj, 20, 3000);
    pthread_t ts = start_thread(two_part_job_main, &j);
    int rc = sk_tcp_recv_exact(s, b, 6, &n, SK_FOREVER);
    tu_pester_stop(&pj, tp);
    pthread_join(ts, NULL);
    cr_assert_eq(j.rc, SK_OK);
    cr_assert_eq(rc, SK_OK, "got %s after %zu bytes", sk_errname(rc), n);
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(b, "abcdef", 6), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp_timeout, signals_do_not_end_an_accept_before_its_budget)
{
    sk_tcp *l, *x = DUMMY_TCP;
    struct tu_pester pj;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    pthread_t th = tu_pester_start(&pj, 25, 3000);
    int64_t t0 = tu_now_ms();
    int rc = sk_tcp_accept(l, &x, 400);
    int64_t t1 = tu_now_ms();
    tu_pester_stop(&pj, th);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_assert_geq(t1 - t0, 400, "returned after %lld ms", (long long)(t1 - t0));
    cr_assert_leq(t1 - t0, 400 + TU_LATE_MARGIN_MS);
    cr_assert_null(x);
    sk_tcp_close(l);
}

Test(stream_timeout, signals_do_not_end_a_send_all_before_its_budget_or_blur_its_count)
{
    const size_t len = 16 * MIB;
    sk_tcp *l, *c, *s;
    unsigned char *src = random_bytes(len, 8080), *dst = malloc(len);
    size_t sent = 0, got = 0;
    struct tu_pester pj;
    cr_assert_not_null(dst);
    tu_tcp_pair(&l, &c, &s);
    pthread_t th = tu_pester_start(&pj, 25, 3000);
    int64_t t0 = tu_now_ms();
    int rc = sk_tcp_send_all(c, src, len, &sent, 400);
    int64_t t1 = tu_now_ms();
    tu_pester_stop(&pj, th);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_assert_geq(t1 - t0, 400, "returned after %lld ms", (long long)(t1 - t0));
    cr_assert_leq(t1 - t0, 400 + TU_LATE_MARGIN_MS);
    cr_assert(sent > 0 && sent < len, "sent %zu", sent);
    cr_assert_eq(sk_tcp_recv_exact(s, dst, sent, &got, LONG_MS), SK_OK);
    tu_assert_same_bytes(dst, src, sent);
    cr_assert_eq(sk_tcp_recv(s, dst, 1, &got, 200), SK_ETIMEDOUT);
    free(src);
    free(dst);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

/* ------------------------------------------------------------------------------------ */
/* tcp_errors                                                                           */
/* ------------------------------------------------------------------------------------ */

static int closed_port(const char *host)
{
    sk_tcp *l = NULL;
    cr_assert_eq(sk_tcp_listen(&l, host, 0, 1), SK_OK);
    int port = local_port(l);
    sk_tcp_close(l);
    return port;
}

Test(tcp_errors, connect_to_a_closed_port_is_refused_and_keeps_errno)
{
    sk_tcp *c = DUMMY_TCP;
    int port = closed_port("127.0.0.1");
    errno = 0;
    int rc = sk_tcp_connect(&c, "127.0.0.1", port, LONG_MS);
    int err = errno;
    cr_assert_eq(rc, SK_ECONNREFUSED, "got %s", sk_errname(rc));
    cr_assert_eq(err, ECONNREFUSED, "errno %d (%s)", err, strerror(err));
    cr_assert_null(c);
}

Test(tcp_errors, connect_to_a_closed_ipv6_port_is_refused)
{
    sk_tcp *c = DUMMY_TCP;
    if (!have_ipv6_loopback())
        cr_skip_test("no IPv6 loopback on this machine");
    int port = closed_port("::1");
    errno = 0;
    cr_assert_eq(sk_tcp_connect(&c, "::1", port, LONG_MS), SK_ECONNREFUSED);
    cr_assert_eq(errno, ECONNREFUSED);
    cr_assert_null(c);
}

Test(tcp_errors, connect_to_an_unknown_host_is_not_found)
{
    sk_tcp *c = DUMMY_TCP;
    errno = 0;
    int rc = sk_tcp_connect(&c, "nonexistent.invalid", 80, 5000);
    cr_assert_eq(rc, SK_ENOTFOUND, "got %s", sk_errname(rc));
    /* error.h: a name that does not resolve sets errno to ENOENT. */
    cr_assert_eq(errno, ENOENT, "errno %d (%s)", errno, strerror(errno));
    cr_assert_null(c);
}

Test(tcp_errors, listen_on_an_unknown_host_is_not_found)
{
    sk_tcp *l = DUMMY_TCP;
    cr_assert_eq(sk_tcp_listen(&l, "nonexistent.invalid", 0, 4), SK_ENOTFOUND);
    cr_assert_null(l);
}

Test(tcp_errors, listen_on_a_port_in_use_gives_addrinuse)
{
    sk_tcp *l1 = NULL, *l2 = DUMMY_TCP;
    cr_assert_eq(sk_tcp_listen(&l1, "127.0.0.1", 0, 4), SK_OK);
    int port = local_port(l1);
    errno = 0;
    /* SO_REUSEADDR does not let two listeners share a port. */
    cr_assert_eq(sk_tcp_listen(&l2, "127.0.0.1", port, 4), SK_EADDRINUSE);
    cr_assert_eq(errno, EADDRINUSE);
    cr_assert_null(l2);
    /* The first listener is unharmed. */
    sk_tcp *c = NULL, *s = NULL;
    cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", port, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l1, &s, LONG_MS), SK_OK);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l1);
}

Test(tcp_errors, listen_on_a_port_held_by_a_dual_stack_listener_gives_addrinuse)
{
    sk_tcp *l1 = NULL, *l2 = DUMMY_TCP;
    cr_assert_eq(sk_tcp_listen(&l1, NULL, 0, 4), SK_OK);
    cr_assert_eq(sk_tcp_listen(&l2, "127.0.0.1", local_port(l1), 4), SK_EADDRINUSE);
    cr_assert_null(l2);
    sk_tcp_close(l1);
}

Test(tcp_errors, a_reset_connection_reports_eos_for_shutdown_and_peer_addr)
{
    sk_tcp *l, *c, *s;
    sk_addr a;
    char b;
    tu_tcp_pair(&l, &c, &s);
    tu_close_with_reset(s);
    cr_assert_eq(sk_tcp_recv(c, &b, 1, NULL, LONG_MS), SK_ECONNRESET);
    /* tcp.h: the connection is gone, so the system says ENOTCONN. */
    errno = 0;
    cr_assert_eq(sk_tcp_shutdown(c, SK_SHUT_RDWR), SK_EOS);
    cr_assert_eq(errno, ENOTCONN, "errno %d (%s)", errno, strerror(errno));
    prefill_addr(&a);
    errno = 0;
    cr_assert_eq(sk_tcp_peer_addr(c, &a), SK_EOS);
    cr_assert_eq(errno, ENOTCONN, "errno %d (%s)", errno, strerror(errno));
    cr_assert_eq(sk_addr_port(&a), SK_EINVAL, "peer_addr left an address behind");
    /* The local address is still known. */
    cr_assert_eq(sk_tcp_local_addr(c, &a), SK_OK);
    sk_tcp_close(c);
    sk_tcp_close(l);
}

/* Lowers RLIMIT_NOFILE and opens /dev/null until the process is out of descriptors.
 * Returns how many it opened; *old receives the limit to restore. */
static int exhaust_fds(int *fds, int cap, struct rlimit *old)
{
    struct rlimit lim;
    int n = 0;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, old), 0);
    lim = *old;
    lim.rlim_cur = 128;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
    while (n < cap) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        fds[n++] = fd;
    }
    if (n == 0 || n == cap) {
        for (int i = 0; i < n; i++)
            close(fds[i]);
        setrlimit(RLIMIT_NOFILE, old);
        cr_assert_fail("could not run out of descriptors (%d opened)", n);
    }
    return n;
}

static void release_fds(int *fds, int n, const struct rlimit *old)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
    setrlimit(RLIMIT_NOFILE, old);
}

Test(tcp_errors, accept_out_of_descriptors_gives_emfile_and_leaves_the_listener_usable)
{
    sk_tcp *l = NULL, *c = NULL, *s = DUMMY_TCP;
    int fds[200];
    struct rlimit old;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", local_port(l), LONG_MS), SK_OK);
    tu_wait_fd(sk_tcp_fd(l), POLLIN, LONG_MS);

    int nfds = exhaust_fds(fds, 200, &old);
    errno = 0;
    int rc_full = sk_tcp_accept(l, &s, 200);
    int err_full = errno;
    sk_tcp *s_full = s;
    /* One descriptor free again: the same client is accepted. */
    close(fds[--nfds]);
    s = NULL;
    int rc_again = sk_tcp_accept(l, &s, LONG_MS);
    release_fds(fds, nfds, &old);

    cr_assert_eq(rc_full, SK_EMFILE, "got %s", sk_errname(rc_full));
    cr_assert_eq(err_full, EMFILE, "errno %d (%s)", err_full, strerror(err_full));
    cr_assert_null(s_full);
    cr_assert_eq(rc_again, SK_OK, "accept after EMFILE: %s", sk_errname(rc_again));
    char want[SK_ADDR_STRLEN], got[SK_ADDR_STRLEN];
    local_text(c, want);
    peer_text(s, got);
    cr_assert_str_eq(got, want);
    sk_tcp_close(s);
    sk_tcp_close(c);
    sk_tcp_close(l);
}

Test(tcp_errors, connect_and_listen_out_of_descriptors_give_emfile)
{
    sk_tcp *l = NULL, *c = DUMMY_TCP, *l2 = DUMMY_TCP;
    int fds[200];
    struct rlimit old;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    int port = local_port(l);
    int nfds = exhaust_fds(fds, 200, &old);
    int rc_c = sk_tcp_connect(&c, "127.0.0.1", port, LONG_MS);
    int rc_l = sk_tcp_listen(&l2, "127.0.0.1", 0, 4);
    release_fds(fds, nfds, &old);

    cr_assert_eq(rc_c, SK_EMFILE, "connect: %s", sk_errname(rc_c));
    cr_assert_null(c);
    cr_assert_eq(rc_l, SK_EMFILE, "listen: %s", sk_errname(rc_l));
    cr_assert_null(l2);
    sk_tcp *x = DUMMY_TCP;
    cr_assert_eq(sk_tcp_accept(l, &x, 100), SK_ETIMEDOUT, "a failed connect reached the listener");
    sk_tcp_close(l);
}

Test(tcp_errors, failed_connects_and_listens_leak_no_descriptors)
{
    sk_tcp *l = NULL, *x = NULL;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 1), SK_OK);
    int used = local_port(l);
    int closed = closed_port("127.0.0.1");
    int before = tu_count_fds();
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(sk_tcp_connect(&x, "127.0.0.1", closed, LONG_MS), SK_ECONNREFUSED);
        cr_assert_eq(sk_tcp_listen(&x, "127.0.0.1", used, 4), SK_EADDRINUSE);
        cr_assert_eq(sk_tcp_connect(&x, "127.0.0.1", 0, LONG_MS), SK_EINVAL);
        cr_assert_eq(sk_tcp_connect(&x, "127.0.0.1", closed, -7), SK_EINVAL);
        cr_assert_eq(sk_tcp_listen(&x, "127.0.0.1", 70000, 4), SK_EINVAL);
        cr_assert_eq(sk_tcp_accept(l, &x, 0), SK_ETIMEDOUT);
    }
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(sk_tcp_connect(&x, "nonexistent.invalid", 80, 5000), SK_ENOTFOUND);
        cr_assert_eq(sk_tcp_listen(&x, "nonexistent.invalid", 0, 4), SK_ENOTFOUND);
    }
    cr_assert_eq(tu_count_fds(), before);
    sk_tcp_close(l);
}

/* ------------------------------------------------------------------------------------ */
/* tcp_args: bad input                                                                  */
/* ------------------------------------------------------------------------------------ */

Test(tcp_args, connect_with_a_null_out_parameter_is_einval_and_connects_nothing)
{
    sk_tcp *l = NULL, *s = DUMMY_TCP;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    errno = 0;
    cr_assert_eq(sk_tcp_connect(NULL, "127.0.0.1", local_port(l), LONG_MS), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    /* No connection was made (and so none leaked). */
    cr_assert_eq(sk_tcp_accept(l, &s, 100), SK_ETIMEDOUT);
    cr_assert_null(s);
    sk_tcp_close(l);
}

Test(tcp_args, connect_rejects_bad_host_port_and_timeout_and_sets_conn_to_null)
{
    sk_tcp *l = NULL;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    int port = local_port(l);
    struct {
        const char *host;
        int port;
        int timeout;
    } bad[] = {
        {NULL, port, LONG_MS},         {"", port, LONG_MS},          {"127.0.0.1", -1, LONG_MS},
        {"127.0.0.1", 65536, LONG_MS}, {"127.0.0.1", 0, LONG_MS},    {"127.0.0.1", INT_MIN, LONG_MS},
        {"127.0.0.1", INT_MAX, LONG_MS}, {"127.0.0.1", port, -2},    {"127.0.0.1", port, INT_MIN},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sk_tcp *c = DUMMY_TCP;
        errno = 0;
        int rc = sk_tcp_connect(&c, bad[i].host, bad[i].port, bad[i].timeout);
        cr_assert_eq(rc, SK_EINVAL, "case %zu (%s, %d, %d): %s", i, bad[i].host ? bad[i].host : "NULL",
                     bad[i].port, bad[i].timeout, sk_errname(rc));
        cr_assert_eq(errno, EINVAL, "case %zu", i);
        cr_assert_null(c, "case %zu left *conn set", i);
    }
    sk_tcp *s = DUMMY_TCP;
    cr_assert_eq(sk_tcp_accept(l, &s, 100), SK_ETIMEDOUT, "a rejected connect reached the listener");
    sk_tcp_close(l);
}

Test(tcp_args, listen_rejects_a_null_out_parameter_and_bad_ports)
{
    errno = 0;
    cr_assert_eq(sk_tcp_listen(NULL, "127.0.0.1", 0, 4), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    const int ports[] = {-1, 65536, INT_MIN, INT_MAX, 100000};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        sk_tcp *l = DUMMY_TCP;
        cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", ports[i], 4), SK_EINVAL, "port %d", ports[i]);
        cr_assert_null(l, "port %d left *listener set", ports[i]);
        l = DUMMY_TCP;
        cr_assert_eq(sk_tcp_listen(&l, NULL, ports[i], 4), SK_EINVAL, "port %d", ports[i]);
        cr_assert_null(l);
    }
}

Test(tcp_args, accept_rejects_null_arguments_a_bad_timeout_and_a_connected_endpoint)
{
    sk_tcp *l, *c, *s, *x;
    tu_tcp_pair(&l, &c, &s);

    x = DUMMY_TCP;
    cr_assert_eq(sk_tcp_accept(NULL, &x, 100), SK_EINVAL);
    cr_assert_null(x);
    errno = 0;
    cr_assert_eq(sk_tcp_accept(l, NULL, 100), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    x = DUMMY_TCP;
    cr_assert_eq(sk_tcp_accept(l, &x, -2), SK_EINVAL);
    cr_assert_null(x);
    x = DUMMY_TCP;
    cr_assert_eq(sk_tcp_accept(c, &x, 100), SK_EINVAL, "accept on a connected endpoint");
    cr_assert_null(x);
    x = DUMMY_TCP;
    cr_assert_eq(sk_tcp_accept(s, &x, 0), SK_EINVAL, "accept on an accepted endpoint");
    cr_assert_null(x);

    /* A client waiting meanwhile is still there for a good call: accept with a NULL
     * out-parameter must not have taken (and lost) it. */
    sk_tcp *c2 = NULL;
    cr_assert_eq(sk_tcp_connect(&c2, "127.0.0.1", local_port(l), LONG_MS), SK_OK);
    tu_wait_fd(sk_tcp_fd(l), POLLIN, LONG_MS);
    cr_assert_eq(sk_tcp_accept(l, NULL, LONG_MS), SK_EINVAL);
    x = NULL;
    cr_assert_eq(sk_tcp_accept(l, &x, LONG_MS), SK_OK);
    char want[SK_ADDR_STRLEN], got[SK_ADDR_STRLEN];
    local_text(c2, want);
    peer_text(x, got);
    cr_assert_str_eq(got, want);
    sk_tcp_close(x);
    sk_tcp_close(c2);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

/* Convention 3: a transfer stores how many bytes really moved, on failure too; for a
 * rejected call that is 0. */
Test(tcp_args, transfers_reject_a_null_endpoint)
{
    char b[4] = "abc";
    size_t n;
    n = 99;
    cr_assert_eq(sk_tcp_send_all(NULL, b, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_recv_exact(NULL, b, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_send(NULL, b, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 99;
    errno = 0;
    cr_assert_eq(sk_tcp_recv(NULL, b, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(n, 0);
    /* NULL endpoint with len 0 is still a NULL endpoint. */
    cr_assert_eq(sk_tcp_send_all(NULL, NULL, 0, NULL, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_recv_exact(NULL, NULL, 0, NULL, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_send(NULL, NULL, 0, NULL, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_recv(NULL, NULL, 0, NULL, 0), SK_EINVAL);
}

Test(stream_args, transfers_reject_a_null_buffer_with_a_nonzero_length)
{
    sk_tcp *l, *c, *s;
    size_t n;
    char b;
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(s, "data", 4, NULL, LONG_MS), SK_OK);
    tu_wait_fd(sk_tcp_fd(c), POLLIN, LONG_MS);

    n = 99;
    cr_assert_eq(sk_tcp_send_all(c, NULL, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_send(c, NULL, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_recv_exact(c, NULL, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_recv(c, NULL, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);

    /* Nothing was sent, and nothing of the pending data was consumed. */
    n = 99;
    cr_assert_eq(sk_tcp_recv(s, &b, 1, &n, 100), SK_ETIMEDOUT);
    cr_assert_eq(n, 0);
    char d[4];
    cr_assert_eq(sk_tcp_recv_exact(c, d, 4, &n, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(d, "data", 4), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_args, transfers_reject_a_timeout_below_forever)
{
    sk_tcp *l, *c, *s;
    char b[4] = "abc";
    size_t n;
    const int tmos[] = {-2, -1000, INT_MIN};
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_all(s, "data", 4, NULL, LONG_MS), SK_OK);
    tu_wait_fd(sk_tcp_fd(c), POLLIN, LONG_MS);
    for (size_t i = 0; i < sizeof tmos / sizeof tmos[0]; i++) {
        int t = tmos[i];
        n = 99;
        cr_assert_eq(sk_tcp_send_all(c, b, 3, &n, t), SK_EINVAL, "timeout %d", t);
        cr_assert_eq(n, 0);
        n = 99;
        cr_assert_eq(sk_tcp_recv_exact(c, b, 3, &n, t), SK_EINVAL, "timeout %d", t);
        cr_assert_eq(n, 0);
        n = 99;
        cr_assert_eq(sk_tcp_send(c, b, 3, &n, t), SK_EINVAL, "timeout %d", t);
        cr_assert_eq(n, 0);
        n = 99;
        cr_assert_eq(sk_tcp_recv(c, b, 3, &n, t), SK_EINVAL, "timeout %d", t);
        cr_assert_eq(n, 0);
    }
    /* Nothing moved either way. */
    n = 99;
    cr_assert_eq(sk_tcp_recv(s, b, 1, &n, 100), SK_ETIMEDOUT);
    cr_assert_eq(n, 0);
    char d[4];
    cr_assert_eq(sk_tcp_recv_exact(c, d, 4, NULL, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(d, "data", 4), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp_args, connection_calls_on_a_listener_are_einval)
{
    sk_tcp *l = NULL;
    char b[4] = "abc";
    size_t n;
    sk_addr a;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    n = 99;
    cr_assert_eq(sk_tcp_send_all(l, b, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_recv_exact(l, b, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_send(l, b, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_eq(sk_tcp_recv(l, b, 3, &n, 100), SK_EINVAL);
    cr_assert_eq(n, 0);
    cr_assert_eq(sk_tcp_shutdown(l, SK_SHUT_RD), SK_EINVAL);
    cr_assert_eq(sk_tcp_shutdown(l, SK_SHUT_WR), SK_EINVAL);
    cr_assert_eq(sk_tcp_shutdown(l, SK_SHUT_RDWR), SK_EINVAL);
    prefill_addr(&a);
    cr_assert_eq(sk_tcp_peer_addr(l, &a), SK_EINVAL);
    cr_assert_eq(sk_addr_port(&a), SK_EINVAL, "peer_addr left an address behind");
    /* set_nodelay is for connected endpoints (convention 7: wrong kind). */
    cr_assert_eq(sk_tcp_set_nodelay(l, 1), SK_EINVAL);
    /* The listener still works. */
    sk_tcp *c = NULL, *s = NULL;
    cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", local_port(l), LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_args, shutdown_rejects_null_and_unknown_how_and_changes_nothing)
{
    sk_tcp *l, *c, *s;
    char b[2];
    tu_tcp_pair(&l, &c, &s);
    errno = 0;
    cr_assert_eq(sk_tcp_shutdown(NULL, SK_SHUT_RDWR), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    const int hows[] = {0, 4, -1, 5, 255, INT_MAX};
    for (size_t i = 0; i < sizeof hows / sizeof hows[0]; i++)
        cr_assert_eq(sk_tcp_shutdown(c, hows[i]), SK_EINVAL, "how %d", hows[i]);
    /* Both directions still work. */
    cr_assert_eq(sk_tcp_send_all(c, "up", 2, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, b, 2, NULL, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(b, "up", 2), 0);
    cr_assert_eq(sk_tcp_send_all(s, "dn", 2, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(c, b, 2, NULL, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(b, "dn", 2), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(stream_args, address_queries_reject_null_arguments)
{
    sk_tcp *l, *c, *s;
    sk_addr a;
    tu_tcp_pair(&l, &c, &s);
    prefill_addr(&a);
    cr_assert_eq(sk_tcp_local_addr(NULL, &a), SK_EINVAL);
    cr_assert_eq(sk_addr_port(&a), SK_EINVAL, "local_addr left an address behind");
    cr_assert_eq(sk_tcp_local_addr(c, NULL), SK_EINVAL);
    cr_assert_eq(sk_tcp_local_addr(l, NULL), SK_EINVAL);
    prefill_addr(&a);
    cr_assert_eq(sk_tcp_peer_addr(NULL, &a), SK_EINVAL);
    cr_assert_eq(sk_addr_port(&a), SK_EINVAL, "peer_addr left an address behind");
    cr_assert_eq(sk_tcp_peer_addr(c, NULL), SK_EINVAL);
    cr_assert_eq(sk_tcp_peer_addr(s, NULL), SK_EINVAL);
    /* And the good calls still answer. */
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    cr_assert_eq(sk_tcp_peer_addr(c, &a), SK_OK);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(tcp_args, fd_and_set_nodelay_of_null_are_einval)
{
    errno = 0;
    cr_assert_eq(sk_tcp_fd(NULL), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_nodelay(NULL, 1), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_nodelay(NULL, 0), SK_EINVAL);
}

Test(tcp_args, close_of_null_is_a_no_op)
{
    int before = tu_count_fds();
    sk_tcp_close(NULL);
    sk_tcp_close(NULL);
    cr_assert_eq(tu_count_fds(), before);
    /* The library still works afterwards. */
    sk_tcp *l = NULL;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 1), SK_OK);
    sk_tcp_close(l);
}
