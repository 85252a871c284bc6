/* Name lookups inside a call's budget (convention 4 covers the lookup too).
 *
 * getaddrinfo has no timeout, so a lookup that must end with the budget runs on a
 * helper thread while the caller waits on a condition variable until the deadline.
 * When the caller gives up first, the thread finishes on its own and frees what it
 * made: the lookup record is shared by the two and freed by the last to leave (a
 * count of two), and the thread never touches the caller's memory (it works on its
 * own copy of the name). The threads are detached, never joined, and at most
 * LOOKUPS_MAX run at once (as Go caps its cgo lookups), so that a dead name server
 * cannot make a program run out of threads: a caller beyond the cap waits for a place
 * within its own budget.
 *
 * No thread where none is needed: numeric addresses (parsed at once), "localhost"
 * (RFC 6761: never a query to a server; glibc answers from /etc/hosts), the passive
 * lookups of bind/listen and a budget of SK_FOREVER run on the caller's thread.
 * With a budget of 0 a name that needs a lookup is SK_ETIMEDOUT at once.
 *
 * After fork() the child has only the thread that called it: the lookups of the
 * parent's threads never finish there, so the count is reset and the child can look
 * names up again (pthread_atfork). */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOOKUPS_MAX 500

typedef struct lookup {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;              /* the caller and the thread; the last one frees */
    int done;              /* the thread has stored its result */
    int gai;               /* getaddrinfo's result */
    int sys_errno;         /* errno after it (for EAI_SYSTEM) */
    struct addrinfo *res;  /* the list, until someone takes it */
    sk__notify wake;       /* fired by the thread when done (a cancellable wait
                              polls it); rd -1 without a cancel */
    struct addrinfo hints;
    char service[8];
    char host[];           /* the thread's own copy of the name */
} lookup;

static pthread_once_t lookups_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lookups_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lookups_cv; /* a place came free */
static int lookups_running;

/* Condition variables here wait on CLOCK_MONOTONIC, the deadline's clock. */
static int cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    int rc = pthread_condattr_init(&a);
    if (rc == 0) {
        rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        if (rc == 0)
            rc = pthread_cond_init(cv, &a);
        pthread_condattr_destroy(&a);
    }
    return rc;
}

static void lookups_after_fork(void)
{
    /* Another thread of the parent may have held the lock when fork() was called. */
    pthread_mutex_init(&lookups_mu, NULL);
    cond_init_monotonic(&lookups_cv);
    lookups_running = 0;
}

static void lookups_init(void)
{
    if (cond_init_monotonic(&lookups_cv) != 0)
        abort(); /* only EAGAIN/ENOMEM, at a process's first lookup */
    pthread_atfork(NULL, NULL, lookups_after_fork);
}

/* One wait on cv (mu held) bounded by dl: SK_ETIMEDOUT when nothing is left, else
 * SK_OK after a wake-up or the deadline (the caller checks its condition again). */
static int wait_once(pthread_cond_t *cv, pthread_mutex_t *mu, sk__deadline *dl)
{
    struct timespec ts;
    int64_t left = sk__deadline_left_ns(dl), at;

    if (left <= 0)
        return SK_ETIMEDOUT;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + left;
    ts.tv_sec = (time_t)(at / 1000000000);
    ts.tv_nsec = (long)(at % 1000000000);
    pthread_cond_timedwait(cv, mu, &ts);
    return SK_OK;
}

