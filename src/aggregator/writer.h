/* SPDX-License-Identifier: MIT */
/* The aggregator's asynchronous database writer: one thread owning a store connection and an
 * ordered queue of write jobs, retried with backoff while the database is locked or full; runs
 * of small jobs share one transaction (a batch). */
#ifndef MON_AGGREGATOR_WRITER_H
#define MON_AGGREGATOR_WRITER_H

/* Ownership and threads: the starter owns the writer (agg_writer_stop frees it); the writer
 * owns its thread and every queued job, and is the only user of opt.store while it runs. The
 * enqueue, flush and status functions may be called from any thread; exec and tx run on the
 * writer's thread only. */

#include "aggregator/model.h"
#include "common/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agg_store;
struct agg_writer;

enum agg_job_kind {
    AGG_JOB_EVENT,
    AGG_JOB_SERVICE_STATUS,
    AGG_JOB_UNIT_STATE,
    AGG_JOB_GPU_STATE,
    AGG_JOB_SERVER_SEEN,
    AGG_JOB_HOURLY,
    AGG_JOB_RETENTION,
    AGG_JOB_VACUUM,
    AGG_JOB_SERVER_PIN,
    AGG_JOB_USAGE,
    AGG_JOB_USAGE_RETENTION,
};

/* One queued write. Public so that tests can execute jobs with a fake (see exec below). */
struct agg_write_job {
    struct agg_write_job *next;
    enum agg_job_kind kind;
    int64_t server_id;
    union {
        struct agg_event event;
        struct {
            int64_t ts;
            char unit[256];
            char active_state[32];
            char sub_state[32];
        } status;
        struct agg_unit_state unit;
        struct agg_gpu_state_row gpu;
        struct {
            int64_t last_seen_at; /* UTC s, -1 leaves it */
            int online;           /* -1 leaves it */
        } seen;
        struct {
            struct agg_hourly_row *rows; /* owned by the job */
            size_t n;
            struct agg_gpu_hourly_row *gpus;
            size_t n_gpus;
            struct agg_disk_hourly_row *disks;
            size_t n_disks;
        } hourly;
        struct {
            int64_t cutoff; /* UTC s */
        } retention;
        char pin[MON_TLS_PIN_LEN]; /* trust on first use: stored while the server has none */
        struct {
            struct agg_usage_row *rows; /* owned by the job */
            size_t n;
        } usage;
    } u;
};

/* Executes one job; returns a MON_E* code. MON_EBUSY and MON_EIO are retried. On failure it
 * may write the database's reason into why ("database or disk is full"): the writer's status
 * (and so /api/health) shows it beside what failed. */
typedef int (*agg_writer_exec_fn)(void *ctx, const struct agg_write_job *job, char *why,
                                  size_t why_len);

/* Jobs of these kinds are single-row writes that open no transaction of their own: a run of
 * them in the queue is executed as one batch, inside one transaction (see tx below). Events,
 * service status rows, unit and GPU states, last seen and pins; the hourly, usage, retention
 * and vacuum jobs always run alone. */
bool agg_writer_job_batchable(enum agg_job_kind kind);

enum agg_writer_tx {
    AGG_WRITER_TX_BEGIN,
    AGG_WRITER_TX_COMMIT,
    AGG_WRITER_TX_ROLLBACK, /* its result is ignored; nothing to do when none is open */
};

/* Begins, commits or rolls back the transaction around a batch; returns and explains as exec.
 * A batch is a transaction: BEGIN, its jobs in order, COMMIT. When BEGIN fails, the head job
 * runs alone instead; when a job or the COMMIT fails, the batch is rolled back and its jobs
 * run again one by one, each in its own transaction with the retries and the counting of a
 * lone job, so a failure affects only the job it belongs to. MON_EUNSUPPORTED from BEGIN ends
 * batching for good. */
typedef int (*agg_writer_tx_fn)(void *ctx, enum agg_writer_tx op, char *why, size_t why_len);

