/* SPDX-License-Identifier: MIT */
/* Server management endpoints (POST/PUT/DELETE /api/servers: the admin token with its
 * failed-attempt limit, body parsing and validation, look-alike names) and the agents' service
 * catalog, answered asynchronously. */
#include "aggregator/api_priv.h"

#include "aggregator/api_params.h"
#include "aggregator/catalog.h"
#include "aggregator/engine.h"
#include "aggregator/store.h"
#include "aggregator/validate.h"
#include "common/err.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool require_admin(struct agg_api *api, struct mon_http_request *req,
                          struct mon_http_response *resp)
{
    char retry[16];
    int wait_s = 0;
    if (!api->cfg->admin_token) {
        mon_http_error(resp, 403,
                       "server management is disabled: set admin_token in the aggregator's "
                       "config.yaml");
        return false;
    }
    switch (mon_http_authenticate(req, api->auth_failures, "X-Admin-Token", api->cfg->admin_token,
                                  &wait_s)) {
    case MON_HTTP_AUTH_OK:
        return true;
    case MON_HTTP_AUTH_MISSING:
        mon_http_error(resp, 401, "admin token required (X-Admin-Token header)");
        return false;
    case MON_HTTP_AUTH_WAIT:
        snprintf(retry, sizeof(retry), "%d", wait_s);
        mon_http_error(resp, 429,
                       "too many failed admin token attempts from this address: try again in "
                       "%d s",
                       wait_s);
        mon_http_set_header(resp, "Retry-After", retry);
        return false;
    default:
        mon_http_error(resp, 401, "admin token rejected");
        return false;
    }
}

/* Applies the JSON body onto s (a fresh default for POST, a copy of the stored row for PUT).
 * Returns false after writing the error response. */
static bool apply_body(const struct mon_http_request *req, struct agg_server *s, bool create,
                       struct mon_http_response *resp)
{
    char msg[AGG_FIELD_MSG_LEN], *field = NULL;
    int r =
        agg_api_params_server_body(req->body, req->body_len, create, s, &field, msg, sizeof(msg));
    if (r == MON_OK)
        return true;
    if (r == MON_EINVAL && field)
        agg_api_field_error(resp, 400, field, msg);
    else if (r == MON_EINVAL)
        mon_http_error(resp, 400, "%s", msg);
    else
        mon_http_error(resp, 500, "out of memory");
    free(field);
    return false;
}

static bool validate_or_reply(const struct agg_server *s, struct mon_http_response *resp)
{
    const char *field;
    char msg[AGG_FIELD_MSG_LEN];
    if (agg_validate_server(s, &field, msg, sizeof(msg)))
        return true;
    agg_api_field_error(resp, 400, field, msg);
    return false;
}

/* True (after a 409) when another server than except_id has a name that differs from name
 * only in letter case, width or spacing (agg_name_key); false when the name is free. */
static bool name_taken(struct agg_api *api, const char *name, int64_t except_id,
                       struct mon_http_response *resp)
{
    char key[AGG_NAME_KEY_LEN], other[AGG_NAME_KEY_LEN], msg[AGG_FIELD_MSG_LEN + 320];
    struct agg_server *list = NULL;
    size_t n = 0;
    int r = agg_store_server_list(api->store, &list, &n);
    size_t found = SIZE_MAX;

    if (r < 0) {
        agg_api_store_error(resp, r, "server list");
        return true;
    }
    agg_name_key(name, key, sizeof(key));
    for (size_t i = 0; i < n && found == SIZE_MAX; i++) {
        if (list[i].id == except_id || !list[i].name)
            continue;
        agg_name_key(list[i].name, other, sizeof(other));
        if (strcmp(key, other) == 0)
            found = i;
    }
    if (found != SIZE_MAX && strcmp(list[found].name, name) == 0) {
        agg_api_field_error(resp, 409, "name", "another server already has this name");
    } else if (found != SIZE_MAX) {
        snprintf(msg, sizeof(msg),
                 "looks the same as another server's name, \"%s\" (names that differ only in "
                 "letter case, width or spacing are the same name)",
                 list[found].name);
        agg_api_field_error(resp, 409, "name", msg);
    }
    agg_server_list_free(list, n);
    return found != SIZE_MAX;
}

