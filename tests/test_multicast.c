/* Broadcast and multicast (include/sockkit/udp.h): sk_udp_join / leave, the
 * source-specific pair, the multicast TTL, loopback and outgoing interface,
 * sk_udp_set_broadcast. Every test that sends builds its own network in a private
 * namespace (tests/support/netns_util.h): multicast on its loopback, or a veth pair,
 * so nothing leaves the test and no machine's network is touched. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "netns_util.h"
#include "testutil.h"

TestSuite(multicast, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(multicast_args, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

#define COUNT 10
/* How long a receiver that must get nothing listens. */
#define QUIET_MS 300

/* Multicast on the namespace's loopback: its flag, and a route for 224.0.0.0/4. */
static void loopback_multicast(void)
{
    tu_sh("ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo");
}

/* A receiver on port (0: any) that shares it with others (SO_REUSEADDR). */
static sk_udp *receiver(const char *host, int port)
{
    sk_bind_options o = SK_BIND_OPTIONS_INIT;
    sk_udp *u;
    int rc;
    o.reuse_addr = 1;
    rc = sk_udp_bind_with(&u, host, port, &o);
    cr_assert_eq(rc, SK_OK, "bind %s:%d: %s (%s)", host ? host : "*", port, sk_errname(rc), strerror(errno));
    return u;
}

static int port_of(const sk_udp *u)
{
    sk_addr a;
    cr_assert_eq(sk_udp_local_addr(u, &a), SK_OK);
    return sk_addr_port(&a);
}

static void send_numbered(sk_udp *s, const char *to_text, int first, int n)
{
    sk_addr to;
    cr_assert_eq(sk_addr_parse(&to, to_text), SK_OK, "%s", to_text);
    for (int i = first; i < first + n; i++) {
        char m[16];
        int len = snprintf(m, sizeof m, "m%d", i), rc = sk_udp_sendto(s, m, (size_t)len, &to, 5000);
        cr_assert_eq(rc, SK_OK, "sendto %s: %s (%s)", to_text, sk_errname(rc), strerror(errno));
    }
}

/* Receives n datagrams numbered first.. in order; from, when not NULL, must be
 * every one's source text. */
static void expect_numbered(sk_udp *u, int first, int n, const char *who)
{
    for (int i = first; i < first + n; i++) {
        char m[16], want[16];
        size_t got = 0;
        int rc = sk_udp_recv(u, m, sizeof m - 1, &got, 5000);
        cr_assert_eq(rc, SK_OK, "%s: datagram %d: %s", who, i, sk_errname(rc));
        m[got] = '\0';
        snprintf(want, sizeof want, "m%d", i);
        cr_assert_str_eq(m, want, "%s", who);
    }
}

static void expect_nothing(sk_udp *u, const char *who)
{
    char m[16];
    size_t got = 0;
    int rc = sk_udp_recv(u, m, sizeof m, &got, QUIET_MS);
    cr_assert_eq(rc, SK_ETIMEDOUT, "%s received a datagram (%s, %zu bytes)", who, sk_errname(rc), got);
}

