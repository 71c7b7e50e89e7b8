/* SPDX-License-Identifier: MIT */
/* Tests for the nvidia-smi CSV parser (fixtures in tests/fixtures/nvidia-smi) and for running
 * the fake nvidia-smi script: normal output, failure, hang, oversized output, missing command. */
#include "agent/collect/gpu_smi.h"
#include "common/clock.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define FIXTURE(name) MON_FIXTURES "/nvidia-smi/" name
#define FAKE_SMI      MON_FAKES_DIR "/nvidia-smi"

struct parsed {
    int rc;
    size_t n;
    char why[256];
    struct agent_gpu_reading gpus[GPU_MAX];
};

static char *read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(65536);
    size_t len;

    assert_non_null(f);
    assert_non_null(buf);
    len = fread(buf, 1, 65536, f);
    assert_int_equal(ferror(f), 0);
    fclose(f);
    *ret_len = len;
    return buf;
}

static void parse_fixture(const char *path, size_t max, struct parsed *p)
{
    size_t len;
    char *buf = read_file(path, &len);

    memset(p, 0, sizeof(*p));
    p->n = 999;
    p->rc = agent_parse_nvidia_smi_csv(buf, len, p->gpus, max, &p->n, p->why, sizeof(p->why));
    free(buf);
}

static int parse_text(const char *text, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    p->n = 999;
    p->rc = agent_parse_nvidia_smi_csv(text, strlen(text), p->gpus, GPU_MAX, &p->n, p->why,
                                       sizeof(p->why));
    return p->rc;
}

/* ---- parser ---- */

static void test_parse_one_gpu(void **state)
{
    struct parsed p;
    const struct agent_gpu_reading *r = &p.gpus[0];

    (void)state;
    parse_fixture(FIXTURE("one_gpu.csv"), GPU_MAX, &p);
    assert_int_equal(p.rc, MON_OK);
    assert_int_equal(p.n, 1);
    assert_int_equal(r->index, 0);
    assert_string_equal(r->name, "NVIDIA A100-SXM4-80GB");
    assert_string_equal(r->uuid, "GPU-4a1b2c3d-0000-1111-2222-333344445555");
    assert_true(r->has_util && r->has_mem && r->has_temp && r->has_power);
    assert_true(r->util_pct == 37.0);
    assert_int_equal(r->mem_used_mb, 1024);
    assert_int_equal(r->mem_total_mb, 81920);
    assert_true(r->temp_c == 41.0);
    assert_float_equal(r->power_w, 123.45, 1e-9);
    assert_string_equal(r->error, "");
}

static void test_parse_eight_gpus(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("eight_gpus.csv"), GPU_MAX, &p);
    assert_int_equal(p.rc, MON_OK);
    assert_int_equal(p.n, 8);
    for (unsigned i = 0; i < 8; i++) {
        const struct agent_gpu_reading *r = &p.gpus[i];
        char uuid[64];

        snprintf(uuid, sizeof(uuid), "GPU-00000000-0000-0000-0000-0000000000%02u", i);
        assert_int_equal(r->index, i);
        assert_string_equal(r->name, "NVIDIA H100 80GB HBM3");
        assert_string_equal(r->uuid, uuid);
        assert_true(r->util_pct == i * 10 + 5);
        assert_int_equal(r->mem_used_mb, i * 1000 + 3);
        assert_int_equal(r->mem_total_mb, 81559);
        assert_true(r->temp_c == 30 + i);
        assert_float_equal(r->power_w, 200 + i + 0.25, 1e-9);
    }
}

