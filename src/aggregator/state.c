/* SPDX-License-Identifier: MIT */
/* The live-state registry: per server the last sample, online tracking, the one-hour ring and
 * unit states; state changes become events and persisted states through the writer. The JSON
 * views of this registry live in state_json.c and state_list.c. */
#include "aggregator/state.h"

#include "aggregator/agentclient.h"
#include "aggregator/sample.h"
#include "aggregator/state_priv.h"
#include "aggregator/writer.h"
#include "common/err.h"
#include "common/os/lock.h"
#include "common/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEEN_PERSIST_S 60 /* last_seen_at is written at most once a minute per server */
#define RING_MAX       7200

const char *agg_status_name(enum agg_status s)
{
    static const char *const names[] = {"online", "degraded", "offline", "disabled"};
    return s < AGG_STATUS_COUNT ? names[s] : "offline";
}

enum agg_status agg_state_rec_status(const struct agg_state_rec *r)
{
    if (!r->cfg.enabled)
        return AGG_STATUS_DISABLED;
    if (!r->live)
        return AGG_STATUS_OFFLINE;
    return r->sample && r->sample->degraded ? AGG_STATUS_DEGRADED : AGG_STATUS_ONLINE;
}

bool agg_state_rec_online(const struct agg_state *st, const struct agg_state_rec *r,
                          int64_t now_mono_ms)
{
    (void)st;
    (void)now_mono_ms;
    return r->cfg.enabled && r->live;
}

/* Lock held. Moves the record to the count of its current status. */
static void recount_locked(struct agg_state *st, struct agg_state_rec *r)
{
    MON_ASSERT_LOCKED(&st->lock);
    enum agg_status now = agg_state_rec_status(r);
    if (now == r->status)
        return;
    st->counts[r->status]--;
    st->counts[now]++;
    r->status = now;
}

static void failing_add(struct agg_state *st, struct agg_state_rec *r)
{
    struct agg_state_rec **grown;
    if (r->failing_pos != SIZE_MAX)
        return;
    if (st->n_failing == st->cap_failing) {
        size_t cap = st->cap_failing ? st->cap_failing * 2 : 16;
        grown = realloc(st->failing, cap * sizeof(*grown));
        if (!grown)
            return; /* checked again at its next failure */
        st->failing = grown;
        st->cap_failing = cap;
    }
    r->failing_pos = st->n_failing;
    st->failing[st->n_failing++] = r;
}

static void failing_del(struct agg_state *st, struct agg_state_rec *r)
{
    size_t pos = r->failing_pos;
    if (pos == SIZE_MAX)
        return;
    st->failing[pos] = st->failing[--st->n_failing];
    st->failing[pos]->failing_pos = pos;
    r->failing_pos = SIZE_MAX;
}

static void rec_free(struct agg_state_rec *r)
{
    if (!r)
        return;
    agg_server_done(&r->cfg);
    agg_state_drop_sample(r);
    agg_ring_done(&r->ring);
    free(r->units);
    agg_state_gpus_done(r);
    free(r);
}

int agg_state_new(const struct agg_state_options *opt, struct agg_state **ret_state)
{
    struct agg_state *st = calloc(1, sizeof(*st));
    if (!st)
        return MON_ENOMEM;
    pthread_mutex_init(&st->lock, NULL);
    st->opt = *opt;
    if (st->opt.interval_ms <= 0)
        st->opt.interval_ms = 5000;
    if (st->opt.timeout_ms < 0)
        st->opt.timeout_ms = 0;
    if (st->opt.bucket_s <= 0)
        st->opt.bucket_s = 3600;
    st->threshold_ms = 2 * st->opt.interval_ms + st->opt.timeout_ms;
    st->ring_cap = (size_t)((3600000 + st->opt.interval_ms - 1) / st->opt.interval_ms);
    if (st->ring_cap > RING_MAX)
        st->ring_cap = RING_MAX;
    if (st->opt.gpu.idle_after_ms <= 0)
        agg_gpu_state_config_default(&st->opt.gpu);
    st->opt.gpu.interval_ms = st->opt.interval_ms;
    *ret_state = st;
    return MON_OK;
}

