/* SPDX-License-Identifier: MIT */
/* Tests for the NVML collector against the fake libnvidia-ml.so.1 built in tests/fakes. */
#include "agent/collect/gpu_nvml.h"
#include "common/err.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/fake_nvml_test.h"

/* The fake's defaults for GPU i (see tests/fakes/fake_nvml.c). */
static void check_default_gpu(const struct agent_gpu_reading *r, unsigned i)
{
    char uuid[64];

    snprintf(uuid, sizeof(uuid), "GPU-00000000-0000-0000-0000-0000000000%02u", i);
    assert_int_equal(r->index, i);
    assert_string_equal(r->name, "NVIDIA Fake GPU");
    assert_string_equal(r->uuid, uuid);
    assert_string_equal(r->error, "");
    assert_true(r->has_util && r->has_mem && r->has_temp && r->has_power);
    assert_true(r->util_pct == (double)((10 * (i + 1)) % 101));
    assert_int_equal(r->mem_used_mb, 1024 * (i + 1));
    assert_int_equal(r->mem_total_mb, 81920);
    assert_true(r->temp_c == 40.0 + i);
    assert_true(r->power_w == 100.0 + i);
}

static void read_gpus(size_t n_gpus, const char *lib)
{
    char count[16], why[256] = "";
    struct agent_gpu_reading out[GPU_MAX];
    struct agent_gpu_nvml *g;
    size_t n = 999;

    snprintf(count, sizeof(count), "%zu", n_gpus);
    setenv("FAKE_NVML_GPUS", count, 1);
    g = fake_nvml_open(lib);
    assert_int_equal(agent_gpu_nvml_read(g, out, GPU_MAX, &n, why, sizeof(why)), MON_OK);
    assert_int_equal(n, n_gpus);
    for (size_t i = 0; i < n; i++)
        check_default_gpu(&out[i], (unsigned)i);
    agent_gpu_nvml_close(g);
}

static void test_zero_gpus(void **state)
{
    (void)state;
    read_gpus(0, FAKE_LIB);
}

static void test_one_gpu(void **state)
{
    (void)state;
    read_gpus(1, FAKE_LIB);
}

static void test_eight_gpus(void **state)
{
    (void)state;
    read_gpus(8, FAKE_LIB);
}

static void test_max_gpus(void **state)
{
    (void)state;
    read_gpus(GPU_MAX, FAKE_LIB);
}

static void test_nov2_variant(void **state)
{
    (void)state;
    read_gpus(3, FAKE_LIB_NOV2);
}

static void test_truncated_to_max(void **state)
{
    char why[256] = "";
    struct agent_gpu_reading out[2];
    struct agent_gpu_nvml *g;
    size_t n = 0;

    (void)state;
    setenv("FAKE_NVML_GPUS", "5", 1);
    g = fake_nvml_open(FAKE_LIB);
    assert_int_equal(agent_gpu_nvml_read(g, out, 2, &n, why, sizeof(why)), MON_OK);
    assert_int_equal(n, 2);
    check_default_gpu(&out[1], 1);
    agent_gpu_nvml_close(g);
}

static void test_lost_gpu(void **state)
{
    char why[256] = "";
    struct agent_gpu_reading out[GPU_MAX];
    struct agent_gpu_nvml *g;
    size_t n = 0;

    (void)state;
    setenv("FAKE_NVML_GPUS", "3", 1);
    setenv("FAKE_NVML_LOST", "1", 1);
    g = fake_nvml_open(FAKE_LIB);
    assert_int_equal(agent_gpu_nvml_read(g, out, GPU_MAX, &n, why, sizeof(why)), MON_OK);
    assert_int_equal(n, 3);
    check_default_gpu(&out[0], 0);
    check_default_gpu(&out[2], 2);
    assert_int_equal(out[1].index, 1);
    assert_string_equal(out[1].error, "GPU is lost");
    assert_false(out[1].has_util);
    assert_false(out[1].has_mem);
    agent_gpu_nvml_close(g);
}

static void test_init_fail(void **state)
{
    char untouched;
    struct agent_gpu_nvml *g = (struct agent_gpu_nvml *)&untouched;
    char why[256] = "";

    (void)state;
    setenv("FAKE_NVML_INIT_FAIL", "1", 1);
    assert_int_equal(agent_gpu_nvml_open(FAKE_LIB, &g, why, sizeof(why)), MON_EIO);
    assert_ptr_equal(g, &untouched); /* written only on success */
    assert_non_null(strstr(why, "nvmlInit failed"));
    assert_non_null(strstr(why, "Driver Not Loaded"));
}

static void test_missing_library(void **state)
{
    char untouched;
    struct agent_gpu_nvml *g = (struct agent_gpu_nvml *)&untouched;
    const char *path = MON_FAKES_DIR "/no-such-libnvidia-ml.so.1";
    char why[512] = "";

    (void)state;
    assert_int_equal(agent_gpu_nvml_open(path, &g, why, sizeof(why)), MON_ENOENT);
    assert_ptr_equal(g, &untouched);
    assert_non_null(strstr(why, path));
}

