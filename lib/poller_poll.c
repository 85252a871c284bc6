/* The poller's backend on poll(): for systems without epoll, and on Linux with
 * SOCKKIT_POLLER=poll (the tests run the poller's suite on it too). A pipe is the
 * wake-up; the arrays grow by doubling, 16 bytes an endpoint. */
#include "poller_backend.h"
#include "error_map.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef POLLRDHUP
#  define POLLRDHUP 0 /* not on this system: a hang-up shows as POLLHUP only */
#endif

struct sk__backend {
    int wake_rd, wake_wr;
    struct pollfd *fds;       /* [0] is the wake-up; [1 + slot] the endpoints */
    sk__preg **regs;          /* [slot] */
    size_t n, cap;
    size_t scan_from;         /* where the next scan starts, so that none starves */
};

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

int sk__backend_open(sk__backend **out)
{
    int fds[2];
    sk__backend *b = calloc(1, sizeof *b);

    if (b == NULL)
        return sk__fail(SK_ENOMEM);
    if (pipe(fds) != 0) {
        int rc = sk__map_errno(errno);
        free(b);
        return rc;
    }
    b->wake_rd = fds[0];
    b->wake_wr = fds[1];
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[i], F_SETFL, O_NONBLOCK) != 0) {
            int rc = sk__map_errno(errno);
            sk__backend_close(b);
            return rc;
        }
    }
    b->cap = 16;
    b->fds = malloc((b->cap + 1) * sizeof *b->fds);
    b->regs = malloc(b->cap * sizeof *b->regs);
    if (b->fds == NULL || b->regs == NULL) {
        sk__backend_close(b);
        return sk__fail(SK_ENOMEM);
    }
    b->fds[0].fd = b->wake_rd;
    b->fds[0].events = POLLIN;
    *out = b;
    return SK_OK;
}

void sk__backend_close(sk__backend *b)
{
    sk__close_keep_errno(b->wake_rd);
    sk__close_keep_errno(b->wake_wr);
    free(b->fds);
    free(b->regs);
    free(b);
}

int sk__backend_add(sk__backend *b, sk__preg *r, unsigned events)
{
    if (b->n == b->cap) {
        size_t cap = b->cap * 2;
        struct pollfd *fds = realloc(b->fds, (cap + 1) * sizeof *fds);
        sk__preg **regs;
        if (fds == NULL)
            return sk__fail(SK_ENOMEM);
        b->fds = fds;
        if ((regs = realloc(b->regs, cap * sizeof *regs)) == NULL)
            return sk__fail(SK_ENOMEM);
        b->regs = regs;
        b->cap = cap;
    }
    r->slot = b->n++;
    b->regs[r->slot] = r;
    b->fds[1 + r->slot].fd = r->fd;
    b->fds[1 + r->slot].events = sys_events(events);
    b->fds[1 + r->slot].revents = 0;
    return SK_OK;
}

int sk__backend_mod(sk__backend *b, sk__preg *r, unsigned events)
{
    b->fds[1 + r->slot].events = sys_events(events);
    return SK_OK;
}

void sk__backend_del(sk__backend *b, sk__preg *r)
{
    size_t last = --b->n;
    if (r->slot != last) {
        b->fds[1 + r->slot] = b->fds[1 + last];
        b->regs[r->slot] = b->regs[last];
        b->regs[r->slot]->slot = r->slot;
    }
}

int sk__backend_wait(sk__backend *b, sk__sysevent *out, size_t max, int ms)
{
    int k = poll(b->fds, (nfds_t)(b->n + 1), ms), seen = 0;
    size_t n = b->n;

    if (max > SK__MAX_EVENTS)
        max = SK__MAX_EVENTS;
    if (k <= 0)
        return k;
    if (b->fds[0].revents != 0 && max > 0) {
        char buf[64]; /* drained, so that it is level no more */
        while (read(b->wake_rd, buf, sizeof buf) > 0) {
        }
        out[seen].reg = NULL;
        out[seen++].events = SK_POLL_WAKE;
    }
    /* Start where the last scan stopped, so that with more ready endpoints than
     * room every one gets its turn. */
    for (size_t i = 0; i < n && (size_t)seen < max; i++) {
        size_t s = (b->scan_from + i) % n;
        short re = b->fds[1 + s].revents;
        if (re == 0)
            continue;
        out[seen].reg = b->regs[s];
        out[seen++].events = sk_events(re);
        if ((size_t)seen == max)
            b->scan_from = (s + 1) % n;
    }
    return seen;
}

int sk__backend_wake(sk__backend *b)
{
    if (write(b->wake_wr, "w", 1) < 0 && errno != EAGAIN)
        return sk__map_errno(errno);
    return SK_OK;
}
