/* SPDX-License-Identifier: MIT */
/* The store's history on a fresh database of each backend (SQLite file, PostgreSQL database of
 * the CTest fixture pg): hourly rows with their GPUs and disks, timeseries, events with paging
 * and filters, retention, and hostile strings kept as data. Fixture: support/test_store_fx.h. */
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

#define INJECT_NAME "x'); DROP TABLE servers;--"

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

/* The cases every backend passes, each on a fresh database of the backend setup makes. */
#define COMMON_CASES(setup_fn)                                                                     \
    cmocka_unit_test_setup_teardown(test_hourly_upsert_and_get, setup_fn, teardown),               \
        cmocka_unit_test_setup_teardown(test_gpu_disk_upsert_and_get, setup_fn, teardown),         \
        cmocka_unit_test_setup_teardown(test_timeseries, setup_fn, teardown),                      \
        cmocka_unit_test_setup_teardown(test_events_paging_and_filters, setup_fn, teardown),       \
        cmocka_unit_test_setup_teardown(test_retention_cutoff, setup_fn, teardown),                \
        cmocka_unit_test_setup_teardown(test_injection_strings_are_data, setup_fn, teardown)

STORE_COMMON_MAIN()
