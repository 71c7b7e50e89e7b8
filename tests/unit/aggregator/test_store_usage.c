/* SPDX-License-Identifier: MIT */
/* The GPU usage tables through the store API only, so that every backend runs the same cases:
 * checkpoints that replace an hour (never add it twice), each day's row equal to its hours,
 * range sums against a brute-force sum, filters, timeseries with local days, a deleted server's
 * usage kept under its name, retention and hostile user names. */
#include "aggregator/store.h"
#include "common/err.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_os.h"
#ifdef MON_HAVE_LIBPQ
#include "support/test_pg.h"
#endif

#define H   AGG_USAGE_HOUR_S
#define DAY AGG_USAGE_DAY_S
#define T0  (1767225600LL) /* 2026-01-01T00:00:00Z */

struct fx {
    char dir[64];
    char path[160];
    char pg_db[64];
    struct agg_store *st;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char why[256];
    if (!f || test_make_temp_dir("lanmon-usage", f->dir, sizeof(f->dir)) < 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/aggregator.db", f->dir);
    if (agg_store_open(f->path, 2000, &f->st, why, sizeof(why)) < 0) {
        fprintf(stderr, "open: %s\n", why);
        test_rm_tree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

#ifdef MON_HAVE_LIBPQ
static int setup_pg(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char why[256];
    if (!f || test_make_temp_dir("lanmon-usage", f->dir, sizeof(f->dir)) < 0) {
        free(f);
        return -1;
    }
    if (test_pg_create_db(f->pg_db, sizeof(f->pg_db), f->path, sizeof(f->path)) < 0 ||
        agg_store_open(f->path, 2000, &f->st, why, sizeof(why)) < 0) {
        fprintf(stderr, "open %s: %s\n", f->path, why);
        if (f->pg_db[0])
            test_pg_drop_db(f->pg_db);
        test_rm_tree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}
#endif

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

static int64_t add_server(struct agg_store *st, const char *name)
{
    struct agg_server s = {
        .name = (char *)name, .host = "10.0.0.5", .port = 9109, .token = "tok", .enabled = true};
    int64_t id = 0;
    assert_int_equal(agg_store_server_insert(st, &s, &id), MON_OK);
    return id;
}

static struct agg_usage_row row(int64_t ts, int64_t server_id, const char *server_name,
                                const char *user, double gpu_s)
{
    struct agg_usage_row u = {.ts = ts, .server_id = server_id};
    snprintf(u.server_name, sizeof(u.server_name), "%s", server_name);
    snprintf(u.user, sizeof(u.user), "%s", user);
    u.gpu_seconds = gpu_s;
    u.busy_gpu_seconds = gpu_s / 2;
    u.mem_mb_seconds = gpu_s * 1000;
    u.max_gpus = 1;
    u.processes = 2;
    u.first_seen = ts + 5;
    u.last_seen = ts + 3595;
    return u;
}

static const struct agg_usage_row *find_row(const struct agg_usage_row *rows, size_t n,
                                            int64_t server_id, const char *user)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].server_id == server_id && strcmp(rows[i].user, user) == 0)
            return &rows[i];
    return NULL;
}

/* A checkpoint replaces the hour: written three times, counted once, in the hour and the day. */
static void test_upsert_replaces_hour(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "gpu-a");
    struct agg_usage_row u = row(T0 + 5 * H, a, "gpu-a", "alice", 100);
    struct agg_usage_row *out = NULL;
    size_t n = 0;

    assert_int_equal(agg_store_usage_upsert(f->st, &u, 1), MON_OK);
    u.gpu_seconds = 200;
    u.busy_gpu_seconds = 50;
    u.processes = 3;
    u.max_gpus = 2;
    assert_int_equal(agg_store_usage_upsert(f->st, &u, 1), MON_OK);
    u.gpu_seconds = 300;
    assert_int_equal(agg_store_usage_upsert(f->st, &u, 1), MON_OK);

