/* Unix domain addresses in sk_addr: parse and format round trips, the length rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <sockkit.h>

static void round_trip(const char *text)
{
    sk_addr a, b;
    char buf[SK_ADDR_STRLEN];
    cr_assert_eq(sk_addr_parse(&a, text), SK_OK, "parse \"%s\"", text);
    cr_assert_eq(sk_addr_family(&a), SK_ADDR_UNIX);
    cr_assert_eq(sk_addr_port(&a), SK_EINVAL);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, text);
    cr_assert_eq(sk_addr_parse(&b, buf), SK_OK);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
}

Test(unix, paths_abstract_names_and_unnamed_round_trip_through_text)
{
    round_trip("unix:/run/app.sock");
    round_trip("unix:relative.sock");
    round_trip("unix:./@x");
    round_trip("unix:@name");
    round_trip("unix:@");
    round_trip("unix:");
}

Test(unix, abstract_names_with_embedded_bytes_keep_their_exact_length)
{
    sk_addr a;
    size_t len;
    const unsigned char *sa;
    char buf[SK_ADDR_STRLEN];
    cr_assert_eq(sk_addr_parse(&a, "unix:@a\\x00b\\\\c\\xff"), SK_OK);
    sa = sk_addr_sockaddr(&a, &len);
    cr_assert_eq(len, offsetof(struct sockaddr_un, sun_path) + 1 + 6);
    cr_assert_eq(memcmp(sa + offsetof(struct sockaddr_un, sun_path), "\0a\0b\\c\xff", 7), 0);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_str_eq(buf, "unix:@a\\x00b\\\\c\\xff");
}

Test(unix, a_path_or_name_too_long_is_refused_not_cut)
{
    char text[200];
    sk_addr a;
    memcpy(text, "unix:/", 6);
    memset(text + 6, 'p', 106);
    text[6 + 106] = '\0'; /* a 107-byte path fits with its NUL */
    cr_assert_eq(sk_addr_parse(&a, text), SK_OK);
    text[6 + 106] = 'p';
    text[6 + 107] = '\0'; /* 108 bytes do not */
    cr_assert_eq(sk_addr_parse(&a, text), SK_EINVAL);
    memcpy(text, "unix:@", 6);
    text[6 + 107] = '\0'; /* a 107-byte abstract name fits */
    cr_assert_eq(sk_addr_parse(&a, text), SK_OK);
    text[6 + 107] = 'p';
    text[6 + 108] = '\0';
    cr_assert_eq(sk_addr_parse(&a, text), SK_EINVAL);
    cr_assert_eq(sk_addr_parse(&a, "unix:@bad\\q"), SK_EINVAL);
}

Test(unix, the_longest_abstract_text_fits_sk_addr_strlen)
{
    char text[SK_ADDR_STRLEN];
    sk_addr a;
    size_t n = 6;
    memcpy(text, "unix:@", 6);
    for (int i = 0; i < 107; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "\\x01");
    cr_assert_eq(n, (size_t)SK_ADDR_STRLEN - 1);
    cr_assert_eq(sk_addr_parse(&a, text), SK_OK);
    round_trip(text);
}

Test(unix, a_system_path_filling_sun_path_without_its_nul_is_refused_so_every_address_prints_and_parses_back)
{
    struct sockaddr_un su;
    sk_addr a, b;
    char buf[SK_ADDR_STRLEN];
    memset(&su, 0, sizeof su);
    su.sun_family = AF_UNIX;
    memset(su.sun_path, 'W', sizeof su.sun_path);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &su, sizeof su), SK_EINVAL);
    su.sun_path[sizeof su.sun_path - 1] = '\0';
    cr_assert_eq(sk_addr_from_sockaddr(&a, &su, sizeof su), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_eq(sk_addr_parse(&b, buf), SK_OK);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
}

/* The fuzzer's second find: an sk_addr a caller filled by hand (here, a 108-byte
 * path without its NUL) printed, but the text did not parse back. Such an address
 * is now not an address at all: no family, no text. A path that begins with '@' is
 * written "./@...", so it is refused once that text would not fit. */
Test(unix, an_address_whose_text_would_not_parse_back_neither_formats_nor_has_a_family)
{
    struct sockaddr_un su;
    sk_addr a, b;
    char buf[SK_ADDR_STRLEN];
    size_t len = 0;

    memset(&su, 0, sizeof su);
    su.sun_family = AF_UNIX;
    su.sun_path[0] = '/';
    memset(su.sun_path + 1, 'W', sizeof su.sun_path - 2);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &su, sizeof su), SK_OK, "107 bytes and the NUL: an address");
    cr_assert_not_null(sk_addr_sockaddr(&a, &len));
    memcpy(&b, &a, sizeof b);
    memcpy((unsigned char *)sk_addr_sockaddr(&b, NULL) + offsetof(struct sockaddr_un, sun_path) + 107, "W", 1);
    cr_assert_eq(sk_addr_family(&b), SK_EINVAL, "a 108-byte path without its NUL has a family");
    cr_assert_eq(sk_addr_format(&b, buf, sizeof buf), SK_EINVAL);
    cr_assert_eq(buf[0], '\0');

    /* '@' and 104 bytes: "unix:./@..." names it (107 bytes after "unix:"). */
    memset(su.sun_path, 0, sizeof su.sun_path);
    su.sun_path[0] = '@';
    memset(su.sun_path + 1, 'A', 104);
    cr_assert_eq(sk_addr_from_sockaddr(&a, &su, sizeof su), SK_OK);
    cr_assert_eq(sk_addr_format(&a, buf, sizeof buf), SK_OK);
    cr_assert_eq(strncmp(buf, "unix:./@", 8), 0, "%s", buf);
    cr_assert_eq(sk_addr_parse(&b, buf), SK_OK, "%s", buf);
    /* '@' and 105 bytes: the text would need 108. */
    su.sun_path[105] = 'A';
    cr_assert_eq(sk_addr_from_sockaddr(&a, &su, sizeof su), SK_EINVAL);
}
