/* SPDX-License-Identifier: MIT */
/* REST endpoints: live views from the engine, history from the store, events, health, the
 * route table and start-up (adding, editing and deleting servers and the service catalog are
 * in api_servers.c); other paths go to the static dashboard. */
#include "aggregator/api_priv.h"

#include "aggregator/catalog.h"
#include "aggregator/api_list.h"
#include "aggregator/api_params.h"
#include "aggregator/api_usage.h"
#include "aggregator/dbwatch.h"
#include "aggregator/engine.h"
#include "aggregator/state.h"
#include "aggregator/metric.h"
#include "aggregator/static.h"
#include "aggregator/store.h"
#include "aggregator/validate.h"
#include "common/authlimit.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http.h"
#include "common/json.h"
#include "common/str.h"
#include "common/text.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY_BYTES (64 * 1024)

/* Room for a 400 message that quotes a query value (mon_http_error's own limit). */
#define WHY_LEN 1024

bool agg_api_server_id(struct mon_http_request *req, struct mon_http_response *resp, int64_t *ret)
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

void agg_api_reply_server(struct agg_api *api, int64_t id, int status,
                          struct mon_http_response *resp)
{
    cJSON *o = agg_engine_server_json(api->engine, id);
    if (!o) {
        mon_http_error(resp, 404, "no server with id %lld", (long long)id);
        return;
    }
    mon_http_json(resp, status, o);
}

/* 400 {"error": "<field>: <msg>", "fields": {"<field>": "<msg>"}} */
void agg_api_field_error(struct mon_http_response *resp, int status, const char *field,
                         const char *msg)
{
    cJSON *root = cJSON_CreateObject(), *fields;
    char text[1024]; /* room for a message that quotes a 256-byte name: never cut */
    snprintf(text, sizeof(text), "%s: %s", field, msg);
    cJSON_AddStringToObject(root, "error", text);
    fields = cJSON_AddObjectToObject(root, "fields");
    cJSON_AddStringToObject(fields, field, msg);
    mon_http_json(resp, status, root);
}

void agg_api_store_error(struct mon_http_response *resp, int r, const char *what)
{
    if (r == MON_EEXIST)
        agg_api_field_error(resp, 409, "name", "another server already has this name");
    else if (r == MON_ENOENT)
        mon_http_error(resp, 404, "%s: not found", what);
    else if (r == MON_EBUSY)
        mon_http_error(resp, 503, "%s: the database is busy, try again", what);
    else
        mon_http_error(resp, 500, "%s: database error (%s)", what, mon_strerror(r));
}

/* Drops the cached server list so that a change made through the API shows at once. */
void agg_api_list_invalidate(struct agg_api *api)
{
    agg_list_cache_invalidate(api->list_cache);
}

static void handle_list(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    agg_api_list_get(api->engine, api->list_cache, req, resp);
}

static void handle_summary(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    (void)req;
    agg_api_list_summary(api->engine, resp);
}

