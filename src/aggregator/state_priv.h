/* SPDX-License-Identifier: MIT */
/* Internals of the live-state registry shared by state.c (updates), state_json.c (one
 * server's views) and state_list.c (the server list); nothing else includes this header. */
#ifndef MON_AGGREGATOR_STATE_PRIV_H
#define MON_AGGREGATOR_STATE_PRIV_H

/* Ownership and threads: the registry owns every record and each record its sample, ring and GPU
 * tracks. The functions here need st->lock held (the *_locked helpers in the .c files assert it
 * in debug builds); records and samples are only valid while it is. */

#include "aggregator/idmap.h"
#include "aggregator/ring.h"
#include "aggregator/sample.h"
#include "aggregator/state.h"
#include "aggregator/metric.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct agg_state_unit {
    char name[256];
    char cmp_state[32]; /* last non-transitional active_state: what events compare against */
    char active_state[32], sub_state[32]; /* last seen, for service_status rows */
    int64_t since;
    bool has_current;
};

/* The GPU state records of a server: t[i] belongs to sample->gpus[i] after every sample;
 * seeds are the records restored from the store, used up by the first sample. */
struct agg_state_gpus {
    struct agg_gpu_track *t;
    size_t n, cap;
    struct agg_gpu_track *seeds;
    size_t n_seeds;
    bool later; /* listed in agg_state.gpus_later */
};

struct agg_state_rec {
    struct agg_server cfg;
    /* The last valid sample (NULL before the first): its scalars and entry counts; its entry
     * arrays are NULL, kept squeezed in packed (state_pack.c: agg_state_rec_sample). */
    struct agg_sample *sample;
    unsigned char *packed;
    uint32_t packed_len, packed_cap;
    struct { /* the sample's first disk with a value, for the list */
        bool has;
        double used_pct, used_bytes, total_bytes;
    } disk1;
    int64_t sample_utc_ms;    /* when it was received */
    int64_t last_seen_utc_s;  /* -1 never */
    int64_t last_seen_mono;   /* -1 not in this process */
    int64_t grace_mono;       /* start of the current offline-threshold window */
    int64_t seen_persisted_s; /* last last_seen_at sent to the writer */
    int online;               /* event tracking: -1 unknown, 0 offline, 1 online */
    bool live;                /* shown online: answered in this process and not down since */
    enum agg_status status;   /* what the counts hold it as */
    char last_error[160];
    int64_t failures; /* consecutive failed polls */
    bool key_changed; /* the agent's key stopped matching the pin (reported once) */
    uint64_t polls_ok;
    int64_t status_bucket; /* bucket of the last service_status rows, -1 none */
    size_t failing_pos;    /* index in agg_state.failing, or SIZE_MAX */
    uint32_t name_pos;     /* index in agg_state.by_name while that is current */
    struct agg_ring ring;
    struct agg_state_unit *units;
    size_t n_units;
    struct agg_state_gpus gpus;
};

struct agg_state {
    pthread_mutex_t lock;
    struct agg_state_options opt;
    int64_t threshold_ms; /* 2 * interval + timeout */
    size_t ring_cap;
    struct agg_state_rec **recs; /* ordered by id */
    size_t n, cap;
    struct agg_idmap by_id;
    /* Servers whose last poll failed while they count as online: the only ones that can go
     * offline, so the periodic check never walks the whole fleet. */
    struct agg_state_rec **failing;
    size_t n_failing, cap_failing;
    size_t counts[AGG_STATUS_COUNT];
    /* Every record in the list's name order (natural, ties by id: state_list.c), rebuilt by
     * the next sorted list after names_dirty is set (a server added, changed or removed);
     * names_gen counts the rebuilds. */
    struct agg_state_rec **by_name;
    size_t cap_by_name;
    bool names_dirty;
    uint64_t names_gen;
    struct agg_sample scratch; /* agg_state_rec_sample's sample, its entries in unpack_buf */
    unsigned char *unpack_buf;
    size_t unpack_cap;
    unsigned char *pack_buf; /* agg_state_keep_sample's squeeze buffer */
    size_t pack_cap;
    /* Ids of the servers with a GPU row that waits for the next checkpoint (see
     * agg_gpu_step.persist_later); a removed server's id is skipped then. */
    int64_t *gpus_later;
    size_t n_gpus_later, cap_gpus_later;
};

/* Lock held. The record of id, or NULL. */
struct agg_state_rec *agg_state_find(struct agg_state *st, int64_t id);

/* Lock held. Index of the first record with an id ≥ id (n when none). */
size_t agg_state_lower_bound(const struct agg_state *st, int64_t id);

/* Lock held. The status shown for a record. */
enum agg_status agg_state_rec_status(const struct agg_state_rec *r);

/* Lock held. The record counts as online (enabled, answered and not down since); now_mono_ms
 * is unused: whether a server is down is decided when its polls fail (state.c). */
bool agg_state_rec_online(const struct agg_state *st, const struct agg_state_rec *r,
                          int64_t now_mono_ms);

struct mon_buf;

/* Lock held. Appends the list entry of a record (the AGG_FIELD_* bits of fields) as JSON text.
 * MON_OK or MON_ENOMEM. */
int agg_state_rec_write(const struct agg_state_rec *r, unsigned fields, struct mon_buf *b);

/* ---- the kept sample (state_pack.c) ---- */

/* Lock held. Keeps s as r's last sample (its scalars, its entries squeezed, its first disk).
 * MON_OK or MON_ENOMEM (r then has no sample). */
int agg_state_keep_sample(struct agg_state *st, struct agg_state_rec *r,
                          const struct agg_sample *s);

/* Frees r's last sample. */
void agg_state_drop_sample(struct agg_state_rec *r);

/* Lock held. r's last sample whole, its entries unpacked into st's scratch sample (valid until
 * the next call or until the lock is released); NULL when r has none, or without memory. */
const struct agg_sample *agg_state_rec_sample(struct agg_state *st, const struct agg_state_rec *r);

/* ---- GPU states (state_gpus.c) ---- */

/* Lock held. Applies sample s to the GPU records of r (emitting gpu_error, gpu_recovered and
 * gpu_idle and persisting changed records through the writer). No allocation while the
 * server's GPUs stay the same. */
void agg_state_gpus_update(struct agg_state *st, struct agg_state_rec *r,
                           const struct agg_sample *s, int64_t now_utc_ms);

/* Frees the GPU records of r. */
void agg_state_gpus_done(struct agg_state_rec *r);

/* Lock held. Number of GPUs of r whose last sample put them in state. */
size_t agg_state_gpus_count(const struct agg_state_rec *r, enum agg_gpu_state state);

/* Lock held. GPU i of s (r's last sample, unpacked: agg_state_rec_sample) as JSON: index, uuid,
 * name, figures, error, state, state_since, state_reason, stale, users, processes,
 * processes_truncated and health, after server_id and server_name when with_server. live: the
 * server counts as online (else the state shown is unknown). NULL on allocation failure. */
struct cJSON *agg_state_gpu_json(const struct agg_state_rec *r, const struct agg_sample *s,
                                 size_t i, bool live, bool with_server);

#endif
