/* SPDX-License-Identifier: MIT */
/* Tests for the uid → user name cache in front of the passwd database. */
#include "agent/collect/passwd_cache.h"
#include "common/err.h"

#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define MINUTE_MS (60 * 1000)

static void test_names(void **state)
{
    struct agent_passwd_cache *c = NULL;
    char name[AGENT_USER_NAME_SIZE] = "untouched";

    (void)state;
    assert_int_equal(agent_passwd_cache_new(&c), MON_OK);
    assert_non_null(c);
    assert_true(agent_passwd_cache_name(c, 0, 0, name));
    assert_string_equal(name, "root");
    assert_non_null(getpwuid(65534));
    assert_true(agent_passwd_cache_name(c, 65534, 0, name));
    assert_string_equal(name, getpwuid(65534)->pw_name);
    /* a uid without an entry: false, the buffer untouched; asked again (cached) the same */
    snprintf(name, sizeof(name), "untouched");
    assert_null(getpwuid(54321));
    assert_false(agent_passwd_cache_name(c, 54321, 0, name));
    assert_false(agent_passwd_cache_name(c, 54321, 1000, name));
    assert_string_equal(name, "untouched");
    /* answers expire and are asked again */
    assert_true(agent_passwd_cache_name(c, 0, 11 * MINUTE_MS, name));
    assert_string_equal(name, "root");
    assert_false(agent_passwd_cache_name(c, 54321, 2 * MINUTE_MS, name));
    agent_passwd_cache_free(c);
    agent_passwd_cache_free(NULL);
}

static void test_more_users_than_entries(void **state)
{
    struct agent_passwd_cache *c = NULL;
    char name[AGENT_USER_NAME_SIZE];

    (void)state;
    assert_int_equal(agent_passwd_cache_new(&c), MON_OK);
    /* 300 distinct uids through a 128-entry table: old answers make room, all stay right */
    for (int round = 0; round < 2; round++) {
        for (uint32_t uid = 100000; uid < 100300; uid++)
            assert_int_equal(agent_passwd_cache_name(c, uid, round * 10 + uid % 7, name),
                             getpwuid(uid) != NULL);
        assert_true(agent_passwd_cache_name(c, 0, round * 10, name));
        assert_string_equal(name, "root");
    }
    agent_passwd_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_more_users_than_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
