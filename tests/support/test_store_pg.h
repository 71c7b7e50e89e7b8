/* SPDX-License-Identifier: MIT */
/* The fixture of the PostgreSQL store tests (test_store_pg.c, test_store_copy_pg.c): a new
 * database per case in the CTest fixture's server (opened through the store, or bare), raw
 * queries through libpq and row builders. Include after cmocka.h and support/test_pg.h. */
#ifndef MON_TESTS_SUPPORT_TEST_STORE_PG_H
#define MON_TESTS_SUPPORT_TEST_STORE_PG_H

#include "aggregator/store.h"
#include "common/err.h"

struct fx {
    char db[64];
    char uri[200];
    char dir[64];
    struct agg_store *st;
};

static inline int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char why[256];
    if (!f || test_make_temp_dir("lanmon-storepg", f->dir, sizeof(f->dir)) < 0)
        return -1;
    if (test_pg_create_db(f->db, sizeof(f->db), f->uri, sizeof(f->uri)) < 0 ||
        agg_store_open(f->uri, 2000, &f->st, why, sizeof(why)) < 0) {
        fprintf(stderr, "open %s: %s\n", f->uri, why);
        return -1;
    }
    *state = f;
    return 0;
}

/* A new database without the schema (the store is not opened). */
static inline int setup_bare(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f || test_make_temp_dir("lanmon-storepg", f->dir, sizeof(f->dir)) < 0)
        return -1;
    if (test_pg_create_db(f->db, sizeof(f->db), f->uri, sizeof(f->uri)) < 0)
        return -1;
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    struct fx *f = *state;
    agg_store_close(f->st);
    test_pg_drop_db(f->db);
    test_rm_tree(f->dir);
    free(f);
    return 0;
}

static inline void raw_exec(const char *uri, const char *sql)
{
    char err[512];
    if (test_pg_exec(uri, sql, err, sizeof(err)) < 0)
        fail_msg("%s: %s", sql, err);
}

static inline int64_t raw_int(const char *uri, const char *sql)
{
    char text[512];
    if (test_pg_text(uri, sql, text, sizeof(text)) < 0)
        fail_msg("%s: %s", sql, text);
    return text[0] ? strtoll(text, NULL, 10) : -999;
}

static inline bool table_exists(const char *uri, const char *name)
{
    char sql[320]; /* the query around a table name of up to 255 bytes */
    snprintf(sql, sizeof(sql), "SELECT (to_regclass('%s') IS NOT NULL)::int", name);
    return raw_int(uri, sql) == 1;
}

static inline int64_t add_server(struct agg_store *st, const char *name)
{
    struct agg_server s = {
        .name = (char *)name, .host = "10.0.0.5", .port = 9109, .token = "tok", .enabled = true};
    int64_t id = 0;
    assert_int_equal(agg_store_server_insert(st, &s, &id), MON_OK);
    return id;
}

static inline struct agg_hourly_row hourly(int64_t server_id, int64_t ts, double v)
{
    struct agg_hourly_row h = {.server_id = server_id, .ts = ts, .samples = 12, .has_cpu = true};
    h.cpu_pct_avg = v;
    h.cpu_pct_max = v + 1;
    h.cpu_pct_min = v - 1;
    return h;
}

static inline struct agg_gpu_hourly_row gpu(int64_t server_id, int64_t ts)
{
    struct agg_gpu_hourly_row g = {
        .server_id = server_id, .ts = ts, .samples = 3, .has_util = true};
    g.util_pct_avg = 50;
    return g;
}

static inline struct agg_disk_hourly_row disk(int64_t server_id, int64_t ts)
{
    struct agg_disk_hourly_row d = {.server_id = server_id, .ts = ts, .samples = 3};
    snprintf(d.mount, sizeof(d.mount), "/");
    return d;
}

#endif
