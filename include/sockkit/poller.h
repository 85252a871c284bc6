/**
 * @file sockkit/poller.h
 * @brief Readiness of many endpoints at once: one thread serving many sockets.
 */
#ifndef SOCKKIT_POLLER_H
#define SOCKKIT_POLLER_H

#include "common.h"
#include "tcp.h"
#include "udp.h"

/** @defgroup poller Poller
 *  @brief Wait until any of many endpoints can be read or written.
 *
 *  A program registers #sk_tcp (connected or listening) and #sk_udp endpoints with the
 *  events it wants and a pointer of its own, then calls #sk_poller_wait in a loop and,
 *  for each event, makes the endpoint's calls with @c timeout_ms 0: each does what is
 *  possible now in one system call (#sk_tcp_recv, #sk_tcp_send, #sk_tcp_accept,
 *  #sk_udp_recvfrom, ...), returning #SK_ETIMEDOUT when nothing can be done.
 *
 *  Readiness is level-triggered: an endpoint is reported for as long as it can be read
 *  (or written), so a loop may take only part of what is there. Bytes that
 *  #sk_tcp_recv_until read ahead count as readable, although the descriptor is not.
 *
 *  **Removing and closing inside the loop.** #sk_poller_del_tcp / #sk_poller_del_udp, and #sk_tcp_close or
 *  #sk_udp_close of a registered endpoint (which removes it), also cancel that
 *  endpoint's events still waiting in the array the last #sk_poller_wait filled: their
 *  @c tcp and @c udp become NULL and their @c events 0. A loop that skips events with
 *  @c events == 0 is never handed a freed endpoint, even one closed while handling an
 *  earlier event of the same batch. For this the array given to the last wait must
 *  stay valid until the next #sk_poller_wait or #sk_poller_close of that poller: keep
 *  it beside the poller, not on the stack of a function that returns.
 *
 *  **Threads.** A poller, and the registration and closing of its endpoints, belong to
 *  one thread. #sk_poller_wake is the exception: any thread, or a signal handler, may
 *  call it.
 *
 *  **Backends.** On Linux the poller uses @c epoll; elsewhere (or when the library is
 *  built with @c SOCKKIT_POLLER=poll) it uses @c poll. Both behave the same.
 *
 *  **Memory.** With @c epoll the poller holds a fixed 3 KiB buffer and nothing per
 *  endpoint (the kernel keeps about 160 bytes per registered descriptor); each
 *  endpoint carries its registration (104 bytes on 64-bit systems, inside the endpoint). With @c poll the
 *  poller holds 16 bytes per registered endpoint, in an array that grows by doubling in
 *  #sk_poller_add_tcp / #sk_poller_add_udp. #sk_poller_wait never allocates.
 *  @{ */

/** @brief Readable: data, end of stream, or (listener) a connection to accept. */
#define SK_POLL_IN 0x1u
/** @brief Writable: buffer space to send. */
#define SK_POLL_OUT 0x2u
/** @brief The peer hung up, or shut down its sending half: no more data will come,
 *         although it may still read (reported whether asked for or not). */
#define SK_POLL_HUP 0x4u
/** @brief An error is pending on the endpoint; the next call reports it (reported
 *         whether asked for or not). */
#define SK_POLL_ERR 0x8u
/** @brief Not an endpoint's event: #sk_poller_wake was called. */
#define SK_POLL_WAKE 0x10u
/** @brief The endpoint was cancelled (#sk_tcp_cancel, #sk_udp_cancel): its calls return
 *         #SK_ECANCELED; close it (reported whether asked for or not, with the
 *         hang-up bits the cancel's shutdown raised). */
#define SK_POLL_CANCELED 0x20u

/** @brief A set of endpoints to wait on. Opaque; see the @ref poller group. */
typedef struct sk_poller sk_poller;

/** @brief One event, filled by #sk_poller_wait in a caller's array. */
typedef struct sk_event {
    sk_tcp *tcp;      /**< The TCP endpoint, or NULL (a UDP endpoint, a wake-up, a cancelled event). */
    sk_udp *udp;      /**< The UDP endpoint, or NULL. */
    void *data;       /**< The pointer given when the endpoint was added or modified. */
    unsigned events;  /**< SK_POLL_* bits; 0 for an event cancelled after the wait returned. */
    unsigned reserved; /**< Zero. */
} sk_event;

SK_BEGIN_DECLS

/**
 * @brief Create a poller.
 *
 * @param[out] poller  Receives the poller; set to NULL on failure.
 * @return #SK_OK, #SK_EINVAL (NULL @p poller), #SK_EMFILE, #SK_ENOMEM or #SK_EOS.
 */
