/* SPDX-License-Identifier: MIT */
/* The sampling thread: once a second it reads /proc and the GPUs (with who is on them), keeps a
 * window of readings to average CPU and GPU utilisation over cpu_window, and re-renders the
 * cached snapshot body. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "agent/sampler.h"

#include "agent/collect/gpu_nvml.h"
#include "agent/collect/gpu_smi.h"
#include "agent/collect/proc_loadavg.h"
#include "agent/collect/proc_stat.h"
#include "agent/collect/proc_uptime.h"
#include "agent/collect/procfs.h"
#include "agent/gpu_procs.h"
#include "agent/snapshot.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/os/cond.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Readings per cpu_window: the average over the window is exact from its two end readings, so
 * more readings only make the value fresher; 2.5 per window keeps a 5 s window's value at most
 * 2 s old while sampling costs stay under 0.1 ms of CPU per second. */
#define SAMPLE_MIN_PERIOD_MS 1000
#define SAMPLE_MAX_PERIOD_MS 2000
#define FIRST_TICK_MS        250          /* second reading soon after start: a CPU value quickly */
#define GPU_RETRY_MS         30000        /* re-try loading the driver after a failure */
#define GPU_LOST_RETRY_TICKS 5            /* a driver that did work is re-tried every 5 readings */
#define SMI_TIMEOUT_MS       5000         /* nvidia-smi can take seconds on multi-GPU hosts */
#define PROC_BUF_SIZE        (256 * 1024) /* /proc/stat grows with the core count */
#define SMI_MAX_APPS         1024         /* compute processes nvidia-smi may list */

struct cpu_sample {
    int64_t mono_ms;
    struct agent_cpu_times t;
};

struct gpu_tick {
    int64_t mono_ms;
    size_t n;
    double util[GPU_MAX];
    bool valid[GPU_MAX];
};

struct agent_sampler {
    /* settings (copied) */
    char *node_id;
    char *nvml_library;
    char *nvidia_smi;
    enum agent_gpu_mode gpu_mode;
    int64_t window_ms;
    int64_t period_ms; /* time between readings */

    /* collectors, touched only by the sampling thread (and new/free) */
    struct agent_procfs_file f_stat, f_meminfo, f_loadavg, f_uptime;
    char *buf;
    struct cpu_sample *cpu_ring;
    struct gpu_tick *gpu_ring;
    size_t ring_cap, cpu_head, cpu_len, gpu_head, gpu_len;
    struct agent_gpu_nvml *nvml;
    bool use_smi;
    bool had_gpus; /* a GPU was read once: losing the driver afterwards is a problem */
    int64_t gpu_next_try_ms, smi_next_ms;
    struct agent_gpu_reading smi_last[GPU_MAX];
    size_t smi_last_n;
    char smi_last_error[200];
    struct agent_smi_app *smi_apps; /* the last compute-apps run; NULL when it failed */
    size_t smi_n_apps;
    struct agent_gpu_procs *procs; /* NULL with gpu_processes: false */
    bool has_btime;
    int64_t btime; /* boot time from /proc/stat, the base of process start times */

    /* shared state, under lock */
    pthread_mutex_t lock;
    struct mon_cond wake;
    bool stop, ready, finished;
    struct agent_disk_monitor *disks;
    struct agent_values values;
    char *snapshot;
    size_t snapshot_len;
    pthread_t thread;
};

