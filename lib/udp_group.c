/* Broadcast and multicast on UDP endpoints: group membership (any-source and
 * source-specific, through the protocol-independent MCAST_* options, so that IPv4
 * and IPv6 take one path), and the options of multicast sending (TTL / hop limit,
 * loopback, outgoing interface). An IPv6 socket that takes IPv4 too (dual stack)
 * gets the IPv4 option as well, since it sends and receives both. */
#include "udp_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* The family of a group or source given as text: AF_INET or AF_INET6 with the
 * address in *ss, else 0. Numeric only: a group is never looked up. */
static int numeric_addr(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (text == NULL)
        return 0;
    if (inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
        ss->ss_family = AF_INET;
        return AF_INET;
    }
    if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
        ss->ss_family = AF_INET6;
        return AF_INET6;
    }
    return 0;
}

static int is_multicast(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return IN_MULTICAST(ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr));
    return IN6_IS_ADDR_MULTICAST(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* An interface by name, or by index written in decimal; NULL or "" is 0 (the
 * system's choice). SK_ENOTFOUND (errno ENODEV) when there is no such interface. */
static int if_index(const char *ifname, unsigned *index)
{
    char *end, name[IF_NAMESIZE];
    unsigned long n;

    *index = 0;
    if (ifname == NULL || ifname[0] == '\0')
        return SK_OK;
    if ((*index = if_nametoindex(ifname)) != 0)
        return SK_OK;
    errno = 0;
    n = strtoul(ifname, &end, 10);
    if (ifname[0] >= '0' && ifname[0] <= '9' && *end == '\0' && errno == 0 && n > 0 && n <= 0x7fffffffUL &&
        if_indextoname((unsigned)n, name) != NULL) {
        *index = (unsigned)n;
        return SK_OK;
    }
    sk__fail(SK_ENOTFOUND);
    errno = ENODEV; /* not ENOENT: it is an interface that is missing */
    return SK_ENOTFOUND;
}

/* The endpoint is an IP one, not cancelled: SK_OK, else the code. */
static int ip_endpoint(const sk_udp *u)
{
    if (u == NULL || (u->family != AF_INET && u->family != AF_INET6))
        return sk__fail(SK_EINVAL);
    return sk__check_cancelled(&u->s);
}

/* The option level of an address family on this endpoint, or -1 when the socket
 * cannot take that family (IPv6 on an IPv4 socket, IPv4 on an IPv6-only one). */
static int level_for(const sk_udp *u, int family)
{
    if (family == AF_INET6)
        return u->family == AF_INET6 ? IPPROTO_IPV6 : -1;
    return u->family == AF_INET || u->dual ? IPPROTO_IP : -1;
}

/* Joins or leaves group (from source only, when source is not NULL) on ifname. */
static int membership(sk_udp *u, const char *group, const char *source, const char *ifname, int join)
{
    struct sockaddr_storage g, src;
    unsigned index;
    int fam, level, rc, name, r;

    if ((rc = ip_endpoint(u)) != SK_OK)
        return rc;
    fam = numeric_addr(group, &g);
    if (fam == 0 || !is_multicast(&g) || (level = level_for(u, fam)) < 0)
        return sk__fail(SK_EINVAL);
    if (source != NULL && (numeric_addr(source, &src) != fam || is_multicast(&src)))
        return sk__fail(SK_EINVAL);
    if ((rc = if_index(ifname, &index)) != SK_OK)
        return rc;
    if (source == NULL) {
        struct group_req req;
        memset(&req, 0, sizeof req);
        req.gr_interface = index;
        memcpy(&req.gr_group, &g, sizeof g);
        name = join ? MCAST_JOIN_GROUP : MCAST_LEAVE_GROUP;
        r = setsockopt(u->s.fd, level, name, &req, sizeof req);
    } else {
        struct group_source_req req;
        memset(&req, 0, sizeof req);
        req.gsr_interface = index;
        memcpy(&req.gsr_group, &g, sizeof g);
        memcpy(&req.gsr_source, &src, sizeof src);
        name = join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP;
        r = setsockopt(u->s.fd, level, name, &req, sizeof req);
    }
    if (r == 0)
        return SK_OK;
    /* Leaving what was not joined is the endpoint's state (SK_EINVAL), not the
     * system's fault; errno keeps the system's word (EADDRNOTAVAIL). */
    if (!join && (errno == EADDRNOTAVAIL || errno == ENOENT))
        return SK_EINVAL;
    return sk__map_errno(errno);
}

int sk_udp_join(sk_udp *u, const char *group, const char *ifname)
{
    return membership(u, group, NULL, ifname, 1);
}

int sk_udp_leave(sk_udp *u, const char *group, const char *ifname)
{
    return membership(u, group, NULL, ifname, 0);
}

int sk_udp_join_source(sk_udp *u, const char *group, const char *source, const char *ifname)
{
    return source == NULL ? sk__fail(SK_EINVAL) : membership(u, group, source, ifname, 1);
}

int sk_udp_leave_source(sk_udp *u, const char *group, const char *source, const char *ifname)
{
    return source == NULL ? sk__fail(SK_EINVAL) : membership(u, group, source, ifname, 0);
}

/* One int option of multicast sending: the IPv6 one on an IPv6 socket, and the IPv4
 * one where the socket sends IPv4 (an IPv4 socket, or a dual-stack one). */
static int set_both(sk_udp *u, int v4name, int v6name, int value)
{
    int rc = SK_OK;
    if (u->family == AF_INET6)
        rc = sk__set_int_opt(u->s.fd, IPPROTO_IPV6, v6name, value);
    if (rc == SK_OK && (u->family == AF_INET || u->dual))
        rc = sk__set_int_opt(u->s.fd, IPPROTO_IP, v4name, value);
    return rc;
}

int sk_udp_set_multicast_ttl(sk_udp *u, int ttl)
{
    int rc = ip_endpoint(u);
    if (rc != SK_OK)
        return rc;
    if (ttl < 0 || ttl > 255)
        return sk__fail(SK_EINVAL);
    return set_both(u, IP_MULTICAST_TTL, IPV6_MULTICAST_HOPS, ttl);
}

int sk_udp_set_multicast_loop(sk_udp *u, int on)
{
    int rc = ip_endpoint(u);
    if (rc != SK_OK)
        return rc;
    return set_both(u, IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP, on != 0);
}

int sk_udp_set_multicast_if(sk_udp *u, const char *ifname)
{
    unsigned index;
    int rc = ip_endpoint(u);

    if (rc != SK_OK || (rc = if_index(ifname, &index)) != SK_OK)
        return rc;
    if (u->family == AF_INET6 &&
        (rc = sk__set_int_opt(u->s.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, (int)index)) != SK_OK)
        return rc;
    if (u->family == AF_INET || u->dual) {
        /* By index (ip_mreqn): an interface need not have an IPv4 address. */
        struct ip_mreqn m;
        memset(&m, 0, sizeof m);
        m.imr_ifindex = (int)index;
        if (setsockopt(u->s.fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0)
            return sk__map_errno(errno);
    }
    return SK_OK;
}

int sk_udp_set_broadcast(sk_udp *u, int on)
{
    int rc = ip_endpoint(u);
    if (rc != SK_OK)
        return rc;
    return sk__set_int_opt(u->s.fd, SOL_SOCKET, SO_BROADCAST, on != 0);
}