Test(multicast, two_ipv4_members_get_every_datagram_and_one_that_leaves_gets_no_more)
{
    sk_udp *a, *b, *s;
    char to[64], lo_index[16];
    int port;

    tu_netns_enter();
    loopback_multicast();
    /* a: every address (dual-stack IPv6 socket: IPv4 groups join through it too);
     * b: IPv4 only, the interface given by index. */
    a = receiver(NULL, 0);
    port = port_of(a);
    b = receiver("0.0.0.0", port);
    snprintf(lo_index, sizeof lo_index, "%u", if_nametoindex("lo"));
    cr_assert_eq(sk_udp_join(a, "239.7.7.7", "lo"), SK_OK, "%s", strerror(errno));
    cr_assert_eq(sk_udp_join(b, "239.7.7.7", lo_index), SK_OK, "%s", strerror(errno));
    cr_assert_eq(sk_udp_join(b, "239.7.7.7", lo_index), SK_EADDRINUSE, "a second join of the same group");
    cr_assert_eq(sk_udp_bind(&s, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_set_multicast_if(s, "lo"), SK_OK);
    cr_assert_eq(sk_udp_set_multicast_ttl(s, 1), SK_OK);
    snprintf(to, sizeof to, "239.7.7.7:%d", port);

    send_numbered(s, to, 0, COUNT);
    expect_numbered(a, 0, COUNT, "a");
    expect_numbered(b, 0, COUNT, "b");

    cr_assert_eq(sk_udp_leave(b, "239.7.7.7", lo_index), SK_OK);
    cr_assert_eq(sk_udp_leave(b, "239.7.7.7", lo_index), SK_EINVAL, "leaving twice");
    send_numbered(s, to, COUNT, COUNT);
    expect_numbered(a, COUNT, COUNT, "a");
    expect_nothing(b, "b, after leaving,");
    sk_udp_close(a);
    sk_udp_close(b);
    sk_udp_close(s);
}

/* IPv6 over a veth pair: the sender leaves by sk0, two members joined on sk1 (one by
 * name, one by index) get what crossed the link. Loopback is off: Linux matches an
 * IPv6 membership by group only, not by interface, so the host's own copy would reach
 * both members as well. */
Test(multicast, two_ipv6_members_across_a_link_get_every_datagram_and_one_that_leaves_gets_no_more)
{
    sk_udp *a, *b, *s;
    char to[64], sk1_index[16];
    int port;

    tu_netns_enter();
    tu_netns_veth();
    a = receiver("::", 0);
    port = port_of(a);
    b = receiver("::", port);
    snprintf(sk1_index, sizeof sk1_index, "%u", if_nametoindex("sk1"));
    cr_assert_eq(sk_udp_join(a, "ff12::77", "sk1"), SK_OK, "%s", strerror(errno));
    cr_assert_eq(sk_udp_join(b, "ff12::77", sk1_index), SK_OK, "%s", strerror(errno));
    cr_assert_eq(sk_udp_bind(&s, "::", 0), SK_OK);
    cr_assert_eq(sk_udp_set_multicast_if(s, "sk0"), SK_OK);
    cr_assert_eq(sk_udp_set_multicast_loop(s, 0), SK_OK);
    cr_assert_eq(sk_udp_set_multicast_ttl(s, 1), SK_OK);
    snprintf(to, sizeof to, "[ff12::77]:%d", port);

    send_numbered(s, to, 0, COUNT);
    expect_numbered(a, 0, COUNT, "a");
    expect_numbered(b, 0, COUNT, "b");
    cr_assert_eq(sk_udp_leave(a, "ff12::77", "sk1"), SK_OK);
    send_numbered(s, to, COUNT, COUNT);
    expect_numbered(b, COUNT, COUNT, "b");
    expect_nothing(a, "a, after leaving,");
    sk_udp_close(a);
    sk_udp_close(b);
    sk_udp_close(s);
}

/* IPv4 over a veth pair: a member on the sending interface (sk0) gets the host's own
 * copy, one on the far end (sk1) what crossed the link; with loopback off, only the
 * far one gets anything. */
Test(multicast, loopback_off_keeps_the_hosts_own_copy_from_a_member_on_the_sending_interface)
{
    sk_udp *near, *far, *s;
    char to[64];
    int port;

    tu_netns_enter();
    tu_netns_veth();
    near = receiver("0.0.0.0", 0);
    port = port_of(near);
    far = receiver("0.0.0.0", port);
    cr_assert_eq(sk_udp_join(near, "239.8.8.8", "sk0"), SK_OK, "%s", strerror(errno));
    cr_assert_eq(sk_udp_join(far, "239.8.8.8", "sk1"), SK_OK, "%s", strerror(errno));
    cr_assert_eq(sk_udp_bind(&s, "10.99.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_set_multicast_if(s, "sk0"), SK_OK);
    snprintf(to, sizeof to, "239.8.8.8:%d", port);

    send_numbered(s, to, 0, COUNT);
    expect_numbered(near, 0, COUNT, "near");
    expect_numbered(far, 0, COUNT, "far");
    cr_assert_eq(sk_udp_set_multicast_loop(s, 0), SK_OK);
    send_numbered(s, to, COUNT, COUNT);
    expect_numbered(far, COUNT, COUNT, "far");
    expect_nothing(near, "near, with loopback off,");
    sk_udp_close(near);
    sk_udp_close(far);
    sk_udp_close(s);
}

/* Source-specific: a member of (127.0.0.1, 232.1.1.1) gets that sender's datagrams
 * and not those another source sends to the same group. */
Test(multicast, a_source_specific_member_gets_only_its_sources_datagrams)
{
    sk_udp *r, *mine, *other;
    char to[64];
    int port;

    tu_netns_enter();
    loopback_multicast();
    r = receiver(NULL, 0);
    port = port_of(r);
    cr_assert_eq(sk_udp_join_source(r, "232.1.1.1", "127.0.0.1", "lo"), SK_OK, "%s", strerror(errno));
    cr_assert_eq(sk_udp_bind(&mine, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_bind(&other, "127.0.0.2", 0), SK_OK);
    cr_assert_eq(sk_udp_set_multicast_if(mine, "lo"), SK_OK);
    cr_assert_eq(sk_udp_set_multicast_if(other, "lo"), SK_OK);
    snprintf(to, sizeof to, "232.1.1.1:%d", port);

    send_numbered(other, to, 100, COUNT);
    send_numbered(mine, to, 0, COUNT);
    expect_numbered(r, 0, COUNT, "the member");
    expect_nothing(r, "the member, from the other source,");

    cr_assert_eq(sk_udp_leave_source(r, "232.1.1.1", "127.0.0.1", "lo"), SK_OK);
    send_numbered(mine, to, COUNT, COUNT);
    expect_nothing(r, "the member, after leaving its source,");
    sk_udp_close(r);
    sk_udp_close(mine);
    sk_udp_close(other);
}

Test(multicast, broadcast_needs_set_broadcast_and_then_reaches_a_receiver_on_the_port)
{
    sk_udp *r, *s;
    sk_addr to;
    char text[64];
    int rc;

    tu_netns_enter();
    /* The broadcast address of the namespace's loopback network (127.0.0.0/8). */
    r = receiver(NULL, 0);
    cr_assert_eq(sk_udp_bind(&s, "127.0.0.1", 0), SK_OK);
    snprintf(text, sizeof text, "127.255.255.255:%d", port_of(r));
    cr_assert_eq(sk_addr_parse(&to, text), SK_OK);
    rc = sk_udp_sendto(s, "b0", 2, &to, 5000);
    cr_assert_eq(rc, SK_EOS, "a broadcast without SO_BROADCAST: %s", sk_errname(rc));
    cr_assert_eq(errno, EACCES);
    cr_assert_eq(sk_udp_set_broadcast(s, 1), SK_OK);
    send_numbered(s, text, 0, COUNT);
    expect_numbered(r, 0, COUNT, "the receiver");
    cr_assert_eq(sk_udp_set_broadcast(s, 0), SK_OK);
    cr_assert_eq(sk_udp_sendto(s, "b0", 2, &to, 5000), SK_EOS, "broadcast forbidden again");
    sk_udp_close(r);
    sk_udp_close(s);
}

/* ---- arguments (no namespace: nothing is sent, nothing is joined) ------------------- */

Test(multicast_args, bad_groups_sources_interfaces_and_values_are_refused)
{
    sk_udp *v4, *v6only, *ux;
    sk_bind_options o = SK_BIND_OPTIONS_INIT;

    cr_assert_eq(sk_udp_bind(&v4, "127.0.0.1", 0), SK_OK);
    o.v6only = 1;
    cr_assert_eq(sk_udp_bind_with(&v6only, "::1", 0, &o), SK_OK);
    cr_assert_eq(sk_unix_dgram_bind(&ux, NULL), SK_OK);

    cr_assert_eq(sk_udp_join(NULL, "239.1.1.1", NULL), SK_EINVAL);
    cr_assert_eq(sk_udp_join(v4, NULL, NULL), SK_EINVAL);
    cr_assert_eq(sk_udp_join(v4, "10.1.2.3", NULL), SK_EINVAL, "not a multicast address");
    cr_assert_eq(sk_udp_join(v4, "all-systems.mcast.net", NULL), SK_EINVAL, "names are not looked up");
    cr_assert_eq(sk_udp_join(v4, "239.1.1.1:80", NULL), SK_EINVAL);
    cr_assert_eq(sk_udp_join(v4, "ff12::1", NULL), SK_EINVAL, "an IPv6 group on an IPv4 socket");
    cr_assert_eq(sk_udp_join(v6only, "239.1.1.1", NULL), SK_EINVAL, "an IPv4 group on an IPv6-only socket");
    cr_assert_eq(sk_udp_join(ux, "239.1.1.1", NULL), SK_EINVAL, "a Unix endpoint");
    cr_assert_eq(sk_udp_join(v4, "239.1.1.1", "no-such-if0"), SK_ENOTFOUND);
    cr_assert_eq(errno, ENODEV);
    cr_assert_eq(sk_udp_join(v4, "239.1.1.1", "999999"), SK_ENOTFOUND, "no interface has that index");
    cr_assert_eq(sk_udp_join_source(v4, "232.1.1.1", NULL, NULL), SK_EINVAL);
    cr_assert_eq(sk_udp_join_source(v4, "232.1.1.1", "239.9.9.9", NULL), SK_EINVAL, "a multicast source");
    cr_assert_eq(sk_udp_join_source(v4, "232.1.1.1", "::1", NULL), SK_EINVAL, "a source of the other family");
    cr_assert_eq(sk_udp_leave(v4, "239.1.1.1", NULL), SK_EINVAL, "leaving a group never joined");

    cr_assert_eq(sk_udp_set_multicast_ttl(v4, -1), SK_EINVAL);
    cr_assert_eq(sk_udp_set_multicast_ttl(v4, 256), SK_EINVAL);
    cr_assert_eq(sk_udp_set_multicast_ttl(v4, 0), SK_OK);
    cr_assert_eq(sk_udp_set_multicast_ttl(v6only, 255), SK_OK);
    cr_assert_eq(sk_udp_set_multicast_ttl(ux, 1), SK_EINVAL);
    cr_assert_eq(sk_udp_set_multicast_loop(ux, 1), SK_EINVAL);
    cr_assert_eq(sk_udp_set_multicast_if(v4, "no-such-if0"), SK_ENOTFOUND);
    cr_assert_eq(sk_udp_set_multicast_if(v4, NULL), SK_OK, "back to the default");
    cr_assert_eq(sk_udp_set_broadcast(NULL, 1), SK_EINVAL);
    cr_assert_eq(sk_udp_set_broadcast(ux, 1), SK_EINVAL);

    cr_assert_eq(sk_udp_cancel(v4), SK_OK);
    cr_assert_eq(sk_udp_set_broadcast(v4, 1), SK_ECANCELED);
    cr_assert_eq(sk_udp_join(v4, "239.1.1.1", NULL), SK_ECANCELED);
    cr_assert_eq(sk_udp_set_multicast_ttl(v4, 1), SK_ECANCELED);
    sk_udp_close(v4);
    sk_udp_close(v6only);
    sk_udp_close(ux);
}
