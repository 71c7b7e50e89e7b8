/* SPDX-License-Identifier: MIT */
/* Live state with a fake clock: the offline rule, the events without
 * duplicates across restarts, persisted states, service_status rows, the one-hour ring and
 * the JSON views. */
#include "aggregator/sample.h"
#include "aggregator/state.h"
#include "common/buf.h"
#include "common/err.h"

#include "writer_capture.h"

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define T0_UTC  1768644000000LL /* 2026-01-17T10:00:00Z */
#define T0_MONO 1000000LL
#define IV      5000
#define TIMEOUT 2000
#define THRESH  (2 * IV + TIMEOUT)

static struct capture cap;

static int setup(void **state)
{
    (void)state;
    capture_start(&cap);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    capture_stop(&cap);
    return 0;
}

static struct agg_state *new_state(void)
{
    struct agg_state_options o = {
        .interval_ms = IV, .timeout_ms = TIMEOUT, .bucket_s = 3600, .writer = cap.writer};
    struct agg_state *st = NULL;
    assert_int_equal(agg_state_new(&o, &st), MON_OK);
    assert_non_null(st);
    return st;
}

static char *svc_list[] = {"nginx.service", "myapp.service"};

static void add_server(struct agg_state *st, int64_t id, int last_online, size_t n_services)
{
    struct agg_server s = {.id = id,
                           .name = "srv-01",
                           .host = "10.0.0.1",
                           .port = 9109,
                           .token = "tok",
                           .services = svc_list,
                           .n_services = n_services,
                           .enabled = true,
                           .last_seen_at = last_online >= 0 ? 1768600000 : -1,
                           .last_online = last_online};
    assert_int_equal(agg_state_server_upsert(st, &s, T0_MONO), MON_OK);
}

/* A sample with the given CPU and nginx state ("" for no services array). */
static struct agg_sample *sample(double cpu, const char *nginx)
{
    char body[1024], why[128];
    struct agg_sample *s = NULL;
    char services[300] = "";
    if (nginx[0])
        snprintf(services, sizeof(services),
                 ",\"services\":[{\"name\":\"nginx.service\",\"active_state\":\"%s\","
                 "\"sub_state\":\"x\"}]",
                 nginx);
    snprintf(body, sizeof(body),
             "{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":%g,\"mem\":{\"used_bytes\":1,"
             "\"total_bytes\":4,\"used_pct\":25},\"disks\":[{\"mount\":\"/\",\"used_bytes\":5,"
             "\"total_bytes\":10,\"used_pct\":50}],\"gpus\":[]%s}",
             cpu, services);
    assert_int_equal(agg_sample_parse(body, strlen(body), &s, why, sizeof(why)), MON_OK);
    return s;
}

/* A poll result: the state copies the sample, the test frees it. */
static int poll_ok(struct agg_state *st, int64_t id, struct agg_sample *s, int64_t utc,
                   int64_t mono)
{
    int r = agg_state_poll_ok(st, id, s, utc, mono);
    agg_sample_free(s);
    return r;
}

static const char *last_event_message(void)
{
    const struct agg_write_job *j = capture_last(&cap, AGG_JOB_EVENT);
    return j ? j->u.event.message : "";
}

