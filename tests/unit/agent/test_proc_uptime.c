/* SPDX-License-Identifier: MIT */
/* Tests for /proc/uptime parsing. */
#include "agent/collect/proc_uptime.h"
#include "agent/collect/procfs.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static int parse_text(const char *text, double *s)
{
    return agent_parse_proc_uptime(text, strlen(text), s);
}

static int parse_fixture(const char *dir, double *s)
{
    char buf[4096];
    struct agent_procfs_file f;
    size_t len;

    assert_int_equal(agent_procfs_file_init(&f, dir, "uptime"), MON_OK);
    assert_int_equal(agent_procfs_file_read(&f, buf, sizeof(buf), &len), MON_OK);
    agent_procfs_file_done(&f);
    return agent_parse_proc_uptime(buf, len, s);
}

static void test_fixtures(void **state)
{
    double s;

    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/basic", &s), MON_OK);
    assert_true(s == 3600.0);
    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/host", &s), MON_OK);
    assert_true(s == 2470.17);
}

static void test_normal(void **state)
{
    double s;

    assert_int_equal(parse_text("350735.47 234388.90\n", &s), MON_OK);
    assert_true(s == 350735.47);
    assert_int_equal(parse_text("0.00", &s), MON_OK);
    assert_true(s == 0.0);
    assert_int_equal(parse_text("12\n", &s), MON_OK);
    assert_true(s == 12.0);
}

static void test_malformed(void **state)
{
    double s = -7;
    const char *bad[] = {
        "",          "\n",          "-1.00 2.00\n", "abc 2.00\n", "1.5x 2.00\n", "1e5 2.00\n",
        "nan 1.0\n", "0x1p4 1.0\n", "1.2.3 1.0\n",  "1. 2.0\n",   ",5 2.0\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_text(bad[i], &s), MON_EPARSE);
    assert_true(s == -7); /* untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_normal),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
