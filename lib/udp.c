/* UDP endpoints: blocking-mode sockets whose datagrams go through the I/O core
 * (io.c), as TCP's bytes do; MSG_TRUNC tells a truncated datagram. */
#include "udp_impl.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static int udp_new(int fd, int family, int dual, int connected, sk__unix_file *file, sk_udp **out)
{
    sk_udp *u = malloc(sizeof *u);
    if (u == NULL) {
        if (file != NULL)
            sk__unix_file_release(file);
        close(fd);
        return sk__fail(SK_ENOMEM);
    }
    sk__sock_init(&u->s, fd);
    u->family = family;
    u->dual = dual;
    u->connected = connected;
    memset(&u->file, 0, sizeof u->file);
    if (file != NULL)
        u->file = *file;
    sk__preg_init(&u->preg, u, SK__UDP, &u->s, NULL);
    *out = u;
    return SK_OK;
}

int sk__dgram_new(int fd, int family, int connected, sk__unix_file *file, sk_udp **out)
{
    return udp_new(fd, family, 0, connected, file, out);
}

/* Linux delivers a multicast datagram to every socket bound to its port once any
 * socket of the host joined its group (IP_MULTICAST_ALL, on by default): an endpoint
 * that never joined, or left, would still get the group's traffic, and one joined on
 * one interface would get copies from the others. Off, each endpoint gets the groups
 * it joined, where it joined them. A kernel without the option (IPv6's came in 4.20)
 * keeps its default: nothing to report to a caller who asked for nothing. */
static void own_groups_only(int fd, int family, int dual)
{
    const int off = 0;
#ifdef IPV6_MULTICAST_ALL
    if (family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &off, sizeof off);
#endif
#ifdef IP_MULTICAST_ALL
    if (family == AF_INET || dual)
        (void)setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off);
#endif
    (void)off;
}

int sk_udp_bind_with(sk_udp **udp, const char *host, int port, const sk_bind_options *opts)
{
    sk__bind_opts o;
    int fd, family, dual, rc;

    if (udp == NULL)
        return sk__fail(SK_EINVAL);
    *udp = NULL;
    if (!sk__port_ok(port, 1))
        return sk__fail(SK_EINVAL);
    /* No SO_REUSEADDR unless asked: on UDP it lets a second socket share the port. */
    if ((rc = sk__bind_opts_from(&o, opts, 0, 0)) != SK_OK)
        return rc;
    rc = sk__open_bound(host, port, SOCK_DGRAM, 0, &o, &fd, &family, &dual);
    if (rc != SK_OK)
        return rc;
    own_groups_only(fd, family, dual);
    return udp_new(fd, family, dual, 0, NULL, udp);
}

int sk_udp_bind(sk_udp **udp, const char *host, int port)
{
    return sk_udp_bind_with(udp, host, port, NULL);
}

/* The order sk_udp_connect tries a list in: first, then the others as listed. */
static const struct addrinfo *next_try(const struct addrinfo *list, const struct addrinfo *first,
                                       const struct addrinfo *ai)
{
    ai = ai == first ? list : ai->ai_next;
    return ai == first ? ai->ai_next : ai;
}

