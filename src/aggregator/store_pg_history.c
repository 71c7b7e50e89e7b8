/* SPDX-License-Identifier: MIT */
/* The PostgreSQL backend's hourly history: checkpoint upserts (each column of a batch sent as
 * one array, unnest()ed by the server, so 10,000 servers cost a handful of round trips), the
 * partitions their months need, bucket reads and timeseries. Called by store.c with the lock
 * held. */
#include "aggregator/store_pg.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPSERT_BATCH   2000               /* rows per statement */
#define ARRAY_MAX      (64 * 1024 * 1024) /* bytes of one array parameter */
#define MAX_ARRAY_COLS 21

/* The array parameters of one batch: one text array literal per column. */
struct batch {
    struct mon_buf col[MAX_ARRAY_COLS];
    int n_cols;
    int r; /* the first append failure */
};

static void batch_init(struct batch *b, int n_cols)
{
    b->n_cols = n_cols;
    b->r = MON_OK;
    for (int i = 0; i < n_cols; i++)
        mon_buf_init(&b->col[i], ARRAY_MAX);
}

static void batch_done(struct batch *b)
{
    for (int i = 0; i < b->n_cols; i++)
        mon_buf_done(&b->col[i]);
}

static void batch_reset(struct batch *b)
{
    for (int i = 0; i < b->n_cols; i++) {
        mon_buf_reset(&b->col[i]);
        if (b->r == MON_OK)
            b->r = mon_buf_puts(&b->col[i], "{");
    }
}

/* Appends one element (already formatted; NULL: SQL NULL) to column i. */
static void put_raw(struct batch *b, int i, const char *text)
{
    struct mon_buf *c = &b->col[i];
    if (b->r != MON_OK)
        return;
    if (c->len > 1)
        b->r = mon_buf_puts(c, ",");
    if (b->r == MON_OK)
        b->r = mon_buf_puts(c, text ? text : "NULL");
}

static void put_int(struct batch *b, int i, int64_t v)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)v);
    put_raw(b, i, num);
}