static void handle_get(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    int64_t id;
    if (agg_api_server_id(req, resp, &id))
        agg_api_reply_server(ctx, id, 200, resp);
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

    if (!agg_api_server_id(req, resp, &id))
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
        agg_api_store_error(resp, r, "timeseries");
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

    if (!agg_api_server_id(req, resp, &id) || !metric_param(metric, resp))
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

    if (!agg_api_server_id(req, resp, &id))
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

static void handle_events(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    struct agg_events_params q;
    struct agg_event *evs = NULL;
    char why[WHY_LEN], text[sizeof(evs->message) + 8];
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
        agg_api_store_error(resp, r, "events");
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
        /* A stored message may end in a character cut in two (a long name): served as valid
         * UTF-8 all the same. */
        mon_text_sanitize(evs[i].server_name, strlen(evs[i].server_name), text, sizeof(text));
        cJSON_AddStringToObject(o, "server_name", text);
        mon_json_add_time(o, "ts", evs[i].ts);
        cJSON_AddStringToObject(o, "type", evs[i].type);
        mon_text_sanitize(evs[i].message, strlen(evs[i].message), text, sizeof(text));
        cJSON_AddStringToObject(o, "message", text);
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

static void handle_usage(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    agg_api_usage_report(api->engine, api->store, req, resp, false);
}

static void handle_usage_csv(void *ctx, struct mon_http_request *req,
                             struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    agg_api_usage_report(api->engine, api->store, req, resp, true);
}

static void handle_usage_series(void *ctx, struct mon_http_request *req,
                                struct mon_http_response *resp)
{
    struct agg_api *api = ctx;
    agg_api_usage_timeseries(api->engine, api->store, req, resp);
}

static const struct mon_http_route api_routes[] = {
    {"GET", "/api/servers", handle_list},
    {"POST", "/api/servers", agg_api_handle_create},
    {"GET", "/api/servers/summary", handle_summary},
    {"GET", "/api/servers/{id}", handle_get},
    {"PUT", "/api/servers/{id}", agg_api_handle_update},
    {"DELETE", "/api/servers/{id}", agg_api_handle_delete},
    {"GET", "/api/servers/{id}/timeseries", handle_timeseries},
    {"GET", "/api/servers/{id}/recent", handle_recent},
    {"GET", "/api/servers/{id}/services", handle_services},
    {"GET", "/api/servers/{id}/services/catalog", agg_api_handle_catalog},
    {"GET", "/api/gpus", handle_gpus},
    {"GET", "/api/usage", handle_usage},
    {"GET", "/api/usage.csv", handle_usage_csv},
    {"GET", "/api/usage/timeseries", handle_usage_series},
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

static bool allow_client(void *ctx, const struct sockaddr *client)
{
    const struct agg_api *api = ctx;
    return agg_config_client_allowed(api->cfg, client);
}

int agg_api_set_tls(struct agg_api *api, const struct mon_tls_pair *tls)
{
    return mon_http_set_tls(api->http, tls);
}

int agg_api_start(const struct agg_config *cfg, struct agg_engine *engine, struct agg_store *store,
                  struct agg_dbwatch *dbwatch, const struct mon_tls_pair *tls,
                  struct agg_api **ret_api, char *why, size_t why_len)
{
    struct agg_api *api = calloc(1, sizeof(*api));
    struct mon_http_options opt = {
        .listen = cfg->listen,
        /* Slow or idle clients wait at the door (5 s at most for a request head) and are pushed
         * out first when it is full; one address gets 64 (several browsers behind one NAT). */
        .max_connections = 1024,
        .per_ip_connections = 64,
        .timeout_s = 15,
        .max_header_bytes = 8192,
        .max_body_bytes = MAX_BODY_BYTES,
        .threads = 4,
        .handler = dispatch,
        .tls = tls,
    };
    int r = MON_ENOMEM;

    if (!api) {
        snprintf(why, why_len, "out of memory");
        return MON_ENOMEM;
    }
    api->cfg = cfg;
    api->engine = engine;
    api->store = store;
    api->dbwatch = dbwatch;
    pthread_mutex_init(&api->mutate_lock, NULL);
    opt.ctx = api;
    if (cfg->n_allow_from)
        opt.allow = allow_client;
    if ((r = mon_authlimit_new("aggregator", &api->auth_failures)) < 0 ||
        (r = agg_catalog_new(cfg->timeout_ms, &api->catalog)) < 0 ||
        (r = agg_list_cache_new(engine, &api->list_cache)) < 0) {
        snprintf(why, why_len, "%s", mon_strerror(r)); /* "out of memory" */
        goto fail;
    }
    if ((r = mon_http_start(&opt, &api->http, why, why_len)) < 0)
        goto fail;
    *ret_api = api;
    return MON_OK;
fail:
    agg_list_cache_free(api->list_cache);
    agg_catalog_free(api->catalog);
    mon_authlimit_free(api->auth_failures);
    pthread_mutex_destroy(&api->mutate_lock);
    free(api);
    return r;
}

unsigned agg_api_port(const struct agg_api *api)
{
    return mon_http_port(api->http);
}

void agg_api_stop(struct agg_api *api)
{
    if (!api)
        return;
    /* The catalog answers whoever still waits for it (503) while the HTTP server can still
     * send it; requests arriving meanwhile get 503 at once. */
    agg_catalog_stop(api->catalog);
    mon_http_stop(api->http);
    agg_catalog_free(api->catalog);
    mon_authlimit_free(api->auth_failures);
    pthread_mutex_destroy(&api->mutate_lock);
    agg_list_cache_free(api->list_cache);
    free(api);
}
