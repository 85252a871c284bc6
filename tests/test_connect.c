/* Happy Eyeballs v2 in sk_tcp_connect, sk_tcp_connect_report and sk_tcp_connect_with
 * (lib/connect.c). Runs with the resolver stand-in tests/shim/gaishim.c preloaded:
 * "addrs-6-2.sk-test" resolves to [::1] then 127.0.0.2, in that order, on the port
 * asked for. A blackholed address is a loopback listener whose accept queue is full:
 * the kernel drops the SYNs that come after, as a firewall that drops packets does. */
#include <criterion/criterion.h>
#include <netdb.h>

#include "testutil.h"
#include "connect_util.h"

static void setup(void)
{
    cu_require_gaishim();
    tu_fd_guard_begin();
}

TestSuite(connect, .init = setup, .fini = tu_fd_guard_end, .timeout = 60);

#define LONG_MS 10000

static void expect_attempt(const sk_connect_attempt *a, const char *addr, int code)
{
    char buf[SK_ADDR_STRLEN];
    cr_assert_str_eq(cu_fmt(&a->addr, buf, sizeof buf), addr);
    cr_assert_eq(a->code, code, "%s: %s, not %s", addr, sk_errname(a->code), sk_errname(code));
    cr_assert_geq(a->started_ms, 0);
    cr_assert_geq(a->ended_ms, a->started_ms);
}

static sk_connect_options delay_of(int ms)
{
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    o.attempt_delay_ms = ms;
    return o;
}

Test(connect, a_single_address_is_one_attempt_reported_as_the_winner)
{
    sk_tcp *l, *c, *s;
    sk_addr a;
    sk_connect_attempt att[4];
    size_t count = 99;
    char want[64];
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    cr_assert_eq(sk_tcp_connect_report(&c, "127.0.0.1", sk_addr_port(&a), LONG_MS, att, 4, &count), SK_OK);
    cr_assert_eq(count, 1);
    snprintf(want, sizeof want, "127.0.0.1:%d", sk_addr_port(&a));
    expect_attempt(&att[0], want, SK_OK);
    cr_assert_eq(att[0].sys_errno, 0);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    tu_send_ok(c, "x", 1, LONG_MS);
    sk_tcp_close(s);
    sk_tcp_close(c);
    sk_tcp_close(l);
}

Test(connect, the_families_are_interleaved_first_family_count_one_and_a_refusal_starts_the_next_at_once)
{
    /* ::1 and 127.0.0.2 refuse, 127.0.0.3 listens: the list 6 6 2 3 is tried as
     * ::1, 127.0.0.2, ::1, 127.0.0.3. The delay is 2 s, so had a refusal not started
     * the next attempt at once, this would take 6 s. */
    const char *texts[] = {"127.0.0.3", "::1", "127.0.0.2"};
    const int backlogs[] = {16, -1, -1};
    int fds[3], port = cu_one_port(3, texts, backlogs, fds);
    sk_connect_options o = delay_of(2000);
    sk_connect_attempt att[8];
    size_t count = 0;
    sk_tcp *c;
    char w[4][64];
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_connect_with(&c, "addrs-6-6-2-3.sk-test", port, &o, att, 8, &count, LONG_MS), SK_OK);
    cr_assert_lt(tu_now_ms() - t0, 2000, "three refusals waited for the attempt delay");
    cr_assert_eq(count, 4);
    snprintf(w[0], sizeof w[0], "[::1]:%d", port);
    snprintf(w[1], sizeof w[1], "127.0.0.2:%d", port);
    snprintf(w[2], sizeof w[2], "[::1]:%d", port);
    snprintf(w[3], sizeof w[3], "127.0.0.3:%d", port);
    for (int i = 0; i < 3; i++) {
        expect_attempt(&att[i], w[i], SK_ECONNREFUSED);
        cr_assert_eq(att[i].sys_errno, ECONNREFUSED);
        cr_assert_leq(att[i].started_ms, att[i + 1].started_ms, "attempts are reported in start order");
    }
    expect_attempt(&att[3], w[3], SK_OK);
    sk_tcp_close(c);
    for (int i = 0; i < 3; i++) {
        cu_drain(fds[i]);
        close(fds[i]);
    }
}

/* A blackhole on [::1]:port and a listener on 127.0.0.1:port; *filler holds the
 * blackhole's queue full. */
static int blackhole_then_listener(int fds[2], int *filler)
{
    const char *texts[] = {"::1", "127.0.0.1"};
    const int backlogs[] = {0, 16};
    int port = cu_one_port(2, texts, backlogs, fds);
    *filler = cu_blackhole("::1", fds[0]);
    return port;
}

