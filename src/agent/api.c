/* SPDX-License-Identifier: MIT */
/* Agent endpoints: routing, allow_from and bearer auth, the cached snapshot plus unit states
 * read over D-Bus on request, health, the discovery list and Prometheus metrics. */
#include "agent/api.h"

#include "agent/collect/systemd_units.h"
#include "agent/metrics.h"
#include "agent/snapshot.h"
#include "common/authlimit.h"
#include "common/buf.h"
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

#define UNIT_TIMEOUT_MS   1000
#define MAX_CATALOG_UNITS 2048
#define METRICS_MAX_BYTES (8 * 1024 * 1024)

struct agent_api {
    struct mon_http_server *http;
    struct agent_sampler *sampler;
    pthread_rwlock_t cfg_lock; /* readers: requests; writer: reload */
    struct agent_config *cfg;
    pthread_mutex_t units_lock; /* sd-bus connections are not thread-safe */
    struct agent_systemd_units *units;
    struct mon_authlimit *auth_failures;
};

/* ---- unit states ---- */

/* Reads the named units in order; after the bus fails once, the rest get the same error
 * without waiting again, so a dead bus costs one timeout per request at most. */
static void read_units(struct agent_api *api, char **names, const bool *allowed, size_t n,
                       struct agent_unit_state *out)
{
    char bus_error[160] = "";
    pthread_mutex_lock(&api->units_lock);
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        mon_strlcpy(out[i].name, names[i], sizeof(out[i].name));
        out[i].since_utc_s = -1;
        if (!allowed[i]) {
            mon_strlcpy(out[i].error, "not allowed", sizeof(out[i].error));
            continue;
        }
        if (bus_error[0]) {
            mon_strlcpy(out[i].error, bus_error, sizeof(out[i].error));
            continue;
        }
        if (agent_systemd_units_get(api->units, names[i], &out[i]) == MON_EIO)
            mon_strlcpy(bus_error, out[i].error, sizeof(bus_error));
    }
    pthread_mutex_unlock(&api->units_lock);
}

static cJSON *units_json(const struct agent_unit_state *u, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o))
            break;
        cJSON_AddStringToObject(o, "name", u[i].name);
        if (u[i].active_state[0]) {
            cJSON_AddStringToObject(o, "active_state", u[i].active_state);
            cJSON_AddStringToObject(o, "sub_state", u[i].sub_state);
            mon_json_add_time(o, "since", u[i].since_utc_s);
        }
        if (u[i].error[0])
            cJSON_AddStringToObject(o, "error", u[i].error);
    }
    return arr;
}

/* ---- handlers ---- */

static bool authorized(const struct agent_api *api, struct mon_http_request *req,
                       struct mon_http_response *resp)
{
    char retry[16];
    int wait_s = 0;
    switch (mon_http_authenticate(req, api->auth_failures, NULL, api->cfg->token, &wait_s)) {
    case MON_HTTP_AUTH_OK:
        return true;
    case MON_HTTP_AUTH_WAIT:
        snprintf(retry, sizeof(retry), "%d", wait_s);
        mon_http_error(resp, 429,
                       "too many failed authentications from this address: try again in %d s",
                       wait_s);
        mon_http_set_header(resp, "Retry-After", retry);
        return false;
    default:
        mon_http_error(resp, 401, "missing or invalid bearer token");
        mon_http_set_header(resp, "WWW-Authenticate", "Bearer realm=\"monitor-agent\"");
        return false;
    }
}

