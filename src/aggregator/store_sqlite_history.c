/* SPDX-License-Identifier: MIT */
/* The SQLite backend's hourly history (checkpoint upserts, bucket reads, timeseries),
 * retention, vacuum, the quick check and the statistics of --check-db. Called by store.c with
 * the lock held. */
#include "aggregator/store_sqlite.h"

#include "common/err.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <string.h>

/* ---- hourly rows ---- */

static int upsert_hourly_row(struct agg_store *st, sqlite3_stmt *s, const struct agg_hourly_row *h)
{
    sqlite3_bind_int64(s, 1, h->server_id);
    sqlite3_bind_int64(s, 2, h->ts);
    sqlite3_bind_int64(s, 3, h->samples);
    agg_sqlite_bind_opt(s, 4, h->has_cpu, h->cpu_pct_avg);
    agg_sqlite_bind_opt(s, 5, h->has_cpu, h->cpu_pct_max);
    agg_sqlite_bind_opt(s, 6, h->has_cpu, h->cpu_pct_min);
    agg_sqlite_bind_opt(s, 7, h->has_mem, h->mem_used_pct_avg);
    agg_sqlite_bind_opt(s, 8, h->has_mem, h->mem_used_pct_max);
    agg_sqlite_bind_opt(s, 9, h->has_mem, h->mem_used_pct_min);
    agg_sqlite_bind_opt(s, 10, h->has_disk, h->disk_used_pct);
    agg_sqlite_bind_opt(s, 11, h->has_disk, h->disk_used_pct_max);
    agg_sqlite_bind_opt(s, 12, h->has_disk, h->disk_used_pct_min);
    agg_sqlite_bind_opt(s, 13, h->has_disk, h->disk_used_bytes);
    agg_sqlite_bind_opt(s, 14, h->has_disk, h->disk_total_bytes);
    agg_sqlite_bind_opt(s, 15, h->has_gpu, h->gpu_util_pct_avg);
    agg_sqlite_bind_opt(s, 16, h->has_gpu, h->gpu_util_pct_max);
    agg_sqlite_bind_opt(s, 17, h->has_gpu, h->gpu_util_pct_min);
    agg_sqlite_bind_opt(s, 18, h->has_gpu, h->gpu_mem_used_mb);
    agg_sqlite_bind_opt(s, 19, h->has_gpu, h->gpu_mem_total_mb);
    agg_sqlite_bind_opt(s, 20, h->has_gpu, h->gpu_mem_used_mb_max);
    agg_sqlite_bind_opt(s, 21, h->has_gpu, h->gpu_mem_used_mb_min);
    return agg_sqlite_step_write(st, s, NULL);
}

static int upsert_gpu_row(struct agg_store *st, sqlite3_stmt *s, const struct agg_gpu_hourly_row *g)
{
    sqlite3_bind_int64(s, 1, g->server_id);
    sqlite3_bind_int64(s, 2, g->ts);
    sqlite3_bind_int(s, 3, g->gpu_index);
    agg_sqlite_bind_array_opt(s, 4, g->uuid, sizeof(g->uuid));
    agg_sqlite_bind_array_opt(s, 5, g->name, sizeof(g->name));
    sqlite3_bind_int64(s, 6, g->samples);
    agg_sqlite_bind_opt(s, 7, g->has_util, g->util_pct_avg);
    agg_sqlite_bind_opt(s, 8, g->has_util, g->util_pct_max);
    agg_sqlite_bind_opt(s, 9, g->has_mem, g->mem_used_mb_avg);
    agg_sqlite_bind_opt(s, 10, g->has_mem, g->mem_used_mb_max);
    agg_sqlite_bind_opt(s, 11, g->has_mem, g->mem_total_mb);
    agg_sqlite_bind_opt(s, 12, g->has_temp, g->temp_c_max);
    agg_sqlite_bind_opt(s, 13, g->has_power, g->power_w_avg);
    return agg_sqlite_step_write(st, s, NULL);
}

static int upsert_disk_row(struct agg_store *st, sqlite3_stmt *s,
                           const struct agg_disk_hourly_row *d)
{
    sqlite3_bind_int64(s, 1, d->server_id);
    sqlite3_bind_int64(s, 2, d->ts);
    agg_sqlite_bind_array(s, 3, d->mount, sizeof(d->mount));
    sqlite3_bind_int64(s, 4, d->samples);
    sqlite3_bind_double(s, 5, d->used_pct_avg);
    sqlite3_bind_double(s, 6, d->used_pct_max);
    sqlite3_bind_double(s, 7, d->used_pct);
    sqlite3_bind_double(s, 8, d->used_bytes);
    sqlite3_bind_double(s, 9, d->total_bytes);
    return agg_sqlite_step_write(st, s, NULL);
}

