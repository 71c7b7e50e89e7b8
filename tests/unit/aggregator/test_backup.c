/* SPDX-License-Identifier: MIT */
/* Backups on temporary databases: online backup while another connection writes, restore
 * checks (corruption, newer schema, not a database), restore over a database with a stale WAL
 * (0600, the caller's file lock let go), daily file names, pruning, the daily thread and its
 * retries, and the database lock file. */
#include "aggregator/backup.h"
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/os/os.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_db.h"
#include "support/test_os.h"

#define N_EVENTS 3000 /* ~2 MB of events: several backup chunks of 256 pages */

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
    memset(ev.message, 'm', 500);
    ev.message[500] = '\0';
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
    if (test_make_temp_dir("lanmon-backup", f->dir, sizeof(f->dir)) < 0) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof(f->db), "%s/data/monitor.db", f->dir);
    if (agg_store_open(f->db, 2000, &f->st, why, sizeof(why)) < 0) {
        fprintf(stderr, "open: %s\n", why);
        test_rm_tree(f->dir);
        free(f);
        return -1;
    }
    if (agg_store_server_insert(f->st, &s, &id) < 0)
        return -1;
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

static char *raw_text(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    char *v;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

struct writer_arg {
    const char *db;
    volatile int stop;
    int written;
};

/* A second connection (like the aggregator's writer thread) adding events meanwhile. */
static void *writer_main(void *p)
{
    struct writer_arg *w = p;
    struct agg_store *st = NULL;
    char why[256];
    struct agg_event ev;
    if (agg_store_open(w->db, 2000, &st, why, sizeof(why)) < 0)
        return NULL;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.server_name, sizeof(ev.server_name), "writer");
    snprintf(ev.type, sizeof(ev.type), "server_up");
    snprintf(ev.message, sizeof(ev.message), "concurrent");
    while (!w->stop && w->written < 2000) {
        ev.ts = 1800000000 + w->written;
        if (agg_store_event_add(st, &ev) == MON_OK)
            w->written++;
        mon_sleep_ms(1);
    }
    agg_store_close(st);
    return NULL;
}

static void test_backup_while_another_connection_writes(void **state)
{
    struct fx *f = *state;
    struct writer_arg w = {.db = f->db};
    pthread_t t;
    char dest[256], why[512];
    char *check;
    int64_t events;

    add_events(f->st, N_EVENTS, "alpha");
    snprintf(dest, sizeof(dest), "%s/copy.db", f->dir);
    assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
    while (w.written < 5)
        mon_sleep_ms(1);
    assert_int_equal(agg_store_backup_to(f->st, dest, why, sizeof(why)), MON_OK);
    w.stop = 1;
    pthread_join(t, NULL);
    assert_true(w.written > 0);

    /* A complete, consistent, self-contained file (no -wal or .partial left). */
    {
        char side[300];
        snprintf(side, sizeof(side), "%s.partial", dest);
        assert_false(mon_os_path_exists(side));
        snprintf(side, sizeof(side), "%s-wal", dest);
        assert_false(mon_os_path_exists(side));
    }
    check = raw_text(dest, "PRAGMA integrity_check");
    assert_string_equal(check, "ok");
    free(check);
    assert_int_equal(test_db_int(dest, "SELECT COUNT(*) FROM servers WHERE name = 'alpha'"), 1);
    events = test_db_int(
        dest, "SELECT COUNT(*) FROM events WHERE server_name = 'alpha' AND type = 'server_down'");
    assert_int_equal(events, N_EVENTS);
    assert_true(test_db_int(dest, "SELECT COUNT(*) FROM events WHERE server_name = 'writer'") <=
                w.written);
    assert_int_equal(test_db_int(dest, "PRAGMA user_version"), agg_store_schema_version());
    assert_int_equal(agg_store_restore_check(dest, why, sizeof(why)), MON_OK);
    /* A rollback-journal file: reading it leaves nothing beside it. */
    check = raw_text(dest, "PRAGMA journal_mode");
    assert_string_equal(check, "delete");
    free(check);
    {
        char side[300];
        snprintf(side, sizeof(side), "%s-wal", dest);
        assert_false(mon_os_path_exists(side));
    }

    /* Never overwrites. */
    assert_int_equal(agg_store_backup_to(f->st, dest, why, sizeof(why)), MON_EEXIST);
    assert_non_null(strstr(why, "exists"));
    /* The source is still usable afterwards. */
    add_events(f->st, 1, "after");
}

