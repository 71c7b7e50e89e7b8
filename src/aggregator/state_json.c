/* SPDX-License-Identifier: MIT */
/* JSON views of the live-state registry for the API (plan §5.1 and §5.2 field names), built
 * under the registry lock; tokens are never part of them. */
#include "aggregator/sample.h"
#include "aggregator/state.h"
#include "aggregator/state_priv.h"
#include "common/err.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char *status_text(const struct agg_state *st, const struct agg_state_rec *r,
                               int64_t now_mono_ms)
{
    if (!r->cfg.enabled)
        return "disabled";
    if (!agg_state_rec_online(st, r, now_mono_ms))
        return "offline";
    return r->sample && r->sample->degraded ? "degraded" : "online";
}

static const struct agg_disk *first_disk(const struct agg_sample *s)
{
    for (size_t i = 0; i < s->n_disks; i++)
        if (s->disks[i].has_value)
            return &s->disks[i];
    return NULL;
}

static void add_str_or_null(cJSON *o, const char *name, const char *v)
{
    if (v && v[0])
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static cJSON *latest_json(const struct agg_sample *s)
{
    const struct agg_disk *d = first_disk(s);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    mon_json_add_time(o, "ts", s->ts);
    for (size_t m = 0; m < AGG_METRIC_COUNT; m++) {
        double v = 0;
        bool has = agg_metrics[m].from_sample(s, &v);
        mon_json_add_opt(o, agg_metrics[m].name, has, v, agg_metrics[m].decimals);
    }
    /* The totals beside the metrics, from the same disk and GPUs. */
    mon_json_add_opt(o, "disk_used_bytes", d != NULL, d ? d->used_bytes : 0, 0);
    mon_json_add_opt(o, "disk_total_bytes", d != NULL, d ? d->total_bytes : 0, 0);
    mon_json_add_opt(o, "gpu_mem_total_mb", s->has_gpu, s->gpu_mem_total_mb, 0);
    cJSON_AddNumberToObject(o, "gpu_count", (double)s->n_gpus);
    cJSON_AddNumberToObject(o, "services_failed_count", s->services_failed_count);
    return o;
}

/* The GPUs found free and in error by the last sample (as stale as latest itself). */
static void add_gpu_counts(cJSON *latest, const struct agg_state_rec *r)
{
    cJSON_AddNumberToObject(latest, "gpu_free_count",
                            (double)agg_state_gpus_count(r, AGG_GPU_FREE));
    cJSON_AddNumberToObject(latest, "gpu_error_count",
                            (double)agg_state_gpus_count(r, AGG_GPU_ERROR));
}

static cJSON *rec_json(const struct agg_state *st, const struct agg_state_rec *r,
                       int64_t now_mono_ms)
{
    cJSON *o = cJSON_CreateObject(), *svc, *latest;
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)r->cfg.id);
    cJSON_AddStringToObject(o, "name", r->cfg.name);
    cJSON_AddStringToObject(o, "host", r->cfg.host);
    cJSON_AddNumberToObject(o, "agent_port", r->cfg.port);
    cJSON_AddBoolToObject(o, "enabled", r->cfg.enabled);
    svc = cJSON_AddArrayToObject(o, "services");
    for (size_t i = 0; svc && i < r->cfg.n_services; i++)
        cJSON_AddItemToArray(svc, cJSON_CreateString(r->cfg.services[i]));
    cJSON_AddBoolToObject(o, "token_set", r->cfg.token && r->cfg.token[0]);
    cJSON_AddBoolToObject(o, "online", agg_state_rec_online(st, r, now_mono_ms));
    cJSON_AddStringToObject(o, "status", status_text(st, r, now_mono_ms));
    add_str_or_null(o, "last_error", r->last_error);
    mon_json_add_time(o, "last_seen_at", r->last_seen_utc_s);
    latest = r->sample ? latest_json(r->sample) : cJSON_CreateNull();
    if (latest && r->sample)
        add_gpu_counts(latest, r);
    if (!latest || !cJSON_AddItemToObject(o, "latest", latest)) {
        cJSON_Delete(latest);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *agg_state_servers_json(struct agg_state *st, int64_t now_mono_ms)
{
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; arr && i < st->n; i++) {
        cJSON *o = rec_json(st, st->recs[i], now_mono_ms);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return arr;
}

static cJSON *agent_json(const struct agg_sample *s)
{
    cJSON *o = cJSON_CreateObject(), *load;
    if (!o)
        return NULL;
    add_str_or_null(o, "node_id", s->node_id);
    add_str_or_null(o, "agent_version", s->agent_version);
    mon_json_add_opt(o, "uptime_s", s->has_uptime, s->uptime_s, 0);
    cJSON_AddNumberToObject(o, "cpu_count", s->cpu_count);
    if (s->has_load) {
        load = cJSON_AddArrayToObject(o, "load");
        for (int i = 0; load && i < 3; i++)
            cJSON_AddItemToArray(load, cJSON_CreateNumber(mon_round(s->load[i], 2)));
    } else {
        cJSON_AddNullToObject(o, "load");
    }
    return o;
}

static void add_gpus(cJSON *root, const struct agg_state_rec *r, bool live)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "gpus");
    for (size_t i = 0; arr && r->sample && i < r->sample->n_gpus; i++) {
        cJSON *o = agg_state_gpu_json(r, i, live, false);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return;
        }
    }
}