int agg_sqlite_hourly_upsert(struct agg_store *st, const struct agg_hourly_row *rows, size_t n,
                             const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                             const struct agg_disk_hourly_row *disks, size_t n_disks)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_begin(st);

    if (r < 0)
        return r;
    if (n) {
        r = agg_sqlite_stmt(st, S_HOURLY_UPSERT, &s);
        for (size_t i = 0; r >= 0 && i < n; i++) {
            r = upsert_hourly_row(st, s, &rows[i]);
            agg_sqlite_release(s);
        }
        if (r < 0)
            goto out;
    }
    if (n_gpus) {
        r = agg_sqlite_stmt(st, S_GPU_UPSERT, &s);
        for (size_t i = 0; r >= 0 && i < n_gpus; i++) {
            r = upsert_gpu_row(st, s, &gpus[i]);
            agg_sqlite_release(s);
        }
        if (r < 0)
            goto out;
    }
    if (n_disks) {
        r = agg_sqlite_stmt(st, S_DISK_UPSERT, &s);
        for (size_t i = 0; r >= 0 && i < n_disks; i++) {
            r = upsert_disk_row(st, s, &disks[i]);
            agg_sqlite_release(s);
        }
        if (r < 0)
            goto out;
    }
    r = agg_sqlite_commit(st);
out:
    if (r < 0)
        agg_sqlite_rollback(st);
    return r;
}

int agg_sqlite_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                          struct agg_hourly_row *ret)
{
    struct agg_hourly_row h = {.server_id = server_id, .ts = ts};
    sqlite3_stmt *s = NULL;
    bool has_gpu_mem = false;
    int r, rc;

    r = agg_sqlite_stmt(st, S_HOURLY_GET, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, ts);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        r = agg_store_fail(st, MON_ENOENT, "no hourly row");
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = agg_sqlite_fail(st, rc);
        goto out;
    }
    h.samples = sqlite3_column_int64(s, 0);
    h.cpu_pct_avg = agg_sqlite_col_opt(s, 1, &h.has_cpu);
    h.cpu_pct_max = agg_sqlite_col_opt(s, 2, &h.has_cpu);
    h.cpu_pct_min = agg_sqlite_col_opt(s, 3, &h.has_cpu);
    h.mem_used_pct_avg = agg_sqlite_col_opt(s, 4, &h.has_mem);
    h.mem_used_pct_max = agg_sqlite_col_opt(s, 5, &h.has_mem);
    h.mem_used_pct_min = agg_sqlite_col_opt(s, 6, &h.has_mem);
    h.disk_used_pct = agg_sqlite_col_opt(s, 7, &h.has_disk);
    h.disk_used_pct_max = agg_sqlite_col_opt(s, 8, &h.has_disk);
    h.disk_used_pct_min = agg_sqlite_col_opt(s, 9, &h.has_disk);
    h.disk_used_bytes = agg_sqlite_col_opt(s, 10, &h.has_disk);
    h.disk_total_bytes = agg_sqlite_col_opt(s, 11, &h.has_disk);
    h.gpu_util_pct_avg = agg_sqlite_col_opt(s, 12, &h.has_gpu);
    h.gpu_util_pct_max = agg_sqlite_col_opt(s, 13, &h.has_gpu);
    h.gpu_util_pct_min = agg_sqlite_col_opt(s, 14, &h.has_gpu);
    h.gpu_mem_used_mb = agg_sqlite_col_opt(s, 15, &has_gpu_mem);
    h.gpu_mem_total_mb = agg_sqlite_col_opt(s, 16, &has_gpu_mem);
    h.gpu_mem_used_mb_max = agg_sqlite_col_opt(s, 17, &has_gpu_mem);
    h.gpu_mem_used_mb_min = agg_sqlite_col_opt(s, 18, &has_gpu_mem);
    h.has_gpu = h.has_gpu || has_gpu_mem;
    *ret = h;
    r = MON_OK;
out:
    agg_sqlite_release(s);
    return r;
}

/* The bucket a per-GPU or per-disk row read belongs to (its key is not selected again). */
struct bucket_key {
    int64_t server_id, ts;
};

