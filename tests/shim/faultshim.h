/* Control interface of the fault-injection shim (tests/shim/faultshim.c), a test-only
 * LD_PRELOAD module built as libsk_faultshim.so. Not part of libsockkit.
 *
 * The shim interposes send, recv, sendto, recvfrom, sendmsg, recvmsg, sendmmsg,
 * recvmmsg, poll, epoll_wait, accept4, connect, sendfile (and sendfile64) and splice
 * (and the _FORTIFY_SOURCE twins __recv_chk, __recvfrom_chk, __poll_chk; epoll_ctl and
 * close only to know which epoll instances watch sockets). It touches only calls on
 * IPv4/IPv6 sockets and, with the "unix" token, on marked Unix domain sockets (below)
 * (a poll only when one of its descriptors is one, an epoll_wait only on an instance
 * such a socket was registered with; a sendfile whose output is one, a splice with one
 * at either end): pipes, files and other Unix sockets, such as Criterion's own, pass
 * through.
 *
 * Unix domain sockets ("unix"): a stream, datagram or seqpacket socket whose own name
 * or whose peer's name (getsockname / getpeername; a path or an abstract name) contains
 * SK_FAULTSHIM_UNIX_MARK, "skfault": a listener on "@skfault-1", the connections it
 * accepts, the clients connected to it, a datagram socket bound to such a name or
 * connected to one. (A socketpair has no name and is never touched.) Streams get every
 * mode as TCP does; datagram and seqpacket sockets are never clamped.
 * Descriptor passing (SCM_RIGHTS): the shim never shortens msg_control. A short
 * sendmsg sends the control message with the first of the bytes it lets through, as a
 * real partial send does; a short recvmsg takes the descriptors with the first byte of
 * their message, as the kernel hands them over. An injected EINTR or EAGAIN (sendmsg or
 * recvmsg) is decided before the real call and moves nothing, descriptors included:
 * they stay queued for the next call. The shim never turns a real receive into a
 * failure (it would have to close what came): every descriptor the kernel delivers
 * reaches the library, so a test that counts /proc/self/fd sees the library's leaks
 * and losses, never the shim's. It also interposes malloc, calloc, realloc and free, for allocation
 * faults (below), which touch only a thread that asked for them.
 * Until a mode is set (by sk_faultshim_set, or by the SK_FAULTS environment variable,
 * read once when the shim is loaded: SK_FAULTS=short+eintr ./program) every call
 * passes straight through and nothing is counted.
 *
 * A test program must not link against the shim (it is a module, preloaded): it finds
 * the two functions at run time with dlsym(RTLD_DEFAULT, SK_FAULTSHIM_SET_SYMBOL) etc.
 * and fails clearly when they are absent.
 *
 * Mode specification: tokens joined by '+' (or ','), each one of
 *   "none" / "off" / ""  no faults; calls are still counted
 *   "short"        stream (SOCK_STREAM) transfers move at most a pseudo-random 1..7
 *                  bytes: send/recv/sendto/recvfrom lengths and sendmsg/recvmsg iovecs
 *                  are clamped. Datagram sockets are never clamped (that would truncate
 *                  or split datagrams).
 *   "eintr"        one call in four of each interposed function fails with EINTR:
 *   "eintr=N"      one call in N (N >= 1; the 1st, N+1st, ... call of each function).
 *                  send, recv, sendto, recvfrom, sendmsg, recvmsg, poll, accept4,
 *                  sendfile, splice fail without doing anything. connect (stream sockets only) is different:
 *                  the real call is made, and only when it started the connection (it
 *                  returned 0 or EINPROGRESS) is EINTR reported instead, which is what
 *                  an interrupted connect leaves behind per POSIX (the connection goes
 *                  on asynchronously). A failing connect, and UDP connect (which never
 *                  blocks), are left as they are.
 *   "eagain"       one call in four of send, recv, sendto, recvfrom, sendmsg, recvmsg,
 *   "eagain=N"     sendmmsg, recvmmsg, accept4, sendfile and splice fails with EAGAIN
 *                  without doing anything (the 1st, N+1st... of the calls of each function that
 *                  "eintr" did not take): a blocking call woken for nothing, or data
 *                  another reader took first. Before its deadline a library must try
 *                  again, not time out.
 *   "wakeup"       one wait in four (poll, epoll_wait) wakes for nothing, when nothing
 *   "wakeup=N"     is really ready (the shim looks first, with a zero timeout): the
 *                  1st, 2N+1st... such wait returns 0 at once although its timeout has
 *                  not passed (an early timeout; not for a zero-timeout wait), the N+1st,
 *                  3N+1st... reports readiness that is not there (POLLIN/POLLOUT as
 *                  asked on the first socket of a poll; the last socket registered with
 *                  the epoll instance, its events and data, for epoll_wait).
 *   "unix"         Unix domain sockets marked by name (above) get the same faults.
 *   "interrupt=MS" a signal storm, as from a timer signal without SA_RESTART every MS
 *                  ms: a call that could block longer than MS (a blocking socket, no
 *                  MSG_DONTWAIT, SO_RCVTIMEO/SO_SNDTIMEO unlimited or longer than MS;
 *                  a poll with a timeout longer than MS or infinite) runs for MS ms at
 *                  most. A transfer moves what it can without waiting (a partial count,
 *                  as an interrupted blocking transfer returns), waits while it can move
 *                  nothing, and fails with EINTR when MS ms pass before it moved a byte;
 *                  a poll that sees nothing within MS fails with EINTR. Calls that cannot
 *                  block, or whose own timeout is MS or less, run untouched. Not applied
 *                  to connect, sendfile or splice (they have no MSG_DONTWAIT). A
 *                  library that restarts its budget after EINTR never times out under
 *                  this mode. Applied to epoll_wait as to poll.
 * sendfile and splice: "short" clamps the count on a stream socket, "eintr" and
 * "eagain" fail them before they move anything, as for send.
 * Setting a mode resets every counter. Thread-safe (atomics); per process.
 */
