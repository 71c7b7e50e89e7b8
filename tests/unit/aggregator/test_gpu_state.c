/* SPDX-License-Identifier: MIT */
/* GPU state rules with a fake clock: each boundary of free / busy / idle / error, the events a
 * change calls for (once each), Xid and ECC baselines, and the users summary. */
#include "aggregator/gpu_state.h"
#include "aggregator/sample.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define T0    1768644000000LL /* 2026-01-17T10:00:00Z, ms */
#define T0_S  (T0 / 1000)
#define MIN   60000LL
#define IDLE  (30 * MIN)
#define IV_MS 5000

static struct agg_gpu_state_config cfg;

static int setup(void **state)
{
    (void)state;
    agg_gpu_state_config_default(&cfg);
    return 0;
}

/* A healthy GPU with the given figures; procs < 0: the agent sent no process list. */
static struct agg_gpu gpu(double util, double mem_mb, int procs)
{
    struct agg_gpu g;
    memset(&g, 0, sizeof(g));
    g.index = 3;
    snprintf(g.uuid, sizeof(g.uuid), "GPU-3");
    snprintf(g.name, sizeof(g.name), "NVIDIA A100");
    g.has_util = util >= 0;
    g.util_pct = util;
    g.has_mem = mem_mb >= 0;
    g.mem_used_mb = mem_mb;
    g.mem_total_mb = 81920;
    g.has_procs = procs >= 0;
    g.n_procs = procs > 0 ? (uint32_t)procs : 0;
    g.ecc_mode = -1;
    g.ecc_volatile_uncorrected = g.ecc_volatile_corrected = -1;
    g.ecc_aggregate_uncorrected = g.ecc_aggregate_corrected = -1;
    g.remap_corrected = g.remap_uncorrected = -1;
    g.has_xid = true;
    return g;
}

/* One sample at now_ms (the agent's clock equals ours here). */
static struct agg_gpu_step step(struct agg_gpu_track *t, const struct agg_gpu *g, int64_t now_ms)
{
    struct agg_gpu_step s;
    agg_gpu_state_step(&cfg, t, g, now_ms / 1000, now_ms, &s);
    return s;
}

static void fresh(struct agg_gpu_track *t)
{
    agg_gpu_track_init(t, "GPU-3", 3);
}

static void test_names(void **state)
{
    enum agg_gpu_state s = AGG_GPU_UNKNOWN;
    (void)state;
    assert_string_equal(agg_gpu_state_name(AGG_GPU_FREE), "free");
    assert_string_equal(agg_gpu_state_name(AGG_GPU_ERROR), "error");
    assert_string_equal(agg_gpu_state_name(AGG_GPU_STATE_COUNT), "unknown");
    assert_int_equal(agg_gpu_state_from_name("idle", &s), MON_OK);
    assert_int_equal(s, AGG_GPU_IDLE);
    assert_int_equal(agg_gpu_state_from_name("IDLE", &s), MON_EINVAL);
    assert_int_equal(agg_gpu_state_from_name(NULL, &s), MON_EINVAL);
    assert_float_equal(cfg.free_mem_mb, 512, 0);
    assert_float_equal(cfg.busy_util_pct, 10, 0);
    assert_int_equal(cfg.idle_after_ms, IDLE);
}

/* free: no processes and memory used <= free_mem_mb; one MiB more or one process is held. */
static void test_free_boundary(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu g;
    struct agg_gpu_step s;
    (void)state;
    fresh(&t);
    g = gpu(0, 512, 0);
    s = step(&t, &g, T0);
    assert_int_equal(t.state, AGG_GPU_FREE);
    assert_int_equal(t.since_ms, T0);
    assert_true(s.persist);
    assert_false(s.gpu_error || s.gpu_recovered || s.gpu_idle);
    /* The same again: nothing to persist, since unchanged. */
    s = step(&t, &g, T0 + IV_MS);
    assert_false(s.persist);
    assert_int_equal(t.since_ms, T0);
    g = gpu(0, 512.5, 0);
    step(&t, &g, T0 + 2 * IV_MS);
    assert_int_equal(t.state, AGG_GPU_BUSY); /* held, low, for less than idle_after */
    assert_int_equal(t.since_ms, T0 + 2 * IV_MS);
    assert_int_equal(t.low_since_ms, T0 + 2 * IV_MS);
    /* A process with no memory reported still holds the GPU. */
    fresh(&t);
    g = gpu(0, 0, 1);
    step(&t, &g, T0);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    /* Without a process list the memory alone decides. */
    fresh(&t);
    g = gpu(0, 100, -1);
    step(&t, &g, T0);
    assert_int_equal(t.state, AGG_GPU_FREE);
    /* Nothing known at all: unknown. */
    fresh(&t);
    g = gpu(-1, -1, -1);
    step(&t, &g, T0);
    assert_int_equal(t.state, AGG_GPU_UNKNOWN);
}

