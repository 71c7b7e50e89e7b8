/* SPDX-License-Identifier: MIT */
/* History-bucket accumulators: avg/max/min of the samples fed, per-GPU and per-mount rows,
 * checkpoints, rollover, and resuming a stored bucket after a restart (real SQLite store). */
#include "aggregator/rollup.h"
#include "aggregator/sample.h"
#include "aggregator/store.h"
#include "aggregator/writer.h"
#include "common/err.h"

#include "writer_capture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_os.h"

#define B0 1768644000LL /* a bucket start (multiple of 10 s and of 1 h) */

/* A sample with two GPUs (util g0/g1, memory 1000+g0 / 2000) and two mounts. */
static struct agg_sample *sample(double cpu, double g0, double g1, double root_pct)
{
    char body[1400], why[128];
    struct agg_sample *s = NULL;
    snprintf(body, sizeof(body),
             "{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":%g,\"mem\":{\"used_bytes\":1,"
             "\"total_bytes\":2,\"used_pct\":%g},\"disks\":[{\"mount\":\"/nfs\",\"stale\":true,"
             "\"used_pct\":null},{\"mount\":\"/\",\"used_bytes\":%g,\"total_bytes\":100,"
             "\"used_pct\":%g},{\"mount\":\"/data\",\"used_bytes\":1,\"total_bytes\":10,"
             "\"used_pct\":10}],\"gpus\":[{\"index\":0,\"uuid\":\"GPU-a\",\"util_pct\":%g,"
             "\"mem_used_mb\":%g,\"mem_total_mb\":8000,\"temp_c\":%g,\"power_w\":100},"
             "{\"index\":1,\"uuid\":\"GPU-b\",\"util_pct\":%g,\"mem_used_mb\":2000,"
             "\"mem_total_mb\":8000}]}",
             cpu, cpu / 2, root_pct, root_pct, g0, 1000 + g0, 40 + g0, g1);
    assert_int_equal(agg_sample_parse(body, strlen(body), &s, why, sizeof(why)), MON_OK);
    return s;
}

static void add(struct agg_rollup *r, int64_t id, struct agg_sample *s, int64_t utc_ms)
{
    assert_int_equal(agg_rollup_add(r, id, s, utc_ms), MON_OK);
    agg_sample_free(s);
}

