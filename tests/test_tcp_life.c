/* How a TCP connection ends and how a dead peer is noticed (include/sockkit/tcp.h):
 * sk_tcp_close_graceful, sk_tcp_abort, sk_tcp_set_keepalive, sk_tcp_set_user_timeout.
 *
 * Every helper thread here stops by itself (finite budgets, bounded loops) and never
 * calls cr_assert: it records what happened and the test thread checks it after
 * pthread_join. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "testutil.h"

TestSuite(tcp_close, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_close, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(tcp_options, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

/* A budget for steps that are expected to succeed: long enough for a noisy machine,
 * short enough that a hang ends the test. */
#define LONG_MS 20000
/* The far side of "never before the budget": returning this much later still passes. */
#define LATE_MS 5000

#define CHUNK ((size_t)64 * 1024)
/* The most a response may take to fill both ends' buffers (loopback's are a few MiB). */
#define FILL_MAX_CHUNKS 1024

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 131u + 7u) >> 3);
}

/* The classic case: the peer (client) sends a request that we (server) never read,
 * then we send a response until neither our send buffer nor the client's receive
 * buffer can take more, without the client reading. Returns the response's length.
 * When it returns, the request sits unread in our receive queue, and part of the
 * response still sits in our send queue. */
static size_t unread_request_and_full_response(sk_tcp *client, sk_tcp *server)
{
    static const char request[] = "GET / HTTP/1.1\r\n\r\n";
    unsigned char *chunk = malloc(CHUNK);
    size_t total = 0;
    int rc = SK_OK, i;

    cr_assert_not_null(chunk);
    tu_send_ok(client, request, sizeof request - 1, LONG_MS);
    tu_wait_fd(sk_tcp_fd(server), POLLIN, LONG_MS); /* the request has arrived */
    for (i = 0; i < FILL_MAX_CHUNKS && rc == SK_OK; i++) {
        size_t sent = 0;
        for (size_t k = 0; k < CHUNK; k++)
            chunk[k] = pattern_byte(total + k);
        rc = sk_tcp_send(server, chunk, CHUNK, &sent, 0);
        total += sent;
    }
    free(chunk);
    cr_assert_eq(rc, SK_ETIMEDOUT, "filling the buffers: %s after %zu bytes", sk_errname(rc), total);
    cr_assert_gt(total, 0);
    return total;
}

/* Reads until the end of stream or a failure; checks every byte read against the
 * pattern; returns the code that ended it and stores the count. */
static int read_response(sk_tcp *client, size_t *got)
{
    unsigned char *buf = malloc(CHUNK);
    int rc = SK_OK;
    cr_assert_not_null(buf);
    *got = 0;
    while (rc == SK_OK) {
        size_t n = 0;
        rc = sk_tcp_recv(client, buf, CHUNK, &n, LONG_MS);
        for (size_t k = 0; k < n; k++)
            cr_assert_eq(buf[k], pattern_byte(*got + k), "response byte %zu differs", *got + k);
        *got += n;
    }
    free(buf);
    return rc;
}

struct closer {
    sk_tcp *conn;
    int timeout_ms;
    int rc;
    int64_t elapsed_ms;
};

static void *close_graceful_job(void *p)
{
    struct closer *c = p;
    int64_t start = tu_now_ms();
    c->rc = sk_tcp_close_graceful(c->conn, c->timeout_ms);
    c->elapsed_ms = tu_now_ms() - start;
    return NULL;
}

/* Reads until the end of stream, then closes: a peer that closes in time. */
static void *read_to_end_and_close_job(void *p)
{
    sk_tcp *conn = p;
    char buf[256];
    size_t n;
    for (int i = 0; i < 100000 && sk_tcp_recv(conn, buf, sizeof buf, &n, LONG_MS) == SK_OK; i++)
        ;
    sk_tcp_close(conn);
    return NULL;
}

/* A connection whose client end was aborted: returns the server end, once the reset
 * has arrived there. */
static sk_tcp *reset_by_peer(void)
{
    sk_tcp *client, *server;
    tu_tcp_pair(NULL, &client, &server);
    sk_tcp_abort(client);
    tu_wait_fd(sk_tcp_fd(server), POLLIN | POLLHUP | POLLERR, LONG_MS);
    return server;
}

static int get_int_opt(sk_tcp *t, int level, int name)
{
    int v = -12345;
    socklen_t len = sizeof v;
    cr_assert_eq(getsockopt(sk_tcp_fd(t), level, name, &v, &len), 0, "getsockopt: %s", strerror(errno));
    return v;
}

