/* SPDX-License-Identifier: MIT */
/* The store on fresh temporary databases of each backend: SQLite files, and (Linux) new
 * databases in the PostgreSQL server of the CTest fixture pg. Open and migrations, servers and
 * their cascades, locking, checked both through the API and through a second raw connection
 * (sqlite3 or libpq). The cases that only one backend has (WAL, the lock of a file; partitions,
 * reconnects) are in their own groups; test_store_pg.c has the rest of PostgreSQL's. History
 * and events are in test_store_history.c, remembered states, seeds and stats in
 * test_store_states.c; the fixture is support/test_store_fx.h. */
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_store_fx.h"

/* ---- open and migrations ---- */

static void test_open_creates_folder_wal_version(void **state)
{
    struct fx *f = *state;
    char mode[16], dir[128];
    struct stat sb;

    snprintf(dir, sizeof(dir), "%s/data/sub", f->dir);
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(stat(f->path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    raw_text(f->path, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_true(agg_store_schema_version() >= 2);
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), agg_store_schema_version());
    /* 2 = INCREMENTAL, so that retention's incremental_vacuum gives pages back. */
    assert_int_equal(raw_int(f->path, "PRAGMA auto_vacuum"), 2);
    assert_int_equal(
        raw_count(f->path, "sqlite_master", "type = 'table' AND name = 'seed_imports'"), 1);
    assert_string_equal(agg_store_last_error(f->st), "");
    assert_int_equal(agg_store_check(f->st, NULL, 0), MON_OK);
    assert_int_equal(agg_store_vacuum(f->st), MON_OK);
}

static void test_reopen_is_idempotent(void **state)
{
    struct fx *f = *state;
    struct agg_store *a = NULL, *b = NULL;
    struct agg_server *list = NULL;
    size_t n = 0;
    char why[256];

    add_server(f->st, "alpha");
    agg_store_close(f->st);
    f->st = NULL;
    assert_int_equal(agg_store_open(f->path, 1000, &a, why, sizeof(why)), MON_OK);
    /* A second connection on the same file (the API's reader) at the same time. */
    assert_int_equal(agg_store_open(f->path, 1000, &b, why, sizeof(why)), MON_OK);
    assert_int_equal(raw_version(f->path), agg_store_schema_version());
    assert_int_equal(agg_store_server_list(b, &list, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "alpha");
    agg_server_list_free(list, n);
    agg_store_close(b);
    f->st = a;
}

static void test_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    struct agg_store *other = (struct agg_store *)(uintptr_t)0x1;
    char why[256];

    agg_store_close(f->st);
    f->st = NULL;
    raw_set_version(f->path, agg_store_schema_version() + 1);
    assert_int_equal(agg_store_open(f->path, 1000, &other, why, sizeof(why)), MON_EUNSUPPORTED);
    assert_ptr_equal(other, (struct agg_store *)(uintptr_t)0x1); /* untouched on failure */
    assert_non_null(strstr(why, "newer"));
    assert_non_null(strstr(why, f->path));
    /* Nothing was migrated or rewritten. */
    assert_int_equal(raw_version(f->path), agg_store_schema_version() + 1);
}

/* A database at schema 1 (before seed_imports) is taken to the current version, and servers
 * it already has count as imported. */
static void test_migration_from_version_1(void **state)
{
    struct fx *f = *state;
    char why[256];
    bool imported = true;
    int64_t id = -1;
    struct agg_server seed = {.name = "old", .host = "h", .port = 1, .enabled = true};

    add_server(f->st, "old");
    agg_store_close(f->st);
    f->st = NULL;
    raw_exec(f->path, "DROP TABLE gpu_usage_hourly");
    raw_exec(f->path, "DROP TABLE gpu_usage_daily");
    raw_exec(f->path, "DROP TABLE gpu_usage_user_hourly");
    raw_exec(f->path, "DROP TABLE gpu_usage_user_daily");
    raw_exec(f->path, "DROP TABLE gpu_states");
    raw_exec(f->path, "DROP TABLE seed_imports");
    raw_exec(f->path, "ALTER TABLE servers DROP COLUMN tls");
    raw_exec(f->path, "ALTER TABLE servers DROP COLUMN tls_pin");
    raw_exec(f->path, "ALTER TABLE servers DROP COLUMN tls_ca_file");
    raw_set_version(f->path, 1);
    assert_int_equal(agg_store_open(f->path, 1000, &f->st, why, sizeof(why)), MON_OK);
    assert_int_equal(raw_version(f->path), agg_store_schema_version());
    assert_int_equal(raw_count(f->path, "seed_imports", "name = 'old'"), 1);
    assert_int_equal(agg_store_seed_import(f->st, &seed, &imported, &id), MON_OK);
    assert_false(imported);
    assert_int_equal(id, 0);
}

/* A version-2 database (before issue 10) gains gpu_states and keeps everything else. */
static void test_migration_from_version_2(void **state)
{
    struct fx *f = *state;
    char why[256];
    struct agg_gpu_state_row g = gpu_state_row(0, "busy");
    int64_t id = add_server(f->st, "old");

    agg_store_close(f->st);
    f->st = NULL;
    raw_exec(f->path, "DROP TABLE gpu_usage_hourly");
    raw_exec(f->path, "DROP TABLE gpu_usage_daily");
    raw_exec(f->path, "DROP TABLE gpu_usage_user_hourly");
    raw_exec(f->path, "DROP TABLE gpu_usage_user_daily");
    raw_exec(f->path, "DROP TABLE gpu_states");
    raw_exec(f->path, "ALTER TABLE servers DROP COLUMN tls");
    raw_exec(f->path, "ALTER TABLE servers DROP COLUMN tls_pin");
    raw_exec(f->path, "ALTER TABLE servers DROP COLUMN tls_ca_file");
    raw_set_version(f->path, 2);
    assert_int_equal(raw_tables(f->path), 9);
    assert_int_equal(agg_store_open(f->path, 1000, &f->st, why, sizeof(why)), MON_OK);
    assert_int_equal(raw_version(f->path), agg_store_schema_version());
    assert_int_equal(raw_tables(f->path), 14);
    assert_int_equal(raw_count(f->path, "servers", "name = 'old'"), 1);
    assert_int_equal(agg_store_gpu_state_save(f->st, id, &g), MON_OK);
    assert_int_equal(raw_count(f->path, "gpu_states", NULL), 1);
}

/* The version that adds TLS per server: the servers of an existing database keep polling plain
 * HTTP (upgrades keep working) until an admin turns TLS on; the columns round-trip. */
#define TLS_SCHEMA_VERSION 4
static void test_migration_to_tls_keeps_plain_http(void **state)
{
    struct fx *f = *state;
    struct agg_server *list = NULL, got = {0};
    char why[256];
    bool set = false;
    size_t n = 0;

    add_server(f->st, "old");
    agg_store_close(f->st);
    f->st = NULL;
    raw_exec(f->path, "DROP TABLE gpu_usage_hourly"); /* version 5, after TLS */
    raw_exec(f->path, "DROP TABLE gpu_usage_daily");
    raw_exec(f->path, "DROP TABLE gpu_usage_user_hourly");
    raw_exec(f->path, "DROP TABLE gpu_usage_user_daily");
    raw_exec(f->path, "ALTER TABLE servers DROP COLUMN tls");
    raw_exec(f->path, "ALTER TABLE servers DROP COLUMN tls_pin");
    raw_exec(f->path, "ALTER TABLE servers DROP COLUMN tls_ca_file");
    raw_set_version(f->path, TLS_SCHEMA_VERSION - 1);
    assert_int_equal(agg_store_open(f->path, 1000, &f->st, why, sizeof(why)), MON_OK);
    assert_int_equal(raw_version(f->path), agg_store_schema_version());
    assert_int_equal(agg_store_server_list(f->st, &list, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_false(list[0].tls);
    assert_string_equal(list[0].tls_pin, "");
    assert_string_equal(list[0].tls_ca_file, "");
    /* Trust on first use stores a pin only while there is none. */
    assert_int_equal(agg_store_server_set_pin(f->st, list[0].id, "sha256//first", &set), MON_OK);
    assert_true(set);
    assert_int_equal(agg_store_server_set_pin(f->st, list[0].id, "sha256//second", &set), MON_OK);
    assert_false(set);
    assert_int_equal(agg_store_server_get(f->st, list[0].id, &got), MON_OK);
    got.tls = true;
    free(got.tls_ca_file);
    got.tls_ca_file = strdup("/etc/lab-ca.pem");
    assert_int_equal(agg_store_server_update(f->st, &got), MON_OK);
    agg_server_done(&got);
    assert_int_equal(agg_store_server_get(f->st, list[0].id, &got), MON_OK);
    assert_true(got.tls);
    assert_string_equal(got.tls_pin, "sha256//first");
    assert_string_equal(got.tls_ca_file, "/etc/lab-ca.pem");
    agg_server_done(&got);
    agg_server_list_free(list, n);
}

/* Turns the version-6 usage tables back into version 5's: on SQLite rowid tables (each
 * rebuilt from its own CREATE statement without WITHOUT ROWID), on PostgreSQL the daily
 * tables' default fillfactor. */
static void usage_tables_to_version_5(const char *path)
{
    static const char *const tables[] = {"gpu_usage_hourly", "gpu_usage_daily",
                                         "gpu_usage_user_hourly", "gpu_usage_user_daily"};
    char sql[1024], create[768];
    if (is_pg(path)) {
        raw_exec(path, "ALTER TABLE gpu_usage_daily RESET (fillfactor);"
                       "ALTER TABLE gpu_usage_user_daily RESET (fillfactor)");
        return;
    }
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT replace(sql, ') WITHOUT ROWID', ')') FROM sqlite_master WHERE name = '%s'",
                 tables[i]);
        raw_text(path, sql, create, sizeof(create));
        snprintf(sql, sizeof(sql),
                 "ALTER TABLE %s RENAME TO old; %s; INSERT INTO %s SELECT * FROM old; "
                 "DROP TABLE old",
                 tables[i], create, tables[i]);
        raw_exec(path, sql);
    }
    raw_exec(path, "CREATE INDEX gpu_usage_hourly_server ON gpu_usage_hourly(server_id, ts)");
    assert_int_equal(raw_count(path, "sqlite_master", "sql LIKE '%WITHOUT ROWID%'"), 0);
}

/* A version-5 database (before the usage tables' new layout) migrates in place: the rows and
 * the sums read from them stay, and checkpoints keep moving the hours and days. */
static void test_migration_from_version_5_keeps_usage(void **state)
{
    struct fx *f = *state;
    const int64_t t0 = 1767225600LL; /* 2026-01-01T00:00:00Z */
    struct agg_usage_row rows[3], *before = NULL, *after = NULL;
    size_t n_before = 0, n_after = 0;
    int64_t id = add_server(f->st, "gpu-a");
    char why[256];

    for (int i = 0; i < 3; i++) {
        rows[i] = (struct agg_usage_row){.ts = t0 + i * 7200,
                                         .server_id = id,
                                         .gpu_seconds = 1000.0 + i,
                                         .busy_gpu_seconds = 500,
                                         .mem_mb_seconds = 1e6,
                                         .max_gpus = 1 + i,
                                         .processes = 2,
                                         .first_seen = t0 + i * 7200 + 5,
                                         .last_seen = t0 + i * 7200 + 3595};
        snprintf(rows[i].server_name, sizeof(rows[i].server_name), "gpu-a");
        snprintf(rows[i].user, sizeof(rows[i].user), "%s", i == 2 ? "bob" : "alice");
    }
    assert_int_equal(agg_store_usage_upsert(f->st, rows, 3), MON_OK);
    assert_int_equal(
        agg_store_usage_query(f->st, t0, t0 + 86400, 0, NULL, true, &before, &n_before), MON_OK);
    agg_store_close(f->st);
    f->st = NULL;
    usage_tables_to_version_5(f->path);
    raw_set_version(f->path, 5);
    assert_int_equal(agg_store_open(f->path, 1000, &f->st, why, sizeof(why)), MON_OK);
    assert_int_equal(raw_version(f->path), agg_store_schema_version());
    if (is_pg(f->path))
        assert_int_equal(raw_count(f->path, "pg_class",
                                   "relname IN ('gpu_usage_daily', 'gpu_usage_user_daily') AND "
                                   "'fillfactor=70' = ANY (reloptions)"),
                         2);
    else
        assert_int_equal(raw_count(f->path, "sqlite_master", "sql LIKE '%WITHOUT ROWID%'"), 4);
    assert_int_equal(raw_count(f->path, "gpu_usage_hourly", NULL), 3);
    assert_int_equal(agg_store_usage_query(f->st, t0, t0 + 86400, 0, NULL, true, &after, &n_after),
                     MON_OK);
    assert_int_equal(n_after, 2);
    assert_int_equal(n_before, n_after);
    assert_memory_equal(before, after, n_after * sizeof(*after));
    free(after);
    /* A checkpoint of the first hour again replaces it, in the hour and its day. */
    rows[0].gpu_seconds = 3000;
    assert_int_equal(agg_store_usage_upsert(f->st, rows, 1), MON_OK);
    assert_int_equal(
        agg_store_usage_query(f->st, t0, t0 + 86400, 0, "alice", true, &after, &n_after), MON_OK);
    assert_int_equal(n_after, 1);
    assert_true(after[0].gpu_seconds == 3000 + 1001);
    free(after);
    free(before);
}

/* ---- servers ---- */

static void test_server_crud(void **state)
{
    struct fx *f = *state;
    char *services[] = {"nginx.service", "my app@1.service"};
    char *services2[] = {"cron.service"};
    struct agg_server in = {.name = "alpha",
                            .host = "fe80::1",
                            .port = 9200,
                            .token = "secret",
                            .services = services,
                            .n_services = 2,
                            .enabled = true};
    struct agg_server got = {0}, *list = NULL;
    struct agg_event *ev = NULL;
    size_t n = 0;
    int64_t id = 0, id2 = 0, before = mon_utc_ms() / 1000;

    assert_int_equal(agg_store_server_insert(f->st, &in, &id), MON_OK);
    assert_int_equal(agg_store_server_get(f->st, id, &got), MON_OK);
    assert_int_equal(got.id, id);
    assert_string_equal(got.name, "alpha");
    assert_string_equal(got.host, "fe80::1");
    assert_int_equal(got.port, 9200);
    assert_string_equal(got.token, "secret");
    assert_true(got.enabled);
    assert_int_equal(got.n_services, 2);
    assert_string_equal(got.services[0], "nginx.service");
    assert_string_equal(got.services[1], "my app@1.service");
    assert_true(got.created_at >= before && got.created_at <= before + 5);
    assert_int_equal(got.last_seen_at, -1);
    assert_int_equal(got.last_online, -1);
    agg_server_done(&got);

    /* Duplicate name. */
    in.host = "10.0.0.9";
    assert_int_equal(agg_store_server_insert(f->st, &in, &id2), MON_EEXIST);
    assert_int_equal(id2, 0);
    assert_non_null(strstr(agg_store_last_error(f->st), "alpha"));
    /* Refused values. */
    in.name = "";
    assert_int_equal(agg_store_server_insert(f->st, &in, NULL), MON_EINVAL);
    in.name = "beta";
    in.port = 0;
    assert_int_equal(agg_store_server_insert(f->st, &in, NULL), MON_EINVAL);
    in.port = 9109;
    in.services = NULL;
    in.n_services = 0;
    assert_int_equal(agg_store_server_insert(f->st, &in, &id2), MON_OK);
    assert_int_equal(raw_count(f->path, "servers", NULL), 2);

    assert_int_equal(agg_store_server_get_by_name(f->st, "beta", &got), MON_OK);
    assert_int_equal(got.id, id2);
    assert_int_equal(got.n_services, 0);
    agg_server_done(&got);
    assert_int_equal(agg_store_server_get_by_name(f->st, "nope", &got), MON_ENOENT);
    assert_int_equal(agg_store_server_get(f->st, 9999, &got), MON_ENOENT);

    /* Update: everything replaced; a taken name and a missing id are refused. */
    in.id = id;
    in.name = "alpha2";
    in.host = "alpha.lan";
    in.port = 9300;
    in.token = "t2";
    in.services = services2;
    in.n_services = 1;
    in.enabled = false;
    assert_int_equal(agg_store_server_update(f->st, &in), MON_OK);
    assert_int_equal(agg_store_server_get(f->st, id, &got), MON_OK);
    assert_string_equal(got.name, "alpha2");
    assert_string_equal(got.host, "alpha.lan");
    assert_int_equal(got.port, 9300);
    assert_string_equal(got.token, "t2");
    assert_false(got.enabled);
    assert_int_equal(got.n_services, 1);
    assert_string_equal(got.services[0], "cron.service");
    agg_server_done(&got);
    in.name = "beta";
    assert_int_equal(agg_store_server_update(f->st, &in), MON_EEXIST);
    in.name = "gamma";
    in.id = 9999;
    assert_int_equal(agg_store_server_update(f->st, &in), MON_ENOENT);

    /* Seen: -1 leaves a field as it is. */
    assert_int_equal(agg_store_server_seen(f->st, id, 1234, 1), MON_OK);
    assert_int_equal(agg_store_server_seen(f->st, id, -1, 0), MON_OK);
    assert_int_equal(agg_store_server_get(f->st, id, &got), MON_OK);
    assert_int_equal(got.last_seen_at, 1234);
    assert_int_equal(got.last_online, 0);
    agg_server_done(&got);
    assert_int_equal(agg_store_server_seen(f->st, 9999, 1, 1), MON_ENOENT);

    assert_int_equal(agg_store_server_list(f->st, &list, &n), MON_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, id);
    assert_int_equal(list[1].id, id2);
    agg_server_list_free(list, n);

    /* Events: server_added for each insert, server_removed for the delete. */
    assert_int_equal(agg_store_server_delete(f->st, id2), MON_OK);
    assert_int_equal(agg_store_server_delete(f->st, id2), MON_ENOENT);
    assert_int_equal(agg_store_server_get(f->st, id2, &got), MON_ENOENT);
    assert_int_equal(agg_store_events_query(f->st, 0, NULL, 0, 100, &ev, &n), MON_OK);
    assert_int_equal(n, 3);
    assert_string_equal(ev[0].type, "server_removed");
    assert_string_equal(ev[0].server_name, "beta");
    assert_int_equal(ev[0].server_id, -1);
    assert_string_equal(ev[1].type, "server_added");
    assert_string_equal(ev[1].server_name, "beta");
    assert_int_equal(ev[1].server_id, -1); /* kept, detached from the deleted server */
    assert_string_equal(ev[2].type, "server_added");
    assert_string_equal(ev[2].server_name, "alpha");
    assert_int_equal(ev[2].server_id, id);
    assert_non_null(strstr(ev[2].message, "[fe80::1]:9200"));
    free(ev);
}

static void test_delete_cascades_keeps_events(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a"), b = add_server(f->st, "b");
    struct agg_hourly_row rows[2] = {hourly(a, 3600, 0), hourly(b, 3600, 0)};
    struct agg_gpu_hourly_row gpus[2] = {gpu_row(a, 3600, 0, 1), gpu_row(b, 3600, 0, 1)};
    struct agg_disk_hourly_row disks[2] = {disk_row(a, 3600, "/", 1), disk_row(b, 3600, "/", 1)};
    struct agg_unit_state u = unit("nginx.service", "active", "running", 10);
    struct agg_event e = event(a, "a", 50, "server_down", "a down");
    struct agg_event *ev = NULL;
    size_t n = 0;
    struct agg_gpu_state_row g = gpu_state_row(0, "idle");
    const char *tables[] = {"samples_hourly", "gpu_samples_hourly", "disk_samples_hourly",
                            "service_status", "unit_states",        "gpu_states"};
    char where_a[64], where_b[64];

    snprintf(where_a, sizeof(where_a), "server_id = %lld", (long long)a);
    snprintf(where_b, sizeof(where_b), "server_id = %lld", (long long)b);
    assert_int_equal(agg_store_hourly_upsert(f->st, rows, 2, gpus, 2, disks, 2), MON_OK);
    for (int64_t id = a; id <= b; id++) {
        assert_int_equal(
            agg_store_service_status_add(f->st, id, 100, "nginx.service", "failed", "failed"),
            MON_OK);
        assert_int_equal(agg_store_unit_state_save(f->st, id, &u), MON_OK);
        assert_int_equal(agg_store_gpu_state_save(f->st, id, &g), MON_OK);
    }
    assert_int_equal(agg_store_event_add(f->st, &e), MON_OK);
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        assert_int_equal(raw_count(f->path, tables[i], where_a), 1);

    assert_int_equal(agg_store_server_delete(f->st, a), MON_OK);
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        assert_int_equal(raw_count(f->path, tables[i], where_a), 0);
        assert_int_equal(raw_count(f->path, tables[i], where_b), 1);
    }
    /* a's events: server_added, server_down, server_removed, all detached and named. */
    assert_int_equal(raw_count(f->path, "events", "server_name = 'a' AND server_id IS NULL"), 3);
    assert_int_equal(raw_count(f->path, "events", where_a), 0);
    assert_int_equal(agg_store_events_query(f->st, 0, "server_down", 0, 10, &ev, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].server_id, -1);
    assert_string_equal(ev[0].server_name, "a");
    assert_string_equal(ev[0].message, "a down");
    free(ev);

    /* Writes for the deleted server: history refused or skipped, events kept detached. */
    assert_int_equal(agg_store_service_status_add(f->st, a, 200, "x.service", "active", "running"),
                     MON_ENOENT);
    assert_int_equal(agg_store_unit_state_save(f->st, a, &u), MON_ENOENT);
    assert_int_equal(agg_store_gpu_state_save(f->st, a, &g), MON_ENOENT);
    assert_int_equal(agg_store_hourly_upsert(f->st, rows, 1, gpus, 1, disks, 1), MON_OK);
    assert_int_equal(raw_count(f->path, "samples_hourly", where_a), 0);
    assert_int_equal(raw_count(f->path, "gpu_samples_hourly", where_a), 0);
    assert_int_equal(raw_count(f->path, "disk_samples_hourly", where_a), 0);
    e.ts = 60;
    assert_int_equal(agg_store_event_add(f->st, &e), MON_OK);
    assert_int_equal(raw_count(f->path, "events", "server_name = 'a' AND server_id IS NULL"), 4);
}

