/* SPDX-License-Identifier: MIT */
/* One agent snapshot as the aggregator understands it: parsed from the agent's JSON field by
 * field, with caps on every array and string, and the multi-GPU summary (busiest GPU's
 * utilisation, all GPUs' memory summed). Who is on
 * each GPU (processes) and its health come with the GPU entry (issue 10). */
#ifndef MON_AGGREGATOR_SAMPLE_H
#define MON_AGGREGATOR_SAMPLE_H

/* Ownership and threads: a sample from agg_sample_new or agg_sample_parse belongs to the caller
 * (agg_sample_free) and owns its arrays; agg_sample_copy deep-copies; agg_sample_gpu_procs
 * returns a pointer into the sample, valid while it is unchanged. Parsing keeps no state: any
 * thread may parse into its own sample (the poller does, with its JSON arena). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGG_MAX_GPUS      64
#define AGG_MAX_DISKS     64
#define AGG_MAX_UNITS     64
#define AGG_MAX_GPU_PROCS 64 /* per GPU, as the agent caps them */
#define AGG_MAX_GPU_XIDS  10

/* Process types as bits: "compute+graphics" is both. */
enum { AGG_PROC_COMPUTE = 1, AGG_PROC_GRAPHICS = 2 };

/* Clock throttle reasons by the agent's stable names; AGG_THROTTLE_OTHER for any other name. */
enum {
    AGG_THROTTLE_GPU_IDLE = 1 << 0,
    AGG_THROTTLE_APPLICATIONS_CLOCKS = 1 << 1,
    AGG_THROTTLE_SW_POWER_CAP = 1 << 2,
    AGG_THROTTLE_HW_SLOWDOWN = 1 << 3,
    AGG_THROTTLE_SYNC_BOOST = 1 << 4,
    AGG_THROTTLE_SW_THERMAL = 1 << 5,
    AGG_THROTTLE_HW_THERMAL = 1 << 6,
    AGG_THROTTLE_HW_POWER_BRAKE = 1 << 7,
    AGG_THROTTLE_DISPLAY_CLOCKS = 1 << 8,
    AGG_THROTTLE_OTHER = 1 << 9,
    AGG_THROTTLE_COUNT = 10
};

/* The agent's name of throttle bit number i (0 <= i < AGG_THROTTLE_COUNT). */
const char *agg_throttle_name(unsigned i);

/* One process holding a context on a GPU. Numbers that the agent could not give are -1. */
struct agg_gpu_proc {
    int64_t pid;
    int64_t uid;        /* real uid, -1 unknown */
    int64_t started_at; /* UTC s, -1 unknown */
    double used_mem_mb; /* -1 unknown (e.g. under MIG) */
    uint8_t type;       /* AGG_PROC_* bits */
    char user[64];      /* passwd name (or the uid as text); "" unknown */
    char command[64];   /* comm, never the command line */
    char container[65]; /* short container id; "" none */
    char error[96];     /* why the agent cannot see it; "" when visible */
};

struct agg_gpu_xid {
    int code;
    int64_t at; /* UTC s, when the agent received it */
};

struct agg_gpu {
    int index;
    char name[96];
    char uuid[96];
    bool has_util, has_mem, has_temp, has_power;
    double util_pct, mem_used_mb, mem_total_mb, temp_c, power_w;
    char error[128]; /* non-empty: the agent reported this GPU in error */
    /* Who is on it: the entries procs_first .. procs_first + n_procs - 1 of the sample's procs
     * array (offsets, so a sample is copied with memcpy). has_procs false: the agent sent no
     * list (gpu_processes off, an older agent, or the driver cannot list them). */
    bool has_procs, procs_truncated;
    uint32_t procs_first, n_procs;
    /* Health; -1 / has_* false where the agent sent null or nothing. */
    bool has_fan, has_sm_clock, has_power_limit, has_pstate, has_throttle, has_remap, has_xid;
    double fan_pct, sm_clock_mhz, power_limit_w;
    int pstate;
    uint16_t throttle; /* AGG_THROTTLE_* bits */
    int8_t ecc_mode;   /* -1 unknown, 0 disabled, 1 enabled */
    int64_t ecc_volatile_corrected, ecc_volatile_uncorrected; /* -1 unknown */
    int64_t ecc_aggregate_corrected, ecc_aggregate_uncorrected;
    bool remap_pending, remap_failed;
    int64_t remap_corrected, remap_uncorrected; /* -1 unknown */
    uint8_t n_xid;
    struct agg_gpu_xid xid[AGG_MAX_GPU_XIDS]; /* oldest first, as the agent sends them */
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
    struct agg_disk *disks; /* arrays of n_* entries (NULL when never needed) */
    struct agg_gpu *gpus;
    struct agg_unit *units;
    struct agg_gpu_proc *procs; /* every GPU's processes, in GPU order (see agg_gpu) */
    size_t n_procs;
    size_t cap_disks, cap_gpus, cap_units, cap_procs; /* entries allocated: reused by the next
                                                         parse */
    bool units_present;                               /* the reply had a "services" array */
    /* Plan §3.4 summary over GPUs without error: util = max, memory = sum. */
    bool has_gpu;
    double gpu_util_max, gpu_mem_used_mb, gpu_mem_total_mb;
    int services_failed_count;
    bool degraded; /* a GPU, disk or unit entry carried an error */
};

/* An empty sample to parse into (agg_sample_parse_into) in *ret_sample (owned by the caller:
 * agg_sample_free). Returns MON_OK or MON_ENOMEM. */
int agg_sample_new(struct agg_sample **ret_sample);

/* Parses an agent /v1/snapshot body. Required: ts (ISO-8601), cpu_pct (0..100), disks and gpus
 * arrays (may be empty). Optional fields may be absent or null. Any wrong type, NaN/huge value,
 * over-long string or over-long array is rejected with a short reason in why ("cpu_pct: not a
 * number", "gpus: more than 64 entries") and MON_EPARSE. Free *ret with agg_sample_free. */
int agg_sample_parse(const char *body, size_t len, struct agg_sample **ret, char *why,
                     size_t why_len);

/* The processes of GPU g of sample s (g->n_procs entries; NULL when none). The pointer stays
 * valid as long as s is unchanged. */
const struct agg_gpu_proc *agg_sample_gpu_procs(const struct agg_sample *s,
                                                const struct agg_gpu *g);

/* The same into an existing sample, reusing its arrays (the poller parses every reply into
 * one buffer: no allocation of ours per poll once the arrays are large enough). s is
 * overwritten; after a failure it is empty. Same returns. */
int agg_sample_parse_into(const char *body, size_t len, struct agg_sample *s, char *why,
                          size_t why_len);

/* Copies src into dst, reusing dst's arrays when they are large enough. MON_OK or MON_ENOMEM
 * (dst is then empty). */
int agg_sample_copy(struct agg_sample *dst, const struct agg_sample *src);

/* Frees a sample and its arrays. Accepts NULL. */
void agg_sample_free(struct agg_sample *s);

#endif
