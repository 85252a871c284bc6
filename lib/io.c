/* The I/O core (see io.h): one loop for every transfer of every transport. */
#include "io.h"
#include "compat.h"
#include "error_map.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#if SK_HAVE_SENDFILE
#include <sys/sendfile.h>
#endif
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

/* The loop below is compiled once per op (ALWAYS_INLINE with op a constant), so
 * that the tests on op vanish from the path of every system call. */
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Gather lists go to the system this many buffers at a time (no allocation). */
#define IOV_CHUNK 64

void sk__sock_init(sk__sock *s, int fd)
{
    s->fd = fd;
    s->rcvtimeo_ms = 0;
    s->sndtimeo_ms = 0;
    s->cancelled = 0;
}

void sk__sock_cancel(sk__sock *s)
{
    int err = errno;
    __atomic_store_n(&s->cancelled, 1, __ATOMIC_RELEASE);
    /* ENOTCONN (an unconnected datagram socket, a connection already gone) still
     * wakes the waiters on Linux; the flag makes the rest refuse at once. */
    (void)shutdown(s->fd, SHUT_RDWR);
    errno = err;
}

void sk__close_keep_errno(int fd)
{
    int err = errno;
    close(fd);
    errno = err;
}


/* ---- the cursor --------------------------------------------------------------- */

/* Skip k bytes from (idx, off), and any empty buffers after them. */
static void advance_list(sk__xfer *x, size_t k)
{
    while (x->idx < x->iovcnt) {
        size_t rem = x->iov[x->idx].len - x->off;
        if (k < rem) {
            x->off += k;
            return;
        }
        k -= rem;
        x->idx++;
        x->off = 0;
    }
}

/* The same, with the common case of one buffer left (never empty: the cursor
 * skips those) kept short: it is on the path of every transfer. */
static ALWAYS_INLINE void advance(sk__xfer *x, size_t k)
{
    x->done += k;
    if (x->iovcnt - x->idx == 1) {
        x->off += k;
        if (x->off == x->iov[x->idx].len) {
            x->idx++;
            x->off = 0;
        }
        return;
    }
    advance_list(x, k);
}

void sk__xfer_iov(sk__xfer *x, int op, const sk_iovec *iov, size_t iovcnt, int all)
{
    sk__xfer_init(x, op, iov, iovcnt, all);
    advance_list(x, 0);
}



static ALWAYS_INLINE int is_batch(int op)
{
    return op == SK__MMSG_SEND || op == SK__MMSG_RECV;
}

/* Everything moved: the cursor skips empty buffers, so it is past the last one. */
static ALWAYS_INLINE int complete(const sk__xfer *x, int op)
{
    return is_batch(op) ? x->done == x->count : x->idx == x->iovcnt;
}

/* Up to IOV_CHUNK non-empty system buffers from the cursor. */
static int gather(const sk__xfer *x, struct iovec *v)
{
    int cnt = 0;
    for (size_t j = x->idx; j < x->iovcnt && cnt < IOV_CHUNK; j++) {
        size_t skip = j == x->idx ? x->off : 0;
        if (x->iov[j].len == skip)
            continue;
        v[cnt].iov_base = (char *)(uintptr_t)x->iov[j].base + skip;
        v[cnt].iov_len = x->iov[j].len - skip;
        cnt++;
    }
    return cnt;
}

/* ---- the budget --------------------------------------------------------------- */

/* Before one more system call in direction opt: the socket's own timeout made to
 * match what is left of the budget (set only when it changes), and MSG_DONTWAIT
 * when the budget is 0. SK_ETIMEDOUT when it is spent. */
