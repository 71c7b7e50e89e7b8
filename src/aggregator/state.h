/* SPDX-License-Identifier: MIT */
/* Live state of every configured server: last sample, online/offline (the rule at agg_state_tick),
 * a one-hour ring for the live chart, and the events (types in docs/api.md) sent to the writer.
 * Every function takes the current time as parameters so that tests need no sleeping. */
#ifndef MON_AGGREGATOR_STATE_H
#define MON_AGGREGATOR_STATE_H

/* Ownership: the registry copies servers, samples and rows it keeps; JSON trees and texts it
 * returns belong to the caller (cJSON_Delete, the caller's buffer); events go to the writer by
 * copy. */

#include "aggregator/gpu_state.h"
#include "aggregator/model.h"

#include <stddef.h>
#include <stdint.h>

struct agg_state;
struct agg_sample;
struct agg_writer;
struct cJSON;
struct mon_buf;

/* The status shown for a server (the API's "status"). */
enum agg_status {
    AGG_STATUS_ONLINE,
    AGG_STATUS_DEGRADED,
    AGG_STATUS_OFFLINE,
    AGG_STATUS_DISABLED,
    AGG_STATUS_COUNT
};

/* "online", "degraded", "offline", "disabled". */
const char *agg_status_name(enum agg_status s);

struct agg_state_options {
    int64_t interval_ms;       /* poll interval */
    int64_t timeout_ms;        /* poll timeout: offline after 2 * interval + timeout */
    int64_t bucket_s;          /* history bucket: one service_status row per unit per bucket */
    struct agg_writer *writer; /* receives events and persisted states; may be NULL */
    struct agg_gpu_state_config gpu; /* GPU state rules (interval_ms is taken from above); all
                                        zero: the defaults */
    bool gpu_idle_events;            /* send gpu_idle events (config events.gpu_idle) */
};

/* Creates an empty registry (opt is copied). Returns MON_OK with it in *ret_state (owned by the
 * caller: agg_state_free) or MON_ENOMEM. All functions below are thread-safe (one mutex). */
int agg_state_new(const struct agg_state_options *opt, struct agg_state **ret_state);

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

/* A poll answered with a valid sample (copied; the server's stored sample is reused, so a
 * steady fleet causes no allocation here). Emits server_up / service events. MON_ENOENT for an
 * unknown server, MON_ENOMEM. */
int agg_state_poll_ok(struct agg_state *st, int64_t id, const struct agg_sample *s,
                      int64_t now_utc_ms, int64_t now_mono_ms);

/* A poll failed with the given reason ("timeout", "token rejected (HTTP 401)"...). */
int agg_state_poll_fail(struct agg_state *st, int64_t id, const char *error, int64_t now_utc_ms,
                        int64_t now_mono_ms);

/* Trust on first use happened: the server's pin is now pin (a server_key_pinned event). */
int agg_state_key_pinned(struct agg_state *st, int64_t id, const char *pin, int64_t now_utc_ms);

/* Offline detection (with the overload rule of docs/architecture.md): a server goes offline —
 * server_down, "online": false — when its last poll failed and it has not been seen for
 * 2 * interval + timeout. A server we did not get round to polling stays online. Call every
 * ~250 ms; it only looks at servers whose last poll failed. */
void agg_state_tick(struct agg_state *st, int64_t now_utc_ms, int64_t now_mono_ms);

/* Persists last_seen_at of every server seen since it was last persisted (at shutdown). */
void agg_state_persist_seen(struct agg_state *st);

/* Hands the writer the GPU rows whose only change is the start of an idle countdown (kept
 * back by agg_gpu_step.persist_later): at every checkpoint and at shutdown. Only the servers
 * with such a row are visited. */
void agg_state_persist_gpus(struct agg_state *st);

struct agg_state_counts {
    size_t total, enabled, online;      /* online: online or degraded */
    size_t by_status[AGG_STATUS_COUNT]; /* indexed by enum agg_status */
};
void agg_state_get_counts(struct agg_state *st, int64_t now_mono_ms, struct agg_state_counts *ret);

/* The fields of a server list entry, for agg_list_query.fields. */
enum {
    AGG_FIELD_ID = 1 << 0,
    AGG_FIELD_NAME = 1 << 1,
    AGG_FIELD_HOST = 1 << 2,
    AGG_FIELD_AGENT_PORT = 1 << 3,
    AGG_FIELD_ENABLED = 1 << 4,
    AGG_FIELD_SERVICES = 1 << 5,
    AGG_FIELD_TOKEN_SET = 1 << 6,
    AGG_FIELD_ONLINE = 1 << 7,
    AGG_FIELD_STATUS = 1 << 8,
    AGG_FIELD_LAST_ERROR = 1 << 9,
    AGG_FIELD_LAST_SEEN_AT = 1 << 10,
    AGG_FIELD_LATEST = 1 << 11,
    AGG_FIELD_TLS = 1 << 12, /* tls, tls_pin, tls_ca_file, tls_state */
    AGG_FIELD_ALL = (1 << 13) - 1,
};

enum agg_list_sort { AGG_SORT_ID, AGG_SORT_NAME, AGG_SORT_STATUS, AGG_SORT_CPU, AGG_SORT_GPU };

struct agg_list_query {
    int status;    /* an enum agg_status, or -1 for any */
    const char *q; /* NULL or "": any; else a case-insensitive part of the name or host */
    enum agg_list_sort sort;
    size_t offset;
    size_t limit;    /* 0: no limit */
    unsigned fields; /* AGG_FIELD_* bits; 0: all */
};

/* The server list as JSON text appended to out: an array of {id, name, host, agent_port,
 * enabled, services, token_set, online, status, last_error, last_seen_at, latest} (the token
 * is never included; latest counts the GPUs found free and in error in the last sample,
 * gpu_free_count and gpu_error_count), filtered, sorted (ties and AGG_SORT_ID by id; status in the
 * order offline, degraded, online, disabled; cpu and gpu highest first, servers without a value
 * last) and paged by q. *ret_matched receives the number of servers that matched before
 * paging. The registry lock is taken for a bounded number of servers at a time, so a list of
 * 100,000 servers never holds up the poller for long. MON_OK or MON_ENOMEM. */
int agg_state_list_json(struct agg_state *st, const struct agg_list_query *q, int64_t now_mono_ms,
                        struct mon_buf *out, size_t *ret_matched);

/* Every server, ordered by id, as a cJSON array (a convenience over agg_state_list_json for
 * tests and small callers). NULL on allocation failure. */
struct cJSON *agg_state_servers_json(struct agg_state *st, int64_t now_mono_ms);

/* One server: the list entry plus agent, gpus (with each GPU's state, users, processes and
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