/* ---- locking ---- */

static void test_busy_then_released(void **state)
{
    struct fx *f = *state;
    struct agg_store *quick = NULL;
    struct agg_event e = event(0, "x", 1, "server_up", "m");
    sqlite3 *holder;
    char why[256];
    int64_t t0, elapsed, id = 0;

    assert_int_equal(agg_store_open(f->path, 100, &quick, why, sizeof(why)), MON_OK);
    holder = raw_open(f->path);
    assert_int_equal(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    t0 = mon_mono_ms();
    {
        char *services[] = {"a.service"};
        struct agg_server in = {.name = "late",
                                .host = "h",
                                .port = 1,
                                .services = services,
                                .n_services = 1,
                                .enabled = true};
        assert_int_equal(agg_store_server_insert(quick, &in, &id), MON_EBUSY);
        elapsed = mon_mono_ms() - t0;
        assert_true(elapsed >= 80 && elapsed < 1000);
        assert_int_equal(id, 0);
        assert_non_null(strstr(agg_store_last_error(quick), "locked"));
        /* A single-statement write waits and gives up the same way. */
        t0 = mon_mono_ms();
        assert_int_equal(agg_store_event_add(quick, &e), MON_EBUSY);
        assert_true(mon_mono_ms() - t0 < 1000);
        /* Readers are not blocked by a writer in WAL mode. */
        assert_int_equal(raw_count(f->path, "servers", NULL), 0);

        assert_int_equal(sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(agg_store_server_insert(quick, &in, &id), MON_OK);
        assert_true(id > 0);
        assert_int_equal(agg_store_event_add(quick, &e), MON_OK);
    }
    sqlite3_close(holder);
    agg_store_close(quick);
    assert_int_equal(raw_count(f->path, "servers", "name = 'late'"), 1);
}

#ifdef MON_HAVE_LIBPQ
/* A PostgreSQL table locked by another session: a write waits lock_timeout (the busy time)
 * and fails with MON_EBUSY and the server's reason, reads go on, and once the lock is gone the
 * same store writes again. */
static void test_pg_busy_then_released(void **state)
{
    struct fx *f = *state;
    struct agg_store *quick = NULL;
    struct agg_event e = event(0, "x", 1, "server_up", "m");
    char *services[] = {"a.service"};
    struct agg_server in = {.name = "late",
                            .host = "h",
                            .port = 1,
                            .services = services,
                            .n_services = 1,
                            .enabled = true};
    struct agg_server *list = NULL;
    size_t n = 0;
    PGconn *holder;
    PGresult *res;
    char why[256];
    int64_t t0, elapsed, id = 0;

    assert_int_equal(agg_store_open(f->path, 100, &quick, why, sizeof(why)), MON_OK);
    holder = PQconnectdb(f->path);
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    res = PQexec(holder, "BEGIN; LOCK TABLE servers, events IN EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);

    t0 = mon_mono_ms();
    assert_int_equal(agg_store_server_insert(quick, &in, &id), MON_EBUSY);
    elapsed = mon_mono_ms() - t0;
    assert_true(elapsed >= 80 && elapsed < 1000);
    assert_int_equal(id, 0);
    assert_non_null(strstr(agg_store_last_error(quick), "lock timeout"));
    t0 = mon_mono_ms();
    assert_int_equal(agg_store_event_add(quick, &e), MON_EBUSY);
    assert_true(mon_mono_ms() - t0 < 1000);
    /* EXCLUSIVE lets readers through. */
    assert_int_equal(agg_store_server_list(quick, &list, &n), MON_OK);
    assert_int_equal(n, 0);

    res = PQexec(holder, "COMMIT");
    PQclear(res);
    assert_int_equal(agg_store_server_insert(quick, &in, &id), MON_OK);
    assert_true(id > 0);
    assert_int_equal(agg_store_event_add(quick, &e), MON_OK);
    PQfinish(holder);
    agg_store_close(quick);
    assert_int_equal(raw_count(f->path, "servers", "name = 'late'"), 1);
}
#endif

/* The cases every backend passes, each on a fresh database of the backend setup makes. */
#define COMMON_CASES(setup_fn)                                                                     \
    cmocka_unit_test_setup_teardown(test_reopen_is_idempotent, setup_fn, teardown),                \
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup_fn, teardown),            \
        cmocka_unit_test_setup_teardown(test_migration_from_version_1, setup_fn, teardown),        \
        cmocka_unit_test_setup_teardown(test_migration_from_version_2, setup_fn, teardown),        \
        cmocka_unit_test_setup_teardown(test_migration_to_tls_keeps_plain_http, setup_fn,          \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_migration_from_version_5_keeps_usage, setup_fn,       \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_server_crud, setup_fn, teardown),                     \
        cmocka_unit_test_setup_teardown(test_delete_cascades_keeps_events, setup_fn, teardown)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_folder_wal_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_then_released, setup, teardown),
        COMMON_CASES(setup),
    };
    int failed = cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
#ifdef MON_HAVE_LIBPQ
    {
        const struct CMUnitTest pg_tests[] = {
            cmocka_unit_test_setup_teardown(test_pg_busy_then_released, setup_pg, teardown),
            COMMON_CASES(setup_pg),
        };
        failed += cmocka_run_group_tests_name("postgresql", pg_tests, NULL, NULL);
    }
#endif
    return failed;
}
