/* SPDX-License-Identifier: MIT */
/* Unit tests for the clock helpers: ISO-8601 formatting and parsing, durations, monotonic time. */
#include "common/clock.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define YEAR0_S    (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define YEAR9999_S 253402300799LL   /* 9999-12-31T23:59:59Z */

static void format_is(int64_t utc_s, const char *want)
{
    char buf[MON_ISO8601_LEN];
    int r = mon_format_iso8601(utc_s, buf, sizeof(buf));
    if (r != MON_OK)
        fail_msg("format(%lld) failed: %d", (long long)utc_s, r);
    if (strcmp(buf, want) != 0)
        fail_msg("format(%lld) = '%s', want '%s'", (long long)utc_s, buf, want);
}

static void test_format(void **state)
{
    (void)state;
    format_is(0, "1970-01-01T00:00:00Z");
    format_is(1768644000, "2026-01-17T10:00:00Z");
    format_is(1709164800, "2024-02-29T00:00:00Z");
    format_is(1709251199, "2024-02-29T23:59:59Z");
    format_is(1709251200, "2024-03-01T00:00:00Z");
    format_is(946684800, "2000-01-01T00:00:00Z");
    format_is(-1, "1969-12-31T23:59:59Z");
    format_is(-86400, "1969-12-31T00:00:00Z");
    format_is(-86401, "1969-12-30T23:59:59Z");
    format_is(-2203891200LL, "1900-03-01T00:00:00Z");
    format_is(YEAR9999_S, "9999-12-31T23:59:59Z");
    format_is(YEAR0_S, "0000-01-01T00:00:00Z");
}

static void test_format_range(void **state)
{
    char buf[MON_ISO8601_LEN];
    char tiny[20];
    (void)state;
    assert_int_equal(mon_format_iso8601(YEAR9999_S + 1, buf, sizeof(buf)), MON_ERANGE);
    assert_int_equal(mon_format_iso8601(YEAR0_S - 1, buf, sizeof(buf)), MON_ERANGE);
    assert_int_equal(mon_format_iso8601(INT64_MAX, buf, sizeof(buf)), MON_ERANGE);
    assert_int_equal(mon_format_iso8601(INT64_MIN, buf, sizeof(buf)), MON_ERANGE);
    /* 20 characters plus the NUL do not fit in 20 bytes. */
    assert_int_equal(mon_format_iso8601(0, tiny, sizeof(tiny)), MON_ERANGE);
}

static void parse_is(const char *text, int64_t want)
{
    int64_t v = 12345;
    int r = mon_parse_iso8601(text, &v);
    if (r != MON_OK)
        fail_msg("parse('%s') failed: %d", text, r);
    if (v != want)
        fail_msg("parse('%s') = %lld, want %lld", text, (long long)v, (long long)want);
}

static void parse_bad(const char *text)
{
    int64_t v = 12345;
    int r = mon_parse_iso8601(text, &v);
    if (r >= 0)
        fail_msg("parse('%s') accepted as %lld", text ? text : "(null)", (long long)v);
    assert_int_equal(v, 12345);
}

static void test_parse(void **state)
{
    (void)state;
    parse_is("1970-01-01T00:00:00Z", 0);
    parse_is("2026-01-17T10:00:00Z", 1768644000);
    parse_is("2026-01-17t10:00:00z", 1768644000);
    parse_is("2026-01-17 10:00:00Z", 1768644000);
    parse_is("2026-01-17T10:00:00+08:00", 1768615200);
    parse_is("2026-01-17T10:00:00+0800", 1768615200);
    parse_is("2026-01-17T10:00:00-05:30", 1768663800);
    parse_is("2026-01-17T10:00:00-0530", 1768663800);
    parse_is("2026-01-17T10:00:00+00:00", 1768644000);
    parse_is("2026-01-17T10:00:00.5Z", 1768644000);
    parse_is("2026-01-17T10:00:00.999999Z", 1768644000);
    parse_is("2026-01-17T10:00:00.123+08:00", 1768615200);
    parse_is("2026-01-17", 1768608000);
    parse_is("2024-02-29", 1709164800);
    parse_is("2000-02-29T00:00:00Z", 951782400);
    parse_is("1969-12-31T23:59:59Z", -1);
    parse_is("9999-12-31T23:59:59Z", YEAR9999_S);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    parse_bad("2026-01-17T10:00:00");       /* local time: no zone */
    parse_bad("2026-01-17T10:00:00.5");     /* ditto, with fraction */
    parse_bad("2026-02-30");                /* no such day */
    parse_bad("2026-02-30T00:00:00Z");      /* no such day */
    parse_bad("2023-02-29T00:00:00Z");      /* not a leap year */
    parse_bad("1900-02-29");                /* century, not a leap year */
    parse_bad("2026-04-31");                /* April has 30 days */
    parse_bad("2026-13-01");                /* month */
    parse_bad("2026-00-10");                /* month */
    parse_bad("2026-01-00");                /* day */
    parse_bad("2026-01-17T24:00:00Z");      /* hour 24 */
    parse_bad("2026-01-17T10:60:00Z");      /* minute */
    parse_bad("2026-01-17T10:00:61Z");      /* second */
    parse_bad("2026-01-17T10:00:00+24:00"); /* zone hour */
    parse_bad("2026-01-17T10:00:00+08:60"); /* zone minute */
    parse_bad("2026-01-17T10:00:00+08");    /* zone without minutes */
    parse_bad("2026-01-17T10:00:00.Z");     /* empty fraction */
    parse_bad("2026-01-17T10:00Z");         /* no seconds */
    parse_bad("2026-01-17T10:00:00Zjunk");  /* trailing junk */
    parse_bad("2026-01-17T10:00:00Z ");     /* trailing space */
    parse_bad("2026-01-17x");               /* junk after the date */
    parse_bad("2026-01-17T");
    parse_bad("26-01-17");
    parse_bad("2026/01/17");
    parse_bad("2026-1-17");
    parse_bad(" 2026-01-17");
    parse_bad("garbage");
    parse_bad("");
    parse_bad(NULL);
}

