/* SPDX-License-Identifier: MIT */
/* Copies of a SQLite database into PostgreSQL (--migrate-to's agg_store_copy_all), on new
 * databases in the server of the CTest fixture pg: the empty-target rule, and every value of
 * a database with hostile texts and 17-digit doubles copied bit for bit, ids kept and
 * sequences moved past every id SQLite handed out. */
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"

#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_os.h"
#include "support/test_pg.h"
#include "support/test_store_pg.h"

static void test_require_empty(void **state)
{
    struct fx *f = *state;
    struct agg_store *st = NULL;
    char why[512];

    /* Empty: the schema is made; our empty schema is still empty. */
    assert_int_equal(
        agg_store_open_ex(f->uri, NULL, 1000, AGG_STORE_OPEN_REQUIRE_EMPTY, &st, why, sizeof(why)),
        MON_OK);
    agg_store_close(st);
    st = NULL;
    assert_int_equal(
        agg_store_open_ex(f->uri, NULL, 1000, AGG_STORE_OPEN_REQUIRE_EMPTY, &st, why, sizeof(why)),
        MON_OK);
    add_server(st, "a");
    agg_store_close(st);
    st = NULL;
    assert_int_equal(
        agg_store_open_ex(f->uri, NULL, 1000, AGG_STORE_OPEN_REQUIRE_EMPTY, &st, why, sizeof(why)),
        MON_EEXIST);
    assert_non_null(strstr(why, "servers has rows"));

    /* Somebody else's tables: refused before anything of ours is created. */
    raw_exec(f->uri, "DROP TABLE servers, samples_hourly, gpu_samples_hourly, "
                     "disk_samples_hourly, service_status, unit_states, events, seed_imports, "
                     "gpu_states, lanmon_schema CASCADE; CREATE TABLE app_users (id int)");
    assert_int_equal(
        agg_store_open_ex(f->uri, NULL, 1000, AGG_STORE_OPEN_REQUIRE_EMPTY, &st, why, sizeof(why)),
        MON_EEXIST);
    assert_non_null(strstr(why, "app_users"));
    assert_false(table_exists(f->uri, "lanmon_schema"));
    assert_false(table_exists(f->uri, "servers"));
}

struct counts {
    int tables;
    int64_t rows;
    bool mismatch;
};

static void count_table(void *ctx, const char *table, int64_t source_rows, int64_t copied_rows)
{
    struct counts *c = ctx;
    (void)table;
    c->tables++;
    c->rows += copied_rows;
    c->mismatch = c->mismatch || source_rows != copied_rows;
}

/* Fills a SQLite database with every kind of row, hostile texts and doubles that only read
 * back exactly with 17 digits. */
static struct agg_usage_row usage_row(int64_t ts, int64_t server_id, const char *server_name,
                                      const char *user, double gpu_s)
{
    struct agg_usage_row u = {.ts = ts, .server_id = server_id, .max_gpus = 2, .processes = 3};
    snprintf(u.server_name, sizeof(u.server_name), "%s", server_name);
    snprintf(u.user, sizeof(u.user), "%s", user);
    u.gpu_seconds = gpu_s;
    u.busy_gpu_seconds = gpu_s / 7;
    u.mem_mb_seconds = gpu_s * 81559;
    u.first_seen = ts + 1;
    u.last_seen = ts + 3599;
    return u;
}