void agg_state_free(struct agg_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++)
        rec_free(st->recs[i]);
    free(st->recs);
    free(st->failing);
    free(st->by_name);
    free(st->unpack_buf);
    free(st->pack_buf);
    free(st->gpus_later);
    agg_idmap_clear(&st->by_id);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

struct agg_state_rec *agg_state_find(struct agg_state *st, int64_t id)
{
    return agg_idmap_get(&st->by_id, id);
}

size_t agg_state_lower_bound(const struct agg_state *st, int64_t id)
{
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->recs[mid]->cfg.id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool same_endpoint(const struct agg_server *a, const struct agg_server *b)
{
    return strcmp(a->host, b->host) == 0 && a->port == b->port &&
           strcmp(a->token ? a->token : "", b->token ? b->token : "") == 0;
}

/* Drops unit states of units that are no longer configured. */
static void prune_units(struct agg_state_rec *r)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n_units; i++) {
        bool keep = false;
        for (size_t j = 0; j < r->cfg.n_services && !keep; j++)
            keep = strcmp(r->units[i].name, r->cfg.services[j]) == 0;
        if (keep)
            r->units[k++] = r->units[i];
    }
    r->n_units = k;
}

static int insert_rec(struct agg_state *st, const struct agg_server *s, int64_t now_mono_ms)
{
    struct agg_state_rec *r = calloc(1, sizeof(*r)), **grown;
    size_t pos = agg_state_lower_bound(st, s->id);
    if (!r || agg_server_copy(s, &r->cfg) < 0) {
        free(r);
        return MON_ENOMEM;
    }
    if (agg_ring_init(&r->ring, st->ring_cap, st->opt.interval_ms) < 0)
        goto fail;
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        grown = realloc(st->recs, cap * sizeof(*grown));
        if (!grown)
            goto fail;
        st->recs = grown;
        st->cap = cap;
    }
    if (agg_idmap_put(&st->by_id, s->id, r) < 0)
        goto fail;
    r->online = s->last_online;
    r->last_seen_utc_s = s->last_seen_at;
    r->seen_persisted_s = s->last_seen_at;
    r->last_seen_mono = -1;
    r->grace_mono = now_mono_ms;
    r->status_bucket = -1;
    r->failing_pos = SIZE_MAX;
    r->status = agg_state_rec_status(r);
    st->counts[r->status]++;
    memmove(&st->recs[pos + 1], &st->recs[pos], (st->n - pos) * sizeof(*st->recs));
    st->recs[pos] = r;
    st->n++;
    st->names_dirty = true;
    return MON_OK;
fail:
    rec_free(r);
    return MON_ENOMEM;
}

static bool same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

int agg_state_server_upsert(struct agg_state *st, const struct agg_server *s, int64_t now_mono_ms)
{
    struct agg_state_rec *r;
    struct agg_server copy;
    int rc = MON_OK;

    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, s->id);
    if (!r) {
        rc = insert_rec(st, s, now_mono_ms);
        goto out;
    }
    if (agg_server_copy(s, &copy) < 0) {
        rc = MON_ENOMEM;
        goto out;
    }
    /* A new pin makes a mismatch with it news again. An emptied pin (re-pin at the next contact)
     * does not: a poll started before this update may still report the old mismatch, which is
     * not a second key change; the next good poll clears the flag. */
    if ((!same_text(r->cfg.tls_pin, copy.tls_pin) && copy.tls_pin && copy.tls_pin[0]) ||
        r->cfg.tls != copy.tls)
        r->key_changed = false;
    if (!same_endpoint(&r->cfg, &copy)) {
        agg_state_drop_sample(r);
        r->last_error[0] = '\0';
    }
    if (!same_endpoint(&r->cfg, &copy) || r->cfg.enabled != copy.enabled)
        r->grace_mono = now_mono_ms; /* a fresh start for the offline threshold */
    if (!copy.enabled) {             /* shown online again only after a poll answers */
        r->live = false;
        failing_del(st, r);
    }
    /* The persisted fields are tracked here, not taken from the caller's copy. */
    copy.last_online = r->cfg.last_online;
    copy.last_seen_at = r->cfg.last_seen_at;
    if (!same_text(r->cfg.name, copy.name))
        st->names_dirty = true;
    agg_server_done(&r->cfg);
    r->cfg = copy;
    prune_units(r);
    recount_locked(st, r);
