/* SPDX-License-Identifier: MIT */
/* REST endpoints: servers CRUD with field validation and the admin token, live views from the
 * engine, history from the store, the agent service catalog, events, health; other paths go
 * to the static dashboard. */
#include "aggregator/api.h"

#include "aggregator/agentclient.h"
#include "aggregator/api_params.h"
#include "aggregator/dbwatch.h"
#include "aggregator/engine.h"
#include "aggregator/state.h"
#include "aggregator/metric.h"
#include "aggregator/static.h"
#include "aggregator/store.h"
#include "aggregator/validate.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http.h"
#include "common/json.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY_BYTES    (64 * 1024)
#define CATALOG_MAX_BYTES (4 * 1024 * 1024)

struct agg_api {
    const struct agg_config *cfg;
    struct agg_engine *engine;
    struct agg_store *store;
    struct agg_dbwatch *dbwatch;
    struct mon_http_server *http;
    /* GET /api/servers body, shared by every client for LIST_CACHE_MS: the dashboard of each
     * open browser asks every 5 s, and serialising hundreds of servers costs milliseconds. */
    pthread_mutex_t list_lock;
    char *list_body;
    size_t list_len;
    int64_t list_built_ms;
};

#define LIST_CACHE_MS 500

/* Room for a 400 message that quotes a query value (mon_http_error's own limit). */
#define WHY_LEN 1024

static bool parse_server_id(struct mon_http_request *req, struct mon_http_response *resp,
                            int64_t *ret)
{
    if (agg_api_params_server_id(req->params[0], ret) < 0) {
        mon_http_error(resp, 404, "no server with id '%s'", req->params[0]);
        return false;
    }
    return true;
}

/* Checks the metric parameter shared by /timeseries and /recent; false after a 400. */
static bool metric_param(const char *metric, struct mon_http_response *resp)
{
    char why[WHY_LEN];
    if (agg_api_params_metric(metric))
        return true;
    agg_api_params_metric_error(why, sizeof(why));
    mon_http_error(resp, 400, "%s", why);
    return false;
}

static bool require_admin(struct agg_api *api, struct mon_http_request *req,
                          struct mon_http_response *resp)
{
    const char *given = mon_http_header(req, "X-Admin-Token");
    bool ok;
    if (!api->cfg->admin_token) {
        mon_http_error(resp, 403,
                       "server management is disabled: set admin_token in the aggregator's "
                       "config.yaml");
        return false;
    }
    /* Compared before looking at what was given, so a missing header runs the same compare. */
    ok = mon_secret_equal(given, api->cfg->admin_token);
    if (!given || !*given) {
        mon_http_error(resp, 401, "admin token required (X-Admin-Token header)");
        return false;
    }
    if (!ok) {
        mon_http_error(resp, 401, "admin token rejected");
        return false;
    }
    return true;
}

/* 400 {"error": "<field>: <msg>", "fields": {"<field>": "<msg>"}} */
static void field_error(struct mon_http_response *resp, int status, const char *field,
                        const char *msg)
{
    cJSON *root = cJSON_CreateObject(), *fields;
    char text[512];
    snprintf(text, sizeof(text), "%s: %s", field, msg);
    cJSON_AddStringToObject(root, "error", text);
    fields = cJSON_AddObjectToObject(root, "fields");
    cJSON_AddStringToObject(fields, field, msg);
    mon_http_json(resp, status, root);
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
        field_error(resp, 400, field, msg);
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
    field_error(resp, 400, field, msg);
    return false;
}

static void reply_server(struct agg_api *api, int64_t id, int status,
                         struct mon_http_response *resp)
{
    cJSON *o = agg_engine_server_json(api->engine, id);
    if (!o) {
        mon_http_error(resp, 404, "no server with id %lld", (long long)id);
        return;
    }
    mon_http_json(resp, status, o);
}

static void store_error(struct mon_http_response *resp, int r, const char *what)
{
    if (r == MON_EEXIST)
        field_error(resp, 409, "name", "another server already has this name");
    else if (r == MON_ENOENT)
        mon_http_error(resp, 404, "%s: not found", what);
    else if (r == MON_EBUSY)
        mon_http_error(resp, 503, "%s: the database is busy, try again", what);
    else
        mon_http_error(resp, 500, "%s: database error (%s)", what, mon_strerror(r));
}

/* Drops the cached server list so that a change made through the API shows at once. */
static void list_invalidate(struct agg_api *api)
{
    pthread_mutex_lock(&api->list_lock);
    free(api->list_body);
    api->list_body = NULL;
    pthread_mutex_unlock(&api->list_lock);
}