static void expect_keepalive(sk_tcp *t, int on, int idle, int intvl, int cnt)
{
    cr_expect_eq(get_int_opt(t, SOL_SOCKET, SO_KEEPALIVE) != 0, on != 0, "SO_KEEPALIVE");
    cr_expect_eq(get_int_opt(t, IPPROTO_TCP, TCP_KEEPIDLE), idle, "TCP_KEEPIDLE");
    cr_expect_eq(get_int_opt(t, IPPROTO_TCP, TCP_KEEPINTVL), intvl, "TCP_KEEPINTVL");
    cr_expect_eq(get_int_opt(t, IPPROTO_TCP, TCP_KEEPCNT), cnt, "TCP_KEEPCNT");
}

/* ------------------------------------------------------------------------------------ */
/* Graceful and abortive close                                                          */
/* ------------------------------------------------------------------------------------ */

/* A shutdown that fails because the peer's reset came first leaves no trace: a later
 * send reports the reset, not SK_ECLOSED as after a shutdown of ours (found by
 * tests/fuzz/fuzz_api_state). */
Test(tcp_close, a_shutdown_that_failed_after_a_reset_is_not_taken_for_ours_by_a_later_send)
{
    sk_tcp *client, *server;
    size_t sent, got;
    char buf[16];
    struct pollfd p = {0};
    int rc;

    tu_tcp_pair(NULL, &client, &server);
    cr_assert_eq(sk_tcp_send_all(client, "unread", 6, &sent, 2000), SK_OK);
    p.fd = sk_tcp_fd(server);
    p.events = POLLIN;
    cr_assert_eq(poll(&p, 1, 2000), 1, "the bytes never reached the server");
    sk_tcp_close(server); /* with them unread: a reset */
    p.fd = sk_tcp_fd(client);
    p.revents = 0;
    for (int i = 0; i < 200 && !(p.revents & (POLLERR | POLLHUP)); i++)
        (void)poll(&p, 1, 10);
    cr_assert(p.revents & (POLLERR | POLLHUP), "no reset reached the client");
    /* A receive takes the reset (the socket's pending error): what follows sees only
     * a closed connection, EPIPE. */
    cr_assert_eq(sk_tcp_recv(client, buf, sizeof buf, &got, 0), SK_ECONNRESET);
    rc = sk_tcp_shutdown(client, SK_SHUT_WR);
    cr_assert_neq(rc, SK_OK, "shutdown of a reset connection succeeded");
    rc = sk_tcp_send_all(client, "x", 1, &sent, 2000);
    cr_expect_eq(rc, SK_ECONNRESET, "send after the failed shutdown: %s", sk_errname(rc));
    cr_expect_eq(sent, 0);
    sk_tcp_close(client);
}

Test(tcp_close, plain_close_with_an_unread_request_resets_and_the_peer_loses_the_end_of_the_response)
{
    sk_tcp *client, *server;
    size_t total, got;
    int rc;

    tu_tcp_pair(NULL, &client, &server);
    total = unread_request_and_full_response(client, server);
    sk_tcp_close(server); /* unread bytes: the system sends a reset */
    rc = read_response(client, &got);
    cr_expect_eq(rc, SK_ECONNRESET, "the peer saw %s after %zu of %zu bytes", sk_errname(rc), got, total);
    cr_expect_lt(got, total, "the peer read all %zu bytes despite the reset", total);
    sk_tcp_close(client);
}

Test(stream_close, graceful_close_with_an_unread_request_lets_the_peer_read_the_whole_response_and_then_eof)
{
    sk_tcp *client, *server;
    struct closer c = {0};
    pthread_t th;
    size_t total, got;
    int rc;

    tu_tcp_pair(NULL, &client, &server);
    total = unread_request_and_full_response(client, server);
    c.conn = server;
    c.timeout_ms = LONG_MS;
    cr_assert_eq(pthread_create(&th, NULL, close_graceful_job, &c), 0);
    rc = read_response(client, &got);
    cr_expect_eq(rc, SK_ECLOSED, "the peer saw %s after %zu of %zu bytes", sk_errname(rc), got, total);
    cr_expect_eq(got, total);
    sk_tcp_close(client); /* everything read: an orderly end of stream */
    pthread_join(th, NULL);
    cr_expect_eq(c.rc, SK_OK, "sk_tcp_close_graceful: %s", sk_errname(c.rc));
}

