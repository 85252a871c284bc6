/* Descriptor passing and sk_tcp_sendfile under the fault shim (tests/shim/faultshim.c):
 * short transfers, EINTR storms, spurious EAGAIN and spurious wake-ups on Unix domain
 * sockets (the shim's "unix" token: only sockets whose names carry its mark) and on
 * the sendfile/splice path. Every byte and every descriptor arrives exactly once, with
 * the message it was sent with, and no descriptor is left open (/proc/self/fd). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "shim_util.h"

TestSuite(faults_unix, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

#define LONG_MS 10000
#define MSGS 240  /* messages per test, sent in batches */
#define BATCH 8
#define POOL 6    /* descriptors the messages carry (three pipes) */
#define MAXFDS 3

/* A name the shim touches: it carries SK_FAULTSHIM_UNIX_MARK. */
static void marked_name(char *buf, size_t cap, const char *what)
{
    static int n;
    snprintf(buf, cap, "@" SK_FAULTSHIM_UNIX_MARK "-%s-%d-%d", what, (int)getpid(), n++);
}

static unsigned char pat(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 11);
}

/* Message i: its length, and how many of the pool's descriptors it carries. */
static size_t msg_len(int i)
{
    return 1 + (size_t)(i * 37) % 61;
}

static int msg_nfds(int i)
{
    return i % (MAXFDS + 1);
}

struct pool {
    int fd[POOL];
    ino_t ino[POOL];
};

static void pool_open(struct pool *p)
{
    for (int i = 0; i < POOL; i += 2) {
        int pp[2];
        cr_assert_eq(pipe(pp), 0);
        p->fd[i] = pp[0];
        p->fd[i + 1] = pp[1];
    }
    for (int i = 0; i < POOL; i++) {
        struct stat st;
        cr_assert_eq(fstat(p->fd[i], &st), 0);
        p->ino[i] = st.st_ino;
    }
}

static void pool_close(struct pool *p)
{
    for (int i = 0; i < POOL; i++)
        close(p->fd[i]);
}

/* The descriptors message i carries: pool entries i, i+1... */
static void msg_fds(const struct pool *p, int i, int *out)
{
    for (int j = 0; j < msg_nfds(i); j++)
        out[j] = p->fd[(i + j) % POOL];
}

/* A received descriptor is the pool's entry want (same pipe, same end), and close-on-exec. */
static void expect_same(const struct pool *p, int got, int want_fd, int i)
{
    struct stat st;
    int k = -1, fl;
    for (int j = 0; j < POOL; j++)
        if (p->fd[j] == want_fd)
            k = j;
    cr_assert_eq(fstat(got, &st), 0, "message %d: descriptor %d is not open", i, got);
    cr_assert_eq(st.st_ino, p->ino[k], "message %d: descriptor %d is not the one sent", i, got);
    fl = fcntl(got, F_GETFL);
    cr_assert_eq(fl & O_ACCMODE, fcntl(want_fd, F_GETFL) & O_ACCMODE, "message %d: the other end of the pipe", i);
    cr_assert(fcntl(got, F_GETFD) & FD_CLOEXEC, "message %d: not close-on-exec", i);
}

/* Where message i starts in the stream. */
static size_t msg_start(int i)
{
    size_t at = 0;
    for (int k = 0; k < i; k++)
        at += msg_len(k);
    return at;
}

struct sender {
    sk_tcp *c;
    const struct pool *p;
    int from, to, pause_ms; /* messages [from, to); a pause after each batch */
    int rc, failed_at;
};

/* Sends messages [from, to); never asserts (it may run on its own thread). */
static void *send_messages(void *arg)
{
    struct sender *x = arg;
    x->rc = SK_OK;
    x->failed_at = -1;
    for (int i = x->from; i < x->to; i++) {
        int fds[MAXFDS];
        unsigned char m[64];
        size_t sent = (size_t)-1, at = msg_start(i);
        for (size_t k = 0; k < msg_len(i); k++)
            m[k] = pat(at + k);
        msg_fds(x->p, i, fds);
        x->rc = sk_unix_send_fds(x->c, m, msg_len(i), fds, (size_t)msg_nfds(i), &sent, LONG_MS);
        if (x->rc != SK_OK || sent != msg_len(i)) {
            x->failed_at = i;
            if (x->rc == SK_OK)
                x->rc = SK_EOS;
            return NULL;
        }
        if (x->pause_ms > 0 && i % BATCH == BATCH - 1)
            tu_sleep_ms(x->pause_ms);
    }
    return NULL;
}

