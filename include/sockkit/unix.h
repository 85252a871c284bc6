/**
 * @file sockkit/unix.h
 * @brief Unix domain sockets: streams and datagrams on a path or an abstract name,
 *        peer credentials, and descriptor passing.
 */
#ifndef SOCKKIT_UNIX_H
#define SOCKKIT_UNIX_H

#include "common.h"
#include "addr.h"
#include "tcp.h"
#include "udp.h"

/** @defgroup unix Unix domain sockets
 *  @brief Local streams and datagrams, with the same calls and guarantees as TCP and UDP.
 *
 *  A Unix stream connection or listener is an #sk_tcp (a stream endpoint): every
 *  stream call works on it unchanged (send_all, recv_exact, send, recv, send_allv,
 *  recv_until, shutdown, accept, the closes, the poller, timeouts, byte counts on
 *  failure). A Unix datagram endpoint is an #sk_udp: send, recv, sendto, recvfrom and
 *  the batches. The calls that mean TCP (#sk_tcp_set_nodelay, #sk_tcp_set_keepalive,
 *  #sk_tcp_set_user_timeout) return #SK_EINVAL on a Unix endpoint. Descriptors are
 *  close-on-exec, and every descriptor received is close-on-exec from the first instant
 *  (`MSG_CMSG_CLOEXEC`).
 *
 *  `SOCK_SEQPACKET` is not offered: its records need calls of their own (a stream
 *  endpoint's calls would cut and join them), and no user has asked for them yet.
 *
 *  **Names.** @p path is a file system path (relative or absolute; at most 107 bytes),
 *  or `@name` for Linux's abstract namespace (no file; gone with the last socket),
 *  or `""` for a name the kernel picks (an abstract name of 5 hex digits, the
 *  counterpart of port 0; read it with #sk_tcp_local_addr or #sk_udp_local_addr). A
 *  file whose name begins with `@` is written `./@x`. A name that does not fit is
 *  #SK_EINVAL, never cut short. Abstract names with NUL or other bytes a C string
 *  cannot carry are reached through #sk_addr (`unix:@a\x00b`) and #sk_udp_sendto.
 *
 *  **Socket files.** Listening or binding on a path that holds a socket file nobody
 *  listens on (a server that died) replaces it; a live one is #SK_EADDRINUSE; a file
 *  that is not a socket is #SK_EADDRINUSE and is never removed. #sk_tcp_close and
 *  #sk_udp_close remove the file their endpoint made, only if it is still that file (its
 *  inode): a newer server's socket at the same path stays. The file's permissions
 *  follow the umask unless #sk_unix_options sets them.
 *
 *  **Descriptor passing** (#sk_unix_send_fds, #sk_unix_recv_fds and, for datagrams,
 *  #sk_unix_dgram_send_fds, #sk_unix_dgram_recv_fds): up to #SK_UNIX_MAX_FDS descriptors
 *  travel with a message. The descriptors go with its first byte. A receiver that
 *  reads with a call without descriptors (#sk_tcp_recv...) does not get them: the
 *  kernel closes them, nothing leaks. Do not mix #sk_tcp_recv_until with descriptor
 *  passing: its read-ahead takes bytes without their descriptors.
 *  @{ */

/** @brief The most descriptors one message carries (Linux's @c SCM_MAX_FD). */
#define SK_UNIX_MAX_FDS 253

/** @brief The version of #sk_unix_options this header describes. */
#define SK_UNIX_OPTIONS_VERSION 1

/**
 * @brief Options of #sk_unix_listen_with and #sk_unix_dgram_bind_with; versioned, so
 *        that it can grow (start from #SK_UNIX_OPTIONS_INIT).
 */
typedef struct sk_unix_options {
    /** #SK_UNIX_OPTIONS_VERSION; 0 or newer than the library's is #SK_EINVAL. */
    unsigned version;
    /** Permission bits of the socket file (`0660`: owner and group may connect), set
     *  before the socket can take anyone; -1 leaves what the umask gave. Only for
     *  a path; anything but -1 or 0 .. 07777 is #SK_EINVAL. */
    int mode;
} sk_unix_options;

/** @brief The defaults: `sk_unix_options o = SK_UNIX_OPTIONS_INIT;` */
#define SK_UNIX_OPTIONS_INIT { SK_UNIX_OPTIONS_VERSION, -1 }

/**
 * @brief The credentials of the process at the other end of a Unix stream, as the
 *        kernel recorded them when the connection was made (`SO_PEERCRED`).
 */
typedef struct sk_peer_cred {
    long pid; /**< Process id. */
    long uid; /**< Effective user id. */
    long gid; /**< Effective group id. */
} sk_peer_cred;

