/* Deadlines: the one budget of a call (see deadline.h). The only file that reads
 * or writes an sk__deadline's fields. */
#include "deadline.h"
#include "error_map.h"

#include <time.h>

#define NS_PER_MS INT64_C(1000000)

enum { FOREVER, NOW, FINITE };

int64_t sk__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void arm(sk__deadline *dl)
{
    if (dl->kind_ == FINITE && !dl->armed_) {
        dl->at_ns_ = sk__now_ns() + (int64_t)dl->timeout_ms_ * NS_PER_MS;
        dl->armed_ = 1;
    }
}

int sk__deadline_defer(sk__deadline *dl, int timeout_ms)
{
    dl->at_ns_ = 0;
    dl->timeout_ms_ = timeout_ms;
    dl->armed_ = 0;
    dl->fresh_ = 1;
    if (timeout_ms == SK_FOREVER)
        dl->kind_ = FOREVER;
    else if (timeout_ms == 0)
        dl->kind_ = NOW;
    else if (timeout_ms > 0)
        dl->kind_ = FINITE;
    else
        return sk__fail(SK_EINVAL);
    return SK_OK;
}

int sk__deadline_init(sk__deadline *dl, int timeout_ms)
{
    int rc = sk__deadline_defer(dl, timeout_ms);
    if (rc == SK_OK)
        arm(dl);
    return rc;
}

int sk__deadline_is_now(const sk__deadline *dl)
{
    return dl->kind_ == NOW;
}

int sk__deadline_is_finite(const sk__deadline *dl)
{
    return dl->kind_ == FINITE;
}

int64_t sk__deadline_left_ns(sk__deadline *dl)
{
    int64_t left;
    switch (dl->kind_) {
    case FOREVER: return INT64_MAX;
    case NOW: return 0;
    default:
        arm(dl);
        left = dl->at_ns_ - sk__now_ns();
        return left > 0 ? left : 0;
    }
}

int sk__deadline_expired(sk__deadline *dl)
{
    return dl->kind_ != FOREVER && sk__deadline_left_ns(dl) == 0;
}

/* Whole milliseconds, rounded up: a wait of this long never ends early. */
static int ceil_ms(int64_t ns)
{
    return (int)((ns + NS_PER_MS - 1) / NS_PER_MS);
}

int sk__deadline_poll_ms(sk__deadline *dl)
{
    if (dl->kind_ == FOREVER)
        return -1;
    return ceil_ms(sk__deadline_left_ns(dl));
}

int sk__deadline_sock_ms(sk__deadline *dl, int *ms)
{
    if (dl->kind_ == FOREVER) {
        *ms = 0;
        return SK_OK;
    }
    if (dl->fresh_ && dl->armed_) {
        /* The first call of a budget armed at its start has the whole of it: the
         * time since then is too short to count, and no clock is read. */
        *ms = dl->timeout_ms_;
    } else {
        *ms = ceil_ms(sk__deadline_left_ns(dl));
        if (*ms == 0)
            return sk__fail(SK_ETIMEDOUT);
    }
    dl->fresh_ = 0;
    return SK_OK;
}

void sk__deadline_part(sk__deadline *dl, int64_t part_ns, sk__deadline *part)
{
    int64_t left = sk__deadline_left_ns(dl);
    *part = *dl;
    if (dl->kind_ == NOW || part_ns >= left)
        return;
    part->kind_ = FINITE;
    part->armed_ = 1;
    part->fresh_ = 0;
    part->at_ns_ = sk__now_ns() + part_ns;
}
