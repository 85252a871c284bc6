/**
 * @file sockkit/addr.h
 * @brief Socket addresses (IPv4 or IPv6 plus a port) as a caller-allocated value type.
 */
#ifndef SOCKKIT_ADDR_H
#define SOCKKIT_ADDR_H

#include "common.h"

/** @defgroup addr Addresses
 *  @brief A plain value that holds an IPv4 or IPv6 address and a port.
 *
 *  An #sk_addr is allocated by the caller (on the stack, in a struct), copied with
 *  assignment or memcpy, and needs no cleanup. Its size is fixed at 128 bytes and
 *  never changes within one SONAME. An all-zero #sk_addr is the empty address: the
 *  functions that read an address return #SK_EINVAL for it.
 *
 *  Addresses that the library returns (local, peer and datagram source addresses) are
 *  never IPv4-mapped IPv6 addresses: a client that reached a dual-stack listener over
 *  IPv4 shows as `127.0.0.1:50432`, not `[::%ffff:127.0.0.1]:50432`.
 *
 *  **Unix domain addresses** are written `unix:/run/app.sock` (a path,
 *  relative or absolute, taken byte for byte up to the end of the text),
 *  `unix:@name` (Linux's abstract namespace: the name's exact length is kept, and in
 *  the text a backslash is written `\\` and any byte `\xHH`, so that names with NUL or
 *  other unprintable bytes round-trip), and `unix:` for an unnamed socket (a client
 *  that never bound). A path that begins with `@` is written `unix:./@x`. A path
 *  needs room for its NUL in `sun_path` (at most 107 bytes on Linux), an abstract name
 *  at most 107 bytes: anything longer is #SK_EINVAL, never cut short.
 *  @{ */

/**
 * @brief Room for the longest text #sk_addr_format writes, terminating NUL included:
 *        `unix:@` and an abstract name of 107 bytes, each escaped as `\xHH`.
 *
 * It was 72 (the longest IPv6 text,
 * `[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535`) before Unix
 * addresses: a program built with 72 still formats every IP address it formatted.
 */
#define SK_ADDR_STRLEN 435

/** @brief What #sk_addr_family returns for a Unix domain address (`AF_UNIX`'s value). */
#define SK_ADDR_UNIX 1

/**
 * @brief An IPv4 or IPv6 socket address and port, or a Unix domain name. 128 bytes, fixed.
 *
 * The members are private: use the functions of this group. The first member holds a
 * `struct sockaddr_in`, `struct sockaddr_in6` or `struct sockaddr_un`, suitably aligned.
 */
typedef struct sk_addr {
    union {
        unsigned char bytes[120]; /**< @private The system's sockaddr. */
        long long align_;         /**< @private Alignment for a sockaddr. */
        void *palign_;            /**< @private Alignment for a sockaddr. */
    } u;                          /**< @private */
    unsigned int len;             /**< @private Bytes of @c u in use; 0 when empty. */
    unsigned int reserved;        /**< @private Zero. */
} sk_addr;

SK_BEGIN_DECLS

/**
 * @brief Parse a numeric address with its port: `"127.0.0.1:80"` or `"[::1]:80"`; or a
 *        Unix domain address: `"unix:/run/app.sock"`, `"unix:@name"`, `"unix:"`.
 *
 * Only numeric addresses: IPv4 in dotted-quad form, IPv6 in brackets (a numeric scope
 * such as `[fe80::1%2]:80` is accepted). The port is required: 1 to 5 decimal digits,
 * 0 to 65535. No name resolution, no white space. Unix addresses are described in the
 * @ref addr group: a path or abstract name too long for `sun_path`, or a backslash in an
 * abstract name that is not `\\` or `\xHH`, is #SK_EINVAL. Never blocks; thread-safe.
 *
 * @param[out] addr  Receives the address; left empty (all zero) on failure.
 * @param text       A NUL-terminated string.
 * @return #SK_OK, or #SK_EINVAL when @p addr or @p text is NULL or the text is not in
 *         one of the two forms.
 */
SK_API int sk_addr_parse(sk_addr *addr, const char *text);

/**
 * @brief Write an address in the form #sk_addr_parse reads: `"127.0.0.1:80"`, `"[::1]:80"`,
 *        `"unix:/run/app.sock"`, `"unix:@name"`, `"unix:"`.
 *
 * Never blocks; thread-safe.
 *
 * @param addr      The address.
 * @param[out] buf  Receives the NUL-terminated text; on failure, an empty string when
 *                  @p cap > 0.
 * @param cap       Size of @p buf in bytes; #SK_ADDR_STRLEN always suffices.
 * @return #SK_OK, or #SK_EINVAL when @p addr or @p buf is NULL, @p addr is empty, or
 *         @p cap is too small for the whole text (nothing partial is left in @p buf).
 */
