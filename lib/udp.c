/* UDP endpoints: blocking-mode sockets whose datagrams go through the I/O core
 * (io.c), as TCP's bytes do; MSG_TRUNC tells a truncated datagram. Batches use the
 * kernel's offloads where it has them: UDP_SEGMENT sends a run of datagrams to one
 * destination as one message, UDP_GRO (sk_udp_set_gro) receives several as one
 * buffer, cut back into datagrams here. */
#include "udp_impl.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
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
    u->gso = 0;
    u->gso_seg_max = 0;
    u->gro = 0;
    u->rx = NULL;
    memset(&u->ra, 0, sizeof u->ra);
    sk__preg_init(&u->preg, u, SK__UDP, &u->s, &u->ra);
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

/* ---- receiving with UDP_GRO ----------------------------------------------------- */

#if SK__UDP_GRO
/* Whether rx holds datagrams not handed out yet; the poller is told (an endpoint that
 * holds some is readable whatever its descriptor says). */
static void gro_note(sk_udp *u)
{
    u->ra.end = u->rx->cur < u->rx->n;
    sk__preg_note_readahead(&u->preg);
}

/* The size of the datagrams the system coalesced into m (its UDP_GRO message), or 0
 * for one datagram. */
static size_t gro_segment(const struct msghdr *h)
{
    struct cmsghdr c;
    const unsigned char *data;
    size_t off = 0, len;
    int cut = 0;
    while ((data = sk__cmsg_next(h, &off, &c, &len, &cut)) != NULL) {
        int seg;
        if (c.cmsg_level != IPPROTO_UDP || c.cmsg_type != UDP_GRO || len < sizeof seg)
            continue;
        memcpy(&seg, data, sizeof seg);
        return seg > 0 ? (size_t)seg : 0;
    }
    return 0;
}

/* Up to SK__GRO_MSGS buffers from the system in one recvmmsg through the core
 * (waiting within dl for the first only), into u->rx. */
static int gro_fill(sk_udp *u, sk__deadline *dl)
{
    sk__gro *rx = u->rx;
    sk__mmsghdr hdr[SK__GRO_MSGS];
    struct iovec iov[SK__GRO_MSGS];
    sk__xfer x;
    int rc;

    rx->n = rx->cur = rx->off = 0;
    sk__xfer_buf(&x, SK__MMSG_RECV, NULL, 0, 0);
    x.mmsg = hdr;
    x.count = SK__GRO_MSGS;
    for (size_t i = 0; i < SK__GRO_MSGS; i++) {
        memset(&hdr[i], 0, sizeof hdr[i]);
        iov[i].iov_base = rx->buf[i];
        iov[i].iov_len = SK__GRO_BUF;
        hdr[i].msg_hdr.msg_iov = &iov[i];
        hdr[i].msg_hdr.msg_iovlen = 1;
        hdr[i].msg_hdr.msg_name = &rx->m[i].ss;
        hdr[i].msg_hdr.msg_namelen = sizeof rx->m[i].ss;
        hdr[i].msg_hdr.msg_control = rx->m[i].ctl.bytes;
        hdr[i].msg_hdr.msg_controllen = sizeof rx->m[i].ctl.bytes;
    }
    if ((rc = sk__io_run(&u->s, &x, dl)) != SK_OK)
        return rc;
    for (size_t i = 0; i < x.done; i++) {
        sk__gro_msg *m = &rx->m[i];
        m->len = hdr[i].msg_len;
        m->namelen = hdr[i].msg_hdr.msg_namelen;
        m->seg = gro_segment(&hdr[i].msg_hdr);
        if (m->seg >= m->len)
            m->seg = 0;
    }
    rx->n = x.done;
    return SK_OK;
}

/* The next datagram u->rx holds: up to cap bytes of it to buf (*kept), its length
 * (*full) and its sender. */
static void gro_take(sk_udp *u, void *buf, size_t cap, size_t *kept, size_t *full, sk_addr *from)
{
    sk__gro *rx = u->rx;
    sk__gro_msg *m = &rx->m[rx->cur];
    size_t len = m->len - rx->off, have;

    if (m->seg != 0 && len > m->seg)
        len = m->seg;
    /* (A buffer the system truncated is one datagram, kept up to SK__GRO_BUF.) */
    have = rx->off + len > SK__GRO_BUF ? SK__GRO_BUF - rx->off : len;
    *kept = have < cap ? have : cap;
    *full = len;
    if (*kept > 0)
        memcpy(buf, rx->buf[rx->cur] + rx->off, *kept);
    if (from != NULL)
        source_addr(u, from, &m->ss, m->namelen);
    rx->off += len;
    if (rx->off >= m->len) {
        rx->cur++;
        rx->off = 0;
    }
}

/* sk_udp_recv / sk_udp_recvfrom once GRO was on: one datagram, from what rx holds,
 * else from one more fill. */
