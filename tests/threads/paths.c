/* Thread paths: the calls that cross threads on purpose, for ThreadSanitizer (the
 * tsan preset; Criterion cannot start there, so this is a plain program like
 * threads.c). CTest runs it as thread_paths.shared and thread_paths.static, with the
 * resolver stand-in (tests/shim/gaishim.c) preloaded for its slowN.sk-test names.
 *   - sk_tcp_cancel / sk_udp_cancel from another thread while a call waits (TCP
 *     receive, accept, UDP receive) and while sk_poller_wait waits on the endpoint;
 *   - sk_poller_wake from other threads, many times, while one thread waits;
 *   - the resolver thread finishing after its call returned (a budget shorter than the
 *     lookup), the process going on meanwhile, and exiting with a lookup still running.
 *
 *   thread_paths [NAME...]   run every case, or those whose name contains a NAME
 *
 * TAP output; exit status 0 only when all passed. Loopback, ephemeral ports; every wait
 * is bounded and a watchdog ends a hung run. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sockkit.h>

#include "harness.h"

#define LONG_MS 10000
/* How long the canceller waits before it cancels: the call is blocked by then. */
#define CANCEL_AFTER_MS 30

static int tcp_pair(sk_tcp **l, sk_tcp **c, sk_tcp **s)
{
    sk_addr a;
    if (sk_tcp_listen(l, "127.0.0.1", 0, 16) != SK_OK || sk_tcp_local_addr(*l, &a) != SK_OK)
        return -1;
    if (sk_tcp_connect(c, "127.0.0.1", sk_addr_port(&a), LONG_MS) != SK_OK)
        return -1;
    return sk_tcp_accept(*l, s, LONG_MS) == SK_OK ? 0 : -1;
}

/* ------------------------------------------------------------------ cancel */

struct canceller {
    sk_tcp *t;
    sk_udp *u;
    int ms;
};

static void *cancel_job(void *p)
{
    struct canceller *k = p;
    sleep_ms(k->ms);
    if (k->t != NULL)
        sk_tcp_cancel(k->t);
    if (k->u != NULL)
        sk_udp_cancel(k->u);
    return NULL;
}

static void cancel_from_another_thread_ends_a_waiting_tcp_receive_and_accept(void)
{
    for (int rep = 0; rep < 20; rep++) {
        sk_tcp *l, *c, *s, *none = NULL;
        struct canceller k = {NULL, NULL, CANCEL_AFTER_MS};
        pthread_t th;
        char buf[16];
        size_t n = 7;
        int rc;
        int64_t t0;
        CHECK(tcp_pair(&l, &c, &s) == 0, "pair");
        /* A receive waiting on s. */
        k.t = s;
        t0 = now_ms();
        CHECK(pthread_create(&th, NULL, cancel_job, &k) == 0, "pthread_create");
        rc = sk_tcp_recv(s, buf, sizeof buf, &n, LONG_MS);
        pthread_join(th, NULL);
        CHECK(rc == SK_ECANCELED && n == 0, "rep %d: recv %s, %zu bytes", rep, sk_errname(rc), n);
        CHECK(now_ms() - t0 < LONG_MS / 2, "rep %d: the cancel did not end the wait", rep);
        /* An accept waiting on l. */
        k.t = l;
        CHECK(pthread_create(&th, NULL, cancel_job, &k) == 0, "pthread_create");
        rc = sk_tcp_accept(l, &none, LONG_MS);
        pthread_join(th, NULL);
        CHECK(rc == SK_ECANCELED && none == NULL, "rep %d: accept %s", rep, sk_errname(rc));
        sk_tcp_close(c);
        sk_tcp_close(s);
        sk_tcp_close(l);
    }
}

static void cancel_from_another_thread_ends_a_waiting_udp_receive(void)
{
    for (int rep = 0; rep < 20; rep++) {
        sk_udp *u;
        struct canceller k = {NULL, NULL, CANCEL_AFTER_MS};
        pthread_t th;
        char buf[16];
        size_t n = 7;
        int rc;
        CHECK(sk_udp_bind(&u, "127.0.0.1", 0) == SK_OK, "bind");
        k.u = u;
        CHECK(pthread_create(&th, NULL, cancel_job, &k) == 0, "pthread_create");
        rc = sk_udp_recv(u, buf, sizeof buf, &n, LONG_MS);
        pthread_join(th, NULL);
        CHECK(rc == SK_ECANCELED, "rep %d: recv %s", rep, sk_errname(rc));
        sk_udp_close(u);
    }
}

/* One thread waits in sk_poller_wait on a TCP and a UDP endpoint; another cancels
 * them: the wait reports SK_POLL_CANCELED for each. */
