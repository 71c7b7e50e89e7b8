/* SPDX-License-Identifier: MIT */
/* The PostgreSQL backend's GPU usage tables (issue 15), as store_sqlite_usage.c: checkpoint
 * upserts (one statement per row moves the hour, its day and the user's hour and day), an
 * hour's rows for resuming, range sums, timeseries, and retention (whole monthly partitions of
 * the hourly tables, the older rows of the boundary month and the daily rows). Called by
 * store_usage.c with the lock held. */
#include "aggregator/store_pg.h"

#include "common/clock.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

/* The partitioned tables' indexes in agg_pg_partitioned. */
#define PART_USAGE      AGG_PG_HISTORY_PARTITIONED
#define PART_USER_USAGE (AGG_PG_HISTORY_PARTITIONED + 1)

static int upsert_once(struct agg_store *st, const struct agg_usage_row *rows, size_t n)
{
    int r = MON_OK;
    /* Partitions first, outside the transaction, so that they are cached. */
    for (size_t i = 0; r == MON_OK && i < n; i++) {
        r = agg_pg_partition_for(st, PART_USAGE, rows[i].ts);
        if (r == MON_OK)
            r = agg_pg_partition_for(st, PART_USER_USAGE, rows[i].ts);
    }
    if (r == MON_OK)
        r = agg_pg_begin(st);
    if (r < 0)
        return r;
    for (size_t i = 0; r == MON_OK && i < n; i++) {
        const struct agg_usage_row *u = &rows[i];
        struct agg_pg_params p = {0};
        agg_pg_param_int(&p, u->ts);
        agg_pg_param_int(&p, u->server_id);
        agg_pg_param_array(&p, u->server_name, sizeof(u->server_name), false);
        agg_pg_param_array(&p, u->user, sizeof(u->user), false);
        agg_pg_param_double(&p, true, u->gpu_seconds);
        agg_pg_param_double(&p, true, u->busy_gpu_seconds);
        agg_pg_param_double(&p, true, u->mem_mb_seconds);
        agg_pg_param_int(&p, u->max_gpus);
        agg_pg_param_int(&p, u->processes);
        agg_pg_param_int(&p, u->first_seen);
        agg_pg_param_int(&p, u->last_seen);
        r = agg_pg_exec(st, P_USAGE_UPSERT, &p, NULL);
        agg_pg_params_done(&p);
    }
    if (r == MON_OK)
        r = agg_pg_commit(st);
    if (r < 0)
        agg_pg_rollback(st);
    return r;
}

int agg_pg_usage_upsert(struct agg_store *st, const struct agg_usage_row *rows, size_t n)
{
    AGG_PG_RETRY(st, upsert_once(st, rows, n));
}

/* Columns: ts, server_id, server_name, user_name, the three sums, max_gpus, processes,
 * first_seen, last_seen. */
static int usage_from_row(struct agg_store *st, const PGresult *res, int row, void *item, void *ctx)
{
    struct agg_usage_row *u = item;
    bool has = false;
    (void)st;
    (void)ctx;
    u->ts = agg_pg_int64_or(res, row, 0, 0);
    u->server_id = agg_pg_int64_or(res, row, 1, 0);
    agg_pg_copy_text(res, row, 2, u->server_name, sizeof(u->server_name));
    agg_pg_copy_text(res, row, 3, u->user, sizeof(u->user));
    u->gpu_seconds = agg_pg_double_opt(res, row, 4, &has);
    u->busy_gpu_seconds = agg_pg_double_opt(res, row, 5, &has);
    u->mem_mb_seconds = agg_pg_double_opt(res, row, 6, &has);
    u->max_gpus = agg_pg_int64_or(res, row, 7, 0);
    u->processes = agg_pg_int64_or(res, row, 8, 0);
    u->first_seen = agg_pg_int64_or(res, row, 9, -1);
    u->last_seen = agg_pg_int64_or(res, row, 10, -1);
    return MON_OK;
}

/* Runs a read and collects its rows (elem-sized items read by read_row). */
static int read_rows(struct agg_store *st, enum agg_pg_stmt id, struct agg_pg_params *p,
                     size_t elem, agg_pg_read_fn read_row, void **ret, size_t *ret_n)
{
    PGresult *res = NULL;
    int r = agg_pg_exec(st, id, p, &res);
    agg_pg_params_done(p);
    if (r < 0)
        return r;
    r = agg_pg_collect(st, res, elem, read_row, NULL, NULL, ret, ret_n);
    PQclear(res);
    return r;
}

