/* SPDX-License-Identifier: MIT */
/* The store on fresh temporary databases of each backend: SQLite files, and (Linux) new
 * databases in the PostgreSQL server of the CTest fixture pg. Open/migrations, servers,
 * cascades, events, hourly history, timeseries, retention, seed imports, locking and stats,
 * checked both through the API and through a second raw connection (sqlite3 or libpq). The
 * cases that only one backend has (WAL, the lock of a file; partitions, reconnects) are in
 * their own groups; test_store_pg.c has the rest of PostgreSQL's. */
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_os.h"
#ifdef MON_HAVE_LIBPQ
#include "support/test_pg.h"
#endif

#define INJECT_NAME "x'); DROP TABLE servers;--"

struct fx {
    char dir[64];
    char path[160]; /* the `database:` value: a file, or a postgresql:// URI */
    char pg_db[64]; /* the PostgreSQL database made for this case ("" for SQLite) */
    struct agg_store *st;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char why[256];
    if (!f)
        return -1;
    if (test_make_temp_dir("lanmon-store", f->dir, sizeof(f->dir)) < 0) {
        free(f);
        return -1;
    }
    /* A folder that does not exist yet: open must create it. */
    snprintf(f->path, sizeof(f->path), "%s/data/sub/aggregator.db", f->dir);
    if (agg_store_open(f->path, 2000, &f->st, why, sizeof(why)) < 0) {
        fprintf(stderr, "open: %s\n", why);
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
#ifdef MON_HAVE_LIBPQ
    if (f->pg_db[0])
        test_pg_drop_db(f->pg_db);
#endif
    free(f);
    return 0;
}

#ifdef MON_HAVE_LIBPQ
/* A new PostgreSQL database in the fixture's server, opened through the store. */
static int setup_pg(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char why[256];
    if (!f)
        return -1;
    if (test_pg_create_db(f->pg_db, sizeof(f->pg_db), f->path, sizeof(f->path)) < 0 ||
        agg_store_open(f->path, 2000, &f->st, why, sizeof(why)) < 0) {
        fprintf(stderr, "open %s: %s\n", f->path, f->pg_db[0] ? why : "no database");
        if (f->pg_db[0])
            test_pg_drop_db(f->pg_db);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}
#endif

static bool is_pg(const char *path)
{
    return strncmp(path, "postgresql://", 13) == 0;
}

/* ---- raw access, independent of the store (sqlite3 for a file, libpq for a URI) ---- */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    return db;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    int rc;
#ifdef MON_HAVE_LIBPQ
    if (is_pg(path)) {
        char err[512];
        if (test_pg_exec(path, sql, err, sizeof(err)) < 0)
            fail_msg("%s: %s", sql, err);
        return;
    }
#endif
    db = raw_open(path);
    rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

/* The first column of the first row of sql, as an integer (-999 when there is no row). */
static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s = NULL;
    int64_t v = -999;
    int rc;
#ifdef MON_HAVE_LIBPQ
    if (is_pg(path)) {
        char text[512];
        if (test_pg_text(path, sql, text, sizeof(text)) < 0)
            fail_msg("%s: %s", sql, text);
        return text[0] ? strtoll(text, NULL, 10) : -999;
    }
#endif
    db = raw_open(path);
    rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void raw_text(const char *path, const char *sql, char *buf, size_t size)
{
    sqlite3 *db;
    sqlite3_stmt *s = NULL;
#ifdef MON_HAVE_LIBPQ
    if (is_pg(path)) {
        if (test_pg_text(path, sql, buf, size) < 0)
            fail_msg("%s: %s", sql, buf);
        return;
    }
#endif
    db = raw_open(path);
    buf[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static int64_t raw_count(const char *path, const char *table, const char *where)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE %s", table, where ? where : "1=1");
    return raw_int(path, sql);
}

/* The schema version the database records (PRAGMA user_version, or lanmon_schema). */
static int64_t raw_version(const char *path)
{
    return raw_int(path, is_pg(path) ? "SELECT version FROM lanmon_schema" : "PRAGMA user_version");
}

static void raw_set_version(const char *path, int version)
{
    char sql[96];
    if (is_pg(path))
        snprintf(sql, sizeof(sql), "UPDATE lanmon_schema SET version = %d", version);
    else
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
    raw_exec(path, sql);
}

/* The number of tables (not counting partitions) in the database. */
static int64_t raw_tables(const char *path)
{
    return raw_int(path, is_pg(path) ? "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON "
                                       "n.oid = c.relnamespace WHERE n.nspname = 'public' AND "
                                       "c.relkind IN ('r', 'p') AND NOT c.relispartition"
                                     : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'");
}

/* ---- builders ---- */

static int64_t add_server(struct agg_store *st, const char *name)
{
    char *services[] = {"nginx.service", "ssh.service"};
    struct agg_server s = {.name = (char *)name,
                           .host = "10.0.0.5",
                           .port = 9109,
                           .token = "tok",
                           .services = services,
                           .n_services = 2,
                           .enabled = true};
    int64_t id = 0;
    assert_int_equal(agg_store_server_insert(st, &s, &id), MON_OK);
    assert_true(id > 0);
    return id;
}

static struct agg_hourly_row hourly(int64_t server_id, int64_t ts, double base)
{
    struct agg_hourly_row h = {.server_id = server_id,
                               .ts = ts,
                               .samples = 720,
                               .has_cpu = true,
                               .has_mem = true,
                               .has_disk = true,
                               .has_gpu = true};
    h.cpu_pct_avg = base + 1;
    h.cpu_pct_max = base + 2;
    h.cpu_pct_min = base + 3;
    h.mem_used_pct_avg = base + 4;
    h.mem_used_pct_max = base + 5;
    h.mem_used_pct_min = base + 6;
    h.disk_used_pct = base + 7;
    h.disk_used_pct_max = base + 8;
    h.disk_used_pct_min = base + 9;
    h.disk_used_bytes = 1e12;
    h.disk_total_bytes = 2e12;
    h.gpu_util_pct_avg = base + 10;
    h.gpu_util_pct_max = base + 11;
    h.gpu_util_pct_min = base + 12;
    h.gpu_mem_used_mb = base + 13;
    h.gpu_mem_total_mb = 24576;
    h.gpu_mem_used_mb_max = base + 14;
    h.gpu_mem_used_mb_min = base + 15;
    return h;
}

static struct agg_gpu_hourly_row gpu_row(int64_t server_id, int64_t ts, int index, double v)
{
    struct agg_gpu_hourly_row g = {.server_id = server_id,
                                   .ts = ts,
                                   .gpu_index = index,
                                   .samples = 10,
                                   .has_util = true,
                                   .has_mem = true,
                                   .has_temp = true,
                                   .has_power = true};
    snprintf(g.uuid, sizeof(g.uuid), "GPU-%d", index);
    snprintf(g.name, sizeof(g.name), "RTX %d", index);
    g.util_pct_avg = v;
    g.util_pct_max = v + 1;
    g.mem_used_mb_avg = v + 2;
    g.mem_used_mb_max = v + 3;
    g.mem_total_mb = 8192;
    g.temp_c_max = v + 4;
    g.power_w_avg = v + 5;
    return g;
}

static struct agg_disk_hourly_row disk_row(int64_t server_id, int64_t ts, const char *mount,
                                           double v)
{
    struct agg_disk_hourly_row d = {.server_id = server_id, .ts = ts, .samples = 10};
    snprintf(d.mount, sizeof(d.mount), "%s", mount);
    d.used_pct_avg = v;
    d.used_pct_max = v + 1;
    d.used_pct = v + 2;
    d.used_bytes = 1000 * v;
    d.total_bytes = 5000000;
    return d;
}

static struct agg_event event(int64_t server_id, const char *name, int64_t ts, const char *type,
                              const char *message)
{
    struct agg_event e = {.server_id = server_id, .ts = ts};
    snprintf(e.server_name, sizeof(e.server_name), "%s", name);
    snprintf(e.type, sizeof(e.type), "%s", type);
    snprintf(e.message, sizeof(e.message), "%s", message);
    return e;
}

static struct agg_gpu_state_row gpu_state_row(int index, const char *state)
{
    struct agg_gpu_state_row g = {.gpu_index = index,
                                  .since = 1000 + index,
                                  .low_since = -1,
                                  .ecc_volatile = -1,
                                  .ecc_aggregate = 4,
                                  .xid_seen_at = -1,
                                  .updated_at = 2000};
    snprintf(g.uuid, sizeof(g.uuid), "GPU-%d", index);
    snprintf(g.state, sizeof(g.state), "%s", state);
    return g;
}

static struct agg_unit_state unit(const char *name, const char *active, const char *sub,
                                  int64_t since)
{
    struct agg_unit_state u = {.since = since};
    snprintf(u.name, sizeof(u.name), "%s", name);
    snprintf(u.active_state, sizeof(u.active_state), "%s", active);
    snprintf(u.sub_state, sizeof(u.sub_state), "%s", sub);
    return u;
}

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

/* ---- hourly history ---- */

static void test_hourly_upsert_and_get(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a");
    struct agg_hourly_row h = hourly(a, 7200, 0), got;
    char where[64];

    assert_int_equal(agg_store_hourly_upsert(f->st, &h, 1, NULL, 0, NULL, 0), MON_OK);
    h.samples = 1440;
    h.cpu_pct_avg = 55.5;
    h.has_gpu = false;
    assert_int_equal(agg_store_hourly_upsert(f->st, &h, 1, NULL, 0, NULL, 0), MON_OK);
    snprintf(where, sizeof(where), "server_id = %lld AND ts = 7200", (long long)a);
    assert_int_equal(raw_count(f->path, "samples_hourly", where), 1);

    assert_int_equal(agg_store_hourly_get(f->st, a, 7200, &got), MON_OK);
    assert_int_equal(got.server_id, a);
    assert_int_equal(got.ts, 7200);
    assert_int_equal(got.samples, 1440);
    assert_true(got.has_cpu && got.has_mem && got.has_disk);
    assert_false(got.has_gpu);
    assert_float_equal(got.cpu_pct_avg, 55.5, 1e-9);
    assert_float_equal(got.cpu_pct_max, 2, 1e-9);
    assert_float_equal(got.cpu_pct_min, 3, 1e-9);
    assert_float_equal(got.mem_used_pct_avg, 4, 1e-9);
    assert_float_equal(got.mem_used_pct_max, 5, 1e-9);
    assert_float_equal(got.mem_used_pct_min, 6, 1e-9);
    assert_float_equal(got.disk_used_pct, 7, 1e-9);
    assert_float_equal(got.disk_used_pct_max, 8, 1e-9);
    assert_float_equal(got.disk_used_pct_min, 9, 1e-9);
    assert_float_equal(got.disk_used_bytes, 1e12, 1e-3);
    assert_float_equal(got.disk_total_bytes, 2e12, 1e-3);

    /* Every field of a full row comes back. */
    h = hourly(a, 10800, 100);
    assert_int_equal(agg_store_hourly_upsert(f->st, &h, 1, NULL, 0, NULL, 0), MON_OK);
    assert_int_equal(agg_store_hourly_get(f->st, a, 10800, &got), MON_OK);
    assert_true(got.has_gpu);
    assert_float_equal(got.gpu_util_pct_avg, 110, 1e-9);
    assert_float_equal(got.gpu_util_pct_max, 111, 1e-9);
    assert_float_equal(got.gpu_util_pct_min, 112, 1e-9);
    assert_float_equal(got.gpu_mem_used_mb, 113, 1e-9);
    assert_float_equal(got.gpu_mem_total_mb, 24576, 1e-9);
    assert_float_equal(got.gpu_mem_used_mb_max, 114, 1e-9);
    assert_float_equal(got.gpu_mem_used_mb_min, 115, 1e-9);

    assert_int_equal(agg_store_hourly_get(f->st, a, 3600, &got), MON_ENOENT);
    assert_int_equal(agg_store_hourly_upsert(f->st, NULL, 1, NULL, 0, NULL, 0), MON_EINVAL);
}

static void test_gpu_disk_upsert_and_get(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a");
    struct agg_gpu_hourly_row gpus[2] = {gpu_row(a, 3600, 1, 10), gpu_row(a, 3600, 0, 20)};
    struct agg_disk_hourly_row disks[2] = {disk_row(a, 3600, "/srv", 30),
                                           disk_row(a, 3600, "/", 40)};
    struct agg_gpu_hourly_row *g = NULL;
    struct agg_disk_hourly_row *d = NULL;
    size_t n = 0;

    gpus[0].has_temp = false;
    assert_int_equal(agg_store_hourly_upsert(f->st, NULL, 0, gpus, 2, disks, 2), MON_OK);
    assert_int_equal(agg_store_gpu_hourly_get(f->st, a, 3600, &g, &n), MON_OK);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].gpu_index, 0);
    assert_string_equal(g[0].uuid, "GPU-0");
    assert_string_equal(g[0].name, "RTX 0");
    assert_int_equal(g[0].samples, 10);
    assert_true(g[0].has_util && g[0].has_mem && g[0].has_temp && g[0].has_power);
    assert_float_equal(g[0].util_pct_avg, 20, 1e-9);
    assert_float_equal(g[0].util_pct_max, 21, 1e-9);
    assert_float_equal(g[0].mem_used_mb_avg, 22, 1e-9);
    assert_float_equal(g[0].mem_used_mb_max, 23, 1e-9);
    assert_float_equal(g[0].mem_total_mb, 8192, 1e-9);
    assert_float_equal(g[0].temp_c_max, 24, 1e-9);
    assert_float_equal(g[0].power_w_avg, 25, 1e-9);
    assert_int_equal(g[1].gpu_index, 1);
    assert_false(g[1].has_temp);
    assert_true(g[1].has_util);
    free(g);

    assert_int_equal(agg_store_disk_hourly_get(f->st, a, 3600, &d, &n), MON_OK);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].mount, "/");
    assert_int_equal(d[0].samples, 10);
    assert_float_equal(d[0].used_pct_avg, 40, 1e-9);
    assert_float_equal(d[0].used_pct_max, 41, 1e-9);
    assert_float_equal(d[0].used_pct, 42, 1e-9);
    assert_float_equal(d[0].used_bytes, 40000, 1e-9);
    assert_float_equal(d[0].total_bytes, 5000000, 1e-9);
    assert_string_equal(d[1].mount, "/srv");
    free(d);