static int gpu_from_row(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx)
{
    const struct bucket_key *k = ctx;
    struct agg_gpu_hourly_row *g = item;
    (void)st;
    g->server_id = k->server_id;
    g->ts = k->ts;
    g->gpu_index = sqlite3_column_int(s, 0);
    agg_sqlite_col_copy(s, 1, g->uuid, sizeof(g->uuid));
    agg_sqlite_col_copy(s, 2, g->name, sizeof(g->name));
    g->samples = sqlite3_column_int64(s, 3);
    g->util_pct_avg = agg_sqlite_col_opt(s, 4, &g->has_util);
    g->util_pct_max = agg_sqlite_col_opt(s, 5, &g->has_util);
    g->mem_used_mb_avg = agg_sqlite_col_opt(s, 6, &g->has_mem);
    g->mem_used_mb_max = agg_sqlite_col_opt(s, 7, &g->has_mem);
    g->mem_total_mb = agg_sqlite_col_opt(s, 8, &g->has_mem);
    g->temp_c_max = agg_sqlite_col_opt(s, 9, &g->has_temp);
    g->power_w_avg = agg_sqlite_col_opt(s, 10, &g->has_power);
    return MON_OK;
}

static int disk_from_row(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx)
{
    const struct bucket_key *k = ctx;
    struct agg_disk_hourly_row *d = item;
    (void)st;
    d->server_id = k->server_id;
    d->ts = k->ts;
    agg_sqlite_col_copy(s, 0, d->mount, sizeof(d->mount));
    d->samples = sqlite3_column_int64(s, 1);
    d->used_pct_avg = sqlite3_column_double(s, 2);
    d->used_pct_max = sqlite3_column_double(s, 3);
    d->used_pct = sqlite3_column_double(s, 4);
    d->used_bytes = sqlite3_column_double(s, 5);
    d->total_bytes = sqlite3_column_double(s, 6);
    return MON_OK;
}

/* Reads the rows of one bucket with the statement id (?1 server, ?2 bucket start). */
static int bucket_rows(struct agg_store *st, enum agg_sqlite_stmt id, int64_t server_id, int64_t ts,
                       size_t elem, agg_sqlite_read_fn read_row, void **ret, size_t *ret_n)
{
    struct bucket_key k = {server_id, ts};
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, id, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, ts);
    r = agg_sqlite_collect(st, s, elem, read_row, &k, NULL, ret, ret_n);
    agg_sqlite_release(s);
    return r;
}

int agg_sqlite_gpu_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                              struct agg_gpu_hourly_row **ret, size_t *ret_n)
{
    void *list = NULL;
    int r = bucket_rows(st, S_GPU_GET, server_id, ts, sizeof(struct agg_gpu_hourly_row),
                        gpu_from_row, &list, ret_n);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_sqlite_disk_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                               struct agg_disk_hourly_row **ret, size_t *ret_n)
{
    void *list = NULL;
    int r = bucket_rows(st, S_DISK_GET, server_id, ts, sizeof(struct agg_disk_hourly_row),
                        disk_from_row, &list, ret_n);
    if (r == MON_OK)
        *ret = list;
    return r;
}

/* ---- timeseries ---- */

static int point_from_row(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx)
{
    struct agg_point *p = item;
    (void)st;
    (void)ctx;
    p->ts = sqlite3_column_int64(s, 0);
    p->value = agg_sqlite_col_opt(s, 1, &p->has_value);
    return MON_OK;
}

