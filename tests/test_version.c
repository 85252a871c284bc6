/* Version: the compile-time macros and their run-time twins agree. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

TestSuite(version, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end);

/* The macros work in the preprocessor, where feature tests use them. */
#if !defined(SK_VERSION_NUMBER) || SK_VERSION_NUMBER != ((SK_VERSION_MAJOR << 16) | (SK_VERSION_MINOR << 8) | SK_VERSION_PATCH)
#error "SK_VERSION_NUMBER is not usable in #if or disagrees with its parts"
#endif

Test(version, number_macro_is_made_of_its_parts)
{
    unsigned expect = ((unsigned)SK_VERSION_MAJOR << 16) | ((unsigned)SK_VERSION_MINOR << 8) |
                      (unsigned)SK_VERSION_PATCH;
    cr_assert_eq((unsigned)SK_VERSION_NUMBER, expect);
    /* Each part fits its byte, or the packing would be ambiguous. */
    cr_assert_leq(SK_VERSION_MINOR, 255);
    cr_assert_leq(SK_VERSION_PATCH, 255);
    cr_assert_geq(SK_VERSION_MAJOR, 0);
    cr_assert_geq(SK_VERSION_MINOR, 0);
    cr_assert_geq(SK_VERSION_PATCH, 0);
}

Test(version, run_time_number_matches_the_headers)
{
    cr_assert_eq(sk_version(), (unsigned)SK_VERSION_NUMBER, "library 0x%06x, headers 0x%06x", sk_version(),
                 (unsigned)SK_VERSION_NUMBER);
}

Test(version, run_time_number_unpacks_to_the_macros)
{
    unsigned v = sk_version();
    cr_assert_eq(v >> 16, (unsigned)SK_VERSION_MAJOR);
    cr_assert_eq((v >> 8) & 0xffu, (unsigned)SK_VERSION_MINOR);
    cr_assert_eq(v & 0xffu, (unsigned)SK_VERSION_PATCH);
}

Test(version, run_time_string_matches_the_string_macro)
{
    const char *s = sk_version_string();
    cr_assert_not_null(s);
    cr_assert_str_eq(s, SK_VERSION_STRING);
}

Test(version, run_time_string_is_the_three_numbers_with_dots)
{
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", SK_VERSION_MAJOR, SK_VERSION_MINOR, SK_VERSION_PATCH);
    cr_assert_str_eq(sk_version_string(), expect);
}

Test(version, string_and_number_describe_the_same_version)
{
    unsigned maj = 0, min = 0, pat = 0;
    int n = -1;
    const char *s = sk_version_string();
    cr_assert_eq(sscanf(s, "%u.%u.%u%n", &maj, &min, &pat, &n), 3, "\"%s\" is not MAJOR.MINOR.PATCH", s);
    cr_assert_eq((size_t)n, strlen(s), "\"%s\" has trailing text", s);
    cr_assert_eq((maj << 16) | (min << 8) | pat, sk_version());
}

Test(version, string_macro_is_the_three_numbers_with_dots)
{
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", SK_VERSION_MAJOR, SK_VERSION_MINOR, SK_VERSION_PATCH);
    cr_assert_str_eq(SK_VERSION_STRING, expect);
}
