/* SPDX-License-Identifier: MIT */
/* Tests for the NVML process lists against the fake library: the three call generations and
 * their two structure layouts, graphics merged with compute, buffer growth, unsupported calls
 * remembered, and the pure decoder and merge. */
#include "agent/collect/gpu_nvml.h"
#include "agent/collect/gpu_nvml_procs.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/fake_nvml_test.h"

#define MAX_OUT 64

struct listing {
    int rc;
    size_t n, total;
    struct agent_gpu_driver_process p[MAX_OUT];
    char why[160];
};

/* One read of GPU index's processes (after a agent_gpu_nvml_read, which takes the handles). */
static struct listing *list_gpu(struct agent_gpu_nvml *g, unsigned index)
{
    static struct listing l;
    struct agent_gpu_reading out[GPU_MAX];
    char why[128];
    size_t n = 0;

    memset(&l, 0, sizeof(l));
    assert_int_equal(agent_gpu_nvml_read(g, out, GPU_MAX, &n, why, sizeof(why)), MON_OK);
    l.rc = agent_gpu_nvml_processes(g, index, l.p, MAX_OUT, &l.n, &l.total, l.why, sizeof(l.why));
    return &l;
}

/* The same processes come out of every library variant: each decodes its own layout. */
static void check_variant(const char *lib)
{
    const char *state = fake_nvml_state_file();
    struct agent_gpu_nvml *g;
    struct listing *l;

    setenv("FAKE_NVML_GPUS", "2", 1);
    fake_nvml_write_state(state, "procs@1=4242:10240,4243:-,70000:1\ngprocs@1=4243:300,9:5\n");
    g = fake_nvml_open(lib);
    l = list_gpu(g, 1);
    assert_int_equal(l->rc, MON_OK);
    assert_int_equal(l->n, 4);
    assert_int_equal(l->total, 4);
    /* ordered by memory, biggest first; a compute+graphics process is one entry */
    assert_int_equal(l->p[0].pid, 4242);
    assert_true(l->p[0].has_mem);
    assert_int_equal(l->p[0].used_mem_mb, 10240);
    assert_int_equal(l->p[0].type, GPU_PROCESS_COMPUTE);
    assert_int_equal(l->p[1].pid, 4243);
    assert_int_equal(l->p[1].type, GPU_PROCESS_COMPUTE | GPU_PROCESS_GRAPHICS);
    assert_int_equal(l->p[1].used_mem_mb, 300); /* known from the graphics list */
    assert_int_equal(l->p[2].pid, 9);
    assert_int_equal(l->p[2].type, GPU_PROCESS_GRAPHICS);
    assert_int_equal(l->p[3].pid, 70000);
    assert_int_equal(l->p[3].used_mem_mb, 1);
    l = list_gpu(g, 0);
    assert_int_equal(l->rc, MON_OK);
    assert_int_equal(l->n, 0);
    agent_gpu_nvml_close(g);
    unlink(state);
}

static void test_v3_layout(void **state)
{
    (void)state;
    check_variant(FAKE_LIB);
}

static void test_v2_layout(void **state)
{
    (void)state;
    check_variant(FAKE_LIB_PROCV2);
}

static void test_v1_layout(void **state)
{
    (void)state;
    check_variant(FAKE_LIB_PROCV1);
}

static void test_memory_not_available(void **state)
{
    const char *path = fake_nvml_state_file();
    struct agent_gpu_nvml *g;
    struct listing *l;

    (void)state;
    fake_nvml_write_state(path, "procs=5:-,6:-\n");
    g = fake_nvml_open(FAKE_LIB);
    l = list_gpu(g, 0);
    assert_int_equal(l->n, 2);
    assert_false(l->p[0].has_mem);
    assert_int_equal(l->p[0].pid, 5); /* unknown memory: by PID */
    agent_gpu_nvml_close(g);
    unlink(path);
}

static void test_many_processes_grow_and_cut(void **state)
{
    const char *path = fake_nvml_state_file();
    char text[4096] = "procs=";
    size_t len = strlen(text);
    struct agent_gpu_nvml *g;
    struct listing *l;

    (void)state;
    /* 200 processes: more than the first buffer (64) and than the caller keeps */
    for (int i = 0; i < 200; i++)
        len +=
            (size_t)snprintf(text + len, sizeof(text) - len, "%s%d:%d", i ? "," : "", 1000 + i, i);
    snprintf(text + len, sizeof(text) - len, "\n");
    fake_nvml_write_state(path, text);
    g = fake_nvml_open(FAKE_LIB);
    l = list_gpu(g, 0);
    assert_int_equal(l->rc, MON_OK);
    assert_int_equal(l->total, 200);
    assert_int_equal(l->n, MAX_OUT);
    assert_int_equal(l->p[0].pid, 1199); /* the biggest users are kept */
    assert_int_equal(l->p[63].pid, 1136);
    agent_gpu_nvml_close(g);
    unlink(path);
}

