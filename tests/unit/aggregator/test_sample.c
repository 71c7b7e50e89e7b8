/* SPDX-License-Identifier: MIT */
/* Agent snapshot parsing on fixture replies: values, the multi-GPU summary, and rejection of
 * missing fields, wrong types, NaN, huge numbers, oversized arrays and broken JSON. */
#include "aggregator/sample.h"
#include "common/buf.h"
#include "common/err.h"

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

static void test_good_reply(void **state)
{
    struct agg_sample *s = parse_ok("good.json");
    (void)state;
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
    agg_sample_free(s);
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
 * agent and the fake NVML): the fields this parser does not know yet are ignored, the ones it
 * knows read as before. */
static void test_gpu_processes_and_health(void **state)
{
    struct agg_sample *s = parse_ok("gpu_processes.json");
    (void)state;
    assert_string_equal(s->node_id, "srv-gpu");
    assert_int_equal(s->n_gpus, 3);
    assert_float_equal(s->gpus[0].util_pct, 10, 1e-9);
    assert_float_equal(s->gpus[2].mem_used_mb, 3072, 1e-9);
    assert_string_equal(s->gpus[1].error, "GPU is lost");
    assert_true(s->degraded);
    assert_float_equal(s->gpu_util_max, 30, 1e-9);
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
    struct mon_buf b;
    struct agg_sample *s = NULL;
    char why[256] = "";
    (void)state;
    mon_buf_init(&b, 1 << 20);
    assert_int_equal(mon_buf_puts(&b, "{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":1,"
                                      "\"disks\":[],\"gpus\":["),
                     MON_OK);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(mon_buf_printf(&b, "%s{\"index\":0}", i ? "," : ""), MON_OK);
    assert_int_equal(mon_buf_puts(&b, "]}"), MON_OK);
    assert_int_equal(agg_sample_parse(b.data, b.len, &s, why, sizeof(why)), MON_EPARSE);
    assert_string_equal(why, "gpus: more than 64 entries");
    mon_buf_done(&b);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_reply),      cmocka_unit_test(test_no_gpus_no_services),
        cmocka_unit_test(test_eight_gpus),      cmocka_unit_test(test_gpu_processes_and_health),
        cmocka_unit_test(test_lost_gpu),        cmocka_unit_test(test_stale_disk),
        cmocka_unit_test(test_rejections),      cmocka_unit_test(test_huge_array),
        cmocka_unit_test(test_nulls_and_edges), cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
