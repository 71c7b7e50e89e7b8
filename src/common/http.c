/* SPDX-License-Identifier: MIT */
/* libmicrohttpd wrapper: request assembly (capped bodies), allow-list, routing and responses. */
#include "common/http.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/net.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mon_http_server {
    struct MHD_Daemon *daemon;
    struct mon_http_options opt;
    uint16_t port;
};

/* Per-request state kept by libmicrohttpd between access-handler calls. */
struct http_pending {
    struct mon_buf body;
    bool has_body;
};

static void response_reset(struct mon_http_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    if (resp->fd >= 0)
        close(resp->fd);
    resp->fd = -1;
}

void mon_http_body(struct mon_http_response *resp, int status, const char *content_type, char *body,
                   size_t len)
{
    response_reset(resp);
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

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    obj = cJSON_CreateObject();
    if (obj && cJSON_AddStringToObject(obj, "error", msg) && (text = cJSON_PrintUnformatted(obj))) {
        cJSON_Delete(obj);
        mon_http_body(resp, status, "application/json", text, strlen(text));
        return;
    }
    cJSON_Delete(obj);
    response_reset(resp);
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

const char *mon_http_query(const struct mon_http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *mon_http_header(const struct mon_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
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

static enum MHD_Result send_response(struct MHD_Connection *conn, struct mon_http_response *resp)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (resp->status == 0)
        mon_http_error(resp, 500, "internal error: no response");
    if (resp->fd >= 0) {
        r = MHD_create_response_from_fd64(resp->fd_size, resp->fd);
        if (r)
            resp->fd = -1; /* now owned by libmicrohttpd */
    } else {
        r = MHD_create_response_from_buffer(resp->body_len, resp->body ? resp->body : (void *)"",
                                            resp->body ? MHD_RESPMEM_MUST_FREE
                                                       : MHD_RESPMEM_PERSISTENT);
        if (r)
            resp->body = NULL; /* now owned by libmicrohttpd */
    }
    if (!r) {
        response_reset(resp);
        return MHD_NO;
    }
    if (resp->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (size_t i = 0; i < resp->n_headers; i++) {
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
        free(resp->headers[i].value);
    }
    resp->n_headers = 0;
    ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    response_reset(resp);
    return ret;
}

static enum MHD_Result reply_now(struct MHD_Connection *conn, int status, const char *msg)
{
    struct mon_http_response resp = {.fd = -1};
    mon_http_error(&resp, status, "%s", msg);
    return send_response(conn, &resp);
}

static bool request_has_body(struct MHD_Connection *conn)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    return te != NULL || (cl != NULL && strcmp(cl, "0") != 0);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct mon_http_server *srv = cls;
    struct http_pending *pending = *con_cls;
    const union MHD_ConnectionInfo *ci;
    struct mon_http_request req;
    struct mon_http_response resp = {.fd = -1};

    if (!pending) {
        const struct sockaddr *client;
        bool has_body = request_has_body(conn);
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
        if (ci && ci->header_size > srv->opt.max_header_bytes) {
            char msg[96];
            snprintf(msg, sizeof(msg), "request headers too large (limit %zu bytes)",
                     srv->opt.max_header_bytes);
            return reply_now(conn, 431, msg);
        }
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        client = ci ? ci->client_addr : NULL;
        if (srv->opt.allow && !srv->opt.allow(srv->opt.ctx, client))
            return reply_now(conn, 403, "forbidden: client address not in allow_from");
        if (has_body) {
            const char *cl =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            int64_t len = 0;
            if (srv->opt.max_body_bytes == 0)
                return reply_now(conn, 413, "request body not accepted");
            /* A chunked body announces no size, and libmicrohttpd (0.9.75) cannot queue a 413
             * once the body is arriving: a body past the cap could only be dropped mid-way or
             * read to its end. So a body needs a Content-Length, checked here, before any of it
             * is read. */
            if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                            MHD_HTTP_HEADER_TRANSFER_ENCODING))
                return reply_now(conn, 411,
                                 "a request body needs a Content-Length (chunked bodies are not "
                                 "accepted)");
            if (!cl || mon_parse_int64(cl, 0, INT64_MAX, &len) < 0 ||
                (uint64_t)len > srv->opt.max_body_bytes)
                return reply_now(conn, 413, "request body too large");
        }
        /* Answer on a later call, also without a body: libmicrohttpd closes the connection
         * (no keep-alive) after a response queued on this first call. */
        pending = calloc(1, sizeof(*pending));
        if (!pending)
            return MHD_NO;
        mon_buf_init(&pending->body, srv->opt.max_body_bytes);
        pending->has_body = has_body;
        *con_cls = pending;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (mon_buf_append(&pending->body, upload_data, *upload_data_size) < 0)
            return MHD_NO; /* out of memory: the declared length was checked */
        *upload_data_size = 0;
        return MHD_YES;
    }

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = url;
    req.conn = conn;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    req.client = ci ? ci->client_addr : NULL;
    if (pending->has_body) {
        req.body = pending->body.data ? pending->body.data : "";
        req.body_len = pending->body.len;
    }
    (void)version;
    srv->opt.handler(srv->opt.ctx, &req, &resp);
    return send_response(conn, &resp);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct http_pending *pending = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (pending) {
        mon_buf_done(&pending->body);
        free(pending);
        *con_cls = NULL;
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes the path and the query arguments in place, as libmicrohttpd's own decoder
 * does, except that "%00" is kept as it is: a NUL would cut the string handlers see, so that
 * "/index.html%00.png" was served as "/index.html" and "type=server_down%00x" passed as
 * "server_down". Malformed escapes stay literal too. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    char *out = s;
    const char *in = s;
    (void)cls;
    (void)conn;
    while (*in) {
        int hi = in[0] == '%' ? hex_digit(in[1]) : -1;
        int lo = hi >= 0 ? hex_digit(in[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *out++ = (char)(hi * 16 + lo);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

/* libmicrohttpd keeps the request headers and the reply's header in one pool per connection.
 * When the request fills the pool so far that the reply header no longer fits, it closes the
 * connection without any answer; with a pool of exactly max_header_bytes that happened to
 * requests a little under the limit. So the pool has room for twice the limit plus a reply,
 * the limit itself is checked on the header size (431 from access_handler), and requests too
 * large for the pool get libmicrohttpd's own 431. Only a request of about the pool size (over
 * twice the limit) can still meet that silent close. */
static size_t pool_size(size_t max_header_bytes)
{
    return 2 * max_header_bytes + 8192;
}

int mon_http_start(const struct mon_http_options *opt, struct mon_http_server **ret, char *why,
                   size_t why_len)
{
    struct mon_http_server *srv;
    struct mon_listen_addr addr;
    /* poll() where libmicrohttpd has it, never its epoll mode: in that (edge-triggered) mode
     * libmicrohttpd 0.9.75 misses the end of a connection whose client sent part of a request
     * and hung up, so the socket stays open in CLOSE-WAIT and holds a connection slot until
     * the idle timeout; a burst of such clients locks everyone out for minutes and makes
     * MHD_stop_daemon() wait. poll() and select() are level-triggered. */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD |
        (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES ? MHD_USE_POLL : MHD_USE_AUTO);
    const union MHD_DaemonInfo *info;
    int r;

    r = mon_parse_listen_addr(opt->listen, &addr);
    if (r < 0) {
        snprintf(why, why_len, "bad listen address '%s'", opt->listen);
        return r;
    }
    srv = calloc(1, sizeof(*srv));
    if (!srv)
        return MON_ENOMEM;
    srv->opt = *opt;
    if (!srv->opt.max_header_bytes)
        srv->opt.max_header_bytes = 16384;
    if (addr.family == AF_INET6)
        flags |= MHD_USE_DUAL_STACK;
    srv->daemon = MHD_start_daemon(
        flags, addr.port, NULL, NULL, access_handler, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr.ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(opt->max_connections ? opt->max_connections : 64),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)opt->per_ip_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(opt->timeout_s ? opt->timeout_s : 10),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool_size(srv->opt.max_header_bytes),
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(opt->threads > 1 ? opt->threads : 0),
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
        NULL, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(why, why_len, "cannot listen on %s (address in use or not available)",
                 opt->listen);
        free(srv);
        return MON_EIO;
    }
    info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : addr.port;
    *ret = srv;
    return MON_OK;
}

uint16_t mon_http_port(const struct mon_http_server *srv)
{
    return srv->port;
}

void mon_http_stop(struct mon_http_server *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
