/* sk_tcp_splice: bytes from one stream endpoint to another through a pipe and
 * splice(2), never through the program; sk_tcp_from_fd: an endpoint for a socket the
 * program was given (standard input under inetd, a socket-activated service).
 *
 * The pipe belongs to the source endpoint (made by its first splice, closed with it),
 * as Go keeps a pool of pipes rather than two system calls per copy, and it is empty
 * between calls: when `to` fails, what sits in the pipe is read back into the source's
 * read-ahead buffer, which is grown to one pipe-load (SPLICE_CHUNK) for that, so a
 * failed relay loses nothing: the next receive or splice on `from` starts with those
 * bytes. (Go and Rust drop them with the pipe.) The fallback copies through the same
 * buffer: a recv into it, a send_all out of it, and what was not sent stays there. */
#include "tcp_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Bytes in the pipe at once, and the size of the read-ahead buffer of an endpoint
 * spliced from: a default Linux pipe (16 pages). */
#define SPLICE_CHUNK ((size_t)64 * 1024)

/* from's read-ahead can hold SPLICE_CHUNK bytes (what it holds is kept). */
static int rbuf_grow(sk_tcp *t)
{
    char *nb;
    if (t->rb_cap >= SPLICE_CHUNK)
        return SK_OK;
    if ((nb = realloc(t->rb.buf, SPLICE_CHUNK)) == NULL)
        return sk__fail(SK_ENOMEM);
    if (t->rb.buf == NULL)
        t->rb.pos = t->rb.end = 0;
    t->rb.buf = nb;
    t->rb_cap = SPLICE_CHUNK;
    return SK_OK;
}

/* Sends what from read ahead (the start of its stream), up to *left bytes. */
static int send_buffered(sk_tcp *from, sk_tcp *to, size_t *left, size_t *done, sk__deadline *dl)
{
    size_t n = sk__rbuf_len(&from->rb);
    sk__xfer x;
    int rc;
    if (n > *left)
        n = *left;
    sk__xfer_buf(&x, SK__STREAM_SEND, from->rb.buf + from->rb.pos, n, 1);
    rc = sk__tcp_run_send(to, &x, dl, NULL);
    from->rb.pos += x.done;
    *done += x.done;
    *left -= x.done;
    return rc;
}

/* The fallback: recv into from's read-ahead, send_all out of it. The source's end of
 * stream ends the call with SK_OK. */
static int copy_loop(sk_tcp *from, sk_tcp *to, size_t left, size_t *done, sk__deadline *dl)
{
    int rc = SK_OK;
    while (left > 0) {
        if (sk__rbuf_len(&from->rb) == 0) {
            sk__xfer x;
            sk__xfer_buf(&x, SK__STREAM_RECV, from->rb.buf, left < from->rb_cap ? left : from->rb_cap, 0);
            rc = sk__io_run(&from->s, &x, dl);
            from->rb.pos = 0;
            from->rb.end = x.done;
            if (rc == SK_ECLOSED) {
                rc = SK_OK; /* the source ended */
                break;
            }
            if (rc != SK_OK)
                break;
        }
        if ((rc = send_buffered(from, to, &left, done, dl)) != SK_OK)
            break;
    }
    return rc;
}

#if SK_HAVE_SPLICE
/* from's pipe, made once: SK__IO_UNSUPPORTED (the copy loop) when none can be made. */
static int pipe_ready(sk_tcp *from)
{
    if (from->spipe[0] >= 0)
        return SK_OK;
    if (pipe2(from->spipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        from->spipe[0] = from->spipe[1] = -1;
        return SK__IO_UNSUPPORTED;
    }
    return SK_OK;
}

/* The held bytes left in from's pipe go back into its read-ahead (empty now), in
 * order, where the next receive finds them. Keeps errno. */
static void put_back(sk_tcp *from, size_t held)
{
    int err = errno;
    from->rb.pos = from->rb.end = 0;
    while (held > 0) {
        ssize_t k = read(from->spipe[0], from->rb.buf + from->rb.end, held);
        if (k > 0) {
            from->rb.end += (size_t)k;
            held -= (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else {
            /* Cannot happen (the pipe is ours and holds them); if it does, a pipe in
             * an unknown state is not used again. */
            close(from->spipe[0]);
            close(from->spipe[1]);
            from->spipe[0] = from->spipe[1] = -1;
            break;
        }
    }
    errno = err;
}
#endif

int sk_tcp_splice(sk_tcp *from, sk_tcp *to, size_t len, size_t *moved, int timeout_ms)
{
    sk__deadline dl;
    size_t done = 0, left = len;
    int rc;

    if (moved != NULL)
        *moved = 0;
    if (from == NULL || to == NULL || from->listening || to->listening)
        return sk__fail(SK_EINVAL);
    if ((rc = sk__deadline_defer(&dl, timeout_ms)) != SK_OK)
        return rc;
    if (sk__sock_cancelled(&from->s) || sk__sock_cancelled(&to->s))
        return sk__fail(SK_ECANCELED);
    if (len == 0)
        return SK_OK;
    /* What from read ahead is the start of its stream: it goes first. */
    if (sk__rbuf_len(&from->rb) > 0 && ((rc = send_buffered(from, to, &left, &done, &dl)) != SK_OK || left == 0))
        goto out;
    if ((rc = rbuf_grow(from)) != SK_OK)
        goto out;
#if SK_HAVE_SPLICE
    if ((rc = pipe_ready(from)) == SK_OK) {
        size_t more = 0, held = 0;
        int to_failed = 0;
        rc = sk__io_splice(&from->s, &to->s, from->spipe, from->rb_cap, left, &more, &held, &to_failed, &dl);
        done += more;
        left -= more;
        if (held > 0)
            put_back(from, held);
        if (to_failed)
            rc = sk__tcp_send_code(to, rc);
    }
    if (rc == SK__IO_UNSUPPORTED)
#endif
    {
        size_t more = 0;
        rc = copy_loop(from, to, left, &more, &dl);
        done += more;
    }
out:
    /* Read-ahead does not make the descriptor readable: tell the poller. */
    sk__preg_note_readahead(&from->preg);
    if (moved != NULL)
        *moved = done;
    return rc;
}

int sk_tcp_from_fd(sk_tcp **conn, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int type = 0, listening = 0, own, nb;
    socklen_t tl = sizeof type, al = sizeof listening;

    if (conn == NULL)
        return sk__fail(SK_EINVAL);
    *conn = NULL;
    if (fd < 0)
        return sk__fail(SK_EINVAL);
    /* Not a socket, not a stream, or not open: a wrong kind of descriptor. */
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 && ss.ss_family != AF_UNIX))
        return sk__fail(SK_EINVAL);
#ifdef SO_ACCEPTCONN
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &al) != 0)
        listening = 0;
#else
    (void)al; /* (a listener is then taken for a connection, and its calls fail) */
#endif
    if ((own = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return sk__map_errno(errno);
    /* Connections are in blocking mode and wait through their socket timeouts;
     * listeners are non-blocking and wait in poll() (tcp.c). */
    nb = listening != 0;
    if (ioctl(own, FIONBIO, &nb) != 0) {
        int rc = sk__map_errno(errno);
        sk__close_keep_errno(own);
        return rc;
    }
    return sk__stream_new(own, ss.ss_family, listening != 0, NULL, conn);
}
