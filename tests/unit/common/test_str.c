/* SPDX-License-Identifier: MIT */
/* Unit tests for the string helpers: strict number parsing, secret comparison, bounded copies. */
#include "common/str.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Parses s expecting success with the given value. */
static void int_ok(const char *s, int64_t min, int64_t max, int64_t want)
{
    int64_t v = 777;
    int r = mon_parse_int64(s, min, max, &v);
    if (r != MON_OK)
        fail_msg("'%s': expected success, got %d", s, r);
    if (v != want)
        fail_msg("'%s': got %lld, want %lld", s, (long long)v, (long long)want);
}

/* Parses s expecting the error code err and the out-value untouched. */
static void int_bad(const char *s, int64_t min, int64_t max, int err)
{
    int64_t v = 777;
    int r = mon_parse_int64(s, min, max, &v);
    if (r != err)
        fail_msg("'%s': expected %d, got %d", s ? s : "(null)", err, r);
    assert_int_equal(v, 777);
}

static void test_parse_int64_ok(void **state)
{
    (void)state;
    int_ok("0", 0, 10, 0);
    int_ok("10", 0, 10, 10);
    int_ok("+1", -5, 5, 1);
    int_ok("-1", -5, 5, -1);
    int_ok("007", 0, 10, 7);
    int_ok("9223372036854775807", INT64_MIN, INT64_MAX, INT64_MAX);
    int_ok("-9223372036854775808", INT64_MIN, INT64_MAX, INT64_MIN);
}

static void test_parse_int64_syntax(void **state)
{
    (void)state;
    int_bad(" 1", 0, 10, MON_EPARSE);
    int_bad("1 ", 0, 10, MON_EPARSE);
    int_bad("1x", 0, 10, MON_EPARSE);
    int_bad("", 0, 10, MON_EPARSE);
    int_bad("-", 0, 10, MON_EPARSE);
    int_bad("+", 0, 10, MON_EPARSE);
    int_bad("--1", -10, 10, MON_EPARSE);
    int_bad("+-1", -10, 10, MON_EPARSE);
    int_bad("0x10", 0, 100, MON_EPARSE);
    int_bad("1.0", 0, 10, MON_EPARSE);
    int_bad("1e3", 0, 10000, MON_EPARSE);
    int_bad("abc", 0, 10, MON_EPARSE);
    int_bad("\t1", 0, 10, MON_EPARSE);
    int_bad(NULL, 0, 10, MON_EPARSE);
}

static void test_parse_int64_range(void **state)
{
    (void)state;
    int_bad("11", 0, 10, MON_ERANGE);
    int_bad("-1", 0, 10, MON_ERANGE);
    int_bad("4", 5, 10, MON_ERANGE);
    int_bad("9223372036854775808", INT64_MIN, INT64_MAX, MON_ERANGE);
    int_bad("-9223372036854775809", INT64_MIN, INT64_MAX, MON_ERANGE);
    int_bad("99999999999999999999999", INT64_MIN, INT64_MAX, MON_ERANGE);
}

static void test_parse_u64_span(void **state)
{
    const char *digits = "18446744073709551615 x";
    uint64_t v = 7;
    (void)state;
    assert_true(mon_parse_u64_span(digits, digits + 20, &v));
    assert_true(v == UINT64_MAX);
    assert_true(mon_parse_u64_span("042", "042" + 3, &v));
    assert_int_equal(v, 42);
    /* Overflow, a sign, a space and an empty span are refused and leave v alone. */
    assert_false(mon_parse_u64_span("18446744073709551616", "18446744073709551616" + 20, &v));
    assert_false(mon_parse_u64_span("-1", "-1" + 2, &v));
    assert_false(mon_parse_u64_span(digits, digits + 21, &v));
    assert_false(mon_parse_u64_span(digits, digits, &v));
    assert_int_equal(v, 42);
}

