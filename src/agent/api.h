/* SPDX-License-Identifier: MIT */
/* The agent's HTTP endpoints: /v1/snapshot, /v1/health, /v1/services and /metrics, with the
 * allow_from check before bearer-token auth, on the common libmicrohttpd wrapper. */
#ifndef MON_AGENT_API_H
#define MON_AGENT_API_H

/* Ownership and threads: the api from agent_api_start belongs to the caller (agent_api_stop); it
 * owns its configuration (taken by agent_api_start and agent_api_set_config) and borrows the
 * sampler. Requests are served on the HTTP server's threads; agent_api_start, agent_api_set_tls,
 * agent_api_set_config, agent_api_config and agent_api_stop are called by the main thread only
 * (start-up, SIGHUP, exit). */

#include <stdbool.h>
#include <stddef.h>

#include "agent/config.h"
#include "agent/sampler.h"

struct agent_api;
struct mon_tls_pair;

/* Starts listening on cfg->listen, with HTTPS only when tls is set (its key and certificate
 * are copied). The api keeps a pointer to sampler (not owned: stop the api first) and takes
 * ownership of cfg, even on failure. Returns MON_OK with the api in *ret_api (owned by the
 * caller: agent_api_stop), or a reason in why and MON_ENOMEM or mon_http_start's code. */
int agent_api_start(struct agent_config *cfg, struct agent_sampler *sampler,
                    const struct mon_tls_pair *tls, struct agent_api **ret_api, char *why,
                    size_t why_len);

/* New connections get this key and certificate (a reload); MON_EINVAL when the agent was
 * started without TLS. */
int agent_api_set_tls(struct agent_api *api, const struct mon_tls_pair *tls);

/* Swaps in a reloaded configuration (token, allowlist, allow_from; the listener stays).
 * Takes ownership of cfg; the old one is freed once no request uses it. */
void agent_api_set_config(struct agent_api *api, struct agent_config *cfg);

/* Borrowed pointer to the current configuration; valid until the next agent_api_set_config
 * from the same thread (main uses it to compare reloads). */
const struct agent_config *agent_api_config(struct agent_api *api);

/* Stops the listener and frees. Accepts NULL. */
void agent_api_stop(struct agent_api *api);

#endif
