/* Typed socket options shared by TCP and UDP endpoints (buffer sizes, DSCP, the
 * device and the mark), and TCP_NOTSENT_LOWAT. One implementation per option on the
 * endpoint's socket; the public calls check the endpoint and hand it over. Every
 * value is range-checked (SK_EINVAL), every option the system lacks is
 * sk__no_option() (SK_EOS, ENOPROTOOPT): never a silent no-op. */
#include "tcp_impl.h"
#include "udp_impl.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <string.h>

/* What kind of socket an option lands on. */
typedef struct opt_target {
    sk__sock *s;
    int ip;     /* an IP socket (not Unix) */
    int v6;     /* an IPv6 socket */
    int v4;     /* sends IPv4: an IPv4 socket, or a dual-stack IPv6 one */
} opt_target;

/* The kernel doubles a requested buffer size for its bookkeeping (Linux: socket(7));
 * so that doubling cannot overflow, a request is at most INT_MAX / 2. */
#define BUFFER_MAX (INT_MAX / 2)

static int target_tcp(sk_tcp *t, opt_target *o)
{
    int fam = 0;
    socklen_t len;
    struct sockaddr_storage ss;
    memset(o, 0, sizeof *o);
    if (t == NULL)
        return sk__fail(SK_EINVAL);
    o->s = &t->s;
    o->ip = !t->local;
    len = sizeof ss;
    if (o->ip && getsockname(t->s.fd, (struct sockaddr *)&ss, &len) == 0)
        fam = ss.ss_family;
    o->v6 = fam == AF_INET6;
    /* A TCP connection over IPv6 to an IPv4-mapped peer sends IPv4: both options. */
    o->v4 = fam == AF_INET || fam == AF_INET6;
    return sk__check_cancelled(&t->s);
}

static int target_udp(sk_udp *u, opt_target *o)
{
    memset(o, 0, sizeof *o);
    if (u == NULL)
        return sk__fail(SK_EINVAL);
    o->s = &u->s;
    o->ip = u->family == AF_INET || u->family == AF_INET6;
    o->v6 = u->family == AF_INET6;
    o->v4 = u->family == AF_INET || u->dual;
    return sk__check_cancelled(&u->s);
}

static int set_buffer(const opt_target *o, int name, int bytes)
{
    if (bytes < 1 || bytes > BUFFER_MAX)
        return sk__fail(SK_EINVAL);
    return sk__set_int_opt(o->s->fd, SOL_SOCKET, name, bytes);
}

static int get_buffer(const sk__sock *s, int name, int *bytes)
{
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(s->fd, SOL_SOCKET, name, &v, &len) != 0)
        return sk__map_errno(errno);
    *bytes = v;
    return SK_OK;
}

/* DSCP in the upper six bits of IP_TOS / IPV6_TCLASS; the ECN bits are the stack's. */
static int set_dscp(const opt_target *o, int dscp)
{
    int rc = SK_OK;
    if (!o->ip || dscp < 0 || dscp > 63)
        return sk__fail(SK_EINVAL);
    if (o->v6)
        rc = sk__set_int_opt(o->s->fd, IPPROTO_IPV6, IPV6_TCLASS, dscp << 2);
    if (rc == SK_OK && o->v4)
        rc = sk__set_int_opt(o->s->fd, IPPROTO_IP, IP_TOS, dscp << 2);
    return rc;
}

static int set_device(const opt_target *o, const char *ifname)
{
#ifdef SO_BINDTODEVICE
    size_t n = ifname == NULL ? 0 : strlen(ifname);
    if (!o->ip || n >= IF_NAMESIZE)
        return sk__fail(SK_EINVAL);
    /* An empty name undoes the binding. */
    if (setsockopt(o->s->fd, SOL_SOCKET, SO_BINDTODEVICE, n ? ifname : "", (socklen_t)n) != 0) {
        if (errno == ENODEV) {
            sk__fail(SK_ENOTFOUND);
            errno = ENODEV;
            return SK_ENOTFOUND;
        }
        return sk__map_errno(errno);
    }
    return SK_OK;
#else
    (void)ifname;
    return o->ip ? sk__no_option() : sk__fail(SK_EINVAL);
#endif
}

