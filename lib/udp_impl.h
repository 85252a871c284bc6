/* The inside of an sk_udp, for the files that implement the UDP calls only: udp.c
 * (endpoints and datagrams), udp_group.c (broadcast and multicast) and options.c
 * (socket options). */
#ifndef SOCKKIT_UDP_IMPL_H
#define SOCKKIT_UDP_IMPL_H

#include "internal.h"

/* Receiving with UDP_GRO: the system hands over several datagrams of one sender as
 * one buffer and says their size (the last may be shorter), so a receive goes into
 * buffers of the largest datagram, SK__GRO_MSGS of them per recvmmsg, and the
 * datagrams are handed out one by one from there (udp.c). */
#define SK__GRO_MSGS 8
#define SK__GRO_BUF 65536

typedef struct sk__gro_msg {
    size_t len;                 /* bytes the system delivered (its real length) */
    size_t seg;                 /* the size of each datagram in it; 0: one datagram */
    socklen_t namelen;
    struct sockaddr_storage ss; /* the sender, the same for every datagram in it */
    union {
        size_t align;           /* a cmsghdr's alignment */
        char bytes[64];         /* room for the UDP_GRO control message */
    } ctl;
} sk__gro_msg;

typedef struct sk__gro {
    unsigned char buf[SK__GRO_MSGS][SK__GRO_BUF];
    sk__gro_msg m[SK__GRO_MSGS];
    size_t n;   /* messages held */
    size_t cur; /* the one being handed out */
    size_t off; /* its bytes handed out so far */
} sk__gro;

struct sk_udp {
    sk__sock s;
    int family;    /* of the socket */
    int dual;      /* an IPv6 socket that reaches IPv4 too: IPv4 destinations are mapped */
    int connected;
    sk__unix_file file; /* a Unix socket's file, removed at close */
    sk__preg preg; /* registration with a poller */
    /* Sending (the sending thread's): UDP_SEGMENT. */
    int gso;            /* 0: not probed yet; 1: the system takes it; -1: not used, for good */
    size_t gso_seg_max; /* datagrams of this size or more are never coalesced (an
                           EMSGSIZE for that size: the path's MTU); 0: no limit */
    /* Receiving (the receiving thread's): UDP_GRO. */
    int gro;      /* 1 while sk_udp_set_gro is on */
    sk__gro *rx;  /* from the first sk_udp_set_gro(u, 1) on, every receive goes
                     through it, so that a coalesced buffer is never handed out */
    sk__rbuf ra;  /* ra.end - ra.pos > 0 while rx holds datagrams: the poller reports
                     the endpoint readable although its descriptor is not */
};

/* GRO on or off for u (an IP endpoint): the socket option, and the buffers the first
 * time. SK_OK, SK_ENOMEM, or the option's failure (SK_EOS with ENOPROTOOPT where the
 * system lacks it). */
int sk__udp_set_gro(sk_udp *u, int on);

#endif /* SOCKKIT_UDP_IMPL_H */
