/* SPDX-License-Identifier: MIT */
/* Unit tests for the HTTP server wrapper, routing and responses: routes with {param} segments,
 * 404/405, query and headers, keep-alive, response bodies, files and headers, the worker pool,
 * start errors, dual stack, deferred answers and a clean stop. A real server on 127.0.0.1
 * (tests/support/test_http.h). */
#include "support/test_http.h"

static void test_get_json(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    (void)state;
    request(mon_http_port(srv), "GET /api/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            &r);
    assert_int_equal(r.status, 200);
    assert_header(&r, "Content-Type", "application/json");
    assert_string_equal(r.body, "{\"ok\":true}");
    assert_int_equal(atomic_load(&t.handler_calls), 1);
    assert_true(atomic_load(&t.allow_calls) >= 1);
    assert_true(atomic_load(&t.allow_saw_loopback));
    reply_free(&r);
    mon_http_stop(srv);
}

static void test_not_found(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    (void)state;
    request(mon_http_port(srv), "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    assert_error_body(&r);
    reply_free(&r);
    /* A {param} segment never matches an empty segment. */
    request(mon_http_port(srv), "GET /api/servers//timeseries HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    /* Nor does a prefix or a longer path. */
    request(mon_http_port(srv), "GET /api/pin HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    request(mon_http_port(srv), "GET /api/ping/more HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    mon_http_stop(srv);
}

static void test_method_not_allowed(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    (void)state;
    request(mon_http_port(srv), "DELETE /api/ping HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 405);
    assert_header(&r, "Allow", "GET");
    assert_error_body(&r);
    reply_free(&r);
    request(mon_http_port(srv), "GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 405);
    assert_header(&r, "Allow", "POST, PUT");
    reply_free(&r);
    request(mon_http_port(srv), "POST /api/servers/a/timeseries HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 405);
    assert_header(&r, "Allow", "GET");
    reply_free(&r);
    mon_http_stop(srv);
}

static void test_params_query_headers(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    (void)state;
    request(mon_http_port(srv),
            "GET /api/servers/srv-01/timeseries?range=24h&x=a%20b HTTP/1.1\r\n"
            "Host: x\r\nx-test: hello there\r\n\r\n",
            &r);
    assert_int_equal(r.status, 200);
    assert_int_equal((int)json_num(&r, "n_params"), 1);
    assert_string_equal(json_str(&r, "id"), "srv-01");
    assert_string_equal(json_str(&r, "range"), "24h");
    assert_string_equal(json_str(&r, "x"), "a b");
    assert_null(json_str(&r, "missing"));
    assert_string_equal(json_str(&r, "header"), "hello there");
    assert_string_equal(json_str(&r, "path"), "/api/servers/srv-01/timeseries");
    assert_string_equal(json_str(&r, "method"), "GET");
    reply_free(&r);

    /* Escapes are decoded in the path and the arguments, except %00: a NUL would cut the
     * string ("7%00.png" must not become "7"). Malformed escapes stay as they are. */
    request(mon_http_port(srv),
            "GET /api/servers/7%00.png%41/timeseries?range=24h%00x&x=%4a%4A%zz%4 HTTP/1.1\r\n"
            "Host: x\r\n\r\n",
            &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(&r, "id"), "7%00.pngA");
    assert_string_equal(json_str(&r, "range"), "24h%00x");
    assert_string_equal(json_str(&r, "x"), "JJ%zz%4");
    assert_string_equal(json_str(&r, "path"), "/api/servers/7%00.pngA/timeseries");
    reply_free(&r);

    request(mon_http_port(srv), "GET /api/a/first/b/second HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal((int)json_num(&r, "n_params"), 2);
    assert_string_equal(json_str(&r, "a"), "first");
    assert_string_equal(json_str(&r, "b"), "second");
    reply_free(&r);
    mon_http_stop(srv);
}

static void test_keep_alive(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    int fd;
    (void)state;
    fd = connect_port(mon_http_port(srv));
    for (int i = 0; i < 3; i++) {
        exchange(fd, "GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        reply_free(&r);
    }
    test_sock_close(fd);
    assert_int_equal(atomic_load(&t.handler_calls), 3);
    mon_http_stop(srv);
}

static void test_untouched_response_is_500(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    (void)state;
    request(mon_http_port(srv), "GET /api/nothing HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    assert_error_body(&r);
    reply_free(&r);
    mon_http_stop(srv);
}

static void test_body_status_and_headers(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    int many = 0;
    (void)state;
    request(mon_http_port(srv), "POST /api/text HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 201);
    assert_header(&r, "Content-Type", "text/plain");
    assert_header(&r, "Cache-Control", "no-store");
    assert_header(&r, "X-One", "1");
    assert_string_equal(r.body, "created\n");
    for (const char *p = r.head; (p = strstr(p, "X-Many: m")); p++)
        many++;
    assert_int_equal(many, MON_HTTP_MAX_HEADERS - 2);
    reply_free(&r);
    mon_http_stop(srv);
}

static void test_file_response(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    (void)state;
    request(mon_http_port(srv), "GET /api/file HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_header(&r, "Content-Type", "text/plain");
    assert_string_equal(r.body, "file body 0123456789");
    reply_free(&r);
    mon_http_stop(srv);
}

static void test_thread_pool(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv;
    int fds[8];
    (void)state;
    o.threads = 4;
    srv = start(&o);
    /* Several connections open at once, answered in any order. */
    for (int i = 0; i < 8; i++) {
        fds[i] = connect_port(mon_http_port(srv));
        assert_true(send_all(fds[i], "GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n", 36));
    }
    for (int i = 0; i < 8; i++) {
        struct reply r;
        assert_int_equal(read_reply(fds[i], &r), 0);
        assert_int_equal(r.status, 200);
        reply_free(&r);
        test_sock_close(fds[i]);
    }
    assert_int_equal(atomic_load(&t.handler_calls), 8);
    mon_http_stop(srv);
}

static void test_stop_with_idle_connection(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    int fd, rc;
    int64_t t0, took;
    char byte;
    (void)state;
    fd = connect_port(mon_http_port(srv));
    exchange(fd, "GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    /* The connection is now idle in keep-alive, with a 30 s idle timeout. */
    t0 = mon_mono_ms();
    mon_http_stop(srv);
    took = mon_mono_ms() - t0;
    if (took > 1500)
        fail_msg("mon_http_stop took %lld ms", (long long)took);
    /* The server side of the connection is gone. */
    assert_true(wait_for(fd, TEST_POLLIN));
    rc = (int)test_sock_recv(fd, &byte, 1);
    assert_true(rc <= 0);
    test_sock_close(fd);
    mon_http_stop(NULL);
}

static void test_start_errors(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv, *second = NULL;
    char why[256] = "";
    char addr[64];
    int r;
    (void)state;
    o.listen = "localhost:9109";
    r = mon_http_start(&o, &second, why, sizeof(why));
    assert_true(r < 0);
    assert_null(second);
    assert_non_null(strstr(why, "localhost:9109"));

    o.listen = "127.0.0.1:0";
    srv = start(&o);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)mon_http_port(srv));
    o.listen = addr;
    why[0] = '\0';
    r = mon_http_start(&o, &second, why, sizeof(why));
    assert_int_equal(r, MON_EIO);
    assert_null(second);
    assert_non_null(strstr(why, addr));
    mon_http_stop(srv);
}

static void test_dual_stack(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = NULL;
    struct reply r;
    char why[256];
    int probe = test_socket(AF_INET6);
    (void)state;
    o.listen = "*:0";
    if (probe < 0) {
        /* No IPv6 on this host: starting must fail cleanly rather than crash. */
        assert_true(mon_http_start(&o, &srv, why, sizeof(why)) < 0);
        assert_null(srv);
        return;
    }
    test_sock_close(probe);
    srv = start(&o);
    /* An IPv4 client reaches the "*" listener and the allow-list sees it as 127.0.0.1 (an
     * IPv4-mapped IPv6 address), so IPv4 CIDR blocks keep working on dual-stack sockets. */
    request(mon_http_port(srv), "GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(atomic_load(&t.allow_saw_loopback));
    reply_free(&r);
    mon_http_stop(srv);
}

/* Issue 11 item 11: a 404 that echoes a path with an invalid UTF-8 byte is still valid JSON. */
static void test_error_echo_is_valid_utf8(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    (void)state;
    request(mon_http_port(srv), "GET /api/x%ff%e2%80%ae%1b HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    assert_true(mon_utf8_valid(r.body, r.body_len));
    assert_non_null(r.json);
    assert_string_equal(json_str(&r, "error"),
                        "not found: /api/x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    reply_free(&r);
    mon_http_stop(srv);
}

/* A deferred answer: no worker waits (one thread serves others meanwhile); the answer arrives
 * with its own headers; a request left unanswered gets 503 when the server stops. */
static void test_deferred(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv;
    struct reply r;
    int64_t t0;
    int fd;
    (void)state;
    o.threads = 1;
    srv = start(&o);
    fd = connect_port(mon_http_port(srv));
    t0 = mon_mono_ms();
    assert_true(send_all(fd, "GET /api/later HTTP/1.1\r\nHost: x\r\n\r\n",
                         strlen("GET /api/later HTTP/1.1\r\nHost: x\r\n\r\n")));
    assert_true(ping_ok(mon_http_port(srv))); /* the only worker is free */
    assert_true(mon_mono_ms() - t0 < 250);
    assert_int_equal(read_reply(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(&r, "later"), "yes");
    assert_header(&r, "X-Later", "1");
    assert_null(strstr(r.head, "X-Dropped"));
    reply_free(&r);
    /* Kept alive: a second deferred request on the same connection. */
    exchange(fd, "GET /api/later HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    test_sock_close(fd);
    while (atomic_load(&t.deferred_answered) < 2)
        mon_sleep_ms(10);
    atomic_store(&t.never_answer, true);
    fd = connect_port(mon_http_port(srv));
    assert_true(send_all(fd, "GET /api/later HTTP/1.1\r\nHost: x\r\n\r\n",
                         strlen("GET /api/later HTTP/1.1\r\nHost: x\r\n\r\n")));
    assert_int_equal(read_reply_within(fd, &r, 300), -2);
    reply_free(&r);
    mon_http_stop(srv); /* must not abort with the request set aside */
    test_sock_close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_json),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_params_query_headers),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_untouched_response_is_500),
        cmocka_unit_test(test_body_status_and_headers),
        cmocka_unit_test(test_file_response),
        cmocka_unit_test(test_thread_pool),
        cmocka_unit_test(test_stop_with_idle_connection),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_dual_stack),
        cmocka_unit_test(test_error_echo_is_valid_utf8),
        cmocka_unit_test(test_deferred),
    };
    test_sockets_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
