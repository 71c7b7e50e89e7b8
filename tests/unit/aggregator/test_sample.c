/* SPDX-License-Identifier: MIT */
/* Agent snapshot parsing on fixture replies: values, the multi-GPU summary, and rejection of
 * missing fields, wrong types, NaN, huge numbers, oversized arrays and broken JSON. */
#include "aggregator/sample.h"
#include "common/buf.h"
#include "common/err.h"

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *read_fixture(const char *name, size_t *ret_len)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;
    snprintf(path, sizeof(path), "%s/agent-replies/%s", MON_FIXTURES, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *ret_len = (size_t)n;
    return buf;
}

static struct agg_sample *parse_ok(const char *name)
{
    struct agg_sample *s = NULL;
    char why[256] = "";
    size_t len;
    char *text = read_fixture(name, &len);
    int r = agg_sample_parse(text, len, &s, why, sizeof(why));
    if (r != MON_OK)
        fail_msg("%s: %s", name, why);
    free(text);
    return s;
}

/* Parses a fixture that must be rejected; returns the reason. */
static void parse_bad(const char *name, const char *why_contains)
{
    struct agg_sample *s = NULL;
    char why[256] = "";
    size_t len;
    char *text = read_fixture(name, &len);
    assert_int_equal(agg_sample_parse(text, len, &s, why, sizeof(why)), MON_EPARSE);
    assert_null(s);
    if (!strstr(why, why_contains))
        fail_msg("%s: reason \"%s\" lacks \"%s\"", name, why, why_contains);
    free(text);
}

/* What good.json holds. */
static void check_good(const struct agg_sample *s)
{
    assert_int_equal(s->ts, 1768644000);
    assert_string_equal(s->node_id, "srv-01");
    assert_string_equal(s->agent_version, "0.1.0");
    assert_true(s->has_cpu && s->has_mem && s->has_load && s->has_uptime);
    assert_float_equal(s->cpu_pct, 23.4, 1e-9);
    assert_int_equal(s->cpu_count, 4);
    assert_float_equal(s->load[2], 0.3, 1e-9);
    assert_float_equal(s->mem_used_pct, 27.0, 1e-9);
    assert_float_equal(s->mem_total_bytes, 456, 1e-9);
    assert_int_equal(s->n_disks, 2);
    assert_string_equal(s->disks[1].mount, "/data");
    assert_true(s->disks[0].has_value);
    assert_float_equal(s->disks[0].used_pct, 50.0, 1e-9);
    assert_int_equal(s->n_gpus, 1);
    assert_string_equal(s->gpus[0].uuid, "GPU-0a");
    assert_true(s->gpus[0].has_power);
    assert_float_equal(s->gpus[0].power_w, 120.5, 1e-9);
    assert_true(s->has_gpu);
    assert_float_equal(s->gpu_util_max, 56, 1e-9);
    assert_float_equal(s->gpu_mem_used_mb, 2048, 1e-9);
    assert_float_equal(s->gpu_mem_total_mb, 8192, 1e-9);
    assert_true(s->units_present);
    assert_int_equal(s->n_units, 2);
    assert_string_equal(s->units[0].sub_state, "running");
    assert_int_equal(s->units[0].since, 1768640400);
    assert_int_equal(s->services_failed_count, 1);
    assert_true(s->degraded); /* a watched unit failed */
}

static void test_good_reply(void **state)
{
    struct agg_sample *s = parse_ok("good.json");
    (void)state;
    check_good(s);
    agg_sample_free(s);
}

/* Reverses the order of the members of every object under o. */
static void reverse_members(cJSON *o)
{
    cJSON *list = NULL, *it, *next;
    for (it = o->child; it; it = it->next)
        if (cJSON_IsObject(it) || cJSON_IsArray(it))
            reverse_members(it);
    if (!cJSON_IsObject(o))
        return;
    for (it = o->child; it; it = next) { /* rebuilt front to back: reversed */
        next = it->next;
        it->next = list;
        it->prev = NULL;
        if (list)
            list->prev = it;
        list = it;
    }
    o->child = list;
    if (list) { /* cJSON keeps the last member in the first one's prev */
        for (it = list; it->next; it = it->next)
            ;
        list->prev = it;
    }
}

/* The parser looks fields up from where the last one was found: any member order gives the
 * same sample. */
