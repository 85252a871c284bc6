/* The poller: readiness of many endpoints. epoll on Linux, poll() elsewhere or when
 * built with SK_POLLER_USE_POLL (the tests build both on Linux). Registrations live
 * inside the endpoints (sk__preg), so with epoll registering allocates nothing and
 * the kernel hands back the registration itself. */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__) && !defined(SK_POLLER_USE_POLL)
#  define SK__EPOLL 1
#  include <sys/epoll.h>
#  include <sys/eventfd.h>
#else
#  include <fcntl.h>
#endif

/* Events returned by one system wait, at most. */
#define MAX_EVENTS 256
#define WANTED (SK_POLL_IN | SK_POLL_OUT)

struct sk_poller {
    int wake_rd;              /* eventfd (or a pipe's read end) */
    int wake_wr;              /* the same eventfd (or the pipe's write end) */
    sk__preg *all;            /* every registration */
    sk__preg *ready;          /* registrations with read-ahead bytes, oldest turn first */
    sk__preg *ready_tail;
    unsigned turn;            /* with room for one event: read-ahead and system take turns */
    sk_event *batch;          /* the array the last wait filled, for cancelling */
    size_t batch_n;
#ifdef SK__EPOLL
    int epfd;
    struct epoll_event evs[MAX_EVENTS];
#else
    struct pollfd *fds;       /* [0] is the wake-up; [1 + slot] the endpoints */
    sk__preg **regs;          /* [slot] */
    size_t n, cap;
    size_t scan_from;         /* where the next scan starts, so none starves */
#endif
};

void sk__preg_init(sk__preg *r, void *owner, unsigned kind, int fd)
{
    memset(r, 0, sizeof *r);
    r->owner = owner;
    r->kind = kind;
    r->fd = fd;
}

static void ready_unlink(sk_poller *p, sk__preg *r)
{
    if (!r->on_ready)
        return;
    if (r->rprev != NULL)
        r->rprev->rnext = r->rnext;
    else
        p->ready = r->rnext;
    if (r->rnext != NULL)
        r->rnext->rprev = r->rprev;
    else
        p->ready_tail = r->rprev;
    r->rnext = r->rprev = NULL;
    r->on_ready = 0;
}

/* Append at the tail: the list is walked from the head, so each takes its turn. */
static void ready_append(sk_poller *p, sk__preg *r)
{
    r->rnext = NULL;
    r->rprev = p->ready_tail;
    if (p->ready_tail != NULL)
        p->ready_tail->rnext = r;
    else
        p->ready = r;
    p->ready_tail = r;
    r->on_ready = 1;
}

void sk__poller_note_readahead(sk__preg *r)
{
    if (!r->on_ready)
        ready_append(r->poller, r);
}

/* ---- backend: system registration and wait ---------------------------------- */

#ifdef SK__EPOLL
static uint32_t sys_events(unsigned events)
{
    uint32_t e = EPOLLRDHUP; /* a hang-up is reported whatever is watched */
    if (events & SK_POLL_IN)
        e |= EPOLLIN;
    if (events & SK_POLL_OUT)
        e |= EPOLLOUT;
    return e;
}

static unsigned sk_events(uint32_t e)
{
    unsigned out = 0;
    if (e & EPOLLIN)
        out |= SK_POLL_IN;
    if (e & EPOLLOUT)
        out |= SK_POLL_OUT;
    if (e & (EPOLLHUP | EPOLLRDHUP))
        out |= SK_POLL_HUP;
    if (e & EPOLLERR)
        out |= SK_POLL_ERR;
    return out;
}

static int backend_open(sk_poller *p)
{
    struct epoll_event ev;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0)
        return sk__map_errno(errno);
    p->wake_rd = p->wake_wr = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->wake_rd < 0) {
        int rc = sk__map_errno(errno);
        sk__close_keep_errno(p->epfd);
        return rc;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL; /* the wake-up */
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wake_rd, &ev) != 0) {
        int rc = sk__map_errno(errno);
        sk__close_keep_errno(p->wake_rd);
        sk__close_keep_errno(p->epfd);
        return rc;
    }
    return SK_OK;
}

static void backend_close(sk_poller *p)
{
    close(p->wake_rd);
    close(p->epfd);
}

static int backend_ctl(sk_poller *p, sk__preg *r, int op, unsigned events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = sys_events(events);
    ev.data.ptr = r;
    return epoll_ctl(p->epfd, op, r->fd, &ev) == 0 ? SK_OK : sk__map_errno(errno);
}

static int backend_add(sk_poller *p, sk__preg *r, unsigned events)
{
    return backend_ctl(p, r, EPOLL_CTL_ADD, events);
}

