/* SPDX-License-Identifier: MIT */
/* The database writer's thread: jobs are executed strictly in order, runs of small ones in one
 * transaction (a batch); a locked or full database makes the head job wait and retry (100 ms
 * doubling to 5 s) instead of losing it. Failures are logged with the database's reason, at
 * most one line a minute per kind. */
#include "aggregator/writer_priv.h"

#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/os/lock.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>

#define WHY_LEN      256   /* the database's reason for a failed job */
#define LOG_EVERY_MS 60000 /* a failure that lasts is logged again at most this often */
/* A writer woken from an empty queue lets the jobs of the same moment gather this long first
 * (up to AGG_WRITER_GATHER_MAX of them): a poll round that queues hundreds of writes wakes it
 * once, not once per write, and the poller is not preempted for each (a flush or stop cuts it
 * short). */
#define GATHER_MS 20
/* A batch takes no new job after this long, so that it holds the database's write lock
 * briefly (another connection's write waits for it). */
#define BATCH_MS 50

bool agg_writer_job_batchable(enum agg_job_kind kind)
{
    switch (kind) {
    case AGG_JOB_EVENT:
    case AGG_JOB_SERVICE_STATUS:
    case AGG_JOB_UNIT_STATE:
    case AGG_JOB_GPU_STATE:
    case AGG_JOB_SERVER_SEEN:
    case AGG_JOB_SERVER_PIN:
        return true;
    default:
        return false;
    }
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

int agg_writer_store_exec(void *ctx, const struct agg_write_job *j, char *why, size_t why_len)
{
    struct agg_store *st = ctx;
    int r = store_exec(st, j);
    if (r < 0)
        mon_strlcpy(why, agg_store_last_error(st), why_len);
    return r;
}

int agg_writer_store_tx(void *ctx, enum agg_writer_tx op, char *why, size_t why_len)
{
    struct agg_store *st = ctx;
    int r;
    switch (op) {
    case AGG_WRITER_TX_BEGIN:
        r = agg_store_tx_begin(st);
        break;
    case AGG_WRITER_TX_COMMIT:
        r = agg_store_tx_commit(st);
        break;
    default:
        agg_store_tx_rollback(st);
        return MON_OK;
    }
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
    size_t pending = w->n_queued + w->active;

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

void agg_writer_log_dropped_locked(struct agg_writer *w, const char *why, bool final)
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

/* Executes one job alone, retrying transient failures; lock NOT held on entry or exit.
 * Returns the final result (a transient code when the drain time ran out) and the reason of a
 * failure in why. */
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

/* Lock held. Counts the result of one job (committed: its transaction is done). */
static void record_result_locked(struct agg_writer *w, const struct agg_write_job *j, int r,
                                 const char *why, bool committed)
{
    MON_ASSERT_LOCKED(&w->lock);
    if (r >= 0) {
        log_recovered_locked(w);
        w->st.written++;
        w->st.transactions += committed;
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
    while (!w->stopping && !w->flushers && w->n_queued < AGG_WRITER_GATHER_MAX &&
           mon_mono_ms() < until)
        mon_cond_wait_until(&w->wake, &w->lock, until);
    w->gathering = false;
}

/* Lock held. Takes the head job off the queue (the thread then holds it: active). */
static struct agg_write_job *take_locked(struct agg_writer *w)
{
    MON_ASSERT_LOCKED(&w->lock);
    struct agg_write_job *j = w->head;
    w->head = j->next;
    if (!w->head)
        w->tail = NULL;
    j->next = NULL;
    w->n_queued--;
    w->active++;
    return j;
}

/* Lock held. Frees the jobs of a finished list and wakes flushers. */
static void finish_locked(struct agg_writer *w, struct agg_write_job *list)
{
    MON_ASSERT_LOCKED(&w->lock);
    while (list) {
        struct agg_write_job *next = list->next;
        agg_writer_job_free(list);
        w->active--;
        list = next;
    }
    mon_cond_broadcast(&w->idle);
}

/* Lock held on entry and exit. Runs the jobs of list one by one, each in its own transaction
 * (after a failed batch, or a lone job); the ones left when the drain time is over are
 * dropped. */
static void run_alone_locked(struct agg_writer *w, struct agg_write_job *list)
{
    MON_ASSERT_LOCKED(&w->lock);
    char why[WHY_LEN];
    for (struct agg_write_job *j = list; j; j = j->next) {
        int r = MON_EBUSY; /* not tried: dropped */
        why[0] = '\0';
        if (j == list || !drain_over_locked(w)) {
            pthread_mutex_unlock(&w->lock);
            r = run_job(w, j, why, sizeof(why));
            pthread_mutex_lock(&w->lock);
        }
        record_result_locked(w, j, r, why, true);
    }
    finish_locked(w, list);
}

/* Lock held on entry and exit. True when the next queued job may join a batch of n jobs
 * begun at `started`. */
static bool batch_takes_locked(const struct agg_writer *w, size_t n, int64_t started)
{
    MON_ASSERT_LOCKED(&w->lock);
    return w->head && agg_writer_job_batchable(w->head->kind) && n < w->opt.batch_max &&
           (n == 0 || (mon_mono_ms() - started < BATCH_MS && !drain_over_locked(w)));
}

/* Lock held. A BEGIN or COMMIT that failed for a reason that may pass (a locked or full
 * database): recorded and logged like a failed attempt of a job, since the jobs are then
 * tried alone. (A job's own failure is reported when it runs alone.) */
static void tx_failed_locked(struct agg_writer *w, int r, const char *why)
{
    MON_ASSERT_LOCKED(&w->lock);
    const char *what = r == MON_EBUSY ? "database is locked" : "database write failed";
    if (!transient(r))
        return;
    w->st.db_ok = false;
    set_last_error_locked(w, what, why, " (retrying the writes one by one)");
    log_attempt_failed_locked(w, what, why);
}

/* Lock held on entry and exit, the head job batchable. Runs a batch (see agg_writer_tx_fn):
 * jobs are taken from the queue as they are executed, so jobs queued meanwhile can join. */
static void run_batch_locked(struct agg_writer *w)
{
    MON_ASSERT_LOCKED(&w->lock);
    struct agg_write_job *list = NULL, **tail = &list;
    int64_t started = mon_mono_ms();
    char why[WHY_LEN] = "";
    size_t n = 0;
    int r;

    pthread_mutex_unlock(&w->lock);
    r = w->opt.tx(w->opt.exec_ctx, AGG_WRITER_TX_BEGIN, why, sizeof(why));
    pthread_mutex_lock(&w->lock);
    if (r < 0) {
        tx_failed_locked(w, r, why);
        if (r == MON_EUNSUPPORTED)
            w->opt.tx = NULL;
        if (w->head)                             /* (a full queue may drop jobs meanwhile) */
            run_alone_locked(w, take_locked(w)); /* it retries what made BEGIN fail */
        return;
    }
    while (r >= 0 && batch_takes_locked(w, n, started)) {
        struct agg_write_job *j = take_locked(w);
        *tail = j;
        tail = &j->next;
        n++;
        pthread_mutex_unlock(&w->lock);
        r = w->opt.exec(w->opt.exec_ctx, j, why, sizeof(why));
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    if (r >= 0) {
        r = w->opt.tx(w->opt.exec_ctx, AGG_WRITER_TX_COMMIT, why, sizeof(why));
        if (r < 0) {
            pthread_mutex_lock(&w->lock);
            tx_failed_locked(w, r, why);
            pthread_mutex_unlock(&w->lock);
        }
    }
    if (r < 0)
        (void)w->opt.tx(w->opt.exec_ctx, AGG_WRITER_TX_ROLLBACK, why, sizeof(why));
    pthread_mutex_lock(&w->lock);
    if (r < 0) {
        run_alone_locked(w, list); /* nothing of the batch was kept */
        return;
    }
    w->st.transactions++;
    for (struct agg_write_job *j = list; j; j = j->next)
        record_result_locked(w, j, MON_OK, "", false);
    finish_locked(w, list);
}

void *agg_writer_main(void *arg)
{
    struct agg_writer *w = arg;
    struct agg_write_job *j;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        if (!w->head && !w->stopping) {
            while (!w->head && !w->stopping)
                mon_cond_wait(&w->wake, &w->lock);
            gather_locked(w);
        }
        if (!w->head || drain_over_locked(w))
            break;
        /* A batch for two or more small jobs in a row; a lone one needs no BEGIN. */
        if (w->opt.tx && agg_writer_job_batchable(w->head->kind) && w->head->next &&
            agg_writer_job_batchable(w->head->next->kind))
            run_batch_locked(w);
        else
            run_alone_locked(w, take_locked(w));
    }
    /* Whatever is left could not be written in time. */
    while ((j = w->head)) {
        w->head = j->next;
        w->st.dropped++;
        agg_writer_job_free(j);
    }
    agg_writer_log_dropped_locked(w, "at stop: the database did not take them in time", true);
    w->tail = NULL;
    w->n_queued = 0;
    mon_cond_broadcast(&w->idle);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}
