/* TCP endpoints. Connected sockets stay in blocking mode and wait through their own
 * SO_RCVTIMEO/SO_SNDTIMEO, so a transfer costs the one system call it needs whether
 * the data is there or has to be waited for; listeners are non-blocking and wait in
 * poll(), because accept4() has no per-call "don't wait" flag. */
#include "internal.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

struct sk_tcp {
    sk__sock s;
    int listening;
    int shut;      /* SK_SHUT_* bits this end asked for; atomic: any thread may set them */
    char *rbuf;    /* read-ahead of sk_tcp_recv_until: SK_TCP_READ_BUFFER bytes, or NULL */
    size_t rpos;   /* rbuf[rpos, rend) is read from the socket, not yet delivered */
    size_t rend;
    sk__preg preg; /* registration with a poller */
};

/* Gather writes go to the system this many buffers at a time (no allocation). */
#define IOV_CHUNK 64

/* Go's floor for one address's share of a connect budget. */
#define CONNECT_MIN_SHARE_NS INT64_C(2000000000)

static int tcp_new(int fd, int listening, sk_tcp **out)
{
    sk_tcp *t = malloc(sizeof *t);
    if (t == NULL) {
        close(fd);
        return sk__fail(SK_ENOMEM);
    }
    t->s.fd = fd;
    t->s.rcvtimeo_ms = 0;
    t->s.sndtimeo_ms = 0;
    t->listening = listening;
    t->shut = 0;
    t->rbuf = NULL;
    t->rpos = t->rend = 0;
    sk__preg_init(&t->preg, t, SK__TCP, fd);
    *out = t;
    return SK_OK;
}

static int set_nodelay(int fd, int on)
{
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0 ? SK_OK : sk__map_errno(errno);
}

/* Wait for a non-blocking connect to finish. A wake-up is trusted only once the
 * socket says so: SO_ERROR for a failure, getpeername for a connection. */
static int connect_wait(int s, const sk__deadline *dl)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int err = 0, rc;
        socklen_t len = sizeof err;
        if ((rc = sk__wait(s, POLLOUT, dl)) != SK_OK)
            return rc;
        /* Connected: one call tells. Else SO_ERROR says why, or nothing (spurious). */
        if (getpeername(s, (struct sockaddr *)&ss, &sl) == 0)
            return SK_OK;
        if (errno != ENOTCONN)
            return sk__map_errno(errno);
        if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0) {
            errno = err;
            return sk__map_errno(err);
        }
        if (sk__deadline_expired(dl)) /* still in progress: the wake-up was spurious */
            return sk__fail(SK_ETIMEDOUT);
    }
}

/* One attempt at one address, within dl. On success *fd is a connected, blocking,
 * close-on-exec socket with TCP_NODELAY on. */
static int connect_one(const struct addrinfo *ai, const sk__deadline *dl, int *fd)
{
    int rc = SK_OK;
    int s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0)
        return sk__map_errno(errno);
    if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0) {
        /* A non-blocking connect goes on in the background after EINTR too. */
        if (errno != EINPROGRESS && errno != EINTR)
            rc = sk__map_errno(errno);
        else
            rc = connect_wait(s, dl);
    }
    if (rc == SK_OK) {
        /* Blocking from now on: waits go through the socket's own timeouts. One
         * ioctl, where fcntl would take two calls. */
        int off = 0;
        if (ioctl(s, FIONBIO, &off) != 0)
            rc = sk__map_errno(errno);
    }
    if (rc == SK_OK)
        rc = set_nodelay(s, 1);
    if (rc != SK_OK) {
        sk__close_keep_errno(s);
        return rc;
    }
    *fd = s;
    return SK_OK;
}

