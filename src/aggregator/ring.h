/* SPDX-License-Identifier: MIT */
/* The last hour of one server's chart values (cpu, memory, disk, GPU utilisation, GPU memory)
 * at poll resolution, in 8 bytes a point: percentages in tenths (what the API shows), GPU
 * memory in whole MiB (exact to 2 TiB, within 1 GiB beyond), and the time as a 2-bit step
 * relative to the poll interval; other steps take one extra time point. */
#ifndef MON_AGGREGATOR_RING_H
#define MON_AGGREGATOR_RING_H

/* Ownership and threads: the ring is caller storage (agg_ring_done frees its points). No
 * locking: the live state calls it under its own lock. */

#include "aggregator/metric.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 64 bits. Bits 0-1: the step since the previous point, 0..2 meaning step_s - 1, step_s and
 * step_s + 1; then bits 2-41 four percentages of 10 bits (tenths, 1023: absent) and 42-63 GPU
 * memory. Step 3 marks a time point without values: bit 2 says whether walks show it (as an
 * empty point, the old gap filler) and bits 3-63 hold its signed step in seconds. */
struct agg_ring_point {
    uint64_t bits;
};

struct agg_ring {
    struct agg_ring_point *pts;
    int64_t oldest_s, newest_s; /* UTC seconds of the oldest and newest point */
    uint16_t head, len, cap;
    uint16_t step_s; /* the usual step between points: the poll interval in whole seconds */
};

struct agg_ring_values {
    bool has[AGG_METRIC_COUNT];
    double v[AGG_METRIC_COUNT];
};

/* Allocates room for cap points (≤ 65535) taken step_ms apart (the poll interval) and writes
 * every byte of it, so that the memory a full ring takes is resident from the start (RSS does
 * not creep up over the first hour). MON_OK, MON_EINVAL or MON_ENOMEM. */
int agg_ring_init(struct agg_ring *r, size_t cap, int64_t step_ms);

/* Frees the points. Accepts a ring that was never initialised (zeroed). */
void agg_ring_done(struct agg_ring *r);

/* Appends a point at utc_s, dropping the oldest when full. A step other than the interval ± 1 s
 * takes a time point before the value point; a gap longer than 2047 s shows one empty point at
 * its 2047th second (as charts break lines there); a jump of an hour or more forward, or of more
 * than 34 minutes back (a wall-clock change), starts the ring afresh. */
void agg_ring_push(struct agg_ring *r, int64_t utc_s, const struct agg_ring_values *v);

/* Walks the shown points oldest first: start with i = 0 and t = 0, call while it returns
 * true. */
bool agg_ring_next(const struct agg_ring *r, size_t *i, int64_t *t, struct agg_ring_values *v);

#endif
