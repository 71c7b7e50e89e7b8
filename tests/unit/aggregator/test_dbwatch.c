/* SPDX-License-Identifier: MIT */
/* The database watch on temporary databases (issue 11 items 5 and 16): the integrity check after
 * start (ok, and failed on damaged pages), the database file deleted, replaced or emptied and put
 * back, and the daily backups' results, as /api/health shows them. */
#include "aggregator/backup.h"
#include "aggregator/dbwatch.h"
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"

#include <cjson/cJSON.h>
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

#include "support/test_os.h"

#define WAIT_MS 10000

struct fx {
    char dir[64];
    char db[160];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct agg_store *st = NULL;
    char why[256];
    if (!f)
        return -1;
    if (test_make_temp_dir("lanmon-dbwatch", f->dir, sizeof(f->dir)) < 0) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof(f->db), "%s/monitor.db", f->dir);
    if (agg_store_open(f->db, 2000, &st, why, sizeof(why)) < 0) {
        fprintf(stderr, "open: %s\n", why);
        test_rm_tree(f->dir);
        free(f);
        return -1;
    }
    agg_store_close(st);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    test_rm_tree(f->dir);
    free(f);
    return 0;
}

/* The health object as the API builds it: the engine's part, then the watch's. */
static cJSON *health(struct agg_dbwatch *w)
{
    cJSON *root = cJSON_CreateObject();
    assert_non_null(root);
    cJSON_AddStringToObject(root, "status", "ok");
    assert_non_null(cJSON_AddObjectToObject(root, "db"));
    agg_dbwatch_health_json(w, root);
    return root;
}

static const char *text_at(const cJSON *root, const char *obj, const char *sub, const char *name)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, obj), *item;
    if (sub)
        o = cJSON_GetObjectItemCaseSensitive(o, sub);
    item = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static bool status_is(const cJSON *root, const char *want)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "status");
    return cJSON_IsString(item) && strcmp(item->valuestring, want) == 0;
}

/* Waits until the integrity state is no longer "checking"; returns it (static storage). */
static const char *integrity_result(struct agg_dbwatch *w, cJSON **ret_root)
{
    int64_t deadline = mon_mono_ms() + WAIT_MS;
    for (;;) {
        cJSON *root = health(w);
        const char *state = text_at(root, "db", "integrity", "state");
        assert_non_null(state);
        if (strcmp(state, "checking") != 0 || mon_mono_ms() > deadline) {
            *ret_root = root;
            return state;
        }
        cJSON_Delete(root);
        mon_sleep_ms(10);
    }
}

/* Waits until db.file.problem contains word (NULL: until file.ok is true again). */
static bool wait_file(struct agg_dbwatch *w, const char *word)
{
    int64_t deadline = mon_mono_ms() + WAIT_MS;
    while (mon_mono_ms() < deadline) {
        cJSON *root = health(w);
        const char *problem = text_at(root, "db", "file", "problem");
        bool done = word ? problem && strstr(problem, word) && status_is(root, "degraded")
                         : !problem && status_is(root, "ok");
        cJSON_Delete(root);
        if (done)
            return true;
        mon_sleep_ms(10);
    }
    return false;
}

