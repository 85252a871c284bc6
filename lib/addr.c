/* sk_addr: a caller-allocated copy of a sockaddr_in, sockaddr_in6 or sockaddr_un. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

_Static_assert(sizeof(sk_addr) == 128, "sk_addr is 128 bytes: part of the ABI");
_Static_assert(sizeof(struct sockaddr_in6) <= sizeof(((sk_addr *)0)->u.bytes),
               "sk_addr holds a sockaddr_in6");
_Static_assert(SK_ADDR_STRLEN >= 1 + INET6_ADDRSTRLEN - 1 + 1 + 10 + 2 + 5 + 1,
               "SK_ADDR_STRLEN holds the longest text");
_Static_assert(sizeof(struct sockaddr_un) <= sizeof(((sk_addr *)0)->u.bytes), "sk_addr holds a sockaddr_un");
/* "unix:@" and the longest abstract name, every byte escaped as \xHH; a path is shorter. */
_Static_assert(SK_ADDR_STRLEN >= 6 + 4 * (SK__UN_PATH_MAX - 1) + 1, "SK_ADDR_STRLEN holds a Unix address");
_Static_assert(SK_ADDR_STRLEN >= 5 + 2 + SK__UN_PATH_MAX + 1, "SK_ADDR_STRLEN holds a Unix path");

static void addr_clear(sk_addr *addr)
{
    memset(addr, 0, sizeof *addr);
}

/* A path of k bytes (before its NUL) that a text of ours names again: one that fills
 * sun_path with no room for its NUL (the system takes it) is refused, as a longer
 * one is, since the text of a path takes 107 bytes at most, everywhere; and so is a
 * path that begins with '@' when "./" before it, which keeps it a path in the text,
 * would not fit. */
static int unix_path_fits(const unsigned char *p, size_t k)
{
    return k < SK__UN_PATH_MAX && (p[0] != '@' || k + 2 < SK__UN_PATH_MAX);
}

int sk__addr_from(sk_addr *addr, const struct sockaddr *sa, socklen_t len)
{
    addr_clear(addr);
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        memset(in.sin_zero, 0, sizeof in.sin_zero);
        memcpy(addr->u.bytes, &in, sizeof in);
        addr->len = sizeof in;
        return SK_OK;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
            /* A client of a dual-stack socket is an IPv4 client: say so. */
            struct sockaddr_in in;
            memset(&in, 0, sizeof in);
            in.sin_family = AF_INET;
            in.sin_port = in6.sin6_port;
            memcpy(&in.sin_addr, &in6.sin6_addr.s6_addr[12], 4);
            memcpy(addr->u.bytes, &in, sizeof in);
            addr->len = sizeof in;
            return SK_OK;
        }
        memcpy(addr->u.bytes, &in6, sizeof in6);
        addr->len = sizeof in6;
        return SK_OK;
    }
    if (sa->sa_family == AF_UNIX && len >= (socklen_t)SK__UN_PATH_OFF) {
        size_t n = (size_t)len - SK__UN_PATH_OFF;
        if (n > SK__UN_PATH_MAX)
            n = SK__UN_PATH_MAX;
        memcpy(addr->u.bytes, sa, SK__UN_PATH_OFF + n);
        if (n > 0 && addr->u.bytes[SK__UN_PATH_OFF] != 0) {
            /* A path ends at its first NUL, whatever length the system reported:
             * one file, one sk_addr (the bytes after it are zero). */
            size_t k = strnlen((const char *)addr->u.bytes + SK__UN_PATH_OFF, n);
            if (!unix_path_fits(addr->u.bytes + SK__UN_PATH_OFF, k)) {
                addr_clear(addr);
                return sk__fail(SK_EINVAL);
            }
            memset(addr->u.bytes + SK__UN_PATH_OFF + k, 0, sizeof addr->u.bytes - SK__UN_PATH_OFF - k);
            n = k < SK__UN_PATH_MAX ? k + 1 : k;
        }
        /* Unnamed (n 0), or an abstract name of exactly n - 1 bytes. */
        addr->len = (unsigned)(SK__UN_PATH_OFF + n);
        return SK_OK;
    }
    return sk__fail(SK_EINVAL);
}

