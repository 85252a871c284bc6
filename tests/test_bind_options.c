/* What is set before bind and listen (sk_bind_options): sk_tcp_listen_with and
 * sk_udp_bind_with. SO_REUSEPORT is shown doing its job: two listeners on one port,
 * and the kernel spreads connections across both. Loopback, ephemeral ports. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "testutil.h"

TestSuite(bind_options, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

#define CONNS 64

static int tcp_port(const sk_tcp *t)
{
    sk_addr a;
    cr_assert_eq(sk_tcp_local_addr(t, &a), SK_OK);
    return sk_addr_port(&a);
}

static int udp_port(const sk_udp *u)
{
    sk_addr a;
    cr_assert_eq(sk_udp_local_addr(u, &a), SK_OK);
    return sk_addr_port(&a);
}

/* Accepts every connection waiting on l now; returns how many. */
static int accept_waiting(sk_tcp *l)
{
    int n = 0;
    sk_tcp *c;
    while (sk_tcp_accept(l, &c, 0) == SK_OK) {
        sk_tcp_close(c);
        n++;
    }
    return n;
}

Test(bind_options, two_listeners_with_reuse_port_share_a_port_and_the_kernel_spreads_connections_across_both)
{
    sk_bind_options o = SK_BIND_OPTIONS_INIT;
    sk_tcp *l1, *l2, *plain, *c[CONNS];
    int port, n1 = 0, n2 = 0;

    o.reuse_port = 1;
    cr_assert_eq(sk_tcp_listen_with(&l1, "127.0.0.1", 0, CONNS, &o), SK_OK);
    port = tcp_port(l1);
    cr_assert_eq(sk_tcp_listen_with(&l2, "127.0.0.1", port, CONNS, &o), SK_OK, "%s", strerror(errno));
    cr_assert_eq(sk_tcp_listen(&plain, "127.0.0.1", port, 4), SK_EADDRINUSE, "without the option the port is taken");
    for (int i = 0; i < CONNS; i++)
        cr_assert_eq(sk_tcp_connect(&c[i], "127.0.0.1", port, 5000), SK_OK);
    /* Every connection is complete in one queue or the other; take them all. */
    for (int round = 0; round < 50 && n1 + n2 < CONNS; round++) {
        n1 += accept_waiting(l1);
        n2 += accept_waiting(l2);
        if (n1 + n2 < CONNS)
            tu_sleep_ms(20);
    }
    cr_assert_eq(n1 + n2, CONNS, "accepted %d + %d of %d", n1, n2, CONNS);
    /* The hash of 64 different source ports puts all on one side with odds 2^-63. */
    cr_assert(n1 > 0 && n2 > 0, "all %d connections went to one listener (%d, %d)", CONNS, n1, n2);
    for (int i = 0; i < CONNS; i++)
        sk_tcp_close(c[i]);
    sk_tcp_close(l1);
    sk_tcp_close(l2);
}

Test(bind_options, two_udp_endpoints_with_reuse_port_share_datagrams_by_their_source)
{
    sk_bind_options o = SK_BIND_OPTIONS_INIT;
    sk_udp *u1, *u2, *s[CONNS];
    int port, n1 = 0, n2 = 0;
    char buf[8];
    size_t got;

    o.reuse_port = 1;
    cr_assert_eq(sk_udp_bind_with(&u1, "127.0.0.1", 0, &o), SK_OK);
    port = udp_port(u1);
    cr_assert_eq(sk_udp_bind_with(&u2, "127.0.0.1", port, &o), SK_OK, "%s", strerror(errno));
    for (int i = 0; i < CONNS; i++) {
        cr_assert_eq(sk_udp_connect(&s[i], "127.0.0.1", port), SK_OK);
        cr_assert_eq(sk_udp_send(s[i], "d", 1, 5000), SK_OK);
    }
    while (sk_udp_recv(u1, buf, sizeof buf, &got, 300) == SK_OK)
        n1++;
    while (sk_udp_recv(u2, buf, sizeof buf, &got, 300) == SK_OK)
        n2++;
    cr_assert_eq(n1 + n2, CONNS, "received %d + %d of %d", n1, n2, CONNS);
    cr_assert(n1 > 0 && n2 > 0, "every sender's datagram went to one endpoint (%d, %d)", n1, n2);
    for (int i = 0; i < CONNS; i++)
        sk_udp_close(s[i]);
    sk_udp_close(u1);
    sk_udp_close(u2);
}