/* v, or NULL when !has (NaN too, as SQLite stores it); 17 digits read back exactly. */
static void put_double(struct batch *b, int i, bool has, double v)
{
    char num[32];
    if (!has || isnan(v)) {
        put_raw(b, i, NULL);
        return;
    }
    if (isinf(v)) {
        put_raw(b, i, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    snprintf(num, sizeof(num), "%.17g", v);
    put_raw(b, i, num);
}

/* A quoted array element from a fixed-size array (up to its size); optional: empty is NULL.
 * Bytes that are not UTF-8 become '?', as agg_pg_utf8_copy does. */
static void put_text(struct batch *b, int i, const char *s, size_t size, bool optional)
{
    struct mon_buf *c = &b->col[i];
    size_t len = strnlen(s, size);
    char *fixed = NULL;
    if (optional && len == 0) {
        put_raw(b, i, NULL);
        return;
    }
    if (!mon_utf8_valid(s, len)) {
        fixed = agg_pg_utf8_copy(s, len);
        if (!fixed) {
            b->r = MON_ENOMEM;
            return;
        }
        s = fixed;
    }
    if (b->r == MON_OK && c->len > 1)
        b->r = mon_buf_puts(c, ",");
    if (b->r == MON_OK)
        b->r = mon_buf_puts(c, "\"");
    for (size_t k = 0; k < len && b->r == MON_OK; k++) {
        /* Inside a quoted element only the quote and the backslash are escaped. */
        if (s[k] == '"' || s[k] == '\\')
            b->r = mon_buf_append(c, "\\", 1);
        if (b->r == MON_OK)
            b->r = mon_buf_append(c, &s[k], 1);
    }
    if (b->r == MON_OK)
        b->r = mon_buf_puts(c, "\"");
    free(fixed);
}

/* Closes the arrays and runs statement id with them. */
static int batch_run(struct agg_store *st, struct batch *b, enum agg_pg_stmt id)
{
    struct agg_pg_params p = {0};
    int r;
    for (int i = 0; i < b->n_cols && b->r == MON_OK; i++)
        b->r = mon_buf_puts(&b->col[i], "}");
    if (b->r < 0)
        return agg_store_fail(st, b->r,
                              b->r == MON_ETOOBIG ? "checkpoint batch too large" : "out of memory");
    for (int i = 0; i < b->n_cols; i++)
        agg_pg_param_text(&p, b->col[i].data);
    r = agg_pg_exec(st, id, &p, NULL);
    agg_pg_params_done(&p);
    return r;
}

static void add_hourly(struct batch *b, const struct agg_hourly_row *h)
{
    put_int(b, 0, h->server_id);
    put_int(b, 1, h->ts);
    put_int(b, 2, h->samples);
    put_double(b, 3, h->has_cpu, h->cpu_pct_avg);
    put_double(b, 4, h->has_cpu, h->cpu_pct_max);
    put_double(b, 5, h->has_cpu, h->cpu_pct_min);
    put_double(b, 6, h->has_mem, h->mem_used_pct_avg);
    put_double(b, 7, h->has_mem, h->mem_used_pct_max);
    put_double(b, 8, h->has_mem, h->mem_used_pct_min);
    put_double(b, 9, h->has_disk, h->disk_used_pct);
    put_double(b, 10, h->has_disk, h->disk_used_pct_max);
    put_double(b, 11, h->has_disk, h->disk_used_pct_min);
    put_double(b, 12, h->has_disk, h->disk_used_bytes);
    put_double(b, 13, h->has_disk, h->disk_total_bytes);
    put_double(b, 14, h->has_gpu, h->gpu_util_pct_avg);
    put_double(b, 15, h->has_gpu, h->gpu_util_pct_max);
    put_double(b, 16, h->has_gpu, h->gpu_util_pct_min);
    put_double(b, 17, h->has_gpu, h->gpu_mem_used_mb);
    put_double(b, 18, h->has_gpu, h->gpu_mem_total_mb);
    put_double(b, 19, h->has_gpu, h->gpu_mem_used_mb_max);
    put_double(b, 20, h->has_gpu, h->gpu_mem_used_mb_min);
}

static void add_gpu(struct batch *b, const struct agg_gpu_hourly_row *g)
{
    put_int(b, 0, g->server_id);
    put_int(b, 1, g->ts);
    put_int(b, 2, g->gpu_index);
    put_text(b, 3, g->uuid, sizeof(g->uuid), true);
    put_text(b, 4, g->name, sizeof(g->name), true);
    put_int(b, 5, g->samples);
    put_double(b, 6, g->has_util, g->util_pct_avg);
    put_double(b, 7, g->has_util, g->util_pct_max);
    put_double(b, 8, g->has_mem, g->mem_used_mb_avg);
    put_double(b, 9, g->has_mem, g->mem_used_mb_max);
    put_double(b, 10, g->has_mem, g->mem_total_mb);
    put_double(b, 11, g->has_temp, g->temp_c_max);
    put_double(b, 12, g->has_power, g->power_w_avg);
}

static void add_disk(struct batch *b, const struct agg_disk_hourly_row *d)
{
    put_int(b, 0, d->server_id);
    put_int(b, 1, d->ts);
    put_text(b, 2, d->mount, sizeof(d->mount), false);
    put_int(b, 3, d->samples);
    put_double(b, 4, true, d->used_pct_avg);
    put_double(b, 5, true, d->used_pct_max);
    put_double(b, 6, true, d->used_pct);
    put_double(b, 7, true, d->used_bytes);
    put_double(b, 8, true, d->total_bytes);
}

/* Upserts n items of one table in batches: add(b, item i) fills a row. */
static int upsert_all(struct agg_store *st, enum agg_pg_stmt id, int n_cols, size_t n,
                      void (*add)(struct batch *b, const void *items, size_t i), const void *items)
{
    struct batch b;
    int r = MON_OK;

    if (!n)
        return MON_OK;
    batch_init(&b, n_cols);
    for (size_t start = 0; start < n && r == MON_OK; start += UPSERT_BATCH) {
        size_t end = start + UPSERT_BATCH < n ? start + UPSERT_BATCH : n;
        batch_reset(&b);
        for (size_t i = start; i < end; i++)
            add(&b, items, i);
        r = batch_run(st, &b, id);
    }
    batch_done(&b);
    return r;
}

static void add_hourly_at(struct batch *b, const void *items, size_t i)
{
    add_hourly(b, (const struct agg_hourly_row *)items + i);
}

static void add_gpu_at(struct batch *b, const void *items, size_t i)
{
    add_gpu(b, (const struct agg_gpu_hourly_row *)items + i);
}

static void add_disk_at(struct batch *b, const void *items, size_t i)
{
    add_disk(b, (const struct agg_disk_hourly_row *)items + i);
}

/* Makes sure every month the rows fall in has its partitions, and next month too. */
static int partitions_for_rows(struct agg_store *st, const struct agg_hourly_row *rows, size_t n,
                               const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                               const struct agg_disk_hourly_row *disks, size_t n_disks)
{
    int r = agg_pg_partitions_ahead(st, mon_utc_ms() / 1000, 1);
    for (size_t i = 0; r == MON_OK && i < n; i++)
        r = agg_pg_partition_for(st, 0, rows[i].ts);
    for (size_t i = 0; r == MON_OK && i < n_gpus; i++)
        r = agg_pg_partition_for(st, 1, gpus[i].ts);
    for (size_t i = 0; r == MON_OK && i < n_disks; i++)
        r = agg_pg_partition_for(st, 2, disks[i].ts);
    return r;
}

static int hourly_upsert_once(struct agg_store *st, const struct agg_hourly_row *rows, size_t n,
                              const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                              const struct agg_disk_hourly_row *disks, size_t n_disks)
{
    int r = partitions_for_rows(st, rows, n, gpus, n_gpus, disks, n_disks);
    if (r < 0)
        return r;
    r = agg_pg_begin(st);
    if (r < 0)
        return r;
    r = upsert_all(st, P_HOURLY_UPSERT, 21, n, add_hourly_at, rows);
    if (r == MON_OK)
        r = upsert_all(st, P_GPU_UPSERT, 13, n_gpus, add_gpu_at, gpus);
    if (r == MON_OK)
        r = upsert_all(st, P_DISK_UPSERT, 9, n_disks, add_disk_at, disks);
    if (r == MON_OK)
        r = agg_pg_commit(st);
    if (r < 0)
        agg_pg_rollback(st);
    return r;
}

/* A server deleted (by the API's connection) after the statement skipped the rows of deleted
 * servers and before its foreign key check fails the whole checkpoint with a foreign key
 * violation; run again, the rows of that server are skipped. */
static int hourly_upsert_skip_deleted(struct agg_store *st, const struct agg_hourly_row *rows,
                                      size_t n, const struct agg_gpu_hourly_row *gpus,
                                      size_t n_gpus, const struct agg_disk_hourly_row *disks,
                                      size_t n_disks)
{
    int r = hourly_upsert_once(st, rows, n, gpus, n_gpus, disks, n_disks);
    for (int i = 0; r == MON_ENOENT && i < 3; i++)
        r = hourly_upsert_once(st, rows, n, gpus, n_gpus, disks, n_disks);
    return r;
}

int agg_pg_hourly_upsert(struct agg_store *st, const struct agg_hourly_row *rows, size_t n,
                         const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                         const struct agg_disk_hourly_row *disks, size_t n_disks)
{
    AGG_PG_RETRY(st, hourly_upsert_skip_deleted(st, rows, n, gpus, n_gpus, disks, n_disks));
}

/* ---- reads ---- */

static int hourly_get_once(struct agg_store *st, int64_t server_id, int64_t ts,
                           struct agg_hourly_row *ret)
{
    struct agg_hourly_row h = {.server_id = server_id, .ts = ts};
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    bool has_gpu_mem = false;
    int r;

    agg_pg_param_int(&p, server_id);
    agg_pg_param_int(&p, ts);
    r = agg_pg_exec(st, P_HOURLY_GET, &p, &res);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return agg_store_fail(st, MON_ENOENT, "no hourly row");
    }
    h.samples = agg_pg_int64_or(res, 0, 0, 0);
    h.cpu_pct_avg = agg_pg_double_opt(res, 0, 1, &h.has_cpu);
    h.cpu_pct_max = agg_pg_double_opt(res, 0, 2, &h.has_cpu);
    h.cpu_pct_min = agg_pg_double_opt(res, 0, 3, &h.has_cpu);
    h.mem_used_pct_avg = agg_pg_double_opt(res, 0, 4, &h.has_mem);
    h.mem_used_pct_max = agg_pg_double_opt(res, 0, 5, &h.has_mem);
    h.mem_used_pct_min = agg_pg_double_opt(res, 0, 6, &h.has_mem);
    h.disk_used_pct = agg_pg_double_opt(res, 0, 7, &h.has_disk);
    h.disk_used_pct_max = agg_pg_double_opt(res, 0, 8, &h.has_disk);
    h.disk_used_pct_min = agg_pg_double_opt(res, 0, 9, &h.has_disk);
    h.disk_used_bytes = agg_pg_double_opt(res, 0, 10, &h.has_disk);
    h.disk_total_bytes = agg_pg_double_opt(res, 0, 11, &h.has_disk);
    h.gpu_util_pct_avg = agg_pg_double_opt(res, 0, 12, &h.has_gpu);
    h.gpu_util_pct_max = agg_pg_double_opt(res, 0, 13, &h.has_gpu);
    h.gpu_util_pct_min = agg_pg_double_opt(res, 0, 14, &h.has_gpu);
    h.gpu_mem_used_mb = agg_pg_double_opt(res, 0, 15, &has_gpu_mem);
    h.gpu_mem_total_mb = agg_pg_double_opt(res, 0, 16, &has_gpu_mem);
    h.gpu_mem_used_mb_max = agg_pg_double_opt(res, 0, 17, &has_gpu_mem);
    h.gpu_mem_used_mb_min = agg_pg_double_opt(res, 0, 18, &has_gpu_mem);
    h.has_gpu = h.has_gpu || has_gpu_mem;
    PQclear(res);
    *ret = h;
    return MON_OK;
}

int agg_pg_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                      struct agg_hourly_row *ret)
{
    AGG_PG_RETRY(st, hourly_get_once(st, server_id, ts, ret));
}