static void test_parse_not_available(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("na.csv"), GPU_MAX, &p);
    assert_int_equal(p.rc, MON_OK);
    assert_int_equal(p.n, 2);
    /* [Not Supported] temperature, [N/A] power */
    assert_string_equal(p.gpus[0].name, "NVIDIA GeForce GTX 1080 Ti");
    assert_true(p.gpus[0].has_util && p.gpus[0].util_pct == 3.0);
    assert_true(p.gpus[0].has_mem && p.gpus[0].mem_used_mb == 512);
    assert_false(p.gpus[0].has_temp);
    assert_false(p.gpus[0].has_power);
    /* [N/A] uuid and utilisation, plain N/A memory.used, [Unknown Error] temperature */
    assert_int_equal(p.gpus[1].index, 1);
    assert_string_equal(p.gpus[1].name, "Tesla K80");
    assert_string_equal(p.gpus[1].uuid, "");
    assert_false(p.gpus[1].has_util);
    assert_false(p.gpus[1].has_mem);
    assert_false(p.gpus[1].has_temp);
    assert_true(p.gpus[1].has_power);
    assert_float_equal(p.gpus[1].power_w, 58.1, 1e-9);
}

static void test_parse_garbage(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("garbage.csv"), GPU_MAX, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    assert_int_equal(p.n, 999); /* untouched on failure */
    assert_non_null(strstr(p.why, "line 1:"));
}

static void test_parse_wrong_column_count(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("wrong_columns.csv"), GPU_MAX, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    assert_non_null(strstr(p.why, "line 2:"));
    assert_non_null(strstr(p.why, "columns"));

    assert_int_equal(parse_text("0, a, b, 1, 2, 3, 4, 5, 6\n", &p), MON_EPARSE);
    assert_non_null(strstr(p.why, "line 1:"));
}

static void test_parse_bad_numbers(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("util_range.csv"), GPU_MAX, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    assert_non_null(strstr(p.why, "utilization.gpu"));
    parse_fixture(FIXTURE("mem_decimal.csv"), GPU_MAX, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    assert_non_null(strstr(p.why, "memory.used"));

    assert_int_equal(parse_text("0, T4, GPU-1, abc, 1, 2, 3, 4\n", &p), MON_EPARSE);
    assert_int_equal(parse_text("0, T4, GPU-1, -1, 1, 2, 3, 4\n", &p), MON_EPARSE);
    assert_int_equal(parse_text("x, T4, GPU-1, 1, 1, 2, 3, 4\n", &p), MON_EPARSE);
    assert_int_equal(parse_text("[N/A], T4, GPU-1, 1, 1, 2, 3, 4\n", &p), MON_EPARSE);
    assert_int_equal(parse_text("0, T4, GPU-1, 1, 1, 2, 3, 4W\n", &p), MON_EPARSE);
    assert_int_equal(parse_text("0, T4, GPU-1, 1, 1, 2, hot, 4\n", &p), MON_EPARSE);
    assert_non_null(strstr(p.why, "temperature.gpu"));
    /* the boundaries are fine */
    assert_int_equal(parse_text("0, T4, GPU-1, 0, 0, 0, 0, 0\n1, T4, GPU-2, 100, 1, 2, 3, 4\n", &p),
                     MON_OK);
    assert_int_equal(p.n, 2);
    assert_true(p.gpus[1].util_pct == 100.0);
}

static void test_parse_empty(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("empty.csv"), GPU_MAX, &p);
    assert_int_equal(p.rc, MON_OK);
    assert_int_equal(p.n, 0);
    assert_int_equal(parse_text("\n", &p), MON_OK);
    assert_int_equal(p.n, 0);
}

static void test_parse_crlf(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("crlf.csv"), GPU_MAX, &p);
    assert_int_equal(p.rc, MON_OK);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.gpus[0].name, "Tesla T4");
    assert_true(p.gpus[0].util_pct == 100.0);
    assert_int_equal(p.gpus[0].mem_used_mb, 15000);
    assert_float_equal(p.gpus[0].temp_c, 72.5, 1e-9);
    assert_float_equal(p.gpus[0].power_w, 69.87, 1e-9);
    assert_float_equal(p.gpus[1].power_w, 9.12, 1e-9);
}

static void test_parse_no_trailing_newline(void **state)
{
    struct parsed p;

    (void)state;
    assert_int_equal(parse_text("0, Tesla T4, GPU-1, 7, 8, 15360, 35, 9.5", &p), MON_OK);
    assert_int_equal(p.n, 1);
    assert_float_equal(p.gpus[0].power_w, 9.5, 1e-9);
    assert_int_equal(p.gpus[0].mem_used_mb, 8);
}

