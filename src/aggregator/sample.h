/* SPDX-License-Identifier: MIT */
/* One agent snapshot as the aggregator understands it: parsed from the agent's JSON field by
 * field, with caps on every array and string, and the plan §3.4 multi-GPU summary. */
#ifndef MON_AGGREGATOR_SAMPLE_H
#define MON_AGGREGATOR_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGG_MAX_GPUS  64
#define AGG_MAX_DISKS 64
#define AGG_MAX_UNITS 64

struct agg_gpu {
    int index;
    char name[96];
    char uuid[96];
    bool has_util, has_mem, has_temp, has_power;
    double util_pct, mem_used_mb, mem_total_mb, temp_c, power_w;
    char error[128]; /* non-empty: the agent reported this GPU in error */
};

struct agg_disk {
    char mount[256];
    bool has_value;
    bool stale;
    double used_bytes, total_bytes, used_pct;
    char error[128];
};

struct agg_unit {
    char name[256];
    char active_state[32];
    char sub_state[32];
    int64_t since; /* UTC seconds, -1 unknown */
    char error[160];
};

struct agg_sample {
    int64_t ts; /* agent's "ts", UTC seconds */
    char node_id[65];
    char agent_version[32];
    bool has_uptime, has_load, has_cpu, has_mem;
    double uptime_s;
    int cpu_count; /* 0 when absent */
    double load[3];
    double cpu_pct;
    double mem_used_bytes, mem_total_bytes, mem_used_pct;
    size_t n_disks, n_gpus, n_units;
    struct agg_disk *disks; /* arrays of exactly n_* entries (NULL when 0) */
    struct agg_gpu *gpus;
    struct agg_unit *units;
    bool units_present; /* the reply had a "services" array */
    /* Plan §3.4 summary over GPUs without error: util = max, memory = sum. */
    bool has_gpu;
    double gpu_util_max, gpu_mem_used_mb, gpu_mem_total_mb;
    int services_failed_count;
    bool degraded; /* a GPU, disk or unit entry carried an error */
};

/* Parses an agent /v1/snapshot body. Required: ts (ISO-8601), cpu_pct (0..100), disks and gpus
 * arrays (may be empty). Optional fields may be absent or null. Any wrong type, NaN/huge value,
 * over-long string or over-long array is rejected with a short reason in why ("cpu_pct: not a
 * number", "gpus: more than 64 entries") and MON_EPARSE. Free *ret with agg_sample_free. */
int agg_sample_parse(const char *body, size_t len, struct agg_sample **ret, char *why,
                     size_t why_len);

/* Frees a sample and its arrays. Accepts NULL. */
void agg_sample_free(struct agg_sample *s);

#endif
