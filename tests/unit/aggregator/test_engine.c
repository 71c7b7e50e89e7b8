/* SPDX-License-Identifier: MIT */
/* The whole engine on a temporary SQLite file against an in-process agent: live views,
 * health, checkpointed history, server changes, a bounded stop, and a restart that detects
 * the agent going away exactly once. */
#include "aggregator/engine.h"
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http.h"

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_os.h"

#define REPLY                                                                                      \
    "{\"node_id\":\"a\",\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":42,\"mem\":{\"used_bytes\":1," \
    "\"total_bytes\":2,\"used_pct\":50},\"disks\":[{\"mount\":\"/\",\"used_bytes\":1,"             \
    "\"total_bytes\":4,\"used_pct\":25}],\"gpus\":[],\"services\":[{\"name\":\"x.service\","       \
    "\"active_state\":\"active\",\"sub_state\":\"running\"}]}"

static void handler(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    const char *token = mon_http_bearer(req);
    (void)ctx;
    if (!token || strcmp(token, "tok") != 0) {
        mon_http_error(resp, 401, "invalid token");
        return;
    }
    mon_http_body(resp, 200, "application/json", strdup(REPLY), strlen(REPLY));
}

static int64_t insert(struct agg_store *st, const char *name, int port, char **units, size_t n)
{
    struct agg_server s = {.name = (char *)name,
                           .host = "127.0.0.1",
                           .port = port,
                           .token = "tok",
                           .services = units,
                           .n_services = n,
                           .enabled = true,
                           .last_seen_at = -1,
                           .last_online = -1};
    int64_t id = 0;
    assert_int_equal(agg_store_server_insert(st, &s, &id), MON_OK);
    return id;
}

static cJSON *server_view(struct agg_engine *e, int64_t id)
{
    cJSON *o = agg_engine_server_json(e, id);
    assert_non_null(o);
    return o;
}

/* Waits (≤ 10 s) until the server's status is the given one. */
static void wait_status(struct agg_engine *e, int64_t id, const char *status)
{
    int64_t deadline = mon_mono_ms() + 10000;
    for (;;) {
        cJSON *o = server_view(e, id);
        bool done = strcmp(cJSON_GetObjectItem(o, "status")->valuestring, status) == 0;
        cJSON_Delete(o);
        if (done)
            return;
        if (mon_mono_ms() > deadline)
            fail_msg("server %lld never became %s", (long long)id, status);
        mon_sleep_ms(20);
    }
}

static size_t count_events(struct agg_store *st, int64_t id, const char *type)
{
    struct agg_event *evs = NULL;
    size_t n = 0;
    assert_int_equal(agg_store_events_query(st, id, type, 0, 100, &evs, &n), MON_OK);
    free(evs);
    return n;
}