static void handle_list(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    int64_t now = mon_mono_ms();
    char *copy = NULL;
    size_t len = 0;

    (void)req;
    /* One rebuild at a time: concurrent requests wait for it instead of repeating it. */
    pthread_mutex_lock(&api->list_lock);
    if (!api->list_body || now - api->list_built_ms >= LIST_CACHE_MS) {
        cJSON *list = agg_engine_servers_json(api->engine);
        char *text = list ? cJSON_PrintUnformatted(list) : NULL;
        cJSON_Delete(list);
        if (text) {
            free(api->list_body);
            api->list_body = text;
            api->list_len = strlen(text);
            api->list_built_ms = now;
        }
    }
    if (api->list_body && (copy = malloc(api->list_len + 1))) {
        memcpy(copy, api->list_body, api->list_len + 1);
        len = api->list_len;
    }
    pthread_mutex_unlock(&api->list_lock);
    if (!copy) {
        mon_http_error(resp, 500, "out of memory");
        return;
    }
    mon_http_body(resp, 200, "application/json", copy, len);
}

static void handle_get(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    int64_t id;
    if (parse_server_id(req, resp, &id))
        reply_server(ctx, id, 200, resp);
}

static void handle_create(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    struct agg_server s = {.port = 9109, .enabled = true, .last_seen_at = -1, .last_online = -1};
    char location[64];
    int64_t id;
    int r;

    if (!require_admin(api, req, resp))
        return;
    if (!apply_body(req, &s, true, resp) || !validate_or_reply(&s, resp))
        goto out;
    r = agg_store_server_insert(api->store, &s, &id);
    if (r < 0) {
        store_error(resp, r, "add server");
        goto out;
    }
    s.id = id;
    agg_engine_server_upsert(api->engine, &s);
    list_invalidate(api);
    snprintf(location, sizeof(location), "/api/servers/%lld", (long long)id);
    reply_server(api, id, 201, resp);
    mon_http_set_header(resp, "Location", location);
out:
    agg_server_done(&s);
}

static void handle_update(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    struct agg_server s = {0};
    int64_t id;
    int r;

    if (!parse_server_id(req, resp, &id) || !require_admin(api, req, resp))
        return;
    r = agg_store_server_get(api->store, id, &s);
    if (r < 0) {
        store_error(resp, r, "server");
        return;
    }
    if (!apply_body(req, &s, false, resp) || !validate_or_reply(&s, resp))
        goto out;
    r = agg_store_server_update(api->store, &s);
    if (r < 0) {
        store_error(resp, r, "update server");
        goto out;
    }
    agg_engine_server_upsert(api->engine, &s);
    list_invalidate(api);
    reply_server(api, id, 200, resp);
out:
    agg_server_done(&s);
}

static void handle_delete(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    cJSON *o;
    int64_t id;
    int r;

    if (!parse_server_id(req, resp, &id) || !require_admin(api, req, resp))
        return;
    r = agg_store_server_delete(api->store, id);
    if (r < 0) {
        store_error(resp, r, "delete server");
        return;
    }
    agg_engine_server_remove(api->engine, id);
    list_invalidate(api);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "deleted", (double)id);
    mon_http_json(resp, 200, o);
}

/* The value of the in-memory bucket for a metric/agg pair, as the store would return it. */
static bool bucket_value(const struct agg_hourly_row *row, const char *metric, const char *agg,
                         double *ret)
{
    const struct agg_metric *m = agg_metric_find(metric);
    enum agg_metric_agg a;
    return m && agg_metric_agg_find(agg, &a) == MON_OK && agg_metric_from_row(m, a, row, ret);
}

static void add_point(cJSON *data, int64_t ts, bool has, double v, bool partial)
{
    cJSON *p = cJSON_CreateObject();
    mon_json_add_time(p, "ts", ts);
    mon_json_add_opt(p, "value", has, v, 2);
    if (partial)
        cJSON_AddBoolToObject(p, "partial", 1);
    cJSON_AddItemToArray(data, p);
}

