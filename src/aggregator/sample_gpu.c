/* SPDX-License-Identifier: MIT */
/* One GPU entry of an agent reply: figures, health (ECC, row remapping, throttle reasons, fan,
 * clocks, Xid) and who is on it (at most AGG_MAX_GPU_PROCS processes), each field checked. */
#include "aggregator/sample.h"
#include "aggregator/sample_priv.h"

#include "common/err.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define MB_MAX 1e12

static const char *const throttle_names[AGG_THROTTLE_COUNT] = {"gpu_idle",
                                                               "applications_clocks_setting",
                                                               "sw_power_cap",
                                                               "hw_slowdown",
                                                               "sync_boost",
                                                               "sw_thermal_slowdown",
                                                               "hw_thermal_slowdown",
                                                               "hw_power_brake_slowdown",
                                                               "display_clock_setting",
                                                               "other"};

const char *agg_throttle_name(unsigned i)
{
    return i < AGG_THROTTLE_COUNT ? throttle_names[i] : "other";
}

/* "<path without its dot>: not an object" for an array entry of the wrong type. */
static int entry_not_object(struct agg_parse_ctx *c)
{
    char prefix[AGG_PREFIX_LEN];
    agg_sample_prefix(c, prefix, sizeof(prefix));
    snprintf(c->why, c->why_len, "%.*s: not an object", (int)strlen(prefix) - 1, prefix);
    return MON_EPARSE;
}

/* "throttle": an array of reason names; a name this aggregator does not know counts as other. */
static int parse_throttle(struct agg_parse_ctx *c, const cJSON *o, struct agg_gpu *g)
{
    const cJSON *arr, *it;
    size_t n;
    int r;
    if ((r = agg_sample_array(c, o, "throttle", false, 64, &arr, &n)) < 0 || !arr)
        return r;
    g->has_throttle = true;
    cJSON_ArrayForEach(it, arr)
    {
        unsigned bit = AGG_THROTTLE_COUNT - 1;
        if (!cJSON_IsString(it) || strlen(it->valuestring) > 64)
            return agg_sample_fail(c, "throttle", "not an array of reason names");
        for (unsigned i = 0; i < AGG_THROTTLE_COUNT; i++)
            if (strcmp(it->valuestring, throttle_names[i]) == 0)
                bit = i;
        g->throttle |= (uint16_t)(1u << bit);
    }
    return MON_OK;
}

static int parse_ecc(struct agg_parse_ctx *c, const cJSON *o, struct agg_gpu *g)
{
    const cJSON *ecc;
    char mode[16];
    int r;
    g->ecc_mode = -1;
    g->ecc_volatile_corrected = g->ecc_volatile_uncorrected = -1;
    g->ecc_aggregate_corrected = g->ecc_aggregate_uncorrected = -1;
    if ((r = agg_sample_object(c, o, "ecc", &ecc)) < 0 || !ecc)
        return r;
    agg_sample_in(c, "ecc", AGG_NO_INDEX);
    if ((r = agg_sample_str(c, ecc, "mode", mode, sizeof(mode))) < 0 ||
        (r = agg_sample_count(c, ecc, "volatile_corrected", 1e15, &g->ecc_volatile_corrected)) <
            0 ||
        (r = agg_sample_count(c, ecc, "volatile_uncorrected", 1e15, &g->ecc_volatile_uncorrected)) <
            0 ||
        (r = agg_sample_count(c, ecc, "aggregate_corrected", 1e15, &g->ecc_aggregate_corrected)) <
            0 ||
        (r = agg_sample_count(c, ecc, "aggregate_uncorrected", 1e15,
                              &g->ecc_aggregate_uncorrected)) < 0)
        return r;
    if (strcmp(mode, "enabled") == 0)
        g->ecc_mode = 1;
    else if (strcmp(mode, "disabled") == 0)
        g->ecc_mode = 0;
    else if (mode[0])
        return agg_sample_fail(c, "mode", "not enabled or disabled");
    agg_sample_in(c, NULL, AGG_NO_INDEX);
    return MON_OK;
}

