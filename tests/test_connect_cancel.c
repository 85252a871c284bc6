/* Cancelling a connect (sk_cancel in sk_connect_options, version 2): fired from
 * another thread or a signal handler, it ends the name lookup or the attempts at
 * once with SK_ECANCELED, and the report says which attempts it cut off. The
 * resolver stand-in (tests/shim/gaishim.c, preloaded: this program's name has
 * "connect" in it) gives a lookup that takes its time; a blackhole (a listener whose
 * accept queue is full) gives an attempt that never answers. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>

#include "testutil.h"
#include "connect_util.h"
#include "signal_util.h"

static void setup(void)
{
    cu_require_gaishim();
    tu_fd_guard_begin();
}

TestSuite(connect_cancel, .init = setup, .fini = tu_fd_guard_end, .timeout = 60);

#define BUDGET_MS 30000
#define SETTLE_MS 200

struct firer {
    sk_cancel *c;
    int delay_ms;
};

static void *fire_job(void *p)
{
    struct firer *f = p;
    tu_sleep_ms(f->delay_ms);
    sk_cancel_fire(f->c);
    return NULL;
}

static int connect_cancelled_by_thread(sk_cancel *c, const char *host, int port, int timeout_ms,
                                       sk_connect_attempt *att, size_t cap, size_t *count, int64_t *took)
{
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    struct firer f = {c, SETTLE_MS};
    pthread_t th;
    sk_tcp *conn = (sk_tcp *)&conn;
    int64_t t0 = tu_now_ms();
    int rc;

    o.cancel = c;
    cr_assert_eq(pthread_create(&th, NULL, fire_job, &f), 0);
    rc = sk_tcp_connect_with(&conn, host, port, &o, att, cap, count, timeout_ms);
    *took = tu_now_ms() - t0;
    pthread_join(th, NULL);
    cr_assert_null(conn);
    return rc;
}

Test(connect_cancel, a_cancel_from_another_thread_ends_an_attempt_that_never_answers_and_reports_it_cancelled)
{
    sk_cancel *c;
    sk_connect_attempt att[4];
    size_t count = 0;
    int64_t took;
    int lfd = cu_bind("127.0.0.1", 0, 0), filler = cu_blackhole("127.0.0.1", lfd), rc;

    cr_assert_eq(sk_cancel_create(&c), SK_OK);
    cr_assert_eq(sk_cancel_fired(c), 0);
    rc = connect_cancelled_by_thread(c, "127.0.0.1", cu_port(lfd), BUDGET_MS, att, 4, &count, &took);
    cr_assert_eq(rc, SK_ECANCELED, "connect: %s", sk_errname(rc));
    cr_assert_eq(errno, ECANCELED);
    cr_assert_lt(took, BUDGET_MS / 2, "the budget ended it (%lld ms), not the cancel", (long long)took);
    cr_assert_eq(count, 1);
    cr_assert_eq(att[0].code, SK_ECANCELED);
    cr_assert_eq(att[0].sys_errno, ECANCELED);
    cr_assert_eq(sk_addr_port(&att[0].addr), cu_port(lfd));
    cr_assert_eq(sk_cancel_fired(c), 1);
    sk_cancel_close(c);
    close(filler);
    cu_drain(lfd);
    close(lfd);
}

Test(connect_cancel, a_cancel_ends_a_slow_name_lookup_even_with_no_budget)
{
    sk_cancel *c;
    sk_connect_attempt att[2];
    size_t count = 0;
    int64_t took;
    int rc;

    cr_assert_eq(sk_cancel_create(&c), SK_OK);
    /* The stand-in sleeps 1.5 s before it answers; the cancel comes at 0.2 s. */
    rc = connect_cancelled_by_thread(c, "slow1500.sk-test", 80, SK_FOREVER, att, 2, &count, &took);
    cr_assert_eq(rc, SK_ECANCELED, "connect: %s", sk_errname(rc));
    cr_assert_lt(took, 1400, "the lookup ran its course (%lld ms): the cancel did not end it", (long long)took);
    cr_assert_eq(count, 1);
    cr_assert_eq(att[0].code, SK_ECANCELED);
    cr_assert_eq(att[0].addr.len, 0, "a lookup's entry has no address");
    sk_cancel_close(c);
    /* The helper thread finishes its lookup by itself; let it, so that the suite's
     * descriptor count sees its eventfd closed. */
    tu_sleep_ms(2000);
}