static int hour_get_once(struct agg_store *st, int64_t server_id, int64_t ts,
                         struct agg_usage_row **ret, size_t *ret_n)
{
    struct agg_pg_params p = {0};
    void *list = NULL;
    int r;
    agg_pg_param_int(&p, server_id);
    agg_pg_param_int(&p, ts);
    r = read_rows(st, server_id > 0 ? P_USAGE_HOUR_GET : P_USAGE_HOURS_SINCE, &p,
                  sizeof(struct agg_usage_row), usage_from_row, &list, ret_n);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_pg_usage_hour_get(struct agg_store *st, int64_t server_id, int64_t ts,
                          struct agg_usage_row **ret, size_t *ret_n)
{
    AGG_PG_RETRY(st, hour_get_once(st, server_id, ts, ret, ret_n));
}

static int query_once(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                      const char *user, bool per_server, struct agg_usage_row **ret, size_t *ret_n)
{
    struct agg_pg_params p = {0};
    void *list = NULL;
    int64_t d0, d1;
    int r;
    agg_store_usage_days(from, to, &d0, &d1);
    agg_pg_param_int(&p, from);
    agg_pg_param_int(&p, to);
    agg_pg_param_int(&p, d0);
    agg_pg_param_int(&p, d1);
    agg_pg_param_int(&p, server_id > 0 ? server_id : 0);
    agg_pg_param_text(&p, user);
    r = read_rows(st, per_server ? P_USAGE_QUERY : P_USAGE_QUERY_USERS, &p,
                  sizeof(struct agg_usage_row), usage_from_row, &list, ret_n);
    if (r == MON_OK && per_server)
        agg_store_usage_sort(list, *ret_n);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_pg_usage_query(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                       const char *user, bool per_server, struct agg_usage_row **ret, size_t *ret_n)
{
    AGG_PG_RETRY(st, query_once(st, from, to, server_id, user, per_server, ret, ret_n));
}

static int point_from_row(struct agg_store *st, const PGresult *res, int row, void *item, void *ctx)
{
    struct agg_usage_point *pt = item;
    bool has = false;
    (void)st;
    (void)ctx;
    pt->ts = agg_pg_int64_or(res, row, 0, 0);
    pt->gpu_seconds = agg_pg_double_opt(res, row, 1, &has);
    pt->busy_gpu_seconds = agg_pg_double_opt(res, row, 2, &has);
    pt->mem_mb_seconds = agg_pg_double_opt(res, row, 3, &has);
    return MON_OK;
}

static int series_once(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                       const char *user, int64_t bucket_s, int64_t offset_s,
                       struct agg_usage_point **ret, size_t *ret_n)
{
    struct agg_pg_params p = {0};
    void *list = NULL;
    int r;
    agg_pg_param_int(&p, from);
    agg_pg_param_int(&p, to);
    agg_pg_param_int(&p, bucket_s);
    agg_pg_param_int(&p, offset_s);
    agg_pg_param_int(&p, server_id > 0 ? server_id : 0);
    agg_pg_param_text(&p, user);
    r = read_rows(st, server_id > 0 ? P_USAGE_SERIES : P_USAGE_SERIES_USERS, &p,
                  sizeof(struct agg_usage_point), point_from_row, &list, ret_n);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_pg_usage_timeseries(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                            const char *user, int64_t bucket_s, int64_t offset_s,
                            struct agg_usage_point **ret, size_t *ret_n)
{
    AGG_PG_RETRY(st, series_once(st, from, to, server_id, user, bucket_s, offset_s, ret, ret_n));
}

static int retention_once(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted)
{
    static const enum agg_pg_stmt daily[] = {P_RET_USAGE_DAILY, P_RET_USAGE_USER_DAILY};
    int64_t total = 0, dropped = 0;
    int r = agg_pg_begin(st);

    if (r < 0)
        return r;
    /* Months of hours that end at or before the cutoff go whole; the boundary month keeps its
     * newer rows. */
    r = agg_pg_partitions_drop_before(st, PART_USAGE, PART_USER_USAGE + 1, cutoff, &dropped);
    total += dropped;
    for (int t = PART_USAGE; r == MON_OK && t <= PART_USER_USAGE; t++) {
        struct agg_pg_params p = {0};
        PGresult *res = NULL;
        char sql[128];
        if (!agg_pg_delete_before_sql(agg_pg_partitioned[t], sql, sizeof(sql))) {
            r = agg_store_fail(st, MON_EINVAL, "statement too long");
            break;
        }
        agg_pg_param_int(&p, cutoff);
        r = agg_pg_exec_sql(st, sql, &p, &res);
        if (r == MON_OK) {
            total += agg_pg_changes(res);
            PQclear(res);
        }
    }
    for (size_t i = 0; r == MON_OK && i < sizeof(daily) / sizeof(daily[0]); i++) {
        struct agg_pg_params p = {0};
        PGresult *res = NULL;
        agg_pg_param_int(&p, cutoff);
        r = agg_pg_exec(st, daily[i], &p, &res);
        if (r == MON_OK) {
            total += agg_pg_changes(res);
            PQclear(res);
        }
    }
    if (r == MON_OK)
        r = agg_pg_commit(st);
    if (r < 0) {
        agg_pg_rollback(st);
        return r;
    }
    agg_pg_partitions_forget(st);
    *ret_deleted = total;
    return MON_OK;
}

int agg_pg_usage_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted)
{
    AGG_PG_RETRY(st, retention_once(st, cutoff, ret_deleted));
}
