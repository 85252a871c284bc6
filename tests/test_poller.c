/* The poller (include/sockkit/poller.h): readiness of each kind, hang-up and reset,
 * registration changes, read-ahead, removal inside a batch, wake-ups, timeouts and
 * signals, many endpoints, fairness, a poller-driven echo server, the timeout-0 calls
 * a poller loop makes, and bad input.
 *
 * This one file is built three times: against the shared and the static library (the
 * epoll backend) and against a static copy built with the poll() backend, so every
 * test here runs on both backends.
 *
 * Every helper thread stops by itself (finite budgets, bounded loops) and never calls
 * cr_assert: it records what happened and the test thread checks it after
 * pthread_join. */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "signal_util.h"

TestSuite(poller, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_poller, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(poller_events, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_poller_events, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(poller_readahead, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_poller_readahead, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(poller_wake, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_poller_wake, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(poller_timing, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_poller_timing, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(poller_scale, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 120);
TestSuite(poller_nonblocking, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_poller_nonblocking, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(poller_args, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_poller_args, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

/* ------------------------------------------------------------------------------------ */
/* Helpers                                                                              */
/* ------------------------------------------------------------------------------------ */

/* A budget for steps expected to succeed: long enough for a noisy machine, short
 * enough that a hang ends the test. */
#define LONG_MS 5000

/* A non-NULL value that no function may return: out-parameters are pre-set to it to
 * check that a failing call really stores NULL. */
static char dummy_object_;
#define DUMMY_POLLER ((sk_poller *)(void *)&dummy_object_)
#define DUMMY_TCP ((sk_tcp *)(void *)&dummy_object_)

#define ALL_BITS (SK_POLL_IN | SK_POLL_OUT | SK_POLL_HUP | SK_POLL_ERR | SK_POLL_WAKE | SK_POLL_CANCELED)

static sk_poller *poller_new(void)
{
    sk_poller *p = DUMMY_POLLER;
    int rc = sk_poller_create(&p);
    cr_assert_eq(rc, SK_OK, "sk_poller_create: %s", sk_errname(rc));
    cr_assert_not_null(p);
    cr_assert_neq(p, DUMMY_POLLER);
    return p;
}

/* 1 when the descriptor is readable right now (raw poll, no wait). */
static int fd_readable_now(int fd)
{
    struct pollfd pf = {fd, POLLIN, 0};
    return poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN) != 0;
}

static void send_str(sk_tcp *t, const char *s)
{
    tu_send_ok(t, s, strlen(s), LONG_MS);
}

/* Sends `s` from `from` and waits until it can be read at `to`'s descriptor. */
static void deliver(sk_tcp *from, sk_tcp *to, const char *s)
{
    send_str(from, s);
    tu_wait_fd(sk_tcp_fd(to), POLLIN, LONG_MS);
}

/* Every stored event: known bits only, reserved zero, one endpoint at most, and a
 * wake-up never names an endpoint. */
static void check_batch(const sk_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ev[i].events & ~ALL_BITS, 0u, "event %zu has unknown bits %#x", i, ev[i].events);
        cr_assert_eq(ev[i].reserved, 0u, "event %zu: reserved is %u", i, ev[i].reserved);
        cr_assert(ev[i].tcp == NULL || ev[i].udp == NULL, "event %zu names two endpoints", i);
        if (ev[i].events & SK_POLL_WAKE) {
            cr_assert_eq(ev[i].events, SK_POLL_WAKE, "a wake-up event carries %#x", ev[i].events);
            cr_assert_null(ev[i].tcp);
            cr_assert_null(ev[i].udp);
        } else {
            cr_assert(ev[i].tcp != NULL || ev[i].udp != NULL, "event %zu (%#x) names no endpoint", i,
                      ev[i].events);
            cr_assert_neq(ev[i].events, 0u, "event %zu is empty when stored", i);
        }
        for (size_t j = 0; j < i; j++) {
            if (ev[i].tcp != NULL)
                cr_assert_neq(ev[i].tcp, ev[j].tcp, "a TCP endpoint appears twice in one batch (%zu, %zu)", j, i);
            if (ev[i].udp != NULL)
                cr_assert_neq(ev[i].udp, ev[j].udp, "a UDP endpoint appears twice in one batch (%zu, %zu)", j, i);
        }
    }
}

/* A wait that must give events; returns how many. */
static size_t wait_ok(sk_poller *p, sk_event *ev, size_t cap, int ms)
{
    size_t n = 9999;
    int rc = sk_poller_wait(p, ev, cap, &n, ms);
    cr_assert_eq(rc, SK_OK, "sk_poller_wait(%d ms): %s", ms, sk_errname(rc));
    cr_assert_geq(n, 1u);
    cr_assert_leq(n, cap);
    check_batch(ev, n);
    return n;
}

/* A wait that must find nothing within `ms`. */
static void wait_none(sk_poller *p, int ms)
{
    sk_event ev[8];
    size_t n = 9999;
    int rc = sk_poller_wait(p, ev, 8, &n, ms);
    cr_assert_eq(rc, SK_ETIMEDOUT, "expected SK_ETIMEDOUT, got %s with %zu events (first: tcp %p udp %p events %#x)",
                 sk_errname(rc), n, n ? (void *)ev[0].tcp : NULL, n ? (void *)ev[0].udp : NULL,
                 n ? ev[0].events : 0u);
    cr_assert_eq(n, 0u);
}

static const sk_event *find_tcp(const sk_event *ev, size_t n, const sk_tcp *t)
{
    for (size_t i = 0; i < n; i++)
        if (ev[i].tcp == t)
            return &ev[i];
    return NULL;
}

static const sk_event *find_udp(const sk_event *ev, size_t n, const sk_udp *u)
{
    for (size_t i = 0; i < n; i++)
        if (ev[i].udp == u)
            return &ev[i];
    return NULL;
}

/* Waits (up to ms in all) until `t` is reported with every bit of `bits`; returns its
 * events then, or the last events seen for it (0 if never) when time runs out. */
static unsigned wait_for_tcp(sk_poller *p, const sk_tcp *t, unsigned bits, int ms)
{
    int64_t end = tu_now_ms() + ms;
    unsigned last = 0;
    for (;;) {
        sk_event ev[16];
        size_t n = 0;
        int left = (int)(end - tu_now_ms());
        int rc;
        if (left <= 0)
            return last;
        rc = sk_poller_wait(p, ev, 16, &n, left);
        if (rc == SK_ETIMEDOUT)
            return last;
        cr_assert_eq(rc, SK_OK, "sk_poller_wait: %s", sk_errname(rc));
        check_batch(ev, n);
        const sk_event *e = find_tcp(ev, n, t);
        if (e != NULL) {
            last = e->events;
            if ((e->events & bits) == bits)
                return e->events;
        }
        if (e != NULL || n > 0)
            tu_sleep_ms(5); /* level-triggered: do not spin on an unrelated event */
    }
}

/* Sends with timeout 0 until nothing more is taken; returns the bytes sent. */
static size_t fill_send_buffer(sk_tcp *t)
{
    static char chunk[65536];
    size_t total = 0;
    int rc = SK_OK;
    for (int i = 0; i < 100000; i++) {
        size_t sent = 12345;
        rc = sk_tcp_send(t, chunk, sizeof chunk, &sent, 0);
        if (rc != SK_OK) {
            cr_assert_eq(sent, 0u, "a failing timeout-0 send says %zu bytes", sent);
            break;
        }
        cr_assert(sent >= 1 && sent <= sizeof chunk, "sent %zu", sent);
        total += sent;
    }
    cr_assert_eq(rc, SK_ETIMEDOUT, "filling the send buffer ended with %s", sk_errname(rc));
    cr_assert_gt(total, 0u);
    return total;
}

/* Reads with timeout 0 until nothing is there; returns the bytes read. */
static size_t drain_now(sk_tcp *t)
{
    static char buf[65536];
    size_t total = 0;
    for (;;) {
        size_t got = 12345;
        int rc = sk_tcp_recv(t, buf, sizeof buf, &got, 0);
        if (rc == SK_ETIMEDOUT) {
            cr_assert_eq(got, 0u);
            return total;
        }
        cr_assert_eq(rc, SK_OK, "draining: %s", sk_errname(rc));
        total += got;
    }
}

/* Raises the soft descriptor limit to at least `want`; 0 when impossible. */
static int ensure_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
            return 0;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return 0;
    }
    return 1;
}

/* A listener with a deep backlog and n connected pairs from it. */
static void make_pairs(size_t n, sk_tcp **clients, sk_tcp **servers)
{
    sk_tcp *l = NULL;
    sk_addr a;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 1024), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    for (size_t i = 0; i < n; i++) {
        int rc = sk_tcp_connect(&clients[i], "127.0.0.1", sk_addr_port(&a), LONG_MS);
        cr_assert_eq(rc, SK_OK, "connect %zu: %s", i, sk_errname(rc));
        rc = sk_tcp_accept(l, &servers[i], LONG_MS);
        cr_assert_eq(rc, SK_OK, "accept %zu: %s", i, sk_errname(rc));
    }
    sk_tcp_close(l);
}

static void close_all(sk_tcp **t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sk_tcp_close(t[i]);
        t[i] = NULL;
    }
}

/* Index of `data` (a pointer into tags[0..n)) or -1. */
static long tag_index(const void *data, const int *tags, size_t n)
{
    const int *d = data;
    if (d < tags || d >= tags + n)
        return -1;
    return (long)(d - tags);
}

/* ------------------------------------------------------------------------------------ */
/* Readiness of each kind                                                               */
/* ------------------------------------------------------------------------------------ */

Test(poller, create_and_close_release_the_pollers_own_descriptors)
{
    int before = tu_count_fds();
    sk_poller *p = poller_new();
    cr_assert_gt(tu_count_fds(), before, "a poller with no descriptor cannot wait");
    sk_poller_close(p);
    cr_assert_eq(tu_count_fds(), before);
}

Test(poller, pollers_descriptors_are_close_on_exec)
{
    int fds[64], n = 0;
    DIR *d;
    struct dirent *de;
    /* Note the descriptors open before, then find the new ones. */
    int open_before[1024] = {0};
    d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL) {
        int fd = atoi(de->d_name);
        if (de->d_name[0] != '.' && fd >= 0 && fd < 1024 && fd != dirfd(d))
            open_before[fd] = 1;
    }
    closedir(d);
    sk_poller *p = poller_new();
    for (int fd = 0; fd < 1024 && n < 64; fd++)
        if (!open_before[fd] && fcntl(fd, F_GETFD) >= 0)
            fds[n++] = fd;
    cr_assert_geq(n, 2, "found %d new descriptors; both backends use two", n);
    for (int i = 0; i < n; i++)
        cr_assert(fcntl(fds[i], F_GETFD) & FD_CLOEXEC, "the poller's descriptor %d is not close-on-exec", fds[i]);
    sk_poller_close(p);
}

