/* SPDX-License-Identifier: MIT */
/* The compact one-hour ring: 8 bytes a point, values as the API shows them (tenths of a
 * percent, GPU memory to the MiB), steps off the interval, wrap-around, gaps shown as empty
 * points, clock jumps. */
#include "aggregator/ring.h"
#include "common/err.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define T0 1768644000LL

static struct agg_ring_values values(double cpu, double gpu_mem)
{
    struct agg_ring_values v;
    memset(&v, 0, sizeof(v));
    v.has[AGG_METRIC_CPU_PCT] = true;
    v.v[AGG_METRIC_CPU_PCT] = cpu;
    v.has[AGG_METRIC_MEM_USED_PCT] = true;
    v.v[AGG_METRIC_MEM_USED_PCT] = 100.0;
    v.has[AGG_METRIC_GPU_MEM_USED_MB] = gpu_mem >= 0;
    v.v[AGG_METRIC_GPU_MEM_USED_MB] = gpu_mem;
    return v;
}

/* The points as (t, cpu) pairs; returns the count. */
static size_t walk(const struct agg_ring *r, int64_t *ts, double *cpu, struct agg_ring_values *last)
{
    size_t i = 0, n = 0;
    int64_t t = 0;
    struct agg_ring_values v;
    while (agg_ring_next(r, &i, &t, &v)) {
        ts[n] = t;
        cpu[n] = v.has[AGG_METRIC_CPU_PCT] ? v.v[AGG_METRIC_CPU_PCT] : -1;
        *last = v;
        n++;
    }
    return n;
}

static void test_encoding(void **state)
{
    struct agg_ring r;
    struct agg_ring_values v, last;
    int64_t ts[8];
    double cpu[8];
    (void)state;
    memset(&last, 0, sizeof(last));
    assert_int_equal(sizeof(struct agg_ring_point), 8);
    assert_int_equal(agg_ring_init(&r, 8, 5000), MON_OK);
    v = values(23.44, 81920);
    agg_ring_push(&r, T0, &v);
    assert_int_equal(walk(&r, ts, cpu, &last), 1);
    assert_int_equal(ts[0], T0);
    assert_float_equal(cpu[0], 23.4, 1e-9); /* tenths, as the API rounds */
    assert_float_equal(last.v[AGG_METRIC_MEM_USED_PCT], 100, 1e-9);
    assert_false(last.has[AGG_METRIC_DISK_USED_PCT]);
    assert_false(last.has[AGG_METRIC_GPU_UTIL_PCT]);
    assert_true(last.has[AGG_METRIC_GPU_MEM_USED_MB]);
    assert_float_equal(last.v[AGG_METRIC_GPU_MEM_USED_MB], 81920, 1e-9);
    /* Whole MiB stay exact up to 2 TiB; beyond, within 1 GiB. */
    v = values(99.96, 2097151);
    agg_ring_push(&r, T0 + 5, &v);
    walk(&r, ts, cpu, &last);
    assert_float_equal(cpu[1], 100, 1e-9);
    assert_float_equal(last.v[AGG_METRIC_GPU_MEM_USED_MB], 2097151, 1e-9);
    v = values(-3, 5e6 + 3);
    agg_ring_push(&r, T0 + 10, &v);
    walk(&r, ts, cpu, &last);
    assert_float_equal(cpu[2], 0, 1e-9); /* clamped to 0..100 */
    assert_true(fabs(last.v[AGG_METRIC_GPU_MEM_USED_MB] - (5e6 + 3)) <= 1024);
    v = values(1, 1e30); /* beyond the range: the largest kept value */
    agg_ring_push(&r, T0 + 11, &v);
    walk(&r, ts, cpu, &last);
    assert_true(last.v[AGG_METRIC_GPU_MEM_USED_MB] > 4e9);
    assert_int_equal(ts[3], T0 + 11);
    v = values(NAN, -1);
    agg_ring_push(&r, T0 + 15, &v);
    assert_int_equal(walk(&r, ts, cpu, &last), 5);
    assert_float_equal(cpu[4], -1, 1e-9); /* absent */
    assert_false(last.has[AGG_METRIC_GPU_MEM_USED_MB]);
    agg_ring_done(&r);
    agg_ring_done(&r); /* twice is fine */
}