static void test_first_contact_and_offline(void **state)
{
    struct agg_state *st = new_state();
    const struct agg_write_job *j;
    (void)state;
    capture_clear(&cap);
    add_server(st, 1, -1, 0);
    /* Never seen: unreachable for a long time emits nothing. */
    agg_state_poll_fail(st, 1, "connection refused", T0_UTC, T0_MONO);
    agg_state_tick(st, T0_UTC + 60000, T0_MONO + 60000);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, NULL), 0);
    /* First success: no server_up, but online=1 is persisted. */
    assert_int_equal(poll_ok(st, 1, sample(10, ""), T0_UTC + 61000, T0_MONO + 61000), MON_OK);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, NULL), 0);
    j = capture_last(&cap, AGG_JOB_SERVER_SEEN);
    assert_non_null(j);
    assert_int_equal(j->u.seen.online, 1);
    assert_int_equal(j->u.seen.last_seen_at, (T0_UTC + 61000) / 1000);
    /* Exactly at the threshold it is still online; 1 ms later it is offline. */
    agg_state_poll_fail(st, 1, "connection refused", T0_UTC + 66000, T0_MONO + 66000);
    agg_state_tick(st, T0_UTC + 61000 + THRESH, T0_MONO + 61000 + THRESH);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, NULL), 0);
    agg_state_tick(st, T0_UTC + 61001 + THRESH, T0_MONO + 61001 + THRESH);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "server_down"), 1);
    assert_string_equal(last_event_message(), "Server srv-01 went offline: connection refused");
    j = capture_last(&cap, AGG_JOB_SERVER_SEEN);
    assert_int_equal(j->u.seen.online, 0);
    assert_int_equal(j->u.seen.last_seen_at, -1);
    /* Further ticks do not repeat it; the next success is a server_up. */
    agg_state_tick(st, T0_UTC + 200000, T0_MONO + 200000);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "server_down"), 1);
    poll_ok(st, 1, sample(10, ""), T0_UTC + 201000, T0_MONO + 201000);
    poll_ok(st, 1, sample(10, ""), T0_UTC + 206000, T0_MONO + 206000);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "server_up"), 1);
    assert_string_equal(last_event_message(), "Server srv-01 came back online");
    assert_int_equal(capture_last(&cap, AGG_JOB_EVENT)->u.event.server_id, 1);
    agg_state_free(st);
}

static void test_restart_states(void **state)
{
    struct agg_state *st = new_state();
    (void)state;
    capture_clear(&cap);
    /* Persisted online, unreachable after the restart: server_down after the threshold. */
    add_server(st, 1, 1, 0);
    agg_state_poll_fail(st, 1, "connection refused", T0_UTC + 1000, T0_MONO + 1000);
    /* Persisted offline and still down: nothing. Persisted offline and answering: server_up. */
    add_server(st, 2, 0, 0);
    add_server(st, 3, 0, 0);
    /* Persisted online and answering: nothing. */
    add_server(st, 4, 1, 0);
    poll_ok(st, 3, sample(1, ""), T0_UTC + 1000, T0_MONO + 1000);
    poll_ok(st, 4, sample(1, ""), T0_UTC + 1000, T0_MONO + 1000);
    agg_state_tick(st, T0_UTC + THRESH, T0_MONO + THRESH);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, NULL), 1);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "server_up"), 1);
    poll_ok(st, 4, sample(1, ""), T0_UTC + THRESH, T0_MONO + THRESH);
    agg_state_tick(st, T0_UTC + THRESH + 1, T0_MONO + THRESH + 1);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "server_down"), 1);
    assert_string_equal(last_event_message(), "Server srv-01 went offline: connection refused");
    assert_int_equal(capture_last(&cap, AGG_JOB_EVENT)->u.event.server_id, 1);
    agg_state_free(st);
}

/* Issue 12: a server is down only when its own poll failed. One we did not get round to
 * polling (the aggregator overloaded) stays online however long it waits, and goes offline
 * at once when a poll does fail past the threshold. */
