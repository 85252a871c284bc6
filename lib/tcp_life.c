/* How a TCP connection ends (graceful and abortive close) and the options that bound
 * how long a dead peer goes unnoticed (keepalive, TCP_USER_TIMEOUT). The final free
 * of both closes is sk_tcp_close's, so that an endpoint leaves its poller one way. */
#include "tcp_impl.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/* What close_graceful reads and throws away per system call. */
#define DRAIN_CHUNK 4096

/* The kernel's limits (Linux: MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT). */
#define KEEPIDLE_MAX 32767
#define KEEPINTVL_MAX 32767
#define KEEPCNT_MAX 127

/* shutdown(SHUT_WR) failed: the connection is already gone. Its pending error, when
 * the system kept one (ECONNRESET, ETIMEDOUT), says better why than ENOTCONN. */
static int shut_failed(const sk_tcp *conn)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(conn->s.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0)
        errno = err;
    return sk__map_errno(errno);
}

/* Our FIN, then everything the peer sends is read and dropped until its end of
 * stream, all through the I/O core within dl (its budget rules, EINTR, budget 0). */
static int drain(sk_tcp *conn, sk__deadline *dl)
{
    char sink[DRAIN_CHUNK];
    int rc;

    if (sk_tcp_shutdown(conn, SK_SHUT_WR) != SK_OK)
        return shut_failed(conn);
    do {
        sk__xfer x;
        sk__xfer_buf(&x, SK__STREAM_RECV, sink, sizeof sink, 0);
        rc = sk__io_run(&conn->s, &x, dl);
    } while (rc == SK_OK);
    return rc == SK_ECLOSED ? SK_OK : rc;
}

int sk_tcp_close_graceful(sk_tcp *conn, int timeout_ms)
{
    sk__deadline dl;
    int rc, err;

    if (conn == NULL)
        return sk__fail(SK_EINVAL);
    if (conn->listening)
        rc = sk__fail(SK_EINVAL);
    else if ((rc = sk__check_cancelled(&conn->s)) != SK_OK)
        ; /* nothing more goes out or in: only the close below */
    else if ((rc = sk__deadline_init(&dl, timeout_ms)) == SK_OK)
        rc = drain(conn, &dl);
    err = errno;
    sk_tcp_close(conn);
    errno = err;
    return rc;
}

void sk_tcp_abort(sk_tcp *conn)
{
    struct linger lg;
    if (conn == NULL)
        return;
    lg.l_onoff = 1;
    lg.l_linger = 0;
    /* With a zero linger time, close() sends a reset and drops what is unsent. If the
     * option cannot be set there is nobody to tell: the close below still happens. */
    (void)setsockopt(conn->s.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    sk_tcp_close(conn);
}

int sk_tcp_set_keepalive(sk_tcp *conn, int idle_s, int interval_s, int count)
{
    if (conn == NULL || conn->listening || conn->local || idle_s < 0 || interval_s < 0 || count < 0)
        return sk__fail(SK_EINVAL);
    if (sk__sock_cancelled(&conn->s))
        return sk__fail(SK_ECANCELED);
    if (idle_s == 0)
        return sk__set_int_opt(conn->s.fd, SOL_SOCKET, SO_KEEPALIVE, 0);
    if (idle_s > KEEPIDLE_MAX || interval_s < 1 || interval_s > KEEPINTVL_MAX || count < 1 || count > KEEPCNT_MAX)
        return sk__fail(SK_EINVAL);
#if defined(TCP_KEEPIDLE) && defined(TCP_KEEPINTVL) && defined(TCP_KEEPCNT)
    {
        /* The timings first: if one fails, keepalive is as it was (off stays off). */
        int fd = conn->s.fd, rc;
        if ((rc = sk__set_int_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s)) != SK_OK ||
            (rc = sk__set_int_opt(fd, IPPROTO_TCP, TCP_KEEPINTVL, interval_s)) != SK_OK ||
            (rc = sk__set_int_opt(fd, IPPROTO_TCP, TCP_KEEPCNT, count)) != SK_OK)
            return rc;
        return sk__set_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    }
#else
    return sk__no_option();
#endif
}

int sk_tcp_set_user_timeout(sk_tcp *conn, int timeout_ms)
{
    if (conn == NULL || conn->listening || conn->local || timeout_ms < 0)
        return sk__fail(SK_EINVAL);
    if (sk__sock_cancelled(&conn->s))
        return sk__fail(SK_ECANCELED);
#ifdef TCP_USER_TIMEOUT
    return sk__set_int_opt(conn->s.fd, IPPROTO_TCP, TCP_USER_TIMEOUT, timeout_ms);
#else
    return sk__no_option();
#endif
}
