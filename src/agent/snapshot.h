/* SPDX-License-Identifier: MIT */
/* JSON of /v1/snapshot (fields in docs/api.md) from sampled values; pure, unit-tested. */
#ifndef MON_AGENT_SNAPSHOT_H
#define MON_AGENT_SNAPSHOT_H

/* Ownership and threads: agent_snapshot_json's object belongs to the caller (cJSON_Delete);
 * agent_snapshot_health returns a static text. Pure functions of their arguments: safe from any
 * thread (procs is only read). */

#include <stddef.h>

#include "agent/sampler.h"

struct cJSON;
struct agent_gpu_procs;

/* Builds the snapshot object (without "services"). procs holds the GPUs' process lists; NULL
 * (gpu_processes: false) leaves the "processes" keys out. Returns NULL on allocation failure. */
struct cJSON *agent_snapshot_json(const char *node_id, const struct agent_values *v,
                                  const struct agent_gpu_procs *procs);

/* Overall health from the values: "ok", "degraded" or "error". */
const char *agent_snapshot_health(const struct agent_values *v);

/* Disk check from the values (degraded when an entry is stale or in error). */
enum agent_check agent_snapshot_disk_check(const struct agent_values *v, char *detail,
                                           size_t detail_len);

#endif
