/* SPDX-License-Identifier: MIT */
/* The poll loop against tiny in-process HTTP agents on 127.0.0.1: good replies, 401, bad JSON,
 * a 1 MiB body over a 64 KiB cap and a handler that never answers in time each end with the right
 * last_error, and one bad agent does not harm another; removal while in flight is safe. */
#include "aggregator/agentclient.h"
#include "aggregator/poller.h"
#include "aggregator/sample.h"
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define GOOD_REPLY                                                                                 \
    "{\"node_id\":\"t\",\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":12.5,\"disks\":[],"            \
    "\"gpus\":[],\"services\":[]}"

#define HUGE_BYTES (1024 * 1024)

enum behaviour { B_GOOD, B_401, B_MALFORMED, B_HUGE, B_SLOW, B_COUNT };

struct agent {
    enum behaviour b;
    struct mon_http_server *srv;
    pthread_mutex_t lock;
    int requests;
    char last_auth[128];
    char last_services[256];
};

struct result {
    int64_t id;
    int ok, failed;
    double cpu;
    char last_error[256];
};

struct results {
    pthread_mutex_t lock;
    struct result r[8];
    int ticks;
};

static void handler(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agent *a = ctx;
    const char *auth = mon_http_header(req, "Authorization");
    const char *services = mon_http_query(req, "services");
    char *big;

    pthread_mutex_lock(&a->lock);
    a->requests++;
    snprintf(a->last_auth, sizeof(a->last_auth), "%s", auth ? auth : "");
    snprintf(a->last_services, sizeof(a->last_services), "%s", services ? services : "");
    pthread_mutex_unlock(&a->lock);
    switch (a->b) {
    case B_GOOD:
        mon_http_body(resp, 200, "application/json", strdup(GOOD_REPLY), strlen(GOOD_REPLY));
        break;
    case B_401:
        mon_http_error(resp, 401, "invalid token");
        break;
    case B_MALFORMED:
        mon_http_body(resp, 200, "application/json", strdup("{\"ts\":"), 6);
        break;
    case B_HUGE: /* 16 times the cap: big enough, and quick to build under ASan and load */
        big = malloc(HUGE_BYTES);
        memset(big, ' ', HUGE_BYTES);
        mon_http_body(resp, 200, "application/json", big, HUGE_BYTES);
        break;
    default:
        mon_sleep_ms(900);
        mon_http_body(resp, 200, "application/json", strdup(GOOD_REPLY), strlen(GOOD_REPLY));
        break;
    }
}

static void agent_start(struct agent *a, enum behaviour b)
{
    struct mon_http_options o = {.listen = "127.0.0.1:0", .threads = 1, .handler = handler};
    char why[256];
    memset(a, 0, sizeof(*a));
    a->b = b;
    pthread_mutex_init(&a->lock, NULL);
    o.ctx = a;
    assert_int_equal(mon_http_start(&o, &a->srv, why, sizeof(why)), MON_OK);
}

static void agent_stop(struct agent *a)
{
    mon_http_stop(a->srv);
    pthread_mutex_destroy(&a->lock);
}

static void on_result(void *ctx, int64_t id, const struct agg_sample *s, const char *error,
                      int64_t now_utc_ms, int64_t now_mono_ms)
{
    struct results *res = ctx;
    pthread_mutex_lock(&res->lock);
    for (int i = 0; i < 8; i++) {
        struct result *r = &res->r[i];
        if (r->id != id)
            continue;
        if (s) {
            r->ok++;
            r->cpu = s->cpu_pct;
            r->last_error[0] = '\0';
        } else {
            r->failed++;
            snprintf(r->last_error, sizeof(r->last_error), "%s", error);
        }
    }
    pthread_mutex_unlock(&res->lock);
}

static void on_tick(void *ctx, int64_t now_utc_ms, int64_t now_mono_ms)
{
    struct results *res = ctx;
    pthread_mutex_lock(&res->lock);
    res->ticks++;
    pthread_mutex_unlock(&res->lock);
}

static void server_for(struct agg_server *s, int64_t id, uint16_t port, char **services,
                       size_t n_services)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->name = "t";
    s->host = "127.0.0.1";
    s->port = port;
    s->token = "secret-token";
    s->services = services;
    s->n_services = n_services;
    s->enabled = true;
    s->last_seen_at = -1;
    s->last_online = -1;
}

