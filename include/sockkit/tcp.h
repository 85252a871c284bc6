/**
 * @file sockkit/tcp.h
 * @brief TCP endpoints: connecting, listening, accepting, and robust transfers.
 */
#ifndef SOCKKIT_TCP_H
#define SOCKKIT_TCP_H

#include "common.h"
#include "addr.h"

/** @defgroup tcp TCP
 *  @brief Connected and listening TCP endpoints.
 *
 *  An #sk_tcp is created by #sk_tcp_connect, #sk_tcp_listen or #sk_tcp_accept and freed
 *  by #sk_tcp_close, #sk_tcp_close_graceful (which lets the peer read everything
 *  first) or #sk_tcp_abort (a reset). Its descriptor is close-on-exec. Connected
 *  endpoints have @c TCP_NODELAY on (as Go does): small request/response exchanges
 *  never meet the 40 ms Nagle plus delayed-ACK stall; #sk_tcp_set_nodelay turns it
 *  off. Keepalive is off (#sk_tcp_set_keepalive turns it on). No call ever raises
 *  @c SIGPIPE.
 *
 *  **Timeouts.** Every blocking call takes @c timeout_ms, a budget for the whole call
 *  however many system calls it takes: a positive number of milliseconds, @c 0 to do
 *  only what is possible now, or #SK_FOREVER. A call never returns #SK_ETIMEDOUT before
 *  its budget is spent. A system call interrupted by a signal is retried with what is
 *  left of the budget.
 *
 *  **Progress.** Transfers store in their @c sent / @c received out-parameter (which may
 *  be NULL) how many bytes really moved, on failure too, so that a caller can log,
 *  resume or discard precisely.
 *
 *  **Threads.** One endpoint may be used by one sending thread and one receiving thread
 *  at the same time; #sk_tcp_shutdown may be called from any thread and wakes a thread
 *  blocked receiving (#SK_SHUT_RD) or sending (#SK_SHUT_WR); #sk_tcp_cancel may be called
 *  from any thread or a signal handler and wakes every call blocked on the endpoint.
 *  Closing an endpoint while another thread uses it is the caller's bug.
 *
 *  **Cost.** When data or buffer space is there, a transfer costs the one system call it
 *  needs. The descriptor of a connected endpoint is in blocking mode and a wait uses the
 *  socket's own receive/send timeout, which is changed only when the budget asks for a
 *  different value: a loop that uses the same @c timeout_ms costs no extra call.
 *  @{ */

/** @brief Shut down the receiving half (a blocked receiver returns #SK_ECLOSED). */
#define SK_SHUT_RD 1
/** @brief Shut down the sending half (the peer sees end of stream). */
#define SK_SHUT_WR 2
/** @brief Shut down both halves. */
#define SK_SHUT_RDWR 3

/** @brief A TCP endpoint, connected or listening. Opaque; see the @ref tcp group. */
typedef struct sk_tcp sk_tcp;

/**
 * @brief One buffer of a gather write (#sk_tcp_send_allv).
 *
 * Caller-allocated; two members, fixed.
 */
typedef struct sk_iovec {
    const void *base; /**< The bytes; may be NULL only when @c len is 0. */
    size_t len;       /**< How many bytes. */
} sk_iovec;

/**
 * @brief Bytes of the endpoint's read buffer (#sk_tcp_recv_until): 8 KiB, allocated
 *        by the first #sk_tcp_recv_until call on a connection and freed by #sk_tcp_close.
 */
#define SK_TCP_READ_BUFFER 8192

/**
 * @brief A preset for #sk_tcp_set_keepalive: the first probe after 15 s of silence
 *        (Go's @c net.KeepAliveConfig default).
 *
 * Keepalive is off by default; with the three presets a peer that vanished without a
 * word (power cut, cable pulled, a NAT that forgot the connection) is noticed after
 * 15 s + 9 x 15 s = 150 s. A program with its own traffic can pick shorter values.
 */
#define SK_KEEPALIVE_IDLE_S 15
/** @brief A preset for #sk_tcp_set_keepalive: 15 s between unanswered probes (Go's default). */
#define SK_KEEPALIVE_INTERVAL_S 15
/** @brief A preset for #sk_tcp_set_keepalive: 9 unanswered probes end the connection (Go's default). */
#define SK_KEEPALIVE_COUNT 9

SK_BEGIN_DECLS

/**
 * @brief Connect to @p host : @p port.
 *
 * Resolves @p host (a name or a numeric IPv4 or IPv6 address) and connects to the
 * addresses it resolves to with Happy Eyeballs v2 (RFC 8305), all within the one
 * budget. The resolver's list, in the system's RFC 6724 order, is interleaved by
 * family (first-address-family count 1: the first address, then one of the other
 * family, and so on). The first attempt starts at once; each next one starts when the
 * attempt delay (#SK_CONNECT_DELAY_DEFAULT_MS, 250 ms) has passed since the last
 * start, or at once when a running attempt fails. Earlier attempts keep running while
 * later ones start; the first to connect wins and every other socket is closed, so an
 * address that drops packets costs 250 ms, not the budget. A single address costs
 * what a plain connect does: socket, connect, poll, getpeername, and two calls to
 * make the socket blocking and set TCP_NODELAY.
 *
 * The budget covers the name lookup too: a name that needs the system's resolver is
 * looked up on a short-lived helper thread, and the call returns #SK_ETIMEDOUT on
 * time even when the lookup hangs (the thread finishes on its own and frees what it
 * made; at most 500 such lookups run at once in a process, and a call beyond that
 * waits for a place within its budget). Numeric addresses and `"localhost"` start no
 * thread, nor does a budget of #SK_FOREVER; with a budget of 0, a name that needs a
 * lookup is #SK_ETIMEDOUT at once.
 *
 * #sk_tcp_connect_report says what each attempt did; #sk_tcp_connect_with also sets
 * the attempt delay.
 *
 * @param[out] conn   Receives the connected endpoint; set to NULL on failure.
 * @param host        Name or numeric address; not NULL, not empty.
 * @param port        1 to 65535.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK; #SK_EINVAL (NULL @p conn or @p host, empty @p host, port out of
 *         range, bad timeout); #SK_ENOTFOUND; #SK_ECONNREFUSED; #SK_ETIMEDOUT;
 *         #SK_EUNREACH; #SK_EMFILE; #SK_ENOMEM; #SK_EOS. When every attempt fails,
 *         the call returns the first attempt's code with its errno (as Go does: the
 *         first address is the one the system prefers); an attempt still running when
 *         the budget ends failed with #SK_ETIMEDOUT.
 */
