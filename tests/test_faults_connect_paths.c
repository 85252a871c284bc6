/* The newer paths under the fault shim (tests/shim/faultshim.c) and the resolver
 * stand-in (tests/shim/gaishim.c), both preloaded (tests/CMakeLists.txt): Happy
 * Eyeballs attempts under EINTR storms and with every allocation failed in turn, the
 * resolver thread under lookups that hang or fail, sk_tcp_cancel / sk_udp_cancel and
 * sk_tcp_close_graceful under EINTR storms and spurious wake-ups. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/resource.h>

#include "testutil.h"
#include "shim_util.h"
#include "connect_util.h"

static void setup(void)
{
    cu_require_gaishim();
    tu_fd_guard_begin();
}

TestSuite(faults_paths, .init = setup, .fini = tu_fd_guard_end, .timeout = 60);

#define LONG_MS 10000
#define STORM "eintr=2+wakeup=2"

/* ---- allocation faults ---- */

static sk_faultshim_alloc_arm_fn arm_;
static sk_faultshim_alloc_disarm_fn disarm_;
static sk_faultshim_alloc_report_fn report_;

static void alloc_shim(void)
{
    void *a = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_ALLOC_ARM_SYMBOL);
    void *d = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_ALLOC_DISARM_SYMBOL);
    void *r = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_ALLOC_REPORT_SYMBOL);
    sk_faultshim_alloc_stats st;
    void *volatile p;
    cr_assert(a != NULL && d != NULL && r != NULL, "the fault shim is not preloaded");
    memcpy(&arm_, &a, sizeof arm_);
    memcpy(&disarm_, &d, sizeof disarm_);
    memcpy(&report_, &r, sizeof report_);
    cr_assert_eq(arm_(0), 0);
    p = malloc(24);
    disarm_();
    report_(&st);
    free(p);
    cr_assert_eq(st.allocations, 1, "the shim does not see this program's malloc");
}

/* Is the allocation at this return address the library's own (libsockkit.so, or this
 * program for the static build), rather than the system's (libc: getaddrinfo,
 * pthread_create)? */
static int site_is_library(const void *caller)
{
    int (*fn)(sk_tcp **, const char *, int, int) = sk_tcp_connect;
    Dl_info a, b;
    void *lib;
    memcpy(&lib, &fn, sizeof lib);
    return caller != NULL && dladdr(caller, &a) != 0 && dladdr(lib, &b) != 0 && a.dli_fname != NULL &&
           b.dli_fname != NULL && strcmp(a.dli_fname, b.dli_fname) == 0;
}

/* Waits (5 s at most) until no lookup of the stand-in is running. */
static void lookups_done(void)
{
    void *p = dlsym(RTLD_DEFAULT, "sk_gaishim_running");
    int (*running)(void);
    memcpy(&running, &p, sizeof running);
    for (int i = 0; i < 500 && running() > 0; i++)
        tu_sleep_ms(10);
    cr_assert_eq(running(), 0, "a lookup is still running");
    tu_sleep_ms(20); /* past the thread's last free */
}

/* A report stays consistent whatever failed: entries for the attempts made, each a
 * known outcome, the winner last and only when the call succeeded. */
static void check_report(int rc, const sk_connect_attempt *att, size_t cap, size_t count, unsigned long nth)
{
    size_t stored = count < cap ? count : cap, winners = 0;
    for (size_t i = 0; i < stored; i++) {
        int code = att[i].code;
        cr_assert(code == SK_OK || code == SK_ECONNREFUSED || code == SK_ECANCELED || code == SK_ENOMEM ||
                      code == SK_ENOTFOUND,
                  "allocation %lu: attempt %zu: %s", nth, i, sk_errname(code));
        cr_assert_leq(att[i].started_ms, att[i].ended_ms, "allocation %lu: attempt %zu ends before it starts", nth, i);
        winners += code == SK_OK;
    }
    if (rc == SK_OK) {
        cr_assert_eq(winners, 1, "allocation %lu: %zu winners", nth, winners);
    } else {
        cr_assert_eq(winners, 0, "allocation %lu: a winner in a failed call (%s)", nth, sk_errname(rc));
    }
}

/* sk_tcp_connect_report to addrs-6-2 (::1 refuses, 127.0.0.2 answers) under an EINTR
 * storm, with each allocation of the calling thread failed in turn. */
