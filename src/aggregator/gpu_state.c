/* SPDX-License-Identifier: MIT */
/* GPU state rules: one sample of a GPU moves its tracking record and says which events to send.
 * No clock, no lock, no I/O: every boundary is tested with made-up times. */
#include "aggregator/gpu_state.h"

#include "aggregator/sample.h"
#include "common/err.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>

static const char *const state_names[AGG_GPU_STATE_COUNT] = {"unknown", "free", "busy", "idle",
                                                             "error"};

const char *agg_gpu_state_name(enum agg_gpu_state s)
{
    return (unsigned)s < AGG_GPU_STATE_COUNT ? state_names[s] : "unknown";
}

int agg_gpu_state_from_name(const char *name, enum agg_gpu_state *ret)
{
    for (unsigned i = 0; name && i < AGG_GPU_STATE_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *ret = (enum agg_gpu_state)i;
            return MON_OK;
        }
    }
    return MON_EINVAL;
}

void agg_gpu_state_config_default(struct agg_gpu_state_config *c)
{
    c->free_mem_mb = 512;
    c->busy_util_pct = 10;
    c->idle_after_ms = 30 * 60 * 1000;
    c->interval_ms = 5000;
}

void agg_gpu_track_init(struct agg_gpu_track *t, const char *uuid, int index)
{
    memset(t, 0, sizeof(*t));
    mon_strlcpy(t->uuid, uuid ? uuid : "", sizeof(t->uuid));
    t->index = index;
    t->state = AGG_GPU_UNKNOWN;
    t->since_ms = -1;
    t->low_since_ms = -1;
    t->low_since_saved = -1;
    t->ecc_volatile = -1;
    t->ecc_aggregate = -1;
    t->xid_seen_at = -1;
}

/* Appends ", text" (or text when reason is empty), silently stopping at the buffer's end: the
 * reason is for people, the event decision does not depend on it. */
static void add_reason(char *reason, size_t size, const char *text)
{
    size_t len = strlen(reason);
    if (len + 2 >= size)
        return;
    snprintf(reason + len, size - len, "%s%s", len ? ", " : "", text);
}

/* Xid errors: the ones not accounted for before are new (an incident to report); any within
 * the last interval of the sample's time keeps the GPU in error. At first sight the list is
 * the baseline: only the recent ones count. */
static void scan_xids(const struct agg_gpu_state_config *cfg, struct agg_gpu_track *t,
                      const struct agg_gpu *g, int64_t sample_ts_s, bool *ret_new, bool *ret_recent)
{
    int64_t newest = -1;
    int newest_n = 0, at_seen = 0;
    char text[24];

    *ret_new = *ret_recent = false;
    for (unsigned i = 0; i < g->n_xid; i++) {
        const struct agg_gpu_xid *x = &g->xid[i];
        bool is_new = false, recent;
        if (x->at < 0)
            continue; /* no time: cannot be placed (the agent always sends one) */
        if (x->at == t->xid_seen_at)
            at_seen++; /* the at_seen-th Xid of that second */
        if (t->seen)
            is_new = x->at > t->xid_seen_at || (x->at == t->xid_seen_at && at_seen > t->xid_seen_n);
        recent = x->at * 1000 >= sample_ts_s * 1000 - cfg->interval_ms;
        if (is_new || recent) {
            snprintf(text, sizeof(text), "Xid %d", x->code);
            if (!strstr(t->reason, text))
                add_reason(t->reason, sizeof(t->reason), text);
        }
        *ret_new = *ret_new || is_new;
        *ret_recent = *ret_recent || recent;
        if (x->at > newest) {
            newest = x->at;
            newest_n = 0;
        }
        if (x->at == newest)
            newest_n++;
    }
    if (newest > t->xid_seen_at) {
        t->xid_seen_at = newest;
        t->xid_seen_n = newest_n;
    } else if (newest == t->xid_seen_at && newest_n > t->xid_seen_n) {
        t->xid_seen_n = newest_n;
    }
}

/* New uncorrected ECC errors since the last sample: the volatile counter when both samples have
 * it, else the aggregate one. A counter that went down (driver reloaded) is a new baseline. */
static int64_t ecc_increase(struct agg_gpu_track *t, const struct agg_gpu *g)
{
    int64_t inc = 0;
    if (g->ecc_volatile_uncorrected >= 0 && t->ecc_volatile >= 0)
        inc = g->ecc_volatile_uncorrected - t->ecc_volatile;
    else if (g->ecc_aggregate_uncorrected >= 0 && t->ecc_aggregate >= 0)
        inc = g->ecc_aggregate_uncorrected - t->ecc_aggregate;
    if (g->ecc_volatile_uncorrected >= 0)
        t->ecc_volatile = g->ecc_volatile_uncorrected;
    if (g->ecc_aggregate_uncorrected >= 0)
        t->ecc_aggregate = g->ecc_aggregate_uncorrected;
    return inc > 0 ? inc : 0;
}

/* The state from memory, processes and utilisation alone, moving the low stretch. A GPU the
 * agent reports in error has no figures: its stretch is left as it was. */