static void handle_timeseries(void *ctx, struct mon_http_request *req,
                              struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    struct agg_timeseries_params q;
    const char *metric, *agg;
    int64_t id, from, to, bucket_s;
    struct agg_point *pts = NULL;
    struct agg_hourly_row cur;
    bool have_cur, cur_done = false;
    char why[WHY_LEN];
    size_t n = 0;
    cJSON *root, *data, *probe;
    int r;

    if (!parse_server_id(req, resp, &id))
        return;
    if (agg_api_params_timeseries(mon_http_query(req, "metric"), mon_http_query(req, "agg"),
                                  mon_http_query(req, "from"), mon_http_query(req, "to"),
                                  mon_utc_ms() / 1000, &q, why, sizeof(why)) < 0) {
        mon_http_error(resp, 400, "%s", why);
        return;
    }
    metric = q.metric;
    agg = q.agg;
    from = q.from;
    to = q.to;
    probe = agg_engine_server_json(api->engine, id);
    if (!probe) {
        mon_http_error(resp, 404, "no server with id %lld", (long long)id);
        return;
    }
    cJSON_Delete(probe);
    bucket_s = agg_engine_bucket_s(api->engine);
    /* Include the bucket that contains `from`. */
    r = agg_store_timeseries(api->store, id, metric, agg, from - from % bucket_s, to, &pts, &n);
    if (r < 0) {
        store_error(resp, r, "timeseries");
        return;
    }
    have_cur = agg_engine_current_bucket(api->engine, id, &cur) == MON_OK && cur.ts <= to &&
               cur.ts + bucket_s > from;
    root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "server_id", (double)id);
    cJSON_AddStringToObject(root, "metric", metric);
    cJSON_AddStringToObject(root, "agg", agg);
    mon_json_add_time(root, "from", from);
    mon_json_add_time(root, "to", to);
    cJSON_AddNumberToObject(root, "bucket_s", (double)bucket_s);
    data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++) {
        if (have_cur && pts[i].ts == cur.ts) {
            /* the unfinished bucket: memory is newer than the last checkpoint */
            double v = 0;
            bool has = bucket_value(&cur, metric, agg, &v);
            add_point(data, cur.ts, has, v, true);
            cur_done = true;
            continue;
        }
        add_point(data, pts[i].ts, pts[i].has_value, pts[i].value, false);
    }
    if (have_cur && !cur_done) {
        double v = 0;
        bool has = bucket_value(&cur, metric, agg, &v);
        add_point(data, cur.ts, has, v, true);
    }
    free(pts);
    mon_http_json(resp, 200, root);
}

static void handle_recent(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    const char *metric = mon_http_query(req, "metric");
    cJSON *out = NULL;
    int64_t id;
    int r;

    if (!parse_server_id(req, resp, &id) || !metric_param(metric, resp))
        return;
    r = agg_engine_recent_json(api->engine, id, metric, &out);
    if (r == MON_ENOENT)
        mon_http_error(resp, 404, "no server with id %lld", (long long)id);
    else if (r < 0)
        mon_http_error(resp, 400, "metric: not available");
    else
        mon_http_json(resp, 200, out);
}

static void handle_services(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    const char *at = mon_http_query(req, "at");
    cJSON *out = NULL;
    int64_t id;

    if (!parse_server_id(req, resp, &id))
        return;
    if (at && strcmp(at, "latest") != 0) {
        mon_http_error(resp, 400, "at: only 'latest' is supported");
        return;
    }
    if (agg_engine_services_json(api->engine, id, &out) < 0)
        mon_http_error(resp, 404, "no server with id %lld", (long long)id);
    else
        mon_http_json(resp, 200, out);
}

static void handle_catalog(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    struct agg_server s = {0};
    char why[256] = "";
    char *body = NULL;
    const char *agent_error;
    long status = 0;
    cJSON *root = NULL, *list;
    int64_t id;
    int r;

    if (!parse_server_id(req, resp, &id))
        return;
    r = agg_store_server_get(api->store, id, &s);
    if (r < 0) {
        store_error(resp, r, "server");
        return;
    }
    r = agg_agent_get(s.host, s.port, s.token, "/v1/services", api->cfg->timeout_ms,
                      CATALOG_MAX_BYTES, &status, &body, why, sizeof(why));
    if (r == MON_ETIMEDOUT) {
        mon_http_error(resp, 504, "agent did not answer: %s", why);
        goto out;
    }
    if (r < 0) {
        mon_http_error(resp, 502, "agent unreachable: %s", why);
        goto out;
    }
    if (status != 200) {
        root = body ? cJSON_Parse(body) : NULL;
        list = root ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;
        agent_error = list && cJSON_IsString(list) ? list->valuestring : NULL;
        mon_http_error(resp, 502, "agent answered HTTP %ld%s%s%s", status,
                       status == 401 ? " (token rejected)" : "", agent_error ? ": " : "",
                       agent_error ? agent_error : "");
        goto out;
    }
    root = body ? cJSON_Parse(body) : NULL;
    list = root ? cJSON_GetObjectItemCaseSensitive(root, "services") : NULL;
    if (!cJSON_IsArray(list)) {
        mon_http_error(resp, 502, "bad reply from the agent: no services list");
        goto out;
    }
    cJSON_AddNumberToObject(root, "server_id", (double)id);
    mon_http_json(resp, 200, root);
    root = NULL;
out:
    cJSON_Delete(root);
    free(body);
    agg_server_done(&s);
}

