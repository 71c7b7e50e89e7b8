/* SPDX-License-Identifier: MIT */
/* Snapshot JSON and Prometheus text rendered from fixed values. */
#include "agent/gpu_procs.h"
#include "agent/metrics.h"
#include "agent/snapshot.h"
#include "common/buf.h"
#include "common/err.h"

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static struct agent_values *sample_values(void)
{
    struct agent_values *v = calloc(1, sizeof(*v));
    v->ts_utc_s = 1768644000; /* 2026-01-17T10:00:00Z */
    v->has_cpu = v->has_mem = v->has_load = v->has_uptime = true;
    v->cpu_pct = 23.4000001;
    v->cpu_count = 4;
    v->mem.total_bytes = 16384000ull * 1024;
    v->mem.available_bytes = 4096000ull * 1024;
    v->load[0] = 0.5;
    v->load[1] = 0.25;
    v->load[2] = 0.125;
    v->uptime_s = 3600;
    v->n_disks = 2;
    strcpy(v->disks[0].mount, "/");
    v->disks[0].have_value = true;
    v->disks[0].usage = (struct agent_disk_usage){
        .used_bytes = 123, .total_bytes = 456, .avail_bytes = 333, .used_pct = 27.0};
    strcpy(v->disks[1].mount, "/mnt/\"nfs\"");
    v->disks[1].stale = true;
    strcpy(v->disks[1].error, "statvfs timed out");
    v->gpu_check = AGENT_CHECK_DEGRADED;
    v->n_gpus = 2;
    v->gpus[0] = (struct agent_gpu_reading){.index = 0,
                                            .has_util = true,
                                            .has_mem = true,
                                            .has_temp = true,
                                            .has_power = false,
                                            .util_pct = 56,
                                            .mem_used_mb = 2048,
                                            .mem_total_mb = 8192,
                                            .temp_c = 45};
    strcpy(v->gpus[0].name, "NVIDIA A100");
    strcpy(v->gpus[0].uuid, "GPU-1");
    v->gpus[1] = (struct agent_gpu_reading){.index = 1};
    strcpy(v->gpus[1].name, "NVIDIA A100");
    strcpy(v->gpus[1].uuid, "GPU-2");
    strcpy(v->gpus[1].error, "GPU is lost");
    return v;
}

static void test_snapshot_fields(void **state)
{
    struct agent_values *v = sample_values();
    cJSON *o = agent_snapshot_json("srv-01", v, NULL), *d, *g;
    char *text = cJSON_PrintUnformatted(o);
    (void)state;
    assert_non_null(strstr(text, "\"ts\":\"2026-01-17T10:00:00Z\""));
    assert_non_null(strstr(text, "\"cpu_pct\":23.4,"));
    assert_non_null(strstr(text, "\"mem\":{\"used_bytes\":12582912000,\"total_bytes\":"
                                 "16777216000,\"used_pct\":75}"));
    assert_non_null(strstr(text, "\"load\":[0.5,0.25,0.13]"));
    assert_string_equal(cJSON_GetObjectItem(o, "health")->valuestring, "degraded");
    d = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "disks"), 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(d, "stale")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "used_pct")));
    assert_string_equal(cJSON_GetObjectItem(d, "error")->valuestring, "statvfs timed out");
    g = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "gpus"), 0);
    assert_int_equal(cJSON_GetObjectItem(g, "util_pct")->valueint, 56);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(g, "power_w")));
    g = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "gpus"), 1);
    assert_string_equal(cJSON_GetObjectItem(g, "error")->valuestring, "GPU is lost");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(g, "util_pct")));
    assert_null(cJSON_GetObjectItem(o, "services"));
    free(text);
    cJSON_Delete(o);
    free(v);
}

static void test_health_levels(void **state)
{
    struct agent_values *v = sample_values();
    (void)state;
    assert_string_equal(agent_snapshot_health(v), "degraded");
    v->n_disks = 1;
    v->gpu_check = AGENT_CHECK_OK;
    assert_string_equal(agent_snapshot_health(v), "ok");
    v->gpu_check = AGENT_CHECK_OFF;
    assert_string_equal(agent_snapshot_health(v), "ok");
    v->has_cpu = false;
    strcpy(v->cpu_error, "/proc/stat: not found");
    assert_string_equal(agent_snapshot_health(v), "error");
    free(v);
}