    assert_int_equal(agg_store_usage_hour_get(f->st, a, T0 + 5 * H, &out, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].user, "alice");
    assert_string_equal(out[0].server_name, "gpu-a");
    assert_true(out[0].gpu_seconds == 300);
    assert_true(out[0].busy_gpu_seconds == 50);
    assert_int_equal(out[0].processes, 3);
    assert_int_equal(out[0].max_gpus, 2);
    assert_int_equal(out[0].first_seen, T0 + 5 * H + 5);
    free(out);

    /* A whole day: read from the daily table, which must hold the same sums. */
    assert_int_equal(agg_store_usage_query(f->st, T0, T0 + DAY, 0, NULL, true, &out, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_true(out[0].gpu_seconds == 300);
    assert_true(out[0].busy_gpu_seconds == 50);
    assert_int_equal(out[0].processes, 3);
    assert_int_equal(out[0].max_gpus, 2);
    assert_int_equal(out[0].ts, 0);
    free(out);

    /* Nothing stored for another hour. */
    assert_int_equal(agg_store_usage_hour_get(f->st, a, T0 + 6 * H, &out, &n), MON_OK);
    assert_int_equal(n, 0);
    assert_null(out);
}

/* Ranges of every alignment over three days of hours: the store's sums (days from the daily
 * table, edges from the hours) equal the brute-force sums of the hours written. */
static void test_query_ranges_match_hours(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "gpu-a"), b = add_server(f->st, "gpu-b");
    enum { HOURS = 72 };
    static struct agg_usage_row rows[HOURS * 3];
    size_t n_rows = 0;
    static const int64_t ranges[][2] = {{0, 72}, {0, 24},  {5, 67}, {23, 25}, {24, 48},
                                        {1, 47}, {30, 31}, {0, 0},  {47, 72}, {12, 60}};

    for (int h = 0; h < HOURS; h++) {
        rows[n_rows++] = row(T0 + h * H, a, "gpu-a", "alice", 10 + h);
        if (h % 3 == 0)
            rows[n_rows++] = row(T0 + h * H, a, "gpu-a", "bob", 1000 + h);
        if (h % 5 == 0)
            rows[n_rows++] = row(T0 + h * H, b, "gpu-b", "alice", 7);
    }
    /* In two checkpoints, the first one written twice. */
    assert_int_equal(agg_store_usage_upsert(f->st, rows, n_rows / 2), MON_OK);
    assert_int_equal(agg_store_usage_upsert(f->st, rows, n_rows / 2), MON_OK);
    assert_int_equal(agg_store_usage_upsert(f->st, rows + n_rows / 2, n_rows - n_rows / 2), MON_OK);

    for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        int64_t from = T0 + ranges[r][0] * H, to = T0 + ranges[r][1] * H;
        struct agg_usage_row *out = NULL;
        size_t n = 0;
        assert_int_equal(agg_store_usage_query(f->st, from, to, 0, NULL, true, &out, &n), MON_OK);
        for (int k = 0; k < 3; k++) {
            int64_t sid = k == 2 ? b : a;
            const char *user = k == 1 ? "bob" : "alice";
            double want = 0, want_busy = 0;
            int64_t procs = 0, first = -1, last = -1;
            const struct agg_usage_row *got = find_row(out, n, sid, user);
            for (size_t i = 0; i < n_rows; i++) {
                if (rows[i].server_id != sid || strcmp(rows[i].user, user) != 0 ||
                    rows[i].ts < from || rows[i].ts >= to)
                    continue;
                want += rows[i].gpu_seconds;
                want_busy += rows[i].busy_gpu_seconds;
                procs += rows[i].processes;
                if (first < 0)
                    first = rows[i].first_seen;
                last = rows[i].last_seen;
            }
            if (want == 0) {
                assert_null(got);
                continue;
            }
            assert_non_null(got);
            assert_true(fabs(got->gpu_seconds - want) < 1e-6);
            assert_true(fabs(got->busy_gpu_seconds - want_busy) < 1e-6);
            assert_int_equal(got->processes, procs);
            assert_int_equal(got->first_seen, first);
            assert_int_equal(got->last_seen, last);
            assert_string_equal(got->server_name, k == 2 ? "gpu-b" : "gpu-a");
        }
        free(out);
        /* Per user over both servers, from the per-user tables: the same sums. */
        assert_int_equal(agg_store_usage_query(f->st, from, to, 0, NULL, false, &out, &n), MON_OK);
        for (int k = 0; k < 2; k++) {
            const char *user = k ? "bob" : "alice";
            double want = 0;
            int64_t max_gpus = 0;
            const struct agg_usage_row *got = find_row(out, n, 0, user);
            for (size_t i = 0; i < n_rows; i++) {
                if (strcmp(rows[i].user, user) == 0 && rows[i].ts >= from && rows[i].ts < to) {
                    want += rows[i].gpu_seconds;
                    max_gpus = rows[i].max_gpus > max_gpus ? rows[i].max_gpus : max_gpus;
                }
            }
            if (want == 0) {
                assert_null(got);
                continue;
            }
            assert_non_null(got);
            assert_true(fabs(got->gpu_seconds - want) < 1e-6);
            assert_int_equal(got->max_gpus, max_gpus);
            assert_string_equal(got->server_name, "");
        }
        free(out);
    }
}

