/* SPDX-License-Identifier: MIT */
/* Unit tests for the HTTP server wrapper's token checks: bearer tokens and
 * mon_http_authenticate (constant-time compare, failed-attempt limits, trusted connections). A
 * real server on 127.0.0.1 (tests/support/test_http.h). */
#include "support/test_http.h"

static void test_bearer(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv = start(&o);
    struct reply r;
    static const struct {
        const char *header;
        const char *want;
    } cases[] = {
        {"Authorization: Bearer s3cret\r\n", "s3cret"},
        {"authorization: bearer s3cret\r\n", "s3cret"},
        {"Authorization: BEARER   spaced\r\n", "spaced"},
        {"Authorization: Basic dXNlcjpwYXNz\r\n", NULL},
        {"Authorization: Bearer\r\n", NULL},
        {"Authorization: Bearers x\r\n", NULL},
        {"", NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[512];
        const char *got;
        snprintf(req, sizeof(req), "GET /api/auth HTTP/1.1\r\nHost: x\r\n%s\r\n", cases[i].header);
        request(mon_http_port(srv), req, &r);
        assert_int_equal(r.status, 200);
        got = json_str(&r, "token");
        if (cases[i].want ? !got || strcmp(got, cases[i].want) != 0 : got != NULL)
            fail_msg("'%s': token '%s', want '%s'", cases[i].header, got ? got : "(null)",
                     cases[i].want ? cases[i].want : "(null)");
        reply_free(&r);
    }
    mon_http_stop(srv);
}

static const char *secret_result(int fd, const char *request, int *ret_wait)
{
    static char result[16];
    struct reply r;
    exchange(fd, request, &r);
    assert_int_equal(r.status, 200);
    snprintf(result, sizeof(result), "%s", json_str(&r, "result"));
    *ret_wait = (int)json_num(&r, "wait");
    reply_free(&r);
    return result;
}

/* Issue 11 items 3 and 10: the whole header value is compared (spaces around it trimmed on both
 * sides); after 20 wrong tokens an address must wait without any compare, except on a
 * connection that already presented the right token. */
static void test_authenticate(void **state)
{
    struct test_ctx t = {0};
    struct mon_http_options o = default_options(&t);
    struct mon_http_server *srv;
    int trusted, fd, wait = 0;
    char req[256];
    (void)state;
    assert_int_equal(mon_authlimit_new("test", &t.limit), MON_OK);
    srv = start(&o);
    trusted = connect_port(mon_http_port(srv));
    assert_string_equal(
        secret_result(trusted,
                      "GET /api/secret HTTP/1.1\r\nHost: x\r\nX-Secret: s3cret-token"
                      "\r\n\r\n",
                      &wait),
        "ok");
    fd = connect_port(mon_http_port(srv));
    assert_string_equal(
        secret_result(fd,
                      "GET /api/secret HTTP/1.1\r\nHost: x\r\nX-Secret:   s3cret-token  \t\r\n\r\n",
                      &wait),
        "ok");
    assert_string_equal(
        secret_result(fd,
                      "GET /api/secret?bearer=1 HTTP/1.1\r\nHost: x\r\nAuthorization: bearer  "
                      "s3cret-token  \r\n\r\n",
                      &wait),
        "ok");
    assert_string_equal(
        secret_result(fd, "GET /api/secret HTTP/1.1\r\nHost: x\r\nX-Secret:\r\n\r\n", &wait),
        "missing");
    assert_string_equal(secret_result(fd, "GET /api/secret HTTP/1.1\r\nHost: x\r\n\r\n", &wait),
                        "missing");
    test_sock_close(fd);
    for (int i = 0; i < MON_AUTHLIMIT_FREE; i++) {
        snprintf(req, sizeof(req),
                 "GET /api/secret HTTP/1.1\r\nHost: x\r\nX-Secret: guess-%d\r\n\r\n", i);
        fd = connect_port(mon_http_port(srv));
        assert_string_equal(secret_result(fd, req, &wait), "wrong");
        test_sock_close(fd);
    }
    /* Now a new connection from this address is not even compared: right or wrong alike. */
    fd = connect_port(mon_http_port(srv));
    assert_string_equal(
        secret_result(fd,
                      "GET /api/secret HTTP/1.1\r\nHost: x\r\nX-Secret: s3cret-token"
                      "\r\n\r\n",
                      &wait),
        "wait");
    assert_true(wait >= 1);
    assert_string_equal(
        secret_result(fd, "GET /api/secret HTTP/1.1\r\nHost: x\r\nX-Secret: guess\r\n\r\n", &wait),
        "wait");
    test_sock_close(fd);
    /* The connection that proved itself before keeps working. */
    assert_string_equal(
        secret_result(trusted,
                      "GET /api/secret HTTP/1.1\r\nHost: x\r\nX-Secret: s3cret-token"
                      "\r\n\r\n",
                      &wait),
        "ok");
    test_sock_close(trusted);
    mon_http_stop(srv);
    mon_authlimit_free(t.limit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_authenticate),
    };
    test_sockets_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
