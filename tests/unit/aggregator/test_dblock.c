/* SPDX-License-Identifier: MIT */
/* Tests for the database locks: one aggregator per SQLite file, and no lock file at all for a
 * database server, whose URI is not a path. */
#include "aggregator/dblock.h"

#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_os.h"

struct fx {
    char dir[512];
    char old_cwd[4096];
};

static int setup(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    if (test_make_temp_dir("lanmon-dblock", f.dir, sizeof(f.dir)) != 0)
        return -1;
    /* The URI cases run from inside the folder: a lock made from the URI would land here. */
    if (!getcwd(f.old_cwd, sizeof(f.old_cwd)) || chdir(f.dir) != 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (chdir(f->old_cwd) != 0)
        return -1;
    test_rm_tree(f->dir);
    return 0;
}

static bool no_folder_from_uri(const char *dir)
{
    static const char *const names[] = {"postgresql:", "postgres:"};
    char probe[700];
    /* What the lock made from a URI would be: mkdir of the URI's "parent" ("postgresql:" and
     * below it), then "<uri>.lock" in there. */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(probe, sizeof(probe), "%s/%s", dir, names[i]);
        if (mon_os_path_exists(probe))
            return false;
    }
    return true;
}

static void test_file_database_is_locked_once(void **state)
{
    struct fx *f = *state;
    struct agg_dblock a = AGG_DBLOCK_INIT, b = AGG_DBLOCK_INIT;
    char db[700], lock[720], why[1024];

    snprintf(db, sizeof(db), "%s/sub/lanmon.db", f->dir);
    snprintf(lock, sizeof(lock), "%s.lock", db);
    assert_int_equal(agg_dblock_take(db, &a, why, sizeof(why)), MON_OK);
    assert_true(a.path_lock >= 0);
    assert_true(mon_os_path_exists(lock));
    why[0] = '\0';
    assert_int_equal(agg_dblock_take(db, &b, why, sizeof(why)), MON_EBUSY);
    assert_non_null(strstr(why, "another monitor-aggregator is running"));
    assert_int_equal(b.path_lock, -1);
    assert_int_equal(b.file_lock, -1);
    agg_dblock_release(&a);
    assert_int_equal(agg_dblock_take(db, &b, why, sizeof(why)), MON_OK);
    agg_dblock_release(&b);
}

static void test_server_database_takes_no_file_lock(void **state)
{
    struct fx *f = *state;
    static const char *const uris[] = {
        "postgresql://lanmon@127.0.0.1:5432/lanmon",
        "postgresql://lanmon@127.0.0.1:5432/lanmon?sslmode=disable",
        "postgres://lanmon@localhost/lanmon",
    };
    char why[1024];

    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        struct agg_dblock a = AGG_DBLOCK_INIT, b = AGG_DBLOCK_INIT;
        why[0] = '\0';
        assert_int_equal(agg_dblock_take(uris[i], &a, why, sizeof(why)), MON_OK);
        assert_int_equal(a.path_lock, -1);
        assert_int_equal(a.file_lock, -1);
        assert_string_equal(why, "");
        /* The server's instance lock (agg_store_lock_instance) is what keeps a second
         * aggregator out; nothing here refuses it. */
        assert_int_equal(agg_dblock_take(uris[i], &b, why, sizeof(why)), MON_OK);
        assert_int_equal(agg_dblock_take_file(uris[i], &b, why, sizeof(why)), MON_OK);
        assert_int_equal(b.file_lock, -1);
        agg_dblock_release(&b);
        agg_dblock_release(&a);
        assert_true(no_folder_from_uri(f->dir));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_database_is_locked_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_database_takes_no_file_lock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
