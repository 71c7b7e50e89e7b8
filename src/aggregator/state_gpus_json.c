/* SPDX-License-Identifier: MIT */
/* JSON views of the GPU states: the fields each GPU entry of /api/servers/{id} gains (state,
 * users, processes, health) and the fleet list of GET /api/gpus with its summary. */
#include "aggregator/gpu_state.h"
#include "aggregator/sample.h"
#include "aggregator/state.h"
#include "aggregator/state_priv.h"
#include "common/err.h"
#include "common/json.h"
#include "common/os/lock.h"

#include <cjson/cJSON.h>
#include <string.h>

#define LOCK_CHUNK 256 /* servers handled per hold of the registry lock */

static void add_str_or_null(cJSON *o, const char *name, const char *v)
{
    if (v && v[0])
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static void add_count(cJSON *o, const char *name, int64_t v)
{
    mon_json_add_opt(o, name, v >= 0, (double)v, 0);
}

static const char *proc_type(uint8_t type)
{
    switch (type) {
    case AGG_PROC_COMPUTE:
        return "compute";
    case AGG_PROC_GRAPHICS:
        return "graphics";
    case AGG_PROC_COMPUTE | AGG_PROC_GRAPHICS:
        return "compute+graphics";
    default:
        return NULL;
    }
}

static cJSON *proc_json(const struct agg_gpu_proc *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "pid", (double)p->pid);
    add_str_or_null(o, "user", p->user);
    add_count(o, "uid", p->uid);
    add_str_or_null(o, "command", p->command);
    add_str_or_null(o, "type", proc_type(p->type));
    mon_json_add_opt(o, "used_mem_mb", p->used_mem_mb >= 0, p->used_mem_mb, 0);
    add_str_or_null(o, "container", p->container);
    mon_json_add_time(o, "started_at", p->started_at);
    add_str_or_null(o, "error", p->error);
    return o;
}

static void add_ecc(cJSON *h, const struct agg_gpu *g)
{
    cJSON *e;
    if (g->ecc_mode < 0) {
        cJSON_AddNullToObject(h, "ecc");
        return;
    }
    e = cJSON_AddObjectToObject(h, "ecc");
    if (!e)
        return;
    cJSON_AddStringToObject(e, "mode", g->ecc_mode ? "enabled" : "disabled");
    add_count(e, "volatile_corrected", g->ecc_volatile_corrected);
    add_count(e, "volatile_uncorrected", g->ecc_volatile_uncorrected);
    add_count(e, "aggregate_corrected", g->ecc_aggregate_corrected);
    add_count(e, "aggregate_uncorrected", g->ecc_aggregate_uncorrected);
}

static void add_remap(cJSON *h, const struct agg_gpu *g)
{
    cJSON *rr;
    if (!g->has_remap) {
        cJSON_AddNullToObject(h, "remapped_rows");
        return;
    }
    rr = cJSON_AddObjectToObject(h, "remapped_rows");
    if (!rr)
        return;
    add_count(rr, "corrected", g->remap_corrected);
    add_count(rr, "uncorrected", g->remap_uncorrected);
    cJSON_AddBoolToObject(rr, "pending", g->remap_pending);
    cJSON_AddBoolToObject(rr, "failed", g->remap_failed);
}

static void add_throttle(cJSON *h, const struct agg_gpu *g)
{
    cJSON *arr;
    if (!g->has_throttle) {
        cJSON_AddNullToObject(h, "throttle");
        return;
    }
    arr = cJSON_AddArrayToObject(h, "throttle");
    for (unsigned i = 0; arr && i < AGG_THROTTLE_COUNT; i++)
        if (g->throttle & (1u << i))
            cJSON_AddItemToArray(arr, cJSON_CreateString(agg_throttle_name(i)));
}

static void add_xid(cJSON *h, const struct agg_gpu *g)
{
    cJSON *arr;
    if (!g->has_xid) {
        cJSON_AddNullToObject(h, "xid");
        cJSON_AddNullToObject(h, "last_xid");
        return;
    }
    arr = cJSON_AddArrayToObject(h, "xid");
    for (unsigned i = 0; arr && i < g->n_xid; i++) {
        cJSON *x = cJSON_CreateObject();
        if (!x || !cJSON_AddItemToArray(arr, x)) {
            cJSON_Delete(x);
            break;
        }
        cJSON_AddNumberToObject(x, "code", g->xid[i].code);
        mon_json_add_time(x, "at", g->xid[i].at);
    }
    if (g->n_xid) {
        cJSON *x = cJSON_AddObjectToObject(h, "last_xid");
        if (x) {
            cJSON_AddNumberToObject(x, "code", g->xid[g->n_xid - 1].code);
            mon_json_add_time(x, "at", g->xid[g->n_xid - 1].at);
        }
    } else {
        cJSON_AddNullToObject(h, "last_xid");
    }
}

