/* SPDX-License-Identifier: MIT */
/* The GPU part of the live state with a fake clock: records matched to the GPUs of each sample,
 * gpu_error / gpu_recovered / gpu_idle events with their texts (once each, none again after a
 * restart from the persisted records), gpu_idle switched off, and the JSON views (/api/gpus with
 * summary and filters, unknown while offline, latest.gpu_free_count, the detail fields). */
#include "aggregator/sample.h"
#include "aggregator/state.h"
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
#define IDLE_MS 60000

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

static struct agg_state *new_state(bool idle_events)
{
    struct agg_state_options o = {
        .interval_ms = IV,
        .timeout_ms = 2000,
        .bucket_s = 3600,
        .writer = cap.writer,
        .gpu = {.free_mem_mb = 512, .busy_util_pct = 10, .idle_after_ms = IDLE_MS},
        .gpu_idle_events = idle_events};
    struct agg_state *st = NULL;
    assert_int_equal(agg_state_new(&o, &st), MON_OK);
    assert_non_null(st);
    return st;
}

static void add_server(struct agg_state *st, int64_t id, const char *name)
{
    struct agg_server s = {.id = id,
                           .name = (char *)name,
                           .host = "10.0.0.1",
                           .port = 9109,
                           .token = "tok",
                           .enabled = true,
                           .last_seen_at = -1,
                           .last_online = -1};
    assert_int_equal(agg_state_server_upsert(st, &s, T0_MONO), MON_OK);
}

/* A sample whose "gpus" array is gpus_json. */
static struct agg_sample *sample(const char *gpus_json)
{
    char body[8192], why[256] = "";
    struct agg_sample *s = NULL;
    snprintf(body, sizeof(body),
             "{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":1,\"disks\":[],\"gpus\":[%s]}",
             gpus_json);
    if (agg_sample_parse(body, strlen(body), &s, why, sizeof(why)) != MON_OK)
        fail_msg("sample: %s", why);
    return s;
}

#define FREE_GPU(i)                                                                                \
    "{\"index\":" #i ",\"uuid\":\"GPU-" #i "\",\"name\":\"A100\",\"util_pct\":0,"                  \
    "\"mem_used_mb\":0,\"mem_total_mb\":81920,\"processes\":[]}"
#define HELD_GPU(i, util)                                                                          \
    "{\"index\":" #i ",\"uuid\":\"GPU-" #i "\",\"name\":\"A100\",\"util_pct\":" #util ","          \
    "\"mem_used_mb\":4096,\"mem_total_mb\":81920,\"processes\":[{\"pid\":4242,\"user\":"           \
    "\"alice\",\"uid\":1001,\"command\":\"python3\",\"type\":\"compute\",\"used_mem_mb\":3000},"   \
    "{\"pid\":4243,\"user\":\"alice\",\"command\":\"python3\",\"type\":\"compute\","               \
    "\"used_mem_mb\":1000},{\"pid\":77,\"user\":\"<b>bob</b>\",\"command\":\"x\",\"type\":"        \
    "\"graphics\",\"used_mem_mb\":96}]}"
#define LOST_GPU(i)                                                                                \
    "{\"index\":" #i ",\"uuid\":\"\",\"name\":\"GPU " #i "\",\"util_pct\":null,"                   \
    "\"xid\":[{\"code\":79,\"at\":\"2026-01-17T10:00:00Z\"}],\"processes\":null,"                  \
    "\"error\":\"GPU is lost\"}"

static void poll_ok(struct agg_state *st, int64_t id, const char *gpus, int64_t dt_ms)
{
    struct agg_sample *s = sample(gpus);
    assert_int_equal(agg_state_poll_ok(st, id, s, T0_UTC + dt_ms, T0_MONO + dt_ms), MON_OK);
    agg_sample_free(s); /* the state keeps its own copy */
}

/* The type and message of the recorded events, in order. */
static size_t events(const char *type)
{
    return capture_count(&cap, AGG_JOB_EVENT, type);
}

static const char *last_message(const char *type)
{
    capture_flush(&cap);
    for (size_t i = cap.n; i > 0; i--)
        if (cap.jobs[i - 1].kind == AGG_JOB_EVENT &&
            strcmp(cap.jobs[i - 1].u.event.type, type) == 0)
            return cap.jobs[i - 1].u.event.message;
    return "";
}