SK_API int sk_tcp_connect(sk_tcp **conn, const char *host, int port, int timeout_ms);

/** @brief The attempt delay of Happy Eyeballs v2 unless told otherwise (RFC 8305), in ms. */
#define SK_CONNECT_DELAY_DEFAULT_MS 250

/**
 * @brief A cancel signal for calls that have no endpoint to cancel yet: a connect,
 *        its name lookup and its attempts (#sk_connect_options::cancel).
 *
 * Create one, give it to the calls it should be able to stop, and fire it from any
 * thread or a signal handler: every call watching it returns #SK_ECANCELED at once,
 * and every later one at once too (it stays fired). One signal may watch over many
 * calls, in many threads. Close it once no call uses it.
 */
typedef struct sk_cancel sk_cancel;

/**
 * @brief Make a cancel signal, not fired. It holds one descriptor (close-on-exec).
 * @param[out] cancel  Receives it; NULL on failure.
 * @return #SK_OK; #SK_EINVAL (NULL); #SK_ENOMEM; #SK_EMFILE; #SK_EOS.
 */
SK_API int sk_cancel_create(sk_cancel **cancel);

/**
 * @brief Fire the signal: the calls that watch it return #SK_ECANCELED. Callable from
 *        any thread and from a signal handler (async-signal-safe; keeps @c errno),
 *        any number of times.
 * @param cancel  The signal.
 * @return #SK_OK; #SK_EINVAL for NULL.
 */
SK_API int sk_cancel_fire(sk_cancel *cancel);

/**
 * @brief Whether the signal was fired.
 * @param cancel  The signal, or NULL.
 * @return 1 when fired, else 0 (also for NULL).
 */
SK_API int sk_cancel_fired(const sk_cancel *cancel);

/**
 * @brief Free the signal. No call may still watch it. NULL is a no-op.
 * @param cancel  The signal, or NULL.
 */
SK_API void sk_cancel_close(sk_cancel *cancel);

/** @brief The version of #sk_connect_options this header describes (2 added
 *         @c cancel). */
#define SK_CONNECT_OPTIONS_VERSION 2

/**
 * @brief Options of #sk_tcp_connect_with; versioned, so that it can grow.
 *
 * Start from #SK_CONNECT_OPTIONS_INIT, then set what you need: a later release may
 * add members at the end, under a new version number, and keeps reading a struct of
 * an older version as that version had it.
 */
typedef struct sk_connect_options {
    /** #SK_CONNECT_OPTIONS_VERSION (the version the caller was built with); 0 or a
     *  version newer than the library's is #SK_EINVAL. */
    unsigned version;
    /** Milliseconds between the starts of two attempts: 0 tries the addresses one at a
     *  time (each but the last with a share of what is left of the budget, at least 2 s
     *  where the budget allows, as the library did before Happy Eyeballs); else
     *  clamped to 100 .. 2000 as RFC 8305 says. Negative is #SK_EINVAL. */
    int attempt_delay_ms;
    /** Version 2: a signal that ends the connect with #SK_ECANCELED when fired, during
     *  the name lookup or the attempts (each attempt still running is reported with
     *  #SK_ECANCELED); NULL for none. Fired before the call, the call does nothing. */
    sk_cancel *cancel;
} sk_connect_options;

/** @brief The defaults: `sk_connect_options o = SK_CONNECT_OPTIONS_INIT;` */
#define SK_CONNECT_OPTIONS_INIT { SK_CONNECT_OPTIONS_VERSION, SK_CONNECT_DELAY_DEFAULT_MS, NULL }

/**
 * @brief One connect attempt, as #sk_tcp_connect_report reports it.
 *
 * Times are whole milliseconds from the start of the call. An attempt abandoned
 * because another one connected first has #SK_ECANCELED (sys_errno 0); one the budget
 * cut off has #SK_ETIMEDOUT (sys_errno @c ETIMEDOUT).
 *
 * When the name lookup fails, the report holds one entry with an empty @c addr (all
 * zero) and the call's code (#SK_ENOTFOUND, #SK_ETIMEDOUT when the budget ended
 * first, #SK_ECANCELED when #sk_connect_options::cancel fired, or #SK_ENOMEM); its @c sys_errno keeps getaddrinfo's detail: the `EAI_*` value (negative in
 * glibc, so never mistaken for an errno: `EAI_NONAME`, `EAI_AGAIN`, `EAI_FAIL`...), or
 * @c errno for `EAI_SYSTEM` and for a lookup the budget cut off.
 */
typedef struct sk_connect_attempt {
    sk_addr addr;   /**< The address tried. */
    int code;       /**< #SK_OK for the winner, else its SK_E* code. */
    int sys_errno;  /**< errno of that attempt, 0 if none. */
    int started_ms; /**< When it started, from the call's start. */
    int ended_ms;   /**< When it ended (or was abandoned), from the call's start. */
} sk_connect_attempt;

