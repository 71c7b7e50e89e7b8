/* SPDX-License-Identifier: MIT */
/* The storage benchmark's worker (bench/store runs it once per backend and prints the results
 * side by side): through the store API only, it adds --servers servers and --days days of
 * hourly rows (one samples_hourly row, --gpus GPU rows and one disk row per server and hour):
 * all days but the last are loaded a day per call (rows sorted by server, as a fast fill), the
 * last day hour by hour as the aggregator writes them (each hour one checkpoint of all servers:
 * these are the new-hour checkpoints measured, on a database already holding the rest). Then
 * it measures a checkpoint that rewrites the current hour, --queries 30-day timeseries reads of
 * random servers, the retention of the oldest day and of the oldest month, and the database
 * size. Prints one JSON object on stdout; progress on stderr.
 * Usage: store_bench --database DB [--servers 10000] [--days 30] [--gpus 2] [--queries 1000] */
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Hours per call while loading the days before the measured one. */
#define FILL_HOURS 6

struct opts {
    const char *database;
    int servers, days, gpus, queries;
};

/* Deterministic values that differ from row to row. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static double rnd(double lo, double hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (double)(rng_state >> 11) / (double)(1ULL << 53);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    size_t i;
    if (!n)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* Milliseconds with microsecond resolution (mon_mono_ms has whole milliseconds). */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Rows of one or more hours: every server's buckets from ts for `hours` hours, grouped by
 * server (hours consecutive per server). */
struct checkpoint {
    struct agg_hourly_row *rows;
    struct agg_gpu_hourly_row *gpus;
    struct agg_disk_hourly_row *disks;
    size_t n, n_gpus;
};

static void fill(struct checkpoint *c, const int64_t *ids, int servers, int gpus, int64_t ts,
                 int hours)
{
    size_t k = 0;
    c->n = (size_t)servers * (size_t)hours;
    c->n_gpus = c->n * (size_t)gpus;
    for (int s = 0; s < servers; s++) {
        for (int hr = 0; hr < hours; hr++, k++) {
            struct agg_hourly_row *h = &c->rows[k];
            struct agg_disk_hourly_row *d = &c->disks[k];
            int64_t t = ts + (int64_t)hr * 3600;
            memset(h, 0, sizeof(*h));
            h->server_id = ids[s];
            h->ts = t;
            h->samples = 720;
            h->has_cpu = h->has_mem = h->has_disk = h->has_gpu = true;
            h->cpu_pct_avg = rnd(0, 100);
            h->cpu_pct_max = h->cpu_pct_avg + rnd(0, 10);
            h->cpu_pct_min = h->cpu_pct_avg - rnd(0, 10);
            h->mem_used_pct_avg = rnd(10, 90);
            h->mem_used_pct_max = h->mem_used_pct_avg + 1;
            h->mem_used_pct_min = h->mem_used_pct_avg - 1;
            h->disk_used_pct = h->disk_used_pct_max = h->disk_used_pct_min = rnd(20, 80);
            h->disk_used_bytes = 1e12 * h->disk_used_pct / 100;
            h->disk_total_bytes = 1e12;
            h->gpu_util_pct_avg = rnd(0, 100);
            h->gpu_util_pct_max = 100;
            h->gpu_util_pct_min = 0;
            h->gpu_mem_used_mb = rnd(0, 80000);
            h->gpu_mem_total_mb = 81920;
            h->gpu_mem_used_mb_max = h->gpu_mem_used_mb;
            h->gpu_mem_used_mb_min = h->gpu_mem_used_mb;
            memset(d, 0, sizeof(*d));
            d->server_id = ids[s];
            d->ts = t;
            snprintf(d->mount, sizeof(d->mount), "/");
            d->samples = 720;
            d->used_pct_avg = d->used_pct_max = d->used_pct = h->disk_used_pct;
            d->used_bytes = h->disk_used_bytes;
            d->total_bytes = 1e12;
            for (int g = 0; g < gpus; g++) {
                struct agg_gpu_hourly_row *r = &c->gpus[k * (size_t)gpus + (size_t)g];
                memset(r, 0, sizeof(*r));
                r->server_id = ids[s];
                r->ts = t;
                r->gpu_index = g;
                snprintf(r->uuid, sizeof(r->uuid), "GPU-%08d-%04d-0000-0000-%012d", s, g,
                         s * 7 + g);
                snprintf(r->name, sizeof(r->name), "NVIDIA H100 80GB HBM3");
                r->samples = 720;
                r->has_util = r->has_mem = r->has_temp = r->has_power = true;
                r->util_pct_avg = rnd(0, 100);
                r->util_pct_max = 100;
                r->mem_used_mb_avg = rnd(0, 80000);
                r->mem_used_mb_max = 81000;
                r->mem_total_mb = 81920;
                r->temp_c_max = rnd(30, 85);
                r->power_w_avg = rnd(60, 700);
            }
        }
    }
}