static void handle_events(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    struct agg_events_params q;
    struct agg_event *evs = NULL;
    char why[WHY_LEN];
    size_t n = 0;
    cJSON *root, *arr;
    int r;

    if (agg_api_params_events(mon_http_query(req, "limit"), mon_http_query(req, "server_id"),
                              mon_http_query(req, "type"), mon_http_query(req, "before"), &q, why,
                              sizeof(why)) < 0) {
        mon_http_error(resp, 400, "%s", why);
        return;
    }
    r = agg_store_events_query(api->store, q.server_id, q.type, q.before, (int)q.limit, &evs, &n);
    if (r < 0) {
        store_error(resp, r, "events");
        return;
    }
    root = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(root, "events");
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)evs[i].id);
        if (evs[i].server_id > 0)
            cJSON_AddNumberToObject(o, "server_id", (double)evs[i].server_id);
        else
            cJSON_AddNullToObject(o, "server_id");
        cJSON_AddStringToObject(o, "server_name", evs[i].server_name);
        mon_json_add_time(o, "ts", evs[i].ts);
        cJSON_AddStringToObject(o, "type", evs[i].type);
        cJSON_AddStringToObject(o, "message", evs[i].message);
        cJSON_AddItemToArray(arr, o);
    }
    if (n == (size_t)q.limit && n > 0)
        cJSON_AddNumberToObject(root, "next_before", (double)evs[n - 1].id);
    else
        cJSON_AddNullToObject(root, "next_before");
    free(evs);
    mon_http_json(resp, 200, root);
}

static void handle_gpus(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    struct agg_gpus_query q;
    char why[WHY_LEN];
    cJSON *out = NULL;
    int r;

    if (agg_api_params_gpus(mon_http_query(req, "state"), mon_http_query(req, "server_id"),
                            &q.state, &q.server_id, why, sizeof(why)) < 0) {
        mon_http_error(resp, 400, "%s", why);
        return;
    }
    r = agg_engine_gpus_json(api->engine, &q, &out);
    if (r == MON_ENOENT)
        mon_http_error(resp, 404, "no server with id %lld", (long long)q.server_id);
    else if (r < 0)
        mon_http_error(resp, 500, "out of memory");
    else
        mon_http_json(resp, 200, out);
}

static void handle_health(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    cJSON *root = agg_engine_health_json(api->engine);
    (void)req;
    agg_dbwatch_health_json(api->dbwatch, root);
    mon_http_json(resp, 200, root);
}

static const struct mon_http_route api_routes[] = {
    {"GET", "/api/servers", handle_list},
    {"POST", "/api/servers", handle_create},
    {"GET", "/api/servers/{id}", handle_get},
    {"PUT", "/api/servers/{id}", handle_update},
    {"DELETE", "/api/servers/{id}", handle_delete},
    {"GET", "/api/servers/{id}/timeseries", handle_timeseries},
    {"GET", "/api/servers/{id}/recent", handle_recent},
    {"GET", "/api/servers/{id}/services", handle_services},
    {"GET", "/api/servers/{id}/services/catalog", handle_catalog},
    {"GET", "/api/gpus", handle_gpus},
    {"GET", "/api/events", handle_events},
    {"GET", "/api/health", handle_health},
};

static void dispatch(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    if (strcmp(req->path, "/api") == 0 || mon_str_starts_with(req->path, "/api/")) {
        mon_http_dispatch(api_routes, sizeof(api_routes) / sizeof(api_routes[0]), api, req, resp);
        mon_http_set_header(resp, "Cache-Control", "no-store");
        return;
    }
    agg_static_serve(api->cfg->web_root, req, resp);
}

struct agg_api *agg_api_start(const struct agg_config *cfg, struct agg_engine *engine,
                              struct agg_store *store, struct agg_dbwatch *dbwatch, char *why,
                              size_t why_len)
{
    struct agg_api *api = calloc(1, sizeof(*api));
    struct mon_http_options opt = {
        .listen = cfg->listen,
        .max_connections = 1024,
        .per_ip_connections = 0,
        .timeout_s = 15,
        .max_header_bytes = 8192,
        .max_body_bytes = MAX_BODY_BYTES,
        .threads = 4,
        .handler = dispatch,
    };
    if (!api)
        return NULL;
    api->cfg = cfg;
    api->engine = engine;
    api->store = store;
    api->dbwatch = dbwatch;
    pthread_mutex_init(&api->list_lock, NULL);
    opt.ctx = api;
    if (mon_http_start(&opt, &api->http, why, why_len) < 0) {
        pthread_mutex_destroy(&api->list_lock);
        free(api);
        return NULL;
    }
    return api;
}

unsigned agg_api_port(const struct agg_api *api)
{
    return mon_http_port(api->http);
}

void agg_api_stop(struct agg_api *api)
{
    if (!api)
        return;
    mon_http_stop(api->http);
    free(api->list_body);
    pthread_mutex_destroy(&api->list_lock);
    free(api);
}
