/* SPDX-License-Identifier: MIT */
/* Who is on each GPU: the driver's process lists joined with /proc (user, command, container,
 * start time), at most AGENT_GPU_PROCESSES_MAX per GPU. A process is read from /proc when it
 * first appears and then every PID_REFRESH_MS while it stays on a GPU, so a steady sample costs
 * no /proc reads. */
#ifndef MON_AGENT_GPU_PROCS_H
#define MON_AGENT_GPU_PROCS_H

/* Ownership and threads: the tables from agent_gpu_procs_new belong to the caller
 * (agent_gpu_procs_free); driver lists passed in are copied; lists returned are borrowed (see
 * agent_gpu_procs_list). Not thread-safe: one thread (the sampler) uses them, and the snapshot
 * is built on that thread too. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/collect/gpu.h"
#include "agent/collect/gpu_smi.h"
#include "agent/collect/passwd_cache.h"
#include "agent/collect/proc_pid.h"

#define AGENT_GPU_PROCESSES_MAX 64

/* One process of a GPU as the snapshot shows it. */
struct agent_gpu_process {
    struct agent_gpu_driver_process gpu;     /* pid, type and memory from the driver */
    bool visible;                            /* false: only pid, type, memory and error */
    uint32_t uid;                            /* real uid */
    char user[AGENT_USER_NAME_SIZE];         /* its name, or the number when it has none */
    char command[AGENT_COMM_SIZE];           /* comm, never the command line */
    char container[AGENT_CONTAINER_ID_SIZE]; /* "" when not in a container */
    bool has_started;
    int64_t started_at_utc_s;
    char error[96]; /* why the process is not visible */
};

struct agent_gpu_process_list {
    size_t n;
    struct agent_gpu_process e[AGENT_GPU_PROCESSES_MAX];
};

struct agent_gpu_procs;

/* Creates the tables; procfs_root is copied. Returns MON_OK with *ret or MON_ENOMEM. */
int agent_gpu_procs_new(const char *procfs_root, struct agent_gpu_procs **ret);

/* Starts a sample: btime is the boot time (UTC seconds, has_btime false when unknown: then no
 * start times), now_ms a monotonic clock. Every GPU's list is emptied. */
void agent_gpu_procs_begin(struct agent_gpu_procs *p, bool has_btime, int64_t btime,
                           int64_t now_ms);

/* Sets the list of GPU slot (its position in the sample) from the driver's entries (already
 * merged and ordered, at most AGENT_GPU_PROCESSES_MAX are kept), reading /proc for processes
 * not seen before. Returns MON_OK or MON_ENOMEM (the slot then has no list). */
int agent_gpu_procs_set(struct agent_gpu_procs *p, size_t slot,
                        const struct agent_gpu_driver_process *list, size_t n);

/* Ends a sample: forgets the processes no GPU listed in it (a PID that comes back later is
 * read afresh: it may be another process). */
void agent_gpu_procs_end(struct agent_gpu_procs *p);

/* The list of GPU slot set in the current sample, or NULL when it has none. Valid until the
 * next agent_gpu_procs_begin; same thread only. */
const struct agent_gpu_process_list *agent_gpu_procs_list(const struct agent_gpu_procs *p,
                                                          size_t slot);

struct agent_gpu_nvml;

/* One sample of every GPU's processes through NVML (begin, set per GPU, end): sets each
 * reading's has_processes and n_processes; a GPU in error or whose driver cannot list them has
 * none (absent, not empty). */
void agent_gpu_procs_sample_nvml(struct agent_gpu_procs *p, struct agent_gpu_nvml *nvml,
                                 struct agent_gpu_reading *gpus, size_t n, bool has_btime,
                                 int64_t btime, int64_t now_ms);

/* The same from nvidia-smi's compute processes (apps, n_apps; apps NULL when the query failed:
 * then no GPU has a list), matched to the readings by uuid. */
void agent_gpu_procs_sample_smi(struct agent_gpu_procs *p, const struct agent_smi_app *apps,
                                size_t n_apps, struct agent_gpu_reading *gpus, size_t n,
                                bool has_btime, int64_t btime, int64_t now_ms);

/* Frees everything. Accepts NULL. */
void agent_gpu_procs_free(struct agent_gpu_procs *p);

#endif
