/* chat_raw_epoll: examples/chat-server's I/O half written by hand on raw epoll,
 * without libsockkit: the benchmark's anchor (see docs/CHAT-PERFORMANCE.md).
 *
 *   chat_raw_epoll [host [port]]          (default: localhost 1234)
 *
 * It drives the server's own engine (examples/chat/engine.c: protocol, queues, rounds,
 * bounds, flow control), so the benchmark compares the library with what a careful
 * programmer writes without it, for the I/O alone:
 *   - non-blocking sockets (accept4 SOCK_NONBLOCK), one thread, level-triggered epoll;
 *   - one recv of up to 64 KiB per ready client;
 *   - each client's queue written with one writev of up to IOV_MAX pieces; a short
 *     write means the socket is full, and nothing more is tried until EPOLLOUT;
 *   - TCP_NODELAY and TCP_NOTSENT_LOWAT (256 KiB; 128 KiB while the engine says the
 *     client is behind, when it also asks SIOCOUTQ) on every client; SIGINT/SIGTERM
 *     through an eventfd; the listener rests 100 ms after EMFILE.
 * Errors are named as the library names them, so the log reads the same. Linux only.
 * No libsockkit header is included. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* linux/sockios.h's SIOCOUTQ is TIOCOUTQ (musl-gcc has no kernel headers). */
#ifndef SIOCOUTQ
#define SIOCOUTQ TIOCOUTQ
#endif

#include "engine.h"

#define SEND_IOV IOV_MAX             /* the system's limit: one writev per queue */

struct io {
    int epfd, lfd, stopfd;
    struct chat_engine *chat;
};

/* epoll data for the two descriptors that are not clients. */
static char listener_tag, stop_tag;

static int stop_fd = -1;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    int err = errno;
    uint64_t one = 1;
    ssize_t r;
    (void)sig;
    stop_requested = 1;
    r = write(stop_fd, &one, sizeof one);
    (void)r;
    errno = err;
}

/* The names the library's twin prints, for the same failures. */
static const char *errname(int err)
{
    switch (err) {
    case EMFILE:
    case ENFILE: return "SK_EMFILE";
    case ECONNRESET:
    case EPIPE: return "SK_ECONNRESET";
    case EADDRINUSE: return "SK_EADDRINUSE";
    case ENOMEM:
    case ENOBUFS: return "SK_ENOMEM";
    case ETIMEDOUT: return "SK_ETIMEDOUT";
    default: return "SK_EOS";
    }
}

/* "127.0.0.1:50432", "[::1]:50432"; an IPv4-mapped address is shown as IPv4. */
static void format_name(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, sizeof host);
            snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(a->sin6_port));
        } else {
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            if (a->sin6_scope_id != 0)
                snprintf(out, cap, "[%s%%%lu]:%u", host, (unsigned long)a->sin6_scope_id,
                         (unsigned)ntohs(a->sin6_port));
            else
                snprintf(out, cap, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
        }
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(a->sin_port));
    }
}

/* ---- what the engine asks of us (struct chat_ops) ---------------------------------- */

static int epoll_set(int epfd, int op, int fd, unsigned want, void *data)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = (want & CHAT_IN ? EPOLLIN : 0u) | (want & CHAT_OUT ? EPOLLOUT : 0u);
    ev.data.ptr = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

static int io_attach(void *io, chat_conn conn, struct chat_client *c)
{
    struct io *s = io;
    if (epoll_set(s->epfd, EPOLL_CTL_ADD, conn.fd, CHAT_IN, c) == 0)
        return 0;
    fprintf(stderr, "chat_raw_epoll: epoll_ctl: %s: turning a client away\n", strerror(errno));
    return -1;
}

static const char *io_watch(void *io, chat_conn conn, struct chat_client *c, unsigned want)
{
    struct io *s = io;
    return epoll_set(s->epfd, EPOLL_CTL_MOD, conn.fd, want, c) == 0 ? NULL : errname(errno);
}

