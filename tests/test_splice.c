/* sk_tcp_splice: a relay from one stream endpoint to another (splice(2) through a
 * pipe, or the copy loop of the portable build), with the rules of every transfer:
 * one budget, the count on failure, cancel; and what the source read ahead goes
 * first, what `to` did not take is not lost. Each test has a writer at the far end of
 * `from` and a reader at the far end of `to`:
 *
 *     writer ==A== from  --sk_tcp_splice-->  to ==B== reader                        */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#define LONG_MS 10000

TestSuite(stream_splice, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 120);
TestSuite(splice, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 120);

/* Byte i of the writer's stream is pattern(i). */
static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static unsigned char *pattern_buf(size_t from, size_t n)
{
    unsigned char *b = malloc(n > 0 ? n : 1);
    cr_assert(b != NULL);
    for (size_t i = 0; i < n; i++)
        b[i] = pattern(from + i);
    return b;
}

struct relay {
    sk_tcp *writer, *from, *to, *reader;
};

static void relay_open(struct relay *r)
{
    tu_tcp_pair(NULL, &r->writer, &r->from);
    tu_tcp_pair(NULL, &r->to, &r->reader);
}

static void relay_close(struct relay *r)
{
    sk_tcp_close(r->writer);
    sk_tcp_close(r->from);
    sk_tcp_close(r->to);
    sk_tcp_close(r->reader);
}

/* The writer sends len bytes of the pattern in a thread, then shuts down (shut). */
static void start_writer(struct tu_xfer *w, pthread_t *th, sk_tcp *conn, unsigned char *buf, size_t len, int shut)
{
    memset(w, 0, sizeof *w);
    w->conn = conn;
    w->buf = buf;
    w->len = len;
    w->timeout_ms = LONG_MS;
    w->shut_after = shut;
    cr_assert_eq(pthread_create(th, NULL, tu_send_all_job, w), 0);
}

static void start_reader(struct tu_xfer *rx, pthread_t *th, sk_tcp *conn, unsigned char *buf, size_t len)
{
    memset(rx, 0, sizeof *rx);
    rx->conn = conn;
    rx->buf = buf;
    rx->len = len;
    rx->timeout_ms = LONG_MS;
    cr_assert_eq(pthread_create(th, NULL, tu_recv_exact_job, rx), 0);
}

/* The reader gets n more bytes, those of the pattern from `from` on. */
static void expect_bytes(sk_tcp *reader, size_t from, size_t n)
{
    unsigned char *got = malloc(n + 1), *want = pattern_buf(from, n);
    size_t k = 0;
    cr_assert(got != NULL);
    cr_assert_eq(sk_tcp_recv_exact(reader, got, n, &k, LONG_MS), SK_OK, "received %zu of %zu", k, n);
    cr_assert_eq(memcmp(got, want, n), 0, "byte %zu differs", tu_first_diff(got, want, n));
    free(got);
    free(want);
}

/* `to` ends its stream: the reader then sees the end, with nothing more before it. */
static void expect_end_after_shutdown(struct relay *r)
{
    char c;
    cr_assert_eq(sk_tcp_shutdown(r->to, SK_SHUT_WR), SK_OK);
    cr_assert_eq(sk_tcp_recv(r->reader, &c, 1, NULL, LONG_MS), SK_ECLOSED, "more arrived than was counted");
}

