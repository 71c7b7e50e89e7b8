/* SPDX-License-Identifier: MIT */
/* GPU usage accounting (issue 15): who held which GPU for how long, how busy it was and how
 * much memory it took. Each successful poll of a server is worth the time since its previous
 * successful poll (capped at twice the poll interval, so an outage is not billed); the
 * distinct users on a GPU share that time equally. Hourly sums per server and user are
 * checkpointed to the writer and resumed after a restart, like the history rollup. */
#ifndef MON_AGGREGATOR_USAGE_H
#define MON_AGGREGATOR_USAGE_H

/* Ownership: the accounting copies the server names and the shares it keeps; rows handed to the
 * writer become the writer's; arrays returned through ret parameters are malloc'd for the
 * caller. */

#include "aggregator/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agg_sample;
struct agg_store;
struct agg_writer;

/* The user name of GPU memory held without a visible process, and of processes the agent
 * could not attribute. */
#define AGG_USAGE_UNKNOWN_USER "(unknown)"

/* One user's part of one poll (agg_usage_account). */
struct agg_usage_share {
    const char *user; /* borrowed from the sample, or AGG_USAGE_UNKNOWN_USER */
    double gpu_seconds, busy_gpu_seconds, mem_mb_seconds;
    int gpus; /* GPUs the user is on in this poll */
};

/* Pure accounting of one poll worth dt_s seconds: for every GPU without an error, the distinct
 * users of its processes share dt_s (busy: × utilisation / 100, nothing when unknown; memory:
 * their processes' used memory × dt_s); a GPU with no visible process but more than
 * free_mem_mb memory used is AGG_USAGE_UNKNOWN_USER's (its memory used × dt_s). Writes at most
 * max users into out, in order of first appearance; returns how many. */
size_t agg_usage_account(const struct agg_sample *s, double dt_s, double free_mem_mb,
                         struct agg_usage_share *out, size_t max);

struct agg_usage;

struct agg_usage_options {
    struct agg_store *reader;  /* reads stored hours to resume them (NULL: nothing to resume) */
    struct agg_writer *writer; /* receives the checkpoints (NULL: tests keep them in memory) */
    int64_t interval_ms;       /* poll interval: Δt is capped at twice it */
    double free_mem_mb;        /* gpu_state.free_mem_mb: memory below it is not "held" */
};

/* Creates an empty accounting (o is copied; its reader and writer are borrowed and outlive it).
 * Returns MON_OK with it in *ret_usage (owned by the caller: agg_usage_free) or MON_ENOMEM. All
 * functions are thread-safe. */
int agg_usage_new(const struct agg_usage_options *o, struct agg_usage **ret_usage);
/* Frees without writing. Accepts NULL. */
void agg_usage_free(struct agg_usage *u);

/* Registers a server or updates its name (the name its rows carry from now on). Polls of
 * unregistered servers are ignored. MON_OK or MON_ENOMEM. */
int agg_usage_server_add(struct agg_usage *u, int64_t server_id, const char *name);
/* A deleted server: its unwritten hour goes to the writer (its usage stays), then it is
 * forgotten. */
void agg_usage_server_remove(struct agg_usage *u, int64_t server_id);

/* Accounts one successful poll received at now_utc_ms (hour bucket) / now_mono_ms (Δt). A poll
 * in a new hour first writes the previous one. Touches memory only (the poller's thread). MON_OK,
 * MON_ENOENT (not registered), MON_ENOMEM. */
int agg_usage_add(struct agg_usage *u, int64_t server_id, const struct agg_sample *s,
                  int64_t now_utc_ms, int64_t now_mono_ms);

/* Resumes the hours that may have stored rows (after a restart: the current hour): the first
 * call reads every server's stored rows of the hour of now_utc_ms and later ones, later calls
 * the hour of each server still waiting (the clock went back, or the first read failed),
 * after the writer's queue has drained. An hour is neither written nor listed by
 * agg_usage_current before its resume; polls are accounted meanwhile and the stored sums
 * added to them. Reads the store: call it at start before polling, then from the
 * housekeeping thread, never from the poller's. MON_OK, or the first MON_E* (retried at the
 * next call). */
int agg_usage_resume(struct agg_usage *u, int64_t now_utc_ms);

/* Sends the full current rows of every server with news since the last checkpoint (and whose
 * hour has been resumed, agg_usage_resume) to the writer. Returns the number of rows or MON_E*. */
int agg_usage_checkpoint(struct agg_usage *u);

/* The in-memory rows of the hour containing now_utc_ms (newer than any checkpoint), with the
 * servers whose hour is fully in memory (resumed and current; their stored rows of that hour
 * are superseded). Filters: server_id 0 and user NULL for all. *ret_rows and *ret_servers
 * malloc'd (NULL when none). MON_OK or MON_ENOMEM. */
int agg_usage_current(struct agg_usage *u, int64_t now_utc_ms, int64_t server_id, const char *user,
                      struct agg_usage_row **ret_rows, size_t *ret_n, int64_t **ret_servers,
                      size_t *ret_n_servers);

struct agg_usage_stats {
    uint64_t polls;         /* polls accounted */
    uint64_t seed_failures; /* stored hours that could not be read (retried) */
    uint64_t lost_hours;    /* finished hours dropped because they could never be resumed */
};
void agg_usage_get_stats(struct agg_usage *u, struct agg_usage_stats *ret);

#endif