/* The bucket a per-GPU or per-disk row read belongs to (its key is not selected again). */
struct bucket_key {
    int64_t server_id, ts;
};

static int gpu_from_row(struct agg_store *st, const PGresult *res, int row, void *item, void *ctx)
{
    const struct bucket_key *k = ctx;
    struct agg_gpu_hourly_row *g = item;
    (void)st;
    g->server_id = k->server_id;
    g->ts = k->ts;
    g->gpu_index = (int)agg_pg_int64_or(res, row, 0, 0);
    agg_pg_copy_text(res, row, 1, g->uuid, sizeof(g->uuid));
    agg_pg_copy_text(res, row, 2, g->name, sizeof(g->name));
    g->samples = agg_pg_int64_or(res, row, 3, 0);
    g->util_pct_avg = agg_pg_double_opt(res, row, 4, &g->has_util);
    g->util_pct_max = agg_pg_double_opt(res, row, 5, &g->has_util);
    g->mem_used_mb_avg = agg_pg_double_opt(res, row, 6, &g->has_mem);
    g->mem_used_mb_max = agg_pg_double_opt(res, row, 7, &g->has_mem);
    g->mem_total_mb = agg_pg_double_opt(res, row, 8, &g->has_mem);
    g->temp_c_max = agg_pg_double_opt(res, row, 9, &g->has_temp);
    g->power_w_avg = agg_pg_double_opt(res, row, 10, &g->has_power);
    return MON_OK;
}

