/* SPDX-License-Identifier: MIT */
/* History-bucket accumulators: one per server, plus one per GPU index and per mount. A bucket
 * touched for the first time is seeded from the stored row so that a restart continues it. */
#include "aggregator/rollup.h"

#include "aggregator/sample.h"
#include "aggregator/store.h"
#include "aggregator/writer.h"
#include "common/err.h"
#include "common/str.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Count, sum, min, max and last value of one metric within the bucket. */
struct stat_acc {
    int64_t n;
    double sum, min, max, last;
};

struct gpu_acc {
    int index;
    char uuid[96], name[96];
    int64_t samples;
    struct stat_acc util, mem, temp, power;
    bool has_total;
    double mem_total;
};

struct disk_acc {
    char mount[256];
    int64_t samples;
    struct stat_acc pct;
    double used_bytes, total_bytes;
};

struct server_acc {
    int64_t server_id;
    int64_t bucket; /* -1: nothing accumulated yet */
    bool seeded;    /* the stored row of this bucket has been merged (or there was none) */
    bool dirty;     /* samples since the last write */
    int64_t samples;
    struct stat_acc cpu, mem, disk, gpu_util, gpu_mem;
    double disk_used_bytes, disk_total_bytes, gpu_mem_total;
    struct gpu_acc *gpus;
    size_t n_gpus;
    struct disk_acc *disks;
    size_t n_disks;
};

struct agg_rollup {
    pthread_mutex_t lock;
    int64_t bucket_s;
    struct agg_store *reader;
    struct agg_writer *writer;
    struct server_acc **servers;
    size_t n_servers, cap_servers;
    struct agg_rollup_stats stats;
};

static void stat_add(struct stat_acc *a, double v)
{
    if (a->n == 0 || v < a->min)
        a->min = v;
    if (a->n == 0 || v > a->max)
        a->max = v;
    a->n++;
    a->sum += v;
    a->last = v;
}

/* Merges a stored aggregate of n values; its "last" only counts when nothing newer exists. */
static void stat_merge(struct stat_acc *a, int64_t n, double avg, double min, double max,
                       double last)
{
    if (n <= 0)
        return;
    if (a->n == 0) {
        a->min = min;
        a->max = max;
        a->last = last;
    } else {
        a->min = min < a->min ? min : a->min;
        a->max = max > a->max ? max : a->max;
    }
    a->n += n;
    a->sum += avg * (double)n;
}

static double stat_avg(const struct stat_acc *a)
{
    return a->n ? a->sum / (double)a->n : 0;
}

static void acc_reset(struct server_acc *a, int64_t bucket)
{
    int64_t id = a->server_id;
    free(a->gpus);
    free(a->disks);
    memset(a, 0, sizeof(*a));
    a->server_id = id;
    a->bucket = bucket;
}

static struct gpu_acc *gpu_slot(struct server_acc *a, int index)
{
    struct gpu_acc *g;
    for (size_t i = 0; i < a->n_gpus; i++)
        if (a->gpus[i].index == index)
            return &a->gpus[i];
    if (a->n_gpus >= AGG_MAX_GPUS)
        return NULL;
    g = realloc(a->gpus, (a->n_gpus + 1) * sizeof(*g));
    if (!g)
        return NULL;
    a->gpus = g;
    g = &a->gpus[a->n_gpus++];
    memset(g, 0, sizeof(*g));
    g->index = index;
    return g;
}

static struct disk_acc *disk_slot(struct server_acc *a, const char *mount)
{
    struct disk_acc *d;
    for (size_t i = 0; i < a->n_disks; i++)
        if (strcmp(a->disks[i].mount, mount) == 0)
            return &a->disks[i];
    if (a->n_disks >= AGG_MAX_DISKS)
        return NULL;
    d = realloc(a->disks, (a->n_disks + 1) * sizeof(*d));
    if (!d)
        return NULL;
    a->disks = d;
    d = &a->disks[a->n_disks++];
    memset(d, 0, sizeof(*d));
    mon_strlcpy(d->mount, mount, sizeof(d->mount));
    return d;
}

