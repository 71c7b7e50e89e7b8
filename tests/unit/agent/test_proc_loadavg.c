/* SPDX-License-Identifier: MIT */
/* Tests for /proc/loadavg parsing and the shared decimal-field parser. */
#include "agent/collect/proc_loadavg.h"
#include "agent/collect/procfs.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static int parse_text(const char *text, double load[3])
{
    return agent_parse_proc_loadavg(text, strlen(text), load);
}

static int parse_fixture(const char *dir, double load[3])
{
    char buf[4096];
    struct agent_procfs_file f;
    size_t len;

    assert_int_equal(agent_procfs_file_init(&f, dir, "loadavg"), MON_OK);
    assert_int_equal(agent_procfs_file_read(&f, buf, sizeof(buf), &len), MON_OK);
    agent_procfs_file_done(&f);
    return agent_parse_proc_loadavg(buf, len, load);
}

static void test_fixtures(void **state)
{
    double load[3];

    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/basic", load), MON_OK);
    assert_true(load[0] == 1.5 && load[1] == 1.0 && load[2] == 0.5);
    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/host", load), MON_OK);
    assert_true(load[0] == 0.0 && load[1] == 0.0 && load[2] == 0.0);
}

static void test_normal(void **state)
{
    double load[3];

    assert_int_equal(parse_text("12.25 3.75 100.00 12/1044 987654\n", load), MON_OK);
    assert_true(load[0] == 12.25 && load[1] == 3.75 && load[2] == 100.0);
    /* only the first three fields are required */
    assert_int_equal(parse_text("1 2 3", load), MON_OK);
    assert_true(load[0] == 1.0 && load[1] == 2.0 && load[2] == 3.0);
}

static void test_malformed(void **state)
{
    double load[3] = {-7, -7, -7};
    const char *bad[] = {
        "",
        "\n",
        "0.52 0.58\n",
        "0.52\n0.58 0.59\n",
        "-0.52 0.58 0.59 1/389 12345\n",
        "0.52 +0.58 0.59 1/389 12345\n",
        "0.52 0.58 abc 1/389 12345\n",
        "0.52 0.58 0.59x 1/389 12345\n",
        "0.52 0.58 1e3 1/389 12345\n",
        "0.52 0.58 0x10 1/389 12345\n",
        "nan 0.58 0.59 1/389 12345\n",
        "inf 0.58 0.59 1/389 12345\n",
        ".5 0.58 0.59 1/389 12345\n",
        "5. 0.58 0.59 1/389 12345\n",
        "0.52,0.58,0.59\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_text(bad[i], load), MON_EPARSE);
    assert_true(load[0] == -7 && load[1] == -7 && load[2] == -7); /* untouched */
}

static void test_decimal_field(void **state)
{
    const char text[] = "  42.5 7 99999999999999999999999999999999.0";
    size_t pos = 0;
    double v;

    assert_int_equal(agent_parse_proc_decimal_field(text, strlen(text), &pos, &v), MON_OK);
    assert_true(v == 42.5);
    assert_int_equal(pos, 6);
    assert_int_equal(agent_parse_proc_decimal_field(text, strlen(text), &pos, &v), MON_OK);
    assert_true(v == 7.0);
    /* longer than any kernel value: refused rather than copied into a fixed buffer */
    assert_int_equal(agent_parse_proc_decimal_field(text, strlen(text), &pos, &v), MON_EPARSE);
    assert_int_equal(pos, 8);
    /* the field ends at len even without a separator */
    pos = 0;
    assert_int_equal(agent_parse_proc_decimal_field("3.25xyz", 4, &pos, &v), MON_OK);
    assert_true(v == 3.25);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_normal),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_decimal_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
