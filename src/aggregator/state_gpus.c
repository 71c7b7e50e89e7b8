/* SPDX-License-Identifier: MIT */
/* The GPU part of the live state: per server one gpu_state.h record per GPU, matched to the
 * GPUs of each sample (by uuid, else by index), stepped by the rules, with the resulting
 * gpu_error / gpu_recovered / gpu_idle events and persisted records sent to the writer (a
 * change of the idle countdown alone at the next checkpoint: agg_gpu_step.persist_later). The
 * JSON views of these records are in state_gpus_json.c. */
#include "aggregator/gpu_state.h"
#include "aggregator/sample.h"
#include "aggregator/state.h"
#include "aggregator/state_priv.h"
#include "aggregator/writer.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS_IN_MESSAGE 8    /* users named in a gpu_idle message; more are counted */
#define PERSIST_CHUNK    1024 /* servers agg_state_persist_gpus visits per hold of the lock */

void agg_state_gpus_done(struct agg_state_rec *r)
{
    free(r->gpus.t);
    free(r->gpus.seeds);
    memset(&r->gpus, 0, sizeof(r->gpus));
}

static void track_from_row(struct agg_gpu_track *t, const struct agg_gpu_state_row *row)
{
    enum agg_gpu_state state = AGG_GPU_UNKNOWN;
    agg_gpu_track_init(t, row->uuid, row->gpu_index);
    (void)agg_gpu_state_from_name(row->state, &state);
    t->seen = true;
    t->state = state;
    t->since_ms = row->since >= 0 ? row->since * 1000 : -1;
    t->low_since_ms = row->low_since >= 0 ? row->low_since * 1000 : -1;
    t->low_since_saved = t->low_since_ms;
    t->idle_reported = row->idle_reported;
    t->error_open = row->error_open;
    t->conditions = (uint8_t)row->conditions;
    t->ecc_volatile = row->ecc_volatile;
    t->ecc_aggregate = row->ecc_aggregate;
    t->xid_seen_at = row->xid_seen_at;
    t->xid_seen_n = row->xid_seen_n;
}

static void row_from_track(struct agg_gpu_state_row *row, const struct agg_gpu_track *t,
                           int64_t now_utc_ms)
{
    memset(row, 0, sizeof(*row));
    row->gpu_index = t->index;
    mon_strlcpy(row->uuid, t->uuid, sizeof(row->uuid));
    mon_strlcpy(row->state, agg_gpu_state_name(t->state), sizeof(row->state));
    row->since = t->since_ms >= 0 ? t->since_ms / 1000 : -1;
    row->low_since = t->low_since_ms >= 0 ? t->low_since_ms / 1000 : -1;
    row->idle_reported = t->idle_reported;
    row->error_open = t->error_open;
    row->conditions = t->conditions;
    row->ecc_volatile = t->ecc_volatile;
    row->ecc_aggregate = t->ecc_aggregate;
    row->xid_seen_at = t->xid_seen_at;
    row->xid_seen_n = t->xid_seen_n;
    row->updated_at = now_utc_ms / 1000;
}

int agg_state_seed_gpus(struct agg_state *st, int64_t id, const struct agg_gpu_state_row *rows,
                        size_t n)
{
    struct agg_state_rec *r;
    struct agg_gpu_track *seeds = NULL;
    int rc = MON_OK;

    if (n > AGG_MAX_GPUS)
        n = AGG_MAX_GPUS;
    if (n && !(seeds = calloc(n, sizeof(*seeds))))
        return MON_ENOMEM;
    for (size_t i = 0; i < n; i++)
        track_from_row(&seeds[i], &rows[i]);
    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id);
    if (!r) {
        rc = MON_ENOENT;
    } else {
        free(r->gpus.seeds);
        r->gpus.seeds = seeds;
        r->gpus.n_seeds = n;
        seeds = NULL;
    }
    pthread_mutex_unlock(&st->lock);
    free(seeds);
    return rc;
}

/* The same GPU: by uuid when both have one (a lost GPU reports none), else by index. */
static bool same_gpu(const struct agg_gpu_track *t, const struct agg_gpu *g)
{
    if (t->uuid[0] && g->uuid[0])
        return strcmp(t->uuid, g->uuid) == 0;
    return t->index == g->index;
}

/* Takes the record of g out of list (n entries, used[] marks the ones taken); NULL if none. */
static const struct agg_gpu_track *take(const struct agg_gpu_track *list, size_t n, bool *used,
                                        const struct agg_gpu *g)
{
    for (size_t i = 0; i < n; i++) {
        if (!used[i] && same_gpu(&list[i], g)) {
            used[i] = true;
            return &list[i];
        }
    }
    return NULL;
}