/* The family of a non-empty, well-formed address, else 0. */
static int addr_family(const sk_addr *addr)
{
    sa_family_t fam;
    if (addr == NULL || addr->len == 0)
        return 0;
    memcpy(&fam, addr->u.bytes + offsetof(struct sockaddr, sa_family), sizeof fam);
    if (fam == AF_INET && addr->len == sizeof(struct sockaddr_in))
        return AF_INET;
    if (fam == AF_INET6 && addr->len == sizeof(struct sockaddr_in6))
        return AF_INET6;
    if (fam == AF_UNIX && addr->len >= SK__UN_PATH_OFF && addr->len <= SK__UN_PATH_OFF + SK__UN_PATH_MAX) {
        const unsigned char *p = addr->u.bytes + SK__UN_PATH_OFF;
        size_t n = addr->len - SK__UN_PATH_OFF;
        /* A caller's struct may hold anything: a path must be one its text names. */
        if (n > 0 && p[0] != 0 && !unix_path_fits(p, strnlen((const char *)p, n)))
            return 0;
        return AF_UNIX;
    }
    return 0;
}

int sk__addr_to(const sk_addr *addr, int family, struct sockaddr_storage *ss, socklen_t *len)
{
    int fam = addr_family(addr);
    memset(ss, 0, sizeof *ss);
    if (fam == 0)
        return sk__fail(SK_EINVAL);
    if (fam == AF_INET && family == AF_INET6) {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        memcpy(&in, addr->u.bytes, sizeof in);
        memset(&in6, 0, sizeof in6);
        in6.sin6_family = AF_INET6;
        in6.sin6_port = in.sin_port;
        in6.sin6_addr.s6_addr[10] = 0xff;
        in6.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&in6.sin6_addr.s6_addr[12], &in.sin_addr, 4);
        memcpy(ss, &in6, sizeof in6);
        *len = sizeof in6;
        return SK_OK;
    }
    memcpy(ss, addr->u.bytes, addr->len);
    *len = addr->len;
    return SK_OK;
}

int sk__sockname(int fd, int peer, sk_addr *addr)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                  : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (rc != 0) {
        int err = errno;
        addr_clear(addr);
        errno = err;
        return sk__map_errno(err);
    }
    return sk__addr_from(addr, (struct sockaddr *)&ss, len);
}

/* Port text: 1 to 5 decimal digits, at most 65535, and nothing after. */
static int parse_port(const char *s, unsigned short *port)
{
    unsigned long v = 0;
    size_t n = 0;
    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        if (n == 5)
            return -1;
        v = v * 10 + (unsigned long)(s[n] - '0');
    }
    if (n == 0 || s[n] != '\0' || v > 65535)
        return -1;
    *port = (unsigned short)v;
    return 0;
}

/* Numeric scope id: 1 to 10 decimal digits, fitting 32 bits. */
static int parse_scope(const char *s, size_t n, uint32_t *scope)
{
    uint64_t v = 0;
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return -1;
    *scope = (uint32_t)v;
    return 0;
}

