/* SPDX-License-Identifier: MIT */
/* The SQLite backend's files and schema check on temporary databases (issue 11): the database,
 * its -wal/-shm and backup copies 0600 whatever the umask and wider modes narrowed; an empty
 * database file refused; a schema with a table, column or unique key missing refused by the
 * restore check and by open; the lock on the database file under every name of it; the
 * writer's smaller page cache. */
#include "aggregator/store.h"
#include "aggregator/store_sqlite.h"
#include "common/err.h"
#include "common/os/os.h"

#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_db.h"
#include "support/test_os.h"

struct fx {
    char dir[64];
    char db[160];
    struct agg_store *st;
};

static void add_events(struct agg_store *st, int n, const char *name)
{
    struct agg_event ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.server_name, sizeof(ev.server_name), "%s", name);
    snprintf(ev.type, sizeof(ev.type), "server_down");
    snprintf(ev.message, sizeof(ev.message), "down");
    for (int i = 0; i < n; i++) {
        ev.ts = 1700000000 + i;
        assert_int_equal(agg_store_event_add(st, &ev), MON_OK);
    }
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char why[256];
    struct agg_server s = {.name = "alpha",
                           .host = "10.0.0.1",
                           .port = 9109,
                           .token = "token-0123456789",
                           .enabled = true};
    int64_t id;
    if (!f)
        return -1;
    if (test_make_temp_dir("lanmon-files", f->dir, sizeof(f->dir)) < 0) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof(f->db), "%s/data/monitor.db", f->dir);
    if (agg_store_open(f->db, 2000, &f->st, why, sizeof(why)) < 0 ||
        agg_store_server_insert(f->st, &s, &id) < 0) {
        fprintf(stderr, "setup: %s\n", why);
        agg_store_close(f->st);
        test_rm_tree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    agg_store_close(f->st);
    test_rm_tree(f->dir);
    free(f);
    return 0;
}

static void backup_of(struct fx *f, const char *name, char *dest, size_t size)
{
    char why[512];
    snprintf(dest, size, "%s/%s", f->dir, name);
    assert_int_equal(agg_store_backup_to(f->st, dest, why, sizeof(why)), MON_OK);
}

/* Issue 11 item 4: the database, its -wal/-shm and backup copies are 0600 whatever the umask
 * (they hold the agents' tokens); files an older version left 0644 are narrowed, and said so. */
static void test_database_and_backup_files_are_private(void **state)
{
    struct fx *f = *state;
    char path[256], wal[300], shm[300], dest[256], why[512], done[1024];
    struct agg_store *st = NULL;
    unsigned old_mask;

    if (!test_has_file_modes())
        skip();
    old_mask = test_umask(0);
    snprintf(path, sizeof(path), "%s/private/new.db", f->dir);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    snprintf(dest, sizeof(dest), "%s/private/copy.db", f->dir);
    assert_int_equal(agg_store_open(path, 1000, &st, why, sizeof(why)), MON_OK);
    add_events(st, 5, "x");
    assert_int_equal(agg_store_backup_to(st, dest, why, sizeof(why)), MON_OK);
    test_umask(old_mask);
    assert_int_equal(test_file_mode(path), 0600);
    assert_int_equal(test_file_mode(wal), 0600);
    assert_int_equal(test_file_mode(shm), 0600);
    assert_int_equal(test_file_mode(dest), 0600);
    agg_store_close(st);

    assert_int_equal(test_chmod(dest, 0644), 0);
    assert_int_equal(agg_store_restrict_files(dest, done, sizeof(done)), MON_OK);
    assert_non_null(strstr(done, "copy.db (was 0644)"));
    assert_int_equal(test_file_mode(dest), 0600);
    assert_int_equal(agg_store_restrict_files(dest, done, sizeof(done)), MON_OK);
    assert_string_equal(done, "");
}

/* Issue 11 item 5: an existing empty database file is refused, not silently made a new
 * database; a missing one is created. */
static void test_empty_database_file_is_refused(void **state)
{
    struct fx *f = *state;
    char path[256], why[512];
    struct agg_store *st = NULL;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/empty.db", f->dir);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(agg_store_open(path, 1000, &st, why, sizeof(why)), MON_EIO);
    assert_null(st);
    assert_non_null(strstr(why, "empty (0 bytes)"));
    assert_int_equal(test_db_int(path, "PRAGMA page_count"), 0); /* still empty */

    assert_int_equal(remove(path), 0);
    assert_int_equal(agg_store_open(path, 1000, &st, why, sizeof(why)), MON_OK);
    agg_store_close(st);
}

/* Issue 11 item 6: a table or column missing is refused by the restore check (so by --restore
 * and --check-db) and by open; tables of one's own and an older schema version are fine. */