static void read_cpu(struct agent_sampler *s, struct agent_values *v, int64_t now)
{
    struct agent_cpu_times t;
    unsigned ncpu = 0;
    size_t len;
    int r;

    r = agent_procfs_file_read(&s->f_stat, s->buf, PROC_BUF_SIZE, &len);
    if (r == MON_OK)
        r = agent_parse_proc_stat(s->buf, len, &t, &ncpu);
    if (r < 0) {
        snprintf(v->cpu_error, sizeof(v->cpu_error), "%.80s: %s", s->f_stat.path, mon_strerror(r));
        v->has_cpu = false;
        return;
    }
    v->cpu_error[0] = '\0';
    v->cpu_count = ncpu;
    if (s->procs)
        s->has_btime = agent_parse_proc_stat_btime(s->buf, len, &s->btime) == MON_OK;
    /* Append to the ring, dropping entries older than the window (keep one at or beyond it). */
    s->cpu_ring[(s->cpu_head + s->cpu_len) % s->ring_cap] = (struct cpu_sample){now, t};
    if (s->cpu_len < s->ring_cap)
        s->cpu_len++;
    else
        s->cpu_head = (s->cpu_head + 1) % s->ring_cap;
    while (s->cpu_len > 2 &&
           now - s->cpu_ring[(s->cpu_head + 1) % s->ring_cap].mono_ms >= s->window_ms) {
        s->cpu_head = (s->cpu_head + 1) % s->ring_cap;
        s->cpu_len--;
    }
    if (s->cpu_len >= 2) {
        double pct;
        r = agent_cpu_times_busy_pct(&s->cpu_ring[s->cpu_head].t, &t, &pct);
        if (r == MON_OK) {
            v->cpu_pct = pct;
            v->has_cpu = true;
        } else if (r == MON_ERANGE) {
            /* A counter went backwards (wrap, hot-unplug): restart the window from now. */
            s->cpu_head = (s->cpu_head + s->cpu_len - 1) % s->ring_cap;
            s->cpu_len = 1;
        }
    }
}

static void read_small_files(struct agent_sampler *s, struct agent_values *v)
{
    size_t len;
    v->has_mem = agent_procfs_file_read(&s->f_meminfo, s->buf, PROC_BUF_SIZE, &len) == MON_OK &&
                 agent_parse_proc_meminfo(s->buf, len, &v->mem) == MON_OK;
    v->has_load = agent_procfs_file_read(&s->f_loadavg, s->buf, PROC_BUF_SIZE, &len) == MON_OK &&
                  agent_parse_proc_loadavg(s->buf, len, v->load) == MON_OK;
    v->has_uptime = agent_procfs_file_read(&s->f_uptime, s->buf, PROC_BUF_SIZE, &len) == MON_OK &&
                    agent_parse_proc_uptime(s->buf, len, &v->uptime_s) == MON_OK;
}

/* Runs nvidia-smi's compute-apps query (a second process per window, only without NVML) and
 * keeps its result for the samples until the next run. */
static void smi_read_apps(struct agent_sampler *s)
{
    char why[200];
    size_t n = 0;

    free(s->smi_apps);
    s->smi_apps = NULL;
    s->smi_n_apps = 0;
    if (!s->procs)
        return;
    s->smi_apps = malloc(SMI_MAX_APPS * sizeof(*s->smi_apps));
    if (s->smi_apps && agent_gpu_smi_read_apps(s->nvidia_smi, SMI_TIMEOUT_MS, s->smi_apps,
                                               SMI_MAX_APPS, &n, why, sizeof(why)) == MON_OK) {
        s->smi_n_apps = n;
        return;
    }
    free(s->smi_apps);
    s->smi_apps = NULL;
}

