/* Helpers shared by the Criterion tests: descriptor counting, a monotonic clock, a
 * sleep, timing assertions and ready-made loopback connections. Test code only. */
#ifndef SK_TESTUTIL_H
#define SK_TESTUTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sockkit.h>

/* Descriptors open in this process (the /proc listing's own descriptor excluded). */
static inline int tu_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own descriptor */
}

static inline int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds in all, signals or not (an interrupted sleep goes on with
 * what is left). */
static inline void tu_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Timeouts are checked one way strictly (never before the budget) and the other way
 * with a generous margin: this machine is shared and noisy. */
#define TU_LATE_MARGIN_MS 1500

#define tu_assert_took(start_ms, budget_ms)                                              \
    do {                                                                                 \
        int64_t tu_el_ = tu_now_ms() - (start_ms);                                       \
        cr_assert_geq(tu_el_, (int64_t)(budget_ms), "returned after %lld ms, before its %d ms budget", \
                      (long long)tu_el_, (int)(budget_ms));                              \
        cr_assert_leq(tu_el_, (int64_t)(budget_ms) + TU_LATE_MARGIN_MS,                  \
                      "returned after %lld ms, far past its %d ms budget",                \
                      (long long)tu_el_, (int)(budget_ms));                              \
    } while (0)

/* A descriptor-leak guard: use as .init/.fini of a TestSuite. Criterion runs every
 * test in its own process, so the count is per test. */
static int tu_fds_at_start_;
static inline void tu_fd_guard_begin(void) { tu_fds_at_start_ = tu_count_fds(); }
static inline void tu_fd_guard_end(void)
{
    cr_expect_eq(tu_count_fds(), tu_fds_at_start_, "descriptors leaked: %d open at start, %d at end",
                 tu_fds_at_start_, tu_count_fds());
}

/* Index of the first differing byte, or (size_t)-1 when equal. */
static inline size_t tu_first_diff(const void *a, const void *b, size_t len)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < len; i++)
        if (x[i] != y[i])
            return i;
    return (size_t)-1;
}

#define tu_assert_same_bytes(got, want, len)                                                   \
    do {                                                                                       \
        size_t d_ = tu_first_diff((got), (want), (len));                                       \
        cr_assert_eq(d_, (size_t)-1, "data differ at byte %zu of %zu", d_, (size_t)(len));      \
    } while (0)

/* Waits (raw poll, signals retried, ms in all) until the descriptor shows one of
 * `what`: a test reaches a known state without asking the library under test. */
static inline void tu_wait_fd(int fd, short what, int ms)
{
    int64_t end = tu_now_ms() + ms;
    struct pollfd pf;
    for (;;) {
        int left = (int)(end - tu_now_ms());
        int n;
        pf.fd = fd;
        pf.events = what;
        pf.revents = 0;
        n = poll(&pf, 1, left > 0 ? left : 0);
        if (n > 0 && (pf.revents & what) != 0)
            return;
        cr_assert(n >= 0 || errno == EINTR, "poll: %s", strerror(errno));
        cr_assert_gt(left, 0, "descriptor %d never showed %#x within %d ms", fd, (unsigned)what, ms);
    }
}

/* Sends all of buf within ms, which must succeed. */
static inline void tu_send_ok(sk_tcp *conn, const void *buf, size_t len, int ms)
{
    size_t sent = 12345;
    int rc = sk_tcp_send_all(conn, buf, len, &sent, ms);
    cr_assert_eq(rc, SK_OK, "sk_tcp_send_all: %s", sk_errname(rc));
    cr_assert_eq(sent, len);
}

/* Closes so that the peer gets a reset (SO_LINGER 0) instead of end of stream. */
static inline void tu_close_with_reset(sk_tcp *t)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    cr_assert_eq(setsockopt(sk_tcp_fd(t), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0, "SO_LINGER: %s",
                 strerror(errno));
    sk_tcp_close(t);
}

/* A listener on 127.0.0.1 (or host) with an ephemeral port, a client connected to it,
 * and the server side accepted. Any of the out pointers may be NULL (that endpoint is
 * closed at once). */
