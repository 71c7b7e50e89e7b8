/* SPDX-License-Identifier: MIT */
/* NVIDIA GPUs and their compute processes through the nvidia-smi command (fallback when NVML
 * cannot be loaded). */
#ifndef MON_AGENT_COLLECT_GPU_SMI_H
#define MON_AGENT_COLLECT_GPU_SMI_H

/* Ownership and threads: the parsers are pure and write into caller storage; the read functions
 * run nvidia-smi (bounded by timeout_ms) and keep no state, so any thread may call them; the
 * sampler does. */

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
int agent_parse_nvidia_smi_csv(const char *buf, size_t len, struct agent_gpu_reading *out,
                               size_t max, size_t *ret_n, char *why, size_t why_len);

/* Runs `command --query-gpu=... --format=csv,noheader,nounits` (command is looked up in PATH
 * when it has no slash), with no shell, waits at most timeout_ms (then kills it), caps its
 * output at 64 KiB, and parses it. A non-zero exit gives MON_EIO with the first output line
 * in why. */
int agent_gpu_smi_read(const char *command, int64_t timeout_ms, struct agent_gpu_reading *out,
                       size_t max, size_t *ret_n, char *why, size_t why_len);

/* The --query-compute-apps field list we request, in column order. */
#define AGENT_SMI_APPS_QUERY "gpu_uuid,pid,used_memory"

/* One compute process as nvidia-smi lists it: the GPU by uuid, memory in MiB. */
struct agent_smi_app {
    char uuid[96];
    struct agent_gpu_driver_process process;
};

/* Parses `nvidia-smi --query-compute-apps=AGENT_SMI_APPS_QUERY --format=csv,noheader,nounits`
 * output. Blank lines and "No running processes found" are skipped; "[N/A]" memory (MIG,
 * Windows WDDM) is absent. A malformed line is MON_EPARSE with its number in why; more than max
 * processes is MON_ERANGE. */
int agent_parse_smi_apps_csv(const char *buf, size_t len, struct agent_smi_app *out, size_t max,
                             size_t *ret_n, char *why, size_t why_len);

/* Runs the compute-apps query the same way as agent_gpu_smi_read (no shell, bounded, capped output)
 * and parses it. */
int agent_gpu_smi_read_apps(const char *command, int64_t timeout_ms, struct agent_smi_app *out,
                            size_t max, size_t *ret_n, char *why, size_t why_len);

#endif
