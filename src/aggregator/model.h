/* SPDX-License-Identifier: MIT */
/* The aggregator's shared row types: configured servers, last known unit states, events and
 * the hourly history rows that the config loader, the live state, the rollup, the writer and
 * the store pass to one another. Plain data; the storage API that reads and writes them is
 * store.h. */
#ifndef MON_AGGREGATOR_MODEL_H
#define MON_AGGREGATOR_MODEL_H

/* Ownership and threads: a struct agg_server owns its strings (agg_server_done, agg_server_copy
 * makes a deep copy, agg_server_list_free frees a list); the other rows are plain values with
 * fixed-size texts. No locking: whoever holds a row guards it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGG_NAME_MAX       64                 /* characters */
#define AGG_NAME_MAX_BYTES (4 * AGG_NAME_MAX) /* UTF-8: up to 4 bytes a character */
#define AGG_HOST_MAX       253
#define AGG_TOKEN_MAX      512
#define AGG_MAX_SERVICES   64
#define AGG_PATH_MAX       1024 /* bytes of a configured file path (tls_ca_file) */

struct agg_server {
    int64_t id;
    char *name;
    char *host;
    int port;
    char *token;
    char **services; /* unit names */
    size_t n_services;
    bool enabled;
    int64_t created_at;   /* UTC s */
    int64_t last_seen_at; /* UTC s, -1 never */
    int last_online;      /* persisted last known state: -1 unknown, 0 offline, 1 online */
    bool tls;             /* poll over HTTPS */
    char *tls_pin;        /* "sha256//..." or NULL/"" (pinned at the first handshake) */
    char *tls_ca_file;    /* verify the chain and host name with this CA instead; NULL/"" */
};

/* Frees the fields of a server (not the struct). Accepts NULL. */
void agg_server_done(struct agg_server *s);
/* Deep copy; returns MON_OK or MON_ENOMEM. */
int agg_server_copy(const struct agg_server *src, struct agg_server *ret);
/* Frees an array of servers (from agg_store_server_list). Accepts NULL. */
void agg_server_list_free(struct agg_server *list, size_t n);

/* The last known state of one unit of a server (so a restart emits no duplicate events). */
struct agg_unit_state {
    char name[256];
    char active_state[32];
    char sub_state[32];
    int64_t since; /* UTC s, -1 unknown */
};

/* The last known state of one GPU of a server, so that a restart emits no duplicate GPU
 * events (gpu_state.h's struct agg_gpu_track is what it is loaded into). One per GPU index. */
struct agg_gpu_state_row {
    int gpu_index;
    char uuid[96];     /* "" when the agent gave none */
    char state[16];    /* "unknown", "free", "busy", "idle", "error" */
    int64_t since;     /* UTC s the state began, -1 unknown */
    int64_t low_since; /* UTC s since when held below busy_util_pct, -1 not */
    bool idle_reported, error_open;
    int conditions;                      /* gpu_state.h AGG_GPU_COND_* reported */
    int64_t ecc_volatile, ecc_aggregate; /* last uncorrected ECC counts, -1 unknown */
    int64_t xid_seen_at;                 /* newest Xid accounted for (UTC s), -1 none */
    int xid_seen_n;                      /* Xids at exactly xid_seen_at accounted for */
    int64_t updated_at;                  /* UTC s */
};

struct agg_event {
    int64_t id;
    int64_t server_id; /* -1 when the server has been deleted */
    char server_name[AGG_NAME_MAX_BYTES + 1];
    int64_t ts;
    char type[32]; /* server_down, server_up, service_failed, service_recovered,
                      server_added, server_removed, gpu_error, gpu_recovered, gpu_idle,
                      server_key_pinned, server_key_changed */
    char message[512];
};

/* One history bucket per server (columns in docs/api.md, history). *_avg are averages over
 * `samples`; disk_* and gpu_mem_used_mb/total are the last value seen in the bucket (a
 * snapshot, not an average). has_* false stores NULL. metric.h names the fields each history metric
 * reads. */
struct agg_hourly_row {
    int64_t server_id;
    int64_t ts;      /* bucket start, UTC s */
    int64_t samples; /* number of 5-s samples accumulated */
    bool has_cpu, has_mem, has_disk, has_gpu;
    double cpu_pct_avg, cpu_pct_max, cpu_pct_min;
    double mem_used_pct_avg, mem_used_pct_max, mem_used_pct_min;
    double disk_used_pct, disk_used_pct_max, disk_used_pct_min;
    double disk_used_bytes, disk_total_bytes;
    double gpu_util_pct_avg, gpu_util_pct_max, gpu_util_pct_min;
    double gpu_mem_used_mb, gpu_mem_total_mb, gpu_mem_used_mb_max, gpu_mem_used_mb_min;
};
struct agg_gpu_hourly_row {
    int64_t server_id, ts;
    int gpu_index;
    char uuid[96];
    char name[96];
    int64_t samples;
    bool has_util, has_mem, has_temp, has_power;
    double util_pct_avg, util_pct_max, mem_used_mb_avg, mem_used_mb_max, mem_total_mb;
    double temp_c_max, power_w_avg;
};
struct agg_disk_hourly_row {
    int64_t server_id, ts;
    char mount[256];
    int64_t samples;
    double used_pct_avg, used_pct_max, used_pct; /* used_pct: last */
    double used_bytes, total_bytes;              /* last */
};

/* GPU usage of one user on one server (issue 15): one hour of gpu_usage_hourly (ts is the
 * hour's start), one day of gpu_usage_daily, or a sum over a range (ts 0). Seconds are
 * GPU-seconds: distinct users on a GPU share each poll's interval equally. */
#define AGG_USAGE_USER_MAX 64
struct agg_usage_row {
    int64_t ts;
    int64_t server_id;
    char server_name[AGG_NAME_MAX + 1]; /* the server's name when written (kept after deletion) */
    char user[AGG_USAGE_USER_MAX];      /* passwd name, uid as text, or "(unknown)" */
    double gpu_seconds;                 /* the user's share of the time its GPUs were held */
    double busy_gpu_seconds;            /* gpu_seconds x the GPU's utilisation / 100 */
    double mem_mb_seconds;              /* the user's processes' memory x time */
    int64_t max_gpus;                   /* most GPUs the user held in one poll */
    int64_t processes;             /* distinct processes (pid and start time) seen in the hour */
    int64_t first_seen, last_seen; /* UTC s of the first and last poll that counted it */
};

/* One bucket of a usage timeseries (sums over the selected users and servers). */
struct agg_usage_point {
    int64_t ts;
    double gpu_seconds, busy_gpu_seconds, mem_mb_seconds;
};

/* One point of a stored timeseries; a NULL value (e.g. no GPU) gives has_value false. */
struct agg_point {
    int64_t ts;
    bool has_value;
    double value;
};

#endif