/* Lock held. Makes r->gpus.t line up with s->gpus: kept as it is while the GPUs stay the same
 * (the steady case: no allocation), else rebuilt from the old records, then the seeds, then
 * fresh ones. The seeds are used up. MON_OK or MON_ENOMEM (records unchanged). */
static int align(struct agg_state_rec *r, const struct agg_sample *s)
{
    struct agg_state_gpus *gs = &r->gpus;
    bool used_old[AGG_MAX_GPUS] = {false}, used_seed[AGG_MAX_GPUS] = {false};
    struct agg_gpu_track *t;
    bool same = gs->n == s->n_gpus && !gs->seeds;

    for (size_t i = 0; same && i < s->n_gpus; i++)
        same = same_gpu(&gs->t[i], &s->gpus[i]);
    if (same)
        return MON_OK;
    t = calloc(s->n_gpus ? s->n_gpus : 1, sizeof(*t));
    if (!t)
        return MON_ENOMEM;
    for (size_t i = 0; i < s->n_gpus; i++) {
        const struct agg_gpu *g = &s->gpus[i];
        const struct agg_gpu_track *from = take(gs->t, gs->n, used_old, g);
        if (!from)
            from = take(gs->seeds, gs->n_seeds, used_seed, g);
        if (from)
            t[i] = *from;
        else
            agg_gpu_track_init(&t[i], g->uuid, g->index);
    }
    free(gs->t);
    free(gs->seeds);
    gs->t = t;
    gs->n = gs->cap = s->n_gpus;
    gs->seeds = NULL;
    gs->n_seeds = 0;
    return MON_OK;
}

/* "GPU 3 (NVIDIA A100) on srv-01": the model as the GPU last reported it (a lost GPU is only
 * "GPU 3" to the agent), left out when unknown. */
static void gpu_label(char *buf, size_t size, const struct agg_state_rec *r,
                      const struct agg_gpu *g, const struct agg_gpu_track *t)
{
    char generic[16];
    const char *name = t->name[0] ? t->name : g->name;
    snprintf(generic, sizeof(generic), "GPU %d", g->index);
    if (name[0] && strcmp(name, generic) != 0)
        snprintf(buf, size, "GPU %d (%s) on %s", g->index, name, r->cfg.name);
    else
        snprintf(buf, size, "GPU %d on %s", g->index, r->cfg.name);
}

/* ", held by alice (2 processes), bob (1 process)" or what else holds the GPU. */
static void holders_text(char *buf, size_t size, const struct agg_sample *s,
                         const struct agg_gpu *g)
{
    struct agg_gpu_user users[AGG_MAX_GPU_PROCS];
    const struct agg_gpu_proc *procs = agg_sample_gpu_procs(s, g);
    size_t n = procs ? agg_gpu_users(procs, g->n_procs, users, AGG_MAX_GPU_PROCS) : 0;
    size_t len, named = 0;

    buf[0] = '\0';
    if (n == 0) {
        snprintf(buf, size, ", %.0f MiB held without a listed process", g->mem_used_mb);
        return;
    }
    mon_strlcpy(buf, ", held by ", size);
    for (size_t i = 0; i < n; i++) {
        len = strlen(buf);
        if (named == USERS_IN_MESSAGE) {
            snprintf(buf + len, size - len, " and %zu more", n - named);
            break;
        }
        snprintf(buf + len, size - len, "%s%s (%u process%s)", named ? ", " : "",
                 users[i].user[0] ? users[i].user : "a user the agent cannot see",
                 users[i].processes, users[i].processes == 1 ? "" : "es");
        named++;
    }
}

static void emit(struct agg_state *st, const struct agg_state_rec *r, int64_t now_utc_ms,
                 const char *type, const char *message)
{
    if (st->opt.writer)
        agg_writer_event(st->opt.writer, r->cfg.id, r->cfg.name, now_utc_ms / 1000, type, message);
}

