/* TCP endpoints: connections and listeners. Connected sockets stay in blocking mode
 * and move bytes through the I/O core (io.c); listeners are non-blocking and wait in
 * poll(), because accept4() has no per-call "don't wait" flag. Connecting is in
 * connect.c; graceful and abortive close and the keepalive options in tcp_life.c. */
#include "tcp_impl.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sk__stream_new(int fd, int family, int listening, sk__unix_file *file, sk_tcp **out)
{
    sk_tcp *t = malloc(sizeof *t);
    if (t == NULL) {
        if (file != NULL)
            sk__unix_file_release(file);
        close(fd);
        return sk__fail(SK_ENOMEM);
    }
    sk__sock_init(&t->s, fd);
    t->listening = listening;
    t->local = family == AF_UNIX;
    memset(&t->file, 0, sizeof t->file);
    if (file != NULL)
        t->file = *file;
    t->shut = 0;
    memset(&t->rb, 0, sizeof t->rb);
    t->rb_cap = 0;
    t->spipe[0] = t->spipe[1] = -1;
    sk__preg_init(&t->preg, t, SK__TCP, &t->s, &t->rb);
    t->nodelay_inherit = SK__INHERIT_UNKNOWN;
    t->accept_waited = 0;
    *out = t;
    return SK_OK;
}

static int tcp_new(int fd, int listening, sk_tcp **out)
{
    return sk__stream_new(fd, AF_INET, listening, NULL, out);
}

int sk__tcp_wrap(int fd, sk_tcp **conn)
{
    return tcp_new(fd, 0, conn);
}

int sk_tcp_listen_with(sk_tcp **listener, const char *host, int port, int backlog, const sk_bind_options *opts)
{
    sk__bind_opts o;
    int fd, family, dual, rc;

    if (listener == NULL)
        return sk__fail(SK_EINVAL);
    *listener = NULL;
    if (!sk__port_ok(port, 1))
        return sk__fail(SK_EINVAL);
    if ((rc = sk__bind_opts_from(&o, opts, 1, 1)) != SK_OK)
        return rc;
    rc = sk__open_bound(host, port, SOCK_STREAM, 1, &o, &fd, &family, &dual);
    if (rc != SK_OK)
        return rc;
#ifdef TCP_FASTOPEN
    if (o.fastopen > 0)
        rc = sk__set_int_opt(fd, IPPROTO_TCP, TCP_FASTOPEN, o.fastopen);
#else
    if (o.fastopen > 0)
        rc = sk__no_option();
#endif
    if (rc == SK_OK && listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0)
        rc = sk__map_errno(errno);
    if (rc != SK_OK) {
        sk__close_keep_errno(fd);
        return rc;
    }
    if ((rc = tcp_new(fd, 1, listener)) != SK_OK)
        return rc;
    /* Accepted connections get TCP_NODELAY from here where the system passes it on
     * (Linux, the BSDs): one setsockopt per listener instead of one per connection.
     * Where it cannot be set, each connection gets its own (accept_nodelay). */
    if (sk__set_nodelay(fd, 1) != SK_OK)
        (*listener)->nodelay_inherit = SK__INHERIT_NO;
    return SK_OK;
}

int sk_tcp_listen(sk_tcp **listener, const char *host, int port, int backlog)
{
    return sk_tcp_listen_with(listener, host, port, backlog, NULL);
}

/* TCP_NODELAY on an accepted connection: the first accept of a listener looks whether
 * the connection inherited the listener's; if so, no later connection needs a call. */
static int accept_nodelay(sk_tcp *listener, int fd)
{
    int inherit = __atomic_load_n(&listener->nodelay_inherit, __ATOMIC_RELAXED);
    if (inherit == SK__INHERIT_YES)
        return SK_OK;
    if (inherit == SK__INHERIT_UNKNOWN) {
        int on = 0;
        socklen_t len = sizeof on;
        if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 && on != 0) {
            __atomic_store_n(&listener->nodelay_inherit, SK__INHERIT_YES, __ATOMIC_RELAXED);
            return SK_OK;
        }
        __atomic_store_n(&listener->nodelay_inherit, SK__INHERIT_NO, __ATOMIC_RELAXED);
    }
    return sk__set_nodelay(fd, 1);
}

