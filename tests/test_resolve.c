/* Name lookups inside the budget of sk_tcp_connect (lib/resolve.c). Runs with the
 * resolver stand-in tests/shim/gaishim.c preloaded: names under ".sk-test" sleep or
 * fail as they say, every other name goes to the real resolver. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static long (*shim_last_tid)(void);
static int (*shim_running)(void);

static void setup(void)
{
    void *a = dlsym(RTLD_DEFAULT, "sk_gaishim_last_tid"), *b = dlsym(RTLD_DEFAULT, "sk_gaishim_running");
    /* (ISO C has no object-to-function cast) */
    memcpy(&shim_last_tid, &a, sizeof a);
    memcpy(&shim_running, &b, sizeof b);
    cr_assert(shim_last_tid != NULL && shim_running != NULL,
              "the resolver stand-in is not preloaded (LD_PRELOAD=libsk_gaishim.so)");
}

TestSuite(resolve, .init = setup, .timeout = 60);

/* A listener on 127.0.0.1, port 0; its port. */
static int listen_local(sk_tcp **l)
{
    sk_addr a;
    cr_assert_eq(sk_tcp_listen(l, "127.0.0.1", 0, 16), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(*l, &a), SK_OK);
    return sk_addr_port(&a);
}

/* Waits (bounded) until no call is inside the stand-in's getaddrinfo. */
static void wait_lookups_done(int ms)
{
    for (int i = 0; i < ms / 10 && shim_running() > 0; i++)
        tu_sleep_ms(10);
    cr_assert_eq(shim_running(), 0, "lookups still running after %d ms", ms);
}

static void connect_ok(const char *host, int port, int ms)
{
    sk_tcp *c = NULL;
    int rc = sk_tcp_connect(&c, host, port, ms);
    cr_assert_eq(rc, SK_OK, "connect to %s: %s", host, sk_strerror(rc));
    sk_tcp_close(c);
}

Test(resolve, connect_returns_on_time_when_the_lookup_hangs)
{
    sk_tcp *l, *c = (sk_tcp *)1;
    int port = listen_local(&l);
    int64_t t0 = tu_now_ms();

    cr_assert_eq(sk_tcp_connect(&c, "slow3000.sk-test", port, 200), SK_ETIMEDOUT);
    tu_assert_took(t0, 200);
    cr_assert_lt(tu_now_ms() - t0, 3000, "the call waited for the lookup");
    cr_assert_null(c);
    sk_tcp_close(l);
}

Test(resolve, a_lookup_that_ends_after_the_call_returned_frees_what_it_made)
{
    /* The thread outlives the call; under ASan and Valgrind a leak or a write to the
     * caller's memory shows once it has finished. */
    sk_tcp *l, *c;
    char host[64];
    int port = listen_local(&l);

    snprintf(host, sizeof host, "%s", "slow300.sk-test");
    cr_assert_eq(sk_tcp_connect(&c, host, port, 50), SK_ETIMEDOUT);
    memset(host, 'x', sizeof host - 1); /* the thread must have its own copy */
    wait_lookups_done(5000);
    tu_sleep_ms(50); /* past the thread's last free */
    sk_tcp_close(l);
}

Test(resolve, connect_succeeds_through_a_slow_lookup_within_its_budget)
{
    sk_tcp *l;
    int port = listen_local(&l);
    int64_t t0 = tu_now_ms();

    connect_ok("slow100.sk-test", port, 5000);
    cr_assert_geq(tu_now_ms() - t0, 100);
    cr_assert_neq(shim_last_tid(), (long)syscall(SYS_gettid), "a name was looked up on the caller's thread");
    sk_tcp_close(l);
}

Test(resolve, numeric_addresses_localhost_and_no_budget_look_up_on_the_callers_thread)
{
    sk_tcp *l;
    int port = listen_local(&l);
    long me = (long)syscall(SYS_gettid);

    connect_ok("127.0.0.1", port, 2000);
    cr_assert_eq(shim_last_tid(), me);
    connect_ok("localhost", port, 2000);
    cr_assert_eq(shim_last_tid(), me);
    connect_ok("slow0.sk-test", port, SK_FOREVER);
    cr_assert_eq(shim_last_tid(), me);
    sk_tcp_close(l);
}

Test(resolve, a_budget_of_zero_with_a_name_to_look_up_times_out_at_once)
{
    sk_tcp *l, *c;
    int port = listen_local(&l);
    int64_t t0 = tu_now_ms();

    cr_assert_eq(sk_tcp_connect(&c, "slow1000.sk-test", port, 0), SK_ETIMEDOUT);
    cr_assert_lt(tu_now_ms() - t0, 500);
    cr_assert_eq(shim_running(), 0, "a lookup was started for a budget of 0");
    sk_tcp_close(l);
}

Test(resolve, a_failing_resolver_is_SK_ENOTFOUND_whatever_it_says)
{
    sk_tcp *c;
    cr_assert_eq(sk_tcp_connect(&c, "again.sk-test", 80, 2000), SK_ENOTFOUND);
    cr_assert_eq(sk_tcp_connect(&c, "fail.sk-test", 80, 2000), SK_ENOTFOUND);
    cr_assert_eq(sk_tcp_connect(&c, "noname.sk-test", 80, 2000), SK_ENOTFOUND);
}

