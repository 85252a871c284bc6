/**
 * @file sockkit/udp.h
 * @brief UDP endpoints: bound receivers and connected senders/receivers.
 */
#ifndef SOCKKIT_UDP_H
#define SOCKKIT_UDP_H

#include "common.h"
#include "addr.h"

/** @defgroup udp UDP
 *  @brief Datagram endpoints.
 *
 *  An #sk_udp is created by #sk_udp_bind (a receiving endpoint that can also send to
 *  any address) or #sk_udp_connect (bound to one peer: #sk_udp_send / #sk_udp_recv,
 *  and datagrams from others are filtered out by the system). Freed by #sk_udp_close.
 *  Timeouts, threads and descriptors follow the same rules as the @ref tcp group:
 *  one budget per call, @c 0 for "only what is possible now", #SK_FOREVER, @c EINTR
 *  retried with the time left, close-on-exec, no @c SIGPIPE.
 *
 *  A datagram larger than the receiving buffer is detected: the call stores the bytes
 *  that fit, says how many, and returns #SK_ETRUNCATED (the rest of that datagram is
 *  gone, as UDP does).
 *  @{ */

/** @brief A UDP endpoint. Opaque; see the @ref udp group. */
typedef struct sk_udp sk_udp;

/**
 * @brief One datagram of a batch (#sk_udp_send_batch, #sk_udp_recv_batch).
 *
 * Caller-allocated, in arrays; fixed layout. The caller fills @c buf and @c len (and
 * @c addr for sending); the library fills the rest.
 */
typedef struct sk_dgram {
    void *buf;         /**< Sending: the datagram (not written). Receiving: where it goes. */
    size_t len;        /**< Sending: its length. Receiving: the capacity of @c buf. */
    size_t received;   /**< Receiving: bytes stored in @c buf. */
    size_t full_len;   /**< Receiving: the datagram's real length (> @c received when truncated);
                            where the system does not tell it (no MSG_TRUNC on receive: macOS,
                            SOCKKIT_FORCE_FALLBACKS) @c received + 1 for a truncated one. */
    int truncated;     /**< Receiving: 1 when the datagram did not fit, else 0. */
    int reserved;      /**< Zero. */
    sk_addr addr;      /**< Sending: the destination, or empty for the connected peer.
                            Receiving: the source. */
} sk_dgram;

SK_BEGIN_DECLS

/**
 * @brief Create a UDP endpoint bound to @p host : @p port, to receive datagrams.
 *
 * @p host NULL or `""` means every local address (dual-stack where the system allows
 * it); a name uses its first IPv4 address if it has one, else its first address.
 * The endpoint can send to any address with #sk_udp_sendto.
 *
 * @param[out] udp  Receives the endpoint; set to NULL on failure.
 * @param host      Name, numeric address, or NULL / `""`.
 * @param port      0 to 65535; 0 picks a free port (#sk_udp_local_addr tells which).
 * @return #SK_OK; #SK_EINVAL; #SK_ENOTFOUND; #SK_EADDRINUSE; #SK_EMFILE; #SK_ENOMEM; #SK_EOS.
 */
SK_API int sk_udp_bind(sk_udp **udp, const char *host, int port);

/**
 * @brief #sk_udp_bind with the options set before bind: @c SO_REUSEADDR (several
 *        receivers of one multicast group on one port), @c SO_REUSEPORT (the kernel
 *        spreads datagrams across the endpoints by their source), @c IPV6_V6ONLY,
 *        @c IP_FREEBIND.
 *
 * @param[out] udp  Receives the endpoint; set to NULL on failure.
 * @param host      As #sk_udp_bind.
 * @param port      0 (the system picks) to 65535.
 * @param opts      The options (#SK_BIND_OPTIONS_INIT, then changed), or NULL for the
 *                  defaults (then it is #sk_udp_bind); @c fastopen must be 0.
 * @return As #sk_udp_bind; #SK_EINVAL also for bad @p opts; #SK_EOS with @c errno
 *         @c ENOPROTOOPT when the system lacks an option asked for.
 */
SK_API int sk_udp_bind_with(sk_udp **udp, const char *host, int port, const sk_bind_options *opts);