static void lookup_free(lookup *l)
{
    if (l->res != NULL)
        freeaddrinfo(l->res);
    sk__notify_close(&l->wake);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* Drops one of the two references; the last one frees. */
static void lookup_release(lookup *l)
{
    int last;
    pthread_mutex_lock(&l->mu);
    last = --l->refs == 0;
    pthread_mutex_unlock(&l->mu);
    if (last)
        lookup_free(l);
}

static void give_place_back(void)
{
    pthread_mutex_lock(&lookups_mu);
    lookups_running--;
    pthread_cond_signal(&lookups_cv);
    pthread_mutex_unlock(&lookups_mu);
}

static void *lookup_main(void *arg)
{
    lookup *l = arg;
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(l->host, l->service, &l->hints, &res);
    int err = errno;

    pthread_mutex_lock(&l->mu);
    l->gai = gai;
    l->sys_errno = err;
    l->res = gai == 0 ? res : NULL;
    l->done = 1;
    pthread_cond_signal(&l->cv);
    if (l->wake.rd >= 0)
        sk__notify_fire(&l->wake);
    pthread_mutex_unlock(&l->mu);
    lookup_release(l);
    give_place_back();
    return NULL;
}

/* Takes a place among the running lookups within dl, or until cancel fires. A fired
 * cancel cannot signal the condition (sk_cancel_fire must stay async-signal-safe), so
 * with a cancel the wait is cut into slices of PLACE_SLICE_MS, and the flag is looked
 * at between them. */
#define PLACE_SLICE_MS 20

static int take_place(sk__deadline *dl, const sk_cancel *cancel)
{
    int rc = SK_OK;
    pthread_mutex_lock(&lookups_mu);
    while (lookups_running >= LOOKUPS_MAX && rc == SK_OK) {
        sk__deadline slice;
        if (cancel == NULL) {
            rc = wait_once(&lookups_cv, &lookups_mu, dl);
            continue;
        }
        if (sk_cancel_fired(cancel)) {
            rc = SK_ECANCELED;
            break;
        }
        sk__deadline_part(dl, (int64_t)PLACE_SLICE_MS * 1000000, &slice);
        if (wait_once(&lookups_cv, &lookups_mu, &slice) != SK_OK && sk__deadline_expired(dl))
            rc = SK_ETIMEDOUT;
    }
    if (rc == SK_OK)
        lookups_running++;
    pthread_mutex_unlock(&lookups_mu);
    return rc;
}

/* Starts l's thread (detached, every signal blocked: the program's handlers are not
 * for it). 0, or the error of pthread_create. */
static int start_thread(lookup *l)
{
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;
    int rc;

    if ((rc = pthread_attr_init(&attr)) != 0)
        return rc;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&t, &attr, lookup_main, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

/* getaddrinfo on a helper thread, waited for within dl: SK_OK with its result in
 * *gai (and *out, *sys_errno), or SK_ETIMEDOUT. */
/* Waits for l (mu not held) until it is done, dl ends or cancel fires: poll() on the
 * lookup's eventfd and the cancel's. SK_OK once done (the result is for the caller
 * to take), else SK_ETIMEDOUT or SK_ECANCELED. */
static int wait_cancellable(lookup *l, sk__deadline *dl, const sk_cancel *cancel)
{
    for (;;) {
        struct pollfd p[2];
        int done, n;
        pthread_mutex_lock(&l->mu);
        done = l->done;
        pthread_mutex_unlock(&l->mu);
        if (done)
            return SK_OK;
        if (sk_cancel_fired(cancel))
            return SK_ECANCELED;
        p[0].fd = l->wake.rd;
        p[1].fd = sk__cancel_fd(cancel);
        p[0].events = p[1].events = POLLIN;
        p[0].revents = p[1].revents = 0;
        n = poll(p, 2, sk__deadline_poll_ms(dl));
        if (n == 0 && sk__deadline_expired(dl))
            return SK_ETIMEDOUT;
    }
}

static int lookup_threaded(const char *host, const char *service, const struct addrinfo *hints,
                           sk__deadline *dl, const sk_cancel *cancel, struct addrinfo **out, int *gai,
                           int *sys_errno)
{
    size_t hlen = strlen(host) + 1;
    lookup *l;
    int rc;

    pthread_once(&lookups_once, lookups_init);
    if ((rc = take_place(dl, cancel)) != SK_OK)
        return rc;
    /* The library's own allocation failing is SK_ENOMEM, as everywhere else (it is
     * not the resolver failing: that is SK_ENOTFOUND). */
    l = calloc(1, sizeof *l + hlen);
    if (l == NULL || pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        give_place_back();
        return SK_ENOMEM;
    }
    if (cond_init_monotonic(&l->cv) != 0) {
        pthread_mutex_destroy(&l->mu);
        free(l);
        give_place_back();
        return SK_ENOMEM;
    }
    l->wake.rd = l->wake.wr = -1;
    if (cancel != NULL && sk__notify_open(&l->wake) != 0) {
        *gai = EAI_SYSTEM;
        *sys_errno = errno;
        lookup_free(l);
        give_place_back();
        return SK_OK;
    }
    memcpy(l->host, host, hlen);
    snprintf(l->service, sizeof l->service, "%s", service);
    l->hints = *hints;
    l->refs = 2;
    if ((rc = start_thread(l)) != 0) {
        lookup_free(l);
        give_place_back();
        *gai = EAI_SYSTEM;
        *sys_errno = rc;
        return SK_OK;
    }

    rc = cancel != NULL ? wait_cancellable(l, dl, cancel) : SK_OK;
    pthread_mutex_lock(&l->mu);
    while (cancel == NULL && !l->done && rc == SK_OK)
        rc = wait_once(&l->cv, &l->mu, dl);
    if (l->done) {
        rc = SK_OK;
        *gai = l->gai;
        *sys_errno = l->sys_errno;
        *out = l->res;
        l->res = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    lookup_release(l);
    return rc;
}

static int is_localhost(const char *host)
{
    return strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0;
}

static int resolve(const char *host, int port, int socktype, int passive, sk__deadline *dl,
                   const sk_cancel *cancel, struct addrinfo **out, int *gai_out)
{
    struct addrinfo hints;
    char service[8];
    int gai, err = 0, rc = SK_OK;

    *out = NULL;
    if (gai_out != NULL)
        *gai_out = 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    /* No AI_ADDRCONFIG: it would hide ::1 (and so "localhost" over IPv6) on a host
     * whose only IPv6 address is loopback. */
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    snprintf(service, sizeof service, "%d", port);

    if (sk_cancel_fired(cancel))
        return sk__fail(SK_ECANCELED);
    if (host == NULL || passive || is_localhost(host) || (sk__deadline_is_forever(dl) && cancel == NULL)) {
        gai = getaddrinfo(host, service, &hints, out);
        err = errno;
    } else {
        /* A numeric address needs no thread, and no time. */
        hints.ai_flags |= AI_NUMERICHOST;
        gai = getaddrinfo(host, service, &hints, out);
        err = errno;
        hints.ai_flags &= ~AI_NUMERICHOST;
        if (gai == EAI_NONAME) {
            *out = NULL;
            rc = sk__deadline_is_now(dl) ? SK_ETIMEDOUT
                                         : lookup_threaded(host, service, &hints, dl, cancel, out, &gai, &err);
        }
    }
    if (rc != SK_OK)
        return sk__fail(rc);
    if (gai == 0 && *out != NULL)
        return SK_OK;
    *out = NULL; /* (success with an empty list: nothing to free) */
    if (gai_out != NULL)
        *gai_out = gai;
    if (gai == EAI_SYSTEM) {
        errno = err;
        return SK_ENOTFOUND; /* errno tells the system's cause */
    }
    return sk__fail(SK_ENOTFOUND);
}

int sk__resolve_within(const char *host, int port, int socktype, int passive, sk__deadline *dl,
                       struct addrinfo **out, int *gai_out)
{
    return resolve(host, port, socktype, passive, dl, NULL, out, gai_out);
}

int sk__resolve_cancellable(const char *host, int port, int socktype, sk__deadline *dl, const sk_cancel *cancel,
                            struct addrinfo **out, int *gai)
{
    return resolve(host, port, socktype, 0, dl, cancel, out, gai);
}

int sk__resolve(const char *host, int port, int socktype, int passive, struct addrinfo **out)
{
    sk__deadline forever;
    sk__deadline_defer(&forever, SK_FOREVER);
    return sk__resolve_within(host, port, socktype, passive, &forever, out, NULL);
}
