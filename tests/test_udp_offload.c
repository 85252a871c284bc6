/* UDP offloads (include/sockkit/udp.h): sk_udp_send_batch with UDP_SEGMENT and
 * sk_udp_set_gro with UDP_GRO, and their fallbacks.
 *
 * The datagrams must come out as they went in whatever the kernel does: these tests
 * check that first. Where the build has the offloads (SK__UDP_GSO / SK__UDP_GRO in
 * lib/compat.h) and the running kernel too (probed here: a test that needs them skips
 * on a kernel without them), a raw receiver with UDP_GRO shows that a run really left
 * as one message; in the portable build (every fallback forced) it shows that it did
 * not, and sk_udp_set_gro is SK_EOS with ENOPROTOOPT. One test lowers the MTU of
 * loopback in a network namespace of its own (as root; skipped otherwise). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns_util.h"
#include "testutil.h"
#include "udp_util.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* What the library was built with (lib/compat.h's rule). */
#if (SK_HAVE_UDP_SEGMENT || !defined(SK_HAVE_CONFIGURED)) && defined(__linux__)
#define BUILT_GSO 1
#else
#define BUILT_GSO 0
#endif
#if (SK_HAVE_UDP_GRO || !defined(SK_HAVE_CONFIGURED)) && defined(__linux__)
#define BUILT_GRO 1
#else
#define BUILT_GRO 0
#endif

/* The system tells a truncated datagram's real length (lib/compat.h). */
#if SK_HAVE_RECV_MSG_TRUNC || !defined(SK_HAVE_CONFIGURED)
#define TRUNC_LEN 1
#else
#define TRUNC_LEN 0
#endif

TestSuite(udp_offload, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

#define WAIT_MS 3000

/* ---- helpers ---- */

static unsigned char dbyte(int i, size_t j)
{
    uint32_t x = ((uint32_t)i * 40503u + (uint32_t)j) * 2654435761u;
    return (unsigned char)((x >> 24) ^ (x >> 9) ^ j);
}

/* Datagram i: len bytes, its first two bytes its number (when it has room). */
static void fill_dgram(unsigned char *b, int i, size_t len)
{
    for (size_t j = 0; j < len; j++)
        b[j] = dbyte(i, j);
}

static void assert_dgram(const unsigned char *b, size_t got, int i, size_t len)
{
    cr_assert_eq(got, len, "datagram %d: %zu bytes, sent %zu", i, got, len);
    for (size_t j = 0; j < len; j++)
        if (b[j] != dbyte(i, j))
            cr_assert_fail("datagram %d: byte %zu is 0x%02x, expected 0x%02x", i, j, b[j], dbyte(i, j));
}

/* count datagrams: sizes[i] bytes each, to to[i] (NULL: the connected peer). */
static sk_dgram *make_out(int count, const size_t *sizes, sk_addr *const *to)
{
    sk_dgram *m = calloc((size_t)count, sizeof *m);
    cr_assert_not_null(m);
    for (int i = 0; i < count; i++) {
        m[i].buf = malloc(sizes[i] ? sizes[i] : 1);
        cr_assert_not_null(m[i].buf);
        fill_dgram(m[i].buf, i, sizes[i]);
        m[i].len = sizes[i];
        if (to != NULL && to[i] != NULL)
            m[i].addr = *to[i];
    }
    return m;
}

static sk_dgram *make_slots(int count, size_t cap)
{
    sk_dgram *m = calloc((size_t)count, sizeof *m);
    cr_assert_not_null(m);
    for (int i = 0; i < count; i++) {
        m[i].buf = malloc(cap ? cap : 1);
        cr_assert_not_null(m[i].buf);
        m[i].len = cap;
        m[i].received = 12345;
        m[i].truncated = 77;
    }
    return m;
}

static void free_dgrams(sk_dgram *m, int count)
{
    for (int i = 0; i < count; i++)
        free(m[i].buf);
    free(m);
}

static void send_all_ok(sk_udp *u, const sk_dgram *m, size_t count)
{
    size_t sent = 12345;
    int rc = sk_udp_send_batch(u, m, count, &sent, WAIT_MS);
    cr_assert_eq(rc, SK_OK, "sk_udp_send_batch: %s (errno %d) after %zu", sk_errname(rc), errno, sent);
    cr_assert_eq(sent, count);
}

/* A receive buffer that holds a whole test batch (loopback delivers it during the
 * send): 4 MiB asked for, forced past net.core.rmem_max where the test runs as root. */
static sk_udp *receiver(void)
{
    sk_udp *u = bind_on("127.0.0.1");
    int got = 0;
    cr_assert_eq(sk_udp_set_recv_buffer(u, 4 << 20), SK_OK);
    (void)setsockopt(sk_udp_fd(u), SOL_SOCKET, SO_RCVBUFFORCE, &(int){4 << 20}, sizeof(int));
    cr_assert_eq(sk_udp_get_recv_buffer(u, &got), SK_OK);
    cr_assert_geq(got, 1 << 20, "a receive buffer of %d bytes: these tests need net.core.rmem_max >= 1 MiB, or root",
                  got);
    return u;
}

/* The running kernel has UDP_SEGMENT / UDP_GRO (asked of a scratch socket). */
static int kernel_has(int opt)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0), v = 0, ok;
    socklen_t len = sizeof v;
    cr_assert_geq(fd, 0);
    ok = opt == UDP_SEGMENT ? getsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &v, &len) == 0
                            : setsockopt(fd, IPPROTO_UDP, UDP_GRO, &(int){1}, sizeof(int)) == 0;
    close(fd);
    return ok;
}