static void handle_snapshot(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agent_api *api = ctx;
    char *names[AGENT_MAX_REQUESTED_UNITS] = {0};
    bool allowed[AGENT_MAX_REQUESTED_UNITS];
    struct agent_unit_state *units = NULL;
    struct mon_buf body;
    char *base, *services_text = NULL;
    size_t base_len = 0;
    bool present;
    int n;

    if (!authorized(api, req, resp))
        return;
    n = agent_config_request_units(api->cfg, mon_http_query(req, "services"), names, allowed,
                                   &present);
    if (n < 0) {
        mon_http_error(resp, 400, "services: at most %d unit names of at most 255 characters",
                       AGENT_MAX_REQUESTED_UNITS);
        goto out;
    }
    base = agent_sampler_snapshot_json(api->sampler, &base_len);
    if (!base || base_len < 2) {
        free(base);
        mon_http_error(resp, 503, "no snapshot yet");
        goto out;
    }
    if (!present) { /* the common case: hand out the cached body as it is */
        mon_http_body(resp, 200, "application/json", base, base_len);
        goto out;
    }
    units = calloc((size_t)n + 1, sizeof(*units));
    if (units) {
        cJSON *arr;
        read_units(api, names, allowed, (size_t)n, units);
        arr = units_json(units, (size_t)n);
        services_text = arr ? cJSON_PrintUnformatted(arr) : NULL;
        cJSON_Delete(arr);
    }
    if (!services_text) {
        free(base);
        mon_http_error(resp, 500, "out of memory");
        goto out;
    }
    /* Splice ,"services":[...] before the closing brace of the cached object. */
    mon_buf_init(&body, base_len + strlen(services_text) + 32);
    if (mon_buf_append(&body, base, base_len - 1) == MON_OK &&
        mon_buf_printf(&body, ",\"services\":%s}", services_text) == MON_OK) {
        size_t len = body.len;
        mon_http_body(resp, 200, "application/json", mon_buf_take(&body), len);
    } else {
        mon_http_error(resp, 500, "out of memory");
    }
    mon_buf_done(&body);
    free(base);
out:
    free(services_text);
    free(units);
    for (int i = 0; i < AGENT_MAX_REQUESTED_UNITS; i++)
        free(names[i]);
}

static const char *check_name(enum agent_check c)
{
    switch (c) {
    case AGENT_CHECK_OK:
        return "ok";
    case AGENT_CHECK_DEGRADED:
        return "degraded";
    case AGENT_CHECK_OFF:
        return "off";
    default:
        return "error";
    }
}

static enum agent_check systemd_check(struct agent_api *api, char *detail, size_t len)
{
    const char *probe = "dbus.service";
    struct agent_unit_state u;
    int r;

    if (api->cfg->n_allow == 0) {
        mon_strlcpy(detail, "services_allowlist is empty: no unit data exposed", len);
        return AGENT_CHECK_OFF;
    }
    for (size_t i = 0; i < api->cfg->n_allow; i++) {
        if (!strpbrk(api->cfg->services_allowlist[i], "*?[")) {
            probe = api->cfg->services_allowlist[i];
            break;
        }
    }
    pthread_mutex_lock(&api->units_lock);
    r = agent_systemd_units_get(api->units, probe, &u);
    pthread_mutex_unlock(&api->units_lock);
    if (r == MON_EIO) {
        mon_strlcpy(detail, u.error, len);
        return AGENT_CHECK_ERROR;
    }
    detail[0] = '\0';
    return AGENT_CHECK_OK;
}

