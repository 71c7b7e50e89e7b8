/* SPDX-License-Identifier: MIT */
/* Unit tests for the cJSON helpers: rounded, nullable and time fields out; checked fields in. */
#include "common/json.h"
#include "common/err.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Prints obj compactly, frees it and compares with want. */
static void printed_is(cJSON *obj, const char *want)
{
    char *text = cJSON_PrintUnformatted(obj);
    assert_non_null(text);
    if (strcmp(text, want) != 0)
        fail_msg("printed '%s', want '%s'", text, want);
    free(text);
    cJSON_Delete(obj);
}

static void test_round(void **state)
{
    (void)state;
    assert_true(mon_round(23.4000000001, 1) == 23.4);
    assert_true(mon_round(2.345, 0) == 2.0);
    assert_true(mon_round(2.5, 0) == 3.0);
    assert_true(mon_round(-2.5, 0) == -3.0); /* half away from zero */
    assert_true(mon_round(1.23456, 3) == 1.235);
    assert_true(mon_round(1234.0, -2) == 1200.0);
    /* Tiny negatives round to plain zero, not -0. */
    assert_false(signbit(mon_round(-0.0049, 2)));
    assert_false(signbit(mon_round(-0.0, 1)));
    /* Huge values whose scaling would overflow come back unchanged, not as infinity. */
    assert_true(mon_round(1e307, 2) == 1e307);
    assert_true(mon_round(-1e307, 2) == -1e307);
    assert_true(isnan(mon_round(NAN, 1)));
}

/* mon_round_int is C's round() without libm: halves away from zero, the sign of zero kept. The
 * expected values are written out rather than taken from the C library's round(): mingw-w64's
 * rounds 0.49999999999999994 up to 1 (as floor(x + 0.5) does), which C does not allow. */
static void test_round_int(void **state)
{
    static const struct {
        double in, want;
    } cases[] = {{0.0, 0.0},
                 {-0.0, -0.0},
                 {0.3, 0.0},
                 {-0.3, -0.0},
                 {0.5, 1.0},
                 {-0.5, -1.0},
                 {1.5, 2.0},
                 {-1.5, -2.0},
                 {2.5, 3.0},
                 {-2.5, -3.0},
                 {2.4999, 2.0},
                 {-2.4999, -2.0},
                 {0.49999999999999994, 0.0},
                 {-0.49999999999999994, -0.0},
                 {4503599627370495.5, 4503599627370496.0},
                 {-4503599627370495.5, -4503599627370496.0},
                 {4503599627370497.0, 4503599627370497.0},
                 {1e300, 1e300},
                 {-1e300, -1e300},
                 {123456.789, 123457.0},
                 {-123456.789, -123457.0},
                 {INFINITY, INFINITY},
                 {-INFINITY, -INFINITY}};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = mon_round_int(cases[i].in);
        assert_true(got == cases[i].want);
        assert_true(signbit(got) == signbit(cases[i].want));
    }
    assert_true(isnan(mon_round_int(NAN)));
}

static void test_add_rounded(void **state)
{
    cJSON *obj = cJSON_CreateObject();
    (void)state;
    assert_non_null(mon_json_add_rounded(obj, "t", 23.4000000001, 1));
    assert_non_null(mon_json_add_rounded(obj, "p", 99.99999, 2));
    assert_non_null(mon_json_add_rounded(obj, "n", -0.0049, 2));
    assert_non_null(mon_json_add_rounded(obj, "i", 7.0, 1));
    assert_non_null(mon_json_add_rounded(obj, "f", 1.23456789, 3));
    printed_is(obj, "{\"t\":23.4,\"p\":100,\"n\":0,\"i\":7,\"f\":1.235}");
}

static void test_add_opt(void **state)
{
    cJSON *obj = cJSON_CreateObject();
    (void)state;
    assert_non_null(mon_json_add_opt(obj, "a", true, 12.3456, 2));
    assert_non_null(mon_json_add_opt(obj, "b", false, 12.3456, 2));
    assert_non_null(mon_json_add_opt(obj, "c", true, NAN, 2));
    assert_non_null(mon_json_add_opt(obj, "d", true, INFINITY, 2));
    assert_non_null(mon_json_add_opt(obj, "e", true, 0.0, 1));
    printed_is(obj, "{\"a\":12.35,\"b\":null,\"c\":null,\"d\":null,\"e\":0}");
}

static void test_add_time(void **state)
{
    cJSON *obj = cJSON_CreateObject();
    (void)state;
    assert_non_null(mon_json_add_time(obj, "at", 1768644000));
    assert_non_null(mon_json_add_time(obj, "epoch", 0));
    assert_non_null(mon_json_add_time(obj, "none", -1));
    assert_non_null(mon_json_add_time(obj, "far", 253402300800LL)); /* year 10000 */
    printed_is(obj, "{\"at\":\"2026-01-17T10:00:00Z\",\"epoch\":\"1970-01-01T00:00:00Z\","
                    "\"none\":null,\"far\":null}");
}