/* Waits (at most 10 s) until result idx has at least ok successes and failed failures. */
static void wait_for(struct results *res, int idx, int ok, int failed)
{
    int64_t deadline = mon_mono_ms() + 10000;
    for (;;) {
        bool done;
        pthread_mutex_lock(&res->lock);
        done = res->r[idx].ok >= ok && res->r[idx].failed >= failed;
        pthread_mutex_unlock(&res->lock);
        if (done)
            return;
        if (mon_mono_ms() > deadline)
            fail_msg("result %d: wanted %d ok / %d failed, got %d / %d (%s)", idx, ok, failed,
                     res->r[idx].ok, res->r[idx].failed, res->r[idx].last_error);
        mon_sleep_ms(20);
    }
}

static void errors_are_isolated(bool simple)
{
    struct agent agents[B_COUNT];
    struct results res = {.lock = PTHREAD_MUTEX_INITIALIZER};
    /* The timeout leaves the huge reply time to reach the cap on a loaded machine (it once
     * came out as "timeout" at 300 ms) and is still well under the slow agent's 900 ms. */
    struct agg_poller_options o = {.interval_ms = 400,
                                   .timeout_ms = 600,
                                   .max_response_bytes = 64 * 1024,
                                   .tick_ms = 50,
                                   .simple_io = simple,
                                   .on_result = on_result,
                                   .on_tick = on_tick,
                                   .ctx = &res};
    char *units[] = {"nginx.service", "my app@1.service"};
    struct agg_poller *p = NULL;
    struct agg_poller_stats st;
    struct agg_server s;
    char why[256];

    for (int i = 0; i < B_COUNT; i++) {
        agent_start(&agents[i], (enum behaviour)i);
        res.r[i].id = 100 + i;
    }
    res.r[B_COUNT].id = 200; /* nobody listens on port 1 */
    assert_int_equal(agg_poller_start(&o, &p, why, sizeof(why)), MON_OK);
    for (int i = 0; i < B_COUNT; i++) {
        server_for(&s, 100 + i, mon_http_port(agents[i].srv), units, i == B_GOOD ? 2 : 0);
        assert_int_equal(agg_poller_upsert(p, &s), MON_OK);
    }
    server_for(&s, 200, 1, NULL, 0);
    assert_int_equal(agg_poller_upsert(p, &s), MON_OK);

    wait_for(&res, B_GOOD, 3, 0);
    wait_for(&res, B_401, 0, 2);
    wait_for(&res, B_MALFORMED, 0, 2);
    wait_for(&res, B_HUGE, 0, 2);
    wait_for(&res, B_SLOW, 0, 2);
    wait_for(&res, B_COUNT, 0, 2);
    wait_for(&res, B_GOOD, res.r[B_GOOD].ok + 3, 0); /* still fine while the others fail */

    pthread_mutex_lock(&res.lock);
    assert_int_equal(res.r[B_GOOD].failed, 0);
    assert_float_equal(res.r[B_GOOD].cpu, 12.5, 1e-9);
    assert_string_equal(res.r[B_401].last_error, "token rejected (HTTP 401)");
    assert_non_null(strstr(res.r[B_MALFORMED].last_error, "bad reply: "));
    assert_string_equal(res.r[B_HUGE].last_error, "reply too large");
    assert_string_equal(res.r[B_SLOW].last_error, "timeout");
    assert_string_equal(res.r[B_COUNT].last_error, "connection refused");
    assert_true(res.ticks > 0);
    pthread_mutex_unlock(&res.lock);

    pthread_mutex_lock(&agents[B_GOOD].lock);
    assert_string_equal(agents[B_GOOD].last_auth, "Bearer secret-token");
    assert_string_equal(agents[B_GOOD].last_services, "nginx.service,my app@1.service");
    pthread_mutex_unlock(&agents[B_GOOD].lock);

    agg_poller_get_stats(p, &st);
#ifdef __linux__
    assert_string_equal(st.io_kind, simple ? "curl_multi_poll" : "epoll");
#else
    assert_string_equal(st.io_kind, "curl_multi_poll"); /* no event loop in the OS layer */
#endif
    assert_int_equal(st.targets, B_COUNT + 1);
    assert_true(st.polls_started >= st.polls_completed + st.polls_failed);
    assert_true(st.polls_completed >= 6);
    assert_true(agg_poller_in_window_pct(&st) > 0 && agg_poller_in_window_pct(&st) < 100);

    agg_poller_stop(p);
    for (int i = 0; i < B_COUNT; i++)
        agent_stop(&agents[i]);
}

static void test_errors_are_isolated(void **state)
{
    (void)state;
    errors_are_isolated(false);
}

/* The same with the driver Windows uses (curl_multi_poll). */
static void test_errors_are_isolated_simple_io(void **state)
{
    (void)state;
    errors_are_isolated(true);
}