static void close_all(int fds[2], int filler)
{
    cu_drain(fds[0]);
    cu_drain(fds[1]);
    close(filler);
    close(fds[0]);
    close(fds[1]);
}

/* Connects through "addrs-6-1" (the blackhole first) with opts and budget; checks the
 * winner is 127.0.0.1 and the time it took, at least min_ms and at most min_ms plus
 * the margin; the report in att (2 entries). */
static void connect_past_blackhole(const sk_connect_options *opts, int budget_ms, int min_ms,
                                   sk_connect_attempt att[2], int *port_out)
{
    int fds[2], filler, port = blackhole_then_listener(fds, &filler);
    size_t count = 0;
    sk_tcp *c = NULL;
    sk_addr peer;
    char want[64], got[SK_ADDR_STRLEN];
    int64_t t0 = tu_now_ms();
    int rc = sk_tcp_connect_with(&c, "addrs-6-1.sk-test", port, opts, att, 2, &count, budget_ms);
    cr_assert_eq(rc, SK_OK, "%s", sk_errname(rc));
    tu_assert_took(t0, min_ms);
    cr_assert_eq(count, 2);
    cr_assert_eq(sk_tcp_peer_addr(c, &peer), SK_OK);
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    cr_assert_str_eq(cu_fmt(&peer, got, sizeof got), want);
    expect_attempt(&att[1], want, SK_OK);
    cr_assert_geq(att[1].started_ms, min_ms);
    snprintf(want, sizeof want, "[::1]:%d", port);
    cr_assert_str_eq(cu_fmt(&att[0].addr, got, sizeof got), want);
    /* The first attempt starts once the lookup is done (no wait of its own: within the
     * late margin, for valgrind on a loaded machine), the second min_ms after it. */
    cr_assert_leq(att[0].started_ms, TU_LATE_MARGIN_MS, "the first attempt starts at once");
    cr_assert_geq(att[1].started_ms - att[0].started_ms, min_ms, "the second attempt started %d ms after the first",
                  att[1].started_ms - att[0].started_ms);
    sk_tcp_close(c);
    close_all(fds, filler);
    *port_out = port;
}

Test(connect, a_blackholed_first_address_costs_one_attempt_delay_not_its_share_of_the_budget)
{
    sk_connect_attempt att[2];
    int port;
    /* The default delay, 250 ms; one at a time, this would take 5 s (half the budget). */
    connect_past_blackhole(NULL, LONG_MS, SK_CONNECT_DELAY_DEFAULT_MS, att, &port);
    cr_assert_eq(att[0].code, SK_ECANCELED, "the abandoned attempt: %s", sk_errname(att[0].code));
    cr_assert_eq(att[0].sys_errno, 0);
    cr_assert_geq(att[0].ended_ms, att[1].started_ms);
}

Test(connect, one_at_a_time_spends_the_blackholed_address_share_of_the_budget_first)
{
    /* Delay 0: 4 s for two addresses gives the first 2 s (the floor), then it is cut. */
    sk_connect_options o = delay_of(0);
    sk_connect_attempt att[2];
    int port;
    connect_past_blackhole(&o, 4000, 2000, att, &port);
    cr_assert_eq(att[0].code, SK_ETIMEDOUT, "%s", sk_errname(att[0].code));
    cr_assert_eq(att[0].sys_errno, ETIMEDOUT);
    cr_assert_geq(att[0].ended_ms, 2000);
}

Test(connect, an_attempt_delay_below_100_ms_is_raised_to_100)
{
    sk_connect_options o = delay_of(1);
    sk_connect_attempt att[2];
    int port;
    connect_past_blackhole(&o, LONG_MS, 100, att, &port);
    cr_assert_eq(att[0].code, SK_ECANCELED);
}

Test(connect, an_attempt_delay_above_2_s_is_lowered_to_2_s)
{
    sk_connect_options o = delay_of(60000);
    sk_connect_attempt att[2];
    int port;
    connect_past_blackhole(&o, LONG_MS, 2000, att, &port);
    cr_assert_eq(att[0].code, SK_ECANCELED);
}

Test(connect, attempts_still_running_when_the_budget_ends_are_reported_timed_out)
{
    const char *texts[] = {"::1"};
    const int backlogs[] = {0};
    int fd, port = cu_one_port(1, texts, backlogs, &fd), filler = cu_blackhole("::1", fd);
    sk_connect_attempt att[2];
    size_t count = 0;
    sk_tcp *c = (sk_tcp *)&fd;
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_connect_report(&c, "addrs-6.sk-test", port, 300, att, 2, &count), SK_ETIMEDOUT);
    cr_assert_eq(errno, ETIMEDOUT);
    tu_assert_took(t0, 300);
    cr_assert_null(c);
    cr_assert_eq(count, 1);
    cr_assert_eq(att[0].code, SK_ETIMEDOUT);
    cr_assert_eq(att[0].sys_errno, ETIMEDOUT);
    cr_assert_geq(att[0].ended_ms, 300);
    close(filler);
    cu_drain(fd);
    close(fd);
}