Test(stream_close, close_graceful_returns_ok_when_the_peer_closes_in_time_with_a_finite_or_no_budget)
{
    static const int budgets[] = {LONG_MS, SK_FOREVER};

    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        sk_tcp *client, *server;
        pthread_t th;
        tu_tcp_pair(NULL, &client, &server);
        cr_assert_eq(pthread_create(&th, NULL, read_to_end_and_close_job, client), 0);
        cr_expect_eq(sk_tcp_close_graceful(server, budgets[i]), SK_OK, "budget %d", budgets[i]);
        pthread_join(th, NULL);
    }
}

Test(stream_close, close_graceful_discards_what_the_peer_sends_before_its_end_of_stream)
{
    sk_tcp *client, *server;
    static char junk[100000];

    tu_tcp_pair(NULL, &client, &server);
    tu_send_ok(client, junk, sizeof junk, LONG_MS);
    sk_tcp_close(client);
    cr_expect_eq(sk_tcp_close_graceful(server, LONG_MS), SK_OK);
}

Test(stream_close, close_graceful_times_out_not_before_its_budget_when_the_peer_never_closes)
{
    sk_tcp *client, *server;
    int64_t start, el;
    int rc;
    char b;
    size_t n;

    tu_tcp_pair(NULL, &client, &server);
    start = tu_now_ms();
    rc = sk_tcp_close_graceful(server, 200);
    el = tu_now_ms() - start;
    cr_expect_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_expect_eq(errno, ETIMEDOUT);
    cr_expect_geq(el, 200, "returned after %lld ms, before its 200 ms budget", (long long)el);
    cr_expect_lt(el, 200 + LATE_MS, "returned after %lld ms", (long long)el);
    /* The peer got our end of stream, not a reset: nothing of its was unread. */
    cr_expect_eq(sk_tcp_recv(client, &b, 1, &n, LONG_MS), SK_ECLOSED);
    sk_tcp_close(client);
}

Test(stream_close, close_graceful_with_a_budget_of_0_times_out_at_once_when_the_peer_has_not_closed)
{
    sk_tcp *client, *server;
    int64_t start, el;
    int rc;

    tu_tcp_pair(NULL, &client, &server);
    tu_send_ok(client, "x", 1, LONG_MS);
    tu_wait_fd(sk_tcp_fd(server), POLLIN, LONG_MS);
    start = tu_now_ms();
    rc = sk_tcp_close_graceful(server, 0);
    el = tu_now_ms() - start;
    cr_expect_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_expect_lt(el, LATE_MS, "a budget of 0 took %lld ms", (long long)el);
    sk_tcp_close(client);
}

Test(stream_close, close_graceful_with_a_budget_of_0_succeeds_when_the_peer_has_already_closed)
{
    sk_tcp *client, *server;

    tu_tcp_pair(NULL, &client, &server);
    sk_tcp_close(client);
    tu_wait_fd(sk_tcp_fd(server), POLLIN, LONG_MS); /* its end of stream has arrived */
    cr_expect_eq(sk_tcp_close_graceful(server, 0), SK_OK);
}

Test(tcp_close, close_graceful_reports_a_reset_from_the_peer)
{
    sk_tcp *client, *server;
    int rc;

    tu_tcp_pair(NULL, &client, &server);
    sk_tcp_abort(client);
    rc = sk_tcp_close_graceful(server, LONG_MS);
    cr_expect_eq(rc, SK_ECONNRESET, "got %s", sk_errname(rc));
}

Test(tcp_close, close_graceful_reports_a_reset_that_arrived_before_the_call)
{
    int rc = sk_tcp_close_graceful(reset_by_peer(), 0);
    cr_expect_eq(rc, SK_ECONNRESET, "got %s", sk_errname(rc));
}

Test(stream_close, close_graceful_frees_even_on_bad_input_and_refuses_null)
{
    sk_tcp *listener, *client, *server;

    cr_expect_eq(sk_tcp_close_graceful(NULL, 100), SK_EINVAL);
    cr_expect_eq(errno, EINVAL);
    tu_tcp_pair(&listener, &client, &server);
    /* Freed all the same: the descriptor guard and the leak checkers would see them. */
    cr_expect_eq(sk_tcp_close_graceful(listener, 100), SK_EINVAL);
    cr_expect_eq(sk_tcp_close_graceful(server, -2), SK_EINVAL);
    sk_tcp_close(client);
}

