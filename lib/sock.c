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
    *fd = socket(family, socktype | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
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

static int bind_fd(int fd, int family, int reuse, const struct sockaddr *sa, socklen_t len, int v6only)
{
    int rc = SK_OK;
    if (reuse)
        rc = sk__set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    /* Never left to the system's default (net.ipv6.bindv6only). */
    if (rc == SK_OK && family == AF_INET6)
        rc = sk__set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
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

int sk__set_nodelay(int fd, int on)
{
    return sk__set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, on);
}
