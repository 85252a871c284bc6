/* Unix domain sockets. A stream is an sk_tcp and a datagram endpoint an sk_udp
 * (tcp.c, udp.c): this file only makes their sockets (names, socket files, stale
 * ones) and adds what Unix sockets have and IP ones do not: peer credentials and
 * descriptors, which travel as control bytes through the I/O core (io.c). */
#include "tcp_impl.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* A failed system call on a name: a file that is not there is "not found". */
static int name_error(int err)
{
    int rc = sk__map_errno(err);
    errno = err;
    return err == ENOENT ? SK_ENOTFOUND : rc;
}

static int is_path(const char *name)
{
    return name[0] != '\0' && name[0] != '@';
}

static int name_of(const char *name, struct sockaddr_un *su, socklen_t *len)
{
    return sk__unix_addr(su, len, name, strlen(name));
}

static int options_ok(const sk_unix_options *o, const char *name)
{
    if (o == NULL)
        return 1;
    if (o->version == 0 || o->version > SK_UNIX_OPTIONS_VERSION)
        return 0;
    /* A mode means a file: asking for one on an abstract name is a mistake to report. */
    return o->mode == -1 || (o->mode >= 0 && o->mode <= 07777 && name != NULL && is_path(name));
}

/* ---- socket files ------------------------------------------------------------- */

int sk__unix_file_own(sk__unix_file *f, const char *path)
{
    struct stat st;
    memset(f, 0, sizeof *f);
    if (stat(path, &st) != 0)
        return SK_OK; /* already gone: nothing of ours to remove */
    if ((f->path = strdup(path)) == NULL)
        return sk__fail(SK_ENOMEM);
    f->dev = (unsigned long long)st.st_dev;
    f->ino = (unsigned long long)st.st_ino;
    return SK_OK;
}

void sk__unix_file_release(sk__unix_file *f)
{
    struct stat st;
    int err = errno;
    if (f->path == NULL)
        return;
    /* Only our own socket: a newer server's file at the same path stays. The check
     * and the unlink are two steps, as in every library; the inode makes the window
     * a replacement made within it, not any time after we bound. */
    if (lstat(f->path, &st) == 0 && S_ISSOCK(st.st_mode) && (unsigned long long)st.st_dev == f->dev &&
        (unsigned long long)st.st_ino == f->ino)
        (void)unlink(f->path);
    free(f->path);
    f->path = NULL;
    errno = err;
}

/* A socket file at path that nobody listens on (its server died) is removed; 1 when
 * it was, or is gone anyway. A live socket (it accepts, or its queue is full, or it
 * is of the other type) and anything that is not a socket stay. */
static int remove_stale(const char *path, int type, const struct sockaddr_un *su, socklen_t len)
{
    struct stat before, after;
    int probe, refused;

    if (lstat(path, &before) != 0)
        return errno == ENOENT;
    if (!S_ISSOCK(before.st_mode))
        return 0;
    if ((probe = sk__socket(AF_UNIX, type, 0, 1)) < 0)
        return 0;
    refused = connect(probe, (const struct sockaddr *)su, len) != 0 && errno == ECONNREFUSED;
    close(probe);
    if (!refused)
        return 0;
    /* The same file we probed, not one a new server made meanwhile. */
    if (lstat(path, &after) != 0 || after.st_dev != before.st_dev || after.st_ino != before.st_ino)
        return 0;
    return unlink(path) == 0 || errno == ENOENT;
}

/* A Unix socket of type bound to name (NULL: left unnamed), the file recorded for
 * removal and its mode set before anyone can connect (listen comes after). */
static int open_bound(int type, const char *name, const sk_unix_options *opts, int nonblock, int *fd,
                      sk__unix_file *file)
{
    struct sockaddr_un su;
    socklen_t len;
    int rc;

    memset(file, 0, sizeof *file);
    *fd = -1;
    if (!options_ok(opts, name) || (name != NULL && name_of(name, &su, &len) != SK_OK))
        return sk__fail(SK_EINVAL);
    if ((*fd = sk__socket(AF_UNIX, type, 0, nonblock)) < 0)
        return sk__map_errno(errno);
    if (name == NULL)
        return SK_OK;
    if (bind(*fd, (struct sockaddr *)&su, len) != 0) {
        int err = errno;
        if (err == EADDRINUSE && is_path(name) && remove_stale(name, type, &su, len))
            err = bind(*fd, (struct sockaddr *)&su, len) == 0 ? 0 : errno;
        if (err != 0) {
            rc = name_error(err);
            goto fail;
        }
    }
    if (!is_path(name))
        return SK_OK;
    if ((rc = sk__unix_file_own(file, name)) != SK_OK) {
        (void)unlink(name);
        goto fail;
    }
    if (opts != NULL && opts->mode != -1 && chmod(name, (mode_t)opts->mode) != 0) {
        rc = sk__map_errno(errno);
        sk__unix_file_release(file);
        goto fail;
    }
    return SK_OK;
fail:
    sk__close_keep_errno(*fd);
    *fd = -1;
    return rc;
}

