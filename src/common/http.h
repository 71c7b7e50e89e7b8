/* SPDX-License-Identifier: MIT */
/* HTTP server wrapper on libmicrohttpd shared by both daemons: a front door (http_gate.h) that
 * listens, checks each new connection's first request head and hands it to libmicrohttpd;
 * connection limits and absolute deadlines, capped request bodies, client allow-lists, token
 * checks with failed-attempt limits, a route table with {param} segments, and JSON/error
 * response helpers. Handlers run on libmicrohttpd's threads. */
#ifndef MON_COMMON_HTTP_H
#define MON_COMMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/os/os.h"

struct MHD_Connection;
struct cJSON;
struct mon_http_server;
struct mon_http_conn;
struct mon_authlimit;
struct mon_http_deferred;
struct mon_tls_pair;

#define MON_HTTP_MAX_PARAMS  4
#define MON_HTTP_PARAM_LEN   128
#define MON_HTTP_MAX_HEADERS 6

struct mon_http_request {
    const char *method;
    const char *path; /* percent-decoded by libmicrohttpd, without the query */
    const char *body; /* NUL-terminated, NULL when there is none */
    size_t body_len;
    const struct sockaddr *client;
    struct MHD_Connection *conn; /* for mon_http_query / mon_http_header */
    struct mon_http_conn *state; /* the connection's deadlines and trust (may be NULL) */
    struct mon_http_server *server;
    struct mon_http_deferred *deferred; /* set by mon_http_defer */
    size_t n_params;                    /* values of {name} segments of the matched route */
    char params[MON_HTTP_MAX_PARAMS][MON_HTTP_PARAM_LEN];
};

struct mon_http_header {
    const char *name; /* static strings */
    char *value;      /* owned */
};

struct mon_http_response {
    int status;
    char *body; /* owned; freed by the wrapper */
    size_t body_len;
    const char *content_type; /* static string */
    int fd;                   /* >= 0: send this file (owned) instead of body */
    uint64_t fd_size;
    size_t n_headers;
    struct mon_http_header headers[MON_HTTP_MAX_HEADERS];
};

/* A request handler fills resp; an untouched resp becomes 500. */
typedef void (*mon_http_handler_fn)(void *ctx, struct mon_http_request *req,
                                    struct mon_http_response *resp);

/* Optional client filter, consulted when a connection is accepted (false: 403 at once, before
 * any of the request is read, and closed) and again before each handler (false: 403, for a
 * kept-alive connection after a reload narrowed the list). */
typedef bool (*mon_http_allow_fn)(void *ctx, const struct sockaddr *client);

struct mon_http_options {
    const char *listen;             /* "ip:port", "[ip6]:port" */
    unsigned max_connections;       /* total concurrent connections, waiting or served */
    unsigned per_ip_connections;    /* 0 = no per-client cap */
    unsigned timeout_s;             /* a kept-alive connection's next request head must be complete
                                     * within this (absolute, not reset by single bytes) */
    unsigned head_timeout_s;        /* a new connection's first request head (0 = 5 s) */
    unsigned body_timeout_s;        /* a request body, once the head is in (0 = 10 s) */
    size_t max_header_bytes;        /* request line + headers (0 = 16 KiB); larger gets 431 */
    size_t max_body_bytes;          /* 0 = bodies refused with 413 */
    unsigned threads;               /* 1 = one polling thread, else a pool */
    const struct mon_tls_pair *tls; /* non-NULL: HTTPS only (copied at the start) */
    mon_http_handler_fn handler;
    mon_http_allow_fn allow;
    void *ctx;
};

/* Starts listening. On failure returns a MON_E* code and a reason in why. */
int mon_http_start(const struct mon_http_options *opt, struct mon_http_server **ret, char *why,
                   size_t why_len);

/* Serves new connections with another key and certificate (a reload); connections already
 * open keep theirs. MON_EINVAL when the server was not started with TLS; MON_ESYS when
 * libmicrohttpd refuses the pair (the old one stays). */
int mon_http_set_tls(struct mon_http_server *srv, const struct mon_tls_pair *tls);

/* The bound port (useful after listening on port 0). */
uint16_t mon_http_port(const struct mon_http_server *srv);

/* Stops accepting, closes connections, joins the threads and frees. Accepts NULL. */
void mon_http_stop(struct mon_http_server *srv);