/* busy: held and util >= busy_util_pct; 9.9 % is on its way to idle, 10 % is busy. */
static void test_busy_boundary(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu g;
    (void)state;
    fresh(&t);
    g = gpu(10, 4096, 1);
    step(&t, &g, T0);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_int_equal(t.low_since_ms, -1);
    g = gpu(9.9, 4096, 1);
    step(&t, &g, T0 + IV_MS);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_int_equal(t.since_ms, T0); /* still busy: since unchanged */
    assert_int_equal(t.low_since_ms, T0 + IV_MS);
    /* Held with unknown utilisation: busy, never idle, the low stretch left alone. */
    g = gpu(-1, 4096, 1);
    step(&t, &g, T0 + IDLE + IV_MS);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_int_equal(t.low_since_ms, T0 + IV_MS);
}

/* idle: held below busy_util_pct for idle_after or longer; gpu_idle once per low stretch. */
static void test_idle_boundary_and_event_once(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu g = gpu(2, 4096, 2);
    struct agg_gpu_step s;
    int64_t low = T0;
    (void)state;
    fresh(&t);
    step(&t, &g, low);
    s = step(&t, &g, low + IDLE - 1);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_false(s.gpu_idle);
    s = step(&t, &g, low + IDLE);
    assert_int_equal(t.state, AGG_GPU_IDLE);
    assert_true(s.gpu_idle);
    assert_true(s.persist);
    assert_true(t.idle_reported);
    assert_int_equal(t.since_ms, low); /* idle since utilisation dropped */
    s = step(&t, &g, low + IDLE + IV_MS);
    assert_false(s.gpu_idle);
    assert_false(s.persist);
    s = step(&t, &g, low + 3 * IDLE);
    assert_false(s.gpu_idle);
    /* Busy again ends the stretch; the next one is reported again after idle_after. */
    g = gpu(50, 4096, 2);
    s = step(&t, &g, low + 3 * IDLE + IV_MS);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_false(t.idle_reported);
    g = gpu(0, 4096, 2);
    low = low + 3 * IDLE + 2 * IV_MS;
    step(&t, &g, low);
    s = step(&t, &g, low + IDLE);
    assert_true(s.gpu_idle);
    /* Released: free ends the stretch too. */
    g = gpu(0, 0, 0);
    step(&t, &g, low + IDLE + IV_MS);
    assert_int_equal(t.state, AGG_GPU_FREE);
    assert_int_equal(t.low_since_ms, -1);
    assert_false(t.idle_reported);
}

/* The idle countdown alone: its start may wait for a checkpoint while the stored row has none
 * running (a restart then starts it late, never early); a stored countdown that ends or
 * restarts is written at once; a stretch that ends before the checkpoint costs no write. */
