/* SPDX-License-Identifier: MIT */
/* Strict parser of an agent /v1/snapshot reply into struct agg_sample: every field checked for
 * type and range, every string and array capped; nothing is truncated silently. */
#include "aggregator/sample.h"
#include "aggregator/sample_priv.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/str.h"
#include "common/text.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCT_MAX   100.0001 /* agents round; a hair above 100 is accepted and clamped */
#define BYTES_MAX 1e18
#define MB_MAX    1e12

const cJSON *agg_sample_member(struct agg_parse_ctx *c, const cJSON *o, const char *name)
{
    const cJSON *start, *it;
    if (!o)
        return NULL;
    start = c->obj == o && c->last && c->last->next ? c->last->next : o->child;
    for (it = start; it; it = it->next)
        if (it->string && strcmp(it->string, name) == 0)
            goto found;
    for (it = o->child; it && it != start; it = it->next)
        if (it->string && strcmp(it->string, name) == 0)
            goto found;
    return NULL;
found:
    c->obj = o;
    c->last = it;
    return it;
}

/* An object whose only member is it (or none): the common JSON readers, which look a name up
 * in an object, find it at once (see agg_sample_member). */
static cJSON only(const cJSON *it)
{
    return (cJSON){.type = cJSON_Object, .child = (cJSON *)it};
}

/* True when s is printable ASCII only: nothing to strip (the common case). */
static bool printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

int agg_sample_fail(struct agg_parse_ctx *c, const char *field, const char *reason)
{
    snprintf(c->why, c->why_len, "%s%s: %s", c->prefix, field, reason);
    return MON_EPARSE;
}

/* Reads an optional number; *ret_has tells whether it was present (not absent, not null). */
int agg_sample_num(struct agg_parse_ctx *c, const cJSON *o, const char *name, double min,
                   double max, bool *ret_has, double *ret)
{
    char reason[128];
    double v = 0;
    cJSON one = only(agg_sample_member(c, o, name));
    int r = mon_json_get_number(&one, name, min, max, &v, reason, sizeof(reason));
    if (r == MON_ENOENT) {
        *ret_has = false;
        return MON_OK;
    }
    if (r < 0) {
        snprintf(c->why, c->why_len, "%s%s", c->prefix, reason);
        return MON_EPARSE;
    }
    *ret_has = true;
    *ret = v;
    return MON_OK;
}

int agg_sample_pct(struct agg_parse_ctx *c, const cJSON *o, const char *name, bool *ret_has,
                   double *ret)
{
    int r = agg_sample_num(c, o, name, 0, PCT_MAX, ret_has, ret);
    if (r == MON_OK && *ret_has && *ret > 100.0)
        *ret = 100.0;
    return r;
}

/* Reads an optional integer in [min, max]. */
int agg_sample_int(struct agg_parse_ctx *c, const cJSON *o, const char *name, int min, int max,
                   bool *ret_has, int *ret)
{
    double v = 0;
    int r = agg_sample_num(c, o, name, min, max, ret_has, &v);
    if (r < 0 || !*ret_has)
        return r;
    if (floor(v) != v)
        return agg_sample_fail(c, name, "not an integer");
    *ret = (int)v;
    return MON_OK;
}

/* Copies an optional string into dst (size bytes with the NUL); too long is an error. Hidden
 * characters are removed. */
int agg_sample_str(struct agg_parse_ctx *c, const cJSON *o, const char *name, char *dst,
                   size_t size)
{
    char reason[128];
    const char *s = NULL;
    cJSON one = only(agg_sample_member(c, o, name));
    int r = mon_json_get_string(&one, name, size - 1, &s, reason, sizeof(reason));
    dst[0] = '\0';
    if (r == MON_ENOENT)
        return MON_OK;
    if (r < 0) {
        snprintf(c->why, c->why_len, "%s%s", c->prefix, reason);
        return MON_EPARSE;
    }
    mon_strlcpy(dst, s, size);
    /* Agent text is shown to people and stored: no controls, no invisible or text-direction
     * characters that could make "srv-01" look like another name or reorder a line. */
    if (!printable_ascii(dst))
        mon_text_strip_hidden(dst);
    return MON_OK;
}

int agg_sample_bool(struct agg_parse_ctx *c, const cJSON *o, const char *name, bool *ret)
{
    const cJSON *it = agg_sample_member(c, o, name);
    *ret = false;
    if (!it || cJSON_IsNull(it))
        return MON_OK;
    if (!cJSON_IsBool(it))
        return agg_sample_fail(c, name, "not a boolean");
    *ret = cJSON_IsTrue(it);
    return MON_OK;
}