static void test_query_filters(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "gpu-a"), b = add_server(f->st, "gpu-b");
    struct agg_usage_row rows[] = {row(T0, a, "gpu-a", "alice", 10), row(T0, a, "gpu-a", "bob", 20),
                                   row(T0, b, "gpu-b", "alice", 30),
                                   row(T0 + H, b, "gpu-b", "(unknown)", 40)};
    struct agg_usage_row *out = NULL;
    size_t n = 0;

    assert_int_equal(agg_store_usage_upsert(f->st, rows, 4), MON_OK);
    assert_int_equal(agg_store_usage_query(f->st, T0, T0 + 2 * H, b, NULL, true, &out, &n), MON_OK);
    assert_int_equal(n, 2);
    assert_non_null(find_row(out, n, b, "alice"));
    assert_non_null(find_row(out, n, b, "(unknown)"));
    free(out);
    assert_int_equal(agg_store_usage_query(f->st, T0, T0 + 2 * H, 0, "alice", true, &out, &n),
                     MON_OK);
    assert_int_equal(n, 2);
    assert_true(find_row(out, n, a, "alice")->gpu_seconds == 10);
    assert_true(find_row(out, n, b, "alice")->gpu_seconds == 30);
    /* Ordered by server, then user. */
    assert_int_equal(out[0].server_id, a);
    free(out);
    assert_int_equal(agg_store_usage_query(f->st, T0, T0 + 2 * H, a, "alice", true, &out, &n),
                     MON_OK);
    assert_int_equal(n, 1);
    free(out);
    /* Per user, alice over both servers; one server is a per-server question. */
    assert_int_equal(agg_store_usage_query(f->st, T0, T0 + 2 * H, 0, "alice", false, &out, &n),
                     MON_OK);
    assert_int_equal(n, 1);
    assert_true(out[0].gpu_seconds == 40);
    free(out);
    assert_int_equal(agg_store_usage_query(f->st, T0, T0 + 2 * H, a, NULL, false, &out, &n),
                     MON_EINVAL);
    /* Not whole hours, or reversed: refused. */
    assert_int_equal(agg_store_usage_query(f->st, T0 + 1, T0 + H, 0, NULL, true, &out, &n),
                     MON_EINVAL);
    assert_int_equal(agg_store_usage_query(f->st, T0 + H, T0, 0, NULL, true, &out, &n), MON_EINVAL);
}

