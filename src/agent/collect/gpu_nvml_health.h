/* SPDX-License-Identifier: MIT */
/* GPU health through NVML: ECC mode and counts, row remapping, clock throttle reasons, fan,
 * SM clock, power limit and P-state. A call the card or driver does not support is remembered
 * for that device and not made again. */
#ifndef MON_AGENT_COLLECT_GPU_NVML_HEALTH_H
#define MON_AGENT_COLLECT_GPU_NVML_HEALTH_H

/* Ownership and threads: reads into caller storage (the reading and the caller's unsupported
 * flags); no state of its own, so it is as thread-safe as NVML, but the flags belong to one
 * caller (the sampler thread). */

#include <stdbool.h>

#include "agent/collect/gpu.h"
#include "agent/collect/gpu_nvml_api.h"

/* The health calls, each remembered separately when a device does not support it. */
enum agent_nvml_health_call {
    AGENT_NVML_ECC_MODE = 0,
    AGENT_NVML_ECC_COUNTS,
    AGENT_NVML_REMAPPED_ROWS,
    AGENT_NVML_THROTTLE,
    AGENT_NVML_FAN,
    AGENT_NVML_SM_CLOCK,
    AGENT_NVML_POWER_LIMIT,
    AGENT_NVML_PSTATE,
    AGENT_NVML_HEALTH_CALLS
};

/* True for the answers that mean "this device or driver will never say" (not supported, no
 * such function, no permission): the call is then not repeated for the device. */
bool agent_gpu_nvml_gives_up(nvml_return_t rc);

/* Reads every health figure of dev into r (setting its has_ flags); unsupported[] is the
 * device's memory of refused calls (AGENT_NVML_HEALTH_CALLS entries), updated here. A figure
 * whose call fails is left absent; nothing else is touched. Not thread-safe per device. */
void agent_gpu_nvml_read_health(const struct nvml_api *api, nvml_device_t dev, bool *unsupported,
                                struct agent_gpu_reading *r);

#endif