static void connect_every_allocation(int budget)
{
    const char *texts[] = {"::1", "127.0.0.2"};
    const int backlogs[] = {-1, 256};
    int fds[2], port = cu_one_port(2, texts, backlogs, fds);
    unsigned long nth, library = 0, system = 0;
    alloc_shim();
    faults("eintr=3+wakeup=3");
    {
        /* Once unwatched: the resolver's configuration, and a helper thread whose
         * stack (and the TLS block glibc keeps with it) is cached for the next. */
        sk_tcp *c = NULL;
        cr_assert_eq(sk_tcp_connect(&c, "addrs-6-2.sk-test", port, budget), SK_OK);
        sk_tcp_close(c);
        cu_drain(fds[1]);
        lookups_done();
    }
    for (nth = 1;; nth++) {
        sk_connect_attempt att[4];
        size_t count = (size_t)-1;
        sk_faultshim_alloc_stats st;
        sk_tcp *c = NULL;
        int rc, fd0 = tu_count_fds();
        cr_assert_leq(nth, 2000, "more than 2000 allocations");
        cr_assert_eq(arm_(nth), 0);
        rc = sk_tcp_connect_report(&c, "addrs-6-2.sk-test", port, budget, att, 4, &count);
        disarm_();
        report_(&st);
        if (st.failed && site_is_library(st.fail_caller))
            cr_assert(rc == SK_ENOMEM && errno == ENOMEM, "allocation %lu (the library's) failed: %s, expected "
                      "SK_ENOMEM", nth, sk_errname(rc));
        else
            cr_assert(rc == SK_OK || rc == SK_ENOMEM || (rc == SK_ENOTFOUND && st.failed),
                      "allocation %lu of %lu failed: %s", nth, st.allocations, sk_errname(rc));
        cr_assert_leq(count, 4, "allocation %lu: %zu attempts", nth, count);
        check_report(rc, att, 4, count, nth);
        if (rc == SK_OK) {
            cr_assert_not_null(c);
            sk_tcp_close(c);
        } else {
            cr_assert_null(c);
        }
        cu_drain(fds[1]);
        if (budget != SK_FOREVER)
            lookups_done(); /* the resolver thread's own blocks are freed */
        report_(&st);
        cr_assert_eq(st.live, 0, "allocation %lu failed (%s): %lu blocks left", nth, sk_errname(rc), st.live);
        cr_assert_eq(tu_count_fds(), fd0, "allocation %lu failed (%s): a descriptor left", nth, sk_errname(rc));
        if (st.failed == 0) {
            cr_assert_eq(rc, SK_OK, "no allocation failed, yet %s", sk_errname(rc));
            break;
        }
        library += rc == SK_ENOMEM;
        system += rc != SK_ENOMEM;
    }
    cr_assert_gt(nth, 1, "the call made no allocation on the calling thread");
    cr_assert_gt(library, 0, "no failed allocation gave SK_ENOMEM");
    cr_assert_gt(injected("eintr:connect"), 0);
    cr_log_info("connect_report (budget %d): %lu allocations on the calling thread, each failed in turn: %lu "
                "SK_ENOMEM, %lu SK_OK/SK_ENOTFOUND", budget, nth - 1, library, system);
    close(fds[0]);
    close(fds[1]);
}

Test(faults_paths, happy_eyeballs_with_a_lookup_thread_survives_every_allocation_failed_in_turn_under_an_eintr_storm)
{
    connect_every_allocation(LONG_MS);
}

Test(faults_paths, happy_eyeballs_on_the_callers_thread_survives_every_allocation_failed_in_turn_under_an_eintr_storm)
{
    connect_every_allocation(SK_FOREVER);
}

