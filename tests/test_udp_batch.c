/* UDP batches (include/sockkit/udp.h): sk_udp_send_batch and sk_udp_recv_batch.
 *
 * Helper threads stop by themselves and never call cr_assert. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "udp_util.h"

/* The full_len of a datagram of len bytes received into cap: its real length where
 * the system tells it (MSG_TRUNC on receive, Linux), else one more than was kept
 * (lib/compat.h: the fallback knows only that it did not fit). */
#if SK_HAVE_RECV_MSG_TRUNC || !defined(SK_HAVE_CONFIGURED)
#define FULL_LEN(len, cap) ((size_t)(len))
#else
#define FULL_LEN(len, cap) ((size_t)(len) > (size_t)(cap) ? (size_t)(cap) + 1 : (size_t)(len))
#endif

TestSuite(udp_batch, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

#define WAIT_MS 3000 /* a budget for things that should arrive at once on loopback */
#define BATCH_MAX 64 /* the documented most datagrams one sk_udp_recv_batch returns */

/* ---- helpers ---- */

/* The bytes of datagram i, reproducible. */
static unsigned char dbyte(int i, size_t j)
{
    uint32_t x = ((uint32_t)i * 40503u + (uint32_t)j) * 2654435761u;
    return (unsigned char)((x >> 24) ^ (x >> 9) ^ j);
}

static unsigned char *dgram_bytes(int i, size_t len)
{
    unsigned char *b = malloc(len ? len : 1);
    cr_assert_not_null(b);
    for (size_t j = 0; j < len; j++)
        b[j] = dbyte(i, j);
    return b;
}

static void assert_dgram_bytes(const unsigned char *b, int i, size_t len)
{
    for (size_t j = 0; j < len; j++)
        if (b[j] != dbyte(i, j))
            cr_assert_fail("datagram %d: byte %zu is 0x%02x, expected 0x%02x", i, j, b[j], dbyte(i, j));
}

/* count outgoing datagrams of the given sizes to `to` (NULL: empty address). */
static sk_dgram *make_batch(int count, const size_t *sizes, const sk_addr *to)
{
    sk_dgram *m = calloc((size_t)count, sizeof *m);
    cr_assert_not_null(m);
    for (int i = 0; i < count; i++) {
        m[i].buf = dgram_bytes(i, sizes[i]);
        m[i].len = sizes[i];
        if (to != NULL)
            m[i].addr = *to;
    }
    return m;
}

/* count receive slots of cap bytes each, their fields pre-set to values the library
 * must overwrite. */
static sk_dgram *make_slots(int count, size_t cap)
{
    sk_dgram *m = calloc((size_t)count, sizeof *m);
    cr_assert_not_null(m);
    for (int i = 0; i < count; i++) {
        m[i].buf = malloc(cap ? cap : 1);
        cr_assert_not_null(m[i].buf);
        memset(m[i].buf, 0xee, cap ? cap : 1);
        m[i].len = cap;
        m[i].received = 12345;
        m[i].full_len = 12345;
        m[i].truncated = 77;
        m[i].reserved = 0;
        m[i].addr = addr_of("10.9.8.7:6543");
    }
    return m;
}

static void free_batch(sk_dgram *m, int count)
{
    for (int i = 0; i < count; i++)
        free(m[i].buf);
    free(m);
}

/* Send a whole batch; it must all go. */
static void send_batch_ok(sk_udp *u, const sk_dgram *m, size_t count)
{
    size_t sent = 12345;
    int rc = sk_udp_send_batch(u, m, count, &sent, WAIT_MS);
    cr_assert_eq(rc, SK_OK, "sk_udp_send_batch: %s after %zu", sk_errname(rc), sent);
    cr_assert_eq(sent, count);
}

/* Receive until want datagrams are in slots[0..want), each call checked: SK_OK, at
 * least one, at most 64 and at most what was asked. Returns the number of calls. */
static int collect(sk_udp *u, sk_dgram *slots, size_t want)
{
    size_t got = 0;
    int calls = 0;
    while (got < want) {
        size_t n = 12345;
        int rc = sk_udp_recv_batch(u, slots + got, want - got, &n, WAIT_MS);
        cr_assert_eq(rc, SK_OK, "sk_udp_recv_batch after %zu of %zu datagrams: %s", got, want, sk_errname(rc));
        cr_assert(n >= 1 && n <= BATCH_MAX && n <= want - got, "sk_udp_recv_batch returned %zu (asked for %zu)", n,
                  want - got);
        got += n;
        cr_assert_leq(++calls, (int)want, "too many calls");
    }
    return calls;
}

/* Nothing arrives at u within ms. */
static void expect_no_datagram(sk_udp *u, int ms)
{
    sk_dgram *slot = make_slots(1, 100);
    size_t n = 12345;
    int rc = sk_udp_recv_batch(u, slot, 1, &n, ms);
    cr_assert_eq(rc, SK_ETIMEDOUT, "expected nothing, got %s with %zu datagrams", sk_errname(rc), n);
    cr_assert_eq(n, 0);
    free_batch(slot, 1);
}

/* ---- sending and receiving batches ---- */

Test(udp_batch, a_hundred_datagrams_of_varying_sizes_are_sent_and_collected_with_lengths_bytes_and_source)
{
    enum { N = 100, CAP = 600 };
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a), ba = local_of(b);
    size_t sizes[N];
    char want_from[SK_ADDR_STRLEN], from[SK_ADDR_STRLEN];

    for (int i = 0; i < N; i++)
        sizes[i] = (size_t)(i * 37) % CAP; /* 0 (an empty datagram) to 599 bytes */
    sk_dgram *out = make_batch(N, sizes, &ba), *in = make_slots(N, CAP);
    text_of(&aa, want_from);
    send_batch_ok(a, out, N);
    collect(b, in, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(in[i].received, sizes[i], "datagram %d: %zu bytes, sent %zu", i, in[i].received, sizes[i]);
        cr_assert_eq(in[i].full_len, sizes[i], "datagram %d: full_len %zu, sent %zu", i, in[i].full_len, sizes[i]);
        cr_assert_eq(in[i].truncated, 0, "datagram %d flagged truncated", i);
        cr_assert_eq(in[i].reserved, 0);
        assert_dgram_bytes(in[i].buf, i, sizes[i]);
        text_of(&in[i].addr, from);
        cr_assert_str_eq(from, want_from, "datagram %d came from %s", i, from);
    }
    expect_no_datagram(b, 50);
    free_batch(out, N);
    free_batch(in, N);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_batch, one_receive_takes_at_most_64_of_the_datagrams_already_there)
{
    enum { N = 70 };
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr ba = local_of(b);
    size_t sizes[N], n = 12345;

    for (int i = 0; i < N; i++)
        sizes[i] = 16 + (size_t)i;
    sk_dgram *out = make_batch(N, sizes, &ba), *in = make_slots(N, 128);
    send_batch_ok(a, out, N);
    tu_sleep_ms(100); /* let loopback deliver all of them */
    cr_assert_eq(sk_udp_recv_batch(b, in, N, &n, WAIT_MS), SK_OK);
    cr_assert_eq(n, BATCH_MAX, "the first call took %zu of the %d waiting datagrams", n, N);
    n = 12345;
    cr_assert_eq(sk_udp_recv_batch(b, in + BATCH_MAX, N - BATCH_MAX, &n, WAIT_MS), SK_OK);
    cr_assert_eq(n, N - BATCH_MAX);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(in[i].received, sizes[i], "datagram %d", i);
        assert_dgram_bytes(in[i].buf, i, sizes[i]);
    }
    free_batch(out, N);
    free_batch(in, N);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_batch, a_datagram_larger_than_its_slot_is_flagged_with_its_true_length_and_the_others_are_intact)
{
    enum { N = 4, CAP = 200 };
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr ba = local_of(b);
    size_t sizes[N] = {100, 500, 200, 50};
    sk_dgram *out = make_batch(N, sizes, &ba), *in = make_slots(N, CAP);

    send_batch_ok(a, out, N);
    collect(b, in, N);
    for (int i = 0; i < N; i++) {
        size_t kept = sizes[i] < CAP ? sizes[i] : CAP;
        cr_assert_eq(in[i].received, kept, "datagram %d: %zu bytes kept", i, in[i].received);
        cr_assert_eq(in[i].full_len, FULL_LEN(sizes[i], CAP), "datagram %d: full_len %zu, sent %zu", i,
                     in[i].full_len, sizes[i]);
        cr_assert_eq(in[i].truncated, sizes[i] > CAP, "datagram %d: truncated %d", i, in[i].truncated);
        assert_dgram_bytes(in[i].buf, i, kept);
    }
    /* Nothing was written past the slot. */
    free_batch(out, N);
    free_batch(in, N);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_batch, a_zero_capacity_slot_takes_a_datagram_as_truncated)
{
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr ba = local_of(b);
    size_t sizes[2] = {10, 0};
    sk_dgram *out = make_batch(2, sizes, &ba), in[2];
    unsigned char spare[16];

    send_batch_ok(a, out, 2);
    memset(in, 0, sizeof in);
    /* A slot of capacity 0 may have a NULL buf. */
    in[0].buf = NULL;
    in[0].len = 0;
    in[1].buf = spare;
    in[1].len = sizeof spare;
    collect(b, in, 2);
    cr_assert_eq(in[0].received, 0);
    cr_assert_eq(in[0].full_len, FULL_LEN(10, 0));
    cr_assert_eq(in[0].truncated, 1);
    cr_assert_eq(in[1].received, 0);
    cr_assert_eq(in[1].full_len, 0);
    cr_assert_eq(in[1].truncated, 0, "an empty datagram is not truncated");
    free_batch(out, 2);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_batch, empty_address_on_a_connected_endpoint_goes_to_its_peer)
{
    enum { N = 5 };
    sk_udp *srv = bind_on("127.0.0.1"), *cli = NULL;
    sk_addr sa = local_of(srv);
    size_t sizes[N] = {1, 20, 300, 4000, 5};
    char want_from[SK_ADDR_STRLEN], from[SK_ADDR_STRLEN];

    cr_assert_eq(sk_udp_connect(&cli, "127.0.0.1", sk_addr_port(&sa)), SK_OK);
    sk_addr ca = local_of(cli);
    text_of(&ca, want_from);
    sk_dgram *out = make_batch(N, sizes, NULL), *in = make_slots(N, 4096);
    send_batch_ok(cli, out, N);
    collect(srv, in, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(in[i].received, sizes[i]);
        assert_dgram_bytes(in[i].buf, i, sizes[i]);
        text_of(&in[i].addr, from);
        cr_assert_str_eq(from, want_from);
    }
    free_batch(out, N);
    free_batch(in, N);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

Test(udp_batch, connected_endpoint_receives_a_batch_of_replies_from_its_peer)
{
    enum { N = 3 };
    sk_udp *srv = bind_on("127.0.0.1"), *cli = NULL;
    sk_addr sa = local_of(srv), ca;
    size_t sizes[N] = {7, 70, 700};
    char want_from[SK_ADDR_STRLEN], from[SK_ADDR_STRLEN];

    cr_assert_eq(sk_udp_connect(&cli, "127.0.0.1", sk_addr_port(&sa)), SK_OK);
    ca = local_of(cli);
    text_of(&sa, want_from);
    sk_dgram *out = make_batch(N, sizes, &ca), *in = make_slots(N, 1000);
    send_batch_ok(srv, out, N);
    collect(cli, in, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(in[i].received, sizes[i]);
        assert_dgram_bytes(in[i].buf, i, sizes[i]);
        text_of(&in[i].addr, from);
        cr_assert_str_eq(from, want_from);
    }
    free_batch(out, N);
    free_batch(in, N);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

Test(udp_batch, empty_address_on_an_unconnected_endpoint_is_einval_and_nothing_is_sent)
{
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr ba = local_of(b);
    size_t sizes[3] = {10, 20, 30}, sent = 12345;
    sk_dgram *out = make_batch(3, sizes, &ba);

    memset(&out[1].addr, 0, sizeof out[1].addr); /* the middle one has no destination */
    int rc = sk_udp_send_batch(a, out, 3, &sent, WAIT_MS);
    cr_assert_eq(rc, SK_EINVAL, "got %s", sk_errname(rc));
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(sent, 0);
    expect_no_datagram(b, 100);
    free_batch(out, 3);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_batch, a_null_buffer_with_a_length_in_the_middle_is_einval_and_nothing_is_sent)
{
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr ba = local_of(b);
    size_t sizes[3] = {10, 20, 30}, sent = 12345;
    sk_dgram *out = make_batch(3, sizes, &ba);
    void *keep = out[1].buf;

    out[1].buf = NULL;
    int rc = sk_udp_send_batch(a, out, 3, &sent, WAIT_MS);
    cr_assert_eq(rc, SK_EINVAL, "got %s", sk_errname(rc));
    cr_assert_eq(sent, 0);
    expect_no_datagram(b, 100);
    out[1].buf = keep;
    free_batch(out, 3);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_batch, a_destination_of_a_family_the_endpoint_cannot_reach_is_einval_and_nothing_is_sent)
{
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr ba = local_of(b), v6 = loopback("[::1]:%d", sk_addr_port(&ba));
    size_t sizes[3] = {10, 20, 30}, sent = 12345;
    sk_dgram *out = make_batch(3, sizes, &ba);

    out[2].addr = v6;
    int rc = sk_udp_send_batch(a, out, 3, &sent, WAIT_MS);
    cr_assert_eq(rc, SK_EINVAL, "got %s", sk_errname(rc));
    cr_assert_eq(sent, 0);
    expect_no_datagram(b, 100);
    free_batch(out, 3);
    sk_udp_close(a);
    sk_udp_close(b);
}

/* A datagram too large to send stops the batch there: the ones before it leave, and
 * *sent names the failing one. */
Test(udp_batch, a_datagram_too_large_stops_the_batch_with_emsgsize_and_sent_counts_those_before_it)
{
    enum { N = 4 };
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr ba = local_of(b);
    size_t sizes[N] = {11, 22, 70000, 44}, sent = 12345;
    sk_dgram *out = make_batch(N, sizes, &ba), *in = make_slots(2, 100);

    int rc = sk_udp_send_batch(a, out, N, &sent, WAIT_MS);
    cr_assert_eq(rc, SK_EMSGSIZE, "got %s", sk_errname(rc));
    cr_assert_eq(sent, 2, "*sent is %zu, the third datagram is the one too large", sent);
    collect(b, in, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(in[i].received, sizes[i]);
        assert_dgram_bytes(in[i].buf, i, sizes[i]);
    }
    expect_no_datagram(b, 100);
    free_batch(out, N);
    free_batch(in, 2);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_batch, ipv4_destinations_work_from_a_dual_stack_endpoint_and_sources_read_as_ipv4)
{
    enum { N = 3 };
    sk_udp *dual = bind_on(NULL), *v4 = bind_on("127.0.0.1");
    sk_addr da = local_of(dual), va = local_of(v4);
    sk_addr to_v4 = loopback("127.0.0.1:%d", sk_addr_port(&va));
    sk_addr to_dual = loopback("127.0.0.1:%d", sk_addr_port(&da));
    size_t sizes[N] = {5, 50, 500};
    char want[SK_ADDR_STRLEN], from[SK_ADDR_STRLEN];

    sk_dgram *out = make_batch(N, sizes, &to_v4), *in = make_slots(N, 1000);
    send_batch_ok(dual, out, N);
    collect(v4, in, N);
    snprintf(want, sizeof want, "127.0.0.1:%d", sk_addr_port(&da));
    for (int i = 0; i < N; i++) {
        cr_assert_eq(in[i].received, sizes[i]);
        assert_dgram_bytes(in[i].buf, i, sizes[i]);
        text_of(&in[i].addr, from);
        cr_assert_str_eq(from, want);
    }
    free_batch(out, N);
    free_batch(in, N);

    /* The other way: the dual-stack receiver reports its IPv4 sender as IPv4. */
    out = make_batch(N, sizes, &to_dual);
    in = make_slots(N, 1000);
    send_batch_ok(v4, out, N);
    collect(dual, in, N);
    text_of(&va, want);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(in[i].received, sizes[i]);
        assert_dgram_bytes(in[i].buf, i, sizes[i]);
        cr_assert_eq(sk_addr_family(&in[i].addr), 4);
        text_of(&in[i].addr, from);
        cr_assert_str_eq(from, want);
    }
    free_batch(out, N);
    free_batch(in, N);
    sk_udp_close(dual);
    sk_udp_close(v4);
}

Test(udp_batch, batches_over_ipv6_loopback_report_the_ipv6_source)
{
    enum { N = 3 };
    sk_udp *a = bind_on("::1"), *b = bind_on("::1");
    sk_addr aa = local_of(a), ba = local_of(b);
    size_t sizes[N] = {3, 33, 333};
    char want[SK_ADDR_STRLEN], from[SK_ADDR_STRLEN];

    sk_dgram *out = make_batch(N, sizes, &ba), *in = make_slots(N, 500);
    text_of(&aa, want);
    send_batch_ok(a, out, N);
    collect(b, in, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(in[i].received, sizes[i]);
        assert_dgram_bytes(in[i].buf, i, sizes[i]);
        cr_assert_eq(sk_addr_family(&in[i].addr), 6);
        text_of(&in[i].addr, from);
        cr_assert_str_eq(from, want);
    }
    free_batch(out, N);
    free_batch(in, N);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_batch, count_zero_succeeds_at_once_for_both_directions)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_dgram one;
    size_t n = 12345;
    int64_t t0;

    memset(&one, 0, sizeof one);
    cr_assert_eq(sk_udp_send_batch(a, NULL, 0, &n, WAIT_MS), SK_OK);
    cr_assert_eq(n, 0);
    n = 12345;
    cr_assert_eq(sk_udp_send_batch(a, &one, 0, &n, WAIT_MS), SK_OK);
    cr_assert_eq(n, 0);
    n = 12345;
    t0 = tu_now_ms();
    cr_assert_eq(sk_udp_recv_batch(a, NULL, 0, &n, WAIT_MS), SK_OK);
    cr_assert_eq(n, 0);
    n = 12345;
    cr_assert_eq(sk_udp_recv_batch(a, &one, 0, &n, WAIT_MS), SK_OK);
    cr_assert_eq(n, 0);
    tu_assert_took(t0, 0);
    sk_udp_close(a);
}

