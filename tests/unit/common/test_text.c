/* SPDX-License-Identifier: MIT */
/* Unit tests for the Unicode text rules: decoding, hidden characters, spaces, name folding,
 * sanitising echoed text and stripping agent text (issue 11 items 11 and 13). */
#include "common/text.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_utf8_next(void **state)
{
    uint32_t cp = 0;
    (void)state;
    assert_int_equal(mon_utf8_next("a", 1, &cp), 1);
    assert_int_equal(cp, 'a');
    assert_int_equal(mon_utf8_next("\xc3\xa9", 2, &cp), 2); /* é */
    assert_int_equal(cp, 0xe9);
    assert_int_equal(mon_utf8_next("\xe5\x90\x8d", 3, &cp), 3); /* 名 */
    assert_int_equal(cp, 0x540d);
    assert_int_equal(mon_utf8_next("\xf0\x9f\x98\x80", 4, &cp), 4); /* 😀 */
    assert_int_equal(cp, 0x1f600);
    cp = 7;
    assert_int_equal(mon_utf8_next("\xff", 1, &cp), 0);
    assert_int_equal(mon_utf8_next("\xc0\xae", 2, &cp), 0);         /* overlong '.' */
    assert_int_equal(mon_utf8_next("\xed\xa0\x80", 3, &cp), 0);     /* a surrogate */
    assert_int_equal(mon_utf8_next("\xe5\x90", 2, &cp), 0);         /* cut short */
    assert_int_equal(mon_utf8_next("\xf4\x90\x80\x80", 4, &cp), 0); /* above U+10FFFF */
    assert_int_equal(mon_utf8_next("", 0, &cp), 0);
    assert_int_equal(cp, 7);
}

static void test_utf8_put_and_chars(void **state)
{
    const uint32_t cps[] = {'a', 0xe9, 0x540d, 0x1f600};
    char buf[8];
    (void)state;
    for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
        uint32_t back = 0;
        size_t n = mon_utf8_put(cps[i], buf);
        assert_int_equal(mon_utf8_next(buf, n, &back), n);
        assert_int_equal(back, cps[i]);
    }
    assert_int_equal(mon_utf8_chars("a\xc3\xa9\xe5\x90\x8d\xf0\x9f\x98\x80", 10), 4);
    assert_int_equal(mon_utf8_chars("", 0), 0);
}

static void test_hidden(void **state)
{
    const uint32_t hidden[] = {0x00,   0x07,   0x0a,    0x1b,    0x7f,    0x85,   0xad,
                               0x200b, 0x200d, 0x200e,  0x202e,  0x2066,  0x2069, 0x2028,
                               0x2060, 0xfeff, 0xfe0f,  0xe0041, 0xe0100, 0x180e, 0x3164,
                               0xfffe, 0xffff, 0x1ffff, 0xfdd0,  0x061c};
    const uint32_t shown[] = {' ',     'a',    '~',    0xa0,   0xe9,   0x540d,
                              0x1f600, 0x2000, 0x3000, 0xfffd, 0x2010, 0x20ac};
    (void)state;
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
        if (!mon_text_is_hidden(hidden[i]))
            fail_msg("U+%04X should be hidden", (unsigned)hidden[i]);
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
        if (mon_text_is_hidden(shown[i]))
            fail_msg("U+%04X should be shown", (unsigned)shown[i]);
}

static void test_space(void **state)
{
    (void)state;
    assert_true(mon_text_is_space(' '));
    assert_true(mon_text_is_space(0xa0));
    assert_true(mon_text_is_space(0x2007));
    assert_true(mon_text_is_space(0x3000));
    assert_false(mon_text_is_space('\t'));
    assert_false(mon_text_is_space('a'));
    assert_false(mon_text_is_space(0x200b)); /* zero width: hidden, not a space */
}

static void test_fold(void **state)
{
    static const uint32_t pairs[][2] = {
        {'A', 'a'},     {'z', 'z'},     {'-', '-'},     {0xc4, 0xe4},   {0xd7, 0xd7},
        {0xde, 0xfe},   {0x100, 0x101}, {0x101, 0x101}, {0x139, 0x13a}, {0x178, 0xff},
        {0x130, 'i'},   {0x3a3, 0x3c3}, {0x3c2, 0x3c3}, {0x386, 0x3ac}, {0x38f, 0x3ce},
        {0x414, 0x434}, {0x401, 0x451}, {0x460, 0x461}, {0x531, 0x561}, {0x1ea0, 0x1ea1},
        {0x1e9e, 0xdf}, {0xff33, 's'},  {0xff10, '0'},  {0xff41, 'a'},  {0x540d, 0x540d},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        if (mon_text_fold(pairs[i][0]) != pairs[i][1])
            fail_msg("fold(U+%04X) = U+%04X, want U+%04X", (unsigned)pairs[i][0],
                     (unsigned)mon_text_fold(pairs[i][0]), (unsigned)pairs[i][1]);
}

static void test_sanitize(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(mon_text_sanitize("plain", 5, out, sizeof(out)), 5);
    assert_string_equal(out, "plain");
    /* A malformed byte and hidden characters become U+FFFD: "/api/x<FF>", "a<RLO>b<ESC>". */
    mon_text_sanitize("/api/x\xff", 7, out, sizeof(out));
    assert_string_equal(out, "/api/x\xef\xbf\xbd");
    mon_text_sanitize("a\xe2\x80\xae"
                      "b\x1b",
                      6, out, sizeof(out));
    assert_string_equal(out, "a\xef\xbf\xbd"
                             "b\xef\xbf\xbd");
    /* Bytes after a NUL are kept (len counts), the NUL itself replaced. */
    mon_text_sanitize("a\0b", 3, out, sizeof(out));
    assert_string_equal(out, "a\xef\xbf\xbd"
                             "b");
    /* Too small: ends on a character boundary, never in the middle of one. */
    mon_text_sanitize("ab\xe5\x90\x8d", 5, out, 5);
    assert_string_equal(out, "ab");
    mon_text_sanitize("x", 1, out, 1);
    assert_string_equal(out, "");
}

static void test_strip_hidden(void **state)
{
    char s[64];
    (void)state;
    strcpy(s, "srv\xe2\x80\x8b-01\xe2\x80\xae\x1b[31m"); /* ZWSP, RLO, ESC */
    assert_int_equal(mon_text_strip_hidden(s), strlen("srv-01[31m"));
    assert_string_equal(s, "srv-01[31m");
    strcpy(s, "GPU \xc3\xa9 \xf0\x9f\x98\x80");
    assert_int_equal(mon_text_strip_hidden(s), strlen("GPU \xc3\xa9 \xf0\x9f\x98\x80"));
    strcpy(s, "bad\xff"
              "byte");
    mon_text_strip_hidden(s);
    assert_string_equal(s, "bad?byte");
    s[0] = '\0';
    assert_int_equal(mon_text_strip_hidden(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_next),    cmocka_unit_test(test_utf8_put_and_chars),
        cmocka_unit_test(test_hidden),       cmocka_unit_test(test_space),
        cmocka_unit_test(test_fold),         cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_strip_hidden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
