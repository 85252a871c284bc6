/* Faults: the library under short transfers, EINTR and signal storms, injected by the
 * LD_PRELOAD shim of tests/shim (see faultshim.h for its modes). ctest preloads it;
 * run by hand, this program needs LD_PRELOAD=<build>/tests/libsk_faultshim.so, and
 * without it every test fails with a message saying so (it does not skip: a silent
 * skip would let the suite pass without testing anything).
 *
 * Every test sets its mode first (Criterion runs each test in its own process, so the
 * mode and the counters are the test's own) and checks the shim's counters, so that
 * no test can pass without faults having been injected. */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shim/faultshim.h"
#include "testutil.h"

TestSuite(faults, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 30);

/* ---- the shim ---- */

static sk_faultshim_count_fn shim_count_;

static void faults(const char *spec)
{
    void *set = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_SET_SYMBOL);
    void *count = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_COUNT_SYMBOL);
    sk_faultshim_set_fn set_fn;
    cr_assert(set != NULL && count != NULL,
              "the fault-injection shim is not loaded: run this program with "
              "LD_PRELOAD=<build>/tests/libsk_faultshim.so (ctest does)");
    memcpy(&set_fn, &set, sizeof set_fn);
    memcpy(&shim_count_, &count, sizeof shim_count_);
    cr_assert_eq(set_fn(spec), 0, "the shim rejected the mode \"%s\"", spec);
}

static unsigned long injected(const char *name)
{
    cr_assert_not_null(shim_count_, "faults() must come first");
    return shim_count_(name);
}

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

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- threads ---- */

struct xfer {
    sk_tcp *conn;
    unsigned char *buf;
    size_t len;
    size_t done;
    int rc;
    int err;
    int timeout_ms;
};

static void *send_all_thread(void *p)
{
    struct xfer *x = p;
    x->rc = sk_tcp_send_all(x->conn, x->buf, x->len, &x->done, x->timeout_ms);
    x->err = errno;
    return NULL;
}

static void *recv_exact_thread(void *p)
{
    struct xfer *x = p;
    x->rc = sk_tcp_recv_exact(x->conn, x->buf, x->len, &x->done, x->timeout_ms);
    x->err = errno;
    return NULL;
}

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
    cr_assert_eq(injected("recvfrm"), (unsigned long)-1);
    {
        void *set = dlsym(RTLD_DEFAULT, SK_FAULTSHIM_SET_SYMBOL);
        sk_faultshim_set_fn set_fn;
        memcpy(&set_fn, &set, sizeof set_fn);
        cr_assert_eq(set_fn("shrot"), -1);
        cr_assert_eq(set_fn("eintr=0"), -1);
        cr_assert_eq(set_fn("interrupt=x"), -1);
    }
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
    struct xfer x;
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
        cr_assert_eq(pthread_create(&th, NULL, recv_exact_thread, &x), 0);
        rc = sk_tcp_send_all(c, out, MIB, &done, 20000);
    } else {
        x.conn = c;
        x.buf = out;
        x.len = MIB;
        cr_assert_eq(pthread_create(&th, NULL, send_all_thread, &x), 0);
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
        sleep_ms(10);
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
    sleep_ms(100);
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

Test(faults, single_send_and_recv_move_one_to_seven_bytes_and_never_an_empty_success_under_short_mode)
{
    sk_tcp *c, *s;
    unsigned char *out = pattern(0, 300), in[300];
    size_t total = 0, n;
    int rc, calls = 0;

    faults("short+eintr");
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