/**
 * @brief Create a UDP endpoint connected to @p host : @p port.
 *
 * Tries the addresses @p host resolves to until the system accepts one (UDP
 * "connecting" sends nothing; it fixes the peer): the first IPv4 address first, when
 * there is one, then the others in the system's order. That is the address
 * #sk_udp_bind and #sk_tcp_listen take for the same name, so a client and a server
 * that both use `"localhost"` meet whether it stands for 127.0.0.1 alone or for
 * 127.0.0.1 and ::1 (UDP cannot find out which address answers). A numeric host is
 * used as given. A later #sk_udp_recv may return
 * #SK_ECONNREFUSED when the peer's port is closed (an ICMP message says so).
 *
 * @param[out] udp  Receives the endpoint; set to NULL on failure.
 * @param host      Name or numeric address; not NULL, not empty.
 * @param port      1 to 65535.
 * @return #SK_OK; #SK_EINVAL; #SK_ENOTFOUND; #SK_EUNREACH; #SK_EMFILE; #SK_ENOMEM; #SK_EOS.
 */
SK_API int sk_udp_connect(sk_udp **udp, const char *host, int port);

/**
 * @brief Send one datagram to @p to.
 *
 * An IPv4 @p to works on a dual-stack endpoint. Waits (within @p timeout_ms) only while
 * the system has no buffer space. `len == 0` sends an empty datagram.
 *
 * @param udp         An endpoint from #sk_udp_bind (or #sk_udp_connect, where @p to must
 *                    be its peer).
 * @param buf         The datagram; may be NULL only when @p len is 0.
 * @param len         Its length.
 * @param to          The destination.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK; #SK_EMSGSIZE; #SK_ETIMEDOUT; #SK_EUNREACH; #SK_ECONNREFUSED (an earlier
 *         datagram met a closed port); #SK_EINVAL (NULL arguments, empty @p to, a family
 *         the endpoint cannot reach); #SK_ENOMEM; #SK_EOS.
 */
SK_API int sk_udp_sendto(sk_udp *udp, const void *buf, size_t len, const sk_addr *to, int timeout_ms);

/**
 * @brief Receive one datagram and the address it came from.
 *
 * @param udp             An endpoint.
 * @param buf             Where the datagram goes; may be NULL only when @p cap is 0.
 * @param cap             Size of @p buf.
 * @param[out] received   Bytes stored in @p buf, also with #SK_ETRUNCATED (then @p cap);
 *                        0 on other failures; may be NULL.
 * @param[out] from       Receives the sender's address, also with #SK_ETRUNCATED; may be NULL.
 * @param timeout_ms      Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK; #SK_ETRUNCATED; #SK_ETIMEDOUT; #SK_ECONNREFUSED (connected endpoint,
 *         closed peer port); #SK_EINVAL; #SK_ENOMEM; #SK_EOS.
 */
SK_API int sk_udp_recvfrom(sk_udp *udp, void *buf, size_t cap, size_t *received, sk_addr *from, int timeout_ms);

/**
 * @brief Send one datagram to the peer of a connected endpoint.
 *
 * @param udp         An endpoint from #sk_udp_connect.
 * @param buf         The datagram; may be NULL only when @p len is 0.
 * @param len         Its length.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_udp_sendto; #SK_EINVAL for an endpoint that is not connected.
 */
SK_API int sk_udp_send(sk_udp *udp, const void *buf, size_t len, int timeout_ms);

/**
 * @brief Receive one datagram from the peer of a connected endpoint.
 *
 * @param udp             An endpoint from #sk_udp_connect (a bound one works too and
 *                          takes datagrams from anyone).
 * @param buf             Where the datagram goes; may be NULL only when @p cap is 0.
 * @param cap             Size of @p buf.
 * @param[out] received   As in #sk_udp_recvfrom; may be NULL.
 * @param timeout_ms      Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_udp_recvfrom.
 */
SK_API int sk_udp_recv(sk_udp *udp, void *buf, size_t cap, size_t *received, int timeout_ms);

/**
 * @brief Send several datagrams with as few system calls as the system allows
 *        (@c sendmmsg, up to 64 messages each), and on Linux as few messages as it
 *        allows (@c UDP_SEGMENT).
 *
 * Waits (within @p timeout_ms) only while the system has no buffer space. Stops at the
 * first datagram that fails and says how many left before it.
 *
 * Where the kernel has segmentation offload (Linux 4.18, asked once per endpoint), a
 * run of consecutive datagrams to the same destination (equal @c addr) and of the
 * same length, of which the last may be shorter, goes as one message that the system
 * cuts back into those datagrams (at most 64 of them and 65507 bytes a message): the
 * receiver gets the same datagrams, in the same order, as without it. Where the
 * kernel refuses the offload for the endpoint, its datagrams are sent again
 * without it, and later batches go without it (after an @c EMSGSIZE, only datagrams
 * of that length or longer: the route's MTU is below them). Nothing else changes: a
 * failed message reports the count of the datagrams before its first one.
 *
 * @param udp         An endpoint.
 * @param msgs        The datagrams: @c buf, @c len and @c addr of each are read (an empty
 *                    @c addr means the connected peer).
 * @param count       How many; 0 succeeds at once.
 * @param[out] sent   Datagrams sent, on failure too (the failing one is @c msgs[*sent]);
 *                    may be NULL.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return As #sk_udp_sendto.
 */
