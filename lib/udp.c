/* UDP endpoints: blocking-mode sockets that wait through SO_RCVTIMEO/SO_SNDTIMEO,
 * as TCP's connected ones do, and MSG_TRUNC to tell a truncated datagram. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

struct sk_udp {
    sk__sock s;
    int family;    /* of the socket */
    int dual;      /* an IPv6 socket that reaches IPv4 too: IPv4 destinations are mapped */
    int connected;
    sk__preg preg; /* registration with a poller */
};

static int udp_new(int fd, int family, int dual, int connected, sk_udp **out)
{
    sk_udp *u = malloc(sizeof *u);
    if (u == NULL) {
        close(fd);
        return sk__fail(SK_ENOMEM);
    }
    u->s.fd = fd;
    u->s.rcvtimeo_ms = 0;
    u->s.sndtimeo_ms = 0;
    u->family = family;
    u->dual = dual;
    u->connected = connected;
    sk__preg_init(&u->preg, u, SK__UDP, fd);
    *out = u;
    return SK_OK;
}

int sk_udp_bind(sk_udp **udp, const char *host, int port)
{
    int fd, family, dual, rc;

    if (udp == NULL)
        return sk__fail(SK_EINVAL);
    *udp = NULL;
    if (!sk__port_ok(port, 1))
        return sk__fail(SK_EINVAL);
    /* No SO_REUSEADDR: on UDP it would let a second socket share the port silently. */
    rc = sk__open_bound(host, port, SOCK_DGRAM, 0, 0, &fd, &family, &dual);
    if (rc != SK_OK)
        return rc;
    return udp_new(fd, family, dual, 0, udp);
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
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, ai->ai_protocol);
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
    return udp_new(fd, family, 0, 1, udp);
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

/* One datagram out: to NULL means the connected peer. */
static int send_impl(sk_udp *udp, const void *buf, size_t len, const sk_addr *to, int timeout_ms)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    sk__deadline dl;
    int rc;

    if (udp == NULL || (buf == NULL && len > 0))
        return sk__fail(SK_EINVAL);
    if ((rc = dest_addr(udp, to, &ss, &sl)) != SK_OK)
        return rc;
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;
    for (;;) {
        int flags;
        ssize_t k;
        if ((rc = sk__prepare(&udp->s, SO_SNDTIMEO, &dl, &flags)) != SK_OK)
            return rc;
        flags |= MSG_NOSIGNAL;
        k = to != NULL ? sendto(udp->s.fd, buf, len, flags, (struct sockaddr *)&ss, sl)
                       : send(udp->s.fd, buf, len, flags);
        if (k >= 0)
            return SK_OK;
        if ((rc = sk__after_failure(errno, &dl)) != SK_OK)
            return rc;
    }
}

/* One datagram in; from may be NULL. */
static int recv_impl(sk_udp *udp, void *buf, size_t cap, size_t *received, sk_addr *from, int timeout_ms)
{
    sk__deadline dl;
    int rc;

    if (received != NULL)
        *received = 0;
    if (from != NULL)
        memset(from, 0, sizeof *from);
    if (udp == NULL || (buf == NULL && cap > 0))
        return sk__fail(SK_EINVAL);
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int flags;
        ssize_t k;
        if ((rc = sk__prepare(&udp->s, SO_RCVTIMEO, &dl, &flags)) != SK_OK)
            return rc;
        /* MSG_TRUNC: the result is the datagram's real length, so truncation shows. */
        k = recvfrom(udp->s.fd, buf, cap, flags | MSG_TRUNC,
                     from != NULL ? (struct sockaddr *)&ss : NULL, from != NULL ? &sl : NULL);
        if (k >= 0) {
            size_t kept = (size_t)k > cap ? cap : (size_t)k;
            if (received != NULL)
                *received = kept;
            if (from != NULL)
                sk__addr_from(from, (struct sockaddr *)&ss, sl);
            return (size_t)k > cap ? sk__fail(SK_ETRUNCATED) : SK_OK;
        }
        if ((rc = sk__after_failure(errno, &dl)) != SK_OK)
            return rc;
    }
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