static void test_metrics_text(void **state)
{
    struct agent_values *v = sample_values();
    struct agent_unit_state u[2] = {0};
    struct mon_buf out;
    (void)state;
    strcpy(u[0].name, "nginx.service");
    strcpy(u[0].active_state, "active");
    strcpy(u[0].sub_state, "running");
    strcpy(u[1].name, "myapp.service");
    strcpy(u[1].active_state, "failed");
    strcpy(u[1].sub_state, "failed");
    mon_buf_init(&out, 1 << 20);
    assert_int_equal(agent_metrics_render("srv\"01", v, u, 2, &out), MON_OK);
    assert_non_null(strstr(out.data, "node_id=\"srv\\\"01\""));
    assert_non_null(strstr(out.data, "# TYPE monitor_cpu_utilization_ratio gauge\n"));
    assert_non_null(strstr(out.data, "monitor_cpu_utilization_ratio 0.234"));
    assert_non_null(strstr(out.data, "monitor_disk_used_bytes{mount=\"/\"} 123\n"));
    assert_non_null(strstr(out.data, "monitor_disk_stale{mount=\"/mnt/\\\"nfs\\\"\"} 1\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_memory_used_bytes{gpu=\"0\",uuid=\"GPU-1\","
                                     "name=\"NVIDIA A100\"} 2147483648\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_error{gpu=\"1\",uuid=\"GPU-2\","
                                     "name=\"NVIDIA A100\"} 1\n"));
    assert_null(strstr(out.data, "monitor_gpu_power_watts{"));
    assert_non_null(strstr(out.data, "monitor_systemd_unit_active{unit=\"myapp.service\","
                                     "active_state=\"failed\",sub_state=\"failed\"} 0\n"));
    mon_buf_done(&out);
    free(v);
}

/* The snapshot as a client sees it: printed and parsed again (process lists are raw JSON). */
static cJSON *snapshot_as_sent(const struct agent_values *v, const struct agent_gpu_procs *procs)
{
    cJSON *o = agent_snapshot_json("srv-01", v, procs), *back;
    char *text = cJSON_PrintUnformatted(o);
    assert_non_null(text);
    back = cJSON_Parse(text);
    assert_non_null(back);
    free(text);
    cJSON_Delete(o);
    return back;
}

/* GPU 0 of sample_values with every health figure, Xid events and processes. */
static void add_health(struct agent_values *v)
{
    struct agent_gpu_reading *g = &v->gpus[0];
    g->ecc = (struct agent_gpu_ecc){.has_mode = true,
                                    .enabled = true,
                                    .has_counts = true,
                                    .volatile_corrected = 1,
                                    .volatile_uncorrected = 2,
                                    .aggregate_corrected = 30,
                                    .aggregate_uncorrected = 4};
    g->has_remapped_rows = g->has_throttle = g->has_fan = g->has_sm_clock = true;
    g->has_power_limit = g->has_pstate = g->has_xid = true;
    g->remapped_rows =
        (struct agent_gpu_remapped_rows){.corrected = 5, .uncorrected = 6, .pending = true};
    g->throttle_mask = GPU_THROTTLE_SW_POWER_CAP | GPU_THROTTLE_HW_SLOWDOWN | (1ULL << 40);
    g->fan_pct = 41;
    g->sm_clock_mhz = 1410;
    g->power_limit_w = 400.25;
    g->pstate = 2;
    g->n_xid = 2;
    g->xid_total = 3;
    g->xid[0] = (struct agent_gpu_xid_event){.code = 48, .at_utc_s = 1768643998};
    g->xid[1] = (struct agent_gpu_xid_event){.code = 79, .at_utc_s = 1768644000};
    g->has_processes = true;
    /* GPU 1 is lost: its Xid events still show, the rest is null */
    v->gpus[1].has_xid = true;
    v->gpus[1].n_xid = 1;
    v->gpus[1].xid_total = 1;
    v->gpus[1].xid[0] = (struct agent_gpu_xid_event){.code = 79, .at_utc_s = 1768644000};
}