    /* A second checkpoint of the same hour updates in place. */
    gpus[1] = gpu_row(a, 3600, 0, 70);
    disks[1] = disk_row(a, 3600, "/", 80);
    assert_int_equal(agg_store_hourly_upsert(f->st, NULL, 0, &gpus[1], 1, &disks[1], 1), MON_OK);
    assert_int_equal(raw_count(f->path, "gpu_samples_hourly", NULL), 2);
    assert_int_equal(raw_count(f->path, "disk_samples_hourly", NULL), 2);
    assert_int_equal(agg_store_gpu_hourly_get(f->st, a, 3600, &g, &n), MON_OK);
    assert_float_equal(g[0].util_pct_avg, 70, 1e-9);
    free(g);
    assert_int_equal(agg_store_disk_hourly_get(f->st, a, 3600, &d, &n), MON_OK);
    assert_float_equal(d[0].used_pct, 82, 1e-9);
    free(d);

    /* Another hour holds nothing. */
    g = (struct agg_gpu_hourly_row *)(uintptr_t)0x1;
    assert_int_equal(agg_store_gpu_hourly_get(f->st, a, 7200, &g, &n), MON_OK);
    assert_int_equal(n, 0);
    assert_null(g);
}

static void test_timeseries(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a"), b = add_server(f->st, "b");
    struct agg_hourly_row rows[4] = {hourly(a, 3600, 100), hourly(a, 7200, 200),
                                     hourly(a, 10800, 300), hourly(b, 7200, 900)};
    static const struct {
        const char *metric, *agg;
        double offset;
    } cases[] = {
        {"cpu_pct", "avg", 1},          {"cpu_pct", "max", 2},
        {"cpu_pct", "min", 3},          {"mem_used_pct", "avg", 4},
        {"mem_used_pct", "max", 5},     {"mem_used_pct", "min", 6},
        {"disk_used_pct", "avg", 7},    {"disk_used_pct", "max", 8},
        {"disk_used_pct", "min", 9},    {"gpu_util_pct", "avg", 10},
        {"gpu_util_pct", "max", 11},    {"gpu_util_pct", "min", 12},
        {"gpu_mem_used_mb", "avg", 13}, {"gpu_mem_used_mb", "max", 14},
        {"gpu_mem_used_mb", "min", 15},
    };
    struct agg_point *p = NULL;
    size_t n = 0;

    rows[2].has_gpu = false; /* the third hour had no GPU data */
    assert_int_equal(agg_store_hourly_upsert(f->st, rows, 4, NULL, 0, NULL, 0), MON_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool gpu = strncmp(cases[i].metric, "gpu", 3) == 0;
        assert_int_equal(
            agg_store_timeseries(f->st, a, cases[i].metric, cases[i].agg, 0, 100000, &p, &n),
            MON_OK);
        assert_int_equal(n, 3);
        for (size_t k = 0; k < 3; k++) {
            assert_int_equal(p[k].ts, 3600 * (int64_t)(k + 1));
            if (gpu && k == 2) {
                assert_false(p[k].has_value);
            } else {
                assert_true(p[k].has_value);
                assert_float_equal(p[k].value, 100.0 * (double)(k + 1) + cases[i].offset, 1e-9);
            }
        }
        free(p);
    }
    /* from <= ts <= to, inclusive at both ends, other servers excluded. */
    assert_int_equal(agg_store_timeseries(f->st, a, "cpu_pct", "max", 7200, 10800, &p, &n), MON_OK);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].ts, 7200);
    assert_float_equal(p[0].value, 202, 1e-9);
    assert_int_equal(p[1].ts, 10800);
    free(p);
    assert_int_equal(agg_store_timeseries(f->st, a, "cpu_pct", "avg", 3601, 7199, &p, &n), MON_OK);
    assert_int_equal(n, 0);
    free(p);
    assert_int_equal(agg_store_timeseries(f->st, b, "cpu_pct", "avg", 0, 100000, &p, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_float_equal(p[0].value, 901, 1e-9);
    free(p);

    p = NULL;
    n = 77;
    assert_int_equal(agg_store_timeseries(f->st, a, "cpu", "avg", 0, 1, &p, &n), MON_EINVAL);
    assert_int_equal(agg_store_timeseries(f->st, a, "cpu_pct", "median", 0, 1, &p, &n), MON_EINVAL);
    assert_int_equal(
        agg_store_timeseries(f->st, a, "cpu_pct_avg; DROP TABLE servers", "avg", 0, 1, &p, &n),
        MON_EINVAL);
    assert_int_equal(agg_store_timeseries(f->st, a, NULL, "avg", 0, 1, &p, &n), MON_EINVAL);
    assert_int_equal(agg_store_timeseries(f->st, a, "cpu_pct", NULL, 0, 1, &p, &n), MON_EINVAL);
    assert_null(p);
    assert_int_equal(n, 77);
    assert_string_not_equal(agg_store_last_error(f->st), "");
}

/* ---- events ---- */

static void test_events_paging_and_filters(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a"), b = add_server(f->st, "b");
    struct agg_event *ev = NULL;
    int64_t before = 0, last = INT64_MAX;
    size_t n = 0, total = 0;
    char msg[32];

    for (int i = 0; i < 10; i++) {
        struct agg_event e;
        snprintf(msg, sizeof(msg), "m%d", i);
        e = event(i % 2 ? b : a, i % 2 ? "b" : "a", 1000 + i, i < 5 ? "server_down" : "server_up",
                  msg);
        assert_int_equal(agg_store_event_add(f->st, &e), MON_OK);
    }
    /* 2 server_added + 10: walk all of them 3 at a time, newest first. */
    do {
        assert_int_equal(agg_store_events_query(f->st, 0, NULL, before, 3, &ev, &n), MON_OK);
        assert_true(n <= 3);
        for (size_t i = 0; i < n; i++) {
            assert_true(ev[i].id < last);
            last = ev[i].id;
        }
        if (total == 0) {
            assert_int_equal(n, 3);
            assert_string_equal(ev[0].message, "m9");
            assert_string_equal(ev[0].server_name, "b");
            assert_int_equal(ev[0].server_id, b);
            assert_int_equal(ev[0].ts, 1009);
            assert_string_equal(ev[1].message, "m8");
        }
        total += n;
        before = n ? ev[n - 1].id : 0;
        free(ev);
    } while (n == 3);
    assert_int_equal(total, 12);

    assert_int_equal(agg_store_events_query(f->st, a, NULL, 0, 100, &ev, &n), MON_OK);
    assert_int_equal(n, 6); /* server_added + m0 m2 m4 m6 m8 */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ev[i].server_id, a);
    assert_string_equal(ev[0].message, "m8");
    assert_string_equal(ev[5].type, "server_added");
    free(ev);

    assert_int_equal(agg_store_events_query(f->st, b, "server_down", 0, 100, &ev, &n), MON_OK);
    assert_int_equal(n, 2); /* m3 m1 */
    assert_string_equal(ev[0].message, "m3");
    assert_string_equal(ev[1].message, "m1");
    before = ev[0].id;
    free(ev);
    assert_int_equal(agg_store_events_query(f->st, b, "server_down", before, 100, &ev, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].message, "m1");
    free(ev);

    assert_int_equal(agg_store_events_query(f->st, 0, "server_up", 0, 100, &ev, &n), MON_OK);
    assert_int_equal(n, 5);
    free(ev);
    assert_int_equal(agg_store_events_query(f->st, 0, "nothing", 0, 100, &ev, &n), MON_OK);
    assert_int_equal(n, 0);
    free(ev);
    assert_int_equal(agg_store_events_query(f->st, 0, NULL, 0, 0, &ev, &n), MON_EINVAL);
    assert_int_equal(agg_store_events_query(f->st, 0, NULL, 0, 1001, &ev, &n), MON_EINVAL);
}

