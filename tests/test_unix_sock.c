/* Unix domain sockets: socket files (stale, live, not a socket, removed at close),
 * names, peer credentials, descriptor passing over streams and datagrams, and the
 * TCP-only calls that refuse a Unix endpoint. The stream contract itself runs over
 * Unix sockets as "over_unix_path.*" and "over_unix_abstract.*" (tests/CMakeLists.txt). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define LONG_MS 5000

TestSuite(unix_files, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(unix_stream, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(unix_fds, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);
TestSuite(unix_dgram, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

/* A fresh directory for socket files, and a path in it. */
static char dir_[64];
static void path_in_dir(char *buf, size_t cap, const char *leaf)
{
    if (dir_[0] == '\0') {
        snprintf(dir_, sizeof dir_, "/tmp/sk-unix-XXXXXX");
        cr_assert_not_null(mkdtemp(dir_));
    }
    snprintf(buf, cap, "%s/%s", dir_, leaf);
}

static int is_socket_file(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void exchange(sk_tcp *a, sk_tcp *b)
{
    char buf[8];
    size_t n = 0;
    tu_send_ok(a, "hello", 5, LONG_MS);
    cr_assert_eq(sk_tcp_recv_exact(b, buf, 5, &n, LONG_MS), SK_OK);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
}

/* ---- socket files --------------------------------------------------------------- */

Test(unix_files, listen_makes_the_socket_file_and_close_removes_it)
{
    char p[128];
    sk_tcp *l, *c, *s;
    sk_addr a;
    char text[SK_ADDR_STRLEN], want[SK_ADDR_STRLEN];
    path_in_dir(p, sizeof p, "a.sock");
    cr_assert_eq(sk_unix_listen(&l, p, 4), SK_OK);
    cr_assert(is_socket_file(p));
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    cr_assert_eq(sk_addr_family(&a), SK_ADDR_UNIX);
    cr_assert_eq(sk_addr_format(&a, text, sizeof text), SK_OK);
    snprintf(want, sizeof want, "unix:%s", p);
    cr_assert_str_eq(text, want);
    cr_assert_eq(sk_unix_connect(&c, p, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    exchange(c, s);
    exchange(s, c);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
    cr_assert_not(is_socket_file(p), "the listener's file outlived it");
}

Test(unix_files, a_stale_socket_file_nobody_listens_on_is_replaced)
{
    char p[128];
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sk_tcp *l, *c;
    path_in_dir(p, sizeof p, "stale.sock");
    strcpy(su.sun_path, p);
    /* A server that died: its file stays, nobody listens. */
    cr_assert_eq(bind(fd, (struct sockaddr *)&su, sizeof su), 0);
    close(fd);
    cr_assert(is_socket_file(p));
    cr_assert_eq(sk_unix_connect(&c, p, LONG_MS), SK_ECONNREFUSED);
    cr_assert_eq(sk_unix_listen(&l, p, 4), SK_OK);
    cr_assert_eq(sk_unix_connect(&c, p, LONG_MS), SK_OK);
    sk_tcp_close(c);
    sk_tcp_close(l);
}

Test(unix_files, a_live_listener_is_addrinuse_and_keeps_its_file)
{
    char p[128];
    sk_tcp *l, *l2 = (sk_tcp *)&dir_, *c;
    path_in_dir(p, sizeof p, "live.sock");
    cr_assert_eq(sk_unix_listen(&l, p, 4), SK_OK);
    cr_assert_eq(sk_unix_listen(&l2, p, 4), SK_EADDRINUSE);
    cr_assert_eq(errno, EADDRINUSE);
    cr_assert_null(l2);
    cr_assert_eq(sk_unix_connect(&c, p, LONG_MS), SK_OK, "the live listener lost its file");
    sk_tcp_close(c);
    sk_tcp_close(l);
}

Test(unix_files, a_live_listener_with_a_full_queue_is_still_live)
{
    char p[128];
    sk_tcp *l, *l2, *c[8];
    size_t n = 0;
    path_in_dir(p, sizeof p, "full.sock");
    cr_assert_eq(sk_unix_listen(&l, p, 1), SK_OK);
    /* Fill the queue (backlog 1 takes two on Linux) until a connect would wait. */
    while (n < 8 && sk_unix_connect(&c[n], p, 0) == SK_OK)
        n++;
    cr_assert_lt(n, 8);
    cr_assert_eq(sk_unix_listen(&l2, p, 4), SK_EADDRINUSE);
    while (n > 0)
        sk_tcp_close(c[--n]);
    sk_tcp_close(l);
}

Test(unix_files, a_file_that_is_not_a_socket_is_never_removed)
{
    char p[128];
    sk_tcp *l;
    sk_udp *u;
    int fd;
    path_in_dir(p, sizeof p, "plain.txt");
    fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "keep", 4), 4);
    close(fd);
    cr_assert_eq(sk_unix_listen(&l, p, 4), SK_EADDRINUSE);
    cr_assert_eq(sk_unix_dgram_bind(&u, p), SK_EADDRINUSE);
    {
        struct stat st;
        cr_assert_eq(stat(p, &st), 0);
        cr_assert(S_ISREG(st.st_mode));
        cr_assert_eq(st.st_size, 4);
    }
    unlink(p);
}

Test(unix_files, close_leaves_a_newer_servers_file_at_the_same_path)
{
    char p[128];
    sk_tcp *old, *newer, *c;
    path_in_dir(p, sizeof p, "moved.sock");
    cr_assert_eq(sk_unix_listen(&old, p, 4), SK_OK);
    /* Someone removes the file and a new server takes the path. */
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(sk_unix_listen(&newer, p, 4), SK_OK);
    sk_tcp_close(old);
    cr_assert(is_socket_file(p), "the old listener removed the new one's file");
    cr_assert_eq(sk_unix_connect(&c, p, LONG_MS), SK_OK);
    sk_tcp_close(c);
    sk_tcp_close(newer);
    cr_assert_not(is_socket_file(p));
}

Test(unix_files, the_mode_option_sets_the_files_permissions_before_anyone_connects)
{
    char p[128];
    sk_unix_options o = SK_UNIX_OPTIONS_INIT;
    sk_tcp *l;
    struct stat st;
    path_in_dir(p, sizeof p, "mode.sock");
    o.mode = 0600;
    cr_assert_eq(sk_unix_listen_with(&l, p, 4, &o), SK_OK);
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0600);
    sk_tcp_close(l);
    o.mode = 0660;
    cr_assert_eq(sk_unix_listen_with(&l, p, 4, &o), SK_OK);
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0660);
    sk_tcp_close(l);
}

