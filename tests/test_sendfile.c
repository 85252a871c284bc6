/* sk_tcp_sendfile: a file (sendfile), a pipe (splice) and a socket (the copy loop)
 * sent on a stream, with the rules of every send: one budget, the count on failure,
 * cancel. The peer checks every byte. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#define LONG_MS 10000

TestSuite(stream_sendfile, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 120);

/* Bytes that show where they came from: byte i of the source is pattern(i). */
static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static void fill(unsigned char *buf, size_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(from + i);
}

/* A temporary file of size bytes of the pattern, unlinked: its descriptor. */
static int pattern_file(size_t size)
{
    char path[] = "/tmp/sk-sendfile-XXXXXX";
    int fd = mkstemp(path);
    unsigned char *buf = malloc(size > 0 ? size : 1);
    cr_assert(fd >= 0 && buf != NULL);
    unlink(path);
    fill(buf, 0, size);
    cr_assert_eq(write(fd, buf, size), (ssize_t)size);
    free(buf);
    return fd;
}

/* The peer received exactly n bytes, those of the source from byte `from` on. */
static void expect_bytes(sk_tcp *peer, size_t from, size_t n)
{
    unsigned char *got = malloc(n + 1), *want = malloc(n + 1);
    size_t k = 0;
    cr_assert(got != NULL && want != NULL);
    cr_assert_eq(sk_tcp_recv_exact(peer, got, n, &k, LONG_MS), SK_OK, "received %zu of %zu", k, n);
    fill(want, from, n);
    cr_assert_eq(memcmp(got, want, n), 0, "byte %zu differs", tu_first_diff(got, want, n));
    free(got);
    free(want);
}

/* Nothing more is waiting at the peer. */
static void expect_nothing_more(sk_tcp *peer)
{
    char c;
    cr_assert_eq(sk_tcp_recv(peer, &c, 1, NULL, 100), SK_ETIMEDOUT);
}

