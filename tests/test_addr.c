/* Addresses: parsing, formatting, ports, families, resolution and system sockaddrs. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "testutil.h"

TestSuite(addr, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end);

_Static_assert(sizeof(sk_addr) == 128, "sk_addr is 128 bytes, fixed");

/* ---- helpers ---- */

static int is_empty(const sk_addr *a)
{
    static const sk_addr zero;
    return memcmp(a, &zero, sizeof zero) == 0;
}

/* An address filled with something, so that "left empty" is observable. */
static void fill_garbage(sk_addr *a)
{
    memset(a, 0xA5, sizeof *a);
}

static void assert_round_trip(const char *text, int family, int port)
{
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    fill_garbage(&a);
    cr_assert_eq(sk_addr_parse(&a, text), SK_OK, "sk_addr_parse(\"%s\")", text);
    cr_assert_eq(sk_addr_family(&a), family, "family of \"%s\"", text);
    cr_assert_eq(sk_addr_port(&a), port, "port of \"%s\"", text);
    memset(buf, 'x', sizeof buf);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK, "sk_addr_format of \"%s\"", text);
    cr_assert_str_eq(buf, text);
}

static void assert_rejected(const char *text)
{
    sk_addr a;
    fill_garbage(&a);
    int rc = sk_addr_parse(&a, text);
    cr_assert_eq(rc, SK_EINVAL, "sk_addr_parse(\"%s\") gave %s, not SK_EINVAL", text, sk_errname(rc));
    cr_assert(is_empty(&a), "sk_addr_parse(\"%s\") failed but left the address non-empty", text);
}

/* ---- size ---- */

Test(addr, sk_addr_is_128_bytes)
{
    cr_assert_eq(sizeof(sk_addr), 128);
    cr_assert_geq(sizeof(((sk_addr *)0)->u.bytes), sizeof(struct sockaddr_in6));
}

/* ---- parse / format round trips ---- */

Test(addr, ipv4_texts_parse_and_format_back_unchanged)
{
    assert_round_trip("127.0.0.1:80", 4, 80);
    assert_round_trip("0.0.0.0:0", 4, 0);
    assert_round_trip("255.255.255.255:65535", 4, 65535);
    assert_round_trip("10.1.2.3:8080", 4, 8080);
}

Test(addr, ipv6_texts_parse_and_format_back_unchanged)
{
    assert_round_trip("[::1]:80", 6, 80);
    assert_round_trip("[::]:0", 6, 0);
    assert_round_trip("[2001:db8::1]:443", 6, 443);
    assert_round_trip("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 6, 65535);
}

Test(addr, ipv4_mapped_ipv6_text_stays_ipv6)
{
    /* Parsing keeps what the caller wrote; only addresses from the system are unmapped. */
    assert_round_trip("[::ffff:127.0.0.1]:8080", 6, 8080);
}

Test(addr, numeric_scope_is_parsed_and_formatted_back)
{
    assert_round_trip("[fe80::1%2]:80", 6, 80);
    sk_addr a;
    size_t len = 0;
    cr_assert_eq(sk_addr_parse(&a, "[fe80::1%2]:80"), SK_OK);
    const struct sockaddr_in6 *s6 = sk_addr_sockaddr(&a, &len);
    cr_assert_not_null(s6);
    cr_assert_eq(len, sizeof(struct sockaddr_in6));
    cr_assert_eq(s6->sin6_scope_id, 2u);
}

Test(addr, largest_scope_id_round_trips)
{
    assert_round_trip("[fe80::1%4294967295]:65535", 6, 65535);
}

Test(addr, uppercase_ipv6_is_accepted_and_formatted_canonically)
{
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    cr_assert_eq(sk_addr_parse(&a, "[2001:DB8:0:0:0:0:0:1]:443"), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "[2001:db8::1]:443");
}

Test(addr, port_with_leading_zeros_within_five_digits_is_accepted)
{
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    cr_assert_eq(sk_addr_parse(&a, "127.0.0.1:00080"), SK_OK);
    cr_assert_eq(sk_addr_port(&a), 80);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "127.0.0.1:80");
}

