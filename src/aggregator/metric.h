/* SPDX-License-Identifier: MIT */
/* The history metrics in one table: each metric's API name, the samples_hourly column of each
 * aggregate and how to read its value from a sample (live state, /recent) and from an hourly
 * row (/timeseries). The API's parameter check, the state JSON, the live ring and the store's
 * timeseries queries all go through it; a new metric is one entry here plus its columns in
 * each backend's schema. */
#ifndef MON_AGGREGATOR_METRIC_H
#define MON_AGGREGATOR_METRIC_H

/* Ownership and threads: metric descriptions and names are static, read-only tables;
 * agg_metric_names writes into caller storage. Safe from any thread. */

#include <stdbool.h>
#include <stddef.h>

struct agg_sample;
struct agg_hourly_row;

enum agg_metric_id {
    AGG_METRIC_CPU_PCT,
    AGG_METRIC_MEM_USED_PCT,
    AGG_METRIC_DISK_USED_PCT,
    AGG_METRIC_GPU_UTIL_PCT,
    AGG_METRIC_GPU_MEM_USED_MB,
    AGG_METRIC_COUNT
};

/* The aggregates of a history bucket (?agg= of /timeseries). */
enum agg_metric_agg { AGG_METRIC_AVG, AGG_METRIC_MAX, AGG_METRIC_MIN, AGG_METRIC_AGG_COUNT };

struct agg_metric {
    const char *name; /* API and JSON name */
    /* samples_hourly column holding each aggregate (index: enum agg_metric_agg) */
    const char *columns[AGG_METRIC_AGG_COUNT];
    /* offsetof the has_* flag and of each aggregate's double in struct agg_hourly_row */
    size_t row_has;
    size_t row_values[AGG_METRIC_AGG_COUNT];
    /* The live value of a sample; false when the sample has none (no GPU, no disk). */
    bool (*from_sample)(const struct agg_sample *s, double *ret);
    enum agg_metric_id id;
    int decimals; /* digits of the live value in the state JSON's "latest" */
};

/* Every metric, indexed by enum agg_metric_id, in the order the API lists them. */
extern const struct agg_metric agg_metrics[AGG_METRIC_COUNT];

/* The metric named name, or NULL (also for NULL). */
const struct agg_metric *agg_metric_find(const char *name);

/* The aggregate named name ("avg", "max", "min"): MON_OK with *ret set, or MON_EINVAL (also
 * for NULL). */
int agg_metric_agg_find(const char *name, enum agg_metric_agg *ret);

/* The static name of an aggregate ("avg", "max", "min"). */
const char *agg_metric_agg_name(enum agg_metric_agg agg);

/* The value of one aggregate of a metric in an hourly row (as the store would return it);
 * false when the row has no value for it. */
bool agg_metric_from_row(const struct agg_metric *m, enum agg_metric_agg agg,
                         const struct agg_hourly_row *row, double *ret);

/* Writes "cpu_pct, mem_used_pct, ..." (every metric name, for error messages) into buf,
 * truncated to size. */
void agg_metric_names(char *buf, size_t size);

#endif
