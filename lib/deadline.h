/* One budget for a whole call (convention 4): a relative timeout_ms becomes one
 * CLOCK_MONOTONIC deadline, and every wait of the call uses only what is left of it.
 *
 * The fields are private to deadline.c: callers ask with the helpers below. A
 * deadline is one of three kinds: forever (SK_FOREVER), now (0: do what is possible
 * without waiting) or finite. A finite one is armed (the clock is read) when it is
 * made with sk__deadline_init, or at its first use when made with sk__deadline_defer,
 * so that a call that finishes from what it already holds reads no clock. */
#ifndef SOCKKIT_DEADLINE_H
#define SOCKKIT_DEADLINE_H

#include <stdint.h>

typedef struct sk__deadline {
    int64_t at_ns_;      /* finite and armed: the instant the budget ends */
    int timeout_ms_;     /* as given */
    unsigned char kind_; /* SK__DL_FOREVER, SK__DL_NOW or SK__DL_FINITE */
    unsigned char armed_;/* finite: at_ns_ is set */
    unsigned char fresh_;/* no wait has been prepared yet: the first one has it all */
    unsigned char tried_;/* the first call went without waiting (sk__deadline_try_first) */
} sk__deadline;

/* The kinds; like the fields, for this header and deadline.c only. */
enum { SK__DL_FOREVER, SK__DL_NOW, SK__DL_FINITE };

int64_t sk__now_ns(void);

/* A finite budget starts at its first use instead of now. SK_EINVAL (errno EINVAL)
 * for a timeout below SK_FOREVER, else SK_OK. */
int sk__deadline_invalid(void);
static inline int sk__deadline_defer(sk__deadline *dl, int timeout_ms)
{
    dl->at_ns_ = 0;
    dl->timeout_ms_ = timeout_ms;
    dl->armed_ = 0;
    dl->fresh_ = 1;
    dl->tried_ = 0;
    if (timeout_ms > 0)
        dl->kind_ = SK__DL_FINITE;
    else if (timeout_ms == 0)
        dl->kind_ = SK__DL_NOW;
    else if (timeout_ms == -1) /* SK_FOREVER */
        dl->kind_ = SK__DL_FOREVER;
    else
        return sk__deadline_invalid();
    return 0; /* SK_OK */
}
/* A finite budget starts now (one clock read). */
static inline void sk__deadline_start_(sk__deadline *dl)
{
    dl->at_ns_ = sk__now_ns() + (int64_t)dl->timeout_ms_ * 1000000;
    dl->armed_ = 1;
}
/* The same as sk__deadline_defer, with a finite budget starting now. */
static inline int sk__deadline_init(sk__deadline *dl, int timeout_ms)
{
    int rc = sk__deadline_defer(dl, timeout_ms);
    if (timeout_ms > 0)
        sk__deadline_start_(dl);
    return rc;
}

/* The budget is 0: perform what is possible now, never wait. (The few helpers every
 * transfer calls are inline: they sit on the path of every system call.) */
static inline int sk__deadline_is_now(const sk__deadline *dl)
{
    return dl->kind_ == SK__DL_NOW;
}
static inline int sk__deadline_is_finite(const sk__deadline *dl)
{
    return dl->kind_ == SK__DL_FINITE;
}
static inline int sk__deadline_is_forever(const sk__deadline *dl)
{
    return dl->kind_ == SK__DL_FOREVER;
}
/* Nothing is left (always for a budget of 0, never for SK_FOREVER). */
int sk__deadline_expired(sk__deadline *dl);
/* What is left for poll(): -1 forever, 0 when spent, else whole milliseconds
 * rounded up, so that a wait never ends before the deadline. */
int sk__deadline_poll_ms(sk__deadline *dl);
/* What a socket timeout (SO_RCVTIMEO/SO_SNDTIMEO) should hold for the next system
 * call: 0 for no limit (forever), else milliseconds left rounded up, and the whole
 * budget for the first call without a clock read. SK_ETIMEDOUT when spent; never
 * called with a budget of 0. */
int sk__deadline_sock_ms_slow(sk__deadline *dl, int *ms);
static inline int sk__deadline_sock_ms(sk__deadline *dl, int *ms)
{
    if (dl->kind_ == SK__DL_FOREVER) {
        *ms = 0;
        return 0; /* SK_OK */
    }
    if (dl->fresh_) {
        /* The first wait has the whole budget: one armed at its start has not used
         * enough of it to count (no clock read), and a deferred one starts now. */
        if (!dl->armed_)
            sk__deadline_start_(dl);
        dl->fresh_ = 0;
        *ms = dl->timeout_ms_;
        return 0; /* SK_OK */
    }
    return sk__deadline_sock_ms_slow(dl, ms);
}
/* A deferred finite budget that nothing has used yet: its call may make its first
 * system call without waiting (MSG_DONTWAIT) and without reading the clock, since
 * nothing it does before the budget starts can take long. True once; the budget then
 * starts at its next use (the clock is read only when that call must be repeated). */
static inline int sk__deadline_try_first(sk__deadline *dl)
{
    if (dl->kind_ != SK__DL_FINITE || dl->armed_ || dl->tried_)
        return 0;
    dl->tried_ = 1;
    return 1;
}
/* A deadline for one part of the call: the earlier of dl and part_ns from now
 * (the share of one connect attempt, an attempt delay). */
void sk__deadline_part(sk__deadline *dl, int64_t part_ns, sk__deadline *part);
/* Nanoseconds left of a finite budget (0 when spent); INT64_MAX forever, 0 now. */
int64_t sk__deadline_left_ns(sk__deadline *dl);

#endif /* SOCKKIT_DEADLINE_H */
