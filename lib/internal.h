/* Private to the library: what the endpoint files (tcp.c, udp.c, connect.c) share.
 * Nothing here is exported from the shared library (hidden visibility); in the
 * static library the names carry the sk__ prefix so that they stay in our namespace.
 * The layers, bottom up (docs/ARCHITECTURE.md):
 *   error_map.h, deadline.h   codes and budgets
 *   io.h                      the I/O core: every transfer, every wait
 *   registration.h            an endpoint's place in a poller (poller.c)
 *   poller_backend.h          epoll or poll() (poller_epoll.c, poller_poll.c)
 *   this file                 addresses, names and sockets, for the endpoints */
#ifndef SOCKKIT_INTERNAL_H
#define SOCKKIT_INTERNAL_H

#include <netdb.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "deadline.h"
#include "error_map.h"
#include "io.h"
#include "registration.h"
#include "sockkit.h"

/* Validate a port: 0..65535, or 1..65535 when zero_ok is 0. */
int sk__port_ok(int port, int zero_ok);

/* getaddrinfo with our hints (lib/resolve.c): SK_OK with a non-empty list in *out,
 * SK_ETIMEDOUT when dl ran out first, SK_ENOMEM when the library could not allocate
 * the helper thread's lookup, else SK_ENOTFOUND (errno set for EAI_SYSTEM)
 * with getaddrinfo's code in *gai when gai is not NULL (0 after SK_OK or a timeout).
 * A name that needs a lookup is looked up on a helper thread when dl is finite. */
int sk__resolve_within(const char *host, int port, int socktype, int passive, sk__deadline *dl,
                       struct addrinfo **out, int *gai);
/* Check opts (NULL: the defaults) and take its attempt delay (unclamped) and cancel
 * (NULL for a version 1 struct); SK_EINVAL for a bad struct. */
int sk__connect_options_read(const sk_connect_options *opts, int *delay_ms, const sk_cancel **cancel);
/* The descriptor a poll() watches for c's firing (POLLIN), or -1 for NULL. */
int sk__cancel_fd(const sk_cancel *c);
/* sk__resolve_within that also ends when cancel fires (SK_ECANCELED); with a cancel
 * every name that needs a lookup goes to a helper thread, even with no budget. */
int sk__resolve_cancellable(const char *host, int port, int socktype, sk__deadline *dl, const sk_cancel *cancel,
                            struct addrinfo **out, int *gai);
/* The same without a budget (on the caller's thread). */
int sk__resolve(const char *host, int port, int socktype, int passive, struct addrinfo **out);
/* The first IPv4 entry of a list, else the first. */
const struct addrinfo *sk__pick_listen_addr(const struct addrinfo *list);

/* What a bind sets first (sk_bind_options, checked, defaults applied). */
typedef struct sk__bind_opts {
    int reuse_addr, reuse_port, freebind, fastopen;
    int v6only; /* -1: dual stack for every address, IPv6 only for a named one */
} sk__bind_opts;
/* Checks opts (NULL: the defaults) into o; reuse_default is the call's SO_REUSEADDR
 * (listen: on, UDP bind: off); fastopen only for a stream. SK_EINVAL when bad. */
int sk__bind_opts_from(sk__bind_opts *o, const sk_bind_options *opts, int reuse_default, int stream);

/* A socket of type socktype bound to host:port (NULL or "" for every address,
 * dual-stack where possible), close-on-exec, non-blocking when nonblock is set,
 * with o's options. *family is the socket's; *dual is set when it is an IPv6
 * socket that takes IPv4 too (IPV6_V6ONLY off). */
int sk__open_bound(const char *host, int port, int socktype, int nonblock, const sk__bind_opts *o, int *fd,
                   int *family, int *dual);

/* A sockaddr_un: where its name starts, and the room for it (108 on Linux). A path
 * takes at most SK__UN_PATH_MAX - 1 bytes (its NUL must fit), an abstract name as
 * many after its leading NUL. */
