/* Cancelling an endpoint (sk_tcp_cancel, sk_udp_cancel): a call blocked on it, in
 * another thread or interrupted by a signal, returns SK_ECANCELED with its byte
 * count; every later call returns SK_ECANCELED at once; only close is left.
 *
 * The suites named stream* run over TCP and again over Unix domain sockets
 * (tests/CMakeLists.txt). Every helper thread stops by itself (finite budgets) and
 * never calls cr_assert: the test thread checks what it recorded after pthread_join.
 * A cancelled call must return long before its budget (LONG_MS): that it returns at
 * all within the test's timeout is what is checked, never how fast. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "testutil.h"
#include "signal_util.h"

TestSuite(stream_cancel, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(tcp_cancel, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(udp_cancel, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

/* The budget of the calls a cancel must end: far longer than any test runs. */
#define LONG_MS 40000
/* How long the test waits before cancelling, so that the call is blocked by then
 * (if it is not yet, it meets the cancel at its start: the outcome is the same). */
#define SETTLE_MS 200

#define BIG ((size_t)64 << 20)

/* Cancels a TCP or UDP endpoint after delay_ms, from its own thread. */
struct canceller {
    sk_tcp *tcp;
    sk_udp *udp;
    int delay_ms;
    int rc;
};

static void *cancel_job(void *p)
{
    struct canceller *c = p;
    tu_sleep_ms(c->delay_ms);
    c->rc = c->tcp != NULL ? sk_tcp_cancel(c->tcp) : sk_udp_cancel(c->udp);
    return NULL;
}

static void start_cancel(pthread_t *th, struct canceller *c, sk_tcp *tcp, sk_udp *udp)
{
    c->tcp = tcp;
    c->udp = udp;
    c->delay_ms = SETTLE_MS;
    c->rc = 12345;
    cr_assert_eq(pthread_create(th, NULL, cancel_job, c), 0);
}

static void join_cancel(pthread_t th, struct canceller *c)
{
    pthread_join(th, NULL);
    cr_assert_eq(c->rc, SK_OK, "the cancel: %s", sk_errname(c->rc));
}

static unsigned char *pattern(size_t n)
{
    unsigned char *b = malloc(n);
    cr_assert_not_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)((i * 131u + 7u) >> 3);
    return b;
}

