/* SPDX-License-Identifier: MIT */
/* Live state of every configured server: last sample, online/offline by the plan §3.1 rule, a
 * one-hour ring for the live chart, and the events of plan §7.2.2 sent to the writer. Every
 * function takes the current time as parameters so that tests need no sleeping. */
#ifndef MON_AGGREGATOR_STATE_H
#define MON_AGGREGATOR_STATE_H

#include "aggregator/gpu_state.h"
#include "aggregator/model.h"

#include <stddef.h>
#include <stdint.h>

struct agg_state;
struct agg_sample;
struct agg_writer;
struct cJSON;

struct agg_state_options {
    int64_t interval_ms;       /* poll interval */
    int64_t timeout_ms;        /* poll timeout: offline after 2 * interval + timeout */
    int64_t bucket_s;          /* history bucket: one service_status row per unit per bucket */
    struct agg_writer *writer; /* receives events and persisted states; may be NULL */
    struct agg_gpu_state_config gpu; /* GPU state rules (interval_ms is taken from above); all
                                        zero: the defaults */
    bool gpu_idle_events;            /* send gpu_idle events (config events.gpu_idle) */
};

/* Creates an empty registry. Returns NULL on allocation failure. All functions below are
 * thread-safe (one mutex). */
struct agg_state *agg_state_new(const struct agg_state_options *opt);

/* Frees everything. Accepts NULL. */
void agg_state_free(struct agg_state *st);

/* Adds a server or replaces its configuration, keeping its live data; the last sample is
 * cleared when host, port or token changed. A new server starts from s->last_online and
 * s->last_seen_at (the persisted state). MON_OK or MON_ENOMEM. */
int agg_state_server_upsert(struct agg_state *st, const struct agg_server *s, int64_t now_mono_ms);

/* Seeds the persisted unit states of a server (at start, so that a restart emits no duplicate
 * service events). MON_ENOENT for an unknown server. */
int agg_state_seed_units(struct agg_state *st, int64_t id, const struct agg_unit_state *units,
                         size_t n);

/* Seeds the persisted GPU states of a server (at start, so that a restart emits no duplicate
 * GPU events). MON_ENOENT for an unknown server, MON_ENOMEM. */
int agg_state_seed_gpus(struct agg_state *st, int64_t id, const struct agg_gpu_state_row *rows,
                        size_t n);

/* Removes a server and frees its sample, ring and unit states. */
void agg_state_server_remove(struct agg_state *st, int64_t id);

/* A poll answered with a valid sample (ownership of s passes to the state, even on error).
 * Emits server_up / service events. MON_ENOENT for an unknown server. */
int agg_state_poll_ok(struct agg_state *st, int64_t id, struct agg_sample *s, int64_t now_utc_ms,
                      int64_t now_mono_ms);

/* A poll failed with the given reason ("timeout", "token rejected (HTTP 401)"...). */
int agg_state_poll_fail(struct agg_state *st, int64_t id, const char *error, int64_t now_utc_ms,
                        int64_t now_mono_ms);

/* Offline detection: emits server_down for servers past the threshold. Call every ~250 ms. */
void agg_state_tick(struct agg_state *st, int64_t now_utc_ms, int64_t now_mono_ms);

/* Persists last_seen_at of every server seen since it was last persisted (at shutdown). */
void agg_state_persist_seen(struct agg_state *st);

struct agg_state_counts {
    size_t total, enabled, online;
};
void agg_state_get_counts(struct agg_state *st, int64_t now_mono_ms, struct agg_state_counts *ret);

/* JSON views for the API (new trees owned by the caller; NULL on allocation failure).
 * servers: array ordered by id of {id, name, host, agent_port, enabled, services, token_set,
 * online, status, last_error, last_seen_at, latest}. The token is never included. latest
 * counts the GPUs found free and in error in the last sample (gpu_free_count,
 * gpu_error_count). */
struct cJSON *agg_state_servers_json(struct agg_state *st, int64_t now_mono_ms);

/* One server: the list object plus agent, gpus (with each GPU's state, users, processes and
 * health), disks and service_states from the last sample. NULL for an unknown id (or on
 * allocation failure). */
struct cJSON *agg_state_server_json(struct agg_state *st, int64_t id, int64_t now_mono_ms);

/* The GPUs of GET /api/gpus. */
struct agg_gpus_query {
    int state;         /* an enum agg_gpu_state, or -1 for any */
    int64_t server_id; /* 0: every server */
};

/* {"summary": {total, free, busy, idle, error, unknown}, "gpus": [...]}: every GPU of every
 * server (of server_id when set) ordered by server id and GPU position, each with its server,
 * state, state_since, figures, users, processes and health; summary counts the GPUs of the
 * servers asked for whatever the state filter. A GPU of a server that is offline or disabled
 * is unknown (its last figures are kept, with "stale": true). The registry lock is taken for a
 * bounded number of servers at a time. MON_OK, MON_ENOENT (no server server_id), MON_ENOMEM. */
int agg_state_gpus_json(struct agg_state *st, const struct agg_gpus_query *q, int64_t now_mono_ms,
                        struct cJSON **ret);

/* {server_id, metric, interval_s, data: [{ts, value}]} for the last hour from the ring.
 * metric: cpu_pct, mem_used_pct, disk_used_pct, gpu_util_pct, gpu_mem_used_mb.
 * MON_EINVAL (metric), MON_ENOENT (server), MON_ENOMEM. */
int agg_state_recent_json(struct agg_state *st, int64_t id, const char *metric, int64_t now_utc_ms,
                          struct cJSON **ret);

/* Array of {name, active_state, sub_state, since, error} for the configured units, from the
 * last sample (nulls when unknown); empty when none are configured. MON_ENOENT, MON_ENOMEM. */
int agg_state_services_json(struct agg_state *st, int64_t id, struct cJSON **ret);

#endif