Test(stream_sendfile, a_whole_file_arrives_byte_for_byte_and_its_position_is_left_alone)
{
    sk_tcp *c, *s;
    size_t size = 3 * 1024 * 1024 + 17, sent = 0;
    int fd = pattern_file(size);
    struct tu_xfer rx;
    pthread_t th;
    unsigned char *got = malloc(size), *want = malloc(size);

    tu_tcp_pair(NULL, &c, &s);
    lseek(fd, 5, SEEK_SET);
    memset(&rx, 0, sizeof rx);
    rx.conn = s;
    rx.buf = got;
    rx.len = size;
    rx.timeout_ms = LONG_MS;
    cr_assert_eq(pthread_create(&th, NULL, tu_recv_exact_job, &rx), 0);
    cr_assert_eq(sk_tcp_sendfile(c, fd, 0, SIZE_MAX, &sent, LONG_MS), SK_OK);
    pthread_join(th, NULL);
    cr_assert_eq(sent, size);
    cr_assert_eq(rx.rc, SK_OK);
    fill(want, 0, size);
    cr_assert_eq(memcmp(got, want, size), 0, "byte %zu differs", tu_first_diff(got, want, size));
    cr_assert_eq(lseek(fd, 0, SEEK_CUR), 5, "the file's position moved");
    free(got);
    free(want);
    close(fd);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_sendfile, an_offset_and_a_length_send_that_slice_and_past_the_end_stop_at_the_end)
{
    sk_tcp *c, *s;
    size_t sent = 0;
    int fd = pattern_file(20000);

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_sendfile(c, fd, 1000, 5000, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, 5000);
    expect_bytes(s, 1000, 5000);
    /* Past the end: what there is, and SK_OK with a short count. */
    cr_assert_eq(sk_tcp_sendfile(c, fd, 18000, 100000, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, 2000);
    expect_bytes(s, 18000, 2000);
    /* At the end, or len 0: nothing. */
    cr_assert_eq(sk_tcp_sendfile(c, fd, 20000, 10, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, 0);
    cr_assert_eq(sk_tcp_sendfile(c, fd, 0, 0, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, 0);
    expect_nothing_more(s);
    close(fd);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_sendfile, offset_minus_one_sends_from_the_files_position_and_advances_it)
{
    sk_tcp *c, *s;
    size_t sent = 0;
    int fd = pattern_file(10000);

    tu_tcp_pair(NULL, &c, &s);
    lseek(fd, 100, SEEK_SET);
    cr_assert_eq(sk_tcp_sendfile(c, fd, -1, 4000, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, 4000);
    cr_assert_eq(lseek(fd, 0, SEEK_CUR), 4100);
    cr_assert_eq(sk_tcp_sendfile(c, fd, -1, SIZE_MAX, &sent, LONG_MS), SK_OK);
    cr_assert_eq(sent, 5900);
    expect_bytes(s, 100, 9900);
    close(fd);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

struct pipe_writer {
    int fd;
    size_t len;
    int delay_ms;
};

static void *pipe_writer_job(void *p)
{
    struct pipe_writer *w = p;
    unsigned char buf[4096];
    size_t done = 0;
    if (w->delay_ms > 0)
        tu_sleep_ms(w->delay_ms);
    while (done < w->len) {
        size_t n = w->len - done < sizeof buf ? w->len - done : sizeof buf;
        ssize_t k;
        fill(buf, done, n);
        if ((k = write(w->fd, buf, n)) <= 0)
            break;
        done += (size_t)k; /* a pipe write of <= PIPE_BUF bytes is whole */
    }
    close(w->fd);
    return NULL;
}

Test(stream_sendfile, a_pipe_is_spliced_to_its_end_waiting_for_a_slow_writer_and_an_offset_in_it_is_einval)
{
    sk_tcp *c, *s;
    int p[2];
    size_t sent = 7, size = 1024 * 1024 + 3;
    struct pipe_writer w;
    pthread_t th;
    struct tu_xfer rx;
    pthread_t rth;
    unsigned char *got = malloc(size), *want = malloc(size);

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(sk_tcp_sendfile(c, p[0], 0, 10, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(sent, 0);
    w.fd = p[1];
    w.len = size;
    w.delay_ms = 200; /* nothing in the pipe at first: the call waits for it */
    memset(&rx, 0, sizeof rx);
    rx.conn = s;
    rx.buf = got;
    rx.len = size;
    rx.timeout_ms = LONG_MS;
    cr_assert_eq(pthread_create(&rth, NULL, tu_recv_exact_job, &rx), 0);
    cr_assert_eq(pthread_create(&th, NULL, pipe_writer_job, &w), 0);
    cr_assert_eq(sk_tcp_sendfile(c, p[0], -1, SIZE_MAX, &sent, LONG_MS), SK_OK);
    pthread_join(th, NULL);
    pthread_join(rth, NULL);
    cr_assert_eq(sent, size);
    cr_assert_eq(rx.rc, SK_OK);
    fill(want, 0, size);
    cr_assert_eq(memcmp(got, want, size), 0, "byte %zu differs", tu_first_diff(got, want, size));
    free(got);
    free(want);
    close(p[0]);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_sendfile, an_empty_pipe_ends_the_call_with_its_budget_not_before)
{
    sk_tcp *c, *s;
    int p[2];
    size_t sent = 7;
    int64_t t0;

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(write(p[1], "abc", 3), 3);
    t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_sendfile(c, p[0], -1, 100, &sent, 300), SK_ETIMEDOUT);
    tu_assert_took(t0, 300);
    cr_assert_eq(sent, 3);
    /* A budget of 0: what is there, no wait. */
    cr_assert_eq(write(p[1], "de", 2), 2);
    cr_assert_eq(sk_tcp_sendfile(c, p[0], -1, 100, &sent, 0), SK_ETIMEDOUT);
    cr_assert_eq(sent, 2);
    {
        char got[5];
        cr_assert_eq(sk_tcp_recv_exact(s, got, 5, NULL, LONG_MS), SK_OK);
        cr_assert_eq(memcmp(got, "abcde", 5), 0);
    }
    close(p[0]);
    close(p[1]);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_sendfile, a_socket_source_goes_through_the_copy_loop_to_its_end_of_stream)
{
    sk_tcp *c, *s;
    int sp[2];
    size_t sent = 0, size = 300000;
    struct pipe_writer w;
    pthread_t th;
    unsigned char *got = malloc(size), *want = malloc(size);
    struct tu_xfer rx;
    pthread_t rth;

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    w.fd = sp[1];
    w.len = size;
    w.delay_ms = 100;
    memset(&rx, 0, sizeof rx);
    rx.conn = s;
    rx.buf = got;
    rx.len = size;
    rx.timeout_ms = LONG_MS;
    cr_assert_eq(pthread_create(&rth, NULL, tu_recv_exact_job, &rx), 0);
    cr_assert_eq(pthread_create(&th, NULL, pipe_writer_job, &w), 0);
    cr_assert_eq(sk_tcp_sendfile(c, sp[0], -1, SIZE_MAX, &sent, LONG_MS), SK_OK);
    pthread_join(th, NULL);
    pthread_join(rth, NULL);
    cr_assert_eq(sent, size);
    cr_assert_eq(rx.rc, SK_OK);
    fill(want, 0, size);
    cr_assert_eq(memcmp(got, want, size), 0, "byte %zu differs", tu_first_diff(got, want, size));
    /* An offset in a socket cannot be. */
    cr_assert_eq(sk_tcp_sendfile(c, sp[0], 0, 10, &sent, LONG_MS), SK_EINVAL);
    free(got);
    free(want);
    close(sp[0]);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_sendfile, a_peer_that_does_not_read_ends_it_with_its_budget_and_the_count_is_what_arrives)
{
    sk_tcp *c, *s;
    size_t size = 64 * 1024 * 1024, sent = 0;
    int fd = pattern_file(size);
    int64_t t0;

    tu_tcp_pair(NULL, &c, &s);
    t0 = tu_now_ms();
    cr_assert_eq(sk_tcp_sendfile(c, fd, 0, size, &sent, 300), SK_ETIMEDOUT);
    tu_assert_took(t0, 300);
    cr_assert_gt(sent, 0);
    cr_assert_lt(sent, size);
    sk_tcp_shutdown(c, SK_SHUT_WR);
    expect_bytes(s, 0, sent);
    {
        char x;
        cr_assert_eq(sk_tcp_recv(s, &x, 1, NULL, LONG_MS), SK_ECLOSED, "more arrived than was counted");
    }
    close(fd);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_sendfile, a_budget_of_0_sends_what_fits_and_leaves_the_socket_blocking)
{
    sk_tcp *c, *s;
    size_t size = 64 * 1024 * 1024, sent = 0;
    int fd = pattern_file(size);
    int64_t t0 = tu_now_ms();

    tu_tcp_pair(NULL, &c, &s);
    cr_assert_eq(sk_tcp_sendfile(c, fd, 0, size, &sent, 0), SK_ETIMEDOUT);
    cr_assert_lt(tu_now_ms() - t0, 3000);
    cr_assert_gt(sent, 0);
    cr_assert_lt(sent, size);
    cr_assert_eq(fcntl(sk_tcp_fd(c), F_GETFL) & O_NONBLOCK, 0, "the socket was left non-blocking");
    sk_tcp_shutdown(c, SK_SHUT_WR);
    expect_bytes(s, 0, sent);
    close(fd);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

struct canceller {
    sk_tcp *t;
    int delay_ms;
};

static void *cancel_job(void *p)
{
    struct canceller *k = p;
    tu_sleep_ms(k->delay_ms);
    sk_tcp_cancel(k->t);
    return NULL;
}

Test(stream_sendfile, a_cancel_from_another_thread_ends_a_blocked_sendfile_with_its_count)
{
    sk_tcp *c, *s;
    size_t size = 64 * 1024 * 1024, sent = 0, got = 0;
    int fd = pattern_file(size);
    struct canceller k;
    pthread_t th;
    char buf[65536];
    int rc;

    tu_tcp_pair(NULL, &c, &s);
    k.t = c;
    k.delay_ms = 200;
    cr_assert_eq(pthread_create(&th, NULL, cancel_job, &k), 0);
    rc = sk_tcp_sendfile(c, fd, 0, size, &sent, SK_FOREVER);
    pthread_join(th, NULL);
    cr_assert_eq(rc, SK_ECANCELED, "sendfile: %s", sk_errname(rc));
    cr_assert_gt(sent, 0);
    cr_assert_eq(sk_tcp_sendfile(c, fd, 0, size, NULL, LONG_MS), SK_ECANCELED);
    /* The peer gets exactly what was counted, then the end of stream. */
    for (;;) {
        size_t n = 0;
        rc = sk_tcp_recv(s, buf, sizeof buf, &n, LONG_MS);
        got += n;
        if (rc != SK_OK)
            break;
    }
    cr_assert_eq(rc, SK_ECLOSED);
    cr_assert_eq(got, sent);
    close(fd);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(stream_sendfile, bad_arguments_are_einval_and_a_shut_down_end_is_closed_without_sigpipe)
{
    sk_tcp *l, *c, *s;
    size_t sent = 7;
    int fd = pattern_file(100);

    tu_tcp_pair(&l, &c, &s);
    cr_assert_eq(sk_tcp_sendfile(NULL, fd, 0, 10, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(sent, 0);
    cr_assert_eq(sk_tcp_sendfile(l, fd, 0, 10, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(sk_tcp_sendfile(c, -1, 0, 10, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(sk_tcp_sendfile(c, fd, -2, 10, &sent, LONG_MS), SK_EINVAL);
    cr_assert_eq(sk_tcp_sendfile(c, fd, 0, 10, &sent, -5), SK_EINVAL);
    cr_assert_eq(sk_tcp_shutdown(c, SK_SHUT_WR), SK_OK);
    cr_assert_eq(sk_tcp_sendfile(c, fd, 0, 10, &sent, LONG_MS), SK_ECLOSED);
    cr_assert_eq(sent, 0);
    {
        /* The EPIPE raised no SIGPIPE (the test would have died), and left none pending. */
        sigset_t pending;
        cr_assert_eq(sigpending(&pending), 0);
        cr_assert_eq(sigismember(&pending, SIGPIPE), 0);
    }
    close(fd);
    sk_tcp_close(l);
    sk_tcp_close(c);
    sk_tcp_close(s);
}