SK_API int sk_poller_create(sk_poller **poller);

/**
 * @brief Watch a TCP endpoint for @p events.
 *
 * @param poller  The poller.
 * @param t       A connected or listening endpoint not registered with any poller.
 * @param events  #SK_POLL_IN and/or #SK_POLL_OUT, or 0 to watch only for hang-up and
 *                errors (reading paused, say).
 * @param data    Any pointer, handed back in each of its events.
 * @return #SK_OK; #SK_EINVAL (NULL, unknown bits, already registered); #SK_ENOMEM; #SK_EOS.
 */
SK_API int sk_poller_add_tcp(sk_poller *poller, sk_tcp *t, unsigned events, void *data);

/**
 * @brief Change what a registered TCP endpoint is watched for, and its pointer.
 *
 * @param poller  The poller.
 * @param t       An endpoint registered with @p poller.
 * @param events  As for #sk_poller_add_tcp.
 * @param data    The new pointer.
 * @return #SK_OK; #SK_EINVAL (NULL, unknown bits, not registered with this poller); #SK_EOS.
 */
SK_API int sk_poller_mod_tcp(sk_poller *poller, sk_tcp *t, unsigned events, void *data);

/**
 * @brief Stop watching a TCP endpoint; its events still waiting in the last batch are
 *        cancelled (see the group's text). The endpoint stays open.
 *
 * @param poller  The poller.
 * @param t       An endpoint registered with @p poller.
 * @return #SK_OK; #SK_EINVAL (NULL, not registered with this poller).
 */
SK_API int sk_poller_del_tcp(sk_poller *poller, sk_tcp *t);

/**
 * @brief As #sk_poller_add_tcp, for a UDP endpoint.
 *
 * @param poller  The poller.
 * @param u       An endpoint not registered with any poller.
 * @param events  #SK_POLL_IN and/or #SK_POLL_OUT, or 0.
 * @param data    Any pointer, handed back in each of its events.
 * @return As #sk_poller_add_tcp.
 */
SK_API int sk_poller_add_udp(sk_poller *poller, sk_udp *u, unsigned events, void *data);
/**
 * @brief As #sk_poller_mod_tcp, for a UDP endpoint.
 *
 * @param poller  The poller.
 * @param u       An endpoint registered with @p poller.
 * @param events  As for #sk_poller_add_udp.
 * @param data    The new pointer.
 * @return As #sk_poller_mod_tcp.
 */
SK_API int sk_poller_mod_udp(sk_poller *poller, sk_udp *u, unsigned events, void *data);
/**
 * @brief As #sk_poller_del_tcp, for a UDP endpoint.
 *
 * @param poller  The poller.
 * @param u       An endpoint registered with @p poller.
 * @return As #sk_poller_del_tcp.
 */
SK_API int sk_poller_del_udp(sk_poller *poller, sk_udp *u);

/**
 * @brief Wait until registered endpoints are ready, and say which.
 *
 * Fills @p events with up to @p cap events (at most 256 a call), one per ready endpoint.
 * When more endpoints are ready than there is room for, the others come in the next
 * waits: none starves.
 * A wake-up (#sk_poller_wake) comes as one event with @c events #SK_POLL_WAKE and no
 * endpoint, among any others; several wake-ups before a wait come as one.
 * @c EINTR is retried with what is left of the budget.
 *
 * @param poller      The poller.
 * @param events      The caller's array; valid until the next wait (the poller marks
 *                    cancelled events in it).
 * @param cap         Its length, at least 1.
 * @param[out] count  Events stored (0 on failure); may be NULL.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK (at least one event); #SK_ETIMEDOUT (none within the budget);
 *         #SK_EINVAL; #SK_EOS.
 */
SK_API int sk_poller_wait(sk_poller *poller, sk_event *events, size_t cap, size_t *count, int timeout_ms);

/**
 * @brief Make a wait in progress (or the next one) return at once with a
 *        #SK_POLL_WAKE event.
 *
 * Callable from any thread and from a signal handler (one @c write to an eventfd or
 * a pipe). Never blocks.
 *
 * @param poller  The poller.
 * @return #SK_OK, #SK_EINVAL (NULL) or #SK_EOS.
 */
SK_API int sk_poller_wake(sk_poller *poller);

/**
 * @brief Free the poller; its endpoints stay open and are no longer registered.
 *        NULL is a no-op.
 *
 * @param poller  A poller, or NULL.
 */
SK_API void sk_poller_close(sk_poller *poller);

SK_END_DECLS

/** @} */

#endif /* SOCKKIT_POLLER_H */