static void test_round_trip(void **state)
{
    char buf[MON_ISO8601_LEN];
    int n = 0;
    (void)state;
    /* Steps of a prime number of seconds cover every time of day, month and leap rule. */
    for (int64_t t = YEAR0_S; t <= YEAR9999_S; t += 9999991) {
        int64_t back = -1;
        assert_int_equal(mon_format_iso8601(t, buf, sizeof(buf)), MON_OK);
        assert_int_equal(strlen(buf), 20);
        assert_int_equal(mon_parse_iso8601(buf, &back), MON_OK);
        if (back != t)
            fail_msg("%lld -> '%s' -> %lld", (long long)t, buf, (long long)back);
        n++;
    }
    assert_true(n > 30000);
    /* Every second around the epoch and around a leap day. */
    for (int64_t t = -100000; t <= 100000; t += 7) {
        int64_t back = -1;
        assert_int_equal(mon_format_iso8601(t, buf, sizeof(buf)), MON_OK);
        assert_int_equal(mon_parse_iso8601(buf, &back), MON_OK);
        assert_int_equal(back, t);
    }
    for (int64_t t = 1709164800 - 90000; t <= 1709251199 + 90000; t += 13) {
        int64_t back = -1;
        assert_int_equal(mon_format_iso8601(t, buf, sizeof(buf)), MON_OK);
        assert_int_equal(mon_parse_iso8601(buf, &back), MON_OK);
        assert_int_equal(back, t);
    }
}

static void duration_is(const char *text, int64_t want)
{
    int64_t v = -7;
    int r = mon_parse_duration_ms(text, &v);
    if (r != MON_OK)
        fail_msg("duration('%s') failed: %d", text, r);
    if (v != want)
        fail_msg("duration('%s') = %lld, want %lld", text, (long long)v, (long long)want);
}

static void duration_bad(const char *text)
{
    int64_t v = -7;
    int r = mon_parse_duration_ms(text, &v);
    if (r >= 0)
        fail_msg("duration('%s') accepted as %lld", text ? text : "(null)", (long long)v);
    assert_int_equal(v, -7);
}

static void test_duration(void **state)
{
    (void)state;
    duration_is("500ms", 500);
    duration_is("0ms", 0);
    duration_is("5s", 5000);
    duration_is("2m", 120000);
    duration_is("2min", 120000);
    duration_is("1h", 3600000);
    duration_is("30d", 30LL * 86400000);
    duration_is("9223372036854775807ms", INT64_MAX);
    duration_is("9223372036854775s", 9223372036854775000LL);
}

static void test_duration_rejects(void **state)
{
    (void)state;
    duration_bad("5");
    duration_bad("5 s");
    duration_bad(" 5s");
    duration_bad("5s ");
    duration_bad("-5s");
    duration_bad("+5s");
    duration_bad("5x");
    duration_bad("5S");
    duration_bad("5sec");
    duration_bad("1.5s");
    duration_bad("s");
    duration_bad("5ms5");
    duration_bad("");
    duration_bad(NULL);
    duration_bad("9223372036854775808ms"); /* past int64 */
    duration_bad("9223372036854776s");     /* fits as a number, not in ms */
    duration_bad("106751991167301d");      /* ditto, days */
    duration_bad("99999999999999999999999h");
}

