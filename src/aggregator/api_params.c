/* SPDX-License-Identifier: MIT */
/* REST request parsing (ids, query parameters, server bodies) as pure functions: no HTTP, no
 * database, so every rule is reachable from unit tests and fuzzers. */
#include "aggregator/api_params.h"

#include "aggregator/gpu_state.h"
#include "aggregator/metric.h"
#include "aggregator/validate.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/os/os.h"
#include "common/json.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const event_types[] = {
    "server_down",  "server_up",         "service_failed",     "service_recovered",
    "server_added", "server_removed",    "gpu_error",          "gpu_recovered",
    "gpu_idle",     "server_key_pinned", "server_key_changed", NULL};

/* The entry of list equal to v, or NULL. */
static const char *find(const char *v, const char *const *list)
{
    for (; v && *list; list++)
        if (strcmp(v, *list) == 0)
            return *list;
    return NULL;
}

int agg_api_params_server_id(const char *text, int64_t *ret_id)
{
    return mon_parse_int64(text, 1, INT64_MAX, ret_id);
}

const char *agg_api_params_metric(const char *text)
{
    const struct agg_metric *m = agg_metric_find(text);
    return m ? m->name : NULL;
}

void agg_api_params_metric_error(char *why, size_t why_len)
{
    char names[160];
    agg_metric_names(names, sizeof(names));
    snprintf(why, why_len, "metric: must be one of %s", names);
}

static int time_param(const char *name, const char *v, int64_t dflt, int64_t *ret, char *why,
                      size_t why_len)
{
    if (!v || !*v) {
        *ret = dflt;
        return MON_OK;
    }
    if (mon_parse_iso8601(v, ret) < 0) {
        snprintf(why, why_len, "%s: '%s' is not an ISO-8601 time such as 2026-01-17T10:00:00Z",
                 name, v);
        return MON_EINVAL;
    }
    return MON_OK;
}

int agg_api_params_timeseries(const char *metric, const char *agg, const char *from, const char *to,
                              int64_t now_s, struct agg_timeseries_params *ret, char *why,
                              size_t why_len)
{
    struct agg_timeseries_params p = {.metric = agg_api_params_metric(metric)};
    enum agg_metric_agg a;

    if (!p.metric) {
        agg_api_params_metric_error(why, why_len);
        return MON_EINVAL;
    }
    if (agg_metric_agg_find(agg && *agg ? agg : "avg", &a) < 0) {
        snprintf(why, why_len, "agg: must be avg, max or min");
        return MON_EINVAL;
    }
    p.agg = agg_metric_agg_name(a);
    if (time_param("to", to, now_s, &p.to, why, why_len) < 0 ||
        time_param("from", from, p.to - 86400, &p.from, why, why_len) < 0)
        return MON_EINVAL;
    if (p.from > p.to) {
        snprintf(why, why_len, "from: must not be after to");
        return MON_EINVAL;
    }
    if (p.to - p.from > AGG_API_MAX_RANGE_S) {
        snprintf(why, why_len, "from: the range is limited to 400 days");
        return MON_EINVAL;
    }
    *ret = p;
    return MON_OK;
}

int agg_api_params_events(const char *limit, const char *server_id, const char *type,
                          const char *before, struct agg_events_params *ret, char *why,
                          size_t why_len)
{
    struct agg_events_params p = {.limit = 200};

    if (limit && *limit && mon_parse_int64(limit, 1, 1000, &p.limit) < 0) {
        snprintf(why, why_len, "limit: must be an integer from 1 to 1000");
        return MON_EINVAL;
    }
    if (server_id && *server_id && mon_parse_int64(server_id, 1, INT64_MAX, &p.server_id) < 0) {
        snprintf(why, why_len, "server_id: must be a positive integer");
        return MON_EINVAL;
    }
    if (before && *before && mon_parse_int64(before, 1, INT64_MAX, &p.before) < 0) {
        snprintf(why, why_len, "before: must be an event id (positive integer)");
        return MON_EINVAL;
    }
    if (type && *type && !(p.type = find(type, event_types))) {
        snprintf(why, why_len, "type: unknown event type");
        return MON_EINVAL;
    }
    *ret = p;
    return MON_OK;
}

