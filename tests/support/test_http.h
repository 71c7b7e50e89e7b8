/* SPDX-License-Identifier: MIT */
/* The HTTP wrapper's unit tests share this (test_http*.c): a real server on 127.0.0.1 with a
 * route table and handlers, and a small socket client with bounded waits (no curl). Header-only
 * (static inline, as test_os.h) so that every test stays one source file and one ctest entry,
 * built for Windows too. */
#ifndef MON_TESTS_SUPPORT_TEST_HTTP_H
#define MON_TESTS_SUPPORT_TEST_HTTP_H

#include "common/http.h"
#include "common/authlimit.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/net.h"
#include "common/str.h"
#include "support/test_os.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#define WAIT_MS 2000 /* every single wait on a socket is bounded by this */

/* ---- the server side: context, routes, handlers ---- */

struct test_ctx {
    atomic_int handler_calls;
    atomic_bool block;  /* /api/block waits while this is set (bounded) */
    atomic_int blocked; /* handlers waiting in /api/block */
    atomic_int allow_calls;
    atomic_bool deny;
    atomic_bool allow_saw_loopback; /* the client address passed to allow was 127.0.0.1 */
    struct mon_authlimit *limit;    /* for /api/secret */
    atomic_int deferred_answered;   /* /api/later: answers given by the answering thread */
    atomic_bool never_answer;       /* /api/later: leave it to mon_http_stop */
};

static inline void json_reply(struct mon_http_response *resp, int status, cJSON *obj)
{
    assert_non_null(obj);
    mon_http_json(resp, status, obj);
}

static inline void h_ping(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    cJSON *o = cJSON_CreateObject();
    (void)ctx;
    (void)req;
    cJSON_AddBoolToObject(o, "ok", 1);
    json_reply(resp, 200, o);
}

static inline void add_str_or_null(cJSON *o, const char *name, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static inline void h_timeseries(void *ctx, struct mon_http_request *req,
                                struct mon_http_response *resp)
{
    cJSON *o = cJSON_CreateObject();
    (void)ctx;
    cJSON_AddNumberToObject(o, "n_params", (double)req->n_params);
    cJSON_AddStringToObject(o, "id", req->params[0]);
    add_str_or_null(o, "range", mon_http_query(req, "range"));
    add_str_or_null(o, "x", mon_http_query(req, "x"));
    add_str_or_null(o, "missing", mon_http_query(req, "missing"));
    add_str_or_null(o, "header", mon_http_header(req, "X-Test"));
    add_str_or_null(o, "path", req->path);
    add_str_or_null(o, "method", req->method);
    json_reply(resp, 200, o);
}

static inline void h_two(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    cJSON *o = cJSON_CreateObject();
    (void)ctx;
    cJSON_AddNumberToObject(o, "n_params", (double)req->n_params);
    cJSON_AddStringToObject(o, "a", req->params[0]);
    cJSON_AddStringToObject(o, "b", req->params[1]);
    json_reply(resp, 200, o);
}

static inline void h_echo(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    cJSON *o = cJSON_CreateObject();
    (void)ctx;
    cJSON_AddNumberToObject(o, "len", (double)req->body_len);
    add_str_or_null(o, "body", req->body);
    json_reply(resp, 200, o);
}

static inline void h_auth(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    cJSON *o = cJSON_CreateObject();
    (void)ctx;
    add_str_or_null(o, "token", mon_http_bearer(req));
    json_reply(resp, 200, o);
}

static inline void h_block(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct test_ctx *t = ctx;
    atomic_fetch_add(&t->blocked, 1);
    for (int i = 0; i < 400 && atomic_load(&t->block); i++)
        mon_sleep_ms(5);
    atomic_fetch_sub(&t->blocked, 1);
    h_ping(ctx, req, resp);
}

/* Checks X-Secret (or, with ?bearer=1, the Authorization bearer token) against "s3cret-token". */
static inline void h_secret(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    static const char *const names[] = {"ok", "missing", "wrong", "wait"};
    struct test_ctx *t = ctx;
    cJSON *o = cJSON_CreateObject();
    int wait = -1;
    enum mon_http_auth a = mon_http_authenticate(
        req, t->limit, mon_http_query(req, "bearer") ? NULL : "X-Secret", "s3cret-token", &wait);
    cJSON_AddStringToObject(o, "result", names[a]);
    cJSON_AddNumberToObject(o, "wait", wait);
    json_reply(resp, 200, o);
}

struct later {
    struct mon_http_deferred *d;
    struct test_ctx *t;
};

static inline void *answer_later(void *arg)
{
    struct later *l = arg;
    struct mon_http_response r = {.fd = -1};
    cJSON *o = cJSON_CreateObject();
    mon_sleep_ms(300);
    cJSON_AddStringToObject(o, "later", "yes");
    mon_http_json(&r, 200, o);
    mon_http_set_header(&r, "X-Later", "1");
    mon_http_deferred_answer(l->d, &r);
    atomic_fetch_add(&l->t->deferred_answered, 1);
    free(l);
    return NULL;
}

/* Answers from another thread 300 ms later; no worker thread waits meanwhile. */
static inline void h_later(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct test_ctx *t = ctx;
    struct later *l = malloc(sizeof(*l));
    pthread_t th;
    assert_non_null(l);
    l->t = t;
    assert_int_equal(mon_http_defer(req, &l->d), MON_OK);
    assert_non_null(l->d);
    mon_http_set_header(resp, "X-Dropped", "1"); /* ignored: the deferred answer counts */
    if (atomic_load(&t->never_answer)) {
        free(l);
        return;
    }
    assert_int_equal(pthread_create(&th, NULL, answer_later, l), 0);
    pthread_detach(th);
}

static inline void h_nothing(void *ctx, struct mon_http_request *req,
                             struct mon_http_response *resp)
{
    (void)ctx;
    (void)req;
    (void)resp; /* leaves the response untouched: the wrapper must answer 500 */
}

static inline void h_text(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    char *body = strdup("created\n");
    (void)ctx;
    (void)req;
    mon_http_body(resp, 201, "text/plain", body, strlen(body));
    mon_http_set_header(resp, "Cache-Control", "no-store");
    mon_http_set_header(resp, "X-One", "1");
    for (int i = 0; i < MON_HTTP_MAX_HEADERS + 3; i++) /* extras past the cap are dropped */
        mon_http_set_header(resp, "X-Many", "m");
}

static inline void h_file(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    static const char content[] = "file body 0123456789";
    int fd = test_anonymous_file();
    (void)ctx;
    (void)req;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, sizeof(content) - 1), (int)(sizeof(content) - 1));
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    resp->status = 200;
    resp->content_type = "text/plain";
    resp->fd = fd;
    resp->fd_size = sizeof(content) - 1;
}

