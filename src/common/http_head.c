/* SPDX-License-Identifier: MIT */
/* Request-head checks of the front door: line splitting, request line, fields, body framing. */
#include "common/http_head.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* RFC 9110 tchar, without the locale-dependent ctype functions. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum mon_http_head_verdict reject(struct mon_http_head_result *res, int status,
                                         const char *msg)
{
    res->status = status;
    snprintf(res->error, sizeof(res->error), "%s", msg);
    return MON_HTTP_HEAD_REJECT;
}

bool mon_http_name_is(const char *name, size_t len, const char *want)
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

size_t mon_http_query_params(const char *query, size_t len)
{
    size_t n = len ? 1 : 0;
    for (size_t i = 0; i < len; i++)
        n += query[i] == '&';
    return n;
}

/* A byte no line of a head may hold (HTAB is allowed in field values only). */
static const char *bad_byte(const char *line, size_t len, bool tab_ok)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == 0)
            return "the request contains a NUL byte";
        if ((c < 0x20 && !(tab_ok && c == '\t')) || c == 0x7f)
            return "the request contains a control character";
    }
    return NULL;
}

static enum mon_http_head_verdict request_line(const char *line, size_t len,
                                               struct mon_http_head_result *res)
{
    const char *sp1 = memchr(line, ' ', len), *sp2, *version, *query;
    size_t target_len, vlen;
    char msg[96];

    if (!sp1 || sp1 == line || sp1 - line > 32)
        return reject(res, 400, "malformed request line");
    for (const char *p = line; p < sp1; p++)
        if (!is_tchar((unsigned char)*p))
            return reject(res, 400, "malformed request line");
    sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
    if (!sp2 || sp2 == sp1 + 1)
        return reject(res, 400, "malformed request line");
    version = sp2 + 1;
    vlen = len - (size_t)(version - line);
    if (vlen != 8 || memcmp(version, "HTTP/", 5) != 0 || version[5] < '0' || version[5] > '9' ||
        version[6] != '.' || version[7] < '0' || version[7] > '9')
        return reject(res, 400, "malformed request line");
    if (version[5] != '1' || version[7] > '1')
        return reject(res, 505, "HTTP version not supported (use HTTP/1.1)");
    target_len = (size_t)(sp2 - sp1 - 1);
    query = memchr(sp1 + 1, '?', target_len);
    if (query &&
        mon_http_query_params(query + 1, (size_t)(sp2 - query - 1)) > MON_HTTP_MAX_QUERY_PARAMS) {
        snprintf(msg, sizeof(msg), "too many query parameters (limit %d)",
                 MON_HTTP_MAX_QUERY_PARAMS);
        return reject(res, 400, msg);
    }
    return MON_HTTP_HEAD_OK;
}

struct framing {
    bool has_length, has_te;
    unsigned long long length; /* saturates at UINT64_MAX */
    unsigned fields;
};

static enum mon_http_head_verdict field_line(const char *line, size_t len, struct framing *f,
                                             struct mon_http_head_result *res)
{
    const char *colon = memchr(line, ':', len), *v, *end = line + len;
    char msg[64];

    if (line[0] == ' ' || line[0] == '\t')
        return reject(res, 400, "folded header lines are not accepted");
    if (!colon || colon == line)
        return reject(res, 400, "malformed header line");
    for (const char *p = line; p < colon; p++)
        if (!is_tchar((unsigned char)*p))
            return reject(res, 400, "malformed header line");
    if (++f->fields > MON_HTTP_MAX_FIELDS) {
        snprintf(msg, sizeof(msg), "too many header fields (limit %d)", MON_HTTP_MAX_FIELDS);
        return reject(res, 431, msg);
    }
    v = colon + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (mon_http_name_is(line, (size_t)(colon - line), "transfer-encoding")) {
        f->has_te = true;
    } else if (mon_http_name_is(line, (size_t)(colon - line), "content-length")) {
        if (f->has_length)
            return reject(res, 400, "more than one Content-Length header");
        if (v == end)
            return reject(res, 400, "malformed Content-Length");
        f->has_length = true;
        for (const char *p = v; p < end; p++) {
            if (*p < '0' || *p > '9')
                return reject(res, 400, "malformed Content-Length");
            if (f->length > (UINT64_MAX - 9) / 10)
                f->length = UINT64_MAX;
            else
                f->length = f->length * 10 + (unsigned)(*p - '0');
        }
    }
    return MON_HTTP_HEAD_OK;
}

static enum mon_http_head_verdict body_rules(const struct framing *f,
                                             const struct mon_http_head_limits *lim,
                                             struct mon_http_head_result *res)
{
    char msg[80];
    bool body = f->has_te || f->length > 0;
    if (body && lim->max_body_bytes == 0)
        return reject(res, 413, "request body not accepted");
    /* A chunked body announces no size, so its cap could only be found while reading it. */
    if (f->has_te)
        return reject(res, 411,
                      "a request body needs a Content-Length (chunked bodies are not accepted)");
    if (f->length > lim->max_body_bytes) {
        snprintf(msg, sizeof(msg), "request body too large (limit %zu bytes)", lim->max_body_bytes);
        return reject(res, 413, msg);
    }
    res->has_body = body;
    return MON_HTTP_HEAD_OK;
}

enum mon_http_head_verdict mon_http_head_check(const char *buf, size_t len,
                                               const struct mon_http_head_limits *lim,
                                               struct mon_http_head_result *res)
{
    struct framing f = {0};
    size_t pos = 0;
    bool first = true;
    char msg[80];

    memset(res, 0, sizeof(*res));
    snprintf(msg, sizeof(msg), "request headers too large (limit %zu bytes)",
             lim->max_header_bytes);
    for (;;) {
        const char *nl = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
        size_t line_len, end;
        enum mon_http_head_verdict v;
        const char *why;

        if (!nl)
            return len > lim->max_header_bytes ? reject(res, 431, msg) : MON_HTTP_HEAD_INCOMPLETE;
        end = (size_t)(nl - buf) + 1;
        if (end > lim->max_header_bytes)
            return reject(res, 431, msg);
        line_len = end - pos - 1;
        if (line_len > 0 && buf[pos + line_len - 1] == '\r')
            line_len--;
        if ((why = bad_byte(buf + pos, line_len, !first)))
            return reject(res, 400, why);
        if (line_len == 0) {
            if (!first) {
                res->head_len = end;
                v = body_rules(&f, lim, res);
                return v;
            }
            pos = end; /* an empty line before the request line */
            continue;
        }
        v = first ? request_line(buf + pos, line_len, res)
                  : field_line(buf + pos, line_len, &f, res);
        if (v != MON_HTTP_HEAD_OK)
            return v;
        first = false;
        pos = end;
    }
}
