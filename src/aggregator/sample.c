/* SPDX-License-Identifier: MIT */
/* Strict parser of an agent /v1/snapshot reply into struct agg_sample: every field checked for
 * type and range, every string and array capped; nothing is truncated silently. */
#include "aggregator/sample.h"
#include "aggregator/sample_priv.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/json_arena.h"
#include "common/str.h"
#include "common/text.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define BYTES_MAX 1e18

static int item_ctx(struct agg_parse_ctx *c, const char *array, size_t i, const cJSON *item)
{
    agg_sample_at(c, array, i);
    if (!cJSON_IsObject(item)) {
        snprintf(c->why, c->why_len, "%s[%zu]: not an object", array, i);
        return MON_EPARSE;
    }
    return MON_OK;
}

static int parse_disk(struct agg_parse_ctx *c, const cJSON *o, struct agg_disk *d)
{
    bool has_used, has_total, has_pct;
    int r;
    if ((r = agg_sample_str(c, o, "mount", d->mount, sizeof(d->mount))) < 0)
        return r;
    if (!d->mount[0])
        return agg_sample_fail(c, "mount", "missing");
    if ((r = agg_sample_num(c, o, "used_bytes", 0, BYTES_MAX, &has_used, &d->used_bytes)) < 0 ||
        (r = agg_sample_num(c, o, "total_bytes", 0, BYTES_MAX, &has_total, &d->total_bytes)) < 0 ||
        (r = agg_sample_pct(c, o, "used_pct", &has_pct, &d->used_pct)) < 0 ||
        (r = agg_sample_bool(c, o, "stale", &d->stale)) < 0 ||
        (r = agg_sample_str(c, o, "error", d->error, sizeof(d->error))) < 0)
        return r;
    d->has_value = has_used && has_total && has_pct;
    if (!d->has_value)
        d->used_bytes = d->total_bytes = d->used_pct = 0;
    return MON_OK;
}

static int parse_unit(struct agg_parse_ctx *c, const cJSON *o, struct agg_unit *u)
{
    const cJSON *since;
    int r;
    u->since = -1;
    if ((r = agg_sample_str(c, o, "name", u->name, sizeof(u->name))) < 0 ||
        (r = agg_sample_str(c, o, "active_state", u->active_state, sizeof(u->active_state))) < 0 ||
        (r = agg_sample_str(c, o, "sub_state", u->sub_state, sizeof(u->sub_state))) < 0 ||
        (r = agg_sample_str(c, o, "error", u->error, sizeof(u->error))) < 0)
        return r;
    if (!u->name[0])
        return agg_sample_fail(c, "name", "missing");
    since = agg_sample_member(c, o, "since");
    if (since && !cJSON_IsNull(since)) {
        if (!cJSON_IsString(since) || mon_parse_iso8601(since->valuestring, &u->since) < 0)
            return agg_sample_fail(c, "since", "not an ISO-8601 time");
    }
    return MON_OK;
}

static int parse_mem(struct agg_parse_ctx *c, const cJSON *root, struct agg_sample *s)
{
    const cJSON *mem = agg_sample_member(c, root, "mem");
    bool has_used, has_total;
    int r;
    if (!mem || cJSON_IsNull(mem))
        return MON_OK;
    if (!cJSON_IsObject(mem))
        return agg_sample_fail(c, "mem", "not an object");
    agg_sample_at(c, "mem", AGG_NO_INDEX);
    if ((r = agg_sample_num(c, mem, "used_bytes", 0, BYTES_MAX, &has_used, &s->mem_used_bytes)) <
            0 ||
        (r = agg_sample_num(c, mem, "total_bytes", 0, BYTES_MAX, &has_total, &s->mem_total_bytes)) <
            0 ||
        (r = agg_sample_pct(c, mem, "used_pct", &s->has_mem, &s->mem_used_pct)) < 0)
        return r;
    agg_sample_at(c, NULL, AGG_NO_INDEX);
    return MON_OK;
}