/* Loads NVML or, failing that, checks nvidia-smi; sets the GPU check when nothing works. */
static void gpu_try_open(struct agent_sampler *s, struct agent_values *v, int64_t now)
{
    char why[256], smi_why[200];
    size_t n = 0;

    s->gpu_next_try_ms = now + (s->had_gpus ? s->period_ms * GPU_LOST_RETRY_TICKS : GPU_RETRY_MS);
    if (agent_gpu_nvml_open(s->nvml_library, &s->nvml, why, sizeof(why)) == MON_OK)
        return;
    if (agent_gpu_smi_read(s->nvidia_smi, SMI_TIMEOUT_MS, s->smi_last, GPU_MAX, &n, smi_why,
                           sizeof(smi_why)) == MON_OK) {
        s->use_smi = true;
        s->smi_last_n = n;
        s->smi_next_ms = now + s->window_ms;
        smi_read_apps(s);
        return;
    }
    v->n_gpus = 0;
    v->gpu_source = NULL;
    if (s->had_gpus) {
        /* GPUs were seen on this machine: without a driver now they are missing, not absent. */
        v->gpu_check = AGENT_CHECK_DEGRADED;
        snprintf(v->gpu_detail, sizeof(v->gpu_detail), "NVIDIA driver lost (%.100s; %.100s)", why,
                 smi_why);
    } else if (s->gpu_mode == AGENT_GPU_AUTO) {
        v->gpu_check = AGENT_CHECK_OK;
        snprintf(v->gpu_detail, sizeof(v->gpu_detail), "no NVIDIA driver found (%.100s; %.100s)",
                 why, smi_why);
    } else {
        v->gpu_check = AGENT_CHECK_ERROR;
        snprintf(v->gpu_detail, sizeof(v->gpu_detail),
                 "NVIDIA driver not available (%.100s; %.100s)", why, smi_why);
    }
}

/* Averages each GPU's utilisation over the window of ticks kept in the ring. */
static void gpu_average(struct agent_sampler *s, struct agent_values *v, int64_t now)
{
    struct gpu_tick *tick = &s->gpu_ring[(s->gpu_head + s->gpu_len) % s->ring_cap];
    tick->mono_ms = now;
    tick->n = v->n_gpus;
    for (size_t i = 0; i < v->n_gpus; i++) {
        tick->valid[i] = v->gpus[i].has_util && !v->gpus[i].error[0];
        tick->util[i] = v->gpus[i].util_pct;
    }
    if (s->gpu_len < s->ring_cap)
        s->gpu_len++;
    else
        s->gpu_head = (s->gpu_head + 1) % s->ring_cap;
    while (s->gpu_len > 1 && now - s->gpu_ring[s->gpu_head].mono_ms >= s->window_ms) {
        s->gpu_head = (s->gpu_head + 1) % s->ring_cap;
        s->gpu_len--;
    }
    for (size_t i = 0; i < v->n_gpus; i++) {
        double sum = 0;
        int count = 0;
        for (size_t k = 0; k < s->gpu_len; k++) {
            const struct gpu_tick *t = &s->gpu_ring[(s->gpu_head + k) % s->ring_cap];
            if (t->n == v->n_gpus && t->valid[i]) {
                sum += t->util[i];
                count++;
            }
        }
        if (count > 0 && v->gpus[i].has_util)
            v->gpus[i].util_pct = sum / count;
    }
}