static void test_accumulate_and_checkpoint(void **state)
{
    struct capture cap;
    struct agg_rollup *r;
    struct agg_hourly_row row;
    const struct agg_write_job *j;
    (void)state;
    capture_start(&cap);
    assert_int_equal(agg_rollup_new(10, NULL, cap.writer, &r), MON_OK);
    assert_int_equal(agg_rollup_bucket_of(r, B0 * 1000 + 9999), B0);
    assert_int_equal(agg_rollup_bucket_of(r, B0 * 1000 + 10000), B0 + 10);
    assert_int_equal(agg_rollup_server_add(r, 1), MON_OK);
    assert_int_equal(agg_rollup_server_add(r, 1), MON_OK);
    add(r, 1, sample(10, 5, 50, 20), B0 * 1000 + 100);
    add(r, 1, sample(20, 70, 10, 30), B0 * 1000 + 5000);
    add(r, 1, sample(60, 0, 30, 25), B0 * 1000 + 9000);

    assert_int_equal(agg_rollup_current(r, 1, B0 * 1000 + 9500, &row), MON_OK);
    assert_int_equal(row.ts, B0);
    assert_int_equal(row.samples, 3);
    assert_true(row.has_cpu && row.has_mem && row.has_disk && row.has_gpu);
    assert_float_equal(row.cpu_pct_avg, 30, 1e-9);
    assert_float_equal(row.cpu_pct_max, 60, 1e-9);
    assert_float_equal(row.cpu_pct_min, 10, 1e-9);
    assert_float_equal(row.mem_used_pct_avg, 15, 1e-9);
    /* Disk: the first entry with a value ("/"), last value plus max/min. */
    assert_float_equal(row.disk_used_pct, 25, 1e-9);
    assert_float_equal(row.disk_used_pct_max, 30, 1e-9);
    assert_float_equal(row.disk_used_pct_min, 20, 1e-9);
    assert_float_equal(row.disk_used_bytes, 25, 1e-9);
    assert_float_equal(row.disk_total_bytes, 100, 1e-9);
    /* GPU: per sample the max over GPUs (50, 70, 30), memory the sum (3005, 3070, 3000). */
    assert_float_equal(row.gpu_util_pct_avg, 50, 1e-9);
    assert_float_equal(row.gpu_util_pct_max, 70, 1e-9);
    assert_float_equal(row.gpu_util_pct_min, 30, 1e-9);
    assert_float_equal(row.gpu_mem_used_mb, 3000, 1e-9);
    assert_float_equal(row.gpu_mem_used_mb_max, 3070, 1e-9);
    assert_float_equal(row.gpu_mem_used_mb_min, 3000, 1e-9);
    assert_float_equal(row.gpu_mem_total_mb, 16000, 1e-9);
    assert_int_equal(agg_rollup_current(r, 1, B0 * 1000 + 10000, &row), MON_ENOENT);

    assert_int_equal(agg_rollup_checkpoint(r), 1);
    j = capture_last(&cap, AGG_JOB_HOURLY);
    assert_non_null(j);
    assert_int_equal(j->u.hourly.n, 1);
    assert_int_equal(j->u.hourly.rows[0].samples, 3);
    assert_int_equal(j->u.hourly.n_gpus, 2);
    assert_int_equal(j->u.hourly.gpus[0].gpu_index, 0);
    assert_string_equal(j->u.hourly.gpus[0].uuid, "GPU-a");
    assert_float_equal(j->u.hourly.gpus[0].util_pct_avg, 25, 1e-9);
    assert_float_equal(j->u.hourly.gpus[0].util_pct_max, 70, 1e-9);
    assert_float_equal(j->u.hourly.gpus[0].mem_used_mb_avg, 1025, 1e-9);
    assert_float_equal(j->u.hourly.gpus[0].temp_c_max, 110, 1e-9);
    assert_true(j->u.hourly.gpus[0].has_power);
    assert_false(j->u.hourly.gpus[1].has_power);
    assert_float_equal(j->u.hourly.gpus[1].util_pct_avg, 30, 1e-9);
    assert_float_equal(j->u.hourly.gpus[1].mem_total_mb, 8000, 1e-9);
    assert_int_equal(j->u.hourly.n_disks, 2); /* the stale mount has no value */
    assert_string_equal(j->u.hourly.disks[0].mount, "/");
    assert_float_equal(j->u.hourly.disks[0].used_pct_avg, 25, 1e-9);
    assert_float_equal(j->u.hourly.disks[0].used_pct_max, 30, 1e-9);
    assert_float_equal(j->u.hourly.disks[0].used_pct, 25, 1e-9);
    assert_string_equal(j->u.hourly.disks[1].mount, "/data");

    /* Nothing new: no second write. */
    assert_int_equal(agg_rollup_checkpoint(r), 0);
    assert_int_equal(capture_count(&cap, AGG_JOB_HOURLY, NULL), 1);

    /* Rollover: one more sample in the bucket, then one in the next bucket stages the
     * finished bucket, which the next flush writes (off the poller thread). */
    add(r, 1, sample(100, 0, 0, 25), B0 * 1000 + 9900);
    add(r, 1, sample(1, 0, 0, 25), B0 * 1000 + 10100);
    assert_int_equal(capture_count(&cap, AGG_JOB_HOURLY, NULL), 1);
    assert_int_equal(agg_rollup_flush(r), 1);
    assert_int_equal(agg_rollup_flush(r), 0);
    j = capture_last(&cap, AGG_JOB_HOURLY);
    assert_int_equal(capture_count(&cap, AGG_JOB_HOURLY, NULL), 2);
    assert_int_equal(j->u.hourly.rows[0].ts, B0);
    assert_int_equal(j->u.hourly.rows[0].samples, 4);
    assert_float_equal(j->u.hourly.rows[0].cpu_pct_avg, 47.5, 1e-9);
    assert_int_equal(agg_rollup_current(r, 1, B0 * 1000 + 10100, &row), MON_OK);
    assert_int_equal(row.samples, 1);
    assert_int_equal(row.ts, B0 + 10);

    /* Unknown and removed servers. */
    {
        struct agg_sample *s = sample(1, 1, 1, 1);
        assert_int_equal(agg_rollup_add(r, 2, s, B0 * 1000), MON_ENOENT);
        agg_sample_free(s);
    }
    agg_rollup_server_remove(r, 1);
    assert_int_equal(agg_rollup_current(r, 1, B0 * 1000 + 10100, &row), MON_ENOENT);
    assert_int_equal(agg_rollup_checkpoint(r), 0);
    agg_rollup_free(r);
    capture_stop(&cap);
}

/* A checkpoint of many servers goes to the writer in chunks of at most 1,024 servers' rows
 * (a checkpoint never holds every server's rows at once). */
