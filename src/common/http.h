/* SPDX-License-Identifier: MIT */
/* HTTP server wrapper on libmicrohttpd shared by both daemons: listening, connection limits and
 * timeouts, capped request bodies, client allow-lists, a route table with {param} segments, and
 * JSON/error response helpers. Handlers run on libmicrohttpd's threads. */
#ifndef MON_COMMON_HTTP_H
#define MON_COMMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/os/os.h"

struct MHD_Connection;
struct cJSON;
struct mon_http_server;

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
    size_t n_params;             /* values of {name} segments of the matched route */
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

/* Optional client filter, consulted before the handler: false answers 403. */
typedef bool (*mon_http_allow_fn)(void *ctx, const struct sockaddr *client);

struct mon_http_options {
    const char *listen;          /* "ip:port", "[ip6]:port" */
    unsigned max_connections;    /* total concurrent connections */
    unsigned per_ip_connections; /* 0 = no per-client cap */
    unsigned timeout_s;          /* idle timeout per connection */
    size_t max_header_bytes;     /* request line + headers (0 = 16 KiB); larger gets 431 */
    size_t max_body_bytes;       /* 0 = bodies refused with 413 */
    unsigned threads;            /* 1 = one polling thread, else a pool */
    mon_http_handler_fn handler;
    mon_http_allow_fn allow;
    void *ctx;
};

/* Starts listening. On failure returns a MON_E* code and a reason in why. */
int mon_http_start(const struct mon_http_options *opt, struct mon_http_server **ret, char *why,
                   size_t why_len);

/* The bound port (useful after listening on port 0). */
uint16_t mon_http_port(const struct mon_http_server *srv);

/* Stops accepting, closes connections, joins the threads and frees. Accepts NULL. */
void mon_http_stop(struct mon_http_server *srv);

/* Query-string argument (decoded), or NULL. Valid during the handler call. */
const char *mon_http_query(const struct mon_http_request *req, const char *key);

/* Request header (case-insensitive), or NULL. Valid during the handler call. */
const char *mon_http_header(const struct mon_http_request *req, const char *name);

/* Adds a response header; the value is copied. Silently ignored past MON_HTTP_MAX_HEADERS. */
void mon_http_set_header(struct mon_http_response *resp, const char *name, const char *value);

/* Sets a JSON body from a cJSON tree (takes ownership of json; prints it compactly). */
void mon_http_json(struct mon_http_response *resp, int status, struct cJSON *json);

/* Sets a body that the response takes ownership of (malloc'd). */
void mon_http_body(struct mon_http_response *resp, int status, const char *content_type, char *body,
                   size_t len);

/* Sets {"error": "<formatted message>"} with the given status. */
void mon_http_error(struct mon_http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Extracts the token from "Authorization: Bearer <token>", or NULL. */
const char *mon_http_bearer(const struct mon_http_request *req);

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
