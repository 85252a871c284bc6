/* sk_tcp_connect: Happy Eyeballs v2 (RFC 8305) over every address a name resolves
 * to, within the one budget, every attempt reported.
 *
 * The resolver's list (already in the system's RFC 6724 order) is interleaved by
 * family, first-address-family count 1. Attempts are non-blocking sockets in one
 * poll set: a new one starts every attempt delay, or at once when one fails, and
 * the earlier ones keep running. The first to connect wins; every other socket is
 * closed. With a delay of 0 the addresses are tried one at a time, each but the last
 * with a share of what is left of the budget. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* RFC 8305 section 5: 250 ms by default, never below 100 ms nor above 2 s. */
#define DELAY_MIN_MS 100
#define DELAY_MAX_MS 2000
/* Go's floor for one address's share of a budget when tried one at a time. */
#define SERIAL_MIN_SHARE_NS INT64_C(2000000000)
/* Lists up to this long need no allocation. */
#define STACK_ADDRS 8

/* The state of one call. */
typedef struct he_run {
    sk__deadline *dl;
    int64_t t0_ns;               /* the call's start */
    const struct addrinfo **order; /* the addresses in the order they are tried */
    int *fd;                     /* per address: its socket while it runs, else -1 */
    struct pollfd *pfd;          /* room for every running attempt */
    int *pidx;                   /* per pfd entry: the address it watches */
    size_t n;                    /* addresses */
    size_t started;              /* attempts started: a prefix of order */
    sk_connect_attempt *att;     /* the caller's report, cap entries */
    size_t cap;
    int first_rc, first_errno;   /* the first attempt's result, for the return value */
    const sk_cancel *cancel;     /* fired: every running attempt is abandoned, or NULL */
} he_run;

/* race() returns this when the cancel fired. */
#define RACE_CANCELED (-2)

