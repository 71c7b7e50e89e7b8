/* SPDX-License-Identifier: MIT */
/* Serialises sampled values (and who is on each GPU) as the /v1/snapshot JSON object. */
#include "agent/snapshot.h"

#include "agent/gpu_procs.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static bool add_disks(cJSON *root, const struct agent_values *v)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "disks");
    if (!arr)
        return false;
    for (size_t i = 0; i < v->n_disks; i++) {
        const struct agent_disk_entry *d = &v->disks[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o))
            return false;
        cJSON_AddStringToObject(o, "mount", d->mount);
        mon_json_add_opt(o, "used_bytes", d->have_value, (double)d->usage.used_bytes, 0);
        mon_json_add_opt(o, "total_bytes", d->have_value, (double)d->usage.total_bytes, 0);
        mon_json_add_opt(o, "used_pct", d->have_value, d->usage.used_pct, 1);
        if (d->stale)
            cJSON_AddBoolToObject(o, "stale", 1);
        if (d->error[0])
            cJSON_AddStringToObject(o, "error", d->error);
        else if (!d->have_value)
            cJSON_AddStringToObject(o, "error", "not read yet");
    }
    return true;
}

#define PROCESSES_JSON_MAX (256 * 1024) /* one GPU's list: 64 entries of at most ~1 KB */

static const char *process_type(unsigned type)
{
    if (type == (GPU_PROCESS_COMPUTE | GPU_PROCESS_GRAPHICS))
        return "compute+graphics";
    return type == GPU_PROCESS_GRAPHICS ? "graphics" : "compute";
}

/* Appends s as a JSON string: quotes, backslashes and control characters escaped; a string
 * that is not UTF-8 has its non-ASCII bytes replaced by '?' (JSON text must be UTF-8). */
static void put_string(struct mon_buf *b, const char *s)
{
    size_t n = strlen(s);
    bool utf8 = mon_utf8_valid(s, n);
    const char *run = s;

    (void)mon_buf_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || utf8))
            continue;
        (void)mon_buf_append(b, run, (size_t)(p - run));
        if (c >= 0x80)
            (void)mon_buf_append(b, "?", 1);
        else if (c == '"' || c == '\\')
            (void)mon_buf_append(b, (const char[]){'\\', (char)c}, 2);
        else
            (void)mon_buf_append(b, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c));
        run = p + 1;
    }
    (void)mon_buf_append(b, run, strlen(run));
    (void)mon_buf_append(b, "\"", 1);
}

/* Appends the decimal digits of v (a sample prints hundreds of these: no printf). */
static void put_u64(struct mon_buf *b, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    (void)mon_buf_append(b, digits + sizeof(digits) - n, n);
}

static void put_process(struct mon_buf *b, const struct agent_gpu_process *p)
{
    char when[MON_ISO8601_LEN];
    bool started = p->visible && p->has_started &&
                   mon_format_iso8601(p->started_at_utc_s, when, sizeof(when)) == MON_OK;

    (void)mon_buf_puts(b, "{\"pid\":");
    put_u64(b, p->gpu.pid);
    if (p->visible) {
        (void)mon_buf_puts(b, ",\"user\":");
        put_string(b, p->user);
        (void)mon_buf_puts(b, ",\"uid\":");
        put_u64(b, p->uid);
        (void)mon_buf_puts(b, ",\"command\":");
        put_string(b, p->command);
    } else {
        (void)mon_buf_puts(b, ",\"user\":null,\"uid\":null,\"command\":null");
    }
    (void)mon_buf_puts(b, ",\"type\":\"");
    (void)mon_buf_puts(b, process_type(p->gpu.type));
    (void)mon_buf_puts(b, "\",\"used_mem_mb\":");
    if (p->gpu.has_mem)
        put_u64(b, p->gpu.used_mem_mb);
    else
        (void)mon_buf_puts(b, "null");
    (void)mon_buf_puts(b, ",\"container\":");
    if (p->visible && p->container[0])
        put_string(b, p->container);
    else
        (void)mon_buf_puts(b, "null");
    (void)mon_buf_puts(b, ",\"started_at\":");
    if (started)
        put_string(b, when);
    else
        (void)mon_buf_puts(b, "null");
    if (!p->visible) {
        (void)mon_buf_puts(b, ",\"error\":");
        put_string(b, p->error[0] ? p->error : "process not visible");
    }
    (void)mon_buf_append(b, "}", 1);
}

