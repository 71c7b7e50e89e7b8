/* SPDX-License-Identifier: MIT */
/* Tests for the NVML health figures and the Xid thread against the fake library: values,
 * absent figures, unsupported calls not repeated, Xid events kept per GPU, a failing or hanging
 * event wait. */
#include "agent/collect/gpu_nvml.h"
#include "agent/collect/gpu_xid.h"
#include "common/clock.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/fake_nvml_test.h"

static struct agent_gpu_reading readings[GPU_MAX];

/* Opens the collector and keeps it in *state until close_kept(), so that a test ended early by
 * a failed assertion still closes it (in close_left_open): a collector left open keeps its Xid
 * thread, event set and NVML session, and the tests after it would fail on those. */
static struct agent_gpu_nvml *open_kept(void **state)
{
    *state = fake_nvml_open(FAKE_LIB);
    return *state;
}

static bool close_kept(void **state)
{
    struct agent_gpu_nvml *g = *state;

    *state = NULL;
    return agent_gpu_nvml_close(g);
}

static int close_left_open(void **state)
{
    (void)close_kept(state);
    return 0;
}

static struct agent_gpu_reading *read_all(struct agent_gpu_nvml *g)
{
    char why[128];
    size_t n = 0;
    assert_int_equal(agent_gpu_nvml_read(g, readings, GPU_MAX, &n, why, sizeof(why)), MON_OK);
    return readings;
}

static void test_default_health(void **state)
{
    struct agent_gpu_nvml *g;
    struct agent_gpu_reading *r;

    setenv("FAKE_NVML_GPUS", "1", 1);
    g = open_kept(state);
    r = read_all(g);
    assert_true(r->ecc.has_mode && r->ecc.enabled && r->ecc.has_counts);
    assert_int_equal(r->ecc.volatile_uncorrected, 0);
    assert_true(r->has_remapped_rows);
    assert_false(r->remapped_rows.pending || r->remapped_rows.failed);
    assert_true(r->has_throttle);
    assert_int_equal(r->throttle_mask, 0);
    assert_true(r->has_fan && r->fan_pct == 41);
    assert_true(r->has_sm_clock && r->sm_clock_mhz == 1410);
    assert_true(r->has_power_limit && r->power_limit_w == 400.0);
    assert_true(r->has_pstate && r->pstate == 0);
    close_kept(state);
}

static void test_values_from_state(void **state)
{
    const char *path = fake_nvml_state_file();
    struct agent_gpu_nvml *g;
    struct agent_gpu_reading *r;

    setenv("FAKE_NVML_GPUS", "2", 1);
    fake_nvml_write_state(path, "ecc_vol_corr@1=5\necc_vol_unc@1=3\necc_agg_corr@1=50\n"
                                "ecc_agg_unc@1=7\nremap_corr@1=2\nremap_unc@1=1\n"
                                "remap_pending@1=1\nremap_failed@1=1\nthrottle@1=0x44\n"
                                "fan@1=100\nsm_clock@1=210\npower_limit_mw@1=250500\n"
                                "pstate@1=8\necc_mode@0=0\n");
    g = open_kept(state);
    r = read_all(g);
    /* ECC off: the mode says so, and there are no counts (not zeros) */
    assert_true(r[0].ecc.has_mode);
    assert_false(r[0].ecc.enabled);
    assert_false(r[0].ecc.has_counts);
    assert_true(r[1].ecc.has_counts);
    assert_int_equal(r[1].ecc.volatile_corrected, 5);
    assert_int_equal(r[1].ecc.volatile_uncorrected, 3);
    assert_int_equal(r[1].ecc.aggregate_corrected, 50);
    assert_int_equal(r[1].ecc.aggregate_uncorrected, 7);
    assert_int_equal(r[1].remapped_rows.corrected, 2);
    assert_int_equal(r[1].remapped_rows.uncorrected, 1);
    assert_true(r[1].remapped_rows.pending && r[1].remapped_rows.failed);
    assert_int_equal(r[1].throttle_mask, GPU_THROTTLE_SW_POWER_CAP | GPU_THROTTLE_HW_THERMAL);
    assert_int_equal(r[1].fan_pct, 100);
    assert_int_equal(r[1].sm_clock_mhz, 210);
    assert_true(r[1].power_limit_w == 250.5);
    assert_int_equal(r[1].pstate, 8);

    /* ECC turned on (after a reboot): its counts are read, it was never "unsupported" */
    fake_nvml_write_state(path, "ecc_mode@0=1\necc_vol_unc@0=4\npstate@0=32\n");
    r = read_all(g);
    assert_true(r[0].ecc.enabled && r[0].ecc.has_counts);
    assert_int_equal(r[0].ecc.volatile_uncorrected, 4);
    assert_false(r[0].has_pstate); /* 32 is NVML's "unknown" */
    close_kept(state);
    unlink(path);
}