/**
 * @brief #sk_tcp_connect, reporting every attempt.
 *
 * Connects exactly as #sk_tcp_connect does and fills @p attempts with one entry per
 * attempt, in the order the attempts started (the interleaved order), successful or
 * not: the winner's entry has #SK_OK. The return value follows #sk_tcp_connect's rule.
 *
 * @param[out] conn   Receives the connected endpoint; set to NULL on failure.
 * @param host        Name or numeric address; not NULL, not empty.
 * @param port        1 to 65535.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @param[out] attempts Room for @p cap entries; may be NULL when @p cap is 0.
 * @param cap         Entries @p attempts has room for.
 * @param[out] count  Receives the number of attempts made, which may exceed @p cap
 *                    (only the first @p cap are stored); may be NULL.
 * @return As #sk_tcp_connect; #SK_EINVAL also for a NULL @p attempts with @p cap > 0.
 */
SK_API int sk_tcp_connect_report(sk_tcp **conn, const char *host, int port, int timeout_ms,
                                 sk_connect_attempt *attempts, size_t cap, size_t *count);

/**
 * @brief #sk_tcp_connect_report with options: the attempt delay.
 *
 * @param[out] conn   Receives the connected endpoint; set to NULL on failure.
 * @param host        Name or numeric address; not NULL, not empty.
 * @param port        1 to 65535.
 * @param opts        The options (#SK_CONNECT_OPTIONS_INIT, then changed), or NULL for
 *                    the defaults.
 * @param[out] attempts Room for @p cap entries; may be NULL when @p cap is 0.
 * @param cap         Entries @p attempts has room for.
 * @param[out] count  Receives the number of attempts made; may be NULL.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_tcp_connect_report; #SK_EINVAL also for a bad @p opts (version 0 or
 *         newer than the library's, a negative delay).
 */
SK_API int sk_tcp_connect_with(sk_tcp **conn, const char *host, int port, const sk_connect_options *opts,
                               sk_connect_attempt *attempts, size_t cap, size_t *count, int timeout_ms);

/**
 * @brief Listen for connections on @p host : @p port.
 *
 * @c SO_REUSEADDR is set, so a server can restart while old connections linger.
 * @p host NULL or `""` means every local address: one IPv6 socket with @c IPV6_V6ONLY
 * off (dual-stack) where the system has IPv6, else IPv4 only. A name that resolves to
 * several addresses uses the first IPv4 one, else the first (as Go does), so a server
 * on `"localhost"` answers clients that dial `127.0.0.1`. For an IPv6 address
 * @c IPV6_V6ONLY is set explicitly. Blocks only in the resolver.
 *
 * @param[out] listener  Receives the listening endpoint; set to NULL on failure.
 * @param host           Name, numeric address, or NULL / `""` for every address.
 * @param port           0 to 65535; 0 picks a free port (#sk_tcp_local_addr tells which).
 * @param backlog        Queue of pending connections, passed to the system as given
 *                       when positive; 0 or negative means @c SOMAXCONN.
 * @return #SK_OK; #SK_EINVAL; #SK_ENOTFOUND; #SK_EADDRINUSE; #SK_EMFILE; #SK_ENOMEM;
 *         #SK_EOS (e.g. @c EACCES for a privileged port, @c EADDRNOTAVAIL for an address
 *         that is not local).
 */
SK_API int sk_tcp_listen(sk_tcp **listener, const char *host, int port, int backlog);

/**
 * @brief #sk_tcp_listen with the options set before bind and listen: @c SO_REUSEPORT,
 *        @c IPV6_V6ONLY, @c IP_FREEBIND, @c TCP_FASTOPEN, and @c SO_REUSEADDR.
 *
 * With #sk_bind_options::reuse_port, several listeners (in one process or several, of
 * one user) take the same port and the kernel spreads new connections across them:
 * one accepting thread or process per listener, no shared accept queue.
 *
 * @param[out] listener  Receives the listener; set to NULL on failure.
 * @param host           As #sk_tcp_listen.
 * @param port           0 (the system picks) to 65535.
 * @param backlog        As #sk_tcp_listen.
 * @param opts           The options (#SK_BIND_OPTIONS_INIT, then changed), or NULL for
 *                       the defaults (then it is #sk_tcp_listen).
 * @return As #sk_tcp_listen; #SK_EINVAL also for bad @p opts; #SK_EOS with @c errno
 *         @c ENOPROTOOPT when the system lacks an option asked for.
 */
SK_API int sk_tcp_listen_with(sk_tcp **listener, const char *host, int port, int backlog,
                              const sk_bind_options *opts);

/**
 * @brief Accept one connection from a listening endpoint.
 *
 * A client that left before it was accepted (@c ECONNABORTED) is skipped and the call
 * waits for the next within the same budget. Out of descriptors gives #SK_EMFILE and
 * leaves the listener usable. Budget 0 makes one system call and never waits; a call
 * that waits costs a wait and an accept, as a blocking accept does. The connection has
 * @c TCP_NODELAY (a TCP listener carries it, and the system copies it to each
 * connection where it does; clear it on #sk_tcp_fd of the listener only before the
 * first accept, or the library will not notice).
 *
 * @param listener    A listening endpoint.
 * @param[out] conn   Receives the connected endpoint; set to NULL on failure.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK; #SK_EINVAL (NULL arguments, @p listener not listening, bad timeout);
 *         #SK_ETIMEDOUT; #SK_EMFILE; #SK_ENOMEM; #SK_EOS.
 */
SK_API int sk_tcp_accept(sk_tcp *listener, sk_tcp **conn, int timeout_ms);

