/* SPDX-License-Identifier: MIT */
/* The compact one-hour ring: 10 bytes a point, values as the API shows them (tenths of a
 * percent, GPU memory to the MiB), wrap-around, gaps filled with empty points, clock jumps. */
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
    assert_int_equal(sizeof(struct agg_ring_point), 10);
    assert_int_equal(agg_ring_init(&r, 8), MON_OK);
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
    /* Whole MiB stay exact up to 1 TiB; beyond, the relative error is below 1e-6. */
    v = values(99.96, 1048575);
    agg_ring_push(&r, T0 + 5, &v);
    walk(&r, ts, cpu, &last);
    assert_float_equal(cpu[1], 100, 1e-9);
    assert_float_equal(last.v[AGG_METRIC_GPU_MEM_USED_MB], 1048575, 1e-9);
    v = values(-3, 5e6 + 3);
    agg_ring_push(&r, T0 + 10, &v);
    walk(&r, ts, cpu, &last);
    assert_float_equal(cpu[2], 0, 1e-9); /* clamped to 0..100 */
    assert_true(fabs(last.v[AGG_METRIC_GPU_MEM_USED_MB] - (5e6 + 3)) / 5e6 < 1e-6);
    v = values(NAN, -1);
    agg_ring_push(&r, T0 + 15, &v);
    walk(&r, ts, cpu, &last);
    assert_float_equal(cpu[3], -1, 1e-9); /* absent */
    assert_false(last.has[AGG_METRIC_GPU_MEM_USED_MB]);
    agg_ring_done(&r);
    agg_ring_done(&r); /* twice is fine */
}

static void test_wrap_gaps_and_jumps(void **state)
{
    struct agg_ring r;
    struct agg_ring_values v, last;
    int64_t ts[8];
    double cpu[8];
    (void)state;
    memset(&last, 0, sizeof(last));
    assert_int_equal(agg_ring_init(&r, 4), MON_OK);
    for (int i = 0; i < 6; i++) {
        v = values(i, 1);
        agg_ring_push(&r, T0 + 5 * i, &v);
    }
    assert_int_equal(walk(&r, ts, cpu, &last), 4); /* the oldest two were dropped */
    assert_int_equal(ts[0], T0 + 10);
    assert_int_equal(ts[3], T0 + 25);
    assert_float_equal(cpu[0], 2, 1e-9);
    /* 40 min of silence: an empty point keeps the time step small, the times stay exact. */
    v = values(50, 1);
    agg_ring_push(&r, T0 + 25 + 2400, &v);
    assert_int_equal(walk(&r, ts, cpu, &last), 4);
    assert_int_equal(ts[2], T0 + 25 + 2047);
    assert_float_equal(cpu[2], -1, 1e-9);
    assert_int_equal(ts[3], T0 + 25 + 2400);
    assert_float_equal(cpu[3], 50, 1e-9);
    /* The clock goes back 10 minutes: kept, with a negative step. */
    v = values(60, 1);
    agg_ring_push(&r, T0 + 25 + 1800, &v);
    walk(&r, ts, cpu, &last);
    assert_int_equal(ts[3], T0 + 25 + 1800);
    /* An hour forward or more than 34 min back: everything older is out of the hour. */
    v = values(70, 1);
    agg_ring_push(&r, T0 + 25 + 1800 + 3600, &v);
    assert_int_equal(walk(&r, ts, cpu, &last), 1);
    v = values(80, 1);
    agg_ring_push(&r, T0, &v);
    assert_int_equal(walk(&r, ts, cpu, &last), 1);
    assert_int_equal(ts[0], T0);
    agg_ring_done(&r);
    assert_int_equal(agg_ring_init(&r, 0), MON_EINVAL);
    assert_int_equal(agg_ring_init(&r, 70000), MON_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_wrap_gaps_and_jumps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