static void test_mono_ms(void **state)
{
    int64_t a, b, prev;
    (void)state;
    a = mon_mono_ms();
    prev = a;
    for (int i = 0; i < 100000; i++) {
        int64_t now = mon_mono_ms();
        assert_true(now >= prev);
        prev = now;
    }
    mon_sleep_ms(30);
    b = mon_mono_ms();
    assert_true(b - a >= 30);
    assert_true(b - a < 5000);
}

static void test_utc_ms(void **state)
{
    int64_t now = mon_utc_ms();
    (void)state;
    /* After 2024-01-01 and before 2100-01-01: plausibly milliseconds, not seconds. */
    assert_true(now > 1704067200000LL);
    assert_true(now < 4102444800000LL);
}

static void write_offset(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Milliseconds the wall clock reads ahead of the real one (the real one read around it). */
static int64_t shift_ms(void)
{
    int64_t before, shifted, after;
    mon_clock_set_offset_file(NULL);
    before = mon_utc_ms();
    mon_clock_set_offset_file("test_clock_offset.txt");
    shifted = mon_utc_ms();
    mon_clock_set_offset_file(NULL);
    after = mon_utc_ms();
    assert_true(after - before < 1000);
    return shifted - before;
}

static void test_utc_offset_file(void **state)
{
    const char *path = "test_clock_offset.txt";
    int64_t d;
    (void)state;
    remove(path);
    assert_true(shift_ms() < 1000); /* missing file: no offset */
    write_offset(path, "3600\n");
    d = shift_ms();
    assert_true(d >= 3600000 && d < 3601000);
    write_offset(path, "-3600");
    d = shift_ms();
    assert_true(d <= -3599000 && d > -3601000);
    write_offset(path, "soon");
    assert_true(shift_ms() < 1000);
    write_offset(path, "99999999999999999999");
    assert_true(shift_ms() < 1000);
    remove(path);
    /* Without the variable nothing is configured and mon_utc_ms() reads the real clock. */
    if (!getenv(MON_CLOCK_OFFSET_ENV)) {
        mon_clock_init_from_env();
        assert_true(mon_utc_ms() < 4102444800000LL);
    }
}

/* Month starts for the PostgreSQL partitions: across years, leap Februaries, negative moves
 * and times before 1970. */
static void test_month_start(void **state)
{
    char buf[MON_ISO8601_LEN];
    int64_t mar2024 = 1709251200; /* 2024-03-01T00:00:00Z */
    int y = 0, m = 0;
    (void)state;

    assert_int_equal(mon_utc_month_start(mar2024, 0, &y, &m), mar2024);
    assert_int_equal(y, 2024);
    assert_int_equal(m, 3);
    assert_int_equal(mon_utc_month_start(mar2024 + 86400 * 30 + 86399, 0, NULL, NULL), mar2024);
    assert_int_equal(mon_utc_month_start(mar2024 - 1, 0, &y, &m), mar2024 - 29 * 86400);
    assert_int_equal(m, 2); /* 2024 is a leap year */
    assert_int_equal(mon_utc_month_start(mar2024, 10, &y, &m), 1735689600); /* 2025-01-01 */
    assert_int_equal(y, 2025);
    assert_int_equal(m, 1);
    assert_int_equal(mon_utc_month_start(mar2024, -15, &y, &m), 1669852800); /* 2022-12-01 */
    assert_int_equal(y, 2022);
    assert_int_equal(m, 12);
    assert_int_equal(mon_utc_month_start(0, 0, NULL, NULL), 0);
    assert_int_equal(mon_utc_month_start(-1, 0, &y, &m), -31 * 86400); /* 1969-12-01 */
    assert_int_equal(y, 1969);
    assert_int_equal(
        mon_format_iso8601(mon_utc_month_start(1767225599, 1, NULL, NULL), buf, sizeof(buf)),
        MON_OK);
    assert_string_equal(buf, "2026-01-01T00:00:00Z");
    assert_int_equal(mon_utc_from_date(2024, 3, 1), mar2024);
    assert_int_equal(mon_utc_from_date(1970, 1, 1), 0);
    /* Every month start of 1999..2031 is the one before moved by one. */
    for (int64_t t = mon_utc_from_date(1999, 1, 1); t < mon_utc_from_date(2031, 1, 1);) {
        int64_t next = mon_utc_month_start(t, 1, &y, &m);
        assert_int_equal(mon_utc_month_start(next, -1, NULL, NULL), t);
        assert_int_equal(next, mon_utc_from_date(y, m, 1));
        assert_true(next - t >= 28 * 86400 && next - t <= 31 * 86400);
        t = next;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_range),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_duration_rejects),
        cmocka_unit_test(test_mono_ms),
        cmocka_unit_test(test_utc_ms),
        cmocka_unit_test(test_utc_offset_file),
        cmocka_unit_test(test_month_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