static cJSON *gpus_json(struct agg_state *st, int state, int64_t server_id, int64_t mono)
{
    struct agg_gpus_query q = {.state = state, .server_id = server_id};
    cJSON *out = NULL;
    assert_int_equal(agg_state_gpus_json(st, &q, mono, &out), MON_OK);
    return out;
}

static int summary(const cJSON *root, const char *name)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "summary");
    return (int)cJSON_GetObjectItemCaseSensitive(s, name)->valuedouble;
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Every state and event through the registry: free, busy, idle (gpu_idle with its users),
 * error (gpu_error with the reason), recovery (gpu_recovered). */
static void test_states_and_events(void **state)
{
    struct agg_state *st = new_state(true);
    const struct agg_write_job *j;
    cJSON *root, *g;
    (void)state;
    capture_clear(&cap);
    add_server(st, 1, "srv-01");
    poll_ok(st, 1, FREE_GPU(0) "," HELD_GPU(1, 50), 0);
    root = gpus_json(st, -1, 0, T0_MONO);
    assert_int_equal(summary(root, "total"), 2);
    assert_int_equal(summary(root, "free"), 1);
    assert_int_equal(summary(root, "busy"), 1);
    g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "gpus"), 1);
    assert_string_equal(str_of(g, "server_name"), "srv-01");
    assert_string_equal(str_of(g, "state"), "busy");
    assert_string_equal(str_of(g, "state_since"), "2026-01-17T10:00:00Z");
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "users"), 0)->valuestring, "alice");
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "users"), 1)->valuestring,
        "<b>bob</b>");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g, "processes")), 3);
    cJSON_Delete(root);
    /* Each new record was persisted once. */
    assert_int_equal(capture_count(&cap, AGG_JOB_GPU_STATE, NULL), 2);
    j = capture_last(&cap, AGG_JOB_GPU_STATE);
    assert_int_equal(j->server_id, 1);
    assert_int_equal(j->u.gpu.gpu_index, 1);
    assert_string_equal(j->u.gpu.state, "busy");
    assert_string_equal(j->u.gpu.uuid, "GPU-1");

    /* Utilisation drops: busy until idle_after, then idle with one gpu_idle. */
    poll_ok(st, 1, FREE_GPU(0) "," HELD_GPU(1, 2), IV);
    poll_ok(st, 1, FREE_GPU(0) "," HELD_GPU(1, 2), IV + IDLE_MS - 1);
    assert_int_equal(events("gpu_idle"), 0);
    poll_ok(st, 1, FREE_GPU(0) "," HELD_GPU(1, 2), IV + IDLE_MS);
    assert_int_equal(events("gpu_idle"), 1);
    assert_string_equal(last_message("gpu_idle"),
                        "GPU 1 (A100) on srv-01 idle since 2026-01-17T10:00:05Z, held by alice "
                        "(2 processes), <b>bob</b> (1 process)");
    poll_ok(st, 1, FREE_GPU(0) "," HELD_GPU(1, 2), 2 * IV + IDLE_MS);
    assert_int_equal(events("gpu_idle"), 1);
    root = gpus_json(st, AGG_GPU_IDLE, 0, T0_MONO + 2 * IV + IDLE_MS);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "gpus")), 1);
    assert_int_equal(summary(root, "idle"), 1);
    assert_int_equal(summary(root, "free"), 1); /* the summary ignores the state filter */
    g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "gpus"), 0);
    assert_string_equal(str_of(g, "state_since"), "2026-01-17T10:00:05Z");
    cJSON_Delete(root);

    /* GPU 0 is lost (its uuid gone, index the same): error, gpu_error with the agent's text;
     * the Xid came with it. */
    poll_ok(st, 1, LOST_GPU(0) "," HELD_GPU(1, 2), 3 * IV + IDLE_MS);
    assert_int_equal(events("gpu_error"), 1);
    assert_string_equal(last_message("gpu_error"), "GPU 0 (A100) on srv-01: GPU is lost, Xid 79");
    root = gpus_json(st, AGG_GPU_ERROR, 0, T0_MONO + 3 * IV + IDLE_MS);
    g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "gpus"), 0);
    assert_non_null(g);
    assert_string_equal(str_of(g, "state_reason"), "GPU is lost, Xid 79");
    assert_string_equal(str_of(g, "error"), "GPU is lost");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g, "processes")));
    cJSON_Delete(root);
    poll_ok(st, 1, LOST_GPU(0) "," HELD_GPU(1, 2), 4 * IV + IDLE_MS);
    assert_int_equal(events("gpu_error"), 1);
    poll_ok(st, 1, FREE_GPU(0) "," HELD_GPU(1, 2), 5 * IV + IDLE_MS);
    assert_int_equal(events("gpu_recovered"), 1);
    assert_string_equal(last_message("gpu_recovered"), "GPU 0 (A100) on srv-01 recovered");
    agg_state_free(st);
}