/* ---- retention ---- */

static void test_retention_cutoff(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a");
    const int64_t cutoff = 7200;
    const int64_t times[] = {3600, cutoff, 10800}; /* older, at, newer than the cutoff */
    const char *tables[] = {"samples_hourly", "gpu_samples_hourly", "disk_samples_hourly",
                            "service_status", "events"};
    struct agg_unit_state u = unit("old.service", "active", "running", 1);
    int64_t deleted = -1, events_before;

    for (size_t i = 0; i < 3; i++) {
        struct agg_hourly_row h = hourly(a, times[i], 0);
        struct agg_gpu_hourly_row g = gpu_row(a, times[i], 0, 1);
        struct agg_disk_hourly_row d = disk_row(a, times[i], "/", 1);
        struct agg_event e = event(a, "a", times[i], "server_up", "up");
        assert_int_equal(agg_store_hourly_upsert(f->st, &h, 1, &g, 1, &d, 1), MON_OK);
        assert_int_equal(
            agg_store_service_status_add(f->st, a, times[i], "x.service", "active", "running"),
            MON_OK);
        assert_int_equal(agg_store_event_add(f->st, &e), MON_OK);
    }
    assert_int_equal(agg_store_unit_state_save(f->st, a, &u), MON_OK);
    events_before = raw_count(f->path, "events", NULL); /* + the server_added event (now) */
    assert_int_equal(events_before, 4);

    assert_int_equal(agg_store_retention(f->st, cutoff, &deleted), MON_OK);
    assert_int_equal(deleted, 5);
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        assert_int_equal(raw_count(f->path, tables[i], "ts < 7200"), 0);
        assert_int_equal(raw_count(f->path, tables[i], "ts >= 7200 AND ts <= 10800"), 2);
    }
    assert_int_equal(raw_count(f->path, "events", NULL), 3);
    assert_int_equal(raw_count(f->path, "unit_states", NULL), 1);
    assert_int_equal(raw_count(f->path, "servers", NULL), 1);

    assert_int_equal(agg_store_retention(f->st, cutoff, &deleted), MON_OK);
    assert_int_equal(deleted, 0);
}

