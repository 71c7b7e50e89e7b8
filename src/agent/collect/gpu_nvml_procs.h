/* SPDX-License-Identifier: MIT */
/* The processes on a GPU through NVML: compute (nvmlDeviceGetComputeRunningProcesses_v3, then
 * _v2, then the v1 call with its shorter structure) and graphics lists, merged per PID. */
#ifndef MON_AGENT_COLLECT_GPU_NVML_PROCS_H
#define MON_AGENT_COLLECT_GPU_NVML_PROCS_H

/* Ownership and threads: a struct agent_gpu_nvml_proc_buf is caller storage that grows as needed
 * (agent_gpu_nvml_proc_buf_done frees it); the decoded lists are written into caller storage.
 * The per-device state st is the caller's too: safe from any thread with its own buffer and
 * state. */

#include <stdbool.h>
#include <stddef.h>

#include "agent/collect/gpu.h"
#include "agent/collect/gpu_nvml_api.h"

/* The most entries one list call may return before we stop growing the buffer. */
#define AGENT_NVML_PROCESSES_MAX 4096

/* Per device: which generation of each list call answers (compute, graphics), found on the
 * first read and then kept; NVML_PROCESSES_API_COUNT means the device does not list them. */
struct agent_gpu_nvml_proc_state {
    enum nvml_process_api level[2];
};

/* Growable buffers: the raw structures the driver fills and the decoded entries of both
 * lists before they are merged. */
struct agent_gpu_nvml_proc_buf {
    void *raw;
    size_t raw_cap; /* entries of struct nvml_process_v2 */
    struct agent_gpu_driver_process *list;
    size_t list_cap;
};

/* Decodes count raw entries of the given layout (v1: struct nvml_process_v1, else
 * struct nvml_process_v2) as processes of type (GPU_PROCESS_*), appending at most max - *n to
 * out. Memory the driver cannot report (NVML_VALUE_NOT_AVAILABLE) is absent. Pure. */
void agent_gpu_nvml_decode_processes(const void *raw, unsigned count, bool v1_layout, unsigned type,
                                     struct agent_gpu_driver_process *out, size_t max, size_t *n);

/* Lists dev's compute and graphics processes into out (merged per PID, the largest memory
 * first, see agent_gpu_processes_merge) and the number of distinct processes in *ret_total
 * (may exceed max: the list is then cut). Returns MON_OK, MON_EUNSUPPORTED when the device lists
 * neither kind (remembered in st), or MON_EIO with the driver's reason in why. */
int agent_gpu_nvml_read_processes(const struct nvml_api *api, nvml_device_t dev,
                                  struct agent_gpu_nvml_proc_state *st,
                                  struct agent_gpu_nvml_proc_buf *buf,
                                  struct agent_gpu_driver_process *out, size_t max, size_t *ret_n,
                                  size_t *ret_total, char *why, size_t why_len);

/* Frees the buffer's memory. Accepts an empty buffer. */
void agent_gpu_nvml_proc_buf_done(struct agent_gpu_nvml_proc_buf *buf);

#endif
