/* sk_tcp_recv_slice: records handed out in place, from the endpoint's read buffer.
 * The suite stream_slice runs over TCP and again over Unix streams (tests/CMakeLists.txt);
 * tcp_slice needs TCP (a reset). */
#include "testutil.h"

TestSuite(stream_slice, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(tcp_slice, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

#define LONG_MS 20000

#include "dripper.h"

static void send_text(sk_tcp *t, const char *s)
{
    tu_send_ok(t, s, strlen(s), LONG_MS);
}

/* Waits until conn's socket has something to read. */
static void wait_arrived(sk_tcp *conn)
{
    tu_wait_fd(sk_tcp_fd(conn), POLLIN, LONG_MS);
}

/* One call that must give rc and exactly the bytes want (want NULL: none). */
static void expect_slice(sk_tcp *conn, int delim, int ms, int rc, const char *want)
{
    const void *rec = (const void *)1;
    size_t len = 12345, wlen = want != NULL ? strlen(want) : 0;
    int got = sk_tcp_recv_slice(conn, delim, &rec, &len, ms);
    cr_assert_eq(got, rc, "expected %s, got %s", sk_errname(rc), sk_errname(got));
    cr_assert_eq(len, wlen, "expected %zu bytes, got %zu", wlen, len);
    if (wlen == 0)
        cr_assert_null(rec, "no bytes but a record address");
    else
        cr_assert_eq(memcmp(rec, want, wlen), 0, "expected \"%s\", got \"%.*s\"", want, (int)len, (const char *)rec);
}

Test(stream_slice, several_records_in_one_send_come_back_one_per_call_in_place)
{
    sk_tcp *c, *s;
    const void *a, *b;
    size_t la, lb;
    tu_tcp_pair(NULL, &c, &s);
    send_text(s, "one\ntwo\nthree\n");
    wait_arrived(c);
    cr_assert_eq(sk_tcp_recv_slice(c, '\n', &a, &la, LONG_MS), SK_OK);
    cr_assert_eq(la, 4);
    cr_assert_eq(memcmp(a, "one\n", 4), 0);
    cr_assert_eq(sk_tcp_buffered(c), 10, "read-ahead after the first record: %zu", sk_tcp_buffered(c));
    cr_assert_eq(sk_tcp_recv_slice(c, '\n', &b, &lb, LONG_MS), SK_OK);
    cr_assert_eq(lb, 4);
    cr_assert_eq(memcmp(b, "two\n", 4), 0);
    /* No copy: the second record follows the first in the same buffer. */
    cr_assert_eq((const char *)b, (const char *)a + 4, "the records were not handed out in place");
    expect_slice(c, '\n', LONG_MS, SK_OK, "three\n");
    cr_assert_eq(sk_tcp_buffered(c), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, a_record_arriving_one_byte_at_a_time_comes_back_whole)
{
    static const char text[] = "dripping slowly, a byte at a time\n";
    struct dripper d;
    pthread_t th;
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    drip_start(&d, &th, s, text, strlen(text), 1, 2);
    expect_slice(c, '\n', LONG_MS, SK_OK, text);
    drip_join(&d, th);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, a_timeout_mid_record_gives_nothing_and_the_next_call_completes_that_record)
{
    sk_tcp *c, *s;
    int64_t t0;
    tu_tcp_pair(NULL, &c, &s);
    send_text(s, "first\nhalf of ");
    wait_arrived(c);
    expect_slice(c, '\n', LONG_MS, SK_OK, "first\n");
    t0 = tu_now_ms();
    expect_slice(c, '\n', 150, SK_ETIMEDOUT, NULL);
    tu_assert_took(t0, 150);
    cr_assert_eq(sk_tcp_buffered(c), 8, "the partial record was not kept: %zu buffered", sk_tcp_buffered(c));
    send_text(s, "the second\n");
    expect_slice(c, '\n', LONG_MS, SK_OK, "half of the second\n");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, a_timeout_with_nothing_is_not_early_and_budget_0_does_not_wait)
{
    sk_tcp *c, *s;
    int64_t t0;
    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    expect_slice(c, '\n', 200, SK_ETIMEDOUT, NULL);
    tu_assert_took(t0, 200);
    t0 = tu_now_ms();
    expect_slice(c, '\n', 0, SK_ETIMEDOUT, NULL);
    cr_assert_lt(tu_now_ms() - t0, 1000, "budget 0 waited");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, the_budget_covers_the_whole_call_while_a_peer_drips_without_a_delimiter)
{
    static char text[64];
    struct dripper d;
    pthread_t th;
    sk_tcp *c, *s;
    int64_t t0;
    memset(text, 'z', sizeof text);
    tu_tcp_pair(NULL, &c, &s);
    drip_start(&d, &th, s, text, sizeof text, 1, 10);
    t0 = tu_now_ms();
    expect_slice(c, '\n', 250, SK_ETIMEDOUT, NULL);
    tu_assert_took(t0, 250);
    drip_join(&d, th);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* A record of len bytes, delimiter last, in a recognisable pattern. */
static char *long_record(size_t len)
{
    char *r = malloc(len + 1);
    cr_assert_not_null(r);
    for (size_t i = 0; i + 1 < len; i++)
        r[i] = (char)('a' + (i * 7 + i / 26) % 26);
    r[len - 1] = '\n';
    r[len] = '\0';
    return r;
}

Test(stream_slice, a_record_longer_than_the_buffer_comes_in_buffer_sized_pieces_with_etoolong)
{
    const size_t len = 2 * SK_TCP_READ_BUFFER + 100;
    char *r = long_record(len);
    struct dripper d;
    pthread_t th;
    sk_tcp *c, *s;
    size_t at = 0;
    tu_tcp_pair(NULL, &c, &s);
    drip_start(&d, &th, s, r, len, len, 0);
    for (int piece = 0; at < len; piece++) {
        const void *rec;
        size_t n;
        int rc = sk_tcp_recv_slice(c, '\n', &rec, &n, LONG_MS);
        cr_assert(rc == SK_OK || rc == SK_ETOOLONG, "piece %d: %s", piece, sk_errname(rc));
        cr_assert_leq(at + n, len);
        cr_assert_eq(memcmp(rec, r + at, n), 0, "piece %d differs", piece);
        at += n;
        if (at < len) {
            cr_assert_eq(rc, SK_ETOOLONG, "piece %d ended the record early", piece);
            cr_assert_eq(n, (size_t)SK_TCP_READ_BUFFER, "piece %d: %zu bytes", piece, n);
        } else {
            cr_assert_eq(rc, SK_OK);
        }
    }
    drip_join(&d, th);
    free(r);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, a_record_exactly_as_long_as_the_buffer_fits_even_after_other_records)
{
    const size_t len = SK_TCP_READ_BUFFER;
    char *r = long_record(len);
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    /* A short record first, so that the long one starts mid-buffer and must be moved. */
    send_text(s, "short\n");
    tu_send_ok(s, r, len, LONG_MS);
    expect_slice(c, '\n', LONG_MS, SK_OK, "short\n");
    expect_slice(c, '\n', LONG_MS, SK_OK, r);
    free(r);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, thousands_of_odd_sized_records_straddling_the_buffer_all_come_back_right)
{
    enum { N = 3000 };
    size_t total = 0, at = 0;
    char *text = malloc((size_t)N * 80);
    struct dripper d;
    pthread_t th;
    sk_tcp *c, *s;
    cr_assert_not_null(text);
    for (int i = 0; i < N; i++) {
        int L = 8 + (i * 37) % 70; /* 8 to 77 bytes */
        int k = snprintf(text + total, 16, "%06d:", i);
        for (int j = k; j < L - 1; j++)
            text[total + (size_t)j] = (char)('a' + (i + j) % 26);
        text[total + (size_t)L - 1] = '\n';
        total += (size_t)L;
    }
    tu_tcp_pair(NULL, &c, &s);
    /* Pieces of 1000 bytes: records are cut at every place in them. */
    drip_start(&d, &th, s, text, total, 1000, 0);
    for (int i = 0; i < N; i++) {
        const void *rec;
        size_t n, want = 8 + (size_t)((i * 37) % 70);
        int rc = sk_tcp_recv_slice(c, '\n', &rec, &n, LONG_MS);
        cr_assert_eq(rc, SK_OK, "record %d: %s", i, sk_errname(rc));
        cr_assert_eq(n, want, "record %d is %zu bytes, not %zu", i, n, want);
        cr_assert_eq(memcmp(rec, text + at, n), 0, "record %d differs", i);
        at += n;
    }
    drip_join(&d, th);
    cr_assert_eq(sk_tcp_buffered(c), 0);
    free(text);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, end_of_stream_mid_record_gives_eclosed_with_the_last_bytes_then_nothing)
{
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    send_text(s, "whole\ntail without end");
    sk_tcp_close(s);
    expect_slice(c, '\n', LONG_MS, SK_OK, "whole\n");
    expect_slice(c, '\n', LONG_MS, SK_ECLOSED, "tail without end");
    expect_slice(c, '\n', LONG_MS, SK_ECLOSED, NULL);
    sk_tcp_close(c);
}

Test(tcp_slice, a_reset_mid_record_gives_econnreset_with_the_last_bytes)
{
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    send_text(s, "line\npart");
    wait_arrived(c);
    tu_close_with_reset(s);
    expect_slice(c, '\n', LONG_MS, SK_OK, "line\n");
    expect_slice(c, '\n', LONG_MS, SK_ECONNRESET, "part");
    sk_tcp_close(c);
}

Test(stream_slice, slices_mix_with_recv_until_and_recv_in_stream_order)
{
    sk_tcp *c, *s;
    char b[64];
    size_t n;
    tu_tcp_pair(NULL, &c, &s);
    send_text(s, "a\nbb\nccc\ndddd");
    wait_arrived(c);
    expect_slice(c, '\n', LONG_MS, SK_OK, "a\n");
    cr_assert_eq(sk_tcp_recv_until(c, '\n', b, sizeof b, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(b, "bb\n", 3), 0);
    expect_slice(c, '\n', LONG_MS, SK_OK, "ccc\n");
    /* A plain receive takes the read-ahead first. */
    cr_assert_eq(sk_tcp_recv(c, b, sizeof b, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(b, "dddd", 4), 0);
    send_text(s, "e;f\n");
    expect_slice(c, ';', LONG_MS, SK_OK, "e;");
    expect_slice(c, '\n', LONG_MS, SK_OK, "f\n");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, a_partial_record_kept_by_a_timeout_is_read_by_recv_until_too)
{
    sk_tcp *c, *s;
    char b[64];
    size_t n;
    tu_tcp_pair(NULL, &c, &s);
    send_text(s, "begin");
    wait_arrived(c);
    expect_slice(c, '\n', 50, SK_ETIMEDOUT, NULL);
    send_text(s, "-end\n");
    cr_assert_eq(sk_tcp_recv_until(c, '\n', b, sizeof b, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 10);
    cr_assert_eq(memcmp(b, "begin-end\n", 10), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, delimiters_zero_and_255_work)
{
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    tu_send_ok(s, "ab\0cd\xff", 6, LONG_MS);
    wait_arrived(c);
    {
        const void *rec;
        size_t n;
        cr_assert_eq(sk_tcp_recv_slice(c, 0, &rec, &n, LONG_MS), SK_OK);
        cr_assert_eq(n, 3);
        cr_assert_eq(memcmp(rec, "ab\0", 3), 0);
        cr_assert_eq(sk_tcp_recv_slice(c, 255, &rec, &n, LONG_MS), SK_OK);
        cr_assert_eq(n, 3);
        cr_assert_eq(memcmp(rec, "cd\xff", 3), 0);
    }
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, bad_arguments_are_einval_and_take_nothing)
{
    sk_tcp *l, *c, *s;
    const void *rec = (const void *)1;
    size_t n = 99;
    tu_tcp_pair(&l, &c, &s);
    send_text(s, "kept\n");
    wait_arrived(c);
    cr_assert_eq(sk_tcp_recv_slice(NULL, '\n', &rec, &n, 0), SK_EINVAL);
    cr_assert_null(rec);
    cr_assert_eq(n, 0);
    cr_assert_eq(sk_tcp_recv_slice(c, '\n', NULL, &n, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_recv_slice(c, '\n', &rec, NULL, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_recv_slice(c, -1, &rec, &n, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_recv_slice(c, 256, &rec, &n, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_recv_slice(c, '\n', &rec, &n, -2), SK_EINVAL);
    cr_assert_eq(sk_tcp_recv_slice(l, '\n', &rec, &n, 0), SK_EINVAL);
    expect_slice(c, '\n', LONG_MS, SK_OK, "kept\n");
    sk_tcp_close(l);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_slice, a_cancelled_endpoint_gives_ecanceled_and_no_record)
{
    sk_tcp *c, *s;
    tu_tcp_pair(NULL, &c, &s);
    send_text(s, "never seen\n");
    wait_arrived(c);
    cr_assert_eq(sk_tcp_cancel(c), SK_OK);
    expect_slice(c, '\n', LONG_MS, SK_ECANCELED, NULL);
    sk_tcp_close(c);
    sk_tcp_close(s);
}