Test(udp_batch, receive_timeout_with_nothing_is_not_early)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_dgram *in = make_slots(8, 100);
    size_t n = 12345;
    int64_t t0 = tu_now_ms();

    int rc = sk_udp_recv_batch(a, in, 8, &n, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_assert_eq(errno, ETIMEDOUT);
    tu_assert_took(t0, 300);
    cr_assert_eq(n, 0);
    free_batch(in, 8);
    sk_udp_close(a);
}

Test(udp_batch, receive_with_timeout_zero_and_nothing_there_times_out_at_once)
{
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr ba = local_of(b);
    sk_dgram *in = make_slots(8, 100);
    size_t n = 12345, sizes[2] = {1, 2};
    int64_t t0 = tu_now_ms();

    cr_assert_eq(sk_udp_recv_batch(b, in, 8, &n, 0), SK_ETIMEDOUT);
    tu_assert_took(t0, 0);
    cr_assert_eq(n, 0);
    /* With datagrams there, timeout 0 takes them. */
    sk_dgram *out = make_batch(2, sizes, &ba);
    send_batch_ok(a, out, 2);
    tu_sleep_ms(50);
    n = 12345;
    cr_assert_eq(sk_udp_recv_batch(b, in, 8, &n, 0), SK_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(in[0].received, 1);
    cr_assert_eq(in[1].received, 2);
    free_batch(out, 2);
    free_batch(in, 8);
    sk_udp_close(a);
    sk_udp_close(b);
}

struct late_sender {
    sk_udp *u;
    sk_addr to;
    int rc;
};

static void *late_sender_thread(void *p)
{
    struct late_sender *ls = p;
    sk_dgram m;
    char late[] = "late";
    memset(&m, 0, sizeof m);
    m.buf = late;
    m.len = 4;
    m.addr = ls->to;
    tu_sleep_ms(150);
    ls->rc = sk_udp_send_batch(ls->u, &m, 1, NULL, WAIT_MS);
    return NULL;
}

Test(udp_batch, receive_waits_for_the_first_datagram_then_returns_without_waiting_for_more)
{
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    struct late_sender ls = {a, local_of(b), -100};
    sk_dgram *in = make_slots(8, 100);
    pthread_t th;
    size_t n = 12345;

    cr_assert_eq(pthread_create(&th, NULL, late_sender_thread, &ls), 0);
    int rc = sk_udp_recv_batch(b, in, 8, &n, 5000);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(ls.rc, SK_OK, "the sender: %s", sk_errname(ls.rc));
    cr_assert_eq(rc, SK_OK, "got %s", sk_errname(rc));
    cr_assert_eq(n, 1);
    cr_assert_eq(in[0].received, 4);
    cr_assert_arr_eq(in[0].buf, "late", 4);
    free_batch(in, 8);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(udp_batch, receive_on_a_connected_endpoint_after_sending_to_a_closed_port_is_econnrefused)
{
    sk_udp *gone = bind_on("127.0.0.1"), *cli = NULL;
    sk_addr ga = local_of(gone);
    sk_dgram one, *in = make_slots(4, 100);
    char ping[] = "ping";
    size_t n = 12345;

    sk_udp_close(gone); /* nothing listens there now */
    cr_assert_eq(sk_udp_connect(&cli, "127.0.0.1", sk_addr_port(&ga)), SK_OK);
    memset(&one, 0, sizeof one);
    one.buf = ping;
    one.len = 4;
    send_batch_ok(cli, &one, 1);
    int rc = sk_udp_recv_batch(cli, in, 4, &n, WAIT_MS);
    cr_assert_eq(rc, SK_ECONNREFUSED, "got %s", sk_errname(rc));
    cr_assert_eq(errno, ECONNREFUSED);
    cr_assert_eq(n, 0);
    free_batch(in, 4);
    sk_udp_close(cli);
}

Test(udp_batch, null_arguments_bad_slots_and_bad_timeouts_are_einval)
{
    sk_udp *a = bind_on("127.0.0.1");
    sk_addr aa = local_of(a);
    sk_dgram *in = make_slots(3, 100), out;
    char x[] = "x";
    size_t n;

    memset(&out, 0, sizeof out);
    out.buf = x;
    out.len = 1;
    out.addr = aa;

    n = 12345;
    cr_assert_eq(sk_udp_send_batch(a, NULL, 2, &n, WAIT_MS), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 12345;
    cr_assert_eq(sk_udp_send_batch(NULL, &out, 1, &n, WAIT_MS), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 12345;
    cr_assert_eq(sk_udp_send_batch(a, &out, 1, &n, -2), SK_EINVAL);
    cr_assert_eq(n, 0);

    n = 12345;
    cr_assert_eq(sk_udp_recv_batch(a, NULL, 2, &n, WAIT_MS), SK_EINVAL);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(n, 0);
    n = 12345;
    cr_assert_eq(sk_udp_recv_batch(NULL, in, 3, &n, WAIT_MS), SK_EINVAL);
    cr_assert_eq(n, 0);
    n = 12345;
    cr_assert_eq(sk_udp_recv_batch(a, in, 3, &n, -2), SK_EINVAL);
    cr_assert_eq(n, 0);
    /* A slot with a capacity and no buffer. */
    free(in[1].buf);
    in[1].buf = NULL;
    n = 12345;
    cr_assert_eq(sk_udp_recv_batch(a, in, 3, &n, WAIT_MS), SK_EINVAL);
    cr_assert_eq(n, 0);
    /* None of those calls sent anything: the endpoint has nothing waiting. */
    expect_no_datagram(a, 50);
    free_batch(in, 3);
    sk_udp_close(a);
}

Test(udp_batch, sent_and_received_counts_may_be_null)
{
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr ba = local_of(b);
    size_t sizes[2] = {9, 99};
    sk_dgram *out = make_batch(2, sizes, &ba), *in = make_slots(1, 200);

    cr_assert_eq(sk_udp_send_batch(a, out, 2, NULL, WAIT_MS), SK_OK);
    cr_assert_eq(sk_udp_recv_batch(b, in, 1, NULL, WAIT_MS), SK_OK);
    cr_assert_eq(in[0].received, 9);
    cr_assert_eq(sk_udp_recv_batch(b, in, 1, NULL, WAIT_MS), SK_OK);
    cr_assert_eq(in[0].received, 99);
    assert_dgram_bytes(in[0].buf, 1, 99);
    free_batch(out, 2);
    free_batch(in, 1);
    sk_udp_close(a);
    sk_udp_close(b);
}

/* Batches and single calls interoperate: what one sends, the other receives. */
Test(udp_batch, batches_interoperate_with_single_datagram_calls)
{
    sk_udp *a = bind_on("127.0.0.1"), *b = bind_on("127.0.0.1");
    sk_addr aa = local_of(a), ba = local_of(b);
    size_t sizes[3] = {12, 0, 1200}, got = 12345;
    sk_dgram *out = make_batch(3, sizes, &ba), *in = make_slots(3, 2000);
    unsigned char buf[2000];

    send_batch_ok(a, out, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(sk_udp_recvfrom(b, buf, sizeof buf, &got, NULL, WAIT_MS), SK_OK);
        cr_assert_eq(got, sizes[i]);
        assert_dgram_bytes(buf, i, sizes[i]);
    }
    for (int i = 0; i < 3; i++) {
        unsigned char *d = dgram_bytes(i, sizes[i]);
        cr_assert_eq(sk_udp_sendto(b, d, sizes[i], &aa, WAIT_MS), SK_OK);
        free(d);
    }
    collect(a, in, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(in[i].received, sizes[i]);
        assert_dgram_bytes(in[i].buf, i, sizes[i]);
    }
    free_batch(out, 3);
    free_batch(in, 3);
    sk_udp_close(a);
    sk_udp_close(b);
}
