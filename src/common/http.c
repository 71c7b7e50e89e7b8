/* SPDX-License-Identifier: MIT */
/* libmicrohttpd wrapper: the front door, request assembly (capped bodies), per-request checks
 * and deadlines, allow-list, token checks, routing and responses. */
#include "common/http.h"
#include "common/http_priv.h"

#include "common/authlimit.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http_gate.h"
#include "common/http_head.h"
#include "common/net.h"
#include "common/str.h"
#include "common/text.h"
#include "common/tls.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORKERS 16

static size_t pool_size(size_t max_header_bytes);
static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls);
static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe);
static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code);
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *conn);
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s);

/* One single-threaded libmicrohttpd daemon per worker thread: the door gives each connection to
 * the first worker that is not running a handler right now, else to the least busy one. So a
 * few quick clients share one thread (switching threads per request would cost more than the
 * request, as it did with libmicrohttpd's own accepting) while a slow handler never holds up a
 * new client. (libmicrohttpd's thread pool spreads added connections by the socket number modulo
 * the pool size, and Windows numbers sockets in steps of 4: a pool of 4 would have served every
 * connection on one thread.) */
struct http_worker {
    struct MHD_Daemon *daemon;
    struct mon_http_server *srv;
    atomic_int connections;
    atomic_int busy; /* handlers running now (0 or 1: one thread) */
};

/* One set of workers. With TLS a new certificate (mon_http_set_tls) starts a new set for new
 * connections; the older sets keep serving the connections they have until those close. */
struct http_gen {
    struct http_worker workers[MAX_WORKERS];
    unsigned n_workers;
    char *cert_pem, *key_pem; /* the set's own copies (libmicrohttpd keeps pointers) */
    struct http_gen *older;
};

struct mon_http_server {
    pthread_mutex_t gen_lock; /* gen: swapped by mon_http_set_tls, read at each hand-over */
    struct http_gen *gen;     /* the newest set; older ones hang off it */
    struct mon_http_gate *gate;
    struct mon_http_options opt;
    uint16_t port;
    char too_many_params;       /* its address marks a request whose query was cut (uri_logged) */
    pthread_mutex_t defer_lock; /* deferred requests: answer vs. suspend, and the list */
    struct mon_http_deferred *deferred; /* not answered yet */
    bool stopping;
    bool tls;
};

struct mon_http_deferred {
    struct mon_http_deferred *prev, *next;
    struct mon_http_server *srv;
    struct MHD_Connection *conn;
    struct mon_http_response resp;
    bool answered, suspended;
    atomic_int refs; /* the request and the answering side */
};

/* Per-request state kept by libmicrohttpd between access-handler calls. */
struct http_pending {
    struct mon_buf body;
    bool has_body;
    struct mon_http_deferred *deferred;
};

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
    return send_response(conn, &resp);
}

static struct mon_http_conn *conn_state(struct MHD_Connection *conn);

/* The answer is queued: from now on the connection owes the next request head (and, while a
 * slow reader is still taking the answer, may be pushed out when the server is full). */
static void answering(struct mon_http_server *srv, struct mon_http_conn *state)
{
    mon_http_conn_set_deadline(state, mon_mono_ms() + (int64_t)srv->opt.timeout_s * 1000);
}

/* ---- deferred answers ---- */

static void deferred_unref(struct mon_http_deferred *d)
{
    if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
        mon_http_response_free(&d->resp);
        free(d);
    }
}

/* Call with defer_lock held. */
static void deferred_unlink(struct mon_http_server *srv, struct mon_http_deferred *d)
{
    if (srv->deferred == d)
        srv->deferred = d->next;
    if (d->prev)
        d->prev->next = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
}

/* Call with defer_lock held: stores the answer and wakes the connection if it sleeps. */
static void deferred_store(struct mon_http_deferred *d, struct mon_http_response *resp)
{
    d->resp = *resp;
    *resp = (struct mon_http_response){.fd = -1};
    d->answered = true;
    deferred_unlink(d->srv, d);
    if (d->suspended) {
        d->suspended = false;
        MHD_resume_connection(d->conn); /* libmicrohttpd calls the access handler again */
    }
}

struct mon_http_deferred *mon_http_defer(struct mon_http_request *req)
{
    struct mon_http_server *srv = req->server;
    struct mon_http_deferred *d;

    if (!srv || req->deferred)
        return NULL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->srv = srv;
    d->conn = req->conn;
    d->resp.fd = -1;
    atomic_init(&d->refs, 2);
    pthread_mutex_lock(&srv->defer_lock);
    if (srv->stopping) {
        pthread_mutex_unlock(&srv->defer_lock);
        free(d);
        return NULL;
    }
    d->next = srv->deferred;
    if (srv->deferred)
        srv->deferred->prev = d;
    srv->deferred = d;
    pthread_mutex_unlock(&srv->defer_lock);
    req->deferred = d;
    return d;
}

