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