Test(faults_paths, happy_eyeballs_reports_every_attempt_in_order_under_an_eintr_storm_and_spurious_wakeups)
{
    const char *texts[] = {"::1", "127.0.0.2", "127.0.0.3"};
    const int backlogs[] = {-1, -1, 256};
    int fds[3], port = cu_one_port(3, texts, backlogs, fds), base;
    faults(STORM);
    base = tu_count_fds();
    for (int rep = 0; rep < 200; rep++) {
        sk_connect_attempt att[4];
        size_t count = 0;
        sk_tcp *c = NULL;
        int rc = sk_tcp_connect_report(&c, "addrs-6-2-3.sk-test", port, LONG_MS, att, 4, &count);
        cr_assert_eq(rc, SK_OK, "rep %d: %s", rep, sk_errname(rc));
        cr_assert_eq(count, 3, "rep %d: %zu attempts", rep, count);
        cr_assert_eq(att[0].code, SK_ECONNREFUSED);
        cr_assert_eq(att[1].code, SK_ECONNREFUSED);
        cr_assert_eq(att[2].code, SK_OK);
        for (int i = 1; i < 3; i++)
            cr_assert_leq(att[i - 1].started_ms, att[i].started_ms, "rep %d: attempts out of order", rep);
        cr_assert_eq(tu_count_fds(), base + 1, "rep %d: only the winner's socket is open", rep);
        sk_tcp_close(c);
        cu_drain(fds[2]);
    }
    cr_assert_gt(injected("eintr:connect"), 0);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}

/* ---- the resolver thread ---- */

Test(faults_paths, the_resolver_thread_under_hanging_and_failing_lookups_keeps_every_budget_under_an_eintr_storm)
{
    sk_tcp *l, *c;
    sk_addr a;
    int port;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 64), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    port = sk_addr_port(&a);
    faults(STORM);
    for (int rep = 0; rep < 5; rep++) {
        int64_t t0 = tu_now_ms();
        sk_connect_attempt att[2];
        size_t count = 0;
        cr_assert_eq(sk_tcp_connect(&c, "slow2000.sk-test", port, 150), SK_ETIMEDOUT);
        tu_assert_took(t0, 150);
        cr_assert_lt(tu_now_ms() - t0, 1500, "the call waited for the lookup");
        cr_assert_eq(sk_tcp_connect_report(&c, "again.sk-test", port, 2000, att, 2, &count), SK_ENOTFOUND);
        cr_assert_eq(count, 1);
        cr_assert_eq(att[0].sys_errno, EAI_AGAIN);
        cr_assert_eq(sk_tcp_connect(&c, "fail.sk-test", port, 2000), SK_ENOTFOUND);
        cr_assert_eq(sk_tcp_connect(&c, "noname.sk-test", port, 2000), SK_ENOTFOUND);
        cr_assert_eq(sk_tcp_connect(&c, "slow30.sk-test", port, 5000), SK_OK);
        sk_tcp_close(c);
    }
    cr_assert_gt(injected("eintr"), 0);
    sk_tcp_close(l);
}

Test(faults_paths, a_lookup_that_outlives_its_call_frees_everything_with_every_allocation_failed_in_turn)
{
    sk_tcp *l, *c;
    sk_addr a;
    int port;
    unsigned long nth;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 64), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    port = sk_addr_port(&a);
    alloc_shim();
    faults(STORM);
    cr_assert_eq(sk_tcp_connect(&c, "slow100.sk-test", port, 10), SK_ETIMEDOUT); /* warm: see above */
    lookups_done();
    for (nth = 1;; nth++) {
        sk_faultshim_alloc_stats st;
        int rc, err, fd0 = tu_count_fds();
        cr_assert_leq(nth, 200);
        cr_assert_eq(arm_(nth), 0);
        rc = sk_tcp_connect(&c, "slow100.sk-test", port, 20); /* the lookup outlives the call */
        err = errno;
        disarm_();
        lookups_done();
        report_(&st);
        if (st.failed && site_is_library(st.fail_caller))
            cr_assert(rc == SK_ENOMEM && err == ENOMEM, "allocation %lu (the library's): %s, errno %d", nth,
                      sk_errname(rc), err);
        else
            cr_assert(rc == SK_ETIMEDOUT || (st.failed && rc == SK_ENOTFOUND), "allocation %lu: %s", nth,
                      sk_errname(rc));
        cr_assert_eq(st.live, 0, "allocation %lu (%s): %lu blocks left", nth, sk_errname(rc), st.live);
        cr_assert_eq(tu_count_fds(), fd0, "allocation %lu (%s): a descriptor left", nth, sk_errname(rc));
        if (st.failed == 0) {
            cr_assert_eq(rc, SK_ETIMEDOUT);
            break;
        }
    }
    cr_assert_gt(nth, 1, "the call made no allocation");
    sk_tcp_close(l);
}

/* ---- cancel ---- */

struct later {
    int ms;
    sk_tcp *t;
    sk_udp *u;
};