int sk__unix_addr(struct sockaddr_un *su, socklen_t *len, const char *name, size_t nlen)
{
    memset(su, 0, sizeof *su);
    su->sun_family = AF_UNIX;
    if (nlen == 0) {
        *len = (socklen_t)SK__UN_PATH_OFF;
        return SK_OK;
    }
    if (name[0] == '@') {
        /* Abstract: a leading NUL, then the name, its exact length kept. */
        if (nlen - 1 > SK__UN_PATH_MAX - 1)
            return sk__fail(SK_EINVAL);
        memcpy(su->sun_path + 1, name + 1, nlen - 1);
        *len = (socklen_t)(SK__UN_PATH_OFF + nlen);
        return SK_OK;
    }
    /* A path and its NUL; a path that does not fit is refused, never cut. */
    if (nlen > SK__UN_PATH_MAX - 1 || memchr(name, '\0', nlen) != NULL)
        return sk__fail(SK_EINVAL);
    memcpy(su->sun_path, name, nlen);
    *len = (socklen_t)(SK__UN_PATH_OFF + nlen + 1);
    return SK_OK;
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The text after "unix:": "" (unnamed), "@name" (abstract; \\ and \xHH stand for a
 * backslash and any byte) or a path, taken as it is. */
static int parse_unix(sk_addr *addr, const char *s)
{
    char name[SK__UN_PATH_MAX + 1];
    size_t n = 0;
    struct sockaddr_un su;
    socklen_t len;

    if (s[0] == '@') {
        name[n++] = '@';
        for (const char *p = s + 1; *p != '\0'; p++) {
            int c = (unsigned char)*p;
            if (n == sizeof name)
                return sk__fail(SK_EINVAL);
            if (c == '\\') {
                int hi, lo;
                if (p[1] == '\\') {
                    p++;
                } else if (p[1] == 'x' && (hi = hex_digit(p[2])) >= 0 && (lo = hex_digit(p[3])) >= 0) {
                    c = hi * 16 + lo;
                    p += 3;
                } else {
                    return sk__fail(SK_EINVAL);
                }
            }
            name[n++] = (char)c;
        }
        if (sk__unix_addr(&su, &len, name, n) != SK_OK)
            return SK_EINVAL;
    } else if (sk__unix_addr(&su, &len, s, strlen(s)) != SK_OK) {
        return SK_EINVAL;
    }
    memcpy(addr->u.bytes, &su, (size_t)len);
    addr->len = (unsigned)len;
    return SK_OK;
}

/* The text of a Unix address, "unix:" and its name (see parse_unix); a path that
 * begins with '@' is written "./@...", so that it reads back as a path. */
static int format_unix(const sk_addr *addr, char *text, size_t cap)
{
    const unsigned char *p = addr->u.bytes + SK__UN_PATH_OFF;
    size_t n = addr->len - SK__UN_PATH_OFF, k;

    if (n == 0)
        return snprintf(text, cap, "unix:");
    if (p[0] != 0)
        return snprintf(text, cap, "unix:%s%.*s", p[0] == '@' ? "./" : "", (int)strnlen((const char *)p, n),
                        (const char *)p);
    k = (size_t)snprintf(text, cap, "unix:@");
    for (size_t i = 1; i < n; i++) {
        int c = p[i];
        if (c == '\\')
            k += (size_t)snprintf(text + k, cap - k, "\\\\");
        else if (c < 0x20 || c >= 0x7f)
            k += (size_t)snprintf(text + k, cap - k, "\\x%02x", (unsigned)c);
        else
            text[k++] = (char)c;
    }
    text[k] = '\0';
    return (int)k;
}

int sk_addr_parse(sk_addr *addr, const char *text)
{
    char host[INET6_ADDRSTRLEN];
    unsigned short port;

    if (addr == NULL)
        return sk__fail(SK_EINVAL);
    addr_clear(addr);
    if (text == NULL)
        return sk__fail(SK_EINVAL);

    if (strncmp(text, "unix:", 5) == 0)
        return parse_unix(addr, text + 5);
    if (text[0] == '[') {
        const char *close = strchr(text + 1, ']');
        const char *pct;
        size_t hlen;
        uint32_t scope = 0;
        struct sockaddr_in6 in6;

        if (close == NULL || close[1] != ':' || parse_port(close + 2, &port) != 0)
            return sk__fail(SK_EINVAL);
        pct = memchr(text + 1, '%', (size_t)(close - (text + 1)));
        hlen = (size_t)((pct ? pct : close) - (text + 1));
        if (hlen == 0 || hlen >= sizeof host)
            return sk__fail(SK_EINVAL);
        if (pct != NULL && parse_scope(pct + 1, (size_t)(close - (pct + 1)), &scope) != 0)
            return sk__fail(SK_EINVAL);
        memcpy(host, text + 1, hlen);
        host[hlen] = '\0';
        memset(&in6, 0, sizeof in6);
        if (inet_pton(AF_INET6, host, &in6.sin6_addr) != 1)
            return sk__fail(SK_EINVAL);
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(port);
        in6.sin6_scope_id = scope;
        memcpy(addr->u.bytes, &in6, sizeof in6);
        addr->len = sizeof in6;
        return SK_OK;
    } else {
        const char *colon = strchr(text, ':');
        size_t hlen;
        struct sockaddr_in in;

        if (colon == NULL || parse_port(colon + 1, &port) != 0)
            return sk__fail(SK_EINVAL);
        hlen = (size_t)(colon - text);
        if (hlen == 0 || hlen >= sizeof host)
            return sk__fail(SK_EINVAL);
        memcpy(host, text, hlen);
        host[hlen] = '\0';
        memset(&in, 0, sizeof in);
        /* inet_pton takes only the dotted quad: no "1.2.3", no octal, no hex. */
        if (inet_pton(AF_INET, host, &in.sin_addr) != 1)
            return sk__fail(SK_EINVAL);
        in.sin_family = AF_INET;
        in.sin_port = htons(port);
        memcpy(addr->u.bytes, &in, sizeof in);
        addr->len = sizeof in;
        return SK_OK;
    }
}

int sk_addr_format(const sk_addr *addr, char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    char text[SK_ADDR_STRLEN];
    int n;
    int fam = addr_family(addr);

    if (buf != NULL && cap > 0)
        buf[0] = '\0';
    if (fam == 0 || buf == NULL)
        return sk__fail(SK_EINVAL);
    if (fam == AF_UNIX) {
        n = format_unix(addr, text, sizeof text);
    } else if (fam == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, addr->u.bytes, sizeof in);
        if (inet_ntop(AF_INET, &in.sin_addr, host, sizeof host) == NULL)
            return sk__fail(SK_EINVAL);
        n = snprintf(text, sizeof text, "%s:%u", host, (unsigned)ntohs(in.sin_port));
    } else {
        struct sockaddr_in6 in6;
        memcpy(&in6, addr->u.bytes, sizeof in6);
        if (inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host) == NULL)
            return sk__fail(SK_EINVAL);
        if (in6.sin6_scope_id != 0)
            n = snprintf(text, sizeof text, "[%s%%%lu]:%u", host, (unsigned long)in6.sin6_scope_id,
                         (unsigned)ntohs(in6.sin6_port));
        else
            n = snprintf(text, sizeof text, "[%s]:%u", host, (unsigned)ntohs(in6.sin6_port));
    }
    if (n < 0 || (size_t)n >= cap)
        return sk__fail(SK_EINVAL);
    memcpy(buf, text, (size_t)n + 1);
    return SK_OK;
}

