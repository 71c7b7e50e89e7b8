/* SPDX-License-Identifier: MIT */
/* The agent's HTTP endpoints: /v1/snapshot, /v1/health, /v1/services and /metrics, with the
 * allow_from check before bearer-token auth, on the common libmicrohttpd wrapper. */
#ifndef MON_AGENT_API_H
#define MON_AGENT_API_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/config.h"
#include "agent/sampler.h"

struct agent_api;

/* Starts listening on cfg->listen. The api keeps a pointer to sampler (not owned) and takes
 * ownership of cfg. Returns NULL with a reason in why. */
struct agent_api *agent_api_start(struct agent_config *cfg, struct agent_sampler *sampler,
                                  char *why, size_t why_len);

/* Swaps in a reloaded configuration (token, allowlist, allow_from; the listener stays).
 * Takes ownership of cfg; the old one is freed once no request uses it. */
void agent_api_set_config(struct agent_api *api, struct agent_config *cfg);

/* Borrowed pointer to the current configuration; valid until the next agent_api_set_config
 * from the same thread (main uses it to compare reloads). */
const struct agent_config *agent_api_config(struct agent_api *api);

/* Stops the listener and frees. Accepts NULL. */
void agent_api_stop(struct agent_api *api);

#endif
