/* Happy Eyeballs under the fault shim (tests/shim/faultshim.c): connects that report
 * EINTR, polls that wake early or for nothing. Runs with both the fault shim and the
 * resolver stand-in preloaded (tests/CMakeLists.txt), 1000 repetitions each: the
 * interleaving order holds, exactly one socket survives, nothing leaks. */
#include <criterion/criterion.h>

#include "testutil.h"
#include "shim_util.h"
#include "connect_util.h"

static void setup(void)
{
    cu_require_gaishim();
    tu_fd_guard_begin();
}

TestSuite(faults_connect, .init = setup, .fini = tu_fd_guard_end, .timeout = 240);

#define REPS 1000
#define LONG_MS 10000
#define MODE "eintr=3+wakeup=3"

Test(faults_connect, the_interleaving_order_holds_1000_times_under_eintr_and_spurious_wakeups)
{
    const char *texts[] = {"127.0.0.3", "::1", "127.0.0.2"};
    const int backlogs[] = {REPS + 16, -1, -1};
    int fds[3], port = cu_one_port(3, texts, backlogs, fds), base;
    static const int want_v4[] = {0, 2, 0, 3}; /* 0: [::1] */
    static const int want_code[] = {SK_ECONNREFUSED, SK_ECONNREFUSED, SK_ECONNREFUSED, SK_OK};
    faults(MODE);
    base = tu_count_fds();
    for (int rep = 0; rep < REPS; rep++) {
        sk_connect_attempt att[4];
        size_t count = 0;
        sk_tcp *c = NULL;
        int rc = sk_tcp_connect_report(&c, "addrs-6-6-2-3.sk-test", port, LONG_MS, att, 4, &count);
        cr_assert_eq(rc, SK_OK, "rep %d: %s", rep, sk_errname(rc));
        cr_assert_eq(count, 4, "rep %d: %zu attempts", rep, count);
        for (int i = 0; i < 4; i++) {
            char got[SK_ADDR_STRLEN], want[64];
            if (want_v4[i] == 0)
                snprintf(want, sizeof want, "[::1]:%d", port);
            else
                snprintf(want, sizeof want, "127.0.0.%d:%d", want_v4[i], port);
            cr_assert_str_eq(cu_fmt(&att[i].addr, got, sizeof got), want, "rep %d attempt %d", rep, i);
            cr_assert_eq(att[i].code, want_code[i], "rep %d attempt %d: %s", rep, i, sk_errname(att[i].code));
        }
        cr_assert_eq(tu_count_fds(), base + 1, "rep %d: only the winner's socket is open", rep);
        sk_tcp_close(c);
        if (rep % 64 == 63)
            cu_drain(fds[0]);
    }
    cr_assert_gt(injected("eintr:connect"), 0, "no connect reported EINTR");
    for (int i = 0; i < 3; i++) {
        cu_drain(fds[i]);
        close(fds[i]);
    }
}

Test(faults_connect, exactly_one_socket_survives_1000_connects_to_two_answering_addresses_under_eintr_and_spurious_wakeups)
{
    const char *texts[] = {"::1", "127.0.0.1"};
    const int backlogs[] = {REPS + 16, REPS + 16};
    int fds[2], port = cu_one_port(2, texts, backlogs, fds), base;
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    o.attempt_delay_ms = 100;
    faults(MODE);
    base = tu_count_fds();
    for (int rep = 0; rep < REPS; rep++) {
        sk_connect_attempt att[2];
        size_t count = 0, winners = 0;
        sk_tcp *c = NULL;
        int rc = sk_tcp_connect_with(&c, "addrs-6-1.sk-test", port, &o, att, 2, &count, LONG_MS);
        cr_assert_eq(rc, SK_OK, "rep %d: %s", rep, sk_errname(rc));
        cr_assert(count == 1 || count == 2, "rep %d: %zu attempts", rep, count);
        for (size_t i = 0; i < count; i++) {
            winners += att[i].code == SK_OK;
            cr_assert(att[i].code == SK_OK || att[i].code == SK_ECANCELED, "rep %d: %s", rep,
                      sk_errname(att[i].code));
        }
        cr_assert_eq(winners, 1, "rep %d: %zu winners", rep, winners);
        cr_assert_eq(tu_count_fds(), base + 1, "rep %d: only the winner's socket is open", rep);
        tu_send_ok(c, "x", 1, LONG_MS);
        sk_tcp_close(c);
        if (rep % 64 == 63) {
            cu_drain(fds[0]);
            cu_drain(fds[1]);
        }
    }
    for (int i = 0; i < 2; i++) {
        cu_drain(fds[i]);
        close(fds[i]);
    }
}

Test(faults_connect, a_blackholed_first_address_is_abandoned_for_the_second_under_eintr_and_spurious_wakeups)
{
    const char *texts[] = {"::1", "127.0.0.1"};
    const int backlogs[] = {0, 64};
    int fds[2], port = cu_one_port(2, texts, backlogs, fds), filler = cu_blackhole("::1", fds[0]), base;
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    o.attempt_delay_ms = 100;
    faults(MODE);
    base = tu_count_fds();
    for (int rep = 0; rep < 30; rep++) {
        sk_connect_attempt att[2];
        size_t count = 0;
        sk_tcp *c = NULL;
        int64_t t0 = tu_now_ms();
        int rc = sk_tcp_connect_with(&c, "addrs-6-1.sk-test", port, &o, att, 2, &count, LONG_MS);
        cr_assert_eq(rc, SK_OK, "rep %d: %s", rep, sk_errname(rc));
        tu_assert_took(t0, 100);
        cr_assert_eq(count, 2);
        cr_assert_eq(att[0].code, SK_ECANCELED, "rep %d: %s", rep, sk_errname(att[0].code));
        cr_assert_eq(att[1].code, SK_OK);
        cr_assert_eq(tu_count_fds(), base + 1, "rep %d: only the winner's socket is open", rep);
        sk_tcp_close(c);
        cu_drain(fds[1]);
    }
    cr_assert_gt(injected("wakeup:poll"), 0, "no poll woke for nothing");
    cr_assert_gt(injected("eintr:connect"), 0, "no connect reported EINTR");
    close(filler);
    cu_drain(fds[0]);
    close(fds[0]);
    close(fds[1]);
}