static void test_schema_with_a_part_missing_is_refused(void **state)
{
    struct fx *f = *state;
    char dest[256], why[512];
    struct agg_store *st = NULL;

    backup_of(f, "no-events.db", dest, sizeof(dest));
    test_db_exec(dest, "DROP TABLE events");
    assert_int_equal(agg_store_restore_check(dest, why, sizeof(why)), MON_EIO);
    assert_non_null(strstr(why, "table events is missing"));
    assert_int_equal(agg_store_open(dest, 1000, &st, why, sizeof(why)), MON_EIO);
    assert_non_null(strstr(why, "table events is missing"));

    backup_of(f, "no-token.db", dest, sizeof(dest));
    test_db_exec(dest, "ALTER TABLE servers DROP COLUMN token");
    assert_int_equal(agg_store_restore_check(dest, why, sizeof(why)), MON_EIO);
    assert_non_null(strstr(why, "table servers has no column token TEXT NOT NULL"));

    backup_of(f, "no-unique.db", dest, sizeof(dest));
    test_db_exec(dest, "CREATE TABLE u AS SELECT * FROM unit_states; DROP TABLE unit_states; "
                       "ALTER TABLE u RENAME TO unit_states");
    assert_int_equal(agg_store_restore_check(dest, why, sizeof(why)), MON_EIO);
    assert_non_null(strstr(why, "table unit_states has no"));

    backup_of(f, "extra.db", dest, sizeof(dest));
    test_db_exec(dest, "CREATE TABLE notes (x TEXT); CREATE INDEX notes_x ON notes(x)");
    assert_int_equal(agg_store_restore_check(dest, why, sizeof(why)), MON_OK);

    backup_of(f, "v1.db", dest, sizeof(dest));
    test_db_exec(dest, "DROP TABLE seed_imports; PRAGMA user_version = 1");
    assert_int_equal(agg_store_restore_check(dest, why, sizeof(why)), MON_OK);
}

/* Issue 11 item 7: the lock on the database file itself is one lock under every name of the
 * file, and it leaves SQLite's own locking alone. */
static void test_file_lock_covers_every_name(void **state)
{
    struct fx *f = *state;
    char hard[256], sym[256], dotted[300];
    struct mon_os_file_id a_id, b_id;
    int a = -1, b = -1;

    snprintf(hard, sizeof(hard), "%s/hard.db", f->dir);
    snprintf(sym, sizeof(sym), "%s/sym.db", f->dir);
    snprintf(dotted, sizeof(dotted), "%s/./data/../data/monitor.db", f->dir);
    assert_int_equal(test_hard_link(f->db, hard), 0);
    assert_int_equal(mon_os_file_id(f->db, &a_id), MON_OK);
    assert_int_equal(mon_os_file_id(hard, &b_id), MON_OK);
    assert_true(mon_os_same_file(&a_id, &b_id));
    assert_int_equal(a_id.links, 2);

    assert_int_equal(mon_os_lock_existing(f->db, &a), MON_OK);
    assert_int_equal(mon_os_lock_existing(hard, &b), MON_EBUSY);
    assert_int_equal(mon_os_lock_existing(dotted, &b), MON_EBUSY);
    if (test_symlink(f->db, sym) == 0)
        assert_int_equal(mon_os_lock_existing(sym, &b), MON_EBUSY);
    assert_int_equal(b, -1);
    add_events(f->st, 5, "while locked"); /* SQLite still reads and writes */
    mon_os_unlock_file(a);
    assert_int_equal(mon_os_lock_existing(hard, &b), MON_OK);
    mon_os_unlock_file(b);
    snprintf(hard, sizeof(hard), "%s/missing.db", f->dir);
    assert_int_equal(mon_os_lock_existing(hard, &b), MON_ENOENT);
}

/* AGG_STORE_OPEN_SMALL_CACHE (the engine's writer) caps the connection's page cache at
 * 512 KiB; other connections keep SQLite's default. */
static int64_t cache_size_of(struct agg_store *st)
{
    sqlite3_stmt *q = NULL;
    int64_t v;
    assert_int_equal(sqlite3_prepare_v2(agg_sqlite_of(st)->db, "PRAGMA cache_size", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void test_small_cache_for_the_writer(void **state)
{
    struct fx *f = *state;
    char why[512];
    struct agg_store *w = NULL;
    assert_int_equal(
        agg_store_open_ex(f->db, NULL, 1000, AGG_STORE_OPEN_SMALL_CACHE, &w, why, sizeof(why)),
        MON_OK);
    assert_int_equal(cache_size_of(w), -512);
    assert_int_equal(cache_size_of(f->st), -2000);
    agg_store_close(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_database_and_backup_files_are_private, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_empty_database_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_with_a_part_missing_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_lock_covers_every_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_cache_for_the_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