void mon_http_deferred_answer(struct mon_http_deferred *d, struct mon_http_response *resp)
{
    struct mon_http_server *srv = d->srv;
    pthread_mutex_lock(&srv->defer_lock);
    if (!d->answered)
        deferred_store(d, resp);
    pthread_mutex_unlock(&srv->defer_lock);
    mon_http_response_free(resp); /* empty unless it came too late */
    deferred_unref(d);
}

/* After the handler deferred: sleep until the answer comes, or send it if it came already. */
static enum MHD_Result deferred_wait(struct mon_http_server *srv, struct MHD_Connection *conn,
                                     struct mon_http_deferred *d)
{
    struct mon_http_response resp;
    pthread_mutex_lock(&srv->defer_lock);
    if (!d->answered) {
        d->suspended = true;
        MHD_suspend_connection(conn);
        pthread_mutex_unlock(&srv->defer_lock);
        return MHD_YES;
    }
    resp = d->resp;
    d->resp = (struct mon_http_response){.fd = -1};
    pthread_mutex_unlock(&srv->defer_lock);
    answering(srv, conn_state(conn));
    return send_response(conn, &resp);
}

/* The connection's deadlines and trust, set up in notify_connection. */
static struct mon_http_conn *conn_state(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static bool name_is(const char *name, size_t len, const char *want)
{
    if (strlen(want) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != want[i])
            return false;
    }
    return true;
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
    if (name_is(key, key_size, "content-length")) {
        h->lengths++;
        h->length = value;
    } else if (name_is(key, key_size, "transfer-encoding")) {
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

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
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
        struct mon_http_conn *state = conn_state(conn);
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
        return deferred_wait(srv, conn, pending->deferred);

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = url;
    req.conn = conn;
    req.state = conn_state(conn);
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
        return deferred_wait(srv, conn, req.deferred);
    }
    answering(srv, req.state);
    return send_response(conn, &resp);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct mon_http_server *srv = cls;
    struct http_pending *pending = *con_cls;
    (void)toe;
    /* The next request on this connection must have its head complete by then: absolute,
     * unlike libmicrohttpd's idle timeout, which every received byte restarts. */
    mon_http_conn_set_deadline(conn_state(conn),
                               mon_mono_ms() + (int64_t)srv->opt.timeout_s * 1000);
    if (pending && *con_cls != (void *)&srv->too_many_params) {
        deferred_unref(pending->deferred);
        mon_buf_done(&pending->body);
        free(pending);
    }
    *con_cls = NULL;
}

/* Tracks the connections libmicrohttpd takes over from the door. The door shuts a socket down
 * only under its lock, which the CLOSED notification also takes before libmicrohttpd closes
 * the socket: a descriptor number is never shut down after it was reused. */
static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct http_worker *w = cls;
    struct mon_http_server *srv = w->srv;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context =
            fd && addr ? mon_http_gate_conn_started(srv->gate, fd->connect_fd, addr->client_addr)
                       : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        mon_http_gate_conn_closed(srv->gate, *socket_context);
        *socket_context = NULL;
        atomic_fetch_sub(&w->connections, 1);
    }
}

/* Called with the request target before libmicrohttpd parses its query. libmicrohttpd (0.9.75)
 * then stores each parameter in the connection's fixed memory pool, and a few hundred of them
 * exhausted it: the connection was closed without any answer. It parses them from this very
 * buffer, so ending the query right after '?' leaves none to store, and the marker returned
 * (it becomes the request's context) gets the request a 400. The door rejects such a first
 * request itself; this covers later ones on a kept-alive connection. */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct mon_http_server *srv = cls;
    char *query = strchr(uri, '?');
    (void)conn;
    if (!query || mon_http_query_params(query + 1, strlen(query + 1)) <= MON_HTTP_MAX_QUERY_PARAMS)
        return NULL;
    query[1] = '\0';
    return &srv->too_many_params;
}

/* The door hands a connection whose first request head it accepted to libmicrohttpd, which
 * owns the socket from here on (and closes it when it cannot take it). */
