/* SPDX-License-Identifier: MIT */
/* What the REST API's parts share: the API object and the helpers every handler file uses
 * (api.c: the read endpoints, routing and start-up; api_servers.c: adding, editing and
 * deleting servers and the service catalog). */
#ifndef MON_AGGREGATOR_API_PRIV_H
#define MON_AGGREGATOR_API_PRIV_H

/* Ownership and threads: one struct agg_api, created and freed by api.c, shared by every HTTP
 * worker; its parts are thread-safe themselves (engine, store, catalog, list cache) and
 * mutate_lock serialises the requests that change servers (store write, then engine), so that
 * two edits cannot cross. */

#include "aggregator/api.h"
#include "common/http.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct agg_list_cache;

struct agg_api {
    const struct agg_config *cfg;
    struct agg_engine *engine;
    struct agg_store *store;
    struct agg_dbwatch *dbwatch;
    struct mon_http_server *http;
    struct mon_authlimit *auth_failures;
    struct agg_catalog *catalog;
    struct agg_list_cache *list_cache; /* the plain GET /api/servers body (api_list.c) */
    /* Adds and edits one at a time: the look-alike check of a name and the write it guards
     * must not interleave with another add. */
    pthread_mutex_t mutate_lock;
};

/* The {id} path segment; false after a 404. */
bool agg_api_server_id(struct mon_http_request *req, struct mon_http_response *resp, int64_t *ret);

/* The server's full view with status (201 after an add, 200 otherwise), or a 404. */
void agg_api_reply_server(struct agg_api *api, int64_t id, int status,
                          struct mon_http_response *resp);

/* status {"error": "<field>: <msg>", "fields": {"<field>": "<msg>"}}. */
void agg_api_field_error(struct mon_http_response *resp, int status, const char *field,
                         const char *msg);

/* A store error as 409 (name), 404, 503 (busy) or 500. */
void agg_api_store_error(struct mon_http_response *resp, int r, const char *what);

/* Drops the cached server list so that a change made through the API shows at once. */
void agg_api_list_invalidate(struct agg_api *api);

void agg_api_handle_create(void *ctx, struct mon_http_request *req, struct mon_http_response *resp);
void agg_api_handle_update(void *ctx, struct mon_http_request *req, struct mon_http_response *resp);
void agg_api_handle_delete(void *ctx, struct mon_http_request *req, struct mon_http_response *resp);
void agg_api_handle_catalog(void *ctx, struct mon_http_request *req,
                            struct mon_http_response *resp);

#endif
