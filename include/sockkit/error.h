/**
 * @file sockkit/error.h
 * @brief Error codes and their descriptions.
 */
#ifndef SOCKKIT_ERROR_H
#define SOCKKIT_ERROR_H

#include "common.h"

/** @defgroup error Errors
 *  @brief Every fallible function returns #SK_OK or one of these negative codes.
 *
 *  When a failure comes from a system call, @c errno on return holds that call's value
 *  (errno is thread-local, so this is thread-safe). When the library itself decides the
 *  failure, @c errno is set to the closest POSIX value: @c EINVAL for #SK_EINVAL,
 *  @c ETIMEDOUT for #SK_ETIMEDOUT, @c EMSGSIZE for #SK_ETRUNCATED, @c ENOENT for a name
 *  that does not resolve, @c ENOTCONN for an orderly end of stream, @c ENOBUFS for
 *  #SK_ETOOLONG, @c ECANCELED for #SK_ECANCELED.
 *
 *  Codes have explicit values that are never renumbered or reused; new codes are added
 *  at the end.
 *  @{ */

/** @brief The library's result codes. */
enum sk_error {
    SK_OK = 0,              /**< Success. */
    SK_EINVAL = -1,         /**< A bad argument, or an endpoint in the wrong state or of the wrong kind. */
    SK_ENOMEM = -2,         /**< An allocation failed (in the library or in the kernel). */
    SK_ETIMEDOUT = -3,      /**< The call's budget ran out before it could complete. */
    SK_ECLOSED = -4,        /**< The peer closed the connection (orderly end of stream), or this end was shut down. */
    SK_ECONNRESET = -5,     /**< The peer reset the connection, or it broke (ECONNRESET, EPIPE). */
    SK_ECONNREFUSED = -6,   /**< Nothing listens at that address. */
    SK_ENOTFOUND = -7,      /**< The host name does not resolve (any resolver failure). */
    SK_EADDRINUSE = -8,     /**< The local address is taken. */
    SK_EUNREACH = -9,       /**< The network or the host is unreachable. */
    SK_ETRUNCATED = -10,    /**< A datagram was larger than the buffer; the bytes kept were stored. */
    SK_EMSGSIZE = -11,      /**< A datagram too large to send. */
    SK_EMFILE = -12,        /**< Out of file descriptors (EMFILE or ENFILE). */
    SK_EOS = -13,           /**< Any other system error: @c errno tells which. */
    SK_ETOOLONG = -14,      /**< No delimiter within the caller's buffer (#sk_tcp_recv_until): the bytes that fit were stored. */
    SK_ECANCELED = -15      /**< The operation was cancelled: the endpoint was cancelled (#sk_tcp_cancel, #sk_udp_cancel), or a connect attempt was abandoned because another won (#sk_connect_attempt). */
};

SK_BEGIN_DECLS

/**
 * @brief A sentence describing a library code, e.g. "operation timed out".
 *
 * @param code  #SK_OK or an #sk_error code.
 * @return A static string; never NULL. An unknown code gets a generic text.
 *         Thread-safe; never blocks.
 */
SK_API const char *sk_strerror(int code);

/**
 * @brief The code's name as written in the header, e.g. `"SK_ETIMEDOUT"`.
 *
 * @param code  #SK_OK or an #sk_error code.
 * @return A static string; never NULL. An unknown code gets `"SK_E?"`.
 *         Thread-safe; never blocks.
 */
SK_API const char *sk_errname(int code);

SK_END_DECLS

/** @} */

#endif /* SOCKKIT_ERROR_H */
