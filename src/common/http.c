/* SPDX-License-Identifier: MIT */
/* libmicrohttpd wrapper, the server's lifetime: the front door (http_gate.c), the workers (one
 * single-threaded libmicrohttpd daemon each) and the hand-over of each accepted connection to
 * the least busy one, sets of workers per TLS certificate, start, stop and certificate reload.
 * The requests themselves are read in http_access.c; deferred answers live in http_defer.c. */
#include "common/http.h"
#include "common/http_priv.h"

#include "common/err.h"
#include "common/http_gate.h"
#include "common/net.h"
#include "common/tls.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t pool_size(size_t max_header_bytes);

/* Tracks the connections libmicrohttpd takes over from the door. The door shuts a socket down
 * only under its lock, which the CLOSED notification also takes before libmicrohttpd closes
 * the socket: a descriptor number is never shut down after it was reused. */
static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct http_worker *w = cls;
    struct mon_http_server *srv = w->srv;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        /* libmicrohttpd (1.0) answers every query in one union per connection: each value is
         * taken before the next query overwrites it. */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        mon_socket fd;
        struct mon_http_conn *state = NULL;
        *socket_context = NULL;
        if (!ci)
            return;
        fd = ci->connect_fd;
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        /* Out of memory: the connection simply has no deadline (NULL is accepted throughout). */
        if (ci && mon_http_gate_conn_started(srv->gate, fd, ci->client_addr, &state) < 0)
            state = NULL;
        *socket_context = state;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        mon_http_gate_conn_closed(srv->gate, *socket_context);
        *socket_context = NULL;
        atomic_fetch_sub(&w->connections, 1);
    }
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
    gen->n_workers =
        srv->opt.threads > 1
            ? (srv->opt.threads < MON_HTTP_MAX_WORKERS ? srv->opt.threads : MON_HTTP_MAX_WORKERS)
            : 1;
    for (unsigned i = 0; i < gen->n_workers; i++) {
        struct http_worker *w = &gen->workers[i];
        w->srv = srv;
        /* The TLS options come last: without TLS the list ends before them. */
        w->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, mon_http_access_handler, w, MHD_OPTION_CONNECTION_LIMIT,
            max_conn + 64, MHD_OPTION_CONNECTION_TIMEOUT, srv->opt.timeout_s,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool_size(srv->opt.max_header_bytes),
            MHD_OPTION_NOTIFY_COMPLETED, mon_http_request_completed, srv,
            MHD_OPTION_NOTIFY_CONNECTION, notify_connection, w, MHD_OPTION_URI_LOG_CALLBACK,
            mon_http_uri_logged, srv, MHD_OPTION_UNESCAPE_CALLBACK, mon_http_unescape, NULL,
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

/* libmicrohttpd keeps the request headers and the reply's header in one pool per connection.
 * When the request fills the pool so far that the reply header no longer fits, it closes the
 * connection without any answer; with a pool of exactly max_header_bytes that happened to
 * requests a little under the limit. So the pool has room for twice the limit plus a reply,
 * the limit itself is checked on the header size (431 from mon_http_access_handler), and requests
 * too large for the pool get libmicrohttpd's own 431. Only a request of about the pool size (over
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
         * (http_gate.h). The head checks of http_access.c (request_checks, mon_http_uri_logged)
         * apply to every request there. */
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
    mon_http_gate_stop(srv->gate);   /* no more hand-overs */
    mon_http_deferred_stop_all(srv); /* before the daemons stop */
    while (srv->gen) {               /* closes every connection (each reported) */
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
