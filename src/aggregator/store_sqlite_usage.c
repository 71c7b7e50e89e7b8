/* SPDX-License-Identifier: MIT */
/* The SQLite backend's GPU usage tables (issue 15): checkpoint upserts that keep each day's row
 * equal to the sum of its hours, an hour's rows for resuming, range sums, timeseries and
 * retention. Called by store_usage.c with the lock held. */
#include "aggregator/store_sqlite.h"

#include "common/err.h"

#include <string.h>

/* The hour's stored sums (zero when there is no row yet). */
struct usage_old {
    double gpu_s, busy_s, mem_s;
    int64_t processes;
};

static int read_old(struct agg_store *st, const struct agg_usage_row *u, struct usage_old *ret)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, S_USAGE_OLD, &s), rc;
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, u->ts);
    sqlite3_bind_int64(s, 2, u->server_id);
    agg_sqlite_bind_array(s, 3, u->user, sizeof(u->user));
    memset(ret, 0, sizeof(*ret));
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        ret->gpu_s = sqlite3_column_double(s, 0);
        ret->busy_s = sqlite3_column_double(s, 1);
        ret->mem_s = sqlite3_column_double(s, 2);
        ret->processes = sqlite3_column_int64(s, 3);
    } else if (rc != SQLITE_DONE) {
        r = agg_sqlite_fail(st, rc);
    }
    agg_sqlite_release(s);
    return r;
}

/* Binds a usage row's columns 1..11 with the given key time and sums. */
static void bind_row(sqlite3_stmt *s, int64_t key, const struct agg_usage_row *u, double gpu_s,
                     double busy_s, double mem_s, int64_t processes)
{
    sqlite3_bind_int64(s, 1, key);
    sqlite3_bind_int64(s, 2, u->server_id);
    agg_sqlite_bind_array(s, 3, u->server_name, sizeof(u->server_name));
    agg_sqlite_bind_array(s, 4, u->user, sizeof(u->user));
    sqlite3_bind_double(s, 5, gpu_s);
    sqlite3_bind_double(s, 6, busy_s);
    sqlite3_bind_double(s, 7, mem_s);
    sqlite3_bind_int64(s, 8, u->max_gpus);
    sqlite3_bind_int64(s, 9, processes);
    sqlite3_bind_int64(s, 10, u->first_seen);
    sqlite3_bind_int64(s, 11, u->last_seen);
}

/* Moves the user's row of the hour or day (over all servers) by the hour's differences. */
static int upsert_user(struct agg_store *st, enum agg_sqlite_stmt id, int64_t key,
                       const struct agg_usage_row *u, const struct usage_old *old)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, id, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, key);
    agg_sqlite_bind_array(s, 2, u->user, sizeof(u->user));
    sqlite3_bind_double(s, 3, u->gpu_seconds - old->gpu_s);
    sqlite3_bind_double(s, 4, u->busy_gpu_seconds - old->busy_s);
    sqlite3_bind_double(s, 5, u->mem_mb_seconds - old->mem_s);
    sqlite3_bind_int64(s, 6, u->max_gpus);
    sqlite3_bind_int64(s, 7, u->processes - old->processes);
    sqlite3_bind_int64(s, 8, u->first_seen);
    sqlite3_bind_int64(s, 9, u->last_seen);
    r = agg_sqlite_step_write(st, s, NULL);
    agg_sqlite_release(s);
    return r;
}

static int upsert_one(struct agg_store *st, const struct agg_usage_row *u)
{
    struct usage_old old;
    sqlite3_stmt *s = NULL;
    int64_t day = u->ts - u->ts % AGG_USAGE_DAY_S;
    int r = read_old(st, u, &old);

    if (r >= 0)
        r = upsert_user(st, S_USAGE_USER_HOUR_UPSERT, u->ts, u, &old);
    if (r >= 0)
        r = upsert_user(st, S_USAGE_USER_DAY_UPSERT, day, u, &old);

    if (r >= 0)
        r = agg_sqlite_stmt(st, S_USAGE_DAY_UPSERT, &s);
    if (r < 0)
        return r;
    bind_row(s, day, u, u->gpu_seconds - old.gpu_s, u->busy_gpu_seconds - old.busy_s,
             u->mem_mb_seconds - old.mem_s, u->processes - old.processes);
    r = agg_sqlite_step_write(st, s, NULL);
    agg_sqlite_release(s);
    if (r < 0)
        return r;
    r = agg_sqlite_stmt(st, S_USAGE_HOUR_UPSERT, &s);
    if (r < 0)
        return r;
    bind_row(s, u->ts, u, u->gpu_seconds, u->busy_gpu_seconds, u->mem_mb_seconds, u->processes);
    r = agg_sqlite_step_write(st, s, NULL);
    agg_sqlite_release(s);
    return r;
}