static void fill_sqlite(struct agg_store *src, int64_t t)
{
    char *services[] = {"nginx.service", "a\"b\\c\td.service"};
    struct agg_server s = {.name = "tab\there",
                           .host = "h'--",
                           .port = 9109,
                           .token = "line\nbreak \\N",
                           .services = services,
                           .n_services = 2,
                           .enabled = true};
    struct agg_unit_state u = {.since = 5};
    struct agg_gpu_state_row gs = {.gpu_index = 1,
                                   .state = "error",
                                   .since = t - 60,
                                   .low_since = -1,
                                   .error_open = true,
                                   .conditions = 5,
                                   .ecc_volatile = 3,
                                   .ecc_aggregate = -1,
                                   .xid_seen_at = t - 61,
                                   .xid_seen_n = 2,
                                   .updated_at = t};
    struct agg_event e = {.ts = t};
    int64_t a, b, c;
    struct agg_hourly_row h[3];
    struct agg_usage_row usage[3];
    struct agg_gpu_hourly_row g = gpu(0, t);
    struct agg_disk_hourly_row d = disk(0, t);
    bool imported = false;
    int64_t id = 0;

    assert_int_equal(agg_store_server_insert(src, &s, &a), MON_OK);
    b = add_server(src, "b");
    c = add_server(src, "c");
    assert_int_equal(agg_store_server_delete(src, c), MON_OK); /* id 3 is used up */
    assert_int_equal(agg_store_server_seen(src, a, t + 7, 1), MON_OK);
    h[0] = hourly(a, t, 0.1);
    h[0].has_gpu = true;
    h[0].gpu_util_pct_avg = 1.0 / 3.0;
    h[0].gpu_mem_used_mb = 1e-300;
    h[0].has_disk = true;
    h[0].disk_used_bytes = 9007199254740993.0; /* rounds to a double; exact both ways */
    h[0].disk_total_bytes = 1.7976931348623157e308;
    h[1] = hourly(a, t + 3600, 2.0000000000000004);
    h[2] = hourly(b, mon_utc_from_date(2019, 11, 30), -0.0);
    g.server_id = a;
    snprintf(g.uuid, sizeof(g.uuid), "GPU-\"quoted\"\\x");
    snprintf(g.name, sizeof(g.name), "NVIDIA \xe4\xbd\xa0\xe5\xa5\xbd");
    g.has_temp = true;
    g.temp_c_max = 83.123456789012345;
    d.server_id = a;
    snprintf(d.mount, sizeof(d.mount), "/mnt/with space\\and\ttab");
    d.used_bytes = 123456789012.0;
    assert_int_equal(agg_store_hourly_upsert(src, h, 3, &g, 1, &d, 1), MON_OK);
    assert_int_equal(agg_store_service_status_add(src, a, t, "x.service", "failed", NULL), MON_OK);
    snprintf(u.name, sizeof(u.name), "nginx.service");
    snprintf(u.active_state, sizeof(u.active_state), "active");
    assert_int_equal(agg_store_unit_state_save(src, a, &u), MON_OK);
    snprintf(gs.uuid, sizeof(gs.uuid), "GPU-'quoted'\\N");
    assert_int_equal(agg_store_gpu_state_save(src, a, &gs), MON_OK);
    e.server_id = b;
    snprintf(e.server_name, sizeof(e.server_name), "b");
    snprintf(e.type, sizeof(e.type), "server_down");
    snprintf(e.message, sizeof(e.message), "multi\nline \\ message\r");
    assert_int_equal(agg_store_event_add(src, &e), MON_OK);
    s.name = "seeded";
    assert_int_equal(agg_store_seed_import(src, &s, &imported, &id), MON_OK);
    assert_true(imported);
    /* The highest id goes too: only sqlite_sequence remembers it. */
    assert_int_equal(agg_store_server_delete(src, id), MON_OK);
    /* GPU usage across the month boundary, with names to escape, and of the deleted server c
     * (usage stays under its name); 3 hours, 3 days, 3 user-hours, 3 user-days. */
    usage[0] = usage_row(t, a, "tab\there", "al\tice", 1.0 / 3.0);
    usage[1] = usage_row(t, b, "b", "bob\"\\N", 3599.999999999999);
    usage[2] = usage_row(t + 3600, c, "c", "al\tice", 1e-300);
    assert_int_equal(agg_store_usage_upsert(src, usage, 3), MON_OK);
}

/* Compares every value of table in both databases, in key order: integers and texts equal,
 * doubles bit for bit, NULLs where NULLs were. */