/* Hourly and daily buckets, days from local midnight (UTC+8 and UTC-5). */
static void test_timeseries_buckets(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "gpu-a");
    struct agg_usage_row rows[48];
    struct agg_usage_point *pts = NULL;
    size_t n = 0;

    for (int h = 0; h < 48; h++)
        rows[h] = row(T0 + h * H, a, "gpu-a", h % 2 ? "alice" : "bob", 100);
    assert_int_equal(agg_store_usage_upsert(f->st, rows, 48), MON_OK);

    assert_int_equal(agg_store_usage_timeseries(f->st, T0, T0 + 48 * H, 0, "alice", H, 0, &pts, &n),
                     MON_OK);
    assert_int_equal(n, 24);
    assert_int_equal(pts[0].ts, T0 + H);
    assert_true(pts[0].gpu_seconds == 100);
    free(pts);

    assert_int_equal(agg_store_usage_timeseries(f->st, T0, T0 + 48 * H, 0, NULL, DAY, 0, &pts, &n),
                     MON_OK);
    assert_int_equal(n, 2);
    assert_int_equal(pts[0].ts, T0);
    assert_true(pts[0].gpu_seconds == 2400);
    assert_true(pts[1].busy_gpu_seconds == 1200);
    free(pts);

    /* UTC+8: local midnight is 16:00 UTC the day before. */
    assert_int_equal(
        agg_store_usage_timeseries(f->st, T0, T0 + 48 * H, a, NULL, DAY, 8 * H, &pts, &n), MON_OK);
    assert_int_equal(n, 3);
    assert_int_equal(pts[0].ts, T0 - 8 * H);
    assert_true(pts[0].gpu_seconds == 16 * 100);
    assert_true(pts[1].gpu_seconds == 24 * 100);
    assert_true(pts[2].gpu_seconds == 8 * 100);
    free(pts);

    /* UTC-5: local midnight is 05:00 UTC. */
    assert_int_equal(
        agg_store_usage_timeseries(f->st, T0, T0 + 48 * H, 0, NULL, DAY, -5 * H, &pts, &n), MON_OK);
    assert_int_equal(n, 3);
    assert_int_equal(pts[0].ts, T0 - 19 * H);
    assert_true(pts[0].gpu_seconds == 5 * 100);
    free(pts);

    /* One server: from its own rows. */
    assert_int_equal(agg_store_usage_timeseries(f->st, T0, T0 + 48 * H, a, "bob", DAY, 0, &pts, &n),
                     MON_OK);
    assert_int_equal(n, 2);
    assert_true(pts[0].gpu_seconds == 1200);
    free(pts);
    assert_int_equal(agg_store_usage_timeseries(f->st, T0, T0 + H, 0, NULL, 600, 0, &pts, &n),
                     MON_EINVAL);
}

/* A deleted server's usage stays, under the name it had; new rows can still be written for it
 * (the last hour of a server deleted mid-hour). */
static void test_deleted_server_keeps_usage(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "old-box");
    struct agg_usage_row u = row(T0, a, "old-box", "alice", 500);
    struct agg_usage_row *out = NULL;
    size_t n = 0;

    assert_int_equal(agg_store_usage_upsert(f->st, &u, 1), MON_OK);
    assert_int_equal(agg_store_server_delete(f->st, a), MON_OK);
    u = row(T0 + H, a, "old-box", "alice", 250);
    assert_int_equal(agg_store_usage_upsert(f->st, &u, 1), MON_OK);
    assert_int_equal(agg_store_usage_query(f->st, T0, T0 + DAY, 0, NULL, true, &out, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].server_id, a);
    assert_string_equal(out[0].server_name, "old-box");
    assert_true(out[0].gpu_seconds == 750);
    free(out);
}

