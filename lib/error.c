/* Texts and names of the codes. A switch with no default: -Wswitch names a code
 * that has no text. */
#include "internal.h"

const char *sk_strerror(int code)
{
    switch ((enum sk_error)code) {
    case SK_OK: return "success";
    case SK_EINVAL: return "invalid argument or endpoint state";
    case SK_ENOMEM: return "out of memory";
    case SK_ETIMEDOUT: return "operation timed out";
    case SK_ECLOSED: return "connection closed";
    case SK_ECONNRESET: return "connection reset by peer";
    case SK_ECONNREFUSED: return "connection refused";
    case SK_ENOTFOUND: return "host name not found";
    case SK_EADDRINUSE: return "address already in use";
    case SK_EUNREACH: return "network or host unreachable";
    case SK_ETRUNCATED: return "datagram truncated";
    case SK_EMSGSIZE: return "datagram too large";
    case SK_EMFILE: return "too many open files";
    case SK_EOS: return "system error";
    case SK_ETOOLONG: return "no delimiter within the buffer";
    }
    return "unknown error";
}

const char *sk_errname(int code)
{
    switch ((enum sk_error)code) {
    case SK_OK: return "SK_OK";
    case SK_EINVAL: return "SK_EINVAL";
    case SK_ENOMEM: return "SK_ENOMEM";
    case SK_ETIMEDOUT: return "SK_ETIMEDOUT";
    case SK_ECLOSED: return "SK_ECLOSED";
    case SK_ECONNRESET: return "SK_ECONNRESET";
    case SK_ECONNREFUSED: return "SK_ECONNREFUSED";
    case SK_ENOTFOUND: return "SK_ENOTFOUND";
    case SK_EADDRINUSE: return "SK_EADDRINUSE";
    case SK_EUNREACH: return "SK_EUNREACH";
    case SK_ETRUNCATED: return "SK_ETRUNCATED";
    case SK_EMSGSIZE: return "SK_EMSGSIZE";
    case SK_EMFILE: return "SK_EMFILE";
    case SK_EOS: return "SK_EOS";
    case SK_ETOOLONG: return "SK_ETOOLONG";
    }
    return "SK_E?";
}