Test(connect, when_every_attempt_fails_the_first_attempts_code_and_errno_are_returned)
{
    /* [::1] is a blackhole, 127.0.0.2 refuses. */
    const char *texts[] = {"::1", "127.0.0.2"};
    const int backlogs[] = {0, -1};
    int fds[2], port = cu_one_port(2, texts, backlogs, fds), filler = cu_blackhole("::1", fds[0]);
    sk_connect_attempt att[2];
    size_t count = 0;
    sk_tcp *c;
    /* The blackhole first: it times out, and that is the answer, although the
     * refusal came first in time. */
    cr_assert_eq(sk_tcp_connect_report(&c, "addrs-6-2.sk-test", port, 600, att, 2, &count), SK_ETIMEDOUT);
    cr_assert_eq(errno, ETIMEDOUT);
    cr_assert_eq(count, 2);
    cr_assert_eq(att[0].code, SK_ETIMEDOUT);
    cr_assert_eq(att[1].code, SK_ECONNREFUSED);
    cr_assert_leq(att[1].ended_ms, att[0].ended_ms);
    /* The refusal first: it is the answer. */
    cr_assert_eq(sk_tcp_connect_report(&c, "addrs-2-6.sk-test", port, 600, att, 2, &count), SK_ECONNREFUSED);
    cr_assert_eq(errno, ECONNREFUSED);
    cr_assert_eq(count, 2);
    cr_assert_eq(att[0].code, SK_ECONNREFUSED);
    cr_assert_eq(att[1].code, SK_ETIMEDOUT);
    close_all(fds, filler);
}

Test(connect, the_count_may_exceed_cap_and_only_cap_entries_are_stored)
{
    const char *texts[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"};
    const int backlogs[] = {-1, -1, -1, -1};
    int fds[4], port = cu_one_port(4, texts, backlogs, fds);
    sk_connect_attempt att[3];
    size_t count = 0;
    sk_tcp *c;
    memset(&att[2], 0xAB, sizeof att[2]);
    cr_assert_eq(sk_tcp_connect_report(&c, "addrs-2-3-4-5.sk-test", port, LONG_MS, att, 2, &count),
                 SK_ECONNREFUSED);
    cr_assert_eq(count, 4);
    cr_assert_eq(att[0].code, SK_ECONNREFUSED);
    cr_assert_eq(att[1].code, SK_ECONNREFUSED);
    for (size_t i = 0; i < sizeof att[2]; i++)
        cr_assert_eq(((unsigned char *)&att[2])[i], 0xAB, "byte %zu past cap was written", i);
    /* No room at all, and no count wanted. */
    cr_assert_eq(sk_tcp_connect_report(&c, "addrs-2-3-4-5.sk-test", port, LONG_MS, NULL, 0, NULL),
                 SK_ECONNREFUSED);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
}

static void expect_lookup_failure(const char *name, int gai)
{
    sk_connect_attempt att[2];
    sk_addr empty;
    size_t count = 0;
    sk_tcp *c;
    memset(&empty, 0, sizeof empty);
    memset(att, 0x5A, sizeof att);
    cr_assert_eq(sk_tcp_connect_report(&c, name, 80, LONG_MS, att, 2, &count), SK_ENOTFOUND, "%s", name);
    cr_assert_eq(count, 1);
    cr_assert_eq(att[0].code, SK_ENOTFOUND);
    cr_assert_eq(att[0].sys_errno, gai, "%s: sys_errno %d, not %d (%s)", name, att[0].sys_errno, gai,
                 gai_strerror(gai));
    cr_assert_eq(memcmp(&att[0].addr, &empty, sizeof empty), 0, "the address is not empty");
    cr_assert_eq(att[0].started_ms, 0);
}

Test(connect, a_failed_lookup_is_one_entry_with_an_empty_address_and_the_resolver_detail)
{
    expect_lookup_failure("noname.sk-test", EAI_NONAME);
    expect_lookup_failure("again.sk-test", EAI_AGAIN);
    expect_lookup_failure("fail.sk-test", EAI_FAIL);
}

Test(connect, a_lookup_the_budget_cuts_off_is_one_timed_out_entry)
{
    sk_connect_attempt att[1];
    size_t count = 0;
    sk_tcp *c;
    int64_t t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_connect_report(&c, "slow3000.sk-test", 80, 200, att, 1, &count), SK_ETIMEDOUT);
    tu_assert_took(t0, 200);
    cr_assert_eq(count, 1);
    cr_assert_eq(att[0].code, SK_ETIMEDOUT);
    cr_assert_eq(att[0].sys_errno, ETIMEDOUT);
    cr_assert_geq(att[0].ended_ms, 200);
}

