/* SPDX-License-Identifier: MIT */
/* Building responses: bodies, JSON, {"error": ...} with the message made safe, extra headers. */
#include "common/http.h"
#include "common/http_priv.h"

#include "common/text.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void mon_http_response_reset(struct mon_http_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    if (resp->fd >= 0)
        close(resp->fd);
    resp->fd = -1;
}

/* Frees everything a response holds, headers included. */
void mon_http_response_free(struct mon_http_response *resp)
{
    mon_http_response_reset(resp);
    for (size_t i = 0; i < resp->n_headers; i++)
        free(resp->headers[i].value);
    resp->n_headers = 0;
}

void mon_http_body(struct mon_http_response *resp, int status, const char *content_type, char *body,
                   size_t len)
{
    mon_http_response_reset(resp);
    resp->status = status;
    resp->content_type = content_type;
    resp->body = body;
    resp->body_len = body ? len : 0;
    if (!body) /* allocation failed upstream */
        resp->status = 500;
}

void mon_http_json(struct mon_http_response *resp, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        mon_http_error(resp, 500, "out of memory");
        return;
    }
    mon_http_body(resp, status, "application/json", text, strlen(text));
}

void mon_http_error(struct mon_http_response *resp, int status, const char *fmt, ...)
{
    char msg[1024];
    cJSON *obj;
    char *text;
    va_list ap;

    char clean[1024];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mon_text_sanitize(msg, strlen(msg), clean, sizeof(clean));
    obj = cJSON_CreateObject();
    if (obj && cJSON_AddStringToObject(obj, "error", clean) &&
        (text = cJSON_PrintUnformatted(obj))) {
        cJSON_Delete(obj);
        mon_http_body(resp, status, "application/json", text, strlen(text));
        return;
    }
    cJSON_Delete(obj);
    mon_http_response_reset(resp);
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = strdup("{\"error\":\"out of memory\"}");
    resp->body_len = resp->body ? strlen(resp->body) : 0;
}

void mon_http_set_header(struct mon_http_response *resp, const char *name, const char *value)
{
    char *v;
    if (resp->n_headers >= MON_HTTP_MAX_HEADERS || !(v = strdup(value)))
        return;
    resp->headers[resp->n_headers].name = name;
    resp->headers[resp->n_headers].value = v;
    resp->n_headers++;
}