Test(addr, parsed_address_matches_the_system_sockaddr)
{
    sk_addr a;
    size_t len = 0;
    cr_assert_eq(sk_addr_parse(&a, "192.0.2.7:5353"), SK_OK);
    const struct sockaddr_in *s4 = sk_addr_sockaddr(&a, &len);
    cr_assert_not_null(s4);
    cr_assert_eq(len, sizeof(struct sockaddr_in));
    cr_assert_eq(s4->sin_family, AF_INET);
    cr_assert_eq(ntohs(s4->sin_port), 5353);
    cr_assert_eq(ntohl(s4->sin_addr.s_addr), 0xC0000207u);

    cr_assert_eq(sk_addr_parse(&a, "[2001:db8::42]:9"), SK_OK);
    const struct sockaddr_in6 *s6 = sk_addr_sockaddr(&a, &len);
    struct in6_addr expect;
    cr_assert_eq(inet_pton(AF_INET6, "2001:db8::42", &expect), 1);
    cr_assert_not_null(s6);
    cr_assert_eq(len, sizeof(struct sockaddr_in6));
    cr_assert_eq(s6->sin6_family, AF_INET6);
    cr_assert_eq(ntohs(s6->sin6_port), 9);
    cr_assert_eq(memcmp(&s6->sin6_addr, &expect, sizeof expect), 0);
    cr_assert_eq(s6->sin6_scope_id, 0u);
}

/* ---- malformed text ---- */