static void test_unsupported_not_retried(void **state)
{
    static const char *const calls[] = {"ecc",   "remap",       "throttle", "fan",
                                        "clock", "power_limit", "pstate"};
    const char *path = fake_nvml_state_file();
    struct agent_gpu_nvml *g;
    struct agent_gpu_reading *r;

    setenv("FAKE_NVML_GPUS", "2", 1);
    fake_nvml_write_state(path, "unsupported@0=ecc,remap,throttle,fan,clock,power_limit,pstate\n"
                                "unsupported@1=ecc_counts\n");
    g = open_kept(state);
    for (int i = 0; i < 3; i++) {
        r = read_all(g);
        assert_false(r[0].ecc.has_mode || r[0].has_remapped_rows || r[0].has_throttle ||
                     r[0].has_fan || r[0].has_sm_clock || r[0].has_power_limit || r[0].has_pstate);
        assert_string_equal(r[0].error, ""); /* absence, not a fault */
        assert_true(r[0].has_util && r[0].has_mem);
        assert_true(r[1].ecc.has_mode && !r[1].ecc.has_counts);
        assert_true(r[1].has_fan && r[1].has_pstate);
    }
    /* GPU 0 was asked once per call; GPU 1 three times (except ECC counts: once) */
    for (size_t k = 0; k < sizeof(calls) / sizeof(calls[0]); k++)
        assert_int_equal(fake_nvml_calls_of(FAKE_LIB, calls[k]), 1 + 3);
    assert_int_equal(fake_nvml_calls_of(FAKE_LIB, "ecc_counts"), 1);
    close_kept(state);
    unlink(path);
}

/* Reads until GPU index has n Xid events (the thread delivers them asynchronously). */
static struct agent_gpu_reading *wait_xid(struct agent_gpu_nvml *g, unsigned index, unsigned n)
{
    int64_t deadline = mon_mono_ms() + 5000;
    struct agent_gpu_reading *r;
    do {
        r = read_all(g);
        if (r[index].n_xid >= n)
            return r;
        mon_sleep_ms(20);
    } while (mon_mono_ms() < deadline);
    fail_msg("GPU %u: %u Xid events, expected %u", index, r[index].n_xid, n);
    return NULL;
}

static void test_xid_events(void **state)
{
    const char *path = fake_nvml_state_file();
    char text[512] = "unsupported@2=xid\nxid=1:79,2:48";
    size_t len = strlen(text);
    int64_t before = mon_utc_ms() / 1000;
    struct agent_gpu_nvml *g;
    struct agent_gpu_reading *r;

    setenv("FAKE_NVML_GPUS", "3", 1);
    fake_nvml_write_state(path, "unsupported@2=xid\n");
    g = open_kept(state);
    read_all(g); /* the first read registers the GPUs and starts the thread */
    fake_nvml_write_state(path, "unsupported@2=xid\nxid=1:79,2:48\n");
    r = wait_xid(g, 1, 1);
    assert_true(r[0].has_xid);
    assert_int_equal(r[0].n_xid, 0);
    assert_int_equal(r[1].xid[0].code, 79);
    assert_true(r[1].xid[0].at_utc_s >= before && r[1].xid[0].at_utc_s <= mon_utc_ms() / 1000);
    assert_int_equal(r[1].xid_total, 1);
    /* GPU 2 refused the registration: no Xid figure at all */
    assert_false(r[2].has_xid);

    /* twelve more on GPU 1: the newest ten are kept, oldest first, all counted */
    for (int i = 0; i < 12; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, ",1:%d", 100 + i);
    snprintf(text + len, sizeof(text) - len, "\n");
    fake_nvml_write_state(path, text);
    r = wait_xid(g, 1, GPU_XID_KEEP);
    for (int64_t deadline = mon_mono_ms() + 5000; r[1].xid_total < 13 && mon_mono_ms() < deadline;
         mon_sleep_ms(20))
        r = read_all(g);
    assert_int_equal(r[1].xid_total, 13);
    assert_int_equal(r[1].n_xid, GPU_XID_KEEP);
    assert_int_equal(r[1].xid[0].code, 102);
    assert_int_equal(r[1].xid[GPU_XID_KEEP - 1].code, 111);
    /* the GPU falls off the bus: its Xid events stay in the reading, they say why */
    fake_nvml_write_state(path, "lost=1\n");
    r = read_all(g);
    assert_string_equal(r[1].error, "GPU is lost");
    assert_true(r[1].has_xid);
    assert_int_equal(r[1].n_xid, GPU_XID_KEEP);
    close_kept(state);
    unlink(path);
}

