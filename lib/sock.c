/* What TCP and UDP share: deadlines, waits, errno mapping, resolving and binding. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS INT64_C(1000000)

int64_t sk__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sk__deadline_init(sk__deadline *dl, int timeout_ms)
{
    dl->fresh = 1;
    dl->timeout_ms = timeout_ms;
    dl->at_ns = 0;
    if (timeout_ms == SK_FOREVER) {
        dl->mode = SK__FOREVER;
    } else if (timeout_ms == 0) {
        dl->mode = SK__NOW;
    } else if (timeout_ms > 0) {
        dl->mode = SK__FINITE;
        dl->at_ns = sk__now_ns() + (int64_t)timeout_ms * NS_PER_MS;
    } else {
        return sk__fail(SK_EINVAL);
    }
    return SK_OK;
}

int sk__deadline_expired(const sk__deadline *dl)
{
    switch (dl->mode) {
    case SK__FOREVER: return 0;
    case SK__NOW: return 1;
    default: return sk__now_ns() >= dl->at_ns;
    }
}

/* What is left, in whole milliseconds rounded up (so a wait never ends early);
 * 0 once spent. */
static int left_ms(const sk__deadline *dl)
{
    int64_t left = dl->at_ns - sk__now_ns();
    if (left <= 0)
        return 0;
    return (int)((left + NS_PER_MS - 1) / NS_PER_MS);
}

int sk__deadline_poll_ms(const sk__deadline *dl)
{
    switch (dl->mode) {
    case SK__FOREVER: return -1;
    case SK__NOW: return 0;
    default: return left_ms(dl);
    }
}

int sk__prepare(sk__sock *s, int opt, sk__deadline *dl, int *flags)
{
    int want;
    int *cached = opt == SO_RCVTIMEO ? &s->rcvtimeo_ms : &s->sndtimeo_ms;

    *flags = 0;
    switch (dl->mode) {
    case SK__NOW:
        *flags = MSG_DONTWAIT;
        return SK_OK;
    case SK__FOREVER:
        want = 0; /* no limit */
        break;
    default:
        /* The first call of a fresh budget has the whole of it: no clock read. */
        want = dl->fresh ? dl->timeout_ms : left_ms(dl);
        if (want == 0)
            return sk__fail(SK_ETIMEDOUT);
        break;
    }
    dl->fresh = 0;
    if (want != *cached) {
        /* The socket's own timeout changes only when the budget asks for another
         * value: a loop that keeps one timeout_ms pays for this once. */
        struct timeval tv;
        tv.tv_sec = want / 1000;
        tv.tv_usec = (suseconds_t)(want % 1000) * 1000;
        if (setsockopt(s->fd, SOL_SOCKET, opt, &tv, sizeof tv) != 0)
            return sk__map_errno(errno);
        *cached = want;
    }
    return SK_OK;
}

int sk__after_failure(int err, const sk__deadline *dl)
{
    if (err == EINTR)
        return SK_OK;
    if (err == EAGAIN || err == EWOULDBLOCK) {
        /* The socket timeout is counted in ticks and may end a hair early: only the
         * deadline decides. */
        if (sk__deadline_expired(dl))
            return sk__fail(SK_ETIMEDOUT);
        return SK_OK;
    }
    errno = err;
    return sk__map_errno(err);
}

int sk__wait(int fd, short events, const sk__deadline *dl)
{
    struct pollfd p;
    for (;;) {
        int n;
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        n = poll(&p, 1, sk__deadline_poll_ms(dl));
        if (n > 0)
            return SK_OK; /* ready, or an error the next call will report */
        if (n == 0) {
            if (sk__deadline_expired(dl))
                return sk__fail(SK_ETIMEDOUT);
            continue; /* woke a hair early */
        }
        if (errno != EINTR)
            return sk__map_errno(errno);
    }
}

int sk__map_errno(int err)
{
    switch (err) {
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
        return SK_ECONNRESET;
    case ECONNREFUSED:
        return SK_ECONNREFUSED;
    case EADDRINUSE:
        return SK_EADDRINUSE;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:
        return SK_EUNREACH;
    case EMSGSIZE:
        return SK_EMSGSIZE;
    case EMFILE:
    case ENFILE:
        return SK_EMFILE;
    case ENOMEM:
    case ENOBUFS:
        return SK_ENOMEM;
    case ETIMEDOUT:
        return SK_ETIMEDOUT;
    case EAFNOSUPPORT:
        return SK_EINVAL;
    default:
        return SK_EOS;
    }
}