static void backup_of(struct fx *f, const char *name, char *dest, size_t size)
{
    char why[512];
    snprintf(dest, size, "%s/%s", f->dir, name);
    assert_int_equal(agg_store_backup_to(f->st, dest, why, sizeof(why)), MON_OK);
}

static void test_corrupted_file_fails_restore_check(void **state)
{
    struct fx *f = *state;
    char dest[256], why[512], junk[8192];
    struct stat sb;
    FILE *fp;

    add_events(f->st, 1000, "alpha");
    backup_of(f, "bad.db", dest, sizeof(dest));
    assert_int_equal(agg_store_restore_check(dest, why, sizeof(why)), MON_OK);
    assert_int_equal(stat(dest, &sb), 0);
    memset(junk, 0xA5, sizeof(junk));
    fp = fopen(dest, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)(sb.st_size / 2 / 4096 * 4096), SEEK_SET), 0);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    fclose(fp);
    assert_true(agg_store_restore_check(dest, why, sizeof(why)) < 0);
    assert_true(why[0] != '\0');
}

static void test_newer_schema_and_non_databases_refused(void **state)
{
    struct fx *f = *state;
    char dest[256], sql[64], other[256], why[512];
    FILE *fp;

    backup_of(f, "newer.db", dest, sizeof(dest));
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", agg_store_schema_version() + 1);
    test_db_exec(dest, sql);
    assert_int_equal(agg_store_restore_check(dest, why, sizeof(why)), MON_EUNSUPPORTED);
    assert_non_null(strstr(why, "newer"));

    snprintf(other, sizeof(other), "%s/text.db", f->dir);
    fp = fopen(other, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database at all\n", fp);
    fclose(fp);
    assert_true(agg_store_restore_check(other, why, sizeof(why)) < 0);

    snprintf(other, sizeof(other), "%s/missing.db", f->dir);
    assert_int_equal(agg_store_restore_check(other, why, sizeof(why)), MON_ENOENT);
}

static void test_restore_replaces_database_and_drops_stale_wal(void **state)
{
    struct fx *f = *state;
    char dest[256], target[256], wal[300], why[512], bad[256];
    int lock = -1;
    FILE *fp;

    add_events(f->st, 10, "alpha");
    backup_of(f, "good.db", dest, sizeof(dest));
    snprintf(target, sizeof(target), "%s/restored.db", f->dir);
    snprintf(wal, sizeof(wal), "%s-wal", target);
    /* An old database with a stale log beside it. */
    fp = fopen(target, "wb");
    assert_non_null(fp);
    fputs("old", fp);
    fclose(fp);
    fp = fopen(wal, "wb");
    assert_non_null(fp);
    fputs("stale wal", fp);
    fclose(fp);

    /* The caller's lock on the old file is let go just before the rename (Windows). */
    assert_int_equal(mon_os_lock_existing(target, &lock), MON_OK);
    assert_int_equal(agg_backup_restore(dest, target, &lock, why, sizeof(why)), MON_OK);
    assert_int_equal(lock, -1);
    assert_false(mon_os_path_exists(wal));
    if (test_has_file_modes())
        assert_int_equal(test_file_mode(target), 0600); /* it holds the agents' tokens */
    assert_int_equal(
        test_db_int(
            target,
            "SELECT COUNT(*) FROM events WHERE server_name = 'alpha' AND type = 'server_down'"),
        10);

    /* A refused source leaves the target as it was. */
    snprintf(bad, sizeof(bad), "%s/bad.db", f->dir);
    fp = fopen(bad, "wb");
    assert_non_null(fp);
    fputs("garbage garbage garbage", fp);
    fclose(fp);
    assert_true(agg_backup_restore(bad, target, NULL, why, sizeof(why)) < 0);
    assert_int_equal(
        test_db_int(
            target,
            "SELECT COUNT(*) FROM events WHERE server_name = 'alpha' AND type = 'server_down'"),
        10);
}

static void touch_at(const char *path, int64_t mtime)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("x", fp);
    fclose(fp);
    assert_int_equal(test_set_mtime(path, mtime), 0);
}