static int write_rows(struct agg_store *st, const struct checkpoint *c)
{
    if (agg_store_hourly_upsert(st, c->rows, c->n, c->gpus, c->n_gpus, c->disks, c->n) < 0) {
        fprintf(stderr, "upsert: %s\n", agg_store_last_error(st));
        return -1;
    }
    return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--database") == 0)
            o->database = argv[i + 1];
        else if (strcmp(argv[i], "--servers") == 0)
            o->servers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--days") == 0)
            o->days = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--gpus") == 0)
            o->gpus = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--queries") == 0)
            o->queries = atoi(argv[i + 1]);
        else
            return -1;
    }
    return o->database && o->servers > 0 && o->days > 0 && o->gpus >= 0 && o->queries > 0 ? 0 : -1;
}

static double stat_size(struct agg_store *st)
{
    char *json = NULL;
    cJSON *root;
    double size = -1;
    if (agg_store_stats(st, &json) < 0)
        return -1;
    root = cJSON_Parse(json);
    if (root && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "size_bytes")))
        size = cJSON_GetObjectItemCaseSensitive(root, "size_bytes")->valuedouble;
    cJSON_Delete(root);
    free(json);
    return size;
}

int main(int argc, char **argv)
{
    struct opts o = {.servers = 10000, .days = 30, .gpus = 2, .queries = 1000};
    struct checkpoint c = {0};
    struct agg_store *st = NULL;
    int64_t *ids = NULL, deleted_day = 0, deleted_month = 0;
    /* 30 days that cross a month boundary: 2026-01-17 .. 2026-02-16. */
    int64_t start = mon_utc_from_date(2026, 1, 17), month = mon_utc_from_date(2026, 2, 1);
    double *ckpt = NULL, *ts_ms = NULL, t0, fill_ms, size_empty, size_full, rewrite[5];
    size_t hours, points = 0;
    char why[512];
    cJSON *out;
    char *text;
    int rc = 1;

    if (parse(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: store_bench --database DB [--servers N] [--days D] [--gpus G] "
                        "[--queries Q]\n");
        return 2;
    }
    hours = (size_t)o.days * 24;
    ids = calloc((size_t)o.servers, sizeof(*ids));
    /* Room for FILL_HOURS hours of every server (the fill's calls). */
    c.rows = calloc((size_t)o.servers * FILL_HOURS, sizeof(*c.rows));
    c.disks = calloc((size_t)o.servers * FILL_HOURS, sizeof(*c.disks));
    c.gpus =
        calloc((size_t)o.servers * FILL_HOURS * (size_t)(o.gpus ? o.gpus : 1), sizeof(*c.gpus));
    ckpt = calloc(24, sizeof(*ckpt));
    ts_ms = calloc((size_t)o.queries, sizeof(*ts_ms));
    if (!ids || !c.rows || !c.disks || !c.gpus || !ckpt || !ts_ms) {
        fprintf(stderr, "out of memory\n");
        goto cleanup;
    }
    if (agg_store_open(o.database, 30000, &st, why, sizeof(why)) < 0) {
        fprintf(stderr, "open: %s\n", why);
        goto cleanup;
    }
    size_empty = stat_size(st);
    fprintf(stderr, "[store_bench] %s: adding %d servers\n", agg_store_backend_name(st), o.servers);
    for (int s = 0; s < o.servers; s++) {
        char name[32];
        struct agg_server sv = {
            .name = name, .host = "10.1.2.3", .port = 9109, .token = "t", .enabled = true};
        snprintf(name, sizeof(name), "gpu-node-%05d", s);
        if (agg_store_server_insert(st, &sv, &ids[s]) < 0) {
            fprintf(stderr, "insert: %s\n", agg_store_last_error(st));
            goto cleanup;
        }
    }
    fprintf(stderr, "[store_bench] loading %d days, %d hours per call\n", o.days - 1, FILL_HOURS);
    t0 = now_ms();
    for (size_t h = 0; h + 24 < hours; h += FILL_HOURS) {
        fill(&c, ids, o.servers, o.gpus, start + (int64_t)h * 3600, FILL_HOURS);
        if (write_rows(st, &c) < 0)
            goto cleanup;
        if (h % 24 == 24 - FILL_HOURS)
            fprintf(stderr, "[store_bench] day %zu loaded (%.0f s)\n", h / 24 + 1,
                    (now_ms() - t0) / 1000);
    }
    fill_ms = now_ms() - t0;
    fprintf(stderr, "[store_bench] the last day, one checkpoint per hour\n");
    for (size_t h = hours - 24; h < hours; h++) {
        fill(&c, ids, o.servers, o.gpus, start + (int64_t)h * 3600, 1);
        t0 = now_ms();
        if (write_rows(st, &c) < 0)
            goto cleanup;
        ckpt[h - (hours - 24)] = now_ms() - t0;
    }
    /* The usual checkpoint: the current hour again, every row already there. */
    for (int i = 0; i < 5; i++) {
        t0 = now_ms();
        if (write_rows(st, &c) < 0)
            goto cleanup;
        rewrite[i] = now_ms() - t0;
    }
    size_full = stat_size(st);
    fprintf(stderr, "[store_bench] %d timeseries queries of 30 days\n", o.queries);
    for (int q = 0; q < o.queries; q++) {
        struct agg_point *p = NULL;
        size_t n = 0;
        int64_t id = ids[(int)rnd(0, o.servers - 1e-9)];
        t0 = now_ms();
        if (agg_store_timeseries(st, id, "cpu_pct", "avg", start, start + (int64_t)hours * 3600, &p,
                                 &n) < 0) {
            fprintf(stderr, "timeseries: %s\n", agg_store_last_error(st));
            goto cleanup;
        }
        ts_ms[q] = now_ms() - t0;
        points = n;
        free(p);
    }
    fprintf(stderr, "[store_bench] retention\n");
    t0 = now_ms();
    if (agg_store_retention(st, start + 86400, &deleted_day) < 0) {
        fprintf(stderr, "retention: %s\n", agg_store_last_error(st));
        goto cleanup;
    }
    {
        double day_ms = now_ms() - t0, month_ms;
        t0 = now_ms();
        if (agg_store_retention(st, month, &deleted_month) < 0) {
            fprintf(stderr, "retention: %s\n", agg_store_last_error(st));
            goto cleanup;
        }
        month_ms = now_ms() - t0;
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "backend", agg_store_backend_name(st));
        cJSON_AddNumberToObject(out, "servers", o.servers);
        cJSON_AddNumberToObject(out, "days", o.days);
        cJSON_AddNumberToObject(out, "gpus", o.gpus);
        cJSON_AddNumberToObject(out, "rows_per_checkpoint",
                                (double)o.servers * (2.0 + (double)o.gpus));
        cJSON_AddNumberToObject(out, "fill_s", fill_ms / 1000);
        cJSON_AddNumberToObject(out, "checkpoint_new_hour_p50_ms", pct(ckpt, 24, 0.5));
        cJSON_AddNumberToObject(out, "checkpoint_new_hour_max_ms", pct(ckpt, 24, 1.0));
        cJSON_AddNumberToObject(out, "checkpoint_rewrite_p50_ms", pct(rewrite, 5, 0.5));
        cJSON_AddNumberToObject(out, "timeseries_points", (double)points);
        cJSON_AddNumberToObject(out, "timeseries_p50_ms", pct(ts_ms, (size_t)o.queries, 0.5));
        cJSON_AddNumberToObject(out, "timeseries_p99_ms", pct(ts_ms, (size_t)o.queries, 0.99));
        cJSON_AddNumberToObject(out, "retention_day_ms", day_ms);
        cJSON_AddNumberToObject(out, "retention_day_rows", (double)deleted_day);
        cJSON_AddNumberToObject(out, "retention_month_ms", month_ms);
        cJSON_AddNumberToObject(out, "retention_month_rows", (double)deleted_month);
        cJSON_AddNumberToObject(out, "size_empty_bytes", size_empty);
        cJSON_AddNumberToObject(out, "size_full_bytes", size_full);
        cJSON_AddNumberToObject(out, "bytes_per_server_month",
                                (size_full - size_empty) / o.servers * 30.0 / o.days);
    }
    text = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    if (!text)
        goto cleanup;
    printf("%s\n", text);
    cJSON_free(text);
    rc = 0;
cleanup:
    agg_store_close(st);
    free(ids);
    free(c.rows);
    free(c.disks);
    free(c.gpus);
    free(ckpt);
    free(ts_ms);
    return rc;
}
