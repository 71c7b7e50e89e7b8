/* SPDX-License-Identifier: MIT */
/* The state of one GPU from its samples (issue 10): error, free, busy, idle or unknown, since
 * when, and the gpu_error / gpu_recovered / gpu_idle events its changes call for; plus who is on
 * a GPU (users with their process counts and memory). Pure rules: the caller passes the time,
 * keeps the tracking record and persists it; nothing here locks, logs or writes. */
#ifndef MON_AGGREGATOR_GPU_STATE_H
#define MON_AGGREGATOR_GPU_STATE_H

/* Threads: pure functions on caller storage (a track belongs to its server's record, under the
 * live state's lock); names are static. Safe from any thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agg_gpu;
struct agg_gpu_proc;

enum agg_gpu_state {
    AGG_GPU_UNKNOWN, /* server offline or disabled, or no data */
    AGG_GPU_FREE,    /* no processes and memory used <= free_mem_mb */
    AGG_GPU_BUSY,    /* held and utilisation >= busy_util_pct, or held below it for less than
                        idle_after (or its utilisation is unknown) */
    AGG_GPU_IDLE,    /* held with utilisation below busy_util_pct for idle_after or longer */
    AGG_GPU_ERROR,   /* the GPU reported an error or is lost, new uncorrected ECC errors, row
                        remapping pending or failed, or an Xid in the last interval */
    AGG_GPU_STATE_COUNT
};

/* "unknown", "free", "busy", "idle", "error". */
const char *agg_gpu_state_name(enum agg_gpu_state s);

/* The state named name. MON_OK or MON_EINVAL. */
int agg_gpu_state_from_name(const char *name, enum agg_gpu_state *ret);

/* The config section gpu_state plus the poll interval. */
struct agg_gpu_state_config {
    double free_mem_mb;    /* a GPU with no processes and at most this much memory used is free */
    double busy_util_pct;  /* held and at least this busy: busy; below it: on its way to idle */
    int64_t idle_after_ms; /* held below busy_util_pct this long: idle */
    int64_t interval_ms;   /* poll interval: an Xid this recent keeps the GPU in error */
};

/* free_mem_mb 512, busy_util_pct 10, idle_after 30 min, interval 5 s. */
void agg_gpu_state_config_default(struct agg_gpu_state_config *c);

/* Lasting error conditions, as bits: each is reported once when it appears. */
enum {
    AGG_GPU_COND_REPORTED = 1,      /* the agent reported the GPU in error ("GPU is lost") */
    AGG_GPU_COND_REMAP_PENDING = 2, /* a row remapping waits for a GPU reset */
    AGG_GPU_COND_REMAP_FAILED = 4,  /* a row remapping failed */
};

/* What is remembered of one GPU between samples. Persisted (agg_gpu_state_row) whenever a
 * step says so, so that an aggregator restart repeats no event. Times are UTC milliseconds. */
struct agg_gpu_track {
    char uuid[96]; /* "" while the agent gave none */
    int index;
    bool seen;                /* a sample was applied (in this process or before a restart) */
    enum agg_gpu_state state; /* from the last sample */
    int64_t since_ms;         /* when that state began (idle: when utilisation dropped), -1 */
    int64_t low_since_ms;     /* held with utilisation below busy_util_pct since, -1 not */
    int64_t low_since_saved;  /* low_since_ms of the last row handed to the writer (or read
                                 back at a restart), -1 none: see agg_gpu_step.persist_later.
                                 The caller sets it when it writes the row. */
    bool idle_reported;       /* gpu_idle sent for the current low stretch */
    bool error_open;          /* gpu_error sent and gpu_recovered not yet */
    uint8_t conditions;       /* AGG_GPU_COND_* already reported in the open error */
    int64_t ecc_volatile;     /* last uncorrected ECC counts seen, -1 unknown */
    int64_t ecc_aggregate;
    int64_t xid_seen_at;     /* newest Xid time already accounted for (UTC s), -1 none */
    int xid_seen_n;          /* how many Xids at exactly xid_seen_at were accounted for */
    uint8_t last_conditions; /* conditions of the last sample (not persisted: for display) */
    char reason[160];        /* what makes it an error now ("Xid 79, row remapping pending") */
    char name[96];           /* the model while it answered (a lost GPU reports only "GPU N") */
};

/* A fresh record for a GPU never seen: state unknown, nothing reported, no baselines. */
void agg_gpu_track_init(struct agg_gpu_track *t, const char *uuid, int index);

/* What one sample changed. */
struct agg_gpu_step {
    bool gpu_error; /* send gpu_error with reason: entered error, or a new problem while in it */
    bool gpu_recovered; /* send gpu_recovered: the error is over */
    bool gpu_idle;      /* send gpu_idle: became idle (once per low stretch) */
    bool persist;       /* the record changed in a way a restart must know: write it now */
    /* Only the start of the idle countdown (low_since_ms) moved, and the last row written
     * (low_since_saved) has no countdown running: the row may wait for the caller's next
     * checkpoint. A crash before it loses at most that much countdown, so the GPU turns idle
     * that much later after a restart, never earlier. A GPU whose utilisation keeps crossing
     * busy_util_pct then writes nothing while its low stretches stay shorter than a checkpoint
     * interval. A countdown the database holds that ends or restarts is written at once (in
     * persist): left there, a restart would resume it and call the GPU idle too early. */
    bool persist_later;
};

/* Applies one sample of the GPU: g is its entry (n_procs processes, g->has_procs false when
 * the agent sent no list), sample_ts_s the agent's time of the sample (Xid times are on the
 * same clock), now_ms the aggregator's UTC time. Updates t and fills *ret. */
void agg_gpu_state_step(const struct agg_gpu_state_config *cfg, struct agg_gpu_track *t,
                        const struct agg_gpu *g, int64_t sample_ts_s, int64_t now_ms,
                        struct agg_gpu_step *ret);

/* One user on a GPU: name ("" for processes the agent could not see), processes, memory. */
struct agg_gpu_user {
    const char *user; /* borrowed from the process entry */
    uint32_t processes;
    double used_mem_mb; /* sum over its processes that report memory; -1 when none does */
};

/* The distinct users of n processes in order of first appearance (the agent lists the biggest
 * memory users first), at most max; returns how many were written. Processes without a user
 * are grouped under "". For the /api/gpus users and, later, GPU-hours accounting. */
size_t agg_gpu_users(const struct agg_gpu_proc *procs, size_t n, struct agg_gpu_user *out,
                     size_t max);

#endif