static void test_parse_double(void **state)
{
    double v = 0;
    (void)state;
    assert_int_equal(mon_parse_double("1.5", &v), MON_OK);
    assert_true(v == 1.5);
    assert_int_equal(mon_parse_double("-0.25", &v), MON_OK);
    assert_true(v == -0.25);
    assert_int_equal(mon_parse_double("1e3", &v), MON_OK);
    assert_true(v == 1000.0);
    assert_int_equal(mon_parse_double("42", &v), MON_OK);
    assert_true(v == 42.0);
    assert_int_equal(mon_parse_double("1.7976931348623157e308", &v), MON_OK);
}

static void double_bad(const char *s, int err)
{
    double v = 123.0;
    int r = mon_parse_double(s, &v);
    if (err ? r != err : r >= 0)
        fail_msg("'%s': expected failure %d, got %d", s ? s : "(null)", err, r);
    assert_true(v == 123.0);
}

static void test_parse_double_rejects(void **state)
{
    (void)state;
    double_bad("", MON_EPARSE);
    double_bad(" 1", MON_EPARSE);
    double_bad("1 ", MON_EPARSE);
    double_bad("1.5x", MON_EPARSE);
    double_bad("x", MON_EPARSE);
    double_bad(NULL, MON_EPARSE);
    double_bad("1e400", MON_ERANGE);
    double_bad("-1e400", MON_ERANGE);
    /* Non-finite values are never accepted, whatever the code. */
    double_bad("nan", 0);
    double_bad("NaN", 0);
    double_bad("-nan", 0);
    double_bad("inf", 0);
    double_bad("-inf", 0);
    double_bad("Infinity", 0);
}

static void test_secret_equal(void **state)
{
    (void)state;
    assert_true(mon_secret_equal("s3cret-token", "s3cret-token"));
    assert_true(mon_secret_equal("x", "x"));
    assert_false(mon_secret_equal("s3cret-toke", "s3cret-token"));   /* prefix */
    assert_false(mon_secret_equal("s3cret-tokenX", "s3cret-token")); /* longer */
    assert_false(mon_secret_equal("S3cret-token", "s3cret-token"));  /* first byte */
    assert_false(mon_secret_equal("s3cret-tokeN", "s3cret-token"));  /* last byte */
    assert_false(mon_secret_equal("", "s3cret-token"));
    assert_false(mon_secret_equal("", ""));  /* an empty expected secret never matches */
    assert_false(mon_secret_equal("a", "")); /* ... nor with anything else */
    assert_false(mon_secret_equal(NULL, "abc"));
    assert_false(mon_secret_equal("abc", NULL));
    assert_false(mon_secret_equal(NULL, NULL));
    /* Much longer, bytes above 0x7f, and a difference that XORs to a NUL-like value. */
    assert_false(mon_secret_equal("s3cret-token-and-a-lot-more-after-it", "s3cret-token"));
    assert_true(mon_secret_equal("t\xc3\xa9-\xff\x80", "t\xc3\xa9-\xff\x80"));
    assert_false(mon_secret_equal("t\xc3\xa9-\xff\x81", "t\xc3\xa9-\xff\x80"));
    assert_false(mon_secret_equal("ab", "abc"));
    assert_false(mon_secret_equal("abcd", "abc"));
}

static void test_strlcpy(void **state)
{
    char small[4];
    char exact[6];
    (void)state;
    memset(small, 'Z', sizeof(small));
    assert_false(mon_strlcpy(small, "abcdef", sizeof(small)));
    assert_string_equal(small, "abc");
    assert_true(mon_strlcpy(exact, "abcde", sizeof(exact)));
    assert_string_equal(exact, "abcde");
    assert_false(mon_strlcpy(exact, "abcdef", sizeof(exact)));
    assert_string_equal(exact, "abcde");
    assert_true(mon_strlcpy(small, "", sizeof(small)));
    assert_string_equal(small, "");
    /* Size 0 writes nothing; only an empty source counts as "fits". */
    memset(small, 'Z', sizeof(small));
    assert_false(mon_strlcpy(small, "a", 0));
    assert_true(mon_strlcpy(small, "", 0));
    assert_int_equal(small[0], 'Z');
}

