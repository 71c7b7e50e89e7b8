/* SPDX-License-Identifier: MIT */
/* Tests for the GPU process lists joined with /proc: users from the passwd database, invisible
 * PIDs, the per-GPU cap, and when /proc is read again (new PID, refresh, PID gone and back). */
#include "agent/gpu_procs.h"
#include "common/err.h"

#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define PIDS_ROOT MON_FIXTURES "/proc/pids"
#define BTIME     1768600000

static struct agent_gpu_driver_process proc(uint32_t pid, uint64_t mb)
{
    return (struct agent_gpu_driver_process){
        .pid = pid, .type = GPU_PROCESS_COMPUTE, .has_mem = true, .used_mem_mb = mb};
}

static const char *user_of(uid_t uid)
{
    struct passwd *pw = getpwuid(uid);
    return pw ? pw->pw_name : NULL;
}

static void test_fixture_processes(void **state)
{
    struct agent_gpu_procs *p;
    const struct agent_gpu_process_list *l;
    struct agent_gpu_driver_process list[] = {proc(4242, 10240), proc(4246, 512), proc(999999, 64),
                                              proc(4245, 1)};

    (void)state;
    assert_int_equal(agent_gpu_procs_new(PIDS_ROOT, &p), MON_OK);
    agent_gpu_procs_begin(p, true, BTIME, 1000);
    assert_int_equal(agent_gpu_procs_set(p, 1, list, 4), MON_OK);
    agent_gpu_procs_end(p);
    assert_null(agent_gpu_procs_list(p, 0)); /* no list set for GPU 0 */
    l = agent_gpu_procs_list(p, 1);
    assert_non_null(l);
    assert_int_equal(l->n, 4);

    assert_true(l->e[0].visible);
    assert_int_equal(l->e[0].gpu.pid, 4242);
    assert_int_equal(l->e[0].gpu.used_mem_mb, 10240);
    assert_int_equal(l->e[0].uid, 1); /* the real uid, not the effective one (0) */
    assert_non_null(user_of(1));
    assert_string_equal(l->e[0].user, user_of(1));
    assert_string_equal(l->e[0].command, "python3");
    assert_string_equal(l->e[0].container, "3f2a9c1b7d0e");
    assert_true(l->e[0].has_started);
    assert_int_equal(l->e[0].started_at_utc_s, BTIME + 2930939 / sysconf(_SC_CLK_TCK));

    /* a uid without a passwd entry shows as its number */
    assert_null(user_of(54321));
    assert_string_equal(l->e[1].user, "54321");
    assert_string_equal(l->e[1].container, "");

    /* a PID /proc does not show keeps its entry, with the reason */
    assert_false(l->e[2].visible);
    assert_int_equal(l->e[2].gpu.pid, 999999);
    assert_int_equal(l->e[2].gpu.used_mem_mb, 64);
    assert_non_null(strstr(l->e[2].error, "not visible"));

    assert_string_equal(l->e[3].command, "my (weird) app");
    assert_string_equal(l->e[3].user, user_of(65534));

    /* without a boot time there are no start times */
    agent_gpu_procs_begin(p, false, 0, 2000);
    assert_null(agent_gpu_procs_list(p, 1)); /* a new sample starts empty */
    assert_int_equal(agent_gpu_procs_set(p, 1, list, 1), MON_OK);
    agent_gpu_procs_end(p);
    assert_false(agent_gpu_procs_list(p, 1)->e[0].has_started);
    agent_gpu_procs_free(p);
}

static void test_at_most_64_per_gpu(void **state)
{
    struct agent_gpu_driver_process list[AGENT_GPU_PROCESSES_MAX + 6];
    struct agent_gpu_procs *p;

    (void)state;
    for (size_t i = 0; i < AGENT_GPU_PROCESSES_MAX + 6; i++)
        list[i] = proc(2000000 + (uint32_t)i, 100);
    assert_int_equal(agent_gpu_procs_new(PIDS_ROOT, &p), MON_OK);
    agent_gpu_procs_begin(p, true, BTIME, 0);
    assert_int_equal(agent_gpu_procs_set(p, 0, list, AGENT_GPU_PROCESSES_MAX + 6), MON_OK);
    assert_int_equal(agent_gpu_procs_set(p, GPU_MAX, list, 1), MON_ERANGE);
    agent_gpu_procs_end(p);
    assert_int_equal(agent_gpu_procs_list(p, 0)->n, AGENT_GPU_PROCESSES_MAX);
    assert_int_equal(agent_gpu_procs_list(p, 0)->e[63].gpu.pid, 2000063);
    agent_gpu_procs_free(p);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* Writes a process 77 under root with the given uid and name. */
static void write_pid(const char *root, unsigned uid, const char *comm)
{
    char dir[512], text[256];

    snprintf(dir, sizeof(dir), "%s/77", root);
    mkdir(dir, 0755);
    snprintf(text, sizeof(text), "77 (%s) S 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 300 1 1\n",
             comm);
    write_file(dir, "stat", text);
    snprintf(text, sizeof(text), "Name:\t%s\nUid:\t%u\t%u\t%u\t%u\n", comm, uid, uid, uid, uid);
    write_file(dir, "status", text);
    write_file(dir, "cgroup", "0::/\n");
}

static void remove_pid(const char *root)
{
    const char *names[] = {"stat", "status", "cgroup"};
    char path[512];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/77/%s", root, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/77", root);
    rmdir(path);
}

static const struct agent_gpu_process *sample(struct agent_gpu_procs *p, int64_t now_ms,
                                              bool listed)
{
    struct agent_gpu_driver_process list[] = {proc(77, 1)};
    agent_gpu_procs_begin(p, true, BTIME, now_ms);
    if (listed)
        assert_int_equal(agent_gpu_procs_set(p, 0, list, 1), MON_OK);
    agent_gpu_procs_end(p);
    return listed ? &agent_gpu_procs_list(p, 0)->e[0] : NULL;
}

static void test_when_proc_is_read(void **state)
{
    char root[] = "/tmp/test_gpu_procsXXXXXX";
    struct agent_gpu_procs *p;

    (void)state;
    assert_non_null(mkdtemp(root));
    write_pid(root, 1, "first");
    assert_int_equal(agent_gpu_procs_new(root, &p), MON_OK);
    assert_string_equal(sample(p, 0, true)->command, "first");

    /* a steady process is not read again before the refresh period... */
    write_pid(root, 65534, "second");
    assert_string_equal(sample(p, 1000, true)->command, "first");
    assert_string_equal(sample(p, 29999, true)->command, "first");
    /* ...but after it (a name or uid change shows up) */
    assert_string_equal(sample(p, 30000, true)->command, "second");
    assert_int_equal(sample(p, 30001, true)->uid, 65534);

    /* a PID that leaves the GPUs is forgotten: when it comes back it is read at once */
    write_pid(root, 1, "third");
    sample(p, 31000, false);
    assert_string_equal(sample(p, 32000, true)->command, "third");

    /* an exited process keeps its entry, marked invisible */
    remove_pid(root);
    sample(p, 33000, false);
    assert_false(sample(p, 34000, true)->visible);

    agent_gpu_procs_free(p);
    rmdir(root);
}

static void test_free_null(void **state)
{
    (void)state;
    agent_gpu_procs_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_processes),
        cmocka_unit_test(test_at_most_64_per_gpu),
        cmocka_unit_test(test_when_proc_is_read),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
