/* Portability (see compat.h): each Linux call and its POSIX fallback. */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#if SK_HAVE_EVENTFD
#include <sys/eventfd.h>
#endif

#if !(SK_HAVE_SOCK_CLOEXEC && SK_HAVE_SOCK_NONBLOCK) || !SK_HAVE_ACCEPT4 || !SK_HAVE_EVENTFD
/* FD_CLOEXEC, and O_NONBLOCK when nonblock: 0, or -1 with errno. */
static int set_flags(int fd, int nonblock)
{
    int fl;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return -1;
    if (!nonblock)
        return 0;
    if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -1;
    return 0;
}
#endif

/* Close fd keeping errno; -1 for the caller to return. */
static int drop(int fd)
{
    int err = errno;
    close(fd);
    errno = err;
    return -1;
}

/* SO_NOSIGPIPE where the system has it and MSG_NOSIGNAL is missing (macOS). */
static int no_sigpipe(int fd)
{
#if !SK_HAVE_MSG_NOSIGNAL && defined(SO_NOSIGPIPE)
    int on = 1;
    return setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on);
#else
    (void)fd;
    return 0;
#endif
}

int sk__socket(int family, int type, int protocol, int nonblock)
{
    int fd;
#if SK_HAVE_SOCK_CLOEXEC && SK_HAVE_SOCK_NONBLOCK
    fd = socket(family, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), protocol);
    if (fd < 0)
        return -1;
#else
    if ((fd = socket(family, type, protocol)) < 0)
        return -1;
    if (set_flags(fd, nonblock) != 0)
        return drop(fd);
#endif
    if (no_sigpipe(fd) != 0)
        return drop(fd);
    return fd;
}

int sk__accept(int listen_fd)
{
    int fd;
#if SK_HAVE_ACCEPT4
    if ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
        return -1;
#else
    if ((fd = accept(listen_fd, NULL, NULL)) < 0)
        return -1;
    /* Where the listener is non-blocking, BSD's accepted socket inherits it: the
     * library's connections start blocking everywhere. */
    {
        int fl = fcntl(fd, F_GETFL);
        if (set_flags(fd, 0) != 0 || fl < 0 || ((fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0))
            return drop(fd);
    }
#endif
    if (no_sigpipe(fd) != 0)
        return drop(fd);
    return fd;
}

const unsigned char *sk__cmsg_next(const struct msghdr *m, size_t *off, struct cmsghdr *h, size_t *len, int *cut)
{
    const unsigned char *base = m->msg_control, *data;
    size_t end = base != NULL ? (size_t)m->msg_controllen : 0, clen;

    /* By offsets, never past msg_controllen: the C library's CMSG_NXTHDR checks the
     * next header against the buffer's end but not the current one's cmsg_len, which
     * a system that truncates a message may leave larger than what is left. */
    if (*off > end || end - *off < sizeof *h)
        return NULL;
    memcpy(h, base + *off, sizeof *h);
    clen = (size_t)h->cmsg_len;
    if (clen < CMSG_LEN(0))
        return NULL; /* malformed: where the next one starts is unknown */
    data = base + *off + CMSG_LEN(0);
    if (clen > end - *off) {
        clen = end - *off; /* cut at the buffer's end: the last one */
        *cut = 1;
        *off = end;
    } else if (CMSG_SPACE(clen - CMSG_LEN(0)) > end - *off) {
        *off = end; /* its padding would be past the end: the last one */
    } else {
        *off += CMSG_SPACE(clen - CMSG_LEN(0));
    }
    *len = clen - CMSG_LEN(0);
    return data;
}

int sk__each_received_fd(const struct msghdr *m, void (*each)(int fd, void *arg), void *arg)
{
    struct cmsghdr h;
    const unsigned char *data;
    size_t off = 0, len;
    int cut = 0;
    while ((data = sk__cmsg_next(m, &off, &h, &len, &cut)) != NULL) {
        if (h.cmsg_level != SOL_SOCKET || h.cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t i = 0; i < len / sizeof(int); i++) {
            int fd;
            memcpy(&fd, data + i * sizeof fd, sizeof fd);
            each(fd, arg);
        }
    }
    return cut;
}

#if !SK_HAVE_MSG_CMSG_CLOEXEC
static void set_cloexec(int fd, void *unused)
{
    (void)unused;
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
}
#endif

void sk__cloexec_received(const struct msghdr *m)
{
#if SK_HAVE_MSG_CMSG_CLOEXEC
    (void)m;
#else
    (void)sk__each_received_fd(m, set_cloexec, NULL);
#endif
}

int sk__notify_open(sk__notify *n)
{
#if SK_HAVE_EVENTFD
    n->rd = n->wr = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return n->rd < 0 ? -1 : 0;
#else
    int fds[2];
    n->rd = n->wr = -1;
    if (pipe(fds) != 0)
        return -1;
    if (set_flags(fds[0], 1) != 0 || set_flags(fds[1], 1) != 0) {
        drop(fds[0]);
        return drop(fds[1]);
    }
    n->rd = fds[0];
    n->wr = fds[1];
    return 0;
#endif
}

void sk__notify_fire(const sk__notify *n)
{
    /* Nobody reads: once written it stays readable. A full eventfd counter or pipe
     * (EAGAIN) is readable already. */
    uint64_t one = 1;
    int err = errno;
#if SK_HAVE_EVENTFD
    (void)!write(n->wr, &one, sizeof one);
#else
    (void)!write(n->wr, &one, 1);
#endif
    errno = err;
}

void sk__notify_close(sk__notify *n)
{
    if (n->rd >= 0)
        close(n->rd);
    if (n->wr >= 0 && n->wr != n->rd)
        close(n->wr);
    n->rd = n->wr = -1;
}

void sk__sigpipe_block(sk__sigpipe_guard *g)
{
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
}

void sk__sigpipe_restore(const sk__sigpipe_guard *g, int raised)
{
    int err = errno;
    sigset_t pipe_set, pending;
    int sig;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    /* sigwait, not sigtimedwait (macOS lacks it): called only when one is pending. */
    if (raised && !g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1)
        (void)sigwait(&pipe_set, &sig);
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    errno = err;
}