/* The latest persisted row of each GPU (index < max): what the store would hold. Returns
 * one past the highest index written. */
static size_t stored_rows(struct agg_gpu_state_row *rows, size_t max)
{
    size_t n = 0;
    capture_flush(&cap);
    for (size_t i = 0; i < cap.n; i++) {
        const struct agg_write_job *j = &cap.jobs[i];
        if (j->kind == AGG_JOB_GPU_STATE && (size_t)j->u.gpu.gpu_index < max) {
            rows[j->u.gpu.gpu_index] = j->u.gpu;
            if ((size_t)j->u.gpu.gpu_index >= n)
                n = (size_t)j->u.gpu.gpu_index + 1;
        }
    }
    return n;
}

/* The records persisted by one registry seed the next: the same situation after a restart
 * sends no event again; a change after it does. */
static void test_no_duplicates_after_restart(void **state)
{
    struct agg_state *st = new_state(true);
    struct agg_gpu_state_row rows[2];
    size_t n = 0;
    (void)state;
    capture_clear(&cap);
    add_server(st, 1, "srv-01");
    poll_ok(st, 1, FREE_GPU(0) "," HELD_GPU(1, 2), 0);
    poll_ok(st, 1, LOST_GPU(0) "," HELD_GPU(1, 2), IDLE_MS);
    assert_int_equal(events("gpu_idle"), 1);
    assert_int_equal(events("gpu_error"), 1);
    n = stored_rows(rows, 2);
    assert_int_equal(n, 2);
    agg_state_free(st);

    capture_clear(&cap);
    st = new_state(true);
    add_server(st, 1, "srv-01");
    assert_int_equal(agg_state_seed_gpus(st, 1, rows, n), MON_OK);
    assert_int_equal(agg_state_seed_gpus(st, 99, rows, n), MON_ENOENT);
    /* Before the first answer the seeded GPUs are listed as unknown. */
    {
        cJSON *root = gpus_json(st, -1, 1, T0_MONO);
        assert_int_equal(summary(root, "unknown"), 2);
        assert_string_equal(
            str_of(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "gpus"), 1), "uuid"),
            "GPU-1");
        cJSON_Delete(root);
    }
    poll_ok(st, 1, LOST_GPU(0) "," HELD_GPU(1, 2), IDLE_MS + 30000);
    poll_ok(st, 1, LOST_GPU(0) "," HELD_GPU(1, 2), IDLE_MS + 35000);
    assert_int_equal(events(NULL), 0);
    poll_ok(st, 1, FREE_GPU(0) "," HELD_GPU(1, 80), IDLE_MS + 40000);
    assert_int_equal(events("gpu_recovered"), 1);
    assert_int_equal(events(NULL), 1);
    agg_state_free(st);
}

/* A restarted registry seeded from the rows persisted by the first one. */
static struct agg_state *restart(struct agg_state *st)
{
    struct agg_gpu_state_row rows[1];
    size_t n = stored_rows(rows, 1);
    agg_state_free(st);
    capture_clear(&cap);
    st = new_state(true);
    add_server(st, 1, "srv-01");
    assert_int_equal(agg_state_seed_gpus(st, 1, rows, n), MON_OK);
    return st;
}

/* Utilisation crossing busy_util_pct writes no row; a countdown that lasts is written at the
 * checkpoint (agg_state_persist_gpus), and a restart after it turns the GPU idle at the right
 * time; a stored countdown that ends is written at once, so a restart cannot resume it. */