static void test_engine_end_to_end(void **state)
{
    char dir[512], path[600], why[256];
    struct mon_http_options ho = {.listen = "127.0.0.1:0", .handler = handler};
    struct mon_http_server *agent = NULL;
    struct agg_store *st = NULL;
    struct agg_engine *e = NULL;
    struct agg_engine_options eo = {.interval_ms = 200,
                                    .timeout_ms = 150,
                                    .max_response_bytes = 65536,
                                    .bucket_ms = 3600 * 1000,
                                    .checkpoint_ms = 300,
                                    .retention_days = 30};
    char *units[] = {"x.service"};
    struct agg_hourly_row row;
    struct agg_server s3;
    int64_t id1, id2, id3, t0, now_bucket;
    cJSON *o, *out = NULL;
    (void)state;

    assert_int_equal(test_make_temp_dir("agg-engine", dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/monitor.db", dir);
    eo.db_path = path;
    assert_int_equal(mon_http_start(&ho, &agent, why, sizeof(why)), MON_OK);
    assert_int_equal(agg_store_open(path, 1000, &st, why, sizeof(why)), MON_OK);
    id1 = insert(st, "srv-01", mon_http_port(agent), units, 1);
    id2 = insert(st, "srv-02", 1, NULL, 0); /* refused */

    assert_int_equal(agg_engine_start(&eo, &e, why, sizeof(why)), MON_OK);
    assert_int_equal(agg_engine_bucket_s(e), 3600);
    wait_status(e, id1, "online");
    o = server_view(e, id2);
    assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring, "offline");
    cJSON_Delete(o);
    mon_sleep_ms(500);
    o = server_view(e, id2);
    assert_string_equal(cJSON_GetObjectItem(o, "last_error")->valuestring, "connection refused");
    cJSON_Delete(o);

    o = agg_engine_health_json(e);
    assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring, "ok");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "servers"), "online")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "servers"), "total")->valueint, 2);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "poll"), "polls_completed")->valueint >=
                2);
    cJSON_Delete(o);
    assert_int_equal(agg_engine_recent_json(e, id1, "cpu_pct", &out), MON_OK);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(out, "data")) >= 2);
    cJSON_Delete(out);
    assert_int_equal(agg_engine_services_json(e, id1, &out), MON_OK);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(out, 0), "sub_state")->valuestring,
                        "running");
    cJSON_Delete(out);

    /* History: the partial bucket in memory and, after a checkpoint, in the database. */
    assert_int_equal(agg_engine_current_bucket(e, id1, &row), MON_OK);
    assert_true(row.samples >= 2);
    assert_float_equal(row.cpu_pct_avg, 42, 1e-9);
    assert_int_equal(agg_engine_current_bucket(e, id2, &row), MON_ENOENT);
    assert_int_equal(agg_engine_checkpoint_now(e), MON_OK);
    /* The writes of a first contact (last seen, unit state, service status) queued together
     * share a transaction. */
    o = agg_engine_health_json(e);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "db"), "transactions")->valuedouble >=
                1);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "db"), "transactions")->valuedouble <
                cJSON_GetObjectItem(cJSON_GetObjectItem(o, "db"), "writes")->valuedouble);
    cJSON_Delete(o);
    now_bucket = mon_utc_ms() / 1000 / 3600 * 3600;
    if (agg_store_hourly_get(st, id1, now_bucket, &row) == MON_ENOENT) /* hour just rolled */
        assert_int_equal(agg_store_hourly_get(st, id1, now_bucket - 3600, &row), MON_OK);
    assert_true(row.samples >= 2);

    /* A server added and one deleted through the API take effect. */
    id3 = insert(st, "srv-03", mon_http_port(agent), NULL, 0);
    assert_int_equal(agg_store_server_get(st, id3, &s3), MON_OK);
    agg_engine_server_upsert(e, &s3);
    agg_server_done(&s3);
    wait_status(e, id3, "online");
    assert_int_equal(agg_store_server_delete(st, id2), MON_OK);
    agg_engine_server_remove(e, id2);
    assert_null(agg_engine_server_json(e, id2));

    t0 = mon_mono_ms();
    agg_engine_stop(e);
    assert_true(mon_mono_ms() - t0 < 2000);
    /* Online was persisted; no server_up for a first contact. */
    assert_int_equal(agg_store_server_get(st, id1, &s3), MON_OK);
    assert_int_equal(s3.last_online, 1);
    assert_true(s3.last_seen_at > 0);
    agg_server_done(&s3);
    assert_int_equal(count_events(st, 0, "server_up"), 0);

    /* Restart with the agent gone: one server_down per server that was online. */
    mon_http_stop(agent);
    assert_int_equal(agg_engine_start(&eo, &e, why, sizeof(why)), MON_OK);
    t0 = mon_mono_ms();
    while (count_events(st, 0, "server_down") < 2 && mon_mono_ms() - t0 < 10000)
        mon_sleep_ms(50);
    mon_sleep_ms(600);
    assert_int_equal(count_events(st, id1, "server_down"), 1);
    assert_int_equal(count_events(st, id3, "server_down"), 1);
    agg_engine_stop(e);

    agg_store_close(st);
    test_rm_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