static int set_mark(const opt_target *o, unsigned mark)
{
#ifdef SO_MARK
    if (!o->ip)
        return sk__fail(SK_EINVAL);
    if (setsockopt(o->s->fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0)
        return sk__map_errno(errno);
    return SK_OK;
#else
    (void)mark;
    return o->ip ? sk__no_option() : sk__fail(SK_EINVAL);
#endif
}

/* ---- TCP ---------------------------------------------------------------------- */

int sk_tcp_set_send_buffer(sk_tcp *t, int bytes)
{
    opt_target o;
    int rc = target_tcp(t, &o);
    return rc != SK_OK ? rc : set_buffer(&o, SO_SNDBUF, bytes);
}

int sk_tcp_set_recv_buffer(sk_tcp *t, int bytes)
{
    opt_target o;
    int rc = target_tcp(t, &o);
    return rc != SK_OK ? rc : set_buffer(&o, SO_RCVBUF, bytes);
}

int sk_tcp_get_send_buffer(const sk_tcp *t, int *bytes)
{
    if (bytes != NULL)
        *bytes = 0;
    if (t == NULL || bytes == NULL)
        return sk__fail(SK_EINVAL);
    return get_buffer(&t->s, SO_SNDBUF, bytes);
}

int sk_tcp_get_recv_buffer(const sk_tcp *t, int *bytes)
{
    if (bytes != NULL)
        *bytes = 0;
    if (t == NULL || bytes == NULL)
        return sk__fail(SK_EINVAL);
    return get_buffer(&t->s, SO_RCVBUF, bytes);
}

int sk_tcp_set_notsent_lowat(sk_tcp *t, int bytes)
{
    opt_target o;
    int rc = target_tcp(t, &o);
    if (rc != SK_OK)
        return rc;
    if (!o.ip || bytes < 0)
        return sk__fail(SK_EINVAL);
#ifdef TCP_NOTSENT_LOWAT
    return sk__set_int_opt(t->s.fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, bytes);
#else
    return sk__no_option();
#endif
}

int sk_tcp_set_dscp(sk_tcp *t, int dscp)
{
    opt_target o;
    int rc = target_tcp(t, &o);
    return rc != SK_OK ? rc : set_dscp(&o, dscp);
}

int sk_tcp_set_bind_device(sk_tcp *t, const char *ifname)
{
    opt_target o;
    int rc = target_tcp(t, &o);
    return rc != SK_OK ? rc : set_device(&o, ifname);
}

int sk_tcp_set_mark(sk_tcp *t, unsigned mark)
{
    opt_target o;
    int rc = target_tcp(t, &o);
    return rc != SK_OK ? rc : set_mark(&o, mark);
}

/* ---- UDP ---------------------------------------------------------------------- */

int sk_udp_set_send_buffer(sk_udp *u, int bytes)
{
    opt_target o;
    int rc = target_udp(u, &o);
    return rc != SK_OK ? rc : set_buffer(&o, SO_SNDBUF, bytes);
}

int sk_udp_set_recv_buffer(sk_udp *u, int bytes)
{
    opt_target o;
    int rc = target_udp(u, &o);
    return rc != SK_OK ? rc : set_buffer(&o, SO_RCVBUF, bytes);
}

int sk_udp_get_send_buffer(const sk_udp *u, int *bytes)
{
    if (bytes != NULL)
        *bytes = 0;
    if (u == NULL || bytes == NULL)
        return sk__fail(SK_EINVAL);
    return get_buffer(&u->s, SO_SNDBUF, bytes);
}

int sk_udp_get_recv_buffer(const sk_udp *u, int *bytes)
{
    if (bytes != NULL)
        *bytes = 0;
    if (u == NULL || bytes == NULL)
        return sk__fail(SK_EINVAL);
    return get_buffer(&u->s, SO_RCVBUF, bytes);
}

int sk_udp_set_dscp(sk_udp *u, int dscp)
{
    opt_target o;
    int rc = target_udp(u, &o);
    return rc != SK_OK ? rc : set_dscp(&o, dscp);
}

int sk_udp_set_bind_device(sk_udp *u, const char *ifname)
{
    opt_target o;
    int rc = target_udp(u, &o);
    return rc != SK_OK ? rc : set_device(&o, ifname);
}

int sk_udp_set_mark(sk_udp *u, unsigned mark)
{
    opt_target o;
    int rc = target_udp(u, &o);
    return rc != SK_OK ? rc : set_mark(&o, mark);
}

int sk_udp_set_gro(sk_udp *u, int on)
{
    opt_target o;
    int rc = target_udp(u, &o);
    if (rc != SK_OK)
        return rc;
    return o.ip ? sk__udp_set_gro(u, on) : sk__fail(SK_EINVAL);
}
