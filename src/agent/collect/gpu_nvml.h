/* SPDX-License-Identifier: MIT */
/* NVIDIA GPUs through NVML loaded with dlopen: our own declarations of the functions used,
 * versioned symbols first, no header or link-time dependency on the driver. Readings carry the
 * health figures and the critical Xid errors (watched by a thread of this collector); the
 * processes of each GPU are listed on request. */
#ifndef MON_AGENT_COLLECT_GPU_NVML_H
#define MON_AGENT_COLLECT_GPU_NVML_H

/* Ownership and threads: the handle from agent_gpu_nvml_open belongs to the caller until
 * agent_gpu_nvml_close (which may hand the last free to the Xid thread); readings and process
 * lists are written into caller storage. One caller at a time (the sampler thread) for open,
 * read, processes and close. */

#include <stdbool.h>
#include <stddef.h>

#include "agent/collect/gpu.h"

struct agent_gpu_nvml;

/* Loads library (a soname such as "libnvidia-ml.so.1" or a path), resolves the symbols and
 * calls nvmlInit. Returns MON_OK with the handle in *ret_nvml (owned by the caller, released with
 * agent_gpu_nvml_close), or a reason in why and MON_ENOMEM, MON_ENOENT (the library cannot be
 * loaded: "libnvidia-ml.so.1: cannot open shared object file"), MON_EUNSUPPORTED ("missing symbol
 * nvmlDeviceGetCount in ...") or MON_EIO ("nvmlInit failed: Driver Not Loaded"). Optional
 * functions (temperature, power, name, uuid) may be missing: those fields are absent. */
int agent_gpu_nvml_open(const char *library, struct agent_gpu_nvml **ret_nvml, char *why,
                        size_t why_len);

/* Reads every GPU into out (up to max). Returns MON_OK with *ret_n, or a negative code with a
 * reason in why when the device count itself cannot be read. A GPU whose handle or
 * utilisation/memory calls fail is returned with its error text set ("GPU is lost"). The first
 * successful read starts the Xid thread; its events appear in the readings from then on.
 * Not thread-safe: one caller at a time (the sampler). */
int agent_gpu_nvml_read(struct agent_gpu_nvml *g, struct agent_gpu_reading *out, size_t max,
                        size_t *ret_n, char *why, size_t why_len);

/* Lists the processes on GPU index (as of the last agent_gpu_nvml_read) into out (at most max, the
 * biggest memory users first) and their number in *ret_total. Returns MON_OK,
 * MON_EUNSUPPORTED when the GPU cannot list them (remembered), or MON_EIO/MON_ENOENT with the
 * reason in why. */
int agent_gpu_nvml_processes(struct agent_gpu_nvml *g, unsigned index,
                             struct agent_gpu_driver_process *out, size_t max, size_t *ret_n,
                             size_t *ret_total, char *why, size_t why_len);

/* Calls nvmlShutdown and dlclose and frees g, at once (true) or, when the Xid thread is inside a
 * wait of the driver, from that thread when the wait ends (false); either way within 100 ms
 * and g must not be used again. Accepts NULL. */
bool agent_gpu_nvml_close(struct agent_gpu_nvml *g);

#endif
