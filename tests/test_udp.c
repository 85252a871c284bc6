/* UDP endpoints: binding, exchanges, truncation, timeouts, errors and threads. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "udp_util.h"
#include "signal_util.h"

TestSuite(udp, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end);
TestSuite(udp_datagram, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end);
TestSuite(udp_timeout, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end);
TestSuite(udp_errors, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end);
TestSuite(udp_threads, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end);

#define WAIT_MS 3000 /* a budget for things that should arrive at once on loopback */

/* ---- helpers ---- */

static sk_udp *connect_to(const char *host, int port)
{
    sk_udp *u = NULL;
    int rc = sk_udp_connect(&u, host, port);
    cr_assert_eq(rc, SK_OK, "sk_udp_connect(%s, %d): %s", host, port, sk_errname(rc));
    cr_assert_not_null(u);
    return u;
}

static int port_of(const sk_udp *u)
{
    sk_addr a = local_of(u); /* which checks that there is a port */
    return sk_addr_port(&a);
}

static sk_addr loopback4(int port)
{
    return loopback("127.0.0.1:%d", port);
}

static sk_addr loopback6(int port)
{
    return loopback("[::1]:%d", port);
}

static int is_empty(const sk_addr *a)
{
    static const sk_addr zero;
    return memcmp(a, &zero, sizeof zero) == 0;
}

/* Receive one datagram on u and check its bytes and its source text. */
static void expect_datagram(sk_udp *u, const void *data, size_t len, const char *from_text)
{
    unsigned char buf[2048];
    size_t got = 99999;
    sk_addr from;
    char ft[SK_ADDR_STRLEN];
    cr_assert_leq(len, sizeof buf);
    memset(&from, 0, sizeof from);
    int rc = sk_udp_recvfrom(u, buf, sizeof buf, &got, &from, WAIT_MS);
    cr_assert_eq(rc, SK_OK, "sk_udp_recvfrom: %s", sk_errname(rc));
    cr_assert_eq(got, len, "received %zu bytes, sent %zu", got, len);
    cr_assert_eq(memcmp(buf, data, len), 0, "datagram bytes differ");
    if (from_text) {
        text_of(&from, ft);
        cr_assert_str_eq(ft, from_text);
    }
}

static int is_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    cr_assert_geq(flags, 0);
    return (flags & FD_CLOEXEC) != 0;
}

/* A port that nothing listens on: bind, learn the port, close. */
static int closed_port(const char *host)
{
    sk_udp *u = bind_on(host);
    int p = port_of(u);
    sk_udp_close(u);
    return p;
}

/* ==== binding and exchanges ==== */

Test(udp, bind_on_ipv4_loopback_with_port_zero_picks_a_port)
{
    sk_udp *u = bind_on("127.0.0.1");
    sk_addr a = local_of(u);
    char t[SK_ADDR_STRLEN], expect[64];
    cr_assert_eq(sk_addr_family(&a), 4);
    int p = sk_addr_port(&a);
    cr_assert(p > 0 && p <= 65535, "port %d", p);
    snprintf(expect, sizeof expect, "127.0.0.1:%d", p);
    text_of(&a, t);
    cr_assert_str_eq(t, expect);
    cr_assert_geq(sk_udp_fd(u), 0);
    sk_udp_close(u);
}

Test(udp, bind_on_ipv6_loopback_with_port_zero_picks_a_port)
{
    sk_udp *u = bind_on("::1");
    sk_addr a = local_of(u);
    char t[SK_ADDR_STRLEN], expect[64];
    cr_assert_eq(sk_addr_family(&a), 6);
    int p = sk_addr_port(&a);
    cr_assert(p > 0 && p <= 65535, "port %d", p);
    snprintf(expect, sizeof expect, "[::1]:%d", p);
    text_of(&a, t);
    cr_assert_str_eq(t, expect);
    sk_udp_close(u);
}

Test(udp, bind_on_localhost_uses_its_ipv4_address_with_either_hosts_layout)
{
    sk_udp *u = bind_on("localhost");
    sk_addr a = local_of(u);
    char t[SK_ADDR_STRLEN], expect[64];
    snprintf(expect, sizeof expect, "127.0.0.1:%d", sk_addr_port(&a));
    text_of(&a, t);
    cr_assert_str_eq(t, expect);
    sk_udp_close(u);
}