static void add_health(cJSON *o, const struct agg_gpu *g)
{
    cJSON *h = cJSON_AddObjectToObject(o, "health");
    if (!h)
        return;
    add_ecc(h, g);
    add_remap(h, g);
    add_throttle(h, g);
    mon_json_add_opt(h, "fan_pct", g->has_fan, g->fan_pct, 0);
    mon_json_add_opt(h, "sm_clock_mhz", g->has_sm_clock, g->sm_clock_mhz, 0);
    mon_json_add_opt(h, "power_limit_w", g->has_power_limit, g->power_limit_w, 1);
    mon_json_add_opt(h, "pstate", g->has_pstate, g->pstate, 0);
    add_xid(h, g);
}

/* "users": the distinct names of the processes the agent could see, biggest memory first. */
static void add_users(cJSON *o, const struct agg_sample *s, const struct agg_gpu *g)
{
    struct agg_gpu_user users[AGG_MAX_GPU_PROCS];
    const struct agg_gpu_proc *procs = agg_sample_gpu_procs(s, g);
    size_t n = procs ? agg_gpu_users(procs, g->n_procs, users, AGG_MAX_GPU_PROCS) : 0;
    cJSON *arr = cJSON_AddArrayToObject(o, "users");
    for (size_t i = 0; arr && i < n; i++)
        if (users[i].user[0])
            cJSON_AddItemToArray(arr, cJSON_CreateString(users[i].user));
}

static void add_processes(cJSON *o, const struct agg_sample *s, const struct agg_gpu *g)
{
    const struct agg_gpu_proc *procs = agg_sample_gpu_procs(s, g);
    cJSON *arr;
    if (!g->has_procs) {
        cJSON_AddNullToObject(o, "processes");
        cJSON_AddBoolToObject(o, "processes_truncated", false);
        return;
    }
    arr = cJSON_AddArrayToObject(o, "processes");
    for (uint32_t i = 0; arr && procs && i < g->n_procs; i++) {
        cJSON *p = proc_json(&procs[i]);
        if (!p || !cJSON_AddItemToArray(arr, p)) {
            cJSON_Delete(p);
            break;
        }
    }
    cJSON_AddBoolToObject(o, "processes_truncated", g->procs_truncated);
}

/* Lock held. The state of GPU i as shown, with what goes with it. */
static void add_state(cJSON *o, const struct agg_state_rec *r, size_t i, bool live)
{
    const struct agg_gpu_track *t = i < r->gpus.n ? &r->gpus.t[i] : NULL;
    bool known = live && t && t->seen;

    cJSON_AddStringToObject(o, "state", agg_gpu_state_name(known ? t->state : AGG_GPU_UNKNOWN));
    if (known)
        mon_json_add_time(o, "state_since", t->since_ms >= 0 ? t->since_ms / 1000 : -1);
    else
        mon_json_add_time(o, "state_since", r->last_seen_utc_s);
    add_str_or_null(o, "state_reason", known && t->state == AGG_GPU_ERROR ? t->reason : NULL);
    cJSON_AddBoolToObject(o, "stale", !live);
}

cJSON *agg_state_gpu_json(const struct agg_state_rec *r, const struct agg_sample *s, size_t i,
                          bool live, bool with_server)
{
    const struct agg_gpu *g = &s->gpus[i];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (with_server) {
        cJSON_AddNumberToObject(o, "server_id", (double)r->cfg.id);
        cJSON_AddStringToObject(o, "server_name", r->cfg.name);
    }
    cJSON_AddNumberToObject(o, "index", g->index);
    add_str_or_null(o, "uuid", g->uuid);
    add_str_or_null(o, "name", g->name);
    mon_json_add_opt(o, "util_pct", g->has_util, g->util_pct, 1);
    mon_json_add_opt(o, "mem_used_mb", g->has_mem, g->mem_used_mb, 0);
    mon_json_add_opt(o, "mem_total_mb", g->has_mem, g->mem_total_mb, 0);
    mon_json_add_opt(o, "temp_c", g->has_temp, g->temp_c, 1);
    mon_json_add_opt(o, "power_w", g->has_power, g->power_w, 1);
    add_str_or_null(o, "error", g->error);
    add_state(o, r, i, live);
    add_users(o, s, g);
    add_processes(o, s, g);
    add_health(o, g);
    return o;
}