static void test_member_order(void **state)
{
    struct agg_sample *s = NULL;
    char why[256] = "", *text, *reversed;
    size_t len;
    cJSON *root;
    (void)state;
    text = read_fixture("good.json", &len);
    root = cJSON_ParseWithLength(text, len);
    assert_non_null(root);
    reverse_members(root);
    reversed = cJSON_PrintUnformatted(root);
    assert_non_null(reversed);
    assert_int_not_equal(strncmp(reversed, "{\"node_id\"", 10), 0); /* first, now last */
    if (agg_sample_parse(reversed, strlen(reversed), &s, why, sizeof(why)) != MON_OK)
        fail_msg("reversed good.json: %s", why);
    check_good(s);
    agg_sample_free(s);
    cJSON_free(reversed);
    cJSON_Delete(root);
    free(text);
}

static void test_no_gpus_no_services(void **state)
{
    struct agg_sample *s = parse_ok("no_gpus.json");
    (void)state;
    assert_int_equal(s->n_gpus, 0);
    assert_null(s->gpus);
    assert_false(s->has_gpu);
    assert_false(s->units_present);
    assert_int_equal(s->n_units, 0);
    assert_int_equal(s->services_failed_count, 0);
    agg_sample_free(s);
}

static void test_eight_gpus(void **state)
{
    struct agg_sample *s = parse_ok("gpus8.json");
    (void)state;
    assert_int_equal(s->n_gpus, 8);
    assert_int_equal(s->gpus[7].index, 7);
    assert_float_equal(s->gpu_util_max, 70, 1e-9); /* max, not the first GPU */
    assert_float_equal(s->gpu_mem_used_mb, 8 * 1000 + 28, 1e-9);
    assert_float_equal(s->gpu_mem_total_mb, 8 * 81920, 1e-9);
    agg_sample_free(s);
}

/* A reply of an agent with the GPU fleet fields (processes, health, Xid; captured from a real
 * agent and the fake NVML): every field read, absent ones absent, the 64-process list kept. */
static void test_gpu_processes_and_health(void **state)
{
    struct agg_sample *s = parse_ok("gpu_processes.json");
    const struct agg_gpu *g;
    const struct agg_gpu_proc *p;
    (void)state;
    assert_string_equal(s->node_id, "srv-gpu");
    assert_int_equal(s->n_gpus, 3);
    assert_float_equal(s->gpus[0].util_pct, 10, 1e-9);
    assert_float_equal(s->gpus[2].mem_used_mb, 3072, 1e-9);
    assert_string_equal(s->gpus[1].error, "GPU is lost");
    assert_true(s->degraded);
    assert_float_equal(s->gpu_util_max, 30, 1e-9);
    assert_int_equal(s->n_procs, 3 + 64);

    g = &s->gpus[0];
    assert_true(g->has_fan && g->has_sm_clock && g->has_power_limit && g->has_pstate);
    assert_float_equal(g->fan_pct, 41, 0);
    assert_float_equal(g->sm_clock_mhz, 1410, 0);
    assert_float_equal(g->power_limit_w, 400, 0);
    assert_int_equal(g->pstate, 0);
    assert_true(g->has_throttle);
    assert_int_equal(g->throttle, AGG_THROTTLE_SW_POWER_CAP | AGG_THROTTLE_HW_THERMAL);
    assert_int_equal(g->ecc_mode, 1);
    assert_int_equal(g->ecc_volatile_uncorrected, 2);
    assert_int_equal(g->ecc_aggregate_uncorrected, 0);
    assert_true(g->has_remap);
    assert_true(g->remap_pending);
    assert_false(g->remap_failed);
    assert_true(g->has_xid);
    assert_int_equal(g->n_xid, 0);
    assert_true(g->has_procs);
    assert_false(g->procs_truncated);
    assert_int_equal(g->n_procs, 3);
    p = agg_sample_gpu_procs(s, g);
    assert_non_null(p);
    assert_int_equal(p[0].pid, 9721);
    assert_string_equal(p[0].user, "nobody");
    assert_int_equal(p[0].uid, 65534);
    assert_string_equal(p[0].command, "<img src=x oner");
    assert_int_equal(p[0].type, AGG_PROC_COMPUTE);
    assert_float_equal(p[0].used_mem_mb, 10240, 0);
    assert_string_equal(p[0].container, "");
    assert_int_equal(p[0].started_at, 1796270693); /* 2026-12-03T04:04:53Z */
    assert_int_equal(p[1].type, AGG_PROC_COMPUTE | AGG_PROC_GRAPHICS);
    assert_string_equal(p[1].container, "3f2a9c1b7d0e");
    /* A process the agent cannot see: only pid, type and the reason. */
    assert_int_equal(p[2].pid, 4099999);
    assert_string_equal(p[2].user, "");
    assert_int_equal(p[2].uid, -1);
    assert_int_equal(p[2].started_at, -1);
    assert_float_equal(p[2].used_mem_mb, -1, 0);
    assert_string_equal(p[2].error, "process not visible (exited, or in another PID namespace)");

    /* The lost GPU: health null, its Xid kept, no process list. */
    g = &s->gpus[1];
    assert_false(g->has_fan || g->has_throttle || g->has_remap || g->has_procs);
    assert_int_equal(g->ecc_mode, -1);
    assert_int_equal(g->ecc_volatile_uncorrected, -1);
    assert_true(g->has_xid);
    assert_int_equal(g->n_xid, 1);
    assert_int_equal(g->xid[0].code, 79);
    assert_int_equal(g->xid[0].at, 1796270696);
    assert_null(agg_sample_gpu_procs(s, g));

    /* 64 entries and the truncation flag; ECC null, empty throttle list. */
    g = &s->gpus[2];
    assert_true(g->procs_truncated);
    assert_int_equal(g->n_procs, 64);
    assert_int_equal(g->procs_first, 3);
    assert_true(g->has_throttle);
    assert_int_equal(g->throttle, 0);
    assert_int_equal(g->ecc_mode, -1);
    assert_false(g->has_fan);
    p = agg_sample_gpu_procs(s, g);
    assert_int_equal(p[63].pid, 3900006);
    agg_sample_free(s);
}