/* Query-string argument (decoded), or NULL. Valid during the handler call. */
const char *mon_http_query(const struct mon_http_request *req, const char *key);

/* Request header (case-insensitive), or NULL (also when its value holds a NUL byte). Valid
 * during the handler call. */
const char *mon_http_header(const struct mon_http_request *req, const char *name);

/* Copies the whole value of a header, without surrounding spaces and tabs, into buf.
 * MON_ENOENT: absent; MON_EINVAL: the value holds a NUL byte; MON_ETOOBIG: it does not fit. */
int mon_http_header_copy(const struct mon_http_request *req, const char *name, char *buf,
                         size_t size);

/* The token of "Authorization: Bearer <token>" as sent (trailing spaces kept), or NULL. For
 * checking a secret use mon_http_authenticate, which compares the whole trimmed value. */
const char *mon_http_bearer(const struct mon_http_request *req);

/* Copies the token of "Authorization: Bearer <token>" (scheme in any letter case) into buf, as
 * mon_http_header_copy does; MON_ENOENT also when the scheme is not Bearer. */
int mon_http_bearer_copy(const struct mon_http_request *req, char *buf, size_t size);

enum mon_http_auth {
    MON_HTTP_AUTH_OK,      /* the right secret */
    MON_HTTP_AUTH_MISSING, /* none presented (not counted as a failure) */
    MON_HTTP_AUTH_WRONG,   /* a wrong one (counted, logged) */
    MON_HTTP_AUTH_WAIT,    /* not compared: the address failed too often; *ret_wait_s */
};

/* Compares the secret a request presents in header (the whole value) or, when header is NULL,
 * as a bearer token, with expected in constant time (mon_secret_equal). With a limiter, an
 * address that failed too often gets MON_HTTP_AUTH_WAIT without any compare, except on a
 * connection that already presented the right secret (so a legitimate client keeps its
 * connection working while another one at the same address guesses). A right secret marks
 * the connection as trusted. */
enum mon_http_auth mon_http_authenticate(struct mon_http_request *req, struct mon_authlimit *lim,
                                         const char *header, const char *expected, int *ret_wait_s);

/* Adds a response header; the value is copied. Silently ignored past MON_HTTP_MAX_HEADERS. */
void mon_http_set_header(struct mon_http_response *resp, const char *name, const char *value);

/* Sets a JSON body from a cJSON tree (takes ownership of json; prints it compactly). */
void mon_http_json(struct mon_http_response *resp, int status, struct cJSON *json);

/* Sets a body that the response takes ownership of (malloc'd). */
void mon_http_body(struct mon_http_response *resp, int status, const char *content_type, char *body,
                   size_t len);

/* Sets {"error": "<formatted message>"} with the given status. The message is made valid UTF-8
 * without control or invisible characters (each becomes U+FFFD), so echoing a client's bytes
 * back (a path, a parameter) can never break the JSON or spoof the text around it. */
void mon_http_error(struct mon_http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For a handler whose answer comes from elsewhere (another thread) later: the connection is
 * set aside (no worker thread waits for it) until mon_http_deferred_answer, which releases
 * *ret_deferred (shared by the request and the answering side; never free it). MON_EBUSY when
 * the server is stopping, MON_EINVAL when req was deferred already or has no server,
 * MON_ENOMEM: then answer at once. The handler must not fill resp after deferring. */
int mon_http_defer(struct mon_http_request *req, struct mon_http_deferred **ret_deferred);

/* Answers a deferred request, from any thread, exactly once per mon_http_defer: takes over
 * what resp holds (fill it with mon_http_json/mon_http_error/mon_http_set_header first).
 * Whoever answers deferred requests must answer them all before mon_http_stop: it answers
 * the rest with 503 and frees their handles, which must not be used after that. */
void mon_http_deferred_answer(struct mon_http_deferred *d, struct mon_http_response *resp);

struct mon_http_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/servers/{id}/timeseries": {x} matches one segment */
    mon_http_handler_fn fn;
};

/* Finds the route for req, fills req->params and calls it. No path match: 404; a path that
 * matches with another method: 405 with an Allow header. Returns true when a route ran. */
bool mon_http_dispatch(const struct mon_http_route *routes, size_t n_routes, void *ctx,
                       struct mon_http_request *req, struct mon_http_response *resp);

#endif