static void need_gso(void)
{
    if (BUILT_GSO && !kernel_has(UDP_SEGMENT))
        cr_skip_test("this kernel has no UDP_SEGMENT (Linux 4.18)");
}

static void need_gro(void)
{
    if (BUILT_GRO && !kernel_has(UDP_GRO))
        cr_skip_test("this kernel has no UDP_GRO (Linux 5.0)");
}

/* Turns GRO on, which must work where the build and the kernel have it, and fail
 * with ENOPROTOOPT where the build lacks it; returns whether it is on. */
static int gro_on(sk_udp *u)
{
    int rc = sk_udp_set_gro(u, 1);
    if (BUILT_GRO) {
        cr_assert_eq(rc, SK_OK, "sk_udp_set_gro: %s (errno %d)", sk_errname(rc), errno);
        return 1;
    }
    cr_assert_eq(rc, SK_EOS, "sk_udp_set_gro without UDP_GRO: %s", sk_errname(rc));
    cr_assert_eq(errno, ENOPROTOOPT);
    return 0;
}

/* Every datagram sent in order from `from` (datagrams first..first+n of make_out),
 * received through sk_udp_recv_batch in calls of `slots` slots. */
static void collect_in_order(sk_udp *u, int n, const int *index, const size_t *sizes, const sk_addr *from,
                             size_t slots)
{
    sk_dgram *in = make_slots((int)slots, 65536);
    char want[SK_ADDR_STRLEN], got[SK_ADDR_STRLEN];
    int k = 0;
    text_of(from, want);
    while (k < n) {
        size_t r = 0;
        int rc = sk_udp_recv_batch(u, in, slots, &r, WAIT_MS);
        cr_assert_eq(rc, SK_OK, "recv_batch after %d of %d: %s", k, n, sk_errname(rc));
        cr_assert(r >= 1 && r <= slots && r <= 64, "recv_batch returned %zu", r);
        for (size_t i = 0; i < r; i++, k++) {
            cr_assert_lt(k, n, "more datagrams than were sent");
            cr_assert_eq(in[i].truncated, 0, "datagram %d truncated", index[k]);
            cr_assert_eq(in[i].full_len, sizes[index[k]], "datagram %d (%d-th): full_len %zu, sent %zu", index[k], k, in[i].full_len, sizes[index[k]]);
            assert_dgram(in[i].buf, in[i].received, index[k], sizes[index[k]]);
            text_of(&in[i].addr, got);
            cr_assert_str_eq(got, want, "datagram %d came from %s", index[k], got);
        }
    }
    free_dgrams(in, (int)slots);
}

static void expect_nothing(sk_udp *u, int ms)
{
    char b[16];
    size_t n = 12345;
    int rc = sk_udp_recv(u, b, sizeof b, &n, ms);
    cr_assert_eq(rc, SK_ETIMEDOUT, "expected nothing, got %s (%zu bytes)", sk_errname(rc), n);
}

/* A raw socket with UDP_GRO on: what the kernel delivers, coalesced or not. */
static int raw_gro_receiver(sk_addr *at)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    cr_assert_eq(setsockopt(fd, IPPROTO_UDP, UDP_GRO, &(int){1}, sizeof(int)), 0);
    *at = loopback("127.0.0.1:%d", ntohs(sin.sin_port));
    return fd;
}

