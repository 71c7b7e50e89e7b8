/* SPDX-License-Identifier: MIT */
/* Per-server accumulators of the current history bucket (one row per server and hour): avg/min/max
 * of the 5-s samples, per GPU and per mount, checkpointed to the writer and resumed after restart.
 * Adding a sample is O(1) and touches no database; writing and reading stored rows happen in
 * agg_rollup_flush / agg_rollup_checkpoint / agg_rollup_current, on their callers' threads. */
#ifndef MON_AGGREGATOR_ROLLUP_H
#define MON_AGGREGATOR_ROLLUP_H

/* Ownership: the rollup copies what it keeps from samples; rows handed to the writer become the
 * writer's; agg_rollup_current writes into caller storage. */

#include "aggregator/model.h"

#include <stddef.h>
#include <stdint.h>

struct agg_rollup;
struct agg_sample;
struct agg_store;
struct agg_writer;

struct agg_rollup_stats {
    uint64_t seed_failures; /* stored-row reads that failed (retried at the next sample) */
    uint64_t lost_buckets;  /* finished buckets dropped because they could never be seeded */
};

/* Creates an empty rollup. bucket_s > 0. reader (may be NULL: nothing to resume) is used to
 * read stored rows of a bucket touched for the first time; writer receives the rows. Both are
 * borrowed (they outlive the rollup). Returns MON_OK with the rollup in *ret_rollup (owned by
 * the caller: agg_rollup_free) or MON_ENOMEM. All functions are thread-safe. */
int agg_rollup_new(int64_t bucket_s, struct agg_store *reader, struct agg_writer *writer,
                   struct agg_rollup **ret_rollup);

/* Frees every accumulator without writing. Accepts NULL. */
void agg_rollup_free(struct agg_rollup *r);

/* Bucket start for a UTC time in ms: floor(utc_s / bucket_s) * bucket_s. */
int64_t agg_rollup_bucket_of(const struct agg_rollup *r, int64_t utc_ms);
int64_t agg_rollup_bucket_s(const struct agg_rollup *r);

/* Registers a server (idempotent). Samples for unregistered servers are ignored, so a sample
 * that races with a deletion creates nothing. MON_OK or MON_ENOMEM. */
int agg_rollup_server_add(struct agg_rollup *r, int64_t server_id);

/* Frees the server's accumulators (nothing is written: its history is being deleted). */
void agg_rollup_server_remove(struct agg_rollup *r, int64_t server_id);

/* Adds one sample received at recv_utc_ms (the aggregator's clock). A sample for another
 * bucket first moves the finished one to the staging list that agg_rollup_flush writes.
 * MON_OK, MON_ENOENT (server not registered) or MON_ENOMEM. */
int agg_rollup_add(struct agg_rollup *r, int64_t server_id, const struct agg_sample *s,
                   int64_t recv_utc_ms);

/* Writes the finished buckets staged since the last call, as one writer job, after merging
 * the stored rows of those that continued a stored bucket (a bucket whose stored row cannot be
 * read is retried at later calls and counted lost after 10). Returns the number written or
 * MON_ENOMEM. Call about once a second (engine housekeeping). */
int agg_rollup_flush(struct agg_rollup *r);

/* agg_rollup_flush, then reads the stored rows of buckets resumed from an earlier run, then
 * sends the full current rows of every server with new samples since the last checkpoint (and
 * whose bucket is seeded) to the writer as one job. The lock is held for at most 1,024 servers
 * at a time. Returns the number of servers written or MON_ENOMEM. */
int agg_rollup_checkpoint(struct agg_rollup *r);

/* The in-memory row of the server's bucket containing now (merged first with the stored row
 * when this run resumed that bucket). MON_ENOENT when there is none. */
int agg_rollup_current(struct agg_rollup *r, int64_t server_id, int64_t now_utc_ms,
                       struct agg_hourly_row *ret);

void agg_rollup_get_stats(struct agg_rollup *r, struct agg_rollup_stats *ret);

#endif