Test(stream_cancel, a_recv_exact_blocked_halfway_returns_ecanceled_with_the_bytes_that_came)
{
    sk_tcp *c, *s;
    unsigned char buf[1000];
    size_t got = 12345;
    pthread_t th;
    struct canceller k;
    int rc;

    tu_tcp_pair(NULL, &c, &s);
    tu_send_ok(c, "0123456789", 10, 5000);
    start_cancel(&th, &k, s, NULL);
    rc = sk_tcp_recv_exact(s, buf, sizeof buf, &got, LONG_MS);
    join_cancel(th, &k);
    cr_assert_eq(rc, SK_ECANCELED, "recv_exact: %s", sk_errname(rc));
    cr_assert_eq(errno, ECANCELED);
    cr_assert_eq(got, 10, "received %zu, not the 10 bytes that came", got);
    cr_assert_eq(memcmp(buf, "0123456789", 10), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* What send_all reports as sent is in the kernel's hands: the cancel's shutdown
 * delivers it, then end of stream. The peer reads exactly that many bytes. */
Test(stream_cancel, a_send_all_blocked_halfway_returns_ecanceled_and_the_peer_gets_exactly_what_it_reported)
{
    sk_tcp *c, *s;
    unsigned char *out = pattern(BIG), *in = malloc(BIG);
    size_t sent = 12345, got = 0;
    pthread_t th;
    struct canceller k;
    int rc;

    cr_assert_not_null(in);
    tu_tcp_pair(NULL, &c, &s);
    start_cancel(&th, &k, c, NULL);
    rc = sk_tcp_send_all(c, out, BIG, &sent, LONG_MS);
    join_cancel(th, &k);
    cr_assert_eq(rc, SK_ECANCELED, "send_all: %s", sk_errname(rc));
    cr_assert_gt(sent, 0, "nothing went before the cancel: the buffers were not filled");
    cr_assert_lt(sent, BIG, "everything went: the peer's buffers took %zu bytes", BIG);
    rc = sk_tcp_recv_exact(s, in, BIG, &got, LONG_MS);
    cr_assert_eq(rc, SK_ECLOSED, "the peer: %s after %zu bytes", sk_errname(rc), got);
    cr_assert_eq(got, sent, "the peer got %zu bytes, the sender reported %zu", got, sent);
    cr_assert_eq(tu_first_diff(in, out, got), (size_t)-1);
    sk_tcp_close(c);
    sk_tcp_close(s);
    free(out);
    free(in);
}

Test(stream_cancel, a_blocked_accept_returns_ecanceled)
{
    sk_tcp *l, *conn = (sk_tcp *)&conn;
    pthread_t th;
    struct canceller k;
    int rc;

    tu_tcp_pair(&l, NULL, NULL);
    start_cancel(&th, &k, l, NULL);
    rc = sk_tcp_accept(l, &conn, LONG_MS);
    join_cancel(th, &k);
    cr_assert_eq(rc, SK_ECANCELED, "accept: %s", sk_errname(rc));
    cr_assert_null(conn);
    sk_tcp_close(l);
}

Test(stream_cancel, a_blocked_recv_until_returns_ecanceled_with_the_partial_record)
{
    sk_tcp *c, *s;
    char buf[100];
    size_t len = 12345;
    pthread_t th;
    struct canceller k;
    int rc;

    tu_tcp_pair(NULL, &c, &s);
    tu_send_ok(c, "no newline yet", 14, 5000);
    start_cancel(&th, &k, s, NULL);
    rc = sk_tcp_recv_until(s, '\n', buf, sizeof buf, &len, LONG_MS);
    join_cancel(th, &k);
    cr_assert_eq(rc, SK_ECANCELED, "recv_until: %s", sk_errname(rc));
    cr_assert_eq(len, 14);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* Sticky: after a cancel nothing moves, not even bytes already read ahead, and the
 * calls that change the endpoint refuse; the ones that describe it answer. */
Test(stream_cancel, every_later_call_returns_ecanceled_at_once_and_only_the_describing_calls_answer)
{
    sk_tcp *l, *c, *s, *conn = (sk_tcp *)&conn;
    char buf[64];
    size_t n = 12345;
    sk_addr a;
    sk_iovec v = {"x", 1};
    int64_t t0;

    tu_tcp_pair(&l, &c, &s);
    tu_send_ok(c, "one\ntwo\n", 8, 5000);
    cr_assert_eq(sk_tcp_recv_until(s, '\n', buf, sizeof buf, &n, 5000), SK_OK);
    cr_assert_eq(n, 4);
    cr_assert_gt(sk_tcp_buffered(s), 0, "the second record was not read ahead");
    cr_assert_eq(sk_tcp_cancel(s), SK_OK);
    cr_assert_eq(sk_tcp_cancel(s), SK_OK, "a second cancel is harmless");
    cr_assert_eq(sk_tcp_cancel(l), SK_OK);

    t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_recv_until(s, '\n', buf, sizeof buf, &n, LONG_MS), SK_ECANCELED);
    cr_assert_eq(n, 0);
    cr_assert_eq(errno, ECANCELED);
    cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &n, LONG_MS), SK_ECANCELED);
    cr_assert_eq(n, 0, "the read-ahead bytes were given out after the cancel");
    cr_assert_eq(sk_tcp_recv_exact(s, buf, 1, &n, LONG_MS), SK_ECANCELED);
    cr_assert_eq(sk_tcp_send(s, "x", 1, &n, LONG_MS), SK_ECANCELED);
    cr_assert_eq(n, 0);
    cr_assert_eq(sk_tcp_send_all(s, "x", 1, &n, 0), SK_ECANCELED);
    cr_assert_eq(sk_tcp_send_allv(s, &v, 1, &n, LONG_MS), SK_ECANCELED);
    cr_assert_eq(sk_tcp_send_all(s, NULL, 0, &n, LONG_MS), SK_ECANCELED, "even an empty send");
    cr_assert_eq(sk_tcp_shutdown(s, SK_SHUT_WR), SK_ECANCELED);
    cr_assert_eq(sk_tcp_set_nodelay(s, 1), strcmp(tu_stream_kind(), "tcp") == 0 ? SK_ECANCELED : SK_EINVAL);
    cr_assert_eq(sk_tcp_accept(l, &conn, LONG_MS), SK_ECANCELED);
    cr_assert_null(conn);
    cr_assert_lt(tu_now_ms() - t0, LONG_MS / 2, "the refusals waited");

    cr_assert_eq(sk_tcp_local_addr(s, &a), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    cr_assert_geq(sk_tcp_fd(s), 0);
    cr_assert_gt(sk_tcp_buffered(s), 0);
    sk_tcp_close(l);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* The peer of a cancelled endpoint sees an orderly end of stream (the shutdown). */
Test(stream_cancel, the_peer_of_a_cancelled_endpoint_sees_end_of_stream)
{
    sk_tcp *c, *s;
    char buf[8];
    size_t n = 12345;
    int rc;

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_cancel(c), SK_OK);
    rc = sk_tcp_recv(s, buf, sizeof buf, &n, 5000);
    cr_assert_eq(rc, SK_ECLOSED, "the peer: %s", sk_errname(rc));
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_cancel, close_graceful_after_a_cancel_returns_ecanceled_and_still_frees)
{
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_cancel(s), SK_OK);
    cr_assert_eq(sk_tcp_close_graceful(s, 5000), SK_ECANCELED);
    sk_tcp_close(c);
    /* The guard of the suite checks that s's descriptor was closed. */
}

/* ---- from a signal handler ------------------------------------------------------ */

static sk_tcp *volatile g_target;
static volatile sig_atomic_t g_errno_kept = -1, g_cancel_rc = 12345;

static void on_usr1(int sig)
{
    (void)sig;
    errno = EDOM;
    g_cancel_rc = sk_tcp_cancel(g_target);
    g_errno_kept = errno == EDOM;
}