SK_API int sk_addr_format(const sk_addr *addr, char *buf, size_t cap);

/**
 * @brief The port of an address.
 *
 * @param addr  The address.
 * @return The port, 0 to 65535, or #SK_EINVAL when @p addr is NULL, empty or a Unix
 *         domain address (which has no port).
 */
SK_API int sk_addr_port(const sk_addr *addr);

/**
 * @brief The family of an address: 4 for IPv4, 6 for IPv6, #SK_ADDR_UNIX (1) for Unix.
 *
 * @param addr  The address.
 * @return 4, 6, #SK_ADDR_UNIX, or #SK_EINVAL when @p addr is NULL or empty.
 */
SK_API int sk_addr_family(const sk_addr *addr);

/**
 * @brief Resolve a host name or numeric address and a port to one address.
 *
 * Takes the first IPv4 address the name has, else the first IPv6 one (as listening
 * does), so `"localhost"` gives `127.0.0.1` where the system has it. Blocks for as long
 * as the system resolver takes: this call has no timeout.
 *
 * @param[out] addr  Receives the address; left empty on failure.
 * @param host       A name (`"localhost"`) or numeric address (`"::1"`); not NULL.
 * @param port       0 to 65535.
 * @return #SK_OK, #SK_EINVAL (NULL or empty @p host, port out of range) or
 *         #SK_ENOTFOUND (the name does not resolve, or the resolver failed in any
 *         way, running out of memory included).
 */
SK_API int sk_addr_resolve(sk_addr *addr, const char *host, int port);

/**
 * @brief Resolve a host name or numeric address and a port to every address it has.
 *
 * The addresses come in the resolver's order (RFC 6724 on glibc: the order to try them
 * in), each once. The budget covers the lookup, as for #sk_tcp_connect: a name that
 * needs the system's resolver is looked up on a helper thread and the call returns
 * #SK_ETIMEDOUT on time even when the lookup hangs; numeric addresses and
 * `"localhost"` need no thread and no time; with a budget of 0, any other name is
 * #SK_ETIMEDOUT at once.
 *
 * @param host        A name or numeric address; not NULL, not empty.
 * @param port        0 to 65535.
 * @param[out] addrs  Receives the first @p cap addresses; may be NULL when @p cap is 0.
 * @param cap         The number of entries @p addrs has room for.
 * @param[out] count  Receives the number of addresses the name has, which may exceed
 *                    @p cap (only @p cap are stored); 0 on failure. Not NULL.
 * @param timeout_ms  Budget in milliseconds, 0, or #SK_FOREVER.
 * @return #SK_OK, #SK_EINVAL (NULL @p count or @p host, NULL @p addrs with @p cap
 *         above 0, empty @p host, port out of range, bad timeout), #SK_ETIMEDOUT or
 *         #SK_ENOTFOUND (the name does not resolve, or the resolver failed).
 */
SK_API int sk_addr_resolve_all(const char *host, int port, sk_addr *addrs, size_t cap, size_t *count,
                               int timeout_ms);

/**
 * @brief Fill an #sk_addr from a system `struct sockaddr_in`, `struct sockaddr_in6` or
 *        `struct sockaddr_un`.
 *
 * An IPv4-mapped IPv6 address becomes the IPv4 address it maps. For `AF_UNIX`, @p len
 * is the length the system gave (`offsetof(struct sockaddr_un, sun_path)` alone is an
 * unnamed socket; an abstract name keeps exactly its length; a path ends at its first
 * NUL).
 *
 * @param[out] addr  Receives the address; left empty on failure.
 * @param sa         A `const struct sockaddr *` (typed `void` so that this header needs
 *                   no system header).
 * @param len        The size of the structure @p sa points to.
 * @return #SK_OK, or #SK_EINVAL for NULL pointers, a family other than AF_INET,
 *         AF_INET6 and AF_UNIX, or a @p len too small for the family.
 */
SK_API int sk_addr_from_sockaddr(sk_addr *addr, const void *sa, size_t len);

/**
 * @brief The system `struct sockaddr` inside an address, for calls the library lacks.
 *
 * @param addr      The address.
 * @param[out] len  Receives the size of the returned structure; may be NULL.
 * @return A pointer into @p addr (valid as long as @p addr is), or NULL when @p addr is
 *         NULL or empty.
 */
SK_API const void *sk_addr_sockaddr(const sk_addr *addr, size_t *len);

SK_END_DECLS

/** @} */

#endif /* SOCKKIT_ADDR_H */