void agg_api_handle_create(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    struct agg_server s = {
        .port = 9109, .enabled = true, .tls = true, .last_seen_at = -1, .last_online = -1};
    char location[64];
    int64_t id;
    int r;

    if (!require_admin(api, req, resp))
        return;
    pthread_mutex_lock(&api->mutate_lock);
    if (!apply_body(req, &s, true, resp) || !validate_or_reply(&s, resp) ||
        name_taken(api, s.name, 0, resp))
        goto out;
    r = agg_store_server_insert(api->store, &s, &id);
    if (r < 0) {
        agg_api_store_error(resp, r, "add server");
        goto out;
    }
    s.id = id;
    agg_engine_server_upsert(api->engine, &s);
    agg_api_list_invalidate(api);
    snprintf(location, sizeof(location), "/api/servers/%lld", (long long)id);
    agg_api_reply_server(api, id, 201, resp);
    mon_http_set_header(resp, "Location", location);
out:
    pthread_mutex_unlock(&api->mutate_lock);
    agg_server_done(&s);
}

void agg_api_handle_update(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    struct agg_server s = {0};
    int64_t id;
    int r;

    if (!agg_api_server_id(req, resp, &id) || !require_admin(api, req, resp))
        return;
    pthread_mutex_lock(&api->mutate_lock);
    r = agg_store_server_get(api->store, id, &s);
    if (r < 0) {
        agg_api_store_error(resp, r, "server");
        goto out;
    }
    if (!apply_body(req, &s, false, resp) || !validate_or_reply(&s, resp) ||
        name_taken(api, s.name, id, resp))
        goto out;
    r = agg_store_server_update(api->store, &s);
    if (r < 0) {
        agg_api_store_error(resp, r, "update server");
        goto out;
    }
    agg_engine_server_upsert(api->engine, &s);
    agg_api_list_invalidate(api);
    agg_api_reply_server(api, id, 200, resp);
out:
    pthread_mutex_unlock(&api->mutate_lock);
    agg_server_done(&s);
}

void agg_api_handle_delete(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    cJSON *o;
    int64_t id;
    int r;

    if (!agg_api_server_id(req, resp, &id) || !require_admin(api, req, resp))
        return;
    r = agg_store_server_delete(api->store, id);
    if (r < 0) {
        agg_api_store_error(resp, r, "delete server");
        return;
    }
    agg_engine_server_remove(api->engine, id);
    agg_api_list_invalidate(api);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "deleted", (double)id);
    mon_http_json(resp, 200, o);
}

/* The catalog's answer for a deferred request (on the catalog's thread, or at once). */
static void catalog_done(void *ctx, int status, char *json)
{
    struct mon_http_response resp = {.fd = -1};
    if (json)
        mon_http_body(&resp, status, "application/json", json, strlen(json));
    else
        mon_http_error(&resp, 500, "out of memory");
    mon_http_set_header(&resp, "Cache-Control", "no-store");
    mon_http_deferred_answer(ctx, &resp);
}

/* No worker thread waits for the agent: the request is set aside until the catalog thread has
 * the answer (shared with anyone asking for the same server meanwhile, kept a few seconds). */
void agg_api_handle_catalog(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    struct mon_http_deferred *d;
    struct agg_agent_tls tls;
    struct agg_server s = {0};
    int64_t id;
    int r;

    if (!agg_api_server_id(req, resp, &id))
        return;
    r = agg_store_server_get(api->store, id, &s);
    if (r < 0) {
        agg_api_store_error(resp, r, "server");
        return;
    }
    if (mon_http_defer(req, &d) < 0) {
        mon_http_error(resp, 503, "the aggregator is stopping");
        goto out;
    }
    tls = (struct agg_agent_tls){
        .on = s.tls,
        .pin = s.tls_pin,
        .ca_file = s.tls_ca_file && s.tls_ca_file[0] ? s.tls_ca_file : api->cfg->tls_ca_file};
    r = agg_catalog_get(api->catalog, id, s.host, s.port, s.token, &tls, catalog_done, d);
    if (r < 0) {
        struct mon_http_response busy = {.fd = -1};
        if (r == MON_EBUSY) {
            mon_http_error(&busy, 503, "too many service catalog requests in progress: try again");
            mon_http_set_header(&busy, "Retry-After", "1");
        } else {
            mon_http_error(&busy, 500, "out of memory");
        }
        mon_http_set_header(&busy, "Cache-Control", "no-store");
        mon_http_deferred_answer(d, &busy);
    }
out:
    agg_server_done(&s);
}