Test(udp, unconnected_exchange_reports_the_sender_address)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a), ba = local_of(b);
    char bt[SK_ADDR_STRLEN], at[SK_ADDR_STRLEN];
    text_of(&aa, at);
    text_of(&ba, bt);

    cr_assert_eq(sk_udp_sendto(b, "ping", 4, &aa, WAIT_MS), SK_OK);
    expect_datagram(a, "ping", 4, bt);
    cr_assert_eq(sk_udp_sendto(a, "pong!", 5, &ba, WAIT_MS), SK_OK);
    expect_datagram(b, "pong!", 5, at);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp, unconnected_exchange_over_ipv6_reports_the_sender_address)
{
    sk_udp *a = bind_on("::1");
    sk_udp *b = bind_on("::1");
    sk_addr aa = local_of(a), ba = local_of(b);
    char bt[SK_ADDR_STRLEN], at[SK_ADDR_STRLEN];
    text_of(&aa, at);
    text_of(&ba, bt);

    cr_assert_eq(sk_udp_sendto(b, "six", 3, &aa, WAIT_MS), SK_OK);
    expect_datagram(a, "six", 3, bt);
    cr_assert_eq(sk_udp_sendto(a, "back", 4, &ba, WAIT_MS), SK_OK);
    expect_datagram(b, "back", 4, at);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp, connected_endpoint_exchanges_with_a_bound_one_both_ways)
{
    sk_udp *srv = bind_on("127.0.0.1");
    sk_udp *cli = connect_to("127.0.0.1", port_of(srv));
    sk_addr ca = local_of(cli);
    char ct[SK_ADDR_STRLEN], st[SK_ADDR_STRLEN];
    sk_addr sa = local_of(srv);
    text_of(&ca, ct);
    text_of(&sa, st);
    cr_assert_eq(sk_addr_family(&ca), 4);
    cr_assert_gt(sk_addr_port(&ca), 0, "a connected endpoint has a local port");

    for (int round = 0; round < 3; round++) {
        char q[32], r[32];
        int qn = snprintf(q, sizeof q, "question %d", round);
        int rn = snprintf(r, sizeof r, "answer number %d", round);

        cr_assert_eq(sk_udp_send(cli, q, (size_t)qn, WAIT_MS), SK_OK);
        unsigned char buf[64];
        size_t got = 0;
        sk_addr from;
        cr_assert_eq(sk_udp_recvfrom(srv, buf, sizeof buf, &got, &from, WAIT_MS), SK_OK);
        cr_assert_eq(got, (size_t)qn);
        cr_assert_eq(memcmp(buf, q, got), 0);
        char ft[SK_ADDR_STRLEN];
        text_of(&from, ft);
        cr_assert_str_eq(ft, ct, "the bound end sees the connected end's local address");

        cr_assert_eq(sk_udp_sendto(srv, r, (size_t)rn, &from, WAIT_MS), SK_OK);
        got = 0;
        cr_assert_eq(sk_udp_recv(cli, buf, sizeof buf, &got, WAIT_MS), SK_OK);
        cr_assert_eq(got, (size_t)rn);
        cr_assert_eq(memcmp(buf, r, got), 0);
    }
    /* recvfrom works on a connected endpoint too and names the peer. */
    cr_assert_eq(sk_udp_sendto(srv, "x", 1, &ca, WAIT_MS), SK_OK);
    expect_datagram(cli, "x", 1, st);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

Test(udp, connected_endpoint_over_ipv6_exchanges_with_a_bound_one)
{
    sk_udp *srv = bind_on("::1");
    sk_udp *cli = connect_to("::1", port_of(srv));
    sk_addr ca = local_of(cli);
    char ct[SK_ADDR_STRLEN];
    text_of(&ca, ct);
    cr_assert_eq(sk_addr_family(&ca), 6);

    cr_assert_eq(sk_udp_send(cli, "hello6", 6, WAIT_MS), SK_OK);
    expect_datagram(srv, "hello6", 6, ct);
    cr_assert_eq(sk_udp_sendto(srv, "reply6", 6, &ca, WAIT_MS), SK_OK);
    unsigned char buf[16];
    size_t got = 0;
    cr_assert_eq(sk_udp_recv(cli, buf, sizeof buf, &got, WAIT_MS), SK_OK);
    cr_assert_eq(got, 6);
    cr_assert_eq(memcmp(buf, "reply6", 6), 0);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

Test(udp, connect_to_localhost_reaches_an_ipv4_bound_endpoint_with_either_hosts_layout)
{
    sk_udp *srv = bind_on("127.0.0.1");
    sk_udp *cli = connect_to("localhost", port_of(srv));
    sk_addr ca = local_of(cli);
    char ct[SK_ADDR_STRLEN];
    text_of(&ca, ct);
    cr_assert_eq(sk_udp_send(cli, "by name", 7, WAIT_MS), SK_OK);
    expect_datagram(srv, "by name", 7, ct);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

/* What the notes' programs do over UDP: both sides name "localhost". With 127.0.0.1
 * and ::1 in /etc/hosts (Debian's default) the client must pick the address the
 * server bound, or every datagram goes to ::1 and is lost. */
Test(udp, bind_and_connect_on_localhost_meet_with_either_hosts_layout)
{
    sk_udp *srv = bind_on("localhost");
    sk_udp *cli = connect_to("localhost", port_of(srv));
    sk_addr ca = local_of(cli);
    char ct[SK_ADDR_STRLEN];
    text_of(&ca, ct);
    cr_assert_eq(sk_udp_send(cli, "hola", 4, WAIT_MS), SK_OK);
    expect_datagram(srv, "hola", 4, ct);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

Test(udp, connected_endpoint_may_sendto_its_own_peer)
{
    sk_udp *srv = bind_on("127.0.0.1");
    sk_udp *cli = connect_to("127.0.0.1", port_of(srv));
    sk_addr sa = local_of(srv), ca = local_of(cli);
    char ct[SK_ADDR_STRLEN];
    text_of(&ca, ct);
    cr_assert_eq(sk_udp_sendto(cli, "to-peer", 7, &sa, WAIT_MS), SK_OK);
    expect_datagram(srv, "to-peer", 7, ct);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

Test(udp, connected_endpoint_filters_out_datagrams_from_others)
{
    sk_udp *peer = bind_on("127.0.0.1");
    sk_udp *other = bind_on("127.0.0.1");
    sk_udp *cli = connect_to("127.0.0.1", port_of(peer));
    sk_addr ca = local_of(cli);

    cr_assert_eq(sk_udp_sendto(other, "intruder", 8, &ca, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_sendto(peer, "friend", 6, &ca, WAIT_MS), SK_OK);
    unsigned char buf[32];
    size_t got = 0;
    cr_assert_eq(sk_udp_recv(cli, buf, sizeof buf, &got, WAIT_MS), SK_OK);
    cr_assert_eq(got, 6, "got %zu bytes: the intruder's datagram was not filtered", got);
    cr_assert_eq(memcmp(buf, "friend", 6), 0);
    /* Nothing else is waiting: the intruder's datagram never arrives. */
    cr_assert_eq(sk_udp_recv(cli, buf, sizeof buf, &got, 100), SK_ETIMEDOUT);
    sk_udp_close(cli);
    sk_udp_close(other);
    sk_udp_close(peer);
}

Test(udp, recv_on_a_bound_endpoint_takes_datagrams_from_anyone)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_udp *c = bind_on("127.0.0.1");
    sk_addr aa = local_of(a);
    unsigned char buf[16];
    size_t got = 0;
    cr_assert_eq(sk_udp_sendto(b, "from-b", 6, &aa, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_recv(a, buf, sizeof buf, &got, WAIT_MS), SK_OK);
    cr_assert_eq(got, 6);
    cr_assert_eq(memcmp(buf, "from-b", 6), 0);
    cr_assert_eq(sk_udp_sendto(c, "from-c!", 7, &aa, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_recv(a, buf, sizeof buf, &got, WAIT_MS), SK_OK);
    cr_assert_eq(got, 7);
    cr_assert_eq(memcmp(buf, "from-c!", 7), 0);
    sk_udp_close(a);
    sk_udp_close(b);
    sk_udp_close(c);
}

Test(udp, dual_stack_endpoint_sees_ipv4_senders_as_ipv4_and_replies_to_them)
{
    sk_udp *dual = bind_on(NULL);
    sk_udp *v4 = bind_on("127.0.0.1");
    int dport = port_of(dual);
    sk_addr to = loopback4(dport);
    sk_addr v4a = local_of(v4);
    char v4t[SK_ADDR_STRLEN], expect_dual[64];
    text_of(&v4a, v4t);
    snprintf(expect_dual, sizeof expect_dual, "127.0.0.1:%d", dport);

    cr_assert_eq(sk_udp_sendto(v4, "over v4", 7, &to, WAIT_MS), SK_OK);
    unsigned char buf[32];
    size_t got = 0;
    sk_addr from;
    char ft[SK_ADDR_STRLEN];
    cr_assert_eq(sk_udp_recvfrom(dual, buf, sizeof buf, &got, &from, WAIT_MS), SK_OK);
    cr_assert_eq(got, 7);
    cr_assert_eq(memcmp(buf, "over v4", 7), 0);
    text_of(&from, ft);
    cr_assert_str_eq(ft, v4t, "an IPv4 sender must not show as IPv4-mapped IPv6");
    cr_assert_eq(sk_addr_family(&from), 4);

    /* Replying to that IPv4 address from the dual-stack endpoint works. */
    int rc = sk_udp_sendto(dual, "reply", 5, &from, WAIT_MS);
    cr_assert_eq(rc, SK_OK, "sendto an IPv4 address on a dual-stack endpoint: %s", sk_errname(rc));
    expect_datagram(v4, "reply", 5, expect_dual);
    sk_udp_close(v4);
    sk_udp_close(dual);
}

Test(udp, dual_stack_endpoint_with_empty_host_receives_both_families)
{
    sk_udp *dual = bind_on("");
    sk_udp *v4 = bind_on("127.0.0.1");
    sk_udp *v6 = bind_on("::1");
    int dport = port_of(dual);
    sk_addr to4 = loopback4(dport), to6 = loopback6(dport);
    sk_addr a4 = local_of(v4), a6 = local_of(v6);
    char t4[SK_ADDR_STRLEN], t6[SK_ADDR_STRLEN];
    text_of(&a4, t4);
    text_of(&a6, t6);

    cr_assert_eq(sk_udp_sendto(v4, "four", 4, &to4, WAIT_MS), SK_OK);
    expect_datagram(dual, "four", 4, t4);
    cr_assert_eq(sk_udp_sendto(v6, "six", 3, &to6, WAIT_MS), SK_OK);
    expect_datagram(dual, "six", 3, t6);

    /* And it answers both. */
    cr_assert_eq(sk_udp_sendto(dual, "r4", 2, &a4, WAIT_MS), SK_OK);
    expect_datagram(v4, "r4", 2, NULL);
    cr_assert_eq(sk_udp_sendto(dual, "r6", 2, &a6, WAIT_MS), SK_OK);
    expect_datagram(v6, "r6", 2, NULL);
    sk_udp_close(v6);
    sk_udp_close(v4);
    sk_udp_close(dual);
}

Test(udp, recvfrom_accepts_null_received_and_from)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a);
    unsigned char buf[16];
    memset(buf, 0, sizeof buf);
    cr_assert_eq(sk_udp_sendto(b, "abc", 3, &aa, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_recvfrom(a, buf, sizeof buf, NULL, NULL, WAIT_MS), SK_OK);
    cr_assert_eq(memcmp(buf, "abc", 3), 0);
    cr_assert_eq(sk_udp_sendto(b, "def", 3, &aa, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_recv(a, buf, sizeof buf, NULL, WAIT_MS), SK_OK);
    cr_assert_eq(memcmp(buf, "def", 3), 0);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp, port_is_free_again_after_close)
{
    sk_udp *u = bind_on("127.0.0.1");
    int p = port_of(u);
    sk_udp_close(u);
    u = NULL;
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", p), SK_OK, "rebinding the closed endpoint's port");
    cr_assert_eq(port_of(u), p);
    sk_udp_close(u);
}

Test(udp, descriptors_are_close_on_exec)
{
    sk_udp *b4 = bind_on("127.0.0.1");
    sk_udp *b6 = bind_on("::1");
    sk_udp *bd = bind_on(NULL);
    sk_udp *c = connect_to("127.0.0.1", port_of(b4));
    cr_assert(is_cloexec(sk_udp_fd(b4)), "IPv4 bound endpoint");
    cr_assert(is_cloexec(sk_udp_fd(b6)), "IPv6 bound endpoint");
    cr_assert(is_cloexec(sk_udp_fd(bd)), "dual-stack endpoint");
    cr_assert(is_cloexec(sk_udp_fd(c)), "connected endpoint");
    sk_udp_close(c);
    sk_udp_close(bd);
    sk_udp_close(b6);
    sk_udp_close(b4);
}

Test(udp, close_releases_the_descriptor)
{
    int before = tu_count_fds();
    sk_udp *u = bind_on("127.0.0.1");
    int fd = sk_udp_fd(u);
    cr_assert_eq(tu_count_fds(), before + 1, "one endpoint, one descriptor");
    sk_udp_close(u);
    cr_assert_eq(tu_count_fds(), before);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "the endpoint's descriptor is still open");
}

/* ==== datagrams ==== */

Test(udp_datagram, oversized_datagram_is_truncated_and_reported)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a), ba = local_of(b);
    char bt[SK_ADDR_STRLEN];
    text_of(&ba, bt);
    unsigned char big[100], buf[16], next[32];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + 1);

    cr_assert_eq(sk_udp_sendto(b, big, sizeof big, &aa, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_sendto(b, "next one", 8, &aa, WAIT_MS), SK_OK);

    size_t got = 0;
    sk_addr from;
    memset(&from, 0, sizeof from);
    memset(buf, 0xEE, sizeof buf);
    errno = 0;
    int rc = sk_udp_recvfrom(a, buf, 10, &got, &from, WAIT_MS);
    cr_assert_eq(rc, SK_ETRUNCATED, "got %s", sk_errname(rc));
    cr_assert_eq(errno, EMSGSIZE, "errno %d, not EMSGSIZE", errno);
    cr_assert_eq(got, 10, "*received is %zu, not the 10 bytes kept", got);
    cr_assert_eq(memcmp(buf, big, 10), 0, "the first 10 bytes are not kept");
    cr_assert_eq(buf[10], 0xEE, "wrote past cap");
    char ft[SK_ADDR_STRLEN];
    text_of(&from, ft);
    cr_assert_str_eq(ft, bt, "from is filled with SK_ETRUNCATED too");

    /* The rest of that datagram is gone; the next one is intact. */
    got = 0;
    memset(next, 0, sizeof next);
    cr_assert_eq(sk_udp_recvfrom(a, next, sizeof next, &got, NULL, WAIT_MS), SK_OK);
    cr_assert_eq(got, 8);
    cr_assert_eq(memcmp(next, "next one", 8), 0);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_datagram, connected_recv_reports_truncation_too)
{
    sk_udp *srv = bind_on("127.0.0.1");
    sk_udp *cli = connect_to("127.0.0.1", port_of(srv));
    sk_addr ca = local_of(cli);
    unsigned char buf[8];
    size_t got = 0;
    cr_assert_eq(sk_udp_sendto(srv, "0123456789abcdef", 16, &ca, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_sendto(srv, "ok", 2, &ca, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_recv(cli, buf, 5, &got, WAIT_MS), SK_ETRUNCATED);
    cr_assert_eq(got, 5);
    cr_assert_eq(memcmp(buf, "01234", 5), 0);
    cr_assert_eq(sk_udp_recv(cli, buf, sizeof buf, &got, WAIT_MS), SK_OK);
    cr_assert_eq(got, 2);
    cr_assert_eq(memcmp(buf, "ok", 2), 0);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

Test(udp_datagram, exact_fit_is_not_truncation)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a);
    unsigned char buf[10];
    size_t got = 0;
    cr_assert_eq(sk_udp_sendto(b, "0123456789", 10, &aa, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_recvfrom(a, buf, sizeof buf, &got, NULL, WAIT_MS), SK_OK);
    cr_assert_eq(got, 10);
    cr_assert_eq(memcmp(buf, "0123456789", 10), 0);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_datagram, zero_capacity_receive_of_a_non_empty_datagram_is_truncation)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a);
    size_t got = 77;
    cr_assert_eq(sk_udp_sendto(b, "lost", 4, &aa, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_recvfrom(a, NULL, 0, &got, NULL, WAIT_MS), SK_ETRUNCATED);
    cr_assert_eq(got, 0);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_datagram, empty_datagram_is_sent_and_received)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a), ba = local_of(b);
    char bt[SK_ADDR_STRLEN], ft[SK_ADDR_STRLEN];
    text_of(&ba, bt);
    unsigned char buf[16];
    size_t got = 99;
    sk_addr from;

    cr_assert_eq(sk_udp_sendto(b, NULL, 0, &aa, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_sendto(b, "after", 5, &aa, WAIT_MS), SK_OK);
    memset(&from, 0, sizeof from);
    cr_assert_eq(sk_udp_recvfrom(a, buf, sizeof buf, &got, &from, WAIT_MS), SK_OK);
    cr_assert_eq(got, 0, "the empty datagram came as %zu bytes", got);
    text_of(&from, ft);
    cr_assert_str_eq(ft, bt);
    /* It was a datagram of its own: the next one follows unchanged. */
    expect_datagram(a, "after", 5, bt);

    /* Into a zero-size buffer as well, over a connected endpoint. */
    sk_udp *c = connect_to("127.0.0.1", port_of(a));
    cr_assert_eq(sk_udp_send(c, NULL, 0, WAIT_MS), SK_OK);
    got = 99;
    cr_assert_eq(sk_udp_recvfrom(a, NULL, 0, &got, NULL, WAIT_MS), SK_OK);
    cr_assert_eq(got, 0);
    sk_udp_close(c);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_datagram, datagram_too_large_to_send_is_emsgsize)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_udp *c = connect_to("127.0.0.1", port_of(a));
    sk_addr aa = local_of(a);
    size_t n = 70000;
    unsigned char *big = calloc(1, n);
    cr_assert_not_null(big);

    errno = 0;
    cr_assert_eq(sk_udp_sendto(b, big, n, &aa, WAIT_MS), SK_EMSGSIZE);
    cr_assert_eq(errno, EMSGSIZE, "errno %d", errno);
    errno = 0;
    cr_assert_eq(sk_udp_send(c, big, n, WAIT_MS), SK_EMSGSIZE);
    cr_assert_eq(errno, EMSGSIZE, "errno %d", errno);
    free(big);

    /* Nothing was sent, and both endpoints still work. */
    cr_assert_eq(sk_udp_sendto(b, "small", 5, &aa, WAIT_MS), SK_OK);
    expect_datagram(a, "small", 5, NULL);
    cr_assert_eq(sk_udp_send(c, "tiny", 4, WAIT_MS), SK_OK);
    expect_datagram(a, "tiny", 4, NULL);
    unsigned char buf[8];
    cr_assert_eq(sk_udp_recvfrom(a, buf, sizeof buf, NULL, NULL, 0), SK_ETIMEDOUT, "a stray datagram arrived");
    sk_udp_close(c);
    sk_udp_close(b);
    sk_udp_close(a);
}

Test(udp_datagram, largest_ipv4_datagram_arrives_byte_for_byte)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a);
    size_t n = 65507; /* 65535 - 20 (IPv4) - 8 (UDP) */
    unsigned char *out = malloc(n), *in = malloc(n + 1);
    cr_assert_not_null(out);
    cr_assert_not_null(in);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(i ^ (i >> 8));
    cr_assert_eq(sk_udp_sendto(b, out, n, &aa, WAIT_MS), SK_OK);
    size_t got = 0;
    cr_assert_eq(sk_udp_recvfrom(a, in, n + 1, &got, NULL, WAIT_MS), SK_OK);
    cr_assert_eq(got, n);
    cr_assert_eq(memcmp(in, out, n), 0);
    free(out);
    free(in);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_datagram, thousand_datagrams_arrive_in_order)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a);
    for (unsigned i = 0; i < 1000; i++) {
        unsigned char out[64], in[64];
        size_t len = 4 + (i % 60);
        memset(out, (int)(i & 0xff), sizeof out);
        memcpy(out, &i, sizeof i);
        int rc = sk_udp_sendto(b, out, len, &aa, WAIT_MS);
        cr_assert_eq(rc, SK_OK, "datagram %u: sendto %s", i, sk_errname(rc));
        size_t got = 0;
        rc = sk_udp_recvfrom(a, in, sizeof in, &got, NULL, WAIT_MS);
        cr_assert_eq(rc, SK_OK, "datagram %u: recvfrom %s", i, sk_errname(rc));
        cr_assert_eq(got, len, "datagram %u", i);
        cr_assert_eq(memcmp(in, out, len), 0, "datagram %u out of order or damaged", i);
    }
    sk_udp_close(a);
    sk_udp_close(b);
}