int sk__fail(int code)
{
    switch (code) {
    case SK_EINVAL: errno = EINVAL; break;
    case SK_ENOMEM: errno = ENOMEM; break;
    case SK_ETIMEDOUT: errno = ETIMEDOUT; break;
    case SK_ECLOSED: errno = ENOTCONN; break;
    case SK_ETRUNCATED: errno = EMSGSIZE; break;
    case SK_ENOTFOUND: errno = ENOENT; break;
    case SK_ETOOLONG: errno = ENOBUFS; break;
    default: break;
    }
    return code;
}

int sk__port_ok(int port, int zero_ok)
{
    return port <= 65535 && (port > 0 || (zero_ok && port == 0));
}

void sk__close_keep_errno(int fd)
{
    int err = errno;
    close(fd);
    errno = err;
}

int sk__resolve(const char *host, int port, int socktype, int passive, struct addrinfo **out)
{
    struct addrinfo hints;
    char service[8];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    /* No AI_ADDRCONFIG: it would hide ::1 (and so "localhost" over IPv6) on a host
     * whose only IPv6 address is loopback. */
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    snprintf(service, sizeof service, "%d", port);
    rc = getaddrinfo(host, service, &hints, out);
    if (rc == 0 && *out != NULL)
        return SK_OK;
    if (rc == 0)
        freeaddrinfo(*out);
    *out = NULL;
    if (rc == EAI_SYSTEM)
        return SK_ENOTFOUND; /* errno tells the system's cause */
    return sk__fail(SK_ENOTFOUND);
}

const struct addrinfo *sk__pick_listen_addr(const struct addrinfo *list)
{
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next)
        if (ai->ai_family == AF_INET)
            return ai;
    return list;
}

static int open_socket(int family, int socktype, int nonblock, int *fd)
{
    *fd = socket(family, socktype | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    return *fd < 0 ? sk__map_errno(errno) : SK_OK;
}

static int set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) == 0 ? SK_OK : sk__map_errno(errno);
}

static int bind_fd(int fd, int family, int reuse, const struct sockaddr *sa, socklen_t len, int v6only)
{
    int rc = SK_OK;
    if (reuse)
        rc = set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    /* Never left to the system's default (net.ipv6.bindv6only). */
    if (rc == SK_OK && family == AF_INET6)
        rc = set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
    if (rc == SK_OK && bind(fd, sa, len) != 0)
        rc = sk__map_errno(errno);
    return rc;
}

int sk__open_bound(const char *host, int port, int socktype, int nonblock, int reuse, int *fd, int *family,
                   int *dual)
{
    int rc;
    *fd = -1;
    *dual = 0;
    if (host == NULL || host[0] == '\0') {
        /* Every local address: one dual-stack IPv6 socket where the system has
         * IPv6, else IPv4. */
        struct sockaddr_in6 in6;
        memset(&in6, 0, sizeof in6);
        in6.sin6_family = AF_INET6;
        in6.sin6_addr = in6addr_any;
        in6.sin6_port = htons((unsigned short)port);
        rc = open_socket(AF_INET6, socktype, nonblock, fd);
        if (rc == SK_OK) {
            *family = AF_INET6;
            *dual = 1;
            rc = bind_fd(*fd, AF_INET6, reuse, (struct sockaddr *)&in6, sizeof in6, 0);
        } else if (errno == EAFNOSUPPORT) {
            struct sockaddr_in in;
            memset(&in, 0, sizeof in);
            in.sin_family = AF_INET;
            in.sin_addr.s_addr = htonl(INADDR_ANY);
            in.sin_port = htons((unsigned short)port);
            rc = open_socket(AF_INET, socktype, nonblock, fd);
            if (rc == SK_OK) {
                *family = AF_INET;
                rc = bind_fd(*fd, AF_INET, reuse, (struct sockaddr *)&in, sizeof in, 0);
            }
        }
    } else {
        struct addrinfo *list;
        const struct addrinfo *ai;
        rc = sk__resolve(host, port, socktype, 1, &list);
        if (rc != SK_OK)
            return rc;
        ai = sk__pick_listen_addr(list);
        rc = open_socket(ai->ai_family, socktype, nonblock, fd);
        if (rc == SK_OK) {
            *family = ai->ai_family;
            rc = bind_fd(*fd, ai->ai_family, reuse, ai->ai_addr, ai->ai_addrlen, 1);
        }
        {
            int err = errno;
            freeaddrinfo(list);
            errno = err;
        }
    }
    if (rc != SK_OK && *fd >= 0) {
        sk__close_keep_errno(*fd);
        *fd = -1;
    }
    return rc;
}