/* One GPU entry with the given extra fields; returns the parse result and the reason. */
static int parse_gpu_fields(const char *fields, struct agg_sample **ret, char *why, size_t why_len)
{
    char body[8192];
    snprintf(body, sizeof(body),
             "{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":1,\"disks\":[],\"gpus\":["
             "{\"index\":0,\"util_pct\":1},{\"index\":1,\"util_pct\":2%s}]}",
             fields);
    *ret = NULL;
    return agg_sample_parse(body, strlen(body), ret, why, why_len);
}

static void gpu_bad(const char *fields, const char *why_expected)
{
    struct agg_sample *s = NULL;
    char why[256] = "";
    assert_int_equal(parse_gpu_fields(fields, &s, why, sizeof(why)), MON_EPARSE);
    assert_null(s);
    assert_string_equal(why, why_expected);
}

/* Every new field is checked for type and range; a wrong one names where it is. */
static void test_gpu_field_rejections(void **state)
{
    (void)state;
    gpu_bad(",\"processes\":{}", "gpus[1].processes: not an array");
    gpu_bad(",\"processes\":[1]", "gpus[1].processes[0]: not an object");
    gpu_bad(",\"processes\":[{\"user\":\"x\"}]", "gpus[1].processes[0].pid: missing");
    gpu_bad(",\"processes\":[{\"pid\":-1}]", "gpus[1].processes[0].pid: -1 out of range");
    gpu_bad(",\"processes\":[{\"pid\":1.5}]", "gpus[1].processes[0].pid: not an integer");
    gpu_bad(",\"processes\":[{\"pid\":1,\"type\":\"cuda\"}]",
            "gpus[1].processes[0].type: not compute, graphics or compute+graphics");
    gpu_bad(",\"processes\":[{\"pid\":1,\"used_mem_mb\":\"1\"}]",
            "gpus[1].processes[0].used_mem_mb: not a number");
    gpu_bad(",\"processes\":[{\"pid\":1,\"started_at\":\"now\"}]",
            "gpus[1].processes[0].started_at: not an ISO-8601 time");
    gpu_bad(",\"processes\":[{\"pid\":1,\"started_at\":\"0015-12-03T04:04:53Z\"}]",
            "gpus[1].processes[0].started_at: before 1970");
    gpu_bad(",\"processes\":[{\"pid\":1,\"user\":"
            "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]",
            "gpus[1].processes[0].user: longer than 63 bytes");
    gpu_bad(",\"processes_truncated\":1", "gpus[1].processes_truncated: not a boolean");
    gpu_bad(",\"ecc\":[]", "gpus[1].ecc: not an object");
    gpu_bad(",\"ecc\":{\"mode\":\"on\"}", "gpus[1].ecc.mode: not enabled or disabled");
    gpu_bad(",\"ecc\":{\"mode\":\"enabled\",\"volatile_uncorrected\":-3}",
            "gpus[1].ecc.volatile_uncorrected: -3 out of range");
    gpu_bad(",\"remapped_rows\":{\"pending\":\"yes\"}",
            "gpus[1].remapped_rows.pending: not a boolean");
    gpu_bad(",\"throttle\":[1]", "gpus[1].throttle: not an array of reason names");
    gpu_bad(",\"xid\":[{\"at\":\"2026-01-17T10:00:00Z\"}]", "gpus[1].xid[0].code: missing");
    gpu_bad(",\"xid\":[{\"code\":79,\"at\":5}]", "gpus[1].xid[0].at: not an ISO-8601 time");
    gpu_bad(",\"xid\":[{\"code\":79,\"at\":\"1969-12-31T23:59:59Z\"}]",
            "gpus[1].xid[0].at: before 1970");
    gpu_bad(",\"xid\":[{},{},{},{},{},{},{},{},{},{},{}]", "gpus[1].xid: more than 10 entries");
    gpu_bad(",\"fan_pct\":-1", "gpus[1].fan_pct: -1 out of range");
    gpu_bad(",\"pstate\":0.5", "gpus[1].pstate: not an integer");
}

