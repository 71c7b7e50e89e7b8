/* SPDX-License-Identifier: MIT */
/* The history metric table: lookups by name, the error list, the aggregate names, and that
 * every (metric, aggregate) reads the hourly-row field of the same name and every metric the
 * right sample value (the store's test checks the SQL columns). */
#include "aggregator/metric.h"
#include "aggregator/model.h"
#include "aggregator/sample.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_find(void **state)
{
    char names[256];
    (void)state;
    for (size_t i = 0; i < AGG_METRIC_COUNT; i++) {
        assert_int_equal(agg_metrics[i].id, (int)i);
        assert_ptr_equal(agg_metric_find(agg_metrics[i].name), &agg_metrics[i]);
        for (size_t a = 0; a < AGG_METRIC_AGG_COUNT; a++)
            assert_non_null(agg_metrics[i].columns[a]);
    }
    assert_null(agg_metric_find(NULL));
    assert_null(agg_metric_find(""));
    assert_null(agg_metric_find("cpu"));
    assert_null(agg_metric_find("cpu_pct_avg"));
    assert_null(agg_metric_find("CPU_PCT"));
    agg_metric_names(names, sizeof(names));
    assert_string_equal(names,
                        "cpu_pct, mem_used_pct, disk_used_pct, gpu_util_pct, gpu_mem_used_mb");
    agg_metric_names(names, 8); /* truncated, still terminated */
    assert_string_equal(names, "cpu_pct");
}

static void test_aggs(void **state)
{
    enum agg_metric_agg a = AGG_METRIC_MIN;
    (void)state;
    assert_int_equal(agg_metric_agg_find("avg", &a), MON_OK);
    assert_int_equal(a, AGG_METRIC_AVG);
    assert_int_equal(agg_metric_agg_find("max", &a), MON_OK);
    assert_int_equal(a, AGG_METRIC_MAX);
    assert_int_equal(agg_metric_agg_find("min", &a), MON_OK);
    assert_int_equal(a, AGG_METRIC_MIN);
    assert_int_equal(agg_metric_agg_find("median", &a), MON_EINVAL);
    assert_int_equal(agg_metric_agg_find(NULL, &a), MON_EINVAL);
    assert_int_equal(a, AGG_METRIC_MIN); /* untouched on failure */
    assert_string_equal(agg_metric_agg_name(AGG_METRIC_AVG), "avg");
    assert_string_equal(agg_metric_agg_name(AGG_METRIC_MAX), "max");
    assert_string_equal(agg_metric_agg_name(AGG_METRIC_MIN), "min");
}

/* Each aggregate of each metric reads its own field: written by name here, read through the
 * table's offsets; its column is the field's name. */
