/* SPDX-License-Identifier: MIT */
/* NVIDIA GPUs through NVML loaded with dlopen: our own declarations of the few functions used,
 * versioned symbols first (_v2), no header or link-time dependency on the driver. */
#ifndef MON_AGENT_COLLECT_GPU_NVML_H
#define MON_AGENT_COLLECT_GPU_NVML_H

#include <stddef.h>

#include "agent/collect/gpu.h"

struct gpu_nvml;

/* Loads library (a soname such as "libnvidia-ml.so.1" or a path), resolves the symbols and
 * calls nvmlInit. On failure returns NULL and a reason in why ("libnvidia-ml.so.1: cannot open
 * shared object file", "nvmlInit failed: Driver Not Loaded", "missing symbol nvmlDeviceGetCount").
 * Optional functions (temperature, power, name, uuid) may be missing: those fields are absent. */
struct gpu_nvml *gpu_nvml_open(const char *library, char *why, size_t why_len);

/* Reads every GPU into out (up to max). Returns MON_OK with *ret_n, or a negative code with a
 * reason in why when the device count itself cannot be read. A GPU whose handle or
 * utilisation/memory calls fail is returned with its error text set ("GPU is lost"). */
int gpu_nvml_read(struct gpu_nvml *g, struct gpu_reading *out, size_t max, size_t *ret_n, char *why,
                  size_t why_len);

/* Calls nvmlShutdown and dlclose. Accepts NULL. */
void gpu_nvml_close(struct gpu_nvml *g);

#endif
