/* SPDX-License-Identifier: MIT */
/* The per-GPU reading shared by the NVML and nvidia-smi collectors: utilisation, memory and
 * health figures, each with a flag saying whether the driver could give it. */
#ifndef MON_AGENT_COLLECT_GPU_H
#define MON_AGENT_COLLECT_GPU_H

/* Ownership and threads: plain structs in caller storage; agent_gpu_throttle_name returns a
 * static text and agent_gpu_processes_merge works in place. Pure: safe from any thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GPU_MAX      64
#define GPU_XID_KEEP 10 /* critical Xid errors kept per GPU (the newest) */

/* Clock throttle reasons (NVML's nvmlClocksThrottleReason* bits, stable across drivers). */
#define GPU_THROTTLE_GPU_IDLE            0x1ULL
#define GPU_THROTTLE_APPLICATIONS_CLOCKS 0x2ULL
#define GPU_THROTTLE_SW_POWER_CAP        0x4ULL
#define GPU_THROTTLE_HW_SLOWDOWN         0x8ULL
#define GPU_THROTTLE_SYNC_BOOST          0x10ULL
#define GPU_THROTTLE_SW_THERMAL          0x20ULL
#define GPU_THROTTLE_HW_THERMAL          0x40ULL
#define GPU_THROTTLE_HW_POWER_BRAKE      0x80ULL
#define GPU_THROTTLE_DISPLAY_CLOCKS      0x100ULL

struct agent_gpu_ecc {
    bool has_mode, enabled;
    bool has_counts; /* the four counters below (the driver answers all or none) */
    uint64_t volatile_corrected, volatile_uncorrected;
    uint64_t aggregate_corrected, aggregate_uncorrected;
};

struct agent_gpu_remapped_rows {
    unsigned corrected, uncorrected; /* rows remapped for correctable / uncorrectable errors */
    bool pending;                    /* a remapping waits for the next GPU reset */
    bool failed;                     /* a remapping failed: the GPU should be serviced */
};

struct agent_gpu_xid_event {
    unsigned code;
    int64_t at_utc_s;
};

struct agent_gpu_reading {
    unsigned index;
    char name[96];
    char uuid[96];
    bool has_util, has_mem, has_temp, has_power;
    double util_pct;      /* instantaneous utilisation from the driver, 0..100 */
    uint64_t mem_used_mb; /* MiB */
    uint64_t mem_total_mb;
    double temp_c;
    double power_w;
    /* health: each figure only when its has_ flag is set (the driver could say) */
    bool has_remapped_rows, has_throttle, has_fan, has_sm_clock, has_power_limit, has_pstate;
    struct agent_gpu_ecc ecc;
    struct agent_gpu_remapped_rows remapped_rows;
    uint64_t throttle_mask; /* GPU_THROTTLE_* bits */
    unsigned fan_pct;
    unsigned sm_clock_mhz;
    double power_limit_w;
    unsigned pstate;    /* 0 (fastest) .. 15 */
    bool has_xid;       /* Xid events are watched for this GPU */
    unsigned n_xid;     /* entries in xid, oldest first */
    uint64_t xid_total; /* critical Xid errors seen since the agent started */
    struct agent_gpu_xid_event xid[GPU_XID_KEEP];
    /* processes (the list itself lives beside the reading, see agent/gpu_procs.h) */
    bool has_processes;   /* the driver listed this GPU's processes */
    unsigned n_processes; /* how many it listed (before the per-GPU cap) */
    char error[128];      /* non-empty: this GPU failed (e.g. "GPU is lost"); others still count */
};

/* One process that holds a context on a GPU, as the driver lists it. */
#define GPU_PROCESS_COMPUTE  0x1u
#define GPU_PROCESS_GRAPHICS 0x2u

struct agent_gpu_driver_process {
    uint32_t pid;  /* in the driver's (the host's) PID namespace */
    unsigned type; /* GPU_PROCESS_* bits: both when it has both kinds of context */
    bool has_mem;  /* false when the driver cannot say (MIG, permissions) */
    uint64_t used_mem_mb;
};

/* The stable name of one GPU_THROTTLE_* bit ("sw_power_cap", the names nvidia-smi's
 * clocks_throttle_reasons.* queries use), or NULL for a bit we do not know. Pure. */
const char *agent_gpu_throttle_name(uint64_t bit);

/* Merges entries with the same PID (type bits joined, the larger memory kept) and orders the
 * list by memory, largest first (unknown memory last), then by PID, so that cutting it keeps
 * the biggest users. Returns the new count. Pure. */
size_t agent_gpu_processes_merge(struct agent_gpu_driver_process *list, size_t n);

#endif
