/* Portability: the Linux calls the library prefers and their POSIX fallbacks, one
 * place for each choice. CMake's feature checks (cmake/SockkitFeatures.cmake) define
 * SK_HAVE_<NAME> to 1 or 0; SOCKKIT_FORCE_FALLBACKS=ON sets them all to 0, so that the
 * fallbacks run in this project's CI on Linux. Without CMake's definitions (another
 * build system) Linux gets the Linux calls and every other system the fallbacks.
 *
 *   call or flag          fallback
 *   accept4(CLOEXEC)      accept + fcntl(FD_CLOEXEC)
 *   SOCK_CLOEXEC/NONBLOCK socket + fcntl
 *   MSG_NOSIGNAL          SO_NOSIGPIPE on the socket where it exists, else SIGPIPE
 *                         blocked in the thread around each send (sk__sigpipe_guard)
 *   MSG_CMSG_CLOEXEC      fcntl(FD_CLOEXEC) on each descriptor received
 *   recv(MSG_TRUNC)       recvmsg, truncation told by msg_flags; the real length of a
 *                         truncated datagram is then unknown (reported as received)
 *   sendmmsg/recvmmsg     a loop of sendmsg/recvmsg (io.c)
 *   UDP_SEGMENT (GSO)     every datagram of a batch its own message (udp.c)
 *   UDP_GRO               none: sk_udp_set_gro is SK_EOS with ENOPROTOOPT
 *   eventfd               a pipe (sk__notify)
 *   sendfile/splice       the read + send loop (io.c)
 *   epoll                 poll() (lib/poller_poll.c, chosen in CMakeLists.txt)
 *
 * The fallbacks' one weakness: a descriptor made by socket/accept/recvmsg is
 * close-on-exec a moment after it exists, so a fork+exec in another thread in that
 * moment can inherit it. */
#ifndef SOCKKIT_COMPAT_H
#define SOCKKIT_COMPAT_H

#include <signal.h>
#include <sys/socket.h>

#ifndef SK_HAVE_CONFIGURED
#if defined(__linux__)
#define SK__LINUX_DEFAULT 1
#else
#define SK__LINUX_DEFAULT 0
#endif
#define SK_HAVE_ACCEPT4 SK__LINUX_DEFAULT
#define SK_HAVE_SOCK_CLOEXEC SK__LINUX_DEFAULT
#define SK_HAVE_SOCK_NONBLOCK SK__LINUX_DEFAULT
#define SK_HAVE_MSG_NOSIGNAL SK__LINUX_DEFAULT
#define SK_HAVE_MSG_CMSG_CLOEXEC SK__LINUX_DEFAULT
#define SK_HAVE_RECV_MSG_TRUNC SK__LINUX_DEFAULT
#define SK_HAVE_SENDMMSG SK__LINUX_DEFAULT
#define SK_HAVE_RECVMMSG SK__LINUX_DEFAULT
#define SK_HAVE_EVENTFD SK__LINUX_DEFAULT
#define SK_HAVE_SENDFILE SK__LINUX_DEFAULT
#define SK_HAVE_SPLICE SK__LINUX_DEFAULT
#define SK_HAVE_SO_PEERCRED SK__LINUX_DEFAULT
#define SK_HAVE_UDP_SEGMENT SK__LINUX_DEFAULT
#define SK_HAVE_UDP_GRO SK__LINUX_DEFAULT
#define SK_HAVE_GETPEEREID 0
#endif

/* The flag every send carries so that a vanished peer cannot raise SIGPIPE. */
#if SK_HAVE_MSG_NOSIGNAL
#define SK__NOSIGNAL MSG_NOSIGNAL
#else
#define SK__NOSIGNAL 0
#endif

/* The flag a datagram receive carries so that its result is the datagram's real
 * length; without it the receive looks at msg_flags (io.c). */
#if SK_HAVE_RECV_MSG_TRUNC
#define SK__RECV_TRUNC MSG_TRUNC
#else
#define SK__RECV_TRUNC 0
#endif

/* One datagram of a batch: the system's struct mmsghdr where sendmmsg and recvmmsg
 * are used, else the same fields in our own struct (io.c then loops). */
