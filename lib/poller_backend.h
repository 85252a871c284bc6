/* What the poller needs of the system: one implementation a file, chosen by CMake
 * (poller_epoll.c on Linux, poller_poll.c elsewhere or with SOCKKIT_POLLER=poll).
 * A backend knows registrations (sk__preg) and SK_POLL_* bits, nothing else. */
#ifndef SOCKKIT_POLLER_BACKEND_H
#define SOCKKIT_POLLER_BACKEND_H

#include <stddef.h>

#include "registration.h"

/* Events returned by one system wait, at most. */
#define SK__MAX_EVENTS 256

typedef struct sk__backend sk__backend;

/* One event of a wait: reg NULL is the wake-up (events SK_POLL_WAKE). */
typedef struct sk__sysevent {
    sk__preg *reg;
    unsigned events;
} sk__sysevent;

int sk__backend_open(sk__backend **b);
void sk__backend_close(sk__backend *b);
int sk__backend_add(sk__backend *b, sk__preg *r, unsigned events);
int sk__backend_mod(sk__backend *b, sk__preg *r, unsigned events);
void sk__backend_del(sk__backend *b, sk__preg *r);
/* One system wait of at most ms (-1 forever); the wake-up is drained when it is
 * reported. Returns how many events it stored in out (at most max, at most
 * SK__MAX_EVENTS), or -1 with errno. */
int sk__backend_wait(sk__backend *b, sk__sysevent *out, size_t max, int ms);
/* From any thread or a signal handler: the next (or current) wait reports the
 * wake-up. SK_OK, or a mapped error with errno. */
int sk__backend_wake(sk__backend *b);

#endif /* SOCKKIT_POLLER_BACKEND_H */
