/* The SCM_RIGHTS parser of descriptor passing (lib/compat.c, sk__each_received_fd)
 * against control bytes whose message claims more than the buffer holds, as a system
 * that truncates a message may leave them (Linux cuts cmsg_len itself; the parser must
 * not count on it).
 *
 * recvmsg is defined here, before the C library's (for libsockkit.so through its PLT,
 * for libsockkit.a at link time): it makes the real call, then, while `forge` is set
 * on the test's thread, rewrites the first control message so that its cmsg_len
 * claims `claim` bytes while msg_controllen covers its one real descriptor only. The
 * bytes past msg_controllen hold the number of a descriptor the test owns: a parser
 * that reads past the end hands it out (or closes it). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/socket.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

#include "testutil.h"

TestSuite(unix_cmsg, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end, .timeout = 60);

static _Thread_local int forge;
static _Thread_local size_t claim;
static _Thread_local int planted;

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    ssize_t k = (ssize_t)syscall(SYS_recvmsg, fd, m, flags);
    if (k >= 0 && forge && m->msg_control != NULL && m->msg_controllen >= CMSG_LEN(sizeof(int))) {
        unsigned char *ctl = m->msg_control;
        struct cmsghdr h;
        memcpy(&h, ctl, sizeof h);
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
            /* The room the library gave (room for 4) goes up to CMSG_SPACE(4 ints). */
            for (size_t at = CMSG_LEN(sizeof(int)); at + sizeof(int) <= CMSG_SPACE(4 * sizeof(int)); at += sizeof(int))
                memcpy(ctl + at, &planted, sizeof planted);
            h.cmsg_len = claim;
            memcpy(ctl, &h, sizeof h);
            m->msg_controllen = CMSG_LEN(sizeof(int));
        }
    }
    return k;
}

static void stream_pair(sk_tcp **c, sk_tcp **s)
{
    sk_tcp *l;
    char name[64];
    static int k;
    snprintf(name, sizeof name, "@sk-test-cmsg-%d-%d", (int)getpid(), k++);
    cr_assert_eq(sk_unix_listen(&l, name, 4), SK_OK);
    cr_assert_eq(sk_unix_connect(c, name, 5000), SK_OK);
    cr_assert_eq(sk_tcp_accept(l, s, 5000), SK_OK);
    sk_tcp_close(l);
}

/* One descriptor is sent; the receiver has room for 4 and the control bytes claim
 * `claim_bytes`: a truncation, nothing handed out, the real one closed, and the
 * descriptor whose number lay past the end untouched. */
static void check_stream(size_t claim_bytes)
{
    sk_tcp *c, *s;
    int one = open("/dev/null", O_RDONLY | O_CLOEXEC), got[4] = {-1, -1, -1, -1}, before;
    size_t n = 0, nf = 99;
    char buf[4];
    stream_pair(&c, &s);
    planted = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert(one >= 0 && planted >= 0);
    cr_assert_eq(sk_unix_send_fds(c, "m", 1, &one, 1, NULL, 5000), SK_OK);
    before = tu_count_fds();
    claim = claim_bytes;
    forge = 1;
    int rc = sk_unix_recv_fds(s, buf, sizeof buf, &n, got, 4, &nf, 5000);
    forge = 0;
    cr_assert_eq(rc, SK_ETRUNCATED, "a message cut by the buffer's end gave %s", sk_errname(rc));
    cr_assert_eq(n, 1, "the byte is delivered");
    cr_assert_eq(nf, 0, "%zu descriptors handed out (the second: %d, planted %d)", nf, got[1], planted);
    cr_assert_eq(tu_count_fds(), before, "the descriptor that came was not closed");
    cr_assert_neq(fcntl(planted, F_GETFD), -1, "a descriptor whose number lay past the end was closed");
    close(planted);
    close(one);
    sk_tcp_close(c);
    sk_tcp_close(s);
}

Test(unix_cmsg, a_message_claiming_three_descriptors_past_the_end_is_a_truncation_and_nothing_past_it_is_read)
{
    check_stream(CMSG_LEN(4 * sizeof(int)));
}

Test(unix_cmsg, a_message_claiming_a_gigabyte_is_cut_at_the_end_of_the_buffer)
{
    check_stream((size_t)1 << 30);
}

Test(unix_cmsg, the_datagram_receiver_cuts_a_message_claiming_more_than_the_buffer_too)
{
    sk_udp *srv, *cli;
    sk_addr to;
    int one = open("/dev/null", O_RDONLY | O_CLOEXEC), got[4] = {-1, -1, -1, -1}, before;
    size_t n = 0, nf = 99;
    char buf[4];
    cr_assert_eq(sk_unix_dgram_bind(&srv, ""), SK_OK);
    cr_assert_eq(sk_udp_local_addr(srv, &to), SK_OK);
    cr_assert_eq(sk_unix_dgram_bind(&cli, ""), SK_OK);
    planted = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_eq(sk_unix_dgram_send_fds(cli, "d", 1, &to, &one, 1, 5000), SK_OK);
    before = tu_count_fds();
    claim = CMSG_LEN(3 * sizeof(int));
    forge = 1;
    int rc = sk_unix_dgram_recv_fds(srv, buf, sizeof buf, &n, NULL, got, 4, &nf, 5000);
    forge = 0;
    cr_assert_eq(rc, SK_ETRUNCATED, "gave %s", sk_errname(rc));
    cr_assert_eq(nf, 0, "%zu descriptors handed out", nf);
    cr_assert_eq(tu_count_fds(), before);
    cr_assert_neq(fcntl(planted, F_GETFD), -1);
    close(planted);
    close(one);
    sk_udp_close(cli);
    sk_udp_close(srv);
}

Test(unix_cmsg, well_formed_messages_still_bring_every_descriptor)
{
    sk_tcp *c, *s;
    int fds[3], got[4] = {-1, -1, -1, -1};
    size_t n = 0, nf = 0;
    char buf[4];
    stream_pair(&c, &s);
    for (int i = 0; i < 3; i++)
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_eq(sk_unix_send_fds(c, "w", 1, fds, 3, NULL, 5000), SK_OK);
    cr_assert_eq(sk_unix_recv_fds(s, buf, sizeof buf, &n, got, 4, &nf, 5000), SK_OK);
    cr_assert_eq(nf, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
        close(got[i]);
        close(fds[i]);
    }
    sk_tcp_close(c);
    sk_tcp_close(s);
}
