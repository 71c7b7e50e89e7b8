/* SPDX-License-Identifier: MIT */
/* JSON views of one server of the live-state registry for the API (field names in docs/api.md),
 * built under the registry lock; tokens are never part of them. */
#include "aggregator/sample.h"
#include "aggregator/state.h"
#include "aggregator/state_priv.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <string.h>

static void add_str_or_null(cJSON *o, const char *name, const char *v)
{
    if (v && v[0])
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

/* Lock held. The list entry of a record as a cJSON object (the one text writer of
 * state_list.c is the single definition of those fields). */
static cJSON *rec_json(const struct agg_state_rec *r)
{
    struct mon_buf b;
    cJSON *o = NULL;
    mon_buf_init(&b, 1024 * 1024);
    if (agg_state_rec_write(r, AGG_FIELD_ALL, &b) == MON_OK)
        o = cJSON_ParseWithLength(b.data, b.len);
    mon_buf_done(&b);
    return o;
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

static void add_gpus(cJSON *root, const struct agg_state_rec *r, const struct agg_sample *s,
                     bool live)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "gpus");
    for (size_t i = 0; arr && s && i < s->n_gpus; i++) {
        cJSON *o = agg_state_gpu_json(r, s, i, live, false);
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
static cJSON *units_json(const struct agg_state_rec *r, const struct agg_sample *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < r->cfg.n_services; i++) {
        const struct agg_unit *u = sample_unit(s, r->cfg.services[i]);
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
    const struct agg_sample *full = NULL;
    cJSON *o = NULL, *agent, *units;
    pthread_mutex_lock(&st->lock);
    (void)now_mono_ms;
    r = agg_state_find(st, id);
    if (!r || !(o = rec_json(r)))
        goto out;
    if (r->sample && !(full = agg_state_rec_sample(st, r)))
        goto fail;
    agent = r->sample ? agent_json(r->sample) : cJSON_CreateNull();
    if (!agent || !cJSON_AddItemToObject(o, "agent", agent)) {
        cJSON_Delete(agent);
        goto fail;
    }
    add_gpus(o, r, full, agg_state_rec_online(st, r, now_mono_ms));
    add_disks(o, full);
    units = units_json(r, full);
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
    const struct agg_sample *full = NULL;
    cJSON *arr = NULL;
    int rc = MON_OK;
    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id);
    if (!r)
        rc = MON_ENOENT;
    else if ((r->sample && !(full = agg_state_rec_sample(st, r))) || !(arr = units_json(r, full)))
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
    int rc = MON_OK;
    struct agg_state_rec *r;
    struct agg_ring_values v;
    cJSON *root = NULL, *data;
    size_t i = 0;
    int64_t t = 0;

    if (!m)
        return MON_EINVAL;
    pthread_mutex_lock(&st->lock);
    r = agg_state_find(st, id);
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
    while (data && agg_ring_next(&r->ring, &i, &t, &v)) {
        cJSON *o;
        if (t * 1000 < now_utc_ms - 3600000)
            continue;
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(data, o)) {
            cJSON_Delete(o);
            data = NULL;
            break;
        }
        mon_json_add_time(o, "ts", t);
        mon_json_add_opt(o, "value", v.has[m->id], v.v[m->id], 1);
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
