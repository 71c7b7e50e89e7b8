/* SPDX-License-Identifier: MIT */
/* Critical Xid errors of the GPUs: an NVML event set waited on by a thread of its own, which
 * keeps the last GPU_XID_KEEP events per GPU with the time they arrived. */
#ifndef MON_AGENT_COLLECT_GPU_XID_H
#define MON_AGENT_COLLECT_GPU_XID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/collect/gpu.h"
#include "agent/collect/gpu_nvml_api.h"

/* How long one wait inside the driver may take: the bound on stopping the thread, and its
 * wake-ups when no event comes (two a second). */
#define AGENT_XID_WAIT_MS 500

struct agent_xid_watch;

/* Creates an event set, registers each device of devs[0..n) (index = position) for critical
 * Xid events and starts the waiting thread. api must stay valid until agent_xid_watch_stop.
 * Returns MON_OK with *ret, MON_EUNSUPPORTED when the driver has no event calls or no device
 * accepted the registration, MON_ENOMEM/MON_ESYS otherwise. */
int agent_xid_watch_start(const struct nvml_api *api, const nvml_device_t *devs, size_t n,
                          struct agent_xid_watch **ret);

/* Copies GPU index's events into r (has_xid, n_xid, xid[], xid_total). Thread-safe. */
void agent_xid_watch_copy(struct agent_xid_watch *w, unsigned index, struct gpu_reading *r);

/* Stops the thread, waiting at most wait_ms for a wait that hangs inside the driver, then
 * frees the event set and the watch. Returns false when the thread did not stop in time: then
 * nothing is freed and NVML must stay loaded (the process is exiting anyway). Accepts NULL. */
bool agent_xid_watch_stop(struct agent_xid_watch *w, int64_t wait_ms);

#endif
