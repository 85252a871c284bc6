/* The system calls of sk_tcp_accept (lib/tcp.c, docs/PERFORMANCE.md): blocking code
 * takes a waiting client with one accept that sleeps, plus TCP_NODELAY; the library's
 * listener is non-blocking, so a wait is a poll and an accept. It tries the accept
 * first only while that finds clients queued, and TCP_NODELAY comes from the listener
 * where the system passes it on, so a waiting accept costs what blocking code costs.
 *
 * The calls are counted by defining them here: the program's own definitions come
 * before the C library's, for libsockkit.so (through its PLT) as for libsockkit.a (at
 * link time). They forward to the system calls, and count only on the test's thread
 * between count_begin and count_end. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "testutil.h"

TestSuite(accept, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

static _Thread_local int counting;
static _Thread_local int n_accept, n_poll, n_setsockopt, n_getsockopt;

/* glibc declares accept's address argument as a transparent union (GNU C). */
#if defined(__GLIBC__) && defined(__USE_GNU) && !defined(__cplusplus)
#define SA_ARG __SOCKADDR_ARG
#define SA_PTR(a) ((a).__sockaddr__)
#else
#define SA_ARG struct sockaddr *restrict
#define SA_PTR(a) (a)
#endif

int accept4(int fd, SA_ARG sa, socklen_t *restrict len, int flags)
{
    if (counting)
        n_accept++;
    return (int)syscall(SYS_accept4, fd, SA_PTR(sa), len, flags);
}

int accept(int fd, SA_ARG sa, socklen_t *restrict len)
{
    if (counting)
        n_accept++;
#ifdef SYS_accept
    return (int)syscall(SYS_accept, fd, SA_PTR(sa), len);
#else
    return (int)syscall(SYS_accept4, fd, SA_PTR(sa), len, 0);
#endif
}

int poll(struct pollfd *fds, nfds_t n, int ms)
{
    if (counting)
        n_poll++;
#ifdef SYS_poll
    return (int)syscall(SYS_poll, fds, n, ms);
#else
    {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        return (int)syscall(SYS_ppoll, fds, n, ms < 0 ? NULL : &ts, NULL, (size_t)8);
    }
#endif
}

int setsockopt(int fd, int level, int name, const void *v, socklen_t len)
{
    if (counting)
        n_setsockopt++;
    return (int)syscall(SYS_setsockopt, fd, level, name, v, len);
}

int getsockopt(int fd, int level, int name, void *restrict v, socklen_t *restrict len)
{
    if (counting)
        n_getsockopt++;
    return (int)syscall(SYS_getsockopt, fd, level, name, v, len);
}

static void count_begin(void)
{
    n_accept = n_poll = n_setsockopt = n_getsockopt = 0;
    counting = 1;
}

static void count_end(void)
{
    counting = 0;
}

#define BUDGET_MS 5000

static int listener_port(sk_tcp *l)
{
    sk_addr a;
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    return sk_addr_port(&a);
}

/* A client connected with plain system calls (not counted: connect is not). The
 * handshake completes in the kernel, so the client is queued on the listener. */
static int raw_client(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect: %s", strerror(errno));
    return fd;
}

struct late_client {
    int port, delay_ms, fd;
    pthread_t th;
};

static void *late_client_main(void *arg)
{
    struct late_client *lc = arg;
    tu_sleep_ms(lc->delay_ms);
    lc->fd = raw_client(lc->port);
    return NULL;
}

static void late_client_start(struct late_client *lc, int port, int delay_ms)
{
    lc->port = port;
    lc->delay_ms = delay_ms;
    lc->fd = -1;
    cr_assert_eq(pthread_create(&lc->th, NULL, late_client_main, lc), 0);
}

static void late_client_end(struct late_client *lc)
{
    pthread_join(lc->th, NULL);
    if (lc->fd >= 0)
        close(lc->fd);
}