static void test_snapshot_health_and_processes(void **state)
{
    struct agent_gpu_driver_process list[AGENT_GPU_PROCESSES_MAX + 1];
    struct agent_values *v = sample_values();
    struct agent_gpu_procs *procs;
    cJSON *o, *g, *p, *e;

    (void)state;
    add_health(v);
    list[0] = (struct agent_gpu_driver_process){
        .pid = 4242, .type = GPU_PROCESS_COMPUTE, .has_mem = true, .used_mem_mb = 10240};
    list[1] = (struct agent_gpu_driver_process){.pid = 999999, .type = GPU_PROCESS_GRAPHICS};
    list[2] = (struct agent_gpu_driver_process){.pid = 4245,
                                                .type = GPU_PROCESS_COMPUTE | GPU_PROCESS_GRAPHICS};
    for (size_t i = 3; i < AGENT_GPU_PROCESSES_MAX + 1; i++)
        list[i] = (struct agent_gpu_driver_process){.pid = 3000000 + (uint32_t)i,
                                                    .type = GPU_PROCESS_COMPUTE};
    v->gpus[0].n_processes = AGENT_GPU_PROCESSES_MAX + 1;
    assert_int_equal(agent_gpu_procs_new(MON_FIXTURES "/proc/pids", &procs), MON_OK);
    agent_gpu_procs_begin(procs, true, 1768600000, 0);
    assert_int_equal(agent_gpu_procs_set(procs, 0, list, AGENT_GPU_PROCESSES_MAX + 1), MON_OK);
    agent_gpu_procs_end(procs);

    o = snapshot_as_sent(v, procs);
    g = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "gpus"), 0);
    assert_int_equal(cJSON_GetObjectItem(g, "fan_pct")->valueint, 41);
    assert_int_equal(cJSON_GetObjectItem(g, "sm_clock_mhz")->valueint, 1410);
    assert_true(cJSON_GetObjectItem(g, "power_limit_w")->valuedouble == 400.3);
    assert_int_equal(cJSON_GetObjectItem(g, "pstate")->valueint, 2);
    e = cJSON_GetObjectItem(g, "throttle");
    assert_int_equal(cJSON_GetArraySize(e), 3);
    assert_string_equal(cJSON_GetArrayItem(e, 0)->valuestring, "sw_power_cap");
    assert_string_equal(cJSON_GetArrayItem(e, 1)->valuestring, "hw_slowdown");
    assert_string_equal(cJSON_GetArrayItem(e, 2)->valuestring, "other");
    e = cJSON_GetObjectItem(g, "ecc");
    assert_string_equal(cJSON_GetObjectItem(e, "mode")->valuestring, "enabled");
    assert_int_equal(cJSON_GetObjectItem(e, "volatile_uncorrected")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(e, "aggregate_uncorrected")->valueint, 4);
    e = cJSON_GetObjectItem(g, "remapped_rows");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e, "pending")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(e, "failed")));
    assert_int_equal(cJSON_GetObjectItem(e, "uncorrected")->valueint, 6);
    e = cJSON_GetObjectItem(g, "xid");
    assert_int_equal(cJSON_GetArraySize(e), 2);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(e, 1), "code")->valueint, 79);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(e, 1), "at")->valuestring,
                        "2026-01-17T10:00:00Z");

    p = cJSON_GetObjectItem(g, "processes");
    assert_int_equal(cJSON_GetArraySize(p), AGENT_GPU_PROCESSES_MAX);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(g, "processes_truncated")));
    e = cJSON_GetArrayItem(p, 0);
    assert_int_equal(cJSON_GetObjectItem(e, "pid")->valueint, 4242);
    assert_int_equal(cJSON_GetObjectItem(e, "uid")->valueint, 1);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "user")));
    assert_string_equal(cJSON_GetObjectItem(e, "command")->valuestring, "python3");
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, "compute");
    assert_int_equal(cJSON_GetObjectItem(e, "used_mem_mb")->valueint, 10240);
    assert_string_equal(cJSON_GetObjectItem(e, "container")->valuestring, "3f2a9c1b7d0e");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "started_at")));
    assert_null(cJSON_GetObjectItem(e, "error"));
    e = cJSON_GetArrayItem(p, 1); /* not visible: user null and the reason */
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "user")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "uid")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "used_mem_mb")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "started_at")));
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, "graphics");
    assert_non_null(strstr(cJSON_GetObjectItem(e, "error")->valuestring, "not visible"));
    e = cJSON_GetArrayItem(p, 2);
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, "compute+graphics");
    assert_string_equal(cJSON_GetObjectItem(e, "command")->valuestring, "my (weird) app");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(p, 2), "container")) == false);

    /* the lost GPU: health null, its Xid events kept, processes null */
    g = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "gpus"), 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(g, "fan_pct")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(g, "ecc")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(g, "throttle")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(g, "remapped_rows")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(g, "processes")));
    assert_null(cJSON_GetObjectItem(g, "processes_truncated"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "xid")), 1);
    cJSON_Delete(o);

    /* gpu_processes: false — no process keys at all; absent figures are null */
    v->gpus[0].has_fan = false;
    v->gpus[0].ecc.has_counts = false;
    o = snapshot_as_sent(v, NULL);
    g = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "gpus"), 0);
    assert_null(cJSON_GetObjectItem(g, "processes"));
    assert_null(cJSON_GetObjectItem(g, "processes_truncated"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(g, "fan_pct")));
    assert_true(
        cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(g, "ecc"), "volatile_uncorrected")));
    cJSON_Delete(o);
    agent_gpu_procs_free(procs);
    free(v);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[256];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* Quotes, backslashes, control characters and markup in a process name survive as data. */