struct agg_writer_options {
    struct agg_store *store; /* used by the default exec; not owned (close after stop). The
                                writer is its only user, so its agg_store_last_error is the
                                reason of the writer's own failures. */
    size_t max_jobs;         /* 0: 100000 */
    int64_t backoff_min_ms;  /* 0: 100 */
    int64_t backoff_max_ms;  /* 0: 5000 */
    agg_writer_exec_fn exec; /* NULL: write to store (tests pass a fake) */
    void *exec_ctx;
    agg_writer_tx_fn tx; /* NULL: the store's transactions when exec is NULL, else no
                            batches (each job alone); called with exec_ctx */
    size_t batch_max;    /* most jobs in one batch; 0: 256. A batch also takes no new job
                            after 50 ms. */
};

struct agg_writer_status {
    size_t pending;          /* queued plus the one being written */
    uint64_t written;        /* jobs done */
    uint64_t transactions;   /* committed: one per batch, one per job written alone */
    uint64_t dropped;        /* jobs dropped because the queue overflowed or at stop */
    uint64_t rejected;       /* jobs the store refused for good (e.g. a deleted server) */
    bool db_ok;              /* false while a write is being retried */
    char last_error[320];    /* what failed and the database's reason; empty when none yet */
    int64_t last_error_at;   /* UTC s, -1 never */
    int64_t last_success_at; /* UTC s, -1 never */
    int64_t last_retention_deleted;
};

/* Starts the writer thread. Returns MON_OK, MON_ENOMEM or MON_ESYS. */
int agg_writer_start(const struct agg_writer_options *opt, struct agg_writer **ret);

/* Stops accepting jobs, writes what is queued for at most drain_ms (retries included), drops
 * the rest (counted), joins the thread and frees. Accepts NULL. */
void agg_writer_stop(struct agg_writer *w, int64_t drain_ms);

/* Waits until every job queued so far has been executed (or given up). MON_ETIMEDOUT. */
int agg_writer_flush(struct agg_writer *w, int64_t timeout_ms);

/* Copies the counters for /api/health. Thread-safe. */
void agg_writer_get_status(struct agg_writer *w, struct agg_writer_status *ret);

/* Enqueue functions: thread-safe; return MON_OK, MON_ENOMEM or MON_EINVAL after stop began.
 * Texts are copied (truncated to the column sizes). */
int agg_writer_event(struct agg_writer *w, int64_t server_id, const char *server_name, int64_t ts,
                     const char *type, const char *message);
int agg_writer_service_status(struct agg_writer *w, int64_t server_id, int64_t ts, const char *unit,
                              const char *active_state, const char *sub_state);
int agg_writer_unit_state(struct agg_writer *w, int64_t server_id, const struct agg_unit_state *u);
int agg_writer_gpu_state(struct agg_writer *w, int64_t server_id,
                         const struct agg_gpu_state_row *g);
int agg_writer_server_pin(struct agg_writer *w, int64_t server_id, const char *pin);
int agg_writer_server_seen(struct agg_writer *w, int64_t server_id, int64_t last_seen_at,
                           int online);
/* Takes ownership of the three arrays (malloc'd; freed even on failure). */
int agg_writer_hourly(struct agg_writer *w, struct agg_hourly_row *rows, size_t n,
                      struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                      struct agg_disk_hourly_row *disks, size_t n_disks);
int agg_writer_retention(struct agg_writer *w, int64_t cutoff);
/* GPU usage checkpoint (agg_store_usage_upsert); takes ownership of rows (freed on failure). */
int agg_writer_usage(struct agg_writer *w, struct agg_usage_row *rows, size_t n);
/* Deletes GPU usage older than cutoff (history.usage_retention_days). */
int agg_writer_usage_retention(struct agg_writer *w, int64_t cutoff);
int agg_writer_vacuum(struct agg_writer *w);

#endif
