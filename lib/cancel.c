/* sk_cancel: a cancel signal for a call that has no endpoint to cancel yet (a
 * connect: its lookup and its attempts). A flag, and an eventfd that becomes readable
 * for good when the flag is set, so that the call's poll() wakes on it; firing is a
 * store and a write(), both async-signal-safe. */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct sk_cancel {
    int fd;
    int fired;
};

int sk_cancel_create(sk_cancel **cancel)
{
    sk_cancel *c;
    if (cancel == NULL)
        return sk__fail(SK_EINVAL);
    *cancel = NULL;
    if ((c = malloc(sizeof *c)) == NULL)
        return sk__fail(SK_ENOMEM);
    c->fired = 0;
    if ((c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        int err = errno;
        free(c);
        errno = err;
        return sk__map_errno(err);
    }
    *cancel = c;
    return SK_OK;
}

int sk_cancel_fire(sk_cancel *cancel)
{
    int err = errno;
    uint64_t one = 1;
    if (cancel == NULL)
        return sk__fail(SK_EINVAL);
    __atomic_store_n(&cancel->fired, 1, __ATOMIC_RELEASE);
    /* The counter only grows (nobody reads it): once written it stays readable. A
     * full counter (EAGAIN) is readable already. */
    (void)!write(cancel->fd, &one, sizeof one);
    errno = err;
    return SK_OK;
}

int sk_cancel_fired(const sk_cancel *cancel)
{
    return cancel != NULL && __atomic_load_n(&cancel->fired, __ATOMIC_ACQUIRE);
}

void sk_cancel_close(sk_cancel *cancel)
{
    if (cancel == NULL)
        return;
    close(cancel->fd);
    free(cancel);
}

int sk__cancel_fd(const sk_cancel *cancel)
{
    return cancel != NULL ? cancel->fd : -1;
}
