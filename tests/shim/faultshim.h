/* Control interface of the fault-injection shim (tests/shim/faultshim.c), a test-only
 * LD_PRELOAD module built as libsk_faultshim.so. Not part of libsockkit.
 *
 * The shim interposes send, recv, sendto, recvfrom, sendmsg, recvmsg, poll, accept4
 * and connect (and the _FORTIFY_SOURCE twins __recv_chk, __recvfrom_chk, __poll_chk).
 * It touches only calls on IPv4/IPv6 sockets (a poll only when one of its descriptors
 * is one): pipes, files and Unix sockets, such as Criterion's own, pass through.
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
 *                  send, recv, sendto, recvfrom, sendmsg, recvmsg, poll, accept4 fail
 *                  without doing anything. connect (stream sockets only) is different:
 *                  the real call is made, and only when it started the connection (it
 *                  returned 0 or EINPROGRESS) is EINTR reported instead, which is what
 *                  an interrupted connect leaves behind per POSIX (the connection goes
 *                  on asynchronously). A failing connect, and UDP connect (which never
 *                  blocks), are left as they are.
 *   "interrupt=MS" a signal storm, as from a timer signal without SA_RESTART every MS
 *                  ms: a call that could block longer than MS (a blocking socket, no
 *                  MSG_DONTWAIT, SO_RCVTIMEO/SO_SNDTIMEO unlimited or longer than MS;
 *                  a poll with a timeout longer than MS or infinite) runs for MS ms at
 *                  most. A transfer moves what it can without waiting (a partial count,
 *                  as an interrupted blocking transfer returns), waits while it can move
 *                  nothing, and fails with EINTR when MS ms pass before it moved a byte;
 *                  a poll that sees nothing within MS fails with EINTR. Calls that cannot
 *                  block, or whose own timeout is MS or less, run untouched. Not applied
 *                  to connect. A library that restarts its budget after EINTR never
 *                  times out under this mode.
 * Setting a mode resets every counter. Thread-safe (atomics); per process.
 */
#ifndef SK_FAULTSHIM_H
#define SK_FAULTSHIM_H

#define SK_FAULTSHIM_SET_SYMBOL "sk_faultshim_set"
#define SK_FAULTSHIM_COUNT_SYMBOL "sk_faultshim_count"

#ifdef __cplusplus
extern "C" {
#endif

/* Set the mode; returns 0, or -1 (mode unchanged) for a malformed specification. */
int sk_faultshim_set(const char *spec);
typedef int (*sk_faultshim_set_fn)(const char *spec);

/* A counter since the last sk_faultshim_set:
 *   "send", "recv", "sendto", "recvfrom", "sendmsg", "recvmsg", "poll", "accept4",
 *   "connect"      calls on IPv4/IPv6 sockets;
 *   "calls"        all of them;
 *   "eintr:FN"     EINTRs injected into FN;   "eintr" all of them;
 *   "short:FN"     transfers of FN clamped to fewer bytes than asked; "short" all.
 * An unknown name gives (unsigned long)-1, so a typo cannot pass an "== 0" check. */
unsigned long sk_faultshim_count(const char *name);
typedef unsigned long (*sk_faultshim_count_fn)(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SK_FAULTSHIM_H */