static int nodelay_of(sk_tcp *t)
{
    int on = 0;
    socklen_t len = sizeof on;
    cr_assert_eq(getsockopt(sk_tcp_fd(t), IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    return on;
}

/* Accepts a client that connects 30 ms into the call, with the calls counted. */
static sk_tcp *accept_late_client(sk_tcp *l, int port)
{
    struct late_client lc;
    sk_tcp *s = NULL;
    late_client_start(&lc, port, 30);
    count_begin();
    cr_assert_eq(sk_tcp_accept(l, &s, BUDGET_MS), SK_OK);
    count_end();
    late_client_end(&lc);
    return s;
}

Test(accept, an_accept_that_waits_costs_one_wait_and_one_accept_once_the_listener_has_waited)
{
    sk_tcp *l, *s;
    int port;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 16), SK_OK);
    port = listener_port(l);
    /* The first wait of a listener: the accept it tried first found nobody. */
    s = accept_late_client(l, port);
    cr_assert_eq(n_accept, 2, "first accept: %d accept calls", n_accept);
    cr_assert_eq(n_poll, 1, "first accept: %d waits", n_poll);
    cr_assert_neq(nodelay_of(s), 0, "the accepted connection has no TCP_NODELAY");
    sk_tcp_close(s);
    /* From then on: the wait, then the accept, and no option call. */
    for (int i = 0; i < 5; i++) {
        s = accept_late_client(l, port);
        cr_assert_eq(n_poll, 1, "accept %d: %d waits", i, n_poll);
        cr_assert_eq(n_accept, 1, "accept %d: %d accept calls (blocking code makes 1)", i, n_accept);
        cr_assert_eq(n_setsockopt + n_getsockopt, 0, "accept %d: %d option calls", i, n_setsockopt + n_getsockopt);
        cr_assert_neq(nodelay_of(s), 0, "accept %d: the connection has no TCP_NODELAY", i);
        sk_tcp_close(s);
    }
    sk_tcp_close(l);
}

Test(accept, clients_already_queued_are_accepted_with_one_call_each_and_no_option_call)
{
    enum { N = 8 };
    sk_tcp *l, *s;
    int fds[N], port;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, N), SK_OK);
    port = listener_port(l);
    for (int i = 0; i < N; i++)
        fds[i] = raw_client(port);
    for (int i = 0; i < N; i++) {
        count_begin();
        cr_assert_eq(sk_tcp_accept(l, &s, BUDGET_MS), SK_OK);
        count_end();
        cr_assert_eq(n_accept, 1, "accept %d: %d accept calls", i, n_accept);
        cr_assert_eq(n_poll, 0, "accept %d waited", i);
        cr_assert_eq(n_setsockopt, 0, "accept %d set an option", i);
        /* The first one looks whether TCP_NODELAY came from the listener. */
        cr_assert_eq(n_getsockopt, i == 0 ? 1 : 0, "accept %d: %d getsockopt", i, n_getsockopt);
        cr_assert_neq(nodelay_of(s), 0, "accept %d: no TCP_NODELAY", i);
        sk_tcp_close(s);
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    sk_tcp_close(l);
}

Test(accept, a_listener_that_waited_goes_back_to_one_call_per_accept_when_clients_queue)
{
    enum { N = 48 };
    sk_tcp *l, *s;
    int fds[N], port, polls = 0, tail_calls = 0;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, N), SK_OK);
    port = listener_port(l);
    s = accept_late_client(l, port);
    sk_tcp_close(s);
    for (int i = 0; i < N; i++)
        fds[i] = raw_client(port);
    for (int i = 0; i < N; i++) {
        count_begin();
        cr_assert_eq(sk_tcp_accept(l, &s, BUDGET_MS), SK_OK, "accept %d", i);
        count_end();
        polls += n_poll;
        if (i >= N / 2)
            tail_calls += n_accept + n_poll;
        sk_tcp_close(s);
    }
    /* Waiting first while clients are queued costs a poll that returns at once; the
     * listener tries first again within 16 calls and stays with it. */
    cr_assert_leq(polls, 16, "%d polls for %d queued clients", polls, N);
    cr_assert_eq(tail_calls, N / 2, "the last %d accepts made %d calls", N / 2, tail_calls);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    sk_tcp_close(l);
}

