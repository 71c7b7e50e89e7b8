/* SPDX-License-Identifier: MIT */
/* The database writer thread: jobs are executed strictly in order; a locked or full database
 * makes the head job wait and retry (100 ms doubling to 5 s) instead of losing it. Failures are
 * logged with the database's reason, at most one line a minute per kind. */
#include "aggregator/writer.h"

#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/os/cond.h"
#include "common/os/lock.h"
#include "common/str.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_JOBS 100000
#define WHY_LEN          256   /* the database's reason for a failed job */
#define LOG_EVERY_MS     60000 /* a failure that lasts is logged again at most this often */
/* A writer woken from an empty queue lets the jobs of the same moment gather this long first
 * (up to GATHER_MAX of them): a poll round that queues hundreds of writes wakes it once, not
 * once per write, and the poller is not preempted for each (a flush or stop cuts it short). */
#define GATHER_MS  20
#define GATHER_MAX 1024

/* What the log has been told, so that a failure that lasts (a full disk retried every 5 s, a
 * flood of refused writes) gives one line a minute, not one per attempt. Under the lock. */
struct writer_log {
    int64_t failing_since; /* monotonic ms of the first failed attempt of a run; 0: none */
    uint64_t attempts;     /* failed attempts in that run */
    int64_t failing_logged;
    uint64_t rejected_unlogged;
    int64_t rejected_logged; /* monotonic ms; 0: never */
    uint64_t dropped_logged; /* st.dropped at the last line about drops */
    int64_t dropped_logged_at;
};

struct agg_writer {
    struct agg_writer_options opt;
    pthread_t thread;
    pthread_mutex_t lock;
    struct mon_cond wake; /* jobs queued or stop requested */
    struct mon_cond idle; /* a job finished (flush waits on it) */
    struct agg_write_job *head, *tail;
    size_t n_queued;
    bool busy;      /* the thread holds a job outside the queue */
    bool gathering; /* see GATHER_MS: new jobs do not wake the thread */
    int flushers;   /* agg_writer_flush callers waiting */
    bool stopping;
    int64_t stop_deadline; /* monotonic ms */
    struct agg_writer_status st;
    struct writer_log log;
};

static void job_free(struct agg_write_job *j)
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

static int store_exec(struct agg_store *st, const struct agg_write_job *j)
{
    int64_t deleted = 0;
    int r;
    switch (j->kind) {
    case AGG_JOB_EVENT:
        return agg_store_event_add(st, &j->u.event);
    case AGG_JOB_SERVICE_STATUS:
        return agg_store_service_status_add(st, j->server_id, j->u.status.ts, j->u.status.unit,
                                            j->u.status.active_state, j->u.status.sub_state);
    case AGG_JOB_UNIT_STATE:
        return agg_store_unit_state_save(st, j->server_id, &j->u.unit);
    case AGG_JOB_GPU_STATE:
        return agg_store_gpu_state_save(st, j->server_id, &j->u.gpu);
    case AGG_JOB_SERVER_SEEN:
        return agg_store_server_seen(st, j->server_id, j->u.seen.last_seen_at, j->u.seen.online);
    case AGG_JOB_HOURLY:
        return agg_store_hourly_upsert(st, j->u.hourly.rows, j->u.hourly.n, j->u.hourly.gpus,
                                       j->u.hourly.n_gpus, j->u.hourly.disks, j->u.hourly.n_disks);
    case AGG_JOB_RETENTION:
        r = agg_store_retention(st, j->u.retention.cutoff, &deleted);
        return r < 0 ? r : (int)(deleted > 0x7fffffff ? 0x7fffffff : deleted);
    case AGG_JOB_VACUUM:
        return agg_store_vacuum(st);
    case AGG_JOB_SERVER_PIN: {
        bool set = false; /* false: an admin's pin came first, which stays */
        return agg_store_server_set_pin(st, j->server_id, j->u.pin, &set);
    }
    case AGG_JOB_USAGE:
        return agg_store_usage_upsert(st, j->u.usage.rows, j->u.usage.n);
    case AGG_JOB_USAGE_RETENTION:
        r = agg_store_usage_retention(st, j->u.retention.cutoff, &deleted);
        return r < 0 ? r : MON_OK;
    }
    return MON_EINVAL;
}

static int default_exec(void *ctx, const struct agg_write_job *j, char *why, size_t why_len)
{
    struct agg_store *st = ctx;
    int r = store_exec(st, j);
    if (r < 0)
        mon_strlcpy(why, agg_store_last_error(st), why_len);
    return r;
}

static bool transient(int r)
{
    return r == MON_EBUSY || r == MON_EIO;
}