static int parse_load(struct agg_parse_ctx *c, const cJSON *root, struct agg_sample *s)
{
    const cJSON *load = agg_sample_member(c, root, "load"), *it;
    int i = 0;
    if (!load || cJSON_IsNull(load))
        return MON_OK;
    if (!cJSON_IsArray(load) || cJSON_GetArraySize(load) != 3)
        return agg_sample_fail(c, "load", "not an array of 3 numbers");
    cJSON_ArrayForEach(it, load)
    {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < 0 ||
            it->valuedouble > 1e6)
            return agg_sample_fail(c, "load", "not an array of 3 numbers");
        s->load[i++] = it->valuedouble;
    }
    s->has_load = true;
    return MON_OK;
}

static int parse_top(struct agg_parse_ctx *c, const cJSON *root, struct agg_sample *s)
{
    const cJSON *ts = agg_sample_member(c, root, "ts");
    bool has_count;
    char health[16];
    int r;

    if (!ts || cJSON_IsNull(ts))
        return agg_sample_fail(c, "ts", "missing");
    if (!cJSON_IsString(ts) || mon_parse_iso8601(ts->valuestring, &s->ts) < 0)
        return agg_sample_fail(c, "ts", "not an ISO-8601 time");
    if (!agg_sample_member(c, root, "cpu_pct"))
        return agg_sample_fail(c, "cpu_pct", "missing");
    if ((r = agg_sample_pct(c, root, "cpu_pct", &s->has_cpu, &s->cpu_pct)) < 0 ||
        (r = agg_sample_str(c, root, "node_id", s->node_id, sizeof(s->node_id))) < 0 ||
        (r = agg_sample_str(c, root, "agent_version", s->agent_version, sizeof(s->agent_version))) <
            0 ||
        (r = agg_sample_num(c, root, "uptime_s", 0, 1e11, &s->has_uptime, &s->uptime_s)) < 0 ||
        (r = agg_sample_int(c, root, "cpu_count", 0, 1 << 20, &has_count, &s->cpu_count)) < 0 ||
        (r = agg_sample_str(c, root, "health", health, sizeof(health))) < 0 ||
        (r = parse_load(c, root, s)) < 0 || (r = parse_mem(c, root, s)) < 0)
        return r;
    if (strcmp(health, "degraded") == 0 || strcmp(health, "error") == 0)
        s->degraded = true;
    return MON_OK;
}

/* Plan §3.4: over GPUs without error, utilisation is the max and memory the sum. */
static void summarise(struct agg_sample *s)
{
    for (size_t i = 0; i < s->n_gpus; i++) {
        const struct agg_gpu *g = &s->gpus[i];
        if (g->error[0]) {
            s->degraded = true;
            continue;
        }
        if (g->has_util) {
            if (!s->has_gpu || g->util_pct > s->gpu_util_max)
                s->gpu_util_max = g->util_pct;
            s->has_gpu = true;
        }
        if (g->has_mem) {
            s->gpu_mem_used_mb += g->mem_used_mb;
            s->gpu_mem_total_mb += g->mem_total_mb;
        }
    }
    for (size_t i = 0; i < s->n_disks; i++)
        if (s->disks[i].error[0] || s->disks[i].stale)
            s->degraded = true;
    for (size_t i = 0; i < s->n_units; i++) {
        if (s->units[i].error[0])
            s->degraded = true;
        if (strcmp(s->units[i].active_state, "failed") == 0)
            s->services_failed_count++;
    }
    /* A watched service that failed is a problem on a reachable server: degraded. */
    if (s->services_failed_count > 0)
        s->degraded = true;
}