/* ==== timeouts ==== */

Test(udp_timeout, recvfrom_with_nothing_arriving_times_out_not_early)
{
    sk_udp *a = bind_on("127.0.0.1");
    unsigned char buf[16];
    size_t got = 77;
    errno = 0;
    int64_t t0 = tu_now_ms();
    int rc = sk_udp_recvfrom(a, buf, sizeof buf, &got, NULL, 200);
    tu_assert_took(t0, 200);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_assert_eq(errno, ETIMEDOUT, "errno %d", errno);
    cr_assert_eq(got, 0, "*received is %zu after a timeout", got);
    sk_udp_close(a);
}

Test(udp_timeout, recv_on_connected_endpoint_times_out_not_early)
{
    sk_udp *srv = bind_on("127.0.0.1");
    sk_udp *cli = connect_to("127.0.0.1", port_of(srv));
    unsigned char buf[16];
    size_t got = 77;
    int64_t t0 = tu_now_ms();
    int rc = sk_udp_recv(cli, buf, sizeof buf, &got, 150);
    tu_assert_took(t0, 150);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_assert_eq(got, 0);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

Test(udp_timeout, zero_timeout_with_nothing_queued_returns_at_once)
{
    sk_udp *a = bind_on("127.0.0.1");
    unsigned char buf[16];
    size_t got = 77;
    int64_t t0 = tu_now_ms();
    int rc = sk_udp_recvfrom(a, buf, sizeof buf, &got, NULL, 0);
    tu_assert_took(t0, 0);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_assert_eq(got, 0);
    t0 = tu_now_ms();
    rc = sk_udp_recv(a, buf, sizeof buf, &got, 0);
    tu_assert_took(t0, 0);
    cr_assert_eq(rc, SK_ETIMEDOUT);
    sk_udp_close(a);
}

Test(udp_timeout, zero_timeout_takes_a_datagram_already_queued)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a);
    unsigned char buf[16];
    size_t got = 0;
    cr_assert_eq(sk_udp_sendto(b, "now", 3, &aa, 0), SK_OK, "sending with timeout 0 when there is room");
    /* Loopback delivery is synchronous with the send; give it a moment anyway. */
    int rc = SK_ETIMEDOUT;
    for (int i = 0; i < 100 && rc == SK_ETIMEDOUT; i++) {
        rc = sk_udp_recvfrom(a, buf, sizeof buf, &got, NULL, 0);
        if (rc == SK_ETIMEDOUT)
            usleep(10000);
    }
    cr_assert_eq(rc, SK_OK, "got %s", sk_errname(rc));
    cr_assert_eq(got, 3);
    cr_assert_eq(memcmp(buf, "now", 3), 0);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_timeout, forever_waits_until_a_datagram_comes)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a);
    unsigned char buf[16];
    size_t got = 0;
    cr_assert_eq(sk_udp_sendto(b, "wait", 4, &aa, SK_FOREVER), SK_OK);
    cr_assert_eq(sk_udp_recvfrom(a, buf, sizeof buf, &got, NULL, SK_FOREVER), SK_OK);
    cr_assert_eq(got, 4);
    cr_assert_eq(memcmp(buf, "wait", 4), 0);
    sk_udp_close(a);
    sk_udp_close(b);
}