/**
 * @brief Send all @p len bytes, or fail saying how many left.
 *
 * Blocks until every byte is handed to the system, the connection breaks, or
 * @p timeout_ms runs out. `len == 0` succeeds at once.
 *
 * @param conn        A connected endpoint.
 * @param buf         The bytes; may be NULL only when @p len is 0.
 * @param len         How many bytes to send.
 * @param[out] sent   Bytes handed to the system, on failure too; may be NULL.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK; #SK_ETIMEDOUT; #SK_ECONNRESET (reset or broken: @c ECONNRESET,
 *         @c EPIPE); #SK_ECLOSED (this end's sending half was shut down);
 *         #SK_EINVAL (NULL arguments, a listener, bad timeout); #SK_ENOMEM; #SK_EOS.
 */
SK_API int sk_tcp_send_all(sk_tcp *conn, const void *buf, size_t len, size_t *sent, int timeout_ms);

/**
 * @brief Receive exactly @p len bytes, or fail saying how many arrived.
 *
 * Blocks until all bytes arrived, the peer closed or reset the connection, or
 * @p timeout_ms ran out; the budget covers the whole call, not each system call.
 * `len == 0` succeeds at once.
 *
 * @param conn            A connected endpoint.
 * @param buf             Where the bytes go; may be NULL only when @p len is 0.
 * @param len             How many bytes to receive.
 * @param[out] received   Bytes stored in @p buf, on failure too; may be NULL.
 * @param timeout_ms      Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK; #SK_ETIMEDOUT; #SK_ECLOSED (end of stream first, or this end's
 *         receiving half was shut down); #SK_ECONNRESET; #SK_EINVAL; #SK_ENOMEM; #SK_EOS.
 */
SK_API int sk_tcp_recv_exact(sk_tcp *conn, void *buf, size_t len, size_t *received, int timeout_ms);

/**
 * @brief Send at least one byte and at most @p len: what the system takes in one go.
 *
 * Waits (within @p timeout_ms) only while no byte can be sent. `len == 0` succeeds at
 * once with `*sent == 0`.
 *
 * @param conn        A connected endpoint.
 * @param buf         The bytes; may be NULL only when @p len is 0.
 * @param len         At most this many bytes.
 * @param[out] sent   Bytes handed to the system (0 on failure); may be NULL.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_tcp_send_all.
 */
SK_API int sk_tcp_send(sk_tcp *conn, const void *buf, size_t len, size_t *sent, int timeout_ms);

/**
 * @brief Receive at least one byte and at most @p cap: what has arrived.
 *
 * Waits (within @p timeout_ms) only while nothing has arrived. At end of stream it
 * returns #SK_ECLOSED with `*received == 0`. `cap == 0` succeeds at once.
 *
 * @param conn            A connected endpoint.
 * @param buf             Where the bytes go; may be NULL only when @p cap is 0.
 * @param cap             Size of @p buf.
 * @param[out] received   Bytes stored (0 on failure); may be NULL.
 * @param timeout_ms      Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_tcp_recv_exact.
 */
SK_API int sk_tcp_recv(sk_tcp *conn, void *buf, size_t cap, size_t *received, int timeout_ms);

/**
 * @brief Send every byte of several buffers, in order, as one stream (a gather write).
 *
 * A header and a body leave in one system call where the system takes them at once;
 * a partial write that ends inside any buffer is resumed from that byte. No
 * allocation: at most 64 buffers go to each system call (more take more calls).
 *
 * @param conn        A connected endpoint.
 * @param iov         The buffers; may be NULL only when @p iovcnt is 0.
 * @param iovcnt      How many buffers.
 * @param[out] sent   Bytes handed to the system, counted across the buffers, on
 *                    failure too; may be NULL.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_tcp_send_all; #SK_EINVAL also when a buffer has a NULL @c base and a
 *         non-zero @c len, or the lengths add up past @c SIZE_MAX.
 */
SK_API int sk_tcp_send_allv(sk_tcp *conn, const sk_iovec *iov, size_t iovcnt, size_t *sent, int timeout_ms);

/**
 * @brief Send up to @p len bytes of a file or a pipe, without copying them through
 *        the program.
 *
 * A regular file goes through @c sendfile(2), a pipe through @c splice(2); any other
 * source (a socket, a terminal) is read and sent, 64 KiB at a time. The rules of
 * #sk_tcp_send_all hold: one budget for the whole call, and @p sent counts every
 * byte the connection took, on failure too. The call ends when @p len bytes went or
 * the source ended first: pass @c SIZE_MAX to send to the end. With a budget of 0 it
 * sends what the socket takes now (the socket is non-blocking for that call).
 *
 * @param conn        A connected stream (TCP or Unix).
 * @param fd          The source, open for reading; the call never closes it.
 * @param offset      Where in the file to start, leaving the file's position alone;
 *                    or -1: from its position, which then advances by what was sent
 *                    (the only choice for a pipe). A source read with -1 that cannot
 *                    seek back (a socket) loses what it gave and the connection did not
 *                    take, when the call fails.
 * @param len         Bytes to send at most.
 * @param[out] sent   Bytes the connection took; may be NULL.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER; a pipe or socket
 *                    with nothing to read yet is waited for within it.
 * @return #SK_OK once @p len bytes went, or the source ended (then @p sent is less
 *         than @p len); #SK_ETIMEDOUT; #SK_ECONNRESET; #SK_ECLOSED (this end was shut
 *         down); #SK_ECANCELED; #SK_EINVAL (NULL or a listener, @p fd negative,
 *         @p offset below -1, an offset in a pipe or another source that cannot
 *         seek); #SK_ENOMEM; #SK_EOS (the source failed: @c errno says why).
 */