int agg_sqlite_usage_upsert(struct agg_store *st, const struct agg_usage_row *rows, size_t n)
{
    int r = agg_sqlite_begin(st);
    if (r < 0)
        return r;
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = upsert_one(st, &rows[i]);
    if (r >= 0)
        r = agg_sqlite_commit(st);
    if (r < 0)
        agg_sqlite_rollback(st);
    return r;
}

/* Columns: ts, server_id, server_name, user_name, the three sums, max_gpus, processes,
 * first_seen, last_seen. */
static int usage_from_row(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx)
{
    struct agg_usage_row *u = item;
    (void)st;
    (void)ctx;
    u->ts = sqlite3_column_int64(s, 0);
    u->server_id = sqlite3_column_int64(s, 1);
    agg_sqlite_col_copy(s, 2, u->server_name, sizeof(u->server_name));
    agg_sqlite_col_copy(s, 3, u->user, sizeof(u->user));
    u->gpu_seconds = sqlite3_column_double(s, 4);
    u->busy_gpu_seconds = sqlite3_column_double(s, 5);
    u->mem_mb_seconds = sqlite3_column_double(s, 6);
    u->max_gpus = sqlite3_column_int64(s, 7);
    u->processes = sqlite3_column_int64(s, 8);
    u->first_seen = sqlite3_column_int64(s, 9);
    u->last_seen = sqlite3_column_int64(s, 10);
    return MON_OK;
}

int agg_sqlite_usage_hour_get(struct agg_store *st, int64_t server_id, int64_t ts,
                              struct agg_usage_row **ret, size_t *ret_n)
{
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    int r = agg_sqlite_stmt(st, S_USAGE_HOUR_GET, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, ts);
    r = agg_sqlite_collect(st, s, sizeof(struct agg_usage_row), usage_from_row, NULL, NULL, &list,
                           ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_sqlite_usage_query(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                           const char *user, bool per_server, struct agg_usage_row **ret,
                           size_t *ret_n)
{
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    int64_t d0, d1;
    int r = agg_sqlite_stmt(st, per_server ? S_USAGE_QUERY : S_USAGE_QUERY_USERS, &s);
    if (r < 0)
        return r;
    agg_store_usage_days(from, to, &d0, &d1);
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    sqlite3_bind_int64(s, 3, d0);
    sqlite3_bind_int64(s, 4, d1);
    sqlite3_bind_int64(s, 5, server_id > 0 ? server_id : 0);
    agg_sqlite_bind_text(s, 6, user);
    r = agg_sqlite_collect(st, s, sizeof(struct agg_usage_row), usage_from_row, NULL, NULL, &list,
                           ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

static int point_from_row(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx)
{
    struct agg_usage_point *p = item;
    (void)st;
    (void)ctx;
    p->ts = sqlite3_column_int64(s, 0);
    p->gpu_seconds = sqlite3_column_double(s, 1);
    p->busy_gpu_seconds = sqlite3_column_double(s, 2);
    p->mem_mb_seconds = sqlite3_column_double(s, 3);
    return MON_OK;
}

int agg_sqlite_usage_timeseries(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                                const char *user, int64_t bucket_s, int64_t offset_s,
                                struct agg_usage_point **ret, size_t *ret_n)
{
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    int r = agg_sqlite_stmt(st, server_id > 0 ? S_USAGE_SERIES : S_USAGE_SERIES_USERS, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    sqlite3_bind_int64(s, 3, bucket_s);
    sqlite3_bind_int64(s, 4, offset_s);
    sqlite3_bind_int64(s, 5, server_id > 0 ? server_id : 0);
    agg_sqlite_bind_text(s, 6, user);
    r = agg_sqlite_collect(st, s, sizeof(struct agg_usage_point), point_from_row, NULL, NULL, &list,
                           ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_sqlite_usage_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted)
{
    static const enum agg_sqlite_stmt deletes[] = {S_RET_USAGE_HOURLY, S_RET_USAGE_DAILY,
                                                   S_RET_USAGE_USER_HOURLY, S_RET_USAGE_USER_DAILY};
    int64_t total = 0;
    int r = agg_sqlite_begin(st);
    if (r < 0)
        return r;
    for (size_t i = 0; r >= 0 && i < sizeof(deletes) / sizeof(deletes[0]); i++) {
        sqlite3_stmt *s = NULL;
        int changes = 0;
        r = agg_sqlite_stmt(st, deletes[i], &s);
        if (r < 0)
            break;
        sqlite3_bind_int64(s, 1, cutoff);
        r = agg_sqlite_step_write(st, s, &changes);
        agg_sqlite_release(s);
        total += changes;
    }
    if (r >= 0)
        r = agg_sqlite_commit(st);
    if (r < 0) {
        agg_sqlite_rollback(st);
        return r;
    }
    *ret_deleted = total;
    return MON_OK;
}
