/* SPDX-License-Identifier: MIT */
/* Unit tests for server field rules (issue 11 items 13 and 14): canonical names counted in
 * characters, look-alike names that compare equal, and tokens HTTP can carry. */
#include "aggregator/validate.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void name_ok(const char *in, const char *want)
{
    char buf[1024], msg[AGG_FIELD_MSG_LEN] = "";
    snprintf(buf, sizeof(buf), "%s", in);
    if (!agg_normalize_name(buf, msg, sizeof(msg)))
        fail_msg("'%s' refused: %s", in, msg);
    assert_string_equal(buf, want);
}

static void name_bad(const char *in, const char *frag)
{
    char buf[1024], msg[AGG_FIELD_MSG_LEN] = "";
    snprintf(buf, sizeof(buf), "%s", in);
    if (agg_normalize_name(buf, msg, sizeof(msg)))
        fail_msg("'%s' accepted as '%s'", in, buf);
    if (!strstr(msg, frag))
        fail_msg("'%s': '%s' does not say '%s'", in, msg, frag);
}

static void test_normalize_name(void **state)
{
    char many[512] = "";
    (void)state;
    name_ok("srv-01", "srv-01");
    name_ok("  srv 01  ", "srv 01");
    name_ok("srv  \xc2\xa0\xe3\x80\x80 01", "srv 01"); /* no-break and ideographic spaces */
    name_ok("GPU \xe5\x90\x8d\xe5\x89\x8d \xf0\x9f\x96\xa5",
            "GPU \xe5\x90\x8d\xe5\x89\x8d \xf0\x9f\x96\xa5");
    name_bad("", "1 to 64 characters");
    name_bad("   ", "1 to 64 characters");
    name_bad("srv\xe2\x80\x8b"
             "01",
             "U+200B"); /* zero-width space */
    name_bad("srv\xe2\x80\xae"
             "01",
             "U+202E"); /* right-to-left override */
    name_bad("srv\xe2\x81\xa6"
             "01",
             "U+2066");                    /* left-to-right isolate */
    name_bad("srv\xef\xbb\xbf", "U+FEFF"); /* BOM */
    name_bad("srv\xc2\xad"
             "01",
             "U+00AD"); /* soft hyphen */
    name_bad("srv\t01", "U+0009");
    name_bad("srv\n01", "U+000A");
    name_bad("srv\xff", "UTF-8");
    /* 64 characters of 3 bytes each (192 bytes) are fine; 65 are not. */
    for (int i = 0; i < 64; i++)
        strcat(many, "\xe5\x90\x8d");
    name_ok(many, many);
    strcat(many, "\xe5\x90\x8d");
    name_bad(many, "1 to 64 characters");
}

static void same_key(const char *a, const char *b, bool want)
{
    char ka[AGG_NAME_KEY_LEN], kb[AGG_NAME_KEY_LEN];
    agg_name_key(a, ka, sizeof(ka));
    agg_name_key(b, kb, sizeof(kb));
    if ((strcmp(ka, kb) == 0) != want)
        fail_msg("'%s' and '%s' %s", a, b, want ? "should collide" : "should differ");
}

static void test_name_key(void **state)
{
    (void)state;
    same_key("srv-01", "SRV-01", true);
    same_key("srv-01", "\xef\xbc\xb3\xef\xbc\xb2\xef\xbc\xb6-\xef\xbc\x90\xef\xbc\x91", true);
    same_key("M\xc3\xbcnchen", "M\xc3\x9cNCHEN", true);                     /* ü / Ü */
    same_key("\xce\xa3\xce\xb5\xcf\x81", "\xcf\x83\xce\xb5\xcf\x81", true); /* Σερ / σερ */
    same_key("\xd0\xa1\xd0\xb5\xd1\x80\xd0\xb2", "\xd1\x81\xd0\xb5\xd1\x80\xd0\xb2",
             true); /* Серв */
    same_key("srv-01", "srv-02", false);
    same_key("srv 01", "srv-01", false);
    same_key("\xe5\x90\x8d", "\xe5\x89\x8d", false);
}

static void test_token_rules(void **state)
{
    struct agg_server s = {.name = (char *)"srv", .host = (char *)"10.0.0.1", .port = 9109};
    const char *field = NULL;
    char msg[AGG_FIELD_MSG_LEN];
    static const char *const bad[] = {"tok\r\nX-A: 1", "   ", " token", "token ", "to\tken"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s.token = (char *)bad[i];
        field = NULL;
        if (agg_validate_server(&s, &field, msg, sizeof(msg)))
            fail_msg("token '%s' accepted", bad[i]);
        assert_string_equal(field, "token");
    }
    s.token = (char *)"a good token";
    assert_true(agg_validate_server(&s, &field, msg, sizeof(msg)));
    /* The name is counted in characters, also by the validation itself. */
    s.name = (char *)"\xe5\x90\x8d\xe5\x90\x8d";
    assert_true(agg_validate_server(&s, &field, msg, sizeof(msg)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_name),
        cmocka_unit_test(test_name_key),
        cmocka_unit_test(test_token_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
