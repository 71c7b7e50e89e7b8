/* SPDX-License-Identifier: MIT */
/* The agent's timed sampling loop: reads /proc, disks and GPUs every 1-2 s (2.5 readings per
 * cpu_window) on its own thread, averages CPU and GPU utilisation over cpu_window, and keeps the
 * latest values and the ready-to-send JSON body of /v1/snapshot, so every client gets the same
 * numbers and a request only copies memory. */
#ifndef MON_AGENT_SAMPLER_H
#define MON_AGENT_SAMPLER_H

/* Ownership and threads: the sampler from agent_sampler_new belongs to the caller
 * (agent_sampler_free) and owns its collectors and the cached snapshot; values and snapshot
 * bodies are returned as copies. agent_sampler_values, agent_sampler_snapshot_json,
 * agent_sampler_wait_ready and agent_sampler_set_disks are thread-safe (one mutex; the sampling
 * thread takes it only to publish); agent_sampler_new and agent_sampler_free are for the main
 * thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/collect/disk_monitor.h"
#include "agent/collect/gpu.h"
#include "agent/collect/proc_meminfo.h"
#include "agent/config.h"

enum agent_check { AGENT_CHECK_OK = 0, AGENT_CHECK_DEGRADED, AGENT_CHECK_ERROR, AGENT_CHECK_OFF };

/* The sampler copies only the entries in use (values_copy in sampler.c): keep the order of the
 * fields (the fixed ones, disks, the GPU ones, gpus). */
struct agent_values {
    int64_t ts_utc_s; /* when these values were sampled */
    bool has_cpu, has_mem, has_load, has_uptime;
    double cpu_pct; /* averaged over cpu_window */
    unsigned cpu_count;
    struct agent_meminfo mem;
    double load[3];
    double uptime_s;
    char cpu_error[128];
    size_t n_disks;
    struct agent_disk_entry disks[AGENT_MAX_DISKS];
    enum agent_check gpu_check;
    char gpu_detail[256];   /* "NVIDIA driver available, 2 GPUs detected (NVML)" */
    const char *gpu_source; /* "nvml", "nvidia-smi" or NULL */
    size_t n_gpus;
    struct agent_gpu_reading gpus[GPU_MAX]; /* util_pct averaged over cpu_window */
};

struct agent_sampler;

/* Takes a first reading synchronously and starts the sampling thread. cfg is only read during
 * the call (settings are copied). Returns MON_OK with the sampler in *ret_sampler (owned by the
 * caller: agent_sampler_free), or a reason in why and MON_EIO when /proc cannot be read,
 * MON_ENOMEM, MON_EINVAL (a bad disk list) or MON_ESYS (no thread). */
int agent_sampler_new(const struct agent_config *cfg, struct agent_sampler **ret_sampler, char *why,
                      size_t why_len);

/* Waits (at most timeout_ms) until a CPU percentage is available. Returns true when it is. */
bool agent_sampler_wait_ready(struct agent_sampler *s, int64_t timeout_ms);

/* Applies a reloaded configuration's disk list (other settings need a restart). */
void agent_sampler_set_disks(struct agent_sampler *s, char *const *disks, size_t n);

/* Copies the latest values (the disk and GPU entries past n_disks and n_gpus of out are not
 * written). Thread-safe; never blocks on I/O. */
void agent_sampler_values(struct agent_sampler *s, struct agent_values *out);

/* Returns a malloc'd copy of the cached /v1/snapshot body without "services" (a JSON object
 * text) and its length, or NULL when out of memory. Thread-safe. */
char *agent_sampler_snapshot_json(struct agent_sampler *s, size_t *ret_len);

/* Stops the thread (waiting at most wait_ms for a collector that is stuck, e.g. a slow
 * nvidia-smi) and frees everything. Returns false when the thread had to be abandoned (then
 * nothing is freed; the process is exiting anyway). Accepts NULL. */
bool agent_sampler_free(struct agent_sampler *s, int64_t wait_ms);

#endif