static const struct mon_http_route routes[] = {
    {"GET", "/api/ping", h_ping},       {"GET", "/api/servers/{id}/timeseries", h_timeseries},
    {"GET", "/api/a/{x}/b/{y}", h_two}, {"POST", "/api/echo", h_echo},
    {"PUT", "/api/echo", h_echo},       {"GET", "/api/auth", h_auth},
    {"GET", "/api/nothing", h_nothing}, {"POST", "/api/text", h_text},
    {"GET", "/api/file", h_file},       {"GET", "/api/block", h_block},
    {"GET", "/api/secret", h_secret},   {"GET", "/api/later", h_later},
};

static inline void handler(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct test_ctx *t = ctx;
    atomic_fetch_add(&t->handler_calls, 1);
    mon_http_dispatch(routes, sizeof(routes) / sizeof(routes[0]), ctx, req, resp);
}

static inline bool allow(void *ctx, const struct sockaddr *client)
{
    struct test_ctx *t = ctx;
    struct mon_cidr loop;
    atomic_fetch_add(&t->allow_calls, 1);
    if (mon_parse_cidr("127.0.0.0/8", &loop) == MON_OK && mon_cidr_contains(&loop, client))
        atomic_store(&t->allow_saw_loopback, true);
    return !atomic_load(&t->deny);
}

static inline struct mon_http_options default_options(struct test_ctx *t)
{
    struct mon_http_options o = {
        .listen = "127.0.0.1:0",
        .max_connections = 16,
        .per_ip_connections = 0,
        .timeout_s = 30,
        .max_header_bytes = 8192,
        .max_body_bytes = 1024,
        .threads = 1,
        .handler = handler,
        .allow = allow,
        .ctx = t,
    };
    return o;
}

static inline struct mon_http_server *start(const struct mon_http_options *o)
{
    struct mon_http_server *srv = NULL;
    char why[256] = "";
    int r = mon_http_start(o, &srv, why, sizeof(why));
    if (r != MON_OK)
        fail_msg("mon_http_start(%s): %d %s", o->listen, r, why);
    assert_non_null(srv);
    assert_true(mon_http_port(srv) != 0);
    return srv;
}

/* ---- the client side: plain sockets with bounded waits ---- */

struct reply {
    int status;       /* 0 when no status line arrived */
    char head[16384]; /* status line and headers, NUL-terminated */
    char *body;       /* malloc'd, NUL-terminated */
    size_t body_len;
    cJSON *json; /* the body parsed, when it is JSON */
};