/* A reply of head, n entries "<item><number from 1><item_end>" and tail must be rejected with
 * exactly why_expected. */
static void parse_many(const char *head, const char *item, const char *item_end, int n,
                       const char *tail, const char *why_expected)
{
    struct mon_buf b;
    struct agg_sample *s = NULL;
    char why[256] = "";
    mon_buf_init(&b, 1 << 20);
    assert_int_equal(mon_buf_puts(&b, head), MON_OK);
    for (int i = 0; i < n; i++) {
        if (i)
            assert_int_equal(mon_buf_puts(&b, ","), MON_OK);
        assert_int_equal(mon_buf_printf(&b, "%s%d%s", item, i + 1, item_end), MON_OK);
    }
    assert_int_equal(mon_buf_puts(&b, tail), MON_OK);
    assert_int_equal(agg_sample_parse(b.data, b.len, &s, why, sizeof(why)), MON_EPARSE);
    assert_null(s);
    assert_string_equal(why, why_expected);
    mon_buf_done(&b);
}

/* More than 64 processes on one GPU is a malformed reply (the agent never sends more). */
static void test_gpu_process_cap(void **state)
{
    (void)state;
    parse_many("{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":1,\"disks\":[],\"gpus\":[{},"
               "{\"processes\":[",
               "{\"pid\":", "}", 65, "]}]}", "gpus[1].processes: more than 64 entries");
}

/* Agent text reaches people: control, invisible and text-direction characters are removed
 * from user names, commands, containers and errors, and the rest is kept. */
static void test_gpu_text_stripped(void **state)
{
    struct agg_sample *s = NULL;
    const struct agg_gpu_proc *p;
    char why[256] = "";
    (void)state;
    assert_int_equal(
        parse_gpu_fields(",\"name\":\"A100\\u202e\",\"processes\":[{\"pid\":7,\"user\":"
                         "\"ev\\u200bil\\u0007\",\"command\":\"py\\u2067thon\\u2069\\n\","
                         "\"container\":\"\\u00adabc\",\"error\":\"x\\ufeff\\u0085y\"},"
                         "{\"pid\":8,\"user\":\"\u5f20\u4e09\",\"command\":\"<b>x</b>\"}]",
                         &s, why, sizeof(why)),
        MON_OK);
    assert_string_equal(s->gpus[1].name, "A100");
    p = agg_sample_gpu_procs(s, &s->gpus[1]);
    assert_string_equal(p[0].user, "evil");
    assert_string_equal(p[0].command, "python");
    assert_string_equal(p[0].container, "abc");
    assert_string_equal(p[0].error, "xy");
    assert_string_equal(p[1].user, "\u5f20\u4e09");
    assert_string_equal(p[1].command, "<b>x</b>");
    /* GPU 0 sent no lists: absent, not empty. */
    assert_false(s->gpus[0].has_procs);
    assert_false(s->gpus[0].has_throttle);
    assert_false(s->gpus[0].has_xid);
    assert_null(agg_sample_gpu_procs(s, &s->gpus[0]));
    agg_sample_free(s);
}

