/* SPDX-License-Identifier: MIT */
/* The store's remembered states on a fresh database of each backend (SQLite file, PostgreSQL
 * database of the CTest fixture pg): unit and GPU states round trips, seed imports (once, by
 * name) and the stats of /api/health. Fixture: support/test_store_fx.h. */
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
/* ---- the writer's batches: several writes in one transaction ---- */

/* Nothing of a rolled back transaction stays, also after a write the database refused inside
 * it (which aborts a PostgreSQL transaction) and a partition it made; a committed one keeps
 * all its writes. */
static void test_tx_commit_and_rollback(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a");
    int64_t later = 1924992000; /* 2031-01-01: a month with no partition yet */
    struct agg_gpu_state_row g = gpu_state_row(0, "busy");
    struct agg_unit_state u = unit("x.service", "active", "running", 5);
    struct agg_gpu_state_row *gpus = NULL;
    struct agg_unit_state *units = NULL;
    struct agg_server sv;
    size_t n = 0;

    assert_int_equal(agg_store_tx_begin(f->st), MON_OK);
    assert_int_equal(agg_store_gpu_state_save(f->st, a, &g), MON_OK);
    assert_int_equal(agg_store_unit_state_save(f->st, a, &u), MON_OK);
    assert_int_equal(
        agg_store_service_status_add(f->st, a, later, "x.service", "active", "running"), MON_OK);
    assert_int_equal(agg_store_gpu_state_save(f->st, 9999, &g), MON_ENOENT);
    agg_store_tx_rollback(f->st);
    agg_store_tx_rollback(f->st); /* none open: nothing */
    assert_int_equal(agg_store_gpu_states_load(f->st, a, &gpus, &n), MON_OK);
    assert_int_equal(n, 0);
    assert_int_equal(agg_store_unit_states_load(f->st, a, &units, &n), MON_OK);
    assert_int_equal(n, 0);
    /* The partition made inside was rolled back too: made again for this row. */
    assert_int_equal(
        agg_store_service_status_add(f->st, a, later, "x.service", "active", "running"), MON_OK);

    assert_int_equal(agg_store_tx_begin(f->st), MON_OK);
    assert_int_equal(agg_store_gpu_state_save(f->st, a, &g), MON_OK);
    assert_int_equal(agg_store_unit_state_save(f->st, a, &u), MON_OK);
    assert_int_equal(agg_store_server_seen(f->st, a, 1234, 1), MON_OK);
    assert_int_equal(agg_store_service_status_add(f->st, a, later + 86400 * 40, "x.service",
                                                  "active", "running"),
                     MON_OK);
    assert_int_equal(agg_store_tx_commit(f->st), MON_OK);
    assert_int_equal(agg_store_gpu_states_load(f->st, a, &gpus, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_string_equal(gpus[0].state, "busy");
    free(gpus);
    assert_int_equal(agg_store_unit_states_load(f->st, a, &units, &n), MON_OK);
    assert_int_equal(n, 1);
    free(units);
    assert_int_equal(agg_store_server_get(f->st, a, &sv), MON_OK);
    assert_int_equal(sv.last_seen_at, 1234);
    agg_server_done(&sv);
}

#define COMMON_CASES(setup_fn)                                                                     \
    cmocka_unit_test_setup_teardown(test_unit_states_round_trip, setup_fn, teardown),              \
        cmocka_unit_test_setup_teardown(test_gpu_states_round_trip, setup_fn, teardown),           \
        cmocka_unit_test_setup_teardown(test_seed_import_once_by_name, setup_fn, teardown),        \
        cmocka_unit_test_setup_teardown(test_stats_json, setup_fn, teardown),                      \
        cmocka_unit_test_setup_teardown(test_tx_commit_and_rollback, setup_fn, teardown)

STORE_COMMON_MAIN()
