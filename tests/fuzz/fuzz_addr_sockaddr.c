/* Fuzz harness: sk_addr_from_sockaddr on arbitrary bytes, and the address functions
 * on an arbitrary sk_addr (a caller-allocated struct may hold anything).
 *
 *   - sk_addr_from_sockaddr(addr, data, size) never reads past size bytes (the input
 *     is a heap block of exactly that size), never crashes on unaligned data, and
 *     gives SK_OK or SK_EINVAL; on SK_EINVAL the address is all zero;
 *   - what it accepts is IPv4 (16 bytes) or IPv6 (28 bytes), never an IPv4-mapped
 *     IPv6 address; it formats, and the text parses back to the same family, port,
 *     address and scope (an IPv4 address to identical bytes; IPv6 flow information
 *     has no text form and is the one thing the text loses);
 *   - when size >= sizeof(sk_addr), the first bytes as a raw sk_addr: format, port,
 *     family and sockaddr must not crash, agree with each other, and a text that
 *     formats re-parses to an address that formats the same way.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <sockkit.h>

#include "fuzz.h"

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

/* format -> parse -> format: the same text, and the same family and port. */
static void text_round_trip(const sk_addr *a, const char *what)
{
    char buf[SK_ADDR_STRLEN], again[SK_ADDR_STRLEN];
    sk_addr b;
    int rc = sk_addr_format(a, buf, sizeof buf);
    if (rc != SK_OK) {
        FUZZ_CHECK(rc == SK_EINVAL, "%s: format gave %s", what, sk_errname(rc));
        FUZZ_CHECK(buf[0] == '\0', "%s: a failed format left text", what);
        FUZZ_CHECK(sk_addr_family(a) == SK_EINVAL && sk_addr_port(a) == SK_EINVAL &&
                       sk_addr_sockaddr(a, NULL) == NULL,
                   "%s: an address that does not format has a family, port or sockaddr", what);
        return;
    }
    FUZZ_CHECK(strnlen(buf, sizeof buf) < SK_ADDR_STRLEN, "%s: unterminated text", what);
    rc = sk_addr_parse(&b, buf);
    FUZZ_CHECK(rc == SK_OK, "%s: \"%s\" does not parse: %s", what, buf, sk_errname(rc));
    FUZZ_CHECK(sk_addr_format(&b, again, sizeof again) == SK_OK && strcmp(buf, again) == 0,
               "%s: \"%s\" re-formats as \"%s\"", what, buf, again);
    FUZZ_CHECK(sk_addr_family(&b) == sk_addr_family(a), "%s: family changed", what);
    FUZZ_CHECK(sk_addr_port(&b) == sk_addr_port(a), "%s: port changed", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy at an odd address: over-reads and misaligned loads show. */
    unsigned char *block = malloc(size + 1), *in = block + 1;
    sk_addr a;
    size_t salen = 0;
    const void *sa;
    int rc;

    if (block == NULL)
        return 0;
    memcpy(in, data, size);

    memset(&a, 0xA5, sizeof a);
    rc = sk_addr_from_sockaddr(&a, in, size);
    if (rc != SK_OK) {
        FUZZ_CHECK(rc == SK_EINVAL, "sk_addr_from_sockaddr gave %s", sk_errname(rc));
        FUZZ_CHECK(all_zero(&a, sizeof a), "a rejected sockaddr left a non-empty address");
    } else {
        int fam = sk_addr_family(&a);
        sa = sk_addr_sockaddr(&a, &salen);
        FUZZ_CHECK(sa != NULL, "no sockaddr");
        FUZZ_CHECK((fam == 4 && salen == sizeof(struct sockaddr_in)) ||
                       (fam == 6 && salen == sizeof(struct sockaddr_in6)) ||
                       (fam == SK_ADDR_UNIX && salen >= offsetof(struct sockaddr_un, sun_path) &&
                        salen <= sizeof(struct sockaddr_un)),
                   "family %d with a %zu-byte sockaddr", fam, salen);
        if (fam == SK_ADDR_UNIX) {
            /* Unnamed, a path (up to its NUL) or an abstract name of exactly its length:
             * the text gives the same bytes back, but for a path that begins with '@'
             * (written "./@..."). */
            const unsigned char *name = (const unsigned char *)sa + offsetof(struct sockaddr_un, sun_path);
            sk_addr b;
            char buf[SK_ADDR_STRLEN];
            FUZZ_CHECK(sk_addr_port(&a) == SK_EINVAL, "a Unix address has a port");
            FUZZ_CHECK(sk_addr_format(&a, buf, sizeof buf) == SK_OK, "an accepted Unix address does not format");
            FUZZ_CHECK(sk_addr_parse(&b, buf) == SK_OK, "\"%s\" does not parse", buf);
            if (salen == offsetof(struct sockaddr_un, sun_path) || name[0] != '@')
                FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0, "\"%s\" parses to other bytes", buf);
        } else if (fam == 6) {
            struct sockaddr_in6 in6, orig;
            sk_addr b;
            char buf[SK_ADDR_STRLEN];
            memcpy(&in6, sa, sizeof in6);
            memcpy(&orig, in, sizeof orig);
            FUZZ_CHECK(!IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr), "an IPv4-mapped IPv6 address was kept");
            FUZZ_CHECK(in6.sin6_port == orig.sin6_port && in6.sin6_scope_id == orig.sin6_scope_id &&
                           memcmp(&in6.sin6_addr, &orig.sin6_addr, 16) == 0,
                       "the IPv6 address was not copied as given");
            FUZZ_CHECK(sk_addr_format(&a, buf, sizeof buf) == SK_OK, "an accepted IPv6 address does not format");
            FUZZ_CHECK(sk_addr_parse(&b, buf) == SK_OK, "\"%s\" does not parse", buf);
            in6.sin6_flowinfo = 0; /* the one field the text cannot carry */
            FUZZ_CHECK(memcmp(sk_addr_sockaddr(&b, NULL), &in6, sizeof in6) == 0,
                       "\"%s\" parses to another IPv6 address", buf);
        } else {
            struct sockaddr_in in4;
            sk_addr b;
            char buf[SK_ADDR_STRLEN];
            FUZZ_CHECK(fam == 4, "family %d", fam);
            memcpy(&in4, sa, sizeof in4);
            FUZZ_CHECK(all_zero(in4.sin_zero, sizeof in4.sin_zero), "sin_zero kept garbage");
            FUZZ_CHECK(sk_addr_format(&a, buf, sizeof buf) == SK_OK, "an accepted IPv4 address does not format");
            FUZZ_CHECK(sk_addr_parse(&b, buf) == SK_OK, "\"%s\" does not parse", buf);
            FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0, "\"%s\" parses to other bytes", buf);
        }
        text_round_trip(&a, "from_sockaddr");
    }

    if (size >= sizeof(sk_addr)) {
        sk_addr raw;
        memcpy(&raw, in, sizeof raw);
        text_round_trip(&raw, "raw sk_addr");
    }
    free(block);
    return 0;
}
