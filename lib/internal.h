/* Private to the library: shared pieces of the TCP and UDP code. Nothing here is
 * exported from the shared library (hidden visibility); in the static library the
 * names carry the sk__ prefix so that they stay in our namespace. */
#ifndef SOCKKIT_INTERNAL_H
#define SOCKKIT_INTERNAL_H

#include <stdint.h>
#include <sys/socket.h>
#include <netdb.h>

#include "sockkit.h"

/* One budget for a whole call: the relative timeout_ms becomes one CLOCK_MONOTONIC
 * deadline at entry, and every wait uses only what is left of it. */
enum sk__mode { SK__FOREVER, SK__NOW, SK__FINITE };
typedef struct sk__deadline {
    int64_t at_ns;     /* SK__FINITE: the monotonic instant the budget ends */
    int mode;
    int timeout_ms;    /* as given, for the first wait (saves a clock read) */
    int fresh;         /* no wait has been prepared yet */
} sk__deadline;

int64_t sk__now_ns(void);
/* SK_EINVAL for a timeout below SK_FOREVER. */
int sk__deadline_init(sk__deadline *dl, int timeout_ms);
int sk__deadline_expired(const sk__deadline *dl);
/* Milliseconds left, rounded up, for poll(): -1 forever, 0 when spent. */
int sk__deadline_poll_ms(const sk__deadline *dl);

/* A blocking-mode socket whose waits use SO_RCVTIMEO / SO_SNDTIMEO. The values the
 * socket holds are cached so that a loop with one timeout costs no setsockopt. */
typedef struct sk__sock {
    int fd;
    int rcvtimeo_ms;   /* what SO_RCVTIMEO holds now; 0 means no limit */
    int sndtimeo_ms;
} sk__sock;

/* Before one more system call on s in direction opt (SO_RCVTIMEO or SO_SNDTIMEO):
 * makes the socket's own timeout match what is left of the budget and tells which
 * MSG_ flags to add (MSG_DONTWAIT when the budget is 0). Returns SK_OK,
 * SK_ETIMEDOUT when the budget is spent, or an error from setsockopt. */
int sk__prepare(sk__sock *s, int opt, sk__deadline *dl, int *flags);

/* After a system call failed with err: SK_OK when it should be retried (EINTR, or a
 * wait that ended before the deadline), SK_ETIMEDOUT, or the mapped error. */
int sk__after_failure(int err, const sk__deadline *dl);

/* Wait with poll() for events on fd within the budget; EINTR is retried with the
 * time left. SK_OK when ready, SK_ETIMEDOUT, or a mapped error. */
int sk__wait(int fd, short events, const sk__deadline *dl);

/* The library's code for a system call's errno value. */
int sk__map_errno(int err);

/* Set errno to the value that goes with a code the library decided on, return code. */
int sk__fail(int code);

/* Validate a port: 0..65535, or 1..65535 when zero_ok is 0. */
int sk__port_ok(int port, int zero_ok);

/* getaddrinfo with our hints; any failure is SK_ENOTFOUND. */
int sk__resolve(const char *host, int port, int socktype, int passive, struct addrinfo **out);
/* The first IPv4 entry of a list, else the first. */
const struct addrinfo *sk__pick_listen_addr(const struct addrinfo *list);

/* A socket of type socktype bound to host:port (NULL or "" for every address,
 * dual-stack where possible), close-on-exec, non-blocking when nonblock is set,
 * SO_REUSEADDR when reuse is set. *family is the socket's; *dual is set when it is
 * an IPv6 socket that takes IPv4 too (IPV6_V6ONLY off). */
int sk__open_bound(const char *host, int port, int socktype, int nonblock, int reuse, int *fd, int *family,
                   int *dual);

/* close() that keeps errno. */
void sk__close_keep_errno(int fd);

/* sk_addr from a system address; IPv4-mapped IPv6 becomes IPv4. */
int sk__addr_from(sk_addr *addr, const struct sockaddr *sa, socklen_t len);
/* A system address for a socket of the given family: an IPv4 address becomes
 * IPv4-mapped for an IPv6 socket. */
int sk__addr_to(const sk_addr *addr, int family, struct sockaddr_storage *ss, socklen_t *len);
/* getsockname/getpeername into an sk_addr. */
int sk__sockname(int fd, int peer, sk_addr *addr);

/* An endpoint's registration with a poller, kept inside the endpoint so that
 * registering allocates nothing with epoll. */
enum sk__kind { SK__TCP = 1, SK__UDP = 2 };
typedef struct sk__preg {
    struct sk_poller *poller;        /* NULL when not registered */
    void *owner;                     /* the sk_tcp or sk_udp this is inside */
    void *data;                      /* the caller's pointer */
    int fd;
    unsigned kind;                   /* SK__TCP or SK__UDP */
    unsigned events;                 /* SK_POLL_IN / SK_POLL_OUT wanted */
    unsigned in_batch;               /* index + 1 of its event in the batch being filled */
    size_t slot;                     /* poll backend: index in its arrays */
    struct sk__preg *next, *prev;    /* every registration of the poller */
    struct sk__preg *rnext, *rprev;  /* endpoints with read-ahead (sk_tcp_recv_until) */
    int on_ready;
} sk__preg;

void sk__preg_init(sk__preg *r, void *owner, unsigned kind, int fd);
/* The endpoint is being closed: unregister it and cancel its pending events. */
void sk__poller_forget(sk__preg *r);
/* The endpoint holds read-ahead bytes: report it readable although its descriptor is not. */
void sk__poller_note_readahead(sk__preg *r);
sk__preg *sk__tcp_preg(sk_tcp *t);
sk__preg *sk__udp_preg(sk_udp *u);

#endif /* SOCKKIT_INTERNAL_H */
