/* The poller's backend on Linux: epoll, with an eventfd for the wake-up. The
 * registration itself is the epoll data, so a ready event leads straight to it. */
#include "poller_backend.h"
#include "error_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct sk__backend {
    int epfd;
    int wakefd;
    struct epoll_event evs[SK__MAX_EVENTS];
};

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

int sk__backend_open(sk__backend **out)
{
    struct epoll_event ev;
    int rc;
    sk__backend *b = malloc(sizeof *b);

    if (b == NULL)
        return sk__fail(SK_ENOMEM);
    b->wakefd = -1;
    if ((b->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        goto fail;
    if ((b->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        goto fail;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL; /* the wake-up */
    if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->wakefd, &ev) != 0)
        goto fail;
    *out = b;
    return SK_OK;
fail:
    rc = sk__map_errno(errno);
    if (b->wakefd >= 0)
        sk__close_keep_errno(b->wakefd);
    if (b->epfd >= 0)
        sk__close_keep_errno(b->epfd);
    free(b);
    return rc;
}

void sk__backend_close(sk__backend *b)
{
    close(b->wakefd);
    close(b->epfd);
    free(b);
}

static int ctl(sk__backend *b, sk__preg *r, int op, unsigned events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = sys_events(events);
    ev.data.ptr = r;
    return epoll_ctl(b->epfd, op, r->fd, &ev) == 0 ? SK_OK : sk__map_errno(errno);
}

int sk__backend_add(sk__backend *b, sk__preg *r, unsigned events)
{
    return ctl(b, r, EPOLL_CTL_ADD, events);
}

int sk__backend_mod(sk__backend *b, sk__preg *r, unsigned events)
{
    return ctl(b, r, EPOLL_CTL_MOD, events);
}

void sk__backend_del(sk__backend *b, sk__preg *r)
{
    struct epoll_event ev; /* non-NULL for kernels before 2.6.9 */
    epoll_ctl(b->epfd, EPOLL_CTL_DEL, r->fd, &ev);
}

int sk__backend_wait(sk__backend *b, sk__sysevent *out, size_t max, int ms)
{
    int k = epoll_wait(b->epfd, b->evs, (int)(max < SK__MAX_EVENTS ? max : SK__MAX_EVENTS), ms);
    for (int i = 0; i < k; i++) {
        out[i].reg = b->evs[i].data.ptr;
        if (out[i].reg == NULL) {
            uint64_t n; /* drained, so that it is level no more */
            while (read(b->wakefd, &n, sizeof n) > 0) {
            }
            out[i].events = SK_POLL_WAKE;
        } else {
            out[i].events = sk_events(b->evs[i].events);
        }
    }
    return k;
}

int sk__backend_wake(sk__backend *b)
{
    uint64_t one = 1;
    if (write(b->wakefd, &one, sizeof one) < 0 && errno != EAGAIN)
        return sk__map_errno(errno);
    return SK_OK;
}