#define SK__UN_PATH_OFF offsetof(struct sockaddr_un, sun_path)
#define SK__UN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* A Unix address from text (lib/addr.c): "" is unnamed, "@name" abstract (name bytes
 * taken as they are, nlen of them), anything else a path. SK_EINVAL when it does not
 * fit. */
int sk__unix_addr(struct sockaddr_un *su, socklen_t *len, const char *name, size_t nlen);

/* The file a Unix socket was bound to, for removal at close: the path, and the
 * inode the bind made, so that a file someone else put there since stays. */
typedef struct sk__unix_file {
    char *path; /* NULL: none (abstract, unnamed, or not Unix) */
    unsigned long long dev, ino;
} sk__unix_file;
/* Records path after a bind that made it; SK_ENOMEM (nothing recorded) else SK_OK. */
int sk__unix_file_own(sk__unix_file *f, const char *path);
/* Removes the file if it is still the one recorded, and forgets it. */
void sk__unix_file_release(sk__unix_file *f);

/* sk_addr from a system address; IPv4-mapped IPv6 becomes IPv4. */
int sk__addr_from(sk_addr *addr, const struct sockaddr *sa, socklen_t len);
/* A system address for a socket of the given family: an IPv4 address becomes
 * IPv4-mapped for an IPv6 socket. */
int sk__addr_to(const sk_addr *addr, int family, struct sockaddr_storage *ss, socklen_t *len);
/* getsockname/getpeername into an sk_addr. */
int sk__sockname(int fd, int peer, sk_addr *addr);

/* setsockopt of one int; SK_OK or the mapped failure. */
int sk__set_int_opt(int fd, int level, int name, int value);
/* The system lacks an option the call needs: SK_EOS with errno ENOPROTOOPT (never a
 * silent no-op). */
int sk__no_option(void);

/* SK_ECANCELED (errno ECANCELED) once s was cancelled, else SK_OK: the first check
 * of every call that waits, moves data or changes an option. */
static inline int sk__check_cancelled(const sk__sock *s)
{
    return __builtin_expect(sk__sock_cancelled(s), 0) ? sk__fail(SK_ECANCELED) : SK_OK;
}

/* TCP_NODELAY on or off. */
int sk__set_nodelay(int fd, int on);

/* A connected TCP endpoint for fd (closed when this fails). */
int sk__tcp_wrap(int fd, sk_tcp **conn);
/* A stream endpoint for fd of any family (AF_UNIX: the TCP-only calls refuse it);
 * file, when not NULL, is moved into it (freed when this fails, fd closed). */
int sk__stream_new(int fd, int family, int listening, sk__unix_file *file, sk_tcp **out);
/* A datagram endpoint for fd, the same way. */
int sk__dgram_new(int fd, int family, int connected, sk__unix_file *file, sk_udp **out);
/* One datagram out or in, with control bytes (ctl may be NULL): sk_udp_sendto and
 * sk_udp_recvfrom are these (to NULL: the connected peer). */
int sk__udp_send_ctl(sk_udp *udp, const void *buf, size_t len, const sk_addr *to, sk__ctl *ctl, int timeout_ms);
int sk__udp_recv_ctl(sk_udp *udp, void *buf, size_t cap, size_t *received, sk_addr *from, sk__ctl *ctl,
                     int timeout_ms);
/* The family of a datagram endpoint's socket. */
int sk__udp_family(const sk_udp *udp);
/* Stream transfers with control bytes: all of buf out (the control with the first
 * byte), or some bytes in (at least one, up to cap) with the control that came. */
int sk__tcp_send_ctl(sk_tcp *conn, const void *buf, size_t len, size_t *sent, sk__ctl *ctl, int timeout_ms);
int sk__tcp_recv_ctl(sk_tcp *conn, void *buf, size_t cap, size_t *received, sk__ctl *ctl, int timeout_ms);

#endif /* SOCKKIT_INTERNAL_H */