/* ---- hostile strings ---- */

static void test_injection_strings_are_data(void **state)
{
    struct fx *f = *state;
    char *services[] = {"a'); DELETE FROM events;--.service", "b\"; DROP TABLE unit_states;"};
    struct agg_server in = {.name = INJECT_NAME,
                            .host = "h'--",
                            .port = 1,
                            .token = "' OR '1'='1",
                            .services = services,
                            .n_services = 2,
                            .enabled = true};
    struct agg_server got = {0};
    struct agg_unit_state u = unit("u'); DROP TABLE servers;--", "act'ive", "s\"ub", 5);
    struct agg_unit_state *units = NULL;
    struct agg_event e;
    struct agg_event *ev = NULL;
    size_t n = 0;
    int64_t id = 0;

    assert_int_equal(agg_store_server_insert(f->st, &in, &id), MON_OK);
    assert_int_equal(agg_store_server_get_by_name(f->st, INJECT_NAME, &got), MON_OK);
    assert_int_equal(got.id, id);
    assert_string_equal(got.name, INJECT_NAME);
    assert_string_equal(got.host, "h'--");
    assert_string_equal(got.token, "' OR '1'='1");
    assert_int_equal(got.n_services, 2);
    assert_string_equal(got.services[0], services[0]);
    assert_string_equal(got.services[1], services[1]);
    agg_server_done(&got);

    assert_int_equal(agg_store_unit_state_save(f->st, id, &u), MON_OK);
    assert_int_equal(agg_store_unit_states_load(f->st, id, &units, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_string_equal(units[0].name, u.name);
    assert_string_equal(units[0].active_state, "act'ive");
    assert_string_equal(units[0].sub_state, "s\"ub");
    free(units);
    assert_int_equal(
        agg_store_service_status_add(f->st, id, 1, "'; DELETE FROM servers;--", "a'", "b'"),
        MON_OK);
    assert_int_equal(
        raw_count(f->path, "service_status", "unit_name = '''; DELETE FROM servers;--'"), 1);
    e = event(id, INJECT_NAME, 7, "x'; DROP TABLE events;--", "msg'); DELETE FROM servers;--");
    assert_int_equal(agg_store_event_add(f->st, &e), MON_OK);
    assert_int_equal(agg_store_events_query(f->st, id, "x'; DROP TABLE events;--", 0, 10, &ev, &n),
                     MON_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].message, "msg'); DELETE FROM servers;--");
    assert_string_equal(ev[0].server_name, INJECT_NAME);
    free(ev);

    /* Every table is still there and intact: the eight of the schema and the backend's own
     * (sqlite_sequence, lanmon_schema). */
    assert_int_equal(raw_count(f->path, "servers", NULL), 1);
    assert_int_equal(raw_count(f->path, "events", NULL), 2);
    assert_int_equal(raw_count(f->path, "unit_states", NULL), 1);
    assert_int_equal(raw_count(f->path, "samples_hourly", NULL), 0);
    assert_int_equal(raw_count(f->path, "gpu_samples_hourly", NULL), 0);
    assert_int_equal(raw_count(f->path, "disk_samples_hourly", NULL), 0);
    assert_int_equal(raw_count(f->path, "seed_imports", NULL), 0);
    assert_int_equal(raw_count(f->path, "gpu_states", NULL), 0);
    assert_int_equal(raw_count(f->path, "gpu_usage_hourly", NULL), 0);
    assert_int_equal(raw_tables(f->path), 14);
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

/* ---- unit states ---- */

static void test_unit_states_round_trip(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a"), b = add_server(f->st, "b");
    struct agg_unit_state in[3] = {unit("zebra.service", "failed", "failed", 300),
                                   unit("alpha.service", "active", "running", -1),
                                   unit("mid.service", "inactive", "dead", 200)};
    struct agg_unit_state empty = {0};
    struct agg_unit_state *out = NULL;
    size_t n = 0;

    for (size_t i = 0; i < 3; i++)
        assert_int_equal(agg_store_unit_state_save(f->st, a, &in[i]), MON_OK);
    assert_int_equal(agg_store_unit_states_load(f->st, a, &out, &n), MON_OK);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].name, "alpha.service");
    assert_string_equal(out[0].active_state, "active");
    assert_string_equal(out[0].sub_state, "running");
    assert_int_equal(out[0].since, -1);
    assert_string_equal(out[1].name, "mid.service");
    assert_int_equal(out[1].since, 200);
    assert_string_equal(out[2].name, "zebra.service");
    assert_string_equal(out[2].active_state, "failed");
    assert_int_equal(out[2].since, 300);
    free(out);

    in[0] = unit("zebra.service", "active", "running", 400);
    assert_int_equal(agg_store_unit_state_save(f->st, a, &in[0]), MON_OK);
    assert_int_equal(agg_store_unit_states_load(f->st, a, &out, &n), MON_OK);
    assert_int_equal(n, 3);
    assert_string_equal(out[2].active_state, "active");
    assert_string_equal(out[2].sub_state, "running");
    assert_int_equal(out[2].since, 400);
    free(out);

    out = (struct agg_unit_state *)(uintptr_t)0x1;
    assert_int_equal(agg_store_unit_states_load(f->st, b, &out, &n), MON_OK);
    assert_int_equal(n, 0);
    assert_null(out);
    assert_int_equal(agg_store_unit_state_save(f->st, 9999, &in[1]), MON_ENOENT);
    assert_int_equal(agg_store_unit_state_save(f->st, a, &empty), MON_EINVAL);
}