static int backend_mod(sk_poller *p, sk__preg *r, unsigned events)
{
    return backend_ctl(p, r, EPOLL_CTL_MOD, events);
}

static void backend_del(sk_poller *p, sk__preg *r)
{
    struct epoll_event ev; /* non-NULL for kernels before 2.6.9 */
    epoll_ctl(p->epfd, EPOLL_CTL_DEL, r->fd, &ev);
}

/* One system wait; calls emit(p, reg or NULL for the wake-up, SK bits) per event.
 * Returns the number of events seen, or -1 with errno. */
static int backend_wait(sk_poller *p, size_t max, int ms, void (*emit)(sk_poller *, sk__preg *, unsigned))
{
    int k = epoll_wait(p->epfd, p->evs, (int)(max < MAX_EVENTS ? max : MAX_EVENTS), ms);
    for (int i = 0; i < k; i++)
        emit(p, p->evs[i].data.ptr, sk_events(p->evs[i].events));
    return k;
}
#else
#ifndef POLLRDHUP
#  define POLLRDHUP 0 /* not on this system: a hang-up shows as POLLHUP only */
#endif

static short sys_events(unsigned events)
{
    short e = POLLRDHUP; /* a hang-up is reported whatever is watched */
    if (events & SK_POLL_IN)
        e |= POLLIN;
    if (events & SK_POLL_OUT)
        e |= POLLOUT;
    return e;
}

static unsigned sk_events(short e)
{
    unsigned out = 0;
    if (e & POLLIN)
        out |= SK_POLL_IN;
    if (e & POLLOUT)
        out |= SK_POLL_OUT;
    if (e & (POLLHUP | POLLRDHUP))
        out |= SK_POLL_HUP;
    if (e & (POLLERR | POLLNVAL))
        out |= SK_POLL_ERR;
    return out;
}

static int backend_open(sk_poller *p)
{
    int fds[2];
    if (pipe(fds) != 0)
        return sk__map_errno(errno);
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[i], F_SETFL, O_NONBLOCK) != 0) {
            int rc = sk__map_errno(errno);
            sk__close_keep_errno(fds[0]);
            sk__close_keep_errno(fds[1]);
            return rc;
        }
    }
    p->wake_rd = fds[0];
    p->wake_wr = fds[1];
    p->cap = 16;
    p->fds = malloc((p->cap + 1) * sizeof *p->fds);
    p->regs = malloc(p->cap * sizeof *p->regs);
    if (p->fds == NULL || p->regs == NULL) {
        free(p->fds);
        free(p->regs);
        close(fds[0]);
        close(fds[1]);
        return sk__fail(SK_ENOMEM);
    }
    p->fds[0].fd = p->wake_rd;
    p->fds[0].events = POLLIN;
    p->n = 0;
    p->scan_from = 0;
    return SK_OK;
}

static void backend_close(sk_poller *p)
{
    close(p->wake_rd);
    close(p->wake_wr);
    free(p->fds);
    free(p->regs);
}

static int backend_add(sk_poller *p, sk__preg *r, unsigned events)
{
    if (p->n == p->cap) {
        size_t cap = p->cap * 2;
        struct pollfd *fds = realloc(p->fds, (cap + 1) * sizeof *fds);
        sk__preg **regs;
        if (fds == NULL)
            return sk__fail(SK_ENOMEM);
        p->fds = fds;
        regs = realloc(p->regs, cap * sizeof *regs);
        if (regs == NULL)
            return sk__fail(SK_ENOMEM);
        p->regs = regs;
        p->cap = cap;
    }
    r->slot = p->n++;
    p->regs[r->slot] = r;
    p->fds[1 + r->slot].fd = r->fd;
    p->fds[1 + r->slot].events = sys_events(events);
    p->fds[1 + r->slot].revents = 0;
    return SK_OK;
}

static int backend_mod(sk_poller *p, sk__preg *r, unsigned events)
{
    p->fds[1 + r->slot].events = sys_events(events);
    return SK_OK;
}

static void backend_del(sk_poller *p, sk__preg *r)
{
    size_t last = --p->n;
    if (r->slot != last) {
        p->fds[1 + r->slot] = p->fds[1 + last];
        p->regs[r->slot] = p->regs[last];
        p->regs[r->slot]->slot = r->slot;
    }
}