/* The processes array, written as JSON text directly: with 8 GPUs x 20 processes a cJSON node
 * per field would be most of a sample's cost. */
static bool add_processes(cJSON *o, const struct agent_gpu_reading *g,
                          const struct agent_gpu_process_list *list)
{
    struct mon_buf b;
    bool ok;

    if (!g->has_processes || !list || g->error[0]) {
        cJSON_AddNullToObject(o, "processes");
        return true;
    }
    mon_buf_init(&b, PROCESSES_JSON_MAX);
    (void)mon_buf_append(&b, "[", 1);
    for (size_t i = 0; i < list->n; i++) {
        if (i)
            (void)mon_buf_append(&b, ",", 1);
        put_process(&b, &list->e[i]);
    }
    ok = mon_buf_append(&b, "]", 1) == MON_OK && cJSON_AddRawToObject(o, "processes", b.data);
    mon_buf_done(&b);
    if (ok)
        cJSON_AddBoolToObject(o, "processes_truncated", g->n_processes > list->n);
    return ok;
}

static void add_ecc(cJSON *o, const struct agent_gpu_ecc *ecc)
{
    cJSON *e;
    if (!ecc->has_mode) {
        cJSON_AddNullToObject(o, "ecc");
        return;
    }
    e = cJSON_AddObjectToObject(o, "ecc");
    if (!e)
        return;
    cJSON_AddStringToObject(e, "mode", ecc->enabled ? "enabled" : "disabled");
    mon_json_add_opt(e, "volatile_corrected", ecc->has_counts, (double)ecc->volatile_corrected, 0);
    mon_json_add_opt(e, "volatile_uncorrected", ecc->has_counts, (double)ecc->volatile_uncorrected,
                     0);
    mon_json_add_opt(e, "aggregate_corrected", ecc->has_counts, (double)ecc->aggregate_corrected,
                     0);
    mon_json_add_opt(e, "aggregate_uncorrected", ecc->has_counts,
                     (double)ecc->aggregate_uncorrected, 0);
}

/* Health figures: null where the driver cannot say (or the GPU is in error). */
static void add_health(cJSON *o, const struct agent_gpu_reading *g)
{
    bool ok = !g->error[0];
    cJSON *arr;

    mon_json_add_opt(o, "fan_pct", ok && g->has_fan, g->fan_pct, 0);
    mon_json_add_opt(o, "sm_clock_mhz", ok && g->has_sm_clock, g->sm_clock_mhz, 0);
    mon_json_add_opt(o, "power_limit_w", ok && g->has_power_limit, g->power_limit_w, 1);
    mon_json_add_opt(o, "pstate", ok && g->has_pstate, g->pstate, 0);
    if (ok && g->has_throttle) {
        arr = cJSON_AddArrayToObject(o, "throttle");
        for (int bit = 0; arr && bit < 64; bit++) {
            uint64_t mask = 1ULL << bit;
            const char *name = agent_gpu_throttle_name(mask);
            if (g->throttle_mask & mask)
                cJSON_AddItemToArray(arr, cJSON_CreateString(name ? name : "other"));
        }
    } else {
        cJSON_AddNullToObject(o, "throttle");
    }
    if (ok)
        add_ecc(o, &g->ecc);
    else
        cJSON_AddNullToObject(o, "ecc");
    if (ok && g->has_remapped_rows) {
        cJSON *r = cJSON_AddObjectToObject(o, "remapped_rows");
        if (r) {
            cJSON_AddNumberToObject(r, "corrected", g->remapped_rows.corrected);
            cJSON_AddNumberToObject(r, "uncorrected", g->remapped_rows.uncorrected);
            cJSON_AddBoolToObject(r, "pending", g->remapped_rows.pending);
            cJSON_AddBoolToObject(r, "failed", g->remapped_rows.failed);
        }
    } else {
        cJSON_AddNullToObject(o, "remapped_rows");
    }
    /* Xid events stay visible on a GPU in error: they usually explain it. */
    if (g->has_xid) {
        arr = cJSON_AddArrayToObject(o, "xid");
        for (unsigned k = 0; arr && k < g->n_xid; k++) {
            cJSON *e = cJSON_CreateObject();
            if (!e || !cJSON_AddItemToArray(arr, e))
                break;
            cJSON_AddNumberToObject(e, "code", g->xid[k].code);
            mon_json_add_time(e, "at", g->xid[k].at_utc_s);
        }
    } else {
        cJSON_AddNullToObject(o, "xid");
    }
}