static void relay_whole_stream(size_t size)
{
    struct relay r;
    struct tu_xfer w, rx;
    pthread_t wt, rt;
    unsigned char *src = pattern_buf(0, size), *got = malloc(size + 1);
    size_t moved = 12345;
    int rc;

    relay_open(&r);
    start_writer(&w, &wt, r.writer, src, size, SK_SHUT_WR);
    start_reader(&rx, &rt, r.reader, got, size);
    rc = sk_tcp_splice(r.from, r.to, SIZE_MAX, &moved, LONG_MS);
    pthread_join(wt, NULL);
    pthread_join(rt, NULL);
    cr_assert_eq(rc, SK_OK, "%zu bytes: %s", size, sk_errname(rc));
    cr_assert_eq(moved, size);
    cr_assert_eq(w.rc, SK_OK);
    cr_assert_eq(rx.rc, SK_OK, "reader: %s after %zu", sk_errname(rx.rc), rx.done);
    cr_assert_eq(memcmp(got, src, size), 0, "%zu bytes: byte %zu differs", size, tu_first_diff(got, src, size));
    /* At the end of the stream a further call moves nothing and succeeds. */
    cr_assert_eq(sk_tcp_splice(r.from, r.to, SIZE_MAX, &moved, LONG_MS), SK_OK);
    cr_assert_eq(moved, 0);
    expect_end_after_shutdown(&r);
    free(src);
    free(got);
    relay_close(&r);
}

Test(stream_splice, every_byte_of_the_stream_arrives_in_order_for_sizes_from_0_to_past_the_pipe)
{
    static const size_t sizes[] = { 0, 1, 1000, 65535, 65536, 65537, 3 * 1024 * 1024 + 17 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        relay_whole_stream(sizes[i]);
}

Test(stream_splice, a_length_moves_exactly_that_many_and_the_rest_stays_for_the_next_call)
{
    struct relay r;
    size_t size = 200000, moved = 0;
    unsigned char *src = pattern_buf(0, size);

    relay_open(&r);
    tu_send_ok(r.writer, src, size, LONG_MS);
    cr_assert_eq(sk_tcp_splice(r.from, r.to, 5000, &moved, LONG_MS), SK_OK);
    cr_assert_eq(moved, 5000);
    expect_bytes(r.reader, 0, 5000);
    cr_assert_eq(sk_tcp_splice(r.from, r.to, 0, &moved, LONG_MS), SK_OK);
    cr_assert_eq(moved, 0);
    cr_assert_eq(sk_tcp_splice(r.from, r.to, 100000, &moved, LONG_MS), SK_OK);
    cr_assert_eq(moved, 100000);
    expect_bytes(r.reader, 5000, 100000);
    /* The rest, read by a plain receive: nothing of it was taken. */
    expect_bytes(r.from, 105000, size - 105000);
    free(src);
    relay_close(&r);
}

Test(stream_splice, bytes_the_source_read_ahead_go_first)
{
    struct relay r;
    size_t size = 30000, moved = 0, n = 0;
    unsigned char *src = pattern_buf(0, size);
    char line[16];

    relay_open(&r);
    memcpy(src, "hello\n", 6);
    tu_send_ok(r.writer, src, size, LONG_MS);
    /* The record reader takes the line and reads ahead (up to 8 KiB) of what follows. */
    tu_wait_fd(sk_tcp_fd(r.from), POLLIN, LONG_MS);
    tu_sleep_ms(50);
    cr_assert_eq(sk_tcp_recv_until(r.from, '\n', line, sizeof line, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 6);
    cr_assert_gt(sk_tcp_buffered(r.from), 0, "nothing was read ahead: the test proves nothing");
    cr_assert_eq(sk_tcp_shutdown(r.writer, SK_SHUT_WR), SK_OK);
    cr_assert_eq(sk_tcp_splice(r.from, r.to, SIZE_MAX, &moved, LONG_MS), SK_OK);
    cr_assert_eq(moved, size - 6);
    cr_assert_eq(sk_tcp_buffered(r.from), 0);
    expect_bytes(r.reader, 6, size - 6);
    expect_end_after_shutdown(&r);
    free(src);
    relay_close(&r);
}

Test(stream_splice, a_silent_source_ends_the_call_with_its_budget_not_before)
{
    struct relay r;
    size_t moved = 7;
    int64_t t0;

    relay_open(&r);
    tu_send_ok(r.writer, "abc", 3, LONG_MS);
    t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_splice(r.from, r.to, 100, &moved, 300), SK_ETIMEDOUT);
    tu_assert_took(t0, 300);
    cr_assert_eq(moved, 3);
    /* A budget of 0: what is there, no wait, and the sockets are left blocking. */
    tu_send_ok(r.writer, "de", 2, LONG_MS);
    tu_wait_fd(sk_tcp_fd(r.from), POLLIN, LONG_MS);
    t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_splice(r.from, r.to, 100, &moved, 0), SK_ETIMEDOUT);
    cr_assert_lt(tu_now_ms() - t0, 1000);
    cr_assert_eq(moved, 2);
    cr_assert_eq(fcntl(sk_tcp_fd(r.from), F_GETFL) & O_NONBLOCK, 0, "from was left non-blocking");
    cr_assert_eq(fcntl(sk_tcp_fd(r.to), F_GETFL) & O_NONBLOCK, 0, "to was left non-blocking");
    {
        char got[5];
        cr_assert_eq(sk_tcp_recv_exact(r.reader, got, 5, NULL, LONG_MS), SK_OK);
        cr_assert_eq(memcmp(got, "abcde", 5), 0);
    }
    relay_close(&r);
}

