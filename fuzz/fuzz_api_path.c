/* SPDX-License-Identifier: MIT */
/* Fuzzes request routing: "METHOD /path" (the path as libmicrohttpd hands it over, already
 * percent-decoded) through mon_http_dispatch() on the aggregator's route patterns, the {id}
 * parser, and for other paths the dashboard's path check. */
#include "fuzz_util.h"

#include "aggregator/api_params.h"
#include "aggregator/static.h"
#include "common/http.h"
#include "common/str.h"
#include "common/text.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int handler_ran;

static void handler(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    (void)ctx;
    (void)req;
    handler_ran++;
    resp->status = 200;
}

/* The patterns of src/aggregator/api.c (api_routes). */
static const struct mon_http_route routes[] = {
    {"GET", "/api/servers", handler},
    {"POST", "/api/servers", handler},
    {"GET", "/api/servers/{id}", handler},
    {"PUT", "/api/servers/{id}", handler},
    {"DELETE", "/api/servers/{id}", handler},
    {"GET", "/api/servers/{id}/timeseries", handler},
    {"GET", "/api/servers/{id}/recent", handler},
    {"GET", "/api/servers/{id}/services", handler},
    {"GET", "/api/servers/{id}/services/catalog", handler},
    {"GET", "/api/events", handler},
    {"GET", "/api/health", handler},
};

static void response_free(struct mon_http_response *resp)
{
    free(resp->body);
    for (size_t i = 0; i < resp->n_headers; i++)
        free(resp->headers[i].value);
}

static bool has_header(const struct mon_http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcmp(resp->headers[i].name, name) == 0 && resp->headers[i].value[0])
            return true;
    return false;
}

/* The error echoes the path: still valid UTF-8 JSON without raw control or hidden characters,
 * whatever bytes the path held. */
static void check_error_body(const char *body, size_t len)
{
    cJSON *o;
    FUZZ_CHECK(mon_utf8_valid(body, len));
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = mon_utf8_next(body + i, len - i, &cp);
        FUZZ_CHECK(n > 0 && !mon_text_is_hidden(cp));
        i += n;
    }
    o = cJSON_ParseWithLength(body, len);
    FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "error")));
    cJSON_Delete(o);
}

/* An accepted {id} is positive and survives formatting and parsing again. */
static void check_id(const char *param)
{
    int64_t id = -5, again = -5;
    char back[32];
    if (agg_api_params_server_id(param, &id) < 0) {
        FUZZ_CHECK(id == -5);
        return;
    }
    FUZZ_CHECK(id >= 1);
    snprintf(back, sizeof(back), "%" PRId64, id);
    FUZZ_CHECK(agg_api_params_server_id(back, &again) == 0 && again == id);
}

static void check_static_path(const char *path)
{
    if (!agg_static_path_ok(path))
        return;
    FUZZ_CHECK(path[0] == '/');
    FUZZ_CHECK(!strstr(path, "/.") && !strstr(path, "//") && !strchr(path, '\\'));
    FUZZ_CHECK(!strchr(path, ':'));
    for (const char *p = path; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
    FUZZ_CHECK(agg_static_content_type(path) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strdup(data, size), *f[2];
    struct mon_http_request req = {0};
    struct mon_http_response resp = {.fd = -1};
    bool ran;

    if (fuzz_split(text, ' ', f, 2) < 2) {
        f[1] = f[0];
        f[0] = (char *)"GET";
    }
    req.method = f[0];
    req.path = f[1];
    handler_ran = 0;
    ran = mon_http_dispatch(routes, sizeof(routes) / sizeof(routes[0]), NULL, &req, &resp);
    FUZZ_CHECK(handler_ran == (ran ? 1 : 0));
    if (ran) {
        FUZZ_CHECK(resp.status == 200);
        FUZZ_CHECK(strncmp(req.path, "/api/", 5) == 0);
        FUZZ_CHECK(req.n_params == (strchr(req.path + 5, '/') ? 1u : 0u));
        for (size_t i = 0; i < req.n_params; i++) {
            FUZZ_CHECK(fuzz_terminated(req.params[i], MON_HTTP_PARAM_LEN));
            FUZZ_CHECK(req.params[i][0] && !strchr(req.params[i], '/'));
            FUZZ_CHECK(strstr(req.path, req.params[i]) != NULL);
        }
        if (req.n_params)
            check_id(req.params[0]);
    } else {
        FUZZ_CHECK(resp.status == 404 || resp.status == 405);
        FUZZ_CHECK(resp.body && resp.body_len == strlen(resp.body));
        check_error_body(resp.body, resp.body_len);
        FUZZ_CHECK(resp.status == 404 || has_header(&resp, "Allow"));
    }
    check_static_path(req.path);
    response_free(&resp);
    free(text);
    return 0;
}
