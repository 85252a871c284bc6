/* Gather writes and delimited reads (include/sockkit/tcp.h): sk_tcp_send_allv,
 * sk_tcp_recv_until and sk_tcp_buffered.
 *
 * Every helper thread here stops by itself (finite budgets, bounded loops) and never
 * calls cr_assert: it records what happened and the test thread checks it after
 * pthread_join. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "signal_util.h"

TestSuite(tcp_allv, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_allv, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(tcp_until, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(stream_until, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

/* ------------------------------------------------------------------------------------ */
/* Helpers                                                                              */
/* ------------------------------------------------------------------------------------ */

#define MIB ((size_t)1024 * 1024)
/* A budget for helper threads and for steps that are expected to succeed. */
#define LONG_MS 20000

#include "records_util.h"

/* The socket has nothing more within ms (and sk_tcp_buffered is 0). */
static void expect_nothing_more(sk_tcp *conn, int ms)
{
    unsigned char b[16];
    size_t got = 12345;
    int rc = sk_tcp_recv(conn, b, sizeof b, &got, ms);
    cr_assert_eq(rc, SK_ETIMEDOUT, "expected nothing more, got %s with %zu bytes", sk_errname(rc), got);
    cr_assert_eq(got, 0);
}

#include "dripper.h"

/* ------------------------------------------------------------------------------------ */
/* sk_tcp_send_allv                                                                     */
/* ------------------------------------------------------------------------------------ */