int sk_tcp_connect(sk_tcp **conn, const char *host, int port, int timeout_ms)
{
    sk__deadline dl;
    struct addrinfo *list;
    int rc, first_rc = SK_OK, first_errno = 0, fd = -1, left = 0;

    if (conn == NULL)
        return sk__fail(SK_EINVAL);
    *conn = NULL;
    if (host == NULL || host[0] == '\0' || !sk__port_ok(port, 0))
        return sk__fail(SK_EINVAL);
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;
    if ((rc = sk__resolve(host, port, SOCK_STREAM, 0, &list)) != SK_OK)
        return rc;
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next)
        left++;
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next, left--) {
        sk__deadline part = dl;
        if (dl.mode == SK__FINITE && left > 1) {
            /* Share what is left among the addresses still to try, so that one that
             * drops packets cannot eat the whole budget. */
            int64_t now = sk__now_ns(), remain = dl.at_ns - now;
            int64_t share = remain / left;
            if (share < CONNECT_MIN_SHARE_NS)
                share = remain < CONNECT_MIN_SHARE_NS ? remain : CONNECT_MIN_SHARE_NS;
            part.at_ns = now + share;
        }
        rc = connect_one(ai, &part, &fd);
        if (rc == SK_OK)
            break;
        if (first_rc == SK_OK) {
            first_rc = rc;
            first_errno = errno;
        }
        if (sk__deadline_expired(&dl))
            break;
    }
    freeaddrinfo(list);
    if (rc != SK_OK) {
        errno = first_errno;
        return first_rc;
    }
    return tcp_new(fd, 0, conn);
}

int sk_tcp_listen(sk_tcp **listener, const char *host, int port, int backlog)
{
    int fd, family, dual, rc;

    if (listener == NULL)
        return sk__fail(SK_EINVAL);
    *listener = NULL;
    if (!sk__port_ok(port, 1))
        return sk__fail(SK_EINVAL);
    rc = sk__open_bound(host, port, SOCK_STREAM, 1, 1, &fd, &family, &dual);
    if (rc != SK_OK)
        return rc;
    if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
        rc = sk__map_errno(errno);
        sk__close_keep_errno(fd);
        return rc;
    }
    return tcp_new(fd, 1, listener);
}

int sk_tcp_accept(sk_tcp *listener, sk_tcp **conn, int timeout_ms)
{
    sk__deadline dl;
    int rc;

    if (conn == NULL)
        return sk__fail(SK_EINVAL);
    *conn = NULL;
    if (listener == NULL || !listener->listening)
        return sk__fail(SK_EINVAL);
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;
    for (;;) {
        int fd = accept4(listener->s.fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            if ((rc = set_nodelay(fd, 1)) != SK_OK) {
                sk__close_keep_errno(fd);
                return rc;
            }
            return tcp_new(fd, 0, conn);
        }
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
            if ((rc = sk__wait(listener->s.fd, POLLIN, &dl)) != SK_OK)
                return rc;
            continue;
        default:
            /* EMFILE/ENFILE come back as SK_EMFILE; the listener stays usable. */
            return sk__map_errno(errno);
        }
    }
}

/* Checks shared by every transfer; stores 0 in *done first. */
static int xfer_begin(sk_tcp *conn, const void *buf, size_t len, size_t *done, int timeout_ms, sk__deadline *dl)
{
    if (done != NULL)
        *done = 0;
    if (conn == NULL || conn->listening || (buf == NULL && len > 0))
        return sk__fail(SK_EINVAL);
    return sk__deadline_init(dl, timeout_ms);
}

/* After a send-side system call failed with err: SK_OK to retry, or the code. */
static int send_failure(sk_tcp *conn, int err, const sk__deadline *dl)
{
    int rc = sk__after_failure(err, dl);
    if (rc == SK_ECONNRESET && err == EPIPE && (__atomic_load_n(&conn->shut, __ATOMIC_RELAXED) & SK_SHUT_WR))
        rc = SK_ECLOSED; /* our own shutdown, not a broken connection */
    return rc;
}

static int send_impl(sk_tcp *conn, const void *buf, size_t len, size_t *sent, int timeout_ms, int all)
{
    sk__deadline dl;
    size_t n = 0;
    int rc = xfer_begin(conn, buf, len, sent, timeout_ms, &dl);

    while (rc == SK_OK && n < len) {
        int flags;
        ssize_t k;
        if ((rc = sk__prepare(&conn->s, SO_SNDTIMEO, &dl, &flags)) != SK_OK)
            break;
        /* MSG_NOSIGNAL: a peer that vanished must not kill the caller. */
        k = send(conn->s.fd, (const char *)buf + n, len - n, flags | MSG_NOSIGNAL);
        if (k >= 0) {
            n += (size_t)k;
            if (!all && n > 0)
                break;
            /* With a budget of 0, a short write means the buffer is full: the next
             * call would only fail with EAGAIN. */
            if (dl.mode == SK__NOW && n < len)
                rc = sk__fail(SK_ETIMEDOUT);
            continue;
        }
        rc = send_failure(conn, errno, &dl);
    }
    if (sent != NULL)
        *sent = n;
    return rc;
}

