/* The I/O core: every transfer of every transport goes through sk__io_run, which
 * holds the rules of convention 4 and 5 in one place:
 *   - a blocking-mode socket waits through its own SO_RCVTIMEO/SO_SNDTIMEO, set to
 *     what is left of the budget and cached, so that a loop with one timeout pays no
 *     setsockopt and a transfer is the one system call it needs (no poll first);
 *   - a budget of 0 adds MSG_DONTWAIT and stops at the first short transfer;
 *   - EINTR, and a socket timeout that ended a hair before the deadline, are retried
 *     with the time left;
 *   - progress is counted whatever happens, for the caller's *done. */
#ifndef SOCKKIT_IO_H
#define SOCKKIT_IO_H

#include <stddef.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>

#include "compat.h"
#include "deadline.h"
#include "sockkit.h"

/* A socket, the timeouts it holds now (0: no limit), and whether it was cancelled. */
typedef struct sk__sock {
    int fd;
    int rcvtimeo_ms;
    int sndtimeo_ms;
    int cancelled; /* set once by sk__sock_cancel from any thread or a signal handler */
} sk__sock;

void sk__sock_init(sk__sock *s, int fd);

/* Cancels s: the flag first, then shutdown(SHUT_RDWR), which wakes every call blocked
 * on the descriptor (recv sees end of stream, send EPIPE, a listener's poll a hang-up)
 * and makes every later one return at once. The descriptor stays open, so its number
 * cannot be reused under a blocked call. Async-signal-safe; keeps errno. */
void sk__sock_cancel(sk__sock *s);
/* One load: the fast path of every call pays nothing more. */
static inline int sk__sock_cancelled(const sk__sock *s)
{
    return __atomic_load_n(&s->cancelled, __ATOMIC_ACQUIRE);
}

/* Bytes read from a stream ahead of the caller (sk_tcp_recv_until): buf[pos, end)
 * are not delivered yet. */
typedef struct sk__rbuf {
    char *buf;
    size_t pos, end;
} sk__rbuf;

static inline size_t sk__rbuf_len(const sk__rbuf *rb)
{
    return rb->end - rb->pos;
}
/* Moves up to want bytes to dst; returns how many. */
static inline size_t sk__rbuf_take(sk__rbuf *rb, void *dst, size_t want)
{
    size_t k = sk__rbuf_len(rb);
    if (k > want)
        k = want;
    if (k > 0) {
        memcpy(dst, rb->buf + rb->pos, k);
        rb->pos += k;
    }
    return k;
}

enum sk__io_op {
    SK__STREAM_SEND,   /* bytes from the cursor: send(), or sendmsg() for a gather list */
    SK__STREAM_RECV,   /* bytes into the cursor: recv(); 0 from the system is SK_ECLOSED */
    SK__DGRAM_SEND,    /* one datagram, to addr (or the connected peer when addrlen 0) */
    SK__DGRAM_RECV,    /* one datagram; done is its real length (MSG_TRUNC), addr its source */
    SK__MMSG_SEND,     /* mmsg[0, count): sendmmsg(); progress in datagrams */
    SK__MMSG_RECV      /* up to count datagrams: recvmmsg(), waiting for the first only */
};

/* Control bytes that go with one system call of a transfer (descriptors of a Unix
 * socket): sent with the first call that moves data, or the room to receive into. */
typedef struct sk__ctl {
    void *buf;
    size_t len;  /* in: bytes to send, or room; out: bytes received */
    int flags;   /* out: msg_flags of the receiving call (MSG_CTRUNC) */
    int used;    /* out: 1 once a call carried it (else len is still the room) */
} sk__ctl;

/* One transfer: what it moves, how, and how far it got. */
typedef struct sk__xfer {
    int op;                  /* enum sk__io_op */
    int all;                 /* 1: until everything moved; 0: until something did */
    int flags;               /* more MSG_ flags for every call (MSG_WAITALL) */
    const sk_iovec *iov;     /* the cursor: iov[idx] from off on is what is left */
    size_t iovcnt, idx, off;
    sk_iovec one;            /* the one buffer, when made with sk__xfer_buf */
    struct sockaddr *addr;   /* datagrams: destination, or where the source goes */
    socklen_t addrlen;       /* in: its size (0: none); out: the source's length */
    sk__mmsghdr *mmsg;       /* SK__MMSG_*: the headers */
    size_t count;            /* SK__MMSG_*: how many */
    size_t done;             /* bytes (or datagrams) moved so far */
    sk__ctl *ctl;            /* stream and datagram ops: control bytes, or NULL; set to
                                NULL by the call that carried them */
} sk__xfer;

