/* SPDX-License-Identifier: MIT */
/* Prometheus text exposition (format 0.0.4) of the agent's values; pure, unit-tested. */
#ifndef MON_AGENT_METRICS_H
#define MON_AGENT_METRICS_H

/* Ownership and threads: pure: reads v and units during the call and appends to the caller's
 * buffer; safe from any thread. */

#include <stddef.h>

#include "agent/collect/systemd_units.h"
#include "agent/sampler.h"

struct mon_buf;

/* Appends the exposition for v and the given unit states to out. Base units: bytes, seconds,
 * ratios 0..1; labels mount, gpu, uuid, name, unit. Returns MON_OK or a buffer error. */
int agent_metrics_render(const char *node_id, const struct agent_values *v,
                         const struct agent_unit_state *units, size_t n_units, struct mon_buf *out);

#endif
