/* SPDX-License-Identifier: MIT */
/* Helpers over GPU readings shared by both collectors, the snapshot JSON and /metrics: throttle
 * reason names and the merged, ordered process list. */
#include "agent/collect/gpu.h"

#include <stddef.h>
#include <stdlib.h>

const char *agent_gpu_throttle_name(uint64_t bit)
{
    static const struct {
        uint64_t bit;
        const char *name;
    } names[] = {
        {GPU_THROTTLE_GPU_IDLE, "gpu_idle"},
        {GPU_THROTTLE_APPLICATIONS_CLOCKS, "applications_clocks_setting"},
        {GPU_THROTTLE_SW_POWER_CAP, "sw_power_cap"},
        {GPU_THROTTLE_HW_SLOWDOWN, "hw_slowdown"},
        {GPU_THROTTLE_SYNC_BOOST, "sync_boost"},
        {GPU_THROTTLE_SW_THERMAL, "sw_thermal_slowdown"},
        {GPU_THROTTLE_HW_THERMAL, "hw_thermal_slowdown"},
        {GPU_THROTTLE_HW_POWER_BRAKE, "hw_power_brake_slowdown"},
        {GPU_THROTTLE_DISPLAY_CLOCKS, "display_clock_setting"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].bit == bit)
            return names[i].name;
    return NULL;
}

static int by_pid(const void *a, const void *b)
{
    const struct agent_gpu_driver_process *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static int by_memory_then_pid(const void *a, const void *b)
{
    const struct agent_gpu_driver_process *x = a, *y = b;
    if (x->has_mem != y->has_mem)
        return x->has_mem ? -1 : 1;
    if (x->has_mem && x->used_mem_mb != y->used_mem_mb)
        return x->used_mem_mb > y->used_mem_mb ? -1 : 1;
    return by_pid(a, b);
}

size_t agent_gpu_processes_merge(struct agent_gpu_driver_process *list, size_t n)
{
    size_t out = 0;

    if (n == 0)
        return 0;
    qsort(list, n, sizeof(*list), by_pid);
    for (size_t i = 0; i < n; i++) {
        struct agent_gpu_driver_process *last = out ? &list[out - 1] : NULL;
        if (last && last->pid == list[i].pid) {
            last->type |= list[i].type;
            if (list[i].has_mem && (!last->has_mem || list[i].used_mem_mb > last->used_mem_mb)) {
                last->has_mem = true;
                last->used_mem_mb = list[i].used_mem_mb;
            }
            continue;
        }
        list[out++] = list[i];
    }
    qsort(list, out, sizeof(*list), by_memory_then_pid);
    return out;
}