/* Parses the entry arrays into the sample's reused storage. */
static int parse_arrays(struct agg_parse_ctx *c, const cJSON *root, struct agg_sample *s)
{
    const cJSON *disks, *gpus, *units, *it;
    size_t i, n_procs = 0, proc_cursor = 0;
    int r;

    if ((r = agg_sample_array(c, root, "disks", true, AGG_MAX_DISKS, &disks, &s->n_disks)) < 0 ||
        (r = agg_sample_array(c, root, "gpus", true, AGG_MAX_GPUS, &gpus, &s->n_gpus)) < 0 ||
        (r = agg_sample_array(c, root, "services", false, AGG_MAX_UNITS, &units, &s->n_units)) < 0)
        return r;
    s->units_present = units != NULL;
    if ((r = agg_sample_count_procs(c, gpus, &n_procs)) < 0)
        return r;
    if (agg_sample_reserve(s, s->n_disks, s->n_gpus, s->n_units, n_procs) < 0)
        return MON_ENOMEM;
    /* (each loop also stops at the counted size, which the array cannot exceed) */
    i = 0;
    cJSON_ArrayForEach(it, disks)
    {
        if (i >= s->n_disks)
            break;
        if ((r = item_ctx(c, "disks", i, it)) < 0 || (r = parse_disk(c, it, &s->disks[i])) < 0)
            return r;
        i++;
    }
    i = 0;
    cJSON_ArrayForEach(it, gpus)
    {
        if (i >= s->n_gpus)
            break;
        if ((r = item_ctx(c, "gpus", i, it)) < 0 ||
            (r = agg_sample_parse_gpu(c, it, i, s, &proc_cursor)) < 0)
            return r;
        i++;
    }
    s->n_procs = proc_cursor;
    i = 0;
    cJSON_ArrayForEach(it, units)
    {
        if (i >= s->n_units)
            break;
        if ((r = item_ctx(c, "services", i, it)) < 0 || (r = parse_unit(c, it, &s->units[i])) < 0)
            return r;
        i++;
    }
    return MON_OK;
}

/* True when no byte has the high bit set (the common case: a word at a time). */
static bool ascii_only(const char *s, size_t len)
{
    uint64_t acc = 0, w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < len; i++)
        acc |= (unsigned char)s[i];
    return (acc & 0x8080808080808080ULL) == 0;
}

int agg_sample_parse_into(const char *body, size_t len, struct agg_sample *s, char *why,
                          size_t why_len)
{
    struct agg_parse_ctx c = {.why = why, .why_len = why_len};
    cJSON *root = NULL;
    int r;

    agg_sample_clear(s);
    if (why_len)
        why[0] = '\0';
    if (!body || len == 0) {
        snprintf(why, why_len, "empty reply");
        return MON_EPARSE;
    }
    if (!ascii_only(body, len) && !mon_utf8_valid(body, len)) {
        /* JSON text is UTF-8; the API passes strings on */
        snprintf(why, why_len, "not UTF-8");
        return MON_EPARSE;
    }
    /* Strict like the API's bodies: \u0000 would cut a string, a repeated key or trailing data
     * would be ignored silently. */
    r = mon_json_parse_strict(body, len, &root, why, why_len);
    if (r < 0)
        goto out;
    if (!cJSON_IsObject(root)) {
        snprintf(why, why_len, "not a JSON object");
        r = MON_EPARSE;
        goto out;
    }
    if ((r = parse_top(&c, root, s)) < 0 || (r = parse_arrays(&c, root, s)) < 0)
        goto out;
    summarise(s);
    r = MON_OK;
out:
    if (r == MON_ENOMEM)
        snprintf(why, why_len, "out of memory");
    if (r < 0)
        agg_sample_clear(s);
    mon_json_arena_delete(root); /* the poller parses with an arena: nothing to free */
    return r;
}

int agg_sample_parse(const char *body, size_t len, struct agg_sample **ret, char *why,
                     size_t why_len)
{
    struct agg_sample *s = NULL;
    int r = agg_sample_new(&s);
    if (r < 0) {
        snprintf(why, why_len, "out of memory");
        return r;
    }
    r = agg_sample_parse_into(body, len, s, why, why_len);
    if (r < 0) {
        agg_sample_free(s);
        return r;
    }
    *ret = s;
    return MON_OK;
}
