/* SPDX-License-Identifier: MIT */
/* The agents' service catalogs (GET /api/servers/{id}/services/catalog) fetched on a thread of
 * their own with libcurl multi, so no HTTP worker ever waits on an agent: one fetch per server
 * at a time (concurrent askers share it), at most AGG_CATALOG_MAX_FETCHES in all, and each
 * answer kept for a few seconds. Whoever asks cannot make the aggregator open more than that. */
#ifndef MON_AGGREGATOR_CATALOG_H
#define MON_AGGREGATOR_CATALOG_H

/* Ownership and threads: the catalog from agg_catalog_new belongs to the caller
 * (agg_catalog_stop, agg_catalog_free); host, token and TLS settings are copied. agg_catalog_get
 * is thread-safe (the HTTP workers call it; its thread does the fetching); agg_catalog_answer is
 * pure. */

#include "aggregator/agentclient.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGG_CATALOG_MAX_FETCHES  8     /* agent calls in flight, all servers together */
#define AGG_CATALOG_MAX_WAITERS  64    /* askers waiting for one server's fetch */
#define AGG_CATALOG_KEEP_OK_MS   10000 /* an answer is reused this long ... */
#define AGG_CATALOG_KEEP_FAIL_MS 3000  /* ... a failure this long */
#define AGG_CATALOG_MAX_BYTES    (4 * 1024 * 1024)

struct agg_catalog;

/* Receives the answer for the API: an HTTP status and a JSON body (malloc'd, the callee owns
 * it; NULL when out of memory). Called on the catalog's thread, or at once from the cache. */
typedef void (*agg_catalog_done_fn)(void *ctx, int status, char *json);

/* timeout_ms bounds each agent call (connect included). */
int agg_catalog_new(int64_t timeout_ms, struct agg_catalog **ret);

/* Stops fetching: every asker still waiting gets 503 now, later askers get it at once. Call
 * while the askers' HTTP server still runs. Accepts NULL. */
void agg_catalog_stop(struct agg_catalog *c);

/* Stops (when not yet stopped) and frees. Accepts NULL. */
void agg_catalog_free(struct agg_catalog *c);

/* Asks for the catalog of server id at host:port with token. MON_OK: done will be called
 * exactly once (maybe before this returns); MON_EBUSY: too many fetches or askers now (answer
 * 503 and let the client retry); MON_ENOMEM. */
int agg_catalog_get(struct agg_catalog *c, int64_t id, const char *host, int port,
                    const char *token, const struct agg_agent_tls *tls, agg_catalog_done_fn done,
                    void *ctx);

/* The answer for a finished agent call (pure; tested on its own): 200 with the agent's
 * services list rebuilt from known fields (name, description, active_state, sub_state,
 * unit_file_state; strings capped and stripped of hidden characters), its hint and server_id;
 * 504 on a timeout; 502 for any other failure, a status other than 200 (with the agent's own
 * error text, cleaned) or a reply that is not a strict JSON object with a services list.
 * curl_code is a CURLcode. Writes a malloc'd JSON body; MON_ENOMEM. */
int agg_catalog_answer(int curl_code, long http_status, bool too_large, const char *body,
                       size_t len, int64_t server_id, int *ret_status, char **ret_json);

#endif