static void test_integrity_ok_and_file_watch(void **state)
{
    struct fx *f = *state;
    struct agg_dbwatch_options o = {.database = f->db, .watch_ms = 20};
    struct agg_dbwatch *w = NULL;
    char keep[256], other[256];
    cJSON *root = NULL;
    FILE *fp;

    assert_int_equal(agg_dbwatch_start(&o, &w), MON_OK);
    assert_string_equal(integrity_result(w, &root), "ok");
    assert_true(status_is(root, "ok"));
    assert_null(text_at(root, "db", "integrity", "detail"));
    assert_non_null(text_at(root, "db", "integrity", "checked_at"));
    assert_false(cJSON_IsTrue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "backup"), "ok")));
    cJSON_Delete(root);

    snprintf(keep, sizeof(keep), "%s/keep.db", f->dir);
    snprintf(other, sizeof(other), "%s/other.db", f->dir);
    assert_int_equal(test_hard_link(f->db, keep), 0);
    assert_int_equal(remove(f->db), 0);
    assert_true(wait_file(w, "was deleted"));
    assert_int_equal(test_hard_link(keep, f->db), 0);
    assert_true(wait_file(w, NULL));

    fp = fopen(other, "wb");
    assert_non_null(fp);
    fputs("another file", fp);
    fclose(fp);
    assert_int_equal(mon_os_rename_replace(other, f->db), MON_OK);
    assert_true(wait_file(w, "was replaced"));
    assert_int_equal(mon_os_rename_replace(keep, f->db), MON_OK);
    assert_true(wait_file(w, NULL));

    fp = fopen(f->db, "wb"); /* truncates the same file */
    assert_non_null(fp);
    fclose(fp);
    assert_true(wait_file(w, "emptied (0 bytes)"));
    agg_dbwatch_stop(w);
}

static void test_integrity_failure_is_reported(void **state)
{
    struct fx *f = *state;
    struct agg_dbwatch_options o = {.database = f->db};
    struct agg_dbwatch *w = NULL;
    char junk[8192];
    sqlite3 *db = NULL;
    cJSON *root = NULL;
    const char *detail;
    long size;
    FILE *fp;

    /* ~1 MB in a table of its own, then two of its pages overwritten. */
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE filler (x TEXT);"
                                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                                  "WHERE i < 2000) INSERT INTO filler SELECT printf('%500d', i) "
                                  "FROM n; PRAGMA wal_checkpoint(TRUNCATE);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    fp = fopen(f->db, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    size = ftell(fp);
    memset(junk, 0xa5, sizeof(junk));
    assert_int_equal(fseek(fp, size / 2 / 4096 * 4096, SEEK_SET), 0);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    fclose(fp);

    assert_int_equal(agg_dbwatch_start(&o, &w), MON_OK);
    assert_string_equal(integrity_result(w, &root), "failed");
    assert_true(status_is(root, "degraded"));
    detail = text_at(root, "db", "integrity", "detail");
    assert_non_null(detail);
    assert_null(strchr(detail, '\n')); /* one line, for the log too */
    cJSON_Delete(root);
    agg_dbwatch_stop(w);
}

static void test_backup_results_in_health(void **state)
{
    struct fx *f = *state;
    struct agg_dbwatch_options o = {.database = f->db, .backups = true};
    struct agg_backup_result fail = {.rc = MON_EIO,
                                     .text = "cannot create x.partial: No space left on device",
                                     .failures = 2,
                                     .next_in_ms = 30000};
    struct agg_backup_result ok = {
        .rc = MON_OK, .written = true, .text = "b/monitor-1.db", .next_in_ms = 86400000};
    struct agg_dbwatch *w = NULL;
    const cJSON *b;
    cJSON *root;

    assert_int_equal(agg_dbwatch_start(&o, &w), MON_OK);
    root = health(w);
    b = cJSON_GetObjectItemCaseSensitive(root, "backup");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "enabled")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "ok")));
    cJSON_Delete(root);

    agg_dbwatch_backup_report(w, &fail);
    root = health(w);
    b = cJSON_GetObjectItemCaseSensitive(root, "backup");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "ok")));
    assert_string_equal(text_at(root, "backup", NULL, "last_error"), fail.text);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(b, "failures")->valueint, 2);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "last_success_at")));
    assert_non_null(text_at(root, "backup", NULL, "next_attempt_at"));
    assert_true(status_is(root, "degraded"));
    cJSON_Delete(root);

    agg_dbwatch_backup_report(w, &ok);
    root = health(w);
    b = cJSON_GetObjectItemCaseSensitive(root, "backup");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "ok")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "last_error")));
    assert_string_equal(text_at(root, "backup", NULL, "last_file"), "b/monitor-1.db");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(b, "failures")->valueint, 0);
    cJSON_Delete(root);
    agg_dbwatch_stop(w);
    agg_dbwatch_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_integrity_ok_and_file_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integrity_failure_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_results_in_health, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