/* ---- streams ------------------------------------------------------------------ */

int sk_unix_listen_with(sk_tcp **listener, const char *path, int backlog, const sk_unix_options *opts)
{
    sk__unix_file file;
    int fd, rc;

    if (listener == NULL)
        return sk__fail(SK_EINVAL);
    *listener = NULL;
    if (path == NULL)
        return sk__fail(SK_EINVAL);
    /* Non-blocking, as a TCP listener: sk_tcp_accept waits in poll(). */
    if ((rc = open_bound(SOCK_STREAM, path, opts, 1, &fd, &file)) != SK_OK)
        return rc;
    if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
        rc = sk__map_errno(errno);
        sk__unix_file_release(&file);
        sk__close_keep_errno(fd);
        return rc;
    }
    return sk__stream_new(fd, AF_UNIX, 1, &file, listener);
}

int sk_unix_listen(sk_tcp **listener, const char *path, int backlog)
{
    return sk_unix_listen_with(listener, path, backlog, NULL);
}

/* A non-blocking Unix connect does not wait for room in a full queue (EAGAIN), so
 * with a cancel to watch the call tries again after a pause spent in poll() on the
 * cancel's descriptor: 1 ms, doubling up to 32 ms, within the budget. */
#define ROOM_PAUSE_MAX_MS 32

static int connect_watching(int fd, const struct sockaddr_un *su, socklen_t len, sk__deadline *dl,
                            const sk_cancel *cancel)
{
    int pause_ms = 1;
    for (;;) {
        struct pollfd p;
        int left;
        if (connect(fd, (const struct sockaddr *)su, len) == 0)
            return SK_OK;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return name_error(errno);
        if ((left = sk__deadline_poll_ms(dl)) == 0)
            return sk__fail(SK_ETIMEDOUT);
        p.fd = sk__cancel_fd(cancel);
        p.events = POLLIN;
        if (poll(&p, 1, left < 0 || left > pause_ms ? pause_ms : left) > 0 || sk_cancel_fired(cancel))
            return sk__fail(SK_ECANCELED);
        if (pause_ms < ROOM_PAUSE_MAX_MS)
            pause_ms *= 2;
    }
}

int sk_unix_connect_with(sk_tcp **conn, const char *path, const sk_connect_options *opts, int timeout_ms)
{
    struct sockaddr_un su;
    socklen_t len;
    sk__deadline dl;
    sk__sock s;
    const sk_cancel *cancel;
    int fd, rc, delay_ms, nonblock;

    if (conn == NULL)
        return sk__fail(SK_EINVAL);
    *conn = NULL;
    if (path == NULL || path[0] == '\0' || name_of(path, &su, &len) != SK_OK)
        return sk__fail(SK_EINVAL);
    if ((rc = sk__connect_options_read(opts, &delay_ms, &cancel)) != SK_OK)
        return rc;
    (void)delay_ms; /* one address: nothing to stagger */
    if (sk_cancel_fired(cancel))
        return sk__fail(SK_ECANCELED);
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;
    /* Without a cancel, blocking mode, so that a full queue is waited on through the
     * send timeout; with a budget of 0 non-blocking, for just that answer. */
    nonblock = timeout_ms == 0 || cancel != NULL;
    if ((fd = sk__socket(AF_UNIX, SOCK_STREAM, 0, nonblock)) < 0)
        return sk__map_errno(errno);
    sk__sock_init(&s, fd);
    if (cancel != NULL && timeout_ms != 0)
        rc = connect_watching(fd, &su, len, &dl, cancel);
    else if ((rc = sk__io_connect(&s, (struct sockaddr *)&su, len, &dl)) == SK_EOS)
        rc = name_error(errno);
    if (rc != SK_OK) {
        sk__close_keep_errno(fd);
        return rc;
    }
    if (nonblock) {
        int off = 0;
        if (ioctl(fd, FIONBIO, &off) != 0) {
            rc = sk__map_errno(errno);
            sk__close_keep_errno(fd);
            return rc;
        }
    }
    if ((rc = sk__stream_new(fd, AF_UNIX, 0, NULL, conn)) != SK_OK)
        return rc;
    (*conn)->s = s; /* the send timeout the connect left, so that it is not set twice */
    return SK_OK;
}

int sk_unix_connect(sk_tcp **conn, const char *path, int timeout_ms)
{
    return sk_unix_connect_with(conn, path, NULL, timeout_ms);
}

