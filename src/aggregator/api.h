/* SPDX-License-Identifier: MIT */
/* The aggregator's REST API (docs/api.md) and static dashboard on the common HTTP wrapper. */
#ifndef MON_AGGREGATOR_API_H
#define MON_AGGREGATOR_API_H

/* Ownership and threads: the api from agg_api_start belongs to the caller (agg_api_stop) and
 * borrows everything it is given (see agg_api_start). Requests run on the HTTP server's worker
 * threads; agg_api_start, agg_api_set_tls, agg_api_port and agg_api_stop are for the main
 * thread. */

#include <stddef.h>

#include "aggregator/config.h"

struct agg_api;
struct agg_dbwatch;
struct agg_engine;
struct agg_store;

struct mon_tls_pair;

/* Starts listening on cfg->listen (HTTPS only when tls is set; its key and certificate are
 * copied). cfg, engine, store and dbwatch are borrowed and must outlive the api; store is the
 * API's own connection (CRUD and history reads); dbwatch (may be NULL) adds the database file,
 * integrity and backup fields to /api/health. Returns MON_OK with the api in *ret_api (owned by
 * the caller: agg_api_stop), or a reason in why and MON_ENOMEM, MON_ESYS or mon_http_start's
 * code (the address cannot be bound). */
int agg_api_start(const struct agg_config *cfg, struct agg_engine *engine, struct agg_store *store,
                  struct agg_dbwatch *dbwatch, const struct mon_tls_pair *tls,
                  struct agg_api **ret_api, char *why, size_t why_len);

/* New connections get this key and certificate (SIGHUP); MON_EINVAL without TLS. */
int agg_api_set_tls(struct agg_api *api, const struct mon_tls_pair *tls);

/* The bound port (after listening on port 0 in tests). */
unsigned agg_api_port(const struct agg_api *api);

/* Stops and frees. Accepts NULL. */
void agg_api_stop(struct agg_api *api);

#endif