static void add_gpus(struct server_acc *a, const struct agg_sample *s)
{
    for (size_t i = 0; i < s->n_gpus; i++) {
        const struct agg_gpu *in = &s->gpus[i];
        struct gpu_acc *g = gpu_slot(a, in->index);
        if (!g)
            continue;
        g->samples++;
        if (in->uuid[0])
            mon_strlcpy(g->uuid, in->uuid, sizeof(g->uuid));
        if (in->name[0])
            mon_strlcpy(g->name, in->name, sizeof(g->name));
        if (in->error[0])
            continue;
        if (in->has_util)
            stat_add(&g->util, in->util_pct);
        if (in->has_mem) {
            stat_add(&g->mem, in->mem_used_mb);
            g->mem_total = in->mem_total_mb;
            g->has_total = true;
        }
        if (in->has_temp)
            stat_add(&g->temp, in->temp_c);
        if (in->has_power)
            stat_add(&g->power, in->power_w);
    }
}

static void add_disks(struct server_acc *a, const struct agg_sample *s)
{
    bool first = true;
    for (size_t i = 0; i < s->n_disks; i++) {
        const struct agg_disk *in = &s->disks[i];
        struct disk_acc *d;
        if (!in->has_value)
            continue;
        if (first) { /* the server-level disk is the first entry with a value */
            stat_add(&a->disk, in->used_pct);
            a->disk_used_bytes = in->used_bytes;
            a->disk_total_bytes = in->total_bytes;
            first = false;
        }
        d = disk_slot(a, in->mount);
        if (!d)
            continue;
        d->samples++;
        stat_add(&d->pct, in->used_pct);
        d->used_bytes = in->used_bytes;
        d->total_bytes = in->total_bytes;
    }
}

static void acc_add_sample(struct server_acc *a, const struct agg_sample *s)
{
    a->samples++;
    a->dirty = true;
    if (s->has_cpu)
        stat_add(&a->cpu, s->cpu_pct);
    if (s->has_mem)
        stat_add(&a->mem, s->mem_used_pct);
    if (s->has_gpu) {
        stat_add(&a->gpu_util, s->gpu_util_max);
        stat_add(&a->gpu_mem, s->gpu_mem_used_mb);
        a->gpu_mem_total = s->gpu_mem_total_mb;
    }
    add_disks(a, s);
    add_gpus(a, s);
}

static void merge_row(struct server_acc *a, const struct agg_hourly_row *row)
{
    int64_t n = row->samples;
    bool had_disk = a->disk.n > 0, had_gpu = a->gpu_util.n > 0;
    a->samples += n;
    if (row->has_cpu)
        stat_merge(&a->cpu, n, row->cpu_pct_avg, row->cpu_pct_min, row->cpu_pct_max, 0);
    if (row->has_mem)
        stat_merge(&a->mem, n, row->mem_used_pct_avg, row->mem_used_pct_min, row->mem_used_pct_max,
                   0);
    if (row->has_disk) {
        stat_merge(&a->disk, n, row->disk_used_pct, row->disk_used_pct_min, row->disk_used_pct_max,
                   row->disk_used_pct);
        if (!had_disk) {
            a->disk_used_bytes = row->disk_used_bytes;
            a->disk_total_bytes = row->disk_total_bytes;
        }
    }
    if (row->has_gpu) {
        stat_merge(&a->gpu_util, n, row->gpu_util_pct_avg, row->gpu_util_pct_min,
                   row->gpu_util_pct_max, 0);
        stat_merge(&a->gpu_mem, n, row->gpu_mem_used_mb, row->gpu_mem_used_mb_min,
                   row->gpu_mem_used_mb_max, row->gpu_mem_used_mb);
        if (!had_gpu)
            a->gpu_mem_total = row->gpu_mem_total_mb;
    }
}