/* The peer's credentials have no POSIX call: SO_PEERCRED (Linux) gives all three,
 * getpeereid (the BSDs, macOS) no pid (-1); elsewhere SK_EOS with ENOSYS. */
int sk_unix_peer_cred(const sk_tcp *conn, sk_peer_cred *cred)
{
    if (cred == NULL)
        return sk__fail(SK_EINVAL);
    memset(cred, 0, sizeof *cred);
    if (conn == NULL || conn->listening || !conn->local)
        return sk__fail(SK_EINVAL);
    {
#if SK_HAVE_SO_PEERCRED
        struct ucred uc;
        socklen_t len = sizeof uc;
        if (getsockopt(conn->s.fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
            return sk__map_errno(errno);
        cred->pid = (long)uc.pid;
        cred->uid = (long)uc.uid;
        cred->gid = (long)uc.gid;
#elif SK_HAVE_GETPEEREID
        uid_t uid;
        gid_t gid;
        if (getpeereid(conn->s.fd, &uid, &gid) != 0)
            return sk__map_errno(errno);
        cred->pid = -1;
        cred->uid = (long)uid;
        cred->gid = (long)gid;
#else
        errno = ENOSYS;
        return SK_EOS;
#endif
    }
    return SK_OK;
}

/* ---- datagrams ---------------------------------------------------------------- */

int sk_unix_dgram_bind_with(sk_udp **udp, const char *path, const sk_unix_options *opts)
{
    sk__unix_file file;
    int fd, rc;

    if (udp == NULL)
        return sk__fail(SK_EINVAL);
    *udp = NULL;
    if ((rc = open_bound(SOCK_DGRAM, path, opts, 0, &fd, &file)) != SK_OK)
        return rc;
    return sk__dgram_new(fd, AF_UNIX, 0, &file, udp);
}

int sk_unix_dgram_bind(sk_udp **udp, const char *path)
{
    return sk_unix_dgram_bind_with(udp, path, NULL);
}

int sk_unix_dgram_connect(sk_udp **udp, const char *path)
{
    struct sockaddr_un su;
    socklen_t len;
    sk__unix_file none;
    int fd, rc;

    if (udp == NULL)
        return sk__fail(SK_EINVAL);
    *udp = NULL;
    if (path == NULL || path[0] == '\0' || name_of(path, &su, &len) != SK_OK)
        return sk__fail(SK_EINVAL);
    /* A name the kernel picks (""), so that the peer can answer. */
    if ((rc = open_bound(SOCK_DGRAM, "", NULL, 0, &fd, &none)) != SK_OK)
        return rc;
    if (connect(fd, (struct sockaddr *)&su, len) != 0) {
        rc = name_error(errno);
        sk__close_keep_errno(fd);
        return rc;
    }
    return sk__dgram_new(fd, AF_UNIX, 1, NULL, udp);
}

/* ---- descriptors -------------------------------------------------------------- */

/* Room for the most descriptors one message carries, aligned for its header. */
typedef union fd_control {
    struct cmsghdr align;
    unsigned char buf[CMSG_SPACE(SK_UNIX_MAX_FDS * sizeof(int))];
} fd_control;

/* The control message that carries fds; SK_EINVAL for too many or a negative one. */
static int pack_fds(const int *fds, size_t nfds, fd_control *u, sk__ctl *ctl)
{
    struct cmsghdr *h;
    memset(ctl, 0, sizeof *ctl);
    if (nfds > SK_UNIX_MAX_FDS || (fds == NULL && nfds > 0))
        return sk__fail(SK_EINVAL);
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] < 0)
            return sk__fail(SK_EINVAL);
    if (nfds == 0)
        return SK_OK; /* no control message at all (fds may be NULL) */
    memset(u, 0, sizeof *u);
    h = &u->align;
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(h), fds, nfds * sizeof(int));
    ctl->buf = u->buf;
    ctl->len = CMSG_SPACE(nfds * sizeof(int));
    return SK_OK;
}

/* Room to receive up to fd_cap descriptors (0: none; any that come truncate). */
static int room_for_fds(int *fds, size_t *fd_cap, size_t *nfds, fd_control *u, sk__ctl *ctl)
{
    if (nfds != NULL)
        *nfds = 0;
    memset(ctl, 0, sizeof *ctl);
    if ((fds == NULL || nfds == NULL) && *fd_cap > 0)
        return sk__fail(SK_EINVAL);
    if (*fd_cap > SK_UNIX_MAX_FDS)
        *fd_cap = SK_UNIX_MAX_FDS;
    ctl->buf = u->buf;
    ctl->len = *fd_cap > 0 ? CMSG_SPACE(*fd_cap * sizeof(int)) : 0;
    return SK_OK;
}