static void *cancel_later(void *p)
{
    struct later *w = p;
    tu_sleep_ms(w->ms);
    if (w->t != NULL)
        sk_tcp_cancel(w->t);
    else
        sk_udp_cancel(w->u);
    return NULL;
}

Test(faults_paths, a_cancel_ends_blocked_tcp_and_udp_receives_at_once_under_an_eintr_storm_and_spurious_wakeups)
{
    faults(STORM);
    for (int rep = 0; rep < 6; rep++) {
        sk_tcp *c, *s;
        sk_udp *u;
        struct later w = {40, NULL, NULL};
        pthread_t th;
        char buf[8];
        size_t n = 1;
        int64_t t0;
        tu_tcp_pair(NULL, &c, &s);
        w.t = s;
        t0 = tu_now_ms();
        cr_assert_eq(pthread_create(&th, NULL, cancel_later, &w), 0);
        cr_assert_eq(sk_tcp_recv(s, buf, sizeof buf, &n, LONG_MS), SK_ECANCELED);
        pthread_join(th, NULL);
        cr_assert_eq(n, 0);
        tu_assert_took(t0, 40);
        cr_assert_lt(tu_now_ms() - t0, 1000, "the cancel did not end the wait");
        sk_tcp_close(c);
        sk_tcp_close(s);

        cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
        w.t = NULL;
        w.u = u;
        t0 = tu_now_ms();
        cr_assert_eq(pthread_create(&th, NULL, cancel_later, &w), 0);
        cr_assert_eq(sk_udp_recv(u, buf, sizeof buf, &n, LONG_MS), SK_ECANCELED);
        pthread_join(th, NULL);
        tu_assert_took(t0, 40);
        cr_assert_lt(tu_now_ms() - t0, 1000, "the cancel did not end the wait");
        sk_udp_close(u);
    }
    cr_assert_gt(injected("eintr:poll") + injected("eintr:recv") + injected("eintr:recvmsg") +
                     injected("eintr:recvfrom"), 0);
}

Test(faults_paths, a_cancelled_sender_stops_with_an_exact_count_under_short_transfers_and_an_eintr_storm)
{
    static unsigned char big[4 << 20];
    faults("short+" STORM);
    for (int rep = 0; rep < 3; rep++) {
        sk_tcp *c, *s;
        struct later w = {60, NULL, NULL};
        pthread_t th;
        size_t sent = (size_t)-1, got = 0;
        unsigned char sink[4096];
        size_t n;
        tu_tcp_pair(NULL, &c, &s);
        w.t = c;
        cr_assert_eq(pthread_create(&th, NULL, cancel_later, &w), 0);
        cr_assert_eq(sk_tcp_send_all(c, big, sizeof big, &sent, LONG_MS), SK_ECANCELED);
        pthread_join(th, NULL);
        cr_assert_lt(sent, sizeof big);
        /* The peer reads exactly what the count says, then end of stream. */
        while (sk_tcp_recv(s, sink, sizeof sink, &n, LONG_MS) == SK_OK)
            got += n;
        cr_assert_eq(got, sent, "the peer got %zu bytes, the count said %zu", got, sent);
        sk_tcp_close(c);
        sk_tcp_close(s);
    }
}

/* ---- graceful close ---- */

struct peer_job {
    sk_tcp *s;
    int delay_ms;
};

static void *send_then_close(void *p)
{
    struct peer_job *j = p;
    tu_sleep_ms(j->delay_ms);
    tu_send_ok(j->s, "tail", 4, LONG_MS);
    sk_tcp_close(j->s);
    return NULL;
}

static void close_graceful_under(const char *mode)
{
    faults(mode);
    for (int rep = 0; rep < 4; rep++) {
        sk_tcp *c, *s;
        int base = tu_count_fds(), rc;
        int64_t t0;
        struct peer_job j;
        pthread_t th;
        /* The peer never closes: the whole budget, never less, then freed. */
        tu_tcp_pair(NULL, &c, &s);
        t0 = tu_now_ms();
        rc = sk_tcp_close_graceful(c, 150);
        cr_assert_eq(rc, SK_ETIMEDOUT, "%s: %s", mode, sk_errname(rc));
        tu_assert_took(t0, 150);
        sk_tcp_close(s);
        cr_assert_eq(tu_count_fds(), base, "%s: close_graceful left a descriptor", mode);
        /* The peer sends and closes after 60 ms: SK_OK, before the budget. */
        tu_tcp_pair(NULL, &c, &s);
        j.s = s;
        j.delay_ms = 60;
        t0 = tu_now_ms();
        cr_assert_eq(pthread_create(&th, NULL, send_then_close, &j), 0);
        rc = sk_tcp_close_graceful(c, LONG_MS);
        pthread_join(th, NULL);
        cr_assert_eq(rc, SK_OK, "%s: %s", mode, sk_errname(rc));
        cr_assert_lt(tu_now_ms() - t0, LONG_MS / 2, "%s: the end of stream did not end the wait", mode);
        cr_assert_eq(tu_count_fds(), base, "%s: close_graceful left a descriptor", mode);
    }
}