/* Move up to want bytes of the read-ahead buffer to dst. */
static size_t take_buffered(sk_tcp *conn, char *dst, size_t want)
{
    size_t k = conn->rend - conn->rpos;
    if (k > want)
        k = want;
    if (k > 0) {
        memcpy(dst, conn->rbuf + conn->rpos, k);
        conn->rpos += k;
    }
    return k;
}

static int recv_impl(sk_tcp *conn, void *buf, size_t len, size_t *received, int timeout_ms, int exact)
{
    sk__deadline dl;
    size_t n = 0;
    int rc = xfer_begin(conn, buf, len, received, timeout_ms, &dl);

    /* What sk_tcp_recv_until read ahead comes first: it is the start of the stream. */
    if (rc == SK_OK && len > 0)
        n = take_buffered(conn, buf, len);
    if (n > 0 && !exact)
        len = n;
    while (rc == SK_OK && n < len) {
        int flags;
        ssize_t k;
        if ((rc = sk__prepare(&conn->s, SO_RCVTIMEO, &dl, &flags)) != SK_OK)
            break;
        /* MSG_WAITALL: the kernel gathers the whole message in one call when it can. */
        k = recv(conn->s.fd, (char *)buf + n, len - n, flags | (exact ? MSG_WAITALL : 0));
        if (k > 0) {
            n += (size_t)k;
            if (!exact)
                break;
        } else if (k == 0) {
            rc = sk__fail(SK_ECLOSED);
        } else {
            rc = sk__after_failure(errno, &dl);
        }
    }
    if (received != NULL)
        *received = n;
    return rc;
}

int sk_tcp_send_all(sk_tcp *conn, const void *buf, size_t len, size_t *sent, int timeout_ms)
{
    return send_impl(conn, buf, len, sent, timeout_ms, 1);
}

int sk_tcp_send(sk_tcp *conn, const void *buf, size_t len, size_t *sent, int timeout_ms)
{
    return send_impl(conn, buf, len, sent, timeout_ms, 0);
}

int sk_tcp_recv_exact(sk_tcp *conn, void *buf, size_t len, size_t *received, int timeout_ms)
{
    return recv_impl(conn, buf, len, received, timeout_ms, 1);
}

int sk_tcp_recv(sk_tcp *conn, void *buf, size_t cap, size_t *received, int timeout_ms)
{
    return recv_impl(conn, buf, cap, received, timeout_ms, 0);
}

/* Skip k bytes of a gather list from (idx, off), and any empty buffers after them. */
static void iov_advance(const sk_iovec *iov, size_t cnt, size_t *idx, size_t *off, size_t k)
{
    while (*idx < cnt) {
        size_t rem = iov[*idx].len - *off;
        if (k < rem) {
            *off += k;
            return;
        }
        k -= rem;
        (*idx)++;
        *off = 0;
    }
}

int sk_tcp_send_allv(sk_tcp *conn, const sk_iovec *iov, size_t iovcnt, size_t *sent, int timeout_ms)
{
    sk__deadline dl;
    size_t n = 0, total = 0, idx = 0, off = 0;
    int rc = xfer_begin(conn, iov, iovcnt, sent, timeout_ms, &dl);

    for (size_t i = 0; rc == SK_OK && i < iovcnt; i++) {
        if ((iov[i].base == NULL && iov[i].len > 0) || iov[i].len > SIZE_MAX - total)
            rc = sk__fail(SK_EINVAL);
        else
            total += iov[i].len;
    }
    if (rc == SK_OK)
        iov_advance(iov, iovcnt, &idx, &off, 0);
    while (rc == SK_OK && idx < iovcnt) {
        struct iovec v[IOV_CHUNK];
        struct msghdr m;
        size_t cnt = 0;
        int flags;
        ssize_t k;

        for (size_t j = idx; j < iovcnt && cnt < IOV_CHUNK; j++) {
            size_t skip = j == idx ? off : 0;
            if (iov[j].len == skip)
                continue;
            v[cnt].iov_base = (char *)(uintptr_t)iov[j].base + skip;
            v[cnt].iov_len = iov[j].len - skip;
            cnt++;
        }
        if ((rc = sk__prepare(&conn->s, SO_SNDTIMEO, &dl, &flags)) != SK_OK)
            break;
        memset(&m, 0, sizeof m);
        m.msg_iov = v;
        m.msg_iovlen = cnt;
        k = sendmsg(conn->s.fd, &m, flags | MSG_NOSIGNAL);
        if (k >= 0) {
            n += (size_t)k;
            iov_advance(iov, iovcnt, &idx, &off, (size_t)k);
            if (dl.mode == SK__NOW && idx < iovcnt)
                rc = sk__fail(SK_ETIMEDOUT); /* short write with a budget of 0: full */
            continue;
        }
        rc = send_failure(conn, errno, &dl);
    }
    if (sent != NULL)
        *sent = n;
    return rc;
}