static void cancel_from_another_thread_ends_a_poller_wait_with_canceled_events(void)
{
    for (int rep = 0; rep < 20; rep++) {
        sk_poller *p;
        sk_tcp *l, *c, *s;
        sk_udp *u;
        struct canceller k = {NULL, NULL, CANCEL_AFTER_MS};
        pthread_t th;
        int tcp_seen = 0, udp_seen = 0;
        int64_t end;
        sk_event ev[4]; /* valid until the poller is closed (poller.h) */
        CHECK(sk_poller_create(&p) == SK_OK, "poller");
        CHECK(tcp_pair(&l, &c, &s) == 0, "pair");
        CHECK(sk_udp_bind(&u, "127.0.0.1", 0) == SK_OK, "bind");
        CHECK(sk_poller_add_tcp(p, s, SK_POLL_IN, &tcp_seen) == SK_OK, "add tcp");
        CHECK(sk_poller_add_udp(p, u, SK_POLL_IN, &udp_seen) == SK_OK, "add udp");
        k.t = s;
        k.u = u;
        CHECK(pthread_create(&th, NULL, cancel_job, &k) == 0, "pthread_create");
        end = now_ms() + LONG_MS;
        while ((!tcp_seen || !udp_seen) && now_ms() < end) {
            size_t n = 0;
            int rc = sk_poller_wait(p, ev, 4, &n, LONG_MS);
            CHECK(rc == SK_OK, "rep %d: wait %s", rep, sk_errname(rc));
            for (size_t i = 0; i < n; i++) {
                if (!(ev[i].events & SK_POLL_CANCELED))
                    continue;
                if (ev[i].tcp == s)
                    tcp_seen = 1;
                if (ev[i].udp == u)
                    udp_seen = 1;
            }
        }
        pthread_join(th, NULL);
        CHECK(tcp_seen && udp_seen, "rep %d: cancelled events tcp %d udp %d", rep, tcp_seen, udp_seen);
        sk_tcp_close(c);
        sk_tcp_close(s);
        sk_tcp_close(l);
        sk_udp_close(u);
        sk_poller_close(p);
    }
}

/* ------------------------------------------------------------------ poller wake */

#define WAKERS 3
#define WAKES 300

struct waker {
    sk_poller *p;
    atomic_int *done;
    int rc;
};

static void *wake_job(void *arg)
{
    struct waker *w = arg;
    w->rc = SK_OK;
    for (int i = 0; i < WAKES && w->rc == SK_OK; i++) {
        w->rc = sk_poller_wake(w->p);
        if (i % 16 == 0)
            sleep_ms(1);
    }
    /* Through, then one more wake-up: whichever wait sees the count short of WAKERS
     * still has a wake-up coming after it. */
    atomic_fetch_add(w->done, 1);
    if (w->rc == SK_OK)
        w->rc = sk_poller_wake(w->p);
    return NULL;
}

/* Three threads wake a poller 300 times each while one thread waits on it with a
 * registered connection that also gets data now and then: no wait of 2 s ends empty
 * while they wake, and a last wake-up after they are done (and joined) still arrives. */
static void poller_wakes_from_other_threads_while_one_thread_waits(void)
{
    sk_poller *p;
    sk_tcp *l, *c, *s;
    struct waker w[WAKERS];
    pthread_t th[WAKERS];
    atomic_int done = 0;
    long wakes = 0, waits = 0;
    int64_t end;
    int joined = 0, last = 0;
    sk_event ev[8]; /* valid until the poller is closed (poller.h) */
    CHECK(sk_poller_create(&p) == SK_OK, "poller");
    CHECK(tcp_pair(&l, &c, &s) == 0, "pair");
    CHECK(sk_poller_add_tcp(p, s, SK_POLL_IN, NULL) == SK_OK, "add");
    for (int i = 0; i < WAKERS; i++) {
        w[i].p = p;
        w[i].done = &done;
        CHECK(pthread_create(&th[i], NULL, wake_job, &w[i]) == 0, "pthread_create");
    }
    end = now_ms() + 30000;
    while (!last && now_ms() < end) {
        size_t n = 0;
        int rc = sk_poller_wait(p, ev, 8, &n, 2000);
        CHECK(rc == SK_OK, "wait %s: a wake-up was lost (wakers through: %d)", sk_errname(rc), atomic_load(&done));
        waits++;
        for (size_t i = 0; i < n; i++) {
            if (ev[i].events & SK_POLL_WAKE) {
                wakes++;
                last |= joined;
            } else if (ev[i].tcp == s) {
                char buf[64];
                size_t k;
                CHECK(sk_tcp_recv(s, buf, sizeof buf, &k, 0) == SK_OK, "recv");
            }
        }
        if (!joined && waits % 50 == 0)
            CHECK(sk_tcp_send_all(c, "x", 1, NULL, LONG_MS) == SK_OK, "send");
        if (!joined && atomic_load(&done) == WAKERS) {
            /* The wakers are through: join them, then one more wake-up must come. */
            for (int i = 0; i < WAKERS; i++) {
                pthread_join(th[i], NULL);
                CHECK(w[i].rc == SK_OK, "waker %d: %s", i, sk_errname(w[i].rc));
            }
            joined = 1;
            CHECK(sk_poller_wake(p) == SK_OK, "wake");
        }
    }
    CHECK(joined && last, "the last wake-up never came (%ld wake events in %ld waits)", wakes, waits);
    printf("#   %ld wake events in %ld waits, %d wakers x %d wakes (wake-ups may merge)\n", wakes, waits, WAKERS,
           WAKES);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
    sk_poller_close(p);
}