static void read_gpus(struct agent_sampler *s, struct agent_values *v, int64_t now)
{
    char why[200];
    size_t n = 0;
    int r;

    if (s->gpu_mode == AGENT_GPU_OFF) {
        v->gpu_check = AGENT_CHECK_OFF;
        v->n_gpus = 0;
        mon_strlcpy(v->gpu_detail, "GPU monitoring disabled (gpu: off)", sizeof(v->gpu_detail));
        return;
    }
    if (!s->nvml && !s->use_smi) {
        if (now < s->gpu_next_try_ms)
            return;
        gpu_try_open(s, v, now);
        if (!s->nvml && !s->use_smi)
            return;
    }
    if (s->nvml) {
        r = agent_gpu_nvml_read(s->nvml, v->gpus, GPU_MAX, &n, why, sizeof(why));
        v->gpu_source = "NVML";
        if (r < 0) {
            /* The driver failed as a whole: report it, drop NVML and re-load it later (a Xid
             * thread inside the driver's wait unloads that copy when the wait ends). */
            (void)agent_gpu_nvml_close(s->nvml);
            s->nvml = NULL;
            s->gpu_next_try_ms = now + s->period_ms * GPU_LOST_RETRY_TICKS;
            v->n_gpus = 0;
            v->gpu_check = AGENT_CHECK_DEGRADED;
            snprintf(v->gpu_detail, sizeof(v->gpu_detail), "NVML read failed: %s", why);
            return;
        }
    } else {
        /* nvidia-smi costs a process per run: once per window, not every second. */
        v->gpu_source = "nvidia-smi";
        if (now >= s->smi_next_ms) {
            s->smi_next_ms = now + s->window_ms;
            s->smi_last_error[0] = '\0';
            r = agent_gpu_smi_read(s->nvidia_smi, SMI_TIMEOUT_MS, s->smi_last, GPU_MAX, &n, why,
                                   sizeof(why));
            if (r < 0) {
                mon_strlcpy(s->smi_last_error, why, sizeof(s->smi_last_error));
                s->smi_last_n = 0;
            } else {
                s->smi_last_n = n;
                smi_read_apps(s);
            }
        }
        if (s->smi_last_error[0]) {
            v->n_gpus = 0;
            v->gpu_check = AGENT_CHECK_DEGRADED;
            snprintf(v->gpu_detail, sizeof(v->gpu_detail), "nvidia-smi failed: %s",
                     s->smi_last_error);
            return;
        }
        n = s->smi_last_n;
        memcpy(v->gpus, s->smi_last, n * sizeof(v->gpus[0]));
    }
    v->n_gpus = n;
    if (n > 0)
        s->had_gpus = true;
    if (s->procs && s->nvml)
        agent_gpu_procs_sample_nvml(s->procs, s->nvml, v->gpus, n, s->has_btime, s->btime, now);
    else if (s->procs)
        agent_gpu_procs_sample_smi(s->procs, s->smi_apps, s->smi_n_apps, v->gpus, n, s->has_btime,
                                   s->btime, now);
    gpu_average(s, v, now);
    v->gpu_check = AGENT_CHECK_OK;
    snprintf(v->gpu_detail, sizeof(v->gpu_detail),
             "NVIDIA driver available, %zu GPU%s detected (%s)", n, n == 1 ? "" : "s",
             v->gpu_source);
    for (size_t i = 0; i < n; i++) {
        if (v->gpus[i].error[0]) {
            v->gpu_check = AGENT_CHECK_DEGRADED;
            snprintf(v->gpu_detail, sizeof(v->gpu_detail), "GPU %u: %s", v->gpus[i].index,
                     v->gpus[i].error);
            break;
        }
    }
}

/* Copies the values without the unused disk and GPU entries: a whole struct agent_values is
 * 68 KiB (64 disks, 64 GPUs) and the agent keeps two (the published values and the sampling
 * thread's own), so whole copies kept 136 KiB of memory resident for 3 KiB of readings. The
 * entries past n_disks and n_gpus of dst are left as they were. */
static void values_copy(struct agent_values *dst, const struct agent_values *src)
{
    memcpy(dst, src, offsetof(struct agent_values, disks));
    memcpy(dst->disks, src->disks, src->n_disks * sizeof(src->disks[0]));
    memcpy(&dst->gpu_check, &src->gpu_check,
           offsetof(struct agent_values, gpus) - offsetof(struct agent_values, gpu_check));
    memcpy(dst->gpus, src->gpus, src->n_gpus * sizeof(src->gpus[0]));
}

