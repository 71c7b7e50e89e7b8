/* SPDX-License-Identifier: MIT */
/* HTTP client side of the agent protocol on libcurl: agent URLs, the easy-handle setup and
 * error texts shared with the poller, and a blocking one-shot GET (the service catalog). */
#ifndef MON_AGGREGATOR_AGENTCLIENT_H
#define MON_AGGREGATOR_AGENTCLIENT_H

/* Ownership and threads: URLs and texts go into caller storage; header lists from
 * agg_agent_headers belong to the caller (curl_slist_free_all); easy handles stay the caller's
 * and are only configured here. No state of its own: the poller thread and the catalog thread
 * call it, each with its own handles. */

#include "common/buf.h"
#include "common/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The last_error of a poll refused because the agent's key is not the pinned one. */
#define AGG_AGENT_PIN_MISMATCH "certificate changed (pin mismatch)"
/* Schannel's handshake ended by the agent closing the connection, as a plain-HTTP agent does
 * after its 400 answer (under wine; Windows itself may name the plain answer). */
#define AGG_AGENT_TLS_CLOSED                                                                       \
    "TLS handshake failed: the agent closed the connection (does it speak plain HTTP? then "       \
    "add tls: to its config.yaml or set tls off for this server)"

/* A reply body being received, capped at buf.max bytes. */
struct agg_agent_body {
    struct mon_buf buf;
    bool too_large;  /* the agent sent more than the cap: the transfer was aborted */
    char error[256]; /* libcurl's detail of a failure (CURL_ERROR_SIZE) */
};

/* How to reach an agent over TLS. ca_file set: the chain and the host name are verified with
 * it. Else pin set: the agent's public key must be the pinned one (dates are checked by
 * agg_agent_tls_check). Else trust on first use: any key, whose pin agg_agent_tls_check
 * reports. */
struct agg_agent_tls {
    bool on;
    const char *pin;     /* "sha256//..." or NULL/"" */
    const char *ca_file; /* NULL/"" */
};

/* Builds "http://host:port/path[?services=a.service,b.service]" (names percent-encoded, IPv6
 * literals in brackets) into a new string (free()). services may be NULL when n_services is 0.
 * MON_EINVAL for a host or port that cannot be part of a URL, MON_ENOMEM. */
int agg_agent_url(const char *host, int port, const char *path, char *const *services,
                  size_t n_services, char **ret);

/* The same with https:// when https is set. */
int agg_agent_url_scheme(bool https, const char *host, int port, const char *path,
                         char *const *services, size_t n_services, char **ret);

/* Builds the request headers for token ("Authorization: Bearer <token>" when non-empty, and
 * "Accept: application/json") into *ret_headers (a struct curl_slist *, free with
 * agg_agent_headers_free). MON_EINVAL for a token with control characters, MON_ENOMEM. */
int agg_agent_headers(const char *token, void **ret_headers);

/* Sets the options of a libcurl easy handle (CURL *, passed as void * to keep curl.h out of
 * this header) that stay the same from request to request: GET, the total/connect timeout, no
 * signals, TCP keep-alive, no proxy, no redirects, and the reply appended to body (initialised
 * with its cap of max_bytes). */
void agg_agent_easy_setup(void *easy, int64_t timeout_ms, int64_t max_bytes,
                          struct agg_agent_body *body);

/* Points a set-up easy handle at url with headers (both must outlive the transfer). */
void agg_agent_easy_target(void *easy, const char *url, void *headers);

/* agg_agent_headers + agg_agent_easy_setup + agg_agent_easy_target in one: *ret_headers
 * receives the header list to free after the transfer. MON_EINVAL, MON_ENOMEM. */
int agg_agent_easy_prepare(void *easy, const char *url, const char *token, int64_t timeout_ms,
                           int64_t max_bytes, struct agg_agent_body *body, void **ret_headers);

/* Sets the TLS options of an easy handle prepared by agg_agent_easy_prepare (all of them, so
 * a handle reused after a change of settings keeps nothing): TLS 1.2 at least, the pin or the
 * CA, and the certificate details agg_agent_tls_check reads. The strings must stay valid
 * during the transfer. */
void agg_agent_easy_tls(void *easy, const struct agg_agent_tls *tls);
/* (A first-use connection is not kept: FORBID_REUSE is set for it, never cleared here.) */

/* After a successful transfer over TLS that opened a new connection: checks the dates of the
 * agent's certificate (a pinned key has no other check of them) and writes its pin into
 * ret_pin. MON_OK; MON_EPERM with the reason in why ("certificate expired on ...", "not valid
 * before ..."); MON_EAGAIN when the transfer reused a connection (nothing to check). */
int agg_agent_tls_check(void *easy, int64_t now_utc_s, char ret_pin[MON_TLS_PIN_LEN], char *why,
                        size_t why_len);

/* agg_agent_result with the TLS failures told apart (AGG_AGENT_PIN_MISMATCH, "certificate not
 * trusted: ...", "TLS handshake failed: ...") from libcurl's detail in body->error, and a plain
 * request to an HTTPS-only agent named as such. */
int agg_agent_outcome(int curl_code, long http_status, const struct agg_agent_body *body, char *why,
                      size_t why_len);

/* Frees a header list from agg_agent_easy_prepare. Accepts NULL. */
void agg_agent_headers_free(void *headers);

/* Maps a finished transfer to an error text (the poller's last_error): MON_OK for HTTP 200;
 * "timeout" (MON_ETIMEDOUT), "connection refused", "host not found" (MON_ENOENT), "token
 * rejected (HTTP 401)" and "forbidden (HTTP 403)" (MON_EPERM), "HTTP <code>", "reply too
 * large" (MON_ETOOBIG) or libcurl's own text (MON_EIO). curl_code is a CURLcode. */
int agg_agent_result(int curl_code, long http_status, bool too_large, char *why, size_t why_len);

/* Blocking GET of http://host:port<path> (path may carry a query) with the token. On a
 * completed exchange returns MON_OK with *ret_status and *ret_body (malloc'd, NUL-terminated);
 * for a status other than 200 why also receives the agg_agent_result text.
 * Transport failures return the agg_agent_result code and text. Thread-safe. */
int agg_agent_get(const char *host, int port, const char *token, const char *path,
                  int64_t timeout_ms, int64_t max_bytes, long *ret_status, char **ret_body,
                  char *why, size_t why_len);

#endif
