/* SPDX-License-Identifier: MIT */
/* Unit tests for the capped byte buffer: growth, formatting, the cap, and ownership hand-off. */
#include "common/buf.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_init_is_empty(void **state)
{
    struct mon_buf b;
    (void)state;
    mon_buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 100);
    mon_buf_done(&b);
}

static void test_append_and_puts(void **state)
{
    struct mon_buf b;
    (void)state;
    mon_buf_init(&b, 1024);
    assert_int_equal(mon_buf_append(&b, "abc", 3), MON_OK);
    assert_int_equal(mon_buf_puts(&b, "def"), MON_OK);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    assert_int_equal(b.data[6], '\0');
    /* Appending zero bytes keeps the content and the terminator. */
    assert_int_equal(mon_buf_append(&b, "zzz", 0), MON_OK);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    mon_buf_done(&b);
}

static void test_append_zero_to_empty_gives_string(void **state)
{
    struct mon_buf b;
    (void)state;
    mon_buf_init(&b, 16);
    assert_int_equal(mon_buf_append(&b, "", 0), MON_OK);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    mon_buf_done(&b);
}

static void test_binary_bytes_counted(void **state)
{
    struct mon_buf b;
    static const char bytes[] = {'a', '\0', 'b'};
    (void)state;
    mon_buf_init(&b, 16);
    assert_int_equal(mon_buf_append(&b, bytes, sizeof(bytes)), MON_OK);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, bytes, 3);
    assert_int_equal(b.data[3], '\0');
    mon_buf_done(&b);
}

static void test_growth_keeps_content(void **state)
{
    struct mon_buf b;
    char expect[5001];
    (void)state;
    mon_buf_init(&b, 100000);
    for (int i = 0; i < 5000; i++) {
        char c = (char)('a' + i % 26);
        expect[i] = c;
        assert_int_equal(mon_buf_append(&b, &c, 1), MON_OK);
        assert_int_equal(b.data[b.len], '\0');
    }
    expect[5000] = '\0';
    assert_int_equal(b.len, 5000);
    assert_true(b.cap > b.len);
    assert_string_equal(b.data, expect);
    mon_buf_done(&b);
}

static void test_printf(void **state)
{
    struct mon_buf b;
    char big[600];
    (void)state;
    mon_buf_init(&b, 4096);
    assert_int_equal(mon_buf_printf(&b, "%d-%s", 42, "x"), MON_OK);
    assert_int_equal(mon_buf_printf(&b, "|%.2f|", 1.5), MON_OK);
    assert_string_equal(b.data, "42-x|1.50|");
    assert_int_equal(b.len, strlen("42-x|1.50|"));
    /* A formatted piece larger than the initial allocation. */
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(mon_buf_printf(&b, "%s!", big), MON_OK);
    assert_int_equal(b.len, 10 + 599 + 1);
    assert_memory_equal(b.data, "42-x|1.50|qqq", 13);
    assert_int_equal(b.data[b.len - 1], '!');
    assert_int_equal(b.data[b.len], '\0');
    /* An empty format appends nothing. */
    assert_int_equal(mon_buf_printf(&b, "%s", ""), MON_OK);
    assert_int_equal(b.len, 610);
    mon_buf_done(&b);
}

static void test_cap_append(void **state)
{
    struct mon_buf b;
    (void)state;
    mon_buf_init(&b, 10);
    assert_int_equal(mon_buf_append(&b, "12345678", 8), MON_OK);
    assert_int_equal(mon_buf_append(&b, "abc", 3), MON_ETOOBIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    /* Exactly up to the cap is fine. */
    assert_int_equal(mon_buf_puts(&b, "ab"), MON_OK);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "12345678ab");
    assert_int_equal(mon_buf_puts(&b, "x"), MON_ETOOBIG);
    assert_string_equal(b.data, "12345678ab");
    /* A length that would wrap around size_t is refused, not wrapped. */
    assert_int_equal(mon_buf_append(&b, "x", SIZE_MAX), MON_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "12345678ab");
    mon_buf_done(&b);
}

static void test_cap_printf(void **state)
{
    struct mon_buf b;
    (void)state;
    mon_buf_init(&b, 8);
    assert_int_equal(mon_buf_printf(&b, "%s", "hello"), MON_OK);
    assert_int_equal(mon_buf_printf(&b, "%d", 1234), MON_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    assert_int_equal(mon_buf_printf(&b, "%d", 123), MON_OK);
    assert_string_equal(b.data, "hello123");
    mon_buf_done(&b);
}

static void test_cap_on_first_append(void **state)
{
    struct mon_buf b;
    (void)state;
    mon_buf_init(&b, 4);
    assert_int_equal(mon_buf_puts(&b, "12345"), MON_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(mon_buf_puts(&b, "1234"), MON_OK);
    assert_string_equal(b.data, "1234");
    mon_buf_done(&b);
}

static void test_zero_cap(void **state)
{
    struct mon_buf b;
    (void)state;
    mon_buf_init(&b, 0);
    assert_int_equal(mon_buf_puts(&b, "a"), MON_ETOOBIG);
    assert_int_equal(b.len, 0);
    mon_buf_done(&b);
}

static void test_reset_keeps_storage(void **state)
{
    struct mon_buf b;
    char *before;
    (void)state;
    mon_buf_init(&b, 100);
    assert_int_equal(mon_buf_puts(&b, "hello"), MON_OK);
    before = b.data;
    mon_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, before);
    assert_string_equal(b.data, "");
    assert_int_equal(mon_buf_puts(&b, "xy"), MON_OK);
    assert_string_equal(b.data, "xy");
    mon_buf_done(&b);
    /* Resetting a never-used buffer is harmless. */
    mon_buf_init(&b, 100);
    mon_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_null(b.data);
}

static void test_take(void **state)
{
    struct mon_buf b;
    char *s;
    (void)state;
    mon_buf_init(&b, 100);
    assert_int_equal(mon_buf_puts(&b, "owned"), MON_OK);
    s = mon_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "owned");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(s);
    /* The buffer is reusable after take, with the same cap. */
    assert_int_equal(mon_buf_puts(&b, "again"), MON_OK);
    assert_string_equal(b.data, "again");
    mon_buf_done(&b);
}

static void test_take_empty(void **state)
{
    struct mon_buf b;
    char *s;
    (void)state;
    mon_buf_init(&b, 100);
    s = mon_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

static void test_done(void **state)
{
    struct mon_buf b;
    (void)state;
    mon_buf_init(&b, 10);
    assert_int_equal(mon_buf_puts(&b, "abc"), MON_OK);
    mon_buf_done(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    /* Reusable, and the cap survives. */
    assert_int_equal(mon_buf_puts(&b, "0123456789x"), MON_ETOOBIG);
    assert_int_equal(mon_buf_puts(&b, "0123456789"), MON_OK);
    mon_buf_done(&b);
    mon_buf_done(&b); /* twice is fine */
    mon_buf_done(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_is_empty),
        cmocka_unit_test(test_append_and_puts),
        cmocka_unit_test(test_append_zero_to_empty_gives_string),
        cmocka_unit_test(test_binary_bytes_counted),
        cmocka_unit_test(test_growth_keeps_content),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_cap_append),
        cmocka_unit_test(test_cap_printf),
        cmocka_unit_test(test_cap_on_first_append),
        cmocka_unit_test(test_zero_cap),
        cmocka_unit_test(test_reset_keeps_storage),
        cmocka_unit_test(test_take),
        cmocka_unit_test(test_take_empty),
        cmocka_unit_test(test_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
