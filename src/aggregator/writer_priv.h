/* SPDX-License-Identifier: MIT */
/* Internals of the database writer shared by writer.c (the queue and its enqueue functions) and
 * writer_run.c (the thread that executes the jobs); nothing else includes this header. */
#ifndef MON_AGGREGATOR_WRITER_PRIV_H
#define MON_AGGREGATOR_WRITER_PRIV_H

/* Ownership and threads: struct agg_writer is owned by whoever started it (writer.h); its
 * fields below `lock` are only touched with the lock held, except the jobs the thread has
 * taken off the queue (`active` counts them), which only the thread touches. */

#include "aggregator/writer.h"
#include "common/os/cond.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the log has been told, so that a failure that lasts (a full disk retried every 5 s, a
 * flood of refused writes) gives one line a minute, not one per attempt. Under the lock. */
struct writer_log {
    int64_t failing_since; /* monotonic ms of the first failed attempt of a run; 0: none */
    uint64_t attempts;     /* failed attempts in that run */
    int64_t failing_logged;
    uint64_t rejected_unlogged;
    int64_t rejected_logged; /* monotonic ms; 0: never */
    uint64_t dropped_logged; /* st.dropped at the last line about drops */
    int64_t dropped_logged_at;
};

struct agg_writer {
    struct agg_writer_options opt; /* exec, tx, batch_max and the backoffs filled in */
    pthread_t thread;
    pthread_mutex_t lock;
    struct mon_cond wake; /* jobs queued or stop requested */
    struct mon_cond idle; /* jobs finished (flush waits on it) */
    struct agg_write_job *head, *tail;
    size_t n_queued;
    size_t active;  /* jobs the thread holds outside the queue (a batch or one job) */
    bool gathering; /* see GATHER_MS in writer_run.c: new jobs do not wake the thread */
    int flushers;   /* agg_writer_flush callers waiting */
    bool stopping;
    int64_t stop_deadline; /* monotonic ms */
    struct agg_writer_status st;
    struct writer_log log;
};

/* A writer woken from an empty queue lets the jobs of the same moment gather (writer_run.c);
 * push wakes it early once this many are queued. */
#define AGG_WRITER_GATHER_MAX 1024

/* Frees a job and what it owns. Accepts NULL. */
void agg_writer_job_free(struct agg_write_job *j);

/* Lock held. Logs the jobs dropped so far that no line has mentioned yet: at most one line a
 * minute, unless final (at stop). */
void agg_writer_log_dropped_locked(struct agg_writer *w, const char *why, bool final);

/* The thread (writer_run.c): executes the queue until stop. */
void *agg_writer_main(void *arg);

/* The store's exec and tx (writer_run.c), ctx the struct agg_store. */
int agg_writer_store_exec(void *ctx, const struct agg_write_job *j, char *why, size_t why_len);
int agg_writer_store_tx(void *ctx, enum agg_writer_tx op, char *why, size_t why_len);

#endif