/* Returns the array item name (NULL when absent or null) after checking its type and size. */
int agg_sample_array(struct agg_parse_ctx *c, const cJSON *o, const char *name, bool required,
                     int max, const cJSON **ret, size_t *ret_n)
{
    const cJSON *it = agg_sample_member(c, o, name);
    char reason[48];
    int n;
    *ret = NULL;
    *ret_n = 0;
    if (!it || cJSON_IsNull(it))
        return required ? agg_sample_fail(c, name, "missing") : MON_OK;
    if (!cJSON_IsArray(it))
        return agg_sample_fail(c, name, "not an array");
    n = cJSON_GetArraySize(it);
    if (n > max) {
        snprintf(reason, sizeof(reason), "more than %d entries", max);
        return agg_sample_fail(c, name, reason);
    }
    *ret = it;
    *ret_n = (size_t)n;
    return MON_OK;
}

/* Reads an optional whole number in [0, max]; -1 when absent or null. */
int agg_sample_count(struct agg_parse_ctx *c, const cJSON *o, const char *name, double max,
                     int64_t *ret)
{
    bool has = false;
    double v = 0;
    int r = agg_sample_num(c, o, name, 0, max, &has, &v);
    if (r < 0)
        return r;
    if (has && floor(v) != v)
        return agg_sample_fail(c, name, "not an integer");
    *ret = has ? (int64_t)v : -1;
    return MON_OK;
}

/* Reads an optional ISO-8601 time; -1 when absent or null. */
int agg_sample_time(struct agg_parse_ctx *c, const cJSON *o, const char *name, int64_t *ret)
{
    const cJSON *it = agg_sample_member(c, o, name);
    int64_t t = -1;
    *ret = -1;
    if (!it || cJSON_IsNull(it))
        return MON_OK;
    if (!cJSON_IsString(it) || mon_parse_iso8601(it->valuestring, &t) < 0)
        return agg_sample_fail(c, name, "not an ISO-8601 time");
    /* -1 means "not given": an earlier time is no process start or Xid an agent reports. */
    if (t < 0)
        return agg_sample_fail(c, name, "before 1970");
    *ret = t;
    return MON_OK;
}

/* Returns the object item name (NULL when absent or null) after checking its type. */
int agg_sample_object(struct agg_parse_ctx *c, const cJSON *o, const char *name, const cJSON **ret)
{
    const cJSON *it = agg_sample_member(c, o, name);
    *ret = NULL;
    if (!it || cJSON_IsNull(it))
        return MON_OK;
    if (!cJSON_IsObject(it))
        return agg_sample_fail(c, name, "not an object");
    *ret = it;
    return MON_OK;
}

