/* Fuzz harness: sk_addr_parse and sk_addr_format, the library's text parser.
 *
 * For any input text:
 *   - parsing never crashes and never reads past the terminating NUL (the text is in
 *     a heap block of exactly its size, so AddressSanitizer sees any over-read);
 *   - a rejected text gives SK_EINVAL and leaves the address all zero;
 *   - whatever parses formats (SK_OK), in fewer than SK_ADDR_STRLEN bytes, and the
 *     text re-parses to the identical 128 sk_addr bytes (the round trip), and
 *     formatting that gives the same text again (the text is canonical);
 *   - a buffer of exactly strlen + 1 bytes suffices, one byte less is SK_EINVAL and
 *     leaves an empty string (nothing partial);
 *   - family, port and the system sockaddr agree with each other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *exact, *tight;
    char buf[SK_ADDR_STRLEN], again[SK_ADDR_STRLEN];
    sk_addr a, b;
    size_t n, salen = 0;
    int rc, fam, port;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    memset(&a, 0xA5, sizeof a); /* parse must overwrite all of it */
    rc = sk_addr_parse(&a, text);
    if (rc != SK_OK) {
        FUZZ_CHECK(rc == SK_EINVAL, "sk_addr_parse(\"%s\") gave %s", text, sk_errname(rc));
        FUZZ_CHECK(all_zero(&a, sizeof a), "a rejected text left a non-empty address");
        free(text);
        return 0;
    }

    fam = sk_addr_family(&a);
    port = sk_addr_port(&a);
    FUZZ_CHECK(fam == 4 || fam == 6 || fam == SK_ADDR_UNIX, "family %d for \"%s\"", fam, text);
    FUZZ_CHECK((fam == SK_ADDR_UNIX) == (strncmp(text, "unix:", 5) == 0), "\"%s\" parsed as family %d", text, fam);
    FUZZ_CHECK(sk_addr_sockaddr(&a, &salen) != NULL, "no sockaddr for \"%s\"", text);
    if (fam == SK_ADDR_UNIX) {
        FUZZ_CHECK(port == SK_EINVAL, "port %d for \"%s\"", port, text);
        FUZZ_CHECK(salen >= 2 && salen <= 110, "sockaddr of %zu bytes for \"%s\"", salen, text);
    } else {
        FUZZ_CHECK(port >= 0 && port <= 65535, "port %d for \"%s\"", port, text);
        FUZZ_CHECK(salen == (fam == 4 ? 16u : 28u), "sockaddr of %zu bytes for family %d", salen, fam);
        FUZZ_CHECK((fam == 6) == (text[0] == '['), "\"%s\" parsed as family %d", text, fam);
    }

    memset(buf, 'x', sizeof buf);
    rc = sk_addr_format(&a, buf, sizeof buf);
    FUZZ_CHECK(rc == SK_OK, "\"%s\" parsed but does not format: %s", text, sk_errname(rc));
    n = strnlen(buf, sizeof buf);
    FUZZ_CHECK(n < SK_ADDR_STRLEN, "formatted text not terminated within SK_ADDR_STRLEN");
    FUZZ_CHECK(n >= 3, "formatted text \"%s\" too short", buf);

    /* The round trip: identical bytes. */
    memset(&b, 0x5A, sizeof b);
    rc = sk_addr_parse(&b, buf);
    FUZZ_CHECK(rc == SK_OK, "\"%s\" (from \"%s\") does not re-parse: %s", buf, text, sk_errname(rc));
    FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0, "\"%s\" -> \"%s\" re-parses to other bytes", text, buf);
    FUZZ_CHECK(sk_addr_format(&b, again, sizeof again) == SK_OK && strcmp(buf, again) == 0,
               "\"%s\" formats as \"%s\" the second time", buf, again);

    /* Exactly enough room, and one byte less (heap blocks of those sizes). */
    exact = malloc(n + 1);
    tight = malloc(n);
    if (exact != NULL && tight != NULL) {
        FUZZ_CHECK(sk_addr_format(&a, exact, n + 1) == SK_OK && strcmp(exact, buf) == 0,
                   "\"%s\" does not format into %zu bytes", buf, n + 1);
        memset(tight, 'x', n);
        FUZZ_CHECK(sk_addr_format(&a, tight, n) == SK_EINVAL, "\"%s\" formatted into %zu bytes", buf, n);
        FUZZ_CHECK(tight[0] == '\0', "a failed format left \"%.*s\"", (int)n, tight);
    }
    free(exact);
    free(tight);

    /* The port in the text is the address's port. */
    if (fam != SK_ADDR_UNIX) {
        const char *colon = strrchr(buf, ':');
        FUZZ_CHECK(colon != NULL && atoi(colon + 1) == port, "\"%s\" has not port %d", buf, port);
    }
    free(text);
    return 0;
}
