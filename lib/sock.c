/* What the endpoints share to make their sockets: ports, names, bound sockets. */
#include "internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sk__port_ok(int port, int zero_ok)
{
    return port <= 65535 && (port > 0 || (zero_ok && port == 0));
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
    *fd = sk__socket(family, socktype, 0, nonblock);
    return *fd < 0 ? sk__map_errno(errno) : SK_OK;
}

int sk__set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) == 0 ? SK_OK : sk__map_errno(errno);
}

int sk__no_option(void)
{
    errno = ENOPROTOOPT;
    return SK_EOS;
}

/* SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY (never left to net.ipv6.bindv6only) and
 * IP_FREEBIND as o says, then bind. */
static int bind_fd(int fd, int family, const sk__bind_opts *o, const struct sockaddr *sa, socklen_t len,
                   int v6only)
{
    int rc = SK_OK;
    if (o->reuse_addr)
        rc = sk__set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
#ifdef SO_REUSEPORT
    if (rc == SK_OK && o->reuse_port)
        rc = sk__set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
#else
    if (rc == SK_OK && o->reuse_port)
        rc = sk__no_option();
#endif
    if (rc == SK_OK && family == AF_INET6)
        rc = sk__set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
#ifdef IP_FREEBIND
    if (rc == SK_OK && o->freebind)
        rc = sk__set_int_opt(fd, family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
                             family == AF_INET6 ? IPV6_FREEBIND : IP_FREEBIND, 1);
#else
    if (rc == SK_OK && o->freebind)
        rc = sk__no_option();
#endif
    if (rc == SK_OK && bind(fd, sa, len) != 0)
        rc = sk__map_errno(errno);
    return rc;
}

int sk__open_bound(const char *host, int port, int socktype, int nonblock, const sk__bind_opts *o, int *fd,
                   int *family, int *dual)
{
    int rc;
    *fd = -1;
    *dual = 0;
    if (host == NULL || host[0] == '\0') {
        /* Every local address: one dual-stack IPv6 socket where the system has
         * IPv6 (unless the caller asked for IPv6 only), else IPv4. */
        struct sockaddr_in6 in6;
        const int v6only = o->v6only > 0;
        memset(&in6, 0, sizeof in6);
        in6.sin6_family = AF_INET6;
        in6.sin6_addr = in6addr_any;
        in6.sin6_port = htons((unsigned short)port);
        rc = open_socket(AF_INET6, socktype, nonblock, fd);
        if (rc == SK_OK) {
            *family = AF_INET6;
            *dual = !v6only;
            rc = bind_fd(*fd, AF_INET6, o, (struct sockaddr *)&in6, sizeof in6, v6only);
        } else if (errno == EAFNOSUPPORT && !v6only) {
            struct sockaddr_in in;
            memset(&in, 0, sizeof in);
            in.sin_family = AF_INET;
            in.sin_addr.s_addr = htonl(INADDR_ANY);
            in.sin_port = htons((unsigned short)port);
            rc = open_socket(AF_INET, socktype, nonblock, fd);
            if (rc == SK_OK) {
                *family = AF_INET;
                rc = bind_fd(*fd, AF_INET, o, (struct sockaddr *)&in, sizeof in, 0);
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
            /* A named address is IPv6 only unless the caller said otherwise (then an
             * IPv6 "::" takes IPv4 too). */
            const int v6only = o->v6only != 0;
            *family = ai->ai_family;
            *dual = ai->ai_family == AF_INET6 && !v6only;
            rc = bind_fd(*fd, ai->ai_family, o, ai->ai_addr, ai->ai_addrlen, v6only);
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

int sk__bind_opts_from(sk__bind_opts *o, const sk_bind_options *opts, int reuse_default, int stream)
{
    sk_bind_options d = SK_BIND_OPTIONS_INIT;
    if (opts == NULL)
        opts = &d;
    if (opts->version == 0 || opts->version > SK_BIND_OPTIONS_VERSION || opts->reuse_addr < -1 ||
        opts->reuse_addr > 1 || opts->reuse_port < 0 || opts->reuse_port > 1 || opts->v6only < -1 ||
        opts->v6only > 1 || opts->freebind < 0 || opts->freebind > 1 || opts->fastopen < 0 ||
        (opts->fastopen > 0 && !stream))
        return sk__fail(SK_EINVAL);
    o->reuse_addr = opts->reuse_addr < 0 ? reuse_default : opts->reuse_addr;
    o->reuse_port = opts->reuse_port;
    o->v6only = opts->v6only;
    o->freebind = opts->freebind;
    o->fastopen = opts->fastopen;
    return SK_OK;
}

int sk__set_nodelay(int fd, int on)
{
    return sk__set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, on);
}