static void test_checkpoint_in_chunks(void **state)
{
    enum { N = 2500 };
    struct capture cap;
    struct agg_rollup *r;
    struct agg_sample *s = sample(10, 5, 50, 20);
    size_t rows = 0, jobs;
    (void)state;
    capture_start(&cap);
    assert_int_equal(agg_rollup_new(10, NULL, cap.writer, &r), MON_OK);
    for (int64_t id = 1; id <= N; id++) {
        assert_int_equal(agg_rollup_server_add(r, id), MON_OK);
        assert_int_equal(agg_rollup_add(r, id, s, B0 * 1000 + 100), MON_OK);
    }
    assert_int_equal(agg_rollup_checkpoint(r), N);
    capture_flush(&cap);
    jobs = capture_count(&cap, AGG_JOB_HOURLY, NULL);
    assert_int_equal(jobs, 3);
    pthread_mutex_lock(&cap.lock);
    for (size_t i = 0; i < cap.n; i++) {
        if (cap.jobs[i].kind != AGG_JOB_HOURLY)
            continue;
        assert_true(cap.jobs[i].u.hourly.n <= 1024);
        assert_int_equal(cap.jobs[i].u.hourly.n_gpus, 2 * cap.jobs[i].u.hourly.n);
        rows += cap.jobs[i].u.hourly.n;
    }
    pthread_mutex_unlock(&cap.lock);
    assert_int_equal(rows, N);
    agg_sample_free(s);
    agg_rollup_free(r);
    capture_stop(&cap);
}

static void test_samples_without_gpu(void **state)
{
    static const char body[] = "{\"ts\":\"2026-01-17T10:00:00Z\",\"cpu_pct\":null,\"disks\":[],"
                               "\"gpus\":[{\"index\":0,\"error\":\"GPU is lost\"}]}";
    struct capture cap;
    struct agg_rollup *r;
    struct agg_hourly_row row;
    struct agg_sample *s = NULL;
    const struct agg_write_job *j;
    char why[64];
    (void)state;
    capture_start(&cap);
    assert_int_equal(agg_rollup_new(3600, NULL, cap.writer, &r), MON_OK);
    agg_rollup_server_add(r, 5);
    assert_int_equal(agg_sample_parse(body, sizeof(body) - 1, &s, why, sizeof(why)), MON_OK);
    add(r, 5, s, B0 * 1000);
    assert_int_equal(agg_rollup_current(r, 5, B0 * 1000, &row), MON_OK);
    assert_int_equal(row.samples, 1);
    assert_false(row.has_cpu || row.has_mem || row.has_disk || row.has_gpu);
    agg_rollup_checkpoint(r);
    j = capture_last(&cap, AGG_JOB_HOURLY);
    assert_int_equal(j->u.hourly.n_gpus, 1);
    assert_int_equal(j->u.hourly.gpus[0].samples, 1);
    assert_false(j->u.hourly.gpus[0].has_util);
    agg_rollup_free(r);
    capture_stop(&cap);
}