static int disk_from_row(struct agg_store *st, const PGresult *res, int row, void *item, void *ctx)
{
    const struct bucket_key *k = ctx;
    struct agg_disk_hourly_row *d = item;
    bool has = false;
    (void)st;
    d->server_id = k->server_id;
    d->ts = k->ts;
    agg_pg_copy_text(res, row, 0, d->mount, sizeof(d->mount));
    d->samples = agg_pg_int64_or(res, row, 1, 0);
    d->used_pct_avg = agg_pg_double_opt(res, row, 2, &has);
    d->used_pct_max = agg_pg_double_opt(res, row, 3, &has);
    d->used_pct = agg_pg_double_opt(res, row, 4, &has);
    d->used_bytes = agg_pg_double_opt(res, row, 5, &has);
    d->total_bytes = agg_pg_double_opt(res, row, 6, &has);
    return MON_OK;
}

/* Reads the rows of one bucket with statement id ($1 server, $2 bucket start). */
static int bucket_rows(struct agg_store *st, enum agg_pg_stmt id, int64_t server_id, int64_t ts,
                       size_t elem, agg_pg_read_fn read_row, void **ret, size_t *ret_n)
{
    struct bucket_key k = {server_id, ts};
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    int r;

    agg_pg_param_int(&p, server_id);
    agg_pg_param_int(&p, ts);
    r = agg_pg_exec(st, id, &p, &res);
    if (r < 0)
        return r;
    r = agg_pg_collect(st, res, elem, read_row, &k, NULL, ret, ret_n);
    PQclear(res);
    return r;
}