Test(poller, listener_is_readable_when_a_client_connects_and_not_before)
{
    sk_tcp *l = NULL, *c = NULL, *s = DUMMY_TCP;
    sk_addr a;
    sk_event ev[4];
    int tag = 7;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 16), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, l, SK_POLL_IN, &tag), SK_OK);
    wait_none(p, 0);
    cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", sk_addr_port(&a), LONG_MS), SK_OK);
    size_t n = wait_ok(p, ev, 4, LONG_MS);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].tcp, l);
    cr_assert_null(ev[0].udp);
    cr_assert_eq(ev[0].data, &tag);
    cr_assert(ev[0].events & SK_POLL_IN, "events %#x", ev[0].events);
    cr_assert_eq(sk_tcp_accept(l, &s, 0), SK_OK, "the reported connection is accepted with timeout 0");
    cr_assert_not_null(s);
    wait_none(p, 0);
    sk_tcp_close(s);
    sk_tcp_close(c);
    sk_poller_close(p);
    sk_tcp_close(l);
}

Test(stream_poller, connected_endpoint_is_readable_when_data_arrives_and_not_before)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    char buf[16];
    size_t got = 0;
    int tag = 1;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, &tag), SK_OK);
    wait_none(p, 0);
    send_str(c, "hello");
    size_t n = wait_ok(p, ev, 4, LONG_MS);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert_eq(ev[0].data, &tag);
    cr_assert_eq(ev[0].events & (SK_POLL_IN | SK_POLL_OUT), SK_POLL_IN, "events %#x", ev[0].events);
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &got, 0), SK_OK);
    cr_assert_eq(got, 5u);
    cr_assert_arr_eq(buf, "hello", 5);
    wait_none(p, 0);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller, connected_endpoint_is_writable_at_once)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_OUT, NULL), SK_OK);
    int64_t t0 = tu_now_ms();
    size_t n = wait_ok(p, ev, 4, 0);
    tu_assert_took(t0, 0);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].tcp, c);
    cr_assert_null(ev[0].data);
    cr_assert_eq(ev[0].events, SK_POLL_OUT, "events %#x", ev[0].events);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller, endpoint_watched_for_in_only_is_not_reported_writable)
{
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_IN, NULL), SK_OK);
    wait_none(p, 100);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller, one_event_carries_in_and_out_when_both_hold)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    tu_tcp_pair(NULL, &c, &s);
    deliver(c, s, "x");
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN | SK_POLL_OUT, NULL), SK_OK);
    size_t n = wait_ok(p, ev, 4, LONG_MS);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert_eq(ev[0].events, SK_POLL_IN | SK_POLL_OUT, "events %#x", ev[0].events);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller, endpoint_is_not_writable_while_its_send_buffer_is_full_and_is_again_after_the_peer_drains)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_OUT, NULL), SK_OK);
    size_t sent = fill_send_buffer(c);
    wait_none(p, 0);
    wait_none(p, 100);

    /* The peer drains; the endpoint becomes writable again. */
    size_t received = 0;
    int writable = 0;
    int64_t end = tu_now_ms() + 10000;
    while (!writable && tu_now_ms() < end) {
        size_t n = 0;
        received += drain_now(s);
        int rc = sk_poller_wait(p, ev, 4, &n, 50);
        cr_assert(rc == SK_OK || rc == SK_ETIMEDOUT, "wait: %s", sk_errname(rc));
        if (rc == SK_OK) {
            check_batch(ev, n);
            cr_assert_eq(n, 1u);
            cr_assert_eq(ev[0].tcp, c);
            cr_assert(ev[0].events & SK_POLL_OUT, "events %#x", ev[0].events);
            writable = 1;
        }
    }
    cr_assert(writable, "never writable again after the peer drained %zu of %zu bytes", received, sent);
    /* And every byte arrives. */
    end = tu_now_ms() + 10000;
    while (received < sent && tu_now_ms() < end) {
        received += drain_now(s);
        if (received < sent)
            tu_wait_fd(sk_tcp_fd(s), POLLIN, LONG_MS);
    }
    cr_assert_eq(received, sent);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(poller, udp_endpoint_is_readable_when_a_datagram_arrives)
{
    sk_udp *u = NULL, *v = NULL;
    sk_addr ua, va, from;
    sk_event ev[4];
    char buf[32];
    size_t got = 0;
    int tag = 3;
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_bind(&v, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(u, &ua), SK_OK);
    cr_assert_eq(sk_udp_local_addr(v, &va), SK_OK);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_IN, &tag), SK_OK);
    wait_none(p, 0);
    cr_assert_eq(sk_udp_sendto(v, "datagram", 8, &ua, LONG_MS), SK_OK);
    size_t n = wait_ok(p, ev, 4, LONG_MS);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].udp, u);
    cr_assert_null(ev[0].tcp);
    cr_assert_eq(ev[0].data, &tag);
    cr_assert_eq(ev[0].events, SK_POLL_IN, "events %#x", ev[0].events);
    cr_assert_eq(sk_udp_recvfrom(u, buf, sizeof buf, &got, &from, 0), SK_OK);
    cr_assert_eq(got, 8u);
    cr_assert_arr_eq(buf, "datagram", 8);
    cr_assert_eq(sk_addr_port(&from), sk_addr_port(&va));
    wait_none(p, 0);
    sk_poller_close(p);
    sk_udp_close(u);
    sk_udp_close(v);
}

Test(poller, udp_endpoint_is_writable_at_once)
{
    sk_udp *u = NULL;
    sk_event ev[4];
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_OUT, u), SK_OK);
    size_t n = wait_ok(p, ev, 4, 0);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].udp, u);
    cr_assert_eq(ev[0].data, (void *)u);
    cr_assert_eq(ev[0].events, SK_POLL_OUT, "events %#x", ev[0].events);
    sk_poller_close(p);
    sk_udp_close(u);
}

Test(stream_poller, each_event_hands_back_its_own_endpoints_data_pointer)
{
    sk_tcp *c[3], *s[3];
    sk_udp *u = NULL, *v = NULL;
    sk_addr ua;
    int tags[4];
    sk_event ev[8];
    for (int i = 0; i < 3; i++)
        tu_tcp_pair(NULL, &c[i], &s[i]);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_bind(&v, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(u, &ua), SK_OK);
    sk_poller *p = poller_new();
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_IN, &tags[i]), SK_OK);
    cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_IN, &tags[3]), SK_OK);
    for (int i = 0; i < 3; i++)
        deliver(c[i], s[i], "x");
    cr_assert_eq(sk_udp_sendto(v, "d", 1, &ua, LONG_MS), SK_OK);
    tu_wait_fd(sk_udp_fd(u), POLLIN, LONG_MS);
    size_t n = wait_ok(p, ev, 8, LONG_MS);
    cr_assert_eq(n, 4u);
    for (int i = 0; i < 3; i++) {
        const sk_event *e = find_tcp(ev, n, s[i]);
        cr_assert_not_null(e, "endpoint %d not reported", i);
        cr_assert_eq(e->data, &tags[i]);
    }
    const sk_event *e = find_udp(ev, n, u);
    cr_assert_not_null(e);
    cr_assert_eq(e->data, &tags[3]);
    sk_poller_close(p);
    for (int i = 0; i < 3; i++) {
        sk_tcp_close(c[i]);
        sk_tcp_close(s[i]);
    }
    sk_udp_close(u);
    sk_udp_close(v);
}

Test(stream_poller, readiness_is_level_triggered_until_every_byte_is_read)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    char buf[4];
    size_t got = 0;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    deliver(c, s, "abcdefgh");
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(wait_ok(p, ev, 4, LONG_MS), 1u);
        cr_assert_eq(ev[0].tcp, s);
        cr_assert(ev[0].events & SK_POLL_IN);
        cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &got, 0), SK_OK);
        cr_assert_eq(got, 4u);
        cr_assert_arr_eq(buf, round == 0 ? "abcd" : "efgh", 4);
    }
    wait_none(p, 0);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(poller, ipv6_endpoints_are_watched_like_ipv4_ones)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    tu_tcp_pair_on("::1", NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    wait_none(p, 0);
    deliver(c, s, "six");
    cr_assert_eq(wait_ok(p, ev, 4, LONG_MS), 1u);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert(ev[0].events & SK_POLL_IN);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* ------------------------------------------------------------------------------------ */
/* Hang-up, reset, mod, del, close                                                      */
/* ------------------------------------------------------------------------------------ */

Test(stream_poller_events, hang_up_is_reported_with_in_when_the_peer_closes)
{
    sk_tcp *c, *s;
    char buf[8];
    size_t got = 99;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    sk_tcp_close(c);
    unsigned e = wait_for_tcp(p, s, SK_POLL_IN | SK_POLL_HUP, LONG_MS);
    cr_assert_eq(e & (SK_POLL_IN | SK_POLL_HUP), SK_POLL_IN | SK_POLL_HUP, "events %#x", e);
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &got, 0), SK_ECLOSED);
    cr_assert_eq(got, 0u);
    sk_poller_close(p);
    sk_tcp_close(s);
}

Test(poller_events, reset_by_the_peer_is_reported_and_recv_then_gives_connreset)
{
    sk_tcp *c, *s;
    char buf[8];
    size_t got = 99;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    tu_close_with_reset(c);
    unsigned e = wait_for_tcp(p, s, 0, LONG_MS);
    cr_assert_neq(e, 0u, "the reset was never reported");
    cr_assert_neq(e & (SK_POLL_HUP | SK_POLL_ERR), 0u, "a reset reported as %#x, neither HUP nor ERR", e);
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &got, 0), SK_ECONNRESET);
    cr_assert_eq(got, 0u);
    sk_poller_close(p);
    sk_tcp_close(s);
}

/* The header: SK_POLL_HUP is "reported whether asked for or not", and events 0 is "to
 * watch only for hang-up and errors (reading paused, say)".
 *
 * Seen on Linux, identical on both backends (bits of the one event, 200 ms wait):
 *   peer close (FIN):           IN -> IN|HUP   0 -> nothing       OUT -> OUT
 *   peer reset (RST):           IN -> IN|HUP|ERR  0 -> HUP|ERR    OUT -> OUT|HUP|ERR
 *   peer shutdown(SHUT_WR):     IN -> IN|HUP   0 -> nothing
 * HUP on a plain close comes only when IN is watched (EPOLLRDHUP / POLLRDHUP are asked
 * for with IN only), so the two tests below fail: the header promises more. */
Test(stream_poller_events, hang_up_is_reported_for_an_endpoint_watched_with_events_0)
{
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, 0, NULL), SK_OK);
    wait_none(p, 0);
    sk_tcp_close(c);
    tu_wait_fd(sk_tcp_fd(s), POLLRDHUP, LONG_MS); /* the end of stream is there */
    unsigned e = wait_for_tcp(p, s, SK_POLL_HUP, 1000);
    cr_expect(e & SK_POLL_HUP, "the peer closed, endpoint watched with events 0: reported %#x, no SK_POLL_HUP", e);
    cr_expect_eq(e & (SK_POLL_IN | SK_POLL_OUT), 0u, "events 0 yet reported %#x", e);
    sk_poller_close(p);
    sk_tcp_close(s);
}