/* One sampling step: collectors run without the lock; results are published under it. */
static void sample_once(struct agent_sampler *s, struct agent_values *v)
{
    int64_t now = mon_mono_ms();
    char *json;
    cJSON *obj;

    read_cpu(s, v, now);
    read_small_files(s, v);
    read_gpus(s, v, now);
    v->ts_utc_s = mon_utc_ms() / 1000;

    pthread_mutex_lock(&s->lock);
    v->n_disks = agent_disk_monitor_read(s->disks, v->disks, AGENT_MAX_DISKS);
    pthread_mutex_unlock(&s->lock);

    obj = agent_snapshot_json(s->node_id, v, s->procs);
    json = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);

    pthread_mutex_lock(&s->lock);
    values_copy(&s->values, v);
    if (json) {
        free(s->snapshot);
        s->snapshot = json;
        s->snapshot_len = strlen(json);
    }
    if (v->has_cpu && !s->ready) {
        s->ready = true;
        mon_cond_broadcast(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
}

static void *sampler_main(void *arg)
{
    struct agent_sampler *s = arg;
    struct agent_values *v = malloc(sizeof(*v));
    int64_t wait_ms = FIRST_TICK_MS;

    if (v) {
        pthread_mutex_lock(&s->lock);
        values_copy(v, &s->values);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_lock(&s->lock);
    while (!s->stop && v) {
        int64_t until = mon_cond_deadline(wait_ms), started;
        while (!s->stop && mon_cond_wait_until(&s->wake, &s->lock, until))
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->lock);
        started = mon_mono_ms();
        sample_once(s, v);
        /* Keep a steady one-second cadence whatever the collectors cost. */
        wait_ms = s->period_ms - (mon_mono_ms() - started);
        if (wait_ms < 50)
            wait_ms = 50;
        pthread_mutex_lock(&s->lock);
    }
    s->finished = true;
    mon_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    free(v);
    return NULL;
}

static void sampler_release(struct agent_sampler *s)
{
    agent_procfs_file_done(&s->f_stat);
    agent_procfs_file_done(&s->f_meminfo);
    agent_procfs_file_done(&s->f_loadavg);
    agent_procfs_file_done(&s->f_uptime);
    agent_disk_monitor_free(s->disks);
    (void)agent_gpu_nvml_close(s->nvml); /* false: the Xid thread finishes the job, or exit does */
    agent_gpu_procs_free(s->procs);
    free(s->smi_apps);
    free(s->buf);
    free(s->cpu_ring);
    free(s->gpu_ring);
    free(s->snapshot);
    free(s->node_id);
    free(s->nvml_library);
    free(s->nvidia_smi);
    pthread_mutex_destroy(&s->lock);
    mon_cond_destroy(&s->wake);
    free(s);
}

int agent_sampler_new(const struct agent_config *cfg, struct agent_sampler **ret_sampler, char *why,
                      size_t why_len)
{
    struct agent_sampler *s = calloc(1, sizeof(*s));
    struct agent_values *v;
    int r = MON_ENOMEM;

    if (!s) {
        snprintf(why, why_len, "out of memory");
        return MON_ENOMEM;
    }
    if (mon_cond_init(&s->wake) != MON_OK) {
        snprintf(why, why_len, "out of memory");
        free(s);
        return MON_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->window_ms = cfg->cpu_window_ms;
    s->gpu_mode = cfg->gpu;
    s->period_ms = cfg->cpu_window_ms * 2 / 5;
    if (s->period_ms < SAMPLE_MIN_PERIOD_MS)
        s->period_ms = SAMPLE_MIN_PERIOD_MS;
    if (s->period_ms > SAMPLE_MAX_PERIOD_MS)
        s->period_ms = SAMPLE_MAX_PERIOD_MS;
    s->ring_cap = (size_t)(cfg->cpu_window_ms / s->period_ms) + 3;
    s->node_id = strdup(cfg->node_id);
    s->nvml_library = strdup(cfg->nvml_library);
    s->nvidia_smi = strdup(cfg->nvidia_smi);
    s->buf = malloc(PROC_BUF_SIZE);
    s->cpu_ring = calloc(s->ring_cap, sizeof(*s->cpu_ring));
    s->gpu_ring = calloc(s->ring_cap, sizeof(*s->gpu_ring));
    if (!s->node_id || !s->nvml_library || !s->nvidia_smi || !s->buf || !s->cpu_ring ||
        !s->gpu_ring || agent_procfs_file_init(&s->f_stat, cfg->procfs_root, "stat") < 0 ||
        agent_procfs_file_init(&s->f_meminfo, cfg->procfs_root, "meminfo") < 0 ||
        agent_procfs_file_init(&s->f_loadavg, cfg->procfs_root, "loadavg") < 0 ||
        agent_procfs_file_init(&s->f_uptime, cfg->procfs_root, "uptime") < 0) {
        snprintf(why, why_len, "out of memory or procfs_root too long");
        r = MON_ENOMEM;
        goto fail;
    }
    if (cfg->gpu_processes && cfg->gpu != AGENT_GPU_OFF &&
        agent_gpu_procs_new(cfg->procfs_root, &s->procs) < 0) {
        snprintf(why, why_len, "out of memory");
        goto fail;
    }
    r = agent_disk_monitor_new(cfg->disks, cfg->n_disks, cfg->cpu_window_ms, 2 * cfg->cpu_window_ms,
                               NULL, &s->disks);
    if (r < 0) {
        snprintf(why, why_len, "cannot start disk readers");
        goto fail;
    }
    /* First reading now, so the next one (FIRST_TICK_MS later) yields a CPU percentage; into
     * the published values directly (no other thread runs yet). */
    v = &s->values;
    read_cpu(s, v, mon_mono_ms());
    if (v->cpu_error[0]) {
        snprintf(why, why_len, "%s", v->cpu_error);
        r = MON_EIO;
        goto fail;
    }
    read_small_files(s, v);
    read_gpus(s, v, mon_mono_ms());
    v->ts_utc_s = mon_utc_ms() / 1000;
    if (pthread_create(&s->thread, NULL, sampler_main, s) != 0) {
        snprintf(why, why_len, "cannot start the sampling thread");
        r = MON_ESYS;
        goto fail;
    }
    pthread_setname_np(s->thread, "sampler"); /* bench/agent measures this thread */
    *ret_sampler = s;
    return MON_OK;
fail:
    sampler_release(s);
    return r;
}

bool agent_sampler_wait_ready(struct agent_sampler *s, int64_t timeout_ms)
{
    int64_t until = mon_cond_deadline(timeout_ms);
    bool ready;
    pthread_mutex_lock(&s->lock);
    while (!s->ready && mon_cond_wait_until(&s->wake, &s->lock, until))
        ;
    ready = s->ready;
    pthread_mutex_unlock(&s->lock);
    return ready;
}

void agent_sampler_set_disks(struct agent_sampler *s, char *const *disks, size_t n)
{
    struct agent_disk_monitor *fresh, *old;
    if (agent_disk_monitor_new(disks, n, s->window_ms, 2 * s->window_ms, NULL, &fresh) < 0)
        return;
    pthread_mutex_lock(&s->lock);
    old = s->disks;
    s->disks = fresh;
    pthread_mutex_unlock(&s->lock);
    agent_disk_monitor_free(old);
}

void agent_sampler_values(struct agent_sampler *s, struct agent_values *out)
{
    pthread_mutex_lock(&s->lock);
    values_copy(out, &s->values);
    pthread_mutex_unlock(&s->lock);
}

char *agent_sampler_snapshot_json(struct agent_sampler *s, size_t *ret_len)
{
    char *copy = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->snapshot) {
        copy = mon_strndup(s->snapshot, s->snapshot_len);
        *ret_len = s->snapshot_len;
    }
    pthread_mutex_unlock(&s->lock);
    return copy;
}

bool agent_sampler_free(struct agent_sampler *s, int64_t wait_ms)
{
    int64_t until;
    bool finished;

    if (!s)
        return true;
    until = mon_cond_deadline(wait_ms);
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    mon_cond_broadcast(&s->wake);
    while (!s->finished && mon_cond_wait_until(&s->wake, &s->lock, until))
        ;
    finished = s->finished;
    pthread_mutex_unlock(&s->lock);
    if (!finished) {
        pthread_detach(s->thread);
        return false;
    }
    pthread_join(s->thread, NULL);
    sampler_release(s);
    return true;
}