static inline void tu_tcp_pair_on(const char *host, sk_tcp **listener, sk_tcp **client, sk_tcp **server)
{
    sk_tcp *l = NULL, *c = NULL, *s = NULL;
    sk_addr a;
    cr_assert_eq(sk_tcp_listen(&l, host, 0, 16), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    cr_assert_eq(sk_tcp_connect(&c, host, sk_addr_port(&a), 5000), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, 5000), SK_OK);
    if (listener) *listener = l; else sk_tcp_close(l);
    if (client) *client = c; else sk_tcp_close(c);
    if (server) *server = s; else sk_tcp_close(s);
}

/* The stream tests (suites stream*) run over TCP, and again over Unix domain
 * sockets when SK_TEST_STREAM says so (tests/CMakeLists.txt): "unix-path" (a socket
 * file in /tmp) or "unix-abstract" (an abstract name). */
static inline const char *tu_stream_kind(void)
{
    const char *k = getenv("SK_TEST_STREAM");
    return k != NULL && k[0] != '\0' ? k : "tcp";
}

/* A fresh Unix name of the kind tu_stream_kind says, for this process. */
static inline void tu_unix_name(char *name, size_t cap)
{
    static int n;
    int abstract = strcmp(tu_stream_kind(), "unix-abstract") == 0;
    snprintf(name, cap, "%s/sk-test-%d-%d.sock", abstract ? "@" : "/tmp", (int)getpid(), n++);
}

static inline void tu_tcp_pair(sk_tcp **listener, sk_tcp **client, sk_tcp **server)
{
    sk_tcp *l = NULL, *c = NULL, *s = NULL;
    char name[108];
    if (strcmp(tu_stream_kind(), "tcp") == 0) {
        tu_tcp_pair_on("127.0.0.1", listener, client, server);
        return;
    }
    tu_unix_name(name, sizeof name);
    cr_assert_eq(sk_unix_listen(&l, name, 16), SK_OK, "%s: %s", name, strerror(errno));
    cr_assert_eq(sk_unix_connect(&c, name, 5000), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, 5000), SK_OK);
    if (listener) *listener = l; else sk_tcp_close(l);
    if (client) *client = c; else sk_tcp_close(c);
    if (server) *server = s; else sk_tcp_close(s);
}

/* One blocking transfer for a helper thread: tu_send_all_job or tu_recv_exact_job
 * (pthread start routines) moves len bytes of buf on conn within timeout_ms, after
 * sleeping delay_ms; tu_send_all_job then shuts conn down with shut_after (a
 * SK_SHUT_ value, 0 for none) when the send succeeded. They record rc, errno after
 * the transfer (err) and the count (done, pre-set to an impossible value), and never
 * call cr_assert: the test thread checks them after pthread_join. */
struct tu_xfer {
    sk_tcp *conn;
    unsigned char *buf;
    size_t len;
    int timeout_ms;
    int delay_ms;
    int shut_after;
    int rc;
    int err;
    size_t done;
};

static inline void *tu_send_all_job(void *p)
{
    struct tu_xfer *x = p;
    if (x->delay_ms > 0)
        tu_sleep_ms(x->delay_ms);
    x->done = (size_t)-1;
    x->rc = sk_tcp_send_all(x->conn, x->buf, x->len, &x->done, x->timeout_ms);
    x->err = errno;
    if (x->rc == SK_OK && x->shut_after)
        x->rc = sk_tcp_shutdown(x->conn, x->shut_after);
    return NULL;
}

static inline void *tu_recv_exact_job(void *p)
{
    struct tu_xfer *x = p;
    if (x->delay_ms > 0)
        tu_sleep_ms(x->delay_ms);
    x->done = (size_t)-1;
    x->rc = sk_tcp_recv_exact(x->conn, x->buf, x->len, &x->done, x->timeout_ms);
    x->err = errno;
    return NULL;
}

#endif /* SK_TESTUTIL_H */