static void test_not_polled_is_not_down(void **state)
{
    struct agg_state *st = new_state();
    struct agg_state_counts c;
    cJSON *arr;
    (void)state;
    capture_clear(&cap);
    add_server(st, 1, 1, 0);
    add_server(st, 2, 1, 0);
    assert_int_equal(poll_ok(st, 1, sample(1, ""), T0_UTC, T0_MONO), MON_OK);
    assert_int_equal(poll_ok(st, 2, sample(1, ""), T0_UTC, T0_MONO), MON_OK);
    for (int64_t t = 0; t <= 10 * THRESH; t += 250)
        agg_state_tick(st, T0_UTC + t, T0_MONO + t);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, NULL), 0);
    arr = agg_state_servers_json(st, T0_MONO + 10 * THRESH);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "status")->valuestring,
                        "online");
    cJSON_Delete(arr);
    agg_state_get_counts(st, T0_MONO + 10 * THRESH, &c);
    assert_int_equal(c.online, 2);
    /* Its own poll fails: offline and server_down at once (the threshold has long passed). */
    agg_state_poll_fail(st, 2, "timeout", T0_UTC + 10 * THRESH, T0_MONO + 10 * THRESH);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "server_down"), 1);
    assert_string_equal(last_event_message(), "Server srv-01 went offline: timeout");
    agg_state_get_counts(st, T0_MONO + 10 * THRESH, &c);
    assert_int_equal(c.online, 1);
    assert_int_equal(c.by_status[AGG_STATUS_OFFLINE], 1);
    /* A failure before the threshold is only remembered: down once the threshold passes. */
    assert_int_equal(poll_ok(st, 1, sample(1, ""), T0_UTC + 200000, T0_MONO + 200000), MON_OK);
    agg_state_poll_fail(st, 1, "timeout", T0_UTC + 205000, T0_MONO + 205000);
    agg_state_tick(st, T0_UTC + 200000 + THRESH, T0_MONO + 200000 + THRESH);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "server_down"), 1);
    agg_state_tick(st, T0_UTC + 200001 + THRESH, T0_MONO + 200001 + THRESH);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "server_down"), 2);
    agg_state_free(st);
}

static void test_last_seen_persisted_once_a_minute(void **state)
{
    struct agg_state *st = new_state();
    (void)state;
    capture_clear(&cap);
    add_server(st, 1, 1, 0);
    for (int i = 0; i < 24; i++) /* two minutes of polls */
        poll_ok(st, 1, sample(1, ""), T0_UTC + i * IV, T0_MONO + i * IV);
    /* The persisted value is older than a minute at the first poll, then once a minute. */
    assert_int_equal(capture_count(&cap, AGG_JOB_SERVER_SEEN, NULL), 2);
    capture_clear(&cap);
    agg_state_persist_seen(st);
    assert_int_equal(capture_count(&cap, AGG_JOB_SERVER_SEEN, NULL), 1);
    assert_int_equal(capture_last(&cap, AGG_JOB_SERVER_SEEN)->u.seen.last_seen_at,
                     (T0_UTC + 23 * IV) / 1000);
    agg_state_free(st);
}