/**
 * @brief Listen for stream connections on a Unix path or abstract name.
 *
 * @param[out] listener Receives the listener; NULL on failure. Accept with #sk_tcp_accept.
 * @param path          A path, `@name`, or `""` for a name the kernel picks; not NULL.
 * @param backlog       Queue length; 0 or less means @c SOMAXCONN.
 * @return #SK_OK; #SK_EINVAL (NULL, a name that does not fit); #SK_EADDRINUSE (a
 *         live listener there, a file that is not a socket, a taken abstract name);
 *         #SK_ENOTFOUND (no such directory, errno @c ENOENT); #SK_EOS (errno @c EACCES:
 *         no right to make the file);
 *         #SK_EMFILE, #SK_ENOMEM, #SK_EOS.
 */
SK_API int sk_unix_listen(sk_tcp **listener, const char *path, int backlog);

/**
 * @brief #sk_unix_listen with options (the socket file's mode).
 * @param[out] listener As #sk_unix_listen.
 * @param path          As #sk_unix_listen.
 * @param backlog       As #sk_unix_listen.
 * @param opts          #SK_UNIX_OPTIONS_INIT then changed, or NULL for the defaults.
 * @return As #sk_unix_listen; #SK_EINVAL also for bad @p opts.
 */
SK_API int sk_unix_listen_with(sk_tcp **listener, const char *path, int backlog, const sk_unix_options *opts);

/**
 * @brief Connect a stream to a Unix listener.
 *
 * A listener whose queue is full makes the call wait for room, within the budget.
 *
 * @param[out] conn   Receives the connection; NULL on failure.
 * @param path        A path or `@name`; not NULL, not empty.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK; #SK_ECONNREFUSED (a socket file nobody listens on, or an abstract
 *         name nobody holds); #SK_ENOTFOUND (no such file, errno @c ENOENT);
 *         #SK_ETIMEDOUT (the queue stayed full); #SK_EINVAL; #SK_EMFILE; #SK_EOS (errno
 *         @c EACCES: no right to the file).
 */
SK_API int sk_unix_connect(sk_tcp **conn, const char *path, int timeout_ms);

/**
 * @brief #sk_unix_connect with the connect options: a cancel (#sk_connect_options::cancel).
 *
 * A fired cancel ends the wait for room in a full queue with #SK_ECANCELED (fired
 * before the call, the call does nothing). With a cancel the wait is a poll() on it
 * between tries, 1 ms apart at first, doubling to 32 ms. The attempt delay is checked
 * and otherwise unused: a path is one address.
 *
 * @param[out] conn   As #sk_unix_connect.
 * @param path        As #sk_unix_connect.
 * @param opts        #SK_CONNECT_OPTIONS_INIT then changed, or NULL for the defaults.
 * @param timeout_ms  As #sk_unix_connect.
 * @return As #sk_unix_connect; #SK_ECANCELED; #SK_EINVAL also for bad @p opts.
 */
SK_API int sk_unix_connect_with(sk_tcp **conn, const char *path, const sk_connect_options *opts, int timeout_ms);

/**
 * @brief A Unix datagram endpoint bound to a path or abstract name.
 *
 * @param[out] udp Receives the endpoint; NULL on failure.
 * @param path     A path, `@name`, `""` for a name the kernel picks, or NULL for an
 *                 unnamed socket (it can send; nobody can answer it).
 * @return As #sk_unix_listen.
 */
SK_API int sk_unix_dgram_bind(sk_udp **udp, const char *path);

/**
 * @brief #sk_unix_dgram_bind with options (the socket file's mode).
 * @param[out] udp As #sk_unix_dgram_bind.
 * @param path     As #sk_unix_dgram_bind.
 * @param opts     #SK_UNIX_OPTIONS_INIT then changed, or NULL for the defaults.
 * @return As #sk_unix_dgram_bind; #SK_EINVAL also for bad @p opts.
 */
SK_API int sk_unix_dgram_bind_with(sk_udp **udp, const char *path, const sk_unix_options *opts);

/**
 * @brief A Unix datagram endpoint connected to the socket at @p path (#sk_udp_send,
 *        #sk_udp_recv).
 *
 * The endpoint gets a name the kernel picks (as #sk_unix_dgram_bind with `""`), so
 * that the peer can answer it, as a UDP client gets a port.
 *
 * @param[out] udp Receives the endpoint; NULL on failure.
 * @param path     A path or `@name`; not NULL, not empty.
 * @return #SK_OK; #SK_ECONNREFUSED (nobody there); #SK_ENOTFOUND (no such file);
 *         #SK_EINVAL, #SK_EMFILE, #SK_EOS.
 */