static void merge_gpu_row(struct server_acc *a, const struct agg_gpu_hourly_row *row)
{
    struct gpu_acc *g = gpu_slot(a, row->gpu_index);
    int64_t n = row->samples;
    if (!g)
        return;
    if (!g->uuid[0])
        mon_strlcpy(g->uuid, row->uuid, sizeof(g->uuid));
    if (!g->name[0])
        mon_strlcpy(g->name, row->name, sizeof(g->name));
    g->samples += n;
    if (row->has_util)
        stat_merge(&g->util, n, row->util_pct_avg, row->util_pct_avg, row->util_pct_max, 0);
    if (row->has_mem) {
        if (!g->has_total) {
            g->mem_total = row->mem_total_mb;
            g->has_total = true;
        }
        stat_merge(&g->mem, n, row->mem_used_mb_avg, row->mem_used_mb_avg, row->mem_used_mb_max,
                   row->mem_used_mb_avg);
    }
    if (row->has_temp)
        stat_merge(&g->temp, n, row->temp_c_max, row->temp_c_max, row->temp_c_max, 0);
    if (row->has_power)
        stat_merge(&g->power, n, row->power_w_avg, row->power_w_avg, row->power_w_avg, 0);
}

static void merge_disk_row(struct server_acc *a, const struct agg_disk_hourly_row *row)
{
    struct disk_acc *d = disk_slot(a, row->mount);
    bool had = false;
    if (!d)
        return;
    had = d->pct.n > 0;
    d->samples += row->samples;
    stat_merge(&d->pct, row->samples, row->used_pct_avg, row->used_pct_avg, row->used_pct_max,
               row->used_pct);
    if (!had) {
        d->used_bytes = row->used_bytes;
        d->total_bytes = row->total_bytes;
    }
}

/* Lock held. Reads the stored rows of a's bucket and merges them; true when a is seeded. */
static bool seed(struct agg_rollup *r, struct server_acc *a)
{
    struct agg_hourly_row row;
    struct agg_gpu_hourly_row *gpus = NULL;
    struct agg_disk_hourly_row *disks = NULL;
    size_t n_gpus = 0, n_disks = 0;
    int rc;

    if (a->seeded)
        return true;
    if (!r->reader) {
        a->seeded = true;
        return true;
    }
    rc = agg_store_hourly_get(r->reader, a->server_id, a->bucket, &row);
    if (rc == MON_ENOENT) {
        a->seeded = true; /* nothing stored: per-GPU/disk rows cannot exist without it */
        return true;
    }
    if (rc < 0 ||
        agg_store_gpu_hourly_get(r->reader, a->server_id, a->bucket, &gpus, &n_gpus) < 0 ||
        agg_store_disk_hourly_get(r->reader, a->server_id, a->bucket, &disks, &n_disks) < 0) {
        free(gpus);
        r->stats.seed_failures++;
        return false;
    }
    merge_row(a, &row);
    for (size_t i = 0; i < n_gpus; i++)
        merge_gpu_row(a, &gpus[i]);
    for (size_t i = 0; i < n_disks; i++)
        merge_disk_row(a, &disks[i]);
    free(gpus);
    free(disks);
    a->seeded = true;
    return true;
}

static void fill_row(const struct server_acc *a, struct agg_hourly_row *o)
{
    memset(o, 0, sizeof(*o));
    o->server_id = a->server_id;
    o->ts = a->bucket;
    o->samples = a->samples;
    o->has_cpu = a->cpu.n > 0;
    o->cpu_pct_avg = stat_avg(&a->cpu);
    o->cpu_pct_max = a->cpu.max;
    o->cpu_pct_min = a->cpu.min;
    o->has_mem = a->mem.n > 0;
    o->mem_used_pct_avg = stat_avg(&a->mem);
    o->mem_used_pct_max = a->mem.max;
    o->mem_used_pct_min = a->mem.min;
    o->has_disk = a->disk.n > 0;
    o->disk_used_pct = a->disk.last;
    o->disk_used_pct_max = a->disk.max;
    o->disk_used_pct_min = a->disk.min;
    o->disk_used_bytes = a->disk_used_bytes;
    o->disk_total_bytes = a->disk_total_bytes;
    o->has_gpu = a->gpu_util.n > 0;
    o->gpu_util_pct_avg = stat_avg(&a->gpu_util);
    o->gpu_util_pct_max = a->gpu_util.max;
    o->gpu_util_pct_min = a->gpu_util.min;
    o->gpu_mem_used_mb = a->gpu_mem.last;
    o->gpu_mem_used_mb_max = a->gpu_mem.max;
    o->gpu_mem_used_mb_min = a->gpu_mem.min;
    o->gpu_mem_total_mb = a->gpu_mem_total;
}