Test(stream_poller_events, hang_up_is_reported_for_an_endpoint_watched_for_out_only)
{
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_OUT, NULL), SK_OK);
    sk_tcp_close(c);
    tu_wait_fd(sk_tcp_fd(s), POLLRDHUP, LONG_MS);
    unsigned e = wait_for_tcp(p, s, SK_POLL_HUP, 1000);
    cr_expect(e & SK_POLL_HUP, "the peer closed, endpoint watched for OUT: reported %#x, no SK_POLL_HUP", e);
    cr_expect_eq(e & SK_POLL_IN, 0u, "IN was not asked for, yet reported (%#x)", e);
    sk_poller_close(p);
    sk_tcp_close(s);
}

Test(poller_events, reset_is_reported_for_an_endpoint_watched_with_events_0_and_in_is_not)
{
    sk_tcp *c, *s;
    char buf[8];
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, 0, NULL), SK_OK);
    tu_close_with_reset(c);
    unsigned e = wait_for_tcp(p, s, 0, LONG_MS);
    cr_assert_neq(e & (SK_POLL_HUP | SK_POLL_ERR), 0u, "a reset with events 0 reported as %#x", e);
    cr_assert_eq(e & (SK_POLL_IN | SK_POLL_OUT), 0u, "events 0 yet reported %#x", e);
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, NULL, 0), SK_ECONNRESET);
    sk_poller_close(p);
    sk_tcp_close(s);
}

Test(stream_poller_events, events_0_pauses_readable_reports_until_mod_asks_again)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    int tag = 5;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    cr_assert_eq(sk_poller_mod_tcp(p, s, 0, NULL), SK_OK);
    deliver(c, s, "waiting");
    wait_none(p, 100);
    cr_assert_eq(sk_poller_mod_tcp(p, s, SK_POLL_IN, &tag), SK_OK);
    cr_assert_eq(wait_ok(p, ev, 4, LONG_MS), 1u);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert_eq(ev[0].data, &tag);
    cr_assert(ev[0].events & SK_POLL_IN);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_events, mod_changes_the_events_watched_and_the_data_pointer)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    int a = 1, b = 2;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, &a), SK_OK);
    wait_none(p, 0);
    cr_assert_eq(sk_poller_mod_tcp(p, s, SK_POLL_OUT, &b), SK_OK);
    cr_assert_eq(wait_ok(p, ev, 4, LONG_MS), 1u);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert_eq(ev[0].data, &b);
    cr_assert_eq(ev[0].events, SK_POLL_OUT, "events %#x", ev[0].events);
    /* Back to IN only, with data waiting: IN and the first pointer. */
    deliver(c, s, "z");
    cr_assert_eq(sk_poller_mod_tcp(p, s, SK_POLL_IN, &a), SK_OK);
    cr_assert_eq(wait_ok(p, ev, 4, LONG_MS), 1u);
    cr_assert_eq(ev[0].data, &a);
    cr_assert_eq(ev[0].events, SK_POLL_IN, "events %#x", ev[0].events);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_events, mod_with_the_same_events_still_changes_the_data_pointer)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    int a = 1, b = 2;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_OUT, &a), SK_OK);
    cr_assert_eq(sk_poller_mod_tcp(p, c, SK_POLL_OUT, &b), SK_OK);
    cr_assert_eq(wait_ok(p, ev, 4, 0), 1u);
    cr_assert_eq(ev[0].data, &b);
    cr_assert_eq(sk_poller_mod_tcp(p, c, SK_POLL_OUT, NULL), SK_OK);
    cr_assert_eq(wait_ok(p, ev, 4, 0), 1u);
    cr_assert_null(ev[0].data);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_events, del_stops_reports_and_leaves_the_endpoint_open_and_usable)
{
    sk_tcp *c, *s;
    char buf[8];
    size_t got = 0;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN | SK_POLL_OUT, NULL), SK_OK);
    deliver(c, s, "kept");
    cr_assert_eq(sk_poller_del_tcp(p, s), SK_OK);
    wait_none(p, 100);
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &got, 0), SK_OK);
    cr_assert_eq(got, 4u);
    cr_assert_arr_eq(buf, "kept", 4);
    send_str(s, "back");
    cr_assert_eq(sk_tcp_recv_exact(c, buf, 4, &got, LONG_MS), SK_OK);
    cr_assert_arr_eq(buf, "back", 4);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_events, an_endpoint_can_be_added_again_after_del)
{
    sk_tcp *c, *s;
    sk_udp *u = NULL;
    sk_event ev[4];
    int tag = 9;
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    sk_poller *p = poller_new();
    for (int round = 0; round < 3; round++) {
        cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_OUT, &tag), SK_OK, "round %d", round);
        cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_OUT, &tag), SK_OK, "round %d", round);
        cr_assert_eq(wait_ok(p, ev, 4, LONG_MS), 2u);
        cr_assert_not_null(find_tcp(ev, 2, s));
        cr_assert_not_null(find_udp(ev, 2, u));
        cr_assert_eq(sk_poller_del_tcp(p, s), SK_OK);
        cr_assert_eq(sk_poller_del_udp(p, u), SK_OK);
        wait_none(p, 0);
    }
    sk_poller_close(p);
    sk_udp_close(u);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_events, closing_a_registered_endpoint_leaves_the_others_reported_with_their_own_data)
{
    enum { N = 5 };
    sk_tcp *c[N], *s[N];
    int tags[N];
    sk_event ev[8];
    for (int i = 0; i < N; i++)
        tu_tcp_pair(NULL, &c[i], &s[i]);
    sk_poller *p = poller_new();
    for (int i = 0; i < N; i++)
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_IN, &tags[i]), SK_OK);
    /* Close the first and the middle one while registered (the poll backend moves the
     * last registration into the freed slot). */
    sk_tcp_close(s[0]);
    s[0] = NULL;
    sk_tcp_close(s[2]);
    s[2] = NULL;
    wait_none(p, 0);
    for (int i = 0; i < N; i++) {
        if (s[i] == NULL)
            continue;
        deliver(c[i], s[i], "x");
        cr_assert_eq(wait_ok(p, ev, 8, LONG_MS), 1u, "after data for endpoint %d", i);
        cr_assert_eq(ev[0].tcp, s[i]);
        cr_assert_eq(ev[0].data, &tags[i]);
        cr_assert_eq(sk_tcp_recv(s[i], (char[4]){0}, 4, NULL, 0), SK_OK);
        wait_none(p, 0);
    }
    sk_poller_close(p);
    close_all(c, N);
    close_all(s, N);
}

Test(stream_poller_events, closing_the_poller_leaves_its_endpoints_open_and_they_can_join_a_new_poller)
{
    sk_tcp *c, *s;
    sk_udp *u = NULL;
    sk_event ev[4];
    char buf[8];
    size_t got = 0;
    int tag = 4;
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_IN, NULL), SK_OK);
    deliver(c, s, "ab");
    sk_poller_close(p);

    /* Still open and usable. */
    cr_assert_eq(sk_tcp_recv(s, buf, 1, &got, 0), SK_OK);
    cr_assert_eq(got, 1u);
    cr_assert_eq(buf[0], 'a');
    send_str(s, "up");
    cr_assert_eq(sk_tcp_recv_exact(c, buf, 2, &got, LONG_MS), SK_OK);
    cr_assert_arr_eq(buf, "up", 2);

    /* And welcome in a new poller, with their readiness. */
    sk_poller *q = poller_new();
    cr_assert_eq(sk_poller_add_tcp(q, s, SK_POLL_IN, &tag), SK_OK);
    cr_assert_eq(sk_poller_add_udp(q, u, SK_POLL_OUT, &tag), SK_OK);
    size_t n = wait_ok(q, ev, 4, LONG_MS);
    cr_assert_eq(n, 2u);
    const sk_event *e = find_tcp(ev, n, s);
    cr_assert_not_null(e);
    cr_assert(e->events & SK_POLL_IN);
    cr_assert_eq(e->data, &tag);
    cr_assert_not_null(find_udp(ev, n, u));
    /* Closing the endpoints while registered, then the poller. */
    sk_tcp_close(s);
    sk_udp_close(u);
    wait_none(q, 0);
    sk_poller_close(q);
    sk_tcp_close(c);
}

Test(stream_poller_events, endpoints_outlive_a_closed_poller_and_close_safely_afterwards)
{
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_OUT, NULL), SK_OK);
    sk_poller_close(p);
    /* Run under ASan (the asan preset) a close that touched the freed poller would be
     * caught here. */
    sk_tcp_close(s);
    sk_tcp_close(c);
}

/* ------------------------------------------------------------------------------------ */
/* Removal inside a batch                                                               */
/* ------------------------------------------------------------------------------------ */

Test(stream_poller_events, removal_inside_a_batch_cancels_the_later_events_of_closed_and_deleted_endpoints)
{
    enum { N = 3 };
    sk_tcp *c[N], *s[N];
    int tags[N];
    sk_event ev[8];
    size_t n = 0;
    char buf[4];
    for (int i = 0; i < N; i++) {
        tu_tcp_pair(NULL, &c[i], &s[i]);
        deliver(c[i], s[i], "x");
    }
    sk_poller *p = poller_new();
    for (int i = 0; i < N; i++)
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_IN, &tags[i]), SK_OK);
    for (int tries = 0; tries < 20 && n != N; tries++)
        n = wait_ok(p, ev, 8, LONG_MS);
    cr_assert_eq(n, (size_t)N, "the three readable endpoints never came in one batch");

    /* Handling the first event: close the third endpoint and delete the second. */
    long first = tag_index(ev[0].data, tags, N);
    long second = tag_index(ev[1].data, tags, N);
    long third = tag_index(ev[2].data, tags, N);
    cr_assert(first >= 0 && second >= 0 && third >= 0);
    cr_assert_eq(ev[0].tcp, s[first]);
    cr_assert_eq(ev[1].tcp, s[second]);
    cr_assert_eq(ev[2].tcp, s[third]);
    cr_assert_eq(sk_tcp_recv(s[first], buf, sizeof buf, NULL, 0), SK_OK);
    sk_tcp_close(s[third]);
    s[third] = NULL;
    cr_assert_eq(sk_poller_del_tcp(p, s[second]), SK_OK);

    cr_assert_eq(ev[0].tcp, s[first], "the event being handled was changed");
    cr_assert_eq(ev[0].data, &tags[first]);
    cr_assert(ev[0].events & SK_POLL_IN);
    for (int i = 1; i < N; i++) {
        cr_assert_eq(ev[i].events, 0u, "event %d of a removed endpoint still says %#x", i, ev[i].events);
        cr_assert_null(ev[i].tcp, "event %d still names a removed endpoint", i);
        cr_assert_null(ev[i].udp);
    }
    /* The poller goes on: nothing is left ready (the second is no longer watched). */
    wait_none(p, 0);
    sk_poller_close(p);
    close_all(c, N);
    close_all(s, N);
}