static void test_unsupported_generations_remembered(void **state)
{
    const char *path = fake_nvml_state_file();
    struct agent_gpu_nvml *g;
    struct listing *l;

    (void)state;
    /* _v3 refused: _v2 answers, and _v3 is not asked again */
    fake_nvml_write_state(path, "procs=42:7\nunsupported=compute_v3\n");
    g = fake_nvml_open(FAKE_LIB);
    l = list_gpu(g, 0);
    assert_int_equal(l->rc, MON_OK);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->p[0].pid, 42);
    list_gpu(g, 0);
    list_gpu(g, 0);
    assert_int_equal(fake_nvml_calls_of(FAKE_LIB, "compute_v3"), 1);
    assert_int_equal(fake_nvml_calls_of(FAKE_LIB, "compute_v2"), 3);
    agent_gpu_nvml_close(g);

    /* neither list supported: MON_EUNSUPPORTED, and no more calls */
    fake_nvml_write_state(path, "procs=42:7\nunsupported=compute,graphics\n");
    g = fake_nvml_open(FAKE_LIB);
    assert_int_equal(list_gpu(g, 0)->rc, MON_EUNSUPPORTED);
    assert_int_equal(list_gpu(g, 0)->rc, MON_EUNSUPPORTED);
    /* three generations tried once each, for each of the two lists */
    assert_int_equal(fake_nvml_calls_of(FAKE_LIB, "compute"), 3);
    assert_int_equal(fake_nvml_calls_of(FAKE_LIB, "graphics"), 3);
    agent_gpu_nvml_close(g);
    unlink(path);
}

static void test_driver_error(void **state)
{
    const char *path = fake_nvml_state_file();
    struct agent_gpu_nvml *g;
    struct listing *l;

    (void)state;
    fake_nvml_write_state(path, "procs=42:7\nprocs_fail=999\n");
    g = fake_nvml_open(FAKE_LIB);
    l = list_gpu(g, 0);
    assert_int_equal(l->rc, MON_EIO);
    assert_non_null(strstr(l->why, "Unknown Error"));
    /* an error is not "unsupported": the next sample asks again */
    fake_nvml_write_state(path, "procs=42:7\n");
    assert_int_equal(list_gpu(g, 0)->rc, MON_OK);
    /* a GPU without a handle (lost) */
    fake_nvml_write_state(path, "lost=0\n");
    assert_int_equal(list_gpu(g, 0)->rc, MON_ENOENT);
    assert_int_equal(list_gpu(g, 5)->rc, MON_ENOENT);
    agent_gpu_nvml_close(g);
    unlink(path);
}

static void test_decode_layouts(void **state)
{
    struct nvml_process_v1 v1[2] = {{.pid = 1, .used_gpu_memory = 3 * 1048576ULL},
                                    {.pid = 2, .used_gpu_memory = ~0ULL}};
    struct nvml_process_v2 v2[2] = {{.pid = 3, .used_gpu_memory = 1048575, .gpu_instance_id = 9},
                                    {.pid = 4, .used_gpu_memory = 0}};
    struct agent_gpu_driver_process out[3];
    size_t n = 0;

    (void)state;
    agent_gpu_nvml_decode_processes(v1, 2, true, GPU_PROCESS_COMPUTE, out, 3, &n);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].pid, 1);
    assert_int_equal(out[0].used_mem_mb, 3);
    assert_false(out[1].has_mem);
    agent_gpu_nvml_decode_processes(v2, 2, false, GPU_PROCESS_GRAPHICS, out, 3, &n);
    assert_int_equal(n, 3); /* appended up to max */
    assert_int_equal(out[2].pid, 3);
    assert_true(out[2].has_mem);
    assert_int_equal(out[2].used_mem_mb, 0); /* MiB, rounded down */
    assert_int_equal(out[2].type, GPU_PROCESS_GRAPHICS);
}

static void test_merge(void **state)
{
    struct agent_gpu_driver_process list[] = {
        {.pid = 7, .type = GPU_PROCESS_COMPUTE, .has_mem = true, .used_mem_mb = 10},
        {.pid = 3, .type = GPU_PROCESS_COMPUTE},
        {.pid = 7, .type = GPU_PROCESS_GRAPHICS, .has_mem = true, .used_mem_mb = 12},
        {.pid = 5, .type = GPU_PROCESS_GRAPHICS, .has_mem = true, .used_mem_mb = 12},
        {.pid = 3, .type = GPU_PROCESS_GRAPHICS, .has_mem = true, .used_mem_mb = 1},
        {.pid = 9, .type = GPU_PROCESS_COMPUTE},
    };

    (void)state;
    assert_int_equal(agent_gpu_processes_merge(list, 6), 4);
    assert_int_equal(list[0].pid, 5); /* 12 MiB, lower PID first */
    assert_int_equal(list[1].pid, 7);
    assert_int_equal(list[1].type, GPU_PROCESS_COMPUTE | GPU_PROCESS_GRAPHICS);
    assert_int_equal(list[1].used_mem_mb, 12);
    assert_int_equal(list[2].pid, 3);
    assert_true(list[2].has_mem); /* memory known from one of its lists */
    assert_int_equal(list[3].pid, 9);
    assert_false(list[3].has_mem);
    assert_int_equal(agent_gpu_processes_merge(list, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_v3_layout, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_v2_layout, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_v1_layout, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_memory_not_available, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_many_processes_grow_and_cut, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_unsupported_generations_remembered, fake_nvml_reset_env),
        cmocka_unit_test_setup(test_driver_error, fake_nvml_reset_env),
        cmocka_unit_test(test_decode_layouts),
        cmocka_unit_test(test_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