Test(stream_allv, header_and_body_arrive_in_order_byte_for_byte)
{
    sk_tcp *c, *s;
    char header[32];
    unsigned char *body = pattern(1000, 1), in[1100];
    size_t sent = 12345, got = 0;
    int hl = snprintf(header, sizeof header, "LEN %d\n", 1000);
    sk_iovec iov[2] = {{header, (size_t)hl}, {body, 1000}};

    tu_tcp_pair(NULL, &c, &s);
    int rc = sk_tcp_send_allv(c, iov, 2, &sent, LONG_MS);
    cr_assert_eq(rc, SK_OK, "sk_tcp_send_allv: %s", sk_errname(rc));
    cr_assert_eq(sent, (size_t)hl + 1000);
    cr_assert_eq(sk_tcp_recv_exact(s, in, (size_t)hl + 1000, &got, LONG_MS), SK_OK);
    cr_assert_eq(got, (size_t)hl + 1000);
    assert_same_bytes(in, header, (size_t)hl);
    assert_same_bytes(in + hl, body, 1000);
    expect_nothing_more(s, 50);
    free(body);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_allv, empty_buffers_first_in_the_middle_and_last_are_skipped)
{
    sk_tcp *c, *s;
    unsigned char *a = pattern(10, 2), *b = pattern(33, 3), *d = pattern(7, 4);
    /* A non-NULL base with length 0 and a NULL base with length 0 are both empty. */
    sk_iovec iov[] = {{NULL, 0}, {a, 0}, {a, 10}, {NULL, 0}, {b, 0}, {b, 33}, {d, 7}, {d, 0}, {NULL, 0}};
    size_t n = sizeof iov / sizeof iov[0], total, sent = 12345, got = 0;
    unsigned char *want = concat(iov, n, &total), in[64];

    cr_assert_eq(total, 50);
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_send_allv(c, iov, n, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, 50);
    cr_assert_eq(sk_tcp_recv_exact(s, in, 50, &got, LONG_MS), SK_OK);
    assert_same_bytes(in, want, 50);
    expect_nothing_more(s, 50);
    free(a);
    free(b);
    free(d);
    free(want);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_allv, all_empty_buffers_or_none_succeed_at_once_with_nothing_sent)
{
    sk_tcp *c, *s;
    char x = 'x';
    sk_iovec iov[] = {{NULL, 0}, {&x, 0}, {NULL, 0}};
    size_t sent = 12345;

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_send_allv(c, iov, 3, &sent, 0), SK_OK);
    cr_assert_eq(sent, 0);
    sent = 12345;
    cr_assert_eq(sk_tcp_send_allv(c, NULL, 0, &sent, 0), SK_OK);
    cr_assert_eq(sent, 0);
    sent = 12345;
    cr_assert_eq(sk_tcp_send_allv(c, iov, 0, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, 0);
    /* sent may be NULL. */
    cr_assert_eq(sk_tcp_send_allv(c, iov, 3, NULL, LONG_MS), SK_OK);
    expect_nothing_more(s, 100);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_allv, a_thousand_small_buffers_arrive_intact_in_order)
{
    sk_tcp *c, *s;
    enum { N = 1000 };
    static sk_iovec iov[N];
    unsigned char *pool = pattern(N * 8, 5);
    size_t total, sent = 12345, got = 0;

    /* Lengths 0..7, placed in the pool back to front, so that the concatenation differs
     * from the pool's memory order. */
    for (size_t i = 0; i < N; i++) {
        iov[i].base = pool + (N - 1 - i) * 8;
        iov[i].len = (i * 5 + 3) % 8;
    }
    unsigned char *want = concat(iov, N, &total), *in = malloc(total);
    cr_assert_not_null(in);
    tu_tcp_pair(NULL, &c, &s);
    int rc = sk_tcp_send_allv(c, iov, N, &sent, LONG_MS);
    cr_assert_eq(rc, SK_OK, "sk_tcp_send_allv: %s", sk_errname(rc));
    cr_assert_eq(sent, total);
    cr_assert_eq(sk_tcp_recv_exact(s, in, total, &got, LONG_MS), SK_OK);
    assert_same_bytes(in, want, total);
    expect_nothing_more(s, 50);
    free(pool);
    free(want);
    free(in);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* Megabyte buffers between tiny ones, to a reader that takes them as they come. */
Test(stream_allv, megabytes_in_mixed_buffers_arrive_intact_at_a_concurrent_reader)
{
    sk_tcp *c, *s;
    pthread_t th;
    struct tu_xfer r;
    unsigned char *big = pattern(3 * MIB + 1, 6), *small = pattern(64, 7);
    sk_iovec iov[] = {{small, 3},           {big, MIB},           {small + 3, 1}, {NULL, 0},
                      {big + MIB, 2 * MIB}, {small + 4, 60},      {big + 3 * MIB, 1},
                      {big, 5 * MIB / 4},   {small, 0},           {small + 10, 17}};
    size_t n = sizeof iov / sizeof iov[0], total, sent = 12345;
    unsigned char *want = concat(iov, n, &total);

    tu_tcp_pair(NULL, &c, &s);
    memset(&r, 0, sizeof r);
    r.conn = s;
    r.timeout_ms = LONG_MS;
    r.len = total;
    r.buf = malloc(total);
    cr_assert_not_null(r.buf);
    cr_assert_eq(pthread_create(&th, NULL, tu_recv_exact_job, &r), 0);
    int rc = sk_tcp_send_allv(c, iov, n, &sent, LONG_MS);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(rc, SK_OK, "sk_tcp_send_allv: %s after %zu bytes", sk_errname(rc), sent);
    cr_assert_eq(sent, total);
    cr_assert_eq(r.rc, SK_OK, "receiver: %s after %zu bytes", sk_errname(r.rc), r.done);
    cr_assert_eq(r.done, total);
    assert_same_bytes(r.buf, want, total);
    free(r.buf);
    free(want);
    free(big);
    free(small);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* A blocking send cut short by a signal returns a partial count, which is how partial
 * writes happen without a fault shim: a thread interrupts the sender every millisecond
 * (SIGUSR1 without SA_RESTART) while a slow reader makes it wait, so the writes end at
 * arbitrary bytes, inside big and small buffers alike. */
struct slow_reader {
    sk_tcp *conn;
    unsigned char *buf;
    size_t len;
    size_t done;
    int rc;
};

static void *slow_reader_thread(void *p)
{
    struct slow_reader *r = p;
    r->rc = SK_OK;
    while (r->done < r->len && r->rc == SK_OK) {
        size_t want = r->len - r->done < 64 * 1024 ? r->len - r->done : 64 * 1024, got = 0;
        r->rc = sk_tcp_recv_exact(r->conn, r->buf + r->done, want, &got, LONG_MS);
        r->done += got;
        tu_sleep_ms(1);
    }
    return NULL;
}

Test(stream_allv, gather_write_resumes_after_partial_writes_cut_short_by_signals)
{
    sk_tcp *c, *s;
    pthread_t rth, kth;
    struct slow_reader r;
    struct tu_pester k;
    unsigned char *big = pattern(MIB + 7, 12), *small = pattern(64, 13);
    /* Many buffers of odd sizes, none empty except where marked. */
    sk_iovec iov[40];
    size_t n = 0, total, sent = 12345;

    for (int i = 0; i < 10; i++) {
        iov[n++] = (sk_iovec){small + i, 1 + (size_t)i * 3};
        iov[n++] = (sk_iovec){big + (size_t)i * 5, MIB / 3 + (size_t)i * 4099};
        iov[n++] = (sk_iovec){i % 2 ? NULL : small, 0};
        iov[n++] = (sk_iovec){big + (size_t)i, 1 + (size_t)i * 1021};
    }
    unsigned char *want = concat(iov, n, &total);

    tu_tcp_pair(NULL, &c, &s);
    /* Small socket buffers, so that the sender waits on the reader most of the time. */
    {
        int small_buf = 32 * 1024;
        cr_assert_eq(setsockopt(sk_tcp_fd(c), SOL_SOCKET, SO_SNDBUF, &small_buf, sizeof small_buf), 0);
        cr_assert_eq(setsockopt(sk_tcp_fd(s), SOL_SOCKET, SO_RCVBUF, &small_buf, sizeof small_buf), 0);
    }
    memset(&r, 0, sizeof r);
    r.conn = s;
    r.len = total;
    r.buf = malloc(total);
    cr_assert_not_null(r.buf);
    cr_assert_eq(pthread_create(&rth, NULL, slow_reader_thread, &r), 0);
    /* Every millisecond, without SA_RESTART: an interrupted send returns what it moved. */
    kth = tu_pester_start(&k, 1, 20000);
    int rc = sk_tcp_send_allv(c, iov, n, &sent, LONG_MS);
    tu_pester_stop(&k, kth);
    cr_assert_eq(pthread_join(rth, NULL), 0);
    cr_assert_eq(rc, SK_OK, "sk_tcp_send_allv: %s after %zu of %zu bytes", sk_errname(rc), sent, total);
    cr_assert_eq(sent, total);
    cr_assert_eq(r.rc, SK_OK, "reader: %s after %zu bytes", sk_errname(r.rc), r.done);
    cr_assert_eq(r.done, total);
    assert_same_bytes(r.buf, want, total);
    cr_assert_geq(tu_usr1_caught(), 10, "only %d signals arrived while sending", tu_usr1_caught());
    free(r.buf);
    free(want);
    free(big);
    free(small);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* The peer never reads while the call runs: it times out, and what the peer then finds
 * is exactly the first *sent bytes of the concatenation. */
Test(stream_allv, timeout_to_a_peer_that_never_reads_reports_exact_sent)
{
    enum { N = 97 };
    static sk_iovec iov[N];
    sk_tcp *c, *s;
    unsigned char *pool = pattern(2 * MIB, 8);
    size_t total = uneven_buffers(iov, N, pool), sent;

    tu_tcp_pair(NULL, &c, &s);
    sent = allv_times_out(c, iov, N, total, 300);
    peer_gets_exactly(c, s, iov, N, sent);
    free(pool);
}

Test(stream_allv, timeout_zero_sends_what_fits_at_once)
{
    sk_tcp *c, *s;
    unsigned char *a = pattern(100, 9), in[300];
    sk_iovec iov[] = {{a, 40}, {a + 40, 60}, {a, 100}};
    size_t sent = 12345, got = 0;
    int64_t t0;

    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_send_allv(c, iov, 3, &sent, 0), SK_OK);
    tu_assert_took(t0, 0);
    cr_assert_eq(sent, 200);
    cr_assert_eq(sk_tcp_recv_exact(s, in, 200, &got, LONG_MS), SK_OK);
    assert_same_bytes(in, a, 100);
    assert_same_bytes(in + 100, a, 100);
    free(a);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_allv, null_base_with_a_length_is_einval_and_nothing_leaves)
{
    sk_tcp *c, *s;
    char a[8] = "abcdefg";
    sk_iovec iov[] = {{a, 7}, {NULL, 5}, {a, 7}};
    size_t sent = 12345;

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_send_allv(c, iov, 3, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(sent, 0);
    expect_nothing_more(s, 100);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_allv, null_list_with_a_count_is_einval)
{
    sk_tcp *c, *s;
    size_t sent = 12345;

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_send_allv(c, NULL, 1, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(sent, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_allv, lengths_adding_up_past_size_max_are_einval_and_nothing_leaves)
{
    sk_tcp *c, *s;
    char a[8] = "abcdefg";
    /* The library must reject this before it reads a byte: no buffer is that long. */
    sk_iovec iov[] = {{a, 7}, {a, SIZE_MAX - 3}, {a, 4}};
    size_t sent = 12345;

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_send_allv(c, iov, 3, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(sent, 0);
    expect_nothing_more(s, 100);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_allv, listener_null_endpoint_and_bad_timeout_are_einval)
{
    sk_tcp *l, *c, *s;
    sk_iovec iov[] = {{"abc", 3}};
    size_t sent = 12345;

    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_send_allv(l, iov, 1, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(sent, 0);
    sent = 12345;
    cr_assert_eq(sk_tcp_send_allv(NULL, iov, 1, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(sent, 0);
    sent = 12345;
    cr_assert_eq(sk_tcp_send_allv(c, iov, 1, &sent, -2), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(sent, 0);
    expect_nothing_more(s, 100);
    sk_tcp_close(l);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_allv, after_this_end_shut_down_sending_it_is_eclosed_with_nothing_sent)
{
    sk_tcp *c, *s;
    sk_iovec iov[] = {{"header", 6}, {"body", 4}};
    size_t sent = 12345;

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_shutdown(c, SK_SHUT_WR), SK_OK);
    int rc = sk_tcp_send_allv(c, iov, 2, &sent, LONG_MS);
    cr_assert_eq(rc, SK_ECLOSED, "got %s", sk_errname(rc));
    cr_assert_eq(sent, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* ------------------------------------------------------------------------------------ */
/* sk_tcp_recv_until and sk_tcp_buffered                                                */
/* ------------------------------------------------------------------------------------ */

Test(stream_until, several_lines_in_one_send_come_back_one_per_call)
{
    sk_tcp *c, *s;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "one\ntwo two\n\nfour\n");
    wait_arrived(c);
    EXPECT_LINE(c, 100, SK_OK, "one\n");
    EXPECT_LINE(c, 100, SK_OK, "two two\n");
    EXPECT_LINE(c, 100, SK_OK, "\n");
    EXPECT_LINE(c, 100, SK_OK, "four\n");
    cr_assert_eq(sk_tcp_buffered(c), 0);
    expect_until(c, '\n', 100, 100, SK_ETIMEDOUT, "", 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, buffered_reports_the_read_ahead_left_after_each_line)
{
    sk_tcp *l, *c, *s;

    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_buffered(NULL), 0);
    cr_assert_eq(sk_tcp_buffered(l), 0);
    SEND_LIT(s, "alpha\nbeta\ngamma!\n");
    wait_arrived(c);
    /* Bytes waiting in the socket are not in the read buffer before the first call. */
    cr_assert_eq(sk_tcp_buffered(c), 0);
    EXPECT_LINE(c, 100, SK_OK, "alpha\n");
    cr_assert_eq(sk_tcp_buffered(c), 12, "buffered %zu, the other two lines are 12 bytes", sk_tcp_buffered(c));
    EXPECT_LINE(c, 100, SK_OK, "beta\n");
    cr_assert_eq(sk_tcp_buffered(c), 7);
    EXPECT_LINE(c, 100, SK_OK, "gamma!\n");
    cr_assert_eq(sk_tcp_buffered(c), 0);
    sk_tcp_close(l);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, a_line_arriving_one_byte_at_a_time_comes_back_whole)
{
    static const char text[] = "hello, drip world\nand a second line\n";
    sk_tcp *c, *s;
    pthread_t th;
    struct dripper d;

    tu_tcp_pair(NULL, &c, &s);
    drip_start(&d, &th, s, text, sizeof text - 1, 1, 3);
    EXPECT_LINE(c, 100, SK_OK, "hello, drip world\n");
    EXPECT_LINE(c, 100, SK_OK, "and a second line\n");
    drip_join(&d, th);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, lines_split_across_several_sends_come_back_whole)
{
    sk_tcp *c, *s;
    pthread_t th;
    struct dripper d;
    static const char text[] = "first line is long-ish\nsecond\nthird line here\n";

    tu_tcp_pair(NULL, &c, &s);
    /* Pieces of 5 bytes, so that lines start and end in the middle of reads. */
    drip_start(&d, &th, s, text, sizeof text - 1, 5, 5);
    EXPECT_LINE(c, 100, SK_OK, "first line is long-ish\n");
    EXPECT_LINE(c, 100, SK_OK, "second\n");
    EXPECT_LINE(c, 100, SK_OK, "third line here\n");
    drip_join(&d, th);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, recv_after_recv_until_gets_the_buffered_bytes_first_then_the_sockets)
{
    sk_tcp *c, *s;
    char buf[64];
    size_t got = 12345, total = 0;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "line1\nABCDEF");
    wait_arrived(c);
    EXPECT_LINE(c, 100, SK_OK, "line1\n");
    cr_assert_eq(sk_tcp_buffered(c), 6);
    /* A small receive takes part of the buffer. */
    cr_assert_eq(sk_tcp_recv(c, buf, 2, &got, LONG_MS), SK_OK);
    cr_assert_eq(got, 2);
    assert_same_bytes(buf, "AB", 2);
    cr_assert_eq(sk_tcp_buffered(c), 4);
    total = 2;
    SEND_LIT(s, "GHIJ");
    wait_arrived(c);
    for (int i = 0; i < 10 && total < 10; i++) {
        got = 12345;
        cr_assert_eq(sk_tcp_recv(c, buf + total, sizeof buf - total, &got, LONG_MS), SK_OK);
        cr_assert(got >= 1 && total + got <= 10, "sk_tcp_recv gave %zu bytes after %zu", got, total);
        total += got;
    }
    cr_assert_eq(total, 10);
    assert_same_bytes(buf, "ABCDEFGHIJ", 10);
    cr_assert_eq(sk_tcp_buffered(c), 0);
    expect_nothing_more(c, 50);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, recv_exact_after_recv_until_gets_the_buffered_bytes_first_then_the_sockets)
{
    sk_tcp *c, *s;
    unsigned char *body = pattern(3000, 10), in[3000];
    size_t got = 12345;

    tu_tcp_pair(NULL, &c, &s);
    /* A header line and the start of the body come together; the rest later. */
    {
        unsigned char first[4 + 100];
        memcpy(first, "hdr\n", 4);
        memcpy(first + 4, body, 100);
        send_text(s, first, sizeof first);
    }
    wait_arrived(c);
    EXPECT_LINE(c, 100, SK_OK, "hdr\n");
    cr_assert_eq(sk_tcp_buffered(c), 100);
    /* Fewer bytes than are buffered: no system call needed, and the rest stays. */
    cr_assert_eq(sk_tcp_recv_exact(c, in, 30, &got, 0), SK_OK);
    cr_assert_eq(got, 30);
    cr_assert_eq(sk_tcp_buffered(c), 70);
    send_text(s, body + 100, 2900);
    cr_assert_eq(sk_tcp_recv_exact(c, in + 30, 2970, &got, LONG_MS), SK_OK);
    cr_assert_eq(got, 2970);
    assert_same_bytes(in, body, 3000);
    cr_assert_eq(sk_tcp_buffered(c), 0);
    free(body);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, recv_exact_timeout_after_recv_until_counts_the_buffered_bytes)
{
    sk_tcp *c, *s;
    char in[32];
    size_t got = 12345;
    int64_t t0;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "x\nabc");
    wait_arrived(c);
    EXPECT_LINE(c, 100, SK_OK, "x\n");
    t0 = tu_now_ms();
    int rc = sk_tcp_recv_exact(c, in, 10, &got, 200);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 200);
    cr_assert_eq(got, 3, "recv_exact kept %zu bytes, 3 were buffered", got);
    assert_same_bytes(in, "abc", 3);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, over_long_record_comes_in_cap_sized_pieces_with_etoolong)
{
    sk_tcp *c, *s;
    char buf[10];
    size_t len = 12345;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "abcdefghijklmnopqrstuvwx\nnext\n"); /* 25 bytes, then 5 */
    cr_assert_eq(sk_tcp_recv_until(c, '\n', buf, 10, &len, LONG_MS), SK_ETOOLONG);
    cr_assert_eq(errno, ENOBUFS);
    cr_assert_eq(len, 10);
    assert_same_bytes(buf, "abcdefghij", 10);
    expect_until(c, '\n', 10, LONG_MS, SK_ETOOLONG, "klmnopqrst", 10);
    expect_until(c, '\n', 10, LONG_MS, SK_OK, "uvwx\n", 5);
    EXPECT_LINE(c, 10, SK_OK, "next\n");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, over_long_record_arriving_one_byte_at_a_time_still_gives_etoolong)
{
    static const char text[] = "abcdefghijklmnopqrstuvwx\n";
    sk_tcp *c, *s;
    pthread_t th;
    struct dripper d;

    tu_tcp_pair(NULL, &c, &s);
    drip_start(&d, &th, s, text, sizeof text - 1, 1, 2);
    expect_until(c, '\n', 10, LONG_MS, SK_ETOOLONG, "abcdefghij", 10);
    expect_until(c, '\n', 10, LONG_MS, SK_ETOOLONG, "klmnopqrst", 10);
    expect_until(c, '\n', 10, LONG_MS, SK_OK, "uvwx\n", 5);
    drip_join(&d, th);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, record_exactly_as_long_as_the_buffer_fits)
{
    sk_tcp *c, *s;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "123456789\n123456789\nz\n");
    EXPECT_LINE(c, 10, SK_OK, "123456789\n");
    /* One byte short: the delimiter comes alone next time. */
    expect_until(c, '\n', 9, LONG_MS, SK_ETOOLONG, "123456789", 9);
    EXPECT_LINE(c, 9, SK_OK, "\n");
    /* A one-byte buffer takes one byte a call. */
    expect_until(c, '\n', 1, LONG_MS, SK_ETOOLONG, "z", 1);
    EXPECT_LINE(c, 1, SK_OK, "\n");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, timeout_with_a_partial_line_keeps_it_and_resuming_completes_the_line)
{
    sk_tcp *c, *s;
    char buf[64];
    size_t len = 12345, more = 12345;
    int64_t t0;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "partial");
    t0 = tu_now_ms();
    int rc = sk_tcp_recv_until(c, '\n', buf, sizeof buf, &len, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_assert_eq(errno, ETIMEDOUT);
    tu_assert_took(t0, 300);
    cr_assert_eq(len, 7);
    assert_same_bytes(buf, "partial", 7);
    cr_assert_eq(sk_tcp_buffered(c), 0);
    SEND_LIT(s, " line\nrest\n");
    cr_assert_eq(sk_tcp_recv_until(c, '\n', buf + len, sizeof buf - len, &more, LONG_MS), SK_OK);
    cr_assert_eq(more, 6);
    assert_same_bytes(buf, "partial line\n", 13);
    EXPECT_LINE(c, 64, SK_OK, "rest\n");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, timeout_with_nothing_is_not_early_and_stores_nothing)
{
    sk_tcp *c, *s;
    int64_t t0;

    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    expect_until(c, '\n', 64, 300, SK_ETIMEDOUT, "", 0);
    tu_assert_took(t0, 300);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* A peer that keeps sending bytes but never the delimiter must not extend the call:
 * the budget covers the whole call, not each read. */
Test(stream_until, budget_covers_the_whole_call_while_a_peer_drips_without_a_delimiter)
{
    enum { N = 200 };
    sk_tcp *c, *s;
    pthread_t th;
    struct dripper d;
    char text[N], buf[N + 1];
    size_t len = 12345, more = 12345;
    int64_t t0;

    memset(text, 'x', N);
    tu_tcp_pair(NULL, &c, &s);
    drip_start(&d, &th, s, text, N, 1, 10); /* about 2 s of bytes */
    t0 = tu_now_ms();
    int rc = sk_tcp_recv_until(c, '\n', buf, sizeof buf, &len, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s after %zu bytes", sk_errname(rc), len);
    tu_assert_took(t0, 300);
    atomic_store(&d.stop, 1);
    drip_join(&d, th);
    size_t total = atomic_load(&d.sent);
    cr_assert(len >= 1 && len <= total, "recv_until kept %zu bytes, the peer sent %zu", len, total);
    assert_same_bytes(buf, text, len);
    /* The count was exact: what follows completes the record. */
    SEND_LIT(s, "\n");
    cr_assert_eq(sk_tcp_recv_until(c, '\n', buf + len, sizeof buf - len, &more, LONG_MS), SK_OK);
    cr_assert_eq(len + more, total + 1, "the record is %zu bytes, the peer sent %zu and a newline", len + more,
                 total);
    assert_same_bytes(buf, text, total);
    cr_assert_eq(buf[total], '\n');
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, timeout_zero_with_nothing_there_times_out_at_once)
{
    sk_tcp *c, *s;
    int64_t t0;

    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    expect_until(c, '\n', 64, 0, SK_ETIMEDOUT, "", 0);
    tu_assert_took(t0, 0);
    /* A line that is there is taken with timeout 0, and a partial one is kept. */
    SEND_LIT(s, "ready\npart");
    wait_arrived(c);
    expect_until(c, '\n', 64, 0, SK_OK, "ready\n", 6);
    expect_until(c, '\n', 64, 0, SK_ETIMEDOUT, "part", 4);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, end_of_stream_mid_record_gives_eclosed_with_the_partial_bytes)
{
    sk_tcp *c, *s;
    char buf[64];
    size_t len = 12345;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "whole\nhalf");
    sk_tcp_close(s);
    EXPECT_LINE(c, 64, SK_OK, "whole\n");
    cr_assert_eq(sk_tcp_recv_until(c, '\n', buf, sizeof buf, &len, LONG_MS), SK_ECLOSED);
    cr_assert_eq(errno, ENOTCONN);
    cr_assert_eq(len, 4);
    assert_same_bytes(buf, "half", 4);
    expect_until(c, '\n', 64, LONG_MS, SK_ECLOSED, "", 0);
    sk_tcp_close(c);
}

Test(stream_until, end_of_stream_with_nothing_gives_eclosed_and_zero_bytes)
{
    sk_tcp *c, *s;

    tu_tcp_pair(NULL, &c, &s);
    sk_tcp_close(s);
    expect_until(c, '\n', 64, LONG_MS, SK_ECLOSED, "", 0);
    cr_assert_eq(errno, ENOTCONN);
    sk_tcp_close(c);
}

Test(tcp_until, reset_by_the_peer_gives_econnreset_with_the_partial_bytes)
{
    sk_tcp *c, *s;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "line\npart");
    wait_arrived(c);
    /* Close with linger 0: the peer's system sends a reset. */
    tu_close_with_reset(s);
    EXPECT_LINE(c, 64, SK_OK, "line\n");
    expect_until(c, '\n', 64, LONG_MS, SK_ECONNRESET, "part", 4);
    sk_tcp_close(c);
}

struct until_call {
    sk_tcp *conn;
    char buf[64];
    size_t len;
    int rc;
};

static void *until_thread(void *p)
{
    struct until_call *u = p;
    u->rc = sk_tcp_recv_until(u->conn, '\n', u->buf, sizeof u->buf, &u->len, LONG_MS);
    return NULL;
}

Test(stream_until, shutdown_of_the_receiving_half_wakes_a_blocked_call_with_eclosed)
{
    sk_tcp *c, *s;
    pthread_t th;
    struct until_call u;

    tu_tcp_pair(NULL, &c, &s);
    memset(&u, 0, sizeof u);
    u.conn = c;
    u.len = 12345;
    u.rc = 12345;
    SEND_LIT(s, "abc");
    cr_assert_eq(pthread_create(&th, NULL, until_thread, &u), 0);
    tu_sleep_ms(150);
    cr_assert_eq(sk_tcp_shutdown(c, SK_SHUT_RD), SK_OK);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(u.rc, SK_ECLOSED, "got %s", sk_errname(u.rc));
    cr_assert_eq(u.len, 3);
    assert_same_bytes(u.buf, "abc", 3);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, delimiters_other_than_newline_zero_carriage_return_and_255)
{
    sk_tcp *c, *s;
    static const unsigned char z[] = {'a', 0, 'b', 'b', 0};
    static const unsigned char cr[] = "GET /\r\nHost\r\n";
    static const unsigned char ff[] = {'x', 0x7f, 0x80, 0xfe, 0xff, 'y', 0xff};

    tu_tcp_pair(NULL, &c, &s);
    send_text(s, z, sizeof z);
    expect_until(c, 0, 64, LONG_MS, SK_OK, "a\0", 2);
    expect_until(c, 0, 64, LONG_MS, SK_OK, "bb\0", 3);
    send_text(s, cr, sizeof cr - 1);
    expect_until(c, '\r', 64, LONG_MS, SK_OK, "GET /\r", 6);
    expect_until(c, '\r', 64, LONG_MS, SK_OK, "\nHost\r", 6);
    expect_until(c, '\r', 64, 0, SK_ETIMEDOUT, "\n", 1);
    /* 255 must match the byte 0xff, not a sign-extended char; 0x7f..0xfe pass. */
    send_text(s, ff, sizeof ff);
    expect_until(c, 255, 64, LONG_MS, SK_OK, ff, 5);
    expect_until(c, 255, 64, LONG_MS, SK_OK, ff + 5, 2);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, one_stream_read_with_a_different_delimiter_each_call)
{
    sk_tcp *c, *s;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "key=value;more text\n");
    expect_until(c, '=', 64, LONG_MS, SK_OK, "key=", 4);
    expect_until(c, ';', 64, LONG_MS, SK_OK, "value;", 6);
    EXPECT_LINE(c, 64, SK_OK, "more text\n");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, bad_arguments_are_einval_store_nothing_and_take_nothing)
{
    sk_tcp *l, *c, *s;
    char buf[16];
    size_t len;

    tu_tcp_pair(&l, &c, &s);
    SEND_LIT(s, "kept\n");
    wait_arrived(c);
    struct {
        sk_tcp *conn;
        int delim;
        char *buf;
        size_t cap;
        int timeout;
        const char *what;
    } bad[] = {
        {c, -1, buf, sizeof buf, LONG_MS, "delim -1"},
        {c, 256, buf, sizeof buf, LONG_MS, "delim 256"},
        {c, '\n', buf, 0, LONG_MS, "cap 0"},
        {c, '\n', NULL, sizeof buf, LONG_MS, "NULL buf"},
        {NULL, '\n', buf, sizeof buf, LONG_MS, "NULL conn"},
        {l, '\n', buf, sizeof buf, LONG_MS, "a listener"},
        {c, '\n', buf, sizeof buf, -2, "timeout -2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        len = 12345;
        errno = 0;
        int rc = sk_tcp_recv_until(bad[i].conn, bad[i].delim, bad[i].buf, bad[i].cap, &len, bad[i].timeout);
        cr_assert_eq(rc, SK_EINVAL, "%s: got %s", bad[i].what, sk_errname(rc));
        cr_assert_eq(errno, EINVAL, "%s: errno %d", bad[i].what, errno);
        cr_assert_eq(len, 0, "%s: *len is %zu", bad[i].what, len);
    }
    /* len may be NULL. */
    cr_assert_eq(sk_tcp_recv_until(c, 300, buf, sizeof buf, NULL, LONG_MS), SK_EINVAL);
    /* The stream is untouched. */
    EXPECT_LINE(c, 16, SK_OK, "kept\n");
    cr_assert_eq(sk_tcp_recv_until(c, '\n', buf, sizeof buf, NULL, 0), SK_ETIMEDOUT);
    sk_tcp_close(l);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* Lines that straddle the 8 KiB read-ahead boundary, all sent at once. */
Test(stream_until, a_thousand_odd_sized_lines_sent_at_once_straddle_the_read_buffer_correctly)
{
    enum { N = 1000, L = 37 };
    sk_tcp *c, *s;
    pthread_t th;
    struct dripper d;
    char *text = malloc((size_t)N * L), line[L + 8];
    size_t len;

    cr_assert_not_null(text);
    for (int i = 0; i < N; i++) {
        char *p = text + (size_t)i * L;
        snprintf(line, sizeof line, "%06d:", i);
        memcpy(p, line, 7);
        for (int j = 7; j < L - 1; j++)
            p[j] = (char)('a' + (i + j) % 26);
        p[L - 1] = '\n';
    }
    tu_tcp_pair(NULL, &c, &s);
    drip_start(&d, &th, s, text, (size_t)N * L, (size_t)N * L, 0);
    for (int i = 0; i < N; i++) {
        len = 12345;
        int rc = sk_tcp_recv_until(c, '\n', line, sizeof line, &len, LONG_MS);
        cr_assert_eq(rc, SK_OK, "line %d: %s", i, sk_errname(rc));
        cr_assert_eq(len, (size_t)L, "line %d is %zu bytes", i, len);
        cr_assert_eq(memcmp(line, text + (size_t)i * L, L), 0, "line %d differs", i);
    }
    drip_join(&d, th);
    cr_assert_eq(sk_tcp_buffered(c), 0);
    free(text);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

struct line_sender {
    sk_tcp *conn;
    int lines;
    int rc;
};

/* 64-byte lines "%08d" + filler + '\n', in sends of 100 lines. */
static void make_line(char *p, int i)
{
    char head[16];
    snprintf(head, sizeof head, "%08d", i);
    memcpy(p, head, 8);
    for (int j = 8; j < 63; j++)
        p[j] = (char)('A' + (i * 7 + j) % 58);
    p[63] = '\n';
}

static void *line_sender_thread(void *p)
{
    struct line_sender *ls = p;
    char chunk[64 * 100];
    ls->rc = SK_OK;
    for (int i = 0; i < ls->lines && ls->rc == SK_OK; i += 100) {
        int n = ls->lines - i < 100 ? ls->lines - i : 100;
        for (int k = 0; k < n; k++)
            make_line(chunk + k * 64, i + k);
        ls->rc = sk_tcp_send_all(ls->conn, chunk, (size_t)n * 64, NULL, LONG_MS);
    }
    return NULL;
}

Test(stream_until, ten_thousand_64_byte_lines_from_a_thread_all_read_correctly)
{
    enum { N = 10000 };
    sk_tcp *c, *s;
    pthread_t th;
    struct line_sender ls = {NULL, N, -100};
    char line[100], want[64];
    size_t len;

    tu_tcp_pair(NULL, &c, &s);
    ls.conn = s;
    cr_assert_eq(pthread_create(&th, NULL, line_sender_thread, &ls), 0);
    for (int i = 0; i < N; i++) {
        len = 12345;
        int rc = sk_tcp_recv_until(c, '\n', line, sizeof line, &len, LONG_MS);
        if (rc != SK_OK || len != 64) {
            pthread_join(th, NULL);
            cr_assert_fail("line %d: %s with %zu bytes", i, sk_errname(rc), len);
        }
        make_line(want, i);
        if (memcmp(line, want, 64) != 0) {
            pthread_join(th, NULL);
            cr_assert_fail("line %d differs: %.63s", i, line);
        }
    }
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(ls.rc, SK_OK, "the sending thread: %s", sk_errname(ls.rc));
    cr_assert_eq(sk_tcp_buffered(c), 0);
    expect_nothing_more(c, 50);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_until, a_line_longer_than_the_read_buffer_comes_back_whole_with_a_large_cap)
{
    enum { LINE = 100000, CAP = 200000 };
    sk_tcp *c, *s;
    pthread_t th;
    struct dripper d;
    unsigned char *text = pattern(LINE + 5, 11), *buf = malloc(CAP);
    size_t len = 12345;

    cr_assert_not_null(buf);
    /* No newline inside the pattern, one at the end of each of the two lines. */
    for (size_t i = 0; i < LINE + 5; i++)
        if (text[i] == '\n')
            text[i] = 'n';
    text[LINE - 1] = '\n';
    memcpy(text + LINE, "tail\n", 5);
    tu_tcp_pair(NULL, &c, &s);
    drip_start(&d, &th, s, text, LINE + 5, 7000, 1);
    int rc = sk_tcp_recv_until(c, '\n', buf, CAP, &len, LONG_MS);
    cr_assert_eq(rc, SK_OK, "got %s after %zu bytes", sk_errname(rc), len);
    cr_assert_eq(len, (size_t)LINE);
    assert_same_bytes(buf, text, LINE);
    EXPECT_LINE(c, 64, SK_OK, "tail\n");
    drip_join(&d, th);
    free(text);
    free(buf);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* The read buffer belongs to the endpoint: two connections read records independently. */
Test(stream_until, each_connection_keeps_its_own_read_ahead)
{
    sk_tcp *c1, *s1, *c2, *s2;

    tu_tcp_pair(NULL, &c1, &s1);
    tu_tcp_pair(NULL, &c2, &s2);
    SEND_LIT(s1, "one-a\none-b\n");
    SEND_LIT(s2, "two-a\ntwo-b\n");
    wait_arrived(c1);
    wait_arrived(c2);
    EXPECT_LINE(c1, 64, SK_OK, "one-a\n");
    EXPECT_LINE(c2, 64, SK_OK, "two-a\n");
    cr_assert_eq(sk_tcp_buffered(c1), 6);
    cr_assert_eq(sk_tcp_buffered(c2), 6);
    EXPECT_LINE(c2, 64, SK_OK, "two-b\n");
    EXPECT_LINE(c1, 64, SK_OK, "one-b\n");
    sk_tcp_close(c1);
    sk_tcp_close(s1);
    sk_tcp_close(c2);
    sk_tcp_close(s2);
}