int sk_udp_connect(sk_udp **udp, const char *host, int port)
{
    struct addrinfo *list;
    int rc, first_rc = SK_OK, first_errno = 0, fd = -1, family = 0;

    if (udp == NULL)
        return sk__fail(SK_EINVAL);
    *udp = NULL;
    if (host == NULL || host[0] == '\0' || !sk__port_ok(port, 0))
        return sk__fail(SK_EINVAL);
    if ((rc = sk__resolve(host, port, SOCK_DGRAM, 0, &list)) != SK_OK)
        return rc;
    /* The first IPv4 address comes first, as for bind and listen: UDP cannot learn
     * which address answers, and a server bound on the same name took that one
     * ("localhost" is 127.0.0.1 and ::1 on a standard /etc/hosts). */
    const struct addrinfo *first = sk__pick_listen_addr(list);
    for (const struct addrinfo *ai = first; ai != NULL; ai = next_try(list, first, ai)) {
        fd = sk__socket(ai->ai_family, SOCK_DGRAM, ai->ai_protocol, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            family = ai->ai_family;
            rc = SK_OK;
            break;
        }
        rc = sk__map_errno(errno);
        if (first_rc == SK_OK) {
            first_rc = rc;
            first_errno = errno;
        }
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    if (rc != SK_OK) {
        errno = first_errno;
        return first_rc;
    }
    return udp_new(fd, family, 0, 1, NULL, udp);
}

/* Datagrams go to the system this many at a time (no allocation). */
#define BATCH 64

/* The system address for a destination; NULL to means the connected peer (*sl 0). */
static int dest_addr(const sk_udp *udp, const sk_addr *to, struct sockaddr_storage *ss, socklen_t *sl)
{
    int rc;
    *sl = 0;
    if (to == NULL)
        return udp->connected ? SK_OK : sk__fail(SK_EINVAL);
    /* An IPv4 destination is mapped only for a dual-stack socket; any other family
     * mismatch is a destination this endpoint cannot reach. */
    if ((rc = sk__addr_to(to, udp->dual ? AF_INET6 : 0, ss, sl)) != SK_OK)
        return rc;
    if (ss->ss_family != udp->family)
        return sk__fail(SK_EINVAL);
    return SK_OK;
}

/* A datagram's source: an unnamed Unix sender reports no name at all, which is the
 * address "unix:". */
static void source_addr(const sk_udp *udp, sk_addr *from, struct sockaddr_storage *ss, socklen_t len)
{
    if (udp->family == AF_UNIX && len < (socklen_t)SK__UN_PATH_OFF) {
        ss->ss_family = AF_UNIX;
        len = (socklen_t)SK__UN_PATH_OFF;
    }
    sk__addr_from(from, (struct sockaddr *)ss, len);
}

int sk__udp_send_ctl(sk_udp *udp, const void *buf, size_t len, const sk_addr *to, sk__ctl *ctl, int timeout_ms)
{
    struct sockaddr_storage ss;
    sk__deadline dl;
    sk__xfer x;
    int rc;

    if (udp == NULL || (buf == NULL && len > 0))
        return sk__fail(SK_EINVAL);
    sk__xfer_buf(&x, SK__DGRAM_SEND, buf, len, 1);
    x.addr = (struct sockaddr *)&ss;
    x.ctl = ctl;
    if ((rc = dest_addr(udp, to, &ss, &x.addrlen)) != SK_OK)
        return rc;
    if ((rc = sk__deadline_defer(&dl, timeout_ms)) != SK_OK)
        return rc;
    return sk__io_run(&udp->s, &x, &dl);
}

int sk__udp_recv_ctl(sk_udp *udp, void *buf, size_t cap, size_t *received, sk_addr *from, sk__ctl *ctl,
                     int timeout_ms)
{
    struct sockaddr_storage ss;
    sk__deadline dl;
    sk__xfer x;
    int rc;

    if (received != NULL)
        *received = 0;
    if (from != NULL)
        memset(from, 0, sizeof *from);
    if (udp == NULL || (buf == NULL && cap > 0))
        return sk__fail(SK_EINVAL);
    if ((rc = sk__deadline_defer(&dl, timeout_ms)) != SK_OK)
        return rc;
    sk__xfer_buf(&x, SK__DGRAM_RECV, buf, cap, 0);
    x.addr = (struct sockaddr *)&ss;
    x.addrlen = from != NULL ? sizeof ss : 0;
    x.ctl = ctl;
    if ((rc = sk__io_run(&udp->s, &x, &dl)) != SK_OK)
        return rc;
    if (received != NULL)
        *received = x.done > cap ? cap : x.done;
    if (from != NULL)
        source_addr(udp, from, &ss, x.addrlen);
    return x.done > cap ? sk__fail(SK_ETRUNCATED) : SK_OK;
}

int sk__udp_family(const sk_udp *udp)
{
    return udp->family;
}

static int send_impl(sk_udp *udp, const void *buf, size_t len, const sk_addr *to, int timeout_ms)
{
    return sk__udp_send_ctl(udp, buf, len, to, NULL, timeout_ms);
}

static int recv_impl(sk_udp *udp, void *buf, size_t cap, size_t *received, sk_addr *from, int timeout_ms)
{
    return sk__udp_recv_ctl(udp, buf, cap, received, from, NULL, timeout_ms);
}

int sk_udp_sendto(sk_udp *udp, const void *buf, size_t len, const sk_addr *to, int timeout_ms)
{
    if (to == NULL)
        return sk__fail(SK_EINVAL);
    return send_impl(udp, buf, len, to, timeout_ms);
}

int sk_udp_send(sk_udp *udp, const void *buf, size_t len, int timeout_ms)
{
    return send_impl(udp, buf, len, NULL, timeout_ms);
}

int sk_udp_recvfrom(sk_udp *udp, void *buf, size_t cap, size_t *received, sk_addr *from, int timeout_ms)
{
    return recv_impl(udp, buf, cap, received, from, timeout_ms);
}

int sk_udp_recv(sk_udp *udp, void *buf, size_t cap, size_t *received, int timeout_ms)
{
    return recv_impl(udp, buf, cap, received, NULL, timeout_ms);
}

/* The system's header for one datagram of a batch. */
static void batch_hdr(sk__mmsghdr *h, struct iovec *iov, void *buf, size_t len, void *name, socklen_t namelen)
{
    memset(h, 0, sizeof *h);
    iov->iov_base = buf;
    iov->iov_len = len;
    h->msg_hdr.msg_iov = iov;
    h->msg_hdr.msg_iovlen = 1;
    h->msg_hdr.msg_name = namelen ? name : NULL;
    h->msg_hdr.msg_namelen = namelen;
}

int sk_udp_send_batch(sk_udp *udp, const sk_dgram *msgs, size_t count, size_t *sent, int timeout_ms)
{
    sk__mmsghdr hdr[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage ss[BATCH];
    sk__deadline dl;
    size_t done = 0;
    int rc = SK_OK;

    if (sent != NULL)
        *sent = 0;
    if (udp == NULL || (msgs == NULL && count > 0))
        return sk__fail(SK_EINVAL);
    /* Every datagram is checked before any leaves, so a bad one cannot cut a batch. */
    for (size_t i = 0; i < count; i++) {
        socklen_t sl;
        if (msgs[i].buf == NULL && msgs[i].len > 0)
            return sk__fail(SK_EINVAL);
        if ((rc = dest_addr(udp, msgs[i].addr.len ? &msgs[i].addr : NULL, &ss[0], &sl)) != SK_OK)
            return rc;
    }
    if ((rc = sk__check_cancelled(&udp->s)) != SK_OK || (rc = sk__deadline_defer(&dl, timeout_ms)) != SK_OK)
        return rc;
    while (rc == SK_OK && done < count) {
        sk__xfer x;
        sk__xfer_buf(&x, SK__MMSG_SEND, NULL, 0, 1);
        x.mmsg = hdr;
        x.count = count - done < BATCH ? count - done : BATCH;
        for (size_t i = 0; i < x.count; i++) {
            const sk_dgram *m = &msgs[done + i];
            socklen_t sl;
            dest_addr(udp, m->addr.len ? &m->addr : NULL, &ss[i], &sl);
            batch_hdr(&hdr[i], &iov[i], m->buf, m->len, &ss[i], sl);
        }
        rc = sk__io_run(&udp->s, &x, &dl);
        done += x.done;
    }
    if (sent != NULL)
        *sent = done;
    return rc;
}

int sk_udp_recv_batch(sk_udp *udp, sk_dgram *msgs, size_t count, size_t *received, int timeout_ms)
{
    sk__mmsghdr hdr[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage ss[BATCH];
    sk__deadline dl;
    sk__xfer x;
    int rc;

    if (received != NULL)
        *received = 0;
    if (udp == NULL || (msgs == NULL && count > 0))
        return sk__fail(SK_EINVAL);
    sk__xfer_buf(&x, SK__MMSG_RECV, NULL, 0, 0);
    x.mmsg = hdr;
    x.count = count < BATCH ? count : BATCH;
    for (size_t i = 0; i < x.count; i++)
        if (msgs[i].buf == NULL && msgs[i].len > 0)
            return sk__fail(SK_EINVAL);
    if ((rc = sk__check_cancelled(&udp->s)) != SK_OK || (rc = sk__deadline_defer(&dl, timeout_ms)) != SK_OK ||
        count == 0)
        return rc;
    for (size_t i = 0; i < x.count; i++)
        batch_hdr(&hdr[i], &iov[i], msgs[i].buf, msgs[i].len, &ss[i], sizeof ss[i]);
    if ((rc = sk__io_run(&udp->s, &x, &dl)) != SK_OK)
        return rc;
    for (size_t i = 0; i < x.done; i++) {
        sk_dgram *m = &msgs[i];
        size_t full = hdr[i].msg_len;
        m->full_len = full;
        m->received = full < m->len ? full : m->len;
        m->truncated = (hdr[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || full > m->len;
        m->reserved = 0;
        source_addr(udp, &m->addr, &ss[i], hdr[i].msg_hdr.msg_namelen);
    }
    if (received != NULL)
        *received = x.done;
    return SK_OK;
}

int sk_udp_local_addr(const sk_udp *udp, sk_addr *addr)
{
    if (addr == NULL)
        return sk__fail(SK_EINVAL);
    if (udp == NULL) {
        memset(addr, 0, sizeof *addr);
        return sk__fail(SK_EINVAL);
    }
    return sk__sockname(udp->s.fd, 0, addr);
}

int sk_poller_add_udp(sk_poller *poller, sk_udp *u, unsigned events, void *data)
{
    return u == NULL ? sk__fail(SK_EINVAL) : sk__preg_add(poller, &u->preg, events, data);
}

int sk_poller_mod_udp(sk_poller *poller, sk_udp *u, unsigned events, void *data)
{
    return u == NULL ? sk__fail(SK_EINVAL) : sk__preg_mod(poller, &u->preg, events, data);
}

int sk_poller_del_udp(sk_poller *poller, sk_udp *u)
{
    return u == NULL ? sk__fail(SK_EINVAL) : sk__preg_del(poller, &u->preg);
}

int sk_udp_cancel(sk_udp *u)
{
    if (u == NULL)
        return sk__fail(SK_EINVAL);
    sk__sock_cancel(&u->s);
    return SK_OK;
}

int sk_udp_fd(const sk_udp *udp)
{
    return udp == NULL ? sk__fail(SK_EINVAL) : udp->s.fd;
}

void sk_udp_close(sk_udp *udp)
{
    if (udp == NULL)
        return;
    sk__preg_forget(&udp->preg);
    close(udp->s.fd);
    sk__unix_file_release(&udp->file);
    free(udp);
}