Test(poller_events, closing_a_udp_endpoint_inside_a_batch_cancels_its_event)
{
    sk_udp *u[2] = {NULL, NULL}, *v = NULL;
    sk_addr a;
    sk_event ev[4];
    size_t n = 0;
    cr_assert_eq(sk_udp_bind(&v, "127.0.0.1", 0), SK_OK);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(sk_udp_bind(&u[i], "127.0.0.1", 0), SK_OK);
        cr_assert_eq(sk_udp_local_addr(u[i], &a), SK_OK);
        cr_assert_eq(sk_udp_sendto(v, "d", 1, &a, LONG_MS), SK_OK);
        tu_wait_fd(sk_udp_fd(u[i]), POLLIN, LONG_MS);
    }
    sk_poller *p = poller_new();
    for (int i = 0; i < 2; i++)
        cr_assert_eq(sk_poller_add_udp(p, u[i], SK_POLL_IN, NULL), SK_OK);
    for (int tries = 0; tries < 20 && n != 2; tries++)
        n = wait_ok(p, ev, 4, LONG_MS);
    cr_assert_eq(n, 2u);
    int later = ev[1].udp == u[0] ? 0 : 1;
    cr_assert_eq(ev[1].udp, u[later]);
    sk_udp_close(u[later]);
    u[later] = NULL;
    cr_assert_eq(ev[1].events, 0u);
    cr_assert_null(ev[1].udp);
    cr_assert_null(ev[1].tcp);
    cr_assert_eq(ev[0].udp, u[1 - later]);
    cr_assert_eq(ev[0].events, SK_POLL_IN);
    sk_poller_close(p);
    sk_udp_close(u[0]);
    sk_udp_close(u[1]);
    sk_udp_close(v);
}

Test(stream_poller_events, closing_the_endpoint_being_handled_leaves_the_rest_of_the_batch_intact)
{
    enum { N = 3 };
    sk_tcp *c[N], *s[N];
    int tags[N];
    sk_event ev[8];
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        tu_tcp_pair(NULL, &c[i], &s[i]);
        deliver(c[i], s[i], "x");
    }
    sk_poller *p = poller_new();
    for (int i = 0; i < N; i++)
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_IN, &tags[i]), SK_OK);
    for (int tries = 0; tries < 20 && n != N; tries++)
        n = wait_ok(p, ev, 8, LONG_MS);
    cr_assert_eq(n, (size_t)N);
    /* A loop closing each endpoint as it handles it never meets a cancelled event. */
    for (size_t i = 0; i < n; i++) {
        cr_assert_neq(ev[i].events, 0u, "event %zu was cancelled though its endpoint is open", i);
        long k = tag_index(ev[i].data, tags, N);
        cr_assert(k >= 0);
        cr_assert_eq(ev[i].tcp, s[k]);
        sk_tcp_close(s[k]);
        s[k] = NULL;
        cr_assert_eq(ev[i].events, 0u, "the handled event itself is cancelled by the close");
    }
    wait_none(p, 0);
    sk_poller_close(p);
    close_all(c, N);
}

/* ------------------------------------------------------------------------------------ */
/* Read-ahead (sk_tcp_recv_until)                                                       */
/* ------------------------------------------------------------------------------------ */

/* `s` has received `text` (one send) and read its first line: the rest is buffered,
 * the descriptor is not readable. */
static void read_first_line(sk_tcp *c, sk_tcp *s, const char *text, const char *first)
{
    char line[64];
    size_t len = 0;
    deliver(c, s, text);
    cr_assert_eq(sk_tcp_recv_until(s, '\n', line, sizeof line, &len, LONG_MS), SK_OK);
    cr_assert_eq(len, strlen(first));
    cr_assert_arr_eq(line, first, len);
    cr_assert_eq(sk_tcp_buffered(s), strlen(text) - strlen(first), "the rest of one small send came in one read");
    cr_assert_not(fd_readable_now(sk_tcp_fd(s)), "setup: the descriptor itself should hold nothing");
}

static void expect_line(sk_tcp *s, const char *want)
{
    char line[64];
    size_t len = 0;
    cr_assert_eq(sk_tcp_recv_until(s, '\n', line, sizeof line, &len, 0), SK_OK);
    cr_assert_eq(len, strlen(want));
    cr_assert_arr_eq(line, want, len);
}

Test(stream_poller_readahead, read_ahead_bytes_make_an_endpoint_readable_until_they_are_drained)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    int tag = 8;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, &tag), SK_OK);
    read_first_line(c, s, "one\ntwo\nthree\n", "one\n");
    cr_assert_eq(wait_ok(p, ev, 4, 1000), 1u);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert_eq(ev[0].data, &tag);
    cr_assert(ev[0].events & SK_POLL_IN, "events %#x", ev[0].events);
    expect_line(s, "two\n");
    cr_assert_eq(wait_ok(p, ev, 4, 1000), 1u, "one line is still buffered");
    cr_assert_eq(ev[0].tcp, s);
    expect_line(s, "three\n");
    cr_assert_eq(sk_tcp_buffered(s), 0u);
    wait_none(p, 0);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_readahead, draining_the_read_ahead_with_recv_ends_the_reports)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    char buf[32];
    size_t got = 0;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    read_first_line(c, s, "a\nbcd", "a\n");
    cr_assert_eq(wait_ok(p, ev, 4, 1000), 1u);
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &got, 0), SK_OK);
    cr_assert_eq(got, 3u);
    cr_assert_arr_eq(buf, "bcd", 3);
    wait_none(p, 0);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_readahead, read_ahead_and_a_readable_descriptor_give_one_event_for_the_endpoint)
{
    sk_tcp *c, *s;
    sk_event ev[8];
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN | SK_POLL_OUT, NULL), SK_OK);
    read_first_line(c, s, "one\ntwo\n", "one\n");
    deliver(c, s, "three\n"); /* now the descriptor is readable too */
    size_t n = wait_ok(p, ev, 8, 1000);
    cr_assert_eq(n, 1u, "the endpoint came %zu times", n);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert_eq(ev[0].events & (SK_POLL_IN | SK_POLL_OUT), SK_POLL_IN | SK_POLL_OUT, "events %#x", ev[0].events);
    expect_line(s, "two\n");
    expect_line(s, "three\n");
    cr_assert_eq(sk_poller_mod_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    wait_none(p, 0);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_readahead, read_ahead_is_not_reported_while_reading_is_paused_with_events_0)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    read_first_line(c, s, "one\ntwo\n", "one\n");
    cr_assert_eq(sk_poller_mod_tcp(p, s, 0, NULL), SK_OK);
    wait_none(p, 100);
    cr_assert_eq(sk_poller_mod_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    cr_assert_eq(wait_ok(p, ev, 4, 1000), 1u);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert(ev[0].events & SK_POLL_IN);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* The header: "Bytes that sk_tcp_recv_until read ahead count as readable, although the
 * descriptor is not." That holds for bytes read ahead before the endpoint was added. */
Test(stream_poller_readahead, an_endpoint_added_with_bytes_already_read_ahead_is_reported_readable)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    size_t n = 0;
    tu_tcp_pair(NULL, &c, &s);
    read_first_line(c, s, "one\ntwo\n", "one\n");
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    int rc = sk_poller_wait(p, ev, 4, &n, 300);
    cr_expect_eq(rc, SK_OK, "4 bytes read ahead before sk_poller_add_tcp: the wait gave %s", sk_errname(rc));
    if (rc == SK_OK) {
        cr_expect_eq(n, 1u);
        cr_expect_eq(ev[0].tcp, s);
        cr_expect(ev[0].events & SK_POLL_IN);
    }
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_readahead, closing_an_endpoint_with_read_ahead_inside_a_batch_cancels_its_event)
{
    sk_tcp *c[2], *s[2];
    sk_event ev[4];
    for (int i = 0; i < 2; i++)
        tu_tcp_pair(NULL, &c[i], &s[i]);
    sk_poller *p = poller_new();
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_IN, NULL), SK_OK);
        read_first_line(c[i], s[i], "one\ntwo\n", "one\n");
    }
    cr_assert_eq(wait_ok(p, ev, 4, 1000), 2u);
    int later = ev[1].tcp == s[0] ? 0 : 1;
    cr_assert_eq(ev[1].tcp, s[later]);
    sk_tcp_close(s[later]);
    s[later] = NULL;
    cr_assert_eq(ev[1].events, 0u);
    cr_assert_null(ev[1].tcp);
    expect_line(s[1 - later], "two\n");
    /* The closed endpoint's read-ahead is forgotten with it (ASan would see a use of it). */
    wait_none(p, 0);
    sk_poller_close(p);
    close_all(c, 2);
    close_all(s, 2);
}

/* ------------------------------------------------------------------------------------ */
/* Wake-ups                                                                             */
/* ------------------------------------------------------------------------------------ */

struct waker {
    sk_poller *p;
    int delay_ms;
    int rc;
};

static void *waker_main(void *arg)
{
    struct waker *w = arg;
    tu_sleep_ms(w->delay_ms);
    w->rc = sk_poller_wake(w->p);
    return NULL;
}

Test(stream_poller_wake, wake_from_another_thread_ends_a_forever_wait_with_one_wake_event)
{
    sk_event ev[4];
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK); /* never ready */
    struct waker w = {p, 100, 1};
    pthread_t th;
    int64_t t0 = tu_now_ms();
    cr_assert_eq(pthread_create(&th, NULL, waker_main, &w), 0);
    size_t n = wait_ok(p, ev, 4, SK_FOREVER);
    tu_assert_took(t0, 100);
    pthread_join(th, NULL);
    cr_assert_eq(w.rc, SK_OK, "sk_poller_wake: %s", sk_errname(w.rc));
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].events, SK_POLL_WAKE);
    cr_assert_null(ev[0].tcp);
    cr_assert_null(ev[0].udp);
    wait_none(p, 0); /* the wake-up was consumed */
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* Cancels an endpoint after a delay, from another thread. */
struct poll_canceller {
    sk_tcp *t;
    sk_udp *u;
    int delay_ms;
    int rc;
};

static void *poll_cancel_main(void *arg)
{
    struct poll_canceller *k = arg;
    tu_sleep_ms(k->delay_ms);
    k->rc = k->t != NULL ? sk_tcp_cancel(k->t) : sk_udp_cancel(k->u);
    return NULL;
}

/* A forever wait on an endpoint that never gets data ends when another thread
 * cancels it: its event carries SK_POLL_CANCELED, and its calls then refuse. */