static void test_get_number(void **state)
{
    cJSON *obj = cJSON_Parse("{\"pct\":42.5,\"neg\":-1,\"zero\":0,\"s\":\"12\",\"b\":true,"
                             "\"n\":null,\"big\":1e300,\"arr\":[1],\"o\":{}}");
    double v = -99;
    char why[128] = "";
    (void)state;
    assert_non_null(obj);
    assert_int_equal(mon_json_get_number(obj, "pct", 0, 100, &v, why, sizeof(why)), MON_OK);
    assert_true(v == 42.5);
    assert_int_equal(mon_json_get_number(obj, "zero", 0, 100, &v, why, sizeof(why)), MON_OK);
    assert_true(v == 0);
    /* Bounds are inclusive. */
    assert_int_equal(mon_json_get_number(obj, "pct", 42.5, 42.5, &v, why, sizeof(why)), MON_OK);

    v = -99;
    assert_int_equal(mon_json_get_number(obj, "missing", 0, 100, &v, why, sizeof(why)), MON_ENOENT);
    assert_int_equal(mon_json_get_number(obj, "n", 0, 100, &v, why, sizeof(why)), MON_ENOENT);
    assert_int_equal(mon_json_get_number(obj, "PCT", 0, 100, &v, why, sizeof(why)), MON_ENOENT);
    assert_true(v == -99);

    assert_int_equal(mon_json_get_number(obj, "neg", 0, 100, &v, why, sizeof(why)), MON_EINVAL);
    assert_non_null(strstr(why, "neg"));
    assert_non_null(strstr(why, "range"));
    assert_int_equal(mon_json_get_number(obj, "big", 0, 1e10, &v, why, sizeof(why)), MON_EINVAL);
    assert_int_equal(mon_json_get_number(obj, "pct", 0, 42, &v, why, sizeof(why)), MON_EINVAL);
    why[0] = '\0';
    assert_int_equal(mon_json_get_number(obj, "s", 0, 100, &v, why, sizeof(why)), MON_EINVAL);
    assert_string_equal(why, "s: not a number");
    assert_int_equal(mon_json_get_number(obj, "b", 0, 100, &v, why, sizeof(why)), MON_EINVAL);
    assert_int_equal(mon_json_get_number(obj, "arr", 0, 100, &v, why, sizeof(why)), MON_EINVAL);
    assert_int_equal(mon_json_get_number(obj, "o", 0, 100, &v, why, sizeof(why)), MON_EINVAL);
    assert_true(v == -99);
    cJSON_Delete(obj);
}

static void test_get_number_nonfinite(void **state)
{
    cJSON *obj = cJSON_CreateObject();
    double v = -99;
    char why[128] = "";
    (void)state;
    /* JSON text cannot carry NaN, but a tree built in memory can. */
    cJSON_AddNumberToObject(obj, "nan", NAN);
    cJSON_AddNumberToObject(obj, "inf", INFINITY);
    assert_int_equal(mon_json_get_number(obj, "nan", -INFINITY, INFINITY, &v, why, sizeof(why)),
                     MON_EINVAL);
    assert_string_equal(why, "nan: not a number");
    assert_int_equal(mon_json_get_number(obj, "inf", -INFINITY, INFINITY, &v, why, sizeof(why)),
                     MON_EINVAL);
    assert_true(v == -99);
    cJSON_Delete(obj);
}

static void test_get_string(void **state)
{
    cJSON *obj = cJSON_Parse("{\"id\":\"srv-01\",\"e\":\"\",\"num\":5,\"n\":null,\"long\":"
                             "\"0123456789\"}");
    const char *s = NULL;
    char why[128] = "";
    (void)state;
    assert_non_null(obj);
    assert_int_equal(mon_json_get_string(obj, "id", 64, &s, why, sizeof(why)), MON_OK);
    assert_string_equal(s, "srv-01");
    assert_int_equal(mon_json_get_string(obj, "e", 64, &s, why, sizeof(why)), MON_OK);
    assert_string_equal(s, "");
    /* The cap is inclusive: 10 bytes fit in 10, not in 9. */
    assert_int_equal(mon_json_get_string(obj, "long", 10, &s, why, sizeof(why)), MON_OK);
    assert_string_equal(s, "0123456789");
    s = NULL;
    assert_int_equal(mon_json_get_string(obj, "long", 9, &s, why, sizeof(why)), MON_EINVAL);
    assert_non_null(strstr(why, "long"));
    assert_non_null(strstr(why, "9"));
    assert_null(s);
    assert_int_equal(mon_json_get_string(obj, "num", 64, &s, why, sizeof(why)), MON_EINVAL);
    assert_string_equal(why, "num: not a string");
    assert_int_equal(mon_json_get_string(obj, "n", 64, &s, why, sizeof(why)), MON_ENOENT);
    assert_int_equal(mon_json_get_string(obj, "missing", 64, &s, why, sizeof(why)), MON_ENOENT);
    assert_null(s);
    cJSON_Delete(obj);
}