Test(tcp_cancel, a_signal_handler_cancels_the_recv_it_interrupted_and_keeps_errno)
{
    sk_tcp *c, *s;
    struct tu_signal_once sg;
    pthread_t th;
    char buf[16];
    size_t n = 12345;
    int rc;

    tu_tcp_pair_on("127.0.0.1", NULL, &c, &s);
    g_target = s;
    /* The recv sees EINTR, then the cancel. */
    th = tu_signal_once_start(&sg, on_usr1, SETTLE_MS);
    rc = sk_tcp_recv(s, buf, sizeof buf, &n, LONG_MS);
    tu_signal_once_done(&sg, th);
    cr_assert_eq(g_cancel_rc, SK_OK);
    cr_assert_eq(g_errno_kept, 1, "the cancel changed errno in the handler");
    cr_assert_eq(rc, SK_ECANCELED, "recv: %s", sk_errname(rc));
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(tcp_cancel, a_null_endpoint_is_einval)
{
    cr_assert_eq(sk_tcp_cancel(NULL), SK_EINVAL);
    cr_assert_eq(sk_udp_cancel(NULL), SK_EINVAL);
}

/* ---- datagrams ------------------------------------------------------------------ */

static void recv_blocked_then_cancelled(sk_udp *u)
{
    char buf[64];
    size_t n = 12345;
    sk_addr from;
    pthread_t th;
    struct canceller k;
    int rc;

    start_cancel(&th, &k, NULL, u);
    rc = sk_udp_recvfrom(u, buf, sizeof buf, &n, &from, LONG_MS);
    join_cancel(th, &k);
    cr_assert_eq(rc, SK_ECANCELED, "recvfrom: %s", sk_errname(rc));
    cr_assert_eq(n, 0);
    /* Sticky, whatever the kernel does with a later call on the socket. */
    cr_assert_eq(sk_udp_recvfrom(u, buf, sizeof buf, &n, &from, LONG_MS), SK_ECANCELED);
    cr_assert_eq(sk_udp_recv(u, buf, sizeof buf, &n, 0), SK_ECANCELED);
}

Test(udp_cancel, a_blocked_recvfrom_on_an_unconnected_endpoint_returns_ecanceled)
{
    sk_udp *u;
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    recv_blocked_then_cancelled(u);
    sk_udp_close(u);
}

Test(udp_cancel, a_blocked_recv_on_a_connected_ipv6_endpoint_returns_ecanceled)
{
    sk_udp *srv, *u;
    sk_addr a;
    cr_assert_eq(sk_udp_bind(&srv, "::1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(srv, &a), SK_OK);
    cr_assert_eq(sk_udp_connect(&u, "::1", sk_addr_port(&a)), SK_OK);
    recv_blocked_then_cancelled(u);
    sk_udp_close(u);
    sk_udp_close(srv);
}

Test(udp_cancel, a_blocked_recv_on_a_unix_datagram_endpoint_returns_ecanceled)
{
    sk_udp *u;
    char name[64];
    snprintf(name, sizeof name, "@sk-test-cancel-%d", (int)getpid());
    cr_assert_eq(sk_unix_dgram_bind(&u, name), SK_OK);
    recv_blocked_then_cancelled(u);
    sk_udp_close(u);
}

Test(udp_cancel, every_later_call_returns_ecanceled_even_with_datagrams_waiting)
{
    sk_udp *u, *peer;
    sk_addr a;
    sk_dgram d[2];
    char buf[16];
    size_t n = 12345;

    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(u, &a), SK_OK);
    cr_assert_eq(sk_udp_connect(&peer, "127.0.0.1", sk_addr_port(&a)), SK_OK);
    cr_assert_eq(sk_udp_send(peer, "hello", 5, 5000), SK_OK);
    tu_wait_fd(sk_udp_fd(u), POLLIN, 5000);
    cr_assert_eq(sk_udp_cancel(u), SK_OK);
    cr_assert_eq(sk_udp_recvfrom(u, buf, sizeof buf, &n, NULL, 5000), SK_ECANCELED);
    cr_assert_eq(n, 0, "a waiting datagram was given out after the cancel");
    memset(d, 0, sizeof d);
    d[0].buf = buf;
    d[0].len = sizeof buf;
    cr_assert_eq(sk_udp_recv_batch(u, d, 1, &n, 5000), SK_ECANCELED);
    cr_assert_eq(sk_udp_recv_batch(u, d, 0, &n, 5000), SK_ECANCELED, "even an empty batch");
    cr_assert_eq(sk_udp_send_batch(u, d, 0, &n, 5000), SK_ECANCELED);
    cr_assert_eq(sk_udp_sendto(u, "x", 1, &a, 5000), SK_ECANCELED);
    cr_assert_eq(sk_udp_local_addr(u, &a), SK_OK, "the describing calls still answer");
    /* The peer is untouched. */
    cr_assert_eq(sk_udp_send(peer, "again", 5, 5000), SK_OK);
    sk_udp_close(u);
    sk_udp_close(peer);
}
