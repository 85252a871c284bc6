/* Faults for gather writes, delimited reads and UDP batches: sk_tcp_send_allv,
 * sk_tcp_recv_until, sk_udp_send_batch and sk_udp_recv_batch under the LD_PRELOAD shim
 * of tests/shim (short transfers, EINTR, spurious EAGAIN, signal storms; see
 * faultshim.h), plus the system calls they cost, counted by it. ctest preloads the shim
 * (tests/CMakeLists.txt does so for every program named faults*); run by hand, this
 * program needs LD_PRELOAD=<build>/tests/libsk_faultshim.so and fails clearly without
 * it. The UDP tests need a shim that interposes sendmmsg and recvmmsg.
 *
 * Every test sets its mode first (each test runs in its own process) and checks the
 * shim's counters, so that no test passes without the faults (or the calls) it is about. */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "shim_util.h"

TestSuite(faults_records, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

#define MIB ((size_t)1 << 20)
#define LONG_MS 20000

/* ---- data ---- */

#include "records_util.h"

/* ------------------------------------------------------------------------------------ */
/* sk_tcp_send_allv                                                                     */
/* ------------------------------------------------------------------------------------ */

Test(faults_records, header_and_body_leave_in_one_sendmsg)
{
    sk_tcp *c, *s;
    static const char header[] = "HEADER 1000\n";
    unsigned char *body = pattern(1000, 1), in[1100];
    sk_iovec iov[2] = {{header, sizeof header - 1}, {body, 1000}};
    size_t total = sizeof header - 1 + 1000, sent = 12345, got = 0;

    tu_tcp_pair(NULL, &c, &s);
    faults("none"); /* count, inject nothing */
    cr_assert_eq(sk_tcp_send_allv(c, iov, 2, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, total);
    cr_assert_eq(injected("sendmsg"), 1, "a header and a body took %lu sendmsg calls", injected("sendmsg"));
    cr_assert_eq(injected("send"), 0);
    cr_assert_eq(injected("sendto"), 0);
    cr_assert_eq(injected("poll"), 0, "send_allv polled before sending");
    cr_assert_eq(sk_tcp_recv_exact(s, in, total, &got, LONG_MS), SK_OK);
    assert_same_bytes(in, header, sizeof header - 1);
    assert_same_bytes(in + sizeof header - 1, body, 1000);
    free(body);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* At most 64 buffers a call (so at least 16 calls for 1000), and not one call per
 * buffer. */
Test(faults_records, a_thousand_buffers_leave_in_sixty_four_buffer_calls_not_one_call_each)
{
    enum { N = 1000 };
    static sk_iovec iov[N];
    sk_tcp *c, *s;
    unsigned char *pool = pattern(N * 3, 2);
    size_t total, sent = 12345, got = 0;

    for (size_t i = 0; i < N; i++) {
        iov[i].base = pool + (N - 1 - i) * 3;
        iov[i].len = 1 + i % 3;
    }
    unsigned char *want = concat(iov, N, &total), *in = malloc(total);
    cr_assert_not_null(in);
    tu_tcp_pair(NULL, &c, &s);
    faults("none");
    cr_assert_eq(sk_tcp_send_allv(c, iov, N, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, total);
    cr_assert_geq(injected("sendmsg"), 16, "%lu sendmsg calls for 1000 buffers: more than 64 in one",
                  injected("sendmsg"));
    cr_assert_leq(injected("sendmsg"), 32, "%lu sendmsg calls for 1000 buffers (%zu bytes)", injected("sendmsg"),
                  total);
    cr_assert_eq(injected("send"), 0);
    cr_assert_eq(sk_tcp_recv_exact(s, in, total, &got, LONG_MS), SK_OK);
    assert_same_bytes(in, want, total);
    free(pool);
    free(want);
    free(in);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* Every buffer is at least 8 bytes and each call moves at most 7, so a partial write
 * ends inside every one of them; empty buffers are scattered in between. */
static void allv_under_faults(const char *mode, size_t nbufs, unsigned seed)
{
    sk_tcp *c, *s;
    pthread_t th;
    struct tu_xfer x;
    sk_iovec *iov = calloc(nbufs, sizeof *iov);
    unsigned char *pool = pattern(nbufs * 64, seed);
    size_t total, sent = 12345;

    cr_assert_not_null(iov);
    for (size_t i = 0; i < nbufs; i++) {
        iov[i].base = pool + ((i * 37) % nbufs) * 64;
        iov[i].len = i % 9 == 4 ? 0 : 8 + (i * 13) % 50;
    }
    unsigned char *want = concat(iov, nbufs, &total);
    tu_tcp_pair(NULL, &c, &s);
    memset(&x, 0, sizeof x);
    x.conn = s;
    x.timeout_ms = LONG_MS;
    x.len = total;
    x.buf = malloc(total);
    cr_assert_not_null(x.buf);
    faults(mode);
    cr_assert_eq(pthread_create(&th, NULL, tu_recv_exact_job, &x), 0);
    int rc = sk_tcp_send_allv(c, iov, nbufs, &sent, LONG_MS);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(rc, SK_OK, "sk_tcp_send_allv: %s after %zu of %zu bytes", sk_errname(rc), sent, total);
    cr_assert_eq(sent, total);
    cr_assert_eq(x.rc, SK_OK, "receiver: %s after %zu bytes", sk_errname(x.rc), x.done);
    cr_assert_eq(x.done, total);
    assert_same_bytes(x.buf, want, total);
    cr_assert_geq(injected("short:sendmsg"), total / 8, "only %lu sendmsg calls were clamped",
                  injected("short:sendmsg"));
    cr_assert_geq(injected("eintr:sendmsg"), total / 7 / 8, "only %lu sendmsg calls were interrupted",
                  injected("eintr:sendmsg"));
    free(x.buf);
    free(want);
    free(pool);
    free(iov);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults_records, send_allv_resumes_inside_every_buffer_under_short_writes_and_eintr)
{
    allv_under_faults("short+eintr", 200, 3);
}

Test(faults_records, send_allv_of_more_than_64_buffers_arrives_intact_under_short_writes_and_eintr)
{
    allv_under_faults("short+eintr=3", 3000, 4);
}

/* The peer never reads while the call runs; afterwards it must find exactly the first
 * *sent bytes of the concatenation. */
static void allv_timeout_then_drain(const char *mode, const char *counter, unsigned long least)
{
    enum { N = 97 };
    static sk_iovec iov[N];
    sk_tcp *c, *s;
    unsigned char *pool = pattern(2 * MIB, 5);
    size_t total = uneven_buffers(iov, N, pool), sent;

    tu_tcp_pair(NULL, &c, &s);
    faults(mode);
    sent = allv_times_out(c, iov, N, total, 300);
    cr_assert_geq(injected(counter), least, "only %lu for %s", injected(counter), counter);
    faults("none");
    peer_gets_exactly(c, s, iov, N, sent);
    free(pool);
}

Test(faults_records, send_allv_reports_exact_sent_on_timeout_under_short_writes_and_eintr)
{
    allv_timeout_then_drain("short+eintr", "short:sendmsg", 100);
}

Test(faults_records, send_allv_timeout_counts_from_the_start_when_every_wait_is_interrupted)
{
    allv_timeout_then_drain("interrupt=40", "eintr:sendmsg", 3);
}

Test(faults_records, send_allv_with_timeout_zero_retries_an_interrupted_call)
{
    sk_tcp *c, *s;
    unsigned char in[20];
    sk_iovec iov[] = {{"0123456789", 10}, {"abcdefghij", 10}};
    size_t sent = 12345, got = 0;

    tu_tcp_pair(NULL, &c, &s);
    faults("eintr=2"); /* the first call is interrupted, the second goes through */
    cr_assert_eq(sk_tcp_send_allv(c, iov, 2, &sent, 0), SK_OK);
    cr_assert_eq(sent, 20);
    cr_assert_eq(injected("eintr:sendmsg"), 1);
    faults("none");
    cr_assert_eq(sk_tcp_recv_exact(s, in, 20, &got, LONG_MS), SK_OK);
    assert_same_bytes(in, "0123456789abcdefghij", 20);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* ------------------------------------------------------------------------------------ */
/* sk_tcp_recv_until                                                                    */
/* ------------------------------------------------------------------------------------ */

/* The point of the read buffer: one system call brings many records. */
Test(faults_records, a_hundred_short_lines_that_arrived_together_cost_one_read)
{
    enum { N = 100 };
    sk_tcp *c, *s;
    char text[N * 20], line[64];
    size_t len;

    for (int i = 0; i < N; i++) {
        snprintf(line, sizeof line, "line %03d of a hundr", i);
        memcpy(text + i * 20, line, 19);
        text[i * 20 + 19] = '\n';
    }
    tu_tcp_pair(NULL, &c, &s);
    send_text(s, text, sizeof text);
    wait_arrived(c);
    faults("none");
    for (int i = 0; i < N; i++) {
        len = 12345;
        cr_assert_eq(sk_tcp_recv_until(c, '\n', line, sizeof line, &len, LONG_MS), SK_OK, "line %d", i);
        cr_assert_eq(len, 20);
        assert_same_bytes(line, text + i * 20, 20);
    }
    unsigned long reads = injected("recv") + injected("recvfrom") + injected("recvmsg");
    cr_assert_geq(reads, 1);
    cr_assert_leq(reads, 2, "%lu reads for %d lines of 20 bytes that had all arrived", reads, N);
    cr_assert_eq(injected("poll"), 0, "recv_until polled");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults_records, lines_come_out_right_under_short_reads_and_eintr)
{
    enum { N = 300 };
    sk_tcp *c, *s;
    pthread_t th;
    struct tu_xfer x;
    size_t total = 0, off[N + 1];
    unsigned char *text = malloc((size_t)N * 81);
    char line[128];

    cr_assert_not_null(text);
    for (int i = 0; i < N; i++) {
        size_t n = 1 + (size_t)(i * 29) % 80; /* 1 to 80 bytes, delimiter included */
        off[i] = total;
        for (size_t j = 0; j + 1 < n; j++)
            text[total + j] = (unsigned char)('!' + (i + (int)j) % 90);
        text[total + n - 1] = '\n';
        total += n;
    }
    off[N] = total;
    tu_tcp_pair(NULL, &c, &s);
    memset(&x, 0, sizeof x);
    x.conn = s;
    x.timeout_ms = LONG_MS;
    x.buf = text;
    x.len = total;
    faults("short+eintr");
    cr_assert_eq(pthread_create(&th, NULL, tu_send_all_job, &x), 0);
    for (int i = 0; i < N; i++) {
        size_t len = 12345, want = off[i + 1] - off[i];
        int rc = sk_tcp_recv_until(c, '\n', line, sizeof line, &len, LONG_MS);
        if (rc != SK_OK || len != want || memcmp(line, text + off[i], want) != 0) {
            pthread_join(th, NULL);
            cr_assert_fail("line %d: %s with %zu bytes, expected %zu bytes%s", i, sk_errname(rc), len, want,
                           rc == SK_OK && len == want ? " (content differs)" : "");
        }
    }
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(x.rc, SK_OK, "sender: %s", sk_errname(x.rc));
    cr_assert_eq(sk_tcp_buffered(c), 0);
    cr_assert_geq(injected("short:recv"), total / 8, "only %lu reads were clamped", injected("short:recv"));
    cr_assert_geq(injected("eintr:recv"), total / 7 / 8, "only %lu reads were interrupted", injected("eintr:recv"));
    free(text);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults_records, over_long_record_gives_etoolong_pieces_under_short_reads_and_eintr)
{
    sk_tcp *c, *s;

    tu_tcp_pair(NULL, &c, &s);
    faults("short+eintr");
    SEND_LIT(s, "abcdefghijklmnopqrstuvwx\nok\n");
    expect_until(c, '\n', 10, LONG_MS, SK_ETOOLONG, "abcdefghij", 10);
    expect_until(c, '\n', 10, LONG_MS, SK_ETOOLONG, "klmnopqrst", 10);
    expect_until(c, '\n', 10, LONG_MS, SK_OK, "uvwx\n", 5);
    EXPECT_LINE(c, 10, SK_OK, "ok\n");
    cr_assert_geq(injected("short:recv"), 3, "only %lu reads were clamped", injected("short:recv"));
    cr_assert_geq(injected("eintr:recv"), 1, "no read was interrupted");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults_records, recv_and_recv_exact_after_recv_until_keep_stream_order_under_short_reads_and_eintr)
{
    sk_tcp *c, *s;
    unsigned char *body = pattern(5000, 6), *in = malloc(5000), msg[5 + 5000 + 3];
    size_t got = 12345, total;

    cr_assert_not_null(in);
    memcpy(msg, "5000\n", 5);
    memcpy(msg + 5, body, 5000);
    memcpy(msg + 5005, "end", 3);
    /* The body must not contain the delimiter before the header is read: it cannot, the
     * header comes first. */
    tu_tcp_pair(NULL, &c, &s);
    faults("short+eintr");
    send_text(s, msg, sizeof msg);
    EXPECT_LINE(c, 16, SK_OK, "5000\n");
    cr_assert_eq(sk_tcp_recv_exact(c, in, 5000, &got, LONG_MS), SK_OK);
    cr_assert_eq(got, 5000);
    assert_same_bytes(in, body, 5000);
    total = 0;
    for (int i = 0; i < 10 && total < 3; i++) {
        got = 12345;
        cr_assert_eq(sk_tcp_recv(c, in + total, 3 - total, &got, LONG_MS), SK_OK);
        total += got;
    }
    cr_assert_eq(total, 3);
    assert_same_bytes(in, "end", 3);
    cr_assert_geq(injected("short:recv"), 5000 / 8, "only %lu reads were clamped", injected("short:recv"));
    free(body);
    free(in);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults_records, recv_until_timeout_with_a_partial_line_counts_from_the_start_when_every_wait_is_interrupted)
{
    sk_tcp *c, *s;
    char buf[64];
    size_t len = 12345, more = 12345;
    int64_t t0;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "half a ");
    wait_arrived(c);
    faults("interrupt=40");
    t0 = tu_now_ms();
    int rc = sk_tcp_recv_until(c, '\n', buf, sizeof buf, &len, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_eq(len, 7);
    assert_same_bytes(buf, "half a ", 7);
    cr_assert_geq(injected("eintr:recv"), 3, "only %lu reads were interrupted", injected("eintr:recv"));
    SEND_LIT(s, "line\n");
    cr_assert_eq(sk_tcp_recv_until(c, '\n', buf + len, sizeof buf - len, &more, LONG_MS), SK_OK);
    cr_assert_eq(more, 5);
    assert_same_bytes(buf, "half a line\n", 12);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults_records, recv_until_with_timeout_zero_retries_an_interrupted_read)
{
    sk_tcp *c, *s;

    tu_tcp_pair(NULL, &c, &s);
    SEND_LIT(s, "there\n");
    wait_arrived(c);
    faults("eintr=2"); /* the first read is interrupted, the second goes through */
    expect_until(c, '\n', 64, 0, SK_OK, "there\n", 6);
    cr_assert_eq(injected("eintr:recv"), 1);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults_records, end_of_stream_mid_record_keeps_the_partial_bytes_under_short_reads_and_eintr)
{
    sk_tcp *c, *s;
    char buf[64];
    size_t len = 12345;

    tu_tcp_pair(NULL, &c, &s);
    faults("short+eintr");
    SEND_LIT(s, "first line\nunfinished record");
    sk_tcp_close(s);
    EXPECT_LINE(c, 64, SK_OK, "first line\n");
    cr_assert_eq(sk_tcp_recv_until(c, '\n', buf, sizeof buf, &len, LONG_MS), SK_ECLOSED);
    cr_assert_eq(len, 17);
    assert_same_bytes(buf, "unfinished record", 17);
    cr_assert_geq(injected("short:recv"), 28 / 8, "only %lu reads were clamped", injected("short:recv"));
    sk_tcp_close(c);
}

/* ------------------------------------------------------------------------------------ */
/* Spurious EAGAIN: a blocking call woken for nothing must be tried again              */
/* ------------------------------------------------------------------------------------ */

Test(faults_records, send_allv_retries_spurious_eagain_before_its_deadline)
{
    sk_tcp *c, *s;
    unsigned char *a = pattern(5000, 14), *in = malloc(7000);
    sk_iovec iov[] = {{a, 2000}, {a + 100, 3000}, {a + 4000, 1000}, {a, 1000}};
    size_t sent = 12345, got = 0, total = 7000;
    unsigned char *want = concat(iov, 4, &total);

    cr_assert_not_null(in);
    tu_tcp_pair(NULL, &c, &s);
    faults("short+eagain=2"); /* every other sendmsg fails with EAGAIN, having done nothing */
    int rc = sk_tcp_send_allv(c, iov, 4, &sent, LONG_MS);
    cr_assert_eq(rc, SK_OK, "got %s after %zu bytes", sk_errname(rc), sent);
    cr_assert_eq(sent, total);
    cr_assert_geq(injected("eagain:sendmsg"), total / 7 / 2, "only %lu spurious EAGAINs",
                  injected("eagain:sendmsg"));
    faults("none");
    cr_assert_eq(sk_tcp_recv_exact(s, in, total, &got, LONG_MS), SK_OK);
    assert_same_bytes(in, want, total);
    free(a);
    free(in);
    free(want);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults_records, recv_until_retries_spurious_eagain_before_its_deadline)
{
    sk_tcp *c, *s;

    tu_tcp_pair(NULL, &c, &s);
    faults("short+eintr+eagain");
    SEND_LIT(s, "a spurious wake-up is not a timeout\nnor is this\n");
    EXPECT_LINE(c, 64, SK_OK, "a spurious wake-up is not a timeout\n");
    EXPECT_LINE(c, 64, SK_OK, "nor is this\n");
    cr_assert_geq(injected("eagain:recv"), 1, "no read got a spurious EAGAIN");
    cr_assert_geq(injected("eintr:recv"), 1, "no read was interrupted");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* ------------------------------------------------------------------------------------ */
/* UDP batches (sendmmsg / recvmmsg)                                                    */
/* ------------------------------------------------------------------------------------ */

static unsigned char dbyte(int i, size_t j)
{
    uint32_t x = ((uint32_t)i * 40503u + (uint32_t)j) * 2654435761u;
    return (unsigned char)((x >> 24) ^ (x >> 9) ^ j);
}

Test(faults_records, udp_batches_arrive_whole_under_eintr_and_spurious_eagain)
{
    enum { N = 100, CAP = 1500 };
    sk_udp *a, *b;
    sk_addr aa, ba;
    static sk_dgram out[N], in[N];
    char want_from[SK_ADDR_STRLEN], from[SK_ADDR_STRLEN];
    size_t sent = 12345, got = 0;

    cr_assert_eq(sk_udp_bind(&a, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_bind(&b, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(a, &aa), SK_OK);
    cr_assert_eq(sk_udp_local_addr(b, &ba), SK_OK);
    cr_assert_eq(sk_addr_format(&aa, want_from, sizeof want_from), SK_OK);
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i * 97) % 1200 + 1;
        unsigned char *p = malloc(len);
        cr_assert_not_null(p);
        for (size_t j = 0; j < len; j++)
            p[j] = dbyte(i, j);
        out[i].buf = p;
        out[i].len = len;
        out[i].addr = ba;
        in[i].buf = malloc(CAP);
        cr_assert_not_null(in[i].buf);
        in[i].len = CAP;
    }
    faults("short+eintr+eagain");
    int rc = sk_udp_send_batch(a, out, N, &sent, LONG_MS);
    cr_assert_eq(rc, SK_OK, "send_batch: %s after %zu", sk_errname(rc), sent);
    cr_assert_eq(sent, N);
    for (int calls = 0; got < N; calls++) {
        size_t n = 12345;
        cr_assert_lt(calls, N, "too many calls");
        rc = sk_udp_recv_batch(b, in + got, N - got, &n, LONG_MS);
        cr_assert_eq(rc, SK_OK, "recv_batch after %zu datagrams: %s", got, sk_errname(rc));
        cr_assert(n >= 1 && n <= 64 && n <= N - got, "recv_batch returned %zu", n);
        got += n;
    }
    for (int i = 0; i < N; i++) {
        cr_assert_eq(in[i].received, out[i].len, "datagram %d: %zu bytes, sent %zu", i, in[i].received,
                     out[i].len);
        cr_assert_eq(in[i].full_len, out[i].len);
        cr_assert_eq(in[i].truncated, 0);
        assert_same_bytes(in[i].buf, out[i].buf, out[i].len);
        cr_assert_eq(sk_addr_format(&in[i].addr, from, sizeof from), SK_OK);
        cr_assert_str_eq(from, want_from);
    }
    cr_assert_geq(injected("eintr:sendmmsg"), 1, "no sendmmsg was interrupted");
    cr_assert_geq(injected("eagain:sendmmsg"), 1, "no sendmmsg got a spurious EAGAIN");
    cr_assert_geq(injected("eintr:recvmmsg"), 1, "no recvmmsg was interrupted");
    cr_assert_geq(injected("eagain:recvmmsg"), 1, "no recvmmsg got a spurious EAGAIN");
    cr_assert_eq(injected("short"), 0, "datagrams were clamped");
    for (int i = 0; i < N; i++) {
        free(out[i].buf);
        free(in[i].buf);
    }
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(faults_records, recv_batch_timeout_counts_from_the_start_when_every_wait_is_interrupted)
{
    sk_udp *u;
    unsigned char buf[4][64];
    sk_dgram in[4];
    size_t n = 12345;
    int64_t t0;

    memset(in, 0, sizeof in);
    for (int i = 0; i < 4; i++) {
        in[i].buf = buf[i];
        in[i].len = sizeof buf[i];
    }
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    faults("interrupt=40");
    t0 = tu_now_ms();
    int rc = sk_udp_recv_batch(u, in, 4, &n, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_eq(n, 0);
    cr_assert_geq(injected("eintr:recvmmsg"), 3, "only %lu recvmmsg calls were interrupted",
                  injected("eintr:recvmmsg"));
    sk_udp_close(u);
}

Test(faults_records, recv_batch_timeout_is_not_cut_short_by_spurious_eagain)
{
    sk_udp *u;
    unsigned char buf[64];
    sk_dgram in[1];
    size_t n = 12345;
    int64_t t0;

    memset(in, 0, sizeof in);
    in[0].buf = buf;
    in[0].len = sizeof buf;
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    faults("eagain=1"); /* every recvmmsg fails at once with EAGAIN */
    t0 = tu_now_ms();
    int rc = sk_udp_recv_batch(u, in, 1, &n, 200);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 200);
    cr_assert_eq(n, 0);
    cr_assert_geq(injected("eagain:recvmmsg"), 2, "only %lu spurious EAGAINs", injected("eagain:recvmmsg"));
    sk_udp_close(u);
}

Test(faults_records, recv_batch_with_timeout_zero_retries_an_interrupted_call)
{
    sk_udp *a, *b;
    sk_addr ba;
    unsigned char buf[2][64];
    sk_dgram in[2], out[2];
    char p0[] = "first", p1[] = "second";
    size_t n = 12345;

    cr_assert_eq(sk_udp_bind(&a, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_bind(&b, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(b, &ba), SK_OK);
    memset(out, 0, sizeof out);
    out[0].buf = p0;
    out[0].len = 5;
    out[0].addr = ba;
    out[1].buf = p1;
    out[1].len = 6;
    out[1].addr = ba;
    cr_assert_eq(sk_udp_send_batch(a, out, 2, NULL, LONG_MS), SK_OK);
    tu_sleep_ms(50);
    memset(in, 0, sizeof in);
    in[0].buf = buf[0];
    in[0].len = 64;
    in[1].buf = buf[1];
    in[1].len = 64;
    faults("eintr=2"); /* the first call is interrupted, the second goes through */
    int rc = sk_udp_recv_batch(b, in, 2, &n, 0);
    cr_assert_eq(rc, SK_OK, "got %s", sk_errname(rc));
    cr_assert_eq(n, 2);
    cr_assert_eq(in[0].received, 5);
    cr_assert_arr_eq(buf[0], "first", 5);
    cr_assert_eq(in[1].received, 6);
    cr_assert_arr_eq(buf[1], "second", 6);
#if SK_HAVE_RECVMMSG
    cr_assert_eq(injected("eintr:recvmmsg"), 1);
#else
    cr_assert_geq(injected("eintr:recvmmsg"), 1); /* one recvmsg a datagram: more calls to cut */
#endif
    sk_udp_close(a);
    sk_udp_close(b);
}