SK_API int sk_udp_send_batch(sk_udp *udp, const sk_dgram *msgs, size_t count, size_t *sent, int timeout_ms);

/**
 * @brief Receive up to @p count datagrams (at most 64 a call): waits for the first,
 *        then takes those that are already there (@c recvmmsg with @c MSG_WAITFORONE).
 *
 * The budget is kept by the library, not by @c recvmmsg's own timeout argument (which
 * is checked only after a datagram arrives). A truncated datagram is not an error
 * here: its @c truncated flag is set, @c received holds the bytes kept and
 * @c full_len its real length.
 *
 * @param udp             An endpoint.
 * @param msgs            Datagram slots: @c buf and @c len of each are read; @c received,
 *                        @c full_len, @c truncated and @c addr are written for the first
 *                        @c *received slots.
 * @param count           How many slots; 0 succeeds at once.
 * @param[out] received   Datagrams received (0 on failure); may be NULL.
 * @param timeout_ms      Budget in milliseconds, 0, or #SK_FOREVER.
 * With #sk_udp_set_gro on, each slot still gets one datagram: what the system
 * delivered coalesced is cut into its datagrams here, and those that do not fit in
 * this call's slots are kept for the next receive (with no system call then).
 *
 * @return #SK_OK (at least one datagram); #SK_ETIMEDOUT; #SK_ECONNREFUSED; #SK_EINVAL;
 *         #SK_ENOMEM; #SK_EOS.
 */
SK_API int sk_udp_recv_batch(sk_udp *udp, sk_dgram *msgs, size_t count, size_t *received, int timeout_ms);

/**
 * @brief The local address of the endpoint (for port 0: the port picked).
 *
 * @param udp        An endpoint.
 * @param[out] addr  Receives the address; left empty on failure.
 * @return #SK_OK, #SK_EINVAL or #SK_EOS.
 */
SK_API int sk_udp_local_addr(const sk_udp *udp, sk_addr *addr);

/**
 * @brief The endpoint's descriptor, for @c poll or options the library lacks.
 *
 * The endpoint still owns it: do not close it or change its blocking mode or timeouts.
 *
 * @param udp  An endpoint.
 * @return The descriptor (>= 0), or #SK_EINVAL when @p udp is NULL.
 */
SK_API int sk_udp_fd(const sk_udp *udp);

/**
 * @brief Ask for a send buffer of @p bytes (@c SO_SNDBUF); as #sk_tcp_set_send_buffer.
 * @param u      An endpoint (Unix datagram endpoints too).
 * @param bytes  1 to @c INT_MAX / 2.
 * @return #SK_OK; #SK_EINVAL; #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_udp_set_send_buffer(sk_udp *u, int bytes);
/**
 * @brief Ask for a receive buffer of @p bytes (@c SO_RCVBUF): how many datagrams
 *        can wait before the kernel drops new ones. As #sk_tcp_set_recv_buffer.
 * @param u      An endpoint.
 * @param bytes  1 to @c INT_MAX / 2.
 * @return #SK_OK; #SK_EINVAL; #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_udp_set_recv_buffer(sk_udp *u, int bytes);
/** @brief The send buffer the kernel really has. @param u An endpoint.
 *  @param[out] bytes Receives the size; 0 on failure. @return #SK_OK, #SK_EINVAL or #SK_EOS. */
SK_API int sk_udp_get_send_buffer(const sk_udp *u, int *bytes);
/** @brief The receive buffer the kernel really has. @param u An endpoint.
 *  @param[out] bytes Receives the size; 0 on failure. @return #SK_OK, #SK_EINVAL or #SK_EOS. */
