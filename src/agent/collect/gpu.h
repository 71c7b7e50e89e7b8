/* SPDX-License-Identifier: MIT */
/* The per-GPU reading shared by the NVML and nvidia-smi collectors. */
#ifndef MON_AGENT_COLLECT_GPU_H
#define MON_AGENT_COLLECT_GPU_H

#include <stdbool.h>
#include <stdint.h>

#define GPU_MAX 64

struct gpu_reading {
    unsigned index;
    char name[96];
    char uuid[96];
    bool has_util, has_mem, has_temp, has_power;
    double util_pct;      /* instantaneous utilisation from the driver, 0..100 */
    uint64_t mem_used_mb; /* MiB */
    uint64_t mem_total_mb;
    double temp_c;
    double power_w;
    char error[128]; /* non-empty: this GPU failed (e.g. "GPU is lost"); others still count */
};

#endif