static void test_service_events(void **state)
{
    struct agg_state *st = new_state();
    struct agg_unit_state seeded = {
        .name = "nginx.service", .active_state = "failed", .sub_state = "failed", .since = -1};
    int64_t t = T0_UTC + 1000, m = T0_MONO + 1000;
    (void)state;
    capture_clear(&cap);
    add_server(st, 1, 1, 2);
    /* First sight of a unit: no event, state persisted, one status row (bucket boundary). */
    poll_ok(st, 1, sample(1, "active"), t, m);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, NULL), 0);
    assert_int_equal(capture_count(&cap, AGG_JOB_UNIT_STATE, NULL), 1);
    assert_int_equal(capture_count(&cap, AGG_JOB_SERVICE_STATUS, NULL), 1);
    /* Same state within the bucket: nothing new. */
    poll_ok(st, 1, sample(1, "active"), t + 5000, m + 5000);
    assert_int_equal(capture_count(&cap, AGG_JOB_SERVICE_STATUS, NULL), 1);
    /* active -> deactivating -> failed: one service_failed. */
    poll_ok(st, 1, sample(1, "deactivating"), t + 10000, m + 10000);
    poll_ok(st, 1, sample(1, "failed"), t + 15000, m + 15000);
    poll_ok(st, 1, sample(1, "failed"), t + 20000, m + 20000);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "service_failed"), 1);
    assert_string_equal(last_event_message(), "Service nginx.service on srv-01 failed");
    assert_int_equal(capture_count(&cap, AGG_JOB_SERVICE_STATUS, NULL), 3);
    /* failed -> activating -> active: one service_recovered. */
    poll_ok(st, 1, sample(1, "activating"), t + 25000, m + 25000);
    poll_ok(st, 1, sample(1, "active"), t + 30000, m + 30000);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "service_recovered"), 1);
    assert_string_equal(last_event_message(), "Service nginx.service on srv-01 recovered");
    assert_string_equal(capture_last(&cap, AGG_JOB_UNIT_STATE)->u.unit.active_state, "active");
    /* The next bucket writes one row per unit even without a change. */
    poll_ok(st, 1, sample(1, "active"), T0_UTC + 3600000, m + 3600000);
    assert_int_equal(capture_count(&cap, AGG_JOB_SERVICE_STATUS, NULL), 6);
    agg_state_free(st);

    /* Restart with the persisted state "failed": still failed is no new event. */
    capture_clear(&cap);
    st = new_state();
    add_server(st, 1, 1, 2);
    assert_int_equal(agg_state_seed_units(st, 1, &seeded, 1), MON_OK);
    assert_int_equal(agg_state_seed_units(st, 99, &seeded, 1), MON_ENOENT);
    poll_ok(st, 1, sample(1, "failed"), t, m);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, NULL), 0);
    assert_int_equal(capture_count(&cap, AGG_JOB_UNIT_STATE, NULL), 0);
    poll_ok(st, 1, sample(1, "active"), t + 5000, m + 5000);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, "service_recovered"), 1);
    agg_state_free(st);

    /* A unit the server does not watch (only myapp.service here) is ignored: no state, no
     * service_status row, no event, however often it changes. */
    capture_clear(&cap);
    st = new_state();
    svc_list[0] = "myapp.service";
    add_server(st, 1, 1, 1);
    svc_list[0] = "nginx.service";
    poll_ok(st, 1, sample(1, "active"), t, m);
    poll_ok(st, 1, sample(1, "failed"), t + 5000, m + 5000);
    assert_int_equal(capture_count(&cap, AGG_JOB_UNIT_STATE, NULL), 0);
    assert_int_equal(capture_count(&cap, AGG_JOB_SERVICE_STATUS, NULL), 0);
    assert_int_equal(capture_count(&cap, AGG_JOB_EVENT, NULL), 0);
    agg_state_free(st);
}

static cJSON *find_server(cJSON *arr, int id)
{
    cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        if (cJSON_GetObjectItem(o, "id")->valuedouble == id)
            return o;
    }
    return NULL;
}