SK_API int sk_tcp_sendfile(sk_tcp *conn, int fd, long long offset, size_t len, size_t *sent, int timeout_ms);

/**
 * @brief Move up to @p len bytes from one stream endpoint to another, without copying
 *        them through the program (a relay, a proxy).
 *
 * Bytes go from @p from to @p to through @c splice(2) and a pipe; where the system has
 * no @c splice or it refuses these sockets, through a copy loop (a receive and
 * #sk_tcp_send_all, 64 KiB at a time). What @p from had already read ahead into its
 * read buffer (#sk_tcp_recv_until, #sk_tcp_recv_slice) is the start of its stream and
 * goes first. The rules of #sk_tcp_send_all hold: one budget for the whole call, and
 * @p moved counts every byte that @p to took, on failure too. The call ends when
 * @p len bytes went or @p from reached its end of stream (pass @c SIZE_MAX to relay to
 * the end); it does not shut @p to down. With a budget of 0 it moves what both sockets
 * allow now (both are non-blocking for that call).
 *
 * The pipe belongs to @p from: its first call makes it (two descriptors, close-on-exec)
 * and grows @p from's read buffer to 64 KiB; #sk_tcp_close frees both. A failure loses
 * nothing: bytes taken from @p from that @p to did not take (those in the pipe when
 * @p to failed, timed out or was cancelled) are put back into @p from's read buffer,
 * where the next receive or splice on @p from finds them first, in order (a record
 * reader may then return a record longer than #SK_TCP_READ_BUFFER). So a relay that
 * timed out can simply be called again.
 *
 * @p from is used as a receiver and @p to as a sender (convention 10): another thread
 * may send on @p from or receive on @p to meanwhile, as a two-way relay does with one
 * thread per direction. @p from and @p to may be the same endpoint (an echo).
 *
 * @param from        A connected stream (TCP or Unix) to receive from.
 * @param to          A connected stream (TCP or Unix) to send to.
 * @param len         Bytes to move at most; @c SIZE_MAX: until the end of @p from's stream.
 * @param[out] moved  Bytes @p to took, on failure too; may be NULL.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER; waiting for @p from to
 *                    send and for @p to to take both count.
 * @return #SK_OK once @p len bytes went, or @p from's stream ended (then @p moved is less
 *         than @p len); #SK_ETIMEDOUT; #SK_ECONNRESET (either side reset or broke:
 *         @c errno tells); #SK_ECLOSED (@p to was shut down for sending); #SK_ECANCELED
 *         (either endpoint was cancelled); #SK_EINVAL (NULL, a listener, a bad timeout);
 *         #SK_ENOMEM (the read buffer could not grow; nothing was moved past what was
 *         read ahead); #SK_EOS.
 */
SK_API int sk_tcp_splice(sk_tcp *from, sk_tcp *to, size_t len, size_t *moved, int timeout_ms);

/**
 * @brief An endpoint for a stream socket the program was given: standard input under
 *        inetd or @c socat, a descriptor from systemd's socket activation or a parent.
 *
 * The endpoint works on its own duplicate of @p fd (close-on-exec), closed by
 * #sk_tcp_close; @p fd stays the caller's, to close or keep. A connected socket becomes
 * a connection, a listening one a listener, TCP or Unix. The duplicate shares the open
 * socket with @p fd, so what the library sets there holds for both: the blocking mode
 * (connections blocking, listeners non-blocking, as the library makes them) and the
 * socket timeouts; other holders of the socket must not rely on theirs.
 *
 * @param[out] conn  The new endpoint; NULL on failure.
 * @param fd         An open stream socket, IPv4, IPv6 or Unix.
 * @return #SK_OK; #SK_EINVAL (NULL @p conn, @p fd negative, not open, not a socket, not
 *         a stream, another family); #SK_EMFILE; #SK_ENOMEM; #SK_EOS.
 */
SK_API int sk_tcp_from_fd(sk_tcp **conn, int fd);

/**
 * @brief Receive one record that ends with the byte @p delim (a line, for @c '\\n').
 *
 * Reads ahead through the endpoint's read buffer (#SK_TCP_READ_BUFFER bytes, allocated
 * by the first call): one system call brings many short records, and what follows the
 * delimiter stays for the next call. #sk_tcp_recv and #sk_tcp_recv_exact take from that
 * buffer first, so the calls can be mixed. The record is stored with its delimiter.
 *
 * Every outcome says how many bytes were stored in @p buf, and those bytes are taken
 * from the stream:
 * - #SK_OK: a whole record, delimiter last;
 * - #SK_ETOOLONG: no delimiter within @p cap bytes; @p cap bytes of the record were
 *   stored, the rest of it comes with the next call;
 * - #SK_ETIMEDOUT, #SK_ECLOSED (end of stream), #SK_ECONNRESET: the part of the record
 *   that had arrived; to resume after a timeout, call again with the rest of @p buf.
 *
 * @param conn         A connected endpoint.
 * @param delim        The delimiter, a byte value 0 to 255.
 * @param buf          Where the record goes.
 * @param cap          Size of @p buf, at least 1.
 * @param[out] len     Bytes stored in @p buf, on failure too; may be NULL.
 * @param timeout_ms   Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK; #SK_ETOOLONG; #SK_ETIMEDOUT; #SK_ECLOSED; #SK_ECONNRESET; #SK_EINVAL
 *         (NULL @p conn or @p buf, @p cap 0, @p delim out of range, a listener, bad
 *         timeout); #SK_ENOMEM (the read buffer could not be allocated; nothing was
 *         read); #SK_EOS.
 */
SK_API int sk_tcp_recv_until(sk_tcp *conn, int delim, void *buf, size_t cap, size_t *len, int timeout_ms);