Test(unix_files, bad_options_and_names_are_einval)
{
    char p[128], longp[200];
    sk_unix_options o = SK_UNIX_OPTIONS_INIT;
    sk_tcp *l = (sk_tcp *)&dir_, *c = (sk_tcp *)&dir_;
    sk_udp *u = (sk_udp *)&dir_;
    path_in_dir(p, sizeof p, "bad.sock");
    o.version = 0;
    cr_assert_eq(sk_unix_listen_with(&l, p, 4, &o), SK_EINVAL);
    cr_assert_null(l);
    o.version = SK_UNIX_OPTIONS_VERSION + 1;
    cr_assert_eq(sk_unix_listen_with(&l, p, 4, &o), SK_EINVAL);
    o = (sk_unix_options)SK_UNIX_OPTIONS_INIT;
    o.mode = 010000;
    cr_assert_eq(sk_unix_listen_with(&l, p, 4, &o), SK_EINVAL);
    o.mode = 0600; /* a mode needs a file */
    cr_assert_eq(sk_unix_listen_with(&l, "@sk-test-mode", 4, &o), SK_EINVAL);
    cr_assert_eq(sk_unix_dgram_bind_with(&u, NULL, &o), SK_EINVAL);
    cr_assert_null(u);
    cr_assert_eq(sk_unix_listen(&l, NULL, 4), SK_EINVAL);
    cr_assert_eq(sk_unix_listen(NULL, p, 4), SK_EINVAL);
    cr_assert_eq(sk_unix_connect(&c, NULL, LONG_MS), SK_EINVAL);
    cr_assert_null(c);
    cr_assert_eq(sk_unix_connect(&c, "", LONG_MS), SK_EINVAL);
    cr_assert_eq(sk_unix_connect(&c, p, -2), SK_EINVAL);
    cr_assert_eq(sk_unix_dgram_connect(&u, ""), SK_EINVAL);
    /* 108 bytes do not fit sun_path with the NUL: refused, never cut. */
    memset(longp, 'x', 108);
    memcpy(longp, "/sk-no-such-dir/", 16);
    longp[108] = '\0';
    cr_assert_eq(sk_unix_listen(&l, longp, 4), SK_EINVAL);
    cr_assert_eq(sk_unix_connect(&c, longp, LONG_MS), SK_EINVAL);
    longp[107] = '\0'; /* 107 fits (in a directory that does not exist) */
    cr_assert_eq(sk_unix_listen(&l, longp, 4), SK_ENOTFOUND);
    cr_assert_eq(errno, ENOENT);
    cr_assert_not(is_socket_file(p));
}