static void test_resume_stored_bucket(void **state)
{
    char dir[512], path[600], why[256];
    struct agg_store *st = NULL;
    struct agg_writer *w = NULL;
    struct agg_writer_options wo = {0};
    struct agg_server srv = {.name = "srv",
                             .host = "127.0.0.1",
                             .port = 9109,
                             .token = "t",
                             .enabled = true,
                             .last_seen_at = -1,
                             .last_online = -1};
    struct agg_hourly_row row;
    struct agg_gpu_hourly_row *gpus = NULL;
    struct agg_disk_hourly_row *disks = NULL;
    size_t n_gpus = 0, n_disks = 0;
    struct agg_rollup *r;
    int64_t id = 0;
    (void)state;

    assert_int_equal(test_make_temp_dir("agg-rollup", dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/monitor.db", dir);
    assert_int_equal(agg_store_open(path, 1000, &st, why, sizeof(why)), MON_OK);
    assert_int_equal(agg_store_server_insert(st, &srv, &id), MON_OK);
    wo.store = st;
    assert_int_equal(agg_writer_start(&wo, &w), MON_OK);

    /* First run: three samples, checkpointed, then the process "dies" (no final write). */
    assert_int_equal(agg_rollup_new(3600, st, w, &r), MON_OK);
    agg_rollup_server_add(r, id);
    add(r, id, sample(10, 10, 0, 20), B0 * 1000 + 1000);
    add(r, id, sample(20, 20, 0, 20), B0 * 1000 + 6000);
    add(r, id, sample(30, 30, 0, 20), B0 * 1000 + 11000);
    assert_int_equal(agg_rollup_checkpoint(r), 1);
    assert_int_equal(agg_writer_flush(w, 5000), MON_OK);
    add(r, id, sample(99, 99, 0, 99), B0 * 1000 + 16000); /* lost with the crash */
    agg_rollup_free(r);

    /* Restart mid-bucket: the stored row is continued, not overwritten. */
    assert_int_equal(agg_rollup_new(3600, st, w, &r), MON_OK);
    agg_rollup_server_add(r, id);
    add(r, id, sample(60, 40, 0, 22), B0 * 1000 + 30000);
    assert_int_equal(agg_rollup_current(r, id, B0 * 1000 + 30000, &row), MON_OK);
    assert_int_equal(row.samples, 4);
    assert_float_equal(row.cpu_pct_avg, 30, 1e-9);
    assert_float_equal(row.cpu_pct_max, 60, 1e-9);
    assert_float_equal(row.cpu_pct_min, 10, 1e-9);
    assert_float_equal(row.disk_used_pct, 22, 1e-9);
    assert_float_equal(row.gpu_util_pct_avg, 25, 1e-9);
    assert_int_equal(agg_rollup_checkpoint(r), 1);
    assert_int_equal(agg_writer_flush(w, 5000), MON_OK);

    memset(&row, 0, sizeof(row));
    assert_int_equal(agg_store_hourly_get(st, id, B0, &row), MON_OK);
    assert_int_equal(row.samples, 4);
    assert_float_equal(row.cpu_pct_avg, 30, 1e-6);
    assert_float_equal(row.cpu_pct_max, 60, 1e-6);
    assert_int_equal(agg_store_gpu_hourly_get(st, id, B0, &gpus, &n_gpus), MON_OK);
    assert_int_equal(n_gpus, 2);
    assert_int_equal(gpus[0].samples, 4);
    assert_float_equal(gpus[0].util_pct_avg, 25, 1e-6);
    assert_float_equal(gpus[0].util_pct_max, 40, 1e-6);
    assert_int_equal(agg_store_disk_hourly_get(st, id, B0, &disks, &n_disks), MON_OK);
    assert_int_equal(n_disks, 2);
    for (size_t i = 0; i < n_disks; i++) {
        assert_int_equal(disks[i].samples, 4);
        if (strcmp(disks[i].mount, "/") == 0) {
            assert_float_equal(disks[i].used_pct, 22, 1e-6);
            assert_float_equal(disks[i].used_pct_avg, 20.5, 1e-6);
        }
    }
    free(gpus);
    free(disks);
    agg_rollup_free(r);

    /* A third run checkpoints without anyone asking for the current row: the checkpoint itself
     * reads the stored row first (4 samples), so 2 more make 6, not 2. */
    assert_int_equal(agg_rollup_new(3600, st, w, &r), MON_OK);
    agg_rollup_server_add(r, id);
    add(r, id, sample(10, 10, 0, 20), B0 * 1000 + 40000);
    add(r, id, sample(20, 10, 0, 20), B0 * 1000 + 45000);
    assert_int_equal(agg_rollup_checkpoint(r), 1);
    assert_int_equal(agg_writer_flush(w, 5000), MON_OK);
    memset(&row, 0, sizeof(row));
    assert_int_equal(agg_store_hourly_get(st, id, B0, &row), MON_OK);
    assert_int_equal(row.samples, 6);
    assert_float_equal(row.cpu_pct_max, 60, 1e-6);
    /* One more sample, then the next hour: B0 is staged and written by the next flush; the new
     * hour is new in this run (no stored row to read). */
    add(r, id, sample(70, 10, 0, 20), B0 * 1000 + 50000);
    add(r, id, sample(30, 10, 0, 20), (B0 + 3600) * 1000 + 1000);
    assert_int_equal(agg_rollup_flush(r), 1);
    assert_int_equal(agg_rollup_flush(r), 0);
    assert_int_equal(agg_rollup_checkpoint(r), 1);
    assert_int_equal(agg_writer_flush(w, 5000), MON_OK);
    assert_int_equal(agg_store_hourly_get(st, id, B0, &row), MON_OK);
    assert_int_equal(row.samples, 7);
    assert_float_equal(row.cpu_pct_max, 70, 1e-6);
    assert_int_equal(agg_store_hourly_get(st, id, B0 + 3600, &row), MON_OK);
    assert_int_equal(row.samples, 1);

    agg_rollup_free(r);
    agg_writer_stop(w, 1000);
    agg_store_close(st);
    test_rm_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accumulate_and_checkpoint),
        cmocka_unit_test(test_checkpoint_in_chunks),
        cmocka_unit_test(test_samples_without_gpu),
        cmocka_unit_test(test_resume_stored_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