Test(connect, bad_options_and_a_report_without_room_are_einval)
{
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    sk_connect_attempt att[1];
    size_t count = 7;
    sk_tcp *c = (sk_tcp *)&o;
    cr_assert_eq(o.version, SK_CONNECT_OPTIONS_VERSION);
    cr_assert_eq(o.attempt_delay_ms, 250);
    o.version = 0;
    cr_assert_eq(sk_tcp_connect_with(&c, "127.0.0.1", 80, &o, att, 1, &count, 100), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    cr_assert_null(c);
    cr_assert_eq(count, 0);
    o.version = SK_CONNECT_OPTIONS_VERSION + 1;
    cr_assert_eq(sk_tcp_connect_with(&c, "127.0.0.1", 80, &o, att, 1, &count, 100), SK_EINVAL);
    o.version = SK_CONNECT_OPTIONS_VERSION;
    o.attempt_delay_ms = -1;
    cr_assert_eq(sk_tcp_connect_with(&c, "127.0.0.1", 80, &o, att, 1, &count, 100), SK_EINVAL);
    cr_assert_eq(sk_tcp_connect_report(&c, "127.0.0.1", 80, 100, NULL, 1, &count), SK_EINVAL);
    cr_assert_eq(sk_tcp_connect_report(NULL, "127.0.0.1", 80, 100, att, 1, &count), SK_EINVAL);
    cr_assert_eq(sk_tcp_connect_report(&c, "", 80, 100, att, 1, &count), SK_EINVAL);
    cr_assert_eq(sk_tcp_connect_report(&c, "127.0.0.1", 0, 100, att, 1, &count), SK_EINVAL);
    cr_assert_eq(sk_tcp_connect_report(&c, "127.0.0.1", 80, -2, att, 1, &count), SK_EINVAL);
}

Test(connect, exactly_one_connection_survives_when_both_families_answer)
{
    /* Both addresses listen; with the shortest delay, often both attempts connect at
     * the TCP level. The caller gets one endpoint, the other socket is closed. */
    const char *texts[] = {"::1", "127.0.0.1"};
    const int backlogs[] = {64, 64};
    int fds[2], port = cu_one_port(2, texts, backlogs, fds);
    sk_connect_options o = delay_of(100);
    int base = tu_count_fds();
    for (int rep = 0; rep < 100; rep++) {
        sk_connect_attempt att[2];
        size_t count = 0, winners = 0;
        sk_tcp *c;
        cr_assert_eq(sk_tcp_connect_with(&c, "addrs-6-1.sk-test", port, &o, att, 2, &count, LONG_MS), SK_OK);
        cr_assert(count == 1 || count == 2);
        for (size_t i = 0; i < count; i++) {
            winners += att[i].code == SK_OK;
            cr_assert(att[i].code == SK_OK || att[i].code == SK_ECANCELED, "%s", sk_errname(att[i].code));
        }
        cr_assert_eq(winners, 1);
        cr_assert_eq(tu_count_fds(), base + 1, "only the winner's socket is open");
        sk_tcp_close(c);
        cu_drain(fds[0]);
        cu_drain(fds[1]);
    }
    close(fds[0]);
    close(fds[1]);
}

Test(connect, a_long_list_needs_no_fixed_limit)
{
    /* More addresses than the call keeps on its stack: 12 refusals, the 13th listens. */
    const char *texts[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7",
                           "127.0.0.8", "127.0.0.9", "127.0.0.10", "127.0.0.11", "127.0.0.12",
                           "127.0.0.13", "127.0.0.14"};
    const int backlogs[] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 16};
    int fds[13], port = cu_one_port(13, texts, backlogs, fds);
    sk_connect_attempt att[16];
    size_t count = 0;
    sk_tcp *c;
    char want[64];
    cr_assert_eq(sk_tcp_connect_report(&c, "addrs-2-3-4-5-6-7-8-9-10-11-12-13-14.sk-test", port, LONG_MS, att,
                                       16, &count),
                 SK_OK);
    cr_assert_eq(count, 13);
    snprintf(want, sizeof want, "127.0.0.14:%d", port);
    expect_attempt(&att[12], want, SK_OK);
    sk_tcp_close(c);
    for (int i = 0; i < 13; i++) {
        cu_drain(fds[i]);
        close(fds[i]);
    }
}
