/* SPDX-License-Identifier: MIT */
/* REST request parsing: server ids, /timeseries and /events query parameters (defaults, every
 * 400 message) and POST/PUT server bodies (types, unknown fields, untouched on failure). */
#include "aggregator/api_params.h"
#include "aggregator/gpu_state.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW 1768644000 /* 2026-01-17T10:00:00Z */

static void test_server_id(void **state)
{
    int64_t id = 7;
    (void)state;
    assert_int_equal(agg_api_params_server_id("42", &id), MON_OK);
    assert_int_equal(id, 42);
    assert_true(agg_api_params_server_id("0", &id) < 0);
    assert_true(agg_api_params_server_id("-3", &id) < 0);
    assert_true(agg_api_params_server_id("abc", &id) < 0);
    assert_true(agg_api_params_server_id("12x", &id) < 0);
    assert_true(agg_api_params_server_id("99999999999999999999", &id) < 0);
    assert_true(agg_api_params_server_id("", &id) < 0);
    assert_int_equal(id, 42);
}

static void test_metric(void **state)
{
    (void)state;
    assert_string_equal(agg_api_params_metric("gpu_mem_used_mb"), "gpu_mem_used_mb");
    assert_null(agg_api_params_metric("cpu"));
    assert_null(agg_api_params_metric(""));
    assert_null(agg_api_params_metric(NULL));
}

static void test_timeseries_defaults(void **state)
{
    struct agg_timeseries_params p;
    char why[256] = "";
    (void)state;
    assert_int_equal(
        agg_api_params_timeseries("cpu_pct", NULL, NULL, NULL, NOW, &p, why, sizeof(why)), MON_OK);
    assert_string_equal(p.metric, "cpu_pct");
    assert_string_equal(p.agg, "avg");
    assert_int_equal(p.to, NOW);
    assert_int_equal(p.from, NOW - 86400);
    /* empty values count as absent; from defaults to 24 h before an explicit to */
    assert_int_equal(agg_api_params_timeseries("mem_used_pct", "", "", "2026-01-10T00:00:00Z", NOW,
                                               &p, why, sizeof(why)),
                     MON_OK);
    assert_string_equal(p.agg, "avg");
    assert_int_equal(p.to, 1768003200);
    assert_int_equal(p.from, 1768003200 - 86400);
    assert_int_equal(agg_api_params_timeseries("gpu_util_pct", "max", "2026-01-01",
                                               "2026-01-02T01:00:00+01:00", NOW, &p, why,
                                               sizeof(why)),
                     MON_OK);
    assert_string_equal(p.agg, "max");
    assert_int_equal(p.from, 1767225600);
    assert_int_equal(p.to, 1767225600 + 86400);
}

static void expect_ts_error(const char *metric, const char *agg, const char *from, const char *to,
                            const char *message)
{
    struct agg_timeseries_params p = {.from = 11, .to = 22};
    char why[256] = "";
    assert_int_equal(agg_api_params_timeseries(metric, agg, from, to, NOW, &p, why, sizeof(why)),
                     MON_EINVAL);
    assert_string_equal(why, message);
    assert_int_equal(p.from, 11);
    assert_int_equal(p.to, 22);
}

static void test_timeseries_errors(void **state)
{
    (void)state;
    expect_ts_error(NULL, NULL, NULL, NULL,
                    "metric: must be one of cpu_pct, mem_used_pct, disk_used_pct, gpu_util_pct, "
                    "gpu_mem_used_mb");
    expect_ts_error("bogus", "avg", NULL, NULL,
                    "metric: must be one of cpu_pct, mem_used_pct, disk_used_pct, gpu_util_pct, "
                    "gpu_mem_used_mb");
    expect_ts_error("cpu_pct", "sum", NULL, NULL, "agg: must be avg, max or min");
    expect_ts_error("cpu_pct", NULL, "yesterday", NULL,
                    "from: 'yesterday' is not an ISO-8601 time such as 2026-01-17T10:00:00Z");
    expect_ts_error("cpu_pct", NULL, NULL, "2026-01-17T10:00:00",
                    "to: '2026-01-17T10:00:00' is not an ISO-8601 time such as "
                    "2026-01-17T10:00:00Z");
    expect_ts_error("cpu_pct", NULL, "2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z",
                    "from: must not be after to");
    expect_ts_error("cpu_pct", NULL, "2024-01-01", "2026-01-01",
                    "from: the range is limited to 400 days");
}

