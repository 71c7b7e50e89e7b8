/* SPDX-License-Identifier: MIT */
/* NVIDIA GPUs through the nvidia-smi command (fallback when NVML cannot be loaded). */
#ifndef MON_AGENT_COLLECT_GPU_SMI_H
#define MON_AGENT_COLLECT_GPU_SMI_H

#include <stddef.h>
#include <stdint.h>

#include "agent/collect/gpu.h"

/* The --query-gpu field list we request, in column order. */
#define GPU_SMI_QUERY                                                                              \
    "index,name,uuid,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw"

/* Parses `nvidia-smi --query-gpu=GPU_SMI_QUERY --format=csv,noheader,nounits` output.
 * "[N/A]", "[Not Supported]" and similar bracketed values make that field absent; a line with
 * the wrong number of columns or a non-numeric value where a number belongs is MON_EPARSE with
 * the line number in why. More than max GPUs is MON_ERANGE. */
int parse_nvidia_smi_csv(const char *buf, size_t len, struct gpu_reading *out, size_t max,
                         size_t *ret_n, char *why, size_t why_len);

/* Runs `command --query-gpu=... --format=csv,noheader,nounits` (command is looked up in PATH
 * when it has no slash), with no shell, waits at most timeout_ms (then kills it), caps its
 * output at 64 KiB, and parses it. A non-zero exit gives MON_EIO with the first output line
 * in why. */
int gpu_smi_read(const char *command, int64_t timeout_ms, struct gpu_reading *out, size_t max,
                 size_t *ret_n, char *why, size_t why_len);

#endif