#ifndef SK_FAULTSHIM_H
#define SK_FAULTSHIM_H

#define SK_FAULTSHIM_SET_SYMBOL "sk_faultshim_set"
#define SK_FAULTSHIM_UNIX_MARK "skfault"
#define SK_FAULTSHIM_COUNT_SYMBOL "sk_faultshim_count"

#ifdef __cplusplus
extern "C" {
#endif

/* Set the mode; returns 0, or -1 (mode unchanged) for a malformed specification. */
int sk_faultshim_set(const char *spec);
typedef int (*sk_faultshim_set_fn)(const char *spec);

/* A counter since the last sk_faultshim_set:
 *   "send", "recv", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
 *   "poll", "epoll_wait", "accept4", "connect", "accept", "sendfile", "splice"
 *                  calls on the sockets the shim touches (epoll_wait: on instances
 *                  watching one);
 *   "calls"        all of them;
 *   "eintr:FN"     EINTRs injected into FN;   "eintr" all of them;
 *   "short:FN"     transfers of FN clamped to fewer bytes than asked; "short" all;
 *   "eagain:FN"    spurious EAGAINs injected into FN; "eagain" all;
 *   "early:FN"     waits (poll, epoll_wait) ended early with nothing; "early" all;
 *   "false:FN"     waits that reported readiness that was not there; "false" all;
 *   "wakeup:FN"    early + false; "wakeup" all.
 * An unknown name gives (unsigned long)-1, so a typo cannot pass an "== 0" check. */
unsigned long sk_faultshim_count(const char *name);
typedef unsigned long (*sk_faultshim_count_fn)(const char *name);

/* Allocation faults, for the calling thread only (other threads are never touched).
 *
 * sk_faultshim_alloc_arm(nth) starts watching the calling thread's malloc, calloc and
 * realloc calls: they are counted, the nth from now (1-based; 0 for none) fails with
 * ENOMEM, once, and every block the thread gets is remembered until it is freed (by
 * any thread). sk_faultshim_alloc_disarm() stops counting and failing; blocks still
 * remembered stay so, and are forgotten as they are freed. sk_faultshim_alloc_report
 * tells what happened since the last arm. Arming returns 0, or -1 when the shim's
 * malloc is not the one in use.
 *
 * Drive a call through each of its allocation sites: arm(1), call, disarm, report;
 * then arm(2)... until report says nothing failed (the call made fewer than nth
 * allocations). A failed call that cleaned up after itself leaves live == 0.
 *
 * When a sanitizer runtime is linked into the program statically (clang's
 * -fsanitize=address), the program's own malloc comes first and the shim never sees an
 * allocation: a test should check that arm(0) followed by one malloc counts 1. */
typedef struct sk_faultshim_alloc_stats {
    unsigned long allocations; /* malloc/calloc/realloc calls while armed, the failed one included */
    unsigned long failed;      /* 1 when the nth came and was failed */
    unsigned long live;        /* blocks from the armed period not freed since */
    int overflow;              /* more blocks than the shim can remember: live is a lower bound */
    const void *fail_caller;   /* return address of the failed call (for dladdr), or NULL */
} sk_faultshim_alloc_stats;

#define SK_FAULTSHIM_ALLOC_ARM_SYMBOL "sk_faultshim_alloc_arm"
#define SK_FAULTSHIM_ALLOC_DISARM_SYMBOL "sk_faultshim_alloc_disarm"
#define SK_FAULTSHIM_ALLOC_REPORT_SYMBOL "sk_faultshim_alloc_report"

int sk_faultshim_alloc_arm(unsigned long nth);
void sk_faultshim_alloc_disarm(void);
void sk_faultshim_alloc_report(sk_faultshim_alloc_stats *r);
typedef int (*sk_faultshim_alloc_arm_fn)(unsigned long nth);
typedef void (*sk_faultshim_alloc_disarm_fn)(void);
typedef void (*sk_faultshim_alloc_report_fn)(sk_faultshim_alloc_stats *r);

#ifdef __cplusplus
}
#endif

#endif /* SK_FAULTSHIM_H */