static void test_json_views(void **state)
{
    struct agg_state *st = new_state();
    struct agg_server off = {.id = 2,
                             .name = "srv-02",
                             .host = "10.0.0.2",
                             .port = 9109,
                             .token = "",
                             .enabled = false,
                             .last_seen_at = -1,
                             .last_online = -1};
    cJSON *arr, *o, *latest, *detail, *out = NULL;
    char *text;
    (void)state;
    add_server(st, 1, -1, 2);
    agg_state_server_upsert(st, &off, T0_MONO);
    poll_ok(st, 1, sample(23.44, "active"), T0_UTC, T0_MONO);
    arr = agg_state_servers_json(st, T0_MONO + 1000);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    text = cJSON_PrintUnformatted(arr);
    assert_null(strstr(text, "tok\"")); /* never the token */
    free(text);
    o = find_server(arr, 1);
    assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring, "online");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "online")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "token_set")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "last_error")));
    assert_string_equal(cJSON_GetObjectItem(o, "last_seen_at")->valuestring,
                        "2026-01-17T10:00:00Z");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "services")), 2);
    latest = cJSON_GetObjectItem(o, "latest");
    assert_float_equal(cJSON_GetObjectItem(latest, "cpu_pct")->valuedouble, 23.4, 1e-9);
    assert_float_equal(cJSON_GetObjectItem(latest, "disk_used_pct")->valuedouble, 50, 1e-9);
    assert_float_equal(cJSON_GetObjectItem(latest, "disk_total_bytes")->valuedouble, 10, 1e-9);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(latest, "gpu_util_pct")));
    assert_int_equal(cJSON_GetObjectItem(latest, "gpu_count")->valueint, 0);
    o = find_server(arr, 2);
    assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring, "disabled");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "latest")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "last_seen_at")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "token_set")));
    cJSON_Delete(arr);

    /* Past the threshold: offline, the last sample is kept. */
    agg_state_poll_fail(st, 1, "timeout", T0_UTC + 13000, T0_MONO + 13000);
    arr = agg_state_servers_json(st, T0_MONO + THRESH + 1);
    o = find_server(arr, 1);
    assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring, "offline");
    assert_string_equal(cJSON_GetObjectItem(o, "last_error")->valuestring, "timeout");
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(o, "latest")));
    cJSON_Delete(arr);

    detail = agg_state_server_json(st, 1, T0_MONO);
    assert_non_null(detail);
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(detail, "agent")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(detail, "agent"), "node_id")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(detail, "disks")), 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(detail, "gpus")), 0);
    o = cJSON_GetArrayItem(cJSON_GetObjectItem(detail, "service_states"), 1);
    assert_string_equal(cJSON_GetObjectItem(o, "name")->valuestring, "myapp.service");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "active_state")));
    cJSON_Delete(detail);
    assert_null(agg_state_server_json(st, 42, T0_MONO));

    assert_int_equal(agg_state_services_json(st, 1, &out), MON_OK);
    o = cJSON_GetArrayItem(out, 0);
    assert_string_equal(cJSON_GetObjectItem(o, "active_state")->valuestring, "active");
    cJSON_Delete(out);
    assert_int_equal(agg_state_services_json(st, 2, &out), MON_OK);
    assert_int_equal(cJSON_GetArraySize(out), 0);
    cJSON_Delete(out);
    assert_int_equal(agg_state_services_json(st, 3, &out), MON_ENOENT);

    /* Degraded: online with a degraded sample. */
    {
        static const char body[] = "{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":1,\"disks\":[],"
                                   "\"gpus\":[],\"health\":\"degraded\"}";
        struct agg_sample *s = NULL;
        char why[64];
        assert_int_equal(agg_sample_parse(body, sizeof(body) - 1, &s, why, sizeof(why)), MON_OK);
        poll_ok(st, 1, s, T0_UTC + 20000, T0_MONO + 20000);
        arr = agg_state_servers_json(st, T0_MONO + 20000);
        assert_string_equal(cJSON_GetObjectItem(find_server(arr, 1), "status")->valuestring,
                            "degraded");
        cJSON_Delete(arr);
    }
    {
        struct agg_state_counts c;
        agg_state_get_counts(st, T0_MONO + 20000, &c);
        assert_int_equal(c.total, 2);
        assert_int_equal(c.enabled, 1);
        assert_int_equal(c.online, 1);
    }
    agg_state_free(st);
    capture_clear(&cap);
}

/* Lists the ids of a list query as "1,2,3" and checks the text is valid JSON. */
static void list_ids(struct agg_state *st, const struct agg_list_query *q, char *out, size_t len,
                     size_t *matched)
{
    struct mon_buf b;
    cJSON *arr, *o;
    size_t n = 0;
    mon_buf_init(&b, 1 << 20);
    assert_int_equal(agg_state_list_json(st, q, T0_MONO, &b, matched), MON_OK);
    arr = cJSON_Parse(b.data);
    assert_non_null(arr);
    out[0] = '\0';
    cJSON_ArrayForEach(o, arr)
    {
        const cJSON *id = cJSON_GetObjectItem(o, "id");
        n += (size_t)snprintf(out + n, len - n, "%s%d", n ? "," : "", id ? id->valueint : -1);
    }
    cJSON_Delete(arr);
    mon_buf_done(&b);
}