/* Issue 12: the loop stalls (the tick callback blocks for three timeouts, as a CPU-starved or
 * stopped process would) while replies wait in their sockets: none of those polls may fail
 * with "timeout" - our slowness is not the agents'. */
struct stall {
    struct results res;
    int stalls;
};

static void on_tick_stall(void *ctx, int64_t now_utc_ms, int64_t now_mono_ms)
{
    struct stall *st = ctx;
    bool stall;
    pthread_mutex_lock(&st->res.lock);
    stall = st->res.r[0].ok >= 2 && st->stalls < 3;
    st->stalls += stall;
    pthread_mutex_unlock(&st->res.lock);
    if (stall)
        mon_sleep_ms(1000);
}

static void on_result_stall(void *ctx, int64_t id, const struct agg_sample *s, const char *error,
                            int64_t now_utc_ms, int64_t now_mono_ms)
{
    on_result(&((struct stall *)ctx)->res, id, s, error, now_utc_ms, now_mono_ms);
}

static void test_stall_is_not_a_timeout(void **state)
{
    struct agent agents[4];
    struct stall st = {.res = {.lock = PTHREAD_MUTEX_INITIALIZER}};
    struct agg_poller_options o = {.interval_ms = 200,
                                   .timeout_ms = 300,
                                   .max_response_bytes = 64 * 1024,
                                   .tick_ms = 50,
                                   .on_result = on_result_stall,
                                   .on_tick = on_tick_stall,
                                   .ctx = &st};
    struct agg_poller *p = NULL;
    struct agg_poller_stats stats;
    struct agg_server s;
    char why[256];
    (void)state;
    assert_int_equal(agg_poller_start(&o, &p, why, sizeof(why)), MON_OK);
    for (int i = 0; i < 4; i++) {
        agent_start(&agents[i], B_GOOD);
        st.res.r[i].id = i + 1;
        server_for(&s, i + 1, mon_http_port(agents[i].srv), NULL, 0);
        agg_poller_upsert(p, &s);
    }
    wait_for(&st.res, 0, 2, 0);
    for (int64_t deadline = mon_mono_ms() + 15000; mon_mono_ms() < deadline;) {
        bool done;
        pthread_mutex_lock(&st.res.lock);
        done = st.stalls >= 3;
        pthread_mutex_unlock(&st.res.lock);
        if (done)
            break;
        mon_sleep_ms(50);
    }
    for (int i = 0; i < 4; i++)
        wait_for(&st.res, i, 6, 0);
    pthread_mutex_lock(&st.res.lock);
    assert_int_equal(st.stalls, 3);
    for (int i = 0; i < 4; i++)
        if (st.res.r[i].failed)
            fail_msg("server %d failed %d time(s): %s", i + 1, st.res.r[i].failed,
                     st.res.r[i].last_error);
    pthread_mutex_unlock(&st.res.lock);
    agg_poller_get_stats(p, &stats);
    assert_int_equal(stats.polls_failed, 0);
    assert_true(stats.late_polls > 0); /* a 1-s stall with a 200-ms interval is late */
    agg_poller_stop(p);
    for (int i = 0; i < 4; i++)
        agent_stop(&agents[i]);
}

/* With fewer sockets than servers, the servers past the budget get a new connection for each
 * poll (the rest stay kept alive) and every poll still succeeds. */
static void test_socket_budget(void **state)
{
    enum { N = 16 };
    static struct agent agents[N];
    struct results res = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct agg_poller_options o = {.interval_ms = 300,
                                   .timeout_ms = 1000,
                                   .max_response_bytes = 64 * 1024,
                                   .max_sockets = 16, /* 12 kept alive, 4 per poll */
                                   .on_result = on_result,
                                   .ctx = &res};
    struct agg_poller *p = NULL;
    struct agg_poller_stats st;
    struct agg_server s;
    char why[256];
    int requests = 0;
    (void)state;
    assert_int_equal(agg_poller_start(&o, &p, why, sizeof(why)), MON_OK);
    for (int i = 0; i < N; i++) {
        agent_start(&agents[i], B_GOOD);
        server_for(&s, i + 1, mon_http_port(agents[i].srv), NULL, 0);
        agg_poller_upsert(p, &s);
    }
    for (int64_t deadline = mon_mono_ms() + 15000;; mon_sleep_ms(50)) {
        agg_poller_get_stats(p, &st);
        if (st.polls_completed >= 4 * N || mon_mono_ms() > deadline)
            break;
    }
    assert_true(st.polls_completed >= 4 * N);
    assert_int_equal(st.polls_failed, 0);
    assert_int_equal(st.persistent, 12);
    for (int i = 0; i < N; i++) {
        pthread_mutex_lock(&agents[i].lock);
        requests += agents[i].requests;
        pthread_mutex_unlock(&agents[i].lock);
    }
    assert_true(requests >= 4 * N);
    agg_poller_stop(p);
    for (int i = 0; i < N; i++)
        agent_stop(&agents[i]);
}