/* Lock held. True when stopping and the drain time is over. */
static bool drain_over_locked(const struct agg_writer *w)
{
    MON_ASSERT_LOCKED(&w->lock);
    return w->stopping && mon_mono_ms() >= w->stop_deadline;
}

/* Lock held. Sleeps until `until` (monotonic ms); new jobs do not cut it short, a stop
 * request shortens it to the drain deadline. */
static void wait_backoff_locked(struct agg_writer *w, int64_t until)
{
    MON_ASSERT_LOCKED(&w->lock);
    for (;;) {
        int64_t now = mon_mono_ms();
        int64_t end = w->stopping && w->stop_deadline < until ? w->stop_deadline : until;
        if (now >= end)
            return;
        mon_cond_wait_until(&w->wake, &w->lock, end);
    }
}

/* Lock held. Records what failed, with the database's reason when it adds something
 * ("database write failed: database or disk is full"), and a suffix such as a retry delay. */
static void set_last_error_locked(struct agg_writer *w, const char *what, const char *why,
                                  const char *suffix)
{
    MON_ASSERT_LOCKED(&w->lock);
    bool add = why[0] && strcmp(why, what) != 0;
    /* A truncated reason is still a useful reason. */
    if (snprintf(w->st.last_error, sizeof(w->st.last_error), "%s%s%s%s", what, add ? ": " : "",
                 add ? why : "", suffix) < 0)
        w->st.last_error[0] = '\0';
    w->st.last_error_at = mon_utc_ms() / 1000;
}

/* Lock held. Logs a failed attempt: the first of a run at once, then at most once a minute
 * while the run lasts. */
static void log_attempt_failed_locked(struct agg_writer *w, const char *what, const char *why)
{
    MON_ASSERT_LOCKED(&w->lock);
    int64_t now = mon_mono_ms();
    bool add = why[0] && strcmp(why, what) != 0;
    size_t pending = w->n_queued + 1;

    w->log.attempts++;
    if (!w->log.failing_since) {
        w->log.failing_since = now;
        w->log.failing_logged = now;
        mon_warn("%s%s%s; retrying, %zu write(s) waiting", what, add ? ": " : "", add ? why : "",
                 pending);
    } else if (now - w->log.failing_logged >= LOG_EVERY_MS) {
        w->log.failing_logged = now;
        mon_warn("%s%s%s: still failing after %lld s (%llu attempts), %zu write(s) waiting", what,
                 add ? ": " : "", add ? why : "", (long long)((now - w->log.failing_since) / 1000),
                 (unsigned long long)w->log.attempts, pending);
    }
}

/* Lock held. Ends a run of failed attempts with one line. */
static void log_recovered_locked(struct agg_writer *w)
{
    MON_ASSERT_LOCKED(&w->lock);
    if (!w->log.failing_since)
        return;
    mon_info("database writes work again after %lld s (%llu failed attempts)",
             (long long)((mon_mono_ms() - w->log.failing_since) / 1000),
             (unsigned long long)w->log.attempts);
    w->log.failing_since = 0;
    w->log.attempts = 0;
}

/* Lock held. A write the database refused for good (not retried): at most one line a minute,
 * counting the ones in between. */
static void log_rejected_locked(struct agg_writer *w, const char *why)
{
    MON_ASSERT_LOCKED(&w->lock);
    int64_t now = mon_mono_ms();
    if (w->log.rejected_logged && now - w->log.rejected_logged < LOG_EVERY_MS) {
        w->log.rejected_unlogged++;
        return;
    }
    if (w->log.rejected_unlogged)
        mon_warn("database write rejected: %s (and %llu more since the last such line)", why,
                 (unsigned long long)w->log.rejected_unlogged);
    else
        mon_warn("database write rejected: %s", why);
    w->log.rejected_logged = now;
    w->log.rejected_unlogged = 0;
}

/* Lock held. Writes dropped (a full queue, or not written in time at stop): at most one line a
 * minute, unless final (at stop). */
static void log_dropped_locked(struct agg_writer *w, const char *why, bool final)
{
    MON_ASSERT_LOCKED(&w->lock);
    int64_t now = mon_mono_ms();
    if (w->st.dropped == w->log.dropped_logged ||
        (!final && w->log.dropped_logged_at && now - w->log.dropped_logged_at < LOG_EVERY_MS))
        return;
    mon_warn("%llu database write(s) dropped %s (%llu in all)",
             (unsigned long long)(w->st.dropped - w->log.dropped_logged), why,
             (unsigned long long)w->st.dropped);
    w->log.dropped_logged = w->st.dropped;
    w->log.dropped_logged_at = now;
}

