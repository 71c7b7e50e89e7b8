/* SPDX-License-Identifier: MIT */
/* Reading requests: query and header values (whole values, NUL-checked), bearer tokens, the
 * constant-time secret check with its failed-attempt limit, and routing by method and path. */
#include "common/http.h"
#include "common/http_priv.h"

#include "common/authlimit.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http_gate.h"
#include "common/str.h"
#include "common/text.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_COPY_MAX 4096 /* the longest secret any config accepts */

const char *mon_http_query(const struct mon_http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *mon_http_header(const struct mon_http_request *req, const char *name)
{
    const char *v = NULL;
    size_t len = 0;
    if (MHD_lookup_connection_value_n(req->conn, MHD_HEADER_KIND, name, strlen(name), &v, &len) !=
            MHD_YES ||
        !v || memchr(v, '\0', len))
        return NULL;
    return v;
}

int mon_http_header_copy(const struct mon_http_request *req, const char *name, char *buf,
                         size_t size)
{
    const char *v = NULL;
    size_t len = 0;

    buf[0] = '\0';
    if (MHD_lookup_connection_value_n(req->conn, MHD_HEADER_KIND, name, strlen(name), &v, &len) !=
            MHD_YES ||
        !v)
        return MON_ENOENT;
    if (memchr(v, '\0', len))
        return MON_EINVAL;
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len >= size)
        return MON_ETOOBIG;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return MON_OK;
}

/* True when s starts with "Bearer " in any letter case (ASCII, locale-independent). */
static bool bearer_prefix(const char *s)
{
    static const char want[] = "bearer ";
    for (size_t i = 0; want[i]; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != want[i])
            return false;
    }
    return true;
}

const char *mon_http_bearer(const struct mon_http_request *req)
{
    const char *auth = mon_http_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || !bearer_prefix(auth))
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return auth;
}

int mon_http_bearer_copy(const struct mon_http_request *req, char *buf, size_t size)
{
    size_t skip = 7;
    int r = mon_http_header_copy(req, MHD_HTTP_HEADER_AUTHORIZATION, buf, size);
    if (r < 0)
        return r;
    if (!bearer_prefix(buf)) {
        buf[0] = '\0';
        return MON_ENOENT;
    }
    while (buf[skip] == ' ' || buf[skip] == '\t')
        skip++;
    memmove(buf, buf + skip, strlen(buf + skip) + 1);
    return MON_OK;
}

enum mon_http_auth mon_http_authenticate(struct mon_http_request *req, struct mon_authlimit *lim,
                                         const char *header, const char *expected, int *ret_wait_s)
{
    char given[SECRET_COPY_MAX + 1], what[200], path[120];
    bool present, ok;
    int64_t now = mon_mono_ms();
    int r, wait;

    *ret_wait_s = 0;
    /* A connection that already presented the right secret is never held back; any other
     * request from an address that failed too often is not compared at all, so its answer
     * says nothing about the token (429 means "not checked", never "wrong"). */
    if (lim && !mon_http_conn_trusted(req->state) &&
        (wait = mon_authlimit_wait_s(lim, req->client, now)) > 0) {
        *ret_wait_s = wait;
        return MON_HTTP_AUTH_WAIT;
    }
    r = header ? mon_http_header_copy(req, header, given, sizeof(given))
               : mon_http_bearer_copy(req, given, sizeof(given));
    present = r != MON_ENOENT && !(r == MON_OK && given[0] == '\0');
    if (r < 0)
        given[0] = '\0'; /* a NUL inside or too long: compared as empty, which never matches */
    /* Compared in every case, also without a secret, so that every answer costs the same. */
    ok = mon_secret_equal(given, expected) && r == MON_OK;
    if (ok) {
        mon_http_conn_trust(req->state);
        return MON_HTTP_AUTH_OK;
    }
    if (!present)
        return MON_HTTP_AUTH_MISSING;
    mon_text_sanitize(req->path, strlen(req->path), path, sizeof(path)); /* no log injection */
    snprintf(what, sizeof(what), "wrong %s on %s %s", header ? header : "bearer token", req->method,
             path);
    mon_authlimit_failed(lim, req->client, what, now);
    return MON_HTTP_AUTH_WRONG;
}

/* Matches path against pattern, filling params; returns false on mismatch. */
static bool route_match(const char *pattern, const char *path, struct mon_http_request *req)
{
    const char *p = pattern, *s = path;
    size_t n = 0;

    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t len = strcspn(s, "/");
            if (!close || n >= MON_HTTP_MAX_PARAMS || len == 0 || len >= MON_HTTP_PARAM_LEN)
                return false;
            memcpy(req->params[n], s, len);
            req->params[n][len] = '\0';
            n++;
            p = close + 1;
            s += len;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*p || *s)
        return false;
    req->n_params = n;
    return true;
}

bool mon_http_dispatch(const struct mon_http_route *routes, size_t n_routes, void *ctx,
                       struct mon_http_request *req, struct mon_http_response *resp)
{
    struct mon_buf allow;
    bool path_matched = false;

    for (size_t i = 0; i < n_routes; i++) {
        if (!route_match(routes[i].pattern, req->path, req))
            continue;
        path_matched = true;
        if (strcmp(routes[i].method, req->method) == 0) {
            routes[i].fn(ctx, req, resp);
            return true;
        }
    }
    if (!path_matched) {
        mon_http_error(resp, 404, "not found: %s", req->path);
        return false;
    }
    mon_buf_init(&allow, 256);
    for (size_t i = 0; i < n_routes; i++) {
        struct mon_http_request scratch = *req;
        if (route_match(routes[i].pattern, req->path, &scratch))
            (void)mon_buf_printf(&allow, "%s%s", allow.len ? ", " : "", routes[i].method);
    }
    mon_http_error(resp, 405, "method %s not allowed on %s", req->method, req->path);
    if (allow.data)
        mon_http_set_header(resp, MHD_HTTP_HEADER_ALLOW, allow.data);
    mon_buf_done(&allow);
    return false;
}