static void test_list_query(void **state)
{
    static const char *names[] = {"srv-10", "srv-2", "gpu \"box\"\\\n", "Srv-1", "db"};
    static const double cpus[] = {50, 90, 10, -1, 70};
    struct agg_state *st = new_state();
    struct agg_list_query q = {.status = -1};
    struct agg_server s = {.host = "10.0.0.1",
                           .port = 9109,
                           .token = "t",
                           .enabled = true,
                           .last_seen_at = -1,
                           .last_online = -1};
    struct mon_buf b;
    char ids[128];
    size_t matched = 0;
    cJSON *arr, *o;
    (void)state;
    for (int i = 0; i < 5; i++) {
        s.id = i + 1;
        s.name = (char *)names[i];
        s.enabled = i != 4;
        agg_state_server_upsert(st, &s, T0_MONO);
        if (cpus[i] >= 0 && i != 4)
            poll_ok(st, i + 1, sample(cpus[i], ""), T0_UTC, T0_MONO);
    }
    list_ids(st, &q, ids, sizeof(ids), &matched);
    assert_string_equal(ids, "1,2,3,4,5");
    assert_int_equal(matched, 5);
    q.sort = AGG_SORT_NAME; /* natural order, letters without case */
    list_ids(st, &q, ids, sizeof(ids), &matched);
    assert_string_equal(ids, "5,3,4,2,1");
    q.sort = AGG_SORT_CPU; /* highest first, none last (the disabled one has no sample) */
    list_ids(st, &q, ids, sizeof(ids), &matched);
    assert_string_equal(ids, "2,1,3,5,4");
    q.sort = AGG_SORT_STATUS; /* offline, online (by name), disabled */
    list_ids(st, &q, ids, sizeof(ids), &matched);
    assert_string_equal(ids, "4,3,2,1,5");
    /* The name order kept between requests follows a rename, an addition and a removal. */
    s.enabled = true;
    s.id = 2;
    s.name = "srv-11";
    agg_state_server_upsert(st, &s, T0_MONO);
    s.id = 6;
    s.name = "a";
    agg_state_server_upsert(st, &s, T0_MONO);
    q.sort = AGG_SORT_NAME;
    list_ids(st, &q, ids, sizeof(ids), &matched);
    assert_string_equal(ids, "6,5,3,4,1,2");
    agg_state_server_remove(st, 6);
    s.id = 2;
    s.name = (char *)names[1];
    agg_state_server_upsert(st, &s, T0_MONO);
    q.sort = AGG_SORT_STATUS;
    q.status = AGG_STATUS_ONLINE;
    list_ids(st, &q, ids, sizeof(ids), &matched);
    assert_string_equal(ids, "3,2,1");
    q.q = "SRV";
    q.offset = 1;
    q.limit = 1;
    list_ids(st, &q, ids, sizeof(ids), &matched);
    assert_string_equal(ids, "1");
    assert_int_equal(matched, 2);
    q = (struct agg_list_query){.status = -1, .offset = 3, .limit = 10};
    list_ids(st, &q, ids, sizeof(ids), &matched);
    assert_string_equal(ids, "4,5");
    assert_int_equal(matched, 5);
    q.offset = 9;
    list_ids(st, &q, ids, sizeof(ids), &matched);
    assert_string_equal(ids, "");
    q = (struct agg_list_query){.status = AGG_STATUS_DEGRADED, .sort = AGG_SORT_NAME};
    list_ids(st, &q, ids, sizeof(ids), &matched); /* nothing matches: nothing to sort */
    assert_string_equal(ids, "");
    assert_int_equal(matched, 0);

    /* Fields, and names that need escaping come back intact. */
    q = (struct agg_list_query){.status = -1, .fields = AGG_FIELD_NAME | AGG_FIELD_LATEST};
    mon_buf_init(&b, 1 << 20);
    assert_int_equal(agg_state_list_json(st, &q, T0_MONO, &b, &matched), MON_OK);
    arr = cJSON_Parse(b.data);
    o = cJSON_GetArrayItem(arr, 2);
    assert_int_equal(cJSON_GetArraySize(o), 2);
    assert_string_equal(cJSON_GetObjectItem(o, "name")->valuestring, names[2]);
    assert_float_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "latest"), "cpu_pct")->valuedouble, 10, 1e-9);
    assert_null(cJSON_GetObjectItem(o, "id"));
    cJSON_Delete(arr);
    mon_buf_done(&b);
    agg_state_free(st);
    capture_clear(&cap);
}