/* A GPU known only from the store (its server has not answered since the start). */
static cJSON *seed_gpu_json(const struct agg_state_rec *r, const struct agg_gpu_track *t)
{
    static const char *const nulls[] = {"name",      "util_pct", "mem_used_mb", "mem_total_mb",
                                        "temp_c",    "power_w",  "error",       "state_reason",
                                        "processes", "health"};
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "server_id", (double)r->cfg.id);
    cJSON_AddStringToObject(o, "server_name", r->cfg.name);
    cJSON_AddNumberToObject(o, "index", t->index);
    add_str_or_null(o, "uuid", t->uuid);
    for (size_t k = 0; k < sizeof(nulls) / sizeof(nulls[0]); k++)
        cJSON_AddNullToObject(o, nulls[k]);
    cJSON_AddStringToObject(o, "state", "unknown");
    mon_json_add_time(o, "state_since", r->last_seen_utc_s);
    cJSON_AddBoolToObject(o, "stale", true);
    cJSON_AddArrayToObject(o, "users");
    cJSON_AddBoolToObject(o, "processes_truncated", false);
    return o;
}

/* Lock held. Adds the GPUs of r to arr (those in q's state) and counts them all. */
static int add_server_gpus_locked(struct agg_state *st, const struct agg_state_rec *r,
                                  const struct agg_gpus_query *q, int64_t now_mono_ms, cJSON *arr,
                                  size_t counts[AGG_GPU_STATE_COUNT])
{
    MON_ASSERT_LOCKED(&st->lock);
    bool live = agg_state_rec_online(st, r, now_mono_ms);
    size_t n = r->sample ? r->sample->n_gpus : r->gpus.n_seeds;
    const struct agg_sample *full = NULL;

    if (r->sample && n && !(full = agg_state_rec_sample(st, r)))
        return MON_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct agg_gpu_track *t =
            r->sample ? (i < r->gpus.n ? &r->gpus.t[i] : NULL) : &r->gpus.seeds[i];
        enum agg_gpu_state state = r->sample && live && t && t->seen ? t->state : AGG_GPU_UNKNOWN;
        cJSON *o;
        counts[state]++;
        if (q->state >= 0 && (int)state != q->state)
            continue;
        o = full ? agg_state_gpu_json(r, full, i, live, true) : seed_gpu_json(r, t);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return MON_ENOMEM;
        }
    }
    return MON_OK;
}

int agg_state_gpus_json(struct agg_state *st, const struct agg_gpus_query *q, int64_t now_mono_ms,
                        cJSON **ret)
{
    size_t counts[AGG_GPU_STATE_COUNT] = {0}, total = 0;
    cJSON *root = cJSON_CreateObject(), *summary, *arr;
    int64_t next_id = 1;
    bool more = true, found = q->server_id <= 0;
    int rc = MON_OK;

    summary = root ? cJSON_AddObjectToObject(root, "summary") : NULL;
    arr = root ? cJSON_AddArrayToObject(root, "gpus") : NULL;
    if (!summary || !arr) {
        cJSON_Delete(root);
        return MON_ENOMEM;
    }
    /* A bounded number of servers per hold of the lock, resuming after the last id seen, so a
     * large fleet never holds up the poller for long. */
    while (more && rc == MON_OK) {
        size_t pos, end;
        pthread_mutex_lock(&st->lock);
        pos = agg_state_lower_bound(st, next_id);
        end = pos + LOCK_CHUNK < st->n ? pos + LOCK_CHUNK : st->n;
        for (size_t i = pos; i < end && rc == MON_OK; i++) {
            const struct agg_state_rec *r = st->recs[i];
            if (q->server_id > 0 && r->cfg.id != q->server_id)
                continue;
            found = true;
            rc = add_server_gpus_locked(st, r, q, now_mono_ms, arr, counts);
        }
        more = end < st->n;
        if (more)
            next_id = st->recs[end]->cfg.id;
        pthread_mutex_unlock(&st->lock);
    }
    if (rc == MON_OK && !found)
        rc = MON_ENOENT;
    if (rc < 0) {
        cJSON_Delete(root);
        return rc;
    }
    for (unsigned s = 0; s < AGG_GPU_STATE_COUNT; s++)
        total += counts[s];
    cJSON_AddNumberToObject(summary, "total", (double)total);
    for (unsigned s = AGG_GPU_FREE; s < AGG_GPU_STATE_COUNT; s++)
        cJSON_AddNumberToObject(summary, agg_gpu_state_name((enum agg_gpu_state)s),
                                (double)counts[s]);
    cJSON_AddNumberToObject(summary, "unknown", (double)counts[AGG_GPU_UNKNOWN]);
    *ret = root;
    return MON_OK;
}