#if SK_HAVE_SENDMMSG && SK_HAVE_RECVMMSG
typedef struct mmsghdr sk__mmsghdr;
#else
typedef struct sk__mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
} sk__mmsghdr;
#endif

/* UDP_SEGMENT (Linux 4.18: one message that the system cuts into datagrams of a
 * given size) and UDP_GRO (Linux 5.0: several datagrams of one sender received as one
 * buffer, with their size), where the build found them and the header has them. A
 * kernel older than the header refuses them at run time: udp.c probes and falls back. */
#if SK_HAVE_UDP_SEGMENT || SK_HAVE_UDP_GRO
#include <netinet/in.h>
#include <netinet/udp.h>
#endif
#if SK_HAVE_UDP_SEGMENT && defined(UDP_SEGMENT)
#define SK__UDP_GSO 1
#else
#define SK__UDP_GSO 0
#endif
#if SK_HAVE_UDP_GRO && defined(UDP_GRO)
#define SK__UDP_GRO 1
#else
#define SK__UDP_GRO 0
#endif

/* Neither MSG_NOSIGNAL nor SO_NOSIGPIPE: sends block SIGPIPE around themselves. */
#if !SK_HAVE_MSG_NOSIGNAL && !defined(SO_NOSIGPIPE)
#define SK__SIGPIPE_GUARD 1
#else
#define SK__SIGPIPE_GUARD 0
#endif

/* socket(2) of a close-on-exec descriptor, non-blocking when nonblock; with
 * SO_NOSIGPIPE where the system needs it. -1 with errno on failure. */
int sk__socket(int family, int type, int protocol, int nonblock);
/* accept(2) of a close-on-exec, blocking descriptor: -1 with errno on failure. */
int sk__accept(int listen_fd);
/* The control message of m at *off (0 for the first): its header copied into *h,
 * and a pointer to its data, *len bytes, or NULL when there is none left (or the next
 * one is malformed: cmsg_len below CMSG_LEN(0)). Never reads past msg_controllen: a
 * message whose cmsg_len claims more than is left is cut there (*cut = 1, and it is
 * the last). *off moves to the next one. */
const unsigned char *sk__cmsg_next(const struct msghdr *m, size_t *off, struct cmsghdr *h, size_t *len, int *cut);
/* Calls each(fd, arg) for every descriptor the SCM_RIGHTS messages of m's control
 * bytes hold, in order, as far as they lie within msg_controllen: 1 when a message
 * was cut by the buffer's end (descriptors may be missing: a truncation), else 0. */
int sk__each_received_fd(const struct msghdr *m, void (*each)(int fd, void *arg), void *arg);
/* Descriptors that recvmsg brought in the control bytes of m: close-on-exec (a no-op
 * where MSG_CMSG_CLOEXEC did it already). */
void sk__cloexec_received(const struct msghdr *m);

/* A wake-up that becomes readable for good once fired: an eventfd (rd == wr) or a
 * pipe. Firing is one write(), async-signal-safe; nobody reads it. */
typedef struct sk__notify {
    int rd, wr;
} sk__notify;
/* 0, or -1 with errno (both descriptors close-on-exec and non-blocking). */
int sk__notify_open(sk__notify *n);
void sk__notify_fire(const sk__notify *n);
void sk__notify_close(sk__notify *n);

/* SIGPIPE blocked in this thread for a call that may raise it, and one it raised taken
 * back before the mask is restored (one already pending stays pending). For sendfile
 * and splice everywhere (they take no MSG_NOSIGNAL), and for every send where
 * SK__SIGPIPE_GUARD. Three system calls per call. */
typedef struct sk__sigpipe_guard {
    sigset_t old;
    int was_pending;
} sk__sigpipe_guard;
void sk__sigpipe_block(sk__sigpipe_guard *g);
/* raised: the call failed with EPIPE (so it raised SIGPIPE). Keeps errno. */
void sk__sigpipe_restore(const sk__sigpipe_guard *g, int raised);

#endif /* SOCKKIT_COMPAT_H */