static void test_steps(void **state)
{
    struct agg_ring r;
    struct agg_ring_values v, last;
    int64_t ts[8], want[] = {T0, T0 + 4, T0 + 10, T0 + 20, T0 + 22};
    double cpu[8];
    (void)state;
    memset(&last, 0, sizeof(last));
    /* The interval ± 1 s takes one point; other steps a time point more, never shown. */
    assert_int_equal(agg_ring_init(&r, 16, 5000), MON_OK);
    for (size_t i = 0; i < 5; i++) {
        v = values((double)i, 1);
        agg_ring_push(&r, want[i], &v);
    }
    assert_int_equal(r.len, 7);
    assert_int_equal(walk(&r, ts, cpu, &last), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(ts[i], want[i]);
        assert_float_equal(cpu[i], (double)i, 1e-9);
    }
    agg_ring_done(&r);
    /* A full hour at 5 s: 720 points of 8 bytes. */
    assert_int_equal(agg_ring_init(&r, 720, 5000), MON_OK);
    for (int i = 0; i < 800; i++) {
        v = values(i % 100, 1);
        agg_ring_push(&r, T0 + 5 * i + (i % 3 == 1), &v);
    }
    assert_int_equal(r.len, 720);
    assert_int_equal(r.oldest_s, T0 + 5 * 80 + (80 % 3 == 1));
    agg_ring_done(&r);
    assert_int_equal(agg_ring_init(&r, 4, 0), MON_EINVAL);
}

static void test_wrap_gaps_and_jumps(void **state)
{
    struct agg_ring r;
    struct agg_ring_values v, last;
    int64_t ts[8];
    double cpu[8];
    (void)state;
    memset(&last, 0, sizeof(last));
    assert_int_equal(agg_ring_init(&r, 4, 5000), MON_OK);
    for (int i = 0; i < 6; i++) {
        v = values(i, 1);
        agg_ring_push(&r, T0 + 5 * i, &v);
    }
    assert_int_equal(walk(&r, ts, cpu, &last), 4); /* the oldest two were dropped */
    assert_int_equal(ts[0], T0 + 10);
    assert_int_equal(ts[3], T0 + 25);
    assert_float_equal(cpu[0], 2, 1e-9);
    /* 40 min of silence: an empty point 2047 s into the gap (charts break there), a time point
     * (not shown) and the value: the times stay exact as the oldest points drop out. */
    v = values(50, 1);
    agg_ring_push(&r, T0 + 25 + 2400, &v);
    assert_int_equal(walk(&r, ts, cpu, &last), 3);
    assert_int_equal(ts[0], T0 + 25);
    assert_int_equal(ts[1], T0 + 25 + 2047);
    assert_float_equal(cpu[1], -1, 1e-9);
    assert_int_equal(ts[2], T0 + 25 + 2400);
    assert_float_equal(cpu[2], 50, 1e-9);
    /* The clock goes back 10 minutes: kept, with a negative step; the oldest point left is a
     * time point. */
    v = values(60, 1);
    agg_ring_push(&r, T0 + 25 + 1800, &v);
    assert_int_equal(walk(&r, ts, cpu, &last), 2);
    assert_int_equal(ts[0], T0 + 25 + 2400);
    assert_int_equal(ts[1], T0 + 25 + 1800);
    assert_float_equal(cpu[1], 60, 1e-9);
    /* An hour forward or more than 34 min back: everything older is out of the hour. */
    v = values(70, 1);
    agg_ring_push(&r, T0 + 25 + 1800 + 3600, &v);
    assert_int_equal(walk(&r, ts, cpu, &last), 1);
    v = values(80, 1);
    agg_ring_push(&r, T0, &v);
    assert_int_equal(walk(&r, ts, cpu, &last), 1);
    assert_int_equal(ts[0], T0);
    agg_ring_done(&r);
    assert_int_equal(agg_ring_init(&r, 0, 5000), MON_EINVAL);
    assert_int_equal(agg_ring_init(&r, 70000, 5000), MON_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_steps),
        cmocka_unit_test(test_wrap_gaps_and_jumps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
