/* SPDX-License-Identifier: MIT */
/* Snapshot JSON and Prometheus text rendered from fixed values. */
#include "agent/metrics.h"
#include "agent/snapshot.h"
#include "common/buf.h"
#include "common/err.h"

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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
    v->disks[0].usage = (struct disk_usage){
        .used_bytes = 123, .total_bytes = 456, .avail_bytes = 333, .used_pct = 27.0};
    strcpy(v->disks[1].mount, "/mnt/\"nfs\"");
    v->disks[1].stale = true;
    strcpy(v->disks[1].error, "statvfs timed out");
    v->gpu_check = AGENT_CHECK_DEGRADED;
    v->n_gpus = 2;
    v->gpus[0] = (struct gpu_reading){.index = 0,
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
    v->gpus[1] = (struct gpu_reading){.index = 1};
    strcpy(v->gpus[1].name, "NVIDIA A100");
    strcpy(v->gpus[1].uuid, "GPU-2");
    strcpy(v->gpus[1].error, "GPU is lost");
    return v;
}

static void test_snapshot_fields(void **state)
{
    struct agent_values *v = sample_values();
    cJSON *o = agent_snapshot_json("srv-01", v), *d, *g;
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
    struct unit_state u[2] = {0};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_fields),
        cmocka_unit_test(test_health_levels),
        cmocka_unit_test(test_metrics_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
