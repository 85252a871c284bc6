/* sk_cancel: a cancel signal for a call that has no endpoint to cancel yet (a
 * connect: its lookup and its attempts). A flag, and a wake-up descriptor (an eventfd
 * or a pipe, compat.h) that becomes readable for good when the flag is set, so that
 * the call's poll() wakes on it; firing is a store and a write(), both
 * async-signal-safe. */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

struct sk_cancel {
    sk__notify wake;
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
    if (sk__notify_open(&c->wake) != 0) {
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
    if (cancel == NULL)
        return sk__fail(SK_EINVAL);
    __atomic_store_n(&cancel->fired, 1, __ATOMIC_RELEASE);
    sk__notify_fire(&cancel->wake); /* keeps errno */
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
    sk__notify_close(&cancel->wake);
    free(cancel);
}

int sk__cancel_fd(const sk_cancel *cancel)
{
    return cancel != NULL ? cancel->wake.rd : -1;
}
