/* Signals that interrupt blocking calls, for the tests that check that EINTR is
 * retried with what is left of a budget: a counting SIGUSR1 handler installed without
 * SA_RESTART, and a thread that sends SIGUSR1 to another one every few ms (the
 * "pester"). Test code only; include after testutil.h. */
#ifndef SK_SIGNAL_UTIL_H
#define SK_SIGNAL_UTIL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

/* SIGUSR1 caught in this process (each Criterion test is a process of its own). */
static atomic_int tu_usr1_caught_;

static inline void tu_on_usr1_(int sig)
{
    (void)sig;
    atomic_fetch_add(&tu_usr1_caught_, 1);
}

/* Installs the counting SIGUSR1 handler without SA_RESTART, so that a blocking call
 * in the signalled thread really fails with EINTR (or returns short) when it comes. */
static inline void tu_install_usr1(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tu_on_usr1_;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
}

static inline int tu_usr1_caught(void)
{
    return atomic_load(&tu_usr1_caught_);
}

/* SIGUSR1 to target every every_ms, for at most for_ms, until told to stop. The
 * thread never calls cr_assert. */
struct tu_pester {
    pthread_t target;
    int every_ms;
    int for_ms;
    atomic_int stop;
    int sent; /* signals sent; read after tu_pester_stop */
};

static inline void *tu_pester_main(void *p)
{
    struct tu_pester *j = p;
    for (int i = 0; i < j->for_ms / j->every_ms && !atomic_load(&j->stop); i++) {
        tu_sleep_ms(j->every_ms);
        if (atomic_load(&j->stop))
            break;
        if (pthread_kill(j->target, SIGUSR1) == 0)
            j->sent++;
    }
    return NULL;
}

/* Installs the handler and starts pestering the calling thread. */
static inline pthread_t tu_pester_start(struct tu_pester *j, int every_ms, int for_ms)
{
    pthread_t th;
    tu_install_usr1();
    j->target = pthread_self();
    j->every_ms = every_ms;
    j->for_ms = for_ms;
    j->sent = 0;
    atomic_init(&j->stop, 0);
    cr_assert_eq(pthread_create(&th, NULL, tu_pester_main, j), 0);
    return th;
}

static inline void tu_pester_stop(struct tu_pester *j, pthread_t th)
{
    atomic_store(&j->stop, 1);
    pthread_join(th, NULL);
}

/* One SIGUSR1 to the calling thread after delay_ms, caught by handler (installed
 * without SA_RESTART, the old action kept in j->old): for the tests whose handler
 * does something itself (a cancel). tu_signal_once_done joins the thread and puts the
 * old action back. The thread never calls cr_assert. */
struct tu_signal_once {
    pthread_t target;
    int delay_ms;
    struct sigaction old;
};

static inline void *tu_signal_once_main_(void *p)
{
    struct tu_signal_once *j = p;
    tu_sleep_ms(j->delay_ms);
    pthread_kill(j->target, SIGUSR1);
    return NULL;
}

static inline pthread_t tu_signal_once_start(struct tu_signal_once *j, void (*handler)(int), int delay_ms)
{
    struct sigaction sa;
    pthread_t th;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the blocked call sees EINTR */
    cr_assert_eq(sigaction(SIGUSR1, &sa, &j->old), 0);
    j->target = pthread_self();
    j->delay_ms = delay_ms;
    cr_assert_eq(pthread_create(&th, NULL, tu_signal_once_main_, j), 0);
    return th;
}

static inline void tu_signal_once_done(struct tu_signal_once *j, pthread_t th)
{
    pthread_join(th, NULL);
    sigaction(SIGUSR1, &j->old, NULL);
}

#endif /* SK_SIGNAL_UTIL_H */
