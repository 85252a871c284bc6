/* Helpers shared by the fault tests (tests/test_faults.c, tests/test_faults_records.c):
 * finding the LD_PRELOADed fault shim of tests/shim, setting its mode and reading its
 * counters. Test code only; include after testutil.h. */
#ifndef SK_SHIM_UTIL_H
#define SK_SHIM_UTIL_H

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "../shim/faultshim.h"

/* Set by shim_set (the first call of every fault test): the shim's counter function. */
static sk_faultshim_count_fn shim_count_;

/* Gives the shim a mode and returns what it said (0, or -1 for a mode it refuses);
 * fails the test clearly when the shim is not loaded. */
static inline int shim_set(const char *spec)
{
    void *set = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_SET_SYMBOL);
    void *count = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_COUNT_SYMBOL);
    sk_faultshim_set_fn set_fn;
    cr_assert(set != NULL && count != NULL,
              "the fault-injection shim is not loaded: run this program with "
              "LD_PRELOAD=<build>/tests/libsk_faultshim.so (ctest does)");
    memcpy(&set_fn, &set, sizeof set_fn);
    memcpy(&shim_count_, &count, sizeof shim_count_);
    return set_fn(spec);
}

/* Sets the mode of this test (each test runs in its own process, so the mode and the
 * counters are the test's own). */
static inline void faults(const char *spec)
{
    cr_assert_eq(shim_set(spec), 0, "the shim rejected the mode \"%s\"", spec);
}

/* A counter as the shim tells it: (unsigned long)-1 for a name it does not know. */
static inline unsigned long shim_counter(const char *name)
{
    cr_assert_not_null(shim_count_, "faults() must come first");
    return shim_count_(name);
}

/* The call the library makes in this build where the tests name the Linux one: a
 * build with POSIX fallbacks (SK_HAVE_* 0, lib/compat.h) makes another ("accept4"
 * becomes "accept", "recvmmsg" "recvmsg", "epoll_wait" "poll"...). */
static inline const char *sk_call_in_build(const char *linux_call)
{
    static const struct { const char *linux_call, *fallback; int fallen; } map[] = {
#ifdef SK_HAVE_CONFIGURED
        {"accept4", "accept", !SK_HAVE_ACCEPT4},
        {"recvfrom", "recvmsg", !SK_HAVE_RECV_MSG_TRUNC},
        {"sendmmsg", "sendmsg", !SK_HAVE_SENDMMSG},
        {"recvmmsg", "recvmsg", !SK_HAVE_RECVMMSG},
#endif
#ifdef SK_POLLER_POLL
        {"epoll_wait", "poll", 1},
#endif
        {NULL, NULL, 0},
    };
    for (int i = 0; map[i].linux_call != NULL; i++)
        if (map[i].fallen && strcmp(linux_call, map[i].linux_call) == 0)
            return map[i].fallback;
    return linux_call;
}

/* A counter that must exist, so that a typo in its name cannot pass a check. Names
 * are "call" or "mode:call" with the call Linux makes (sk_call_in_build). */
static inline unsigned long injected(const char *name)
{
    char buf[64];
    const char *colon = strchr(name, ':');
    unsigned long n;
    if (colon != NULL)
        snprintf(buf, sizeof buf, "%.*s:%s", (int)(colon - name), name, sk_call_in_build(colon + 1));
    else
        snprintf(buf, sizeof buf, "%s", sk_call_in_build(name));
    n = shim_counter(buf);
    cr_assert_neq(n, (unsigned long)-1, "the shim has no counter \"%s\"", buf);
    return n;
}

#endif /* SK_SHIM_UTIL_H */