static int parse_remap(struct agg_parse_ctx *c, const cJSON *o, struct agg_gpu *g)
{
    const cJSON *rr;
    int r;
    g->remap_corrected = g->remap_uncorrected = -1;
    if ((r = agg_sample_object(c, o, "remapped_rows", &rr)) < 0 || !rr)
        return r;
    agg_sample_in(c, "remapped_rows", AGG_NO_INDEX);
    if ((r = agg_sample_count(c, rr, "corrected", 1e9, &g->remap_corrected)) < 0 ||
        (r = agg_sample_count(c, rr, "uncorrected", 1e9, &g->remap_uncorrected)) < 0 ||
        (r = agg_sample_bool(c, rr, "pending", &g->remap_pending)) < 0 ||
        (r = agg_sample_bool(c, rr, "failed", &g->remap_failed)) < 0)
        return r;
    g->has_remap = true;
    agg_sample_in(c, NULL, AGG_NO_INDEX);
    return MON_OK;
}

static int parse_xid(struct agg_parse_ctx *c, const cJSON *o, struct agg_gpu *g)
{
    const cJSON *arr, *it;
    size_t n, i = 0;
    int r;
    if ((r = agg_sample_array(c, o, "xid", false, AGG_MAX_GPU_XIDS, &arr, &n)) < 0 || !arr)
        return r;
    g->has_xid = true;
    cJSON_ArrayForEach(it, arr)
    {
        bool has_code = false;
        agg_sample_in(c, "xid", i);
        if (!cJSON_IsObject(it))
            return entry_not_object(c);
        if ((r = agg_sample_int(c, it, "code", 0, 1 << 20, &has_code, &g->xid[i].code)) < 0 ||
            (r = agg_sample_time(c, it, "at", &g->xid[i].at)) < 0)
            return r;
        if (!has_code)
            return agg_sample_fail(c, "code", "missing");
        i++;
    }
    g->n_xid = (uint8_t)i;
    agg_sample_in(c, NULL, AGG_NO_INDEX);
    return MON_OK;
}

static int parse_proc(struct agg_parse_ctx *c, const cJSON *o, struct agg_gpu_proc *p)
{
    char type[24];
    bool has_mem = false;
    int64_t pid = -1;
    int r;
    if ((r = agg_sample_count(c, o, "pid", 4294967295.0, &pid)) < 0 ||
        (r = agg_sample_count(c, o, "uid", 4294967295.0, &p->uid)) < 0 ||
        (r = agg_sample_str(c, o, "user", p->user, sizeof(p->user))) < 0 ||
        (r = agg_sample_str(c, o, "command", p->command, sizeof(p->command))) < 0 ||
        (r = agg_sample_str(c, o, "type", type, sizeof(type))) < 0 ||
        (r = agg_sample_num(c, o, "used_mem_mb", 0, MB_MAX, &has_mem, &p->used_mem_mb)) < 0 ||
        (r = agg_sample_str(c, o, "container", p->container, sizeof(p->container))) < 0 ||
        (r = agg_sample_time(c, o, "started_at", &p->started_at)) < 0 ||
        (r = agg_sample_str(c, o, "error", p->error, sizeof(p->error))) < 0)
        return r;
    if (pid < 0)
        return agg_sample_fail(c, "pid", "missing");
    p->pid = pid;
    if (!has_mem)
        p->used_mem_mb = -1;
    if (strcmp(type, "compute") == 0)
        p->type = AGG_PROC_COMPUTE;
    else if (strcmp(type, "graphics") == 0)
        p->type = AGG_PROC_GRAPHICS;
    else if (strcmp(type, "compute+graphics") == 0)
        p->type = AGG_PROC_COMPUTE | AGG_PROC_GRAPHICS;
    else if (type[0])
        return agg_sample_fail(c, "type", "not compute, graphics or compute+graphics");
    return MON_OK;
}

