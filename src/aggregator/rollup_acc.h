/* SPDX-License-Identifier: MIT */
/* Internals of the rollup: one server's accumulators of the current bucket (server row, per
 * GPU, per mount), fed by samples, merged with stored rows and turned back into rows. Not
 * thread-safe: rollup.c holds its lock around them. */
#ifndef MON_AGGREGATOR_ROLLUP_ACC_H
#define MON_AGGREGATOR_ROLLUP_ACC_H

/* Ownership: an accumulator is the rollup's storage (agg_rollup_acc_done frees its GPU and mount
 * arrays); rows are written into caller storage. */

#include "aggregator/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agg_sample;

/* Count, sum, min, max and last value of one metric within the bucket. */
struct agg_stat_acc {
    int64_t n;
    double sum, min, max, last;
};

/* Texts are malloc'd to their length (a fixed 96 or 256 bytes each, times GPUs and mounts,
 * was a tenth of the memory a server takes). */
struct agg_gpu_acc {
    int index;
    char *uuid, *name; /* NULL: not known yet */
    int64_t samples;
    struct agg_stat_acc util, mem, temp, power;
    bool has_total;
    double mem_total;
};

struct agg_disk_acc {
    char *mount;
    int64_t samples;
    struct agg_stat_acc pct;
    double used_bytes, total_bytes;
};

struct agg_rollup_acc {
    int64_t server_id;
    int64_t bucket;     /* -1: nothing accumulated yet */
    int64_t max_bucket; /* the latest bucket this run accumulated, -1 none */
    bool seeded;        /* the stored row of this bucket has been merged (or cannot exist) */
    bool dirty;         /* samples since the last write */
    int seed_attempts;  /* failed reads of the stored row */
    int64_t samples;
    struct agg_stat_acc cpu, mem, disk, gpu_util, gpu_mem;
    double disk_used_bytes, disk_total_bytes, gpu_mem_total;
    struct agg_gpu_acc *gpus;
    size_t n_gpus;
    struct agg_disk_acc *disks;
    size_t n_disks;
};

/* Empties a for bucket, freeing its GPU and mount accumulators (the server id stays). */
void agg_rollup_acc_reset(struct agg_rollup_acc *a, int64_t bucket);

/* Frees a's GPU and mount accumulators (not a). */
void agg_rollup_acc_done(struct agg_rollup_acc *a);

/* Adds one sample to the bucket. */
void agg_rollup_acc_add(struct agg_rollup_acc *a, const struct agg_sample *s);

/* Merges the stored rows of a's bucket (written by an earlier run) into a. */
void agg_rollup_acc_merge(struct agg_rollup_acc *a, const struct agg_hourly_row *row,
                          const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                          const struct agg_disk_hourly_row *disks, size_t n_disks);

/* The rows of a: the server row into *row, its GPU and mount rows into gpus and disks (room
 * for a->n_gpus and a->n_disks entries; NULL: not wanted). */
void agg_rollup_acc_rows(const struct agg_rollup_acc *a, struct agg_hourly_row *row,
                         struct agg_gpu_hourly_row *gpus, struct agg_disk_hourly_row *disks);

#endif
