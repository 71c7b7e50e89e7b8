/* SPDX-License-Identifier: MIT */
/* The backend-neutral side of the GPU usage storage (issue 15): argument checks, the
 * connection's lock and the split of a range into hours and whole days. */
#include "aggregator/store.h"
#include "aggregator/store_backend.h"

#include "common/err.h"

#include <stdlib.h>
#include <string.h>

static int usage_arg_error(struct agg_store *st, const char *what)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = agg_store_fail(st, MON_EINVAL, "%s", what);
    pthread_mutex_unlock(&st->lock);
    return r;
}

static bool hour_range_ok(int64_t from, int64_t to)
{
    return from >= 0 && from <= to && from % AGG_USAGE_HOUR_S == 0 && to % AGG_USAGE_HOUR_S == 0;
}

void agg_store_usage_days(int64_t from, int64_t to, int64_t *ret_d0, int64_t *ret_d1)
{
    int64_t d0 = (from + AGG_USAGE_DAY_S - 1) / AGG_USAGE_DAY_S * AGG_USAGE_DAY_S;
    int64_t d1 = to / AGG_USAGE_DAY_S * AGG_USAGE_DAY_S;
    if (d0 >= d1)
        d0 = d1 = to;
    *ret_d0 = d0;
    *ret_d1 = d1;
}

static int cmp_server_user(const void *x, const void *y)
{
    const struct agg_usage_row *a = x, *b = y;
    if (a->server_id != b->server_id)
        return a->server_id < b->server_id ? -1 : 1;
    return strcmp(a->user, b->user);
}

void agg_store_usage_sort(struct agg_usage_row *rows, size_t n)
{
    if (n > 1)
        qsort(rows, n, sizeof(*rows), cmp_server_user);
}

int agg_store_usage_upsert(struct agg_store *st, const struct agg_usage_row *rows, size_t n)
{
    int r;
    if (n && !rows)
        return usage_arg_error(st, "usage rows missing");
    for (size_t i = 0; i < n; i++) {
        if (rows[i].ts < 0 || rows[i].ts % AGG_USAGE_HOUR_S != 0)
            return usage_arg_error(st, "usage row not at the start of an hour");
        if (!rows[i].user[0] || !memchr(rows[i].user, 0, sizeof(rows[i].user)) ||
            !memchr(rows[i].server_name, 0, sizeof(rows[i].server_name)))
            return usage_arg_error(st, "usage row without a user or with an unterminated name");
    }
    if (n == 0)
        return MON_OK;
    pthread_mutex_lock(&st->lock);
    r = st->ops->usage_upsert(st, rows, n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_usage_hour_get(struct agg_store *st, int64_t server_id, int64_t ts,
                             struct agg_usage_row **ret, size_t *ret_n)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->usage_hour_get(st, server_id, ts, ret, ret_n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_usage_query(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                          const char *user, bool per_server, struct agg_usage_row **ret,
                          size_t *ret_n)
{
    int r;
    if (!hour_range_ok(from, to))
        return usage_arg_error(st, "usage range must be whole hours, from <= to");
    if (!per_server && server_id > 0)
        return usage_arg_error(st, "a usage query of one server is per server");
    pthread_mutex_lock(&st->lock);
    r = st->ops->usage_query(st, from, to, server_id, user, per_server, ret, ret_n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_usage_timeseries(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                               const char *user, int64_t bucket_s, int64_t offset_s,
                               struct agg_usage_point **ret, size_t *ret_n)
{
    int r;
    if (!hour_range_ok(from, to))
        return usage_arg_error(st, "usage range must be whole hours, from <= to");
    if ((bucket_s != AGG_USAGE_HOUR_S && bucket_s != AGG_USAGE_DAY_S) ||
        offset_s % AGG_USAGE_HOUR_S != 0 || offset_s <= -AGG_USAGE_DAY_S ||
        offset_s >= AGG_USAGE_DAY_S)
        return usage_arg_error(st, "usage buckets are hours or days, offset whole hours");
    pthread_mutex_lock(&st->lock);
    r = st->ops->usage_timeseries(st, from, to, server_id, user, bucket_s, offset_s, ret, ret_n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_usage_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted)
{
    int64_t deleted = 0;
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->usage_retention(st, cutoff, &deleted);
    pthread_mutex_unlock(&st->lock);
    if (r == MON_OK && ret_deleted)
        *ret_deleted = deleted;
    return r;
}
