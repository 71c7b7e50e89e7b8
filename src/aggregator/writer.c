/* SPDX-License-Identifier: MIT */
/* The database writer's queue: start and stop, flush, status, and the enqueue functions that
 * copy a write into a job (the thread that executes them is writer_run.c). The queue is
 * bounded: when full, the oldest job that is not an event is dropped (counted, logged). */
#include "aggregator/writer_priv.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/os/lock.h"
#include "common/str.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_JOBS  100000
#define DEFAULT_BATCH_MAX 256

void agg_writer_job_free(struct agg_write_job *j)
{
    if (!j)
        return;
    if (j->kind == AGG_JOB_HOURLY) {
        free(j->u.hourly.rows);
        free(j->u.hourly.gpus);
        free(j->u.hourly.disks);
    }
    if (j->kind == AGG_JOB_USAGE)
        free(j->u.usage.rows);
    free(j);
}

int agg_writer_start(const struct agg_writer_options *opt, struct agg_writer **ret)
{
    struct agg_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return MON_ENOMEM;
    w->opt = *opt;
    if (!w->opt.max_jobs)
        w->opt.max_jobs = DEFAULT_MAX_JOBS;
    if (w->opt.backoff_min_ms <= 0)
        w->opt.backoff_min_ms = 100;
    if (w->opt.backoff_max_ms <= 0)
        w->opt.backoff_max_ms = 5000;
    if (!w->opt.exec) {
        w->opt.exec = agg_writer_store_exec;
        w->opt.exec_ctx = opt->store;
        if (!w->opt.tx)
            w->opt.tx = agg_writer_store_tx;
    }
    if (!w->opt.batch_max)
        w->opt.batch_max = DEFAULT_BATCH_MAX;
    w->st.db_ok = true;
    w->st.last_error_at = w->st.last_success_at = -1;
    if (mon_cond_init(&w->wake) != MON_OK) {
        free(w);
        return MON_ENOMEM;
    }
    if (mon_cond_init(&w->idle) != MON_OK) {
        mon_cond_destroy(&w->wake);
        free(w);
        return MON_ENOMEM;
    }
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->thread, NULL, agg_writer_main, w) != 0) {
        mon_cond_destroy(&w->wake);
        mon_cond_destroy(&w->idle);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return MON_ESYS;
    }
    *ret = w;
    return MON_OK;
}

void agg_writer_stop(struct agg_writer *w, int64_t drain_ms)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    w->stop_deadline = mon_mono_ms() + (drain_ms > 0 ? drain_ms : 0);
    mon_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    mon_cond_destroy(&w->wake);
    mon_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

int agg_writer_flush(struct agg_writer *w, int64_t timeout_ms)
{
    int64_t deadline = mon_mono_ms() + timeout_ms, left;
    int r = MON_OK;
    pthread_mutex_lock(&w->lock);
    w->flushers++;
    mon_cond_broadcast(&w->wake); /* ends a gathering wait */
    while (w->head || w->active) {
        left = deadline - mon_mono_ms();
        if (left <= 0) {
            r = MON_ETIMEDOUT;
            break;
        }
        mon_cond_wait_until(&w->idle, &w->lock, deadline);
    }
    w->flushers--;
    pthread_mutex_unlock(&w->lock);
    return r;
}

void agg_writer_get_status(struct agg_writer *w, struct agg_writer_status *ret)
{
    pthread_mutex_lock(&w->lock);
    *ret = w->st;
    ret->pending = w->n_queued + w->active;
    pthread_mutex_unlock(&w->lock);
}

/* Lock held: drops the oldest job that is not an event (or the oldest of all when every
 * queued job is an event) to keep the queue bounded. */
static void drop_one_locked(struct agg_writer *w)
{
    MON_ASSERT_LOCKED(&w->lock);
    struct agg_write_job *prev = NULL, *j = w->head;
    while (j && j->kind == AGG_JOB_EVENT) {
        prev = j;
        j = j->next;
    }
    if (!j) {
        prev = NULL;
        j = w->head;
    }
    if (!j)
        return;
    if (prev)
        prev->next = j->next;
    else
        w->head = j->next;
    if (w->tail == j)
        w->tail = prev;
    w->n_queued--;
    w->st.dropped++;
    agg_writer_job_free(j);
}

/* Queues j (taking ownership). */
static int push(struct agg_writer *w, struct agg_write_job *j)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        agg_writer_job_free(j);
        return MON_EINVAL;
    }
    if (w->n_queued >= w->opt.max_jobs && w->head) {
        while (w->n_queued >= w->opt.max_jobs && w->head)
            drop_one_locked(w);
        agg_writer_log_dropped_locked(
            w, "because the write queue is full (the database is too slow or failing)", false);
    }
    j->next = NULL;
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->n_queued++;
    if (!w->gathering || w->n_queued >= AGG_WRITER_GATHER_MAX)
        mon_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return MON_OK;
}