static void handover(void *ctx, mon_socket fd, const struct sockaddr *client, socklen_t len)
{
    struct mon_http_server *srv = ctx;
    struct http_worker *best = NULL;
    struct http_gen *gen;
    pthread_mutex_lock(&srv->gen_lock); /* held so that the set is not stopped meanwhile */
    gen = srv->gen;
    for (unsigned i = 0; i < gen->n_workers && !best; i++)
        if (atomic_load_explicit(&gen->workers[i].busy, memory_order_relaxed) == 0)
            best = &gen->workers[i];
    if (!best) { /* all busy: the one with the fewest connections waits least, likely */
        best = &gen->workers[0];
        for (unsigned i = 1; i < gen->n_workers; i++)
            if (atomic_load(&gen->workers[i].connections) < atomic_load(&best->connections))
                best = &gen->workers[i];
    }
    /* Counted here, uncounted when libmicrohttpd reports it closed (or could not take it). */
    atomic_fetch_add(&best->connections, 1);
    if (MHD_add_connection(best->daemon, fd, client, len) != MHD_YES)
        atomic_fetch_sub(&best->connections, 1);
    pthread_mutex_unlock(&srv->gen_lock);
}

/* Stops a set's daemons (each closes its connections) and frees it. */
static void gen_free(struct http_gen *gen)
{
    if (!gen)
        return;
    for (unsigned i = 0; i < gen->n_workers; i++)
        if (gen->workers[i].daemon)
            MHD_stop_daemon(gen->workers[i].daemon);
    if (gen->key_pem)
        memset(gen->key_pem, 0, strlen(gen->key_pem));
    free(gen->key_pem);
    free(gen->cert_pem);
    free(gen);
}

/* Starts a set of workers (with the key and certificate when tls is set). */
static int gen_start(struct mon_http_server *srv, const struct mon_tls_pair *tls,
                     struct http_gen **ret)
{
    /* poll() where libmicrohttpd has it, never its epoll mode: in that (edge-triggered) mode
     * libmicrohttpd 0.9.75 misses the end of a connection whose client sent part of a request
     * and hung up, so the socket stays open in CLOSE-WAIT and holds a connection slot until
     * the idle timeout. poll() and select() are level-triggered. The door listens; connections
     * arrive through MHD_add_connection (which needs the inter-thread channel, as deferred
     * answers do: MHD_ALLOW_SUSPEND_RESUME includes it). */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
        (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES ? MHD_USE_POLL : MHD_USE_AUTO);
    unsigned max_conn = srv->opt.max_connections ? srv->opt.max_connections : 64;
    struct http_gen *gen = calloc(1, sizeof(*gen));

    if (!gen)
        return MON_ENOMEM;
    if (tls) {
        flags |= MHD_USE_TLS;
        gen->cert_pem = strdup(tls->cert_pem);
        gen->key_pem = strdup(tls->key_pem);
        if (!gen->cert_pem || !gen->key_pem) {
            gen_free(gen);
            return MON_ENOMEM;
        }
    }
    /* The door counts a connection the moment it takes it; libmicrohttpd's own limit only
     * needs room for those handed over and not yet reported back as started or closed. */
    gen->n_workers = srv->opt.threads > 1
                         ? (srv->opt.threads < MAX_WORKERS ? srv->opt.threads : MAX_WORKERS)
                         : 1;
    for (unsigned i = 0; i < gen->n_workers; i++) {
        struct http_worker *w = &gen->workers[i];
        w->srv = srv;
        /* The TLS options come last: without TLS the list ends before them. */
        w->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, access_handler, w, MHD_OPTION_CONNECTION_LIMIT, max_conn + 64,
            MHD_OPTION_CONNECTION_TIMEOUT, srv->opt.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            pool_size(srv->opt.max_header_bytes), MHD_OPTION_NOTIFY_COMPLETED, request_completed,
            srv, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, w, MHD_OPTION_URI_LOG_CALLBACK,
            uri_logged, srv, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
            tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, gen->key_pem,
            MHD_OPTION_HTTPS_MEM_CERT, gen->cert_pem, MHD_OPTION_HTTPS_PRIORITIES,
            MON_TLS_PRIORITIES, MHD_OPTION_END);
        if (!w->daemon) {
            gen_free(gen);
            return MON_ESYS;
        }
    }
    *ret = gen;
    return MON_OK;
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
static unsigned min3(unsigned a, unsigned b, unsigned c)
{
    unsigned m = a < b ? a : b;
    return m < c ? m : c;
}

static size_t pool_size(size_t max_header_bytes)
{
    return 2 * max_header_bytes + 8192;
}