static void test_missing_symbol(void **state)
{
    char untouched;
    struct agent_gpu_nvml *g = (struct agent_gpu_nvml *)&untouched;
    char why[512] = "";

    (void)state;
    assert_int_equal(agent_gpu_nvml_open(FAKE_LIB_NOSYM, &g, why, sizeof(why)), MON_EUNSUPPORTED);
    assert_ptr_equal(g, &untouched);
    assert_non_null(strstr(why, "missing symbol nvmlDeviceGetUtilizationRates"));
}

static void test_state_file_changes(void **state)
{
    char path[] = "/tmp/test_gpu_nvml_stateXXXXXX", why[256] = "";
    struct agent_gpu_reading out[GPU_MAX];
    struct agent_gpu_nvml *g;
    size_t n = 0;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    setenv("FAKE_NVML_GPUS", "2", 1);
    setenv("FAKE_NVML_STATE_FILE", path, 1);
    g = fake_nvml_open(FAKE_LIB);

    /* empty state file: defaults */
    assert_int_equal(agent_gpu_nvml_read(g, out, GPU_MAX, &n, why, sizeof(why)), MON_OK);
    assert_int_equal(n, 2);
    check_default_gpu(&out[0], 0);

    fake_nvml_write_state(path, "util=87\nmem_used_mb=4242\n");
    assert_int_equal(agent_gpu_nvml_read(g, out, GPU_MAX, &n, why, sizeof(why)), MON_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(out[i].error, "");
        assert_true(out[i].util_pct == 87.0);
        assert_int_equal(out[i].mem_used_mb, 4242);
        assert_int_equal(out[i].mem_total_mb, 81920);
    }

    fake_nvml_write_state(path, "lost=0\n");
    assert_int_equal(agent_gpu_nvml_read(g, out, GPU_MAX, &n, why, sizeof(why)), MON_OK);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].error, "GPU is lost");
    check_default_gpu(&out[1], 1);

    /* the GPU comes back */
    fake_nvml_write_state(path, "");
    assert_int_equal(agent_gpu_nvml_read(g, out, GPU_MAX, &n, why, sizeof(why)), MON_OK);
    check_default_gpu(&out[0], 0);

    fake_nvml_write_state(path, "fail_all=1\n");
    n = 77;
    why[0] = '\0';
    assert_true(agent_gpu_nvml_read(g, out, GPU_MAX, &n, why, sizeof(why)) < 0);
    assert_int_equal(n, 77); /* ret_n untouched on failure */
    assert_non_null(strstr(why, "Unknown Error"));

    agent_gpu_nvml_close(g);
    unlink(path);
}

static void test_not_supported_not_retried(void **state)
{
    const char *lib = FAKE_LIB;
    char why[256] = "";
    struct agent_gpu_reading out[GPU_MAX];
    struct agent_gpu_nvml *g;
    unsigned (*power_calls)(void);
    void *self, *sym;
    size_t n = 0;

    (void)state;
    setenv("FAKE_NVML_GPUS", "2", 1);
    setenv("FAKE_NVML_POWER_UNSUPPORTED", "0", 1);
    g = fake_nvml_open(lib);
    self = dlopen(lib, RTLD_NOW | RTLD_NOLOAD); /* the instance the collector loaded */
    assert_non_null(self);
    sym = dlsym(self, "fake_nvml_power_calls");
    assert_non_null(sym);
    memcpy(&power_calls, &sym, sizeof(power_calls));

    assert_int_equal(agent_gpu_nvml_read(g, out, GPU_MAX, &n, why, sizeof(why)), MON_OK);
    assert_int_equal(n, 2);
    assert_false(out[0].has_power);
    assert_string_equal(out[0].error, ""); /* not supported is absence, not failure */
    assert_true(out[0].has_util && out[0].has_temp);
    check_default_gpu(&out[1], 1);
    assert_int_equal(power_calls(), 2);

    /* GPU 0 said "not supported": only GPU 1 is asked again */
    assert_int_equal(agent_gpu_nvml_read(g, out, GPU_MAX, &n, why, sizeof(why)), MON_OK);
    assert_false(out[0].has_power);
    assert_true(out[1].has_power);
    assert_int_equal(power_calls(), 3);

    dlclose(self);
    agent_gpu_nvml_close(g);
}

static void test_close_null(void **state)
{
    (void)state;
    agent_gpu_nvml_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_zero_gpus, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_one_gpu, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_eight_gpus, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_max_gpus, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_nov2_variant, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_truncated_to_max, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_lost_gpu, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_init_fail, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_missing_library, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_missing_symbol, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_state_file_changes, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_not_supported_not_retried, fake_nvml_reset_env),
        cmocka_unit_test(test_close_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
