/* SPDX-License-Identifier: MIT */
/* Unit tests for the front door's request-head check (issue 11 items 2, 10 and 12): complete or
 * not, the one 4xx for each malformed head, and what passes. */
#include "common/http_head.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const struct mon_http_head_limits lim = {.max_header_bytes = 8192, .max_body_bytes = 1024};
static const struct mon_http_head_limits no_body = {.max_header_bytes = 8192, .max_body_bytes = 0};

static void ok(const char *head, size_t len, size_t want_len, bool want_body)
{
    struct mon_http_head_result r;
    enum mon_http_head_verdict v = mon_http_head_check(head, len, &lim, &r);
    if (v != MON_HTTP_HEAD_OK)
        fail_msg("not accepted (%d %d %s): %.60s", (int)v, r.status, r.error, head);
    assert_int_equal(r.head_len, want_len);
    assert_int_equal(r.has_body, want_body);
}

static void bad(const struct mon_http_head_limits *l, const char *head, size_t len, int status,
                const char *frag)
{
    struct mon_http_head_result r;
    enum mon_http_head_verdict v = mon_http_head_check(head, len, l, &r);
    if (v != MON_HTTP_HEAD_REJECT || r.status != status || !strstr(r.error, frag))
        fail_msg("want %d '%s', got verdict %d status %d '%s' for: %.80s", status, frag, (int)v,
                 r.status, r.error, head);
}

#define OK(s, body)             ok(s, sizeof(s) - 1, sizeof(s) - 1, body)
#define BAD(s, status, frag)    bad(&lim, s, sizeof(s) - 1, status, frag)
#define BAD_NOBODY(s, st, frag) bad(&no_body, s, sizeof(s) - 1, st, frag)

static void test_accepted(void **state)
{
    static const char with_body[] = "POST /api/servers HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
    (void)state;
    OK("GET /api/servers HTTP/1.1\r\nHost: x\r\n\r\n", false);
    OK("GET / HTTP/1.0\n\n", false);                                   /* bare LF lines */
    OK("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", false);                /* an empty line first */
    OK("GET /?a=1&b=2 HTTP/1.1\r\nX-Tab:\tv\t\r\n\r\n", false);        /* tabs in a value */
    OK("PUT /x HTTP/1.1\r\nContent-Length:  0 \r\n\r\n", false);       /* spaces around a length */
    OK("GET /\xe5\x90\x8d HTTP/1.1\r\n\r\n", false);                   /* raw UTF-8 in the target */
    ok(with_body, sizeof(with_body) - 1, sizeof(with_body) - 3, true); /* the body is not head */
    OK("POST /x HTTP/1.1\r\nContent-Length: 1024\r\n\r\n", true);
}

static void test_incomplete(void **state)
{
    struct mon_http_head_result r;
    static const char part[] = "GET /v1/snapshot HTTP/1.1\r\nHost: x\r\nX-Slow: aaa";
    (void)state;
    assert_int_equal(mon_http_head_check(part, sizeof(part) - 1, &lim, &r),
                     MON_HTTP_HEAD_INCOMPLETE);
    assert_int_equal(mon_http_head_check("", 0, &lim, &r), MON_HTTP_HEAD_INCOMPLETE);
    assert_int_equal(mon_http_head_check("GET / HTTP/1.1\r\n\r", 17, &lim, &r),
                     MON_HTTP_HEAD_INCOMPLETE);
}

static void test_size(void **state)
{
    struct mon_http_head_result r;
    char *buf = malloc(9000);
    size_t n;
    (void)state;
    assert_non_null(buf);
    n = (size_t)snprintf(buf, 9000, "GET / HTTP/1.1\r\nX-Pad: ");
    memset(buf + n, 'a', 8192 - n - 4);
    memcpy(buf + 8192 - 4, "\r\n\r\n", 4);
    assert_int_equal(mon_http_head_check(buf, 8192, &lim, &r), MON_HTTP_HEAD_OK);
    /* One byte more, complete or not yet: 431 at once, without waiting for the rest. */
    memmove(buf + 8192 - 3, buf + 8192 - 4, 4);
    buf[8192 - 4] = 'a';
    bad(&lim, buf, 8193, 431, "8192");
    memset(buf + 8192 - 4, 'a', 5);
    bad(&lim, buf, 8193, 431, "8192");
    assert_int_equal(mon_http_head_check(buf, 8192, &lim, &r), MON_HTTP_HEAD_INCOMPLETE);
    free(buf);
}

static void test_rejected(void **state)
{
    char many[4096];
    size_t n;
    (void)state;
    /* Item 12: every one gets one clean 4xx. */
    BAD("POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}abc", 400,
        "more than one Content-Length");
    BAD("POST /x HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n{}", 400,
        "more than one Content-Length");
    BAD("POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400, "malformed Content-Length");
    BAD("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "malformed Content-Length");
    BAD("POST /x HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400, "malformed Content-Length");
    BAD("POST /x HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "malformed Content-Length");
    BAD("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413, "too large");
    BAD("POST /x HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", 413, "too large");
    BAD("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411, "Content-Length");
    BAD("POST /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 411,
        "chunked");
    BAD_NOBODY("POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 413, "not accepted");
    BAD_NOBODY("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 413, "not accepted");
    n = (size_t)snprintf(many, sizeof(many), "GET /api/events?");
    for (int i = 0; i < 350; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "%sa%d=1", i ? "&" : "", i);
    snprintf(many + n, sizeof(many) - n, " HTTP/1.1\r\nHost: x\r\n\r\n");
    bad(&lim, many, strlen(many), 400, "too many query parameters (limit 64)");
    /* Item 10: a NUL (e.g. "<token>\0junk") or another control byte anywhere. */
    BAD("GET /v1/snapshot HTTP/1.1\r\nAuthorization: Bearer tok\0junk\r\n\r\n", 400, "NUL");
    BAD("GET /v1/snapshot HTTP/1.1\r\nX-Admin-Token: a\x01"
        "b\r\n\r\n",
        400, "control");
    BAD("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400, "control"); /* a bare CR */
    BAD("GET /\0 HTTP/1.1\r\n\r\n", 400, "NUL");
    /* Malformed lines. */
    BAD("GET / HTTP/1.1\r\nX-A: a\r\n folded\r\n\r\n", 400, "folded");
    BAD("GET / HTTP/1.1\r\nX-A : a\r\n\r\n", 400, "malformed header line");
    BAD("GET / HTTP/1.1\r\nno colon\r\n\r\n", 400, "malformed header line");
    BAD("GET /\r\n\r\n", 400, "malformed request line");
    BAD("GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line");
    BAD("G(T / HTTP/1.1\r\n\r\n", 400, "malformed request line");
    BAD("GET / HTTP/2.0\r\n\r\n", 505, "version");
    BAD("GET / HTTPS/1.1\r\n\r\n", 400, "malformed request line");
    n = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "A%d: b\r\n", i);
    snprintf(many + n, sizeof(many) - n, "\r\n");
    bad(&lim, many, strlen(many), 431, "too many header fields (limit 100)");
}

static void test_query_params(void **state)
{
    (void)state;
    assert_int_equal(mon_http_query_params("", 0), 0);
    assert_int_equal(mon_http_query_params("a=1", 3), 1);
    assert_int_equal(mon_http_query_params("a=1&b&&c=", 9), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),     cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_size),         cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_query_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