/* ------------------------------------------------------------------ the resolver thread */

static int lookups_running(void)
{
    void *sym = dlsym(RTLD_DEFAULT, "sk_gaishim_running");
    int (*fn)(void);
    if (sym == NULL)
        return -1;
    memcpy(&fn, &sym, sizeof fn);
    return fn();
}

/* Is a lookup of the stand-in running, or about to (a thread just started may not
 * have reached getaddrinfo yet on a loaded machine)? Looks for 2 s at most. */
static int a_lookup_runs(void)
{
    for (int i = 0; i < 400; i++) {
        if (lookups_running() > 0)
            return 1;
        sleep_ms(5);
    }
    return 0;
}

/* Twenty connects whose budget (5-25 ms) ends before their lookup (slow60): each
 * returns SK_ETIMEDOUT while its resolver thread goes on; meanwhile the program
 * connects, sends and receives; then every lookup ends on its own and frees what it
 * made (the thread and the caller share the lookup; the last one out frees it). */
static void resolver_threads_finish_after_their_calls_returned(void)
{
    sk_tcp *l, *c, *s;
    sk_addr a;
    int port, left = -1;
    int64_t end;
    if (lookups_running() < 0) {
        printf("#   the resolver stand-in is not preloaded (LD_PRELOAD=libsk_gaishim.so)\n");
        g_failed_checks++;
        return;
    }
    CHECK(sk_tcp_listen(&l, "127.0.0.1", 0, 64) == SK_OK, "listen");
    CHECK(sk_tcp_local_addr(l, &a) == SK_OK, "addr");
    port = sk_addr_port(&a);
    for (int i = 0; i < 20; i++) {
        sk_tcp *none = NULL;
        char host[32];
        int rc;
        snprintf(host, sizeof host, "slow%d.sk-test", 60 + i);
        rc = sk_tcp_connect(&none, host, port, 5 + i);
        CHECK(rc == SK_ETIMEDOUT && none == NULL, "connect %d: %s", i, sk_errname(rc));
    }
    CHECK(a_lookup_runs(), "no lookup outlived its call");
    CHECK(sk_tcp_connect(&c, "127.0.0.1", port, LONG_MS) == SK_OK, "connect");
    CHECK(sk_tcp_accept(l, &s, LONG_MS) == SK_OK, "accept");
    CHECK(sk_tcp_send_all(c, "ping", 4, NULL, LONG_MS) == SK_OK, "send");
    {
        char buf[4];
        CHECK(sk_tcp_recv_exact(s, buf, 4, NULL, LONG_MS) == SK_OK && memcmp(buf, "ping", 4) == 0, "recv");
    }
    end = now_ms() + 10000;
    while ((left = lookups_running()) > 0 && now_ms() < end)
        sleep_ms(5);
    CHECK(left == 0, "%d lookups still running", left);
    sleep_ms(20); /* past their last free */
    sk_tcp_close(c);
    sk_tcp_close(s);
    /* A slow lookup with room to finish takes the same path to its end. */
    CHECK(sk_tcp_connect(&c, "slow20.sk-test", port, LONG_MS) == SK_OK, "connect through a slow lookup");
    CHECK(sk_tcp_accept(l, &s, LONG_MS) == SK_OK, "accept");
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

/* The last case: a lookup still running when main returns. exit() runs while the
 * resolver thread sleeps in the stand-in; the process must end cleanly (status 0, no
 * ThreadSanitizer report). */
static void the_process_exits_cleanly_with_a_lookup_still_running(void)
{
    sk_tcp *none = NULL;
    int rc = sk_tcp_connect(&none, "slow3000.sk-test", 9, 10);
    CHECK(rc == SK_ETIMEDOUT, "connect: %s", sk_errname(rc));
    CHECK(a_lookup_runs(), "the lookup did not outlive its call");
}

/* ------------------------------------------------------------------ main */

#define CASE(f, fds) {#f, f, fds}
static const struct test_case cases[] = {
    CASE(cancel_from_another_thread_ends_a_waiting_tcp_receive_and_accept, 1),
    CASE(cancel_from_another_thread_ends_a_waiting_udp_receive, 1),
    CASE(cancel_from_another_thread_ends_a_poller_wait_with_canceled_events, 1),
    CASE(poller_wakes_from_other_threads_while_one_thread_waits, 1),
    CASE(resolver_threads_finish_after_their_calls_returned, 1),
    CASE(the_process_exits_cleanly_with_a_lookup_still_running, 0),
};

int main(int argc, char **argv)
{
    return run_cases("thread paths", cases, sizeof cases / sizeof cases[0], argc, argv, 120);
}