static int ms_since(const he_run *r, int64_t now)
{
    int64_t ms = (now - r->t0_ns) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Attempt i (in start order, which is the order of r->order) has started. */
static void note_start(he_run *r, size_t i, int64_t now)
{
    if (i < r->cap) {
        sk_connect_attempt *a = &r->att[i];
        memset(a, 0, sizeof *a);
        (void)sk__addr_from(&a->addr, r->order[i]->ai_addr, r->order[i]->ai_addrlen);
        a->code = SK_OK;
        a->started_ms = a->ended_ms = ms_since(r, now);
    }
}

/* Attempt i has ended with code (and err, its errno, or 0). */
static void note_end(he_run *r, size_t i, int code, int err, int64_t now)
{
    if (i < r->cap) {
        r->att[i].code = code;
        r->att[i].sys_errno = err;
        r->att[i].ended_ms = ms_since(r, now);
    }
    if (i == 0 && code != SK_OK) {
        r->first_rc = code;
        r->first_errno = err;
    }
}

/* Attempt i failed with code and errno err: its socket is closed. */
static void fail_attempt(he_run *r, size_t i, int code, int err, int64_t now)
{
    if (r->fd[i] >= 0) {
        close(r->fd[i]);
        r->fd[i] = -1;
    }
    note_end(r, i, code, err, now);
}

/* Every attempt still running among the first n ends with code and err. */
static void fail_running(he_run *r, size_t n, int code, int err)
{
    int64_t now = sk__now_ns();
    for (size_t i = 0; i < n; i++)
        if (r->fd[i] >= 0)
            fail_attempt(r, i, code, err, now);
}

/* Interleave the list by family, first-address-family count 1: A1 B1 A2 B2 ...
 * where A is the first address's family, then the rest of the longer one. */
static void interleave(const struct addrinfo *list, const struct addrinfo **order, size_t n)
{
    const int fam = list->ai_family;
    const struct addrinfo *a = list, *b = list;
    size_t k = 0;
    while (b != NULL && b->ai_family == fam)
        b = b->ai_next;
    while (k < n) {
        if (a != NULL) {
            order[k++] = a;
            do
                a = a->ai_next;
            while (a != NULL && a->ai_family != fam);
        }
        if (b != NULL && k < n) {
            order[k++] = b;
            do
                b = b->ai_next;
            while (b != NULL && b->ai_family == fam);
        }
    }
}

/* Start attempt i: 1 when it connected at once, 0 when it runs, -1 when it failed. */
static int start_attempt(he_run *r, size_t i)
{
    const struct addrinfo *ai = r->order[i];
    int s = sk__socket(ai->ai_family, SOCK_STREAM, ai->ai_protocol, 1);
    int64_t now;
    r->started = i + 1;
    if (s < 0) {
        int err = errno;
        now = sk__now_ns();
        note_start(r, i, now);
        note_end(r, i, sk__map_errno(err), err, now);
        return -1;
    }
    r->fd[i] = s;
    now = sk__now_ns();
    note_start(r, i, now);
    if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
        return 1;
    /* A non-blocking connect goes on in the background after EINTR too. */
    if (errno == EINPROGRESS || errno == EINTR)
        return 0;
    {
        int err = errno;
        fail_attempt(r, i, sk__map_errno(err), err, sk__now_ns());
    }
    return -1;
}

/* A wake-up on attempt i is trusted only once the socket says so: 1 connected (one
 * getpeername tells), -1 failed (SO_ERROR says why; the attempt is ended), 0 still
 * in progress (the wake-up was spurious). */
static int check_attempt(he_run *r, size_t i)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int err = 0;
    socklen_t len = sizeof err;
    if (getpeername(r->fd[i], (struct sockaddr *)&ss, &sl) == 0)
        return 1;
    if (errno != ENOTCONN)
        err = errno;
    else if (getsockopt(r->fd[i], SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0)
        return 0;
    fail_attempt(r, i, sk__map_errno(err), err, sk__now_ns());
    return -1;
}

/* Milliseconds from now to at, rounded up (0 when past), for poll(). */
static int ms_until(int64_t now, int64_t at)
{
    int64_t ns = at - now;
    if (ns <= 0)
        return 0;
    ns = (ns + 999999) / 1000000;
    return ns > INT32_MAX ? INT32_MAX : (int)ns;
}

/* The attempts. delay_ns 0: one at a time. The winner's index, -1 when every
 * attempt failed (or the budget ended first), RACE_CANCELED when the cancel fired
 * (every running attempt then ends with SK_ECANCELED). */
static long race(he_run *r, int64_t delay_ns)
{
    const int serial = delay_ns == 0;
    size_t next = 0, running = 0;
    int64_t next_at = 0;      /* when the next attempt is due (concurrent mode) */
    sk__deadline part = *r->dl; /* the running attempt's share (serial mode) */

    for (;;) {
        int64_t now = sk__now_ns();
        int timeout, nfd = 0, ready;

        if (sk_cancel_fired(r->cancel)) {
            fail_running(r, next, SK_ECANCELED, ECANCELED);
            return RACE_CANCELED;
        }
        /* Start what is due: the first attempt always, a new one when none runs
         * or its delay has passed, while the budget lasts. */
        while (next < r->n && (running == 0 || (!serial && now >= next_at))) {
            int st;
            if (next > 0 && sk__deadline_expired(r->dl))
                break;
            if (serial && sk__deadline_is_finite(r->dl) && r->n - next > 1) {
                /* Share what is left among the addresses still to try, so that
                 * one that drops packets cannot eat the whole budget. */
                int64_t share = sk__deadline_left_ns(r->dl) / (int64_t)(r->n - next);
                sk__deadline_part(r->dl, share < SERIAL_MIN_SHARE_NS ? SERIAL_MIN_SHARE_NS : share,
                                  &part);
            } else {
                part = *r->dl;
            }
            st = start_attempt(r, next++);
            if (st == 1)
                return (long)next - 1;
            now = sk__now_ns();
            if (st == 0) {
                running++;
                next_at = now + delay_ns;
            }
        }
        if (running == 0)
            return -1;

        /* Wait for any running attempt, until the budget ends or the next is due. */
        timeout = sk__deadline_poll_ms(serial ? &part : r->dl);
        if (!serial && next < r->n) {
            int t = ms_until(now, next_at);
            if (timeout < 0 || t < timeout)
                timeout = t;
        }
        for (size_t i = 0; i < next; i++) {
            if (r->fd[i] >= 0) {
                r->pfd[nfd].fd = r->fd[i];
                r->pfd[nfd].events = POLLOUT;
                r->pfd[nfd].revents = 0;
                r->pidx[nfd++] = (int)i;
            }
        }
        /* The cancel's descriptor last, past the attempts' entries (room for it
         * was made). */
        if (r->cancel != NULL) {
            r->pfd[nfd].fd = sk__cancel_fd(r->cancel);
            r->pfd[nfd].events = POLLIN;
            r->pfd[nfd].revents = 0;
        }
        ready = poll(r->pfd, (nfds_t)nfd + (r->cancel != NULL), timeout);
        if (ready < 0 && errno != EINTR) {
            /* poll itself failed (ENOMEM): every running attempt ends with it. */
            int err = errno;
            fail_running(r, next, sk__map_errno(err), err);
            return -1;
        }
        for (int k = 0; ready > 0 && k < nfd; k++) {
            size_t i = (size_t)r->pidx[k];
            int st;
            if (r->pfd[k].revents == 0)
                continue;
            st = check_attempt(r, i);
            if (st == 1)
                return (long)i;
            if (st < 0) {
                running--;
                next_at = 0; /* a failure starts the next attempt at once */
            }
        }

        /* What the budget cut off. */
        if (sk__deadline_expired(r->dl)) {
            fail_running(r, next, SK_ETIMEDOUT, ETIMEDOUT);
            return -1;
        }
        if (serial && running > 0 && sk__deadline_expired(&part)) {
            fail_running(r, next, SK_ETIMEDOUT, ETIMEDOUT);
            running = 0;
        }
    }
}

/* The winner, attempt w, goes back to blocking mode with TCP_NODELAY on; every other
 * running attempt is abandoned. SK_OK with the winner's socket in *fd. */
static int settle(he_run *r, size_t w, int *fd)
{
    int64_t now = sk__now_ns();
    int off = 0, rc = SK_OK;
    for (size_t i = 0; i < r->n; i++)
        if (i != w && r->fd[i] >= 0)
            fail_attempt(r, i, SK_ECANCELED, 0, now);
    /* Blocking from now on: waits go through the socket's own timeouts. One ioctl,
     * where fcntl would take two calls. */
    if (ioctl(r->fd[w], FIONBIO, &off) != 0)
        rc = sk__map_errno(errno);
    if (rc == SK_OK)
        rc = sk__set_nodelay(r->fd[w], 1);
    if (rc != SK_OK) {
        int err = errno;
        fail_attempt(r, w, rc, err, sk__now_ns());
        errno = err;
        return rc;
    }
    note_end(r, w, SK_OK, 0, now);
    *fd = r->fd[w];
    r->fd[w] = -1;
    return SK_OK;
}

/* A lookup that failed is the report's one entry, with an empty address: its
 * sys_errno is getaddrinfo's EAI_* value (negative, unlike any errno), or errno
 * for EAI_SYSTEM and a lookup the budget cut off. */
static void note_lookup_failure(he_run *r, int rc, int gai)
{
    if (r->cap > 0) {
        sk_connect_attempt *a = &r->att[0];
        memset(a, 0, sizeof *a);
        a->code = rc;
        a->sys_errno = gai != 0 && gai != EAI_SYSTEM ? gai : errno;
        a->ended_ms = ms_since(r, sk__now_ns());
    }
}

int sk__connect_options_read(const sk_connect_options *opts, int *delay_ms, const sk_cancel **cancel)
{
    *delay_ms = SK_CONNECT_DELAY_DEFAULT_MS;
    *cancel = NULL;
    if (opts == NULL)
        return SK_OK;
    if (opts->version < 1 || opts->version > SK_CONNECT_OPTIONS_VERSION || opts->attempt_delay_ms < 0)
        return sk__fail(SK_EINVAL);
    *delay_ms = opts->attempt_delay_ms;
    /* A version 1 struct ends before the cancel. */
    if (opts->version >= 2)
        *cancel = opts->cancel;
    return SK_OK;
}

int sk_tcp_connect_with(sk_tcp **conn, const char *host, int port, const sk_connect_options *opts,
                        sk_connect_attempt *attempts, size_t cap, size_t *count, int timeout_ms)
{
    sk__deadline dl;
    struct addrinfo *list;
    he_run r;
    int64_t delay_ns;
    int rc, gai = 0, fd = -1, delay_ms;
    long w;
    size_t n = 0;
    void *heap = NULL;
    const struct addrinfo *order_s[STACK_ADDRS];
    int fd_s[STACK_ADDRS], pidx_s[STACK_ADDRS];
    struct pollfd pfd_s[STACK_ADDRS + 1];
    const sk_cancel *cancel = NULL;

    if (count != NULL)
        *count = 0;
    if (conn == NULL)
        return sk__fail(SK_EINVAL);
    *conn = NULL;
    if (host == NULL || host[0] == '\0' || !sk__port_ok(port, 0) || (attempts == NULL && cap > 0))
        return sk__fail(SK_EINVAL);
    if ((rc = sk__connect_options_read(opts, &delay_ms, &cancel)) != SK_OK)
        return rc;
    if (delay_ms > 0 && delay_ms < DELAY_MIN_MS)
        delay_ms = DELAY_MIN_MS;
    if (delay_ms > DELAY_MAX_MS)
        delay_ms = DELAY_MAX_MS;
    delay_ns = (int64_t)delay_ms * 1000000;
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;

    memset(&r, 0, sizeof r);
    r.dl = &dl;
    r.t0_ns = sk__now_ns();
    r.att = attempts;
    r.cap = cap;
    r.cancel = cancel;
    if ((rc = sk__resolve_cancellable(host, port, SOCK_STREAM, &dl, cancel, &list, &gai)) != SK_OK) {
        int err = errno;
        note_lookup_failure(&r, rc, gai);
        if (count != NULL)
            *count = 1;
        errno = err;
        return rc;
    }
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next)
        n++;
    if (n <= STACK_ADDRS) {
        r.order = order_s;
        r.fd = fd_s;
        r.pfd = pfd_s;
        r.pidx = pidx_s;
    } else {
        /* One block: the pointers, then the pollfds, then the ints. */
        heap = malloc(n * (sizeof *r.order + 2 * sizeof(int)) + (n + 1) * sizeof *r.pfd);
        if (heap == NULL) {
            freeaddrinfo(list);
            return sk__fail(SK_ENOMEM);
        }
        r.order = heap;
        r.pfd = (struct pollfd *)(void *)(r.order + n);
        r.fd = (int *)(void *)(r.pfd + n + 1);
        r.pidx = r.fd + n;
    }
    r.n = n;
    for (size_t i = 0; i < n; i++)
        r.fd[i] = -1;
    interleave(list, r.order, n);

    w = race(&r, delay_ns);
    if (w >= 0) {
        rc = settle(&r, (size_t)w, &fd);
    } else if (w == RACE_CANCELED) {
        rc = sk__fail(SK_ECANCELED);
    } else if (r.first_rc != SK_OK) {
        /* Every attempt failed: the first one's failure is the call's (as Go). */
        rc = r.first_rc;
        errno = r.first_errno;
    } else {
        rc = sk__fail(SK_ETIMEDOUT);
    }
    if (count != NULL)
        *count = r.started;
    {
        int err = errno;
        free(heap);
        freeaddrinfo(list);
        errno = err;
    }
    if (rc != SK_OK)
        return rc;
    /* The winner's entry says what the call says: a connection the library could not
     * wrap (no memory) is no winner. */
    if ((rc = sk__tcp_wrap(fd, conn)) != SK_OK) {
        int err = errno;
        note_end(&r, (size_t)w, rc, err, sk__now_ns());
        errno = err;
    }
    return rc;
}

int sk_tcp_connect_report(sk_tcp **conn, const char *host, int port, int timeout_ms,
                          sk_connect_attempt *attempts, size_t cap, size_t *count)
{
    return sk_tcp_connect_with(conn, host, port, NULL, attempts, cap, count, timeout_ms);
}

int sk_tcp_connect(sk_tcp **conn, const char *host, int port, int timeout_ms)
{
    return sk_tcp_connect_with(conn, host, port, NULL, NULL, 0, NULL, timeout_ms);
}
