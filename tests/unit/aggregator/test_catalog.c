/* SPDX-License-Identifier: MIT */
/* Unit tests for the service catalog (issue 11 item 1): the answer built from an agent reply,
 * and fetches on the catalog's own thread against a local fake agent that counts calls: one
 * per server however many ask, and a cap on fetches in flight. */
#include "aggregator/catalog.h"
#include "common/clock.h"
#include "common/err.h"
#include "support/test_os.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const struct agg_agent_tls PLAIN = {0};

static cJSON *answer(int curl_code, long status, const char *body, int *ret_status)
{
    char *json = NULL;
    cJSON *o;
    assert_int_equal(agg_catalog_answer(curl_code, status, false, body, body ? strlen(body) : 0, 7,
                                        ret_status, &json),
                     MON_OK);
    o = cJSON_Parse(json);
    assert_non_null(o);
    free(json);
    return o;
}

static const char *error_of(const cJSON *o)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    assert_true(cJSON_IsString(e));
    return e->valuestring;
}

static void test_answer(void **state)
{
    int status;
    cJSON *o, *u;
    (void)state;
    o = answer(CURLE_OK, 200,
               "{\"services\": [{\"name\": \"nginx\\u200b.service\", \"description\": \"web "
               "\\u202eserver\", \"active_state\": \"active\", \"extra\": {\"x\": 1}}], \"hint\": "
               "\"h\\u0007\"}",
               &status);
    assert_int_equal(status, 200);
    u = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "services"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(u, "name")->valuestring, "nginx.service");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(u, "description")->valuestring,
                        "web server");
    assert_null(cJSON_GetObjectItemCaseSensitive(u, "extra")); /* only known fields */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "hint")->valuestring, "h");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "server_id")->valuedouble, 7);
    cJSON_Delete(o);
    o = answer(CURLE_OPERATION_TIMEDOUT, 0, NULL, &status);
    assert_int_equal(status, 504);
    assert_string_equal(error_of(o), "agent did not answer: timeout");
    cJSON_Delete(o);
    o = answer(CURLE_COULDNT_CONNECT, 0, NULL, &status);
    assert_int_equal(status, 502);
    assert_string_equal(error_of(o), "agent unreachable: connection refused");
    cJSON_Delete(o);
    o = answer(CURLE_OK, 401, "{\"error\": \"missing or invalid bearer token\\u202e\"}", &status);
    assert_int_equal(status, 502);
    assert_string_equal(error_of(o), "agent answered HTTP 401 (token rejected): missing or "
                                     "invalid bearer token\xef\xbf\xbd");
    cJSON_Delete(o);
    o = answer(CURLE_OK, 429, "{}", &status);
    assert_non_null(strstr(error_of(o), "HTTP 429 (too many failed authentications)"));
    cJSON_Delete(o);
    /* Item 9 for catalogs: strict JSON. */
    o = answer(CURLE_OK, 200, "{\"services\": [], \"services\": [{\"name\": \"x\"}]}", &status);
    assert_int_equal(status, 502);
    assert_string_equal(error_of(o), "bad reply from the agent: duplicate key \"services\"");
    cJSON_Delete(o);
    o = answer(CURLE_OK, 200, "{\"services\": []} trailing", &status);
    assert_string_equal(error_of(o), "bad reply from the agent: data after the JSON value");
    cJSON_Delete(o);
    o = answer(CURLE_OK, 200, "{\"services\": [{\"name\": 5}]}", &status);
    assert_string_equal(error_of(o),
                        "bad reply from the agent: services[0] is not a unit with a name");
    cJSON_Delete(o);
    o = answer(CURLE_OK, 200, "{\"units\": []}", &status);
    assert_non_null(strstr(error_of(o), "no services list"));
    cJSON_Delete(o);
}

/* ---- a fake agent: answers /v1/services after delay_ms, counting calls ---- */

struct fake {
    int listener;
    uint16_t port;
    int delay_ms;
    atomic_int calls, in_flight, max_in_flight;
    atomic_bool stop;
    pthread_t thread;
};

static void *serve_one(void *arg)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 39\r\nConnection: close\r\n\r\n"
                                "{\"services\": [{\"name\": \"a.service\"}]}  ";
    struct fake *f = ((void **)arg)[0];
    int fd = (int)(intptr_t)((void **)arg)[1];
    char buf[4096];
    int now;
    free(arg);
    (void)test_sock_recv(fd, buf, sizeof(buf));
    atomic_fetch_add(&f->calls, 1);
    now = atomic_fetch_add(&f->in_flight, 1) + 1;
    if (now > atomic_load(&f->max_in_flight))
        atomic_store(&f->max_in_flight, now);
    mon_sleep_ms(f->delay_ms);
    (void)test_sock_send(fd, reply, sizeof(reply) - 1);
    atomic_fetch_sub(&f->in_flight, 1);
    test_sock_close(fd);
    return NULL;
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    while (!atomic_load(&f->stop)) {
        int fd;
        pthread_t th;
        void **pair;
        if (!test_sock_wait(f->listener, TEST_POLLIN, 50))
            continue;
        fd = (int)accept(f->listener, NULL, NULL);
        if (fd < 0)
            continue;
        pair = malloc(2 * sizeof(void *));
        assert_non_null(pair);
        pair[0] = f;
        pair[1] = (void *)(intptr_t)fd;
        assert_int_equal(pthread_create(&th, NULL, serve_one, pair), 0);
        pthread_detach(th);
    }
    return NULL;
}