SK_API int sk_udp_get_recv_buffer(const sk_udp *u, int *bytes);
/**
 * @brief Mark outgoing datagrams with a DSCP value; as #sk_tcp_set_dscp.
 * @param u     An IPv4 or IPv6 endpoint.
 * @param dscp  0 to 63.
 * @return #SK_OK; #SK_EINVAL (NULL, a Unix endpoint, out of range); #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_udp_set_dscp(sk_udp *u, int dscp);
/**
 * @brief Send and receive only through one interface (@c SO_BINDTODEVICE); as
 *        #sk_tcp_set_bind_device.
 * @param u       An IPv4 or IPv6 endpoint.
 * @param ifname  The interface's name; NULL or `""` removes the binding.
 * @return #SK_OK; #SK_EINVAL; #SK_ENOTFOUND (@c errno @c ENODEV); #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_udp_set_bind_device(sk_udp *u, const char *ifname);
/**
 * @brief Set the packet mark (@c SO_MARK); as #sk_tcp_set_mark (needs @c CAP_NET_ADMIN).
 * @param u     An IPv4 or IPv6 endpoint.
 * @param mark  Any 32-bit value.
 * @return #SK_OK; #SK_EINVAL; #SK_ECANCELED; #SK_EOS (@c EPERM without the capability).
 */
SK_API int sk_udp_set_mark(sk_udp *u, unsigned mark);

/**
 * @brief Receive datagrams coalesced by the system (@c UDP_GRO, Linux 5.0), and
 *        hand them out one by one.
 *
 * With it on, the system may deliver several datagrams of one sender (on loopback:
 * those sent as one #sk_udp_send_batch run) as one buffer; #sk_udp_recv_batch,
 * #sk_udp_recv and #sk_udp_recvfrom cut it back into those datagrams, each with its
 * length and sender, so no call ever returns a coalesced buffer. One system call
 * then takes up to 8 such buffers (each up to 64 datagrams), and a coalesced buffer
 * takes far less of the receive buffer than its datagrams apart: a burst that
 * would overflow it loses less. A datagram larger than the caller's buffer is
 * #SK_ETRUNCATED (or flagged, in a batch) as without GRO.
 *
 * The first call with @p on set allocates the endpoint's receive area (512 KiB,
 * freed by #sk_udp_close); from then on every receive copies out of it, even after
 * GRO is turned off again (buffers the system coalesced before stay so). Receives
 * take datagrams already held first, without a system call; a poller reports an
 * endpoint that holds some as readable. Call it from the receiving thread, or when
 * no receive runs.
 *
 * @param u   An IPv4 or IPv6 endpoint.
 * @param on  Non-zero to receive coalesced buffers, 0 to stop.
 * @return #SK_OK; #SK_EINVAL (NULL, a Unix endpoint); #SK_ENOMEM; #SK_ECANCELED;
 *         #SK_EOS (@c errno @c ENOPROTOOPT where the system lacks it).
 */
SK_API int sk_udp_set_gro(sk_udp *u, int on);

/**
 * @brief Join a multicast group: datagrams sent to it (at the endpoint's port) arrive.
 *
 * The endpoint is bound (#sk_udp_bind) to the group's port, usually on every address
 * (host NULL) or on the group's own address. Joins are per interface: join once per
 * interface to listen on several. A group is joined once per endpoint and interface;
 * the system caps how many one socket joins (Linux: 20 IPv4 groups by default,
 * @c net.ipv4.igmp_max_memberships). An IPv6 endpoint that takes IPv4 too (bound to
 * every address) joins IPv4 groups as well.
 *
 * @param u       An IPv4 or IPv6 endpoint (not a Unix one).
 * @param group   A numeric multicast address: `"239.1.2.3"`, `"ff12::1234"`.
 * @param ifname  The interface by name (`"eth0"`) or by index in decimal (`"2"`);
 *                NULL or `""`: the one the system's routes pick.
 * @return #SK_OK; #SK_EINVAL (NULL @p u, a Unix endpoint, @p group not a numeric
 *         multicast address or of a family the socket cannot take); #SK_ENOTFOUND
 *         (no such interface; @c errno @c ENODEV); #SK_EADDRINUSE (already joined
 *         there); #SK_ECANCELED; #SK_EOS (e.g. @c ENOBUFS: too many groups).
 */
SK_API int sk_udp_join(sk_udp *u, const char *group, const char *ifname);

/**
 * @brief Leave a group joined with #sk_udp_join: its datagrams stop arriving.
 *
 * Datagrams already queued stay and are received. Closing the endpoint leaves every
 * group it joined.
 *
 * @param u       The endpoint.
 * @param group   The group, as given to #sk_udp_join.
 * @param ifname  The interface it was joined on (NULL or `""` as then).
 * @return #SK_OK; #SK_EINVAL also when the group was not joined there (@c errno
 *         @c EADDRNOTAVAIL); otherwise as #sk_udp_join.
 */
SK_API int sk_udp_leave(sk_udp *u, const char *group, const char *ifname);