/* The stream test: MSGS messages through a marked Unix stream under mode. With
 * threaded 0, BATCH at a time are sent then received (the receiver never waits);
 * with threaded 1 a thread sends them all, pausing after each batch, while the
 * receiver waits for them (the waits meet the mode's storms and wake-ups). The
 * receiver checks every byte, and that each message's descriptors come exactly once,
 * with the read that takes the message's first byte. */
static void stream_run(const char *mode, int threaded)
{
    char name[108];
    sk_tcp *l, *c, *s;
    struct pool p;
    struct sender tx;
    pthread_t th;
    int base, got_fds = 0, sent_fds = 0;
    static int done[MSGS];
    static unsigned char buf[64 * MSGS];
    size_t off = 0;

    marked_name(name, sizeof name, "stream");
    pool_open(&p);
    faults(mode);
    cr_assert_eq(sk_unix_listen(&l, name, 4), SK_OK);
    cr_assert_eq(sk_unix_connect(&c, name, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    base = tu_count_fds();
    memset(done, 0, sizeof done);
    tx.c = c;
    tx.p = &p;
    tx.pause_ms = threaded ? 3 : 0;
    if (threaded) {
        tx.from = 0;
        tx.to = MSGS;
        cr_assert_eq(pthread_create(&th, NULL, send_messages, &tx), 0);
    }
    for (int b = 0; b < MSGS; b += BATCH) {
        size_t end = msg_start(b + BATCH);
        if (!threaded) {
            tx.from = b;
            tx.to = b + BATCH;
            send_messages(&tx);
            cr_assert_eq(tx.rc, SK_OK, "message %d under %s: %s", tx.failed_at, mode, sk_errname(tx.rc));
        }
        while (off < end) {
            int fds[MAXFDS + 2], j = -1;
            size_t n = 0, nf = (size_t)-1;
            int rc = sk_unix_recv_fds(s, buf + off, end - off, &n, fds, MAXFDS + 2, &nf, LONG_MS);
            cr_assert_eq(rc, SK_OK, "batch %d at %zu under %s: %s", b, off, mode, sk_errname(rc));
            cr_assert_gt(n, 0);
            /* The descriptors of the one message with descriptors whose first byte
             * this read took (the kernel ends a read after such a message's first
             * piece), none when it took no such first byte. */
            for (int m = b; m < b + BATCH; m++) {
                size_t at = msg_start(m);
                if (msg_nfds(m) == 0 || at < off || at >= off + n)
                    continue;
                cr_assert_eq(j, -1, "one read at %zu took the first bytes of messages %d and %d, both with "
                             "descriptors", off, j, m);
                j = m;
            }
            if (j < 0) {
                cr_assert_eq(nf, 0, "batch %d: %zu descriptors in a read at %zu (%zu bytes) that took no "
                             "message's first byte", b, nf, off, n);
            } else {
                int want[MAXFDS];
                cr_assert_eq(nf, (size_t)msg_nfds(j), "message %d: %zu descriptors, sent %d", j, nf, msg_nfds(j));
                cr_assert_eq(done[j], 0, "message %d: its descriptors came twice", j);
                done[j] = 1;
                msg_fds(&p, j, want);
                for (size_t k = 0; k < nf; k++) {
                    expect_same(&p, fds[k], want[k], j);
                    close(fds[k]);
                }
                got_fds += (int)nf;
            }
            off += n;
        }
        for (int m = b; m < b + BATCH; m++) {
            sent_fds += msg_nfds(m);
            cr_assert(msg_nfds(m) == 0 || done[m], "message %d: its %d descriptors never came", m, msg_nfds(m));
        }
        if (!threaded)
            cr_assert_eq(tu_count_fds(), base, "batch %d under %s: %d descriptors open, %d before", b, mode,
                         tu_count_fds(), base);
    }
    if (threaded) {
        pthread_join(th, NULL);
        cr_assert_eq(tx.rc, SK_OK, "message %d under %s: %s", tx.failed_at, mode, sk_errname(tx.rc));
        cr_assert_eq(tu_count_fds(), base, "under %s: %d descriptors open, %d before", mode, tu_count_fds(), base);
    }
    for (size_t k = 0; k < off; k++)
        cr_assert_eq(buf[k], pat(k), "byte %zu differs", k);
    cr_assert_eq(got_fds, sent_fds);
    cr_log_info("%s%s: %d messages, %d descriptors; %lu calls touched, %lu short, %lu EINTR, %lu EAGAIN, "
                "%lu wake-ups", mode, threaded ? " (threaded)" : "", MSGS, got_fds, shim_counter("calls"),
                shim_counter("short"), shim_counter("eintr"), shim_counter("eagain"), shim_counter("wakeup"));
    cr_assert_gt(injected("calls"), 0, "the shim touched no call on the marked sockets");
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
    pool_close(&p);
}

Test(faults_unix, every_byte_and_descriptor_of_a_unix_stream_arrives_once_under_short_transfers)
{
    stream_run("unix+short", 0);
    cr_assert_gt(injected("short:sendmsg"), 0);
    cr_assert_gt(injected("short:recvmsg"), 0);
}

Test(faults_unix, every_byte_and_descriptor_of_a_unix_stream_arrives_once_under_an_eintr_storm)
{
    stream_run("unix+eintr=2", 0);
    cr_assert_gt(injected("eintr:sendmsg"), 0);
    cr_assert_gt(injected("eintr:recvmsg"), 0);
}

Test(faults_unix, every_byte_and_descriptor_of_a_unix_stream_arrives_once_under_spurious_eagain_and_wakeups)
{
    stream_run("unix+eagain=2+wakeup=2", 0);
    cr_assert_gt(injected("eagain:sendmsg"), 0);
    cr_assert_gt(injected("eagain:recvmsg"), 0);
}

Test(faults_unix, every_byte_and_descriptor_of_a_unix_stream_arrives_once_under_every_fault_at_once)
{
    stream_run("unix+short+eintr=3+eagain=3+wakeup=3", 0);
}

Test(faults_unix, every_byte_and_descriptor_of_a_unix_stream_arrives_once_to_a_waiting_receiver_under_a_signal_storm)
{
    stream_run("unix+short+interrupt=2+eagain=5", 1);
    cr_assert_gt(injected("eintr:recvmsg"), 0, "the storm never interrupted a waiting receive");
}

/* The datagram twins: each datagram whole, with its own descriptors. */
static void dgram_run(const char *mode)
{
    char name[108];
    sk_udp *srv, *cli;
    struct pool p;
    int base, got_fds = 0;

    marked_name(name, sizeof name, "dgram");
    pool_open(&p);
    faults(mode);
    cr_assert_eq(sk_unix_dgram_bind(&srv, name), SK_OK);
    cr_assert_eq(sk_unix_dgram_connect(&cli, name), SK_OK);
    base = tu_count_fds();
    for (int b = 0; b < MSGS; b += BATCH) {
        for (int i = b; i < b + BATCH; i++) {
            int fds[MAXFDS];
            unsigned char m[64];
            for (size_t k = 0; k < msg_len(i); k++)
                m[k] = pat((size_t)i * 64 + k);
            msg_fds(&p, i, fds);
            cr_assert_eq(sk_unix_dgram_send_fds(cli, m, msg_len(i), NULL, fds, (size_t)msg_nfds(i), LONG_MS), SK_OK,
                         "datagram %d under %s", i, mode);
        }
        for (int i = b; i < b + BATCH; i++) {
            int fds[MAXFDS + 2], want[MAXFDS];
            unsigned char m[128];
            size_t n = 0, nf = (size_t)-1;
            int rc = sk_unix_dgram_recv_fds(srv, m, sizeof m, &n, NULL, fds, MAXFDS + 2, &nf, LONG_MS);
            cr_assert_eq(rc, SK_OK, "datagram %d under %s: %s", i, mode, sk_errname(rc));
            cr_assert_eq(n, msg_len(i), "datagram %d: %zu bytes, sent %zu", i, n, msg_len(i));
            for (size_t k = 0; k < n; k++)
                cr_assert_eq(m[k], pat((size_t)i * 64 + k), "datagram %d: byte %zu differs", i, k);
            cr_assert_eq(nf, (size_t)msg_nfds(i), "datagram %d: %zu descriptors, sent %d", i, nf, msg_nfds(i));
            msg_fds(&p, i, want);
            for (size_t k = 0; k < nf; k++) {
                expect_same(&p, fds[k], want[k], i);
                close(fds[k]);
            }
            got_fds += (int)nf;
        }
        cr_assert_eq(tu_count_fds(), base, "batch %d under %s: %d descriptors open, %d before", b, mode,
                     tu_count_fds(), base);
    }
    cr_log_info("%s: %d datagrams, %d descriptors; %lu EINTR, %lu EAGAIN, %lu wake-ups", mode, MSGS, got_fds,
                shim_counter("eintr"), shim_counter("eagain"), shim_counter("wakeup"));
    sk_udp_close(cli);
    sk_udp_close(srv);
    pool_close(&p);
}

Test(faults_unix, every_datagram_and_its_descriptors_arrive_once_under_an_eintr_storm)
{
    dgram_run("unix+eintr=2");
    cr_assert_gt(injected("eintr:sendmsg"), 0);
    cr_assert_gt(injected("eintr:recvmsg"), 0);
}

Test(faults_unix, every_datagram_and_its_descriptors_arrive_once_under_spurious_eagain_and_wakeups)
{
    dgram_run("unix+eagain=2+wakeup=2+short");
    cr_assert_gt(injected("eagain:sendmsg"), 0);
    cr_assert_gt(injected("eagain:recvmsg"), 0);
    cr_assert_eq(injected("short"), 0, "a datagram was clamped");
}

Test(faults_unix, unmarked_unix_sockets_pass_through_untouched)
{
    sk_tcp *l, *c, *s;
    char name[108];
    size_t n = 0;
    char buf[4];
    snprintf(name, sizeof name, "@sk-plain-%d", (int)getpid());
    faults("unix+short+eintr=1");
    cr_assert_eq(sk_unix_listen(&l, name, 4), SK_OK);
    cr_assert_eq(sk_unix_connect(&c, name, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    tu_send_ok(c, "abcd", 4, LONG_MS);
    cr_assert_eq(sk_tcp_recv_exact(s, buf, 4, &n, LONG_MS), SK_OK);
    cr_assert_eq(injected("calls"), 0, "the shim touched an unmarked Unix socket");
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
}

/* ---- sk_tcp_sendfile: sendfile (a file) and splice (a pipe) ---- */

#define FILE_BYTES (24 * 1024 + 13)

static int pattern_file(void)
{
    char path[] = "/tmp/sk-faults-sendfile-XXXXXX";
    unsigned char buf[FILE_BYTES];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    unlink(path);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = pat(i);
    cr_assert_eq(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
    return fd;
}

/* The peer gets exactly the bytes from..from+n of the pattern, and nothing more. */
static void expect_pattern(sk_tcp *s, size_t from, size_t n)
{
    static unsigned char got[FILE_BYTES];
    size_t k = 0;
    char extra;
    cr_assert_eq(sk_tcp_recv_exact(s, got, n, &k, LONG_MS), SK_OK, "received %zu of %zu", k, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], pat(from + i), "byte %zu differs", i);
    cr_assert_eq(sk_tcp_recv(s, &extra, 1, NULL, 0), SK_ETIMEDOUT, "more bytes than sent");
}

static void sendfile_file(const char *mode)
{
    sk_tcp *c, *s;
    int fd = pattern_file();
    size_t sent = 0;
    tu_tcp_pair(NULL, &c, &s);
    faults(mode);
    cr_assert_eq(sk_tcp_sendfile(c, fd, 0, FILE_BYTES, &sent, LONG_MS), SK_OK, "under %s", mode);
    cr_assert_eq(sent, FILE_BYTES);
    expect_pattern(s, 0, FILE_BYTES);
    /* From an offset, to the end (a count past it). */
    cr_assert_eq(sk_tcp_sendfile(c, fd, 1000, FILE_BYTES, &sent, LONG_MS), SK_OK, "under %s", mode);
    cr_assert_eq(sent, FILE_BYTES - 1000);
    expect_pattern(s, 1000, FILE_BYTES - 1000);
    sk_tcp_close(c);
    sk_tcp_close(s);
    close(fd);
}

static void sendfile_pipe(const char *mode)
{
    sk_tcp *c, *s;
    static unsigned char buf[FILE_BYTES];
    int pp[2];
    size_t sent = 0;
    cr_assert_eq(pipe(pp), 0);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = pat(i);
    cr_assert_eq(write(pp[1], buf, sizeof buf), (ssize_t)sizeof buf);
    close(pp[1]);
    tu_tcp_pair(NULL, &c, &s);
    faults(mode);
    /* More than the pipe holds: it ends at the pipe's end. */
    cr_assert_eq(sk_tcp_sendfile(c, pp[0], -1, FILE_BYTES + 100, &sent, LONG_MS), SK_OK, "under %s", mode);
    cr_assert_eq(sent, FILE_BYTES);
    expect_pattern(s, 0, FILE_BYTES);
    sk_tcp_close(c);
    sk_tcp_close(s);
    close(pp[0]);
}

Test(faults_unix, sendfile_of_a_file_delivers_exactly_under_short_transfers)
{
    sendfile_file("short");
#if SK_HAVE_SENDFILE
    cr_assert_gt(injected("short:sendfile"), 0);
#else
    cr_assert_gt(injected("short"), 0);
#endif
}

Test(faults_unix, sendfile_of_a_file_delivers_exactly_under_an_eintr_storm_and_spurious_eagain)
{
    sendfile_file("eintr=2+eagain=3+wakeup=2");
#if SK_HAVE_SENDFILE
    cr_assert_gt(injected("eintr:sendfile"), 0);
    cr_assert_gt(injected("eagain:sendfile"), 0);
#else
    cr_assert_gt(injected("eintr"), 0);
#endif
}

Test(faults_unix, sendfile_of_a_pipe_delivers_exactly_under_short_transfers)
{
    sendfile_pipe("short");
#if SK_HAVE_SPLICE
    cr_assert_gt(injected("short:splice"), 0);
#else
    cr_assert_gt(injected("short"), 0);
#endif
}

Test(faults_unix, sendfile_of_a_pipe_delivers_exactly_under_an_eintr_storm_and_spurious_eagain)
{
    sendfile_pipe("eintr=2+eagain=3+wakeup=2");
#if SK_HAVE_SPLICE
    cr_assert_gt(injected("eintr:splice"), 0);
    cr_assert_gt(injected("eagain:splice"), 0);
#else
    cr_assert_gt(injected("eintr"), 0);
#endif
}

/* ---- out of descriptors, for real (RLIMIT_NOFILE) ---- */

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

/* A receiver with no descriptor left cannot take the ones that come: the kernel
 * truncates the control message, the bytes are delivered, SK_ETRUNCATED, nothing is
 * left open; with descriptors back, the next message's arrive, under short transfers
 * and an EINTR storm. */
Test(faults_unix, a_receiver_out_of_descriptors_gets_the_bytes_and_etruncated_and_leaks_nothing)
{
    char name[108], buf[16];
    sk_tcp *l, *c, *s;
    struct pool p;
    struct rlimit old;
    int fds[MAXFDS + 2], base, rc;
    size_t n = 0, nf = (size_t)-1, got = 0;

    marked_name(name, sizeof name, "emfile");
    pool_open(&p);
    faults("unix+short+eintr=2");
    cr_assert_eq(sk_unix_listen(&l, name, 4), SK_OK);
    cr_assert_eq(sk_unix_connect(&c, name, LONG_MS), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, &s, LONG_MS), SK_OK);
    base = tu_count_fds();
    cr_assert_eq(sk_unix_send_fds(c, "abc", 3, p.fd, 2, NULL, LONG_MS), SK_OK);
    old = no_more_fds();
    rc = sk_unix_recv_fds(s, buf, 3, &n, fds, MAXFDS + 2, &nf, LONG_MS);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_eq(rc, SK_ETRUNCATED, "out of descriptors: %s", sk_errname(rc));
    cr_assert_eq(nf, 0);
    cr_assert(n >= 1 && memcmp(buf, "abc", n) == 0, "%zu bytes", n);
    got = n;
    while (got < 3) {
        cr_assert_eq(sk_unix_recv_fds(s, buf + got, 3 - got, &n, fds, MAXFDS + 2, &nf, LONG_MS), SK_OK);
        cr_assert_eq(nf, 0, "descriptors came with a later piece of the message");
        got += n;
    }
    cr_assert_eq(memcmp(buf, "abc", 3), 0);
    cr_assert_eq(tu_count_fds(), base, "a descriptor was left open");
    /* Descriptors back: the next message's arrive. */
    cr_assert_eq(sk_unix_send_fds(c, "d", 1, p.fd, 2, NULL, LONG_MS), SK_OK);
    cr_assert_eq(sk_unix_recv_fds(s, buf, 1, &n, fds, MAXFDS + 2, &nf, LONG_MS), SK_OK);
    cr_assert_eq(nf, 2);
    expect_same(&p, fds[0], p.fd[0], 1);
    expect_same(&p, fds[1], p.fd[1], 1);
    close(fds[0]);
    close(fds[1]);
    cr_assert_eq(tu_count_fds(), base);
    sk_tcp_close(c);
    sk_tcp_close(s);
    sk_tcp_close(l);
    pool_close(&p);
}