static void fill_gpu_row(const struct server_acc *a, const struct gpu_acc *g,
                         struct agg_gpu_hourly_row *o)
{
    memset(o, 0, sizeof(*o));
    o->server_id = a->server_id;
    o->ts = a->bucket;
    o->gpu_index = g->index;
    mon_strlcpy(o->uuid, g->uuid, sizeof(o->uuid));
    mon_strlcpy(o->name, g->name, sizeof(o->name));
    o->samples = g->samples;
    o->has_util = g->util.n > 0;
    o->util_pct_avg = stat_avg(&g->util);
    o->util_pct_max = g->util.max;
    o->has_mem = g->mem.n > 0;
    o->mem_used_mb_avg = stat_avg(&g->mem);
    o->mem_used_mb_max = g->mem.max;
    o->mem_total_mb = g->mem_total;
    o->has_temp = g->temp.n > 0;
    o->temp_c_max = g->temp.max;
    o->has_power = g->power.n > 0;
    o->power_w_avg = stat_avg(&g->power);
}

static void fill_disk_row(const struct server_acc *a, const struct disk_acc *d,
                          struct agg_disk_hourly_row *o)
{
    memset(o, 0, sizeof(*o));
    o->server_id = a->server_id;
    o->ts = a->bucket;
    mon_strlcpy(o->mount, d->mount, sizeof(o->mount));
    o->samples = d->samples;
    o->used_pct_avg = stat_avg(&d->pct);
    o->used_pct_max = d->pct.max;
    o->used_pct = d->pct.last;
    o->used_bytes = d->used_bytes;
    o->total_bytes = d->total_bytes;
}

/* Lock held. Sends the rows of the given accumulators as one writer job. */
static int write_accs(struct agg_rollup *r, struct server_acc **accs, size_t n)
{
    struct agg_hourly_row *rows = NULL;
    struct agg_gpu_hourly_row *gpus = NULL;
    struct agg_disk_hourly_row *disks = NULL;
    size_t n_gpus = 0, n_disks = 0, ig = 0, id = 0;

    if (n == 0 || !r->writer)
        return MON_OK;
    for (size_t i = 0; i < n; i++) {
        n_gpus += accs[i]->n_gpus;
        n_disks += accs[i]->n_disks;
    }
    rows = calloc(n, sizeof(*rows));
    gpus = n_gpus ? calloc(n_gpus, sizeof(*gpus)) : NULL;
    disks = n_disks ? calloc(n_disks, sizeof(*disks)) : NULL;
    if (!rows || (n_gpus && !gpus) || (n_disks && !disks)) {
        free(rows);
        free(gpus);
        free(disks);
        return MON_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct server_acc *a = accs[i];
        fill_row(a, &rows[i]);
        for (size_t k = 0; k < a->n_gpus; k++)
            fill_gpu_row(a, &a->gpus[k], &gpus[ig++]);
        for (size_t k = 0; k < a->n_disks; k++)
            fill_disk_row(a, &a->disks[k], &disks[id++]);
    }
    return agg_writer_hourly(r->writer, rows, n, gpus, n_gpus, disks, n_disks);
}

static struct server_acc *find(struct agg_rollup *r, int64_t server_id, size_t *ret_pos)
{
    for (size_t i = 0; i < r->n_servers; i++) {
        if (r->servers[i]->server_id == server_id) {
            if (ret_pos)
                *ret_pos = i;
            return r->servers[i];
        }
    }
    return NULL;
}

struct agg_rollup *agg_rollup_new(int64_t bucket_s, struct agg_store *reader,
                                  struct agg_writer *writer)
{
    struct agg_rollup *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    r->bucket_s = bucket_s > 0 ? bucket_s : 3600;
    r->reader = reader;
    r->writer = writer;
    return r;
}

static void acc_free(struct server_acc *a)
{
    if (!a)
        return;
    free(a->gpus);
    free(a->disks);
    free(a);
}