static void test_lost_gpu(void **state)
{
    struct agg_sample *s = parse_ok("lost_gpu.json");
    (void)state;
    assert_int_equal(s->n_gpus, 2);
    assert_string_equal(s->gpus[1].error, "GPU is lost");
    assert_false(s->gpus[1].has_util);
    assert_false(s->gpus[1].has_mem);
    /* The summary ignores the lost GPU. */
    assert_true(s->has_gpu);
    assert_float_equal(s->gpu_util_max, 30, 1e-9);
    assert_float_equal(s->gpu_mem_used_mb, 100, 1e-9);
    assert_true(s->degraded);
    agg_sample_free(s);
}

static void test_stale_disk(void **state)
{
    struct agg_sample *s = parse_ok("stale_disk.json");
    (void)state;
    assert_false(s->disks[0].has_value);
    assert_true(s->disks[0].stale);
    assert_string_equal(s->disks[0].error, "statvfs timed out");
    assert_true(s->disks[1].has_value);
    assert_true(s->degraded);
    agg_sample_free(s);
}

static void test_rejections(void **state)
{
    (void)state;
    parse_bad("missing_ts.json", "ts: missing");
    parse_bad("missing_gpus.json", "gpus: missing");
    parse_bad("wrong_type_cpu.json", "cpu_pct: not a number");
    parse_bad("wrong_type_disks.json", "disks: not an array");
    parse_bad("gpu_util_range.json", "gpus[0].util_pct");
    parse_bad("long_node_id.json", "node_id: longer than 64 bytes");
    parse_bad("nan.json", "not JSON");
    parse_bad("huge_number.json", "mem.used_bytes: not a number");
    parse_bad("not_json.txt", "not JSON");
    parse_bad("truncated.json", "not JSON");
    parse_bad("array_root.json", "not a JSON object");
}

static void test_huge_array(void **state)
{
    (void)state;
    parse_many("{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":1,\"disks\":[],\"gpus\":[",
               "{\"index\":0,\"n\":", "}", 10000, "]}", "gpus: more than 64 entries");
}

static void test_utf8(void **state)
{
    static const char good[] = "{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":1,\"node_id\":"
                               "\"\xe6\x9c\x8d\xe5\x8a\xa1\xe5\x99\xa8\",\"disks\":[],\"gpus\":[]}";
    static const char bad[] = "{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":1,\"node_id\":"
                              "\"f\xff\xfe\",\"disks\":[],\"gpus\":[]}";
    struct agg_sample *s = NULL;
    char why[256] = "";
    (void)state;
    assert_int_equal(agg_sample_parse(good, sizeof(good) - 1, &s, why, sizeof(why)), MON_OK);
    assert_string_equal(s->node_id, "\xe6\x9c\x8d\xe5\x8a\xa1\xe5\x99\xa8");
    agg_sample_free(s);
    s = NULL;
    /* Bytes that are not UTF-8 would make every API answer that echoes them invalid JSON. */
    assert_int_equal(agg_sample_parse(bad, sizeof(bad) - 1, &s, why, sizeof(why)), MON_EPARSE);
    assert_null(s);
    assert_string_equal(why, "not UTF-8");
}

static void test_nulls_and_edges(void **state)
{
    /* The agent reports null cpu_pct before its first delta, and 100.00001 after rounding. */
    static const char body[] = "{\"ts\":\"2026-01-17T10:00:00+01:00\",\"cpu_pct\":null,\"mem\":"
                               "{\"used_bytes\":1,\"total_bytes\":1,\"used_pct\":100.00001},"
                               "\"load\":null,\"disks\":[],\"gpus\":[],\"health\":\"error\"}";
    static const char no_cpu[] = "{\"ts\":\"2026-01-17T10:00:00Z\",\"disks\":[],\"gpus\":[]}";
    static const char bad_ts[] = "{\"ts\":\"yesterday\",\"cpu_pct\":1,\"disks\":[],\"gpus\":[]}";
    static const char frac[] = "{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":1,\"disks\":[],"
                               "\"gpus\":[{\"index\":1.5}]}";
    struct agg_sample *s = NULL;
    char why[256];
    (void)state;
    assert_int_equal(agg_sample_parse(body, sizeof(body) - 1, &s, why, sizeof(why)), MON_OK);
    assert_int_equal(s->ts, 1768640400);
    assert_false(s->has_cpu);
    assert_false(s->has_load);
    assert_true(s->has_mem);
    assert_float_equal(s->mem_used_pct, 100.0, 0);
    assert_true(s->degraded);
    agg_sample_free(s);
    s = NULL;
    assert_int_equal(agg_sample_parse(no_cpu, sizeof(no_cpu) - 1, &s, why, sizeof(why)),
                     MON_EPARSE);
    assert_string_equal(why, "cpu_pct: missing");
    assert_int_equal(agg_sample_parse(bad_ts, sizeof(bad_ts) - 1, &s, why, sizeof(why)),
                     MON_EPARSE);
    assert_string_equal(why, "ts: not an ISO-8601 time");
    assert_int_equal(agg_sample_parse(frac, sizeof(frac) - 1, &s, why, sizeof(why)), MON_EPARSE);
    assert_string_equal(why, "gpus[0].index: not an integer");
    assert_int_equal(agg_sample_parse("", 0, &s, why, sizeof(why)), MON_EPARSE);
    assert_null(s);
}