static inline void reply_free(struct reply *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

static inline bool wait_within(int fd, short events, int ms)
{
    return test_sock_wait(fd, events, ms);
}

static inline bool wait_for(int fd, short events)
{
    return wait_within(fd, events, WAIT_MS);
}

static inline int connect_port(uint16_t port)
{
    struct sockaddr_in sin;
    int fd = test_socket(AF_INET);
    assert_true(fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* Sends everything; returns false when the peer closed the connection first. */
static inline bool send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        long n;
        if (!wait_for(fd, TEST_POLLOUT))
            return false;
        n = test_sock_send(fd, data, len);
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Finds a header value in a response head (case-insensitive name); copies it into out. */
static inline bool find_header(const char *head, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *line = strstr(head, "\r\n");
    while (line && line[2] != '\0' && line[2] != '\r') {
        const char *start = line + 2, *end = strstr(start, "\r\n");
        if (!end)
            break;
        if (strncasecmp(start, name, nlen) == 0 && start[nlen] == ':') {
            const char *v = start + nlen + 1;
            size_t vlen;
            while (*v == ' ')
                v++;
            vlen = (size_t)(end - v);
            if (vlen >= size)
                vlen = size - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
        line = end;
    }
    return false;
}

/* Reads one response. Returns 0 when complete, -1 when the connection closed first and -2
 * when nothing arrived for wait_ms. */
static inline int read_reply_within(int fd, struct reply *r, int wait_ms)
{
    struct mon_buf raw;
    size_t head_len = 0, want = SIZE_MAX;
    int ret = -1;

    memset(r, 0, sizeof(*r));
    mon_buf_init(&raw, 4 * 1024 * 1024);
    for (;;) {
        char chunk[4096];
        long n;
        if (head_len && raw.len >= head_len + want) {
            ret = 0;
            break;
        }
        if (!wait_within(fd, TEST_POLLIN, wait_ms)) {
            ret = -2;
            break;
        }
        n = test_sock_recv(fd, chunk, sizeof(chunk));
        if (n <= 0) {
            if (head_len && want == SIZE_MAX) /* no Content-Length: the body ends at close */
                ret = 0;
            break;
        }
        assert_int_equal(mon_buf_append(&raw, chunk, (size_t)n), MON_OK);
        if (!head_len) {
            char *end = strstr(raw.data, "\r\n\r\n");
            char cl[32];
            if (!end)
                continue;
            head_len = (size_t)(end - raw.data) + 4;
            assert_true(head_len < sizeof(r->head));
            memcpy(r->head, raw.data, head_len);
            r->head[head_len] = '\0';
            if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
                r->status = -1;
            if (find_header(r->head, "Content-Length", cl, sizeof(cl)))
                want = (size_t)strtoull(cl, NULL, 10);
        }
    }
    if (head_len) {
        size_t blen = raw.len - head_len;
        if (want != SIZE_MAX && blen > want)
            blen = want;
        r->body = malloc(blen + 1);
        assert_non_null(r->body);
        memcpy(r->body, raw.data + head_len, blen);
        r->body[blen] = '\0';
        r->body_len = blen;
        r->json = cJSON_Parse(r->body);
    }
    mon_buf_done(&raw);
    return ret;
}

static inline int read_reply(int fd, struct reply *r)
{
    return read_reply_within(fd, r, WAIT_MS);
}

/* Sends a raw request on fd and reads the reply; fails the test unless a reply arrives. */
static inline void exchange(int fd, const char *request, struct reply *r)
{
    int rc;
    assert_true(send_all(fd, request, strlen(request)));
    rc = read_reply(fd, r);
    if (rc != 0)
        fail_msg("no complete reply (%d) to:\n%s", rc, request);
}

/* One request on a new connection. */
static inline void request(uint16_t port, const char *req, struct reply *r)
{
    int fd = connect_port(port);
    exchange(fd, req, r);
    test_sock_close(fd);
}

static inline const char *json_str(const struct reply *r, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->json, name);
    if (!r->json)
        fail_msg("body is not JSON: '%s'", r->body ? r->body : "(none)");
    if (!cJSON_IsString(it))
        return NULL;
    return it->valuestring;
}

static inline double json_num(const struct reply *r, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->json, name);
    if (!cJSON_IsNumber(it))
        fail_msg("field '%s' is not a number in '%s'", name, r->body ? r->body : "(none)");
    return it->valuedouble;
}

static inline void assert_header(const struct reply *r, const char *name, const char *want)
{
    char v[512];
    if (!find_header(r->head, name, v, sizeof(v)))
        fail_msg("no %s header in:\n%s", name, r->head);
    if (strcmp(v, want) != 0)
        fail_msg("%s is '%s', want '%s'", name, v, want);
}

static inline void assert_error_body(const struct reply *r)
{
    const char *e = json_str(r, "error");
    if (!e || !*e)
        fail_msg("expected {\"error\": ...}, got '%s'", r->body ? r->body : "(none)");
    assert_header(r, "Content-Type", "application/json");
}

/* True when the server answers a ping on a new connection. */
static inline bool ping_ok(uint16_t port)
{
    struct reply r;
    int fd = connect_port(port);
    bool ok = send_all(fd, "GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n", 36) &&
              read_reply(fd, &r) == 0 && r.status == 200;
    reply_free(&r);
    test_sock_close(fd);
    return ok;
}

#endif