/* The fields every transfer starts with: nothing moved, no address, no batch. */
static inline void sk__xfer_init(sk__xfer *x, int op, const sk_iovec *iov, size_t iovcnt, int all)
{
    x->op = op;
    x->all = all;
    x->flags = 0;
    x->iov = iov;
    x->iovcnt = iovcnt;
    x->idx = 0;
    x->off = 0;
    x->addr = NULL;
    x->addrlen = 0;
    x->mmsg = NULL;
    x->count = 0;
    x->done = 0;
    x->ctl = NULL;
}
/* A transfer of a gather list (entries already checked), or of one buffer. */
void sk__xfer_iov(sk__xfer *x, int op, const sk_iovec *iov, size_t iovcnt, int all);
static inline void sk__xfer_buf(sk__xfer *x, int op, const void *buf, size_t len, int all)
{
    x->one.base = buf;
    x->one.len = len;
    sk__xfer_init(x, op, &x->one, 1, all);
    x->idx = len == 0; /* the cursor skips an empty buffer */
}

/* Runs x on s within dl: SK_OK once it is complete (all) or has moved something
 * (not all; a datagram op after its one datagram), else the code of the failure;
 * x->done says how far it got in every case, errno is the system's. On a cancelled
 * socket: SK_ECANCELED before any system call, or as soon as one fails or ends. */
int sk__io_stream_send(sk__sock *s, sk__xfer *x, sk__deadline *dl);
int sk__io_stream_recv(sk__sock *s, sk__xfer *x, sk__deadline *dl);
int sk__io_dgram_send(sk__sock *s, sk__xfer *x, sk__deadline *dl);
int sk__io_dgram_recv(sk__sock *s, sk__xfer *x, sk__deadline *dl);
int sk__io_mmsg_send(sk__sock *s, sk__xfer *x, sk__deadline *dl);
int sk__io_mmsg_recv(sk__sock *s, sk__xfer *x, sk__deadline *dl);
/* Inline so that the op, known where the transfer is made, picks the entry point at
 * compile time: no dispatch on the path of every call. */
static inline int sk__io_run(sk__sock *s, sk__xfer *x, sk__deadline *dl)
{
    switch (x->op) {
    case SK__STREAM_SEND: return sk__io_stream_send(s, x, dl);
    case SK__STREAM_RECV: return sk__io_stream_recv(s, x, dl);
    case SK__DGRAM_SEND: return sk__io_dgram_send(s, x, dl);
    case SK__DGRAM_RECV: return sk__io_dgram_recv(s, x, dl);
    case SK__MMSG_SEND: return sk__io_mmsg_send(s, x, dl);
    default: return sk__io_mmsg_recv(s, x, dl);
    }
}

/* What a file transfer reads from: a file sendfile(2) takes, or a pipe (splice). */
enum sk__file_kind { SK__FROM_FILE, SK__FROM_PIPE };
/* sk__io_file_send: sendfile cannot read this source (EINVAL before any byte; not an
 * SK_ code, never returned to a caller). */
#define SK__IO_UNSUPPORTED 1

/* Up to len bytes of `from` to the stream socket s within dl, with no copy through
 * the program: sendfile(2) from *off (advanced as bytes go) or, off NULL, from the
 * file's position; or splice(2) from a pipe (off NULL). *done counts what the socket
 * took. SK_OK once len moved or the source ended (then *done < len), else the code;
 * SK_ECANCELED once s is cancelled; SK__IO_UNSUPPORTED as said above. A budget of 0
 * makes the socket non-blocking for the call (ioctl FIONBIO on, then off): sendfile
 * and splice have no MSG_DONTWAIT. */
int sk__io_file_send(sk__sock *s, int from, int kind, long long *off, size_t len, size_t *done, sk__deadline *dl);

#if SK_HAVE_SPLICE
/* Up to len bytes from the stream socket `from` to the stream socket `to` within dl,
 * through splice(2) and the pipe pipe_fd (empty on entry; both ends non-blocking),
 * chunk bytes at most in the pipe at once. *done counts what `to` took; *held is what
 * is left in the pipe on return (taken from `from`, not delivered: the caller puts it
 * back), *to_failed says that the failure was `to`'s. SK_OK once len moved or `from`
 * ended; the code otherwise; SK_ECANCELED when either socket was cancelled;
 * SK__IO_UNSUPPORTED when splice refused (EINVAL, ENOSYS) before `to` took a byte.
 * A budget of 0 makes both sockets non-blocking for the call. */
int sk__io_splice(sk__sock *from, sk__sock *to, const int pipe_fd[2], size_t chunk, size_t len, size_t *done,
                  size_t *held, int *to_failed, sk__deadline *dl);
#endif

/* connect() of a blocking-mode socket within dl, through its send timeout (how a
 * Unix domain connect waits for room in the listener's queue); EINTR and an early
 * wake are retried with the time left. A budget of 0 needs a non-blocking socket. */
int sk__io_connect(sk__sock *s, const struct sockaddr *sa, socklen_t len, sk__deadline *dl);

/* Waits with poll() for events on fd within dl; EINTR is retried with the time
 * left. SK_OK when ready (or in error: the next call tells), SK_ETIMEDOUT, or a
 * mapped error. For non-blocking sockets: listeners and connects. */
int sk__wait(int fd, short events, sk__deadline *dl);

/* close() that keeps errno. */
void sk__close_keep_errno(int fd);

#endif /* SOCKKIT_IO_H */