/* Whether an accept that may wait starts with the wait. Blocking code makes one accept
 * that sleeps; a non-blocking listener needs a wait and an accept, and trying the accept
 * first is one call more when nobody is queued yet, one call less when somebody is (a
 * busy server). So a listener tries first until a try finds nobody, then waits first;
 * every SK__ACCEPT_RETRY-th call that waits first tries first again, so that a listener
 * whose clients now queue goes back to trying first. */
#define SK__ACCEPT_RETRY 16u
static int accept_waits_first(sk_tcp *listener, int timeout_ms)
{
    unsigned n;
    if (timeout_ms == 0 || __atomic_load_n(&listener->accept_waited, __ATOMIC_RELAXED) == 0)
        return 0;
    n = __atomic_add_fetch(&listener->accept_waited, 1, __ATOMIC_RELAXED);
    return n % SK__ACCEPT_RETRY != 0;
}

int sk_tcp_accept(sk_tcp *listener, sk_tcp **conn, int timeout_ms)
{
    sk__deadline dl;
    int rc, tried = 0, wait_first;

    if (conn == NULL)
        return sk__fail(SK_EINVAL);
    *conn = NULL;
    if (listener == NULL || !listener->listening)
        return sk__fail(SK_EINVAL);
    if ((rc = sk__check_cancelled(&listener->s)) != SK_OK ||
        (rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;
    wait_first = accept_waits_first(listener, timeout_ms);
    for (;;) {
        int fd;
        if (wait_first) {
            wait_first = 0;
            errno = EAGAIN;
            fd = -1;
        } else {
            fd = sk__accept(listener->s.fd);
        }
        if (fd >= 0) {
            /* The first try found a client: the next call tries first too. */
            if (!tried)
                __atomic_store_n(&listener->accept_waited, 0, __ATOMIC_RELAXED);
            if (listener->local)
                return sk__stream_new(fd, AF_UNIX, 0, NULL, conn);
            if ((rc = accept_nodelay(listener, fd)) != SK_OK) {
                sk__close_keep_errno(fd);
                return rc;
            }
            return tcp_new(fd, 0, conn);
        }
        tried = 1;
        switch (errno) {
        case EINTR:
        case ECONNABORTED: /* the client left before we took it: wait for the next */
        case EPROTO:
            continue;
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            /* Checked before each wait, so that wake-ups with nothing to accept
             * cannot keep the call past its budget. */
            if (sk__deadline_expired(&dl))
                return sk__fail(SK_ETIMEDOUT);
            if (__atomic_load_n(&listener->accept_waited, __ATOMIC_RELAXED) == 0)
                __atomic_store_n(&listener->accept_waited, 1, __ATOMIC_RELAXED);
            if ((rc = sk__wait(listener->s.fd, POLLIN, &dl)) != SK_OK)
                return rc;
            /* A cancel's shutdown wakes the wait; what accept says next is EINVAL. */
            if ((rc = sk__check_cancelled(&listener->s)) != SK_OK)
                return rc;
            continue;
        default:
            if (sk__sock_cancelled(&listener->s))
                return sk__fail(SK_ECANCELED);
            /* EMFILE/ENFILE come back as SK_EMFILE; the listener stays usable. */
            return sk__map_errno(errno);
        }
    }
}

/* ---- transfers ---------------------------------------------------------------- */

/* Checks shared by every transfer; stores 0 in *done first. */
static int xfer_begin(const sk_tcp *conn, const void *buf, size_t len, size_t *done, int timeout_ms,
                      sk__deadline *dl)
{
    if (done != NULL)
        *done = 0;
    if (conn == NULL || conn->listening || (buf == NULL && len > 0))
        return sk__fail(SK_EINVAL);
    /* Before the read-ahead gives anything: a cancelled endpoint moves nothing. */
    if (sk__sock_cancelled(&conn->s))
        return sk__fail(SK_ECANCELED);
    /* The budget starts at the first system call that may wait: what the read-ahead
     * serves, and a send that goes at once, read no clock (lib/deadline.h). */
    return sk__deadline_defer(dl, timeout_ms);
}

/* Runs a send: EPIPE after our own shutdown is SK_ECLOSED, not a broken connection. */
int sk__tcp_send_code(const sk_tcp *conn, int rc)
{
    if (rc == SK_ECONNRESET && errno == EPIPE && (__atomic_load_n(&conn->shut, __ATOMIC_RELAXED) & SK_SHUT_WR))
        return SK_ECLOSED;
    return rc;
}

int sk__tcp_run_send(sk_tcp *conn, sk__xfer *x, sk__deadline *dl, size_t *sent)
{
    int rc = sk__tcp_send_code(conn, sk__io_run(&conn->s, x, dl));
    if (sent != NULL)
        *sent = x->done;
    return rc;
}

static int send_impl(sk_tcp *conn, const void *buf, size_t len, size_t *sent, sk__ctl *ctl, int timeout_ms,
                     int all)
{
    sk__deadline dl;
    sk__xfer x;
    int rc = xfer_begin(conn, buf, len, sent, timeout_ms, &dl);
    if (rc != SK_OK)
        return rc;
    sk__xfer_buf(&x, SK__STREAM_SEND, buf, len, all);
    x.ctl = ctl;
    return sk__tcp_run_send(conn, &x, &dl, sent);
}

static int recv_impl(sk_tcp *conn, void *buf, size_t len, size_t *received, sk__ctl *ctl, int timeout_ms,
                     int exact)
{
    sk__deadline dl;
    sk__xfer x;
    size_t n = 0;
    int rc = xfer_begin(conn, buf, len, received, timeout_ms, &dl);

    if (rc != SK_OK)
        return rc;
    /* What sk_tcp_recv_until read ahead comes first: it is the start of the stream. */
    n = sk__rbuf_take(&conn->rb, buf, len);
    if (n > 0 && !exact)
        len = n;
    sk__xfer_buf(&x, SK__STREAM_RECV, (char *)buf + n, len - n, exact);
    x.ctl = ctl;
    /* MSG_WAITALL: the kernel gathers the whole message in one call when it can. */
    x.flags = exact ? MSG_WAITALL : 0;
    rc = sk__io_run(&conn->s, &x, &dl);
    if (received != NULL)
        *received = n + x.done;
    return rc;
}

int sk_tcp_send_all(sk_tcp *conn, const void *buf, size_t len, size_t *sent, int timeout_ms)
{
    return send_impl(conn, buf, len, sent, NULL, timeout_ms, 1);
}

int sk_tcp_send(sk_tcp *conn, const void *buf, size_t len, size_t *sent, int timeout_ms)
{
    return send_impl(conn, buf, len, sent, NULL, timeout_ms, 0);
}

int sk_tcp_recv_exact(sk_tcp *conn, void *buf, size_t len, size_t *received, int timeout_ms)
{
    return recv_impl(conn, buf, len, received, NULL, timeout_ms, 1);
}

int sk_tcp_recv(sk_tcp *conn, void *buf, size_t cap, size_t *received, int timeout_ms)
{
    return recv_impl(conn, buf, cap, received, NULL, timeout_ms, 0);
}

int sk__tcp_send_ctl(sk_tcp *conn, const void *buf, size_t len, size_t *sent, sk__ctl *ctl, int timeout_ms)
{
    return send_impl(conn, buf, len, sent, ctl, timeout_ms, 1);
}

int sk__tcp_recv_ctl(sk_tcp *conn, void *buf, size_t cap, size_t *received, sk__ctl *ctl, int timeout_ms)
{
    return recv_impl(conn, buf, cap, received, ctl, timeout_ms, 0);
}

int sk_tcp_send_allv(sk_tcp *conn, const sk_iovec *iov, size_t iovcnt, size_t *sent, int timeout_ms)
{
    sk__deadline dl;
    sk__xfer x;
    size_t total = 0;
    int rc = xfer_begin(conn, iov, iovcnt, sent, timeout_ms, &dl);

    for (size_t i = 0; rc == SK_OK && i < iovcnt; i++) {
        if ((iov[i].base == NULL && iov[i].len > 0) || iov[i].len > SIZE_MAX - total)
            rc = sk__fail(SK_EINVAL);
        else
            total += iov[i].len;
    }
    if (rc != SK_OK)
        return rc;
    sk__xfer_iov(&x, SK__STREAM_SEND, iov, iovcnt, 1);
    return sk__tcp_run_send(conn, &x, &dl, sent);
}

/* The read-ahead of the record readers: once per connection, and only for the programs
 * that read records. */
static int rbuf_ready(sk_tcp *conn)
{
    if (__builtin_expect(conn->rb.buf != NULL, 1))
        return SK_OK;
    if ((conn->rb.buf = malloc(SK_TCP_READ_BUFFER)) == NULL)
        return sk__fail(SK_ENOMEM);
    conn->rb.pos = conn->rb.end = 0;
    return SK_OK;
}

/* Whether a record reader's arguments are good and the endpoint can be read: the
 * checks of the fast paths below (the full paths check one by one, for the codes). */
static inline int record_call_ok(const sk_tcp *conn, int delim, int timeout_ms)
{
    return conn != NULL && !conn->listening && conn->rb.buf != NULL && (unsigned)delim <= 255 &&
           timeout_ms >= SK_FOREVER && !sk__sock_cancelled(&conn->s);
}

static __attribute__((noinline)) int until_full(sk_tcp *conn, int delim, void *buf, size_t cap, size_t *len,
                                                int timeout_ms);

int sk_tcp_recv_until(sk_tcp *conn, int delim, void *buf, size_t cap, size_t *len, int timeout_ms)
{
    size_t avail;
    /* The common case in few instructions: a whole record already read ahead, that
     * fits in buf. */
    if (__builtin_expect(buf != NULL && record_call_ok(conn, delim, timeout_ms), 1) &&
        (avail = conn->rb.end - conn->rb.pos) > 0) {
        const char *at = conn->rb.buf + conn->rb.pos;
        const char *p = memchr(at, delim, avail < cap ? avail : cap);
        if (p != NULL) {
            size_t n = (size_t)(p - at) + 1;
            memcpy(buf, at, n);
            conn->rb.pos += n;
            if (len != NULL)
                *len = n;
            sk__preg_note_readahead(&conn->preg);
            return SK_OK;
        }
    }
    return until_full(conn, delim, buf, cap, len, timeout_ms);
}

/* sk_tcp_recv_until past its fast path. */
static int until_full(sk_tcp *conn, int delim, void *buf, size_t cap, size_t *len, int timeout_ms)
{
    sk__deadline dl;
    size_t n = 0;
    char *out = buf;
    int rc = SK_OK, dl_ready = 0;

    if (len != NULL)
        *len = 0;
    if (conn == NULL || conn->listening || buf == NULL || cap == 0 || delim < 0 || delim > 255 ||
        timeout_ms < SK_FOREVER)
        return sk__fail(SK_EINVAL);
    if ((rc = sk__check_cancelled(&conn->s)) != SK_OK || (rc = rbuf_ready(conn)) != SK_OK)
        return rc;
    for (;;) {
        sk__xfer x;
        size_t avail = sk__rbuf_len(&conn->rb);
        if (avail > 0) {
            size_t take = avail < cap - n ? avail : cap - n;
            const char *p = memchr(conn->rb.buf + conn->rb.pos, delim, take);
            if (p != NULL)
                take = (size_t)(p - (conn->rb.buf + conn->rb.pos)) + 1;
            n += sk__rbuf_take(&conn->rb, out + n, take);
            if (p != NULL)
                break;
            if (n == cap) {
                rc = sk__fail(SK_ETOOLONG);
                break;
            }
        }
        /* The budget starts with the first system call: a record already read
         * ahead costs no clock read, and not even the deadline's set-up. */
        if (!dl_ready) {
            sk__deadline_init(&dl, timeout_ms);
            dl_ready = 1;
        }
        /* One system call brings as many records as have arrived. */
        sk__xfer_buf(&x, SK__STREAM_RECV, conn->rb.buf, SK_TCP_READ_BUFFER, 0);
        rc = sk__io_run(&conn->s, &x, &dl);
        conn->rb.pos = 0;
        conn->rb.end = x.done;
        if (rc != SK_OK)
            break;
    }
    if (len != NULL)
        *len = n;
    /* Read-ahead does not make the descriptor readable: tell the poller. */
    sk__preg_note_readahead(&conn->preg);
    return rc;
}

/* sk_tcp_recv_slice past its fast path: scanned bytes from the read position are
 * known to hold no delimiter. */
static __attribute__((noinline)) int slice_full(sk_tcp *conn, int delim, const void **rec, size_t *len,
                                                int timeout_ms, size_t scanned)
{
    sk__deadline dl;
    sk__rbuf *rb;
    int rc, dl_ready = 0;

    if (rec != NULL)
        *rec = NULL;
    if (len != NULL)
        *len = 0;
    if (conn == NULL || conn->listening || rec == NULL || len == NULL || delim < 0 || delim > 255 ||
        timeout_ms < SK_FOREVER)
        return sk__fail(SK_EINVAL);
    if ((rc = sk__check_cancelled(&conn->s)) != SK_OK || (rc = rbuf_ready(conn)) != SK_OK)
        return rc;
    rb = &conn->rb;
    for (;;) {
        sk__xfer x;
        size_t avail = rb->end - rb->pos;
        if (avail > scanned) {
            const char *at = rb->buf + rb->pos;
            const char *p = memchr(at + scanned, delim, avail - scanned);
            if (p != NULL) {
                *rec = at;
                *len = (size_t)(p - at) + 1;
                rb->pos += *len;
                break;
            }
            scanned = avail;
        }
        /* (More than that only after sk_tcp_splice put bytes back into a larger buffer.) */
        if (avail >= SK_TCP_READ_BUFFER) {
            /* A full buffer and no delimiter: its bytes are the start of a longer record. */
            *rec = rb->buf + rb->pos;
            *len = avail;
            rb->pos = rb->end;
            rc = sk__fail(SK_ETOOLONG);
            break;
        }
        /* The record must be whole in the buffer: the part of it already there moves to
         * the front (less than one record), and the read fills what follows. */
        if (rb->pos > 0) {
            memmove(rb->buf, rb->buf + rb->pos, avail);
            rb->pos = 0;
            rb->end = avail;
        }
        /* The budget starts with the first system call (as for sk_tcp_recv_until). */
        if (!dl_ready) {
            sk__deadline_init(&dl, timeout_ms);
            dl_ready = 1;
        }
        sk__xfer_buf(&x, SK__STREAM_RECV, rb->buf + rb->end, SK_TCP_READ_BUFFER - rb->end, 0);
        rc = sk__io_run(&conn->s, &x, &dl);
        rb->end += x.done;
        if (rc == SK_OK)
            continue;
        /* Out of time (or cancelled): what arrived of the record stays for the next call.
         * The stream ended or broke: the bytes without a delimiter are its last. */
        if (rc != SK_ETIMEDOUT && rc != SK_ECANCELED && rb->end > rb->pos) {
            *rec = rb->buf + rb->pos;
            *len = rb->end - rb->pos;
            rb->pos = rb->end;
        }
        break;
    }
    /* Read-ahead does not make the descriptor readable: tell the poller. */
    sk__preg_note_readahead(&conn->preg);
    return rc;
}

int sk_tcp_recv_slice(sk_tcp *conn, int delim, const void **rec, size_t *len, int timeout_ms)
{
    size_t avail = 0;
    /* The common case in few instructions: a whole record already read ahead. */
    if (__builtin_expect(rec != NULL && len != NULL && record_call_ok(conn, delim, timeout_ms), 1) &&
        (avail = conn->rb.end - conn->rb.pos) > 0) {
        const char *at = conn->rb.buf + conn->rb.pos;
        const char *p = memchr(at, delim, avail);
        if (p != NULL) {
            size_t n = (size_t)(p - at) + 1;
            *rec = at;
            *len = n;
            conn->rb.pos += n;
            sk__preg_note_readahead(&conn->preg);
            return SK_OK;
        }
    }
    return slice_full(conn, delim, rec, len, timeout_ms, avail);
}

size_t sk_tcp_buffered(const sk_tcp *conn)
{
    return conn == NULL ? 0 : sk__rbuf_len(&conn->rb);
}

/* ---- the rest ----------------------------------------------------------------- */

int sk_tcp_shutdown(sk_tcp *conn, int how)
{
    int sys, prev;
    if (conn == NULL || conn->listening)
        return sk__fail(SK_EINVAL);
    switch (how) {
    case SK_SHUT_RD: sys = SHUT_RD; break;
    case SK_SHUT_WR: sys = SHUT_WR; break;
    case SK_SHUT_RDWR: sys = SHUT_RDWR; break;
    default: return sk__fail(SK_EINVAL);
    }
    if (sk__sock_cancelled(&conn->s))
        return sk__fail(SK_ECANCELED);
    prev = __atomic_fetch_or(&conn->shut, how, __ATOMIC_RELAXED);
    /* Wakes a thread blocked in recv (it sees end of stream) or send (EPIPE). */
    if (shutdown(conn->s.fd, sys) != 0) {
        int err = errno;
        /* It failed (the connection was already reset): a later EPIPE is the reset's,
         * not SK_ECLOSED for a shutdown of ours. */
        __atomic_fetch_and(&conn->shut, ~(how & ~prev), __ATOMIC_RELAXED);
        return sk__map_errno(err);
    }
    return SK_OK;
}

int sk_tcp_local_addr(const sk_tcp *t, sk_addr *addr)
{
    if (addr == NULL)
        return sk__fail(SK_EINVAL);
    if (t == NULL) {
        memset(addr, 0, sizeof *addr);
        return sk__fail(SK_EINVAL);
    }
    return sk__sockname(t->s.fd, 0, addr);
}

int sk_tcp_peer_addr(const sk_tcp *conn, sk_addr *addr)
{
    if (addr == NULL)
        return sk__fail(SK_EINVAL);
    if (conn == NULL || conn->listening) {
        memset(addr, 0, sizeof *addr);
        return sk__fail(SK_EINVAL);
    }
    return sk__sockname(conn->s.fd, 1, addr);
}

int sk_tcp_fd(const sk_tcp *t)
{
    return t == NULL ? sk__fail(SK_EINVAL) : t->s.fd;
}

int sk_tcp_set_nodelay(sk_tcp *conn, int on)
{
    if (conn == NULL || conn->listening || conn->local)
        return sk__fail(SK_EINVAL);
    if (sk__sock_cancelled(&conn->s))
        return sk__fail(SK_ECANCELED);
    return sk__set_nodelay(conn->s.fd, on != 0);
}

int sk_tcp_cancel(sk_tcp *t)
{
    if (t == NULL)
        return sk__fail(SK_EINVAL);
    sk__sock_cancel(&t->s);
    return SK_OK;
}

int sk_poller_add_tcp(sk_poller *poller, sk_tcp *t, unsigned events, void *data)
{
    return t == NULL ? sk__fail(SK_EINVAL) : sk__preg_add(poller, &t->preg, events, data);
}

int sk_poller_mod_tcp(sk_poller *poller, sk_tcp *t, unsigned events, void *data)
{
    return t == NULL ? sk__fail(SK_EINVAL) : sk__preg_mod(poller, &t->preg, events, data);
}

int sk_poller_del_tcp(sk_poller *poller, sk_tcp *t)
{
    return t == NULL ? sk__fail(SK_EINVAL) : sk__preg_del(poller, &t->preg);
}

void sk_tcp_close(sk_tcp *t)
{
    if (t == NULL)
        return;
    sk__preg_forget(&t->preg);
    close(t->s.fd);
    if (t->spipe[0] >= 0) {
        close(t->spipe[0]);
        close(t->spipe[1]);
    }
    sk__unix_file_release(&t->file);
    free(t->rb.buf);
    free(t);
}