static void test_countdown_across_restart(void **state)
{
    struct agg_state *st = new_state(true);
    const struct agg_write_job *j;
    int64_t low;
    (void)state;
    capture_clear(&cap);
    add_server(st, 1, "srv-01");
    poll_ok(st, 1, HELD_GPU(0, 50), 0);
    for (int i = 1; i <= 6; i++)
        poll_ok(st, 1, i % 2 ? HELD_GPU(0, 2) : HELD_GPU(0, 50), i * IV);
    agg_state_persist_gpus(st); /* the last stretch ended: nothing waits */
    assert_int_equal(capture_count(&cap, AGG_JOB_GPU_STATE, NULL), 1);

    /* Low from 10:00:35; a crash before the checkpoint restarts the countdown (late idle). */
    low = 7 * IV;
    poll_ok(st, 1, HELD_GPU(0, 2), low);
    poll_ok(st, 1, HELD_GPU(0, 2), low + IV);
    assert_int_equal(capture_count(&cap, AGG_JOB_GPU_STATE, NULL), 1);
    agg_state_persist_gpus(st);
    assert_int_equal(capture_count(&cap, AGG_JOB_GPU_STATE, NULL), 2);
    j = capture_last(&cap, AGG_JOB_GPU_STATE);
    assert_int_equal(j->u.gpu.low_since, (T0_UTC + low) / 1000);
    assert_string_equal(j->u.gpu.state, "busy");
    agg_state_persist_gpus(st);
    assert_int_equal(capture_count(&cap, AGG_JOB_GPU_STATE, NULL), 2);

    /* Restart mid-countdown: idle exactly idle_after after the drop, not after the restart. */
    st = restart(st);
    poll_ok(st, 1, HELD_GPU(0, 2), low + IDLE_MS / 2);
    poll_ok(st, 1, HELD_GPU(0, 2), low + IDLE_MS - 1);
    assert_int_equal(events("gpu_idle"), 0);
    poll_ok(st, 1, HELD_GPU(0, 2), low + IDLE_MS);
    assert_int_equal(events("gpu_idle"), 1);
    assert_string_equal(last_message("gpu_idle"),
                        "GPU 0 (A100) on srv-01 idle since 2026-01-17T10:00:35Z, held by alice "
                        "(2 processes), <b>bob</b> (1 process)");

    /* Busy again: written at once (not at the checkpoint), so a restart that finds the GPU
     * low starts a new countdown instead of resuming the old one. */
    capture_clear(&cap);
    poll_ok(st, 1, HELD_GPU(0, 50), low + IDLE_MS + IV);
    assert_int_equal(capture_count(&cap, AGG_JOB_GPU_STATE, NULL), 1);
    poll_ok(st, 1, HELD_GPU(0, 2), low + IDLE_MS + 2 * IV);
    assert_int_equal(capture_count(&cap, AGG_JOB_GPU_STATE, NULL), 1);
    st = restart(st); /* a crash: the new stretch's start was not written */
    poll_ok(st, 1, HELD_GPU(0, 2), low + IDLE_MS + 3 * IV);
    poll_ok(st, 1, HELD_GPU(0, 2), low + 2 * IDLE_MS + 3 * IV - 1);
    assert_int_equal(events("gpu_idle"), 0);
    poll_ok(st, 1, HELD_GPU(0, 2), low + 2 * IDLE_MS + 3 * IV);
    assert_int_equal(events("gpu_idle"), 1);
    agg_state_free(st);
}

/* The rows that wait for the checkpoint of more servers than one hold of the lock visits: all
 * written, once. */
static void test_checkpoint_many_servers(void **state)
{
    struct agg_state *st = new_state(true);
    char name[32];
    (void)state;
    capture_clear(&cap);
    for (int64_t id = 1; id <= 2100; id++) {
        snprintf(name, sizeof(name), "srv-%lld", (long long)id);
        add_server(st, id, name);
        poll_ok(st, id, HELD_GPU(0, 50), 0);
        poll_ok(st, id, HELD_GPU(0, 2), IV);
    }
    assert_int_equal(capture_count(&cap, AGG_JOB_GPU_STATE, NULL), 2100);
    agg_state_persist_gpus(st);
    assert_int_equal(capture_count(&cap, AGG_JOB_GPU_STATE, NULL), 4200);
    assert_int_equal(capture_last(&cap, AGG_JOB_GPU_STATE)->u.gpu.low_since, (T0_UTC + IV) / 1000);
    agg_state_persist_gpus(st);
    assert_int_equal(capture_count(&cap, AGG_JOB_GPU_STATE, NULL), 4200);
    agg_state_free(st);
}