Test(bind_options, v6only_on_every_address_takes_ipv6_and_refuses_ipv4)
{
    sk_bind_options o = SK_BIND_OPTIONS_INIT;
    sk_tcp *l, *c;
    int port;

    o.v6only = 1;
    cr_assert_eq(sk_tcp_listen_with(&l, NULL, 0, 4, &o), SK_OK);
    port = tcp_port(l);
    cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", port, 5000), SK_ECONNREFUSED, "IPv4 reached an IPv6-only listener");
    cr_assert_eq(sk_tcp_connect(&c, "::1", port, 5000), SK_OK);
    sk_tcp_close(c);
    sk_tcp_close(l);

    /* And the default stays dual stack. */
    cr_assert_eq(sk_tcp_listen_with(&l, NULL, 0, 4, NULL), SK_OK);
    cr_assert_eq(sk_tcp_connect(&c, "127.0.0.1", tcp_port(l), 5000), SK_OK);
    sk_tcp_close(c);
    sk_tcp_close(l);
}

/* Binding sends nothing: an address this host does not have is only named. */
Test(bind_options, freebind_binds_an_address_the_host_does_not_have)
{
    sk_bind_options o = SK_BIND_OPTIONS_INIT;
    sk_udp *u;
    sk_tcp *l;

    cr_assert_eq(sk_udp_bind(&u, "192.0.2.77", 0), SK_EOS, "a foreign address without freebind");
    cr_assert_eq(errno, EADDRNOTAVAIL);
    o.freebind = 1;
    cr_assert_eq(sk_udp_bind_with(&u, "192.0.2.77", 0, &o), SK_OK, "%s", strerror(errno));
    sk_udp_close(u);
    cr_assert_eq(sk_tcp_listen_with(&l, "192.0.2.77", 0, 4, &o), SK_OK, "%s", strerror(errno));
    sk_tcp_close(l);
}

Test(bind_options, fastopen_sets_the_listeners_queue)
{
    sk_bind_options o = SK_BIND_OPTIONS_INIT;
    sk_tcp *l;
    int q = 0;
    socklen_t len = sizeof q;

    o.fastopen = 16;
    cr_assert_eq(sk_tcp_listen_with(&l, "127.0.0.1", 0, 4, &o), SK_OK, "%s", strerror(errno));
    cr_assert_eq(getsockopt(sk_tcp_fd(l), IPPROTO_TCP, TCP_FASTOPEN, &q, &len), 0);
    cr_assert_eq(q, 16);
    sk_tcp_close(l);
}

Test(bind_options, reuse_addr_lets_udp_receivers_share_a_port_and_is_off_by_default)
{
    sk_bind_options o = SK_BIND_OPTIONS_INIT;
    sk_udp *a, *b;
    int port;

    cr_assert_eq(sk_udp_bind(&a, "127.0.0.1", 0), SK_OK);
    port = udp_port(a);
    cr_assert_eq(sk_udp_bind(&b, "127.0.0.1", port), SK_EADDRINUSE);
    sk_udp_close(a);
    o.reuse_addr = 1;
    cr_assert_eq(sk_udp_bind_with(&a, "127.0.0.1", 0, &o), SK_OK);
    cr_assert_eq(sk_udp_bind_with(&b, "127.0.0.1", udp_port(a), &o), SK_OK);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(bind_options, bad_options_are_einval_and_leave_no_endpoint)
{
    sk_bind_options o;
    sk_tcp *l = (sk_tcp *)&l;
    sk_udp *u = (sk_udp *)&u;
    const sk_bind_options init = SK_BIND_OPTIONS_INIT;

    o = init; o.version = 0;
    cr_assert_eq(sk_tcp_listen_with(&l, "127.0.0.1", 0, 4, &o), SK_EINVAL);
    cr_assert_null(l);
    o = init; o.version = SK_BIND_OPTIONS_VERSION + 1;
    cr_assert_eq(sk_udp_bind_with(&u, "127.0.0.1", 0, &o), SK_EINVAL);
    cr_assert_null(u);
    o = init; o.reuse_port = 2;
    cr_assert_eq(sk_tcp_listen_with(&l, "127.0.0.1", 0, 4, &o), SK_EINVAL);
    o = init; o.reuse_addr = -2;
    cr_assert_eq(sk_tcp_listen_with(&l, "127.0.0.1", 0, 4, &o), SK_EINVAL);
    o = init; o.v6only = 2;
    cr_assert_eq(sk_udp_bind_with(&u, NULL, 0, &o), SK_EINVAL);
    o = init; o.freebind = -1;
    cr_assert_eq(sk_udp_bind_with(&u, NULL, 0, &o), SK_EINVAL);
    o = init; o.fastopen = -1;
    cr_assert_eq(sk_tcp_listen_with(&l, NULL, 0, 4, &o), SK_EINVAL);
    o = init; o.fastopen = 5;
    cr_assert_eq(sk_udp_bind_with(&u, NULL, 0, &o), SK_EINVAL, "fast open on a UDP endpoint");
    cr_assert_eq(sk_udp_bind_with(NULL, NULL, 0, &init), SK_EINVAL);
    cr_assert_eq(sk_tcp_listen_with(&l, NULL, 65536, 4, &init), SK_EINVAL);
}