static ALWAYS_INLINE int prepare(sk__sock *s, int opt, sk__deadline *dl, int *flags)
{
    int want, rc;
    int *cached = opt == SO_RCVTIMEO ? &s->rcvtimeo_ms : &s->sndtimeo_ms;

    *flags = 0;
    if (sk__deadline_is_now(dl)) {
        *flags = MSG_DONTWAIT;
        return SK_OK;
    }
    if ((rc = sk__deadline_sock_ms(dl, &want)) != SK_OK)
        return rc;
    if (want != *cached) {
        struct timeval tv;
        tv.tv_sec = want / 1000;
        tv.tv_usec = (suseconds_t)(want % 1000) * 1000;
        if (setsockopt(s->fd, SOL_SOCKET, opt, &tv, sizeof tv) != 0)
            return sk__map_errno(errno);
        *cached = want;
    }
    return SK_OK;
}

/* After a system call failed with err: SK_OK to retry (EINTR, or a wait that ended
 * before the deadline: socket timeouts count in ticks), else the code. */
static int after_failure(int err, sk__deadline *dl)
{
    if (err == EINTR)
        return SK_OK;
    if (err == EAGAIN || err == EWOULDBLOCK)
        return sk__deadline_expired(dl) ? sk__fail(SK_ETIMEDOUT) : SK_OK;
    errno = err;
    return sk__map_errno(err);
}

int sk__wait(int fd, short events, sk__deadline *dl)
{
    struct pollfd p;
    for (;;) {
        int n;
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        n = poll(&p, 1, sk__deadline_poll_ms(dl));
        if (n > 0)
            return SK_OK;
        if (n == 0) {
            if (sk__deadline_expired(dl))
                return sk__fail(SK_ETIMEDOUT);
            continue; /* woke a hair early */
        }
        if (errno != EINTR)
            return sk__map_errno(errno);
    }
}

int sk__io_connect(sk__sock *s, const struct sockaddr *sa, socklen_t len, sk__deadline *dl)
{
    for (;;) {
        int flags, rc;
        if ((rc = prepare(s, SO_SNDTIMEO, dl, &flags)) != SK_OK)
            return rc;
        if (connect(s->fd, sa, len) == 0 || errno == EISCONN)
            return SK_OK;
        if ((rc = after_failure(errno, dl)) != SK_OK)
            return rc;
    }
}

/* ---- files ------------------------------------------------------------------- */

/* Bytes per sendfile/splice call: below the kernel's own cap of 0x7ffff000. */
#define FILE_CHUNK ((size_t)1 << 30)

/* splice said EAGAIN: the pipe is empty (wait for it within dl), or the socket's
 * send timeout ended (after_failure decides). */
static int pipe_or_socket_again(int pipe_fd, sk__deadline *dl)
{
    struct pollfd p;
    p.fd = pipe_fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 0) == 0)
        return sk__deadline_is_now(dl) ? sk__fail(SK_ETIMEDOUT) : sk__wait(pipe_fd, POLLIN, dl);
    return after_failure(EAGAIN, dl);
}

/* One sendfile or splice call; -1 with ENOSYS where the system has neither (the
 * caller then takes the copy loop). sendfile and splice take no MSG_NOSIGNAL: the
 * caller blocks SIGPIPE around them (sk__sigpipe_guard). */