static void test_gpu_states_round_trip(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a"), b = add_server(f->st, "b");
    struct agg_gpu_state_row in[2] = {gpu_state_row(3, "idle"), gpu_state_row(1, "error")};
    struct agg_gpu_state_row bad = gpu_state_row(-1, "free");
    struct agg_gpu_state_row *out = NULL;
    size_t n = 0;

    in[0].low_since = 900;
    in[0].idle_reported = true;
    in[1].error_open = true;
    in[1].conditions = 6;
    in[1].ecc_volatile = 12;
    in[1].xid_seen_at = 1500;
    in[1].xid_seen_n = 2;
    in[1].uuid[0] = '\0';
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(agg_store_gpu_state_save(f->st, a, &in[i]), MON_OK);
    assert_int_equal(agg_store_gpu_states_load(f->st, a, &out, &n), MON_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].gpu_index, 1); /* ordered by index */
    assert_string_equal(out[0].uuid, "");
    assert_string_equal(out[0].state, "error");
    assert_true(out[0].error_open);
    assert_false(out[0].idle_reported);
    assert_int_equal(out[0].conditions, 6);
    assert_int_equal(out[0].ecc_volatile, 12);
    assert_int_equal(out[0].ecc_aggregate, 4);
    assert_int_equal(out[0].xid_seen_at, 1500);
    assert_int_equal(out[0].xid_seen_n, 2);
    assert_int_equal(out[0].since, 1001);
    assert_int_equal(out[0].updated_at, 2000);
    assert_int_equal(out[1].gpu_index, 3);
    assert_string_equal(out[1].uuid, "GPU-3");
    assert_string_equal(out[1].state, "idle");
    assert_int_equal(out[1].low_since, 900);
    assert_true(out[1].idle_reported);
    assert_int_equal(out[1].ecc_volatile, -1);
    assert_int_equal(out[1].xid_seen_at, -1);
    free(out);
    /* One row per index: a save replaces it. */
    in[0] = gpu_state_row(3, "busy");
    assert_int_equal(agg_store_gpu_state_save(f->st, a, &in[0]), MON_OK);
    assert_int_equal(agg_store_gpu_states_load(f->st, a, &out, &n), MON_OK);
    assert_int_equal(n, 2);
    assert_string_equal(out[1].state, "busy");
    assert_false(out[1].idle_reported);
    free(out);
    out = (struct agg_gpu_state_row *)(uintptr_t)0x1;
    assert_int_equal(agg_store_gpu_states_load(f->st, b, &out, &n), MON_OK);
    assert_int_equal(n, 0);
    assert_null(out);
    assert_int_equal(agg_store_gpu_state_save(f->st, 9999, &in[1]), MON_ENOENT);
    assert_int_equal(agg_store_gpu_state_save(f->st, a, &bad), MON_EINVAL);
}