/**
 * @brief Receive one record that ends with @p delim without copying it: a pointer into
 *        the endpoint's read buffer (as Go's bufio.Reader.ReadSlice).
 *
 * The same read-ahead as #sk_tcp_recv_until (#SK_TCP_READ_BUFFER bytes, allocated by
 * the first call; the calls can be mixed), but the record stays where it was read:
 * @p *rec points at it, delimiter last, and stays valid until the next call that
 * receives on @p conn (#sk_tcp_recv_slice, #sk_tcp_recv_until, #sk_tcp_recv,
 * #sk_tcp_recv_exact, ...) or closes it. Copy what must live longer.
 *
 * What each outcome gives (@p *rec and @p *len describe bytes taken from the stream):
 * - #SK_OK: a whole record, delimiter last;
 * - #SK_ETOOLONG: no delimiter within #SK_TCP_READ_BUFFER bytes: those bytes, the
 *   start of a longer record; the rest of it comes with the next calls;
 * - #SK_ETIMEDOUT: nothing (@p *len 0). The part of the record that arrived stays in
 *   the buffer, so the next call goes on with the same record;
 * - #SK_ECLOSED (end of stream), #SK_ECONNRESET, #SK_EOS: the bytes after the last
 *   record that have no delimiter, possibly none.
 *
 * @param conn         A connected endpoint.
 * @param delim        The delimiter, a byte value 0 to 255.
 * @param[out] rec     Receives the record's address; NULL when @p *len is 0.
 * @param[out] len     Receives the record's length; 0 on failure unless said above.
 * @param timeout_ms   Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK; #SK_ETOOLONG; #SK_ETIMEDOUT; #SK_ECLOSED; #SK_ECONNRESET; #SK_EINVAL
 *         (NULL @p conn, @p rec or @p len, @p delim out of range, a listener, bad
 *         timeout); #SK_ENOMEM (the read buffer could not be allocated; nothing was
 *         read); #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_tcp_recv_slice(sk_tcp *conn, int delim, const void **rec, size_t *len, int timeout_ms);

/**
 * @brief Bytes already read from the system and waiting in the endpoint's read buffer.
 *
 * A program that waits with @c poll on #sk_tcp_fd must call #sk_tcp_recv_until (or
 * #sk_tcp_recv) while this is non-zero: those bytes will not make the descriptor
 * readable again. Never blocks.
 *
 * @param conn  A connected endpoint, or NULL (0).
 * @return The count; 0 for NULL, a listener, or an endpoint that never used the buffer.
 */
SK_API size_t sk_tcp_buffered(const sk_tcp *conn);

/**
 * @brief Shut down one or both halves of a connection.
 *
 * Callable from any thread while others send or receive: #SK_SHUT_RD wakes a blocked
 * receiver, which returns #SK_ECLOSED with its byte count; #SK_SHUT_WR makes a blocked
 * or later sender return #SK_ECLOSED and lets the peer see end of stream.
 * The endpoint still needs #sk_tcp_close. Never blocks.
 *
 * @param conn  A connected endpoint.
 * @param how   #SK_SHUT_RD, #SK_SHUT_WR or #SK_SHUT_RDWR.
 * @return #SK_OK; #SK_EINVAL (NULL, a listener, unknown @p how); #SK_EOS
 *         (e.g. @c ENOTCONN when the connection is already gone).
 */
SK_API int sk_tcp_shutdown(sk_tcp *conn, int how);

/**
 * @brief Cancel an endpoint: every call blocked on it returns #SK_ECANCELED now, and
 *        every later one at once; only #sk_tcp_close (or the closes of tcp_life) is left.
 *
 * Callable from any thread and from a signal handler (it is async-signal-safe and keeps
 * @c errno), on a connection or a listener, any number of times. A blocked transfer
 * returns #SK_ECANCELED with its byte count (what moved before the cancel), a blocked
 * #sk_tcp_accept returns #SK_ECANCELED, and an endpoint registered with a poller
 * comes out of the next #sk_poller_wait with #SK_POLL_CANCELED.
 *
 * How: a flag, then @c shutdown of both halves, which wakes the blocked system calls.
 * The descriptor is never closed under a blocked call (its number could be reused by
 * another thread's @c open before that call returns); #sk_tcp_close closes it. The
 * peer sees end of stream, as after #sk_tcp_shutdown with #SK_SHUT_RDWR; follow with
 * #sk_tcp_abort to send a reset instead of an orderly close. Data still unsent in the
 * endpoint's send buffer is still delivered (that is what a shutdown does).
 *
 * Calls that move data, wait, or change the endpoint (transfers, #sk_tcp_accept,
 * #sk_tcp_shutdown, the setters, #sk_tcp_close_graceful, which still frees) return
 * #SK_ECANCELED; the calls that only describe it (#sk_tcp_local_addr,
 * #sk_tcp_peer_addr, #sk_tcp_fd, #sk_tcp_buffered) still answer. The fast path pays
 * one memory load per call for this: no system call.
 *
 * @param t  A connection or a listener (not yet closed: cancel must not race with
 *           #sk_tcp_close).
 * @return #SK_OK; #SK_EINVAL for NULL.
 */
SK_API int sk_tcp_cancel(sk_tcp *t);

/**
 * @brief The local address of an endpoint (for a listener on port 0: the port picked).
 *
 * @param t          A connected or listening endpoint.
 * @param[out] addr  Receives the address; left empty on failure.
 * @return #SK_OK, #SK_EINVAL or #SK_EOS.
 */
SK_API int sk_tcp_local_addr(const sk_tcp *t, sk_addr *addr);

/**
 * @brief The address of the peer of a connected endpoint.
 *
 * @param conn       A connected endpoint.
 * @param[out] addr  Receives the address; left empty on failure.
 * @return #SK_OK; #SK_EINVAL (NULL, a listener); #SK_EOS (e.g. @c ENOTCONN after a reset).
 */