static void test_retention(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "gpu-a"), deleted = -1;
    struct agg_usage_row rows[] = {
        row(T0, a, "gpu-a", "alice", 1), row(T0 + 23 * H, a, "gpu-a", "alice", 2),
        row(T0 + DAY, a, "gpu-a", "alice", 4), row(T0 + DAY + H, a, "gpu-a", "alice", 8)};
    struct agg_usage_row *out = NULL;
    size_t n = 0;

    assert_int_equal(agg_store_usage_upsert(f->st, rows, 4), MON_OK);
    /* Cut at the day's boundary: the first day goes, hours and day row alike. */
    assert_int_equal(agg_store_usage_retention(f->st, T0 + DAY, &deleted), MON_OK);
    assert_int_equal(deleted, 6); /* two hours and one day, per server and per user */
    assert_int_equal(agg_store_usage_query(f->st, T0, T0 + 3 * DAY, 0, NULL, true, &out, &n),
                     MON_OK);
    assert_int_equal(n, 1);
    assert_true(out[0].gpu_seconds == 12);
    free(out);
    /* Mid-day: the hours before go, the day's row stays until its day is over. */
    assert_int_equal(agg_store_usage_retention(f->st, T0 + DAY + H, &deleted), MON_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(agg_store_usage_hour_get(f->st, a, T0 + DAY + H, &out, &n), MON_OK);
    assert_int_equal(n, 1);
    free(out);
}

static void test_hostile_names_are_data(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "gpu-a");
    struct agg_usage_row rows[] = {row(T0, a, "x'); DROP TABLE servers;--", "r'); DELETE--", 5),
                                   row(T0, a, "gpu-a", "\xe7\x8e\x8b\xe4\xba\x94", 6)};
    struct agg_usage_row *out = NULL, bad = row(T0 + 1, a, "gpu-a", "alice", 1);
    struct agg_server srv = {0};
    size_t n = 0;

    assert_int_equal(agg_store_usage_upsert(f->st, rows, 2), MON_OK);
    assert_int_equal(agg_store_usage_query(f->st, T0, T0 + H, 0, "r'); DELETE--", true, &out, &n),
                     MON_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].server_name, "x'); DROP TABLE servers;--");
    free(out);
    assert_int_equal(
        agg_store_usage_query(f->st, T0, T0 + H, 0, "\xe7\x8e\x8b\xe4\xba\x94", true, &out, &n),
        MON_OK);
    assert_int_equal(n, 1);
    free(out);
    assert_int_equal(agg_store_usage_upsert(f->st, &bad, 1), MON_EINVAL);
    bad = row(T0, a, "gpu-a", "", 1);
    assert_int_equal(agg_store_usage_upsert(f->st, &bad, 1), MON_EINVAL);
    assert_int_equal(agg_store_server_get(f->st, a, &srv), MON_OK);
    agg_server_done(&srv);
}

#define CASES(setup_fn)                                                                            \
    cmocka_unit_test_setup_teardown(test_upsert_replaces_hour, setup_fn, teardown),                \
        cmocka_unit_test_setup_teardown(test_query_ranges_match_hours, setup_fn, teardown),        \
        cmocka_unit_test_setup_teardown(test_query_filters, setup_fn, teardown),                   \
        cmocka_unit_test_setup_teardown(test_timeseries_buckets, setup_fn, teardown),              \
        cmocka_unit_test_setup_teardown(test_deleted_server_keeps_usage, setup_fn, teardown),      \
        cmocka_unit_test_setup_teardown(test_retention, setup_fn, teardown),                       \
        cmocka_unit_test_setup_teardown(test_hostile_names_are_data, setup_fn, teardown)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {CASES(setup)};
    int failed = cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
#ifdef MON_HAVE_LIBPQ
    {
        const struct CMUnitTest pg_tests[] = {CASES(setup_pg)};
        failed += cmocka_run_group_tests_name("postgresql", pg_tests, NULL, NULL);
    }
#endif
    return failed;
}