/* Executes one job, retrying transient failures; lock NOT held on entry or exit. Returns the
 * final result (a transient code when the drain time ran out) and the reason of a failure in
 * why. */
static int run_job(struct agg_writer *w, const struct agg_write_job *j, char *why, size_t why_len)
{
    int64_t backoff = w->opt.backoff_min_ms;
    int r;
    for (;;) {
        char retry[48];
        why[0] = '\0';
        r = w->opt.exec(w->opt.exec_ctx, j, why, why_len);
        if (!transient(r))
            return r;
        pthread_mutex_lock(&w->lock);
        w->st.db_ok = false;
        snprintf(retry, sizeof(retry), " (retrying in %lld ms)", (long long)backoff);
        set_last_error_locked(w, r == MON_EBUSY ? "database is locked" : "database write failed",
                              why, retry);
        log_attempt_failed_locked(
            w, r == MON_EBUSY ? "database is locked" : "database write failed", why);
        if (drain_over_locked(w)) {
            pthread_mutex_unlock(&w->lock);
            return r;
        }
        wait_backoff_locked(w, mon_mono_ms() + backoff);
        pthread_mutex_unlock(&w->lock);
        backoff = backoff * 2 > w->opt.backoff_max_ms ? w->opt.backoff_max_ms : backoff * 2;
    }
}

static void record_result(struct agg_writer *w, const struct agg_write_job *j, int r,
                          const char *why)
{
    if (r >= 0) {
        log_recovered_locked(w);
        w->st.written++;
        w->st.db_ok = true;
        w->st.last_success_at = mon_utc_ms() / 1000;
        if (j->kind == AGG_JOB_RETENTION)
            w->st.last_retention_deleted = r;
    } else if (transient(r)) {
        w->st.dropped++; /* gave up at stop */
    } else {
        w->st.rejected++;
        w->st.db_ok = true; /* the database answered */
        log_recovered_locked(w);
        if (r != MON_ENOENT) {
            set_last_error_locked(w, "write rejected", why[0] ? why : mon_strerror(r), "");
            log_rejected_locked(w, why[0] ? why : mon_strerror(r));
        }
    }
}

/* Lock held, the queue not empty: waits GATHER_MS for more jobs (see there). */
static void gather_locked(struct agg_writer *w)
{
    MON_ASSERT_LOCKED(&w->lock);
    int64_t until = mon_mono_ms() + GATHER_MS;
    w->gathering = true;
    while (!w->stopping && !w->flushers && w->n_queued < GATHER_MAX && mon_mono_ms() < until)
        mon_cond_wait_until(&w->wake, &w->lock, until);
    w->gathering = false;
}

static void *writer_main(void *arg)
{
    struct agg_writer *w = arg;
    struct agg_write_job *j;
    char why[WHY_LEN];
    int r;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        if (!w->head && !w->stopping) {
            while (!w->head && !w->stopping)
                mon_cond_wait(&w->wake, &w->lock);
            gather_locked(w);
        }
        if (!w->head || drain_over_locked(w))
            break;
        j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->n_queued--;
        w->busy = true;
        pthread_mutex_unlock(&w->lock);

        r = run_job(w, j, why, sizeof(why));

        pthread_mutex_lock(&w->lock);
        record_result(w, j, r, why);
        w->busy = false;
        job_free(j);
        mon_cond_broadcast(&w->idle);
    }
    /* Whatever is left could not be written in time. */
    while ((j = w->head)) {
        w->head = j->next;
        w->st.dropped++;
        job_free(j);
    }
    log_dropped_locked(w, "at stop: the database did not take them in time", true);
    w->tail = NULL;
    w->n_queued = 0;
    mon_cond_broadcast(&w->idle);
    pthread_mutex_unlock(&w->lock);
    return NULL;
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
        w->opt.exec = default_exec;
        w->opt.exec_ctx = opt->store;
    }
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
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
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
    while (w->head || w->busy) {
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
    ret->pending = w->n_queued + (w->busy ? 1 : 0);
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
    job_free(j);
}

/* Queues j (taking ownership). */
static int push(struct agg_writer *w, struct agg_write_job *j)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        job_free(j);
        return MON_EINVAL;
    }
    if (w->n_queued >= w->opt.max_jobs && w->head) {
        while (w->n_queued >= w->opt.max_jobs && w->head)
            drop_one_locked(w);
        log_dropped_locked(
            w, "because the write queue is full (the database is too slow or failing)", false);
    }
    j->next = NULL;
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->n_queued++;
    if (!w->gathering || w->n_queued >= GATHER_MAX)
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