Test(addr, ipv4_malformed_texts_are_rejected_and_leave_the_address_empty)
{
    static const char *bad[] = {
        "",
        "127.0.0.1",
        "127.0.0.1:",
        ":80",
        "127.0.0.1:65536",
        "127.0.0.1:99999",
        "127.0.0.1:-1",
        "127.0.0.1:+80",
        "127.0.0.1:80 ",
        " 127.0.0.1:80",
        "127.0.0.1 :80",
        "127.0.0.1: 80",
        "127.0.0.1:123456",
        "127.0.0.1:000080",
        "127.0.0.1:0x50",
        "127.0.0.1:80a",
        "127.0.0.1:80:80",
        "256.0.0.1:80",
        "1.2.3:80",
        "1.2.3.4.5:80",
        "localhost:80",
        "example.com:80",
        "127.0.0.1:\n80",
        "127.0.0.1:80\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_rejected(bad[i]);
}

Test(addr, ipv6_malformed_texts_are_rejected_and_leave_the_address_empty)
{
    static const char *bad[] = {
        "::1:80",          /* IPv6 without brackets */
        "::1",
        "[::1]80",
        "[::1]:",
        "[::1",
        "::1]:80",
        "[::1]",
        "[]:80",
        "[127.0.0.1]:80",  /* IPv4 in brackets */
        "[::1]:0x50",
        "[::1]:65536",
        "[::1]:-1",
        "[::1]:123456",
        "[::1]:80 ",
        " [::1]:80",
        "[ ::1]:80",
        "[::1 ]:80",
        "[::g]:80",
        "[1:2:3:4:5:6:7:8:9]:80",
        "[[::1]]:80",
        "[::1%eth0]:80",   /* only numeric scopes */
        "[fe80::1%]:80",
        "[fe80::1%-1]:80",
        "[fe80::1%4294967296]:80",
        "[fe80::1%2x]:80",
        "[localhost]:80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_rejected(bad[i]);
}

Test(addr, very_long_text_is_rejected)
{
    size_t n = 10000;
    char *text = malloc(n + 1);
    cr_assert_not_null(text);
    /* Looks like the start of a valid address, then goes on and on. */
    memcpy(text, "127.0.0.1:8", 11);
    memset(text + 11, '0', n - 11);
    text[n] = '\0';
    assert_rejected(text);

    memset(text, '1', n);
    text[n] = '\0';
    assert_rejected(text);

    text[0] = '[';
    memset(text + 1, ':', n - 1);
    text[n] = '\0';
    assert_rejected(text);
    free(text);
}

Test(addr, parse_rejects_null_arguments)
{
    sk_addr a;
    fill_garbage(&a);
    cr_assert_eq(sk_addr_parse(&a, NULL), SK_EINVAL);
    cr_assert(is_empty(&a), "a NULL text left the address non-empty");
    cr_assert_eq(sk_addr_parse(NULL, "127.0.0.1:80"), SK_EINVAL);
    cr_assert_eq(sk_addr_parse(NULL, NULL), SK_EINVAL);
}

Test(addr, parse_failure_sets_errno_to_einval)
{
    sk_addr a;
    errno = 0;
    cr_assert_eq(sk_addr_parse(&a, "nonsense"), SK_EINVAL);
    cr_assert_eq(errno, EINVAL, "errno is %d", errno);
}

Test(addr, successful_parse_overwrites_a_previous_address_completely)
{
    sk_addr a, b;
    cr_assert_eq(sk_addr_parse(&a, "[2001:db8::1%7]:443"), SK_OK);
    cr_assert_eq(sk_addr_parse(&a, "10.0.0.1:5"), SK_OK);
    cr_assert_eq(sk_addr_parse(&b, "10.0.0.1:5"), SK_OK);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "the IPv6 address left traces in the value");
}

/* ---- port / family ---- */

Test(addr, port_and_family_reject_null_and_empty)
{
    sk_addr empty;
    memset(&empty, 0, sizeof empty);
    cr_assert_eq(sk_addr_port(NULL), SK_EINVAL);
    cr_assert_eq(sk_addr_port(&empty), SK_EINVAL);
    cr_assert_eq(sk_addr_family(NULL), SK_EINVAL);
    cr_assert_eq(sk_addr_family(&empty), SK_EINVAL);
}

Test(addr, port_is_extracted_for_both_families)
{
    static const struct {
        const char *text;
        int port;
    } cases[] = {
        {"1.2.3.4:1", 1}, {"1.2.3.4:255", 255}, {"1.2.3.4:256", 256}, {"1.2.3.4:32768", 32768},
        {"[::1]:1", 1},   {"[::1]:4660", 4660}, {"[::1]:65534", 65534},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sk_addr a;
        cr_assert_eq(sk_addr_parse(&a, cases[i].text), SK_OK, "%s", cases[i].text);
        cr_assert_eq(sk_addr_port(&a), cases[i].port, "%s", cases[i].text);
    }
}

/* ---- format ---- */

Test(addr, format_needs_room_for_the_terminating_nul)
{
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    const char *text = "127.0.0.1:80"; /* 12 characters */
    size_t need = strlen(text) + 1;
    cr_assert_eq(sk_addr_parse(&a, text), SK_OK);

    memset(buf, 'x', sizeof buf);
    cr_assert_eq(sk_addr_format(&a, buf, need), SK_OK, "an exact-size buffer is enough");
    cr_assert_str_eq(buf, text);

    memset(buf, 'x', sizeof buf);
    cr_assert_eq(sk_addr_format(&a, buf, need - 1), SK_EINVAL, "one byte short");
    cr_assert_eq(buf[0], '\0', "a failed format leaves an empty string");
    cr_assert_eq(buf[need - 1], 'x', "wrote past cap");

    memset(buf, 'x', sizeof buf);
    cr_assert_eq(sk_addr_format(&a, buf, 1), SK_EINVAL);
    cr_assert_eq(buf[0], '\0');
    cr_assert_eq(buf[1], 'x', "wrote past cap");
}

Test(addr, format_of_ipv6_needs_room_for_the_whole_text)
{
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    const char *text = "[2001:db8::1]:443";
    size_t need = strlen(text) + 1;
    cr_assert_eq(sk_addr_parse(&a, text), SK_OK);
    /* Every size short of the whole text fails, without a partial text. */
    for (size_t cap = 1; cap < need; cap++) {
        memset(buf, 'x', sizeof buf);
        cr_assert_eq(sk_addr_format(&a, buf, cap), SK_EINVAL, "cap %zu", cap);
        cr_assert_eq(buf[0], '\0', "cap %zu left \"%.*s\"", cap, (int)cap, buf);
        cr_assert_eq(buf[cap], 'x', "cap %zu: wrote past cap", cap);
    }
    memset(buf, 'x', sizeof buf);
    cr_assert_eq(sk_addr_format(&a, buf, need), SK_OK);
    cr_assert_str_eq(buf, text);
}

Test(addr, format_with_zero_capacity_is_rejected_without_writing)
{
    sk_addr a;
    char buf[4] = {'x', 'x', 'x', 'x'};
    cr_assert_eq(sk_addr_parse(&a, "127.0.0.1:80"), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, 0), SK_EINVAL);
    cr_assert_eq(buf[0], 'x', "cap 0 but the buffer was written");
}