int agg_api_params_gpus(const char *state, const char *server_id, int *ret_state,
                        int64_t *ret_server_id, char *why, size_t why_len)
{
    enum agg_gpu_state s = AGG_GPU_UNKNOWN;
    int64_t id = 0;
    if (state && *state && agg_gpu_state_from_name(state, &s) < 0) {
        snprintf(why, why_len, "state: must be one of free, busy, idle, error, unknown");
        return MON_EINVAL;
    }
    if (server_id && *server_id && mon_parse_int64(server_id, 1, INT64_MAX, &id) < 0) {
        snprintf(why, why_len, "server_id: must be a positive integer");
        return MON_EINVAL;
    }
    *ret_state = state && *state ? (int)s : -1;
    *ret_server_id = id;
    return MON_OK;
}

static int replace_string(char **dst, const char *src)
{
    char *copy = strdup(src);
    if (!copy)
        return MON_ENOMEM;
    free(*dst);
    *dst = copy;
    return MON_OK;
}

/* Records a field error: MON_EINVAL, or MON_ENOMEM when the field name cannot be copied. */
static int field_fail(const char *field, const char *reason, char **err_field, char *msg,
                      size_t msg_len)
{
    *err_field = strdup(field);
    snprintf(msg, msg_len, "%s", reason);
    return *err_field ? MON_EINVAL : MON_ENOMEM;
}

/* Replaces s->services with the unit names of the JSON array list. */
static int apply_services(const cJSON *list, struct agg_server *s, char **err_field, char *msg,
                          size_t msg_len)
{
    int n = cJSON_GetArraySize(list);
    const cJSON *u;
    char **names;
    size_t i = 0;

    if (!cJSON_IsArray(list) || n > AGG_MAX_SERVICES)
        return field_fail("services", "must be a list of at most 64 unit names", err_field, msg,
                          msg_len);
    names = calloc((size_t)n + 1, sizeof(*names));
    if (!names)
        return MON_ENOMEM;
    cJSON_ArrayForEach(u, list)
    {
        if (!cJSON_IsString(u) || !(names[i] = strdup(u->valuestring))) {
            for (size_t k = 0; k < i; k++)
                free(names[k]);
            free(names);
            return field_fail("services", "must contain only unit names (strings)", err_field, msg,
                              msg_len);
        }
        i++;
    }
    for (size_t k = 0; k < s->n_services; k++)
        free(s->services[k]);
    free(s->services);
    s->services = names;
    s->n_services = i;
    return MON_OK;
}

/* tls (bool), tls_pin ("" or null: pin again at the next contact) and tls_ca_file (a file on
 * the aggregator's machine; "" or null: none). */
static int apply_tls_fields(const cJSON *root, struct agg_server *s, char **err_field, char *msg,
                            size_t msg_len)
{
    const cJSON *it;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "tls"))) {
        if (!cJSON_IsBool(it))
            return field_fail("tls", "must be true or false", err_field, msg, msg_len);
        s->tls = cJSON_IsTrue(it);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "tls_pin"))) {
        if (!cJSON_IsString(it) && !cJSON_IsNull(it))
            return field_fail("tls_pin", "must be a string or null", err_field, msg, msg_len);
        if (replace_string(&s->tls_pin, cJSON_IsString(it) ? it->valuestring : "") < 0)
            return MON_ENOMEM;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "tls_ca_file"))) {
        const char *v = cJSON_IsString(it) ? it->valuestring : "";
        if (!cJSON_IsString(it) && !cJSON_IsNull(it))
            return field_fail("tls_ca_file", "must be a string or null", err_field, msg, msg_len);
        if (v[0] && !mon_os_path_exists(v))
            return field_fail("tls_ca_file", "no such file on the aggregator's machine", err_field,
                              msg, msg_len);
        if (replace_string(&s->tls_ca_file, v) < 0)
            return MON_ENOMEM;
    }
    return MON_OK;
}