SK_API int sk_unix_dgram_connect(sk_udp **udp, const char *path);

/**
 * @brief The credentials of the peer of a Unix stream connection.
 * @param conn A connected Unix stream (accepted or connected).
 * @param[out] cred Receives pid, uid, gid; zeroed on failure.
 * @return #SK_OK; #SK_EINVAL (NULL, a listener, a TCP connection); #SK_EOS.
 */
SK_API int sk_unix_peer_cred(const sk_tcp *conn, sk_peer_cred *cred);

/**
 * @brief Send all of @p buf with descriptors attached to its first byte.
 *
 * The descriptors are duplicated into the receiving process when it receives; the
 * caller's stay open (close them when you no longer need them).
 *
 * @param conn       A connected Unix stream.
 * @param buf        At least one byte (the kernel carries descriptors only with data).
 * @param len        1 or more.
 * @param fds        @p nfds open descriptors; may be NULL when @p nfds is 0.
 * @param nfds       0 to #SK_UNIX_MAX_FDS.
 * @param[out] sent  Bytes sent, on failure too; may be NULL.
 * @param timeout_ms Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_tcp_send_all; #SK_EINVAL also for @p len 0, too many descriptors, a
 *         negative one, or a TCP connection; #SK_EOS with errno @c EBADF for a closed one.
 *         Once @p sent is not 0 the descriptors went with the first byte.
 */
SK_API int sk_unix_send_fds(sk_tcp *conn, const void *buf, size_t len, const int *fds, size_t nfds,
                            size_t *sent, int timeout_ms);

/**
 * @brief Receive some bytes (at least one, up to @p cap) and the descriptors that came
 *        with them.
 *
 * One call returns the descriptors of at most one message (the kernel does not merge
 * two senders' messages in one read). Every descriptor received is close-on-exec and
 * the caller's to close.
 *
 * @param conn          A connected Unix stream.
 * @param[out] buf      Room for @p cap bytes.
 * @param cap           1 or more.
 * @param[out] received Bytes received; may be NULL.
 * @param[out] fds      Room for @p fd_cap descriptors; may be NULL when @p fd_cap is 0.
 * @param fd_cap        Room in @p fds (more than #SK_UNIX_MAX_FDS is taken as that).
 * @param[out] nfds     Descriptors stored in @p fds; 0 on failure; may be NULL only
 *                      when @p fd_cap is 0.
 * @param timeout_ms    Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_tcp_recv; #SK_ETRUNCATED when more descriptors came than @p fd_cap
 *         holds: the bytes are delivered (@p received), every descriptor that came is
 *         closed and @p nfds is 0, so that nothing leaks.
 */
SK_API int sk_unix_recv_fds(sk_tcp *conn, void *buf, size_t cap, size_t *received, int *fds, size_t fd_cap,
                            size_t *nfds, int timeout_ms);

/**
 * @brief Send one datagram with descriptors.
 * @param udp        A Unix datagram endpoint.
 * @param buf        The datagram (may be empty: @p len 0, @p buf NULL).
 * @param len        Its length.
 * @param to         Destination (`unix:` address), or NULL for the connected peer.
 * @param fds        As #sk_unix_send_fds.
 * @param nfds       As #sk_unix_send_fds.
 * @param timeout_ms Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_udp_sendto; #SK_EINVAL also for too many or negative descriptors, or a
 *         UDP endpoint.
 */
SK_API int sk_unix_dgram_send_fds(sk_udp *udp, const void *buf, size_t len, const sk_addr *to, const int *fds,
                                  size_t nfds, int timeout_ms);

/**
 * @brief Receive one datagram and its descriptors.
 * @param udp           A Unix datagram endpoint.
 * @param[out] buf      Room for @p cap bytes (NULL when @p cap is 0).
 * @param cap           Room in @p buf.
 * @param[out] received Bytes stored; may be NULL.
 * @param[out] from     The sender; may be NULL; an unnamed sender is `unix:`.
 * @param[out] fds      As #sk_unix_recv_fds.
 * @param fd_cap        As #sk_unix_recv_fds.
 * @param[out] nfds     As #sk_unix_recv_fds.
 * @param timeout_ms    Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_udp_recvfrom; #SK_ETRUNCATED when the datagram was longer than @p cap
 *         (the first @p cap bytes are delivered) or more descriptors came than @p fd_cap
 *         holds: in both cases every descriptor that came is closed and @p nfds is 0.
 */
SK_API int sk_unix_dgram_recv_fds(sk_udp *udp, void *buf, size_t cap, size_t *received, sk_addr *from, int *fds,
                                  size_t fd_cap, size_t *nfds, int timeout_ms);

/** @} */

#endif /* SOCKKIT_UNIX_H */
