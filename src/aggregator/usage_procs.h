/* SPDX-License-Identifier: MIT */
/* The processes one user's hour has counted (usage.c): each process (pid and start time) once
 * per hour, in bounded memory. */
#ifndef MON_AGGREGATOR_USAGE_PROCS_H
#define MON_AGGREGATOR_USAGE_PROCS_H

/* Ownership and threads: a set is its owner's storage (agg_usage_procs_clear frees its
 * entries); no locking: usage.c calls it under its lock. */

#include <stdbool.h>
#include <stdint.h>

struct agg_gpu_proc;

/* Processes remembered beyond those of the current poll: a job that starts a new process every
 * few seconds must not grow the hour's memory without bound. */
#define AGG_USAGE_PROCS_KEEP 32

/* A process, told apart from a later one with the same pid by its start time: 16 bytes. */
struct agg_usage_proc {
    uint64_t id;      /* pid and start time hashed */
    uint32_t seen;    /* the poll that last listed it */
    uint16_t started; /* the start time relative to the hour (what a resumed row is compared
                         with): 0 unknown or before the hour, UINT16_MAX beyond */
    bool counted;     /* added to the row's processes (false: a resumed row already had it) */
};

/* At most AGG_USAGE_PROCS_KEEP entries, or twice as many as one poll listed; beyond that a new
 * process takes the place of the one gone longest (which is counted again if it comes back
 * after AGG_USAGE_PROCS_KEEP others). */
struct agg_usage_procs {
    struct agg_usage_proc *v;
    uint32_t n, cap;
};

/* Notes p, listed by poll number poll (numbered per server) of the hour starting at hour_s
 * (UTC s). Returns true when p is new this hour (then it is kept with counted), false when it
 * was already there or there is no memory for it. */
bool agg_usage_procs_add(struct agg_usage_procs *s, const struct agg_gpu_proc *p, uint32_t poll,
                         int64_t hour_s, bool counted);

/* A stored row written at last_seen (UTC s) counted the processes that had started by then:
 * those still counted here are marked not counted. Returns how many. */
uint32_t agg_usage_procs_uncount(struct agg_usage_procs *s, int64_t last_seen, int64_t hour_s);

/* Frees the entries (the set is empty and reusable). */
void agg_usage_procs_clear(struct agg_usage_procs *s);

#endif