/* The descriptors a receive brought, into fds: all of them, or, when they did not
 * all fit (MSG_CTRUNC, or more than fd_cap) or the call failed (rc), none: every
 * one that arrived is closed. Returns the call's code, SK_ETRUNCATED for the first
 * case. */
typedef struct fd_taker {
    int *fds;
    size_t cap, n;
    int lost;
} fd_taker;

/* One descriptor that arrived: kept while there is room, else closed. */
static void take_one(int fd, void *arg)
{
    fd_taker *t = arg;
    if (t->n < t->cap) {
        t->fds[t->n++] = fd;
    } else {
        close(fd);
        t->lost = 1;
    }
}

static int take_fds(const sk__ctl *ctl, int rc, int *fds, size_t fd_cap, size_t *nfds)
{
    struct msghdr m;
    fd_taker t;
    size_t n;
    int lost;

    if (!ctl->used)
        return rc;
    memset(&m, 0, sizeof m);
    m.msg_control = ctl->len ? ctl->buf : NULL;
    m.msg_controllen = ctl->len;
    t.fds = fds;
    t.cap = fd_cap;
    t.n = 0;
    t.lost = (ctl->flags & MSG_CTRUNC) != 0;
    if (sk__each_received_fd(&m, take_one, &t))
        t.lost = 1; /* a message cut short: some of its descriptors did not come */
    n = t.n;
    lost = t.lost;
    if (lost && rc == SK_OK)
        rc = sk__fail(SK_ETRUNCATED);
    if (rc != SK_OK) {
        int err = errno;
        while (n > 0)
            close(fds[--n]);
        errno = err;
    }
    if (nfds != NULL)
        *nfds = n;
    return rc;
}

static int unix_stream(const sk_tcp *conn)
{
    return conn != NULL && conn->local && !conn->listening;
}

int sk_unix_send_fds(sk_tcp *conn, const void *buf, size_t len, const int *fds, size_t nfds, size_t *sent,
                     int timeout_ms)
{
    fd_control u;
    sk__ctl ctl;
    int rc;

    if (sent != NULL)
        *sent = 0;
    if (!unix_stream(conn) || buf == NULL || len == 0)
        return sk__fail(SK_EINVAL);
    if ((rc = pack_fds(fds, nfds, &u, &ctl)) != SK_OK)
        return rc;
    return sk__tcp_send_ctl(conn, buf, len, sent, nfds > 0 ? &ctl : NULL, timeout_ms);
}

int sk_unix_recv_fds(sk_tcp *conn, void *buf, size_t cap, size_t *received, int *fds, size_t fd_cap,
                     size_t *nfds, int timeout_ms)
{
    fd_control u;
    sk__ctl ctl;
    int rc;

    if (received != NULL)
        *received = 0;
    if ((rc = room_for_fds(fds, &fd_cap, nfds, &u, &ctl)) != SK_OK)
        return rc;
    if (!unix_stream(conn) || buf == NULL || cap == 0)
        return sk__fail(SK_EINVAL);
    rc = sk__tcp_recv_ctl(conn, buf, cap, received, &ctl, timeout_ms);
    return take_fds(&ctl, rc, fds, fd_cap, nfds);
}

int sk_unix_dgram_send_fds(sk_udp *udp, const void *buf, size_t len, const sk_addr *to, const int *fds,
                           size_t nfds, int timeout_ms)
{
    fd_control u;
    sk__ctl ctl;
    int rc;

    if (udp == NULL || sk__udp_family(udp) != AF_UNIX)
        return sk__fail(SK_EINVAL);
    if ((rc = pack_fds(fds, nfds, &u, &ctl)) != SK_OK)
        return rc;
    return sk__udp_send_ctl(udp, buf, len, to, nfds > 0 ? &ctl : NULL, timeout_ms);
}

int sk_unix_dgram_recv_fds(sk_udp *udp, void *buf, size_t cap, size_t *received, sk_addr *from, int *fds,
                           size_t fd_cap, size_t *nfds, int timeout_ms)
{
    fd_control u;
    sk__ctl ctl;
    int rc;

    if (received != NULL)
        *received = 0;
    if (from != NULL)
        memset(from, 0, sizeof *from);
    if ((rc = room_for_fds(fds, &fd_cap, nfds, &u, &ctl)) != SK_OK)
        return rc;
    if (udp == NULL || sk__udp_family(udp) != AF_UNIX)
        return sk__fail(SK_EINVAL);
    rc = sk__udp_recv_ctl(udp, buf, cap, received, from, &ctl, timeout_ms);
    return take_fds(&ctl, rc, fds, fd_cap, nfds);
}