SK_API int sk_tcp_peer_addr(const sk_tcp *conn, sk_addr *addr);

/**
 * @brief The endpoint's descriptor, for @c poll or options the library lacks.
 *
 * The endpoint still owns it: do not close it, and do not change its blocking mode or
 * its @c SO_RCVTIMEO / @c SO_SNDTIMEO (the library relies on both).
 *
 * @param t  An endpoint.
 * @return The descriptor (>= 0), or #SK_EINVAL when @p t is NULL.
 */
SK_API int sk_tcp_fd(const sk_tcp *t);

/**
 * @brief Turn @c TCP_NODELAY on (the default for connected endpoints) or off.
 *
 * @param conn  A connected endpoint.
 * @param on    Non-zero to send small segments at once, 0 to let Nagle's algorithm
 *              coalesce them.
 * @return #SK_OK, #SK_EINVAL or #SK_EOS.
 */
SK_API int sk_tcp_set_nodelay(sk_tcp *conn, int on);

/**
 * @brief Ask for a send buffer of @p bytes (@c SO_SNDBUF); the kernel may adjust it.
 *
 * Linux doubles the request (for its bookkeeping) and clamps it to
 * @c net.core.wmem_max; #sk_tcp_get_send_buffer tells what it really set. On a
 * listener it is inherited by the connections it accepts. Works on Unix streams.
 *
 * @param t      A connection or a listener.
 * @param bytes  1 to @c INT_MAX / 2.
 * @return #SK_OK; #SK_EINVAL (NULL, @p bytes out of range); #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_tcp_set_send_buffer(sk_tcp *t, int bytes);
/** @brief As #sk_tcp_set_send_buffer, for the receive buffer (@c SO_RCVBUF,
 *         @c net.core.rmem_max). @param t A connection or a listener.
 *         @param bytes 1 to @c INT_MAX / 2. @return As #sk_tcp_set_send_buffer. */
SK_API int sk_tcp_set_recv_buffer(sk_tcp *t, int bytes);
/**
 * @brief The send buffer the kernel really has (@c SO_SNDBUF as it reads back).
 * @param t           An endpoint.
 * @param[out] bytes  Receives the size; 0 on failure.
 * @return #SK_OK; #SK_EINVAL (NULL); #SK_EOS.
 */
SK_API int sk_tcp_get_send_buffer(const sk_tcp *t, int *bytes);
/** @brief The receive buffer the kernel really has. @param t An endpoint.
 *  @param[out] bytes Receives the size; 0 on failure. @return As #sk_tcp_get_send_buffer. */
SK_API int sk_tcp_get_recv_buffer(const sk_tcp *t, int *bytes);

/**
 * @brief Keep at most @p bytes unsent in the kernel (@c TCP_NOTSENT_LOWAT): the
 *        endpoint is writable for the poller only while less than that waits to go.
 *
 * A server that multiplexes many clients (the chat example) uses it so that data
 * waits in its own queue, where it can still be dropped or merged, instead of in a
 * deep socket buffer; the kernel's send buffer then holds mostly data in flight.
 *
 * @param t      A TCP connection or listener (not a Unix stream).
 * @param bytes  The mark in bytes; 0: back to the system's default
 *               (@c net.ipv4.tcp_notsent_lowat).
 * @return #SK_OK; #SK_EINVAL (NULL, a Unix stream, negative); #SK_ECANCELED; #SK_EOS
 *         (@c ENOPROTOOPT where the system lacks it).
 */
SK_API int sk_tcp_set_notsent_lowat(sk_tcp *t, int bytes);

/**
 * @brief Mark outgoing packets with a DSCP value (the upper six bits of @c IP_TOS /
 *        @c IPV6_TCLASS; both on an IPv6 socket, which may carry IPv4).
 *
 * @param t     A TCP connection or listener (not a Unix stream).
 * @param dscp  0 to 63: 46 is Expedited Forwarding, 34 AF41, 8 CS1 (low priority).
 * @return #SK_OK; #SK_EINVAL (NULL, a Unix stream, out of range); #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_tcp_set_dscp(sk_tcp *t, int dscp);

/**
 * @brief Send and receive only through one network interface (@c SO_BINDTODEVICE), as
 *        VPN clients and multi-homed hosts need.
 *
 * Needs @c CAP_NET_RAW on older kernels (Linux before 5.7): #SK_EOS with @c errno
 * @c EPERM without it. For a connection, call it on the listener (inherited) or use
 * it before traffic flows.
 *
 * @param t       A TCP connection or listener (not a Unix stream).
 * @param ifname  The interface's name; NULL or `""` removes the binding.
 * @return #SK_OK; #SK_EINVAL (NULL, a Unix stream, a name longer than @c IFNAMSIZ - 1);
 *         #SK_ENOTFOUND (no such interface, @c errno @c ENODEV); #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_tcp_set_bind_device(sk_tcp *t, const char *ifname);

/**
 * @brief Set the packet mark (@c SO_MARK) that routing rules and firewalls match on.
 *
 * Needs @c CAP_NET_ADMIN: #SK_EOS with @c errno @c EPERM without it.
 *
 * @param t     A TCP connection or listener (not a Unix stream).
 * @param mark  Any 32-bit value; 0 is no mark.
 * @return #SK_OK; #SK_EINVAL (NULL, a Unix stream); #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_tcp_set_mark(sk_tcp *t, unsigned mark);

/**
 * @brief Turn TCP keepalive on with the given timings, or off. Off is the default.
 *
 * With keepalive on, a connection that has been silent for @p idle_s seconds gets a
 * probe every @p interval_s seconds; after @p count unanswered probes the system ends
 * it, and a blocked or later call returns #SK_ETIMEDOUT (or #SK_ECONNRESET when the
 * peer's host answers with a reset). Without it, a receiver whose peer vanished
 * without a word waits as long as its budget allows. #SK_KEEPALIVE_IDLE_S,
 * #SK_KEEPALIVE_INTERVAL_S and #SK_KEEPALIVE_COUNT are a preset (Go's defaults):
 * `sk_tcp_set_keepalive(conn, SK_KEEPALIVE_IDLE_S, SK_KEEPALIVE_INTERVAL_S, SK_KEEPALIVE_COUNT)`.
 *
 * Out-of-range values are refused before anything changes. The timings are set
 * before keepalive is turned on, so a failure part way leaves keepalive as it was.
 * Never blocks.
 *
 * @param conn        A connected endpoint.
 * @param idle_s      Seconds of silence before the first probe, 1 to 32767; 0 turns
 *                    keepalive off (@p interval_s and @p count are then not used, but
 *                    must not be negative).
 * @param interval_s  Seconds between probes, 1 to 32767.
 * @param count       Unanswered probes that end the connection, 1 to 127.
 * @return #SK_OK; #SK_EINVAL (NULL, a listener, a value out of range); #SK_EOS
 *         (@c errno @c ENOPROTOOPT where the system lacks @c TCP_KEEPIDLE,
 *         @c TCP_KEEPINTVL or @c TCP_KEEPCNT: nothing was changed; another @c errno
 *         from @c setsockopt).
 */