static void test_countdown_persist_later(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu hi = gpu(50, 4096, 1), lo = gpu(2, 4096, 1);
    struct agg_gpu_step s;
    (void)state;
    fresh(&t);
    s = step(&t, &hi, T0);
    assert_true(s.persist);             /* first sight */
    t.low_since_saved = t.low_since_ms; /* what the caller does when it writes the row */
    /* Crossing busy_util_pct back and forth: no write at all. */
    for (int i = 1; i <= 6; i++) {
        s = step(&t, i % 2 ? &lo : &hi, T0 + i * IV_MS);
        assert_false(s.persist);
        assert_int_equal(s.persist_later, i % 2 == 1);
        assert_int_equal(t.state, AGG_GPU_BUSY);
    }
    /* A stretch begins and the row is written at the checkpoint. */
    s = step(&t, &lo, T0 + 7 * IV_MS);
    assert_true(s.persist_later);
    assert_false(s.persist);
    s = step(&t, &lo, T0 + 8 * IV_MS);
    assert_true(s.persist_later); /* still differs from the stored row */
    t.low_since_saved = t.low_since_ms;
    s = step(&t, &lo, T0 + 9 * IV_MS);
    assert_false(s.persist || s.persist_later);
    /* The stored countdown ends: written at once. */
    s = step(&t, &hi, T0 + 10 * IV_MS);
    assert_true(s.persist);
    assert_false(s.persist_later);
    assert_int_equal(t.low_since_ms, -1);
    /* A real change is never deferred. */
    t.low_since_saved = -1;
    s = step(&t, &lo, T0 + 11 * IV_MS);
    assert_true(s.persist_later);
    s = step(&t, &lo, T0 + 11 * IV_MS + IDLE);
    assert_true(s.persist);
    assert_int_equal(t.state, AGG_GPU_IDLE);
}

/* The agent reports the GPU in error (lost): error with its text; gpu_error on the change,
 * gpu_recovered when it is back; both once. */
static void test_reported_error_and_recovery(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu g = gpu(50, 4096, 1), lost = gpu(-1, -1, -1);
    struct agg_gpu_step s;
    (void)state;
    snprintf(lost.error, sizeof(lost.error), "GPU is lost");
    lost.uuid[0] = '\0'; /* a lost GPU has no uuid: the record keeps the one it had */
    fresh(&t);
    step(&t, &g, T0);
    s = step(&t, &lost, T0 + IV_MS);
    assert_int_equal(t.state, AGG_GPU_ERROR);
    assert_true(s.gpu_error);
    assert_string_equal(t.reason, "GPU is lost");
    assert_string_equal(t.uuid, "GPU-3");
    assert_int_equal(t.since_ms, T0 + IV_MS);
    s = step(&t, &lost, T0 + 2 * IV_MS);
    assert_false(s.gpu_error);
    assert_false(s.persist);
    s = step(&t, &g, T0 + 3 * IV_MS);
    assert_true(s.gpu_recovered);
    assert_false(s.gpu_error);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_string_equal(t.reason, "");
    s = step(&t, &g, T0 + 4 * IV_MS);
    assert_false(s.gpu_recovered);
}

/* Already in error when first seen: no gpu_error (we do not know when it began), but its end
 * is reported, as for a unit already failed. */
static void test_error_at_first_sight(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu g = gpu(50, 4096, 1), bad = gpu(50, 4096, 1);
    struct agg_gpu_step s;
    (void)state;
    bad.has_remap = true;
    bad.remap_pending = true;
    fresh(&t);
    s = step(&t, &bad, T0);
    assert_int_equal(t.state, AGG_GPU_ERROR);
    assert_false(s.gpu_error);
    assert_true(t.error_open);
    s = step(&t, &g, T0 + IV_MS);
    assert_true(s.gpu_recovered);
}

/* Remapping pending, then failed as well while in error: a second gpu_error for the new
 * condition, none for the one already reported. */
static void test_remap_conditions(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu g = gpu(50, 4096, 1);
    struct agg_gpu_step s;
    (void)state;
    fresh(&t);
    step(&t, &g, T0);
    g.has_remap = true;
    g.remap_pending = true;
    s = step(&t, &g, T0 + IV_MS);
    assert_true(s.gpu_error);
    assert_string_equal(t.reason, "row remapping pending");
    s = step(&t, &g, T0 + 2 * IV_MS);
    assert_false(s.gpu_error);
    g.remap_failed = true;
    s = step(&t, &g, T0 + 3 * IV_MS);
    assert_true(s.gpu_error);
    assert_string_equal(t.reason, "row remapping pending, row remapping failed");
    g.remap_pending = g.remap_failed = false;
    s = step(&t, &g, T0 + 4 * IV_MS);
    assert_true(s.gpu_recovered);
}

/* New uncorrected ECC errors: error for the sample that shows them, "+N" from the last count;
 * a counter reset (driver reload) is a new baseline, not an error. */
