/* SPDX-License-Identifier: MIT */
/* The head of an HTTP/1.x request (request line and header fields) as the front door checks
 * it before libmicrohttpd reads it: complete or not, and if complete, acceptable or the one
 * clean 4xx it gets. Pure: bytes in, verdict out (unit-tested and fuzzed). */
#ifndef MON_COMMON_HTTP_HEAD_H
#define MON_COMMON_HTTP_HEAD_H

/* Threads: pure functions on the caller's bytes (no allocation, no state): safe from any thread;
 * the front door's threads call them. */

#include <stdbool.h>
#include <stddef.h>

#define MON_HTTP_MAX_FIELDS       100 /* header lines of one request */
#define MON_HTTP_MAX_QUERY_PARAMS 64  /* name=value pairs of one query string */

enum mon_http_head_verdict {
    MON_HTTP_HEAD_INCOMPLETE, /* no empty line yet, and still within the size limit */
    MON_HTTP_HEAD_OK,         /* complete and acceptable: head_len bytes */
    MON_HTTP_HEAD_REJECT,     /* answer status with error, then close */
};

struct mon_http_head_limits {
    size_t max_header_bytes; /* request line + fields + the empty line; larger: 431 */
    size_t max_body_bytes;   /* 0: any body is refused with 413 */
};

struct mon_http_head_result {
    size_t head_len; /* OK: length of the head including its empty line */
    int status;      /* REJECT: 400, 411, 413, 431 or 505 */
    char error[160]; /* REJECT: what was wrong, for {"error": ...} */
    bool has_body;   /* OK: a Content-Length above 0 */
};

/* Examines the first len bytes a client sent. Lines end with LF or CRLF; empty lines before
 * the request line are skipped (RFC 9112 §2.2). Rejected: a head over the size limit (431), a
 * NUL byte, a bare CR or another control character, a malformed request line, a version other
 * than HTTP/1.0 or 1.1 (505), more than MON_HTTP_MAX_QUERY_PARAMS query parameters, a folded
 * or malformed field line, more than MON_HTTP_MAX_FIELDS fields (431), a Content-Length that
 * is not digits or appears twice (400), a body when none is accepted or one over the cap (413),
 * and any Transfer-Encoding (411: bodies need a Content-Length). */
enum mon_http_head_verdict mon_http_head_check(const char *buf, size_t len,
                                               const struct mon_http_head_limits *lim,
                                               struct mon_http_head_result *res);

/* Number of parameters a query string of len bytes (the text after '?') can hold: one per
 * '&'-separated piece, an upper bound of what libmicrohttpd stores. */
size_t mon_http_query_params(const char *query, size_t len);

/* True when the len bytes of a header field name equal want (lower case) in any letter case,
 * without the locale-dependent ctype functions. */
bool mon_http_name_is(const char *name, size_t len, const char *want);

#endif
