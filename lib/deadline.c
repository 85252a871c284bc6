/* Deadlines: the one budget of a call (see deadline.h). The only file that reads
 * or writes an sk__deadline's fields. */
#include "deadline.h"
#include "error_map.h"

#include <time.h>

#define NS_PER_MS INT64_C(1000000)

#define FOREVER SK__DL_FOREVER
#define NOW SK__DL_NOW
#define FINITE SK__DL_FINITE

int64_t sk__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A deferred finite budget starts now: 1 when it did (the whole budget is left,
 * no second clock read needed), 0 when it was armed already. */
static int arm(sk__deadline *dl)
{
    if (dl->kind_ == FINITE && !dl->armed_) {
        sk__deadline_start_(dl);
        return 1;
    }
    return 0;
}

int sk__deadline_invalid(void)
{
    return sk__fail(SK_EINVAL);
}

int64_t sk__deadline_left_ns(sk__deadline *dl)
{
    int64_t left;
    switch (dl->kind_) {
    case FOREVER: return INT64_MAX;
    case NOW: return 0;
    default:
        if (arm(dl))
            return (int64_t)dl->timeout_ms_ * NS_PER_MS;
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

/* sk__deadline_sock_ms (deadline.h) past its two fast cases. */
int sk__deadline_sock_ms_slow(sk__deadline *dl, int *ms)
{
    dl->fresh_ = 0;
    *ms = ceil_ms(sk__deadline_left_ns(dl));
    return *ms == 0 ? sk__fail(SK_ETIMEDOUT) : SK_OK;
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