static enum agg_gpu_state usage_state(const struct agg_gpu_state_config *cfg,
                                      struct agg_gpu_track *t, const struct agg_gpu *g,
                                      int64_t now_ms)
{
    bool held =
        (g->has_procs && g->n_procs > 0) || (g->has_mem && g->mem_used_mb > cfg->free_mem_mb);
    if (g->error[0])
        return AGG_GPU_UNKNOWN;
    if (!held) {
        t->low_since_ms = -1;
        t->idle_reported = false;
        return g->has_mem || g->has_procs ? AGG_GPU_FREE : AGG_GPU_UNKNOWN;
    }
    if (!g->has_util)
        return AGG_GPU_BUSY; /* held, but how busy is unknown: never called idle */
    if (g->util_pct >= cfg->busy_util_pct) {
        t->low_since_ms = -1;
        t->idle_reported = false;
        return AGG_GPU_BUSY;
    }
    if (t->low_since_ms < 0)
        t->low_since_ms = now_ms;
    return now_ms - t->low_since_ms >= cfg->idle_after_ms ? AGG_GPU_IDLE : AGG_GPU_BUSY;
}

void agg_gpu_state_step(const struct agg_gpu_state_config *cfg, struct agg_gpu_track *t,
                        const struct agg_gpu *g, int64_t sample_ts_s, int64_t now_ms,
                        struct agg_gpu_step *ret)
{
    struct agg_gpu_track before = *t;
    enum agg_gpu_state usage, next;
    bool new_xid, recent_xid, incident, error;
    uint8_t conds = 0;
    int64_t ecc_inc;
    char text[64];

    memset(ret, 0, sizeof(*ret));
    t->reason[0] = '\0';
    if (g->uuid[0])
        mon_strlcpy(t->uuid, g->uuid, sizeof(t->uuid));
    t->index = g->index;
    if (g->name[0] && !g->error[0])
        mon_strlcpy(t->name, g->name, sizeof(t->name));
    if (g->error[0]) {
        conds |= AGG_GPU_COND_REPORTED;
        add_reason(t->reason, sizeof(t->reason), g->error);
    }
    scan_xids(cfg, t, g, sample_ts_s, &new_xid, &recent_xid);
    ecc_inc = ecc_increase(t, g);
    if (ecc_inc > 0) {
        snprintf(text, sizeof(text), "uncorrected ECC +%lld", (long long)ecc_inc);
        add_reason(t->reason, sizeof(t->reason), text);
    }
    if (g->has_remap && g->remap_pending) {
        conds |= AGG_GPU_COND_REMAP_PENDING;
        add_reason(t->reason, sizeof(t->reason), "row remapping pending");
    }
    if (g->has_remap && g->remap_failed) {
        conds |= AGG_GPU_COND_REMAP_FAILED;
        add_reason(t->reason, sizeof(t->reason), "row remapping failed");
    }
    t->last_conditions = conds;
    incident = new_xid || ecc_inc > 0;
    error = conds || incident || recent_xid;

    if (error) {
        /* Like a unit already failed when first seen: no event for what was there before we
         * looked, but its end is reported. */
        ret->gpu_error = before.seen && (!t->error_open || incident || (conds & ~t->conditions));
        t->error_open = true;
        t->conditions = conds;
    } else if (t->error_open) {
        ret->gpu_recovered = true;
        t->error_open = false;
        t->conditions = 0;
    }

    usage = usage_state(cfg, t, g, now_ms);
    if (usage == AGG_GPU_IDLE && !error && !t->idle_reported) {
        ret->gpu_idle = true;
        t->idle_reported = true;
    }
    next = error ? AGG_GPU_ERROR : usage;
    if (next != t->state || !before.seen) {
        t->state = next;
        t->since_ms = next == AGG_GPU_IDLE ? t->low_since_ms : now_ms;
    }
    t->seen = true;
    ret->persist = !before.seen || t->state != before.state || t->since_ms != before.since_ms ||
                   t->idle_reported != before.idle_reported || t->error_open != before.error_open ||
                   t->conditions != before.conditions || t->ecc_volatile != before.ecc_volatile ||
                   t->ecc_aggregate != before.ecc_aggregate ||
                   t->xid_seen_at != before.xid_seen_at || t->xid_seen_n != before.xid_seen_n ||
                   t->index != before.index || strcmp(t->uuid, before.uuid) != 0;
    /* The countdown alone: see agg_gpu_step.persist_later. Back to what is stored: nothing. */
    if (!ret->persist && t->low_since_ms != t->low_since_saved) {
        if (t->low_since_saved < 0)
            ret->persist_later = true;
        else
            ret->persist = true;
    }
}

size_t agg_gpu_users(const struct agg_gpu_proc *procs, size_t n, struct agg_gpu_user *out,
                     size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct agg_gpu_proc *p = &procs[i];
        size_t j = 0;
        while (j < k && strcmp(out[j].user, p->user) != 0)
            j++;
        if (j == k) {
            if (k == max)
                continue;
            out[k].user = p->user;
            out[k].processes = 0;
            out[k].used_mem_mb = -1;
            k++;
        }
        out[j].processes++;
        if (p->used_mem_mb >= 0)
            out[j].used_mem_mb = (out[j].used_mem_mb < 0 ? 0 : out[j].used_mem_mb) + p->used_mem_mb;
    }
    return k;
}