static void test_ecc(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu g = gpu(50, 4096, 1);
    struct agg_gpu_step s;
    (void)state;
    g.ecc_mode = 1;
    g.ecc_volatile_uncorrected = 2; /* first sight: the baseline, whatever it is */
    fresh(&t);
    s = step(&t, &g, T0);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_int_equal(t.ecc_volatile, 2);
    g.ecc_volatile_uncorrected = 5;
    s = step(&t, &g, T0 + IV_MS);
    assert_int_equal(t.state, AGG_GPU_ERROR);
    assert_true(s.gpu_error);
    assert_string_equal(t.reason, "uncorrected ECC +3");
    s = step(&t, &g, T0 + 2 * IV_MS);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_true(s.gpu_recovered);
    g.ecc_volatile_uncorrected = 0;
    s = step(&t, &g, T0 + 3 * IV_MS);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_true(s.persist);
    assert_int_equal(t.ecc_volatile, 0);
    /* Only the aggregate counter known: it decides. */
    fresh(&t);
    g.ecc_volatile_uncorrected = -1;
    g.ecc_aggregate_uncorrected = 7;
    step(&t, &g, T0);
    g.ecc_aggregate_uncorrected = 8;
    s = step(&t, &g, T0 + IV_MS);
    assert_true(s.gpu_error);
    assert_string_equal(t.reason, "uncorrected ECC +1");
}

/* Xid: a new one is an error and an event; it keeps the GPU in error while it is within one
 * interval of the sample's time (inclusive), then the GPU recovers. */
static void test_xid_window(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu g = gpu(50, 4096, 1);
    struct agg_gpu_step s;
    int64_t at = T0_S + 10;
    (void)state;
    fresh(&t);
    step(&t, &g, T0);
    g.n_xid = 1;
    g.xid[0].code = 79;
    g.xid[0].at = at;
    s = step(&t, &g, at * 1000 + 1000);
    assert_true(s.gpu_error);
    assert_string_equal(t.reason, "Xid 79");
    assert_int_equal(t.xid_seen_at, at);
    assert_int_equal(t.xid_seen_n, 1);
    /* Exactly one interval later: still in error, no second event. */
    s = step(&t, &g, at * 1000 + IV_MS);
    assert_int_equal(t.state, AGG_GPU_ERROR);
    assert_false(s.gpu_error);
    /* One second more: over. */
    s = step(&t, &g, at * 1000 + IV_MS + 1000);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_true(s.gpu_recovered);
    /* A second Xid in the same second as the first is new too. */
    g.n_xid = 2;
    g.xid[1].code = 48;
    g.xid[1].at = at;
    s = step(&t, &g, at * 1000 + 2 * IV_MS);
    assert_true(s.gpu_error);
    assert_string_equal(t.reason, "Xid 48");
    assert_int_equal(t.xid_seen_n, 2);
    /* A new Xid while still in error is a new incident: another gpu_error. */
    g.n_xid = 3;
    g.xid[2].code = 79;
    g.xid[2].at = at + 11;
    s = step(&t, &g, (at + 12) * 1000);
    assert_true(s.gpu_error);
    assert_false(s.gpu_recovered);
}

/* At first sight the Xid list is the baseline: an old one is not reported nor an error; a
 * recent one is an error (without an event, like any error found at first sight). */
static void test_xid_first_sight(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu g = gpu(50, 4096, 1);
    struct agg_gpu_step s;
    (void)state;
    g.n_xid = 1;
    g.xid[0].code = 13;
    g.xid[0].at = T0_S - 3600;
    fresh(&t);
    s = step(&t, &g, T0);
    assert_int_equal(t.state, AGG_GPU_BUSY);
    assert_false(s.gpu_error);
    assert_int_equal(t.xid_seen_at, T0_S - 3600);
    s = step(&t, &g, T0 + IV_MS);
    assert_false(s.gpu_error);
    fresh(&t);
    g.xid[0].at = T0_S - 1;
    s = step(&t, &g, T0);
    assert_int_equal(t.state, AGG_GPU_ERROR);
    assert_false(s.gpu_error);
    s = step(&t, &g, T0 + 2 * IV_MS);
    assert_true(s.gpu_recovered);
}