/* One receive on the raw socket: its length, and the UDP_GRO size (0: none). */
static ssize_t raw_recv(int fd, void *buf, size_t cap, int *seg)
{
    union {
        size_t align;
        char b[64];
    } ctl;
    struct iovec v = {buf, cap};
    struct msghdr m;
    ssize_t k;
    memset(&m, 0, sizeof m);
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    m.msg_control = ctl.b;
    m.msg_controllen = sizeof ctl.b;
    *seg = 0;
    struct pollfd p = {fd, POLLIN, 0};
    cr_assert_eq(poll(&p, 1, WAIT_MS), 1, "nothing arrived");
    k = recvmsg(fd, &m, MSG_DONTWAIT);
    cr_assert_geq(k, 0, "recvmsg: %s", strerror(errno));
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO)
            memcpy(seg, CMSG_DATA(c), sizeof *seg);
    return k;
}

/* ---- sending ---- */

/* Runs of one size to one destination, a shorter datagram ending a run, a longer
 * one starting the next, an empty one, runs longer than a message takes (64), and
 * destinations that alternate: all arrive, intact, in order, at the right place. */
Test(udp_offload, batches_of_equal_and_unequal_sizes_and_destinations_arrive_intact_and_in_order)
{
    enum { N = 300 };
    sk_udp *a = bind_on("127.0.0.1"), *b = receiver(), *c = receiver();
    sk_addr aa = local_of(a), ba = local_of(b), ca = local_of(c);
    size_t sizes[N];
    sk_addr *to[N];
    int to_b[N], to_c[N], nb = 0, nc = 0;

    need_gso();
    for (int i = 0; i < N; i++) {
        if (i < 150)
            sizes[i] = 1200;        /* 150 alike: more than two messages' worth */
        else if (i == 150)
            sizes[i] = 700;         /* shorter: ends the run */
        else if (i < 160)
            sizes[i] = 1300;        /* longer: a new run */
        else if (i == 160)
            sizes[i] = 0;           /* empty: alone */
        else if (i < 200)
            sizes[i] = (size_t)(i * 37) % 1500 + 1; /* all different */
        else
            sizes[i] = 900;
        /* b, except 200..299 which alternate in pairs and 170..179 */
        to[i] = (i >= 200 && (i / 2) % 2) || (i >= 170 && i < 180) ? &ca : &ba;
        if (to[i] == &ba)
            to_b[nb++] = i;
        else
            to_c[nc++] = i;
    }
    sk_dgram *out = make_out(N, sizes, to);
    send_all_ok(a, out, N);
    collect_in_order(b, nb, to_b, sizes, &aa, 64);
    collect_in_order(c, nc, to_c, sizes, &aa, 64);
    expect_nothing(b, 50);
    expect_nothing(c, 10);
    free_dgrams(out, N);
    sk_udp_close(a);
    sk_udp_close(b);
    sk_udp_close(c);
}