Test(addr, format_rejects_null_arguments_and_the_empty_address)
{
    sk_addr a, empty;
    char buf[SK_ADDR_STRLEN];
    memset(&empty, 0, sizeof empty);
    cr_assert_eq(sk_addr_parse(&a, "127.0.0.1:80"), SK_OK);
    cr_assert_eq(sk_addr_format(&a, NULL, sizeof buf), SK_EINVAL);
    cr_assert_eq(sk_addr_format(NULL, NULL, 0), SK_EINVAL);

    memset(buf, 'x', sizeof buf);
    cr_assert_eq(sk_addr_format(NULL, buf, sizeof buf), SK_EINVAL);
    cr_assert_eq(buf[0], '\0');

    memset(buf, 'x', sizeof buf);
    cr_assert_eq(sk_addr_format(&empty, buf, sizeof buf), SK_EINVAL);
    cr_assert_eq(buf[0], '\0');
}

Test(addr, addr_strlen_fits_the_longest_address)
{
    /* The longest form: every IPv6 group at full width, the largest scope, the largest port. */
    struct sockaddr_in6 s6;
    sk_addr a, back;
    char buf[SK_ADDR_STRLEN];
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(65535);
    memset(&s6.sin6_addr, 0xff, sizeof s6.sin6_addr);
    s6.sin6_scope_id = 4294967295u;
    cr_assert_eq(sk_addr_from_sockaddr(&a, &s6, sizeof s6), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_lt(strlen(buf), (size_t)SK_ADDR_STRLEN);
    cr_assert_str_eq(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
    /* And it reads back to the same address. */
    cr_assert_eq(sk_addr_parse(&back, buf), SK_OK);
    cr_assert_eq(sk_addr_port(&back), 65535);
    size_t len = 0;
    const struct sockaddr_in6 *r = sk_addr_sockaddr(&back, &len);
    cr_assert_not_null(r);
    cr_assert_eq(memcmp(&r->sin6_addr, &s6.sin6_addr, sizeof s6.sin6_addr), 0);
    cr_assert_eq(r->sin6_scope_id, 4294967295u);
}

Test(addr, whatever_parses_formats_within_addr_strlen)
{
    /* The longest texts a caller may write; any that parse must format into SK_ADDR_STRLEN. */
    static const char *texts[] = {
        "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535",
        "[0000:0000:0000:0000:0000:ffff:255.255.255.255%4294967295]:65535",
        "[::ffff:255.255.255.255%4294967295]:65535",
        "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535",
        "[0:0:0:0:0:0:0:1]:00001",
        "255.255.255.255:65535",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        sk_addr a;
        char buf[SK_ADDR_STRLEN];
        if (sk_addr_parse(&a, texts[i]) != SK_OK)
            continue;
        cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK, "\"%s\" parsed but does not format", texts[i]);
        sk_addr back;
        cr_assert_eq(sk_addr_parse(&back, buf), SK_OK, "\"%s\" formats as \"%s\" that does not parse", texts[i], buf);
        char buf2[SK_ADDR_STRLEN];
        cr_assert_eq(sk_addr_format(&back, buf2, sizeof buf2), SK_OK);
        cr_assert_str_eq(buf2, buf, "format is not stable for \"%s\"", texts[i]);
    }
}

/* ---- resolve ---- */

Test(addr, resolve_localhost_gives_ipv4_loopback_with_either_hosts_layout)
{
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    fill_garbage(&a);
    cr_assert_eq(sk_addr_resolve(&a, "localhost", 80), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "127.0.0.1:80");
}

/* The addresses /etc/hosts gives "localhost", formatted with port. */
static size_t hosts_file_localhost(char out[][SK_ADDR_STRLEN], size_t cap, int port)
{
    FILE *f = fopen("/etc/hosts", "r");
    char line[512];
    size_t n = 0;
    cr_assert_not_null(f);
    while (fgets(line, sizeof line, f) != NULL && n < cap) {
        char *save = NULL, *addr = strtok_r(line, " \t\r\n", &save), *name;
        if (addr == NULL || addr[0] == '#')
            continue;
        while ((name = strtok_r(NULL, " \t\r\n", &save)) != NULL && name[0] != '#') {
            if (strcmp(name, "localhost") == 0) {
                snprintf(out[n++], SK_ADDR_STRLEN, strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
                break;
            }
        }
    }
    fclose(f);
    return n;
}

Test(addr, resolve_all_of_localhost_gives_each_address_of_the_hosts_file_once_with_either_hosts_layout)
{
    char want[8][SK_ADDR_STRLEN], got[SK_ADDR_STRLEN];
    size_t nwant = hosts_file_localhost(want, 8, 7), count = 99;
    sk_addr a[8];

    cr_assert_eq(sk_addr_resolve_all("localhost", 7, a, 8, &count, 2000), SK_OK);
    cr_assert_eq(count, nwant, "localhost has %zu addresses, /etc/hosts lists %zu", count, nwant);
    for (size_t i = 0; i < count; i++) {
        size_t j;
        cr_assert_eq(sk_addr_format(&a[i], got, sizeof got), SK_OK);
        for (j = 0; j < nwant && strcmp(want[j], got) != 0; j++)
            ;
        cr_assert_lt(j, nwant, "%s is not in /etc/hosts", got);
        want[j][0] = '\0'; /* each once */
    }
}

Test(addr, resolve_all_counts_every_address_and_stores_only_cap)
{
    sk_addr a[1];
    size_t all = 0, count = 0;
    char buf[SK_ADDR_STRLEN];

    cr_assert_eq(sk_addr_resolve_all("localhost", 80, NULL, 0, &all, SK_FOREVER), SK_OK);
    cr_assert_geq(all, 1);
    cr_assert_eq(sk_addr_resolve_all("localhost", 80, a, 1, &count, 1000), SK_OK);
    cr_assert_eq(count, all);
    cr_assert_eq(sk_addr_resolve_all("::1", 5, a, 1, &count, 0), SK_OK, "a numeric address needs no time");
    cr_assert_eq(count, 1);
    cr_assert_eq(sk_addr_format(&a[0], buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "[::1]:5");
}

Test(addr, resolve_all_refuses_bad_input)
{
    sk_addr a[2];
    size_t count = 5;
    cr_assert_eq(sk_addr_resolve_all("localhost", 80, a, 2, NULL, 1000), SK_EINVAL);
    cr_assert_eq(sk_addr_resolve_all("localhost", 80, NULL, 2, &count, 1000), SK_EINVAL);
    cr_assert_eq(count, 0);
    cr_assert_eq(sk_addr_resolve_all(NULL, 80, a, 2, &count, 1000), SK_EINVAL);
    cr_assert_eq(sk_addr_resolve_all("", 80, a, 2, &count, 1000), SK_EINVAL);
    cr_assert_eq(sk_addr_resolve_all("localhost", 65536, a, 2, &count, 1000), SK_EINVAL);
    cr_assert_eq(sk_addr_resolve_all("localhost", 80, a, 2, &count, -2), SK_EINVAL);
}

Test(addr, resolve_numeric_addresses_of_both_families)
{
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    cr_assert_eq(sk_addr_resolve(&a, "::1", 5), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "[::1]:5");

    cr_assert_eq(sk_addr_resolve(&a, "127.0.0.1", 65535), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "127.0.0.1:65535");

    cr_assert_eq(sk_addr_resolve(&a, "127.0.0.1", 0), SK_OK, "port 0 is in range");
    cr_assert_eq(sk_addr_port(&a), 0);
}

Test(addr, resolve_unknown_name_is_not_found)
{
    sk_addr a;
    fill_garbage(&a);
    errno = 0;
    cr_assert_eq(sk_addr_resolve(&a, "nonexistent.invalid", 1), SK_ENOTFOUND);
    cr_assert_eq(errno, ENOENT, "errno is %d, not ENOENT", errno);
    cr_assert(is_empty(&a), "a failed resolve left the address non-empty");
}

Test(addr, resolve_rejects_bad_arguments)
{
    sk_addr a;
    fill_garbage(&a);
    cr_assert_eq(sk_addr_resolve(&a, NULL, 80), SK_EINVAL);
    cr_assert(is_empty(&a));
    fill_garbage(&a);
    cr_assert_eq(sk_addr_resolve(&a, "", 80), SK_EINVAL);
    cr_assert(is_empty(&a));
    fill_garbage(&a);
    cr_assert_eq(sk_addr_resolve(&a, "localhost", -1), SK_EINVAL);
    cr_assert(is_empty(&a));
    fill_garbage(&a);
    cr_assert_eq(sk_addr_resolve(&a, "localhost", 65536), SK_EINVAL);
    cr_assert(is_empty(&a));
    cr_assert_eq(sk_addr_resolve(NULL, "localhost", 80), SK_EINVAL);
}

/* ---- system sockaddrs ---- */

Test(addr, from_sockaddr_in_gives_ipv4)
{
    struct sockaddr_in s4;
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    memset(&s4, 0, sizeof s4);
    s4.sin_family = AF_INET;
    s4.sin_port = htons(4242);
    s4.sin_addr.s_addr = htonl(0x01020304);
    fill_garbage(&a);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &s4, sizeof s4), SK_OK);
    cr_assert_eq(sk_addr_family(&a), 4);
    cr_assert_eq(sk_addr_port(&a), 4242);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "1.2.3.4:4242");
}

