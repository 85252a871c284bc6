/**
 * @file sockkit/common.h
 * @brief Definitions every libsockkit header shares: the export macro and #SK_FOREVER.
 *
 * Included by every public header; a program includes <sockkit.h> instead.
 */
#ifndef SOCKKIT_COMMON_H
#define SOCKKIT_COMMON_H

#include <stddef.h>

/**
 * @brief Marks a function as part of the library's public, exported interface.
 *
 * The library is built with hidden visibility; only names marked #SK_API (all of them
 * starting with `sk_`) are exported from the shared library.
 */
#if defined(_WIN32) || defined(__CYGWIN__)
#  define SK_API
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define SK_API __attribute__((visibility("default")))
#else
#  define SK_API
#endif

/**
 * @brief A @c timeout_ms value that means "wait without limit".
 *
 * Every blocking call takes a @c timeout_ms budget for the whole call: a positive value is
 * a number of milliseconds, measured as one deadline on @c CLOCK_MONOTONIC however many
 * system calls the operation takes; @c 0 does what is possible now and returns
 * #SK_ETIMEDOUT if that is not everything; #SK_FOREVER waits as long as it takes.
 * Any other negative value is #SK_EINVAL.
 */
#define SK_FOREVER (-1)

/** @brief The version of #sk_bind_options this header describes. */
#define SK_BIND_OPTIONS_VERSION 1

/**
 * @brief What a listener or a bound UDP endpoint sets before it binds
 *        (#sk_tcp_listen_with, #sk_udp_bind_with); versioned, so that it can grow.
 *
 * Start from #SK_BIND_OPTIONS_INIT, then set what you need: a later release may add
 * members at the end, under a new version number, and keeps reading a struct of an
 * older version as that version had it. Each member is checked: a value out of its
 * range is #SK_EINVAL; an option the system lacks is #SK_EOS with @c errno
 * @c ENOPROTOOPT, never silently skipped.
 */
typedef struct sk_bind_options {
    /** #SK_BIND_OPTIONS_VERSION; 0 or newer than the library's is #SK_EINVAL. */
    unsigned version;
    /** @c SO_REUSEADDR: -1 the call's default (a listener: on, so that a server can
     *  restart while old connections linger; a UDP endpoint: off, so that a second
     *  socket cannot share its port unnoticed), 0 off, 1 on (UDP: several receivers of
     *  one multicast group on one port). */
    int reuse_addr;
    /** @c SO_REUSEPORT, 0 or 1: several endpoints of the same user bind the same port and
     *  the kernel spreads connections (or datagrams) across them by a hash of the peer's
     *  address; each must set it. */
    int reuse_port;
    /** @c IPV6_V6ONLY: -1 the default (every address, host NULL: one dual-stack socket
     *  that takes IPv4 too; a named IPv6 address: IPv6 only), 0 take IPv4 too, 1 IPv6
     *  only (host NULL then binds `::` for IPv6 alone). */
    int v6only;
    /** @c IP_FREEBIND / @c IPV6_FREEBIND, 0 or 1: bind an address this host does not
     *  have (yet), for a service that starts before its network. */
    int freebind;
    /** Listeners only: @c TCP_FASTOPEN with this queue of pending Fast Open requests (0
     *  off); for a UDP endpoint anything but 0 is #SK_EINVAL. */
    int fastopen;
} sk_bind_options;

/** @brief The defaults: `sk_bind_options o = SK_BIND_OPTIONS_INIT;` */
#define SK_BIND_OPTIONS_INIT { SK_BIND_OPTIONS_VERSION, -1, 0, -1, 0, 0 }

/**
 * @def SK_BEGIN_DECLS
 * @brief Opens the declarations of a header: `extern "C" {` in C++, nothing in C.
 *
 * @def SK_END_DECLS
 * @brief Closes what #SK_BEGIN_DECLS opened.
 */
#ifdef __cplusplus
#  define SK_BEGIN_DECLS extern "C" {
#  define SK_END_DECLS }
#else
#  define SK_BEGIN_DECLS
#  define SK_END_DECLS
#endif

#endif /* SOCKKIT_COMMON_H */
