/* SPDX-License-Identifier: MIT */
/* The requests libmicrohttpd reads for the HTTP wrapper: per-request checks of kept-alive
 * requests (sizes, allow-list, body framing), capped body assembly, deadlines, percent-decoding
 * and the call of the handler. Runs on the workers' threads (http_priv.h); keeps no state of its
 * own beyond each request's struct http_pending, owned by libmicrohttpd's request context. */
#include "common/http.h"
#include "common/http_priv.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http_gate.h"
#include "common/http_head.h"
#include "common/str.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum MHD_Result mon_http_send_response(struct MHD_Connection *conn, struct mon_http_response *resp)
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
        mon_http_response_reset(resp);
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
    mon_http_response_reset(resp);
    return ret;
}

static enum MHD_Result reply_now(struct MHD_Connection *conn, int status, const char *msg)
{
    struct mon_http_response resp = {.fd = -1};
    mon_http_error(&resp, status, "%s", msg);
    return mon_http_send_response(conn, &resp);
}

/* The answer is queued: from now on the connection owes the next request head (and, while a
 * slow reader is still taking the answer, may be pushed out when the server is full). */
void mon_http_answering(struct mon_http_server *srv, struct mon_http_conn *state)
{
    mon_http_conn_set_deadline(state, mon_mono_ms() + (int64_t)srv->opt.timeout_s * 1000);
}

/* The connection's deadlines and trust, set up in notify_connection. */
struct mon_http_conn *mon_http_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* What the header fields of a request say about it, gathered in one pass. */
struct head_scan {
    unsigned lengths; /* Content-Length fields */
    bool transfer_encoding;
    bool nul; /* a value holds a NUL byte */
    const char *length;
};

static enum MHD_Result scan_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    struct head_scan *h = cls;
    (void)kind;
    if (value && memchr(value, '\0', value_size))
        h->nul = true;
    if (mon_http_name_is(key, key_size, "content-length")) {
        h->lengths++;
        h->length = value;
    } else if (mon_http_name_is(key, key_size, "transfer-encoding")) {
        h->transfer_encoding = true;
    }
    return MHD_YES;
}

/* The checks of the first access-handler call: the door made the same ones (and more) for the
 * first request of a connection; these cover later requests on a kept-alive one. Returns the
 * status to refuse with (msg set) or 0. */
static int request_checks(struct mon_http_server *srv, struct MHD_Connection *conn,
                          bool *ret_has_body, char *msg, size_t msg_len)
{
    struct head_scan h = {0};
    const union MHD_ConnectionInfo *ci;
    int64_t len = 0;

    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (ci && ci->header_size > srv->opt.max_header_bytes) {
        snprintf(msg, msg_len, "request headers too large (limit %zu bytes)",
                 srv->opt.max_header_bytes);
        return 431;
    }
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (srv->opt.allow && !srv->opt.allow(srv->opt.ctx, ci ? ci->client_addr : NULL)) {
        snprintf(msg, msg_len, "forbidden: client address not in allow_from");
        return 403;
    }
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, scan_field, &h);
    if (h.nul) {
        snprintf(msg, msg_len, "the request contains a NUL byte");
        return 400;
    }
    if (h.lengths > 1) {
        snprintf(msg, msg_len, "more than one Content-Length header");
        return 400;
    }
    *ret_has_body = h.transfer_encoding || (h.length && strcmp(h.length, "0") != 0);
    if (!*ret_has_body)
        return 0;
    if (srv->opt.max_body_bytes == 0) {
        snprintf(msg, msg_len, "request body not accepted");
        return 413;
    }
    /* A chunked body announces no size, and libmicrohttpd (0.9.75) cannot queue a 413 once
     * the body is arriving: a body past the cap could only be dropped mid-way or read to its
     * end. So a body needs a Content-Length, checked here, before any of it is read. */
    if (h.transfer_encoding) {
        snprintf(msg, msg_len,
                 "a request body needs a Content-Length (chunked bodies are not accepted)");
        return 411;
    }
    if (mon_parse_int64(h.length, 0, INT64_MAX, &len) < 0 ||
        (uint64_t)len > srv->opt.max_body_bytes) {
        snprintf(msg, msg_len, "request body too large (limit %zu bytes)", srv->opt.max_body_bytes);
        return 413;
    }
    return 0;
}