static void fake_start(struct fake *f, int delay_ms)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    memset(f, 0, sizeof(*f));
    f->delay_ms = delay_ms;
    f->listener = test_socket(AF_INET);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->listener, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(f->listener, 64), 0);
    assert_int_equal(getsockname(f->listener, (struct sockaddr *)&sin, &len), 0);
    f->port = ntohs(sin.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    test_sock_close(f->listener);
    mon_sleep_ms(f->delay_ms + 100); /* let the last replies finish */
}

struct results {
    atomic_int n, ok, busy;
};

static void done(void *ctx, int status, char *json)
{
    struct results *r = ctx;
    if (getenv("CATALOG_DEBUG"))
        fprintf(stderr, "%d %s\n", status, json ? json : "(null)");
    if (status == 200 && json && strstr(json, "a.service"))
        atomic_fetch_add(&r->ok, 1);
    if (status == 503)
        atomic_fetch_add(&r->busy, 1);
    atomic_fetch_add(&r->n, 1);
    free(json);
}

static void wait_done(struct results *r, int n)
{
    for (int i = 0; i < 500 && atomic_load(&r->n) < n; i++)
        mon_sleep_ms(10);
    if (atomic_load(&r->n) != n)
        fail_msg("%d of %d answers (%d ok, %d busy)", atomic_load(&r->n), n, atomic_load(&r->ok),
                 atomic_load(&r->busy));
}

/* 32 askers for one server: one agent call; asked again soon after: none. */
static void test_one_call_per_server(void **state)
{
    struct agg_catalog *c = NULL;
    struct results r = {0};
    struct fake f;
    (void)state;
    fake_start(&f, 300);
    assert_int_equal(agg_catalog_new(2000, &c), MON_OK);
    for (int i = 0; i < 32; i++)
        assert_int_equal(agg_catalog_get(c, 1, "127.0.0.1", f.port, "tok", &PLAIN, done, &r),
                         MON_OK);
    wait_done(&r, 32);
    assert_int_equal(atomic_load(&r.ok), 32);
    assert_int_equal(atomic_load(&f.calls), 1);
    assert_int_equal(agg_catalog_get(c, 1, "127.0.0.1", f.port, "tok", &PLAIN, done, &r), MON_OK);
    wait_done(&r, 33); /* from the kept answer, at once */
    assert_int_equal(atomic_load(&f.calls), 1);
    /* Another token (the server was edited): asked again. */
    assert_int_equal(agg_catalog_get(c, 1, "127.0.0.1", f.port, "tok2", &PLAIN, done, &r), MON_OK);
    wait_done(&r, 34);
    assert_int_equal(atomic_load(&f.calls), 2);
    agg_catalog_free(c);
    fake_stop(&f);
}

/* 20 servers at once: at most AGG_CATALOG_MAX_FETCHES calls in flight, the rest told to retry. */
static void test_fetch_cap(void **state)
{
    struct agg_catalog *c = NULL;
    struct results r = {0};
    struct fake f;
    int accepted = 0;
    (void)state;
    fake_start(&f, 400);
    assert_int_equal(agg_catalog_new(2000, &c), MON_OK);
    for (int id = 1; id <= 20; id++) {
        int rc = agg_catalog_get(c, id, "127.0.0.1", f.port, "tok", &PLAIN, done, &r);
        assert_true(rc == MON_OK || rc == MON_EBUSY);
        accepted += rc == MON_OK;
    }
    assert_int_equal(accepted, AGG_CATALOG_MAX_FETCHES);
    wait_done(&r, accepted);
    assert_true(atomic_load(&f.max_in_flight) <= AGG_CATALOG_MAX_FETCHES);
    /* Stopping answers whoever still waits, and later askers at once. */
    assert_int_equal(agg_catalog_get(c, 99, "127.0.0.1", f.port, "tok", &PLAIN, done, &r), MON_OK);
    agg_catalog_stop(c);
    wait_done(&r, accepted + 1);
    assert_int_equal(atomic_load(&r.busy), 1);
    assert_int_equal(agg_catalog_get(c, 98, "127.0.0.1", f.port, "tok", &PLAIN, done, &r), MON_OK);
    wait_done(&r, accepted + 2);
    agg_catalog_free(c);
    fake_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer),
        cmocka_unit_test(test_one_call_per_server),
        cmocka_unit_test(test_fetch_cap),
    };
    test_sockets_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