static void test_process_names_escaped(void **state)
{
    static const char name[] = "a\"b\\c\t\x01</script>";
    char root[] = "/tmp/test_snapshotXXXXXX", dir[64], stat[128];
    struct agent_gpu_driver_process list[1] = {{.pid = 77, .type = GPU_PROCESS_COMPUTE}};
    struct agent_values *v = sample_values();
    struct agent_gpu_procs *procs;
    cJSON *o, *e;

    (void)state;
    assert_non_null(mkdtemp(root));
    snprintf(dir, sizeof(dir), "%s/77", root);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(stat, sizeof(stat), "77 (%s) S 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 1 1\n", name);
    write_text(dir, "stat", stat);
    write_text(dir, "status", "Uid:\t0\t0\t0\t0\n");
    write_text(dir, "cgroup", "0::/\n");
    v->gpus[0].has_processes = true;
    v->gpus[0].n_processes = 1;
    assert_int_equal(agent_gpu_procs_new(root, &procs), MON_OK);
    agent_gpu_procs_begin(procs, true, 0, 0);
    assert_int_equal(agent_gpu_procs_set(procs, 0, list, 1), MON_OK);
    agent_gpu_procs_end(procs);
    o = snapshot_as_sent(v, procs);
    e = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "gpus"), 0), "processes"), 0);
    assert_string_equal(cJSON_GetObjectItem(e, "command")->valuestring, name);
    assert_string_equal(cJSON_GetObjectItem(e, "started_at")->valuestring, "1970-01-01T00:00:00Z");
    cJSON_Delete(o);
    agent_gpu_procs_free(procs);
    free(v);
    for (size_t i = 0; i < 3; i++) {
        snprintf(stat, sizeof(stat), "%s/%s", dir, (const char *[]){"stat", "status", "cgroup"}[i]);
        unlink(stat);
    }
    rmdir(dir);
    rmdir(root);
}

static void test_metrics_health(void **state)
{
    struct agent_values *v = sample_values();
    struct mon_buf out;

    (void)state;
    add_health(v);
    v->gpus[0].n_processes = 3;
    mon_buf_init(&out, 1 << 20);
    assert_int_equal(agent_metrics_render("srv", v, NULL, 0, &out), MON_OK);
#define GPU0 "{gpu=\"0\",uuid=\"GPU-1\",name=\"NVIDIA A100\""
#define GPU1 "{gpu=\"1\",uuid=\"GPU-2\",name=\"NVIDIA A100\""
    assert_non_null(strstr(out.data, "monitor_gpu_processes" GPU0 "} 3\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_fan_ratio" GPU0 "} 0.41"));
    assert_non_null(strstr(out.data, "monitor_gpu_sm_clock_hertz" GPU0 "} 1410000000\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_power_limit_watts" GPU0 "} 400.25\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_pstate" GPU0 "} 2\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_ecc_enabled" GPU0 "} 1\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_ecc_errors" GPU0
                                     ",type=\"uncorrected\",counter=\"aggregate\"} 4\n"));
    assert_non_null(
        strstr(out.data, "monitor_gpu_remapped_rows" GPU0 ",cause=\"uncorrectable\"} 6\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_row_remapping_pending" GPU0 "} 1\n"));
    assert_non_null(
        strstr(out.data, "monitor_gpu_throttle_reason" GPU0 ",reason=\"sw_power_cap\"} 1\n"));
    assert_non_null(
        strstr(out.data, "monitor_gpu_throttle_reason" GPU0 ",reason=\"gpu_idle\"} 0\n"));
    assert_non_null(strstr(out.data, "# TYPE monitor_gpu_xid_errors_total counter\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_xid_errors_total" GPU0 "} 3\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_xid_errors_total" GPU1 "} 1\n"));
    assert_non_null(strstr(out.data, "monitor_gpu_last_xid_code" GPU0 "} 79\n"));
    assert_non_null(
        strstr(out.data, "monitor_gpu_last_xid_timestamp_seconds" GPU0 "} 1768644000\n"));
    /* the lost GPU has no health lines (only its Xid count) */
    assert_null(strstr(out.data, "monitor_gpu_fan_ratio" GPU1));
    assert_null(strstr(out.data, "monitor_gpu_processes" GPU1));
#undef GPU0
#undef GPU1
    mon_buf_done(&out);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_fields),
        cmocka_unit_test(test_health_levels),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_snapshot_health_and_processes),
        cmocka_unit_test(test_process_names_escaped),
        cmocka_unit_test(test_metrics_health),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
