/* SPDX-License-Identifier: MIT */
/* Copies a whole database from one backend into another (monitor-aggregator --migrate-to):
 * the list of tables with their columns, and the driver that streams each table's rows from
 * the source's copy_out into the target's load ops, in one transaction of the target, and
 * compares the row counts. The SQL is in the backends. */
#include "aggregator/store_backend.h"

#include "common/err.h"

#include <pthread.h>
#include <string.h>

#define HOURLY_COLUMNS                                                                             \
    "id, server_id, ts, samples, cpu_pct_avg, cpu_pct_max, cpu_pct_min, mem_used_pct_avg, "        \
    "mem_used_pct_max, mem_used_pct_min, disk_used_pct, disk_used_pct_max, disk_used_pct_min, "    \
    "disk_used_bytes, disk_total_bytes, gpu_util_pct_avg, gpu_util_pct_max, gpu_util_pct_min, "    \
    "gpu_mem_used_mb, gpu_mem_total_mb, gpu_mem_used_mb_max, gpu_mem_used_mb_min"

#define USAGE_COLUMNS(key)                                                                         \
    key ", server_id, server_name, user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, "     \
        "max_gpus, processes, first_seen, last_seen"
#define USER_USAGE_COLUMNS(key)                                                                    \
    key ", user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, "        \
        "first_seen, last_seen"

/* Parents first: servers before everything that references it. */
const struct agg_store_table agg_store_tables[AGG_STORE_TABLE_COUNT] = {
    {"servers",
     "id, name, host, agent_port, enabled, services, token, last_seen_at, created_at, "
     "last_online, tls, tls_pin, tls_ca_file",
     13, true, false},
    {"samples_hourly", HOURLY_COLUMNS, 22, true, true},
    {"gpu_samples_hourly",
     "id, server_id, ts, gpu_index, uuid, name, samples, util_pct_avg, util_pct_max, "
     "mem_used_mb_avg, mem_used_mb_max, mem_total_mb, temp_c_max, power_w_avg",
     14, true, true},
    {"disk_samples_hourly",
     "id, server_id, ts, mount, samples, used_pct_avg, used_pct_max, used_pct, used_bytes, "
     "total_bytes",
     10, true, true},
    {"service_status", "id, server_id, ts, unit_name, active_state, sub_state", 6, true, true},
    {"unit_states", "server_id, unit_name, active_state, sub_state, since", 5, false, false},
    {"events", "id, server_id, server_name, ts, type, message", 6, true, true},
    {"seed_imports", "name, imported_at", 2, false, false},
    {"gpu_states",
     "server_id, gpu_index, uuid, state, since, low_since, idle_reported, error_open, "
     "conditions, ecc_volatile, ecc_aggregate, xid_seen_at, xid_seen_n, updated_at",
     14, false, false},
    {"gpu_usage_hourly", USAGE_COLUMNS("ts"), 11, false, true},
    {"gpu_usage_daily", USAGE_COLUMNS("day"), 11, false, false},
    {"gpu_usage_user_hourly", USER_USAGE_COLUMNS("ts"), 9, false, true},
    {"gpu_usage_user_daily", USER_USAGE_COLUMNS("day"), 9, false, false},
};

/* Passes each source row on to the target (an agg_store_row_fn). */
static int forward_row(void *ctx, const char *const *values, size_t n)
{
    struct agg_store *dst = ctx;
    return dst->ops->load_row(dst, values, n);
}

/* Copies one table (both locks held). */
static int copy_table(struct agg_store *src, struct agg_store *dst, const struct agg_store_table *t,
                      int64_t *ret_source, int64_t *ret_copied, char *why, size_t why_len)
{
    struct agg_store_table_info info = {0};
    int64_t copied = 0;
    int r;

    r = src->ops->table_info(src, t, &info);
    if (r < 0) {
        agg_store_why(why, why_len, "reading %s: %s", t->name, src->err);
        return r;
    }
    r = dst->ops->load_table_begin(dst, t, &info);
    if (r < 0) {
        agg_store_why(why, why_len, "preparing %s: %s", t->name, dst->err);
        return r;
    }
    r = src->ops->copy_out(src, t, forward_row, dst);
    if (r < 0) {
        /* A failure of the target stopped the source; say whose it was. */
        agg_store_why(why, why_len, "copying %s: %s", t->name, dst->err[0] ? dst->err : src->err);
        /* Ends the target's load state; the transaction is rolled back by the caller. */
        (void)dst->ops->load_table_end(dst, t, &info, &copied);
        return r;
    }
    r = dst->ops->load_table_end(dst, t, &info, &copied);
    if (r < 0) {
        agg_store_why(why, why_len, "finishing %s: %s", t->name, dst->err);
        return r;
    }
    if (copied != info.rows) {
        agg_store_why(why, why_len, "%s: %lld rows in the source but %lld copied", t->name,
                      (long long)info.rows, (long long)copied);
        return MON_EIO;
    }
    *ret_source = info.rows;
    *ret_copied = copied;
    return MON_OK;
}

int agg_store_copy_all(struct agg_store *src, struct agg_store *dst,
                       agg_store_copy_report_fn report, void *ctx, char *why, size_t why_len)
{
    int64_t source[AGG_STORE_TABLE_COUNT] = {0}, copied[AGG_STORE_TABLE_COUNT] = {0};
    int r;

    agg_store_why(why, why_len, "%s", "");
    if (!src || !dst || src == dst) {
        agg_store_why(why, why_len, "invalid arguments");
        return MON_EINVAL;
    }
    if (!src->ops->table_info || !src->ops->copy_out) {
        agg_store_why(why, why_len, "a %s database cannot be the source of a copy", src->ops->name);
        return MON_EUNSUPPORTED;
    }
    if (!dst->ops->load_begin) {
        agg_store_why(why, why_len, "a %s database cannot be the target of a copy", dst->ops->name);
        return MON_EUNSUPPORTED;
    }
    pthread_mutex_lock(&src->lock);
    pthread_mutex_lock(&dst->lock);
    dst->err[0] = src->err[0] = '\0';
    r = dst->ops->load_begin(dst);
    if (r < 0) {
        agg_store_why(why, why_len, "%s", dst->err);
        goto out;
    }
    for (size_t i = 0; i < AGG_STORE_TABLE_COUNT && r >= 0; i++)
        r = copy_table(src, dst, &agg_store_tables[i], &source[i], &copied[i], why, why_len);
    if (r >= 0) {
        r = dst->ops->load_end(dst, true);
        if (r < 0)
            agg_store_why(why, why_len, "commit: %s", dst->err);
    } else {
        (void)dst->ops->load_end(dst, false);
    }
out:
    pthread_mutex_unlock(&dst->lock);
    pthread_mutex_unlock(&src->lock);
    for (size_t i = 0; r >= 0 && report && i < AGG_STORE_TABLE_COUNT; i++)
        report(ctx, agg_store_tables[i].name, source[i], copied[i]);
    return r;
}
