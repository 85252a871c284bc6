/* The inside of an sk_udp, for the files that implement the UDP calls only: udp.c
 * (endpoints and datagrams) and udp_group.c (broadcast and multicast). */
#ifndef SOCKKIT_UDP_IMPL_H
#define SOCKKIT_UDP_IMPL_H

#include "internal.h"

struct sk_udp {
    sk__sock s;
    int family;    /* of the socket */
    int dual;      /* an IPv6 socket that reaches IPv4 too: IPv4 destinations are mapped */
    int connected;
    sk__unix_file file; /* a Unix socket's file, removed at close */
    sk__preg preg; /* registration with a poller */
};

#endif /* SOCKKIT_UDP_IMPL_H */