static int gro_recv(sk_udp *u, void *buf, size_t cap, size_t *received, sk_addr *from, int timeout_ms)
{
    sk__deadline dl;
    size_t kept, full;
    int rc;

    if ((rc = sk__check_cancelled(&u->s)) != SK_OK)
        return rc;
    if (u->rx->cur == u->rx->n) {
        if ((rc = sk__deadline_defer(&dl, timeout_ms)) != SK_OK)
            return rc;
        if ((rc = gro_fill(u, &dl)) != SK_OK) {
            gro_note(u);
            return rc;
        }
    }
    gro_take(u, buf, cap, &kept, &full, from);
    gro_note(u);
    if (received != NULL)
        *received = kept;
    return full > cap ? sk__fail(SK_ETRUNCATED) : SK_OK;
}
#endif

int sk__udp_set_gro(sk_udp *u, int on)
{
#if SK__UDP_GRO
    sk__gro *rx = NULL;
    int rc;
    if (on && u->rx == NULL && (rx = malloc(sizeof *rx)) == NULL)
        return sk__fail(SK_ENOMEM);
    if ((rc = sk__set_int_opt(u->s.fd, IPPROTO_UDP, UDP_GRO, on != 0)) != SK_OK) {
        free(rx);
        return rc;
    }
    if (rx != NULL) {
        rx->n = rx->cur = rx->off = 0;
        u->rx = rx;
    }
    u->gro = on != 0;
    return SK_OK;
#else
    (void)u, (void)on;
    return sk__no_option();
#endif
}

static int recv_impl(sk_udp *udp, void *buf, size_t cap, size_t *received, sk_addr *from, int timeout_ms)
{
#if SK__UDP_GRO
    /* Once GRO was on, even off again: buffers the system coalesced before stay so. */
    if (udp != NULL && udp->rx != NULL && (buf != NULL || cap == 0)) {
        if (received != NULL)
            *received = 0;
        if (from != NULL)
            memset(from, 0, sizeof *from);
        return gro_recv(udp, buf, cap, received, from, timeout_ms);
    }
#endif
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

/* ---- batches ------------------------------------------------------------------- */

/* Datagrams one sendmmsg carries at most: each has an iovec on the stack. */
#define SEND_DGRAMS 512

#if SK__UDP_GSO
/* One UDP_SEGMENT message: at most 64 datagrams (every kernel since 4.18 takes that
 * many; 6.x takes 128) and at most the largest IPv4 payload in all (IPv6 takes a
 * little more). */
#define GSO_SEGS 64
#define GSO_BYTES 65507

typedef union gso_ctl {
    size_t align; /* a cmsghdr's alignment */
    char bytes[CMSG_SPACE(sizeof(uint16_t))];
} gso_ctl;

/* Whether u's batches may go as UDP_SEGMENT messages: asked of the kernel once per
 * endpoint. A kernel before 4.18 has no such option and would ignore the control
 * message, sending a run as one large datagram: hence the probe before the first. */
static int gso_usable(sk_udp *u)
{
    if (u->gso == 0) {
        int v = 0, err = errno;
        socklen_t len = sizeof v;
        int ip = u->family == AF_INET || u->family == AF_INET6;
        u->gso = ip && getsockopt(u->s.fd, IPPROTO_UDP, UDP_SEGMENT, &v, &len) == 0 ? 1 : -1;
        errno = err;
    }
    return u->gso > 0;
}

/* A UDP_SEGMENT message failed with err: whether the kernel refused the offload (the
 * datagrams are then sent again without it). EIO: no checksum offload on the way
 * (or IPsec), EINVAL: the socket cannot (SO_NO_CHECK...), ENOPROTOOPT/EOPNOTSUPP: no
 * offload at all; all for good. EMSGSIZE: datagrams of this size exceed the route's
 * MTU (the kernel does not fragment a segment): only smaller ones are coalesced from
 * now on, and a datagram too large for any path still fails alone, with its own
 * count. */
static int gso_refused(sk_udp *u, int err, size_t seg)
{
    if (err == EMSGSIZE) {
        if (u->gso_seg_max == 0 || seg < u->gso_seg_max)
            u->gso_seg_max = seg;
        return 1;
    }
    if (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP) {
        u->gso = -1;
        return 1;
    }
    return 0;
}

static int same_dest(const sk_addr *a, const sk_addr *b)
{
    return a->len == b->len && memcmp(a->u.bytes, b->u.bytes, a->len) == 0;
}

/* How many of m[0, n) go in one message from m[0]: a run to one destination of one
 * size, whose last may be shorter (but not empty: the kernel would not see it), at
 * most room datagrams. */
static size_t gso_run(const sk_udp *u, const sk_dgram *m, size_t n, size_t room)
{
    const size_t seg = m[0].len;
    size_t k = 1, total = seg;
    if (seg == 0 || (u->gso_seg_max != 0 && seg >= u->gso_seg_max))
        return 1;
    if (n > room)
        n = room;
    if (n > GSO_SEGS)
        n = GSO_SEGS;
    while (k < n) {
        const sk_dgram *d = &m[k];
        if (d->len == 0 || d->len > seg || total + d->len > GSO_BYTES || !same_dest(&m[0].addr, &d->addr))
            break;
        total += d->len;
        k++;
        if (d->len < seg)
            break;
    }
    return k;
}

/* The control message that makes hdr a run of datagrams of seg bytes. */
static void gso_set(struct msghdr *h, gso_ctl *ctl, size_t seg)
{
    struct cmsghdr *c;
    uint16_t v = (uint16_t)seg;
    memset(ctl, 0, sizeof *ctl);
    h->msg_control = ctl->bytes;
    h->msg_controllen = sizeof ctl->bytes;
    c = CMSG_FIRSTHDR(h);
    c->cmsg_level = IPPROTO_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof v);
    memcpy(CMSG_DATA(c), &v, sizeof v);
}
#endif