struct delayed_send {
    sk_udp *from;
    sk_addr to;
    int delay_ms;
    int rc;
};

static void *delayed_sender(void *p)
{
    struct delayed_send *d = p;
    usleep((useconds_t)d->delay_ms * 1000);
    d->rc = sk_udp_sendto(d->from, "late", 4, &d->to, WAIT_MS);
    return NULL;
}

Test(udp_timeout, blocked_receiver_wakes_for_a_datagram_within_its_budget)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_udp *b = bind_on("127.0.0.1");
    struct delayed_send d = {b, local_of(a), 100, -100};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, delayed_sender, &d), 0);
    unsigned char buf[16];
    size_t got = 0;
    int64_t t0 = tu_now_ms();
    int rc = sk_udp_recvfrom(a, buf, sizeof buf, &got, NULL, 5000);
    int64_t took = tu_now_ms() - t0;
    pthread_join(th, NULL);
    cr_assert_eq(d.rc, SK_OK);
    cr_assert_eq(rc, SK_OK, "got %s after %lld ms", sk_errname(rc), (long long)took);
    cr_assert_eq(got, 4);
    cr_assert_eq(memcmp(buf, "late", 4), 0);
    cr_assert_geq(took, 90, "returned after %lld ms, before anything was sent", (long long)took);
    sk_udp_close(a);
    sk_udp_close(b);
}