out:
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static struct agg_state_unit *unit_find(struct agg_state_rec *r, const char *name, bool create)
{
    struct agg_state_unit *u;
    for (size_t i = 0; i < r->n_units; i++)
        if (strcmp(r->units[i].name, name) == 0)
            return &r->units[i];
    if (!create || r->n_units >= AGG_MAX_UNITS)
        return NULL;
    u = realloc(r->units, (r->n_units + 1) * sizeof(*u));
    if (!u)
        return NULL;
    r->units = u;
    u = &r->units[r->n_units++];
    memset(u, 0, sizeof(*u));
    mon_strlcpy(u->name, name, sizeof(u->name));
    return u;
}

int agg_state_seed_units(struct agg_state *st, int64_t id, const struct agg_unit_state *units,
                         size_t n)
{
    struct agg_state_rec *r;
    int rc = MON_OK;
    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id);
    if (!r) {
        rc = MON_ENOENT;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct agg_state_unit *u = unit_find(r, units[i].name, true);
        if (!u)
            continue;
        mon_strlcpy(u->cmp_state, units[i].active_state, sizeof(u->cmp_state));
        mon_strlcpy(u->active_state, units[i].active_state, sizeof(u->active_state));
        mon_strlcpy(u->sub_state, units[i].sub_state, sizeof(u->sub_state));
        u->since = units[i].since;
        u->has_current = true;
    }
out:
    pthread_mutex_unlock(&st->lock);
    return rc;
}

void agg_state_server_remove(struct agg_state *st, int64_t id)
{
    struct agg_state_rec *r;
    size_t pos;
    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id);
    if (r) {
        pos = agg_state_lower_bound(st, id);
        memmove(&st->recs[pos], &st->recs[pos + 1], (st->n - pos - 1) * sizeof(*st->recs));
        st->n--;
        agg_idmap_del(&st->by_id, id);
        failing_del(st, r);
        st->counts[r->status]--;
        st->names_dirty = true;
        rec_free(r);
    }
    pthread_mutex_unlock(&st->lock);
}

static void emit(struct agg_state *st, const struct agg_state_rec *r, int64_t now_utc_ms,
                 const char *type, const char *message)
{
    if (st->opt.writer)
        agg_writer_event(st->opt.writer, r->cfg.id, r->cfg.name, now_utc_ms / 1000, type, message);
}

static void persist_seen(struct agg_state *st, struct agg_state_rec *r, int64_t last_seen,
                         int online)
{
    if (last_seen >= 0)
        r->seen_persisted_s = last_seen;
    if (online >= 0)
        r->cfg.last_online = online;
    if (st->opt.writer)
        agg_writer_server_seen(st->opt.writer, r->cfg.id, last_seen, online);
}

/* Sample values of the ring entry: each metric's live value (metric.c). */
static void ring_push(struct agg_state_rec *r, const struct agg_sample *s, int64_t now_utc_ms)
{
    struct agg_ring_values v;
    memset(&v, 0, sizeof(v));
    for (size_t m = 0; m < AGG_METRIC_COUNT; m++)
        v.has[m] = agg_metrics[m].from_sample(s, &v.v[m]);
    agg_ring_push(&r->ring, now_utc_ms / 1000, &v);
}

/* States a unit passes through on its way somewhere: they do not change the comparison state,
 * so active -> deactivating -> failed is still seen as active -> failed. */
static bool transitional(const char *state)
{
    return strcmp(state, "activating") == 0 || strcmp(state, "deactivating") == 0 ||
           strcmp(state, "reloading") == 0 || strcmp(state, "refreshing") == 0 ||
           strcmp(state, "maintenance") == 0;
}

static void persist_unit(struct agg_state *st, const struct agg_state_rec *r,
                         const struct agg_state_unit *u)
{
    struct agg_unit_state us;
    if (!st->opt.writer)
        return;
    memset(&us, 0, sizeof(us));
    mon_strlcpy(us.name, u->name, sizeof(us.name));
    mon_strlcpy(us.active_state, u->cmp_state, sizeof(us.active_state));
    mon_strlcpy(us.sub_state, u->sub_state, sizeof(us.sub_state));
    us.since = u->since;
    agg_writer_unit_state(st->opt.writer, r->cfg.id, &us);
}