static void compare_table(const char *sqlite_path, const char *uri, const char *table,
                          const char *columns, int n_cols)
{
    char sql[1024];
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    PGconn *c = PQconnectdb(uri);
    PGresult *res;
    int row = 0;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY 1, 2", columns, table);
    res = PQexec(c, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(sqlite3_open_v2(sqlite_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    for (; sqlite3_step(s) == SQLITE_ROW; row++) {
        assert_true(row < PQntuples(res));
        for (int i = 0; i < n_cols; i++) {
            const char *pv = PQgetvalue(res, row, i);
            switch (sqlite3_column_type(s, i)) {
            case SQLITE_NULL:
                if (!PQgetisnull(res, row, i))
                    fail_msg("%s row %d column %d: NULL became '%s'", table, row, i, pv);
                break;
            case SQLITE_INTEGER:
                if (strtoll(pv, NULL, 10) != sqlite3_column_int64(s, i) &&
                    strtod(pv, NULL) != (double)sqlite3_column_int64(s, i))
                    fail_msg("%s row %d column %d: %lld became '%s'", table, row, i,
                             (long long)sqlite3_column_int64(s, i), pv);
                break;
            case SQLITE_FLOAT: {
                double want = sqlite3_column_double(s, i), got = strtod(pv, NULL);
                if (memcmp(&want, &got, sizeof(want)) != 0)
                    fail_msg("%s row %d column %d: %.17g became '%s'", table, row, i, want, pv);
                break;
            }
            default:
                if (strcmp((const char *)sqlite3_column_text(s, i), pv) != 0)
                    fail_msg("%s row %d column %d: '%s' became '%s'", table, row, i,
                             (const char *)sqlite3_column_text(s, i), pv);
            }
        }
    }
    assert_int_equal(row, PQntuples(res));
    sqlite3_finalize(s);
    sqlite3_close(db);
    PQclear(res);
    PQfinish(c);
}

static void test_copy_from_sqlite_is_exact(void **state)
{
    static const struct {
        const char *name, *columns;
        int n;
    } tables[] = {
        {"servers",
         "id, name, host, agent_port, enabled, services, token, last_seen_at, "
         "created_at, last_online",
         10},
        {"samples_hourly",
         "server_id, ts, id, samples, cpu_pct_avg, cpu_pct_max, cpu_pct_min, mem_used_pct_avg, "
         "disk_used_pct, disk_used_bytes, disk_total_bytes, gpu_util_pct_avg, gpu_mem_used_mb, "
         "gpu_mem_total_mb",
         14},
        {"gpu_samples_hourly",
         "server_id, ts, id, gpu_index, uuid, name, samples, util_pct_avg, temp_c_max, "
         "power_w_avg",
         10},
        {"disk_samples_hourly", "server_id, ts, id, mount, samples, used_pct, used_bytes", 7},
        {"service_status", "id, server_id, ts, unit_name, active_state, sub_state", 6},
        {"unit_states", "server_id, unit_name, active_state, sub_state, since", 5},
        {"events", "id, server_id, server_name, ts, type, message", 6},
        {"seed_imports", "name, imported_at", 2},
        {"gpu_states",
         "server_id, gpu_index, uuid, state, since, low_since, idle_reported, error_open, "
         "conditions, ecc_volatile, ecc_aggregate, xid_seen_at, xid_seen_n, updated_at",
         14},
        {"gpu_usage_hourly",
         "ts, server_id, server_name, user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, "
         "max_gpus, processes, first_seen, last_seen",
         11},
        {"gpu_usage_daily",
         "day, server_id, server_name, user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, "
         "max_gpus, processes, first_seen, last_seen",
         11},
        {"gpu_usage_user_hourly",
         "ts, user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, "
         "first_seen, last_seen",
         9},
        {"gpu_usage_user_daily",
         "day, user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, "
         "first_seen, last_seen",
         9},
    };
    struct fx *f = *state;
    struct agg_store *src = NULL, *dst = NULL;
    struct counts counts = {0};
    char path[160], why[512];
    int64_t t = mon_utc_from_date(2025, 12, 31) + 3600 * 23, id = 0;

    snprintf(path, sizeof(path), "%s/monitor.db", f->dir);
    assert_int_equal(agg_store_open(path, 1000, &src, why, sizeof(why)), MON_OK);
    fill_sqlite(src, t);
    assert_int_equal(
        agg_store_open_ex(f->uri, NULL, 1000, AGG_STORE_OPEN_REQUIRE_EMPTY, &dst, why, sizeof(why)),
        MON_OK);
    assert_int_equal(agg_store_copy_all(src, dst, count_table, &counts, why, sizeof(why)), MON_OK);
    assert_int_equal(counts.tables, 13);
    assert_false(counts.mismatch);
    /* servers 2 (two deleted), 3 hourly, 1 gpu, 1 disk, 1 status, 1 unit, events 7 (4 added,
     * 2 removed, 1 down), 1 seed, 1 GPU state, 3 + 3 + 3 + 3 GPU usage */
    assert_int_equal(counts.rows, 2 + 3 + 1 + 1 + 1 + 1 + 7 + 1 + 1 + 12);
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        compare_table(path, f->uri, tables[i].name, tables[i].columns, tables[i].n);
    /* The partitions of the months the rows came from (Nov 2019, Dec 2025, Jan 2026). */
    assert_true(table_exists(f->uri, "samples_hourly_p201911"));
    assert_true(table_exists(f->uri, "samples_hourly_p202512"));
    assert_true(table_exists(f->uri, "samples_hourly_p202601"));
    assert_true(table_exists(f->uri, "gpu_usage_hourly_p202512"));
    assert_true(table_exists(f->uri, "gpu_usage_user_hourly_p202601"));
    /* Sequences moved on: the ids of deleted servers (3, 4) are never handed out again. */
    id = add_server(dst, "after");
    assert_int_equal(id, 5);
    assert_int_equal(raw_int(f->uri, "SELECT MAX(id) FROM events"), 8);
    /* A second copy into the same database is refused: it is not empty any more. */
    assert_int_equal(agg_store_copy_all(src, dst, NULL, NULL, why, sizeof(why)), MON_EEXIST);
    assert_non_null(strstr(why, "not empty"));
    agg_store_close(dst);
    agg_store_close(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_require_empty, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_copy_from_sqlite_is_exact, setup_bare, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
