/* SPDX-License-Identifier: MIT */
/* Critical Xid errors of the GPUs: an NVML event set waited on by a thread of its own, which
 * keeps the last GPU_XID_KEEP events per GPU with the time they arrived. NVML has no way to
 * interrupt a wait, so the waits are long (few wake-ups) and stopping does not wait for one
 * to end: the thread then finishes by itself and releases what it was handed. */
#ifndef MON_AGENT_COLLECT_GPU_XID_H
#define MON_AGENT_COLLECT_GPU_XID_H

/* Ownership: the watch from agent_gpu_xid_watch_start belongs to the caller until
 * agent_gpu_xid_watch_stop, which frees it or hands it to its own thread; api and devs are
 * borrowed (devices are copied). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/collect/gpu.h"
#include "agent/collect/gpu_nvml_api.h"

/* How long one wait inside the driver may take: the thread's wake-ups when no event comes, and
 * how long an abandoned thread may outlive its watch. */
#define AGENT_XID_WAIT_MS 5000

struct agent_gpu_xid_watch;

/* Creates an event set, registers each device of devs[0..n) (index = position) for critical
 * Xid events and starts the waiting thread. api must stay valid until agent_gpu_xid_watch_stop.
 * Returns MON_OK with *ret, MON_EUNSUPPORTED when the driver has no event calls or no device
 * accepted the registration, MON_ENOMEM/MON_ESYS otherwise. */
int agent_gpu_xid_watch_start(const struct nvml_api *api, const nvml_device_t *devs, size_t n,
                              struct agent_gpu_xid_watch **ret);

/* Copies GPU index's events into r (has_xid, n_xid, xid[], xid_total). Thread-safe. */
void agent_gpu_xid_watch_copy(struct agent_gpu_xid_watch *w, unsigned index,
                              struct agent_gpu_reading *r);

/* Stops the thread, waiting at most wait_ms for it. When it stopped, frees the event set and
 * the watch and returns true: the caller then unloads NVML itself. When it is still inside a
 * wait of the driver, returns false and hands it release(arg): the thread frees the event set
 * and the watch, then calls release(arg) (unload NVML there) when its wait ends. Either way
 * the caller must not use w again. Accepts NULL (true). */
bool agent_gpu_xid_watch_stop(struct agent_gpu_xid_watch *w, int64_t wait_ms,
                              void (*release)(void *), void *arg);

#endif
