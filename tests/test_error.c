/* Error codes: fixed values, names and descriptions. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

TestSuite(error, .init = tu_fd_guard_begin, .fini = tu_fd_guard_end);

struct code_entry {
    int code;
    int value;        /* the value written in the header, pinned forever */
    const char *name; /* the name as written in the header */
};

static const struct code_entry codes[] = {
    {SK_OK, 0, "SK_OK"},
    {SK_EINVAL, -1, "SK_EINVAL"},
    {SK_ENOMEM, -2, "SK_ENOMEM"},
    {SK_ETIMEDOUT, -3, "SK_ETIMEDOUT"},
    {SK_ECLOSED, -4, "SK_ECLOSED"},
    {SK_ECONNRESET, -5, "SK_ECONNRESET"},
    {SK_ECONNREFUSED, -6, "SK_ECONNREFUSED"},
    {SK_ENOTFOUND, -7, "SK_ENOTFOUND"},
    {SK_EADDRINUSE, -8, "SK_EADDRINUSE"},
    {SK_EUNREACH, -9, "SK_EUNREACH"},
    {SK_ETRUNCATED, -10, "SK_ETRUNCATED"},
    {SK_EMSGSIZE, -11, "SK_EMSGSIZE"},
    {SK_EMFILE, -12, "SK_EMFILE"},
    {SK_EOS, -13, "SK_EOS"},
    {SK_ETOOLONG, -14, "SK_ETOOLONG"},
    {SK_ECANCELED, -15, "SK_ECANCELED"},
};
#define NCODES (sizeof codes / sizeof codes[0])

static const int unknown_codes[] = {1, 2, -16, -999, 1000, INT_MIN, INT_MAX};
#define NUNKNOWN (sizeof unknown_codes / sizeof unknown_codes[0])

Test(error, ok_is_zero_and_every_other_code_is_negative)
{
    cr_assert_eq(SK_OK, 0);
    for (size_t i = 1; i < NCODES; i++)
        cr_assert_lt(codes[i].code, 0, "%s is %d, not negative", codes[i].name, codes[i].code);
}

Test(error, codes_keep_the_values_written_in_the_header)
{
    for (size_t i = 0; i < NCODES; i++)
        cr_assert_eq(codes[i].code, codes[i].value, "%s is %d, was released as %d", codes[i].name,
                     codes[i].code, codes[i].value);
}

Test(error, every_code_has_a_distinct_value)
{
    for (size_t i = 0; i < NCODES; i++)
        for (size_t j = i + 1; j < NCODES; j++)
            cr_assert_neq(codes[i].code, codes[j].code, "%s and %s share the value %d", codes[i].name,
                          codes[j].name, codes[i].code);
}

Test(error, errname_spells_every_code_as_in_the_header)
{
    for (size_t i = 0; i < NCODES; i++) {
        const char *n = sk_errname(codes[i].code);
        cr_assert_not_null(n, "sk_errname(%d) is NULL", codes[i].code);
        cr_assert_str_eq(n, codes[i].name, "sk_errname(%d)", codes[i].code);
    }
}

Test(error, strerror_gives_a_non_empty_text_for_every_code)
{
    for (size_t i = 0; i < NCODES; i++) {
        const char *s = sk_strerror(codes[i].code);
        cr_assert_not_null(s, "sk_strerror(%s) is NULL", codes[i].name);
        cr_assert_gt(strlen(s), 0, "sk_strerror(%s) is empty", codes[i].name);
    }
}

Test(error, strerror_texts_are_distinct_for_every_code)
{
    for (size_t i = 0; i < NCODES; i++)
        for (size_t j = i + 1; j < NCODES; j++)
            cr_assert_str_neq(sk_strerror(codes[i].code), sk_strerror(codes[j].code),
                              "%s and %s share the text \"%s\"", codes[i].name, codes[j].name,
                              sk_strerror(codes[i].code));
}

Test(error, strerror_text_is_not_the_code_name)
{
    /* A sentence, not the identifier again. */
    for (size_t i = 0; i < NCODES; i++)
        cr_assert_str_neq(sk_strerror(codes[i].code), codes[i].name, "sk_strerror(%s)", codes[i].name);
}

Test(error, unknown_codes_get_the_generic_name)
{
    for (size_t i = 0; i < NUNKNOWN; i++) {
        const char *n = sk_errname(unknown_codes[i]);
        cr_assert_not_null(n, "sk_errname(%d) is NULL", unknown_codes[i]);
        cr_assert_str_eq(n, "SK_E?", "sk_errname(%d)", unknown_codes[i]);
    }
}

Test(error, unknown_codes_get_a_generic_text_unlike_any_known_one)
{
    for (size_t i = 0; i < NUNKNOWN; i++) {
        const char *s = sk_strerror(unknown_codes[i]);
        cr_assert_not_null(s, "sk_strerror(%d) is NULL", unknown_codes[i]);
        cr_assert_gt(strlen(s), 0, "sk_strerror(%d) is empty", unknown_codes[i]);
        for (size_t j = 0; j < NCODES; j++)
            cr_assert_str_neq(s, sk_strerror(codes[j].code), "unknown code %d describes itself as %s",
                              unknown_codes[i], codes[j].name);
    }
}

Test(error, texts_do_not_change_between_calls)
{
    /* Static strings: a later call for another code does not overwrite an earlier result. */
    const char *t = sk_strerror(SK_ETIMEDOUT);
    const char *n = sk_errname(SK_ETIMEDOUT);
    char tcopy[256], ncopy[64];
    snprintf(tcopy, sizeof tcopy, "%s", t);
    snprintf(ncopy, sizeof ncopy, "%s", n);
    for (size_t i = 0; i < NCODES; i++) {
        (void)sk_strerror(codes[i].code);
        (void)sk_errname(codes[i].code);
    }
    (void)sk_strerror(-999);
    (void)sk_errname(-999);
    cr_assert_str_eq(t, tcopy);
    cr_assert_str_eq(n, ncopy);
}

/* The ABI baseline (docs/abi/libsockkit.so.0.values, "sk_error NAME VALUE" lines) is the list of
 * codes released programs were compiled with: every one of them still has its value,
 * its name and a text of its own, and the table above knows every one. */
Test(error, every_code_of_the_abi_baseline_keeps_its_value_name_and_text)
{
    FILE *f = fopen(SK_TEST_ABI_VALUES, "r");
    cr_assert_not_null(f, "cannot open %s", SK_TEST_ABI_VALUES);
    char line[256];
    size_t seen = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char name[64];
        int value;
        if (sscanf(line, "sk_error %63s %d", name, &value) != 2)
            continue;
        seen++;
        size_t i = 0;
        while (i < NCODES && strcmp(codes[i].name, name) != 0)
            i++;
        if (i == NCODES) {
            fclose(f);
            cr_assert_fail("%s of the baseline is missing from this test's table", name);
        }
        cr_expect_eq(codes[i].code, value, "%s is %d, the baseline says %d", name, codes[i].code, value);
        cr_expect_str_eq(sk_errname(value), name);
        cr_expect_str_neq(sk_strerror(value), sk_strerror(INT_MIN), "%s has only the generic text", name);
    }
    fclose(f);
    cr_expect_eq(seen, NCODES, "the baseline lists %zu codes, the header %zu", seen, (size_t)NCODES);
}