static void test_xid_survives_driver_errors(void **state)
{
    const char *path = fake_nvml_state_file();
    struct agent_gpu_nvml *g;

    setenv("FAKE_NVML_GPUS", "1", 1);
    fake_nvml_write_state(path, "xid_wait_error=15\n"); /* GPU is lost */
    g = open_kept(state);
    read_all(g);
    mon_sleep_ms(300);
    fake_nvml_write_state(path, "xid=0:79\n"); /* the driver answers again */
    assert_int_equal(wait_xid(g, 0, 1)[0].xid[0].code, 79);
    close_kept(state);
    unlink(path);
}

/* Calls an unsigned (void) hook of the fake library held open by self. */
static unsigned hook(void *self, const char *name)
{
    unsigned (*fn)(void);
    void *sym = dlsym(self, name);
    assert_non_null(sym);
    memcpy(&fn, &sym, sizeof(fn));
    return fn();
}

/* Waits (bounded) until hook name of the fake answers want. */
static void wait_hook(void *self, const char *name, unsigned want)
{
    for (int64_t deadline = mon_mono_ms() + 5000;
         hook(self, name) != want && mon_mono_ms() < deadline;)
        mon_sleep_ms(5);
    assert_int_equal(hook(self, name), want);
}

/* Waits (bounded) until the fake has no event set and no NVML session left. */
static void wait_all_released(void *self)
{
    for (int64_t deadline = mon_mono_ms() + AGENT_XID_WAIT_MS + 3000;
         (hook(self, "fake_nvml_live_event_sets") > 0 || hook(self, "fake_nvml_sessions") > 0) &&
         mon_mono_ms() < deadline;)
        mon_sleep_ms(20);
    assert_int_equal(hook(self, "fake_nvml_live_event_sets"), 0);
    assert_int_equal(hook(self, "fake_nvml_sessions"), 0);
}

static void test_close_is_prompt_and_clean(void **state)
{
    void *self = dlopen(FAKE_LIB, RTLD_NOW); /* our own reference: the fake's hooks stay */
    struct agent_gpu_nvml *g;
    int64_t t0;

    assert_non_null(self);
    wait_all_released(self); /* the threads of the tests before have finished */
    setenv("FAKE_NVML_GPUS", "2", 1);
    g = open_kept(state);
    read_all(g);
    assert_int_equal(hook(self, "fake_nvml_live_event_sets"), 1);
    assert_int_equal(hook(self, "fake_nvml_sessions"), 1);
    /* the thread is inside a wait of the driver (before it, it would see the stop at once) */
    wait_hook(self, "fake_nvml_event_waiters", 1);
    t0 = mon_mono_ms();
    /* the Xid thread is not waited for: it finishes the close when its wait ends */
    assert_false(close_kept(state));
    assert_true(mon_mono_ms() - t0 < 300);
    /* ...and it does: the event set freed, nvmlShutdown called */
    wait_all_released(self);
    dlclose(self);
}

static void test_close_with_hung_wait(void **state)
{
    const char *path = fake_nvml_state_file();
    struct agent_gpu_nvml *g;
    void *self;
    int64_t t0;

    setenv("FAKE_NVML_GPUS", "1", 1);
    fake_nvml_write_state(path, "xid_hang=1\n");
    g = open_kept(state);
    read_all(g);
    self = dlopen(FAKE_LIB, RTLD_NOW | RTLD_NOLOAD); /* the copy the collector loaded */
    assert_non_null(self);
    wait_hook(self, "fake_nvml_event_waiters", 1); /* the thread is inside the 30-s wait */
    dlclose(self);
    t0 = mon_mono_ms();
    /* the wait is not waited for: the thread unloads the library when (if) it comes back */
    assert_false(close_kept(state));
    assert_true(mon_mono_ms() - t0 < 300);
    unlink(path);
}

/* Each test starts from a clean environment and closes what it left open. */
#define KEPT_TEST(fn) cmocka_unit_test_setup_teardown(fn, fake_nvml_reset_env, close_left_open)

int main(void)
{
    const struct CMUnitTest tests[] = {
        KEPT_TEST(test_default_health),
        KEPT_TEST(test_values_from_state),
        KEPT_TEST(test_unsupported_not_retried),
        KEPT_TEST(test_xid_events),
        KEPT_TEST(test_xid_survives_driver_errors),
        KEPT_TEST(test_close_is_prompt_and_clean),
        /* last: it leaves a thread sleeping inside the fake library */
        KEPT_TEST(test_close_with_hung_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