static ssize_t file_call(sk__sock *s, int from, int kind, long long *off, size_t want)
{
#if SK_HAVE_SPLICE
    if (kind == SK__FROM_PIPE)
        return splice(from, NULL, s->fd, NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
#endif
#if SK_HAVE_SENDFILE
    if (kind == SK__FROM_FILE) {
        off_t o;
        ssize_t k;
        if (off == NULL)
            return sendfile(s->fd, from, NULL, want);
        o = (off_t)*off;
        k = sendfile(s->fd, from, &o, want);
        *off = (long long)o;
        return k;
    }
#endif
    (void)s, (void)from, (void)kind, (void)off, (void)want;
    errno = ENOSYS;
    return -1;
}

int sk__io_file_send(sk__sock *s, int from, int kind, long long *off, size_t len, size_t *done, sk__deadline *dl)
{
    const int now = sk__deadline_is_now(dl);
    int rc = SK_OK, on = 1, epipe = 0;
    sk__sigpipe_guard g;

    *done = 0;
    if (sk__sock_cancelled(s))
        return sk__fail(SK_ECANCELED);
    if (now && ioctl(s->fd, FIONBIO, &on) != 0)
        return sk__map_errno(errno);
    sk__sigpipe_block(&g);
    while (*done < len) {
        size_t want = len - *done < FILE_CHUNK ? len - *done : FILE_CHUNK;
        int flags, err;
        ssize_t k;
        if (!now && (rc = prepare(s, SO_SNDTIMEO, dl, &flags)) != SK_OK)
            break;
        if ((k = file_call(s, from, kind, off, want)) > 0) {
            *done += (size_t)k;
            continue;
        }
        if (k == 0)
            break; /* the source ended */
        err = errno;
        epipe |= err == EPIPE;
        if (*done == 0 && (err == ENOSYS || (kind == SK__FROM_FILE && err == EINVAL))) {
            rc = SK__IO_UNSUPPORTED;
            break;
        }
        if (err == ESPIPE) {
            rc = sk__fail(SK_EINVAL); /* an offset in a source that cannot seek */
            break;
        }
        rc = kind == SK__FROM_PIPE && err == EAGAIN ? pipe_or_socket_again(from, dl) : after_failure(err, dl);
        if (rc != SK_OK)
            break;
    }
    sk__sigpipe_restore(&g, epipe);
    if (now) {
        int err = errno, off0 = 0;
        (void)ioctl(s->fd, FIONBIO, &off0);
        errno = err;
    }
    if (rc != SK_OK && rc != SK__IO_UNSUPPORTED && sk__sock_cancelled(s))
        rc = sk__fail(SK_ECANCELED);
    return rc;
}

/* ---- socket to socket -------------------------------------------------------- */

#if SK_HAVE_SPLICE
/* How much longer than what is left of the budget a socket timeout may stay during a
 * relay: a long relay that waits often then sets it about once per this many
 * milliseconds and socket, not once per millisecond (prepare() keeps it exact, which a
 * call of a few waits never notices); a wait may end this much after the deadline. */
#define RELAY_SLACK_MS 10

/* prepare() with that slack; never called with a budget of 0. */
static int prepare_relay(sk__sock *s, int opt, sk__deadline *dl)
{
    int want, rc;
    int *cached = opt == SO_RCVTIMEO ? &s->rcvtimeo_ms : &s->sndtimeo_ms;
    struct timeval tv;

    if ((rc = sk__deadline_sock_ms(dl, &want)) != SK_OK)
        return rc;
    if (want == *cached || (want > 0 && *cached > want && *cached - want <= RELAY_SLACK_MS))
        return SK_OK;
    tv.tv_sec = want / 1000;
    tv.tv_usec = (suseconds_t)(want % 1000) * 1000;
    if (setsockopt(s->fd, SOL_SOCKET, opt, &tv, sizeof tv) != 0)
        return sk__map_errno(errno);
    *cached = want;
    return SK_OK;
}

/* splice(2) said EAGAIN on s: the socket's timeout ended (the budget decides), or the
 * socket does not wait at all (a Unix socket reads non-blocking under SPLICE_F_NONBLOCK):
 * wait for it within dl, so that the loop never spins. */
static int splice_again(sk__sock *s, short events, sk__deadline *dl)
{
    if (sk__deadline_is_now(dl) || sk__deadline_expired(dl))
        return sk__fail(SK_ETIMEDOUT);
    return sk__wait(s->fd, events, dl);
}

int sk__io_splice(sk__sock *from, sk__sock *to, const int pipe_fd[2], size_t chunk, size_t len, size_t *done,
                  size_t *held, int *to_failed, sk__deadline *dl)
{
    const int now = sk__deadline_is_now(dl);
    const unsigned sflags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
    int rc = SK_OK, on = 1, epipe = 0, nb = 0;
    size_t inpipe = 0;
    sk__sigpipe_guard g;

    *done = 0;
    *to_failed = 0;
    /* A budget of 0: both sockets non-blocking for the call (splice has no
     * MSG_DONTWAIT); otherwise they wait through their own timeouts, as recv and send. */
    if (now) {
        if (ioctl(from->fd, FIONBIO, &on) != 0 || (nb = 1, ioctl(to->fd, FIONBIO, &on) != 0)) {
            rc = sk__map_errno(errno);
            goto restore;
        }
        nb = 2;
    }
    sk__sigpipe_block(&g);
    for (;;) {
        int err;
        ssize_t k;
        if (inpipe == 0) {
            /* Into the pipe (empty: SPLICE_F_NONBLOCK only stops a splice that would
             * overfill it, which then returns what went). */
            size_t want = len - *done < chunk ? len - *done : chunk;
            if (want == 0)
                break;
            if (!now && (rc = prepare_relay(from, SO_RCVTIMEO, dl)) != SK_OK)
                break;
            k = splice(from->fd, NULL, pipe_fd[1], NULL, want, sflags);
            if (k > 0) {
                inpipe = (size_t)k;
                continue;
            }
            if (k == 0) /* end of stream, or the shutdown of a cancel */
                break;
            err = errno;
            if (*done == 0 && (err == EINVAL || err == ENOSYS)) {
                rc = SK__IO_UNSUPPORTED;
                break;
            }
            rc = err == EAGAIN ? splice_again(from, POLLIN, dl) : after_failure(err, dl);
        } else {
            /* Out of the pipe: what it holds, to `to`. */
            if (!now && (rc = prepare_relay(to, SO_SNDTIMEO, dl)) != SK_OK) {
                *to_failed = 1;
                break;
            }
            k = splice(pipe_fd[0], NULL, to->fd, NULL, inpipe, sflags);
            if (k > 0) {
                inpipe -= (size_t)k;
                *done += (size_t)k;
                continue;
            }
            err = k == 0 ? EAGAIN : errno;
            epipe |= err == EPIPE;
            *to_failed = 1;
            if (*done == 0 && (err == EINVAL || err == ENOSYS)) {
                rc = SK__IO_UNSUPPORTED;
                break;
            }
            rc = err == EAGAIN ? splice_again(to, POLLOUT, dl) : after_failure(err, dl);
        }
        if (rc != SK_OK)
            break;
        *to_failed = 0;
    }
    sk__sigpipe_restore(&g, epipe);
restore:
    if (nb > 0) {
        int err = errno, off0 = 0;
        (void)ioctl(from->fd, FIONBIO, &off0);
        if (nb > 1)
            (void)ioctl(to->fd, FIONBIO, &off0);
        errno = err;
    }
    *held = inpipe;
    if (rc != SK__IO_UNSUPPORTED && (sk__sock_cancelled(from) || sk__sock_cancelled(to)) &&
        (rc != SK_OK || *done < len))
        rc = sk__fail(SK_ECANCELED);
    return rc;
}
#endif

/* ---- the loop ----------------------------------------------------------------- */

/* sendmsg/recvmsg of up to IOV_CHUNK buffers from the cursor. Out of line: its
 * array would otherwise sit in the frame of every single-buffer call. */
static __attribute__((noinline)) ssize_t call_gather(int fd, const sk__xfer *x, int flags, int send_op)
{
    struct iovec v[IOV_CHUNK];
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = v;
    m.msg_iovlen = (size_t)gather(x, v);
    return send_op ? sendmsg(fd, &m, flags | SK__NOSIGNAL) : recvmsg(fd, &m, flags);
}

/* The sum of m's buffers. */
static size_t iov_total(const struct msghdr *m)
{
    size_t t = 0;
    for (size_t i = 0; i < (size_t)m->msg_iovlen; i++)
        t += m->msg_iov[i].iov_len;
    return t;
}

/* recvmsg's result k for a datagram, as Linux's MSG_TRUNC gives it: larger than the
 * buffers when the datagram did not fit. Without that flag msg_flags tells, and the
 * real length is unknown: one byte more than the buffers stands for it. */
static ssize_t dgram_len(ssize_t k, const struct msghdr *m)
{
    if (!SK_HAVE_RECV_MSG_TRUNC && k >= 0 && (m->msg_flags & MSG_TRUNC))
        return (ssize_t)iov_total(m) + 1;
    return k;
}

/* sendmsg/recvmsg with x's control bytes (and address, for a datagram). The
 * control goes with this call only: once it succeeds, x->ctl is done with. */
static __attribute__((noinline)) ssize_t call_ctl(int fd, sk__xfer *x, int flags, int send_op)
{
    struct iovec v[IOV_CHUNK];
    struct msghdr m;
    ssize_t k;
    const int dgram = x->op == SK__DGRAM_SEND || x->op == SK__DGRAM_RECV;

    memset(&m, 0, sizeof m);
    m.msg_iov = v;
    m.msg_iovlen = (size_t)gather(x, v);
    if (dgram && x->addrlen != 0) {
        m.msg_name = x->addr;
        m.msg_namelen = x->addrlen;
    }
    m.msg_control = x->ctl->len ? x->ctl->buf : NULL;
    m.msg_controllen = x->ctl->len;
    /* Every descriptor that arrives is close-on-exec from its first instant (with
     * MSG_CMSG_CLOEXEC; the fallback sets it just after). */
#if SK_HAVE_MSG_CMSG_CLOEXEC
    k = send_op ? sendmsg(fd, &m, flags | SK__NOSIGNAL) : recvmsg(fd, &m, flags | MSG_CMSG_CLOEXEC);
#else
    k = send_op ? sendmsg(fd, &m, flags | SK__NOSIGNAL) : recvmsg(fd, &m, flags);
#endif
    if (k < 0)
        return k;
    if (!send_op) {
        sk__cloexec_received(&m);
        if (dgram)
            k = dgram_len(k, &m);
        x->ctl->len = m.msg_controllen;
        x->ctl->flags = m.msg_flags;
        if (dgram)
            x->addrlen = x->addrlen ? m.msg_namelen : 0;
    }
    x->ctl->used = 1;
    x->ctl = NULL;
    return k;
}

#if !SK_HAVE_RECV_MSG_TRUNC
/* One datagram into n bytes at at, through recvmsg so that msg_flags tells a
 * truncation (dgram_len). */
static __attribute__((noinline)) ssize_t recv_dgram(int fd, void *at, size_t n, int flags, struct sockaddr *addr,
                                                    socklen_t *addrlen)
{
    struct iovec v;
    struct msghdr m;
    ssize_t k;
    v.iov_base = at;
    v.iov_len = n;
    memset(&m, 0, sizeof m);
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    if (addrlen != NULL) {
        m.msg_name = addr;
        m.msg_namelen = *addrlen;
    }
    if ((k = recvmsg(fd, &m, flags)) >= 0 && addrlen != NULL)
        *addrlen = m.msg_namelen;
    return dgram_len(k, &m);
}
#endif

#if !SK_HAVE_SENDMMSG || !SK_HAVE_RECVMMSG
/* sendmmsg/recvmmsg as a loop: the first datagram with flags (so it may wait, within
 * the socket's timeout), the others only if they go at once (a signal there is retried,
 * a few times). The count of datagrams moved, or -1 with errno when the first failed. */
static __attribute__((noinline)) ssize_t batch_loop(int fd, sk__mmsghdr *v, size_t n, int flags, int send_op)
{
    size_t i;
    int interrupted = 0;
    for (i = 0; i < n; i++) {
        int f = i == 0 ? flags : flags | MSG_DONTWAIT;
        ssize_t k;
        if (send_op) {
            k = sendmsg(fd, &v[i].msg_hdr, f | SK__NOSIGNAL);
        } else {
            v[i].msg_hdr.msg_flags = 0;
            if ((k = recvmsg(fd, &v[i].msg_hdr, f | SK__RECV_TRUNC)) >= 0)
                k = dgram_len(k, &v[i].msg_hdr);
        }
        if (k < 0 && i > 0 && errno == EINTR && interrupted++ < 8) {
            i--; /* a signal after the first: that one again (it cannot wait) */
            continue;
        }
        if (k < 0)
            return i > 0 ? (ssize_t)i : -1;
        v[i].msg_len = (unsigned int)k;
    }
    return (ssize_t)i;
}
#endif

/* The one system call of x's kind; its result, -1 with errno on failure. */
static ALWAYS_INLINE ssize_t one_call(int fd, sk__xfer *x, int flags, int op)
{
    /* The cursor's place, and what is left of its buffer (sk_iovec holds const
     * pointers: the receiving ops were given writable ones). */
    const int one = x->iovcnt - x->idx == 1;
    char *at = one ? (char *)(uintptr_t)x->iov[x->idx].base + x->off : NULL;
    size_t n = one ? x->iov[x->idx].len - x->off : 0;

    if (__builtin_expect(x->ctl != NULL, 0) && !is_batch(op))
        return call_ctl(fd, x, op == SK__DGRAM_RECV ? flags | SK__RECV_TRUNC : flags,
                        op == SK__STREAM_SEND || op == SK__DGRAM_SEND);
    switch (op) {
    case SK__STREAM_SEND:
        /* SK__NOSIGNAL: a peer that vanished must not kill the caller. */
        if (one)
            return send(fd, at, n, flags | SK__NOSIGNAL);
        return call_gather(fd, x, flags, 1);
    case SK__STREAM_RECV:
        if (one)
            return recv(fd, at, n, flags);
        return call_gather(fd, x, flags, 0);
    case SK__DGRAM_SEND:
        if (x->addrlen == 0)
            return send(fd, at, n, flags | SK__NOSIGNAL);
        return sendto(fd, at, n, flags | SK__NOSIGNAL, x->addr, x->addrlen);
    case SK__DGRAM_RECV:
#if SK_HAVE_RECV_MSG_TRUNC
        /* MSG_TRUNC: the result is the datagram's real length, so truncation shows. */
        return recvfrom(fd, at, n, flags | MSG_TRUNC, x->addrlen ? x->addr : NULL,
                        x->addrlen ? &x->addrlen : NULL);
#else
        return recv_dgram(fd, at, n, flags, x->addr, x->addrlen ? &x->addrlen : NULL);
#endif
    case SK__MMSG_SEND:
#if SK_HAVE_SENDMMSG
        return sendmmsg(fd, x->mmsg + x->done, (unsigned)(x->count - x->done), flags | SK__NOSIGNAL);
#else
        return batch_loop(fd, x->mmsg + x->done, x->count - x->done, flags, 1);
#endif
    default:
#if SK_HAVE_RECVMMSG
        /* MSG_WAITFORONE: wait (within the socket timeout) for the first datagram
         * only, then take what is there. recvmmsg's own timeout is not used: the
         * kernel checks it only after a datagram arrives. */
        return recvmmsg(fd, x->mmsg, (unsigned)x->count, flags | MSG_WAITFORONE | MSG_TRUNC, NULL);
#else
        return batch_loop(fd, x->mmsg, x->count, flags, 0);
#endif
    }
}

static ALWAYS_INLINE int run(sk__sock *s, sk__xfer *x, sk__deadline *dl, const int op)
{
    const int opt = op == SK__STREAM_SEND || op == SK__DGRAM_SEND || op == SK__MMSG_SEND ? SO_SNDTIMEO
                                                                                        : SO_RCVTIMEO;
    const int stream = op == SK__STREAM_SEND || op == SK__STREAM_RECV;

    if (__builtin_expect(sk__sock_cancelled(s), 0))
        return sk__fail(SK_ECANCELED);
    if (stream && complete(x, op))
        return SK_OK; /* len 0: done at once */
    for (;;) {
        int flags, rc;
        ssize_t k;
        /* A send with a budget not yet started tries once without waiting: when it
         * goes at once (the common case) the call reads no clock and sets no socket
         * timeout; otherwise the budget starts with the next try (nothing waited). */
        if (opt == SO_SNDTIMEO && sk__deadline_try_first(dl))
            flags = MSG_DONTWAIT;
        else if ((rc = prepare(s, opt, dl, &flags)) != SK_OK)
            return rc;
        k = one_call(s->fd, x, flags | x->flags, op);
        if (k < 0 || (k == 0 && is_batch(op))) {
            /* A cancel's shutdown makes the blocked call fail (EPIPE), or return
             * nothing: the flag says why. */
            if (sk__sock_cancelled(s))
                return sk__fail(SK_ECANCELED);
            /* sendmmsg/recvmmsg that moved nothing: as if it would block. */
            if ((rc = after_failure(k < 0 ? errno : EAGAIN, dl)) != SK_OK)
                return rc;
            continue;
        }
        switch (op) {
        case SK__STREAM_RECV:
            if (k == 0) /* end of stream, or the shutdown of a cancel */
                return sk__fail(sk__sock_cancelled(s) ? SK_ECANCELED : SK_ECLOSED);
            /* fallthrough */
        case SK__STREAM_SEND:
            advance(x, (size_t)k);
            break;
        case SK__MMSG_SEND:
            x->done += (size_t)k;
            break;
        default: /* one datagram, or a batch of them, in */
            /* An empty datagram, or the wake-up of a cancel's shutdown. */
            if (k == 0 && sk__sock_cancelled(s))
                return sk__fail(SK_ECANCELED);
            x->done = (size_t)k;
            return SK_OK;
        }
        if (!x->all || complete(x, op))
            return SK_OK;
        /* With a budget of 0 a short transfer means the socket has no more now: the
         * next call would only fail with EAGAIN. */
        if (sk__deadline_is_now(dl))
            return sk__fail(SK_ETIMEDOUT);
    }
}

/* A sending op: where the system has neither MSG_NOSIGNAL nor SO_NOSIGPIPE, with
 * SIGPIPE blocked around it (compat.h), and one it raised taken back after a failure. */
static ALWAYS_INLINE int run_send(sk__sock *s, sk__xfer *x, sk__deadline *dl, const int op)
{
#if SK__SIGPIPE_GUARD
    sk__sigpipe_guard g;
    int rc;
    sk__sigpipe_block(&g);
    rc = run(s, x, dl, op);
    sk__sigpipe_restore(&g, rc != SK_OK);
    return rc;
#else
    return run(s, x, dl, op);
#endif
}

/* One entry point per op, each a copy of the loop with its op fixed; io.h picks one. */
int sk__io_stream_send(sk__sock *s, sk__xfer *x, sk__deadline *dl)
{
    return run_send(s, x, dl, SK__STREAM_SEND);
}
int sk__io_stream_recv(sk__sock *s, sk__xfer *x, sk__deadline *dl)
{
    return run(s, x, dl, SK__STREAM_RECV);
}
int sk__io_dgram_send(sk__sock *s, sk__xfer *x, sk__deadline *dl)
{
    return run_send(s, x, dl, SK__DGRAM_SEND);
}
int sk__io_dgram_recv(sk__sock *s, sk__xfer *x, sk__deadline *dl)
{
    return run(s, x, dl, SK__DGRAM_RECV);
}
int sk__io_mmsg_send(sk__sock *s, sk__xfer *x, sk__deadline *dl)
{
    return run_send(s, x, dl, SK__MMSG_SEND);
}
int sk__io_mmsg_recv(sk__sock *s, sk__xfer *x, sk__deadline *dl)
{
    return run(s, x, dl, SK__MMSG_RECV);
}
