/* SPDX-License-Identifier: MIT */
/* Tests for nvidia-smi's compute-apps CSV (fixtures tests/fixtures/nvidia-smi/apps*.txt) and
 * for running that query against the fake nvidia-smi script. */
#include "agent/collect/gpu_smi.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define FIXTURE(name) MON_FIXTURES "/nvidia-smi/" name
#define FAKE_SMI      MON_FAKES_DIR "/nvidia-smi"
#define MAX_APPS      8

struct parsed {
    int rc;
    size_t n;
    char why[256];
    struct agent_smi_app apps[MAX_APPS];
};

static void parse_text(const char *text, size_t max, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    p->n = 999;
    p->rc =
        agent_parse_smi_apps_csv(text, strlen(text), p->apps, max, &p->n, p->why, sizeof(p->why));
}

static void parse_fixture(const char *path, struct parsed *p)
{
    char buf[4096];
    FILE *f = fopen(path, "rb");
    size_t len;

    assert_non_null(f);
    len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    parse_text(buf, MAX_APPS, p);
}

static void test_parse_apps(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("apps.txt"), &p);
    assert_int_equal(p.rc, MON_OK);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.apps[0].uuid, "GPU-3a0c1f5e-7b2d-4c8e-9f10-2b3c4d5e6f70");
    assert_int_equal(p.apps[0].process.pid, 4242);
    assert_true(p.apps[0].process.has_mem);
    assert_int_equal(p.apps[0].process.used_mem_mb, 10240);
    assert_int_equal(p.apps[0].process.type, GPU_PROCESS_COMPUTE);
    assert_string_equal(p.apps[2].uuid, "GPU-8e1d2c3b-4a59-4687-9a0b-1c2d3e4f5061");
    assert_int_equal(p.apps[2].process.used_mem_mb, 79800);
}

static void test_parse_memory_not_available(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("apps_na.txt"), &p); /* MIG, WDDM or no permission; CRLF lines */
    assert_int_equal(p.rc, MON_OK);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.apps[1].process.pid, 4243);
    assert_false(p.apps[0].process.has_mem);
    assert_false(p.apps[1].process.has_mem);
}

static void test_parse_no_processes(void **state)
{
    struct parsed p;

    (void)state;
    parse_fixture(FIXTURE("apps_none.txt"), &p);
    assert_int_equal(p.rc, MON_OK);
    assert_int_equal(p.n, 0);
    parse_text("", MAX_APPS, &p);
    assert_int_equal(p.rc, MON_OK);
    assert_int_equal(p.n, 0);
    parse_text("\n\n", MAX_APPS, &p);
    assert_int_equal(p.n, 0);
}

static void test_parse_errors(void **state)
{
    struct parsed p;

    (void)state;
    parse_text("GPU-a, 12\n", MAX_APPS, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    assert_int_equal(p.n, 999); /* untouched on failure */
    assert_non_null(strstr(p.why, "line 1: expected 3 columns"));
    parse_text("GPU-a, 1, 2\nGPU-a, x12, 5\n", MAX_APPS, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    assert_non_null(strstr(p.why, "line 2: bad pid"));
    parse_text("GPU-a, 0, 5\n", MAX_APPS, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    parse_text("GPU-a, 4294967296, 5\n", MAX_APPS, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    parse_text("GPU-a, 7, -5\n", MAX_APPS, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    assert_non_null(strstr(p.why, "bad used_memory"));
    parse_text(", 7, 5\n", MAX_APPS, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    parse_text("[N/A], 7, 5\n", MAX_APPS, &p);
    assert_int_equal(p.rc, MON_EPARSE);
    assert_non_null(strstr(p.why, "bad gpu_uuid"));
    parse_text("GPU-a, 1, 1\nGPU-a, 2, 1\nGPU-a, 3, 1\n", 2, &p);
    assert_int_equal(p.rc, MON_ERANGE);
}

static void test_parse_nul_byte(void **state)
{
    static const char text[] = "GPU-a, 7, 5\0GPU-b, 8, 1\n";
    struct parsed p;

    (void)state;
    memset(&p, 0, sizeof(p));
    p.rc = agent_parse_smi_apps_csv(text, sizeof(text) - 1, p.apps, MAX_APPS, &p.n, p.why,
                                    sizeof(p.why));
    assert_int_equal(p.rc, MON_EPARSE);
    assert_non_null(strstr(p.why, "NUL"));
}

static int reset_env(void **state)
{
    (void)state;
    unsetenv("FAKE_SMI_APPS");
    unsetenv("FAKE_SMI_APPS_MODE");
    return 0;
}

static void test_run_apps(void **state)
{
    struct agent_smi_app apps[MAX_APPS];
    char why[256] = "";
    size_t n = 0;

    (void)state;
    setenv("FAKE_SMI_APPS", "0:4242:1024,1:77:-", 1);
    assert_int_equal(agent_gpu_smi_read_apps(FAKE_SMI, 5000, apps, MAX_APPS, &n, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(n, 2);
    assert_string_equal(apps[0].uuid, "GPU-00000000-0000-0000-0000-000000000000");
    assert_int_equal(apps[0].process.pid, 4242);
    assert_int_equal(apps[0].process.used_mem_mb, 1024);
    assert_string_equal(apps[1].uuid, "GPU-00000000-0000-0000-0000-000000000001");
    assert_false(apps[1].process.has_mem);

    setenv("FAKE_SMI_APPS_MODE", "none", 1);
    assert_int_equal(agent_gpu_smi_read_apps(FAKE_SMI, 5000, apps, MAX_APPS, &n, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(n, 0);
    setenv("FAKE_SMI_APPS_MODE", "fail", 1);
    assert_int_equal(agent_gpu_smi_read_apps(FAKE_SMI, 5000, apps, MAX_APPS, &n, why, sizeof(why)),
                     MON_EIO);
    assert_non_null(strstr(why, "exited with status 15"));
    setenv("FAKE_SMI_APPS_MODE", "garbage", 1);
    assert_int_equal(agent_gpu_smi_read_apps(FAKE_SMI, 5000, apps, MAX_APPS, &n, why, sizeof(why)),
                     MON_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_apps),
        cmocka_unit_test(test_parse_memory_not_available),
        cmocka_unit_test(test_parse_no_processes),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_nul_byte),
        cmocka_unit_test_setup(test_run_apps, reset_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