Test(stream_poller_wake, cancelling_a_registered_endpoint_ends_a_forever_wait_with_its_cancelled_event)
{
    sk_event ev[4];
    sk_tcp *c, *s;
    char buf[8];
    size_t got = 99;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, &dummy_object_), SK_OK);
    struct poll_canceller k = {s, NULL, 100, 12345};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, poll_cancel_main, &k), 0);
    size_t n = wait_ok(p, ev, 4, SK_FOREVER);
    pthread_join(th, NULL);
    cr_assert_eq(k.rc, SK_OK);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert_eq(ev[0].data, &dummy_object_);
    cr_assert(ev[0].events & SK_POLL_CANCELED, "events %#x", ev[0].events);
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &got, 0), SK_ECANCELED);
    cr_assert_eq(got, 0u);
    /* Level-triggered: it is reported until it leaves the poller. */
    n = wait_ok(p, ev, 4, 0);
    cr_assert(ev[0].events & SK_POLL_CANCELED, "events %#x", ev[0].events);
    sk_tcp_close(s);
    wait_none(p, 0);
    sk_poller_close(p);
    sk_tcp_close(c);
}

Test(poller_wake, a_cancelled_listener_and_udp_endpoint_are_reported_even_when_watched_with_events_0)
{
    sk_event ev[4];
    sk_tcp *l;
    sk_udp *u;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, l, 0, NULL), SK_OK);
    cr_assert_eq(sk_poller_add_udp(p, u, 0, NULL), SK_OK);
    wait_none(p, 0);
    struct poll_canceller k = {NULL, u, 100, 12345};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, poll_cancel_main, &k), 0);
    size_t n = wait_ok(p, ev, 4, SK_FOREVER);
    pthread_join(th, NULL);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].udp, u);
    cr_assert(ev[0].events & SK_POLL_CANCELED, "events %#x", ev[0].events);
    cr_assert_eq(sk_tcp_cancel(l), SK_OK);
    n = wait_ok(p, ev, 4, LONG_MS);
    cr_assert_eq(n, 2u, "both cancelled endpoints are reported");
    const sk_event *el = find_tcp(ev, n, l);
    cr_assert_not_null(el);
    cr_assert(el->events & SK_POLL_CANCELED, "events %#x", el->events);
    sk_poller_close(p);
    sk_tcp_close(l);
    sk_udp_close(u);
}

Test(poller_wake, several_wakes_before_a_wait_come_as_one_event)
{
    sk_event ev[8];
    sk_poller *p = poller_new();
    for (int i = 0; i < 5; i++)
        cr_assert_eq(sk_poller_wake(p), SK_OK);
    cr_assert_eq(wait_ok(p, ev, 8, 0), 1u);
    cr_assert_eq(ev[0].events, SK_POLL_WAKE);
    wait_none(p, 0);
    sk_poller_close(p);
}

Test(poller_wake, wake_never_blocks_however_often_it_is_called)
{
    sk_event ev[4];
    sk_poller *p = poller_new();
    int64_t t0 = tu_now_ms();
    for (int i = 0; i < 100000; i++) {
        int rc = sk_poller_wake(p);
        cr_assert_eq(rc, SK_OK, "wake %d: %s", i, sk_errname(rc));
    }
    cr_assert_leq(tu_now_ms() - t0, 20000);
    cr_assert_eq(wait_ok(p, ev, 4, 0), 1u);
    cr_assert_eq(ev[0].events, SK_POLL_WAKE);
    wait_none(p, 0);
    /* And it still works afterwards. */
    cr_assert_eq(sk_poller_wake(p), SK_OK);
    cr_assert_eq(wait_ok(p, ev, 4, 0), 1u);
    cr_assert_eq(ev[0].events, SK_POLL_WAKE);
    sk_poller_close(p);
}

Test(stream_poller_wake, wake_comes_among_endpoint_events_in_one_batch)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_OUT, NULL), SK_OK);
    cr_assert_eq(sk_poller_wake(p), SK_OK);
    size_t n = wait_ok(p, ev, 4, LONG_MS);
    cr_assert_eq(n, 2u);
    int wakes = 0, outs = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].events == SK_POLL_WAKE)
            wakes++;
        else if (ev[i].tcp == c && ev[i].events == SK_POLL_OUT)
            outs++;
    }
    cr_assert_eq(wakes, 1);
    cr_assert_eq(outs, 1);
    /* The wake-up is gone, the endpoint is still writable. */
    n = wait_ok(p, ev, 4, 0);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].tcp, c);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

static sk_poller *alarm_poller_;
static volatile sig_atomic_t alarm_rc_ = 1;
static volatile sig_atomic_t alarm_errno_kept_ = 0;
static volatile sig_atomic_t alarm_ran_ = 0;

static void on_alarm(int sig)
{
    int saved = errno;
    (void)sig;
    errno = EDOM;
    alarm_rc_ = sk_poller_wake(alarm_poller_);
    alarm_errno_kept_ = errno == EDOM;
    alarm_ran_ = 1;
    errno = saved;
}

Test(poller_wake, wake_from_a_signal_handler_ends_the_wait_and_keeps_errno)
{
    struct sigaction sa, old;
    struct itimerval it;
    sk_event ev[4];
    size_t n = 0;
    alarm_poller_ = poller_new();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    cr_assert_eq(sigaction(SIGALRM, &sa, &old), 0);
    memset(&it, 0, sizeof it);
    it.it_value.tv_usec = 100000; /* 100 ms, once */
    int64_t t0 = tu_now_ms();
    cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
    int rc = sk_poller_wait(alarm_poller_, ev, 4, &n, 20000);
    int64_t took = tu_now_ms() - t0;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
    sigaction(SIGALRM, &old, NULL);
    cr_assert(alarm_ran_, "the alarm never fired");
    cr_assert_eq(rc, SK_OK, "the wait gave %s after %lld ms", sk_errname(rc), (long long)took);
    cr_assert_eq(alarm_rc_, SK_OK, "sk_poller_wake in the handler: %s", sk_errname(alarm_rc_));
    cr_assert(alarm_errno_kept_, "sk_poller_wake changed errno in a signal handler");
    cr_assert_leq(took, 100 + TU_LATE_MARGIN_MS);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].events, SK_POLL_WAKE);
    cr_assert_null(ev[0].tcp);
    cr_assert_null(ev[0].udp);
    sk_poller_close(alarm_poller_);
    alarm_poller_ = NULL;
}

/* With endpoints whose read-ahead fills every batch, a wake-up still gets through. */
Test(stream_poller_wake, a_wake_is_reported_even_while_read_ahead_endpoints_fill_every_batch)
{
    enum { N = 3, LINES = 40 };
    sk_tcp *c[N], *s[N];
    sk_event ev[N];
    char text[LINES * 4 + 1];
    for (int i = 0; i < LINES; i++)
        snprintf(text + 4 * i, 5, "L%02d\n", i);
    for (int i = 0; i < N; i++)
        tu_tcp_pair(NULL, &c[i], &s[i]);
    sk_poller *p = poller_new();
    for (int i = 0; i < N; i++) {
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_IN, NULL), SK_OK);
        read_first_line(c[i], s[i], text, "L00\n");
    }
    cr_assert_eq(sk_poller_wake(p), SK_OK);
    int woke = 0;
    for (int round = 0; round < 10 && !woke; round++) {
        size_t n = wait_ok(p, ev, N, 1000);
        for (size_t i = 0; i < n; i++) {
            if (ev[i].events == SK_POLL_WAKE) {
                woke = 1;
            } else if (ev[i].tcp != NULL) {
                char line[8];
                cr_assert_eq(sk_tcp_recv_until(ev[i].tcp, '\n', line, sizeof line, NULL, 0), SK_OK);
            }
        }
    }
    cr_expect(woke, "10 waits of capacity %d, each taking one line per event: the wake-up never came", N);
    sk_poller_close(p);
    close_all(c, N);
    close_all(s, N);
}

/* ------------------------------------------------------------------------------------ */
/* Timeouts and signals                                                                 */
/* ------------------------------------------------------------------------------------ */

Test(stream_poller_timing, wait_with_nothing_ready_times_out_no_earlier_than_its_budget)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    size_t n = 99;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    for (int budget = 50; budget <= 200; budget *= 2) {
        int64_t t0 = tu_now_ms();
        cr_assert_eq(sk_poller_wait(p, ev, 4, &n, budget), SK_ETIMEDOUT);
        tu_assert_took(t0, budget);
        cr_assert_eq(n, 0u);
    }
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(poller_timing, wait_with_an_empty_poller_times_out_too)
{
    sk_event ev[4];
    size_t n = 99;
    sk_poller *p = poller_new();
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_poller_wait(p, ev, 4, &n, 150), SK_ETIMEDOUT);
    tu_assert_took(t0, 150);
    cr_assert_eq(n, 0u);
    sk_poller_close(p);
}

Test(stream_poller_timing, wait_with_timeout_0_returns_at_once_when_nothing_is_ready)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    size_t n = 99;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_poller_wait(p, ev, 4, &n, 0), SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    cr_assert_eq(n, 0u);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

struct late_sender {
    sk_tcp *t;
    int delay_ms;
    int rc;
};

static void *late_sender_main(void *arg)
{
    struct late_sender *ls = arg;
    tu_sleep_ms(ls->delay_ms);
    ls->rc = sk_tcp_send_all(ls->t, "late", 4, NULL, LONG_MS);
    return NULL;
}

Test(stream_poller_timing, forever_wait_returns_when_data_arrives)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    struct late_sender ls = {c, 150, 1};
    pthread_t th;
    int64_t t0 = tu_now_ms();
    cr_assert_eq(pthread_create(&th, NULL, late_sender_main, &ls), 0);
    size_t n = wait_ok(p, ev, 4, SK_FOREVER);
    tu_assert_took(t0, 150);
    pthread_join(th, NULL);
    cr_assert_eq(ls.rc, SK_OK);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert(ev[0].events & SK_POLL_IN);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

struct interrupter {
    pthread_t target;
    atomic_int stop;
    int sent;
    sk_tcp *send_on;   /* optional: send a byte after send_after signals */
    int send_after;
    int send_rc;
};

/* SIGUSR1 (tu_install_usr1: no SA_RESTART, so the system wait really fails with
 * EINTR) to the target every 20 ms, for at most 3 s, until told to stop; unlike
 * tu_pester it can also send a byte after so many signals. */
static void *interrupter_main(void *arg)
{
    struct interrupter *it = arg;
    for (int i = 0; i < 150 && !atomic_load(&it->stop); i++) {
        tu_sleep_ms(20);
        if (pthread_kill(it->target, SIGUSR1) == 0)
            it->sent++;
        if (it->send_on != NULL && it->sent == it->send_after)
            it->send_rc = sk_tcp_send_all(it->send_on, "!", 1, NULL, LONG_MS);
    }
    return NULL;
}