/* `to` stops taking (its reader does not read): the budget ends the call, the count
 * is what `to` took, and nothing taken from `from` is lost: the next call, with the
 * reader reading, delivers the whole stream in order. (Whether the budget ends with
 * bytes in the pipe depends on timing here; the test after it makes sure it does.) */
static void full_to_loses_nothing(int budget_ms)
{
    struct relay r;
    struct tu_xfer w, rx;
    pthread_t wt, rt;
    size_t size = 24 * 1024 * 1024, m1 = 0, m2 = 0;
    unsigned char *src = pattern_buf(0, size), *got = malloc(size);
    int64_t t0;
    int rc;

    relay_open(&r);
    /* Small buffers on the far side, so that `to` is full long before the source is
     * empty and the relay stops with bytes in its pipe. */
    {
        int small = 32768;
        cr_assert_eq(setsockopt(sk_tcp_fd(r.to), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
        cr_assert_eq(setsockopt(sk_tcp_fd(r.reader), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    }
    start_writer(&w, &wt, r.writer, src, size, SK_SHUT_WR);
    tu_wait_fd(sk_tcp_fd(r.from), POLLIN, LONG_MS);
    tu_sleep_ms(100); /* the writer fills what the sockets hold */
    t0 = tu_now_ms();
    rc = sk_tcp_splice(r.from, r.to, SIZE_MAX, &m1, budget_ms);
    cr_assert_eq(rc, SK_ETIMEDOUT, "%s", sk_errname(rc));
    if (budget_ms > 0)
        tu_assert_took(t0, budget_ms);
    cr_assert_gt(m1, 0);
    cr_assert_lt(m1, size);
    start_reader(&rx, &rt, r.reader, got, size);
    rc = sk_tcp_splice(r.from, r.to, SIZE_MAX, &m2, LONG_MS);
    pthread_join(wt, NULL);
    pthread_join(rt, NULL);
    cr_assert_eq(rc, SK_OK, "%s", sk_errname(rc));
    cr_assert_eq(m1 + m2, size, "%zu + %zu of %zu", m1, m2, size);
    cr_assert_eq(rx.rc, SK_OK, "reader: %s after %zu", sk_errname(rx.rc), rx.done);
    cr_assert_eq(memcmp(got, src, size), 0, "byte %zu differs", tu_first_diff(got, src, size));
    expect_end_after_shutdown(&r);
    free(src);
    free(got);
    relay_close(&r);
}

Test(stream_splice, a_full_destination_ends_it_with_its_budget_and_nothing_taken_from_the_source_is_lost)
{
    full_to_loses_nothing(300);
}

Test(stream_splice, a_budget_of_0_moves_what_fits_and_loses_nothing)
{
    full_to_loses_nothing(0);
}

Test(stream_splice, bytes_in_the_pipe_when_the_budget_ends_go_back_to_the_source_and_arrive_next_time)
{
    struct relay r;
    struct tu_xfer w, rx;
    pthread_t wt, rt;
    size_t size = 1024 * 1024, junk = 0, m1 = 0, m2 = 0;
    unsigned char *src = pattern_buf(0, size), *got, *fill = calloc(1, 65536);
    int64_t t0;
    int rc;

    relay_open(&r);
    /* `to` is full before the relay starts: its first pipe-load cannot go. */
    for (;;) {
        size_t n = 0;
        rc = sk_tcp_send(r.to, fill, 65536, &n, 0);
        junk += n;
        if (rc != SK_OK)
            break;
    }
    cr_assert_eq(rc, SK_ETIMEDOUT);
    start_writer(&w, &wt, r.writer, src, size, SK_SHUT_WR);
    tu_wait_fd(sk_tcp_fd(r.from), POLLIN, LONG_MS);
    t0 = tu_now_ms();
    rc = sk_tcp_splice(r.from, r.to, SIZE_MAX, &m1, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "%s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_lt(m1, size);
    cr_assert_gt(sk_tcp_buffered(r.from), 0, "what the pipe held was not put back");
    got = malloc(junk + size);
    start_reader(&rx, &rt, r.reader, got, junk + size);
    rc = sk_tcp_splice(r.from, r.to, SIZE_MAX, &m2, LONG_MS);
    pthread_join(wt, NULL);
    pthread_join(rt, NULL);
    cr_assert_eq(rc, SK_OK, "%s", sk_errname(rc));
    cr_assert_eq(m1 + m2, size, "%zu + %zu of %zu", m1, m2, size);
    cr_assert_eq(rx.rc, SK_OK, "reader: %s after %zu of %zu", sk_errname(rx.rc), rx.done, junk + size);
    cr_assert_eq(memcmp(got + junk, src, size), 0, "byte %zu differs", tu_first_diff(got + junk, src, size));
    free(src);
    free(got);
    free(fill);
    relay_close(&r);
}

struct canceller {
    sk_tcp *t;
    int delay_ms;
};

static void *cancel_job(void *p)
{
    struct canceller *k = p;
    tu_sleep_ms(k->delay_ms);
    sk_tcp_cancel(k->t);
    return NULL;
}

Test(stream_splice, a_cancel_of_the_source_from_another_thread_ends_a_waiting_relay)
{
    struct relay r;
    struct canceller k = { NULL, 200 };
    pthread_t th;
    size_t moved = 7;
    int64_t t0;
    int rc;

    relay_open(&r);
    tu_send_ok(r.writer, "xyz", 3, LONG_MS);
    k.t = r.from;
    cr_assert_eq(pthread_create(&th, NULL, cancel_job, &k), 0);
    t0 = tu_now_ms();
    rc = sk_tcp_splice(r.from, r.to, SIZE_MAX, &moved, SK_FOREVER);
    pthread_join(th, NULL);
    cr_assert_eq(rc, SK_ECANCELED, "%s", sk_errname(rc));
    cr_assert_geq(tu_now_ms() - t0, 150);
    cr_assert_eq(moved, 3);

    {
        char got[3];
        cr_assert_eq(sk_tcp_recv_exact(r.reader, got, 3, NULL, LONG_MS), SK_OK);
        cr_assert_eq(memcmp(got, "xyz", 3), 0);
    }
    cr_assert_eq(sk_tcp_splice(r.from, r.to, 10, &moved, LONG_MS), SK_ECANCELED);
    cr_assert_eq(moved, 0);
    relay_close(&r);
}

Test(stream_splice, a_cancel_of_the_destination_ends_a_blocked_relay_and_the_reader_gets_exactly_what_was_counted)
{
    struct relay r;
    struct tu_xfer w;
    struct canceller k = { NULL, 300 };
    pthread_t wt, th;
    size_t size = 24 * 1024 * 1024, moved = 0, got = 0;
    unsigned char *src = pattern_buf(0, size);
    unsigned char *buf = malloc(65536);
    int rc;

    relay_open(&r);
    start_writer(&w, &wt, r.writer, src, size, 0);
    k.t = r.to;
    cr_assert_eq(pthread_create(&th, NULL, cancel_job, &k), 0);
    rc = sk_tcp_splice(r.from, r.to, SIZE_MAX, &moved, SK_FOREVER);
    pthread_join(th, NULL);
    cr_assert_eq(rc, SK_ECANCELED, "%s", sk_errname(rc));
    cr_assert_gt(moved, 0);
    /* The reader gets exactly what was counted, in order, then the end of stream. */
    for (;;) {
        size_t n = 0;
        unsigned char *want;
        rc = sk_tcp_recv(r.reader, buf, 65536, &n, LONG_MS);
        want = pattern_buf(got, n);
        cr_assert_eq(memcmp(buf, want, n), 0, "byte %zu differs", got + tu_first_diff(buf, want, n));
        free(want);
        got += n;
        if (rc != SK_OK)
            break;
    }
    cr_assert_eq(rc, SK_ECLOSED);
    cr_assert_eq(got, moved);
    /* What `to` did not take is still the source's: the next bytes of the stream. */
    expect_bytes(r.from, moved, 1000);
    sk_tcp_cancel(r.writer);
    pthread_join(wt, NULL);
    free(src);
    free(buf);
    relay_close(&r);
}

Test(stream_splice, bad_arguments_are_einval_and_a_shut_down_destination_is_closed_without_sigpipe)
{
    struct relay r;
    sk_tcp *l;
    size_t moved = 7;

    relay_open(&r);
    tu_tcp_pair(&l, NULL, NULL);
    cr_assert_eq(sk_tcp_splice(NULL, r.to, 10, &moved, LONG_MS), SK_EINVAL);
    cr_assert_eq(moved, 0);
    cr_assert_eq(sk_tcp_splice(r.from, NULL, 10, &moved, LONG_MS), SK_EINVAL);
    cr_assert_eq(sk_tcp_splice(l, r.to, 10, &moved, LONG_MS), SK_EINVAL);
    cr_assert_eq(sk_tcp_splice(r.from, l, 10, &moved, LONG_MS), SK_EINVAL);
    cr_assert_eq(sk_tcp_splice(r.from, r.to, 10, &moved, -5), SK_EINVAL);
    cr_assert_eq(sk_tcp_splice(r.from, r.to, 10, NULL, -5), SK_EINVAL);
    tu_send_ok(r.writer, "0123456789", 10, LONG_MS);
    cr_assert_eq(sk_tcp_shutdown(r.to, SK_SHUT_WR), SK_OK);
    moved = 7;
    cr_assert_eq(sk_tcp_splice(r.from, r.to, 10, &moved, LONG_MS), SK_ECLOSED);
    cr_assert_eq(moved, 0);
    {
        /* The EPIPE raised no SIGPIPE (the test would have died), and left none pending. */
        sigset_t pending;
        char got[10];
        cr_assert_eq(sigpending(&pending), 0);
        cr_assert_eq(sigismember(&pending, SIGPIPE), 0);
        /* And the 10 bytes are still the source's. */
        cr_assert_eq(sk_tcp_recv_exact(r.from, got, 10, NULL, LONG_MS), SK_OK);
        cr_assert_eq(memcmp(got, "0123456789", 10), 0);
    }
    sk_tcp_close(l);
    relay_close(&r);
}

Test(stream_splice, an_endpoint_made_from_a_descriptor_relays_and_leaves_the_descriptor_open)
{
    struct relay r;
    sk_tcp *from2 = NULL;
    size_t moved = 0;
    int fd;

    relay_open(&r);
    fd = dup(sk_tcp_fd(r.from));
    cr_assert_geq(fd, 0);
    cr_assert_eq(sk_tcp_from_fd(&from2, fd), SK_OK);
    cr_assert_neq(sk_tcp_fd(from2), fd, "the endpoint must have its own descriptor");
    cr_assert_eq(fcntl(sk_tcp_fd(from2), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    tu_send_ok(r.writer, "hello", 5, LONG_MS);
    cr_assert_eq(sk_tcp_splice(from2, r.to, 5, &moved, LONG_MS), SK_OK);
    cr_assert_eq(moved, 5);
    {
        char got[5];
        cr_assert_eq(sk_tcp_recv_exact(r.reader, got, 5, NULL, LONG_MS), SK_OK);
        cr_assert_eq(memcmp(got, "hello", 5), 0);
    }
    sk_tcp_close(from2);
    cr_assert_eq(fcntl(fd, F_GETFD) >= 0, 1, "sk_tcp_close closed the caller's descriptor");
    close(fd);
    relay_close(&r);
}

Test(splice, from_fd_refuses_what_is_not_a_stream_socket)
{
    sk_tcp *t = (sk_tcp *)1;
    int p[2], d;

    cr_assert_eq(sk_tcp_from_fd(NULL, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_from_fd(&t, -1), SK_EINVAL);
    cr_assert_null(t);
    cr_assert_eq(pipe(p), 0);
    t = (sk_tcp *)1;
    cr_assert_eq(sk_tcp_from_fd(&t, p[0]), SK_EINVAL);
    cr_assert_null(t);
    d = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(d, 0);
    cr_assert_eq(sk_tcp_from_fd(&t, d), SK_EINVAL);
    close(d);
    close(p[0]);
    close(p[1]);
    cr_assert_eq(sk_tcp_from_fd(&t, p[0]), SK_EINVAL, "a closed descriptor");
}

Test(splice, a_listening_descriptor_becomes_a_listener_that_accepts)
{
    sk_tcp *l, *l2 = NULL, *c, *s;
    sk_addr a;
    int fd;

    tu_tcp_pair(&l, NULL, NULL);
    fd = dup(sk_tcp_fd(l));
    cr_assert_eq(sk_tcp_from_fd(&l2, fd), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l2, &a), SK_OK);
    cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", sk_addr_port(&a), LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l2, &s, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_splice(l2, s, 1, NULL, 0), SK_EINVAL);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l2);
    close(fd);
    sk_tcp_close(l);
}

Test(splice, a_destination_whose_peer_reset_fails_with_connreset_and_no_sigpipe)
{
    struct relay r;
    struct tu_xfer w;
    pthread_t wt;
    size_t size = 8 * 1024 * 1024, moved = 0;
    unsigned char *src = pattern_buf(0, size);
    int rc;

    relay_open(&r);
    start_writer(&w, &wt, r.writer, src, size, SK_SHUT_WR);
    tu_close_with_reset(r.reader);
    r.reader = NULL;
    rc = sk_tcp_splice(r.from, r.to, SIZE_MAX, &moved, LONG_MS);
    cr_assert_eq(rc, SK_ECONNRESET, "%s", sk_errname(rc));
    cr_assert_lt(moved, size);
    {
        sigset_t pending;
        cr_assert_eq(sigpending(&pending), 0);
        cr_assert_eq(sigismember(&pending, SIGPIPE), 0);
    }
    sk_tcp_cancel(r.writer);
    pthread_join(wt, NULL);
    free(src);
    relay_close(&r);
}

Test(splice, a_source_whose_peer_reset_fails_with_connreset_after_what_arrived)
{
    struct relay r;
    size_t moved = 0;
    int rc;

    relay_open(&r);
    tu_send_ok(r.writer, "abcd", 4, LONG_MS);
    cr_assert_eq(sk_tcp_splice(r.from, r.to, 4, &moved, LONG_MS), SK_OK);
    tu_close_with_reset(r.writer);
    r.writer = NULL;
    rc = sk_tcp_splice(r.from, r.to, SIZE_MAX, &moved, LONG_MS);
    cr_assert_eq(rc, SK_ECONNRESET, "%s", sk_errname(rc));
    cr_assert_eq(moved, 0);
    {
        char got[4];
        cr_assert_eq(sk_tcp_recv_exact(r.reader, got, 4, NULL, LONG_MS), SK_OK);
        cr_assert_eq(memcmp(got, "abcd", 4), 0);
    }
    relay_close(&r);
}
