/* Dead peers (sk_tcp_set_user_timeout, sk_tcp_set_keepalive): a connection whose
 * peer vanishes without a word (its link cut, no FIN, no reset) ends a blocked call
 * within the bound the option sets, not at the call's own budget.
 *
 * Two network namespaces joined by a veth pair: this test's process (10.99.0.1) and a
 * child process (10.99.0.2) that listens, accepts, and on request takes its end of
 * the link down, so that every packet to it is silently dropped. Root only (CI);
 * elsewhere skipped, saying why. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns_util.h"
#include "testutil.h"

TestSuite(dead_peer, .timeout = 90);

/* The call's own budget: far longer than the option's bound, so that which one ended
 * the call shows. */
#define BUDGET_MS 30000
#define BEFORE_BUDGET_MS 20000

struct peer {
    pid_t pid;
    int to_child;   /* parent -> child commands */
    int from_child; /* child -> parent replies */
};

static void put(int fd, char c)
{
    (void)!write(fd, &c, 1);
}

static char get(int fd)
{
    char c = 0;
    return read(fd, &c, 1) == 1 ? c : 0;
}

/* The child: its own namespace, then the commands of the parent. */
static void child_main(int in, int out)
{
    sk_tcp *l = NULL, *conn = NULL;
    char cmd;
    if (unshare(CLONE_NEWNET) != 0 || system("ip link set lo up") != 0)
        _exit(2);
    put(out, 'n'); /* in a namespace of its own: the parent may link to it */
    while ((cmd = get(in)) != 0) {
        switch (cmd) {
        case 'l': { /* linked: address the end, listen, report the port */
            sk_addr a;
            int port;
            if (system("ip addr add 10.99.0.2/24 dev sk1 && ip link set sk1 up") != 0 ||
                sk_tcp_listen(&l, "10.99.0.2", 0, 4) != SK_OK || sk_tcp_local_addr(l, &a) != SK_OK)
                _exit(3);
            port = sk_addr_port(&a);
            (void)!write(out, &port, sizeof port);
            break;
        }
        case 'a': /* accept the parent's connection */
            put(out, sk_tcp_accept(l, &conn, 10000) == SK_OK ? 'a' : 'x');
            break;
        case 'c': /* cut: the link goes down, everything to us is dropped */
            put(out, system("ip link set sk1 down") == 0 ? 'c' : 'x');
            break;
        default:
            break;
        }
    }
    sk_tcp_close(conn);
    sk_tcp_close(l);
    _exit(0);
}

/* A connection from this namespace to the child's; returns it, the peer in *p. */
static sk_tcp *connect_to_peer(struct peer *p)
{
    int down[2], up[2], port = 0, rc;
    char cmd[128];
    sk_tcp *conn = NULL;

    tu_netns_enter();
    cr_assert_eq(pipe(down), 0);
    cr_assert_eq(pipe(up), 0);
    p->pid = fork();
    cr_assert_geq(p->pid, 0);
    if (p->pid == 0) {
        close(down[1]);
        close(up[0]);
        child_main(down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    p->to_child = down[1];
    p->from_child = up[0];
    cr_assert_eq(get(p->from_child), 'n', "the peer could not make its namespace");
    snprintf(cmd, sizeof cmd,
             "ip link add sk0 type veth peer name sk1 netns %d && ip addr add 10.99.0.1/24 dev sk0 && "
             "ip link set sk0 up",
             (int)p->pid);
    tu_sh(cmd);
    put(p->to_child, 'l');
    cr_assert_eq(read(p->from_child, &port, sizeof port), (ssize_t)sizeof port, "the peer did not listen");
    /* The link may take a moment to carry traffic: connect retries within its budget. */
    rc = sk_tcp_connect(&conn, "10.99.0.2", port, 10000);
    cr_assert_eq(rc, SK_OK, "connect: %s (%s)", sk_errname(rc), strerror(errno));
    put(p->to_child, 'a');
    cr_assert_eq(get(p->from_child), 'a', "the peer did not accept");
    return conn;
}

static void cut(struct peer *p)
{
    put(p->to_child, 'c');
    cr_assert_eq(get(p->from_child), 'c', "the peer could not cut its link");
}

static void peer_done(struct peer *p)
{
    int status = 0;
    close(p->to_child);
    waitpid(p->pid, &status, 0);
    close(p->from_child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the peer ended with status %d", status);
}

Test(dead_peer, user_timeout_ends_a_blocked_recv_when_unacknowledged_data_meets_a_cut_link)
{
    struct peer p;
    sk_tcp *conn = connect_to_peer(&p);
    char buf[16];
    size_t n = 0;
    int64_t t0;
    int rc;

    cr_assert_eq(sk_tcp_set_user_timeout(conn, 1000), SK_OK);
    cut(&p);
    t0 = tu_now_ms();
    tu_send_ok(conn, "are you there?", 14, 5000); /* into the buffer; never acknowledged */
    rc = sk_tcp_recv(conn, buf, sizeof buf, &n, BUDGET_MS);
    cr_assert_eq(rc, SK_ETIMEDOUT, "recv: %s (%s)", sk_errname(rc), strerror(errno));
    cr_assert_geq(tu_now_ms() - t0, 1000, "ended before the user timeout");
    cr_assert_lt(tu_now_ms() - t0, BEFORE_BUDGET_MS, "the call's budget ended it, not the user timeout");
    cr_assert_eq(n, 0);
    sk_tcp_close(conn);
    peer_done(&p);
}

Test(dead_peer, keepalive_ends_a_blocked_recv_on_an_idle_connection_whose_peer_vanished)
{
    struct peer p;
    sk_tcp *conn = connect_to_peer(&p);
    char buf[16];
    size_t n = 0;
    int64_t t0;
    int rc;

    /* Idle 1 s, then 2 probes 1 s apart: dead after about 3 s. */
    cr_assert_eq(sk_tcp_set_keepalive(conn, 1, 1, 2), SK_OK);
    cut(&p);
    t0 = tu_now_ms();
    rc = sk_tcp_recv(conn, buf, sizeof buf, &n, BUDGET_MS);
    cr_assert_eq(rc, SK_ETIMEDOUT, "recv: %s (%s)", sk_errname(rc), strerror(errno));
    cr_assert_geq(tu_now_ms() - t0, 2000, "ended before idle + probes");
    cr_assert_lt(tu_now_ms() - t0, BEFORE_BUDGET_MS, "the call's budget ended it, not keepalive");
    sk_tcp_close(conn);
    peer_done(&p);
}

/* The control: without either option, the same cut goes unnoticed; the call ends at
 * its own budget and the connection still looks alive. */
Test(dead_peer, without_the_options_a_cut_link_goes_unnoticed_until_the_calls_own_budget)
{
    struct peer p;
    sk_tcp *conn = connect_to_peer(&p);
    char buf[16];
    size_t n = 0;
    int64_t t0;
    int rc;

    cut(&p);
    t0 = tu_now_ms();
    rc = sk_tcp_recv(conn, buf, sizeof buf, &n, 4000);
    tu_assert_took(t0, 4000);
    cr_assert_eq(rc, SK_ETIMEDOUT);
    cr_assert_eq(sk_tcp_send_all(conn, "x", 1, &n, 1000), SK_OK, "the connection is still 'alive'");
    sk_tcp_close(conn);
    peer_done(&p);
}