static void handle_health(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agent_api *api = ctx;
    struct agent_values *v = malloc(sizeof(*v));
    enum agent_check cpu, disk, sysd;
    char disk_detail[256], sysd_detail[160];
    cJSON *root, *checks, *details;
    const char *status;

    if (!v) {
        mon_http_error(resp, 500, "out of memory");
        return;
    }
    agent_sampler_values(api->sampler, v);
    cpu = v->has_cpu ? AGENT_CHECK_OK : AGENT_CHECK_ERROR;
    disk = agent_snapshot_disk_check(v, disk_detail, sizeof(disk_detail));
    sysd = systemd_check(api, sysd_detail, sizeof(sysd_detail));
    if (cpu == AGENT_CHECK_ERROR)
        status = "error";
    else if (disk != AGENT_CHECK_OK || v->gpu_check == AGENT_CHECK_DEGRADED ||
             v->gpu_check == AGENT_CHECK_ERROR || sysd == AGENT_CHECK_ERROR)
        status = "degraded";
    else
        status = "ok";
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "status", status);
    mon_json_add_time(root, "timestamp", mon_utc_ms() / 1000);
    checks = cJSON_AddObjectToObject(root, "checks");
    cJSON_AddStringToObject(checks, "cpu", check_name(cpu));
    cJSON_AddStringToObject(checks, "disk", check_name(disk));
    cJSON_AddStringToObject(checks, "gpu", check_name(v->gpu_check));
    cJSON_AddStringToObject(checks, "systemd", check_name(sysd));
    details = cJSON_AddObjectToObject(root, "details");
    if (v->cpu_error[0])
        cJSON_AddStringToObject(details, "cpu", v->cpu_error);
    else if (!v->has_cpu)
        cJSON_AddStringToObject(details, "cpu", "no CPU reading yet");
    else
        cJSON_AddNullToObject(details, "cpu");
    if (disk_detail[0])
        cJSON_AddStringToObject(details, "disk", disk_detail);
    else
        cJSON_AddNullToObject(details, "disk");
    cJSON_AddStringToObject(details, "gpu", v->gpu_detail);
    if (sysd_detail[0])
        cJSON_AddStringToObject(details, "systemd", sysd_detail);
    else
        cJSON_AddNullToObject(details, "systemd");
    cJSON_AddStringToObject(root, "node_id", api->cfg->node_id);
    cJSON_AddStringToObject(root, "agent_version", MON_VERSION);
    free(v);
    (void)req;
    mon_http_json(resp, strcmp(status, "error") == 0 ? 503 : 200, root);
}

static void handle_services(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agent_api *api = ctx;
    struct agent_unit_state *list = NULL;
    size_t n = 0;
    char why[256];
    cJSON *root, *arr;
    int r;

    if (!authorized(api, req, resp))
        return;
    root = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(root, "services");
    if (api->cfg->n_allow == 0) {
        cJSON_AddStringToObject(
            root, "hint",
            "services_allowlist is empty on this agent: add unit names or patterns such as "
            "\"*.service\" to services_allowlist in its config.yaml and reload it "
            "(systemctl reload monitor-agent, or send SIGHUP)");
        mon_http_json(resp, 200, root);
        return;
    }
    pthread_mutex_lock(&api->units_lock);
    r = agent_systemd_units_list_services(api->units, MAX_CATALOG_UNITS, &list, &n, why,
                                          sizeof(why));
    pthread_mutex_unlock(&api->units_lock);
    if (r < 0) {
        cJSON_Delete(root);
        mon_http_error(resp, 503, "cannot list units: %s", why);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *o;
        if (!agent_config_unit_allowed(api->cfg, list[i].name))
            continue;
        o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "name", list[i].name);
        cJSON_AddStringToObject(o, "description", list[i].description);
        cJSON_AddStringToObject(o, "active_state", list[i].active_state);
        cJSON_AddStringToObject(o, "sub_state", list[i].sub_state);
        cJSON_AddStringToObject(o, "unit_file_state", list[i].unit_file_state);
    }
    free(list);
    mon_http_json(resp, 200, root);
}

static void handle_metrics(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agent_api *api = ctx;
    char *names[AGENT_MAX_REQUESTED_UNITS] = {0};
    bool allowed[AGENT_MAX_REQUESTED_UNITS], present;
    struct agent_unit_state *units = NULL;
    struct agent_values *v = NULL;
    struct mon_buf out;
    size_t len;
    int n;

    if (!authorized(api, req, resp))
        return;
    mon_buf_init(&out, METRICS_MAX_BYTES);
    n = agent_config_request_units(api->cfg, NULL, names, allowed, &present);
    v = malloc(sizeof(*v));
    units = calloc(n > 0 ? (size_t)n : 1, sizeof(*units));
    if (n < 0 || !v || !units) {
        mon_http_error(resp, 500, "out of memory");
        goto out;
    }
    read_units(api, names, allowed, (size_t)n, units);
    agent_sampler_values(api->sampler, v);
    if (agent_metrics_render(api->cfg->node_id, v, units, (size_t)n, &out) < 0) {
        mon_http_error(resp, 500, "out of memory");
        goto out;
    }
    len = out.len;
    mon_http_body(resp, 200, "text/plain; version=0.0.4; charset=utf-8", mon_buf_take(&out), len);
out:
    mon_buf_done(&out);
    free(v);
    free(units);
    for (int i = 0; i < AGENT_MAX_REQUESTED_UNITS; i++)
        free(names[i]);
}