/* Sends the events one step asked for. */
static void step_events(struct agg_state *st, const struct agg_state_rec *r,
                        const struct agg_sample *s, const struct agg_gpu *g,
                        const struct agg_gpu_track *t, const struct agg_gpu_step *step,
                        int64_t now_utc_ms)
{
    char label[200], msg[512], holders[256], since[MON_ISO8601_LEN];

    gpu_label(label, sizeof(label), r, g, t);
    if (step->gpu_error) {
        snprintf(msg, sizeof(msg), "%s: %s", label, t->reason);
        emit(st, r, now_utc_ms, "gpu_error", msg);
    }
    if (step->gpu_recovered) {
        snprintf(msg, sizeof(msg), "%s recovered", label);
        emit(st, r, now_utc_ms, "gpu_recovered", msg);
    }
    if (step->gpu_idle && st->opt.gpu_idle_events) {
        if (mon_format_iso8601(t->low_since_ms / 1000, since, sizeof(since)) < 0)
            mon_strlcpy(since, "?", sizeof(since));
        holders_text(holders, sizeof(holders), s, g);
        snprintf(msg, sizeof(msg), "%s idle since %s%s", label, since, holders);
        emit(st, r, now_utc_ms, "gpu_idle", msg);
    }
}

/* Lock held. Hands the writer the row of track t of r and notes what it holds. */
static void persist(struct agg_state *st, const struct agg_state_rec *r, struct agg_gpu_track *t,
                    int64_t now_utc_ms)
{
    struct agg_gpu_state_row row;
    if (!st->opt.writer)
        return;
    row_from_track(&row, t, now_utc_ms);
    if (agg_writer_gpu_state(st->opt.writer, r->cfg.id, &row) == MON_OK)
        t->low_since_saved = t->low_since_ms;
}

/* Lock held. Lists r for the next checkpoint (agg_state_persist_gpus). False when the list
 * cannot grow: the caller writes the row now instead. */
static bool defer(struct agg_state *st, struct agg_state_rec *r)
{
    if (r->gpus.later)
        return true;
    if (st->n_gpus_later == st->cap_gpus_later) {
        size_t cap = st->cap_gpus_later ? st->cap_gpus_later * 2 : 64;
        int64_t *ids = realloc(st->gpus_later, cap * sizeof(*ids));
        if (!ids)
            return false;
        st->gpus_later = ids;
        st->cap_gpus_later = cap;
    }
    st->gpus_later[st->n_gpus_later++] = r->cfg.id;
    r->gpus.later = true;
    return true;
}

void agg_state_gpus_update(struct agg_state *st, struct agg_state_rec *r,
                           const struct agg_sample *s, int64_t now_utc_ms)
{
    if (align(r, s) < 0)
        return; /* out of memory: the records wait for the next sample */
    for (size_t i = 0; i < s->n_gpus; i++) {
        struct agg_gpu_track *t = &r->gpus.t[i];
        struct agg_gpu_step step;
        agg_gpu_state_step(&st->opt.gpu, t, &s->gpus[i], s->ts, now_utc_ms, &step);
        step_events(st, r, s, &s->gpus[i], t, &step, now_utc_ms);
        if (step.persist || (step.persist_later && st->opt.writer && !defer(st, r)))
            persist(st, r, t, now_utc_ms);
    }
}

void agg_state_persist_gpus(struct agg_state *st)
{
    int64_t now_utc_ms = mon_utc_ms(), *ids;
    size_t n;

    /* The list is taken whole, then walked a chunk per hold of the lock, so that a fleet of
     * 100,000 servers never holds up polling for long (servers listed meanwhile wait for the
     * next call). */
    pthread_mutex_lock(&st->lock);
    ids = st->gpus_later;
    n = st->n_gpus_later;
    st->gpus_later = NULL;
    st->n_gpus_later = st->cap_gpus_later = 0;
    pthread_mutex_unlock(&st->lock);
    for (size_t k = 0; k < n;) {
        pthread_mutex_lock(&st->lock);
        for (size_t end = k + PERSIST_CHUNK < n ? k + PERSIST_CHUNK : n; k < end; k++) {
            struct agg_state_rec *r = agg_state_find(st, ids[k]);
            if (!r)
                continue; /* removed since */
            r->gpus.later = false;
            for (size_t i = 0; i < r->gpus.n; i++)
                if (r->gpus.t[i].low_since_ms != r->gpus.t[i].low_since_saved)
                    persist(st, r, &r->gpus.t[i], now_utc_ms);
        }
        pthread_mutex_unlock(&st->lock);
    }
    free(ids);
}

size_t agg_state_gpus_count(const struct agg_state_rec *r, enum agg_gpu_state state)
{
    size_t n = 0;
    if (!r->sample)
        return 0;
    for (size_t i = 0; i < r->gpus.n && i < r->sample->n_gpus; i++)
        if (r->gpus.t[i].state == state)
            n++;
    return n;
}