static void add_disks(cJSON *root, const struct agg_sample *s)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "disks");
    for (size_t i = 0; arr && s && i < s->n_disks; i++) {
        const struct agg_disk *d = &s->disks[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return;
        }
        cJSON_AddStringToObject(o, "mount", d->mount);
        mon_json_add_opt(o, "used_bytes", d->has_value, d->used_bytes, 0);
        mon_json_add_opt(o, "total_bytes", d->has_value, d->total_bytes, 0);
        mon_json_add_opt(o, "used_pct", d->has_value, d->used_pct, 1);
        cJSON_AddBoolToObject(o, "stale", d->stale);
        add_str_or_null(o, "error", d->error);
    }
}

static const struct agg_unit *sample_unit(const struct agg_sample *s, const char *name)
{
    for (size_t i = 0; s && i < s->n_units; i++)
        if (strcmp(s->units[i].name, name) == 0)
            return &s->units[i];
    return NULL;
}

/* Lock held: the configured units in configuration order with their last sampled state. */
static cJSON *units_json(const struct agg_state_rec *r)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < r->cfg.n_services; i++) {
        const struct agg_unit *u = sample_unit(r->sample, r->cfg.services[i]);
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddStringToObject(o, "name", r->cfg.services[i]);
        add_str_or_null(o, "active_state", u ? u->active_state : NULL);
        add_str_or_null(o, "sub_state", u ? u->sub_state : NULL);
        mon_json_add_time(o, "since", u ? u->since : -1);
        add_str_or_null(o, "error", u ? u->error : NULL);
    }
    return arr;
}

cJSON *agg_state_server_json(struct agg_state *st, int64_t id, int64_t now_mono_ms)
{
    struct agg_state_rec *r;
    cJSON *o = NULL, *agent, *units;
    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id, NULL);
    if (!r || !(o = rec_json(st, r, now_mono_ms)))
        goto out;
    agent = r->sample ? agent_json(r->sample) : cJSON_CreateNull();
    if (!agent || !cJSON_AddItemToObject(o, "agent", agent)) {
        cJSON_Delete(agent);
        goto fail;
    }
    add_gpus(o, r, agg_state_rec_online(st, r, now_mono_ms));
    add_disks(o, r->sample);
    units = units_json(r);
    if (!units || !cJSON_AddItemToObject(o, "service_states", units)) {
        cJSON_Delete(units);
        goto fail;
    }
    mon_json_add_time(o, "sample_received_at", r->sample ? r->sample_utc_ms / 1000 : -1);
    goto out;
fail:
    cJSON_Delete(o);
    o = NULL;
out:
    pthread_mutex_unlock(&st->lock);
    return o;
}

int agg_state_services_json(struct agg_state *st, int64_t id, cJSON **ret)
{
    struct agg_state_rec *r;
    cJSON *arr = NULL;
    int rc = MON_OK;
    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id, NULL);
    if (!r)
        rc = MON_ENOENT;
    else if (!(arr = units_json(r)))
        rc = MON_ENOMEM;
    pthread_mutex_unlock(&st->lock);
    if (rc == MON_OK)
        *ret = arr;
    return rc;
}

int agg_state_recent_json(struct agg_state *st, int64_t id, const char *metric, int64_t now_utc_ms,
                          cJSON **ret)
{
    const struct agg_metric *m = agg_metric_find(metric);
    struct agg_state_rec *r;
    cJSON *root = NULL, *data;
    int rc = MON_OK;

    if (!m)
        return MON_EINVAL;
    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id, NULL);
    if (!r) {
        rc = MON_ENOENT;
        goto out;
    }
    root = cJSON_CreateObject();
    if (!root) {
        rc = MON_ENOMEM;
        goto out;
    }
    cJSON_AddNumberToObject(root, "server_id", (double)id);
    cJSON_AddStringToObject(root, "metric", m->name);
    cJSON_AddNumberToObject(root, "interval_s", (double)st->opt.interval_ms / 1000.0);
    data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; data && i < r->ring_len; i++) {
        const struct agg_state_point *p = &r->ring[(r->ring_head + i) % st->ring_cap];
        cJSON *o;
        if (p->utc_ms < now_utc_ms - 3600000)
            continue;
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(data, o)) {
            cJSON_Delete(o);
            data = NULL;
            break;
        }
        mon_json_add_time(o, "ts", p->utc_ms / 1000);
        mon_json_add_opt(o, "value", (p->present & (1u << m->id)) != 0, p->values[m->id], 1);
    }
    if (!data) {
        cJSON_Delete(root);
        root = NULL;
        rc = MON_ENOMEM;
    }
out:
    pthread_mutex_unlock(&st->lock);
    if (rc == MON_OK)
        *ret = root;
    return rc;
}