Test(stream_poller_timing, signals_during_a_wait_neither_end_it_early_nor_stretch_it)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    size_t n = 99;
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    tu_install_usr1();
    struct interrupter it;
    memset(&it, 0, sizeof it);
    it.target = pthread_self();
    atomic_init(&it.stop, 0);
    pthread_t th;
    int64_t t0 = tu_now_ms();
    cr_assert_eq(pthread_create(&th, NULL, interrupter_main, &it), 0);
    int rc = sk_poller_wait(p, ev, 4, &n, 400);
    int64_t took = tu_now_ms() - t0;
    atomic_store(&it.stop, 1);
    pthread_join(th, NULL);
    cr_assert_eq(rc, SK_ETIMEDOUT, "an interrupted wait gave %s", sk_errname(rc));
    cr_assert_eq(n, 0u);
    cr_assert_geq(took, 400, "returned after %lld ms, before its 400 ms budget", (long long)took);
    cr_assert_leq(took, 400 + TU_LATE_MARGIN_MS, "an interrupted 400 ms wait took %lld ms", (long long)took);
    cr_assert_geq(tu_usr1_caught(), 5, "only %d signals arrived: the test proved nothing", tu_usr1_caught());
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_timing, signals_during_a_forever_wait_do_not_end_it_before_data_arrives)
{
    sk_tcp *c, *s;
    sk_event ev[4];
    tu_tcp_pair(NULL, &c, &s);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    tu_install_usr1();
    struct interrupter it;
    memset(&it, 0, sizeof it);
    it.target = pthread_self();
    atomic_init(&it.stop, 0);
    it.send_on = c;
    it.send_after = 10; /* about 200 ms in */
    it.send_rc = 1;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, interrupter_main, &it), 0);
    size_t n = wait_ok(p, ev, 4, SK_FOREVER);
    int seen = tu_usr1_caught();
    atomic_store(&it.stop, 1);
    pthread_join(th, NULL);
    cr_assert_eq(it.send_rc, SK_OK);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].tcp, s);
    cr_assert(ev[0].events & SK_POLL_IN);
    cr_assert_geq(seen, 5, "only %d signals arrived before the data: the test proved nothing", seen);
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* ------------------------------------------------------------------------------------ */
/* Many endpoints, fairness, a poller-driven server                                     */
/* ------------------------------------------------------------------------------------ */

Test(poller_scale, one_of_1000_registered_endpoints_made_readable_is_the_only_one_reported)
{
    enum { PAIRS = 500 };
    if (!ensure_nofile(PAIRS * 2 + 64))
        cr_skip_test("cannot raise RLIMIT_NOFILE to %d", PAIRS * 2 + 64);
    sk_tcp **c = calloc(PAIRS, sizeof *c), **s = calloc(PAIRS, sizeof *s);
    int *tags = calloc(PAIRS * 2, sizeof *tags);
    sk_event ev[64];
    cr_assert(c && s && tags);
    make_pairs(PAIRS, c, s);
    sk_poller *p = poller_new();
    for (int i = 0; i < PAIRS; i++) {
        cr_assert_eq(sk_poller_add_tcp(p, c[i], SK_POLL_IN, &tags[i]), SK_OK, "client %d", i);
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_IN, &tags[PAIRS + i]), SK_OK, "server %d", i);
    }
    wait_none(p, 0);
    const int pick = 317;
    deliver(c[pick], s[pick], "one");
    size_t n = wait_ok(p, ev, 64, LONG_MS);
    cr_assert_eq(n, 1u, "%zu endpoints reported, one was readable", n);
    cr_assert_eq(ev[0].tcp, s[pick]);
    cr_assert_eq(ev[0].data, &tags[PAIRS + pick]);
    cr_assert_eq(ev[0].events, SK_POLL_IN, "events %#x", ev[0].events);
    /* And one on the other side, among the last registered. */
    deliver(s[PAIRS - 1], c[PAIRS - 1], "two");
    cr_assert_eq(sk_tcp_recv(s[pick], (char[8]){0}, 8, NULL, 0), SK_OK);
    n = wait_ok(p, ev, 64, LONG_MS);
    cr_assert_eq(n, 1u);
    cr_assert_eq(ev[0].tcp, c[PAIRS - 1]);
    cr_assert_eq(ev[0].data, &tags[PAIRS - 1]);
    /* Closing registered endpoints one by one (the poll backend compacts its array). */
    close_all(c, PAIRS);
    close_all(s, PAIRS);
    wait_none(p, 0);
    sk_poller_close(p);
    free(c);
    free(s);
    free(tags);
}

Test(poller_scale, with_more_ready_endpoints_than_cap_successive_waits_report_every_one)
{
    enum { N = 20, CAP = 3, WAITS = 20 };
    sk_tcp *c[N], *s[N];
    int tags[N], seen[N] = {0};
    sk_event ev[CAP];
    make_pairs(N, c, s);
    sk_poller *p = poller_new();
    for (int i = 0; i < N; i++) {
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_IN, &tags[i]), SK_OK);
        deliver(c[i], s[i], "x");
    }
    int distinct = 0;
    for (int w = 0; w < WAITS && distinct < N; w++) {
        size_t n = wait_ok(p, ev, CAP, 1000);
        for (size_t i = 0; i < n; i++) {
            long k = tag_index(ev[i].data, tags, N);
            cr_assert(k >= 0);
            cr_assert_eq(ev[i].tcp, s[k]);
            if (!seen[k]++)
                distinct++;
        }
    }
    cr_assert_eq(distinct, N, "%d waits of capacity %d saw only %d of %d ready endpoints (nothing read)", WAITS,
                 CAP, distinct, N);
    sk_poller_close(p);
    close_all(c, N);
    close_all(s, N);
}

Test(poller_scale, with_more_read_ahead_endpoints_than_cap_successive_waits_report_every_one)
{
    enum { N = 20, CAP = 3, WAITS = 20, LINES = 40 };
    sk_tcp *c[N], *s[N];
    int tags[N], seen[N] = {0};
    sk_event ev[CAP];
    char text[LINES * 4 + 1];
    for (int i = 0; i < LINES; i++)
        snprintf(text + 4 * i, 5, "L%02d\n", i);
    make_pairs(N, c, s);
    sk_poller *p = poller_new();
    for (int i = 0; i < N; i++) {
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_IN, &tags[i]), SK_OK);
        read_first_line(c[i], s[i], text, "L00\n");
    }
    int distinct = 0;
    for (int w = 0; w < WAITS && distinct < N; w++) {
        size_t n = wait_ok(p, ev, CAP, 1000);
        for (size_t i = 0; i < n; i++) {
            long k = tag_index(ev[i].data, tags, N);
            char line[8];
            cr_assert(k >= 0);
            if (!seen[k]++)
                distinct++;
            /* A fair loop: one record per event, the rest on the next turn. */
            cr_assert_eq(sk_tcp_recv_until(s[k], '\n', line, sizeof line, NULL, 0), SK_OK);
        }
    }
    cr_expect_eq(distinct, N, "%d waits of capacity %d, one line taken per event: only %d of %d endpoints "
                 "with read-ahead were ever reported", WAITS, CAP, distinct, N);
    sk_poller_close(p);
    close_all(c, N);
    close_all(s, N);
}

Test(poller_scale, a_readable_descriptor_is_reported_even_while_read_ahead_endpoints_fill_every_batch)
{
    enum { N = 3, LINES = 40 };
    sk_tcp *c[N + 1], *s[N + 1];
    int tags[N + 1];
    sk_event ev[N];
    char text[LINES * 4 + 1];
    for (int i = 0; i < LINES; i++)
        snprintf(text + 4 * i, 5, "L%02d\n", i);
    make_pairs(N + 1, c, s);
    sk_poller *p = poller_new();
    for (int i = 0; i <= N; i++)
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_IN, &tags[i]), SK_OK);
    for (int i = 0; i < N; i++)
        read_first_line(c[i], s[i], text, "L00\n");
    deliver(c[N], s[N], "plain");
    int found = 0;
    for (int round = 0; round < 10 && !found; round++) {
        size_t n = wait_ok(p, ev, N, 1000);
        for (size_t i = 0; i < n; i++) {
            long k = tag_index(ev[i].data, tags, N + 1);
            cr_assert(k >= 0);
            if (k == N) {
                found = 1;
            } else {
                char line[8];
                cr_assert_eq(sk_tcp_recv_until(s[k], '\n', line, sizeof line, NULL, 0), SK_OK);
            }
        }
    }
    cr_expect(found, "10 waits of capacity %d, one line taken per event: the endpoint readable by its descriptor "
              "was never reported", N);
    sk_poller_close(p);
    close_all(c, N + 1);
    close_all(s, N + 1);
}

Test(poller_scale, a_wait_stores_at_most_256_events_even_with_a_larger_array)
{
    enum { PAIRS = 150, CAP = 512 };
    if (!ensure_nofile(PAIRS * 2 + 64))
        cr_skip_test("cannot raise RLIMIT_NOFILE");
    sk_tcp *c[PAIRS], *s[PAIRS];
    sk_event *ev = calloc(CAP, sizeof *ev);
    char *seen = calloc(PAIRS * 2, 1);
    cr_assert(ev && seen);
    make_pairs(PAIRS, c, s);
    sk_poller *p = poller_new();
    for (int i = 0; i < PAIRS; i++) {
        cr_assert_eq(sk_poller_add_tcp(p, c[i], SK_POLL_OUT, &seen[i]), SK_OK);
        cr_assert_eq(sk_poller_add_tcp(p, s[i], SK_POLL_OUT, &seen[PAIRS + i]), SK_OK);
    }
    int distinct = 0;
    for (int w = 0; w < 4 && distinct < PAIRS * 2; w++) {
        size_t n = wait_ok(p, ev, CAP, 1000);
        cr_expect_leq(n, 256u, "one wait stored %zu events; the header says at most 256 a call", n);
        for (size_t i = 0; i < n; i++) {
            char *d = ev[i].data;
            cr_assert(d >= seen && d < seen + PAIRS * 2);
            if (!(*d)++)
                distinct++;
        }
    }
    cr_assert_eq(distinct, PAIRS * 2, "4 waits saw %d of %d writable endpoints", distinct, PAIRS * 2);
    sk_poller_close(p);
    close_all(c, PAIRS);
    close_all(s, PAIRS);
    free(ev);
    free(seen);
}

/* An echo server driven by the poller, with timeout-0 calls only, serving 20 clients
 * (threads) at once, each sending 100 lines and checking every echoed byte. */
enum { ECHO_CLIENTS = 20, ECHO_LINES = 100 };

struct echo_client {
    int port;
    int index;
    int rc;          /* SK_OK when every line came back byte for byte */
    int lines_back;
    char why[160];
};

static size_t echo_line(char *buf, int client, int line)
{
    int n = snprintf(buf, 128, "client %02d line %03d ", client, line);
    int extra = (client * 31 + line * 7) % 60;
    for (int i = 0; i < extra; i++)
        buf[n + i] = (char)('a' + (client + line + i) % 26);
    buf[n + extra] = '\n';
    return (size_t)n + (size_t)extra + 1;
}