static void test_from_row(void **state)
{
    struct agg_hourly_row row = {
        .has_cpu = true, .has_mem = true, .has_disk = true, .has_gpu = true};
    static const struct {
        const char *metric, *agg, *column;
        double value;
    } cases[] = {
        {"cpu_pct", "avg", "cpu_pct_avg", 1},
        {"cpu_pct", "max", "cpu_pct_max", 2},
        {"cpu_pct", "min", "cpu_pct_min", 3},
        {"mem_used_pct", "avg", "mem_used_pct_avg", 4},
        {"mem_used_pct", "max", "mem_used_pct_max", 5},
        {"mem_used_pct", "min", "mem_used_pct_min", 6},
        {"disk_used_pct", "avg", "disk_used_pct", 7},
        {"disk_used_pct", "max", "disk_used_pct_max", 8},
        {"disk_used_pct", "min", "disk_used_pct_min", 9},
        {"gpu_util_pct", "avg", "gpu_util_pct_avg", 10},
        {"gpu_util_pct", "max", "gpu_util_pct_max", 11},
        {"gpu_util_pct", "min", "gpu_util_pct_min", 12},
        {"gpu_mem_used_mb", "avg", "gpu_mem_used_mb", 13},
        {"gpu_mem_used_mb", "max", "gpu_mem_used_mb_max", 14},
        {"gpu_mem_used_mb", "min", "gpu_mem_used_mb_min", 15},
    };
    double v = -1;
    enum agg_metric_agg a;
    (void)state;

    row.cpu_pct_avg = 1, row.cpu_pct_max = 2, row.cpu_pct_min = 3;
    row.mem_used_pct_avg = 4, row.mem_used_pct_max = 5, row.mem_used_pct_min = 6;
    row.disk_used_pct = 7, row.disk_used_pct_max = 8, row.disk_used_pct_min = 9;
    row.gpu_util_pct_avg = 10, row.gpu_util_pct_max = 11, row.gpu_util_pct_min = 12;
    row.gpu_mem_used_mb = 13, row.gpu_mem_used_mb_max = 14, row.gpu_mem_used_mb_min = 15;
    assert_int_equal(sizeof(cases) / sizeof(cases[0]), AGG_METRIC_COUNT * AGG_METRIC_AGG_COUNT);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct agg_metric *m = agg_metric_find(cases[i].metric);
        assert_non_null(m);
        assert_int_equal(agg_metric_agg_find(cases[i].agg, &a), MON_OK);
        assert_string_equal(m->columns[a], cases[i].column);
        assert_true(agg_metric_from_row(m, a, &row, &v));
        assert_float_equal(v, cases[i].value, 0);
    }
    /* a missing group gives no value, whatever its fields hold */
    row.has_gpu = false;
    assert_false(
        agg_metric_from_row(&agg_metrics[AGG_METRIC_GPU_UTIL_PCT], AGG_METRIC_MAX, &row, &v));
    assert_false(
        agg_metric_from_row(&agg_metrics[AGG_METRIC_GPU_MEM_USED_MB], AGG_METRIC_AVG, &row, &v));
    assert_true(agg_metric_from_row(&agg_metrics[AGG_METRIC_CPU_PCT], AGG_METRIC_AVG, &row, &v));
}

static void test_from_sample(void **state)
{
    struct agg_disk disks[2] = {{.mount = "/stale", .has_value = false, .used_pct = 99},
                                {.mount = "/", .has_value = true, .used_pct = 42.5}};
    struct agg_sample s = {.has_cpu = true,
                           .cpu_pct = 12.5,
                           .has_mem = false,
                           .mem_used_pct = 70,
                           .n_disks = 2,
                           .disks = disks,
                           .has_gpu = true,
                           .gpu_util_max = 88,
                           .gpu_mem_used_mb = 4096};
    double v = -1;
    (void)state;

    assert_true(agg_metrics[AGG_METRIC_CPU_PCT].from_sample(&s, &v));
    assert_float_equal(v, 12.5, 0);
    assert_false(agg_metrics[AGG_METRIC_MEM_USED_PCT].from_sample(&s, &v));
    /* the first mount that has a value */
    assert_true(agg_metrics[AGG_METRIC_DISK_USED_PCT].from_sample(&s, &v));
    assert_float_equal(v, 42.5, 0);
    assert_true(agg_metrics[AGG_METRIC_GPU_UTIL_PCT].from_sample(&s, &v));
    assert_float_equal(v, 88, 0);
    assert_true(agg_metrics[AGG_METRIC_GPU_MEM_USED_MB].from_sample(&s, &v));
    assert_float_equal(v, 4096, 0);
    s.n_disks = 1;
    s.has_gpu = false;
    assert_false(agg_metrics[AGG_METRIC_DISK_USED_PCT].from_sample(&s, &v));
    assert_false(agg_metrics[AGG_METRIC_GPU_UTIL_PCT].from_sample(&s, &v));
    assert_false(agg_metrics[AGG_METRIC_GPU_MEM_USED_MB].from_sample(&s, &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_aggs),
        cmocka_unit_test(test_from_row),
        cmocka_unit_test(test_from_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