/**
 * @brief Join a group for the datagrams of one source only (source-specific
 *        multicast, RFC 4607: IGMPv3 / MLDv2).
 *
 * May be called for several sources of one group. Mixing it with #sk_udp_join for the
 * same group and interface is #SK_EINVAL (the system refuses it).
 *
 * @param u       An IPv4 or IPv6 endpoint.
 * @param group   A numeric multicast address (232.0.0.0/8 and ff3x:: are the SSM ranges,
 *                but any group works).
 * @param source  The sender's numeric unicast address, of the group's family.
 * @param ifname  As for #sk_udp_join.
 * @return As #sk_udp_join; #SK_EINVAL also for a NULL, multicast or other-family
 *         @p source.
 */
SK_API int sk_udp_join_source(sk_udp *u, const char *group, const char *source, const char *ifname);

/**
 * @brief Stop receiving one source of a group joined with #sk_udp_join_source.
 *
 * @param u       The endpoint.
 * @param group   The group, as given to #sk_udp_join_source.
 * @param source  The source, as given then.
 * @param ifname  The interface, as given then.
 * @return As #sk_udp_leave.
 */
SK_API int sk_udp_leave_source(sk_udp *u, const char *group, const char *source, const char *ifname);

/**
 * @brief How many routers a multicast datagram sent by this endpoint may cross: the
 *        IPv4 TTL or the IPv6 hop limit (both on a dual-stack endpoint).
 *
 * The system's default is 1: the local network only. 0 keeps datagrams on this host.
 *
 * @param u    An IPv4 or IPv6 endpoint.
 * @param ttl  0 to 255.
 * @return #SK_OK; #SK_EINVAL (a Unix endpoint, @p ttl out of range); #SK_ECANCELED;
 *         #SK_EOS.
 */
SK_API int sk_udp_set_multicast_ttl(sk_udp *u, int ttl);

/**
 * @brief Whether multicast datagrams this endpoint sends are also delivered to this
 *        host's own members of the group (on by default).
 *
 * @param u   An IPv4 or IPv6 endpoint.
 * @param on  Non-zero: delivered here too; 0: only to other hosts.
 * @return #SK_OK; #SK_EINVAL (a Unix endpoint); #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_udp_set_multicast_loop(sk_udp *u, int on);

/**
 * @brief The interface multicast datagrams leave by (by default the one the routes
 *        pick for the group).
 *
 * @param u       An IPv4 or IPv6 endpoint.
 * @param ifname  By name or by index in decimal; NULL or `""`: back to the default.
 * @return #SK_OK; #SK_EINVAL (a Unix endpoint); #SK_ENOTFOUND (no such interface,
 *         @c errno @c ENODEV); #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_udp_set_multicast_if(sk_udp *u, const char *ifname);

/**
 * @brief Allow (or forbid again) sending to a broadcast address (@c SO_BROADCAST).
 *
 * Without it, a datagram to a broadcast address (`255.255.255.255`, or a subnet's
 * last address such as `192.168.1.255`) fails with #SK_EOS (@c errno @c EACCES).
 * Receiving broadcasts needs nothing: an endpoint bound to every address (host NULL)
 * on the port gets them.
 *
 * @param u   An IPv4 or IPv6 (dual-stack) endpoint.
 * @param on  Non-zero to allow, 0 to forbid (the default).
 * @return #SK_OK; #SK_EINVAL (NULL, a Unix endpoint); #SK_ECANCELED; #SK_EOS.
 */
SK_API int sk_udp_set_broadcast(sk_udp *u, int on);

/**
 * @brief Cancel an endpoint: every call blocked on it returns #SK_ECANCELED now, and
 *        every later one at once; only #sk_udp_close is left.
 *
 * Callable from any thread and from a signal handler (async-signal-safe; keeps
 * @c errno), any number of times. As #sk_tcp_cancel: a flag, then @c shutdown, which
 * wakes a blocked receive or send (on Linux also for an unconnected socket); the
 * descriptor stays open until #sk_udp_close. A poller reports the endpoint with
 * #SK_POLL_CANCELED. #sk_udp_local_addr and #sk_udp_fd still answer.
 *
 * @param u  An endpoint (not yet closed: cancel must not race with #sk_udp_close).
 * @return #SK_OK; #SK_EINVAL for NULL.
 */
SK_API int sk_udp_cancel(sk_udp *u);

/**
 * @brief Close the endpoint and free it. NULL is a no-op.
 *
 * @param udp  An endpoint, or NULL.
 */
SK_API void sk_udp_close(sk_udp *udp);

SK_END_DECLS

/** @} */

#endif /* SOCKKIT_UDP_H */