static void test_parse_too_many(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("eight_gpus.csv"), 4, &p);
    assert_int_equal(p.rc, MON_ERANGE);
    assert_int_equal(p.n, 999);
    parse_fixture(FIXTURE("eight_gpus.csv"), 8, &p);
    assert_int_equal(p.rc, MON_OK);
}

/* ---- running the fake nvidia-smi ---- */

static int reset_env(void **state)
{
    (void)state;
    unsetenv("FAKE_SMI_MODE");
    unsetenv("FAKE_SMI_GPUS");
    unsetenv("FAKE_SMI_COUNT_FILE");
    return 0;
}

static void test_run_normal(void **state)
{
    struct agent_gpu_reading out[GPU_MAX];
    char why[256] = "";
    size_t n = 0;

    (void)state;
    setenv("FAKE_SMI_GPUS", "3", 1);
    assert_int_equal(agent_gpu_smi_read(FAKE_SMI, 5000, out, GPU_MAX, &n, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(n, 3);
    for (unsigned i = 0; i < 3; i++) {
        char uuid[64];

        snprintf(uuid, sizeof(uuid), "GPU-00000000-0000-0000-0000-0000000000%02u", i);
        assert_int_equal(out[i].index, i);
        assert_string_equal(out[i].name, "NVIDIA Fake GPU");
        assert_string_equal(out[i].uuid, uuid);
        assert_true(out[i].util_pct == (double)((10 * (i + 1)) % 101));
        assert_int_equal(out[i].mem_used_mb, 1024 * (i + 1));
        assert_int_equal(out[i].mem_total_mb, 81920);
        assert_true(out[i].temp_c == 40.0 + i);
        assert_float_equal(out[i].power_w, 100.5 + i, 1e-9);
    }
}

static void test_run_counts_each_call(void **state)
{
    char path[] = "/tmp/test_gpu_smi_countXXXXXX", why[256] = "", line[32];
    struct agent_gpu_reading out[GPU_MAX];
    size_t n = 0;
    int fd = mkstemp(path), lines = 0;
    FILE *f;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    setenv("FAKE_SMI_COUNT_FILE", path, 1);
    for (int i = 0; i < 2; i++)
        assert_int_equal(agent_gpu_smi_read(FAKE_SMI, 5000, out, GPU_MAX, &n, why, sizeof(why)),
                         MON_OK);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        lines++;
    fclose(f);
    unlink(path);
    assert_int_equal(lines, 2);
}

static void test_run_not_available(void **state)
{
    struct agent_gpu_reading out[GPU_MAX];
    char why[256] = "";
    size_t n = 0;

    (void)state;
    setenv("FAKE_SMI_MODE", "na", 1);
    setenv("FAKE_SMI_GPUS", "2", 1);
    assert_int_equal(agent_gpu_smi_read(FAKE_SMI, 5000, out, GPU_MAX, &n, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(n, 2);
    assert_true(out[1].has_util && out[1].has_mem);
    assert_false(out[1].has_temp);
    assert_false(out[1].has_power);
}

static void test_run_garbage(void **state)
{
    struct agent_gpu_reading out[GPU_MAX];
    char why[256] = "";
    size_t n = 0;

    (void)state;
    setenv("FAKE_SMI_MODE", "garbage", 1);
    assert_int_equal(agent_gpu_smi_read(FAKE_SMI, 5000, out, GPU_MAX, &n, why, sizeof(why)),
                     MON_EPARSE);
    assert_non_null(strstr(why, "line 1:"));
}

static void test_run_fail(void **state)
{
    struct agent_gpu_reading out[GPU_MAX];
    char why[256] = "";
    size_t n = 0;

    (void)state;
    setenv("FAKE_SMI_MODE", "fail", 1);
    assert_int_equal(agent_gpu_smi_read(FAKE_SMI, 5000, out, GPU_MAX, &n, why, sizeof(why)),
                     MON_EIO);
    assert_non_null(strstr(why, "NVIDIA-SMI has failed because it couldn't communicate"));
    assert_non_null(strstr(why, "9"));
}

static void test_run_hang(void **state)
{
    struct agent_gpu_reading out[GPU_MAX];
    char why[256] = "";
    size_t n = 0;
    int64_t t0, elapsed;

    (void)state;
    setenv("FAKE_SMI_MODE", "hang", 1);
    t0 = mon_mono_ms();
    assert_int_equal(agent_gpu_smi_read(FAKE_SMI, 300, out, GPU_MAX, &n, why, sizeof(why)),
                     MON_ETIMEDOUT);
    elapsed = mon_mono_ms() - t0;
    assert_true(elapsed >= 290);
    assert_true(elapsed < 1500);
    assert_non_null(strstr(why, "timed out after 300 ms"));
}

static void test_run_too_big(void **state)
{
    struct agent_gpu_reading out[GPU_MAX];
    char why[256] = "";
    size_t n = 0;

    (void)state;
    setenv("FAKE_SMI_MODE", "big", 1);
    assert_int_equal(agent_gpu_smi_read(FAKE_SMI, 10000, out, GPU_MAX, &n, why, sizeof(why)),
                     MON_ETOOBIG);
}

static void test_run_missing_command(void **state)
{
    struct agent_gpu_reading out[GPU_MAX];
    char why[256] = "";
    size_t n = 0;

    (void)state;
    assert_int_equal(agent_gpu_smi_read(MON_FAKES_DIR "/no-such-nvidia-smi", 5000, out, GPU_MAX, &n,
                                        why, sizeof(why)),
                     MON_ENOENT);
    assert_non_null(strstr(why, "no-such-nvidia-smi not found"));
    /* looked up in PATH when there is no slash */
    assert_int_equal(
        agent_gpu_smi_read("lanmon-no-such-nvidia-smi", 5000, out, GPU_MAX, &n, why, sizeof(why)),
        MON_ENOENT);
    assert_non_null(strstr(why, "lanmon-no-such-nvidia-smi not found"));
}

static void test_run_via_path(void **state)
{
    const char *old = getenv("PATH");
    char *saved = old ? strdup(old) : NULL, path[4096];
    struct agent_gpu_reading out[GPU_MAX];
    char why[256] = "";
    size_t n = 0;

    (void)state;
    snprintf(path, sizeof(path), "%s:%s", MON_FAKES_DIR, saved ? saved : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    assert_int_equal(agent_gpu_smi_read("nvidia-smi", 5000, out, GPU_MAX, &n, why, sizeof(why)),
                     MON_OK);
    if (saved)
        setenv("PATH", saved, 1);
    free(saved);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].name, "NVIDIA Fake GPU");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_one_gpu),
        cmocka_unit_test(test_parse_eight_gpus),
        cmocka_unit_test(test_parse_not_available),
        cmocka_unit_test(test_parse_garbage),
        cmocka_unit_test(test_parse_wrong_column_count),
        cmocka_unit_test(test_parse_bad_numbers),
        cmocka_unit_test(test_parse_empty),
        cmocka_unit_test(test_parse_crlf),
        cmocka_unit_test(test_parse_no_trailing_newline),
        cmocka_unit_test(test_parse_too_many),
        cmocka_unit_test_setup(test_run_normal, reset_env),
        cmocka_unit_test_setup(test_run_counts_each_call, reset_env),
        cmocka_unit_test_setup(test_run_not_available, reset_env),
        cmocka_unit_test_setup(test_run_garbage, reset_env),
        cmocka_unit_test_setup(test_run_fail, reset_env),
        cmocka_unit_test_setup(test_run_hang, reset_env),
        cmocka_unit_test_setup(test_run_too_big, reset_env),
        cmocka_unit_test_setup(test_run_missing_command, reset_env),
        cmocka_unit_test_setup(test_run_via_path, reset_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