int sk_udp_send_batch(sk_udp *udp, const sk_dgram *msgs, size_t count, size_t *sent, int timeout_ms)
{
    struct mmsghdr hdr[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage ss[BATCH];
    sk__deadline dl;
    size_t done = 0;
    int rc;

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
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;
    while (done < count) {
        size_t cnt = count - done < BATCH ? count - done : BATCH;
        int flags, k;
        for (size_t i = 0; i < cnt; i++) {
            const sk_dgram *m = &msgs[done + i];
            socklen_t sl;
            dest_addr(udp, m->addr.len ? &m->addr : NULL, &ss[i], &sl);
            memset(&hdr[i], 0, sizeof hdr[i]);
            iov[i].iov_base = m->buf;
            iov[i].iov_len = m->len;
            hdr[i].msg_hdr.msg_iov = &iov[i];
            hdr[i].msg_hdr.msg_iovlen = 1;
            hdr[i].msg_hdr.msg_name = sl ? &ss[i] : NULL;
            hdr[i].msg_hdr.msg_namelen = sl;
        }
        if ((rc = sk__prepare(&udp->s, SO_SNDTIMEO, &dl, &flags)) != SK_OK)
            break;
        k = sendmmsg(udp->s.fd, hdr, (unsigned)cnt, flags | MSG_NOSIGNAL);
        if (k > 0) {
            done += (size_t)k;
            continue;
        }
        if ((rc = sk__after_failure(k == 0 ? EAGAIN : errno, &dl)) != SK_OK)
            break;
    }
    if (sent != NULL)
        *sent = done;
    return rc;
}

int sk_udp_recv_batch(sk_udp *udp, sk_dgram *msgs, size_t count, size_t *received, int timeout_ms)
{
    struct mmsghdr hdr[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage ss[BATCH];
    sk__deadline dl;
    size_t cnt = count < BATCH ? count : BATCH;
    int rc;

    if (received != NULL)
        *received = 0;
    if (udp == NULL || (msgs == NULL && count > 0))
        return sk__fail(SK_EINVAL);
    for (size_t i = 0; i < cnt; i++)
        if (msgs[i].buf == NULL && msgs[i].len > 0)
            return sk__fail(SK_EINVAL);
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK || count == 0)
        return rc;
    for (;;) {
        int flags, k;
        for (size_t i = 0; i < cnt; i++) {
            memset(&hdr[i], 0, sizeof hdr[i]);
            iov[i].iov_base = msgs[i].buf;
            iov[i].iov_len = msgs[i].len;
            hdr[i].msg_hdr.msg_iov = &iov[i];
            hdr[i].msg_hdr.msg_iovlen = 1;
            hdr[i].msg_hdr.msg_name = &ss[i];
            hdr[i].msg_hdr.msg_namelen = sizeof ss[i];
        }
        if ((rc = sk__prepare(&udp->s, SO_RCVTIMEO, &dl, &flags)) != SK_OK)
            return rc;
        /* MSG_WAITFORONE: block (within the socket timeout the budget set) for the
         * first datagram only, then take what is there. MSG_TRUNC: each msg_len is the
         * datagram's real length. recvmmsg's own timeout is not used: the kernel
         * checks it only after a datagram arrives. */
        k = recvmmsg(udp->s.fd, hdr, (unsigned)cnt, flags | MSG_WAITFORONE | MSG_TRUNC, NULL);
        if (k > 0) {
            for (int i = 0; i < k; i++) {
                sk_dgram *m = &msgs[i];
                size_t full = hdr[i].msg_len;
                m->full_len = full;
                m->received = full < m->len ? full : m->len;
                m->truncated = (hdr[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || full > m->len;
                m->reserved = 0;
                sk__addr_from(&m->addr, (struct sockaddr *)&ss[i], hdr[i].msg_hdr.msg_namelen);
            }
            if (received != NULL)
                *received = (size_t)k;
            return SK_OK;
        }
        if ((rc = sk__after_failure(k == 0 ? EAGAIN : errno, &dl)) != SK_OK)
            return rc;
    }
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

sk__preg *sk__udp_preg(sk_udp *u)
{
    return &u->preg;
}

int sk_udp_fd(const sk_udp *udp)
{
    return udp == NULL ? sk__fail(SK_EINVAL) : udp->s.fd;
}

void sk_udp_close(sk_udp *udp)
{
    if (udp == NULL)
        return;
    if (udp->preg.poller != NULL)
        sk__poller_forget(&udp->preg);
    close(udp->s.fd);
    free(udp);
}