static bool add_gpus(cJSON *root, const struct agent_values *v, const struct agent_gpu_procs *procs)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "gpus");
    if (!arr)
        return false;
    for (size_t i = 0; i < v->n_gpus; i++) {
        const struct agent_gpu_reading *g = &v->gpus[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o))
            return false;
        cJSON_AddNumberToObject(o, "index", g->index);
        cJSON_AddStringToObject(o, "name", g->name);
        cJSON_AddStringToObject(o, "uuid", g->uuid);
        mon_json_add_opt(o, "util_pct", g->has_util && !g->error[0], g->util_pct, 1);
        mon_json_add_opt(o, "mem_used_mb", g->has_mem && !g->error[0], (double)g->mem_used_mb, 0);
        mon_json_add_opt(o, "mem_total_mb", g->has_mem && !g->error[0], (double)g->mem_total_mb, 0);
        mon_json_add_opt(o, "temp_c", g->has_temp && !g->error[0], g->temp_c, 1);
        mon_json_add_opt(o, "power_w", g->has_power && !g->error[0], g->power_w, 1);
        add_health(o, g);
        if (procs && !add_processes(o, g, agent_gpu_procs_list(procs, i)))
            return false;
        if (g->error[0])
            cJSON_AddStringToObject(o, "error", g->error);
    }
    return true;
}

cJSON *agent_snapshot_json(const char *node_id, const struct agent_values *v,
                           const struct agent_gpu_procs *procs)
{
    cJSON *root = cJSON_CreateObject(), *mem, *load;
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "node_id", node_id);
    mon_json_add_time(root, "ts", v->ts_utc_s);
    cJSON_AddStringToObject(root, "agent_version", MON_VERSION);
    mon_json_add_opt(root, "uptime_s", v->has_uptime, v->uptime_s, 0);
    cJSON_AddNumberToObject(root, "cpu_count", v->cpu_count);
    if (v->has_load) {
        load = cJSON_AddArrayToObject(root, "load");
        for (int i = 0; load && i < 3; i++)
            cJSON_AddItemToArray(load, cJSON_CreateNumber(mon_round(v->load[i], 2)));
    } else {
        cJSON_AddNullToObject(root, "load");
    }
    mon_json_add_opt(root, "cpu_pct", v->has_cpu, v->cpu_pct, 1);
    if (v->has_mem) {
        uint64_t used = v->mem.total_bytes - v->mem.available_bytes;
        mem = cJSON_AddObjectToObject(root, "mem");
        if (mem) {
            cJSON_AddNumberToObject(mem, "used_bytes", (double)used);
            cJSON_AddNumberToObject(mem, "total_bytes", (double)v->mem.total_bytes);
            mon_json_add_rounded(
                mem, "used_pct",
                v->mem.total_bytes ? (double)used * 100.0 / (double)v->mem.total_bytes : 0.0, 1);
        }
    } else {
        cJSON_AddNullToObject(root, "mem");
    }
    if (!add_disks(root, v) || !add_gpus(root, v, procs) ||
        !cJSON_AddStringToObject(root, "health", agent_snapshot_health(v))) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

enum agent_check agent_snapshot_disk_check(const struct agent_values *v, char *detail,
                                           size_t detail_len)
{
    detail[0] = '\0';
    for (size_t i = 0; i < v->n_disks; i++) {
        const struct agent_disk_entry *d = &v->disks[i];
        if (d->stale || d->error[0]) {
            snprintf(detail, detail_len, "%s: %s", d->mount,
                     d->error[0] ? d->error : "statvfs does not answer (stale value)");
            return AGENT_CHECK_DEGRADED;
        }
    }
    return AGENT_CHECK_OK;
}

const char *agent_snapshot_health(const struct agent_values *v)
{
    char detail[256];
    if (!v->has_cpu && v->cpu_error[0])
        return "error";
    if (agent_snapshot_disk_check(v, detail, sizeof(detail)) != AGENT_CHECK_OK ||
        v->gpu_check == AGENT_CHECK_DEGRADED || v->gpu_check == AGENT_CHECK_ERROR)
        return "degraded";
    return "ok";
}