/* A record restored after a restart: the same sample sends nothing again. */
static void test_restored_record_no_duplicates(void **state)
{
    struct agg_gpu_track t, restored;
    struct agg_gpu g = gpu(1, 4096, 1);
    struct agg_gpu_step s;
    (void)state;
    fresh(&t);
    step(&t, &g, T0);
    s = step(&t, &g, T0 + IDLE);
    assert_true(s.gpu_idle);
    g.has_remap = true;
    g.remap_pending = true;
    s = step(&t, &g, T0 + IDLE + IV_MS);
    assert_true(s.gpu_error);
    /* What the store keeps (the reason and last conditions are not kept). */
    restored = t;
    restored.reason[0] = '\0';
    restored.last_conditions = 0;
    s = step(&restored, &g, T0 + IDLE + 60000);
    assert_false(s.gpu_error || s.gpu_idle || s.gpu_recovered);
    g.remap_pending = false;
    s = step(&restored, &g, T0 + IDLE + 65000);
    assert_true(s.gpu_recovered);
    assert_false(s.gpu_idle); /* reported before the error, same stretch */
    assert_int_equal(restored.state, AGG_GPU_IDLE);
}

/* An idle GPU that goes into error: no gpu_idle while in error; the stretch continues. */
static void test_idle_waits_for_error_to_end(void **state)
{
    struct agg_gpu_track t;
    struct agg_gpu g = gpu(1, 4096, 1);
    struct agg_gpu_step s;
    (void)state;
    fresh(&t);
    step(&t, &g, T0);
    g.has_remap = true;
    g.remap_failed = true;
    s = step(&t, &g, T0 + IDLE);
    assert_int_equal(t.state, AGG_GPU_ERROR);
    assert_false(s.gpu_idle);
    g.remap_failed = false;
    s = step(&t, &g, T0 + IDLE + IV_MS);
    assert_true(s.gpu_recovered);
    assert_true(s.gpu_idle);
    assert_int_equal(t.state, AGG_GPU_IDLE);
    assert_int_equal(t.since_ms, T0);
}

static void test_users(void **state)
{
    struct agg_gpu_proc p[5];
    struct agg_gpu_user u[4];
    size_t n;
    (void)state;
    memset(p, 0, sizeof(p));
    snprintf(p[0].user, sizeof(p[0].user), "alice");
    p[0].used_mem_mb = 1000;
    snprintf(p[1].user, sizeof(p[1].user), "bob");
    p[1].used_mem_mb = -1;
    snprintf(p[2].user, sizeof(p[2].user), "alice");
    p[2].used_mem_mb = 24;
    p[3].used_mem_mb = 5; /* not visible: no user */
    snprintf(p[4].user, sizeof(p[4].user), "carol");
    n = agg_gpu_users(p, 5, u, 4);
    assert_int_equal(n, 4);
    assert_string_equal(u[0].user, "alice");
    assert_int_equal(u[0].processes, 2);
    assert_float_equal(u[0].used_mem_mb, 1024, 0);
    assert_string_equal(u[1].user, "bob");
    assert_float_equal(u[1].used_mem_mb, -1, 0);
    assert_string_equal(u[2].user, "");
    assert_string_equal(u[3].user, "carol");
    assert_int_equal(agg_gpu_users(p, 5, u, 2), 2);
    assert_int_equal(agg_gpu_users(p, 0, u, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_free_boundary),
        cmocka_unit_test(test_busy_boundary),
        cmocka_unit_test(test_idle_boundary_and_event_once),
        cmocka_unit_test(test_countdown_persist_later),
        cmocka_unit_test(test_reported_error_and_recovery),
        cmocka_unit_test(test_error_at_first_sight),
        cmocka_unit_test(test_remap_conditions),
        cmocka_unit_test(test_ecc),
        cmocka_unit_test(test_xid_window),
        cmocka_unit_test(test_xid_first_sight),
        cmocka_unit_test(test_restored_record_no_duplicates),
        cmocka_unit_test(test_idle_waits_for_error_to_end),
        cmocka_unit_test(test_users),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
