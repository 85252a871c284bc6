/* The poller: readiness of many endpoints (sockkit/poller.h). This file keeps the
 * registrations (registration.h) and makes batches of sk_event from what the
 * backend (poller_backend.h) reports and from endpoints whose read-ahead holds
 * bytes. It knows endpoints only through their registrations. */
#include "poller_backend.h"
#include "error_map.h"

#include <stdlib.h>
#include <string.h>

#define WANTED (SK_POLL_IN | SK_POLL_OUT)

struct sk_poller {
    sk__backend *be;
    sk__preg *all;            /* every registration */
    sk__preg *ready;          /* registrations with read-ahead bytes, oldest turn first */
    sk__preg *ready_tail;
    unsigned turn;            /* with room for one event: read-ahead and system take turns */
    sk_event *batch;          /* the array the last wait filled, for cancelling */
    size_t batch_n;
    sk__preg *batch_regs[SK__MAX_EVENTS]; /* the registration of each event in it */
    sk__sysevent sys[SK__MAX_EVENTS];
};

/* ---- the registrations -------------------------------------------------------- */

void sk__preg_init(sk__preg *r, void *owner, unsigned kind, const sk__sock *sock, const sk__rbuf *ra)
{
    memset(r, 0, sizeof *r);
    r->owner = owner;
    r->kind = kind;
    r->fd = sock->fd;
    r->sock = sock;
    r->ra = ra;
}

static size_t readahead(const sk__preg *r)
{
    return r->ra != NULL ? sk__rbuf_len(r->ra) : 0;
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

void sk__preg_note_readahead_slow(sk__preg *r)
{
    if (!r->on_ready && readahead(r) > 0)
        ready_append(r->poller, r);
}

int sk__preg_add(sk_poller *p, sk__preg *r, unsigned events, void *data)
{
    int rc;
    if (p == NULL || (events & ~WANTED) != 0 || r->poller != NULL)
        return sk__fail(SK_EINVAL);
    if ((rc = sk__backend_add(p->be, r, events)) != SK_OK)
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
    sk__preg_note_readahead(r);
    return SK_OK;
}

int sk__preg_mod(sk_poller *p, sk__preg *r, unsigned events, void *data)
{
    int rc;
    if (p == NULL || (events & ~WANTED) != 0 || r->poller != p)
        return sk__fail(SK_EINVAL);
    if (events != r->events && (rc = sk__backend_mod(p->be, r, events)) != SK_OK)
        return rc;
    r->events = events;
    r->data = data;
    return SK_OK;
}

/* Registered nowhere, as sk__preg_init left it. */
static void detach(sk__preg *r)
{
    r->next = r->prev = NULL;
    r->poller = NULL;
    r->events = 0;
    r->data = NULL;
    r->in_batch = 0;
}

int sk__preg_del(sk_poller *p, sk__preg *r)
{
    if (p == NULL || r->poller != p)
        return sk__fail(SK_EINVAL);
    sk__backend_del(p->be, r);
    ready_unlink(p, r);
    /* Its events in the batch the caller is walking are cancelled. */
    for (size_t i = 0; i < p->batch_n; i++) {
        if (p->batch_regs[i] == r) {
            memset(&p->batch[i], 0, sizeof p->batch[i]);
            p->batch_regs[i] = NULL;
        }
    }
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        p->all = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    detach(r);
    return SK_OK;
}

void sk__preg_forget(sk__preg *r)
{
    int err = errno;
    if (r->poller != NULL)
        sk__preg_del(r->poller, r);
    errno = err;
}

/* ---- the public calls --------------------------------------------------------- */

int sk_poller_create(sk_poller **poller)
{
    sk_poller *p;
    int rc;
    if (poller == NULL)
        return sk__fail(SK_EINVAL);
    *poller = NULL;
    if ((p = calloc(1, sizeof *p)) == NULL)
        return sk__fail(SK_ENOMEM);
    if ((rc = sk__backend_open(&p->be)) != SK_OK) {
        int err = errno;
        free(p);
        errno = err;
        return rc;
    }
    *poller = p;
    return SK_OK;
}

/* Add an event to the batch being filled, or merge into the registration's. */
static void emit(sk_poller *p, sk__preg *r, unsigned bits)
{
    sk_event *e;
    /* A cancelled endpoint says so in every event (its shutdown made the system's). */
    if (r != NULL && sk__sock_cancelled(r->sock))
        bits |= SK_POLL_CANCELED;
    if (r != NULL && r->in_batch != 0) {
        /* Already reported for its read-ahead: add what the system says. */
        p->batch[r->in_batch - 1].events |= bits;
        return;
    }
    p->batch_regs[p->batch_n] = r;
    e = &p->batch[p->batch_n++];
    e->tcp = r != NULL && r->kind == SK__TCP ? r->owner : NULL;
    e->udp = r != NULL && r->kind == SK__UDP ? r->owner : NULL;
    e->data = r != NULL ? r->data : NULL;
    e->events = bits;
    e->reserved = 0;
    if (r != NULL)
        r->in_batch = (unsigned)p->batch_n;
}

/* Endpoints whose read-ahead holds bytes are readable now, whatever their
 * descriptor says. They leave room for the system's events (with room for one only,
 * the two take turns), and each one reported goes to the back of the list, so that
 * no endpoint, descriptor or wake-up starves. */
static void emit_readahead(sk_poller *p, size_t cap)
{
    size_t room = cap > 1 ? cap - 1 : 1;
    sk__preg *last = p->ready_tail;
    if (p->ready == NULL || (cap == 1 && (p->turn ^= 1u) == 0))
        return;
    for (sk__preg *r = p->ready, *next; r != NULL && p->batch_n < room; r = next) {
        int was_last = r == last;
        next = r->rnext;
        ready_unlink(p, r);
        if (readahead(r) > 0) {
            if (r->events & SK_POLL_IN)
                emit(p, r, SK_POLL_IN);
            ready_append(p, r);
        }
        if (was_last)
            break;
    }
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
    if (cap > SK__MAX_EVENTS)
        cap = SK__MAX_EVENTS;
    poller->batch = events;
    poller->batch_n = 0;
    emit_readahead(poller, cap);
    from_ready = poller->batch_n;

    while (poller->batch_n < cap) {
        /* With events in hand, only look: never wait. */
        int ms = from_ready > 0 ? 0 : sk__deadline_poll_ms(&dl);
        int k = sk__backend_wait(poller->be, poller->sys, cap - poller->batch_n, ms);
        for (int i = 0; i < k; i++)
            emit(poller, poller->sys[i].reg, poller->sys[i].events);
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
    for (size_t i = 0; i < poller->batch_n; i++)
        if (poller->batch_regs[i] != NULL)
            poller->batch_regs[i]->in_batch = 0;
    if (rc != SK_OK)
        poller->batch_n = 0;
    if (count != NULL)
        *count = poller->batch_n;
    return rc;
}

int sk_poller_wake(sk_poller *poller)
{
    int err = errno; /* a signal handler must leave errno as it found it */
    int rc;
    if (poller == NULL)
        return sk__fail(SK_EINVAL);
    if ((rc = sk__backend_wake(poller->be)) == SK_OK)
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
        detach(r);
    }
    sk__backend_close(poller->be);
    free(poller);
}