enum MHD_Result mon_http_access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                        const char *method, const char *version,
                                        const char *upload_data, size_t *upload_data_size,
                                        void **con_cls)
{
    struct http_worker *worker = cls;
    struct mon_http_server *srv = worker->srv;
    struct http_pending *pending = *con_cls;
    const union MHD_ConnectionInfo *ci;
    struct mon_http_request req;
    struct mon_http_response resp = {.fd = -1};

    if (!pending || *con_cls == (void *)&srv->too_many_params) {
        struct mon_http_conn *state = mon_http_conn_of(conn);
        bool has_body = false;
        char msg[160];
        int status;

        if (*con_cls == (void *)&srv->too_many_params) {
            snprintf(msg, sizeof(msg), "too many query parameters (limit %d)",
                     MON_HTTP_MAX_QUERY_PARAMS);
            return reply_now(conn, 400, msg);
        }
        status = request_checks(srv, conn, &has_body, msg, sizeof(msg));
        if (status)
            return reply_now(conn, status, msg);
        /* A body must arrive within body_timeout_s; while the handler runs there is none. */
        mon_http_conn_set_deadline(
            state, has_body ? mon_mono_ms() + (int64_t)srv->opt.body_timeout_s * 1000 : 0);
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
    if (pending->deferred) /* resumed: the answer is there */
        return mon_http_deferred_wait(srv, conn, pending->deferred);

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = url;
    req.conn = conn;
    req.state = mon_http_conn_of(conn);
    req.server = srv;
    mon_http_conn_set_deadline(req.state, 0);
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    req.client = ci ? ci->client_addr : NULL;
    if (pending->has_body) {
        req.body = pending->body.data ? pending->body.data : "";
        req.body_len = pending->body.len;
    }
    (void)version;
    /* Busy while the handler runs: the door gives new connections to a worker that is not. */
    atomic_fetch_add_explicit(&worker->busy, 1, memory_order_relaxed);
    srv->opt.handler(srv->opt.ctx, &req, &resp);
    atomic_fetch_sub_explicit(&worker->busy, 1, memory_order_relaxed);
    if (req.deferred) {
        /* e.g. a header the router added: the deferred answer brings its own */
        mon_http_response_free(&resp);
        pending->deferred = req.deferred;
        return mon_http_deferred_wait(srv, conn, req.deferred);
    }
    mon_http_answering(srv, req.state);
    return mon_http_send_response(conn, &resp);
}

void mon_http_request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                                enum MHD_RequestTerminationCode toe)
{
    struct mon_http_server *srv = cls;
    struct http_pending *pending = *con_cls;
    (void)toe;
    /* The next request on this connection must have its head complete by then: absolute,
     * unlike libmicrohttpd's idle timeout, which every received byte restarts. */
    mon_http_conn_set_deadline(mon_http_conn_of(conn),
                               mon_mono_ms() + (int64_t)srv->opt.timeout_s * 1000);
    if (pending && *con_cls != (void *)&srv->too_many_params) {
        mon_http_deferred_unref(pending->deferred);
        mon_buf_done(&pending->body);
        free(pending);
    }
    *con_cls = NULL;
}

/* Called with the request target before libmicrohttpd parses its query. libmicrohttpd (0.9.75)
 * then stores each parameter in the connection's fixed memory pool, and a few hundred of them
 * exhausted it: the connection was closed without any answer. It parses them from this very
 * buffer, so ending the query right after '?' leaves none to store, and the marker returned
 * (it becomes the request's context) gets the request a 400. The door rejects such a first
 * request itself; this covers later ones on a kept-alive connection. */
void *mon_http_uri_logged(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct mon_http_server *srv = cls;
    char *query = strchr(uri, '?');
    (void)conn;
    if (!query || mon_http_query_params(query + 1, strlen(query + 1)) <= MON_HTTP_MAX_QUERY_PARAMS)
        return NULL;
    query[1] = '\0';
    return &srv->too_many_params;
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
size_t mon_http_unescape(void *cls, struct MHD_Connection *conn, char *s)
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
