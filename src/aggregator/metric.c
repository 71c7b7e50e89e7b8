/* SPDX-License-Identifier: MIT */
/* The history metric table and its lookups (see metric.h). */
#include "aggregator/metric.h"

#include "aggregator/model.h"
#include "aggregator/sample.h"
#include "common/err.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const char *const agg_names[AGG_METRIC_AGG_COUNT] = {"avg", "max", "min"};

static bool sample_cpu(const struct agg_sample *s, double *ret)
{
    *ret = s->cpu_pct;
    return s->has_cpu;
}

static bool sample_mem(const struct agg_sample *s, double *ret)
{
    *ret = s->mem_used_pct;
    return s->has_mem;
}

/* The first mount with a value: the one the overview shows. */
static bool sample_disk(const struct agg_sample *s, double *ret)
{
    for (size_t i = 0; i < s->n_disks; i++) {
        if (s->disks[i].has_value) {
            *ret = s->disks[i].used_pct;
            return true;
        }
    }
    return false;
}

/* Plan §3.4: the busiest GPU. */
static bool sample_gpu_util(const struct agg_sample *s, double *ret)
{
    *ret = s->gpu_util_max;
    return s->has_gpu;
}

/* Plan §3.4: the memory of all GPUs together. */
static bool sample_gpu_mem(const struct agg_sample *s, double *ret)
{
    *ret = s->gpu_mem_used_mb;
    return s->has_gpu;
}

#define ROW(field) offsetof(struct agg_hourly_row, field)

/* disk_used_pct and gpu_mem_used_mb keep the bucket's last value as their "avg" (a
 * snapshot of the hour's end), under the column names of docs/api.md. */
const struct agg_metric agg_metrics[AGG_METRIC_COUNT] = {
    {.id = AGG_METRIC_CPU_PCT,
     .name = "cpu_pct",
     .decimals = 1,
     .columns = {"cpu_pct_avg", "cpu_pct_max", "cpu_pct_min"},
     .row_has = ROW(has_cpu),
     .row_values = {ROW(cpu_pct_avg), ROW(cpu_pct_max), ROW(cpu_pct_min)},
     .from_sample = sample_cpu},
    {.id = AGG_METRIC_MEM_USED_PCT,
     .name = "mem_used_pct",
     .decimals = 1,
     .columns = {"mem_used_pct_avg", "mem_used_pct_max", "mem_used_pct_min"},
     .row_has = ROW(has_mem),
     .row_values = {ROW(mem_used_pct_avg), ROW(mem_used_pct_max), ROW(mem_used_pct_min)},
     .from_sample = sample_mem},
    {.id = AGG_METRIC_DISK_USED_PCT,
     .name = "disk_used_pct",
     .decimals = 1,
     .columns = {"disk_used_pct", "disk_used_pct_max", "disk_used_pct_min"},
     .row_has = ROW(has_disk),
     .row_values = {ROW(disk_used_pct), ROW(disk_used_pct_max), ROW(disk_used_pct_min)},
     .from_sample = sample_disk},
    {.id = AGG_METRIC_GPU_UTIL_PCT,
     .name = "gpu_util_pct",
     .decimals = 1,
     .columns = {"gpu_util_pct_avg", "gpu_util_pct_max", "gpu_util_pct_min"},
     .row_has = ROW(has_gpu),
     .row_values = {ROW(gpu_util_pct_avg), ROW(gpu_util_pct_max), ROW(gpu_util_pct_min)},
     .from_sample = sample_gpu_util},
    {.id = AGG_METRIC_GPU_MEM_USED_MB,
     .name = "gpu_mem_used_mb",
     .decimals = 0,
     .columns = {"gpu_mem_used_mb", "gpu_mem_used_mb_max", "gpu_mem_used_mb_min"},
     .row_has = ROW(has_gpu),
     .row_values = {ROW(gpu_mem_used_mb), ROW(gpu_mem_used_mb_max), ROW(gpu_mem_used_mb_min)},
     .from_sample = sample_gpu_mem},
};

const struct agg_metric *agg_metric_find(const char *name)
{
    for (size_t i = 0; name && i < AGG_METRIC_COUNT; i++)
        if (strcmp(agg_metrics[i].name, name) == 0)
            return &agg_metrics[i];
    return NULL;
}

int agg_metric_agg_find(const char *name, enum agg_metric_agg *ret)
{
    for (int i = 0; name && i < AGG_METRIC_AGG_COUNT; i++) {
        if (strcmp(agg_names[i], name) == 0) {
            *ret = (enum agg_metric_agg)i;
            return MON_OK;
        }
    }
    return MON_EINVAL;
}

const char *agg_metric_agg_name(enum agg_metric_agg agg)
{
    return agg >= 0 && agg < AGG_METRIC_AGG_COUNT ? agg_names[agg] : "";
}

bool agg_metric_from_row(const struct agg_metric *m, enum agg_metric_agg agg,
                         const struct agg_hourly_row *row, double *ret)
{
    const char *base = (const char *)row;
    bool has;
    double v;

    if (agg < 0 || agg >= AGG_METRIC_AGG_COUNT)
        return false;
    memcpy(&has, base + m->row_has, sizeof(has));
    if (!has)
        return false;
    memcpy(&v, base + m->row_values[agg], sizeof(v));
    *ret = v;
    return true;
}

void agg_metric_names(char *buf, size_t size)
{
    size_t used = 0;
    if (!size)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < AGG_METRIC_COUNT && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", agg_metrics[i].name);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}
