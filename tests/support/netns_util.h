/* A private network namespace for one test (Criterion runs each test in its own
 * process): loopback up, and whatever links the test adds with ip(8), gone when the
 * test's process ends. Needs root (CI runs as root); elsewhere the test is skipped,
 * and says why. Test code only. */
#ifndef SK_NETNS_UTIL_H
#define SK_NETNS_UTIL_H

#include <sched.h>
#include <stdlib.h>

#include "testutil.h"

/* Runs a shell command that must succeed. */
static inline void tu_sh(const char *cmd)
{
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "`%s` failed (status %d): is iproute2 installed?", cmd, rc);
}

static inline void tu_netns_enter(void)
{
    if (unshare(CLONE_NEWNET) != 0) {
        if (errno == EPERM)
            cr_skip_test("a network namespace needs root (CAP_SYS_ADMIN): unshare gave EPERM");
        cr_assert_fail("unshare(CLONE_NEWNET): %s", strerror(errno));
    }
    tu_sh("ip link set lo up");
}

/* Two ends of a veth pair, sk0 and sk1, up, IPv4 10.99.0.1/24 and 10.99.0.2/24 and
 * IPv6 link-local addresses usable at once (no duplicate address detection); an
 * IPv4 packet from one end arriving at the other is taken although its source is a
 * local address (accept_local, rp_filter off). */
static inline void tu_netns_veth(void)
{
    /* Written to /proc (this namespace's), not with sysctl(8): procps may be missing. */
    static const char *const knobs[][2] = {
        {"ipv6/conf/all/accept_dad", "0"},   {"ipv6/conf/default/accept_dad", "0"},
        {"ipv4/conf/all/rp_filter", "0"},    {"ipv4/conf/default/rp_filter", "0"},
        {"ipv4/conf/all/accept_local", "1"}, {"ipv4/conf/default/accept_local", "1"},
    };
    for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
        char path[128];
        FILE *f;
        snprintf(path, sizeof path, "/proc/sys/net/%s", knobs[i][0]);
        f = fopen(path, "w");
        cr_assert_not_null(f, "%s: %s", path, strerror(errno));
        cr_assert(fputs(knobs[i][1], f) >= 0 && fclose(f) == 0, "%s: %s", path, strerror(errno));
    }
    tu_sh("ip link add sk0 type veth peer name sk1 && ip addr add 10.99.0.1/24 dev sk0 && "
          "ip addr add 10.99.0.2/24 dev sk1 && ip link set sk0 up && ip link set sk1 up");
    /* The carrier comes up a moment later (the kernel's link watch), and with it the
     * IPv6 link-local addresses and multicast routes: wait for both ends, 5 s at most,
     * or an early IPv6 send fails with ENETUNREACH and IPv4 ones are dropped. */
    tu_sh("for i in $(seq 250); do "
          "ip link show sk0 | grep -q LOWER_UP && ip link show sk1 | grep -q LOWER_UP && "
          "ip -6 route show table local dev sk0 | grep -q ff00:: && "
          "ip -6 route show table local dev sk1 | grep -q ff00:: && "
          "ip -6 addr show dev sk0 scope link | grep -q inet6 && "
          "ip -6 addr show dev sk1 scope link | grep -q inet6 && exit 0; sleep 0.02; done; exit 1");
}

#endif /* SK_NETNS_UTIL_H */