static int backend_wait(sk_poller *p, size_t max, int ms, void (*emit)(sk_poller *, sk__preg *, unsigned))
{
    int k = poll(p->fds, (nfds_t)(p->n + 1), ms), seen = 0;
    size_t n = p->n;
    if (k <= 0)
        return k;
    if (p->fds[0].revents != 0 && max > 0) {
        emit(p, NULL, SK_POLL_WAKE);
        seen++;
        max--;
    }
    /* Start where the last scan stopped, so that with more ready endpoints than room,
     * every one gets its turn. */
    for (size_t i = 0; i < n && max > 0; i++) {
        size_t s = (p->scan_from + i) % n;
        short re = p->fds[1 + s].revents;
        if (re == 0)
            continue;
        emit(p, p->regs[s], sk_events(re));
        seen++;
        max--;
        if (max == 0)
            p->scan_from = (s + 1) % n;
    }
    return seen;
}
#endif

/* ---- the public calls ------------------------------------------------------- */

int sk_poller_create(sk_poller **poller)
{
    sk_poller *p;
    int rc;
    if (poller == NULL)
        return sk__fail(SK_EINVAL);
    *poller = NULL;
    if ((p = calloc(1, sizeof *p)) == NULL)
        return sk__fail(SK_ENOMEM);
    if ((rc = backend_open(p)) != SK_OK) {
        int err = errno;
        free(p);
        errno = err;
        return rc;
    }
    *poller = p;
    return SK_OK;
}

static int reg_add(sk_poller *p, sk__preg *r, unsigned events, void *data)
{
    int rc;
    if (p == NULL || (events & ~WANTED) != 0 || r->poller != NULL)
        return sk__fail(SK_EINVAL);
    if ((rc = backend_add(p, r, events)) != SK_OK)
        return rc;
    r->poller = p;
    r->events = events;
    r->data = data;
    r->in_batch = 0;
    r->prev = NULL;
    r->next = p->all;
    if (p->all != NULL)
        p->all->prev = r;
    p->all = r;
    /* Bytes read ahead before it was added count too. */
    if (r->kind == SK__TCP && sk_tcp_buffered(r->owner) > 0)
        ready_append(p, r);
    return SK_OK;
}

static int reg_mod(sk_poller *p, sk__preg *r, unsigned events, void *data)
{
    int rc;
    if (p == NULL || (events & ~WANTED) != 0 || r->poller != p)
        return sk__fail(SK_EINVAL);
    if (events != r->events && (rc = backend_mod(p, r, events)) != SK_OK)
        return rc;
    r->events = events;
    r->data = data;
    return SK_OK;
}

/* Cancel the endpoint's events in the batch the caller is walking. */
static void cancel_pending(sk_poller *p, const sk__preg *r)
{
    for (size_t i = 0; i < p->batch_n; i++) {
        sk_event *e = &p->batch[i];
        if ((void *)e->tcp == r->owner || (void *)e->udp == r->owner) {
            e->tcp = NULL;
            e->udp = NULL;
            e->data = NULL;
            e->events = 0;
        }
    }
}

static void reg_del(sk_poller *p, sk__preg *r)
{
    backend_del(p, r);
    ready_unlink(p, r);
    cancel_pending(p, r);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        p->all = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
    r->poller = NULL;
    r->events = 0;
    r->data = NULL;
    r->in_batch = 0;
}

void sk__poller_forget(sk__preg *r)
{
    int err = errno;
    reg_del(r->poller, r);
    errno = err;
}

int sk_poller_add_tcp(sk_poller *poller, sk_tcp *t, unsigned events, void *data)
{
    return t == NULL ? sk__fail(SK_EINVAL) : reg_add(poller, sk__tcp_preg(t), events, data);
}

int sk_poller_mod_tcp(sk_poller *poller, sk_tcp *t, unsigned events, void *data)
{
    return t == NULL ? sk__fail(SK_EINVAL) : reg_mod(poller, sk__tcp_preg(t), events, data);
}

int sk_poller_del_tcp(sk_poller *poller, sk_tcp *t)
{
    if (poller == NULL || t == NULL || sk__tcp_preg(t)->poller != poller)
        return sk__fail(SK_EINVAL);
    reg_del(poller, sk__tcp_preg(t));
    return SK_OK;
}

int sk_poller_add_udp(sk_poller *poller, sk_udp *u, unsigned events, void *data)
{
    return u == NULL ? sk__fail(SK_EINVAL) : reg_add(poller, sk__udp_preg(u), events, data);
}

int sk_poller_mod_udp(sk_poller *poller, sk_udp *u, unsigned events, void *data)
{
    return u == NULL ? sk__fail(SK_EINVAL) : reg_mod(poller, sk__udp_preg(u), events, data);
}

int sk_poller_del_udp(sk_poller *poller, sk_udp *u)
{
    if (poller == NULL || u == NULL || sk__udp_preg(u)->poller != poller)
        return sk__fail(SK_EINVAL);
    reg_del(poller, sk__udp_preg(u));
    return SK_OK;
}