Test(udp_offload, a_connected_endpoint_sends_runs_to_its_peer_with_empty_addresses)
{
    enum { N = 100 };
    sk_udp *srv = receiver(), *cli = NULL;
    sk_addr sa = local_of(srv), ca;
    size_t sizes[N];
    int index[N];

    need_gso();
    cr_assert_eq(sk_udp_connect(&cli, "127.0.0.1", sk_addr_port(&sa)), SK_OK);
    ca = local_of(cli);
    for (int i = 0; i < N; i++) {
        sizes[i] = i == N - 1 ? 3 : 1000;
        index[i] = i;
    }
    sk_dgram *out = make_out(N, sizes, NULL);
    send_all_ok(cli, out, N);
    collect_in_order(srv, N, index, sizes, &ca, 17);
    free_dgrams(out, N);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

/* Where the kernel has UDP_SEGMENT, ten datagrams of one size to one place leave
 * as one message: a receiver with UDP_GRO gets them as one buffer of ten segments.
 * Without it (the portable build) they leave one by one. */
Test(udp_offload, a_run_of_equal_datagrams_leaves_as_one_segmented_message_where_the_system_has_udp_segment)
{
    enum { N = 10, LEN = 1200 };
    sk_udp *a = bind_on("127.0.0.1");
    sk_addr ra;
    size_t sizes[N];
    sk_addr *to[N];
    static unsigned char buf[65536];
    int seg, fd;

    need_gso();
    if (!kernel_has(UDP_GRO))
        cr_skip_test("this kernel has no UDP_GRO to see the segments with");
    fd = raw_gro_receiver(&ra);
    for (int i = 0; i < N; i++) {
        sizes[i] = LEN;
        to[i] = &ra;
    }
    sk_dgram *out = make_out(N, sizes, to);
    send_all_ok(a, out, N);
    ssize_t k = raw_recv(fd, buf, sizeof buf, &seg);
    if (BUILT_GSO) {
        cr_assert_eq(k, N * LEN, "the run arrived as %zd bytes, not one buffer of %d", k, N * LEN);
        cr_assert_eq(seg, LEN, "segment size %d", seg);
        for (int i = 0; i < N; i++)
            assert_dgram(buf + i * LEN, LEN, i, LEN);
    } else {
        for (int i = 0; i < N; i++) {
            if (i > 0)
                k = raw_recv(fd, buf, sizeof buf, &seg);
            cr_assert_eq(seg, 0, "a coalesced buffer without UDP_SEGMENT");
            assert_dgram(buf, (size_t)k, i, LEN);
        }
    }
    close(fd);
    free_dgrams(out, N);
    sk_udp_close(a);
}

/* The first 10 form one message, the 11th is too large for any datagram: the batch
 * stops there with EMSGSIZE and *sent counts the datagrams of the message that went,
 * not messages. */
Test(udp_offload, a_too_large_datagram_after_a_run_reports_the_run_in_datagrams)
{
    enum { N = 16 };
    sk_udp *a = bind_on("127.0.0.1"), *b = receiver();
    sk_addr aa = local_of(a), ba = local_of(b);
    size_t sizes[N], sent = 12345;
    sk_addr *to[N];
    int index[N];

    need_gso();
    for (int i = 0; i < N; i++) {
        sizes[i] = i < 10 ? 1200 : i == 10 ? 70000 : 100;
        to[i] = &ba;
        index[i] = i;
    }
    sk_dgram *out = make_out(N, sizes, to);
    int rc = sk_udp_send_batch(a, out, N, &sent, WAIT_MS);
    cr_assert_eq(rc, SK_EMSGSIZE, "got %s", sk_errname(rc));
    cr_assert_eq(sent, 10, "*sent is %zu; the 11th datagram is the one too large", sent);
    collect_in_order(b, 10, index, sizes, &aa, 64);
    expect_nothing(b, 50);
    /* The rest, after the one that failed, still goes (as a run). */
    send_all_ok(a, out + 11, N - 11);
    collect_in_order(b, N - 11, index + 11, sizes, &aa, 64);
    free_dgrams(out, N);
    sk_udp_close(a);
    sk_udp_close(b);
}

/* A connected endpoint whose peer's port is closed: the first batch leaves (one
 * message), the port-unreachable it causes fails the next one before anything goes:
 * ECONNREFUSED with *sent 0, whatever the run. */
Test(udp_offload, a_batch_to_a_closed_port_reports_econnrefused_with_an_exact_count)
{
    enum { N = 20 };
    sk_udp *gone = bind_on("127.0.0.1"), *cli = NULL;
    sk_addr ga = local_of(gone);
    size_t sizes[N], sent = 12345;
    int rc = SK_OK;

    need_gso();
    sk_udp_close(gone);
    cr_assert_eq(sk_udp_connect(&cli, "127.0.0.1", sk_addr_port(&ga)), SK_OK);
    for (int i = 0; i < N; i++)
        sizes[i] = 500;
    sk_dgram *out = make_out(N, sizes, NULL);
    send_all_ok(cli, out, N);
    /* The ICMP message comes back at once on loopback; a few tries for a slow one. */
    for (int tries = 0; tries < 50; tries++) {
        sent = 12345;
        if ((rc = sk_udp_send_batch(cli, out, N, &sent, WAIT_MS)) != SK_OK)
            break;
        cr_assert_eq(sent, N);
        tu_sleep_ms(10);
    }
    cr_assert_eq(rc, SK_ECONNREFUSED, "got %s", sk_errname(rc));
    cr_assert_eq(errno, ECONNREFUSED);
    cr_assert_eq(sent, 0, "*sent is %zu: nothing left", sent);
    free_dgrams(out, N);
    sk_udp_close(cli);
}

/* SO_NO_CHECK (no UDP checksum) makes the kernel refuse UDP_SEGMENT (EINVAL): the
 * batch goes again without it, every datagram arrives as itself, and the next batch
 * is not refused either. */
Test(udp_offload, a_kernel_that_refuses_the_offload_gets_the_datagrams_one_by_one_with_exact_counts)
{
    enum { N = 130 };
    sk_udp *a = bind_on("127.0.0.1"), *b = receiver();
    sk_addr aa = local_of(a), ba = local_of(b);
    size_t sizes[N];
    sk_addr *to[N];
    int index[N];

    need_gso();
    cr_assert_eq(setsockopt(sk_udp_fd(a), SOL_SOCKET, SO_NO_CHECK, &(int){1}, sizeof(int)), 0);
    for (int i = 0; i < N; i++) {
        sizes[i] = i == N - 1 ? 10 : 1100;
        to[i] = &ba;
        index[i] = i;
    }
    sk_dgram *out = make_out(N, sizes, to);
    send_all_ok(a, out, N);
    collect_in_order(b, N, index, sizes, &aa, 64);
    send_all_ok(a, out, N);
    collect_in_order(b, N, index, sizes, &aa, 64);
    expect_nothing(b, 50);
    free_dgrams(out, N);
    sk_udp_close(a);
    sk_udp_close(b);
}

/* Loopback's MTU at 1300 (in a namespace of this test's own): a run of 1400-byte
 * datagrams cannot be segments (EMSGSIZE), but each alone can go, fragmented. The
 * run is sent again without the offload, the 1200-byte run after it still goes as
 * one message, and so does a later one, while later 1400-byte runs go plain at once. */
Test(udp_offload, a_run_longer_than_the_mtu_goes_datagram_by_datagram_and_shorter_runs_keep_the_offload)
{
    enum { N = 20, LEN = 1200, BIG = 1400 };
    static unsigned char buf[65536];
    sk_udp *a;
    sk_addr ra;
    size_t sizes[N];
    sk_addr *to[N];
    int seg, fd;

    need_gso();
    if (!kernel_has(UDP_GRO))
        cr_skip_test("this kernel has no UDP_GRO to see the segments with");
    tu_netns_enter();
    tu_sh("ip link set lo mtu 1300");
    a = bind_on("127.0.0.1");
    fd = raw_gro_receiver(&ra);
    for (int i = 0; i < N; i++) {
        sizes[i] = i < 10 ? BIG : LEN;
        to[i] = &ra;
    }
    sk_dgram *out = make_out(N, sizes, to);
    for (int round = 0; round < 2; round++) {
        send_all_ok(a, out, N);
        for (int i = 0; i < 10; i++) {
            ssize_t k = raw_recv(fd, buf, sizeof buf, &seg);
            cr_assert_eq(seg, 0, "round %d: datagram %d arrived coalesced", round, i);
            assert_dgram(buf, (size_t)k, i, BIG);
        }
        ssize_t k = raw_recv(fd, buf, sizeof buf, &seg);
        if (BUILT_GSO) {
            cr_assert_eq(k, 10 * LEN, "round %d: the 1200-byte run arrived as %zd bytes", round, k);
            cr_assert_eq(seg, LEN);
            for (int i = 0; i < 10; i++)
                assert_dgram(buf + i * LEN, LEN, 10 + i, LEN);
        } else {
            for (int i = 10; i < N; i++) {
                if (i > 10)
                    k = raw_recv(fd, buf, sizeof buf, &seg);
                assert_dgram(buf, (size_t)k, i, LEN);
            }
        }
    }
    close(fd);
    free_dgrams(out, N);
    sk_udp_close(a);
}

Test(udp_offload, batches_over_ipv6_and_ipv4_from_a_dual_stack_endpoint_arrive_intact)
{
    enum { N = 80 };
    sk_udp *dual = bind_on(NULL), *v4 = bind_on("127.0.0.1"), *v6 = NULL;
    sk_addr da = local_of(dual), v4a = local_of(v4), v6a;
    size_t sizes[N];
    sk_addr *to[N];
    int i4[N], i6[N], n4 = 0, n6 = 0;

    need_gso();
    if (sk_udp_bind(&v6, "::1", 0) != SK_OK)
        cr_skip_test("no IPv6 loopback on this machine");
    v6a = local_of(v6);
    for (int i = 0; i < N; i++) {
        sizes[i] = 1400;
        to[i] = i < 40 ? &v4a : &v6a;
        if (i < 40)
            i4[n4++] = i;
        else
            i6[n6++] = i;
    }
    sk_dgram *out = make_out(N, sizes, to);
    send_all_ok(dual, out, N);
    sk_addr from4 = loopback("127.0.0.1:%d", sk_addr_port(&da)), from6 = loopback("[::1]:%d", sk_addr_port(&da));
    collect_in_order(v4, n4, i4, sizes, &from4, 64);
    collect_in_order(v6, n6, i6, sizes, &from6, 64);
    free_dgrams(out, N);
    sk_udp_close(dual);
    sk_udp_close(v4);
    sk_udp_close(v6);
}

/* ---- receiving with GRO ---- */

/* Two senders, 400 datagrams each, interleaved in runs: every datagram comes out of
 * recv_batch alone, with its length and its own sender, none lost. */
Test(udp_offload, with_gro_a_burst_from_two_senders_is_received_through_recv_batch_with_boundaries_and_senders)
{
    enum { N = 400, ROUNDS = 4 };
    sk_udp *r = receiver(), *s1 = bind_on("127.0.0.1"), *s2 = bind_on("127.0.0.1");
    sk_addr ra = local_of(r), a1 = local_of(s1), a2 = local_of(s2);
    size_t sizes[N];
    sk_addr *to[N];
    sk_dgram *in = make_slots(64, 2000);
    int seen1 = 0, seen2 = 0;
    char t1[SK_ADDR_STRLEN], t2[SK_ADDR_STRLEN], got[SK_ADDR_STRLEN];

    need_gro();
    gro_on(r);
    for (int i = 0; i < N; i++) {
        sizes[i] = i % 100 == 99 ? 77 : 1200; /* runs of 99 of 1200, one of 77 */
        to[i] = &ra;
    }
    sk_dgram *out = make_out(N, sizes, to);
    text_of(&a1, t1);
    text_of(&a2, t2);
    for (int round = 0; round < ROUNDS; round++) {
        send_all_ok(s1, out + round * (N / ROUNDS), N / ROUNDS);
        send_all_ok(s2, out + round * (N / ROUNDS), N / ROUNDS);
    }
    while (seen1 < N || seen2 < N) {
        size_t n = 0;
        int rc = sk_udp_recv_batch(r, in, 64, &n, WAIT_MS);
        cr_assert_eq(rc, SK_OK, "after %d + %d datagrams: %s", seen1, seen2, sk_errname(rc));
        cr_assert(n >= 1 && n <= 64);
        for (size_t i = 0; i < n; i++) {
            int *seen;
            text_of(&in[i].addr, got);
            if (strcmp(got, t1) == 0)
                seen = &seen1;
            else {
                cr_assert_str_eq(got, t2, "a datagram from %s", got);
                seen = &seen2;
            }
            cr_assert_lt(*seen, N, "more datagrams from %s than it sent", got);
            cr_assert_eq(in[i].truncated, 0);
            cr_assert_eq(in[i].full_len, sizes[*seen]);
            assert_dgram(in[i].buf, in[i].received, *seen, sizes[*seen]);
            (*seen)++;
        }
    }
    expect_nothing(r, 50);
    free_dgrams(out, N);
    free_dgrams(in, 64);
    sk_udp_close(r);
    sk_udp_close(s1);
    sk_udp_close(s2);
}

/* sk_udp_recv and sk_udp_recvfrom never hand out a coalesced buffer: one datagram a
 * call, the rest kept for the next, a batch and single calls mixed. */
Test(udp_offload, with_gro_recv_and_recvfrom_return_one_datagram_a_call_and_keep_the_rest)
{
    enum { N = 150 };
    sk_udp *r = receiver(), *s = bind_on("127.0.0.1");
    sk_addr ra = local_of(r), sa = local_of(s), from;
    size_t sizes[N];
    sk_addr *to[N];
    static unsigned char buf[65536];
    char want[SK_ADDR_STRLEN], got[SK_ADDR_STRLEN];
    sk_dgram *in = make_slots(3, 2000);

    need_gro();
    gro_on(r);
    for (int i = 0; i < N; i++) {
        sizes[i] = i == N - 1 ? 1 : 1000;
        to[i] = &ra;
    }
    sk_dgram *out = make_out(N, sizes, to);
    send_all_ok(s, out, N);
    text_of(&sa, want);
    for (int i = 0; i < N;) {
        size_t n = 12345;
        if (i % 10 == 3) { /* three through a batch now and then */
            cr_assert_eq(sk_udp_recv_batch(r, in, 3, &n, WAIT_MS), SK_OK);
            for (size_t j = 0; j < n; j++, i++)
                assert_dgram(in[j].buf, in[j].received, i, sizes[i]);
            continue;
        }
        int rc = i % 2 ? sk_udp_recv(r, buf, sizeof buf, &n, WAIT_MS)
                       : sk_udp_recvfrom(r, buf, sizeof buf, &n, &from, WAIT_MS);
        cr_assert_eq(rc, SK_OK, "datagram %d: %s", i, sk_errname(rc));
        assert_dgram(buf, n, i, sizes[i]);
        if (i % 2 == 0) {
            text_of(&from, got);
            cr_assert_str_eq(got, want);
        }
        i++;
    }
    expect_nothing(r, 50);
    free_dgrams(out, N);
    free_dgrams(in, 3);
    sk_udp_close(r);
    sk_udp_close(s);
}

Test(udp_offload, with_gro_a_buffer_too_small_is_etruncated_and_the_next_datagram_is_whole)
{
    enum { N = 20, LEN = 1200, CAP = 500 };
    sk_udp *r = receiver(), *s = bind_on("127.0.0.1");
    sk_addr ra = local_of(r), sa = local_of(s), from;
    size_t sizes[N], n;
    sk_addr *to[N];
    static unsigned char buf[65536];
    char want[SK_ADDR_STRLEN], got[SK_ADDR_STRLEN];
    sk_dgram *in = make_slots(2, CAP);

    need_gro();
    gro_on(r);
    for (int i = 0; i < N; i++) {
        sizes[i] = LEN;
        to[i] = &ra;
    }
    sk_dgram *out = make_out(N, sizes, to);
    send_all_ok(s, out, N);
    text_of(&sa, want);
    /* Datagram 0 into 500 bytes: truncated, with its sender. */
    n = 12345;
    int rc = sk_udp_recvfrom(r, buf, CAP, &n, &from, WAIT_MS);
    cr_assert_eq(rc, SK_ETRUNCATED, "got %s", sk_errname(rc));
    cr_assert_eq(n, CAP);
    for (size_t j = 0; j < CAP; j++)
        cr_assert_eq(buf[j], dbyte(0, j));
    text_of(&from, got);
    cr_assert_str_eq(got, want);
    /* 1 whole. */
    cr_assert_eq(sk_udp_recv(r, buf, sizeof buf, &n, WAIT_MS), SK_OK);
    assert_dgram(buf, n, 1, LEN);
    /* 2 and 3 into slots of 500: flagged, with their real length. */
    cr_assert_eq(sk_udp_recv_batch(r, in, 2, &n, WAIT_MS), SK_OK);
    cr_assert_eq(n, 2);
    for (int j = 0; j < 2; j++) {
        cr_assert_eq(in[j].truncated, 1);
        cr_assert_eq(in[j].received, CAP);
        /* (Without MSG_TRUNC on receive the fallback knows only that it did not fit.) */
        cr_assert_eq(in[j].full_len, BUILT_GRO || TRUNC_LEN ? LEN : CAP + 1);
    }
    /* 4 whole, into a zero-capacity buffer first: truncated to nothing. */
    cr_assert_eq(sk_udp_recv(r, NULL, 0, &n, WAIT_MS), SK_ETRUNCATED);
    cr_assert_eq(n, 0);
    for (int i = 5; i < N; i++) {
        cr_assert_eq(sk_udp_recv(r, buf, sizeof buf, &n, WAIT_MS), SK_OK);
        assert_dgram(buf, n, i, LEN);
    }
    expect_nothing(r, 50);
    free_dgrams(out, N);
    free_dgrams(in, 2);
    sk_udp_close(r);
    sk_udp_close(s);
}

/* Datagrams held after a receive make the endpoint readable to a poller although its
 * descriptor has nothing more: without that, a poller loop would strand them. */
Test(udp_offload, with_gro_a_poller_reports_the_endpoint_readable_while_it_holds_datagrams)
{
    enum { N = 30 };
    sk_udp *r = receiver(), *s = bind_on("127.0.0.1");
    sk_addr ra = local_of(r);
    size_t sizes[N], n, count;
    sk_addr *to[N];
    unsigned char buf[2000];
    sk_poller *p = NULL;
    sk_event ev[4];

    need_gro();
    gro_on(r); /* (without it, the descriptor itself is readable each time) */
    for (int i = 0; i < N; i++) {
        sizes[i] = 600;
        to[i] = &ra;
    }
    sk_dgram *out = make_out(N, sizes, to);
    cr_assert_eq(sk_poller_create(&p), SK_OK);
    cr_assert_eq(sk_poller_add_udp(p, r, SK_POLL_IN, NULL), SK_OK);
    send_all_ok(s, out, N);
    for (int i = 0; i < N; i++) {
        count = 0;
        cr_assert_eq(sk_poller_wait(p, ev, 4, &count, WAIT_MS), SK_OK, "datagram %d: not readable", i);
        cr_assert_eq(count, 1);
        cr_assert_eq(ev[0].udp, r);
        cr_assert(ev[0].events & SK_POLL_IN);
        cr_assert_eq(sk_udp_recv(r, buf, sizeof buf, &n, 0), SK_OK, "datagram %d", i);
        assert_dgram(buf, n, i, 600);
    }
    count = 12345;
    cr_assert_eq(sk_poller_wait(p, ev, 4, &count, 50), SK_ETIMEDOUT);
    cr_assert_eq(count, 0);
    sk_poller_close(p);
    free_dgrams(out, N);
    sk_udp_close(r);
    sk_udp_close(s);
}

/* Turned off again, the endpoint still hands out what it holds, one by one. */
Test(udp_offload, gro_turned_off_still_delivers_what_was_held_and_then_plain_datagrams)
{
    enum { N = 40 };
    sk_udp *r = receiver(), *s = bind_on("127.0.0.1");
    sk_addr ra = local_of(r);
    size_t sizes[N], n;
    sk_addr *to[N];
    unsigned char buf[2000];

    need_gro();
    gro_on(r);
    for (int i = 0; i < N; i++) {
        sizes[i] = 800;
        to[i] = &ra;
    }
    sk_dgram *out = make_out(N, sizes, to);
    send_all_ok(s, out, N / 2);
    cr_assert_eq(sk_udp_recv(r, buf, sizeof buf, &n, WAIT_MS), SK_OK);
    assert_dgram(buf, n, 0, 800);
    cr_assert_eq(sk_udp_set_gro(r, 0), BUILT_GRO ? SK_OK : SK_EOS);
    send_all_ok(s, out + N / 2, N / 2);
    for (int i = 1; i < N; i++) {
        cr_assert_eq(sk_udp_recv(r, buf, sizeof buf, &n, WAIT_MS), SK_OK, "datagram %d", i);
        assert_dgram(buf, n, i, 800);
    }
    expect_nothing(r, 50);
    free_dgrams(out, N);
    sk_udp_close(r);
    sk_udp_close(s);
}

Test(udp_offload, set_gro_refuses_null_and_unix_endpoints_and_a_cancelled_one)
{
    sk_udp *u = bind_on("127.0.0.1"), *x = NULL;
    cr_assert_eq(sk_udp_set_gro(NULL, 1), SK_EINVAL);
    cr_assert_eq(sk_unix_dgram_bind(&x, NULL), SK_OK);
    cr_assert_eq(sk_udp_set_gro(x, 1), SK_EINVAL);
    sk_udp_close(x);
    cr_assert_eq(sk_udp_cancel(u), SK_OK);
    cr_assert_eq(sk_udp_set_gro(u, 1), SK_ECANCELED);
    sk_udp_close(u);
}

Test(udp_offload, with_gro_a_cancelled_endpoint_returns_ecanceled_even_with_datagrams_held)
{
    enum { N = 10 };
    sk_udp *r = receiver(), *s = bind_on("127.0.0.1");
    sk_addr ra = local_of(r);
    size_t sizes[N], n;
    sk_addr *to[N];
    unsigned char buf[2000];
    sk_dgram *in = make_slots(2, 2000);

    need_gro();
    gro_on(r);
    for (int i = 0; i < N; i++) {
        sizes[i] = 100;
        to[i] = &ra;
    }
    sk_dgram *out = make_out(N, sizes, to);
    send_all_ok(s, out, N);
    cr_assert_eq(sk_udp_recv(r, buf, sizeof buf, &n, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_cancel(r), SK_OK);
    cr_assert_eq(sk_udp_recv(r, buf, sizeof buf, &n, WAIT_MS), SK_ECANCELED);
    cr_assert_eq(sk_udp_recv_batch(r, in, 2, &n, WAIT_MS), SK_ECANCELED);
    free_dgrams(out, N);
    free_dgrams(in, 2);
    sk_udp_close(r);
    sk_udp_close(s);
}