/* events.gpu_idle: false sends no gpu_idle; the state is idle all the same. */
static void test_idle_events_off(void **state)
{
    struct agg_state *st = new_state(false);
    cJSON *root;
    (void)state;
    capture_clear(&cap);
    add_server(st, 1, "srv-01");
    poll_ok(st, 1, HELD_GPU(0, 0), 0);
    poll_ok(st, 1, HELD_GPU(0, 0), IDLE_MS);
    assert_int_equal(events("gpu_idle"), 0);
    root = gpus_json(st, -1, 0, T0_MONO + IDLE_MS);
    assert_int_equal(summary(root, "idle"), 1);
    cJSON_Delete(root);
    agg_state_free(st);
}

/* An offline server's GPUs are unknown (last figures kept, marked stale); a filter by server;
 * latest counts the GPUs found free; the detail view carries the new fields. */
static void test_views(void **state)
{
    struct agg_state *st = new_state(true);
    cJSON *root, *list, *g, *latest, *detail;
    struct agg_gpus_query q = {.state = -1, .server_id = 42};
    (void)state;
    capture_clear(&cap);
    add_server(st, 1, "srv-01");
    add_server(st, 2, "srv-02");
    poll_ok(st, 1, FREE_GPU(0) "," FREE_GPU(1) "," HELD_GPU(2, 90), 0);
    poll_ok(st, 2, FREE_GPU(0), 0);

    list = agg_state_servers_json(st, T0_MONO);
    latest = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, 0), "latest");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(latest, "gpu_free_count")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(latest, "gpu_error_count")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(latest, "gpu_count")->valueint, 3);
    cJSON_Delete(list);

    detail = agg_state_server_json(st, 1, T0_MONO);
    g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(detail, "gpus"), 2);
    assert_string_equal(str_of(g, "state"), "busy");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "stale")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(g, "health")));
    assert_string_equal(
        str_of(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "processes"), 0), "command"),
        "python3");
    cJSON_Delete(detail);

    root = gpus_json(st, -1, 2, T0_MONO);
    assert_int_equal(summary(root, "total"), 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "gpus")), 1);
    cJSON_Delete(root);
    assert_int_equal(agg_state_gpus_json(st, &q, T0_MONO, &root), MON_ENOENT);

    /* Long after: both offline (their polls failed and they were not seen for longer than the
     * threshold); their GPUs are unknown and stale, since the last time they were seen. */
    for (int64_t id = 1; id <= 2; id++)
        assert_int_equal(agg_state_poll_fail(st, id, "timeout", T0_UTC + 60000, T0_MONO + 60000),
                         MON_OK);
    root = gpus_json(st, -1, 0, T0_MONO + 60000);
    assert_int_equal(summary(root, "unknown"), 4);
    assert_int_equal(summary(root, "free"), 0);
    g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "gpus"), 2);
    assert_string_equal(str_of(g, "state"), "unknown");
    assert_string_equal(str_of(g, "state_since"), "2026-01-17T10:00:00Z");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "stale")));
    assert_float_equal(cJSON_GetObjectItemCaseSensitive(g, "util_pct")->valuedouble, 90, 0);
    cJSON_Delete(root);
    agg_state_free(st);
}

/* GPUs that change between samples: a GPU that disappears and another that appears are new
 * records; the ones that stay keep theirs (by uuid, whatever their position). */
static void test_records_follow_gpus(void **state)
{
    struct agg_state *st = new_state(true);
    (void)state;
    capture_clear(&cap);
    add_server(st, 1, "srv-01");
    poll_ok(st, 1, HELD_GPU(0, 1) "," FREE_GPU(1), 0);
    poll_ok(st, 1, FREE_GPU(1) "," HELD_GPU(0, 1), IDLE_MS);
    assert_int_equal(events("gpu_idle"), 1); /* GPU 0's stretch went on across the reorder */
    poll_ok(st, 1, FREE_GPU(1), IDLE_MS + IV);
    poll_ok(st, 1, FREE_GPU(1) "," HELD_GPU(0, 1), IDLE_MS + 2 * IV);
    poll_ok(st, 1, FREE_GPU(1) "," HELD_GPU(0, 1), 2 * IDLE_MS + 2 * IV);
    assert_int_equal(events("gpu_idle"), 2); /* GPU 0 came back as a new record */
    agg_state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states_and_events),
        cmocka_unit_test(test_no_duplicates_after_restart),
        cmocka_unit_test(test_countdown_across_restart),
        cmocka_unit_test(test_checkpoint_many_servers),
        cmocka_unit_test(test_idle_events_off),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_records_follow_gpus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
