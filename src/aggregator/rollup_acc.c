/* SPDX-License-Identifier: MIT */
/* Accumulators of one history bucket: count, sum, min, max and last value per metric, for the
 * server and per GPU index and mount; merging of stored rows and conversion back to rows. */
#include "aggregator/rollup_acc.h"

#include "aggregator/sample.h"
#include "common/str.h"

#include <stdlib.h>
#include <string.h>

static void stat_add(struct agg_stat_acc *a, double v)
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
static void stat_merge(struct agg_stat_acc *a, int64_t n, double avg, double min, double max,
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

static double stat_avg(const struct agg_stat_acc *a)
{
    return a->n ? a->sum / (double)a->n : 0;
}

void agg_rollup_acc_reset(struct agg_rollup_acc *a, int64_t bucket)
{
    int64_t id = a->server_id, max_bucket = a->max_bucket;
    agg_rollup_acc_done(a);
    memset(a, 0, sizeof(*a));
    a->server_id = id;
    a->bucket = bucket;
    a->max_bucket = bucket > max_bucket ? bucket : max_bucket;
}

void agg_rollup_acc_done(struct agg_rollup_acc *a)
{
    for (size_t i = 0; i < a->n_gpus; i++) {
        free(a->gpus[i].uuid);
        free(a->gpus[i].name);
    }
    for (size_t i = 0; i < a->n_disks; i++)
        free(a->disks[i].mount);
    free(a->gpus);
    free(a->disks);
    a->gpus = NULL;
    a->disks = NULL;
    a->n_gpus = a->n_disks = 0;
}

/* Keeps a copy of text in *dst, allocating only when it changed. */
static void keep_text(char **dst, const char *text)
{
    char *copy;
    if (*dst && strcmp(*dst, text) == 0)
        return;
    copy = strdup(text);
    if (!copy)
        return; /* the old text stays */
    free(*dst);
    *dst = copy;
}

static struct agg_gpu_acc *gpu_slot(struct agg_rollup_acc *a, int index)
{
    struct agg_gpu_acc *g;
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

static struct agg_disk_acc *disk_slot(struct agg_rollup_acc *a, const char *mount)
{
    struct agg_disk_acc *d;
    char *copy;
    for (size_t i = 0; i < a->n_disks; i++)
        if (strcmp(a->disks[i].mount, mount) == 0)
            return &a->disks[i];
    if (a->n_disks >= AGG_MAX_DISKS || !(copy = strdup(mount)))
        return NULL;
    d = realloc(a->disks, (a->n_disks + 1) * sizeof(*d));
    if (!d) {
        free(copy);
        return NULL;
    }
    a->disks = d;
    d = &a->disks[a->n_disks++];
    memset(d, 0, sizeof(*d));
    d->mount = copy;
    return d;
}

static void add_gpus(struct agg_rollup_acc *a, const struct agg_sample *s)
{
    for (size_t i = 0; i < s->n_gpus; i++) {
        const struct agg_gpu *in = &s->gpus[i];
        struct agg_gpu_acc *g = gpu_slot(a, in->index);
        if (!g)
            continue;
        g->samples++;
        if (in->uuid[0])
            keep_text(&g->uuid, in->uuid);
        if (in->name[0])
            keep_text(&g->name, in->name);
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

static void add_disks(struct agg_rollup_acc *a, const struct agg_sample *s)
{
    bool first = true;
    for (size_t i = 0; i < s->n_disks; i++) {
        const struct agg_disk *in = &s->disks[i];
        struct agg_disk_acc *d;
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

void agg_rollup_acc_add(struct agg_rollup_acc *a, const struct agg_sample *s)
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

static void merge_row(struct agg_rollup_acc *a, const struct agg_hourly_row *row)
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

static void merge_gpu_row(struct agg_rollup_acc *a, const struct agg_gpu_hourly_row *row)
{
    struct agg_gpu_acc *g = gpu_slot(a, row->gpu_index);
    int64_t n = row->samples;
    if (!g)
        return;
    if (!g->uuid && row->uuid[0])
        keep_text(&g->uuid, row->uuid);
    if (!g->name && row->name[0])
        keep_text(&g->name, row->name);
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

static void merge_disk_row(struct agg_rollup_acc *a, const struct agg_disk_hourly_row *row)
{
    struct agg_disk_acc *d = disk_slot(a, row->mount);
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

static void fill_row(const struct agg_rollup_acc *a, struct agg_hourly_row *o)
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

static void fill_gpu_row(const struct agg_rollup_acc *a, const struct agg_gpu_acc *g,
                         struct agg_gpu_hourly_row *o)
{
    memset(o, 0, sizeof(*o));
    o->server_id = a->server_id;
    o->ts = a->bucket;
    o->gpu_index = g->index;
    mon_strlcpy(o->uuid, g->uuid ? g->uuid : "", sizeof(o->uuid));
    mon_strlcpy(o->name, g->name ? g->name : "", sizeof(o->name));
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

static void fill_disk_row(const struct agg_rollup_acc *a, const struct agg_disk_acc *d,
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

void agg_rollup_acc_merge(struct agg_rollup_acc *a, const struct agg_hourly_row *row,
                          const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                          const struct agg_disk_hourly_row *disks, size_t n_disks)
{
    merge_row(a, row);
    for (size_t i = 0; i < n_gpus; i++)
        merge_gpu_row(a, &gpus[i]);
    for (size_t i = 0; i < n_disks; i++)
        merge_disk_row(a, &disks[i]);
}

void agg_rollup_acc_rows(const struct agg_rollup_acc *a, struct agg_hourly_row *row,
                         struct agg_gpu_hourly_row *gpus, struct agg_disk_hourly_row *disks)
{
    fill_row(a, row);
    for (size_t k = 0; gpus && k < a->n_gpus; k++)
        fill_gpu_row(a, &a->gpus[k], &gpus[k]);
    for (size_t k = 0; disks && k < a->n_disks; k++)
        fill_disk_row(a, &a->disks[k], &disks[k]);
}
