/* Faults: the library under short transfers, EINTR and signal storms, spurious EAGAIN
 * and spurious wake-ups, failed allocations (each allocation site in turn) and running
 * out of descriptors. All but the last are injected by the LD_PRELOAD shim of
 * tests/shim (see faultshim.h for its modes); descriptors run out for real, through
 * RLIMIT_NOFILE. ctest preloads the shim;
 * run by hand, this program needs LD_PRELOAD=<build>/tests/libsk_faultshim.so, and
 * without it every test fails with a message saying so (it does not skip: a silent
 * skip would let the suite pass without testing anything).
 *
 * Every test sets its mode first (Criterion runs each test in its own process, so the
 * mode and the counters are the test's own) and checks the shim's counters, so that
 * no test can pass without faults having been injected. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "shim_util.h"

/* ---- the shim ---- */

/* After each test: what the shim injected (the figures of docs/RELIABILITY.md, with
 * --verbose), then the descriptor guard. */
static void faults_fini(void)
{
    if (shim_count_ != NULL && shim_count_("calls") > 0)
        cr_log_info("injected in %s: %lu socket calls seen; %lu short transfers, %lu EINTR, %lu EAGAIN, "
                    "%lu early and %lu false wake-ups",
                    criterion_current_test != NULL ? criterion_current_test->name : "?", shim_count_("calls"),
                    shim_count_("short"), shim_count_("eintr"), shim_count_("eagain"), shim_count_("early"),
                    shim_count_("false"));
    tu_fd_guard_end();
}

TestSuite(faults, .init = tu_fd_guard_begin, .fini = faults_fini, .timeout = 30);

/* ---- data ---- */

/* A byte that depends on its position, so lost, doubled or reordered bytes show. */
static unsigned char pat(size_t i)
{
    uint32_t x = (uint32_t)i * 2654435761u;
    return (unsigned char)((x >> 24) ^ (x >> 11) ^ i);
}

static unsigned char *pattern(size_t off, size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    cr_assert_not_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = pat(off + i);
    return b;
}

static void assert_pattern(const unsigned char *b, size_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(off + i))
            cr_assert_fail("byte %zu of %zu (stream offset %zu) is 0x%02x, expected 0x%02x", i, n, off + i,
                           b[i], pat(off + i));
}

/* ---- threads ---- */

/* Everything the peer sent until it closed, with faults off: returns the count and
 * checks the bytes against the pattern from offset 0. */
static size_t drain_until_closed(sk_tcp *conn, size_t limit)
{
    size_t cap = 1 << 16, total = 0, got;
    unsigned char *buf = malloc(cap);
    int rc;
    cr_assert_not_null(buf);
    for (;;) {
        rc = sk_tcp_recv(conn, buf, cap, &got, 5000);
        if (rc != SK_OK)
            break;
        cr_assert(got >= 1 && got <= cap, "sk_tcp_recv gave SK_OK with %zu bytes", got);
        assert_pattern(buf, total, got);
        total += got;
        cr_assert_leq(total, limit, "the peer received %zu bytes, more than the %zu sent", total, limit);
    }
    free(buf);
    cr_assert_eq(rc, SK_ECLOSED, "draining ended with %s, expected SK_ECLOSED", sk_errname(rc));
    cr_assert_eq(got, 0);
    return total;
}

/* ---- the shim itself ---- */