static void test_starts_with_and_strndup(void **state)
{
    char *s;
    (void)state;
    assert_true(mon_str_starts_with("/api/x", "/api/"));
    assert_true(mon_str_starts_with("abc", ""));
    assert_false(mon_str_starts_with("/ap", "/api/"));
    assert_false(mon_str_starts_with("/API/x", "/api/"));
    s = mon_strndup("hello world", 5);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    free(s);
    s = mon_strndup("", 0);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

static void test_format(void **state)
{
    char buf[8];
    (void)state;
    mon_str_format(buf, sizeof(buf), "%s %d", "ab", 12);
    assert_string_equal(buf, "ab 12");
    mon_str_format(buf, sizeof(buf), "%s", "truncated here"); /* the start is kept */
    assert_string_equal(buf, "truncat");
    mon_str_format(NULL, 0, "%s", "nothing"); /* no buffer: nothing written, no crash */
    mon_str_format(buf, 0, "%s", "x");
    assert_string_equal(buf, "truncat");
}

static void test_utf8_valid(void **state)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"", true},
        {"plain ASCII", true},
        {"caf\xc3\xa9 \xe6\x9c\x8d\xe5\x8a\xa1\xe5\x99\xa8 \xf0\x9f\x96\xa5", true},
        {"\xf4\x8f\xbf\xbf", true},  /* U+10FFFF */
        {"\xef\xbf\xbd", true},      /* U+FFFD */
        {"f\xff\xfe", false},        /* bytes that never occur */
        {"\x80", false},             /* a lone continuation byte */
        {"\xc3", false},             /* cut short */
        {"\xe6\x9c", false},         /* cut short */
        {"\xc0\xaf", false},         /* overlong '/' */
        {"\xe0\x80\xaf", false},     /* overlong '/' */
        {"\xf0\x80\x80\xaf", false}, /* overlong '/' */
        {"\xed\xa0\x80", false},     /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", false}, /* above U+10FFFF */
        {"\xc3\x28", false},         /* bad continuation */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (mon_utf8_valid(cases[i].s, strlen(cases[i].s)) != cases[i].ok)
            fail_msg("case %zu: expected %s", i, cases[i].ok ? "valid" : "invalid");
    }
    assert_true(mon_utf8_valid("a\0b", 3)); /* length-bounded, NUL is a character */
    assert_false(mon_utf8_valid("\xc3\xa9", 1));
}

/* Issue 11 item 14: a token HTTP cannot carry whole is refused wherever tokens are set. */
static void test_token_problem(void **state)
{
    static const char *const bad[] = {"",
                                      "abc\r\ndef",
                                      "abc\ndef",
                                      "\tabcdefgh",
                                      "abc\x7f",
                                      "   ",
                                      " ",
                                      " abcdefgh",
                                      "abcdefgh ",
                                      "abc\x01"
                                      "def"};
    (void)state;
    assert_non_null(mon_token_problem(NULL));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!mon_token_problem(bad[i]))
            fail_msg("token '%s' accepted", bad[i]);
    assert_non_null(strstr(mon_token_problem("a\r\nb"), "control"));
    assert_non_null(strstr(mon_token_problem("   "), "only spaces"));
    assert_null(mon_token_problem("abcdefgh"));
    assert_null(mon_token_problem("inner space ok"));
    assert_null(mon_token_problem("t\xc3\xa9"
                                  "st-token-\xe5\x90\x8d"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int64_ok),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_parse_int64_syntax),
        cmocka_unit_test(test_parse_int64_range),
        cmocka_unit_test(test_parse_u64_span),
        cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_parse_double_rejects),
        cmocka_unit_test(test_secret_equal),
        cmocka_unit_test(test_strlcpy),
        cmocka_unit_test(test_starts_with_and_strndup),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_token_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
