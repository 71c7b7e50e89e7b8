/* SPDX-License-Identifier: MIT */
/* What the parts of the HTTP wrapper (http.c: workers and lifetime, http_access.c: the requests
 * libmicrohttpd reads, http_defer.c: answers given later, http_request.c, http_response.c) share
 * and no one else uses. Ownership and threads: a struct mon_http_server is created and freed by
 * http.c (mon_http_start/mon_http_stop); the callbacks below run on the workers' threads, each
 * worker one libmicrohttpd daemon with one thread; defer_lock guards the deferred list and
 * gen_lock the current set of workers. */
#ifndef MON_COMMON_HTTP_PRIV_H
#define MON_COMMON_HTTP_PRIV_H

#include "common/buf.h"
#include "common/http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#define MON_HTTP_MAX_WORKERS 16

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
    struct http_worker workers[MON_HTTP_MAX_WORKERS];
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
    char
        too_many_params; /* its address marks a request whose query was cut (mon_http_uri_logged) */
    pthread_mutex_t defer_lock;         /* deferred requests: answer vs. suspend, and the list */
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

/* Frees the body or file of a response and leaves it empty (headers stay). */
void mon_http_response_reset(struct mon_http_response *resp);

/* Frees everything a response holds, headers included. */
void mon_http_response_free(struct mon_http_response *resp);

/* ---- http_access.c: libmicrohttpd's callbacks for one request ---- */

/* Queues resp on conn (an untouched resp becomes 500) and empties it. */
enum MHD_Result mon_http_send_response(struct MHD_Connection *conn, struct mon_http_response *resp);

/* The connection's deadlines and trust, set up when libmicrohttpd took it (may be NULL). */
struct mon_http_conn *mon_http_conn_of(struct MHD_Connection *conn);

/* The answer is queued: the connection owes the next request head within timeout_s. */
void mon_http_answering(struct mon_http_server *srv, struct mon_http_conn *state);

enum MHD_Result mon_http_access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                        const char *method, const char *version,
                                        const char *upload_data, size_t *upload_data_size,
                                        void **con_cls);
void mon_http_request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                                enum MHD_RequestTerminationCode toe);
void *mon_http_uri_logged(void *cls, const char *uri, struct MHD_Connection *conn);
size_t mon_http_unescape(void *cls, struct MHD_Connection *conn, char *s);

/* ---- http_defer.c: answers that come later, from another thread ---- */

/* Drops one reference (the request's or the answering side's); the last one frees. */
void mon_http_deferred_unref(struct mon_http_deferred *d);

/* After the handler deferred: sleeps until the answer comes, or sends it if it came already. */
enum MHD_Result mon_http_deferred_wait(struct mon_http_server *srv, struct MHD_Connection *conn,
                                       struct mon_http_deferred *d);

/* Stopping: answers every request still deferred with 503 and refuses new deferrals. */
void mon_http_deferred_stop_all(struct mon_http_server *srv);

#endif