struct interrupter {
    pthread_t target;
    int count;
    int every_ms;
};

static void *interrupt_thread(void *p)
{
    struct interrupter *it = p;
    for (int i = 0; i < it->count; i++) {
        usleep((useconds_t)it->every_ms * 1000);
        pthread_kill(it->target, SIGUSR1);
    }
    return NULL;
}

Test(udp_timeout, signals_during_a_wait_neither_end_it_early_nor_extend_it_much)
{
    tu_install_usr1(); /* no SA_RESTART: the wait really sees EINTR */

    sk_udp *a = bind_on("127.0.0.1");
    struct interrupter it = {pthread_self(), 4, 50};
    pthread_t th;
    unsigned char buf[16];
    size_t got = 77;
    int64_t t0 = tu_now_ms();
    cr_assert_eq(pthread_create(&th, NULL, interrupt_thread, &it), 0);
    int rc = sk_udp_recvfrom(a, buf, sizeof buf, &got, NULL, 400);
    int64_t took = tu_now_ms() - t0;
    pthread_join(th, NULL);
    sk_udp_close(a);
    cr_assert_gt(tu_usr1_caught(), 0, "no signal arrived during the wait");
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s after %lld ms", sk_errname(rc), (long long)took);
    cr_assert_eq(got, 0);
    cr_assert_geq(took, 400, "returned after %lld ms, before its 400 ms budget", (long long)took);
    cr_assert_leq(took, 400 + TU_LATE_MARGIN_MS, "returned after %lld ms", (long long)took);
}