/* Each server is polled once per interval, and the slow one (timeout > interval) is never
 * asked twice at once: its overlapping due times are counted as late. */
static void test_rate_and_late_polls(void **state)
{
    struct agent good, slow;
    struct results res = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct agg_poller_options o = {.interval_ms = 200,
                                   .timeout_ms = 2000,
                                   .max_response_bytes = 64 * 1024,
                                   .on_result = on_result,
                                   .ctx = &res};
    struct agg_poller *p = NULL;
    struct agg_poller_stats st;
    struct agg_server s;
    int64_t t0;
    int good_requests, slow_requests;
    char why[256];
    (void)state;

    agent_start(&good, B_GOOD);
    agent_start(&slow, B_SLOW);
    res.r[0].id = 1;
    res.r[1].id = 2;
    assert_int_equal(agg_poller_start(&o, &p, why, sizeof(why)), MON_OK);
    server_for(&s, 1, mon_http_port(good.srv), NULL, 0);
    agg_poller_upsert(p, &s);
    server_for(&s, 2, mon_http_port(slow.srv), NULL, 0);
    agg_poller_upsert(p, &s);
    t0 = mon_mono_ms();
    wait_for(&res, 1, 2, 0);
    wait_for(&res, 0, 10, 0);
    pthread_mutex_lock(&good.lock);
    good_requests = good.requests;
    pthread_mutex_unlock(&good.lock);
    pthread_mutex_lock(&slow.lock);
    slow_requests = slow.requests;
    pthread_mutex_unlock(&slow.lock);
    /* Never more than one request per interval (plus the first). */
    assert_true(good_requests <= (mon_mono_ms() - t0) / 200 + 2);
    /* One request at a time, each taking 900 ms. */
    assert_true(slow_requests <= (mon_mono_ms() - t0) / 900 + 1);
    agg_poller_get_stats(p, &st);
    assert_true(st.late_polls >= 2);
    agg_poller_stop(p);
    agent_stop(&good);
    agent_stop(&slow);
}

static void test_remove_in_flight_and_disable(void **state)
{
    struct agent slow, good;
    struct results res = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct agg_poller_options o = {.interval_ms = 300,
                                   .timeout_ms = 2000,
                                   .max_response_bytes = 64 * 1024,
                                   .on_result = on_result,
                                   .ctx = &res};
    struct agg_poller *p = NULL;
    struct agg_poller_stats st;
    struct agg_server s;
    int64_t deadline;
    int before;
    char why[256];
    (void)state;

    agent_start(&slow, B_SLOW);
    agent_start(&good, B_GOOD);
    res.r[0].id = 7;
    res.r[1].id = 8;
    assert_int_equal(agg_poller_start(&o, &p, why, sizeof(why)), MON_OK);
    server_for(&s, 7, mon_http_port(slow.srv), NULL, 0);
    agg_poller_upsert(p, &s);
    server_for(&s, 8, mon_http_port(good.srv), NULL, 0);
    agg_poller_upsert(p, &s);
    deadline = mon_mono_ms() + 5000;
    do {
        mon_sleep_ms(20);
        agg_poller_get_stats(p, &st);
    } while (st.in_flight == 0 && mon_mono_ms() < deadline);
    assert_true(st.in_flight > 0);
    agg_poller_remove(p, 7);
    s.enabled = false; /* disabling removes it from the poll set too */
    agg_poller_upsert(p, &s);
    deadline = mon_mono_ms() + 5000;
    do {
        mon_sleep_ms(20);
        agg_poller_get_stats(p, &st);
    } while (st.targets != 0 && mon_mono_ms() < deadline);
    assert_int_equal(st.targets, 0);
    pthread_mutex_lock(&res.lock);
    assert_int_equal(res.r[0].ok + res.r[0].failed, 0); /* the aborted request reports nothing */
    before = res.r[1].ok;
    pthread_mutex_unlock(&res.lock);
    mon_sleep_ms(700);
    pthread_mutex_lock(&res.lock);
    assert_int_equal(res.r[1].ok, before);
    pthread_mutex_unlock(&res.lock);
    agg_poller_stop(p);
    agent_stop(&slow);
    agent_stop(&good);
}