int sk_addr_port(const sk_addr *addr)
{
    int fam = addr_family(addr);
    if (fam == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, addr->u.bytes, sizeof in);
        return ntohs(in.sin_port);
    }
    if (fam == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, addr->u.bytes, sizeof in6);
        return ntohs(in6.sin6_port);
    }
    return sk__fail(SK_EINVAL);
}

int sk_addr_family(const sk_addr *addr)
{
    switch (addr_family(addr)) {
    case AF_INET: return 4;
    case AF_INET6: return 6;
    case AF_UNIX: return SK_ADDR_UNIX;
    default: return sk__fail(SK_EINVAL);
    }
}

int sk_addr_resolve(sk_addr *addr, const char *host, int port)
{
    struct addrinfo *list;
    int rc;

    if (addr == NULL)
        return sk__fail(SK_EINVAL);
    addr_clear(addr);
    if (host == NULL || host[0] == '\0' || !sk__port_ok(port, 1))
        return sk__fail(SK_EINVAL);
    rc = sk__resolve(host, port, SOCK_STREAM, 0, &list);
    if (rc != SK_OK)
        return rc;
    {
        const struct addrinfo *ai = sk__pick_listen_addr(list);
        rc = sk__addr_from(addr, ai->ai_addr, ai->ai_addrlen);
    }
    freeaddrinfo(list);
    return rc;
}

/* An earlier entry of the list holds the same address (hosts files may repeat one). */
static int seen_before(const struct addrinfo *list, const struct addrinfo *ai)
{
    for (const struct addrinfo *p = list; p != ai; p = p->ai_next)
        if (p->ai_addrlen == ai->ai_addrlen && memcmp(p->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0)
            return 1;
    return 0;
}

int sk_addr_resolve_all(const char *host, int port, sk_addr *addrs, size_t cap, size_t *count, int timeout_ms)
{
    sk__deadline dl;
    struct addrinfo *list;
    size_t n = 0;
    int rc;

    if (count != NULL)
        *count = 0;
    if (count == NULL || (addrs == NULL && cap > 0) || host == NULL || host[0] == '\0' || !sk__port_ok(port, 1))
        return sk__fail(SK_EINVAL);
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;
    if ((rc = sk__resolve_within(host, port, SOCK_STREAM, 0, &dl, &list, NULL)) != SK_OK)
        return rc;
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        if (seen_before(list, ai))
            continue;
        if (n < cap && sk__addr_from(&addrs[n], ai->ai_addr, ai->ai_addrlen) != SK_OK)
            continue; /* a family sk_addr cannot hold */
        n++;
    }
    freeaddrinfo(list);
    *count = n;
    return SK_OK;
}

int sk_addr_from_sockaddr(sk_addr *addr, const void *sa, size_t len)
{
    sa_family_t fam;
    if (addr == NULL)
        return sk__fail(SK_EINVAL);
    addr_clear(addr);
    if (sa == NULL || len < SK__UN_PATH_OFF)
        return sk__fail(SK_EINVAL);
    memcpy(&fam, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof fam);
    if ((fam != AF_UNIX && len < sizeof(struct sockaddr_in)) || (fam == AF_INET6 && len < sizeof(struct sockaddr_in6)))
        return sk__fail(SK_EINVAL);
    {
        /* Copy first: the caller's pointer need not be aligned for a sockaddr. */
        struct sockaddr_storage ss;
        size_t n = len < sizeof ss ? len : sizeof ss;
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, sa, n);
        return sk__addr_from(addr, (const struct sockaddr *)&ss, (socklen_t)n);
    }
}

const void *sk_addr_sockaddr(const sk_addr *addr, size_t *len)
{
    if (addr_family(addr) == 0) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = addr->len;
    return addr->u.bytes;
}