/* ==== errors ==== */

Test(udp_errors, connected_send_to_a_closed_port_is_refused)
{
    int p = closed_port("127.0.0.1");
    sk_udp *c = connect_to("127.0.0.1", p);
    cr_assert_eq(sk_udp_send(c, "anyone?", 7, WAIT_MS), SK_OK);
    unsigned char buf[16];
    size_t got = 77;
    errno = 0;
    int rc = sk_udp_recv(c, buf, sizeof buf, &got, WAIT_MS);
    cr_assert_eq(rc, SK_ECONNREFUSED, "got %s", sk_errname(rc));
    cr_assert_eq(errno, ECONNREFUSED, "errno %d, not ECONNREFUSED", errno);
    cr_assert_eq(got, 0);
    sk_udp_close(c);
}

Test(udp_errors, connected_send_to_a_closed_ipv6_port_is_refused)
{
    int p = closed_port("::1");
    sk_udp *c = connect_to("::1", p);
    cr_assert_eq(sk_udp_send(c, "anyone?", 7, WAIT_MS), SK_OK);
    unsigned char buf[16];
    size_t got = 77;
    errno = 0;
    int rc = sk_udp_recvfrom(c, buf, sizeof buf, &got, NULL, WAIT_MS);
    cr_assert_eq(rc, SK_ECONNREFUSED, "got %s", sk_errname(rc));
    cr_assert_eq(errno, ECONNREFUSED, "errno %d", errno);
    cr_assert_eq(got, 0);
    sk_udp_close(c);
}

Test(udp_errors, bind_rejects_bad_arguments_and_clears_the_out_parameter)
{
    char dummy;
    sk_udp *u;
    cr_assert_eq(sk_udp_bind(NULL, "127.0.0.1", 0), SK_EINVAL);

    u = (sk_udp *)(void *)&dummy;
    errno = 0;
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", -1), SK_EINVAL);
    cr_assert_null(u);
    cr_assert_eq(errno, EINVAL);

    u = (sk_udp *)(void *)&dummy;
    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 65536), SK_EINVAL);
    cr_assert_null(u);
}

Test(udp_errors, connect_rejects_bad_arguments_and_clears_the_out_parameter)
{
    char dummy;
    sk_udp *u;
    static const int bad_ports[] = {0, -1, 65536, 100000};
    cr_assert_eq(sk_udp_connect(NULL, "127.0.0.1", 9), SK_EINVAL);
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        u = (sk_udp *)(void *)&dummy;
        cr_assert_eq(sk_udp_connect(&u, "127.0.0.1", bad_ports[i]), SK_EINVAL, "port %d", bad_ports[i]);
        cr_assert_null(u, "port %d", bad_ports[i]);
    }
    u = (sk_udp *)(void *)&dummy;
    cr_assert_eq(sk_udp_connect(&u, NULL, 9), SK_EINVAL);
    cr_assert_null(u);
    u = (sk_udp *)(void *)&dummy;
    cr_assert_eq(sk_udp_connect(&u, "", 9), SK_EINVAL);
    cr_assert_null(u);
}

Test(udp_errors, unknown_host_is_not_found)
{
    char dummy;
    sk_udp *u = (sk_udp *)(void *)&dummy;
    errno = 0;
    cr_assert_eq(sk_udp_connect(&u, "nonexistent.invalid", 9), SK_ENOTFOUND);
    cr_assert_null(u);
    cr_assert_eq(errno, ENOENT, "errno %d, not ENOENT", errno);
    u = (sk_udp *)(void *)&dummy;
    cr_assert_eq(sk_udp_bind(&u, "nonexistent.invalid", 0), SK_ENOTFOUND);
    cr_assert_null(u);
}

Test(udp_errors, binding_a_taken_port_is_addr_in_use)
{
    char dummy;
    sk_udp *first = bind_on("127.0.0.1");
    int p = port_of(first);
    sk_udp *second = (sk_udp *)(void *)&dummy;
    errno = 0;
    int rc = sk_udp_bind(&second, "127.0.0.1", p);
    cr_assert_eq(rc, SK_EADDRINUSE, "got %s", sk_errname(rc));
    cr_assert_null(second);
    cr_assert_eq(errno, EADDRINUSE, "errno %d", errno);

    sk_udp *first6 = bind_on("::1");
    int p6 = port_of(first6);
    second = (sk_udp *)(void *)&dummy;
    rc = sk_udp_bind(&second, "::1", p6);
    cr_assert_eq(rc, SK_EADDRINUSE, "IPv6: got %s", sk_errname(rc));
    cr_assert_null(second);
    sk_udp_close(first6);
    sk_udp_close(first);
}