Test(stream_close, close_graceful_inside_a_poller_batch_cancels_the_endpoints_events_as_close_does)
{
    sk_tcp *client, *server;
    sk_poller *p;
    static sk_event ev[4]; /* stays valid until the next wait, as the poller asks */
    size_t n = 0;

    tu_tcp_pair(NULL, &client, &server);
    cr_assert_eq(sk_poller_create(&p), SK_OK);
    cr_assert_eq(sk_poller_add_tcp(p, server, SK_POLL_IN, NULL), SK_OK);
    sk_tcp_close(client);
    cr_assert_eq(sk_poller_wait(p, ev, 4, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ev[0].tcp, server);
    cr_expect_eq(sk_tcp_close_graceful(server, LONG_MS), SK_OK);
    cr_expect_null(ev[0].tcp);
    cr_expect_eq(ev[0].events, 0u);
    cr_expect_eq(sk_poller_wait(p, ev, 4, &n, 0), SK_ETIMEDOUT, "a freed endpoint was reported");
    cr_expect_eq(n, 0);
    sk_poller_close(p);
}

Test(tcp_close, abort_makes_the_peer_see_a_reset)
{
    sk_tcp *client, *server;
    char b;
    size_t n = 7;
    int rc;

    tu_tcp_pair(NULL, &client, &server);
    sk_tcp_abort(server);
    rc = sk_tcp_recv(client, &b, 1, &n, LONG_MS);
    cr_expect_eq(rc, SK_ECONNRESET, "got %s", sk_errname(rc));
    cr_expect_eq(errno, ECONNRESET);
    cr_expect_eq(n, 0);
    sk_tcp_close(client);
}

Test(tcp_close, abort_makes_a_raw_recv_fail_with_econnreset)
{
    sk_tcp *server = reset_by_peer();
    char b;

    errno = 0;
    cr_expect_eq(recv(sk_tcp_fd(server), &b, 1, 0), -1);
    cr_expect_eq(errno, ECONNRESET, "errno %d (%s)", errno, strerror(errno));
    sk_tcp_close(server);
}

Test(tcp_close, abort_of_null_is_a_no_op_and_of_a_listener_closes_it)
{
    sk_tcp *listener;

    sk_tcp_abort(NULL);
    cr_assert_eq(sk_tcp_listen(&listener, "127.0.0.1", 0, 4), SK_OK);
    sk_tcp_abort(listener);
}

Test(tcp_close, graceful_close_and_abort_work_over_ipv6_loopback)
{
    sk_tcp *client, *server, *l;
    char b;
    size_t n;

    if (sk_tcp_listen(&l, "::1", 0, 4) != SK_OK)
        cr_skip_test("no IPv6 loopback here");
    sk_tcp_close(l);
    tu_tcp_pair_on("::1", NULL, &client, &server);
    sk_tcp_close(client);
    cr_expect_eq(sk_tcp_close_graceful(server, LONG_MS), SK_OK);
    tu_tcp_pair_on("::1", NULL, &client, &server);
    sk_tcp_abort(server);
    cr_expect_eq(sk_tcp_recv(client, &b, 1, &n, LONG_MS), SK_ECONNRESET);
    sk_tcp_close(client);
}

/* ------------------------------------------------------------------------------------ */
/* Keepalive and the user timeout                                                       */
/* ------------------------------------------------------------------------------------ */

Test(tcp_options, keepalive_is_off_by_default)
{
    sk_tcp *client, *server;

    tu_tcp_pair(NULL, &client, &server);
    cr_expect_eq(get_int_opt(client, SOL_SOCKET, SO_KEEPALIVE), 0);
    cr_expect_eq(get_int_opt(server, SOL_SOCKET, SO_KEEPALIVE), 0);
    sk_tcp_close(client);
    sk_tcp_close(server);
}

Test(tcp_options, set_keepalive_values_read_back_through_getsockopt)
{
    sk_tcp *client, *server;

    tu_tcp_pair(NULL, &client, &server);
    cr_assert_eq(sk_tcp_set_keepalive(client, 30, 5, 4), SK_OK);
    expect_keepalive(client, 1, 30, 5, 4);
    cr_assert_eq(sk_tcp_set_keepalive(server, 32767, 32767, 127), SK_OK); /* the limits */
    expect_keepalive(server, 1, 32767, 32767, 127);
    cr_assert_eq(sk_tcp_set_keepalive(server, 1, 1, 1), SK_OK);
    expect_keepalive(server, 1, 1, 1, 1);
    sk_tcp_close(client);
    sk_tcp_close(server);
}

Test(tcp_options, keepalive_presets_are_gos_defaults_15_15_9)
{
    sk_tcp *client;

    cr_expect_eq(SK_KEEPALIVE_IDLE_S, 15);
    cr_expect_eq(SK_KEEPALIVE_INTERVAL_S, 15);
    cr_expect_eq(SK_KEEPALIVE_COUNT, 9);
    tu_tcp_pair(NULL, &client, NULL);
    cr_assert_eq(sk_tcp_set_keepalive(client, SK_KEEPALIVE_IDLE_S, SK_KEEPALIVE_INTERVAL_S, SK_KEEPALIVE_COUNT),
                 SK_OK);
    expect_keepalive(client, 1, 15, 15, 9);
    sk_tcp_close(client);
}

Test(tcp_options, keepalive_with_idle_0_turns_it_off_and_keeps_the_timings)
{
    sk_tcp *client;

    tu_tcp_pair(NULL, &client, NULL);
    cr_assert_eq(sk_tcp_set_keepalive(client, 20, 3, 2), SK_OK);
    cr_assert_eq(sk_tcp_set_keepalive(client, 0, 0, 0), SK_OK);
    expect_keepalive(client, 0, 20, 3, 2);
    cr_assert_eq(sk_tcp_set_keepalive(client, 0, 0, 0), SK_OK); /* off twice */
    expect_keepalive(client, 0, 20, 3, 2);
    sk_tcp_close(client);
}

Test(tcp_options, keepalive_out_of_range_gives_einval_and_changes_nothing)
{
    static const int bad[][3] = {
        {-1, 15, 9},   {15, -1, 9},   {15, 15, -1}, {0, -1, 0},  {0, 0, -1}, {32768, 15, 9},
        {15, 32768, 9}, {15, 15, 128}, {15, 0, 9},   {15, 15, 0}, {INT32_MAX, 1, 1},
    };
    sk_tcp *client;

    tu_tcp_pair(NULL, &client, NULL);
    cr_assert_eq(sk_tcp_set_keepalive(client, 40, 6, 3), SK_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        cr_expect_eq(sk_tcp_set_keepalive(client, bad[i][0], bad[i][1], bad[i][2]), SK_EINVAL,
                     "(%d, %d, %d) accepted", bad[i][0], bad[i][1], bad[i][2]);
        cr_expect_eq(errno, EINVAL);
        expect_keepalive(client, 1, 40, 6, 3);
    }
    sk_tcp_close(client);
}

Test(tcp_options, keepalive_refuses_null_and_listeners)
{
    sk_tcp *listener;

    cr_expect_eq(sk_tcp_set_keepalive(NULL, 15, 15, 9), SK_EINVAL);
    cr_expect_eq(sk_tcp_set_keepalive(NULL, 0, 0, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_listen(&listener, "127.0.0.1", 0, 4), SK_OK);
    cr_expect_eq(sk_tcp_set_keepalive(listener, 15, 15, 9), SK_EINVAL);
    sk_tcp_close(listener);
}

Test(tcp_options, set_user_timeout_reads_back_and_0_restores_the_default)
{
    sk_tcp *client;

    tu_tcp_pair(NULL, &client, NULL);
    cr_expect_eq(get_int_opt(client, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
    cr_assert_eq(sk_tcp_set_user_timeout(client, 7500), SK_OK);
    cr_expect_eq(get_int_opt(client, IPPROTO_TCP, TCP_USER_TIMEOUT), 7500);
    cr_assert_eq(sk_tcp_set_user_timeout(client, 1), SK_OK);
    cr_expect_eq(get_int_opt(client, IPPROTO_TCP, TCP_USER_TIMEOUT), 1);
    cr_assert_eq(sk_tcp_set_user_timeout(client, 0), SK_OK);
    cr_expect_eq(get_int_opt(client, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
    sk_tcp_close(client);
}

Test(tcp_options, user_timeout_refuses_negative_values_null_and_listeners)
{
    sk_tcp *client, *listener;

    tu_tcp_pair(&listener, &client, NULL);
    cr_assert_eq(sk_tcp_set_user_timeout(client, 3000), SK_OK);
    cr_expect_eq(sk_tcp_set_user_timeout(client, -1), SK_EINVAL);
    cr_expect_eq(errno, EINVAL);
    cr_expect_eq(sk_tcp_set_user_timeout(client, INT32_MIN), SK_EINVAL);
    cr_expect_eq(get_int_opt(client, IPPROTO_TCP, TCP_USER_TIMEOUT), 3000, "a refused value changed it");
    cr_expect_eq(sk_tcp_set_user_timeout(NULL, 1000), SK_EINVAL);
    cr_expect_eq(sk_tcp_set_user_timeout(listener, 1000), SK_EINVAL);
    sk_tcp_close(client);
    sk_tcp_close(listener);
}