int sk_tcp_recv_until(sk_tcp *conn, int delim, void *buf, size_t cap, size_t *len, int timeout_ms)
{
    sk__deadline dl;
    size_t n = 0;
    char *out = buf;
    int rc = SK_OK;

    if (len != NULL)
        *len = 0;
    if (conn == NULL || conn->listening || buf == NULL || cap == 0 || delim < 0 || delim > 255 ||
        timeout_ms < SK_FOREVER)
        return sk__fail(SK_EINVAL);
    dl.mode = -1; /* the budget starts with the first system call: a record already
                     read ahead costs no clock read */
    if (conn->rbuf == NULL) {
        /* Once per connection, and only for the programs that read records. */
        if ((conn->rbuf = malloc(SK_TCP_READ_BUFFER)) == NULL)
            return sk__fail(SK_ENOMEM);
        conn->rpos = conn->rend = 0;
    }
    for (;;) {
        int flags;
        ssize_t k;
        size_t avail = conn->rend - conn->rpos;
        if (avail > 0) {
            size_t take = avail < cap - n ? avail : cap - n;
            const char *p = memchr(conn->rbuf + conn->rpos, delim, take);
            if (p != NULL)
                take = (size_t)(p - (conn->rbuf + conn->rpos)) + 1;
            n += take_buffered(conn, out + n, take);
            if (p != NULL)
                break;
            if (n == cap) {
                rc = sk__fail(SK_ETOOLONG);
                break;
            }
        }
        if (dl.mode == -1)
            sk__deadline_init(&dl, timeout_ms);
        if ((rc = sk__prepare(&conn->s, SO_RCVTIMEO, &dl, &flags)) != SK_OK)
            break;
        /* One system call brings as many records as have arrived. */
        k = recv(conn->s.fd, conn->rbuf, SK_TCP_READ_BUFFER, flags);
        if (k > 0) {
            conn->rpos = 0;
            conn->rend = (size_t)k;
        } else if (k == 0) {
            rc = sk__fail(SK_ECLOSED);
            break;
        } else if ((rc = sk__after_failure(errno, &dl)) != SK_OK) {
            break;
        }
    }
    if (len != NULL)
        *len = n;
    /* Read-ahead does not make the descriptor readable: tell the poller. */
    if (conn->preg.poller != NULL && conn->rend > conn->rpos)
        sk__poller_note_readahead(&conn->preg);
    return rc;
}

sk__preg *sk__tcp_preg(sk_tcp *t)
{
    return &t->preg;
}

size_t sk_tcp_buffered(const sk_tcp *conn)
{
    return conn == NULL || conn->rbuf == NULL ? 0 : conn->rend - conn->rpos;
}

int sk_tcp_shutdown(sk_tcp *conn, int how)
{
    int sys;
    if (conn == NULL || conn->listening)
        return sk__fail(SK_EINVAL);
    switch (how) {
    case SK_SHUT_RD: sys = SHUT_RD; break;
    case SK_SHUT_WR: sys = SHUT_WR; break;
    case SK_SHUT_RDWR: sys = SHUT_RDWR; break;
    default: return sk__fail(SK_EINVAL);
    }
    __atomic_fetch_or(&conn->shut, how, __ATOMIC_RELAXED);
    /* Wakes a thread blocked in recv (it sees end of stream) or send (EPIPE). */
    if (shutdown(conn->s.fd, sys) != 0)
        return sk__map_errno(errno);
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
    if (conn == NULL || conn->listening)
        return sk__fail(SK_EINVAL);
    return set_nodelay(conn->s.fd, on != 0);
}

void sk_tcp_close(sk_tcp *t)
{
    if (t == NULL)
        return;
    if (t->preg.poller != NULL)
        sk__poller_forget(&t->preg);
    close(t->s.fd);
    free(t->rbuf);
    free(t);
}