/* ---- seed imports ---- */

static void test_seed_import_once_by_name(void **state)
{
    struct fx *f = *state;
    char *services[] = {"nginx.service"};
    struct agg_server seed = {.name = "alpha",
                              .host = "10.1.1.1",
                              .port = 9109,
                              .token = "t",
                              .services = services,
                              .n_services = 1,
                              .enabled = true};
    struct agg_server got = {0};
    bool imported = false;
    int64_t id = -1, beta;

    assert_int_equal(agg_store_seed_import(f->st, &seed, &imported, &id), MON_OK);
    assert_true(imported);
    assert_true(id > 0);
    assert_int_equal(agg_store_server_get_by_name(f->st, "alpha", &got), MON_OK);
    assert_int_equal(got.id, id);
    assert_string_equal(got.host, "10.1.1.1");
    assert_int_equal(got.n_services, 1);
    agg_server_done(&got);
    assert_int_equal(
        raw_count(f->path, "events", "type = 'server_added' AND server_name = 'alpha'"), 1);
    assert_int_equal(raw_count(f->path, "seed_imports", "name = 'alpha'"), 1);

    /* Second start: nothing happens. */
    seed.host = "10.9.9.9";
    assert_int_equal(agg_store_seed_import(f->st, &seed, &imported, &id), MON_OK);
    assert_false(imported);
    assert_int_equal(id, 0);
    assert_int_equal(raw_count(f->path, "servers", NULL), 1);
    assert_int_equal(raw_count(f->path, "servers", "host = '10.1.1.1'"), 1);

    /* Deleted in the UI: not re-created. */
    assert_int_equal(agg_store_server_get_by_name(f->st, "alpha", &got), MON_OK);
    assert_int_equal(agg_store_server_delete(f->st, got.id), MON_OK);
    agg_server_done(&got);
    imported = true;
    assert_int_equal(agg_store_seed_import(f->st, &seed, &imported, &id), MON_OK);
    assert_false(imported);
    assert_int_equal(raw_count(f->path, "servers", NULL), 0);
    assert_int_equal(
        raw_count(f->path, "events", "type = 'server_added' AND server_name = 'alpha'"), 1);

    /* A server added in the UI first: only the name is recorded. */
    beta = add_server(f->st, "beta");
    seed.name = "beta";
    imported = true;
    assert_int_equal(agg_store_seed_import(f->st, &seed, &imported, &id), MON_OK);
    assert_false(imported);
    assert_int_equal(id, 0);
    assert_int_equal(raw_count(f->path, "servers", "name = 'beta'"), 1);
    assert_int_equal(raw_count(f->path, "seed_imports", "name = 'beta'"), 1);
    assert_int_equal(agg_store_server_delete(f->st, beta), MON_OK);
    assert_int_equal(agg_store_seed_import(f->st, &seed, &imported, &id), MON_OK);
    assert_false(imported);
    assert_int_equal(raw_count(f->path, "servers", NULL), 0);

    /* An invalid seed is refused and leaves no trace. */
    seed.name = "gamma";
    seed.port = 0;
    assert_int_equal(agg_store_seed_import(f->st, &seed, &imported, &id), MON_EINVAL);
    assert_int_equal(raw_count(f->path, "seed_imports", "name = 'gamma'"), 0);
    assert_int_equal(raw_count(f->path, "seed_imports", NULL), 2);
}