static void *echo_client_main(void *arg)
{
    struct echo_client *ec = arg;
    sk_tcp *t = NULL;
    char want[160], got[160];
    ec->rc = sk_tcp_connect(&t, "127.0.0.1", ec->port, 20000);
    if (ec->rc != SK_OK) {
        snprintf(ec->why, sizeof ec->why, "connect: %s", sk_errname(ec->rc));
        return NULL;
    }
    /* Send in bursts of 10 lines, reading each burst back, so that the server sees
     * partial lines and many rounds. */
    for (int burst = 0; burst < ECHO_LINES / 10 && ec->rc == SK_OK; burst++) {
        for (int i = 0; i < 10 && ec->rc == SK_OK; i++) {
            size_t len = echo_line(want, ec->index, burst * 10 + i);
            ec->rc = sk_tcp_send_all(t, want, len, NULL, 20000);
            if (ec->rc != SK_OK)
                snprintf(ec->why, sizeof ec->why, "send line %d: %s", burst * 10 + i, sk_errname(ec->rc));
        }
        for (int i = 0; i < 10 && ec->rc == SK_OK; i++) {
            size_t len = echo_line(want, ec->index, burst * 10 + i), n = 0;
            ec->rc = sk_tcp_recv_until(t, '\n', got, sizeof got, &n, 20000);
            if (ec->rc != SK_OK) {
                snprintf(ec->why, sizeof ec->why, "recv line %d: %s after %zu bytes", burst * 10 + i,
                         sk_errname(ec->rc), n);
            } else if (n != len || memcmp(got, want, len) != 0) {
                ec->rc = SK_EOS;
                snprintf(ec->why, sizeof ec->why, "line %d came back different (%zu bytes, %zu wanted)",
                         burst * 10 + i, n, len);
            } else {
                ec->lines_back++;
            }
        }
    }
    sk_tcp_close(t);
    return NULL;
}

struct echo_conn {
    sk_tcp *t;
    unsigned events;
    size_t out_len;
    char out[4096];
};

Test(poller_scale, echo_server_driven_by_the_poller_serves_20_clients_of_100_lines_each)
{
    sk_tcp *l = NULL;
    sk_addr a;
    sk_event ev[16];
    struct echo_client clients[ECHO_CLIENTS];
    pthread_t th[ECHO_CLIENTS];
    struct echo_conn *conns = calloc(ECHO_CLIENTS, sizeof *conns);
    int accepted = 0, closed = 0, failures = 0;
    char failure[160] = "";
    cr_assert_not_null(conns);
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 64), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, l, SK_POLL_IN, NULL), SK_OK);
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        clients[i] = (struct echo_client){sk_addr_port(&a), i, 1, 0, ""};
        cr_assert_eq(pthread_create(&th[i], NULL, echo_client_main, &clients[i]), 0);
    }

    int64_t end = tu_now_ms() + 40000;
    while (closed < ECHO_CLIENTS && tu_now_ms() < end) {
        size_t n = 0;
        int rc = sk_poller_wait(p, ev, 16, &n, 200);
        if (rc == SK_ETIMEDOUT)
            continue;
        cr_assert_eq(rc, SK_OK, "wait: %s", sk_errname(rc));
        for (size_t i = 0; i < n; i++) {
            if (ev[i].events == 0)
                continue;
            if (ev[i].tcp == l) {
                sk_tcp *t = NULL;
                while ((rc = sk_tcp_accept(l, &t, 0)) == SK_OK) {
                    cr_assert_lt(accepted, ECHO_CLIENTS, "more connections than clients");
                    struct echo_conn *ec = &conns[accepted++];
                    ec->t = t;
                    ec->events = SK_POLL_IN;
                    cr_assert_eq(sk_poller_add_tcp(p, t, SK_POLL_IN, ec), SK_OK);
                }
                cr_assert_eq(rc, SK_ETIMEDOUT, "accept with timeout 0: %s", sk_errname(rc));
                continue;
            }
            struct echo_conn *ec = ev[i].data;
            cr_assert_not_null(ec);
            cr_assert_eq(ev[i].tcp, ec->t);
            int gone = 0;
            if ((ec->events & SK_POLL_IN) && (ev[i].events & (SK_POLL_IN | SK_POLL_HUP | SK_POLL_ERR))) {
                size_t got = 0;
                rc = sk_tcp_recv(ec->t, ec->out + ec->out_len, sizeof ec->out - ec->out_len, &got, 0);
                if (rc == SK_OK) {
                    ec->out_len += got;
                } else if (rc == SK_ECLOSED) {
                    gone = 1;
                } else if (rc != SK_ETIMEDOUT) {
                    gone = 1;
                    if (failures++ == 0)
                        snprintf(failure, sizeof failure, "recv: %s", sk_errname(rc));
                }
            }
            while (!gone && ec->out_len > 0) {
                size_t sent = 0;
                rc = sk_tcp_send(ec->t, ec->out, ec->out_len, &sent, 0);
                if (rc == SK_ETIMEDOUT)
                    break;
                if (rc != SK_OK) {
                    gone = 1;
                    if (failures++ == 0)
                        snprintf(failure, sizeof failure, "send: %s", sk_errname(rc));
                    break;
                }
                memmove(ec->out, ec->out + sent, ec->out_len - sent);
                ec->out_len -= sent;
            }
            if (gone) {
                sk_tcp_close(ec->t); /* unregisters it, cancels any later event */
                ec->t = NULL;
                closed++;
                continue;
            }
            unsigned want = (ec->out_len < sizeof ec->out ? SK_POLL_IN : 0u) | (ec->out_len > 0 ? SK_POLL_OUT : 0u);
            if (want != ec->events) {
                cr_assert_eq(sk_poller_mod_tcp(p, ec->t, want, ec), SK_OK);
                ec->events = want;
            }
        }
    }
    for (int i = 0; i < ECHO_CLIENTS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < accepted; i++)
        sk_tcp_close(conns[i].t);
    sk_poller_close(p);
    sk_tcp_close(l);
    free(conns);
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        cr_assert_eq(clients[i].rc, SK_OK, "client %d: %s", i, clients[i].why);
        cr_assert_eq(clients[i].lines_back, ECHO_LINES, "client %d", i);
    }
    cr_assert_eq(failures, 0, "server: %s", failure);
    cr_assert_eq(accepted, ECHO_CLIENTS);
    cr_assert_eq(closed, ECHO_CLIENTS, "the server saw %d of %d clients leave", closed, ECHO_CLIENTS);
}

/* ------------------------------------------------------------------------------------ */
/* The timeout-0 calls a poller loop makes                                              */
/* ------------------------------------------------------------------------------------ */

Test(stream_poller_nonblocking, recv_with_timeout_0_returns_timedout_at_once_when_nothing_arrived)
{
    sk_tcp *c, *s;
    char buf[16];
    size_t got = 99;
    tu_tcp_pair(NULL, &c, &s);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &got, 0), SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    cr_assert_eq(got, 0u);
    /* And takes what has arrived, at once. */
    deliver(c, s, "now");
    t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &got, 0), SK_OK);
    tu_assert_took(t0, 0);
    cr_assert_eq(got, 3u);
    cr_assert_arr_eq(buf, "now", 3);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_nonblocking, send_with_timeout_0_returns_timedout_at_once_when_the_buffer_is_full)
{
    sk_tcp *c, *s;
    char byte = 'b';
    size_t sent = 99;
    tu_tcp_pair(NULL, &c, &s);
    (void)fill_send_buffer(c);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_send(c, &byte, 1, &sent, 0), SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    cr_assert_eq(sent, 0u);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(poller_nonblocking, accept_with_timeout_0_returns_timedout_at_once_with_no_client_waiting)
{
    sk_tcp *l = NULL, *conn = DUMMY_TCP;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 16), SK_OK);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_accept(l, &conn, 0), SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    cr_assert_null(conn);
    sk_tcp_close(l);
}

Test(poller_nonblocking, udp_recvfrom_with_timeout_0_returns_timedout_at_once_when_nothing_arrived)
{
    sk_udp *u = NULL;
    char buf[16];
    size_t got = 99;
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_udp_recvfrom(u, buf, sizeof buf, &got, NULL, 0), SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    cr_assert_eq(got, 0u);
    sk_udp_close(u);
}

Test(stream_poller_nonblocking, recv_until_with_timeout_0_keeps_a_partial_record_and_returns_at_once)
{
    sk_tcp *c, *s;
    char buf[32];
    size_t len = 99;
    tu_tcp_pair(NULL, &c, &s);
    deliver(c, s, "par");
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_recv_until(s, '\n', buf, sizeof buf, &len, 0), SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    cr_assert_eq(len, 3u);
    cr_assert_arr_eq(buf, "par", 3);
    deliver(c, s, "tial\n");
    cr_assert_eq(sk_tcp_recv_until(s, '\n', buf + 3, sizeof buf - 3, &len, 0), SK_OK);
    cr_assert_eq(len, 5u);
    cr_assert_arr_eq(buf, "partial\n", 8);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_nonblocking, timeout_0_calls_leave_the_descriptors_in_blocking_mode)
{
    sk_tcp *l, *c, *s, *none = NULL;
    sk_udp *u = NULL;
    char buf[8];
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    int lflags = fcntl(sk_tcp_fd(l), F_GETFL);
    int uflags = fcntl(sk_udp_fd(u), F_GETFL);
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, NULL, 0), SK_ETIMEDOUT);
    cr_assert_eq(sk_tcp_send(c, "x", 1, NULL, 0), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &none, 0), SK_ETIMEDOUT);
    cr_assert_eq(sk_udp_recvfrom(u, buf, sizeof buf, NULL, NULL, 0), SK_ETIMEDOUT);
    cr_assert_eq(fcntl(sk_tcp_fd(s), F_GETFL) & O_NONBLOCK, 0, "a connected endpoint was left non-blocking");
    cr_assert_eq(fcntl(sk_tcp_fd(c), F_GETFL) & O_NONBLOCK, 0, "a connected endpoint was left non-blocking");
    cr_assert_eq(fcntl(sk_tcp_fd(l), F_GETFL), lflags, "accept with timeout 0 changed the listener's flags");
    cr_assert_eq(fcntl(sk_udp_fd(u), F_GETFL), uflags, "recvfrom with timeout 0 changed the endpoint's flags");
    /* A later blocking call still blocks for its budget. */
    cr_assert_eq(sk_tcp_recv(c, buf, sizeof buf, NULL, 0), SK_ETIMEDOUT);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_recv(c, buf, sizeof buf, NULL, 100), SK_ETIMEDOUT);
    tu_assert_took(t0, 100);
    sk_udp_close(u);
    sk_tcp_close(l);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* ------------------------------------------------------------------------------------ */
/* Bad input                                                                            */
/* ------------------------------------------------------------------------------------ */

Test(poller_args, create_with_a_null_out_pointer_is_einval)
{
    cr_assert_eq(sk_poller_create(NULL), SK_EINVAL);
}