static int parse_text(const char *text, struct agg_sample **ret, char *why)
{
    return agg_sample_parse(text, strlen(text), ret, why, 256);
}

#define MINIMAL "\"ts\": \"2026-01-17T10:00:00Z\", \"cpu_pct\": 1, \"disks\": [], \"gpus\": []"

/* Issue 11 item 9: agent replies are parsed as strictly as API bodies. */
static void test_strict_json(void **state)
{
    struct agg_sample *s = NULL;
    char why[256];
    (void)state;
    assert_int_equal(parse_text("{\"node_id\": \"nz\\u0000\\u001b[31m\", " MINIMAL "}", &s, why),
                     MON_EPARSE);
    assert_string_equal(why, "a string contains \\u0000");
    assert_int_equal(parse_text("{" MINIMAL "} garbage", &s, why), MON_EPARSE);
    assert_string_equal(why, "data after the JSON value");
    assert_int_equal(parse_text("{" MINIMAL ", \"cpu_pct\": 99}", &s, why), MON_EPARSE);
    assert_string_equal(why, "duplicate key \"cpu_pct\"");
    assert_null(s);
    assert_int_equal(parse_text("{" MINIMAL "}\r\n", &s, why), MON_OK);
    agg_sample_free(s);
}

/* Issue 11 item 13: control, invisible and bidi characters never leave the parser. */
static void test_hidden_characters_stripped(void **state)
{
    struct agg_sample *s = NULL;
    char why[256];
    (void)state;
    assert_int_equal(
        parse_text("{\"node_id\": \"srv\\u202e01\\u200b\\u001b[31m\", \"ts\": "
                   "\"2026-01-17T10:00:00Z\", \"cpu_pct\": 1, \"disks\": [{\"mount\": "
                   "\"/d\\u2066a\\u2069ta\", \"error\": \"x\\u0007y\"}], \"gpus\": [{\"name\": "
                   "\"NVIDIA\\u00ad A100\\ufeff\", \"uuid\": \"GPU-\\u2060a\", \"error\": "
                   "\"lost\\u2028!\"}], \"services\": [{\"name\": \"a\\u200d.service\", "
                   "\"active_state\": \"fai\\u200cled\", \"sub_state\": \"dead\", \"error\": "
                   "\"e\\u0085\"}]}",
                   &s, why),
        MON_OK);
    assert_string_equal(s->node_id, "srv01[31m");
    assert_string_equal(s->disks[0].mount, "/data");
    assert_string_equal(s->disks[0].error, "xy");
    assert_string_equal(s->gpus[0].name, "NVIDIA A100");
    assert_string_equal(s->gpus[0].uuid, "GPU-a");
    assert_string_equal(s->gpus[0].error, "lost!");
    assert_string_equal(s->units[0].name, "a.service");
    assert_string_equal(s->units[0].active_state, "failed");
    assert_int_equal(s->services_failed_count, 1);
    assert_string_equal(s->units[0].error, "e");
    agg_sample_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_reply),
        cmocka_unit_test(test_member_order),
        cmocka_unit_test(test_no_gpus_no_services),
        cmocka_unit_test(test_eight_gpus),
        cmocka_unit_test(test_gpu_processes_and_health),
        cmocka_unit_test(test_lost_gpu),
        cmocka_unit_test(test_stale_disk),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_huge_array),
        cmocka_unit_test(test_nulls_and_edges),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_gpu_field_rejections),
        cmocka_unit_test(test_gpu_process_cap),
        cmocka_unit_test(test_gpu_text_stripped),
        cmocka_unit_test(test_strict_json),
        cmocka_unit_test(test_hidden_characters_stripped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
