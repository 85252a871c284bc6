/* sk_tcp_connect: every address a name resolves to, within the one budget. */
#include "internal.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Go's floor for one address's share of a connect budget. */
#define CONNECT_MIN_SHARE_NS INT64_C(2000000000)

/* Wait for a non-blocking connect to finish. A wake-up is trusted only once the
 * socket says so: SO_ERROR for a failure, getpeername for a connection. */
static int connect_wait(int s, sk__deadline *dl)
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
static int connect_one(const struct addrinfo *ai, sk__deadline *dl, int *fd)
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
        rc = sk__set_nodelay(s, 1);
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
    if ((rc = sk__resolve_within(host, port, SOCK_STREAM, 0, &dl, &list, NULL)) != SK_OK)
        return rc;
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next)
        left++;
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next, left--) {
        sk__deadline part = dl;
        if (sk__deadline_is_finite(&dl) && left > 1) {
            /* Share what is left among the addresses still to try, so that one that
             * drops packets cannot eat the whole budget. */
            int64_t share = sk__deadline_left_ns(&dl) / left;
            sk__deadline_part(&dl, share < CONNECT_MIN_SHARE_NS ? CONNECT_MIN_SHARE_NS : share, &part);
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
    return sk__tcp_wrap(fd, conn);
}