/* Threads of this process now. */
static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    int n = -1;
    cr_assert_not_null(f);
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* 500 lookups that hang, each left behind by a call with a 1 ms budget. */
static void fill_the_lookup_places(int port, int hang_ms)
{
    char host[64];
    snprintf(host, sizeof host, "slow%d.sk-test", hang_ms);
    for (int i = 0; i < 500; i++) {
        sk_tcp *c;
        cr_assert_eq(sk_tcp_connect(&c, host, port, 1), SK_ETIMEDOUT);
    }
}

struct fire_later {
    sk_cancel *c;
    int ms;
};

static void *fire_later_job(void *p)
{
    struct fire_later *f = p;
    tu_sleep_ms(f->ms);
    sk_cancel_fire(f->c);
    return NULL;
}

Test(resolve, a_cancel_ends_a_connect_waiting_for_a_place_among_the_500_lookups)
{
    sk_tcp *l, *c = (sk_tcp *)1;
    sk_cancel *cancel;
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    sk_connect_attempt att[2];
    size_t count = 9;
    struct fire_later f;
    pthread_t th;
    int port = listen_local(&l), rc;
    int64_t t0, took;

    /* Hanging long enough that none ends while the test runs, under Valgrind too. */
    fill_the_lookup_places(port, 15000);
    for (int i = 0; i < 500 && shim_running() < 500; i++)
        tu_sleep_ms(10); /* the last threads may still be on their way in */
    cr_assert_eq(shim_running(), 500, "the 500 lookups are not all running (%d)", shim_running());
    cr_assert_eq(sk_cancel_create(&cancel), SK_OK);
    o.cancel = cancel;
    f.c = cancel;
    f.ms = 200;
    t0 = tu_now_ms();
    cr_assert_eq(pthread_create(&th, NULL, fire_later_job, &f), 0);
    rc = sk_tcp_connect_with(&c, "slow0.sk-test", port, &o, att, 2, &count, SK_FOREVER);
    took = tu_now_ms() - t0;
    pthread_join(th, NULL);
    cr_assert_eq(rc, SK_ECANCELED, "connect: %s", sk_errname(rc));
    cr_assert_null(c);
    cr_assert_geq(took, 200, "it returned after %lld ms, before the cancel", (long long)took);
    cr_assert_lt(took, 3000, "it waited for a place to come free (%lld ms)", (long long)took);
    cr_assert_eq(count, 1);
    cr_assert_eq(att[0].code, SK_ECANCELED);
    sk_cancel_close(cancel);
    wait_lookups_done(30000);
    sk_tcp_close(l);
}

Test(resolve, at_most_500_lookups_run_at_once_and_a_caller_beyond_waits_within_its_budget)
{
    sk_tcp *l, *c;
    int port = listen_local(&l), before = thread_count();
    int64_t t0;

    fill_the_lookup_places(port, 4000);
    cr_assert_leq(thread_count(), before + 500);
    t0 = tu_now_ms();
    /* A name that resolves at once still needs a place: none comes free in time. */
    cr_assert_eq(sk_tcp_connect(&c, "slow0.sk-test", port, 200), SK_ETIMEDOUT);
    tu_assert_took(t0, 200);
    cr_assert_leq(thread_count(), before + 500);
    /* Once the hanging lookups end, places are free again. */
    connect_ok("slow0.sk-test", port, 15000);
    wait_lookups_done(15000);
    sk_tcp_close(l);
}

Test(resolve, a_child_after_fork_can_look_names_up_while_the_parents_lookups_hang)
{
    sk_tcp *l;
    int port = listen_local(&l), status;
    pid_t pid;

    fill_the_lookup_places(port, 3000);
    /* Fork only once every helper thread is asleep in the lookup: a thread still being
     * created holds the thread-list locks of a sanitizer's runtime, and a child forked
     * then could never start a thread of its own (under ASan the child's lookup hung). */
    for (int i = 0; i < 500 && shim_running() < 500; i++)
        tu_sleep_ms(10);
    cr_assert_eq(shim_running(), 500, "the 500 lookups did not all start");
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* The parent's 500 lookups do not exist here: the child has a place. */
        sk_tcp *c = NULL;
        int rc = sk_tcp_connect(&c, "slow10.sk-test", port, 2000);
        sk_tcp_close(c);
        _exit(rc == SK_OK ? 0 : 10 + rc);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's lookup failed (status %d)", status);
    wait_lookups_done(15000);
    sk_tcp_close(l);
}

Test(resolve, resolve_all_returns_on_time_when_the_lookup_hangs_and_waits_for_a_slow_one)
{
    sk_addr a[4];
    size_t count = 9;
    int64_t t0 = tu_now_ms();

    cr_assert_eq(sk_addr_resolve_all("slow3000.sk-test", 80, a, 4, &count, 200), SK_ETIMEDOUT);
    tu_assert_took(t0, 200);
    cr_assert_eq(count, 0);
    cr_assert_eq(sk_addr_resolve_all("slow100.sk-test", 80, a, 4, &count, 5000), SK_OK);
    cr_assert_eq(count, 1);
    cr_assert_eq(sk_addr_port(&a[0]), 80);
    cr_assert_eq(sk_addr_resolve_all("again.sk-test", 80, a, 4, &count, 2000), SK_ENOTFOUND);
    wait_lookups_done(5000);
}
