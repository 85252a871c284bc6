/**
 * @file sockkit/version.h
 * @brief The library's version, at compile time and at run time.
 */
#ifndef SOCKKIT_VERSION_H
#define SOCKKIT_VERSION_H

#include "common.h"

/** @defgroup version Version
 *  @brief Compile-time macros and their run-time twins.
 *  @{ */

#define SK_VERSION_MAJOR 0 /**< Incompatible API or ABI changes bump this (and the SONAME). */
#define SK_VERSION_MINOR 1 /**< Compatible additions bump this. */
#define SK_VERSION_PATCH 0 /**< Fixes that change no interface bump this. */

/** @brief The version as one number: `(major << 16) | (minor << 8) | patch`. */
#define SK_VERSION_NUMBER \
    ((SK_VERSION_MAJOR << 16) | (SK_VERSION_MINOR << 8) | SK_VERSION_PATCH)

/** @brief Helper of #SK_STRINGIFY: makes its argument, unexpanded, a string literal. */
#define SK_STRINGIFY_(x) #x
/** @brief Makes its argument, after macro expansion, a string literal (for #SK_VERSION_STRING). */
#define SK_STRINGIFY(x) SK_STRINGIFY_(x)
/** @brief The version as text, `"MAJOR.MINOR.PATCH"`. */
#define SK_VERSION_STRING \
    SK_STRINGIFY(SK_VERSION_MAJOR) "." SK_STRINGIFY(SK_VERSION_MINOR) "." SK_STRINGIFY(SK_VERSION_PATCH)

SK_BEGIN_DECLS

/**
 * @brief The version of the library the program runs with.
 *
 * Compare with #SK_VERSION_NUMBER (the headers it was compiled with) to detect a mismatch.
 * Never blocks; thread-safe.
 *
 * @return `(major << 16) | (minor << 8) | patch`.
 */
SK_API unsigned sk_version(void);

/**
 * @brief The version of the library the program runs with, as text.
 *
 * @return A static string such as `"0.1.0"`; never NULL, never freed by the caller.
 */
SK_API const char *sk_version_string(void);

SK_END_DECLS

/** @} */

#endif /* SOCKKIT_VERSION_H */