Test(addr, from_sockaddr_in6_gives_ipv6)
{
    struct sockaddr_in6 s6;
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(443);
    cr_assert_eq(inet_pton(AF_INET6, "2001:db8::5", &s6.sin6_addr), 1);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &s6, sizeof s6), SK_OK);
    cr_assert_eq(sk_addr_family(&a), 6);
    cr_assert_eq(sk_addr_port(&a), 443);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "[2001:db8::5]:443");
}

Test(addr, from_sockaddr_unmaps_ipv4_mapped_ipv6)
{
    struct sockaddr_in6 s6;
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(5000);
    cr_assert_eq(inet_pton(AF_INET6, "::ffff:1.2.3.4", &s6.sin6_addr), 1);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &s6, sizeof s6), SK_OK);
    cr_assert_eq(sk_addr_family(&a), 4);
    cr_assert_eq(sk_addr_port(&a), 5000);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "1.2.3.4:5000");
    size_t len = 0;
    const struct sockaddr_in *s4 = sk_addr_sockaddr(&a, &len);
    cr_assert_not_null(s4);
    cr_assert_eq(len, sizeof(struct sockaddr_in));
    cr_assert_eq(s4->sin_family, AF_INET);
}

Test(addr, from_sockaddr_accepts_a_sockaddr_storage_length)
{
    /* What recvfrom/getsockname callers typically pass: the bigger storage size. */
    struct sockaddr_storage ss;
    sk_addr a;
    char buf[SK_ADDR_STRLEN];
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(7);
    s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &ss, sizeof ss), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "127.0.0.1:7");
}