Test(connect_cancel, a_cancel_fired_before_the_call_makes_it_do_nothing)
{
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    sk_cancel *c;
    sk_tcp *l, *conn = (sk_tcp *)&conn;
    sk_addr a;
    size_t count = 99;

    tu_tcp_pair_on("127.0.0.1", &l, NULL, NULL);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    cr_assert_eq(sk_cancel_create(&c), SK_OK);
    cr_assert_eq(sk_cancel_fire(c), SK_OK);
    cr_assert_eq(sk_cancel_fire(c), SK_OK, "firing twice is harmless");
    o.cancel = c;
    cr_assert_eq(sk_tcp_connect_with(&conn, "127.0.0.1", sk_addr_port(&a), &o, NULL, 0, &count, 5000), SK_ECANCELED);
    cr_assert_null(conn);
    sk_cancel_close(c);
    sk_tcp_close(l);
}

Test(connect_cancel, an_unfired_cancel_and_a_version_1_struct_change_nothing)
{
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    struct { unsigned version; int attempt_delay_ms; } v1 = {1, 250};
    sk_cancel *c;
    sk_tcp *l, *conn;
    sk_addr a;

    tu_tcp_pair_on("127.0.0.1", &l, NULL, NULL);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    cr_assert_eq(sk_cancel_create(&c), SK_OK);
    o.cancel = c;
    cr_assert_eq(sk_tcp_connect_with(&conn, "127.0.0.1", sk_addr_port(&a), &o, NULL, 0, NULL, 5000), SK_OK);
    sk_tcp_close(conn);
    cr_assert_eq(sk_tcp_connect_with(&conn, "localhost", sk_addr_port(&a), (const sk_connect_options *)(void *)&v1,
                                     NULL, 0, NULL, 5000),
                 SK_OK, "a caller built against version 1");
    sk_tcp_close(conn);
    sk_cancel_close(c);
    sk_tcp_close(l);
    cr_assert_eq(sk_cancel_create(NULL), SK_EINVAL);
    cr_assert_eq(sk_cancel_fire(NULL), SK_EINVAL);
    cr_assert_eq(sk_cancel_fired(NULL), 0);
    sk_cancel_close(NULL);
}

static sk_cancel *g_cancel;
static volatile sig_atomic_t g_errno_kept = -1;

static void on_usr1(int sig)
{
    (void)sig;
    errno = EDOM;
    sk_cancel_fire(g_cancel);
    g_errno_kept = errno == EDOM;
}

Test(connect_cancel, a_signal_handler_fires_the_cancel_of_the_connect_it_interrupted)
{
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    struct tu_signal_once sg;
    pthread_t th;
    sk_tcp *conn = NULL;
    int lfd = cu_bind("127.0.0.1", 0, 0), filler = cu_blackhole("127.0.0.1", lfd), rc;

    cr_assert_eq(sk_cancel_create(&g_cancel), SK_OK);
    o.cancel = g_cancel;
    th = tu_signal_once_start(&sg, on_usr1, SETTLE_MS);
    rc = sk_tcp_connect_with(&conn, "127.0.0.1", cu_port(lfd), &o, NULL, 0, NULL, BUDGET_MS);
    tu_signal_once_done(&sg, th);
    cr_assert_eq(rc, SK_ECANCELED, "connect: %s", sk_errname(rc));
    cr_assert_eq(g_errno_kept, 1, "sk_cancel_fire changed errno in the handler");
    sk_cancel_close(g_cancel);
    close(filler);
    cu_drain(lfd);
    close(lfd);
}