SK_API int sk_tcp_set_keepalive(sk_tcp *conn, int idle_s, int interval_s, int count);

/**
 * @brief Bound how long sent data may stay unacknowledged (@c TCP_USER_TIMEOUT).
 *
 * When data this end sent (or keepalive probes) stays unacknowledged for
 * @p timeout_ms, the system ends the connection and a blocked or later call returns
 * #SK_ETIMEDOUT. Without it the system retransmits for many minutes (about 15 on
 * Linux) before it gives up on a peer that vanished. With keepalive on, it also
 * bounds how long the probes may go unanswered. Never blocks.
 *
 * @param conn        A connected endpoint.
 * @param timeout_ms  Milliseconds, or 0 for the system's default behaviour.
 * @return #SK_OK; #SK_EINVAL (NULL, a listener, a negative @p timeout_ms); #SK_EOS
 *         (@c errno @c ENOPROTOOPT where the system lacks @c TCP_USER_TIMEOUT;
 *         another @c errno from @c setsockopt).
 */
SK_API int sk_tcp_set_user_timeout(sk_tcp *conn, int timeout_ms);

/**
 * @brief Close the endpoint and free it (its read buffer too). NULL is a no-op.
 *
 * Never blocks: unsent data is left to the system to deliver. If bytes from the peer
 * are still unread, though, the system sends a reset instead of an end of stream, and
 * the peer may lose what it had not read yet: a server that closes after its response
 * without reading the rest of the request should use #sk_tcp_close_graceful.
 * #sk_tcp_abort resets on purpose. @p t must not be used again, by any thread.
 *
 * @param t  An endpoint, or NULL.
 */
SK_API void sk_tcp_close(sk_tcp *t);

/**
 * @brief Close after the peer has read everything: end of stream, wait for the
 *        peer's, then close and free.
 *
 * Why it exists: closing a connection while bytes from the peer are still unread
 * makes the system send a reset instead of an end of stream, and a reset can destroy
 * the last response the peer has not read yet (a server that answers and closes
 * without reading the rest of a request, or a pipelined one, loses its answer this
 * way). This call shuts down the sending half (the peer sees end of stream after
 * every byte sent), then reads and discards whatever the peer still sends until its
 * end of stream, all within the one budget, then closes like #sk_tcp_close (leaving
 * its poller too). Bytes read ahead by #sk_tcp_recv_until are discarded as well.
 * After `sk_tcp_shutdown(conn, SK_SHUT_RD)` the receiving half reads as ended, so the
 * call returns #SK_OK without waiting for the peer.
 *
 * The endpoint is freed in every case, success or failure: @p conn must not be used
 * again, by any thread.
 *
 * @param conn        A connected endpoint; freed whatever the outcome. NULL is
 *                    #SK_EINVAL (nothing to free).
 * @param timeout_ms  Budget for the wait for the peer's end of stream, in
 *                    milliseconds, 0 (only what has already arrived), or
 *                    #SK_FOREVER.
 * @return #SK_OK (the peer closed in time); #SK_ETIMEDOUT (it had not, when the budget
 *         ran out: the connection was closed anyway, see #sk_tcp_close);
 *         #SK_ECONNRESET (the peer reset the connection); #SK_EINVAL (NULL, a
 *         listener, bad timeout; the endpoint is freed all the same); #SK_EOS
 *         (e.g. @c ENOTCONN: the connection was already gone).
 */
SK_API int sk_tcp_close_graceful(sk_tcp *conn, int timeout_ms);

/**
 * @brief Close with a reset now (@c SO_LINGER 0) and free. NULL is a no-op.
 *
 * Unsent data is dropped and the peer's next call fails with #SK_ECONNRESET
 * (@c ECONNRESET) instead of seeing an orderly end of stream: for a proxy that must
 * tell its client the transfer was cut short, or a server shedding load that must
 * not keep the connection in @c TIME_WAIT. Never blocks. @p conn must not be used
 * again, by any thread.
 *
 * @param conn  An endpoint, or NULL.
 */
SK_API void sk_tcp_abort(sk_tcp *conn);

SK_END_DECLS

/** @} */

#endif /* SOCKKIT_TCP_H */