/* ---- stats ---- */

static void test_stats_json(void **state)
{
    struct fx *f = *state;
    const char *tables[] = {"servers",
                            "samples_hourly",
                            "gpu_samples_hourly",
                            "disk_samples_hourly",
                            "service_status",
                            "unit_states",
                            "events",
                            "seed_imports",
                            "gpu_states"};
    int64_t a = add_server(f->st, "a");
    struct agg_hourly_row h = hourly(a, 3600, 0);
    char *json = NULL;
    cJSON *root, *rows, *item;

    add_server(f->st, "b");
    assert_int_equal(agg_store_hourly_upsert(f->st, &h, 1, NULL, 0, NULL, 0), MON_OK);
    assert_int_equal(agg_store_stats(f->st, &json), MON_OK);
    root = cJSON_Parse(json);
    assert_non_null(root);
    rows = cJSON_GetObjectItemCaseSensitive(root, "rows");
    assert_true(cJSON_IsObject(rows));
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        item = cJSON_GetObjectItemCaseSensitive(rows, tables[i]);
        assert_true(cJSON_IsNumber(item));
        assert_int_equal((int64_t)item->valuedouble, raw_count(f->path, tables[i], NULL));
    }
    item = cJSON_GetObjectItemCaseSensitive(rows, "servers");
    assert_int_equal((int)item->valuedouble, 2);
    item = cJSON_GetObjectItemCaseSensitive(rows, "events");
    assert_int_equal((int)item->valuedouble, 2);
    item = cJSON_GetObjectItemCaseSensitive(root, "size_bytes");
    assert_true(cJSON_IsNumber(item));
    assert_true(item->valuedouble > 0);
    if (is_pg(f->path)) {
        /* The database's size on the server, its version and the monthly partitions. */
        assert_int_equal((int64_t)item->valuedouble,
                         raw_int(f->path, "SELECT pg_database_size(current_database())"));
        item = cJSON_GetObjectItemCaseSensitive(root, "backend");
        assert_string_equal(item->valuestring, "postgresql");
        item = cJSON_GetObjectItemCaseSensitive(root, "server_version");
        assert_true(cJSON_IsString(item) && strncmp(item->valuestring, "15", 2) == 0);
        item = cJSON_GetObjectItemCaseSensitive(root, "partitions");
        assert_int_equal((int64_t)item->valuedouble,
                         raw_int(f->path, "SELECT COUNT(*) FROM pg_class WHERE relispartition "
                                          "AND relkind = 'r'"));
        assert_true(item->valuedouble >= 12); /* 4 tables x (this month + 2 ahead) */
    } else {
        assert_int_equal((int64_t)item->valuedouble, raw_int(f->path, "PRAGMA page_count") *
                                                         raw_int(f->path, "PRAGMA page_size"));
        item = cJSON_GetObjectItemCaseSensitive(root, "journal_mode");
        assert_true(cJSON_IsString(item));
        assert_string_equal(item->valuestring, "wal");
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "user_version");
    assert_int_equal((int)item->valuedouble, agg_store_schema_version());
    cJSON_Delete(root);
    free(json);
}

