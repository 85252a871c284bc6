/* An endpoint's registration with a poller. It lives inside the endpoint (so that
 * registering allocates nothing with epoll, and the kernel hands it back), and the
 * endpoints call these to register, to say they hold read-ahead bytes, and to leave
 * when they close. Implemented in poller.c; below tcp.c and udp.c, which it never
 * calls: what it needs of an endpoint (its descriptor, its read-ahead) it holds. */
#ifndef SOCKKIT_REGISTRATION_H
#define SOCKKIT_REGISTRATION_H

#include <stddef.h>

#include "io.h"

enum sk__kind { SK__TCP = 1, SK__UDP = 2 };

typedef struct sk__preg {
    struct sk_poller *poller;        /* NULL when not registered */
    void *owner;                     /* the sk_tcp or sk_udp this is inside */
    void *data;                      /* the caller's pointer */
    const sk__rbuf *ra;              /* a stream's read-ahead, else NULL */
    const sk__sock *sock;            /* the endpoint's socket: its cancel flag */
    int fd;
    unsigned kind;                   /* SK__TCP or SK__UDP: which field of sk_event */
    unsigned events;                 /* SK_POLL_IN / SK_POLL_OUT wanted */
    unsigned in_batch;               /* index + 1 of its event in the batch being filled */
    size_t slot;                     /* the backend's (poll: index in its arrays) */
    struct sk__preg *next, *prev;    /* every registration of the poller */
    struct sk__preg *rnext, *rprev;  /* registrations with read-ahead bytes */
    int on_ready;
} sk__preg;

void sk__preg_init(sk__preg *r, void *owner, unsigned kind, const sk__sock *sock, const sk__rbuf *ra);
/* SK_EINVAL for a NULL poller, unknown event bits, or (add) an endpoint already
 * registered / (mod, del) one not registered with that poller. */
int sk__preg_add(struct sk_poller *p, sk__preg *r, unsigned events, void *data);
int sk__preg_mod(struct sk_poller *p, sk__preg *r, unsigned events, void *data);
int sk__preg_del(struct sk_poller *p, sk__preg *r);
/* The endpoint is closing: leave its poller, if any, and cancel its events still in
 * the caller's batch. Keeps errno. */
void sk__preg_forget(sk__preg *r);
/* The endpoint's read-ahead may hold bytes: if so, report it readable although its
 * descriptor is not. A no-op when it is not registered (checked inline: every
 * sk_tcp_recv_until calls it). */
void sk__preg_note_readahead_slow(sk__preg *r);
static inline void sk__preg_note_readahead(sk__preg *r)
{
    if (r->poller != NULL)
        sk__preg_note_readahead_slow(r);
}

#endif /* SOCKKIT_REGISTRATION_H */