/* Parses text strictly; returns the reason, or "" after success. */
static const char *strict(const char *text, char *why, size_t why_len)
{
    cJSON *root = (cJSON *)(uintptr_t)1;
    int r;
    why[0] = '\0';
    r = mon_json_parse_strict(text, strlen(text), &root, why, why_len);
    if (r == MON_OK) {
        assert_non_null(root);
        cJSON_Delete(root);
        return "";
    }
    assert_int_equal(r, MON_EPARSE);
    assert_ptr_equal(root, (cJSON *)(uintptr_t)1); /* untouched */
    return why;
}

/* Issue 11 item 9: what cJSON alone accepts but loses. */
static void test_parse_strict(void **state)
{
    char why[128], big[2048];
    size_t n = 0;
    (void)state;
    assert_string_equal(strict("{\"a\": [1, {\"b\": \"c\"}], \"d\": null}  \n", why, 128), "");
    assert_string_equal(strict("\"\\\\u0000\"", why, 128),
                        ""); /* an escaped backslash, then text */
    assert_string_equal(strict("\"\\u0001 \\u00e9\"", why, 128), "");
    assert_string_equal(strict("{\"n\": \"nz\\u0000\\u001b[31m\"}", why, 128),
                        "a string contains \\u0000");
    assert_string_equal(strict("{\"k\\u0000x\": 1}", why, 128), "a string contains \\u0000");
    assert_string_equal(strict("\"a\tb\"", why, 128), "a string contains a raw control character");
    assert_string_equal(strict("{\"a\": 1} x", why, 128), "data after the JSON value");
    assert_string_equal(strict("{\"a\": 1}{}", why, 128), "data after the JSON value");
    assert_string_equal(strict("[1] ]", why, 128), "data after the JSON value");
    assert_string_equal(strict("{\"a\": ", why, 128), "not JSON");
    assert_string_equal(strict("", why, 128), "not JSON");
    assert_string_equal(strict("{\"name\": \"a\", \"name\": \"b\"}", why, 128),
                        "duplicate key \"name\"");
    assert_string_equal(strict("[{\"x\": {\"y\": 1, \"y\": 2}}]", why, 128), "duplicate key \"y\"");
    /* Many keys (sorted, not compared pairwise), the repeat at the end. */
    n += (size_t)snprintf(big + n, sizeof(big) - n, "{");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "\"k%d\": %d, ", i, i);
    snprintf(big + n, sizeof(big) - n, "\"k42\": 0}");
    assert_string_equal(strict(big, why, 128), "duplicate key \"k42\"");
    big[n] = '\0';
    snprintf(big + n, sizeof(big) - n, "\"k100\": 0}");
    assert_string_equal(strict(big, why, 128), "");
    /* Up to 64 keys are compared on their first two bytes, then whole: keys that share them
     * are told apart, a repeat among them is found, and so is a repeated empty key. */
    n = (size_t)snprintf(big, sizeof(big), "{");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "\"k1%d\": %d, ", i, i);
    snprintf(big + n, sizeof(big) - n, "\"k133\": 0}");
    assert_string_equal(strict(big, why, 128), "duplicate key \"k133\"");
    snprintf(big + n, sizeof(big) - n, "\"k1\": 0}");
    assert_string_equal(strict(big, why, 128), "");
    assert_string_equal(strict("{\"abc\": 1, \"abd\": 2, \"ab\": 3, \"a\": 4}", why, 128), "");
    assert_string_equal(strict("{\"\": 1, \"a\": 2, \"\": 3}", why, 128), "duplicate key \"\"");
    /* Whitespace between the tokens (no string holds a control character). */
    assert_string_equal(strict("{\n\t\"a\":\r\n [1,\t2]\n}", why, 128), "");
    /* A repeated key is named, shown safely. */
    assert_string_equal(strict("{\"\\u202e\": 1, \"\\u202e\": 2}", why, 128),
                        "duplicate key \"\xef\xbf\xbd\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round),
        cmocka_unit_test(test_round_int),
        cmocka_unit_test(test_add_rounded),
        cmocka_unit_test(test_add_opt),
        cmocka_unit_test(test_add_time),
        cmocka_unit_test(test_get_number),
        cmocka_unit_test(test_get_number_nonfinite),
        cmocka_unit_test(test_get_string),
        cmocka_unit_test(test_parse_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