static void test_urls_and_error_texts(void **state)
{
    char *url = NULL, why[128];
    char *units[] = {"a.service", "b c/d.service"};
    (void)state;
    assert_int_equal(agg_agent_url("10.0.0.1", 9109, "/v1/snapshot", units, 2, &url), MON_OK);
    assert_string_equal(url,
                        "http://10.0.0.1:9109/v1/snapshot?services=a.service,b%20c%2Fd.service");
    free(url);
    assert_int_equal(agg_agent_url("fe80::1", 80, "/v1/snapshot", NULL, 0, &url), MON_OK);
    assert_string_equal(url, "http://[fe80::1]:80/v1/snapshot");
    free(url);
    assert_int_equal(agg_agent_url("evil/x@y", 80, "/", NULL, 0, &url), MON_EINVAL);
    assert_int_equal(agg_agent_url("h", 0, "/", NULL, 0, &url), MON_EINVAL);

    assert_int_equal(agg_agent_result(CURLE_OK, 200, false, why, sizeof(why)), MON_OK);
    assert_int_equal(agg_agent_result(CURLE_OPERATION_TIMEDOUT, 0, false, why, sizeof(why)),
                     MON_ETIMEDOUT);
    assert_string_equal(why, "timeout");
    assert_int_equal(agg_agent_result(CURLE_COULDNT_RESOLVE_HOST, 0, false, why, sizeof(why)),
                     MON_ENOENT);
    assert_string_equal(why, "host not found");
    agg_agent_result(CURLE_OK, 403, false, why, sizeof(why));
    assert_string_equal(why, "forbidden (HTTP 403)");
    agg_agent_result(CURLE_OK, 500, false, why, sizeof(why));
    assert_string_equal(why, "HTTP 500");
    agg_agent_result(CURLE_WRITE_ERROR, 200, true, why, sizeof(why));
    assert_string_equal(why, "reply too large");
    /* Transport failures of a peer that is no agent get the documented texts. */
    assert_int_equal(agg_agent_result(CURLE_PARTIAL_FILE, 200, false, why, sizeof(why)), MON_EIO);
    assert_string_equal(why, "bad reply: truncated");
    agg_agent_result(CURLE_GOT_NOTHING, 0, false, why, sizeof(why));
    assert_string_equal(why, "bad reply: closed without an answer");
    agg_agent_result(CURLE_UNSUPPORTED_PROTOCOL, 0, false, why, sizeof(why));
    assert_string_equal(why, "bad reply: not HTTP");
    agg_agent_result(CURLE_WEIRD_SERVER_REPLY, 0, false, why, sizeof(why));
    assert_string_equal(why, "bad reply: not HTTP");
    agg_agent_result(CURLE_RECV_ERROR, 0, false, why, sizeof(why));
    assert_string_equal(why, "connection reset");
}

static void test_blocking_get(void **state)
{
    struct agent good, unauthorized;
    char *body = NULL, why[128] = "";
    long status = 0;
    (void)state;
    agent_start(&good, B_GOOD);
    agent_start(&unauthorized, B_401);
    assert_int_equal(agg_agent_get("127.0.0.1", mon_http_port(good.srv), "tok", "/v1/services",
                                   2000, 4096, &status, &body, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(status, 200);
    assert_string_equal(body, GOOD_REPLY);
    assert_string_equal(good.last_auth, "Bearer tok");
    free(body);
    body = NULL;
    assert_int_equal(agg_agent_get("127.0.0.1", mon_http_port(unauthorized.srv), "tok",
                                   "/v1/services", 2000, 4096, &status, &body, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(status, 401);
    assert_string_equal(why, "token rejected (HTTP 401)");
    free(body);
    body = NULL;
    assert_int_equal(agg_agent_get("127.0.0.1", mon_http_port(good.srv), "tok", "/v1/services",
                                   2000, 16, &status, &body, why, sizeof(why)),
                     MON_ETOOBIG);
    assert_null(body);
    assert_int_equal(agg_agent_get("127.0.0.1", 1, "tok", "/v1/services", 2000, 4096, &status,
                                   &body, why, sizeof(why)),
                     MON_EIO);
    assert_string_equal(why, "connection refused");
    agent_stop(&good);
    agent_stop(&unauthorized);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls_and_error_texts),
        cmocka_unit_test(test_blocking_get),
        cmocka_unit_test(test_errors_are_isolated),
        cmocka_unit_test(test_errors_are_isolated_simple_io),
        cmocka_unit_test(test_stall_is_not_a_timeout),
        cmocka_unit_test(test_socket_budget),
        cmocka_unit_test(test_rate_and_late_polls),
        cmocka_unit_test(test_remove_in_flight_and_disable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