int agg_sqlite_timeseries(struct agg_store *st, int64_t server_id, const struct agg_metric *m,
                          enum agg_metric_agg agg, int64_t from, int64_t to, struct agg_point **ret,
                          size_t *ret_n)
{
    sqlite3_stmt **slot = &agg_sqlite_of(st)->ts_stmts[m->id][agg];
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    char sql[256] = "";
    int r;

    /* Prepared once per (metric, agg) and connection, like the fixed statements. */
    if (!*slot && !agg_sqlite_timeseries_sql(m->columns[agg], sql, sizeof(sql)))
        return agg_store_fail(st, MON_EINVAL, "timeseries query of %s too long", m->name);
    r = agg_sqlite_prepare(st, slot, sql, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, from);
    sqlite3_bind_int64(s, 3, to);
    r = agg_sqlite_collect(st, s, sizeof(struct agg_point), point_from_row, NULL, NULL, &list,
                           ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

/* ---- retention and care ---- */

int agg_sqlite_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted)
{
    static const enum agg_sqlite_stmt deletes[] = {S_RET_SAMPLES, S_RET_GPU, S_RET_DISK,
                                                   S_RET_STATUS, S_RET_EVENTS};
    sqlite3_stmt *s = NULL;
    int64_t total = 0;
    int r;

    r = agg_sqlite_begin(st);
    if (r < 0)
        return r;
    for (size_t i = 0; i < sizeof(deletes) / sizeof(deletes[0]); i++) {
        int changes = 0;
        r = agg_sqlite_stmt(st, deletes[i], &s);
        if (r < 0)
            goto out;
        sqlite3_bind_int64(s, 1, cutoff);
        r = agg_sqlite_step_write(st, s, &changes);
        agg_sqlite_release(s);
        s = NULL;
        if (r < 0)
            goto out;
        total += changes;
    }
    r = agg_sqlite_commit(st);
    if (r < 0)
        goto out;
    /* Give the freed pages back to the file system; the deletions stand even if this fails. */
    r = agg_sqlite_run(st, S_INCREMENTAL_VACUUM);
    if (r < 0)
        goto out;
    *ret_deleted = total;
out:
    agg_sqlite_release(s);
    if (r < 0)
        agg_sqlite_rollback(st);
    return r;
}

int agg_sqlite_vacuum(struct agg_store *st)
{
    return agg_sqlite_run(st, S_VACUUM);
}

int agg_sqlite_check(struct agg_store *st)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    r = agg_sqlite_stmt(st, S_QUICK_CHECK, &s);
    if (r < 0)
        return r;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        if (t && strcmp((const char *)t, "ok") == 0) {
            r = MON_OK;
        } else {
            /* SQLite puts one finding per line: kept on one line for logs and --check-db. */
            r = agg_store_fail(st, MON_EIO, "quick_check: %s", t ? (const char *)t : "(no text)");
            for (char *p = st->err; (p = strchr(p, '\n')) != NULL;)
                *p = ' ';
        }
    } else if (rc == SQLITE_DONE) {
        r = agg_store_fail(st, MON_EIO, "quick_check gave no answer");
    } else {
        r = agg_sqlite_fail(st, rc);
    }
    agg_sqlite_release(s);
    return r;
}

int agg_sqlite_stats(struct agg_store *st, char **ret_json)
{
    cJSON *root = NULL, *rows;
    sqlite3_stmt *s = NULL;
    char *text = NULL, *copy = NULL;
    int64_t page_count = 0, page_size = 0, version = 0;
    int r, rc;

    root = cJSON_CreateObject();
    rows = root ? cJSON_AddObjectToObject(root, "rows") : NULL;
    if (!rows) {
        r = MON_ENOMEM;
        goto out;
    }
    for (int i = S_COUNT_SERVERS; i <= S_COUNT_USAGE_USER_DAILY; i++) {
        int64_t count = 0;
        r = agg_sqlite_query_int(st, (enum agg_sqlite_stmt)i, &count);
        if (r < 0)
            goto out;
        if (!cJSON_AddNumberToObject(rows, agg_sqlite_stats_tables[i - S_COUNT_SERVERS],
                                     (double)count)) {
            r = MON_ENOMEM;
            goto out;
        }
    }
    r = agg_sqlite_query_int(st, S_PAGE_COUNT, &page_count);
    if (r >= 0)
        r = agg_sqlite_query_int(st, S_PAGE_SIZE, &page_size);
    if (r >= 0)
        r = agg_sqlite_query_int(st, S_USER_VERSION, &version);
    if (r < 0)
        goto out;
    r = agg_sqlite_stmt(st, S_JOURNAL_MODE, &s);
    if (r < 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        r = agg_sqlite_fail(st, rc);
        goto out;
    }
    r = MON_ENOMEM;
    if (!cJSON_AddNumberToObject(root, "size_bytes", (double)(page_count * page_size)) ||
        !cJSON_AddStringToObject(root, "journal_mode", (const char *)sqlite3_column_text(s, 0)) ||
        !cJSON_AddNumberToObject(root, "user_version", (double)version))
        goto out;
    text = cJSON_PrintUnformatted(root);
    copy = text ? mon_strndup(text, strlen(text)) : NULL;
    if (!copy)
        goto out;
    *ret_json = copy;
    r = MON_OK;
out:
    if (r == MON_ENOMEM)
        agg_store_fail(st, r, "out of memory");
    agg_sqlite_release(s);
    cJSON_free(text);
    cJSON_Delete(root);
    return r;
}