Test(udp_errors, sendto_rejects_bad_arguments)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_addr to = local_of(a), empty;
    memset(&empty, 0, sizeof empty);
    errno = 0;
    cr_assert_eq(sk_udp_sendto(NULL, "x", 1, &to, WAIT_MS), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(sk_udp_sendto(a, NULL, 1, &to, WAIT_MS), SK_EINVAL, "NULL buf with len > 0");
    cr_assert_eq(sk_udp_sendto(a, "x", 1, NULL, WAIT_MS), SK_EINVAL, "NULL to");
    cr_assert_eq(sk_udp_sendto(a, "x", 1, &empty, WAIT_MS), SK_EINVAL, "empty to");
    cr_assert_eq(sk_udp_sendto(a, "x", 1, &to, -2), SK_EINVAL, "timeout -2");
    cr_assert_eq(sk_udp_sendto(a, "x", 1, &to, -1000), SK_EINVAL, "timeout -1000");
    /* None of them sent anything. */
    unsigned char buf[4];
    cr_assert_eq(sk_udp_recvfrom(a, buf, sizeof buf, NULL, NULL, 0), SK_ETIMEDOUT);
    sk_udp_close(a);
}

Test(udp_errors, sendto_an_ipv6_address_from_an_ipv4_endpoint_is_einval)
{
    sk_udp *v4 = bind_on("127.0.0.1");
    sk_udp *v6 = bind_on("::1");
    sk_addr to = local_of(v6);
    int rc = sk_udp_sendto(v4, "x", 1, &to, WAIT_MS);
    cr_assert_eq(rc, SK_EINVAL, "got %s", sk_errname(rc));
    sk_udp_close(v6);
    sk_udp_close(v4);
}

Test(udp_errors, sendto_an_ipv4_address_from_an_ipv6_only_endpoint_is_einval)
{
    /* Bound to ::1, the endpoint is IPv6-only (IPV6_V6ONLY is set for a named host):
     * an IPv4 destination is a family it cannot reach. */
    sk_udp *v6 = bind_on("::1");
    sk_udp *v4 = bind_on("127.0.0.1");
    sk_addr to = local_of(v4);
    int rc = sk_udp_sendto(v6, "x", 1, &to, WAIT_MS);
    sk_udp_close(v4);
    sk_udp_close(v6);
    cr_assert_eq(rc, SK_EINVAL, "got %s", sk_errname(rc));
}

Test(udp_errors, recvfrom_and_recv_reject_bad_arguments)
{
    sk_udp *a = bind_on("127.0.0.1");
    unsigned char buf[4];
    size_t got = 77;
    cr_assert_eq(sk_udp_recvfrom(NULL, buf, sizeof buf, &got, NULL, 0), SK_EINVAL);
    cr_assert_eq(got, 0, "*received is not 0 after SK_EINVAL");
    got = 77;
    cr_assert_eq(sk_udp_recvfrom(a, NULL, 4, &got, NULL, 0), SK_EINVAL, "NULL buf with cap > 0");
    cr_assert_eq(got, 0);
    got = 77;
    cr_assert_eq(sk_udp_recvfrom(a, buf, sizeof buf, &got, NULL, -2), SK_EINVAL, "timeout -2");
    cr_assert_eq(got, 0);
    got = 77;
    cr_assert_eq(sk_udp_recv(NULL, buf, sizeof buf, &got, 0), SK_EINVAL);
    cr_assert_eq(got, 0);
    cr_assert_eq(sk_udp_recv(a, NULL, 4, &got, 0), SK_EINVAL);
    cr_assert_eq(sk_udp_recv(a, buf, sizeof buf, &got, -2), SK_EINVAL);
    sk_udp_close(a);
}