Test(accept, timeout_0_makes_one_call_and_never_waits_even_on_a_listener_that_waited)
{
    sk_tcp *l, *s = NULL;
    int port, fd;
    int64_t t0;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 16), SK_OK);
    port = listener_port(l);
    for (int i = 0; i < 2; i++) {
        s = accept_late_client(l, port);
        sk_tcp_close(s);
    }
    t0 = tu_now_ms();
    count_begin();
    cr_assert_eq(sk_tcp_accept(l, &s, 0), SK_ETIMEDOUT);
    count_end();
    cr_assert_lt(tu_now_ms() - t0, 1000, "timeout 0 waited");
    cr_assert_null(s);
    cr_assert_eq(n_accept, 1);
    cr_assert_eq(n_poll, 0, "timeout 0 waited in poll");
    fd = raw_client(port);
    count_begin();
    cr_assert_eq(sk_tcp_accept(l, &s, 0), SK_OK);
    count_end();
    cr_assert_eq(n_accept, 1);
    cr_assert_eq(n_poll, 0);
    sk_tcp_close(s);
    close(fd);
    sk_tcp_close(l);
}

Test(accept, a_waiting_accept_still_ends_at_its_budget)
{
    sk_tcp *l, *s = NULL;
    int64_t t0;
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 16), SK_OK);
    for (int i = 0; i < 3; i++) {
        t0 = tu_now_ms();
        cr_assert_eq(sk_tcp_accept(l, &s, 150), SK_ETIMEDOUT, "call %d", i);
        tu_assert_took(t0, 150);
        cr_assert_null(s);
    }
    sk_tcp_close(l);
}

Test(accept, connections_get_tcp_nodelay_when_the_listener_lost_it_before_the_first_accept)
{
    sk_tcp *l, *s;
    int off = 0, port, fds[3];
    cr_assert_eq(sk_tcp_listen(&l, "127.0.0.1", 0, 16), SK_OK);
    port = listener_port(l);
    cr_assert_eq(setsockopt(sk_tcp_fd(l), IPPROTO_TCP, TCP_NODELAY, &off, sizeof off), 0);
    for (int i = 0; i < 3; i++) {
        fds[i] = raw_client(port);
        count_begin();
        cr_assert_eq(sk_tcp_accept(l, &s, BUDGET_MS), SK_OK);
        count_end();
        cr_assert_neq(nodelay_of(s), 0, "accept %d: no TCP_NODELAY", i);
        cr_assert_eq(n_setsockopt, 1, "accept %d: %d setsockopt: each connection needs its own", i, n_setsockopt);
        sk_tcp_close(s);
        close(fds[i]);
    }
    sk_tcp_close(l);
}

Test(accept, unix_listeners_wait_the_same_way_and_set_no_tcp_option)
{
    sk_tcp *l, *c, *s;
    char name[108];
    snprintf(name, sizeof name, "@sk-test-accept-%d", (int)getpid());
    cr_assert_eq(sk_unix_listen(&l, name, 16), SK_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(sk_unix_connect(&c, name, BUDGET_MS), SK_OK);
        count_begin();
        cr_assert_eq(sk_tcp_accept(l, &s, BUDGET_MS), SK_OK);
        count_end();
        cr_assert_eq(n_accept, 1);
        cr_assert_eq(n_setsockopt + n_getsockopt, 0, "accept %d: a TCP option call on a Unix stream", i);
        sk_tcp_close(s);
        sk_tcp_close(c);
    }
    sk_tcp_close(l);
}
