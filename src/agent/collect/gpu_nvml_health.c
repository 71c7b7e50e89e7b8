/* SPDX-License-Identifier: MIT */
/* NVML health calls per device; each figure is absent unless the driver answered, and a call
 * refused once as unsupported is skipped from then on. */
#include "agent/collect/gpu_nvml_health.h"

#include <stddef.h>

bool agent_gpu_nvml_gives_up(nvml_return_t rc)
{
    return rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_FUNCTION_NOT_FOUND ||
           rc == NVML_ERROR_NO_PERMISSION;
}

/* Whether call may be made: the function exists and the device has not refused it. */
static bool may_call(const void *fn, const bool *unsupported, enum agent_nvml_health_call call)
{
    return fn && !unsupported[call];
}

/* Records rc for call; true on success. */
static bool answered(nvml_return_t rc, bool *unsupported, enum agent_nvml_health_call call)
{
    if (agent_gpu_nvml_gives_up(rc))
        unsupported[call] = true;
    return rc == NVML_SUCCESS;
}

static void read_ecc(const struct nvml_api *api, nvml_device_t dev, bool *unsupported,
                     struct agent_gpu_ecc *ecc)
{
    static const struct {
        int error_type, counter;
    } counters[4] = {
        {NVML_MEMORY_ERROR_CORRECTED, NVML_VOLATILE_ECC},
        {NVML_MEMORY_ERROR_UNCORRECTED, NVML_VOLATILE_ECC},
        {NVML_MEMORY_ERROR_CORRECTED, NVML_AGGREGATE_ECC},
        {NVML_MEMORY_ERROR_UNCORRECTED, NVML_AGGREGATE_ECC},
    };
    unsigned long long counts[4];
    int current = 0, pending = 0;

    if (may_call(api->get_ecc_mode, unsupported, AGENT_NVML_ECC_MODE) &&
        answered(api->get_ecc_mode(dev, &current, &pending), unsupported, AGENT_NVML_ECC_MODE)) {
        ecc->has_mode = true;
        ecc->enabled = current == NVML_FEATURE_ENABLED;
    }
    /* With ECC off there is nothing to count: not a refusal, so asked again if it is turned on
     * (which takes a reboot, when the agent starts afresh anyway). */
    if (!ecc->has_mode || !ecc->enabled ||
        !may_call(api->get_ecc_total, unsupported, AGENT_NVML_ECC_COUNTS))
        return;
    for (size_t i = 0; i < 4; i++) {
        nvml_return_t rc =
            api->get_ecc_total(dev, counters[i].error_type, counters[i].counter, &counts[i]);
        if (!answered(rc, unsupported, AGENT_NVML_ECC_COUNTS))
            return;
    }
    ecc->has_counts = true;
    ecc->volatile_corrected = counts[0];
    ecc->volatile_uncorrected = counts[1];
    ecc->aggregate_corrected = counts[2];
    ecc->aggregate_uncorrected = counts[3];
}

static void read_remapped_rows(const struct nvml_api *api, nvml_device_t dev, bool *unsupported,
                               struct agent_gpu_reading *r)
{
    unsigned int corrected = 0, uncorrected = 0, pending = 0, failed = 0;

    if (!may_call(api->get_remapped_rows, unsupported, AGENT_NVML_REMAPPED_ROWS) ||
        !answered(api->get_remapped_rows(dev, &corrected, &uncorrected, &pending, &failed),
                  unsupported, AGENT_NVML_REMAPPED_ROWS))
        return;
    r->has_remapped_rows = true;
    r->remapped_rows = (struct agent_gpu_remapped_rows){.corrected = corrected,
                                                        .uncorrected = uncorrected,
                                                        .pending = pending != 0,
                                                        .failed = failed != 0};
}

void agent_gpu_nvml_read_health(const struct nvml_api *api, nvml_device_t dev, bool *unsupported,
                                struct agent_gpu_reading *r)
{
    unsigned long long reasons = 0;
    unsigned int u = 0;
    int pstate = 0;

    read_ecc(api, dev, unsupported, &r->ecc);
    read_remapped_rows(api, dev, unsupported, r);
    if (may_call(api->get_throttle_reasons, unsupported, AGENT_NVML_THROTTLE) &&
        answered(api->get_throttle_reasons(dev, &reasons), unsupported, AGENT_NVML_THROTTLE)) {
        r->has_throttle = true;
        r->throttle_mask = reasons;
    }
    if (may_call(api->get_fan_speed, unsupported, AGENT_NVML_FAN) &&
        answered(api->get_fan_speed(dev, &u), unsupported, AGENT_NVML_FAN)) {
        r->has_fan = true;
        r->fan_pct = u;
    }
    if (may_call(api->get_clock, unsupported, AGENT_NVML_SM_CLOCK) &&
        answered(api->get_clock(dev, NVML_CLOCK_SM, &u), unsupported, AGENT_NVML_SM_CLOCK)) {
        r->has_sm_clock = true;
        r->sm_clock_mhz = u;
    }
    if (may_call(api->get_power_limit, unsupported, AGENT_NVML_POWER_LIMIT) &&
        answered(api->get_power_limit(dev, &u), unsupported, AGENT_NVML_POWER_LIMIT)) {
        r->has_power_limit = true;
        r->power_limit_w = u / 1000.0;
    }
    if (may_call(api->get_pstate, unsupported, AGENT_NVML_PSTATE) &&
        answered(api->get_pstate(dev, &pstate), unsupported, AGENT_NVML_PSTATE) && pstate >= 0 &&
        pstate <= NVML_PSTATE_MAX) {
        r->has_pstate = true; /* 32 means "unknown": left absent */
        r->pstate = (unsigned)pstate;
    }
}
