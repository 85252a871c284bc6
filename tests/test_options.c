/* Typed socket options (tcp.h, udp.h): buffer sizes and what the kernel really set,
 * TCP_NOTSENT_LOWAT, DSCP, the bound device and the mark. Each is read back with
 * getsockopt, so a setter that did nothing fails its test. Loopback only. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

TestSuite(options, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

static int int_opt(int fd, int level, int name)
{
    int v = -12345;
    socklen_t len = sizeof v;
    cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0, "getsockopt: %s", strerror(errno));
    return v;
}

Test(options, buffer_sizes_are_set_and_the_getters_report_what_the_kernel_really_holds)
{
    sk_tcp *c, *s;
    sk_udp *u;
    int got = -1;

    tu_tcp_pair_on("127.0.0.1", NULL, &c, &s);
    cr_assert_eq(sk_tcp_set_send_buffer(c, 65536), SK_OK);
    cr_assert_eq(sk_tcp_get_send_buffer(c, &got), SK_OK);
    cr_assert_eq(got, int_opt(sk_tcp_fd(c), SOL_SOCKET, SO_SNDBUF));
    cr_assert_geq(got, 65536, "the kernel holds %d bytes", got); /* Linux: twice the request */
    cr_assert_eq(sk_tcp_set_recv_buffer(s, 32768), SK_OK);
    cr_assert_eq(sk_tcp_get_recv_buffer(s, &got), SK_OK);
    cr_assert_eq(got, int_opt(sk_tcp_fd(s), SOL_SOCKET, SO_RCVBUF));
    cr_assert_geq(got, 32768);
    cr_assert_eq(sk_tcp_set_send_buffer(c, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_send_buffer(c, -1), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_recv_buffer(c, INT_MAX), SK_EINVAL);
    cr_assert_eq(sk_tcp_get_send_buffer(NULL, &got), SK_EINVAL);
    cr_assert_eq(got, 0);
    cr_assert_eq(sk_tcp_get_send_buffer(c, NULL), SK_EINVAL);

    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_set_recv_buffer(u, 1 << 20), SK_OK);
    cr_assert_eq(sk_udp_get_recv_buffer(u, &got), SK_OK);
    cr_assert_eq(got, int_opt(sk_udp_fd(u), SOL_SOCKET, SO_RCVBUF));
    cr_assert_eq(sk_udp_set_send_buffer(u, 4096), SK_OK);
    cr_assert_eq(sk_udp_get_send_buffer(u, &got), SK_OK);
    cr_assert_eq(got, int_opt(sk_udp_fd(u), SOL_SOCKET, SO_SNDBUF));
    cr_assert_eq(sk_udp_set_send_buffer(u, 0), SK_EINVAL);
    sk_udp_close(u);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(options, notsent_lowat_is_set_and_refused_for_unix_streams)
{
    sk_tcp *c, *s, *l, *uc;
    char name[64];

    tu_tcp_pair_on("127.0.0.1", NULL, &c, &s);
    cr_assert_eq(sk_tcp_set_notsent_lowat(c, 16384), SK_OK);
    cr_assert_eq(int_opt(sk_tcp_fd(c), IPPROTO_TCP, TCP_NOTSENT_LOWAT), 16384);
    cr_assert_eq(sk_tcp_set_notsent_lowat(c, -1), SK_EINVAL);
    snprintf(name, sizeof name, "@sk-test-opt-%d", (int)getpid());
    cr_assert_eq(sk_unix_listen(&l, name, 4), SK_OK);
    cr_assert_eq(sk_unix_connect(&uc, name, 5000), SK_OK);
    cr_assert_eq(sk_tcp_set_notsent_lowat(uc, 16384), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_dscp(uc, 8), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_mark(uc, 1), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_bind_device(uc, "lo"), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_send_buffer(uc, 65536), SK_OK, "buffers apply to Unix streams too");
    sk_tcp_close(uc);
    sk_tcp_close(l);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(options, dscp_lands_in_the_tos_byte_of_ipv4_and_the_traffic_class_of_ipv6)
{
    sk_tcp *c, *s;
    sk_udp *u4, *u6;
    sk_bind_options o = SK_BIND_OPTIONS_INIT;

    tu_tcp_pair_on("127.0.0.1", NULL, &c, &s);
    cr_assert_eq(sk_tcp_set_dscp(c, 46), SK_OK);
    cr_assert_eq(int_opt(sk_tcp_fd(c), IPPROTO_IP, IP_TOS) & 0xfc, 46 << 2);
    cr_assert_eq(sk_tcp_set_dscp(c, 64), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_dscp(c, -1), SK_EINVAL);
    cr_assert_eq(sk_udp_bind(&u4, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_set_dscp(u4, 8), SK_OK);
    cr_assert_eq(int_opt(sk_udp_fd(u4), IPPROTO_IP, IP_TOS) & 0xfc, 8 << 2);
    o.v6only = 0;
    cr_assert_eq(sk_udp_bind_with(&u6, NULL, 0, &o), SK_OK);
    cr_assert_eq(sk_udp_set_dscp(u6, 34), SK_OK);
    cr_assert_eq(int_opt(sk_udp_fd(u6), IPPROTO_IPV6, IPV6_TCLASS) & 0xfc, 34 << 2);
    cr_assert_eq(int_opt(sk_udp_fd(u6), IPPROTO_IP, IP_TOS) & 0xfc, 34 << 2, "dual stack: the IPv4 byte too");
    sk_udp_close(u4);
    sk_udp_close(u6);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(options, bind_device_binds_reads_back_and_unbinds_and_an_unknown_interface_is_enotfound)
{
    sk_udp *u;
    char dev[32];
    socklen_t len = sizeof dev;
    int rc;

    cr_assert_eq(sk_udp_bind(&u, "127.0.0.1", 0), SK_OK);
    rc = sk_udp_set_bind_device(u, "lo");
    if (geteuid() != 0 && rc == SK_EOS && errno == EPERM) {
        sk_udp_close(u);
        cr_skip_test("SO_BINDTODEVICE needs CAP_NET_RAW on this kernel, and this is not root");
    }
    cr_assert_eq(rc, SK_OK, "%s", strerror(errno));
    memset(dev, 0, sizeof dev);
    cr_assert_eq(getsockopt(sk_udp_fd(u), SOL_SOCKET, SO_BINDTODEVICE, dev, &len), 0);
    cr_assert_str_eq(dev, "lo");
    cr_assert_eq(sk_udp_set_bind_device(u, NULL), SK_OK);
    len = sizeof dev;
    memset(dev, 0, sizeof dev);
    cr_assert_eq(getsockopt(sk_udp_fd(u), SOL_SOCKET, SO_BINDTODEVICE, dev, &len), 0);
    cr_assert_str_eq(dev, "");
    cr_assert_eq(sk_udp_set_bind_device(u, "no-such-if0"), SK_ENOTFOUND);
    cr_assert_eq(errno, ENODEV);
    cr_assert_eq(sk_udp_set_bind_device(u, "a-name-far-too-long-for-ifnamsiz"), SK_EINVAL);
    sk_udp_close(u);
}

Test(options, mark_is_set_with_the_capability_and_refused_with_eperm_without)
{
    sk_tcp *c, *s;
    unsigned m = 0;
    socklen_t len = sizeof m;
    int rc;

    tu_tcp_pair_on("127.0.0.1", NULL, &c, &s);
    rc = sk_tcp_set_mark(c, 0x5a17u);
    if (rc == SK_EOS && errno == EPERM) {
        cr_assert_neq(geteuid(), 0, "root was refused SO_MARK");
    } else {
        cr_assert_eq(rc, SK_OK, "%s: %s", sk_errname(rc), strerror(errno));
        cr_assert_eq(getsockopt(sk_tcp_fd(c), SOL_SOCKET, SO_MARK, &m, &len), 0);
        cr_assert_eq(m, 0x5a17u);
    }
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(options, setters_refuse_a_cancelled_endpoint_and_getters_still_answer)
{
    sk_tcp *c, *s;
    int got = 0;
    tu_tcp_pair_on("127.0.0.1", NULL, &c, &s);
    cr_assert_eq(sk_tcp_cancel(c), SK_OK);
    cr_assert_eq(sk_tcp_set_send_buffer(c, 65536), SK_ECANCELED);
    cr_assert_eq(sk_tcp_set_notsent_lowat(c, 1), SK_ECANCELED);
    cr_assert_eq(sk_tcp_set_dscp(c, 1), SK_ECANCELED);
    cr_assert_eq(sk_tcp_get_send_buffer(c, &got), SK_OK);
    cr_assert_gt(got, 0);
    cr_assert_eq(sk_tcp_set_send_buffer(NULL, 65536), SK_EINVAL);
    cr_assert_eq(sk_udp_set_dscp(NULL, 1), SK_EINVAL);
    sk_tcp_close(c);
    sk_tcp_close(s);
}