void agg_rollup_free(struct agg_rollup *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_servers; i++)
        acc_free(r->servers[i]);
    free(r->servers);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int64_t agg_rollup_bucket_s(const struct agg_rollup *r)
{
    return r->bucket_s;
}

int64_t agg_rollup_bucket_of(const struct agg_rollup *r, int64_t utc_ms)
{
    int64_t s = utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000);
    int64_t q = s / r->bucket_s;
    if (s % r->bucket_s < 0)
        q--;
    return q * r->bucket_s;
}

int agg_rollup_server_add(struct agg_rollup *r, int64_t server_id)
{
    struct server_acc *a, **grown;
    int rc = MON_OK;
    pthread_mutex_lock(&r->lock);
    if (find(r, server_id, NULL))
        goto out;
    if (r->n_servers == r->cap_servers) {
        size_t cap = r->cap_servers ? r->cap_servers * 2 : 8;
        grown = realloc(r->servers, cap * sizeof(*grown));
        if (!grown) {
            rc = MON_ENOMEM;
            goto out;
        }
        r->servers = grown;
        r->cap_servers = cap;
    }
    a = calloc(1, sizeof(*a));
    if (!a) {
        rc = MON_ENOMEM;
        goto out;
    }
    a->server_id = server_id;
    a->bucket = -1;
    r->servers[r->n_servers++] = a;
out:
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void agg_rollup_server_remove(struct agg_rollup *r, int64_t server_id)
{
    size_t pos;
    struct server_acc *a;
    pthread_mutex_lock(&r->lock);
    a = find(r, server_id, &pos);
    if (a) {
        r->servers[pos] = r->servers[--r->n_servers];
        acc_free(a);
    }
    pthread_mutex_unlock(&r->lock);
}

int agg_rollup_add(struct agg_rollup *r, int64_t server_id, const struct agg_sample *s,
                   int64_t recv_utc_ms)
{
    int64_t bucket = agg_rollup_bucket_of(r, recv_utc_ms);
    struct server_acc *a;
    int rc = MON_OK;

    pthread_mutex_lock(&r->lock);
    a = find(r, server_id, NULL);
    if (!a) {
        rc = MON_ENOENT;
        goto out;
    }
    if (a->bucket != bucket) {
        /* The previous bucket is complete: write it now, unless that would overwrite
         * stored samples that could never be read back. */
        if (a->bucket >= 0 && a->dirty) {
            if (seed(r, a))
                rc = write_accs(r, &a, 1);
            else
                r->stats.lost_buckets++;
        }
        acc_reset(a, bucket);
    }
    seed(r, a); /* a failure is retried at the next sample or checkpoint */
    acc_add_sample(a, s);
out:
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int agg_rollup_checkpoint(struct agg_rollup *r)
{
    struct server_acc **batch;
    size_t n = 0;
    int rc;

    pthread_mutex_lock(&r->lock);
    batch = r->n_servers ? calloc(r->n_servers, sizeof(*batch)) : NULL;
    for (size_t i = 0; batch && i < r->n_servers; i++) {
        struct server_acc *a = r->servers[i];
        if (a->dirty && a->samples > 0 && seed(r, a))
            batch[n++] = a;
    }
    rc = write_accs(r, batch, n);
    if (rc == MON_OK) {
        for (size_t i = 0; i < n; i++)
            batch[i]->dirty = false;
        rc = (int)n;
    }
    pthread_mutex_unlock(&r->lock);
    free(batch);
    return rc;
}

int agg_rollup_current(struct agg_rollup *r, int64_t server_id, int64_t now_utc_ms,
                       struct agg_hourly_row *ret)
{
    struct server_acc *a;
    int rc = MON_ENOENT;
    pthread_mutex_lock(&r->lock);
    a = find(r, server_id, NULL);
    if (a && a->bucket == agg_rollup_bucket_of(r, now_utc_ms) && a->samples > 0) {
        fill_row(a, ret);
        rc = MON_OK;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void agg_rollup_get_stats(struct agg_rollup *r, struct agg_rollup_stats *ret)
{
    pthread_mutex_lock(&r->lock);
    *ret = r->stats;
    pthread_mutex_unlock(&r->lock);
}