static bool unit_requested(const struct agg_state_rec *r, const char *name)
{
    for (size_t j = 0; j < r->cfg.n_services; j++)
        if (strcmp(name, r->cfg.services[j]) == 0)
            return true;
    return false;
}

/* Service events (service_down/service_up) plus the service_status history rows: a row when a
 * unit's state changes and one per unit at each bucket boundary. Only the units this server watches
 * count: an agent reporting others (a real one never does) cannot add states, rows or events. */
static void track_units(struct agg_state *st, struct agg_state_rec *r, const struct agg_sample *s,
                        int64_t now_utc_ms)
{
    int64_t now_s = now_utc_ms / 1000;
    int64_t bucket = now_s / st->opt.bucket_s * st->opt.bucket_s;
    bool boundary = bucket != r->status_bucket;
    char msg[400];

    if (r->cfg.n_services == 0 || !s->units_present)
        return;
    for (size_t i = 0; i < s->n_units; i++) {
        const struct agg_unit *in = &s->units[i];
        struct agg_state_unit *u;
        bool changed;
        if (!in->active_state[0] || !unit_requested(r, in->name))
            continue; /* the agent could not read it (no state to compare), or not asked for */
        u = unit_find(r, in->name, true);
        if (!u)
            continue;
        changed = !u->has_current || strcmp(u->active_state, in->active_state) != 0 ||
                  strcmp(u->sub_state, in->sub_state) != 0;
        if ((changed || boundary) && st->opt.writer)
            agg_writer_service_status(st->opt.writer, r->cfg.id, now_s, in->name, in->active_state,
                                      in->sub_state);
        mon_strlcpy(u->active_state, in->active_state, sizeof(u->active_state));
        mon_strlcpy(u->sub_state, in->sub_state, sizeof(u->sub_state));
        u->since = in->since;
        u->has_current = true;
        if (transitional(in->active_state) || strcmp(u->cmp_state, in->active_state) == 0)
            continue;
        if (u->cmp_state[0] && strcmp(in->active_state, "failed") == 0) {
            snprintf(msg, sizeof(msg), "Service %s on %s failed", in->name, r->cfg.name);
            emit(st, r, now_utc_ms, "service_failed", msg);
        } else if (strcmp(u->cmp_state, "failed") == 0 && strcmp(in->active_state, "active") == 0) {
            snprintf(msg, sizeof(msg), "Service %s on %s recovered", in->name, r->cfg.name);
            emit(st, r, now_utc_ms, "service_recovered", msg);
        }
        mon_strlcpy(u->cmp_state, in->active_state, sizeof(u->cmp_state));
        persist_unit(st, r, u);
    }
    r->status_bucket = bucket;
}

int agg_state_poll_ok(struct agg_state *st, int64_t id, const struct agg_sample *s,
                      int64_t now_utc_ms, int64_t now_mono_ms)
{
    struct agg_state_rec *r;
    int64_t now_s = now_utc_ms / 1000;
    char msg[200];
    int rc = MON_OK;

    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id);
    if (!r) {
        rc = MON_ENOENT;
        goto out;
    }
    r->polls_ok++;
    r->last_seen_mono = now_mono_ms;
    r->last_seen_utc_s = now_s;
    r->sample_utc_ms = now_utc_ms;
    r->last_error[0] = '\0';
    r->failures = 0;
    r->live = true;
    failing_del(st, r);
    r->key_changed = false;
    if (r->online == 0) {
        snprintf(msg, sizeof(msg), "Server %s came back online", r->cfg.name);
        emit(st, r, now_utc_ms, "server_up", msg);
    }
    if (r->online != 1)
        persist_seen(st, r, now_s, 1); /* first contact ever emits no event */
    else if (now_s - r->seen_persisted_s >= SEEN_PERSIST_S || r->seen_persisted_s < 0)
        persist_seen(st, r, now_s, -1);
    r->online = 1;
    ring_push(r, s, now_utc_ms);
    track_units(st, r, s, now_utc_ms);
    agg_state_gpus_update(st, r, s, now_utc_ms);
    rc = agg_state_keep_sample(st, r, s);
    recount_locked(st, r);