static void test_daily_name_prune_and_run(void **state)
{
    struct fx *f = *state;
    char name[64], dir[256], path[512], out[4200], why[512];
    int64_t now = mon_utc_ms() / 1000;
    bool written = true;
    int removed = -1, r;

    assert_int_equal(agg_backup_daily_name(1700000000, name, sizeof(name)), MON_OK);
    assert_string_equal(name, "monitor-20231114.db");

    snprintf(dir, sizeof(dir), "%s/backups", f->dir);
    assert_int_equal(agg_backup_prune(dir, 7, now, &removed), MON_OK); /* no folder yet */
    assert_int_equal(removed, 0);
    assert_int_equal(mon_os_mkdir_p(dir), MON_OK);
    snprintf(path, sizeof(path), "%s/monitor-20200101.db", dir);
    touch_at(path, now - 10 * 86400);
    snprintf(path, sizeof(path), "%s/monitor-20200102.db", dir);
    touch_at(path, now - 2 * 86400);
    snprintf(path, sizeof(path), "%s/notes.db", dir);
    touch_at(path, now - 30 * 86400);

    r = agg_backup_daily_run(f->st, dir, 7, now, &written, out, sizeof(out), why, sizeof(why));
    assert_int_equal(r, 1); /* one pruned */
    assert_true(written);
    assert_int_equal(agg_backup_daily_name(now, name, sizeof(name)), MON_OK);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_string_equal(out, path);
    assert_int_equal(agg_store_restore_check(out, why, sizeof(why)), MON_OK);
    snprintf(path, sizeof(path), "%s/monitor-20200101.db", dir);
    assert_false(mon_os_path_exists(path));
    snprintf(path, sizeof(path), "%s/monitor-20200102.db", dir);
    assert_true(mon_os_path_exists(path));
    snprintf(path, sizeof(path), "%s/notes.db", dir);
    assert_true(mon_os_path_exists(path));

    /* Same day again: kept as is. */
    r = agg_backup_daily_run(f->st, dir, 7, now, &written, out, sizeof(out), why, sizeof(why));
    assert_int_equal(r, 0);
    assert_false(written);
}

struct report_rec {
    pthread_mutex_t lock;
    int calls, rc, failures, failed_calls;
    int64_t next_in_ms;
    bool written;
    char text[4200];
};

static void on_report(void *ctx, const struct agg_backup_result *res)
{
    struct report_rec *rec = ctx;
    pthread_mutex_lock(&rec->lock);
    rec->calls++;
    rec->rc = res->rc;
    rec->written = res->written;
    rec->failures = res->failures;
    rec->next_in_ms = res->next_in_ms;
    if (res->rc < 0)
        rec->failed_calls++;
    snprintf(rec->text, sizeof(rec->text), "%s", res->text);
    pthread_mutex_unlock(&rec->lock);
}