Test(poller_args, create_sets_the_poller_to_null_and_leaks_nothing_when_descriptors_run_out)
{
    struct rlimit old, low;
    int dups[300], ndups = 0, rcs[3], fds_before = -1, fds_after = -1;
    sk_poller *got[3];
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(devnull, 0);
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    /* Fill every descriptor slot; then free them one at a time. No cr_assert until the
     * limit is restored. */
    while (ndups < 300) {
        int fd = fcntl(devnull, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            break;
        dups[ndups++] = fd;
    }
    int filled_errno = errno;
    for (int free_slots = 0; free_slots < 3; free_slots++) {
        if (free_slots > 0 && ndups > 0)
            close(dups[--ndups]);
        if (free_slots == 1)
            fds_before = tu_count_fds(); /* uses, then frees, the one free slot */
        got[free_slots] = DUMMY_POLLER;
        errno = 0;
        rcs[free_slots] = sk_poller_create(&got[free_slots]);
        if (free_slots == 1)
            fds_after = tu_count_fds(); /* fails (-1) if create kept a descriptor */
    }
    while (ndups > 0)
        close(dups[--ndups]);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    close(devnull);

    cr_assert_eq(filled_errno, EMFILE, "filling the table ended with %s", strerror(filled_errno));
    cr_assert_eq(rcs[0], SK_EMFILE, "no free descriptor: %s", sk_errname(rcs[0]));
    cr_assert_null(got[0]);
    cr_assert_eq(rcs[1], SK_EMFILE, "one free descriptor (a poller needs two): %s", sk_errname(rcs[1]));
    cr_assert_null(got[1]);
    cr_assert_geq(fds_before, 0);
    cr_assert_eq(fds_after, fds_before, "a failed create kept a descriptor (%d open before, %d after)", fds_before,
                 fds_after);
    cr_assert_eq(rcs[2], SK_OK, "two free descriptors: %s", sk_errname(rcs[2]));
    cr_assert_not_null(got[2]);
    cr_assert_neq(got[2], DUMMY_POLLER);
    sk_poller_close(got[2]);
}

Test(poller_args, create_failing_for_lack_of_descriptors_leaves_errno_emfile)
{
    struct rlimit old, low;
    int dups[300], ndups = 0, rc, err;
    sk_poller *p = DUMMY_POLLER;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(devnull, 0);
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    while (ndups < 300) {
        int fd = fcntl(devnull, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            break;
        dups[ndups++] = fd;
    }
    close(dups[--ndups]); /* one free: the first of the two descriptors succeeds */
    errno = 0;
    rc = sk_poller_create(&p);
    err = errno;
    while (ndups > 0)
        close(dups[--ndups]);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    close(devnull);
    cr_assert_eq(rc, SK_EMFILE);
    cr_assert_null(p);
    cr_assert_eq(err, EMFILE, "errno is %d (%s)", err, strerror(err));
}

Test(stream_poller_args, add_twice_is_einval_and_keeps_the_first_registration)
{
    sk_tcp *c, *s;
    sk_udp *u = NULL;
    sk_event ev[4];
    int a = 1, b = 2;
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_OUT, &a), SK_OK);
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_IN, &b), SK_EINVAL);
    cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_OUT, &a), SK_OK);
    cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_IN, &b), SK_EINVAL);
    size_t n = wait_ok(p, ev, 4, 0);
    cr_assert_eq(n, 2u);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ev[i].data, &a);
        cr_assert_eq(ev[i].events, SK_POLL_OUT);
    }
    sk_poller_close(p);
    sk_udp_close(u);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_args, adding_an_endpoint_registered_with_another_poller_is_einval)
{
    sk_tcp *c, *s;
    sk_udp *u = NULL;
    sk_event ev[4];
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    sk_poller *p = poller_new(), *q = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_OUT, NULL), SK_OK);
    cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_OUT, NULL), SK_OK);
    cr_assert_eq(sk_poller_add_tcp(q, c, SK_POLL_OUT, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_add_udp(q, u, SK_POLL_OUT, NULL), SK_EINVAL);
    wait_none(q, 0);
    cr_assert_eq(wait_ok(p, ev, 4, 0), 2u);
    sk_poller_close(q);
    sk_poller_close(p);
    sk_udp_close(u);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_args, mod_and_del_of_an_endpoint_never_added_are_einval)
{
    sk_tcp *c, *s;
    sk_udp *u = NULL;
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_mod_tcp(p, c, SK_POLL_IN, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_del_tcp(p, c), SK_EINVAL);
    cr_assert_eq(sk_poller_mod_udp(p, u, SK_POLL_IN, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_del_udp(p, u), SK_EINVAL);
    /* Nor after a del. */
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_OUT, NULL), SK_OK);
    cr_assert_eq(sk_poller_del_tcp(p, c), SK_OK);
    cr_assert_eq(sk_poller_del_tcp(p, c), SK_EINVAL);
    cr_assert_eq(sk_poller_mod_tcp(p, c, SK_POLL_OUT, NULL), SK_EINVAL);
    wait_none(p, 0);
    sk_poller_close(p);
    sk_udp_close(u);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_args, mod_and_del_through_another_poller_are_einval_and_change_nothing)
{
    sk_tcp *c, *s;
    sk_udp *u = NULL;
    sk_event ev[4];
    int a = 1, b = 2;
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    sk_poller *p = poller_new(), *q = poller_new();
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_OUT, &a), SK_OK);
    cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_OUT, &a), SK_OK);
    cr_assert_eq(sk_poller_mod_tcp(q, c, SK_POLL_IN, &b), SK_EINVAL);
    cr_assert_eq(sk_poller_del_tcp(q, c), SK_EINVAL);
    cr_assert_eq(sk_poller_mod_udp(q, u, SK_POLL_IN, &b), SK_EINVAL);
    cr_assert_eq(sk_poller_del_udp(q, u), SK_EINVAL);
    size_t n = wait_ok(p, ev, 4, 0);
    cr_assert_eq(n, 2u);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ev[i].data, &a);
        cr_assert_eq(ev[i].events, SK_POLL_OUT);
    }
    sk_poller_close(q);
    sk_poller_close(p);
    sk_udp_close(u);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_args, unknown_event_bits_are_einval_for_add_and_mod_and_change_nothing)
{
    static const unsigned bad[] = {SK_POLL_HUP, SK_POLL_ERR, SK_POLL_WAKE, SK_POLL_IN | 0x20u, 0x100u, 0x80000000u};
    sk_tcp *c, *s;
    sk_udp *u = NULL;
    sk_event ev[4];
    int a = 1;
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    sk_poller *p = poller_new();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(sk_poller_add_tcp(p, c, bad[i], NULL), SK_EINVAL, "add_tcp with %#x", bad[i]);
        cr_assert_eq(sk_poller_add_udp(p, u, bad[i], NULL), SK_EINVAL, "add_udp with %#x", bad[i]);
    }
    wait_none(p, 0); /* nothing was registered */
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_OUT, &a), SK_OK);
    cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_OUT, &a), SK_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(sk_poller_mod_tcp(p, c, bad[i], NULL), SK_EINVAL, "mod_tcp with %#x", bad[i]);
        cr_assert_eq(sk_poller_mod_udp(p, u, bad[i], NULL), SK_EINVAL, "mod_udp with %#x", bad[i]);
    }
    size_t n = wait_ok(p, ev, 4, 0);
    cr_assert_eq(n, 2u);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ev[i].data, &a);
        cr_assert_eq(ev[i].events, SK_POLL_OUT);
    }
    sk_poller_close(p);
    sk_udp_close(u);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_poller_args, null_poller_or_endpoint_is_einval_for_add_mod_and_del)
{
    sk_tcp *c, *s;
    sk_udp *u = NULL;
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_add_tcp(NULL, c, SK_POLL_IN, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_add_tcp(p, NULL, SK_POLL_IN, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_add_udp(NULL, u, SK_POLL_IN, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_add_udp(p, NULL, SK_POLL_IN, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL), SK_OK);
    cr_assert_eq(sk_poller_add_udp(p, u, SK_POLL_IN, NULL), SK_OK);
    cr_assert_eq(sk_poller_mod_tcp(NULL, s, SK_POLL_IN, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_mod_tcp(p, NULL, SK_POLL_IN, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_mod_udp(NULL, u, SK_POLL_IN, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_mod_udp(p, NULL, SK_POLL_IN, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_del_tcp(NULL, s), SK_EINVAL);
    cr_assert_eq(sk_poller_del_tcp(p, NULL), SK_EINVAL);
    cr_assert_eq(sk_poller_del_udp(NULL, u), SK_EINVAL);
    cr_assert_eq(sk_poller_del_udp(p, NULL), SK_EINVAL);
    /* Still registered after all that. */
    cr_assert_eq(sk_poller_del_tcp(p, s), SK_OK);
    cr_assert_eq(sk_poller_del_udp(p, u), SK_OK);
    sk_poller_close(p);
    sk_udp_close(u);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(poller_args, wait_with_a_null_poller_or_array_or_cap_0_is_einval_and_stores_0)
{
    sk_event ev[4];
    size_t n;
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_wake(p), SK_OK); /* something to report, were the call valid */
    n = 99;
    cr_assert_eq(sk_poller_wait(NULL, ev, 4, &n, 0), SK_EINVAL);
    cr_assert_eq(n, 0u);
    n = 99;
    cr_assert_eq(sk_poller_wait(p, NULL, 4, &n, 0), SK_EINVAL);
    cr_assert_eq(n, 0u);
    n = 99;
    cr_assert_eq(sk_poller_wait(p, ev, 0, &n, 0), SK_EINVAL);
    cr_assert_eq(n, 0u);
    /* The wake-up is still there for a valid call. */
    cr_assert_eq(wait_ok(p, ev, 4, 0), 1u);
    cr_assert_eq(ev[0].events, SK_POLL_WAKE);
    sk_poller_close(p);
}

Test(poller_args, wait_with_a_negative_timeout_other_than_forever_is_einval)
{
    sk_event ev[4];
    size_t n = 99;
    sk_poller *p = poller_new();
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_poller_wait(p, ev, 4, &n, -2), SK_EINVAL);
    cr_assert_eq(n, 0u);
    n = 99;
    cr_assert_eq(sk_poller_wait(p, ev, 4, &n, -1000), SK_EINVAL);
    cr_assert_eq(n, 0u);
    tu_assert_took(t0, 0);
    sk_poller_close(p);
}

Test(poller_args, wait_accepts_a_null_count)
{
    sk_event ev[4];
    memset(ev, 0, sizeof ev);
    sk_poller *p = poller_new();
    cr_assert_eq(sk_poller_wake(p), SK_OK);
    cr_assert_eq(sk_poller_wait(p, ev, 4, NULL, 0), SK_OK);
    cr_assert_eq(ev[0].events, SK_POLL_WAKE);
    cr_assert_eq(sk_poller_wait(p, ev, 4, NULL, 0), SK_ETIMEDOUT);
    sk_poller_close(p);
}

Test(poller_args, wake_of_null_is_einval_and_close_of_null_is_a_no_op)
{
    cr_assert_eq(sk_poller_wake(NULL), SK_EINVAL);
    sk_poller_close(NULL);
}
