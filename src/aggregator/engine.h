/* SPDX-License-Identifier: MIT */
/* The aggregator's engine: poller, live state, hourly rollups, database writer and the daily
 * retention job tied together behind one object for main.c and the API. */
#ifndef MON_AGGREGATOR_ENGINE_H
#define MON_AGGREGATOR_ENGINE_H

/* Ownership and threads: the engine from agg_engine_start belongs to the caller
 * (agg_engine_stop) and owns its poller, state, rollup, usage accounting, writer and store
 * connections; arguments are copied, JSON trees and row arrays returned belong to the caller
 * (cJSON_Delete, free). Every function but start and stop is thread-safe (the HTTP workers and
 * the engine's own threads call them; each part has its own lock); start and stop are for the
 * main thread. */

#include "aggregator/gpu_state.h"
#include "aggregator/model.h"
#include "aggregator/state.h"

#include <stddef.h>
#include <stdint.h>

struct agg_engine;
struct agg_gpus_query;
struct cJSON;
struct mon_buf;

struct agg_engine_options {
    int64_t interval_ms;             /* poll.interval (0: 5 s) */
    int64_t timeout_ms;              /* poll.timeout (0: 2 s) */
    int64_t max_response_bytes;      /* poll.max_response_bytes (0: 1 MiB) */
    int64_t bucket_ms;               /* history.bucket (0: 1 h; whole seconds) */
    int64_t checkpoint_ms;           /* history.checkpoint (0: 60 s) */
    int retention_days;              /* retention.days (0: 30) */
    size_t max_sockets;              /* sockets the poller may hold (0: no limit), see poller.h */
    int usage_retention_days;        /* history.usage_retention_days (0: 365) */
    const char *db_path;             /* the `database:` value (a file or a postgresql:// URI) */
    const char *db_password;         /* database_password_file's secret, or NULL */
    struct agg_gpu_state_config gpu; /* gpu_state (idle_after_ms 0: the defaults) */
    bool gpu_idle_events;            /* events.gpu_idle */
    const char *tls_ca_file;         /* verifies agents without their own tls_ca_file; NULL: none */
};

/* Opens two store connections on db_path (writer and reader; the schema is created or
 * migrated), loads the servers with their persisted states and starts the writer, the poller
 * and the housekeeping thread (finished buckets every second, checkpoints, the retention job:
 * first ~5 s after start, then every 24 h, VACUUM every 7th run). Returns MON_OK or a MON_E*
 * code with a reason in why. */
int agg_engine_start(const struct agg_engine_options *o, struct agg_engine **ret, char *why,
                     size_t why_len);

/* Stops polling, writes the final checkpoint of every bucket and the last_seen_at times,
 * drains the writer (at most ~1.5 s) and frees. Accepts NULL. */
void agg_engine_stop(struct agg_engine *e);

/* Applies a server added, edited or disabled through the API (after the API's own store write
 * succeeded): takes effect at its next poll. s is copied. */
void agg_engine_server_upsert(struct agg_engine *e, const struct agg_server *s);

/* Forgets a deleted server: its request in flight is aborted, its live data freed. */
void agg_engine_server_remove(struct agg_engine *e, int64_t id);

/* The server list as JSON text appended to out (see agg_state_list_json). MON_OK, MON_ENOMEM. */
int agg_engine_list_json(struct agg_engine *e, const struct agg_list_query *q, struct mon_buf *out,
                         size_t *ret_matched);

/* Server counts by status (cheap: kept up to date by the state). */
void agg_engine_counts(struct agg_engine *e, struct agg_state_counts *ret);

/* JSON views (caller owns the tree); see state.h for the fields. NULL: unknown id / no memory. */
struct cJSON *agg_engine_servers_json(struct agg_engine *e);
struct cJSON *agg_engine_server_json(struct agg_engine *e, int64_t id);
/* Last hour from memory. MON_EINVAL (metric), MON_ENOENT (server), MON_ENOMEM. */
int agg_engine_recent_json(struct agg_engine *e, int64_t id, const char *metric,
                           struct cJSON **ret);
/* Latest unit states. MON_ENOENT, MON_ENOMEM. */
int agg_engine_services_json(struct agg_engine *e, int64_t id, struct cJSON **ret);

/* GET /api/gpus (see agg_state_gpus_json). MON_OK, MON_ENOENT, MON_ENOMEM. */
int agg_engine_gpus_json(struct agg_engine *e, const struct agg_gpus_query *q, struct cJSON **ret);

/* {"status": "ok"|"degraded", "db": {ok, last_error, pending_writes, dropped_writes,
 * last_write_at}, "poll": {interval_s, lag_ms, overloaded, late_polls, polls_started,
 * polls_completed, polls_failed, polls_in_window_pct, in_flight, kept_alive}, "servers":
 * {online, total, enabled, degraded, offline, disabled}}. */
struct cJSON *agg_engine_health_json(struct agg_engine *e);

/* The in-memory (partial) row of the bucket containing now. MON_ENOENT when none. */
int agg_engine_current_bucket(struct agg_engine *e, int64_t server_id, struct agg_hourly_row *ret);

/* History bucket length in seconds. */
int64_t agg_engine_bucket_s(const struct agg_engine *e);

/* The GPU usage of the current hour from memory (agg_usage_current at the present time). */
int agg_engine_usage_current(struct agg_engine *e, int64_t server_id, const char *user,
                             struct agg_usage_row **ret_rows, size_t *ret_n, int64_t **ret_servers,
                             size_t *ret_n_servers);

/* Tests: checkpoints every bucket now and waits (≤ 5 s) until the writer queue is empty.
 * MON_OK or MON_ETIMEDOUT. */
int agg_engine_checkpoint_now(struct agg_engine *e);

#endif