static void test_events(void **state)
{
    struct agg_events_params p;
    char why[256] = "";
    (void)state;
    assert_int_equal(agg_api_params_events(NULL, NULL, NULL, NULL, &p, why, sizeof(why)), MON_OK);
    assert_int_equal(p.limit, 200);
    assert_int_equal(p.server_id, 0);
    assert_int_equal(p.before, 0);
    assert_null(p.type);
    assert_int_equal(agg_api_params_events("", "", "", "", &p, why, sizeof(why)), MON_OK);
    assert_int_equal(p.limit, 200);
    assert_null(p.type);
    assert_int_equal(agg_api_params_events("1000", "3", "server_up", "17", &p, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(p.limit, 1000);
    assert_int_equal(p.server_id, 3);
    assert_int_equal(p.before, 17);
    assert_string_equal(p.type, "server_up");

    p.limit = 5;
    assert_int_equal(agg_api_params_events("0", NULL, NULL, NULL, &p, why, sizeof(why)),
                     MON_EINVAL);
    assert_string_equal(why, "limit: must be an integer from 1 to 1000");
    assert_int_equal(agg_api_params_events("1001", NULL, NULL, NULL, &p, why, sizeof(why)),
                     MON_EINVAL);
    assert_int_equal(agg_api_params_events(NULL, "x", NULL, NULL, &p, why, sizeof(why)),
                     MON_EINVAL);
    assert_string_equal(why, "server_id: must be a positive integer");
    assert_int_equal(agg_api_params_events(NULL, NULL, NULL, "-1", &p, why, sizeof(why)),
                     MON_EINVAL);
    assert_string_equal(why, "before: must be an event id (positive integer)");
    assert_int_equal(agg_api_params_events(NULL, NULL, "bogus", NULL, &p, why, sizeof(why)),
                     MON_EINVAL);
    assert_string_equal(why, "type: unknown event type");
    assert_int_equal(p.limit, 5);
    for (const char *const *t =
             (const char *const[]){"gpu_error", "gpu_recovered", "gpu_idle", NULL};
         *t; t++) {
        assert_int_equal(agg_api_params_events(NULL, NULL, *t, NULL, &p, why, sizeof(why)), MON_OK);
        assert_string_equal(p.type, *t);
    }
}

static void test_gpus(void **state)
{
    int st = 99;
    int64_t id = 99;
    char why[256] = "";
    (void)state;
    assert_int_equal(agg_api_params_gpus(NULL, NULL, &st, &id, why, sizeof(why)), MON_OK);
    assert_int_equal(st, -1);
    assert_int_equal(id, 0);
    assert_int_equal(agg_api_params_gpus("", "", &st, &id, why, sizeof(why)), MON_OK);
    assert_int_equal(st, -1);
    assert_int_equal(agg_api_params_gpus("free", "12", &st, &id, why, sizeof(why)), MON_OK);
    assert_int_equal(st, AGG_GPU_FREE);
    assert_int_equal(id, 12);
    assert_int_equal(agg_api_params_gpus("unknown", NULL, &st, &id, why, sizeof(why)), MON_OK);
    assert_int_equal(st, AGG_GPU_UNKNOWN);
    st = 7;
    id = 7;
    assert_int_equal(agg_api_params_gpus("Free", NULL, &st, &id, why, sizeof(why)), MON_EINVAL);
    assert_string_equal(why, "state: must be one of free, busy, idle, error, unknown");
    assert_int_equal(agg_api_params_gpus("free&x", NULL, &st, &id, why, sizeof(why)), MON_EINVAL);
    assert_int_equal(agg_api_params_gpus(NULL, "0", &st, &id, why, sizeof(why)), MON_EINVAL);
    assert_string_equal(why, "server_id: must be a positive integer");
    assert_int_equal(agg_api_params_gpus(NULL, "1e3", &st, &id, why, sizeof(why)), MON_EINVAL);
    assert_int_equal(agg_api_params_gpus(NULL, "99999999999999999999", &st, &id, why, sizeof(why)),
                     MON_EINVAL);
    assert_int_equal(st, 7);
    assert_int_equal(id, 7);
}

/* Applies body with create semantics to a fresh default; returns the result code. */
static int apply(const char *body, bool create, struct agg_server *s, char **field, char *msg)
{
    return agg_api_params_server_body(body, body ? strlen(body) : 0, create, s, field, msg, 160);
}

static void test_body_create(void **state)
{
    struct agg_server s = {.port = 9109, .enabled = true, .last_seen_at = -1};
    char msg[160], *field = (char *)"x";
    (void)state;
    assert_int_equal(apply("{\"name\":\"a\",\"host\":\"10.0.0.1\",\"agent_port\":9200,"
                           "\"token\":\"tok\",\"services\":[\"nginx.service\",\"x.timer\"],"
                           "\"enabled\":false,\"id\":99}",
                           true, &s, &field, msg),
                     MON_OK);
    assert_null(field);
    assert_string_equal(s.name, "a");
    assert_string_equal(s.host, "10.0.0.1");
    assert_int_equal(s.port, 9200);
    assert_string_equal(s.token, "tok");
    assert_int_equal(s.n_services, 2);
    assert_string_equal(s.services[1], "x.timer");
    assert_false(s.enabled);
    assert_int_equal(s.last_seen_at, -1);
    agg_server_done(&s);

    /* create without a token: the token field is named */
    s = (struct agg_server){.port = 9109};
    assert_int_equal(apply("{\"name\":\"a\",\"host\":\"h\"}", true, &s, &field, msg), MON_EINVAL);
    assert_string_equal(field, "token");
    assert_string_equal(msg, "required: the token from the agent's config.yaml");
    assert_null(s.name); /* untouched */
    free(field);
}

static void expect_body_error(const char *body, const char *want_field, const char *want_msg)
{
    struct agg_server s = {.port = 1234, .enabled = true};
    char msg[160] = "", *field = NULL;
    s.name = strdup("stored");
    s.token = strdup("stored-token");
    assert_int_equal(apply(body, false, &s, &field, msg), MON_EINVAL);
    if (want_field)
        assert_string_equal(field, want_field);
    else
        assert_null(field);
    assert_string_equal(msg, want_msg);
    /* nothing applied */
    assert_string_equal(s.name, "stored");
    assert_string_equal(s.token, "stored-token");
    assert_int_equal(s.port, 1234);
    assert_true(s.enabled);
    assert_int_equal(s.n_services, 0);
    free(field);
    agg_server_done(&s);
}

static void test_body_errors(void **state)
{
    (void)state;
    expect_body_error(NULL, NULL, "a JSON object body is required");
    expect_body_error("", NULL, "a JSON object body is required");
    expect_body_error("[1]", NULL, "body is not a JSON object");
    expect_body_error("{\"name\":", NULL, "body is not a JSON object");
    expect_body_error("{\"name\":\"new\",\"colour\":1}", "colour", "unknown field");
    expect_body_error("{\"name\":1}", "name", "must be a string");
    expect_body_error("{\"host\":null}", "host", "must be a string");
    expect_body_error("{\"agent_port\":\"80\"}", "agent_port",
                      "must be an integer from 1 to 65535");
    expect_body_error("{\"agent_port\":0}", "agent_port", "must be an integer from 1 to 65535");
    expect_body_error("{\"agent_port\":65536}", "agent_port", "must be an integer from 1 to 65535");
    expect_body_error("{\"agent_port\":80.5}", "agent_port", "must be an integer from 1 to 65535");
    /* outside int's range: rejected without converting (undefined behaviour) */
    expect_body_error("{\"agent_port\":1e10}", "agent_port", "must be an integer from 1 to 65535");
    expect_body_error("{\"agent_port\":-1e400}", "agent_port",
                      "must be an integer from 1 to 65535");
    expect_body_error("{\"name\":\"new\",\"token\":5}", "token", "must be a string");
    expect_body_error("{\"enabled\":\"false\",\"agent_port\":80}", "enabled",
                      "must be true or false");
    expect_body_error("{\"services\":\"nginx.service\"}", "services",
                      "must be a list of at most 64 unit names");
    expect_body_error("{\"services\":[\"a.service\",7]}", "services",
                      "must contain only unit names (strings)");
}

static void test_body_update(void **state)
{
    struct agg_server s = {.id = 5, .port = 1234, .enabled = true};
    char msg[160], *field = NULL;
    (void)state;
    s.name = strdup("old");
    s.token = strdup("stored-token");
    s.services = calloc(2, sizeof(char *));
    s.services[0] = strdup("a.service");
    s.n_services = 1;
    /* an empty token keeps the stored one; services are replaced as a whole */
    assert_int_equal(
        apply("{\"name\":\"new\",\"token\":\"\",\"services\":[]}", false, &s, &field, msg), MON_OK);
    assert_string_equal(s.name, "new");
    assert_string_equal(s.token, "stored-token");
    assert_int_equal(s.n_services, 0);
    assert_int_equal(s.id, 5);
    assert_int_equal(s.port, 1234);
    assert_int_equal(apply("{\"token\":\"fresh\"}", false, &s, &field, msg), MON_OK);
    assert_string_equal(s.token, "fresh");
    agg_server_done(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_id),
        cmocka_unit_test(test_metric),
        cmocka_unit_test(test_timeseries_defaults),
        cmocka_unit_test(test_timeseries_errors),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_gpus),
        cmocka_unit_test(test_body_create),
        cmocka_unit_test(test_body_errors),
        cmocka_unit_test(test_body_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