int sk_udp_send_batch(sk_udp *udp, const sk_dgram *msgs, size_t count, size_t *sent, int timeout_ms)
{
    sk__mmsghdr hdr[BATCH];
    struct iovec iov[SEND_DGRAMS];
    struct sockaddr_storage ss[BATCH];
    size_t segs[BATCH]; /* datagrams in each message */
#if SK__UDP_GSO
    gso_ctl ctl[BATCH];
#endif
    sk__deadline dl;
    size_t done = 0;
    int rc = SK_OK, gso = 0;

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
        size_t nmsg = 0, niov = 0, pos = done;
        sk__xfer x;
#if SK__UDP_GSO
        gso = count - done > 1 && gso_usable(udp);
#endif
        while (nmsg < BATCH && pos < count && niov < SEND_DGRAMS) {
            const sk_dgram *m = &msgs[pos];
            socklen_t sl;
            size_t k = 1;
#if SK__UDP_GSO
            if (gso)
                k = gso_run(udp, m, count - pos, SEND_DGRAMS - niov);
#endif
            dest_addr(udp, m->addr.len ? &m->addr : NULL, &ss[nmsg], &sl);
            for (size_t j = 0; j < k; j++) {
                iov[niov + j].iov_base = m[j].buf;
                iov[niov + j].iov_len = m[j].len;
            }
            memset(&hdr[nmsg], 0, sizeof hdr[nmsg]);
            hdr[nmsg].msg_hdr.msg_iov = &iov[niov];
            hdr[nmsg].msg_hdr.msg_iovlen = k;
            hdr[nmsg].msg_hdr.msg_name = sl ? &ss[nmsg] : NULL;
            hdr[nmsg].msg_hdr.msg_namelen = sl;
#if SK__UDP_GSO
            if (k > 1)
                gso_set(&hdr[nmsg].msg_hdr, &ctl[nmsg], m->len);
#endif
            segs[nmsg++] = k;
            niov += k;
            pos += k;
        }
        sk__xfer_buf(&x, SK__MMSG_SEND, NULL, 0, 1);
        x.mmsg = hdr;
        x.count = nmsg;
        rc = sk__io_run(&udp->s, &x, &dl);
        for (size_t i = 0; i < x.done; i++)
            done += segs[i];
#if SK__UDP_GSO
        /* The offload refused: the same datagrams again, without it. */
        if (rc != SK_OK && x.done < nmsg && segs[x.done] > 1 && gso_refused(udp, errno, msgs[done].len))
            rc = SK_OK;
#endif
    }
    (void)gso;
    if (sent != NULL)
        *sent = done;
    return rc;
}

#if SK__UDP_GRO
/* sk_udp_recv_batch once GRO was on: what rx holds (a fill first when it is empty),
 * one datagram per slot. */
static int gro_recv_batch(sk_udp *u, sk_dgram *msgs, size_t count, size_t *received, sk__deadline *dl)
{
    size_t n = 0;
    int rc;
    if (u->rx->cur == u->rx->n && (rc = gro_fill(u, dl)) != SK_OK) {
        gro_note(u);
        return rc;
    }
    while (n < count && u->rx->cur < u->rx->n) {
        sk_dgram *m = &msgs[n++];
        gro_take(u, m->buf, m->len, &m->received, &m->full_len, &m->addr);
        m->truncated = m->full_len > m->len;
        m->reserved = 0;
    }
    gro_note(u);
    if (received != NULL)
        *received = n;
    return SK_OK;
}
#endif

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
#if SK__UDP_GRO
    if (udp->rx != NULL)
        return gro_recv_batch(udp, msgs, x.count, received, &dl);
#endif
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
    free(udp->rx);
    free(udp);
}
