/* SPDX-License-Identifier: MIT */
/* The last hour of one server's chart values (cpu, memory, disk, GPU utilisation, GPU memory)
 * at poll resolution, in 10 bytes a point: percentages in tenths (what the API shows), GPU
 * memory as a float without its 4 lowest mantissa bits (exact to 1 TiB in whole MiB), time as
 * seconds since the previous point (12 bits, signed). */
#ifndef MON_AGGREGATOR_RING_H
#define MON_AGGREGATOR_RING_H

/* Ownership and threads: the ring is caller storage (agg_ring_done frees its points). No
 * locking: the live state calls it under its own lock. */

#include "aggregator/metric.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 80 bits: 0-11 seconds since the previous point (signed), 12-21 cpu, 22-31 memory, 32-41
 * disk, 42-51 GPU utilisation (tenths of a percent, 1023: absent), 52-79 GPU memory. */
struct agg_ring_point {
    uint16_t w[5];
};

struct agg_ring {
    struct agg_ring_point *pts;
    int64_t oldest_s, newest_s; /* UTC seconds of the oldest and newest point */
    uint16_t head, len, cap;
};

struct agg_ring_values {
    bool has[AGG_METRIC_COUNT];
    double v[AGG_METRIC_COUNT];
};

/* Allocates room for cap points (≤ 65535) and writes every byte of it, so that the memory a
 * full ring takes is resident from the start (RSS does not creep up over the first hour).
 * MON_OK or MON_ENOMEM. */
int agg_ring_init(struct agg_ring *r, size_t cap);

/* Frees the points. Accepts a ring that was never initialised (zeroed). */
void agg_ring_done(struct agg_ring *r);

/* Appends a point at utc_s, dropping the oldest when full. A gap longer than a time step can
 * hold gets one or two empty points in between; a jump of an hour or more forward, or of more
 * than 34 minutes back (a wall-clock change), starts the ring afresh. */
void agg_ring_push(struct agg_ring *r, int64_t utc_s, const struct agg_ring_values *v);

/* Walks the points oldest first: start with i = 0 and t = 0, call while it returns true. */
bool agg_ring_next(const struct agg_ring *r, size_t *i, int64_t *t, struct agg_ring_values *v);

#endif