static int gpu_hourly_get_once(struct agg_store *st, int64_t server_id, int64_t ts,
                               struct agg_gpu_hourly_row **ret, size_t *ret_n)
{
    void *list = NULL;
    int r = bucket_rows(st, P_GPU_GET, server_id, ts, sizeof(struct agg_gpu_hourly_row),
                        gpu_from_row, &list, ret_n);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_pg_gpu_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                          struct agg_gpu_hourly_row **ret, size_t *ret_n)
{
    AGG_PG_RETRY(st, gpu_hourly_get_once(st, server_id, ts, ret, ret_n));
}

static int disk_hourly_get_once(struct agg_store *st, int64_t server_id, int64_t ts,
                                struct agg_disk_hourly_row **ret, size_t *ret_n)
{
    void *list = NULL;
    int r = bucket_rows(st, P_DISK_GET, server_id, ts, sizeof(struct agg_disk_hourly_row),
                        disk_from_row, &list, ret_n);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_pg_disk_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                           struct agg_disk_hourly_row **ret, size_t *ret_n)
{
    AGG_PG_RETRY(st, disk_hourly_get_once(st, server_id, ts, ret, ret_n));
}

/* ---- timeseries ---- */

static int point_from_row(struct agg_store *st, const PGresult *res, int row, void *item, void *ctx)
{
    struct agg_point *p = item;
    (void)st;
    (void)ctx;
    p->ts = agg_pg_int64_or(res, row, 0, 0);
    p->value = agg_pg_double_opt(res, row, 1, &p->has_value);
    return MON_OK;
}

static int timeseries_once(struct agg_store *st, int64_t server_id, const struct agg_metric *m,
                           enum agg_metric_agg agg, int64_t from, int64_t to,
                           struct agg_point **ret, size_t *ret_n)
{
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    void *list = NULL;
    char sql[256], name[24];
    int r;

    /* Prepared once per (metric, agg) and connection, like the fixed statements. */
    if (!agg_pg_timeseries_sql(m->columns[agg], sql, sizeof(sql)))
        return agg_store_fail(st, MON_EINVAL, "timeseries query of %s too long", m->name);
    snprintf(name, sizeof(name), "t%d_%d", (int)m->id, (int)agg);
    agg_pg_param_int(&p, server_id);
    agg_pg_param_int(&p, from);
    agg_pg_param_int(&p, to);
    r = agg_pg_exec_cached(st, &agg_pg_of(st)->ts_prepared[m->id][agg], name, sql, &p, &res);
    if (r < 0)
        return r;
    r = agg_pg_collect(st, res, sizeof(struct agg_point), point_from_row, NULL, NULL, &list, ret_n);
    PQclear(res);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_pg_timeseries(struct agg_store *st, int64_t server_id, const struct agg_metric *m,
                      enum agg_metric_agg agg, int64_t from, int64_t to, struct agg_point **ret,
                      size_t *ret_n)
{
    AGG_PG_RETRY(st, timeseries_once(st, server_id, m, agg, from, to, ret, ret_n));
}