/* The cases every backend passes, each on a fresh database of the backend setup makes. */
#define COMMON_CASES(setup_fn)                                                                     \
    cmocka_unit_test_setup_teardown(test_reopen_is_idempotent, setup_fn, teardown),                \
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup_fn, teardown),            \
        cmocka_unit_test_setup_teardown(test_migration_from_version_1, setup_fn, teardown),        \
        cmocka_unit_test_setup_teardown(test_migration_from_version_2, setup_fn, teardown),        \
        cmocka_unit_test_setup_teardown(test_migration_to_tls_keeps_plain_http, setup_fn,          \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_server_crud, setup_fn, teardown),                     \
        cmocka_unit_test_setup_teardown(test_delete_cascades_keeps_events, setup_fn, teardown),    \
        cmocka_unit_test_setup_teardown(test_hourly_upsert_and_get, setup_fn, teardown),           \
        cmocka_unit_test_setup_teardown(test_gpu_disk_upsert_and_get, setup_fn, teardown),         \
        cmocka_unit_test_setup_teardown(test_timeseries, setup_fn, teardown),                      \
        cmocka_unit_test_setup_teardown(test_events_paging_and_filters, setup_fn, teardown),       \
        cmocka_unit_test_setup_teardown(test_retention_cutoff, setup_fn, teardown),                \
        cmocka_unit_test_setup_teardown(test_injection_strings_are_data, setup_fn, teardown),      \
        cmocka_unit_test_setup_teardown(test_unit_states_round_trip, setup_fn, teardown),          \
        cmocka_unit_test_setup_teardown(test_gpu_states_round_trip, setup_fn, teardown),           \
        cmocka_unit_test_setup_teardown(test_seed_import_once_by_name, setup_fn, teardown),        \
        cmocka_unit_test_setup_teardown(test_stats_json, setup_fn, teardown)

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