/* Add (or merge into) the batch being filled. */
static void emit(sk_poller *p, sk__preg *r, unsigned bits)
{
    sk_event *e;
    if (r == NULL) {
        /* The wake-up: drain the eventfd (or pipe) so that it is level no more. */
        char buf[64];
        while (read(p->wake_rd, buf, sizeof buf) > 0) {
        }
        bits = SK_POLL_WAKE;
    } else if (r->in_batch != 0) {
        /* Already reported for its read-ahead: add what the system says. */
        p->batch[r->in_batch - 1].events |= bits;
        return;
    }
    e = &p->batch[p->batch_n++];
    e->tcp = r != NULL && r->kind == SK__TCP ? r->owner : NULL;
    e->udp = r != NULL && r->kind == SK__UDP ? r->owner : NULL;
    e->data = r != NULL ? r->data : NULL;
    e->events = bits;
    e->reserved = 0;
    if (r != NULL)
        r->in_batch = (unsigned)p->batch_n;
}

int sk_poller_wait(sk_poller *poller, sk_event *events, size_t cap, size_t *count, int timeout_ms)
{
    sk__deadline dl;
    int rc;
    size_t from_ready;

    if (count != NULL)
        *count = 0;
    if (poller == NULL || events == NULL || cap == 0)
        return sk__fail(SK_EINVAL);
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;
    if (cap > MAX_EVENTS)
        cap = MAX_EVENTS;
    poller->batch = events;
    poller->batch_n = 0;

    /* Endpoints whose read-ahead holds bytes are readable now, whatever their
     * descriptor says. They leave room for the system's events (with room for one
     * only, the two take turns), and each one reported goes to the back of the list,
     * so that no endpoint, descriptor or wake-up starves. */
    if (poller->ready != NULL && (cap > 1 || (poller->turn ^= 1u) != 0)) {
        size_t room = cap > 1 ? cap - 1 : 1;
        sk__preg *last = poller->ready_tail;
        for (sk__preg *r = poller->ready, *next; r != NULL && poller->batch_n < room; r = next) {
            int was_last = r == last;
            next = r->rnext;
            ready_unlink(poller, r);
            if (sk_tcp_buffered(r->owner) > 0) {
                if (r->events & SK_POLL_IN)
                    emit(poller, r, SK_POLL_IN);
                ready_append(poller, r);
            }
            if (was_last)
                break;
        }
    }
    from_ready = poller->batch_n;

    while (poller->batch_n < cap) {
        /* With events in hand, only look: never wait. */
        int ms = from_ready > 0 ? 0 : sk__deadline_poll_ms(&dl);
        int k = backend_wait(poller, cap - poller->batch_n, ms, emit);
        if (k > 0 || from_ready > 0)
            break;
        if (k == 0) {
            if (sk__deadline_expired(&dl)) {
                rc = sk__fail(SK_ETIMEDOUT);
                break;
            }
            continue; /* woke a hair early */
        }
        if (errno != EINTR) {
            rc = sk__map_errno(errno);
            break;
        }
    }
    for (size_t i = 0; i < poller->batch_n; i++) {
        sk_event *e = &events[i];
        if (e->tcp != NULL)
            sk__tcp_preg(e->tcp)->in_batch = 0;
        else if (e->udp != NULL)
            sk__udp_preg(e->udp)->in_batch = 0;
    }
    if (rc != SK_OK)
        poller->batch_n = 0;
    if (count != NULL)
        *count = poller->batch_n;
    return rc;
}

int sk_poller_wake(sk_poller *poller)
{
    int err = errno; /* a signal handler must leave errno as it found it */
    int rc = SK_OK;
    if (poller == NULL)
        return sk__fail(SK_EINVAL);
#ifdef SK__EPOLL
    {
        uint64_t one = 1;
        if (write(poller->wake_wr, &one, sizeof one) < 0 && errno != EAGAIN)
            rc = sk__map_errno(errno);
    }
#else
    if (write(poller->wake_wr, "w", 1) < 0 && errno != EAGAIN)
        rc = sk__map_errno(errno);
#endif
    if (rc == SK_OK)
        errno = err;
    return rc;
}

void sk_poller_close(sk_poller *poller)
{
    if (poller == NULL)
        return;
    /* The endpoints stay open, registered nowhere. */
    while (poller->all != NULL) {
        sk__preg *r = poller->all;
        ready_unlink(poller, r);
        poller->all = r->next;
        r->next = r->prev = NULL;
        r->poller = NULL;
        r->events = 0;
        r->data = NULL;
        r->in_batch = 0;
    }
    backend_close(poller);
    free(poller);
}
