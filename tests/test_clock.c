/* The clock reads of a finite budget (lib/deadline.h, docs/PERFORMANCE.md): a budget
 * starts at the first system call that may wait, so a call that never waits reads no
 * clock at all, and SK_FOREVER never reads one.
 *
 * clock_gettime is counted by defining it here: the program's own definition comes
 * before the C library's, for libsockkit.so (through its PLT) as for libsockkit.a
 * (at link time). It forwards to the system call, and counts only on the test's
 * thread and only between tu_count_begin and tu_count_end, so that Criterion's and
 * the helpers' own reads are left out. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

TestSuite(clock, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

static _Thread_local int counting;
static _Thread_local int reads;

int clock_gettime(clockid_t id, struct timespec *ts)
{
    if (counting)
        reads++;
    return (int)syscall(SYS_clock_gettime, id, ts);
}

static void tu_count_begin(void)
{
    reads = 0;
    counting = 1;
}

static int tu_count_end(void)
{
    counting = 0;
    return reads;
}

#define BUDGET_MS 5000

/* The interposition works at all: a call that must wait reads the clock. */
Test(clock, a_receive_that_waits_with_a_finite_budget_reads_the_clock_and_ends_on_time)
{
    sk_tcp *c, *s;
    char b[8];
    size_t n = 99;
    int64_t t0;
    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    tu_count_begin();
    cr_assert_eq(sk_tcp_recv(s, b, sizeof b, &n, 200), SK_ETIMEDOUT);
    cr_assert_geq(tu_count_end(), 1, "a wait of 200 ms read no clock: the count does not work");
    tu_assert_took(t0, 200);
    cr_assert_eq(n, 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(clock, a_send_that_goes_at_once_with_a_finite_budget_reads_no_clock)
{
    sk_tcp *c, *s;
    char b[64], got[64];
    size_t n = 0;
    memset(b, 'x', sizeof b);
    tu_tcp_pair(NULL, &c, &s);
    for (int i = 0; i < 100; i++) {
        tu_count_begin();
        cr_assert_eq(sk_tcp_send_all(c, b, sizeof b, &n, BUDGET_MS), SK_OK);
        cr_assert_eq(tu_count_end(), 0, "send_all %d read the clock", i);
        cr_assert_eq(n, sizeof b);
        tu_count_begin();
        cr_assert_eq(sk_tcp_send(c, b, sizeof b, &n, BUDGET_MS), SK_OK);
        cr_assert_eq(tu_count_end(), 0, "send %d read the clock", i);
        cr_assert_eq(n, sizeof b);
        cr_assert_eq(sk_tcp_recv_exact(s, got, sizeof got, NULL, BUDGET_MS), SK_OK);
        cr_assert_eq(sk_tcp_recv_exact(s, got, sizeof got, NULL, BUDGET_MS), SK_OK);
        tu_assert_same_bytes(got, b, sizeof b);
    }
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(clock, a_datagram_sent_at_once_with_a_finite_budget_reads_no_clock)
{
    sk_udp *rx, *tx;
    sk_addr a;
    char b[32] = "datagram", got[32];
    size_t n = 0;
    cr_assert_eq(sk_udp_bind(&rx, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(rx, &a), SK_OK);
    cr_assert_eq(sk_udp_connect(&tx, "127.0.0.1", sk_addr_port(&a)), SK_OK);
    tu_count_begin();
    cr_assert_eq(sk_udp_send(tx, b, sizeof b, BUDGET_MS), SK_OK);
    cr_assert_eq(tu_count_end(), 0, "sk_udp_send read the clock");
    cr_assert_eq(sk_udp_recvfrom(rx, got, sizeof got, &n, NULL, BUDGET_MS), SK_OK);
    cr_assert_eq(n, sizeof b);
    sk_udp_close(tx);
    sk_udp_close(rx);
}

Test(clock, records_already_read_ahead_come_back_without_a_clock_read)
{
    sk_tcp *c, *s;
    char line[16];
    size_t n = 0;
    tu_tcp_pair(NULL, &c, &s);
    tu_send_ok(c, "one\ntwo\nthree\nrest", 18, BUDGET_MS);
    /* All of it has arrived: one system call takes it into the read-ahead. */
    tu_wait_fd(sk_tcp_fd(s), POLLIN, BUDGET_MS);
    cr_assert_eq(sk_tcp_recv_until(s, '\n', line, sizeof line, &n, BUDGET_MS), SK_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(line, "one\n", 4), 0);
    cr_assert_eq(sk_tcp_buffered(s), 14, "the 18 bytes came in more than one piece");
    tu_count_begin();
    cr_assert_eq(sk_tcp_recv_until(s, '\n', line, sizeof line, &n, BUDGET_MS), SK_OK);
    cr_assert_eq(tu_count_end(), 0, "a record from the read-ahead read the clock");
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(line, "two\n", 4), 0);
    cr_assert_eq(sk_tcp_recv_until(s, '\n', line, sizeof line, &n, BUDGET_MS), SK_OK);
    cr_assert_eq(memcmp(line, "three\n", 6), 0);
    /* What is left of the read-ahead, through sk_tcp_recv: no clock either. */
    tu_count_begin();
    cr_assert_eq(sk_tcp_recv(s, line, sizeof line, &n, BUDGET_MS), SK_OK);
    cr_assert_eq(tu_count_end(), 0, "sk_tcp_recv from the read-ahead read the clock");
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(line, "rest", 4), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(clock, a_receive_of_data_already_there_reads_the_clock_at_most_once)
{
    sk_tcp *c, *s;
    char b[256], got[256];
    memset(b, 'y', sizeof b);
    tu_tcp_pair(NULL, &c, &s);
    tu_send_ok(c, b, sizeof b, BUDGET_MS);
    tu_wait_fd(sk_tcp_fd(s), POLLIN, BUDGET_MS);
    tu_count_begin();
    cr_assert_eq(sk_tcp_recv_exact(s, got, 1, NULL, BUDGET_MS), SK_OK);
    cr_assert_leq(tu_count_end(), 1);
    tu_count_begin();
    cr_assert_eq(sk_tcp_recv_exact(s, got, sizeof got - 1, NULL, BUDGET_MS), SK_OK);
    cr_assert_leq(tu_count_end(), 1);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(clock, transfers_without_a_budget_never_read_the_clock)
{
    sk_tcp *c, *s;
    char b[4096], got[4096];
    memset(b, 'z', sizeof b);
    tu_tcp_pair(NULL, &c, &s);
    tu_count_begin();
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(sk_tcp_send_all(c, b, sizeof b, NULL, SK_FOREVER), SK_OK);
        cr_assert_eq(sk_tcp_recv_exact(s, got, sizeof got, NULL, SK_FOREVER), SK_OK);
        cr_assert_eq(sk_tcp_send_all(s, b, 10, NULL, 0), SK_OK);
        cr_assert_eq(sk_tcp_recv_exact(c, got, 10, NULL, SK_FOREVER), SK_OK);
    }
    cr_assert_eq(tu_count_end(), 0);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* The first try of a send that cannot go at once moves what fits without waiting;
 * the budget starts after it and still bounds the whole call. */
Test(clock, a_send_all_that_fills_the_buffer_still_ends_at_its_budget_with_an_exact_count)
{
    sk_tcp *c, *s;
    static char b[16 << 20];
    size_t n = 0, got = 0;
    int64_t t0;
    char sink[65536];
    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_send_all(c, b, sizeof b, &n, 300), SK_ETIMEDOUT);
    tu_assert_took(t0, 300);
    cr_assert_gt(n, 0);
    cr_assert_lt(n, sizeof b);
    cr_assert_eq(sk_tcp_shutdown(c, SK_SHUT_WR), SK_OK);
    for (;;) {
        size_t k = 0;
        int rc = sk_tcp_recv(s, sink, sizeof sink, &k, BUDGET_MS);
        got += k;
        if (rc == SK_ECLOSED)
            break;
        cr_assert_eq(rc, SK_OK);
    }
    cr_assert_eq(got, n, "the peer got %zu bytes, send_all said %zu", got, n);
    sk_tcp_close(c);
    sk_tcp_close(s);
}
