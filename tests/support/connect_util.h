/* Helpers for the Happy Eyeballs tests (tests/test_connect.c, tests/test_faults_connect.c):
 * raw loopback listeners on one port for several addresses, a blackholed address,
 * and the resolver stand-in's "addrs-" names (tests/shim/gaishim.c). Test code only;
 * include after testutil.h. */
#ifndef SK_CONNECT_UTIL_H
#define SK_CONNECT_UTIL_H

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <unistd.h>

/* The resolver stand-in must be preloaded, or "addrs-" names do not resolve. */
static inline void cu_require_gaishim(void)
{
    cr_assert(dlsym(RTLD_DEFAULT, "sk_gaishim_running") != NULL,
              "the resolver stand-in is not preloaded (LD_PRELOAD=libsk_gaishim.so)");
}

/* The system address for text (a numeric IPv4 or IPv6 address) and port; its length. */
static inline socklen_t cu_sockaddr(const char *text, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((unsigned short)port);
        cr_assert_eq(inet_pton(AF_INET6, text, &a->sin6_addr), 1);
        return sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((unsigned short)port);
        cr_assert_eq(inet_pton(AF_INET, text, &a->sin_addr), 1);
        return sizeof *a;
    }
}

/* A raw non-blocking TCP socket bound to text (a numeric IPv4 or IPv6 address) and
 * port (0: any), listening with backlog unless backlog < 0; -1 when the port is taken. */
static inline int cu_bind(const char *text, int port, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd;
    len = cu_sockaddr(text, port, &ss);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    if (ss.ss_family == AF_INET6)
        cr_assert_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one), 0);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        cr_assert(errno == EADDRINUSE, "bind %s:%d: %s", text, port, strerror(errno));
        close(fd);
        return -1;
    }
    if (backlog >= 0)
        cr_assert_eq(listen(fd, backlog), 0, "listen: %s", strerror(errno));
    return fd;
}

static inline int cu_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* One port for a whole set of addresses: fds[i] is a socket on texts[i], listening
 * with backlogs[i] (-1: bound only, so that connects there are refused). */
static inline int cu_one_port(size_t n, const char *const *texts, const int *backlogs, int *fds)
{
    for (int tries = 0; tries < 200; tries++) {
        size_t i;
        int port;
        fds[0] = cu_bind(texts[0], 0, backlogs[0]);
        port = cu_port(fds[0]);
        for (i = 1; i < n; i++)
            if ((fds[i] = cu_bind(texts[i], port, backlogs[i])) < 0)
                break;
        if (i == n)
            return port;
        while (i-- > 0)
            close(fds[i]);
    }
    cr_assert_fail("no port free on every address after 200 tries");
    return -1;
}

/* A client connected (blocking, 5 s at most) to text:port; its descriptor. */
static inline int cu_connect_raw(const char *text, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = cu_sockaddr(text, port, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct pollfd p;
    cr_assert_geq(fd, 0);
    if (connect(fd, (struct sockaddr *)&ss, len) != 0)
        cr_assert_eq(errno, EINPROGRESS, "connect %s:%d: %s", text, port, strerror(errno));
    p.fd = fd;
    p.events = POLLOUT;
    cr_assert_eq(poll(&p, 1, 5000), 1, "connect %s:%d did not finish", text, port);
    return fd;
}

/* Makes the listener lfd (listening with backlog 0) a blackhole: one client fills its
 * accept queue, and the kernel drops every SYN after that (the queue-full drop comes
 * before SYN cookies), so a connect there never answers. Checked: a second connect
 * is still in progress 300 ms later. Returns the filling client's descriptor. */
static inline int cu_blackhole(const char *text, int lfd)
{
    int port = cu_port(lfd), filler = cu_connect_raw(text, port);
    sk_tcp *probe = NULL;
    int rc = sk_tcp_connect(&probe, text, port, 300);
    cr_assert_eq(rc, SK_ETIMEDOUT, "the blackhole %s:%d answered: %s", text, port, sk_errname(rc));
    return filler;
}

/* Accepts and closes whatever waits on listener lfd; how many there were. */
static inline int cu_drain(int lfd)
{
    int n = 0, fd;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        close(fd);
        n++;
    }
    return n;
}

/* The report entry's address as text. */
static inline const char *cu_fmt(const sk_addr *a, char *buf, size_t cap)
{
    cr_assert_eq(sk_addr_format(a, buf, cap), SK_OK);
    return buf;
}

#endif /* SK_CONNECT_UTIL_H */