static enum chat_io io_recv(void *io, chat_conn conn, char *buf, size_t cap, size_t *got, const char **why)
{
    ssize_t k;
    (void)io;
    do
        k = recv(conn.fd, buf, cap, 0);
    while (k < 0 && errno == EINTR);
    if (k > 0) {
        *got = (size_t)k;
        return CHAT_IO_DONE;
    }
    if (k == 0)
        return CHAT_IO_CLOSED;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return CHAT_IO_AGAIN;
    *why = errname(errno);
    return CHAT_IO_FAILED;
}

static enum chat_io io_send(void *io, chat_conn conn, const struct chat_iov *iov, size_t n, size_t *sent,
                            const char **why)
{
    static struct iovec v[SEND_IOV];
    size_t want = 0;
    ssize_t k;
    (void)io;
    for (size_t i = 0; i < n; i++) {
        v[i].iov_base = (void *)iov[i].base;
        v[i].iov_len = iov[i].len;
        want += iov[i].len;
    }
    do
        k = writev(conn.fd, v, (int)n);
    while (k < 0 && errno == EINTR);
    if (k < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return CHAT_IO_AGAIN;
        *why = errname(errno);
        return CHAT_IO_FAILED;
    }
    *sent = (size_t)k;
    return (size_t)k < want ? CHAT_IO_AGAIN : CHAT_IO_DONE;
}

static void io_bound_unsent(void *io, chat_conn conn, int behind)
{
    int lowat = behind ? CHAT_UNSENT_LOWAT : CHAT_UNSENT_LOWAT_UP;
    (void)io;
    (void)setsockopt(conn.fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
}

static long io_unacked(void *io, chat_conn conn)
{
    int n;
    (void)io;
    return ioctl(conn.fd, SIOCOUTQ, &n) == 0 ? n : -1;
}

static int io_shutdown(void *io, chat_conn conn)
{
    (void)io;
    return shutdown(conn.fd, SHUT_WR);
}

static void io_close(void *io, chat_conn conn)
{
    (void)io;
    close(conn.fd); /* leaves the epoll set with it */
}

static const struct chat_ops ops = {SEND_IOV,        io_attach,  io_watch,    io_recv, io_send,
                                    io_bound_unsent, io_unacked, io_shutdown, io_close};

/* ---- the loop ---------------------------------------------------------------------- */

static void accept_clients(struct io *s)
{
    for (int i = 0; i < CHAT_ACCEPT_BURST; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        char name[CHAT_NAME_CAP];
        int one = 1, lowat = CHAT_UNSENT_LOWAT_UP;
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            fprintf(stderr, "chat_raw_epoll: accept: %s (%s); pausing %d ms\n", errname(errno),
                    strerror(errno), CHAT_ACCEPT_PAUSE_MS);
            epoll_set(s->epfd, EPOLL_CTL_MOD, s->lfd, 0, &listener_tag);
            chat_rest_listener(s->chat, 1);
            return;
        }
        if (getpeername(fd, (struct sockaddr *)&peer, &plen) != 0) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat) != 0)
            perror("chat_raw_epoll: setsockopt(TCP_NOTSENT_LOWAT)");
        format_name(&peer, name, sizeof name);
        chat_join(s->chat, (chat_conn){.fd = fd}, name);
    }
}

static int main_loop(struct io *s)
{
    static struct epoll_event evs[CHAT_MAX_EVENTS];

    for (;;) {
        int count = epoll_wait(s->epfd, evs, CHAT_MAX_EVENTS, chat_wait_timeout(s->chat));
        chat_tick(s->chat);
        if (count < 0) {
            if (errno == EINTR)
                continue; /* the eventfd tells whether it was ours */
            perror("chat_raw_epoll: epoll_wait");
            return 1;
        }
        if (chat_listener_rested(s->chat)) {
            epoll_set(s->epfd, EPOLL_CTL_MOD, s->lfd, CHAT_IN, &listener_tag);
            chat_rest_listener(s->chat, 0);
        }

        for (int i = 0; i < count; i++) {
            uint32_t ev = evs[i].events;
            void *ptr = evs[i].data.ptr;
            if (ptr == &stop_tag) {
                if (stop_requested)
                    return 0;
                continue;
            }
            if (ptr == &listener_tag) {
                accept_clients(s);
                continue;
            }
            chat_event(s->chat, ptr,
                       (ev & EPOLLIN ? CHAT_IN : 0u) | (ev & EPOLLOUT ? CHAT_OUT : 0u) |
                           (ev & (EPOLLHUP | EPOLLERR) ? CHAT_HUP : 0u));
        }
        chat_batch_done(s->chat);
        if (stop_requested)
            return 0;
    }
}