static const struct mon_http_route agent_routes[] = {
    {"GET", "/v1/snapshot", handle_snapshot},
    {"GET", "/v1/health", handle_health},
    {"GET", "/v1/services", handle_services},
    {"GET", "/metrics", handle_metrics},
};

static void dispatch(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agent_api *api = ctx;
    pthread_rwlock_rdlock(&api->cfg_lock);
    mon_http_dispatch(agent_routes, sizeof(agent_routes) / sizeof(agent_routes[0]), api, req, resp);
    pthread_rwlock_unlock(&api->cfg_lock);
}

static bool allow_client(void *ctx, const struct sockaddr *client)
{
    struct agent_api *api = ctx;
    bool ok;
    pthread_rwlock_rdlock(&api->cfg_lock);
    ok = agent_config_client_allowed(api->cfg, client);
    pthread_rwlock_unlock(&api->cfg_lock);
    return ok;
}

int agent_api_start(struct agent_config *cfg, struct agent_sampler *sampler,
                    const struct mon_tls_pair *tls, struct agent_api **ret_api, char *why,
                    size_t why_len)
{
    struct agent_api *api = calloc(1, sizeof(*api));
    struct mon_http_options opt = {
        .listen = cfg->listen,
        /* Slow or idle clients wait at the door (5 s at most for a request head) and are pushed
         * out first when it is full, so 256 is plenty beside the aggregator's poll; one address
         * (the aggregator polls and asks for the catalog from one) gets 16 at most. */
        .max_connections = 256,
        .per_ip_connections = 16,
        .timeout_s = 10,
        .max_header_bytes = 8192,
        .max_body_bytes = 0,
        .threads = 2,
        .handler = dispatch,
        .allow = allow_client,
        .tls = tls,
    };

    int r = MON_ENOMEM;

    if (!api) {
        snprintf(why, why_len, "out of memory");
        agent_config_free(cfg);
        return MON_ENOMEM;
    }
    pthread_rwlock_init(&api->cfg_lock, NULL);
    pthread_mutex_init(&api->units_lock, NULL);
    api->cfg = cfg;
    api->sampler = sampler;
    opt.ctx = api;
    if ((r = agent_systemd_units_new(UNIT_TIMEOUT_MS, &api->units)) < 0 ||
        (r = mon_authlimit_new("agent", &api->auth_failures)) < 0) {
        snprintf(why, why_len, "out of memory");
        goto fail;
    }
    r = mon_http_start(&opt, &api->http, why, why_len);
    if (r < 0)
        goto fail;
    *ret_api = api;
    return MON_OK;
fail:
    agent_api_stop(api);
    return r;
}

void agent_api_set_config(struct agent_api *api, struct agent_config *cfg)
{
    struct agent_config *old;
    pthread_rwlock_wrlock(&api->cfg_lock);
    old = api->cfg;
    api->cfg = cfg;
    pthread_rwlock_unlock(&api->cfg_lock);
    agent_config_free(old);
}

int agent_api_set_tls(struct agent_api *api, const struct mon_tls_pair *tls)
{
    return mon_http_set_tls(api->http, tls);
}

const struct agent_config *agent_api_config(struct agent_api *api)
{
    return api->cfg;
}

void agent_api_stop(struct agent_api *api)
{
    if (!api)
        return;
    mon_http_stop(api->http);
    mon_authlimit_free(api->auth_failures);
    agent_systemd_units_free(api->units);
    agent_config_free(api->cfg);
    pthread_rwlock_destroy(&api->cfg_lock);
    pthread_mutex_destroy(&api->units_lock);
    free(api);
}
