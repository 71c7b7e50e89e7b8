/* SPDX-License-Identifier: MIT */
/* Serialises sampled values as the /v1/snapshot JSON object. */
#include "agent/snapshot.h"

#include "common/json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static bool add_disks(cJSON *root, const struct agent_values *v)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "disks");
    if (!arr)
        return false;
    for (size_t i = 0; i < v->n_disks; i++) {
        const struct disk_entry *d = &v->disks[i];
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

static bool add_gpus(cJSON *root, const struct agent_values *v)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "gpus");
    if (!arr)
        return false;
    for (size_t i = 0; i < v->n_gpus; i++) {
        const struct gpu_reading *g = &v->gpus[i];
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
        if (g->error[0])
            cJSON_AddStringToObject(o, "error", g->error);
    }
    return true;
}

cJSON *agent_snapshot_json(const char *node_id, const struct agent_values *v)
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
    if (!add_disks(root, v) || !add_gpus(root, v) ||
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
        const struct disk_entry *d = &v->disks[i];
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