/* Listen as the library does: SO_REUSEADDR; NULL or "" host: dual-stack [::]; a name
 * with several addresses: its first IPv4 one, else its first. */
static int open_listener(const char *host, int port, char *where, size_t wcap)
{
    struct addrinfo hints, *list, *ai, *pick = NULL;
    char portstr[16];
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd, one = 1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (host != NULL && host[0] == '\0')
        host = NULL;
    if (host == NULL)
        hints.ai_family = AF_INET6;
    snprintf(portstr, sizeof portstr, "%d", port);
    if ((rc = getaddrinfo(host, portstr, &hints, &list)) != 0) {
        fprintf(stderr, "chat_raw_epoll: cannot listen on %s port %d: SK_ENOTFOUND (%s)\n",
                host ? host : "*", port, gai_strerror(rc));
        return -1;
    }
    for (ai = list; ai != NULL && pick == NULL; ai = ai->ai_next)
        if (ai->ai_family == AF_INET)
            pick = ai;
    if (pick == NULL)
        pick = list;
    fd = socket(pick->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (pick->ai_family == AF_INET6) {
            int v6only = host != NULL;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        }
        if (bind(fd, pick->ai_addr, pick->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            int err = errno;
            close(fd);
            fd = -1;
            errno = err;
        }
    }
    freeaddrinfo(list);
    if (fd < 0) {
        fprintf(stderr, "chat_raw_epoll: cannot listen on %s port %d: %s (%s)\n", host ? host : "*", port,
                errname(errno), strerror(errno));
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        perror("chat_raw_epoll: getsockname");
        close(fd);
        return -1;
    }
    format_name(&ss, where, wcap);
    return fd;
}

int main(int argc, char **argv)
{
    const char *host;
    int port, status;
    struct io s;
    struct sigaction sa;
    char where[CHAT_NAME_CAP];

    if ((status = chat_parse_args("chat_raw_epoll", argc, argv, &host, &port)) >= 0)
        return status;
    chat_raise_fd_limit("chat_raw_epoll");
    memset(&s, 0, sizeof s);
    if ((s.chat = chat_engine_new("chat_raw_epoll", &ops, &s)) == NULL) {
        fprintf(stderr, "chat_raw_epoll: out of memory\n");
        return 1;
    }
    if ((s.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (stop_fd = s.stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        perror("chat_raw_epoll: epoll/eventfd");
        return 1;
    }
    if (epoll_set(s.epfd, EPOLL_CTL_ADD, s.stopfd, CHAT_IN, &stop_tag) != 0) {
        perror("chat_raw_epoll: epoll_ctl");
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("chat_raw_epoll: sigaction");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* writev to a vanished client: EPIPE, not a signal */

    if ((s.lfd = open_listener(host, port, where, sizeof where)) < 0)
        return 1;
    if (epoll_set(s.epfd, EPOLL_CTL_ADD, s.lfd, CHAT_IN, &listener_tag) != 0) {
        perror("chat_raw_epoll: epoll_ctl");
        return 1;
    }
    fprintf(stderr, "chat_raw_epoll: listening on %s\n", where);
    fflush(stderr);

    status = main_loop(&s);

    chat_engine_close(s.chat);
    close(s.lfd);
    close(s.stopfd);
    close(s.epfd);
    return status;
}