int mon_http_start(const struct mon_http_options *opt, struct mon_http_server **ret, char *why,
                   size_t why_len)
{
    struct mon_http_server *srv;
    struct mon_listen_addr addr;
    struct mon_http_gate_options door;
    unsigned max_conn;
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
    srv->opt.tls = NULL; /* only for the start */
    pthread_mutex_init(&srv->defer_lock, NULL);
    pthread_mutex_init(&srv->gen_lock, NULL);
    if (!srv->opt.max_header_bytes)
        srv->opt.max_header_bytes = 16384;
    if (!srv->opt.timeout_s)
        srv->opt.timeout_s = 10;
    if (!srv->opt.head_timeout_s)
        srv->opt.head_timeout_s = 5;
    if (!srv->opt.body_timeout_s)
        srv->opt.body_timeout_s = 10;
    max_conn = opt->max_connections ? opt->max_connections : 64;
    door = (struct mon_http_gate_options){
        .addr = (const struct sockaddr *)&addr.ss,
        .addr_len =
            addr.family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
        .dual_stack = addr.family == AF_INET6,
        /* HTTPS: the door reads no request head (it is encrypted) but still applies
         * allow_from, the caps and the head deadline, which then covers the handshake
         * (http_gate.h). The head checks of request_checks() and uri_logged() apply to every
         * request there. */
        .tls = opt->tls != NULL,
        .max_connections = max_conn,
        .per_ip_connections = opt->per_ip_connections,
        .head_timeout_ms = srv->opt.head_timeout_s * 1000,
        .look_ms = 500 * min3(srv->opt.head_timeout_s, srv->opt.timeout_s, srv->opt.body_timeout_s),
        .limits = {.max_header_bytes = srv->opt.max_header_bytes,
                   .max_body_bytes = srv->opt.max_body_bytes},
        .allow = opt->allow,
        .allow_ctx = opt->ctx,
        .handover = handover,
        .ctx = srv,
    };
    if (mon_http_gate_new(&door, &srv->gate) < 0) {
        snprintf(why, why_len, "cannot listen on %s (address in use or not available)",
                 opt->listen);
        pthread_mutex_destroy(&srv->defer_lock);
        pthread_mutex_destroy(&srv->gen_lock);
        free(srv);
        return MON_EIO;
    }
    r = gen_start(srv, opt->tls, &srv->gen);
    if (r == MON_OK)
        r = mon_http_gate_run(srv->gate);
    if (r < 0) {
        snprintf(why, why_len, "cannot start the HTTP%s server on %s", opt->tls ? "S" : "",
                 opt->listen);
        gen_free(srv->gen);
        mon_http_gate_free(srv->gate);
        pthread_mutex_destroy(&srv->defer_lock);
        pthread_mutex_destroy(&srv->gen_lock);
        free(srv);
        return MON_ESYS;
    }
    srv->tls = opt->tls != NULL;
    srv->port = mon_http_gate_port(srv->gate);
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
    mon_http_gate_stop(srv->gate); /* no more hand-overs */
    /* libmicrohttpd (0.9.75) aborts when stopped with a connection set aside: answer every
     * deferred request first (whoever answers later finds it answered). */
    pthread_mutex_lock(&srv->defer_lock);
    srv->stopping = true;
    while (srv->deferred) {
        struct mon_http_deferred *d = srv->deferred;
        struct mon_http_response resp = {.fd = -1};
        srv->deferred = d->next; /* taken off the list here; deferred_store finds it off */
        if (d->next)
            d->next->prev = NULL;
        d->next = NULL;
        mon_http_error(&resp, 503, "the server is stopping");
        deferred_store(d, &resp);
        deferred_unref(d); /* the answering side's reference: it must not answer any more */
    }
    pthread_mutex_unlock(&srv->defer_lock);
    while (srv->gen) { /* closes every connection (each reported) */
        struct http_gen *older = srv->gen->older;
        gen_free(srv->gen);
        srv->gen = older;
    }
    mon_http_gate_free(srv->gate);
    pthread_mutex_destroy(&srv->defer_lock);
    pthread_mutex_destroy(&srv->gen_lock);
    free(srv);
}

int mon_http_set_tls(struct mon_http_server *srv, const struct mon_tls_pair *tls)
{
    struct http_gen *gen, **link;
    int r;

    if (!srv->tls)
        return MON_EINVAL;
    r = gen_start(srv, tls, &gen);
    if (r < 0)
        return r;
    pthread_mutex_lock(&srv->gen_lock);
    gen->older = srv->gen;
    srv->gen = gen;
    /* Older sets whose connections have all closed go now; the others at the next change. */
    link = &gen->older;
    while (*link) {
        struct http_gen *old = *link;
        int live = 0;
        for (unsigned i = 0; i < old->n_workers; i++)
            live += atomic_load(&old->workers[i].connections);
        if (live == 0) {
            *link = old->older;
            old->older = NULL;
            gen_free(old);
        } else {
            link = &old->older;
        }
    }
    pthread_mutex_unlock(&srv->gen_lock);
    return MON_OK;
}