Test(unix_files, connect_to_a_missing_file_is_not_found_and_to_an_unheld_abstract_name_refused)
{
    char p[128];
    sk_tcp *c;
    sk_udp *u;
    path_in_dir(p, sizeof p, "nobody.sock");
    cr_assert_eq(sk_unix_connect(&c, p, LONG_MS), SK_ENOTFOUND);
    cr_assert_eq(errno, ENOENT);
    cr_assert_eq(sk_unix_dgram_connect(&u, p), SK_ENOTFOUND);
    cr_assert_eq(sk_unix_connect(&c, "@sk-test-nobody-holds-this", LONG_MS), SK_ECONNREFUSED);
}

/* ---- streams -------------------------------------------------------------------- */

Test(unix_stream, an_empty_name_listens_on_a_kernel_picked_abstract_name)
{
    sk_tcp *l, *c, *s;
    sk_addr a;
    char text[SK_ADDR_STRLEN];
    cr_assert_eq(sk_unix_listen(&l, "", 4), SK_OK);
    cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
    cr_assert_eq(sk_addr_format(&a, text, sizeof text), SK_OK);
    cr_assert_eq(strncmp(text, "unix:@", 6), 0, "%s", text);
    cr_assert_gt(strlen(text), 6);
    cr_assert_eq(sk_unix_connect(&c, text + 5, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    exchange(c, s);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

Test(unix_stream, peer_credentials_are_the_peer_processes_pid_uid_and_gid)
{
    sk_tcp *l, *c, *s;
    sk_peer_cred cr;
    char name[64];
    pid_t child;
    int status;
    snprintf(name, sizeof name, "@sk-test-cred-%d", (int)getpid());
    cr_assert_eq(sk_unix_listen(&l, name, 4), SK_OK);
    child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        sk_tcp *cc;
        char b;
        if (sk_unix_connect(&cc, name, LONG_MS) != SK_OK)
            _exit(1);
        (void)sk_tcp_recv_exact(cc, &b, 1, NULL, LONG_MS);
        _exit(0);
    }
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    cr_assert_eq(sk_unix_peer_cred(s, &cr), SK_OK);
    cr_assert_eq(cr.pid, (long)child);
    cr_assert_eq(cr.uid, (long)getuid());
    cr_assert_eq(cr.gid, (long)getgid());
    tu_send_ok(s, "x", 1, LONG_MS);
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sk_tcp_close(s);
    /* And the client side sees us. */
    cr_assert_eq(sk_unix_connect(&c, name, LONG_MS), SK_OK);
    cr_assert_eq(sk_unix_peer_cred(c, &cr), SK_OK);
    cr_assert_eq(cr.pid, (long)getpid());
    sk_tcp_close(c);
    /* A listener has no peer; neither has a NULL. */
    cr.pid = 7;
    cr_assert_eq(sk_unix_peer_cred(l, &cr), SK_EINVAL);
    cr_assert_eq(cr.pid, 0);
    cr_assert_eq(sk_unix_peer_cred(NULL, &cr), SK_EINVAL);
    cr_assert_eq(sk_unix_peer_cred(l, NULL), SK_EINVAL);
    sk_tcp_close(l);
}

Test(unix_stream, the_calls_that_mean_tcp_refuse_a_unix_stream_and_tcp_refuses_the_unix_calls)
{
    sk_tcp *l, *c, *s, *tl, *tc, *ts;
    sk_peer_cred cr;
    int fd = 0;
    tu_tcp_pair_on("127.0.0.1", &tl, &tc, &ts);
    cr_assert_eq(sk_unix_listen(&l, "", 4), SK_OK);
    {
        sk_addr a;
        char text[SK_ADDR_STRLEN];
        cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
        cr_assert_eq(sk_addr_format(&a, text, sizeof text), SK_OK);
        cr_assert_eq(sk_unix_connect(&c, text + 5, LONG_MS), SK_OK);
    }
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_set_nodelay(c, 1), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_nodelay(s, 0), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_keepalive(c, 15, 15, 9), SK_EINVAL);
    cr_assert_eq(sk_tcp_set_user_timeout(s, 1000), SK_EINVAL);
    cr_assert_eq(sk_unix_peer_cred(tc, &cr), SK_EINVAL);
    cr_assert_eq(sk_unix_send_fds(tc, "x", 1, &fd, 1, NULL, LONG_MS), SK_EINVAL);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
    sk_tcp_close(tc);
    sk_tcp_close(ts);
    sk_tcp_close(tl);
}

Test(unix_stream, connect_to_a_full_queue_waits_and_times_out_not_before_its_budget)
{
    sk_tcp *l, *c[8], *late;
    size_t n = 0;
    int64_t t0, took;
    cr_assert_eq(sk_unix_listen(&l, "", 1), SK_OK);
    {
        sk_addr a;
        char text[SK_ADDR_STRLEN];
        cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
        cr_assert_eq(sk_addr_format(&a, text, sizeof text), SK_OK);
        while (n < 8 && sk_unix_connect(&c[n], text + 5, 0) == SK_OK)
            n++;
        cr_assert_lt(n, 8, "the queue never filled");
        t0 = tu_now_ms();
        cr_assert_eq(sk_unix_connect(&late, text + 5, 200), SK_ETIMEDOUT);
        took = tu_now_ms() - t0;
        cr_assert_geq(took, 200, "returned after %lld ms", (long long)took);
        cr_assert_lt(took, 3000);
        /* Room again: an accept makes the next connect go through. */
        {
            sk_tcp *s;
            cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
            cr_assert_eq(sk_unix_connect(&late, text + 5, LONG_MS), SK_OK);
            sk_tcp_close(late);
            sk_tcp_close(s);
        }
    }
    while (n > 0)
        sk_tcp_close(c[--n]);
    sk_tcp_close(l);
}

struct later {
    sk_cancel *cancel; /* fired after delay_ms, or */
    sk_tcp *l;         /* one connection accepted from it */
    int delay_ms;
};

static void *later_job(void *p)
{
    struct later *j = p;
    tu_sleep_ms(j->delay_ms);
    if (j->cancel != NULL) {
        sk_cancel_fire(j->cancel);
    } else {
        sk_tcp *s;
        if (sk_tcp_accept(j->l, &s, LONG_MS) == SK_OK)
            sk_tcp_close(s);
    }
    return NULL;
}

static int connect_with_later(const char *path, sk_cancel *c, struct later *j, int timeout_ms, int64_t *took)
{
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    sk_tcp *conn = (sk_tcp *)&conn;
    pthread_t th;
    int64_t t0 = tu_now_ms();
    int rc;
    o.cancel = c;
    cr_assert_eq(pthread_create(&th, NULL, later_job, j), 0);
    rc = sk_unix_connect_with(&conn, path, &o, timeout_ms);
    *took = tu_now_ms() - t0;
    pthread_join(th, NULL);
    if (rc == SK_OK)
        sk_tcp_close(conn);
    else
        cr_assert_null(conn);
    return rc;
}

Test(unix_stream, a_cancel_ends_a_connect_waiting_for_room_and_room_still_lets_it_through)
{
    sk_tcp *l, *c[8], *late = (sk_tcp *)&late;
    sk_cancel *cancel;
    sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
    char text[SK_ADDR_STRLEN];
    const char *name = text + 5;
    size_t n = 0;
    int64_t took;
    int rc;

    cr_assert_eq(sk_unix_listen(&l, "", 1), SK_OK);
    {
        sk_addr a;
        cr_assert_eq(sk_tcp_local_addr(l, &a), SK_OK);
        cr_assert_eq(sk_addr_format(&a, text, sizeof text), SK_OK);
    }
    while (n < 8 && sk_unix_connect(&c[n], name, 0) == SK_OK)
        n++;
    cr_assert_lt(n, 8, "the queue never filled");
    cr_assert_eq(sk_cancel_create(&cancel), SK_OK);

    /* Not fired: the budget ends it, not before its time. */
    o.cancel = cancel;
    {
        int64_t t0 = tu_now_ms();
        cr_assert_eq(sk_unix_connect_with(&late, name, &o, 300), SK_ETIMEDOUT);
        took = tu_now_ms() - t0;
        cr_assert_null(late);
        cr_assert_geq(took, 300, "returned after %lld ms", (long long)took);
        cr_assert_lt(took, 5000);
    }
    /* Fired from another thread while it waits with no budget. */
    {
        struct later j = {cancel, NULL, 200};
        rc = connect_with_later(name, cancel, &j, SK_FOREVER, &took);
        cr_assert_eq(rc, SK_ECANCELED, "connect: %s", sk_errname(rc));
        cr_assert_eq(errno, ECANCELED);
        cr_assert_geq(took, 200, "returned after %lld ms, before the cancel", (long long)took);
        cr_assert_lt(took, 5000);
    }
    /* Fired before the call: nothing is done. */
    cr_assert_eq(sk_unix_connect_with(&late, name, &o, LONG_MS), SK_ECANCELED);
    cr_assert_null(late);
    sk_cancel_close(cancel);

    /* A cancel that never fires: room made by an accept lets the waiting connect in. */
    cr_assert_eq(sk_cancel_create(&cancel), SK_OK);
    {
        struct later j = {NULL, l, 150};
        rc = connect_with_later(name, cancel, &j, LONG_MS, &took);
        cr_assert_eq(rc, SK_OK, "connect: %s", sk_errname(rc));
        cr_assert_geq(took, 150, "it got in after %lld ms, before the accept", (long long)took);
    }
    sk_cancel_close(cancel);

    /* Bad options are refused before anything is made. */
    o.cancel = NULL;
    o.version = 0;
    cr_assert_eq(sk_unix_connect_with(&late, name, &o, LONG_MS), SK_EINVAL);
    o.version = SK_CONNECT_OPTIONS_VERSION;
    o.attempt_delay_ms = -1;
    cr_assert_eq(sk_unix_connect_with(&late, name, &o, LONG_MS), SK_EINVAL);

    while (n > 0)
        sk_tcp_close(c[--n]);
    sk_tcp_close(l);
}

/* ---- descriptors ---------------------------------------------------------------- */

static void unix_pair(sk_tcp **c, sk_tcp **s)
{
    sk_tcp *l;
    char name[64];
    static int k;
    snprintf(name, sizeof name, "@sk-test-fds-%d-%d", (int)getpid(), k++);
    cr_assert_eq(sk_unix_listen(&l, name, 4), SK_OK);
    cr_assert_eq(sk_unix_connect(c, name, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, s, LONG_MS), SK_OK);
    sk_tcp_close(l);
}

/* Two descriptors name the same open file (same inode and device). */
static int same_file(int a, int b)
{
    struct stat x, y;
    return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_ino == y.st_ino && x.st_dev == y.st_dev;
}

Test(unix_fds, a_descriptor_sent_with_bytes_arrives_as_the_same_file_and_close_on_exec)
{
    sk_tcp *c, *s;
    int p[2], got[4] = {-1, -1, -1, -1};
    size_t n = 0, nf = 9, sent = 0;
    char buf[16];
    unix_pair(&c, &s);
    cr_assert_eq(pipe(p), 0); /* no O_CLOEXEC here: the receiver's copy must get it anyway */
    cr_assert_eq(sk_unix_send_fds(c, "pipe", 4, &p[1], 1, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, 4);
    cr_assert_eq(sk_unix_recv_fds(s, buf, sizeof buf, &n, got, 4, &nf, LONG_MS), SK_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(buf, "pipe", 4), 0);
    cr_assert_eq(nf, 1);
    cr_assert_neq(got[0], p[1]);
    cr_assert(same_file(got[0], p[1]));
    cr_assert(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
    /* It works: bytes written through the received copy come out of the pipe. */
    cr_assert_eq(write(got[0], "z", 1), 1);
    cr_assert_eq(read(p[0], buf, 1), 1);
    cr_assert_eq(buf[0], 'z');
    close(got[0]);
    close(p[0]);
    close(p[1]);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(unix_fds, all_253_descriptors_arrive_and_an_execd_child_has_none_of_them)
{
    sk_tcp *c, *s;
    int fds[SK_UNIX_MAX_FDS], got[SK_UNIX_MAX_FDS + 4];
    size_t n = 0, nf = 0;
    char buf[4];
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 1024) {
        rl.rlim_cur = rl.rlim_max < 1024 ? rl.rlim_max : 1024;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    unix_pair(&c, &s);
    for (int i = 0; i < SK_UNIX_MAX_FDS; i++) {
        fds[i] = open("/dev/null", O_RDONLY);
        cr_assert_geq(fds[i], 0);
    }
    cr_assert_eq(sk_unix_send_fds(c, "m", 1, fds, SK_UNIX_MAX_FDS, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_unix_recv_fds(s, buf, sizeof buf, &n, got, SK_UNIX_MAX_FDS + 4, &nf, LONG_MS), SK_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(nf, SK_UNIX_MAX_FDS);
    for (size_t i = 0; i < nf; i++) {
        cr_assert(same_file(got[i], fds[i]), "descriptor %zu is another file", i);
        cr_assert(fcntl(got[i], F_GETFD) & FD_CLOEXEC, "descriptor %zu is not close-on-exec", i);
    }
    /* An exec'd shell sees none of them: it checks the first, middle and last. */
    {
        char cmd[256];
        pid_t child;
        int status;
        snprintf(cmd, sizeof cmd, "for f in %d %d %d; do [ -e /proc/self/fd/$f ] && exit 1; done; exit 0", got[0],
                 got[nf / 2], got[nf - 1]);
        child = fork();
        cr_assert_geq(child, 0);
        if (child == 0) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(2);
        }
        cr_assert_eq(waitpid(child, &status, 0), child);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "an exec'd child kept a received descriptor");
    }
    /* More than SCM_MAX_FD is refused before anything leaves. */
    cr_assert_eq(sk_unix_send_fds(c, "m", 1, got, SK_UNIX_MAX_FDS + 1, NULL, LONG_MS), SK_EINVAL);
    for (size_t i = 0; i < nf; i++)
        close(got[i]);
    for (int i = 0; i < SK_UNIX_MAX_FDS; i++)
        close(fds[i]);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(unix_fds, descriptors_that_do_not_fit_are_truncated_and_none_leaks)
{
    sk_tcp *c, *s;
    int fds[8], got[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    size_t n = 0, nf = 9;
    char buf[8];
    int before;
    unix_pair(&c, &s);
    for (int i = 0; i < 8; i++)
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    before = tu_count_fds();
    /* Room for 3 of 8; then room for none at all. */
    cr_assert_eq(sk_unix_send_fds(c, "ab", 2, fds, 8, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_unix_send_fds(c, "cd", 2, fds, 8, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_unix_recv_fds(s, buf, sizeof buf, &n, got, 3, &nf, LONG_MS), SK_ETRUNCATED);
    cr_assert_eq(errno, EMSGSIZE);
    cr_assert_eq(n, 2, "the bytes are delivered");
    cr_assert_eq(memcmp(buf, "ab", 2), 0);
    cr_assert_eq(nf, 0);
    cr_assert_eq(tu_count_fds(), before, "a truncated message left descriptors open");
    cr_assert_eq(sk_unix_recv_fds(s, buf, sizeof buf, &n, NULL, 0, NULL, LONG_MS), SK_ETRUNCATED);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(buf, "cd", 2), 0);
    cr_assert_eq(tu_count_fds(), before);
    /* A plain recv of bytes that carry descriptors: the kernel drops them, nothing leaks. */
    cr_assert_eq(sk_unix_send_fds(c, "ef", 2, fds, 8, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_recv_exact(s, buf, 2, &n, LONG_MS), SK_OK);
    cr_assert_eq(tu_count_fds(), before);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(unix_fds, bytes_without_descriptors_and_bad_arguments)
{
    sk_tcp *c, *s;
    int got[2], bad = -1, closed;
    size_t n = 0, nf = 5, sent = 7;
    char buf[8];
    unix_pair(&c, &s);
    cr_assert_eq(sk_unix_send_fds(c, "plain", 5, NULL, 0, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, 5);
    cr_assert_eq(sk_unix_recv_fds(s, buf, sizeof buf, &n, got, 2, &nf, LONG_MS), SK_OK);
    cr_assert_eq(n, 5);
    cr_assert_eq(nf, 0);
    cr_assert_eq(sk_unix_send_fds(c, "", 0, NULL, 0, &sent, LONG_MS), SK_EINVAL, "descriptors need a byte");
    cr_assert_eq(sk_unix_send_fds(c, "x", 1, &bad, 1, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(sent, 0);
    cr_assert_eq(sk_unix_send_fds(c, "x", 1, NULL, 1, NULL, LONG_MS), SK_EINVAL);
    closed = open("/dev/null", O_RDONLY);
    close(closed);
    cr_assert_eq(sk_unix_send_fds(c, "x", 1, &closed, 1, &sent, LONG_MS), SK_EOS);
    cr_assert_eq(errno, EBADF);
    cr_assert_eq(sent, 0);
    cr_assert_eq(sk_unix_recv_fds(s, buf, sizeof buf, &n, NULL, 2, &nf, LONG_MS), SK_EINVAL);
    cr_assert_eq(sk_unix_recv_fds(s, buf, 0, &n, got, 2, &nf, LONG_MS), SK_EINVAL);
    cr_assert_eq(sk_unix_recv_fds(NULL, buf, 1, &n, got, 2, &nf, LONG_MS), SK_EINVAL);
    /* Nothing there and a budget: a timeout, not before it. */
    {
        int64_t t0 = tu_now_ms();
        cr_assert_eq(sk_unix_recv_fds(s, buf, sizeof buf, &n, got, 2, &nf, 100), SK_ETIMEDOUT);
        cr_assert_geq(tu_now_ms() - t0, 100);
        cr_assert_eq(nf, 0);
    }
    sk_tcp_close(c);
    sk_tcp_close(s);
}

/* ---- datagrams ------------------------------------------------------------------ */

Test(unix_dgram, a_bound_endpoint_and_a_connected_one_exchange_both_ways)
{
    char p[128], buf[32], text[SK_ADDR_STRLEN];
    sk_udp *srv, *cli;
    sk_addr from;
    size_t n = 0;
    path_in_dir(p, sizeof p, "dg.sock");
    cr_assert_eq(sk_unix_dgram_bind(&srv, p), SK_OK);
    cr_assert_eq(sk_unix_dgram_connect(&cli, p), SK_OK);
    cr_assert_eq(sk_udp_send(cli, "ping", 4, LONG_MS), SK_OK);
    cr_assert_eq(sk_udp_recvfrom(srv, buf, sizeof buf, &n, &from, LONG_MS), SK_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(sk_addr_format(&from, text, sizeof text), SK_OK);
    cr_assert_eq(strncmp(text, "unix:@", 6), 0, "the connected client has a kernel-picked name: %s", text);
    cr_assert_eq(sk_udp_sendto(srv, "pong", 4, &from, LONG_MS), SK_OK);
    cr_assert_eq(sk_udp_recv(cli, buf, sizeof buf, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(buf, "pong", 4), 0);
    /* Truncation shows, as for UDP. */
    cr_assert_eq(sk_udp_send(cli, "0123456789", 10, LONG_MS), SK_OK);
    cr_assert_eq(sk_udp_recv(srv, buf, 4, &n, LONG_MS), SK_ETRUNCATED);
    cr_assert_eq(n, 4);
    sk_udp_close(cli);
    sk_udp_close(srv);
    cr_assert_not(is_socket_file(p));
}

Test(unix_dgram, an_unnamed_sender_is_unix_colon_and_batches_work)
{
    sk_udp *srv, *anon;
    sk_addr to, from;
    char text[SK_ADDR_STRLEN], buf[16];
    size_t n = 0;
    sk_dgram in[4];
    char bufs[4][16];
    cr_assert_eq(sk_unix_dgram_bind(&srv, ""), SK_OK);
    cr_assert_eq(sk_udp_local_addr(srv, &to), SK_OK);
    cr_assert_eq(sk_unix_dgram_bind(&anon, NULL), SK_OK);
    cr_assert_eq(sk_udp_sendto(anon, "a", 1, &to, LONG_MS), SK_OK);
    cr_assert_eq(sk_udp_recvfrom(srv, buf, sizeof buf, &n, &from, LONG_MS), SK_OK);
    cr_assert_eq(sk_addr_format(&from, text, sizeof text), SK_OK);
    cr_assert_str_eq(text, "unix:");
    /* An IP destination is not reachable from a Unix endpoint. */
    {
        sk_addr ip;
        cr_assert_eq(sk_addr_parse(&ip, "127.0.0.1:9"), SK_OK);
        cr_assert_eq(sk_udp_sendto(anon, "a", 1, &ip, LONG_MS), SK_EINVAL);
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sk_udp_sendto(anon, "xyz", 3, &to, LONG_MS), SK_OK);
    memset(in, 0, sizeof in);
    for (int i = 0; i < 4; i++) {
        in[i].buf = bufs[i];
        in[i].len = sizeof bufs[i];
    }
    cr_assert_eq(sk_udp_recv_batch(srv, in, 4, &n, LONG_MS), SK_OK);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(in[i].received, 3);
        cr_assert_eq(sk_addr_format(&in[i].addr, text, sizeof text), SK_OK);
        cr_assert_str_eq(text, "unix:");
    }
    sk_udp_close(anon);
    sk_udp_close(srv);
}

Test(unix_dgram, descriptors_travel_with_a_datagram_and_truncation_closes_them)
{
    sk_udp *srv, *cli;
    sk_addr to, from;
    int fds[3], got[3];
    size_t n = 0, nf = 0;
    char buf[8];
    int before;
    cr_assert_eq(sk_unix_dgram_bind(&srv, ""), SK_OK);
    cr_assert_eq(sk_udp_local_addr(srv, &to), SK_OK);
    cr_assert_eq(sk_unix_dgram_bind(&cli, ""), SK_OK);
    for (int i = 0; i < 3; i++)
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    before = tu_count_fds();
    /* An empty datagram may carry descriptors. */
    cr_assert_eq(sk_unix_dgram_send_fds(cli, NULL, 0, &to, fds, 3, LONG_MS), SK_OK);
    cr_assert_eq(sk_unix_dgram_recv_fds(srv, buf, sizeof buf, &n, &from, got, 3, &nf, LONG_MS), SK_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(nf, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert(same_file(got[i], fds[i]));
        cr_assert(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
        close(got[i]);
    }
    /* A datagram longer than the buffer: its descriptors are closed, not lost open. */
    cr_assert_eq(sk_unix_dgram_send_fds(cli, "0123456789", 10, &to, fds, 3, LONG_MS), SK_OK);
    cr_assert_eq(sk_unix_dgram_recv_fds(srv, buf, 4, &n, NULL, got, 3, &nf, LONG_MS), SK_ETRUNCATED);
    cr_assert_eq(n, 4);
    cr_assert_eq(nf, 0);
    cr_assert_eq(tu_count_fds(), before);
    /* Room for one of three. */
    cr_assert_eq(sk_unix_dgram_send_fds(cli, "x", 1, &to, fds, 3, LONG_MS), SK_OK);
    cr_assert_eq(sk_unix_dgram_recv_fds(srv, buf, sizeof buf, &n, NULL, got, 1, &nf, LONG_MS), SK_ETRUNCATED);
    cr_assert_eq(nf, 0);
    cr_assert_eq(tu_count_fds(), before);
    /* Not on an IP endpoint. */
    {
        sk_udp *ip;
        cr_assert_eq(sk_udp_bind(&ip, "127.0.0.1", 0), SK_OK);
        cr_assert_eq(sk_unix_dgram_send_fds(ip, "x", 1, &to, fds, 1, LONG_MS), SK_EINVAL);
        cr_assert_eq(sk_unix_dgram_recv_fds(ip, buf, 1, &n, NULL, got, 1, &nf, 0), SK_EINVAL);
        sk_udp_close(ip);
    }
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

/* ---- a real peer: Python's socket.send_fds / recv_fds ---------------------------- */

/* Python connects to name, passes us the write end of its pipe and reads what we
 * write into it; then takes the write end of our pipe from us and writes into it. */
static const char py_peer[] =
    "import os, socket, sys\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
    "s.settimeout(10)\n"
    "s.connect('\\0' + sys.argv[1])\n"
    "r, w = os.pipe()\n"
    "socket.send_fds(s, [b'py'], [w])\n"
    "os.close(w)\n"
    "assert os.read(r, 2) == b'ok', 'nothing came through the passed pipe'\n"
    "msg, fds, flags, addr = socket.recv_fds(s, 16, 4)\n"
    "assert msg == b'sk' and len(fds) == 1, (msg, fds)\n"
    "os.write(fds[0], b'back')\n"
    "os.close(fds[0])\n";

Test(unix_fds, descriptors_go_both_ways_with_pythons_send_fds_and_recv_fds)
{
    sk_tcp *l, *s;
    char name[64], buf[8], script[64];
    int got[2], p[2], status;
    size_t n = 0, nf = 0;
    pid_t child;
    FILE *f;

    snprintf(name, sizeof name, "sk-test-py-%d", (int)getpid());
    snprintf(script, sizeof script, "/tmp/sk-test-py-%d.py", (int)getpid());
    cr_assert_not_null(f = fopen(script, "w"));
    fputs(py_peer, f);
    fclose(f);
    {
        char at[70];
        snprintf(at, sizeof at, "@%s", name);
        cr_assert_eq(sk_unix_listen(&l, at, 4), SK_OK);
    }
    child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        execlp("python3", "python3", script, name, (char *)NULL);
        _exit(77);
    }
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS * 2), SK_OK);
    cr_assert_eq(sk_unix_recv_fds(s, buf, sizeof buf, &n, got, 2, &nf, LONG_MS * 2), SK_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(buf, "py", 2), 0);
    cr_assert_eq(nf, 1);
    cr_assert(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
    cr_assert_eq(write(got[0], "ok", 2), 2);
    close(got[0]);
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(sk_unix_send_fds(s, "sk", 2, &p[1], 1, NULL, LONG_MS), SK_OK);
    close(p[1]);
    {
        ssize_t k, have = 0;
        while (have < 4 && (k = read(p[0], buf + have, (size_t)(4 - have))) > 0)
            have += k;
        cr_assert_eq(have, 4);
        cr_assert_eq(memcmp(buf, "back", 4), 0);
    }
    close(p[0]);
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the Python peer failed (exit %d)",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    unlink(script);
    sk_tcp_close(s);
    sk_tcp_close(l);
}