static int job_new(enum agg_job_kind kind, int64_t server_id, struct agg_write_job **ret_job)
{
    struct agg_write_job *j = calloc(1, sizeof(*j));
    if (!j)
        return MON_ENOMEM;
    j->kind = kind;
    j->server_id = server_id;
    *ret_job = j;
    return MON_OK;
}

int agg_writer_event(struct agg_writer *w, int64_t server_id, const char *server_name, int64_t ts,
                     const char *type, const char *message)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_EVENT, server_id, &j) < 0)
        return MON_ENOMEM;
    j->u.event.server_id = server_id;
    j->u.event.ts = ts;
    mon_strlcpy(j->u.event.server_name, server_name ? server_name : "",
                sizeof(j->u.event.server_name));
    mon_strlcpy(j->u.event.type, type, sizeof(j->u.event.type));
    mon_strlcpy(j->u.event.message, message, sizeof(j->u.event.message));
    return push(w, j);
}

int agg_writer_service_status(struct agg_writer *w, int64_t server_id, int64_t ts, const char *unit,
                              const char *active_state, const char *sub_state)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_SERVICE_STATUS, server_id, &j) < 0)
        return MON_ENOMEM;
    j->u.status.ts = ts;
    mon_strlcpy(j->u.status.unit, unit, sizeof(j->u.status.unit));
    mon_strlcpy(j->u.status.active_state, active_state, sizeof(j->u.status.active_state));
    mon_strlcpy(j->u.status.sub_state, sub_state, sizeof(j->u.status.sub_state));
    return push(w, j);
}

int agg_writer_unit_state(struct agg_writer *w, int64_t server_id, const struct agg_unit_state *u)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_UNIT_STATE, server_id, &j) < 0)
        return MON_ENOMEM;
    j->u.unit = *u;
    return push(w, j);
}

int agg_writer_gpu_state(struct agg_writer *w, int64_t server_id, const struct agg_gpu_state_row *g)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_GPU_STATE, server_id, &j) < 0)
        return MON_ENOMEM;
    j->u.gpu = *g;
    return push(w, j);
}

int agg_writer_server_pin(struct agg_writer *w, int64_t server_id, const char *pin)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_SERVER_PIN, server_id, &j) < 0)
        return MON_ENOMEM;
    mon_strlcpy(j->u.pin, pin, sizeof(j->u.pin));
    return push(w, j);
}

int agg_writer_server_seen(struct agg_writer *w, int64_t server_id, int64_t last_seen_at,
                           int online)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_SERVER_SEEN, server_id, &j) < 0)
        return MON_ENOMEM;
    j->u.seen.last_seen_at = last_seen_at;
    j->u.seen.online = online;
    return push(w, j);
}

int agg_writer_hourly(struct agg_writer *w, struct agg_hourly_row *rows, size_t n,
                      struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                      struct agg_disk_hourly_row *disks, size_t n_disks)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_HOURLY, -1, &j) < 0) {
        free(rows);
        free(gpus);
        free(disks);
        return MON_ENOMEM;
    }
    j->u.hourly.rows = rows;
    j->u.hourly.n = n;
    j->u.hourly.gpus = gpus;
    j->u.hourly.n_gpus = n_gpus;
    j->u.hourly.disks = disks;
    j->u.hourly.n_disks = n_disks;
    return push(w, j);
}

int agg_writer_retention(struct agg_writer *w, int64_t cutoff)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_RETENTION, -1, &j) < 0)
        return MON_ENOMEM;
    j->u.retention.cutoff = cutoff;
    return push(w, j);
}

int agg_writer_usage(struct agg_writer *w, struct agg_usage_row *rows, size_t n)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_USAGE, -1, &j) < 0) {
        free(rows);
        return MON_ENOMEM;
    }
    j->u.usage.rows = rows;
    j->u.usage.n = n;
    return push(w, j);
}

int agg_writer_usage_retention(struct agg_writer *w, int64_t cutoff)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_USAGE_RETENTION, -1, &j) < 0)
        return MON_ENOMEM;
    j->u.retention.cutoff = cutoff;
    return push(w, j);
}

int agg_writer_vacuum(struct agg_writer *w)
{
    struct agg_write_job *j = NULL;
    if (job_new(AGG_JOB_VACUUM, -1, &j) < 0)
        return MON_ENOMEM;
    return push(w, j);
}