Test(faults_paths, close_graceful_keeps_its_budget_and_always_frees_under_an_eintr_storm_and_spurious_eagain)
{
    close_graceful_under("short+eagain=3+" STORM);
    cr_assert_gt(injected("eintr"), 0);
    cr_assert_gt(injected("eagain"), 0, "no spurious EAGAIN (it looks like the receive timeout)");
}

Test(faults_paths, close_graceful_keeps_its_budget_and_always_frees_under_a_signal_storm)
{
    close_graceful_under("interrupt=20+wakeup=3");
    cr_assert_gt(injected("eintr"), 0, "the storm never interrupted a wait");
}

Test(faults_paths, close_graceful_of_a_cancelled_connection_still_frees_under_an_eintr_storm)
{
    sk_tcp *c, *s;
    int base;
    faults(STORM);
    base = tu_count_fds();
    tu_tcp_pair(NULL, &c, &s);
    sk_tcp_cancel(c);
    cr_assert_eq(sk_tcp_close_graceful(c, 100), SK_ECANCELED);
    sk_tcp_close(s);
    cr_assert_eq(tu_count_fds(), base);
}

/* ---- out of descriptors, for real (RLIMIT_NOFILE) ---- */

/* With no descriptor left, Happy Eyeballs makes no socket: every attempt and the call
 * say SK_EMFILE at once (no waiting out the budget), the report holds them in order;
 * with descriptors back, the same call connects. Under an EINTR storm. */
Test(faults_paths, happy_eyeballs_out_of_descriptors_reports_emfile_for_every_attempt_and_connects_again_after)
{
    const char *texts[] = {"::1", "127.0.0.2"};
    const int backlogs[] = {-1, 64};
    int fds[2], port = cu_one_port(2, texts, backlogs, fds), base, lowest, rc, err;
    struct rlimit old, now;
    sk_connect_attempt att[4];
    size_t count = 0;
    sk_tcp *c = (sk_tcp *)&count; /* must become NULL */
    int64_t t0;

    faults(STORM);
    base = tu_count_fds();
    lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(lowest, 0);
    close(lowest);
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    now = old;
    now.rlim_cur = (rlim_t)lowest;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &now), 0);
    t0 = tu_now_ms();
    rc = sk_tcp_connect_report(&c, "addrs-6-2.sk-test", port, LONG_MS, att, 4, &count);
    err = errno;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_lt(tu_now_ms() - t0, 2000, "out of descriptors, the call waited");
    cr_assert_null(c);
    /* (The lookup runs on a thread and needs no descriptor: no cancel, no eventfd.) */
    cr_assert_eq(rc, SK_EMFILE, "%s", sk_errname(rc));
    cr_assert_eq(err, EMFILE, "errno %d", err);
    cr_assert_eq(count, 2, "%zu attempts", count);
    cr_assert_eq(att[0].code, SK_EMFILE, "attempt 0: %s", sk_errname(att[0].code));
    cr_assert_eq(att[1].code, SK_EMFILE, "attempt 1: %s", sk_errname(att[1].code));
    cr_assert_eq(att[0].sys_errno, EMFILE);
    cr_assert_eq(tu_count_fds(), base, "a descriptor was left open");
    cr_assert_eq(sk_tcp_connect_report(&c, "addrs-6-2.sk-test", port, LONG_MS, att, 4, &count), SK_OK);
    cr_assert_eq(count, 2);
    cr_assert_eq(att[1].code, SK_OK);
    sk_tcp_close(c);
    cu_drain(fds[1]);
    close(fds[0]);
    close(fds[1]);
}