/* "processes" into the sample's procs array from *cursor on (room was counted beforehand). */
static int parse_procs(struct agg_parse_ctx *c, const cJSON *o, struct agg_sample *s,
                       struct agg_gpu *g, size_t *cursor)
{
    const cJSON *arr, *it;
    size_t n, i = 0;
    int r;
    if ((r = agg_sample_array(c, o, "processes", false, AGG_MAX_GPU_PROCS, &arr, &n)) < 0 ||
        (r = agg_sample_bool(c, o, "processes_truncated", &g->procs_truncated)) < 0 || !arr)
        return r;
    g->has_procs = true;
    g->procs_first = (uint32_t)*cursor;
    cJSON_ArrayForEach(it, arr)
    {
        agg_sample_in(c, "processes", i);
        if (!cJSON_IsObject(it))
            return entry_not_object(c);
        if ((r = parse_proc(c, it, &s->procs[*cursor])) < 0)
            return r;
        (*cursor)++;
        i++;
    }
    g->n_procs = (uint32_t)i;
    agg_sample_in(c, NULL, AGG_NO_INDEX);
    return MON_OK;
}

int agg_sample_parse_gpu(struct agg_parse_ctx *c, const cJSON *o, size_t pos, struct agg_sample *s,
                         size_t *proc_cursor)
{
    struct agg_gpu *g = &s->gpus[pos];
    bool has_index, has_total;
    int r;
    g->index = (int)pos;
    if ((r = agg_sample_int(c, o, "index", 0, 1023, &has_index, &g->index)) < 0 ||
        (r = agg_sample_str(c, o, "name", g->name, sizeof(g->name))) < 0 ||
        (r = agg_sample_str(c, o, "uuid", g->uuid, sizeof(g->uuid))) < 0 ||
        (r = agg_sample_pct(c, o, "util_pct", &g->has_util, &g->util_pct)) < 0 ||
        (r = agg_sample_num(c, o, "mem_used_mb", 0, MB_MAX, &g->has_mem, &g->mem_used_mb)) < 0 ||
        (r = agg_sample_num(c, o, "mem_total_mb", 0, MB_MAX, &has_total, &g->mem_total_mb)) < 0 ||
        (r = agg_sample_num(c, o, "temp_c", -50, 200, &g->has_temp, &g->temp_c)) < 0 ||
        (r = agg_sample_num(c, o, "power_w", 0, 10000, &g->has_power, &g->power_w)) < 0 ||
        (r = agg_sample_str(c, o, "error", g->error, sizeof(g->error))) < 0 ||
        (r = agg_sample_num(c, o, "fan_pct", 0, 1000, &g->has_fan, &g->fan_pct)) < 0 ||
        (r = agg_sample_num(c, o, "sm_clock_mhz", 0, 1e6, &g->has_sm_clock, &g->sm_clock_mhz)) <
            0 ||
        (r = agg_sample_num(c, o, "power_limit_w", 0, 10000, &g->has_power_limit,
                            &g->power_limit_w)) < 0 ||
        (r = agg_sample_int(c, o, "pstate", 0, 32, &g->has_pstate, &g->pstate)) < 0 ||
        (r = parse_throttle(c, o, g)) < 0 || (r = parse_ecc(c, o, g)) < 0 ||
        (r = parse_remap(c, o, g)) < 0 || (r = parse_xid(c, o, g)) < 0 ||
        (r = parse_procs(c, o, s, g, proc_cursor)) < 0)
        return r;
    g->has_mem = g->has_mem && has_total;
    return MON_OK;
}

int agg_sample_count_procs(struct agg_parse_ctx *c, const cJSON *gpus, size_t *ret)
{
    const cJSON *it;
    size_t i = 0, total = 0;
    cJSON_ArrayForEach(it, gpus)
    {
        const cJSON *arr = cJSON_IsObject(it) ? agg_sample_member(c, it, "processes") : NULL;
        if (cJSON_IsArray(arr)) {
            int n = cJSON_GetArraySize(arr);
            if (n > AGG_MAX_GPU_PROCS) {
                char reason[48];
                agg_sample_at(c, "gpus", i);
                snprintf(reason, sizeof(reason), "more than %d entries", AGG_MAX_GPU_PROCS);
                return agg_sample_fail(c, "processes", reason);
            }
            total += (size_t)n;
        }
        i++;
    }
    *ret = total;
    return MON_OK;
}