Test(faults, shim_clamps_stream_transfers_injects_eintr_and_leaves_datagrams_and_pipes_alone)
{
    sk_tcp *c, *s;
    sk_udp *u1, *u2;
    sk_addr a2;
    unsigned char *out = pattern(0, 1000), in[1200];
    size_t got;
    int fds[2];
    struct pollfd p;

    faults("short");
    tu_tcp_pair(NULL, &c, &s);
    for (int i = 0; i < 20; i++) {
        ssize_t k = send(sk_tcp_fd(c), out, 100, MSG_NOSIGNAL);
        cr_assert(k >= 1 && k <= 7, "a raw send of 100 bytes moved %zd under \"short\"", k);
    }
    cr_assert_eq(injected("send"), 20);
    cr_assert_eq(injected("short:send"), 20);

    /* Datagrams are never clamped. */
    cr_assert_eq(sk_udp_bind(&u1, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_bind(&u2, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(u2, &a2), SK_OK);
    cr_assert_eq(sk_udp_sendto(u1, out, 1000, &a2, 2000), SK_OK);
    cr_assert_eq(sk_udp_recvfrom(u2, in, sizeof in, &got, NULL, 2000), SK_OK);
    cr_assert_eq(got, 1000);
    assert_pattern(in, 0, 1000);
    cr_assert_geq(injected("sendto"), 1);
    cr_assert_geq(injected("recvfrom"), 1);
    cr_assert_eq(injected("short:sendto"), 0);
    cr_assert_eq(injected("short:recvfrom"), 0);

    /* "eintr=3": the 1st, 4th, 7th... call of each function fails and does nothing. */
    faults("eintr=3");
    for (int i = 0; i < 6; i++) {
        ssize_t k;
        errno = 0;
        k = send(sk_tcp_fd(s), out, 1, MSG_NOSIGNAL);
        if (i % 3 == 0)
            cr_assert(k == -1 && errno == EINTR, "send #%d: %zd, errno %d; expected EINTR", i, k, errno);
        else
            cr_assert_eq(k, 1, "send #%d: %zd, errno %d", i, k, errno);
    }
    cr_assert_eq(injected("eintr:send"), 2);
    cr_assert_eq(injected("eintr"), 2);

    /* Pipes (like Criterion's own channels) are never touched, nor counted. */
    faults("eintr=1");
    cr_assert_eq(pipe(fds), 0);
    p.fd = fds[0];
    p.events = POLLIN;
    p.revents = 0;
    cr_assert_eq(poll(&p, 1, 0), 0);
    cr_assert_eq(injected("poll"), 0);
    close(fds[0]);
    close(fds[1]);

    /* A typo in a counter name cannot pass an "== 0" check; bad modes are refused. */
    cr_assert_eq(shim_counter("recvfrm"), (unsigned long)-1);
    cr_assert_eq(shim_set("shrot"), -1);
    cr_assert_eq(shim_set("eintr=0"), -1);
    cr_assert_eq(shim_set("interrupt=x"), -1);
    free(out);
    sk_udp_close(u1);
    sk_udp_close(u2);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* ---- bulk transfers ---- */

#define MIB ((size_t)1 << 20)

static void megabyte_exchange(int main_sends)
{
    sk_tcp *c, *s;
    pthread_t th;
    unsigned char *out = pattern(0, MIB), *in = malloc(MIB);
    struct tu_xfer x;
    size_t done = 0;
    int rc;

    cr_assert_not_null(in);
    memset(in, 0, MIB);
    faults("short+eintr");
    tu_tcp_pair(NULL, &c, &s);
    memset(&x, 0, sizeof x);
    x.timeout_ms = 20000;
    if (main_sends) {
        x.conn = s;
        x.buf = in;
        x.len = MIB;
        cr_assert_eq(pthread_create(&th, NULL, tu_recv_exact_job, &x), 0);
        rc = sk_tcp_send_all(c, out, MIB, &done, 20000);
    } else {
        x.conn = c;
        x.buf = out;
        x.len = MIB;
        cr_assert_eq(pthread_create(&th, NULL, tu_send_all_job, &x), 0);
        rc = sk_tcp_recv_exact(s, in, MIB, &done, 20000);
    }
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(rc, SK_OK, "main thread: %s (errno %d) after %zu bytes", sk_errname(rc), errno, done);
    cr_assert_eq(x.rc, SK_OK, "helper thread: %s (errno %d) after %zu bytes", sk_errname(x.rc), x.err, x.done);
    cr_assert_eq(done, MIB);
    cr_assert_eq(x.done, MIB);
    assert_pattern(in, 0, MIB);
    /* At most 7 bytes per call: at least 1 MiB / 7 calls each way, nearly all clamped,
     * and one call in four interrupted. */
    cr_assert_geq(injected("short:send"), MIB / 8, "only %lu sends were clamped", injected("short:send"));
    cr_assert_geq(injected("short:recv"), MIB / 8, "only %lu receives were clamped", injected("short:recv"));
    cr_assert_geq(injected("eintr:send"), MIB / 7 / 4, "only %lu sends were interrupted", injected("eintr:send"));
    cr_assert_geq(injected("eintr:recv"), MIB / 7 / 4, "only %lu receives were interrupted", injected("eintr:recv"));
    free(out);
    free(in);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults, megabyte_from_a_sending_thread_arrives_intact_under_short_transfers_and_eintr)
{
    megabyte_exchange(0);
}

Test(faults, megabyte_to_a_receiving_thread_arrives_intact_under_short_transfers_and_eintr)
{
    megabyte_exchange(1);
}

/* ---- timeouts ---- */

Test(faults, recv_exact_timeout_ends_near_its_budget_under_eintr)
{
    sk_tcp *c, *s;
    unsigned char buf[100];
    size_t got = 12345;
    int64_t t0;
    int rc;

    faults("eintr");
    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    rc = sk_tcp_recv_exact(c, buf, sizeof buf, &got, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    cr_assert_eq(errno, ETIMEDOUT);
    tu_assert_took(t0, 300);
    cr_assert_eq(got, 0);
    cr_assert_geq(injected("eintr:recv"), 1, "no receive was interrupted");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults, recv_exact_timeout_keeps_partial_bytes_under_short_reads_and_eintr)
{
    sk_tcp *c, *s;
    unsigned char *out = pattern(0, 40), buf[100];
    size_t got = 12345, sent = 0;
    int64_t t0;
    int rc;

    faults("short+eintr");
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_send_all(s, out, 40, &sent, 2000), SK_OK);
    cr_assert_eq(sent, 40);
    t0 = tu_now_ms();
    rc = sk_tcp_recv_exact(c, buf, sizeof buf, &got, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_eq(got, 40, "recv_exact kept %zu bytes, 40 had arrived", got);
    assert_pattern(buf, 0, 40);
    cr_assert_geq(injected("short:recv"), 40 / 7, "only %lu receives were clamped", injected("short:recv"));
    cr_assert_geq(injected("eintr:recv"), 1, "no receive was interrupted");
    free(out);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* Every wait is interrupted after 40 ms, as by a timer signal: a retry that restarted
 * the budget would never end (the test's own timeout would fail it). */
Test(faults, recv_exact_timeout_counts_from_the_start_when_every_wait_is_interrupted)
{
    sk_tcp *c, *s;
    unsigned char buf[100];
    size_t got = 12345;
    int64_t t0;
    int rc;

    faults("interrupt=40");
    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    rc = sk_tcp_recv_exact(c, buf, sizeof buf, &got, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_eq(got, 0);
    cr_assert_geq(injected("eintr:recv"), 3, "only %lu receives were interrupted", injected("eintr:recv"));
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults, accept_timeout_counts_from_the_start_when_every_wait_is_interrupted)
{
    sk_tcp *l, *conn = (sk_tcp *)&conn;
    int64_t t0;
    int rc;

    faults("interrupt=40");
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    t0 = tu_now_ms();
    rc = sk_tcp_accept(l, &conn, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_null(conn);
    cr_assert_geq(injected("eintr:poll"), 3, "only %lu polls were interrupted", injected("eintr:poll"));
    sk_tcp_close(l);
}

/* ---- a peer that drips ---- */

struct drip {
    sk_tcp *conn;
    atomic_int stop;
    size_t sent;
    int rc;
};

static void *drip_thread(void *p)
{
    struct drip *d = p;
    /* One byte every 10 ms, for 3 s at most, until told to stop. */
    for (int i = 0; i < 300 && !atomic_load(&d->stop); i++) {
        unsigned char b = pat(d->sent);
        size_t n = 0;
        d->rc = sk_tcp_send_all(d->conn, &b, 1, &n, 2000);
        d->sent += n;
        if (d->rc != SK_OK)
            break;
        tu_sleep_ms(10);
    }
    return NULL;
}

Test(faults, recv_exact_from_a_drip_peer_stays_bounded_and_exact_under_faults)
{
    sk_tcp *c, *s;
    pthread_t th;
    struct drip d;
    unsigned char buf[1000];
    size_t got = 12345, rest = 12345;
    int64_t t0;
    int rc;

    /* Waits for the next drip (10 ms apart) are also interrupted after 5 ms. */
    faults("short+eintr+interrupt=5");
    tu_tcp_pair(NULL, &c, &s);
    memset(&d, 0, sizeof d);
    d.conn = s;
    atomic_init(&d.stop, 0);
    cr_assert_eq(pthread_create(&th, NULL, drip_thread, &d), 0);
    t0 = tu_now_ms();
    rc = sk_tcp_recv_exact(c, buf, sizeof buf, &got, 300);
    atomic_store(&d.stop, 1);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s after %zu bytes", sk_errname(rc), got);
    tu_assert_took(t0, 300);
    cr_assert_eq(d.rc, SK_OK, "the drip peer failed: %s", sk_errname(d.rc));
    cr_assert(got >= 1 && got <= d.sent, "recv_exact kept %zu bytes, the peer sent %zu", got, d.sent);
    assert_pattern(buf, 0, got);
    /* *received was exact: the rest of the stream follows on from there. */
    cr_assert_eq(sk_tcp_recv_exact(c, buf, d.sent - got, &rest, 3000), SK_OK);
    cr_assert_eq(rest, d.sent - got);
    assert_pattern(buf, got, rest);
    cr_assert_geq(injected("eintr:recv"), 1, "no receive was interrupted");
    cr_assert_geq(injected("eintr:send"), 1, "no send was interrupted");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* ---- accept and connect ---- */

struct dialer {
    int port;
    int rc;
};

static void *late_dialer_thread(void *p)
{
    struct dialer *d = p;
    sk_tcp *c = NULL;
    unsigned char ack;
    size_t n;
    tu_sleep_ms(100);
    d->rc = sk_tcp_connect(&c, "127.0.0.1", d->port, 5000);
    if (d->rc == SK_OK) {
        d->rc = sk_tcp_send_all(c, "hello", 5, &n, 5000);
        if (d->rc == SK_OK) /* wait for the acceptor to read it */
            d->rc = sk_tcp_recv_exact(c, &ack, 1, &n, 5000);
        sk_tcp_close(c);
    }
    return NULL;
}

Test(faults, accept_waits_through_interrupted_polls_under_eintr)
{
    sk_tcp *l, *s = NULL;
    sk_addr a;
    pthread_t th;
    struct dialer d;
    char buf[5];
    size_t got = 0, n = 0;
    int rc;

    faults("eintr");
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    d.port = sk_addr_port(&a);
    d.rc = -100;
    cr_assert_eq(pthread_create(&th, NULL, late_dialer_thread, &d), 0);
    rc = sk_tcp_accept(l, &s, 5000);
    if (rc == SK_OK) {
        cr_expect_eq(sk_tcp_recv_exact(s, buf, 5, &got, 5000), SK_OK);
        cr_expect_eq(sk_tcp_send_all(s, "!", 1, &n, 5000), SK_OK);
    }
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(rc, SK_OK, "accept: %s", sk_errname(rc));
    cr_assert_not_null(s);
    cr_assert_eq(d.rc, SK_OK, "the client: %s", sk_errname(d.rc));
    cr_assert_eq(got, 5);
    cr_assert_arr_eq(buf, "hello", 5);
    /* The accept itself and its wait were both interrupted at least once. */
    cr_assert_geq(injected("eintr:accept4"), 1, "no accept4 was interrupted");
    cr_assert_geq(injected("eintr:poll"), 1, "no poll was interrupted");
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(faults, connect_completes_and_refusal_is_exact_when_connect_reports_eintr)
{
    sk_tcp *l, *c = NULL, *s = NULL, *r = (sk_tcp *)&r;
    sk_addr la, peer;
    char t1[SK_ADDR_STRLEN], t2[SK_ADDR_STRLEN];
    unsigned char b[3];
    size_t n;
    int port, rc;

    /* Every other call interrupted: connect reports EINTR after it started the
     * attempt, which goes on in the background as after a real signal. */
    faults("eintr=2");
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &la), SK_OK);
    port = sk_addr_port(&la);
    rc = sk_tcp_connect(&c, "127.0.0.1", port, 5000);
    cr_assert_eq(rc, SK_OK, "connect: %s (errno %d)", sk_errname(rc), errno);
    cr_assert_eq(injected("eintr:connect"), 1, "connect was not interrupted");
    cr_assert_eq(sk_tcp_accept(l, &s, 5000), SK_OK);
    /* Really connected, to the right place, both ways. */
    cr_assert_eq(sk_tcp_peer_addr(c, &peer), SK_OK);
    cr_assert_eq(sk_addr_format(&peer, t1, sizeof t1), SK_OK);
    cr_assert_eq(sk_addr_format(&la, t2, sizeof t2), SK_OK);
    cr_assert_str_eq(t1, t2);
    cr_assert_eq(sk_tcp_send_all(c, "abc", 3, &n, 2000), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, b, 3, &n, 2000), SK_OK);
    cr_assert_arr_eq(b, "abc", 3);
    cr_assert_eq(sk_tcp_send_all(s, "xyz", 3, &n, 2000), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(c, b, 3, &n, 2000), SK_OK);
    cr_assert_arr_eq(b, "xyz", 3);
    sk_tcp_close(c);
    sk_tcp_close(s);

    /* Nothing listens any more: the interrupted attempt still ends as a refusal. */
    sk_tcp_close(l);
    faults("eintr=2");
    rc = sk_tcp_connect(&r, "127.0.0.1", port, 5000);
    cr_assert_eq(rc, SK_ECONNREFUSED, "connect to a closed port: %s (errno %d)", sk_errname(rc), errno);
    cr_assert_eq(errno, ECONNREFUSED);
    cr_assert_null(r);
    /* A non-blocking connect always starts (EINPROGRESS), so it was interrupted. */
    cr_assert_eq(injected("eintr:connect"), 1, "connect was not interrupted");
}

/* ---- UDP ---- */

static size_t dgram_size(int i)
{
    return (size_t)(i * 997) % 9000 + 1;
}

Test(faults, udp_datagrams_arrive_whole_under_short_transfers_and_eintr)
{
    sk_udp *a, *b;
    sk_addr aa, ba, from;
    char t1[SK_ADDR_STRLEN], t2[SK_ADDR_STRLEN];
    unsigned char *in = malloc(10000);
    size_t got;

    cr_assert_not_null(in);
    faults("short+eintr");
    cr_assert_eq(sk_udp_bind(&a, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_bind(&b, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(a, &aa), SK_OK);
    cr_assert_eq(sk_udp_local_addr(b, &ba), SK_OK);
    cr_assert_eq(sk_addr_format(&aa, t2, sizeof t2), SK_OK);
    /* One at a time, so that no socket buffer can overflow and drop one. */
    for (int i = 0; i < 24; i++) {
        size_t len = dgram_size(i);
        unsigned char *out = pattern((size_t)i * 7, len);
        int rc = sk_udp_sendto(a, out, len, &ba, 2000);
        cr_assert_eq(rc, SK_OK, "datagram %d (%zu bytes): %s", i, len, sk_errname(rc));
        got = 0;
        rc = sk_udp_recvfrom(b, in, 10000, &got, &from, 2000);
        cr_assert_eq(rc, SK_OK, "datagram %d (%zu bytes): %s", i, len, sk_errname(rc));
        cr_assert_eq(got, len, "datagram %d: %zu bytes arrived, %zu sent", i, got, len);
        assert_pattern(in, (size_t)i * 7, len);
        cr_assert_eq(sk_addr_format(&from, t1, sizeof t1), SK_OK);
        cr_assert_str_eq(t1, t2);
        free(out);
    }
    cr_assert_geq(injected("eintr:sendto"), 24 / 4, "only %lu sendto calls interrupted", injected("eintr:sendto"));
    cr_assert_geq(injected("eintr:recvfrom"), 24 / 4, "only %lu recvfrom calls interrupted",
                  injected("eintr:recvfrom"));
    cr_assert_eq(injected("short"), 0);
    free(in);
    sk_udp_close(a);
    sk_udp_close(b);
}

Test(faults, connected_udp_keeps_datagrams_whole_and_detects_truncation_under_eintr)
{
    sk_udp *srv, *cli;
    sk_addr sa, from;
    unsigned char *out = pattern(0, 3000), in[3000];
    size_t got;
    int rc;

    faults("short+eintr");
    cr_assert_eq(sk_udp_bind(&srv, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(srv, &sa), SK_OK);
    cr_assert_eq(sk_udp_connect(&cli, "127.0.0.1", sk_addr_port(&sa)), SK_OK);
    for (int i = 1; i <= 8; i++) {
        size_t len = (size_t)i * 300;
        cr_assert_eq(sk_udp_send(cli, out, len, 2000), SK_OK);
        rc = sk_udp_recvfrom(srv, in, sizeof in, &got, &from, 2000);
        cr_assert_eq(rc, SK_OK, "%s", sk_errname(rc));
        cr_assert_eq(got, len);
        assert_pattern(in, 0, len);
        /* The reply, to the connected endpoint. */
        cr_assert_eq(sk_udp_sendto(srv, out, len, &from, 2000), SK_OK);
        got = 0;
        rc = sk_udp_recv(cli, in, sizeof in, &got, 2000);
        cr_assert_eq(rc, SK_OK, "%s", sk_errname(rc));
        cr_assert_eq(got, len);
        assert_pattern(in, 0, len);
    }
    /* Too big for the buffer: said so, with the bytes kept. */
    cr_assert_eq(sk_udp_send(cli, out, 500, 2000), SK_OK);
    got = 0;
    rc = sk_udp_recv(srv, in, 100, &got, 2000);
    cr_assert_eq(rc, SK_ETRUNCATED, "%s", sk_errname(rc));
    cr_assert_eq(got, 100);
    assert_pattern(in, 0, 100);
    cr_assert_geq(injected("eintr:send"), 1, "no send was interrupted");
    cr_assert_geq(injected("eintr:recvfrom"), 1, "no recvfrom was interrupted");
    cr_assert_eq(injected("short"), 0);
    free(out);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

/* ---- progress counts on failure ---- */

/* The peer never reads until send_all has timed out; then everything it gets must be
 * exactly the *sent bytes reported. */
static void send_all_timeout_then_drain(const char *mode, size_t len, const char *counter, unsigned long least)
{
    sk_tcp *c, *s;
    unsigned char *out = pattern(0, len);
    size_t sent = 12345, total;
    int64_t t0;
    int rc;

    faults(mode);
    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    rc = sk_tcp_send_all(c, out, len, &sent, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s after %zu bytes", sk_errname(rc), sent);
    tu_assert_took(t0, 300);
    cr_assert(sent > 0 && sent < len, "send_all reports %zu of %zu bytes sent", sent, len);
    cr_assert_geq(injected(counter), least, "only %lu for %s", injected(counter), counter);
    faults("none");
    sk_tcp_close(c);
    total = drain_until_closed(s, len);
    cr_assert_eq(total, sent, "the peer received %zu bytes, send_all reported %zu", total, sent);
    free(out);
    sk_tcp_close(s);
}

Test(faults, send_all_reports_exact_sent_on_timeout_under_short_writes)
{
    send_all_timeout_then_drain("short+eintr", 16 * MIB, "short:send", 100);
}

Test(faults, send_all_reports_exact_sent_on_timeout_when_every_wait_is_interrupted)
{
    send_all_timeout_then_drain("interrupt=40", 96 * MIB, "eintr:send", 3);
}

Test(faults, recv_exact_reports_bytes_kept_when_peer_closes_midway_under_short_reads)
{
    sk_tcp *c, *s;
    unsigned char *out = pattern(0, 1000), *in = malloc(4000);
    size_t sent = 0, got = 12345;
    int rc;

    cr_assert_not_null(in);
    faults("short+eintr");
    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_send_all(s, out, 1000, &sent, 5000), SK_OK);
    cr_assert_eq(sent, 1000);
    sk_tcp_close(s);
    rc = sk_tcp_recv_exact(c, in, 4000, &got, 5000);
    cr_assert_eq(rc, SK_ECLOSED, "got %s", sk_errname(rc));
    cr_assert_eq(errno, ENOTCONN);
    cr_assert_eq(got, 1000);
    assert_pattern(in, 0, 1000);
    cr_assert_geq(injected("short:recv"), 1000 / 7, "only %lu receives were clamped", injected("short:recv"));
    cr_assert_geq(injected("eintr:recv"), 1000 / 7 / 4, "only %lu receives were interrupted",
                  injected("eintr:recv"));
    free(out);
    free(in);
    sk_tcp_close(c);
}

/* ---- single transfers ---- */

static void single_calls_under(const char *mode);

Test(faults, single_send_and_recv_move_one_to_seven_bytes_and_never_an_empty_success_under_short_mode)
{
    single_calls_under("short+eintr");
}

Test(faults, single_send_and_recv_stay_exact_under_short_transfers_eintr_and_spurious_eagain)
{
    single_calls_under("short+eintr+eagain");
    cr_assert_geq(injected("eagain:send"), 1, "no send failed with EAGAIN");
    cr_assert_geq(injected("eagain:recv"), 1, "no receive failed with EAGAIN");
}

static void single_calls_under(const char *mode)
{
    sk_tcp *c, *s;
    unsigned char *out = pattern(0, 300), in[300];
    size_t total = 0, n;
    int rc, calls = 0;

    faults(mode);
    tu_tcp_pair(NULL, &c, &s);
    while (total < 300) {
        n = 12345;
        rc = sk_tcp_send(s, out + total, 300 - total, &n, 2000);
        cr_assert_eq(rc, SK_OK, "sk_tcp_send: %s", sk_errname(rc));
        cr_assert(n >= 1 && n <= 7, "sk_tcp_send moved %zu bytes under \"short\"", n);
        total += n;
        cr_assert_leq(++calls, 300);
    }
    total = 0;
    calls = 0;
    while (total < 300) {
        n = 12345;
        rc = sk_tcp_recv(c, in + total, 64, &n, 2000);
        cr_assert_eq(rc, SK_OK, "sk_tcp_recv after %zu bytes: %s", total, sk_errname(rc));
        cr_assert(n >= 1 && n <= 7, "sk_tcp_recv gave %zu bytes under \"short\"", n);
        cr_assert_leq(total + n, 300);
        total += n;
        cr_assert_leq(++calls, 300);
    }
    assert_pattern(in, 0, 300);
    cr_assert_geq(calls, 300 / 7);
    sk_tcp_close(s);
    /* End of stream: SK_ECLOSED with nothing, never SK_OK with 0 bytes. */
    n = 12345;
    rc = sk_tcp_recv(c, in, 64, &n, 2000);
    cr_assert_eq(rc, SK_ECLOSED, "at end of stream: %s", sk_errname(rc));
    cr_assert_eq(n, 0);
    cr_assert_geq(injected("eintr:send"), 1);
    cr_assert_geq(injected("eintr:recv"), 1);
    free(out);
    sk_tcp_close(c);
}

/* ==================================================================================
 * Failed allocations: every allocation a call makes, failed in turn
 * ================================================================================== */

static sk_faultshim_alloc_arm_fn alloc_arm_;
static sk_faultshim_alloc_disarm_fn alloc_disarm_;
static sk_faultshim_alloc_report_fn alloc_report_;

/* Finds the shim's allocation controls, and makes sure its malloc is the one in use. */
static void alloc_shim(void)
{
    void *a = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_ALLOC_ARM_SYMBOL);
    void *d = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_ALLOC_DISARM_SYMBOL);
    void *r = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_ALLOC_REPORT_SYMBOL);
    sk_faultshim_alloc_stats st;
    void *volatile p;

    cr_assert(a != NULL && d != NULL && r != NULL,
              "the fault-injection shim is not loaded: run this program with "
              "LD_PRELOAD=<build>/tests/libsk_faultshim.so (ctest does)");
    memcpy(&alloc_arm_, &a, sizeof alloc_arm_);
    memcpy(&alloc_disarm_, &d, sizeof alloc_disarm_);
    memcpy(&alloc_report_, &r, sizeof alloc_report_);
    cr_assert_eq(alloc_arm_(0), 0, "the shim could not find the real malloc");
    p = malloc(24);
    alloc_disarm_();
    alloc_report_(&st);
    free(p);
    cr_assert_eq(st.allocations, 1,
                 "the shim does not see this program's malloc (%lu allocations counted): is a sanitizer "
                 "runtime linked in statically?", st.allocations);
}

/* The file (shared object or program) a code address belongs to. */
static const char *code_file(const void *addr)
{
    Dl_info info;
    if (addr == NULL || dladdr(addr, &info) == 0 || info.dli_fname == NULL)
        return "?";
    return info.dli_fname;
}

/* Is the allocation at this return address the library's own (libsockkit.so, or this
 * program for the static build), rather than the system's (the resolver in libc)? */
static int site_is_library(const void *caller)
{
    int (*fn)(sk_tcp **, const char *, int, int) = sk_tcp_connect;
    void *lib;
    memcpy(&lib, &fn, sizeof lib);
    return strcmp(code_file(caller), code_file(lib)) == 0;
}

/* One public call, driven through each of its allocations. ctx is the op's own. */
typedef struct nomem_op {
    const char *what;
    void (*before)(void *ctx);       /* unwatched: what the call needs; may be NULL */
    int (*call)(void *ctx);          /* watched */
    void (*after)(void *ctx, int rc); /* unwatched: checks the outcome, cleans up */
} nomem_op;

struct nomem_tally {
    unsigned long sites;     /* allocations the call makes when none fails */
    unsigned long library;   /* of them in the library: SK_ENOMEM */
    unsigned long system;    /* in the system (resolver): SK_ENOTFOUND / SK_ENOMEM */
    unsigned long recovered; /* system sites the system worked around: SK_OK */
};

static struct nomem_tally drive_nomem(const nomem_op *op, void *ctx)
{
    struct nomem_tally t;
    sk_faultshim_alloc_stats st;
    int rc;

    memset(&t, 0, sizeof t);
    alloc_shim();
    /* Once unwatched: the resolver reads its configuration and fills its caches. */
    if (op->before != NULL)
        op->before(ctx);
    rc = op->call(ctx);
    cr_assert_eq(rc, SK_OK, "%s without faults: %s", op->what, sk_errname(rc));
    op->after(ctx, rc);

    for (unsigned long nth = 1;; nth++) {
        int fds, err;
        cr_assert_leq(nth, 1000, "%s: more than 1000 allocations", op->what);
        if (op->before != NULL)
            op->before(ctx);
        fds = tu_count_fds();
        cr_assert_eq(alloc_arm_(nth), 0);
        errno = 0;
        rc = op->call(ctx);
        err = errno;
        alloc_disarm_();
        alloc_report_(&st);
        cr_assert(!st.overflow, "%s: too many blocks for the shim to follow", op->what);
        if (st.failed == 0) {
            /* Fewer than nth allocations: every one has been failed once. */
            cr_assert_eq(rc, SK_OK, "%s with no allocation failed: %s", op->what, sk_errname(rc));
            t.sites = nth - 1;
            op->after(ctx, rc);
            break;
        }
        if (site_is_library(st.fail_caller)) {
            t.library++;
            cr_assert_eq(rc, SK_ENOMEM, "%s, allocation %lu of the library failed: %s, expected SK_ENOMEM", op->what,
                         nth, sk_errname(rc));
            cr_assert_eq(err, ENOMEM, "%s, allocation %lu failed: errno %d, expected ENOMEM", op->what, nth, err);
        } else {
            /* getaddrinfo's own: any resolver failure is SK_ENOTFOUND (error.h), and the
             * system may also work around it. */
            t.system++;
            cr_assert(rc == SK_ENOTFOUND || rc == SK_ENOMEM || rc == SK_OK,
                      "%s, allocation %lu (in %s) failed: %s", op->what, nth, code_file(st.fail_caller),
                      sk_errname(rc));
            if (rc == SK_OK)
                t.recovered++;
        }
        if (rc != SK_OK) {
            cr_assert_eq(st.live, 0, "%s, allocation %lu failed: %s, and %lu blocks it allocated are still there",
                         op->what, nth, sk_errname(rc), st.live);
            cr_assert_eq(tu_count_fds(), fds, "%s, allocation %lu failed: %d descriptors before, %d after",
                         op->what, nth, fds, tu_count_fds());
        }
        op->after(ctx, rc);
        /* Whatever the call allocated is freed once its result is closed. */
        alloc_report_(&st);
        cr_assert_eq(st.live, 0, "%s, allocation %lu failed (%s): %lu blocks still allocated after cleanup",
                     op->what, nth, sk_errname(rc), st.live);
    }
    cr_log_info("ENOMEM: %s makes %lu allocations; each failed in turn: %lu in the library -> SK_ENOMEM, "
                "%lu in the system resolver -> SK_ENOTFOUND (%lu worked around by the system: SK_OK)",
                op->what, t.sites, t.library, t.system, t.recovered);
    return t;
}

/* ---- TCP connect ---- */

struct connect_ctx {
    sk_tcp *listener;
    const char *host;
    int port;
    sk_tcp *conn;
};

static int op_connect(void *p)
{
    struct connect_ctx *c = p;
    c->conn = (sk_tcp *)&c->conn; /* must be overwritten */
    return sk_tcp_connect(&c->conn, c->host, c->port, 5000);
}

/* Accepts whatever waits (a connection the library made and then had to drop
 * included), and with an endpoint in hand checks that it is connected both ways. */
static void after_connect(void *p, int rc)
{
    struct connect_ctx *c = p;
    sk_tcp *s;
    size_t n;
    unsigned char b = 0;
    if (rc != SK_OK) {
        cr_assert_null(c->conn, "a failed connect left *conn set");
        while (sk_tcp_accept(c->listener, &s, 0) == SK_OK)
            sk_tcp_close(s); /* what the failed call had connected, then closed */
        return;
    }
    cr_assert_not_null(c->conn);
    cr_assert_eq(sk_tcp_accept(c->listener, &s, 5000), SK_OK);
    cr_assert_eq(sk_tcp_send_all(c->conn, "c", 1, &n, 2000), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, &b, 1, &n, 2000), SK_OK);
    cr_assert_eq(b, 'c');
    sk_tcp_close(s);
    sk_tcp_close(c->conn);
    c->conn = NULL;
}

static void connect_under_nomem(const char *listen_host, const char *host, const char *what)
{
    struct connect_ctx c;
    sk_addr a;
    nomem_op op = {what, NULL, op_connect, after_connect};
    struct nomem_tally t;
    memset(&c, 0, sizeof c);
    cr_assert_eq(sk_tcp_listen(&c.listener, listen_host, 0, 64), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(c.listener, &a), SK_OK);
    c.host = host;
    c.port = sk_addr_port(&a);
    t = drive_nomem(&op, &c);
    cr_assert_geq(t.library, 1, "%s: no allocation of the library's own was seen", what);
    sk_tcp_close(c.listener);
}

Test(faults, connect_to_a_numeric_address_fails_cleanly_at_each_allocation)
{
    connect_under_nomem("127.0.0.1", "127.0.0.1", "sk_tcp_connect(\"127.0.0.1\")");
}

/* Names ("localhost") are not driven through failed allocations: when an allocation
 * of glibc's files backend fails, NSS goes on to the next source in nsswitch.conf, and
 * with "hosts: files dns" that is a DNS query to the configured name server (seen with
 * strace: "localhost" sent to port 53 off the machine). These tests stay on loopback. */

/* ---- TCP listen and accept ---- */

struct listen_ctx {
    const char *host;
    sk_tcp *listener;
};

static int op_listen(void *p)
{
    struct listen_ctx *c = p;
    c->listener = (sk_tcp *)&c->listener;
    return sk_tcp_listen(&c->listener, c->host, 0, 4);
}

static void after_listen(void *p, int rc)
{
    struct listen_ctx *c = p;
    sk_addr a;
    if (rc != SK_OK) {
        cr_assert_null(c->listener, "a failed listen left *listener set");
        return;
    }
    cr_assert_eq(sk_tcp_local_addr(c->listener, &a), SK_OK);
    cr_assert_gt(sk_addr_port(&a), 0);
    sk_tcp_close(c->listener);
    c->listener = NULL;
}

Test(faults, listen_fails_cleanly_at_each_allocation)
{
    struct listen_ctx c = {"127.0.0.1", NULL}, any = {NULL, NULL}, v6 = {"::1", NULL};
    nomem_op op = {"sk_tcp_listen(\"127.0.0.1\")", NULL, op_listen, after_listen};
    nomem_op op_any = {"sk_tcp_listen(NULL)", NULL, op_listen, after_listen};
    nomem_op op_v6 = {"sk_tcp_listen(\"::1\")", NULL, op_listen, after_listen};
    cr_assert_geq(drive_nomem(&op, &c).library, 1);
    cr_assert_geq(drive_nomem(&op_any, &any).library, 1);
    cr_assert_geq(drive_nomem(&op_v6, &v6).library, 1);
}

struct accept_ctx {
    sk_tcp *listener;
    int port;
    sk_tcp *client;
    sk_tcp *conn;
};

static void before_accept(void *p)
{
    struct accept_ctx *c = p;
    size_t n;
    cr_assert_eq(sk_tcp_connect(&c->client, "127.0.0.1", c->port, 5000), SK_OK);
    cr_assert_eq(sk_tcp_send_all(c->client, "hi", 2, &n, 2000), SK_OK);
}

static int op_accept(void *p)
{
    struct accept_ctx *c = p;
    c->conn = (sk_tcp *)&c->conn;
    return sk_tcp_accept(c->listener, &c->conn, 5000);
}

static void after_accept(void *p, int rc)
{
    struct accept_ctx *c = p;
    unsigned char b[2];
    size_t n = 0;
    if (rc == SK_OK) {
        cr_assert_not_null(c->conn);
        cr_assert_eq(sk_tcp_recv_exact(c->conn, b, 2, &n, 2000), SK_OK);
        cr_assert_arr_eq(b, "hi", 2);
        cr_assert_eq(sk_tcp_send_all(c->conn, "!", 1, &n, 2000), SK_OK);
        cr_assert_eq(sk_tcp_recv_exact(c->client, b, 1, &n, 2000), SK_OK);
        cr_assert_eq(b[0], '!');
        sk_tcp_close(c->conn);
    } else {
        /* The connection the library took and could not keep is closed: its client
         * sees the end (a reset, as the server never read what it sent). */
        int r;
        cr_assert_null(c->conn, "a failed accept left *conn set");
        r = sk_tcp_recv(c->client, b, sizeof b, &n, 2000);
        cr_assert(r == SK_ECLOSED || r == SK_ECONNRESET, "the dropped client's receive: %s", sk_errname(r));
    }
    sk_tcp_close(c->client);
    c->client = NULL;
    c->conn = NULL;
}

Test(faults, accept_fails_cleanly_at_each_allocation_and_the_listener_keeps_accepting)
{
    struct accept_ctx c;
    sk_addr a;
    nomem_op op = {"sk_tcp_accept", before_accept, op_accept, after_accept};
    memset(&c, 0, sizeof c);
    cr_assert_eq(sk_tcp_listen(&c.listener, "127.0.0.1", 0, 16), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(c.listener, &a), SK_OK);
    c.port = sk_addr_port(&a);
    cr_assert_geq(drive_nomem(&op, &c).library, 1);
    sk_tcp_close(c.listener);
}

/* ---- TCP delimited reads: the read buffer is allocated by the first call ---- */

struct until_ctx {
    sk_tcp *c, *s;
    char buf[64];
    size_t len;
};

static void before_until(void *p)
{
    struct until_ctx *u = p;
    size_t n;
    tu_tcp_pair(NULL, &u->c, &u->s);
    cr_assert_eq(sk_tcp_send_all(u->s, "hello\nworld\n", 12, &n, 2000), SK_OK);
}

static int op_until(void *p)
{
    struct until_ctx *u = p;
    u->len = 12345;
    return sk_tcp_recv_until(u->c, '\n', u->buf, sizeof u->buf, &u->len, 2000);
}

static void after_until(void *p, int rc)
{
    struct until_ctx *u = p;
    if (rc == SK_OK) {
        cr_assert_eq(u->len, 6);
        cr_assert_arr_eq(u->buf, "hello\n", 6);
    } else {
        /* Nothing was read: the whole stream is still there. */
        cr_assert_eq(u->len, 0, "a failed recv_until reports %zu bytes", u->len);
        cr_assert_eq(sk_tcp_buffered(u->c), 0);
        cr_assert_eq(sk_tcp_recv_until(u->c, '\n', u->buf, sizeof u->buf, &u->len, 2000), SK_OK);
        cr_assert_eq(u->len, 6);
        cr_assert_arr_eq(u->buf, "hello\n", 6);
    }
    cr_assert_eq(sk_tcp_recv_until(u->c, '\n', u->buf, sizeof u->buf, &u->len, 2000), SK_OK);
    cr_assert_eq(u->len, 6);
    cr_assert_arr_eq(u->buf, "world\n", 6);
    sk_tcp_close(u->c);
    sk_tcp_close(u->s);
}

Test(faults, recv_until_fails_cleanly_when_its_read_buffer_cannot_be_allocated_and_loses_nothing)
{
    struct until_ctx u;
    nomem_op op = {"sk_tcp_recv_until (first call)", before_until, op_until, after_until};
    struct nomem_tally t;
    memset(&u, 0, sizeof u);
    t = drive_nomem(&op, &u);
    cr_assert_eq(t.sites, 1, "the first recv_until made %lu allocations, expected its one read buffer", t.sites);
    cr_assert_eq(t.library, 1);
}

/* ---- UDP ---- */

struct udp_ctx {
    const char *host;
    int port;      /* sk_udp_connect's peer port, or 0 for sk_udp_bind */
    sk_udp *peer;  /* the bound peer of a connect */
    sk_udp *u;
};

static int op_udp(void *p)
{
    struct udp_ctx *c = p;
    c->u = (sk_udp *)&c->u;
    return c->port != 0 ? sk_udp_connect(&c->u, c->host, c->port) : sk_udp_bind(&c->u, c->host, 0);
}

static void after_udp(void *p, int rc)
{
    struct udp_ctx *c = p;
    char b[4];
    size_t n = 0;
    if (rc != SK_OK) {
        cr_assert_null(c->u, "a failed UDP call left *udp set");
        return;
    }
    if (c->port != 0) {
        /* Connected: a datagram reaches the peer. */
        cr_assert_eq(sk_udp_send(c->u, "dgr", 3, 2000), SK_OK);
        cr_assert_eq(sk_udp_recv(c->peer, b, sizeof b, &n, 2000), SK_OK);
        cr_assert_eq(n, 3);
    } else {
        sk_addr a;
        cr_assert_eq(sk_udp_local_addr(c->u, &a), SK_OK);
        cr_assert_gt(sk_addr_port(&a), 0);
    }
    sk_udp_close(c->u);
    c->u = NULL;
}

Test(faults, udp_bind_and_connect_fail_cleanly_at_each_allocation)
{
    struct udp_ctx b = {"127.0.0.1", 0, NULL, NULL}, any = {NULL, 0, NULL, NULL}, c;
    nomem_op op_b = {"sk_udp_bind(\"127.0.0.1\")", NULL, op_udp, after_udp};
    nomem_op op_any = {"sk_udp_bind(NULL)", NULL, op_udp, after_udp};
    nomem_op op_c = {"sk_udp_connect(\"127.0.0.1\")", NULL, op_udp, after_udp};
    sk_addr a;
    cr_assert_geq(drive_nomem(&op_b, &b).library, 1);
    cr_assert_geq(drive_nomem(&op_any, &any).library, 1);
    memset(&c, 0, sizeof c);
    c.host = "127.0.0.1";
    cr_assert_eq(sk_udp_bind(&c.peer, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(c.peer, &a), SK_OK);
    c.port = sk_addr_port(&a);
    cr_assert_geq(drive_nomem(&op_c, &c).library, 1);
    sk_udp_close(c.peer);
}

/* ---- name resolution ---- */

struct resolve_ctx {
    const char *host;
    sk_addr addr;
};

static int op_resolve(void *p)
{
    struct resolve_ctx *c = p;
    memset(&c->addr, 0xA5, sizeof c->addr);
    return sk_addr_resolve(&c->addr, c->host, 80);
}

static void after_resolve(void *p, int rc)
{
    struct resolve_ctx *c = p;
    if (rc == SK_OK) {
        cr_assert_eq(sk_addr_port(&c->addr), 80);
        return;
    }
    for (size_t i = 0; i < sizeof c->addr; i++)
        cr_assert_eq(((unsigned char *)&c->addr)[i], 0, "a failed resolve left the address non-empty");
}

Test(faults, resolve_fails_cleanly_at_each_allocation_of_the_resolver)
{
    struct resolve_ctx v4 = {"127.0.0.1", {{{0}}, 0, 0}}, v6 = {"::1", {{{0}}, 0, 0}};
    nomem_op op_v4 = {"sk_addr_resolve(\"127.0.0.1\")", NULL, op_resolve, after_resolve};
    nomem_op op_v6 = {"sk_addr_resolve(\"::1\")", NULL, op_resolve, after_resolve};
    struct nomem_tally t1 = drive_nomem(&op_v4, &v4), t2 = drive_nomem(&op_v6, &v6);
    /* The library allocates nothing of its own here; getaddrinfo does. */
    cr_assert_eq(t1.library + t2.library, 0);
    cr_assert_geq(t1.sites + t2.sites, 1, "getaddrinfo allocated nothing?");
}

/* ---- the poller ---- */

struct poller_ctx {
    sk_poller *p;
    sk_tcp *c, *s;
};

static int op_poller_create(void *p)
{
    struct poller_ctx *c = p;
    c->p = (sk_poller *)&c->p;
    return sk_poller_create(&c->p);
}

static void after_poller_create(void *p, int rc)
{
    struct poller_ctx *c = p;
    sk_event ev[4];
    size_t n = 0;
    if (rc != SK_OK) {
        cr_assert_null(c->p, "a failed sk_poller_create left *poller set");
        return;
    }
    /* It works: a wake-up comes back. */
    cr_assert_eq(sk_poller_wake(c->p), SK_OK);
    cr_assert_eq(sk_poller_wait(c->p, ev, 4, &n, 2000), SK_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ev[0].events, SK_POLL_WAKE);
    sk_poller_close(c->p);
    c->p = NULL;
}

static void before_poller_add(void *p)
{
    struct poller_ctx *c = p;
    size_t n;
    cr_assert_eq(sk_poller_create(&c->p), SK_OK);
    tu_tcp_pair(NULL, &c->c, &c->s);
    cr_assert_eq(sk_tcp_send_all(c->s, "x", 1, &n, 2000), SK_OK);
}

static int op_poller_add(void *p)
{
    struct poller_ctx *c = p;
    return sk_poller_add_tcp(c->p, c->c, SK_POLL_IN, c);
}

static void after_poller_add(void *p, int rc)
{
    struct poller_ctx *c = p;
    sk_event ev[4];
    size_t n = 0;
    if (rc == SK_OK) {
        cr_assert_eq(sk_poller_wait(c->p, ev, 4, &n, 2000), SK_OK);
        cr_assert_eq(n, 1);
        cr_assert_eq(ev[0].tcp, c->c);
        cr_assert_eq(ev[0].data, c);
    } else {
        /* Not registered; registering again works. */
        cr_assert_eq(sk_poller_add_tcp(c->p, c->c, SK_POLL_IN, c), SK_OK);
    }
    sk_poller_close(c->p);
    sk_tcp_close(c->c);
    sk_tcp_close(c->s);
}

Test(faults, poller_create_and_add_fail_cleanly_at_each_allocation)
{
    struct poller_ctx c;
    nomem_op op_create = {"sk_poller_create", NULL, op_poller_create, after_poller_create};
    nomem_op op_add = {"sk_poller_add_tcp", before_poller_add, op_poller_add, after_poller_add};
    memset(&c, 0, sizeof c);
    cr_assert_geq(drive_nomem(&op_create, &c).library, 1);
    memset(&c, 0, sizeof c);
    (void)drive_nomem(&op_add, &c);
}

/* ---- calls that must not allocate at all ---- */

static unsigned long allocations_of_next(void)
{
    sk_faultshim_alloc_stats st;
    alloc_disarm_();
    alloc_report_(&st);
    return st.allocations;
}

/* Runs expr with the first allocation armed to fail: it must make none, and give rc. */
#define NO_ALLOC(expected, expr)                                                            \
    do {                                                                                    \
        int na_rc_;                                                                         \
        unsigned long na_n_;                                                                \
        cr_assert_eq(alloc_arm_(1), 0);                                                     \
        na_rc_ = (expr);                                                                    \
        na_n_ = allocations_of_next();                                                      \
        cr_assert_eq(na_n_, 0, "%s made %lu allocations", #expr, na_n_);                   \
        cr_assert_eq(na_rc_, (expected), "%s: %s", #expr, sk_errname(na_rc_));              \
        checked_++;                                                                         \
    } while (0)

Test(faults, transfers_waits_and_queries_never_allocate)
{
    sk_tcp *l, *c, *s, *none = NULL;
    sk_udp *u1, *u2, *uc;
    sk_poller *p;
    sk_addr a, a2, from;
    sk_event ev[4];
    sk_dgram d[2];
    sk_iovec iov[2] = {{"ab", 2}, {"cd\n", 3}};
    char buf[256], text[SK_ADDR_STRLEN];
    size_t n = 0;
    int checked_ = 0;

    alloc_shim();
    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_udp_bind(&u1, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_bind(&u2, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(u2, &a2), SK_OK);
    cr_assert_eq(sk_udp_connect(&uc, "127.0.0.1", sk_addr_port(&a2)), SK_OK);
    cr_assert_eq(sk_poller_create(&p), SK_OK);
    /* The read buffer exists after one recv_until. */
    cr_assert_eq(sk_tcp_send_all(s, "0\n", 2, &n, 2000), SK_OK);
    cr_assert_eq(sk_tcp_recv_until(c, '\n', buf, sizeof buf, &n, 2000), SK_OK);

    NO_ALLOC(SK_OK, sk_tcp_send_all(s, "hello", 5, &n, 2000));
    NO_ALLOC(SK_OK, sk_tcp_recv_exact(c, buf, 5, &n, 2000));
    NO_ALLOC(SK_OK, sk_tcp_send(s, "x", 1, &n, 2000));
    NO_ALLOC(SK_OK, sk_tcp_recv(c, buf, sizeof buf, &n, 2000));
    NO_ALLOC(SK_OK, sk_tcp_send_allv(s, iov, 2, &n, 2000));
    NO_ALLOC(SK_OK, sk_tcp_recv_until(c, '\n', buf, sizeof buf, &n, 2000));
    cr_assert_arr_eq(buf, "abcd\n", 5);
    NO_ALLOC(SK_ETIMEDOUT, sk_tcp_recv(c, buf, sizeof buf, &n, 50));
    NO_ALLOC(0, (int)sk_tcp_buffered(c));
    NO_ALLOC(SK_OK, sk_tcp_local_addr(c, &a));
    NO_ALLOC(SK_OK, sk_tcp_peer_addr(c, &a));
    NO_ALLOC(SK_OK, sk_tcp_set_nodelay(c, 1));
    NO_ALLOC(SK_ETIMEDOUT, sk_tcp_accept(l, &none, 50));
    NO_ALLOC(SK_OK, sk_addr_format(&a, text, sizeof text));
    NO_ALLOC(SK_OK, sk_addr_parse(&a, text));
    NO_ALLOC(SK_OK, sk_addr_from_sockaddr(&a, sk_addr_sockaddr(&a2, NULL), sizeof(struct sockaddr_in)));
    NO_ALLOC(SK_OK, sk_udp_sendto(u1, "d1", 2, &a2, 2000));
    NO_ALLOC(SK_OK, sk_udp_recvfrom(u2, buf, sizeof buf, &n, &from, 2000));
    NO_ALLOC(SK_OK, sk_udp_send(uc, "d2", 2, 2000));
    NO_ALLOC(SK_OK, sk_udp_recv(u2, buf, sizeof buf, &n, 2000));
    memset(d, 0, sizeof d);
    d[0].buf = "b1";
    d[0].len = 2;
    d[0].addr = a2;
    d[1].buf = "b2";
    d[1].len = 2;
    d[1].addr = a2;
    NO_ALLOC(SK_OK, sk_udp_send_batch(u1, d, 2, &n, 2000));
    {
        char b1[8], b2[8];
        size_t got = 0, total = 0;
        memset(d, 0, sizeof d);
        d[0].buf = b1;
        d[0].len = sizeof b1;
        d[1].buf = b2;
        d[1].len = sizeof b2;
        while (total < 2) {
            NO_ALLOC(SK_OK, sk_udp_recv_batch(u2, d + total, 2 - total, &got, 2000));
            total += got;
        }
    }
    NO_ALLOC(SK_OK, sk_udp_local_addr(u1, &a));
    NO_ALLOC(SK_OK, sk_poller_add_tcp(p, c, SK_POLL_IN, NULL));
    NO_ALLOC(SK_OK, sk_poller_mod_tcp(p, c, SK_POLL_IN | SK_POLL_OUT, NULL));
    NO_ALLOC(SK_OK, sk_poller_wait(p, ev, 4, &n, 2000));
    NO_ALLOC(SK_OK, sk_poller_wake(p));
    NO_ALLOC(SK_OK, sk_poller_del_tcp(p, c));
    NO_ALLOC(SK_OK, sk_tcp_shutdown(c, SK_SHUT_WR));
    NO_ALLOC(0, (int)(sk_strerror(SK_ENOMEM) == NULL) + (int)(sk_errname(-1000) == NULL));
    cr_log_info("ENOMEM: %d calls checked to make no allocation", checked_);
    sk_poller_close(p);
    sk_udp_close(uc);
    sk_udp_close(u1);
    sk_udp_close(u2);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

/* ==================================================================================
 * Spurious EAGAIN: a blocking call that comes back with nothing before its deadline
 * ================================================================================== */

/* A generalised megabyte exchange: one thread sends, the main thread receives (or the
 * other way round), under mode; the counters named must have moved. */
static void megabyte_under(const char *mode, int main_sends, const char *c1, const char *c2, unsigned long least)
{
    sk_tcp *c, *s;
    pthread_t th;
    unsigned char *out = pattern(0, MIB), *in = calloc(1, MIB);
    struct tu_xfer x;
    size_t done = 0;
    int rc;

    cr_assert_not_null(in);
    faults(mode);
    tu_tcp_pair(NULL, &c, &s);
    memset(&x, 0, sizeof x);
    x.timeout_ms = 30000;
    x.len = MIB;
    if (main_sends) {
        x.conn = s;
        x.buf = in;
        cr_assert_eq(pthread_create(&th, NULL, tu_recv_exact_job, &x), 0);
        rc = sk_tcp_send_all(c, out, MIB, &done, 30000);
    } else {
        x.conn = c;
        x.buf = out;
        cr_assert_eq(pthread_create(&th, NULL, tu_send_all_job, &x), 0);
        rc = sk_tcp_recv_exact(s, in, MIB, &done, 30000);
    }
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(rc, SK_OK, "main thread under %s: %s (errno %d) after %zu bytes", mode, sk_errname(rc), errno, done);
    cr_assert_eq(x.rc, SK_OK, "helper thread under %s: %s after %zu bytes", mode, sk_errname(x.rc), x.done);
    cr_assert_eq(done, MIB);
    cr_assert_eq(x.done, MIB);
    assert_pattern(in, 0, MIB);
    cr_assert_geq(injected(c1), least, "only %lu for %s", injected(c1), c1);
    cr_assert_geq(injected(c2), least, "only %lu for %s", injected(c2), c2);
    free(out);
    free(in);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults, megabyte_arrives_intact_when_sends_and_receives_fail_with_spurious_eagain)
{
    /* Without short transfers a megabyte takes few calls: every one fails once. */
    megabyte_under("eagain=2", 1, "eagain:send", "eagain:recv", 1);
}

Test(faults, megabyte_arrives_intact_under_short_transfers_eintr_and_spurious_eagain_together)
{
    megabyte_under("short+eintr+eagain", 0, "eagain:send", "eagain:recv", 1000);
}

Test(faults, recv_exact_waits_its_whole_budget_when_receives_fail_with_spurious_eagain)
{
    sk_tcp *c, *s;
    unsigned char buf[16];
    size_t got = 12345;
    int64_t t0;
    int rc;

    /* Every other receive comes back at once with EAGAIN, as if its wait had ended. */
    faults("eagain=2");
    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    rc = sk_tcp_recv_exact(c, buf, sizeof buf, &got, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_eq(got, 0);
    cr_assert_geq(injected("eagain:recv"), 1, "no receive failed with EAGAIN");
    sk_tcp_close(c);
    sk_tcp_close(s);
}

struct late_send {
    sk_tcp *conn;
    int delay_ms;
    const char *text;
    int rc;
};

static void *late_send_thread(void *p)
{
    struct late_send *l = p;
    size_t n;
    tu_sleep_ms(l->delay_ms);
    l->rc = sk_tcp_send_all(l->conn, l->text, strlen(l->text), &n, 5000);
    return NULL;
}

Test(faults, single_recv_and_recv_until_wait_for_late_data_through_spurious_eagain)
{
    sk_tcp *c, *s;
    pthread_t th;
    struct late_send l;
    char buf[64];
    size_t n = 12345;
    int rc;

    faults("eagain=2");
    tu_tcp_pair(NULL, &c, &s);
    l.conn = s;
    l.delay_ms = 150;
    l.text = "late";
    cr_assert_eq(pthread_create(&th, NULL, late_send_thread, &l), 0);
    rc = sk_tcp_recv(c, buf, sizeof buf, &n, 5000);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(rc, SK_OK, "sk_tcp_recv: %s", sk_errname(rc));
    cr_assert(n >= 1 && n <= 4);
    cr_assert_eq(sk_tcp_recv_exact(c, buf + n, 4 - n, &n, 2000), SK_OK);
    cr_assert_arr_eq(buf, "late", 4);

    l.text = "line one\n";
    cr_assert_eq(pthread_create(&th, NULL, late_send_thread, &l), 0);
    rc = sk_tcp_recv_until(c, '\n', buf, sizeof buf, &n, 5000);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(rc, SK_OK, "sk_tcp_recv_until: %s", sk_errname(rc));
    cr_assert_eq(n, 9);
    cr_assert_arr_eq(buf, "line one\n", 9);
    cr_assert_geq(injected("eagain:recv"), 2, "only %lu receives failed with EAGAIN", injected("eagain:recv"));
    cr_assert_eq(l.rc, SK_OK);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults, send_allv_and_recv_until_keep_every_byte_under_short_transfers_eintr_and_eagain)
{
    enum { LINES = 300 };
    sk_tcp *c, *s;
    sk_iovec iov[3];
    char head[32], body[200], line[300];
    size_t n;

    faults("short+eintr+eagain");
    tu_tcp_pair(NULL, &c, &s);
    for (int i = 0; i < LINES; i++) {
        int hl = snprintf(head, sizeof head, "%d:", i), bl = i % 150;
        for (int k = 0; k < bl; k++)
            body[k] = (char)('a' + (i + k) % 26);
        iov[0].base = head;
        iov[0].len = (size_t)hl;
        iov[1].base = body;
        iov[1].len = (size_t)bl;
        iov[2].base = "\n";
        iov[2].len = 1;
        cr_assert_eq(sk_tcp_send_allv(s, iov, 3, &n, 5000), SK_OK, "line %d", i);
        cr_assert_eq(n, (size_t)hl + (size_t)bl + 1);
        n = 0;
        cr_assert_eq(sk_tcp_recv_until(c, '\n', line, sizeof line, &n, 5000), SK_OK, "line %d", i);
        cr_assert_eq(n, (size_t)hl + (size_t)bl + 1, "line %d: %zu bytes", i, n);
        cr_assert_arr_eq(line, head, (size_t)hl);
        cr_assert_arr_eq(line + hl, body, (size_t)bl);
        cr_assert_eq(line[n - 1], '\n');
    }
    cr_assert_geq(injected("eagain:sendmsg"), 10, "only %lu sendmsg calls failed with EAGAIN",
                  injected("eagain:sendmsg"));
    cr_assert_geq(injected("eagain:recv"), 10, "only %lu receives failed with EAGAIN", injected("eagain:recv"));
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults, accept_takes_a_waiting_client_through_spurious_eagain)
{
    sk_tcp *l, *s = NULL;
    sk_addr a;
    pthread_t th;
    struct dialer d;
    char buf[5];
    size_t n = 0;
    int rc;

    /* Every accept4 first fails with EAGAIN, although a client is there. */
    faults("eagain=2");
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    d.port = sk_addr_port(&a);
    d.rc = -100;
    cr_assert_eq(pthread_create(&th, NULL, late_dialer_thread, &d), 0);
    rc = sk_tcp_accept(l, &s, 5000);
    if (rc == SK_OK) {
        cr_expect_eq(sk_tcp_recv_exact(s, buf, 5, &n, 5000), SK_OK);
        cr_expect_eq(sk_tcp_send_all(s, "!", 1, &n, 5000), SK_OK);
    }
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(rc, SK_OK, "accept: %s", sk_errname(rc));
    cr_assert_eq(d.rc, SK_OK, "the client: %s", sk_errname(d.rc));
    cr_assert_arr_eq(buf, "hello", 5);
    cr_assert_geq(injected("eagain:accept4"), 1, "no accept4 failed with EAGAIN");
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(faults, udp_single_and_batch_calls_keep_datagrams_whole_and_budgets_honest_under_eintr_and_eagain)
{
    sk_udp *a, *b;
    sk_addr ba;
    sk_dgram d[8];
    unsigned char in[8][600];
    unsigned char *out = pattern(0, 600);
    size_t got = 12345, sent = 0, total = 0;
    int64_t t0;
    int rc;

    faults("eintr+eagain");
    cr_assert_eq(sk_udp_bind(&a, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_bind(&b, "127.0.0.1", 0), SK_OK);
    cr_assert_eq(sk_udp_local_addr(b, &ba), SK_OK);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(sk_udp_sendto(a, out, 100 + (size_t)i, &ba, 2000), SK_OK);
        rc = sk_udp_recvfrom(b, in[0], sizeof in[0], &got, NULL, 2000);
        cr_assert_eq(rc, SK_OK, "datagram %d: %s", i, sk_errname(rc));
        cr_assert_eq(got, 100 + (size_t)i);
        assert_pattern(in[0], 0, got);
    }
    /* A batch of 8 out, and in again through as many batch receives as it takes. */
    memset(d, 0, sizeof d);
    for (int i = 0; i < 8; i++) {
        d[i].buf = out;
        d[i].len = 500 + (size_t)i;
        d[i].addr = ba;
    }
    rc = sk_udp_send_batch(a, d, 8, &sent, 2000);
    cr_assert_eq(rc, SK_OK, "send_batch: %s after %zu", sk_errname(rc), sent);
    cr_assert_eq(sent, 8);
    memset(d, 0, sizeof d);
    for (int i = 0; i < 8; i++) {
        d[i].buf = in[i];
        d[i].len = sizeof in[i];
    }
    while (total < 8) {
        got = 0;
        rc = sk_udp_recv_batch(b, d + total, 8 - total, &got, 2000);
        cr_assert_eq(rc, SK_OK, "recv_batch after %zu: %s", total, sk_errname(rc));
        cr_assert(got >= 1 && got <= 8 - total);
        total += got;
    }
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(d[i].received, 500 + (size_t)i, "datagram %d: %zu bytes", i, d[i].received);
        cr_assert_eq(d[i].truncated, 0);
        assert_pattern(in[i], 0, d[i].received);
    }
    /* Nothing more: the budget holds through the spurious failures. */
    t0 = tu_now_ms();
    rc = sk_udp_recv_batch(b, d, 8, &got, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "%s", sk_errname(rc));
    tu_assert_took(t0, 300);
    t0 = tu_now_ms();
    rc = sk_udp_recv(b, in[0], sizeof in[0], &got, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "%s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_geq(injected("eagain:sendto") + injected("eagain:recvfrom"), 2);
    cr_assert_geq(injected("eintr:sendmmsg") + injected("eagain:sendmmsg"), 1, "sendmmsg was never failed");
    cr_assert_geq(injected("eintr:recvmmsg") + injected("eagain:recvmmsg"), 2, "recvmmsg was failed %lu times",
                  injected("eintr:recvmmsg") + injected("eagain:recvmmsg"));
    free(out);
    sk_udp_close(a);
    sk_udp_close(b);
}

/* ==================================================================================
 * Spurious wake-ups: a wait that ends early with nothing, or reports what is not there
 * ================================================================================== */

struct bounded_accept {
    sk_tcp *listener;
    sk_tcp *conn;
    int timeout_ms;
    int rc;
    int64_t took_ms;
};

static void *bounded_accept_thread(void *p)
{
    struct bounded_accept *b = p;
    int64_t t0 = tu_now_ms();
    b->rc = sk_tcp_accept(b->listener, &b->conn, b->timeout_ms);
    b->took_ms = tu_now_ms() - t0;
    return NULL;
}

/* Runs sk_tcp_accept in a thread and waits for it at most limit_ms: returns 0 when it
 * did not come back in that time (the thread is left behind; the process ends with
 * the test). */
static int accept_within(struct bounded_accept *b, int limit_ms)
{
    pthread_t th;
    struct timespec until;
    cr_assert_eq(pthread_create(&th, NULL, bounded_accept_thread, b), 0);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += limit_ms / 1000;
    until.tv_nsec += (long)(limit_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_timedjoin_np(th, NULL, &until) != 0) {
        pthread_detach(th);
        return 0;
    }
    return 1;
}

/* Every wait ends early or reports a client that is not there: the call must still end
 * at its deadline. (The same happens for real when other processes or threads accept
 * on the same listener: poll says readable, and another takes the client first.) */
Test(faults, accept_ends_at_its_deadline_when_every_wait_wakes_for_nothing)
{
    struct bounded_accept b;
    memset(&b, 0, sizeof b);
    b.conn = (sk_tcp *)&b.conn;
    b.timeout_ms = 300;
    faults("wakeup=1");
    cr_assert_eq(sk_tcp_listen(&b.listener, "127.0.0.1", 0, 4), SK_OK);
    if (!accept_within(&b, 300 + TU_LATE_MARGIN_MS + 3000))
        cr_assert_fail("sk_tcp_accept(300 ms) had not returned after %d ms: with every wait reporting a client "
                       "that accept4 then does not find (%lu false wake-ups so far), it never checks its deadline",
                       300 + TU_LATE_MARGIN_MS + 3000, injected("false:poll"));
    cr_assert_eq(b.rc, SK_ETIMEDOUT, "got %s", sk_errname(b.rc));
    cr_assert_geq(b.took_ms, 300, "returned after %lld ms, before its budget", (long long)b.took_ms);
    cr_assert_null(b.conn);
    cr_assert_geq(injected("early:poll"), 1, "no poll ended early");
    cr_assert_geq(injected("false:poll"), 1, "no poll reported a client that was not there");
    sk_tcp_close(b.listener);
}

Test(faults, accept_never_times_out_early_when_waits_end_early)
{
    sk_tcp *l, *conn = (sk_tcp *)&conn;
    int64_t t0;
    int rc;

    /* Every other wait returns at once with nothing; the others are real. */
    faults("wakeup=2");
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    t0 = tu_now_ms();
    rc = sk_tcp_accept(l, &conn, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_null(conn);
    cr_assert_geq(injected("early:poll"), 1, "no poll ended early");
    sk_tcp_close(l);
}

Test(faults, accept_takes_a_late_client_through_spurious_wakeups)
{
    sk_tcp *l, *s = NULL;
    sk_addr a;
    pthread_t th;
    struct dialer d;
    char buf[5];
    size_t n = 0;
    int rc;

    faults("wakeup=2");
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 4), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    d.port = sk_addr_port(&a);
    d.rc = -100;
    cr_assert_eq(pthread_create(&th, NULL, late_dialer_thread, &d), 0);
    rc = sk_tcp_accept(l, &s, 5000);
    if (rc == SK_OK) {
        cr_expect_eq(sk_tcp_recv_exact(s, buf, 5, &n, 5000), SK_OK);
        cr_expect_eq(sk_tcp_send_all(s, "!", 1, &n, 5000), SK_OK);
    }
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(rc, SK_OK, "accept: %s", sk_errname(rc));
    cr_assert_eq(d.rc, SK_OK, "the client: %s", sk_errname(d.rc));
    cr_assert_arr_eq(buf, "hello", 5);
    cr_assert_geq(injected("wakeup:poll"), 1, "no spurious wake-up");
    sk_tcp_close(s);
    sk_tcp_close(l);
}

/* A listener whose queue is full (backlog 1: two connections wait, unaccepted) drops
 * further handshakes, so a third connect stays in progress. A wait that reports it
 * writable although it is not must not make connect succeed: it must go on waiting and
 * time out. (Go checks with getpeername after every wake-up for this reason, issues
 * golang/go#14548 and #19289.) */
Test(faults, connect_is_not_reported_until_the_handshake_completes_through_spurious_wakeups)
{
    sk_tcp *l, *q1, *q2, *c = (sk_tcp *)&c;
    sk_addr a;
    int64_t t0;
    int rc, port;

    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 1), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    port = sk_addr_port(&a);
    cr_assert_eq(sk_tcp_connect(&q1, "127.0.0.1", port, 2000), SK_OK);
    cr_assert_eq(sk_tcp_connect(&q2, "127.0.0.1", port, 2000), SK_OK);
    /* Without faults the third attempt times out: the premise of this test. */
    t0 = tu_now_ms();
    rc = sk_tcp_connect(&c, "127.0.0.1", port, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "with the queue full, connect gave %s (the test's premise fails)",
                 sk_errname(rc));
    tu_assert_took(t0, 300);

    faults("wakeup=1");
    c = (sk_tcp *)&c;
    t0 = tu_now_ms();
    rc = sk_tcp_connect(&c, "127.0.0.1", port, 300);
    if (rc == SK_OK) {
        sk_addr peer;
        int prc = sk_tcp_peer_addr(c, &peer);
        sk_tcp_close(c);
        sk_tcp_close(q1);
        sk_tcp_close(q2);
        sk_tcp_close(l);
        cr_assert_fail("connect returned SK_OK after %lld ms on a spurious wake-up, although the handshake had "
                       "not completed (sk_tcp_peer_addr: %s)",
                       (long long)(tu_now_ms() - t0), sk_errname(prc));
    }
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_null(c);
    cr_assert_geq(injected("false:poll"), 1, "no false readiness was reported");
    sk_tcp_close(q1);
    sk_tcp_close(q2);
    sk_tcp_close(l);
}

Test(faults, poller_never_times_out_early_and_its_false_events_lose_and_invent_nothing)
{
    sk_poller *p;
    sk_tcp *c, *s;
    sk_event ev[8];
    char buf[16];
    size_t n = 0, got;
    int64_t t0, start;
    int rc, events = 0, waits = 0;

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_poller_create(&p), SK_OK);
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_IN, c), SK_OK);
    faults("wakeup=1");
    /* For 400 ms nothing is sent: every event is false, and every timeout honest. */
    start = tu_now_ms();
    while (tu_now_ms() - start < 400) {
        int budget = 100;
        t0 = tu_now_ms();
        rc = sk_poller_wait(p, ev, 8, &n, budget);
        waits++;
        if (rc == SK_ETIMEDOUT) {
            cr_assert_eq(n, 0);
            tu_assert_took(t0, budget);
            continue;
        }
        cr_assert_eq(rc, SK_OK, "sk_poller_wait: %s", sk_errname(rc));
        cr_assert(n >= 1 && n <= 8);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(ev[i].tcp, c);
            cr_assert_eq(ev[i].data, c);
            got = 12345;
            rc = sk_tcp_recv(c, buf, sizeof buf, &got, 0);
            cr_assert_eq(rc, SK_ETIMEDOUT, "a false event, then sk_tcp_recv(0): %s with %zu bytes",
                         sk_errname(rc), got);
            cr_assert_eq(got, 0);
            events++;
        }
    }
    cr_assert_geq(injected("early:epoll_wait"), 1, "no wait ended early");
    cr_assert_geq(injected("false:epoll_wait"), 1, "no wait reported what was not there");
    /* Then real data: it comes, whole. */
    cr_assert_eq(sk_tcp_send_all(s, "real", 4, &n, 2000), SK_OK);
    got = 0;
    for (int tries = 0; tries < 50 && got < 4; tries++) {
        size_t k = 0;
        rc = sk_poller_wait(p, ev, 8, &n, 2000);
        cr_assert_eq(rc, SK_OK, "waiting for the real data: %s", sk_errname(rc));
        rc = sk_tcp_recv(c, buf + got, sizeof buf - got, &k, 0);
        cr_assert(rc == SK_OK || rc == SK_ETIMEDOUT, "%s", sk_errname(rc));
        got += k;
    }
    cr_assert_eq(got, 4);
    cr_assert_arr_eq(buf, "real", 4);
    cr_log_info("wake-ups: %d poller waits, %d false events, %lu early returns", waits, events,
                injected("early:epoll_wait"));
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(faults, poller_wait_timeout_counts_from_the_start_when_every_wait_is_interrupted)
{
    sk_poller *p;
    sk_tcp *c, *s;
    sk_event ev[4];
    size_t n = 12345;
    int64_t t0;
    int rc;

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_poller_create(&p), SK_OK);
    cr_assert_eq(sk_poller_add_tcp(p, c, SK_POLL_IN, NULL), SK_OK);
    faults("interrupt=40");
    t0 = tu_now_ms();
    rc = sk_poller_wait(p, ev, 4, &n, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s", sk_errname(rc));
    tu_assert_took(t0, 300);
    cr_assert_eq(n, 0);
    cr_assert_geq(injected("eintr:epoll_wait"), 3, "only %lu waits were interrupted", injected("eintr:epoll_wait"));
    sk_poller_close(p);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* ==================================================================================
 * Out of descriptors, for real: RLIMIT_NOFILE lowered to the lowest free number
 * ================================================================================== */

/* Lowers the soft limit so that no new descriptor can be made (every number below it
 * is taken); returns the limits to restore. */
static struct rlimit no_more_fds(void)
{
    struct rlimit old, now;
    int lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(lowest, 0);
    close(lowest);
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    now = old;
    now.rlim_cur = (rlim_t)lowest;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &now), 0, "setrlimit: errno %d", errno);
    return old;
}

static void restore_fds(const struct rlimit *old)
{
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, old), 0, "setrlimit: errno %d", errno);
}

Test(faults, accept_reports_emfile_at_once_and_the_listener_accepts_again_when_descriptors_free_up)
{
    sk_tcp *l, *a, *b, *got[2] = {NULL, NULL}, *conn = (sk_tcp *)&conn;
    sk_addr la, ba, peer;
    struct rlimit old;
    char ta[SK_ADDR_STRLEN], tb[SK_ADDR_STRLEN];
    int64_t t0, took;
    int rc, err, port, found_b = 0;
    unsigned long accepts;
    size_t n;
    unsigned char ch;

    faults("none"); /* count accept4 calls, inject nothing */
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 16), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &la), SK_OK);
    port = sk_addr_port(&la);
    /* A client waits in the queue. */
    cr_assert_eq(sk_tcp_connect(&a, "127.0.0.1", port, 2000), SK_OK);

    old = no_more_fds();
    t0 = tu_now_ms();
    rc = sk_tcp_accept(l, &conn, 2000);
    err = errno;
    took = tu_now_ms() - t0;
    accepts = injected("accept4");
    {
        /* The other calls that need a descriptor, while there are none. */
        sk_tcp *t = (sk_tcp *)&t, *t2 = (sk_tcp *)&t2;
        sk_udp *u = (sk_udp *)&u, *u2 = (sk_udp *)&u2;
        sk_poller *p = (sk_poller *)&p;
        int r1 = sk_tcp_connect(&t, "127.0.0.1", port, 2000);
        int r2 = sk_tcp_listen(&t2, "127.0.0.1", 0, 4);
        int r3 = sk_udp_bind(&u, "127.0.0.1", 0);
        int r4 = sk_udp_connect(&u2, "127.0.0.1", port);
        int r5 = sk_poller_create(&p);
        int r6 = sk_tcp_accept(l, &conn, 0); /* and again: the listener is still there */
        restore_fds(&old);
        cr_assert_eq(r1, SK_EMFILE, "sk_tcp_connect: %s", sk_errname(r1));
        cr_assert_eq(r2, SK_EMFILE, "sk_tcp_listen: %s", sk_errname(r2));
        cr_assert_eq(r3, SK_EMFILE, "sk_udp_bind: %s", sk_errname(r3));
        cr_assert_eq(r4, SK_EMFILE, "sk_udp_connect: %s", sk_errname(r4));
        cr_assert_eq(r5, SK_EMFILE, "sk_poller_create: %s", sk_errname(r5));
        cr_assert_eq(r6, SK_EMFILE, "sk_tcp_accept again: %s", sk_errname(r6));
        cr_assert(t == NULL && t2 == NULL && u == NULL && u2 == NULL && p == NULL,
                  "a call that failed left its out-parameter set");
    }
    cr_assert_eq(rc, SK_EMFILE, "accept with no descriptor left: %s", sk_errname(rc));
    cr_assert_eq(err, EMFILE);
    cr_assert_null(conn);
    /* At once, with one system call: no waiting out the budget, no busy loop. */
    cr_assert_lt(took, 1000, "accept took %lld ms to report EMFILE", (long long)took);
    cr_assert_eq(accepts, 1, "accept made %lu accept4 calls", accepts);

    /* Descriptors are back: a new client is accepted, and the one that waited too
     * (Linux keeps it queued; under Valgrind, whose descriptor check comes after the
     * system call, it was taken and closed, and its client sees the end). */
    cr_assert_eq(sk_tcp_connect(&b, "127.0.0.1", port, 2000), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(b, &ba), SK_OK);
    cr_assert_eq(sk_addr_format(&ba, tb, sizeof tb), SK_OK);
    for (int i = 0; i < 2 && !found_b; i++) {
        rc = sk_tcp_accept(l, &got[i], 2000);
        cr_assert_eq(rc, SK_OK, "accept %d after descriptors came back: %s", i, sk_errname(rc));
        cr_assert_eq(sk_tcp_peer_addr(got[i], &peer), SK_OK);
        cr_assert_eq(sk_addr_format(&peer, ta, sizeof ta), SK_OK);
        if (strcmp(ta, tb) == 0) {
            found_b = 1;
            cr_assert_eq(sk_tcp_send_all(got[i], "B", 1, &n, 2000), SK_OK);
            cr_assert_eq(sk_tcp_recv_exact(b, &ch, 1, &n, 2000), SK_OK);
            cr_assert_eq(ch, 'B');
        } else {
            cr_assert_eq(sk_tcp_send_all(got[i], "A", 1, &n, 2000), SK_OK);
            cr_assert_eq(sk_tcp_recv_exact(a, &ch, 1, &n, 2000), SK_OK);
            cr_assert_eq(ch, 'A');
        }
    }
    cr_assert(found_b, "the new client was never accepted");
    for (int i = 0; i < 2; i++)
        sk_tcp_close(got[i]);
    sk_tcp_close(a);
    sk_tcp_close(b);
    sk_tcp_close(l);
}