static void test_daily_thread_writes_first_backup_soon(void **state)
{
    struct fx *f = *state;
    struct report_rec rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
    char dir[256];
    struct agg_backup_options o = {.store = f->st,
                                   .keep_days = 3,
                                   .first_delay_ms = 50,
                                   .period_ms = 3600000,
                                   .report = on_report,
                                   .report_ctx = &rec};
    struct agg_backup_sched *b = NULL;
    int64_t deadline = mon_mono_ms() + 10000;
    int calls = 0;

    snprintf(dir, sizeof(dir), "%s/auto", f->dir);
    o.dir = dir;
    assert_int_equal(agg_backup_sched_start(&o, &b), MON_OK);
    while (mon_mono_ms() < deadline) {
        pthread_mutex_lock(&rec.lock);
        calls = rec.calls;
        pthread_mutex_unlock(&rec.lock);
        if (calls)
            break;
        mon_sleep_ms(10);
    }
    agg_backup_sched_stop(b);
    assert_int_equal(calls, 1);
    assert_int_equal(rec.rc, 0);
    assert_true(rec.written);
    assert_true(mon_os_path_exists(rec.text));
    assert_non_null(strstr(rec.text, "/auto/monitor-"));

    /* Stopping while waiting for the next run returns at once. */
    o.first_delay_ms = 3600000;
    assert_int_equal(agg_backup_sched_start(&o, &b), MON_OK);
    deadline = mon_mono_ms();
    agg_backup_sched_stop(b);
    assert_true(mon_mono_ms() - deadline < 2000);
}

/* Issue 11 item 16: a failed daily backup is tried again after a short, growing delay rather
 * than a day later, and a success returns to the daily rhythm. */
static void test_daily_thread_retries_a_failed_backup(void **state)
{
    struct fx *f = *state;
    struct report_rec rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
    char dir[256];
    struct agg_backup_options o = {.store = f->st,
                                   .keep_days = 3,
                                   .first_delay_ms = 10,
                                   .period_ms = 3600000,
                                   .retry_min_ms = 50,
                                   .retry_max_ms = 200,
                                   .report = on_report,
                                   .report_ctx = &rec};
    struct agg_backup_sched *b = NULL;
    int64_t deadline = mon_mono_ms() + 10000;
    bool fixed = false, done = false;
    FILE *fp;

    assert_int_equal(agg_backup_retry_delay_ms(1, 15000, 3600000), 15000);
    assert_int_equal(agg_backup_retry_delay_ms(2, 15000, 3600000), 30000);
    assert_int_equal(agg_backup_retry_delay_ms(9, 15000, 3600000), 3600000);
    assert_int_equal(agg_backup_retry_delay_ms(100, 15000, 3600000), 3600000);

    /* A file where the backup folder should be: every attempt fails until it is a folder. */
    snprintf(dir, sizeof(dir), "%s/blocked", f->dir);
    fp = fopen(dir, "wb");
    assert_non_null(fp);
    fclose(fp);
    o.dir = dir;
    assert_int_equal(agg_backup_sched_start(&o, &b), MON_OK);
    while (!done && mon_mono_ms() < deadline) {
        pthread_mutex_lock(&rec.lock);
        if (!fixed && rec.failed_calls >= 3) {
            assert_true(rec.rc < 0);
            assert_int_equal(rec.failures, rec.failed_calls);
            assert_int_equal(rec.next_in_ms, rec.failures == 2 ? 100 : 200);
            fixed = true;
        }
        done = fixed && rec.rc == 0;
        pthread_mutex_unlock(&rec.lock);
        if (fixed && !done && mon_os_path_exists(dir) && remove(dir) == 0)
            assert_int_equal(mon_os_mkdir_p(dir), MON_OK);
        mon_sleep_ms(5);
    }
    agg_backup_sched_stop(b);
    assert_true(done);
    assert_true(rec.written);
    assert_int_equal(rec.failures, 0);
    assert_int_equal(rec.next_in_ms, 3600000);
}

static void test_lock_file_is_exclusive(void **state)
{
    struct fx *f = *state;
    char lock[256];
    int a = -1, b = -1;
    snprintf(lock, sizeof(lock), "%s.lock", f->db);
    assert_int_equal(mon_os_lock_file(lock, &a), MON_OK);
    assert_int_equal(mon_os_lock_file(lock, &b), MON_EBUSY);
    assert_int_equal(b, -1);
    mon_os_unlock_file(a);
    assert_int_equal(mon_os_lock_file(lock, &b), MON_OK);
    mon_os_unlock_file(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_while_another_connection_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_corrupted_file_fails_restore_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_and_non_databases_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restore_replaces_database_and_drops_stale_wal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daily_name_prune_and_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daily_thread_writes_first_backup_soon, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_file_is_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daily_thread_retries_a_failed_backup, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
