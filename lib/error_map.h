/* The error vocabulary, in one list. Every SK_E* code of <sockkit/error.h> has one
 * line here: its value (checked against the enum at compile time), the errno the
 * library sets when it decides that failure itself (0: only ever comes from a system
 * call, whose errno is kept), and its text. sk_errname, sk_strerror and sk__fail are
 * made from it; SK__ERRNO_MAP below says which system errno becomes which code.
 * Adding a code: one line here, its enumerator (documented) in <sockkit/error.h>,
 * and the ABI baseline (docs/ABI.md); test_error checks all three agree. */
#ifndef SOCKKIT_ERROR_MAP_H
#define SOCKKIT_ERROR_MAP_H

#include <errno.h>

#include "sockkit/error.h"

/*  X(code,            value, errno,     text) */
#define SK__ERRORS(X)                                                              \
    X(SK_OK,               0, 0,         "success")                                \
    X(SK_EINVAL,          -1, EINVAL,    "invalid argument or endpoint state")     \
    X(SK_ENOMEM,          -2, ENOMEM,    "out of memory")                          \
    X(SK_ETIMEDOUT,       -3, ETIMEDOUT, "operation timed out")                    \
    X(SK_ECLOSED,         -4, ENOTCONN,  "connection closed")                      \
    X(SK_ECONNRESET,      -5, 0,         "connection reset by peer")               \
    X(SK_ECONNREFUSED,    -6, 0,         "connection refused")                     \
    X(SK_ENOTFOUND,       -7, ENOENT,    "host name not found")                    \
    X(SK_EADDRINUSE,      -8, 0,         "address already in use")                 \
    X(SK_EUNREACH,        -9, 0,         "network or host unreachable")            \
    X(SK_ETRUNCATED,     -10, EMSGSIZE,  "datagram truncated")                     \
    X(SK_EMSGSIZE,       -11, 0,         "datagram too large")                     \
    X(SK_EMFILE,         -12, 0,         "too many open files")                    \
    X(SK_EOS,            -13, 0,         "system error")                           \
    X(SK_ETOOLONG,       -14, ENOBUFS,   "no delimiter within the buffer")        \
    X(SK_ECANCELED,      -15, ECANCELED, "operation cancelled")

/* System errno -> code; any errno not listed is SK_EOS. */
#define SK__ERRNO_MAP(X)                                                           \
    X(ECONNRESET, SK_ECONNRESET)  X(EPIPE, SK_ECONNRESET)                          \
    X(ECONNABORTED, SK_ECONNRESET)                                                 \
    X(ECONNREFUSED, SK_ECONNREFUSED)                                               \
    X(EADDRINUSE, SK_EADDRINUSE)                                                   \
    X(ENETUNREACH, SK_EUNREACH)   X(EHOSTUNREACH, SK_EUNREACH)                     \
    X(ENETDOWN, SK_EUNREACH)      X(EHOSTDOWN, SK_EUNREACH)                        \
    X(EMSGSIZE, SK_EMSGSIZE)                                                       \
    X(EMFILE, SK_EMFILE)          X(ENFILE, SK_EMFILE)                             \
    X(ENOMEM, SK_ENOMEM)          X(ENOBUFS, SK_ENOMEM)                            \
    X(ETIMEDOUT, SK_ETIMEDOUT)     X(ECANCELED, SK_ECANCELED)                       \
    X(EAFNOSUPPORT, SK_EINVAL)

/* The code for a system call's errno value. */
int sk__map_errno(int err);
/* Sets errno to the value that goes with a code the library decided on (the list's
 * third column; errno is left alone for codes that have none), returns code. */
int sk__fail(int code);

#endif /* SOCKKIT_ERROR_MAP_H */