Test(addr, from_sockaddr_rejects_other_families_short_lengths_and_null)
{
    sk_addr a;
    struct sockaddr_un su;
    struct sockaddr_in s4;
    struct sockaddr_in6 s6;
    memset(&su, 0, sizeof su);
    su.sun_family = AF_UNIX;
    memset(&s4, 0, sizeof s4);
    s4.sin_family = AF_INET;
    s4.sin_port = htons(80);
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(80);

    /* AF_UNIX is a family an sk_addr holds (test_unix.c); one it does not: */
    su.sun_family = AF_APPLETALK;
    fill_garbage(&a);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &su, sizeof su), SK_EINVAL, "AF_APPLETALK");
    cr_assert(is_empty(&a));

    fill_garbage(&a);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &s4, sizeof s4 - 1), SK_EINVAL, "short sockaddr_in");
    cr_assert(is_empty(&a));

    fill_garbage(&a);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &s6, sizeof s6 - 1), SK_EINVAL, "short sockaddr_in6");
    cr_assert(is_empty(&a));

    fill_garbage(&a);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &s6, sizeof(struct sockaddr_in)), SK_EINVAL,
                 "sockaddr_in6 with the length of a sockaddr_in");
    cr_assert(is_empty(&a));

    fill_garbage(&a);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &s4, 0), SK_EINVAL, "zero length");
    cr_assert(is_empty(&a));

    fill_garbage(&a);
    cr_assert_eq(sk_addr_from_sockaddr(&a, NULL, sizeof s4), SK_EINVAL);
    cr_assert(is_empty(&a));

    cr_assert_eq(sk_addr_from_sockaddr(NULL, &s4, sizeof s4), SK_EINVAL);
}