/* Applies the fields of the JSON object root onto s. */
static int apply_fields(const cJSON *root, bool create, struct agg_server *s, char **err_field,
                        char *msg, size_t msg_len)
{
    static const char *const known[] = {"name",     "host",        "agent_port", "token",
                                        "services", "enabled",     "id",         "tls",
                                        "tls_pin",  "tls_ca_file", NULL};
    const cJSON *it;
    int r;

    cJSON_ArrayForEach(it, root)
    {
        if (!it->string || !find(it->string, known))
            return field_fail(it->string ? it->string : "?", "unknown field", err_field, msg,
                              msg_len);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "name"))) {
        char why[AGG_FIELD_MSG_LEN];
        if (!cJSON_IsString(it) || replace_string(&s->name, it->valuestring) < 0)
            return field_fail("name", "must be a string", err_field, msg, msg_len);
        if (!agg_normalize_name(s->name, why, sizeof(why)))
            return field_fail("name", why, err_field, msg, msg_len);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "host")) &&
        (!cJSON_IsString(it) || replace_string(&s->host, it->valuestring) < 0))
        return field_fail("host", "must be a string", err_field, msg, msg_len);
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "agent_port"))) {
        /* Range first: converting a double outside int's range (1e10, inf) is undefined. */
        if (!cJSON_IsNumber(it) || !(it->valuedouble >= 1 && it->valuedouble <= 65535) ||
            it->valuedouble != floor(it->valuedouble))
            return field_fail("agent_port", "must be an integer from 1 to 65535", err_field, msg,
                              msg_len);
        s->port = (int)it->valuedouble;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "token"))) {
        /* Write-only: an empty string in an edit means "keep the stored token". */
        if (!cJSON_IsString(it))
            return field_fail("token", "must be a string", err_field, msg, msg_len);
        if ((create || it->valuestring[0]) && replace_string(&s->token, it->valuestring) < 0)
            return MON_ENOMEM;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "enabled"))) {
        if (!cJSON_IsBool(it))
            return field_fail("enabled", "must be true or false", err_field, msg, msg_len);
        s->enabled = cJSON_IsTrue(it);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "services")) &&
        (r = apply_services(it, s, err_field, msg, msg_len)) < 0)
        return r;
    if ((r = apply_tls_fields(root, s, err_field, msg, msg_len)) < 0)
        return r;
    if (create && !s->token)
        return field_fail("token", "required: the token from the agent's config.yaml", err_field,
                          msg, msg_len);
    return MON_OK;
}

int agg_api_params_server_body(const char *body, size_t len, bool create, struct agg_server *s,
                               char **err_field, char *msg, size_t msg_len)
{
    struct agg_server w = {0};
    cJSON *root = NULL;
    char why[128];
    int r;

    *err_field = NULL;
    if (!body || !len) {
        snprintf(msg, msg_len, "a JSON object body is required");
        return MON_EINVAL;
    }
    if (!mon_utf8_valid(body, len)) { /* names are echoed in every answer */
        snprintf(msg, msg_len, "body is not valid UTF-8");
        return MON_EINVAL;
    }
    /* Strict: a string with \u0000 would be cut there by cJSON (and pass the character
     * checks), trailing data and a repeated key would be silently ignored. */
    r = mon_json_parse_strict(body, len, &root, why, sizeof(why));
    if (r == MON_ENOMEM)
        goto out;
    if (r < 0 || !cJSON_IsObject(root)) {
        bool detail = r < 0 && strcmp(why, "not JSON") != 0; /* more than a syntax error */
        snprintf(msg, msg_len, "body is not a JSON object%s%s", detail ? ": " : "",
                 detail ? why : "");
        r = MON_EINVAL;
        goto out;
    }
    /* Work on a copy so that a body rejected halfway leaves *s as it was. */
    r = agg_server_copy(s, &w);
    if (r < 0)
        goto out;
    r = apply_fields(root, create, &w, err_field, msg, msg_len);
    if (r < 0)
        goto out;
    agg_server_done(s);
    *s = w;
    w = (struct agg_server){0};
out:
    agg_server_done(&w);
    cJSON_Delete(root);
    return r;
}