out:
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* Lock held. The offline threshold (2 * interval + timeout without a reply), counted only for a
 * server whose last poll failed. */
static void check_down_locked(struct agg_state *st, struct agg_state_rec *r, int64_t now_utc_ms,
                              int64_t now_mono_ms)
{
    MON_ASSERT_LOCKED(&st->lock);
    int64_t ref = r->last_seen_mono > r->grace_mono ? r->last_seen_mono : r->grace_mono;
    char msg[300];
    if (!r->cfg.enabled || r->failures == 0 || now_mono_ms - ref <= st->threshold_ms)
        return;
    failing_del(st, r);
    r->live = false;
    recount_locked(st, r);
    if (r->online != 1)
        return;
    snprintf(msg, sizeof(msg), "Server %s went offline: %s", r->cfg.name, r->last_error);
    r->online = 0;
    emit(st, r, now_utc_ms, "server_down", msg);
    persist_seen(st, r, -1, 0);
}

int agg_state_poll_fail(struct agg_state *st, int64_t id, const char *error, int64_t now_utc_ms,
                        int64_t now_mono_ms)
{
    struct agg_state_rec *r;
    int rc = MON_OK;
    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id);
    if (!r) {
        rc = MON_ENOENT;
    } else {
        mon_strlcpy(r->last_error, error && error[0] ? error : "poll failed",
                    sizeof(r->last_error));
        r->failures++;
        if (r->live || r->online == 1)
            failing_add(st, r);
        check_down_locked(st, r, now_utc_ms, now_mono_ms);
        if (!r->key_changed && error && strcmp(error, AGG_AGENT_PIN_MISMATCH) == 0) {
            char msg[300];
            r->key_changed = true;
            snprintf(msg, sizeof(msg),
                     "Server %s presented a different TLS key than the one pinned: its data is "
                     "refused until an admin re-pins it (or the agent's old key is restored)",
                     r->cfg.name);
            emit(st, r, now_utc_ms, "server_key_changed", msg);
        }
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int agg_state_key_pinned(struct agg_state *st, int64_t id, const char *pin, int64_t now_utc_ms)
{
    struct agg_state_rec *r;
    char msg[300], *copy = strdup(pin);
    int rc = MON_OK;

    if (!copy)
        return MON_ENOMEM;
    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id);
    if (!r) {
        rc = MON_ENOENT;
        free(copy);
    } else {
        free(r->cfg.tls_pin);
        r->cfg.tls_pin = copy;
        snprintf(msg, sizeof(msg), "Server %s: TLS key pinned at first contact (%s)", r->cfg.name,
                 pin);
        emit(st, r, now_utc_ms, "server_key_pinned", msg);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

void agg_state_tick(struct agg_state *st, int64_t now_utc_ms, int64_t now_mono_ms)
{
    pthread_mutex_lock(&st->lock);
    /* Walked backwards: check_down may swap the last entry into the current position. */
    for (size_t i = st->n_failing; i-- > 0;)
        if (i < st->n_failing)
            check_down_locked(st, st->failing[i], now_utc_ms, now_mono_ms);
    pthread_mutex_unlock(&st->lock);
}

void agg_state_persist_seen(struct agg_state *st)
{
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->n; i++) {
        struct agg_state_rec *r = st->recs[i];
        if (r->last_seen_utc_s > r->seen_persisted_s)
            persist_seen(st, r, r->last_seen_utc_s, -1);
    }
    pthread_mutex_unlock(&st->lock);
}

void agg_state_get_counts(struct agg_state *st, int64_t now_mono_ms, struct agg_state_counts *ret)
{
    struct agg_state_counts c = {0};
    (void)now_mono_ms;
    pthread_mutex_lock(&st->lock);
    c.total = st->n;
    memcpy(c.by_status, st->counts, sizeof(c.by_status));
    pthread_mutex_unlock(&st->lock);
    c.enabled = c.total - c.by_status[AGG_STATUS_DISABLED];
    c.online = c.by_status[AGG_STATUS_ONLINE] + c.by_status[AGG_STATUS_DEGRADED];
    *ret = c;
}