static void test_recent_ring(void **state)
{
    struct agg_state *st = new_state();
    cJSON *out = NULL, *data;
    (void)state;
    add_server(st, 1, -1, 0);
    /* 800 polls (more than the 720-entry ring) over 66 minutes. */
    for (int i = 0; i < 800; i++)
        poll_ok(st, 1, sample(i % 100, ""), T0_UTC + (int64_t)i * IV, T0_MONO + (int64_t)i * IV);
    assert_int_equal(agg_state_recent_json(st, 1, "cpu_pct", T0_UTC + 799LL * IV, &out), MON_OK);
    assert_float_equal(cJSON_GetObjectItem(out, "interval_s")->valuedouble, 5, 1e-9);
    data = cJSON_GetObjectItem(out, "data");
    assert_int_equal(cJSON_GetArraySize(data), 720);
    assert_float_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 719), "value")->valuedouble,
                       (799 % 100), 1e-9);
    assert_float_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 0), "value")->valuedouble,
                       (80 % 100), 1e-9);
    cJSON_Delete(out);
    /* An hour later only the newest points remain. */
    assert_int_equal(
        agg_state_recent_json(st, 1, "gpu_util_pct", T0_UTC + 799LL * IV + 3590000, &out), MON_OK);
    data = cJSON_GetObjectItem(out, "data");
    assert_int_equal(cJSON_GetArraySize(data), 3);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 0), "value")));
    cJSON_Delete(out);
    assert_int_equal(agg_state_recent_json(st, 1, "bogus", T0_UTC, &out), MON_EINVAL);
    assert_int_equal(agg_state_recent_json(st, 9, "cpu_pct", T0_UTC, &out), MON_ENOENT);
    agg_state_free(st);
    capture_clear(&cap);
}

static void test_upsert_and_remove(void **state)
{
    struct agg_state *st = new_state();
    struct agg_server s = {.id = 1,
                           .name = "renamed",
                           .host = "10.0.0.1",
                           .port = 9109,
                           .token = "tok",
                           .enabled = true,
                           .last_seen_at = -1,
                           .last_online = -1};
    cJSON *o;
    (void)state;
    add_server(st, 1, -1, 0);
    poll_ok(st, 1, sample(5, ""), T0_UTC, T0_MONO);
    /* A rename keeps the sample; a new host clears it. */
    agg_state_server_upsert(st, &s, T0_MONO);
    o = agg_state_server_json(st, 1, T0_MONO);
    assert_string_equal(cJSON_GetObjectItem(o, "name")->valuestring, "renamed");
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(o, "latest")));
    cJSON_Delete(o);
    s.host = "10.0.0.9";
    agg_state_server_upsert(st, &s, T0_MONO);
    o = agg_state_server_json(st, 1, T0_MONO);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "latest")));
    cJSON_Delete(o);
    agg_state_server_remove(st, 1);
    assert_null(agg_state_server_json(st, 1, T0_MONO));
    assert_int_equal(poll_ok(st, 1, sample(5, ""), T0_UTC, T0_MONO), MON_ENOENT);
    agg_state_free(st);
    capture_clear(&cap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_contact_and_offline),
        cmocka_unit_test(test_restart_states),
        cmocka_unit_test(test_not_polled_is_not_down),
        cmocka_unit_test(test_last_seen_persisted_once_a_minute),
        cmocka_unit_test(test_service_events),
        cmocka_unit_test(test_json_views),
        cmocka_unit_test(test_list_query),
        cmocka_unit_test(test_recent_ring),
        cmocka_unit_test(test_upsert_and_remove),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