Test(addr, sockaddr_points_inside_the_address_with_its_family_port_and_length)
{
    sk_addr a;
    size_t len = 0;
    cr_assert_eq(sk_addr_parse(&a, "127.0.0.1:8080"), SK_OK);
    const unsigned char *p = sk_addr_sockaddr(&a, &len);
    cr_assert_not_null(p);
    cr_assert_geq(p, (const unsigned char *)&a);
    cr_assert_leq(p + len, (const unsigned char *)&a + sizeof a, "the sockaddr is not inside the sk_addr");
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)p;
    cr_assert_eq(len, sizeof(struct sockaddr_in));
    cr_assert_eq(s4->sin_family, AF_INET);
    cr_assert_eq(ntohs(s4->sin_port), 8080);
    cr_assert_eq(ntohl(s4->sin_addr.s_addr), INADDR_LOOPBACK);

    cr_assert_eq(sk_addr_parse(&a, "[::1]:8081"), SK_OK);
    const struct sockaddr_in6 *s6 = sk_addr_sockaddr(&a, &len);
    cr_assert_not_null(s6);
    cr_assert_eq(len, sizeof(struct sockaddr_in6));
    cr_assert_eq(s6->sin6_family, AF_INET6);
    cr_assert_eq(ntohs(s6->sin6_port), 8081);
    cr_assert(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));

    /* len may be NULL. */
    cr_assert_eq(sk_addr_sockaddr(&a, NULL), (const void *)s6);
}

Test(addr, sockaddr_is_null_for_null_or_empty)
{
    sk_addr empty;
    size_t len = 12345;
    memset(&empty, 0, sizeof empty);
    cr_assert_null(sk_addr_sockaddr(&empty, &len));
    cr_assert_null(sk_addr_sockaddr(NULL, &len));
    cr_assert_null(sk_addr_sockaddr(NULL, NULL));
}

Test(addr, sockaddr_and_from_sockaddr_round_trip)
{
    static const char *texts[] = {"127.0.0.1:1", "[::1]:2", "[fe80::1%3]:4", "[2001:db8::1]:65535"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        sk_addr a, b;
        size_t len = 0;
        char buf[SK_ADDR_STRLEN];
        cr_assert_eq(sk_addr_parse(&a, texts[i]), SK_OK, "%s", texts[i]);
        const void *sa = sk_addr_sockaddr(&a, &len);
        cr_assert_not_null(sa);
        cr_assert_eq(sk_addr_from_sockaddr(&b, sa, len), SK_OK, "%s", texts[i]);
        cr_assert_eq(sk_addr_format(&b, buf, sizeof buf), SK_OK);
        cr_assert_str_eq(buf, texts[i]);
    }
}

Test(addr, address_is_a_plain_value_that_can_be_copied)
{
    sk_addr a, b;
    char buf[SK_ADDR_STRLEN];
    cr_assert_eq(sk_addr_parse(&a, "[2001:db8::9]:99"), SK_OK);
    b = a;
    memset(&a, 0, sizeof a);
    cr_assert_eq(sk_addr_format(&b, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "[2001:db8::9]:99");
    size_t len = 0;
    const void *p = sk_addr_sockaddr(&b, &len);
    cr_assert_geq((const unsigned char *)p, (const unsigned char *)&b, "the sockaddr does not live inside the copy");
    cr_assert_lt((const unsigned char *)p, (const unsigned char *)&b + sizeof b);
}
