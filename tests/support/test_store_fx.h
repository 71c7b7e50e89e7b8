/* SPDX-License-Identifier: MIT */
/* The fixture of the store tests that run on both backends (test_store.c, test_store_history.c,
 * test_store_states.c): a fresh SQLite file, or a new database in the PostgreSQL server of the
 * CTest fixture pg, opened through the store; raw access to it behind the store's back (sqlite3
 * or libpq); row builders. Include after cmocka.h. */
#ifndef MON_TESTS_SUPPORT_TEST_STORE_FX_H
#define MON_TESTS_SUPPORT_TEST_STORE_FX_H

#include "aggregator/store.h"
#include "common/err.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/test_os.h"
#ifdef MON_HAVE_LIBPQ
#include "support/test_pg.h"
#endif

struct fx {
    char dir[64];
    char path[160]; /* the `database:` value: a file, or a postgresql:// URI */
    char pg_db[64]; /* the PostgreSQL database made for this case ("" for SQLite) */
    struct agg_store *st;
};

static inline int setup(void **state)
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

static inline int teardown(void **state)
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
static inline int setup_pg(void **state)
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

static inline bool is_pg(const char *path)
{
    return strncmp(path, "postgresql://", 13) == 0;
}

/* ---- raw access, independent of the store (sqlite3 for a file, libpq for a URI) ---- */

static inline sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    return db;
}

static inline void raw_exec(const char *path, const char *sql)
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
static inline int64_t raw_int(const char *path, const char *sql)
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

static inline void raw_text(const char *path, const char *sql, char *buf, size_t size)
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

static inline int64_t raw_count(const char *path, const char *table, const char *where)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE %s", table, where ? where : "1=1");
    return raw_int(path, sql);
}

/* The schema version the database records (PRAGMA user_version, or lanmon_schema). */
static inline int64_t raw_version(const char *path)
{
    return raw_int(path, is_pg(path) ? "SELECT version FROM lanmon_schema" : "PRAGMA user_version");
}

static inline void raw_set_version(const char *path, int version)
{
    char sql[96];
    if (is_pg(path))
        snprintf(sql, sizeof(sql), "UPDATE lanmon_schema SET version = %d", version);
    else
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
    raw_exec(path, sql);
}

/* The number of tables (not counting partitions) in the database. */
static inline int64_t raw_tables(const char *path)
{
    return raw_int(path, is_pg(path) ? "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON "
                                       "n.oid = c.relnamespace WHERE n.nspname = 'public' AND "
                                       "c.relkind IN ('r', 'p') AND NOT c.relispartition"
                                     : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'");
}

/* ---- builders ---- */

static inline int64_t add_server(struct agg_store *st, const char *name)
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

static inline struct agg_hourly_row hourly(int64_t server_id, int64_t ts, double base)
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

static inline struct agg_gpu_hourly_row gpu_row(int64_t server_id, int64_t ts, int index, double v)
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

static inline struct agg_disk_hourly_row disk_row(int64_t server_id, int64_t ts, const char *mount,
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

static inline struct agg_event event(int64_t server_id, const char *name, int64_t ts,
                                     const char *type, const char *message)
{
    struct agg_event e = {.server_id = server_id, .ts = ts};
    snprintf(e.server_name, sizeof(e.server_name), "%s", name);
    snprintf(e.type, sizeof(e.type), "%s", type);
    snprintf(e.message, sizeof(e.message), "%s", message);
    return e;
}

static inline struct agg_gpu_state_row gpu_state_row(int index, const char *state)
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

static inline struct agg_unit_state unit(const char *name, const char *active, const char *sub,
                                         int64_t since)
{
    struct agg_unit_state u = {.since = since};
    snprintf(u.name, sizeof(u.name), "%s", name);
    snprintf(u.active_state, sizeof(u.active_state), "%s", active);
    snprintf(u.sub_state, sizeof(u.sub_state), "%s", sub);
    return u;
}

/* main() of a store test file whose cases are all shared by the backends: the file's
 * COMMON_CASES(setup_fn) on SQLite, then on PostgreSQL where libpq is built in. */
#ifdef MON_HAVE_LIBPQ
#define STORE_COMMON_MAIN()                                                                        \
    int main(void)                                                                                 \
    {                                                                                              \
        const struct CMUnitTest sqlite_tests[] = {COMMON_CASES(setup)};                            \
        const struct CMUnitTest pg_tests[] = {COMMON_CASES(setup_pg)};                             \
        int failed = cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);              \
        failed += cmocka_run_group_tests_name("postgresql", pg_tests, NULL, NULL);                 \
        return failed;                                                                             \
    }
#else
#define STORE_COMMON_MAIN()                                                                        \
    int main(void)                                                                                 \
    {                                                                                              \
        const struct CMUnitTest sqlite_tests[] = {COMMON_CASES(setup)};                            \
        return cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);                    \
    }
#endif

#endif