static int item_ctx(struct agg_parse_ctx *c, const char *array, size_t i, const cJSON *item)
{
    snprintf(c->prefix, sizeof(c->prefix), "%s[%zu].", array, i);
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
    mon_strlcpy(c->prefix, "mem.", sizeof(c->prefix));
    if ((r = agg_sample_num(c, mem, "used_bytes", 0, BYTES_MAX, &has_used, &s->mem_used_bytes)) <
            0 ||
        (r = agg_sample_num(c, mem, "total_bytes", 0, BYTES_MAX, &has_total, &s->mem_total_bytes)) <
            0 ||
        (r = agg_sample_pct(c, mem, "used_pct", &s->has_mem, &s->mem_used_pct)) < 0)
        return r;
    c->prefix[0] = '\0';
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

/* Parses the three entry arrays; entries are allocated to exactly the number received. */
/* arr with room for n entries of size bytes (moved when it grew); NULL when growing failed
 * (arr is then unchanged) or when nothing was ever needed. */
static void *grow_to(void *arr, size_t *cap, size_t n, size_t size)
{
    void *grown;
    if (n <= *cap)
        return arr;
    grown = realloc(arr, n * size);
    if (grown)
        *cap = n;
    return grown;
}

/* Makes room in s for the given numbers of entries and zeroes them. */
static int reserve(struct agg_sample *s, size_t n_disks, size_t n_gpus, size_t n_units,
                   size_t n_procs)
{
    struct agg_disk *d = grow_to(s->disks, &s->cap_disks, n_disks, sizeof(*d));
    struct agg_gpu *g;
    struct agg_unit *u;
    struct agg_gpu_proc *p;
    if (d)
        s->disks = d;
    g = grow_to(s->gpus, &s->cap_gpus, n_gpus, sizeof(*g));
    if (g)
        s->gpus = g;
    u = grow_to(s->units, &s->cap_units, n_units, sizeof(*u));
    if (u)
        s->units = u;
    p = grow_to(s->procs, &s->cap_procs, n_procs, sizeof(*p));
    if (p)
        s->procs = p;
    if ((n_disks && !s->disks) || (n_gpus && !s->gpus) || (n_units && !s->units) ||
        (n_procs && !s->procs) || (n_disks && !d) || (n_gpus && !g) || (n_units && !u) ||
        (n_procs && !p))
        return MON_ENOMEM;
    if (n_disks)
        memset(s->disks, 0, n_disks * sizeof(*s->disks));
    if (n_gpus)
        memset(s->gpus, 0, n_gpus * sizeof(*s->gpus));
    if (n_units)
        memset(s->units, 0, n_units * sizeof(*s->units));
    if (n_procs)
        memset(s->procs, 0, n_procs * sizeof(*s->procs));
    return MON_OK;
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
    if (reserve(s, s->n_disks, s->n_gpus, s->n_units, n_procs) < 0)
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

/* Empties s, keeping its arrays for reuse. */
static void sample_clear(struct agg_sample *s)
{
    struct agg_disk *disks = s->disks;
    struct agg_gpu *gpus = s->gpus;
    struct agg_unit *units = s->units;
    struct agg_gpu_proc *procs = s->procs;
    size_t cd = s->cap_disks, cg = s->cap_gpus, cu = s->cap_units, cp = s->cap_procs;
    memset(s, 0, sizeof(*s));
    s->disks = disks;
    s->gpus = gpus;
    s->units = units;
    s->procs = procs;
    s->cap_disks = cd;
    s->cap_gpus = cg;
    s->cap_units = cu;
    s->cap_procs = cp;
}

int agg_sample_new(struct agg_sample **ret_sample)
{
    struct agg_sample *s = calloc(1, sizeof(*s));
    if (!s)
        return MON_ENOMEM;
    *ret_sample = s;
    return MON_OK;
}

int agg_sample_parse_into(const char *body, size_t len, struct agg_sample *s, char *why,
                          size_t why_len)
{
    struct agg_parse_ctx c = {.why = why, .why_len = why_len};
    cJSON *root = NULL;
    int r;

    sample_clear(s);
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
        sample_clear(s);
    cJSON_Delete(root);
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

int agg_sample_copy(struct agg_sample *dst, const struct agg_sample *src)
{
    sample_clear(dst);
    if (reserve(dst, src->n_disks, src->n_gpus, src->n_units, src->n_procs) < 0)
        return MON_ENOMEM;
    {
        struct agg_disk *disks = dst->disks;
        struct agg_gpu *gpus = dst->gpus;
        struct agg_unit *units = dst->units;
        struct agg_gpu_proc *procs = dst->procs;
        size_t cd = dst->cap_disks, cg = dst->cap_gpus, cu = dst->cap_units, cp = dst->cap_procs;
        *dst = *src;
        dst->disks = disks;
        dst->gpus = gpus;
        dst->units = units;
        dst->procs = procs;
        dst->cap_disks = cd;
        dst->cap_gpus = cg;
        dst->cap_units = cu;
        dst->cap_procs = cp;
    }
    if (src->n_disks)
        memcpy(dst->disks, src->disks, src->n_disks * sizeof(*dst->disks));
    if (src->n_gpus)
        memcpy(dst->gpus, src->gpus, src->n_gpus * sizeof(*dst->gpus));
    if (src->n_units)
        memcpy(dst->units, src->units, src->n_units * sizeof(*dst->units));
    if (src->n_procs)
        memcpy(dst->procs, src->procs, src->n_procs * sizeof(*dst->procs));
    return MON_OK;
}

void agg_sample_free(struct agg_sample *s)
{
    if (!s)
        return;
    free(s->disks);
    free(s->gpus);
    free(s->units);
    free(s->procs);
    free(s);
}

const struct agg_gpu_proc *agg_sample_gpu_procs(const struct agg_sample *s, const struct agg_gpu *g)
{
    if (!g->has_procs || g->n_procs == 0 || !s->procs ||
        (size_t)g->procs_first + g->n_procs > s->n_procs)
        return NULL;
    return &s->procs[g->procs_first];
}