Test(udp_errors, send_on_an_unconnected_endpoint_is_einval)
{
    sk_udp *a = bind_on("127.0.0.1");
    errno = 0;
    cr_assert_eq(sk_udp_send(a, "x", 1, WAIT_MS), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(sk_udp_send(a, NULL, 0, WAIT_MS), SK_EINVAL, "even an empty datagram");
    sk_udp_close(a);
}

Test(udp_errors, send_rejects_bad_arguments)
{
    sk_udp *srv = bind_on("127.0.0.1");
    sk_udp *c = connect_to("127.0.0.1", port_of(srv));
    cr_assert_eq(sk_udp_send(NULL, "x", 1, WAIT_MS), SK_EINVAL);
    cr_assert_eq(sk_udp_send(c, NULL, 1, WAIT_MS), SK_EINVAL, "NULL buf with len > 0");
    cr_assert_eq(sk_udp_send(c, "x", 1, -2), SK_EINVAL, "timeout -2");
    unsigned char buf[4];
    cr_assert_eq(sk_udp_recvfrom(srv, buf, sizeof buf, NULL, NULL, 0), SK_ETIMEDOUT, "a rejected send sent");
    sk_udp_close(c);
    sk_udp_close(srv);
}

Test(udp_errors, fd_local_addr_and_close_handle_null)
{
    sk_addr a;
    cr_assert_eq(sk_udp_fd(NULL), SK_EINVAL);
    sk_udp_close(NULL); /* a no-op */

    memset(&a, 0x5A, sizeof a);
    cr_assert_eq(sk_udp_local_addr(NULL, &a), SK_EINVAL);
    cr_assert(is_empty(&a), "a failed local_addr left the address non-empty");

    sk_udp *u = bind_on("127.0.0.1");
    cr_assert_eq(sk_udp_local_addr(u, NULL), SK_EINVAL);
    sk_udp_close(u);
}

/* ==== threads ==== */

#define THREAD_N 300
#define THREAD_WINDOW 16

struct duo {
    sk_udp *a;       /* the endpoint used by two threads at once */
    sk_udp *b;       /* its echoing peer */
    sk_addr a_addr, b_addr;
    sem_t window;    /* datagrams the sender may have in flight */
    int send_rc, send_i;
    int echo_rc, echo_i;
};

static int wait_window(sem_t *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    while (sem_timedwait(s, &ts) != 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

static void *duo_sender(void *p)
{
    struct duo *d = p;
    for (d->send_i = 0; d->send_i < THREAD_N; d->send_i++) {
        uint32_t v = (uint32_t)d->send_i;
        if (wait_window(&d->window) != 0) {
            d->send_rc = -1000;
            return NULL;
        }
        d->send_rc = sk_udp_sendto(d->a, &v, sizeof v, &d->b_addr, WAIT_MS);
        if (d->send_rc != SK_OK)
            return NULL;
    }
    return NULL;
}

static void *duo_echo(void *p)
{
    struct duo *d = p;
    for (d->echo_i = 0; d->echo_i < THREAD_N; d->echo_i++) {
        unsigned char buf[16];
        size_t got = 0;
        sk_addr from;
        d->echo_rc = sk_udp_recvfrom(d->b, buf, sizeof buf, &got, &from, WAIT_MS);
        if (d->echo_rc != SK_OK)
            return NULL;
        d->echo_rc = sk_udp_sendto(d->b, buf, got, &from, WAIT_MS);
        if (d->echo_rc != SK_OK)
            return NULL;
    }
    return NULL;
}

Test(udp_threads, one_thread_sends_while_another_receives_on_the_same_endpoint)
{
    struct duo d;
    memset(&d, 0, sizeof d);
    d.a = bind_on("127.0.0.1");
    d.b = bind_on("127.0.0.1");
    d.a_addr = local_of(d.a);
    d.b_addr = local_of(d.b);
    char bt[SK_ADDR_STRLEN];
    text_of(&d.b_addr, bt);
    cr_assert_eq(sem_init(&d.window, 0, THREAD_WINDOW), 0);

    pthread_t ts, te;
    cr_assert_eq(pthread_create(&te, NULL, duo_echo, &d), 0);
    cr_assert_eq(pthread_create(&ts, NULL, duo_sender, &d), 0);

    /* This thread receives on a while the sender thread sends on it. */
    int recv_rc = SK_OK, bad_i = -1, bad_from = 0;
    uint32_t bad_v = 0;
    size_t bad_len = 0;
    int i;
    for (i = 0; i < THREAD_N; i++) {
        uint32_t v = 0xffffffffu;
        size_t got = 0;
        sk_addr from;
        recv_rc = sk_udp_recvfrom(d.a, &v, sizeof v, &got, &from, WAIT_MS);
        sem_post(&d.window);
        if (recv_rc != SK_OK)
            break;
        char ft[SK_ADDR_STRLEN];
        if (sk_addr_format(&from, ft, sizeof ft) != SK_OK || strcmp(ft, bt) != 0)
            bad_from = 1;
        if (got != sizeof v || v != (uint32_t)i) {
            bad_i = i;
            bad_v = v;
            bad_len = got;
            break;
        }
    }
    /* Let a blocked sender go, then join: both threads end within their timeouts. */
    for (int k = 0; k < THREAD_WINDOW; k++)
        sem_post(&d.window);
    pthread_join(ts, NULL);
    pthread_join(te, NULL);
    sem_destroy(&d.window);
    sk_udp_close(d.a);
    sk_udp_close(d.b);

    cr_assert_eq(d.send_rc, SK_OK, "sender failed at %d: %s", d.send_i, sk_errname(d.send_rc));
    cr_assert_eq(d.echo_rc, SK_OK, "echo failed at %d: %s", d.echo_i, sk_errname(d.echo_rc));
    cr_assert_eq(recv_rc, SK_OK, "receiver failed at %d: %s", i, sk_errname(recv_rc));
    cr_assert_eq(bad_i, -1, "datagram %d: got value %u, %zu bytes", bad_i, bad_v, bad_len);
    cr_assert_eq(bad_from, 0, "an echo came from somewhere else than %s", bt);
    cr_assert_eq(i, THREAD_N);
}

struct blocked_recv {
    sk_udp *u;
    int rc;
    size_t got;
    unsigned char buf[16];
};

static void *blocked_receiver(void *p)
{
    struct blocked_recv *r = p;
    r->rc = sk_udp_recv(r->u, r->buf, sizeof r->buf, &r->got, 5000);
    return NULL;
}

Test(udp_threads, connected_endpoint_sends_while_a_thread_is_blocked_receiving)
{
    sk_udp *srv = bind_on("127.0.0.1");
    sk_udp *cli = connect_to("127.0.0.1", port_of(srv));
    struct blocked_recv r;
    memset(&r, 0, sizeof r);
    r.u = cli;
    r.rc = -100;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, blocked_receiver, &r), 0);
    usleep(50000); /* the receiver is most likely blocked by now; the test holds either way */

    /* The main thread sends on the same endpoint; the server answers. */
    int send_rc = sk_udp_send(cli, "request", 7, WAIT_MS);
    unsigned char buf[16];
    size_t got = 0;
    sk_addr from;
    int srv_rc = sk_udp_recvfrom(srv, buf, sizeof buf, &got, &from, WAIT_MS);
    int reply_rc = srv_rc == SK_OK ? sk_udp_sendto(srv, "response", 8, &from, WAIT_MS) : srv_rc;
    pthread_join(th, NULL);
    sk_udp_close(cli);
    sk_udp_close(srv);

    cr_assert_eq(send_rc, SK_OK);
    cr_assert_eq(srv_rc, SK_OK);
    cr_assert_eq(got, 7);
    cr_assert_eq(memcmp(buf, "request", 7), 0);
    cr_assert_eq(reply_rc, SK_OK);
    cr_assert_eq(r.rc, SK_OK, "blocked receiver got %s", sk_errname(r.rc));
    cr_assert_eq(r.got, 8);
    cr_assert_eq(memcmp(r.buf, "response", 8), 0);
}
