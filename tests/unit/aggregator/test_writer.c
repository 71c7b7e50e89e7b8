/* SPDX-License-Identifier: MIT */
/* The database writer with a fake executor: order kept through retries, the health status,
 * the overflow policy (non-event jobs dropped first), flush and bounded stop; batches with a
 * fake transaction log: several jobs per transaction, and a failed job, BEGIN or COMMIT that
 * affects only its own job. */
#include "aggregator/writer.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include "writer_capture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_retry_keeps_order(void **state)
{
    struct capture cap;
    struct agg_writer_status st;
    char msg[32];
    (void)state;
    capture_start(&cap);
    pthread_mutex_lock(&cap.lock);
    cap.fail_next = 3; /* "database is locked" three times */
    pthread_mutex_unlock(&cap.lock);
    for (int i = 0; i < 5; i++) {
        snprintf(msg, sizeof(msg), "m%d", i);
        assert_int_equal(agg_writer_event(cap.writer, 1, "srv", 100 + i, "server_up", msg), MON_OK);
    }
    assert_int_equal(agg_writer_server_seen(cap.writer, 1, 200, 1), MON_OK);
    capture_flush(&cap);
    assert_int_equal(cap.n, 6);
    for (int i = 0; i < 5; i++) {
        snprintf(msg, sizeof(msg), "m%d", i);
        assert_string_equal(cap.jobs[i].u.event.message, msg);
        assert_string_equal(cap.jobs[i].u.event.server_name, "srv");
    }
    assert_int_equal(cap.jobs[5].kind, AGG_JOB_SERVER_SEEN);
    agg_writer_get_status(cap.writer, &st);
    assert_true(st.db_ok);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.written, 6);
    assert_int_equal(st.dropped, 0);
    assert_non_null(strstr(st.last_error, "database is locked"));
    assert_true(st.last_error_at > 0);
    assert_true(st.last_success_at >= st.last_error_at);
    capture_stop(&cap);
}

/* An executor that blocks until released, to let the queue fill up. */
struct gate {
    pthread_mutex_t lock;
    bool open, entered; /* entered: the writer thread holds a job */
    int executed_events, executed_other;
};

static int gate_exec(void *ctx, const struct agg_write_job *j, char *why, size_t why_len)
{
    struct gate *g = ctx;
    (void)why;
    (void)why_len;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        g->entered = true;
        if (g->open) {
            if (j->kind == AGG_JOB_EVENT)
                g->executed_events++;
            else
                g->executed_other++;
            pthread_mutex_unlock(&g->lock);
            return MON_OK;
        }
        pthread_mutex_unlock(&g->lock);
        mon_sleep_ms(2);
    }
}

static void test_overflow_drops_non_events_first(void **state)
{
    struct gate g = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct agg_writer_options o = {.max_jobs = 10, .exec = gate_exec, .exec_ctx = &g};
    struct agg_writer *w = NULL;
    struct agg_writer_status st;
    int64_t deadline;
    bool entered = false;
    (void)state;
    assert_int_equal(agg_writer_start(&o, &w), MON_OK);
    /* One job is taken by the (blocked) thread, then the queue holds 10. Wait until the thread
     * is inside the executor: a pending count of 1 is also what a job not yet taken shows. */
    agg_writer_server_seen(w, 1, 1, -1);
    deadline = mon_mono_ms() + 5000;
    while (!entered && mon_mono_ms() < deadline) {
        mon_sleep_ms(2);
        pthread_mutex_lock(&g.lock);
        entered = g.entered;
        pthread_mutex_unlock(&g.lock);
    }
    assert_true(entered);
    agg_writer_get_status(w, &st);
    assert_int_equal(st.pending, 1);
    for (int i = 0; i < 4; i++)
        agg_writer_server_seen(w, 1, 2 + i, -1);
    for (int i = 0; i < 6; i++)
        agg_writer_event(w, 1, "s", i, "server_up", "x");
    agg_writer_get_status(w, &st);
    assert_int_equal(st.pending, 11);
    assert_int_equal(st.dropped, 0);
    /* Five more events: the four non-event jobs go first, then the oldest event. */
    for (int i = 0; i < 5; i++)
        agg_writer_event(w, 1, "s", 10 + i, "server_up", "y");
    agg_writer_get_status(w, &st);
    assert_int_equal(st.pending, 11);
    assert_int_equal(st.dropped, 5);
    assert_int_equal(agg_writer_flush(w, 50), MON_ETIMEDOUT);
    pthread_mutex_lock(&g.lock);
    g.open = true;
    pthread_mutex_unlock(&g.lock);
    assert_int_equal(agg_writer_flush(w, 5000), MON_OK);
    assert_int_equal(g.executed_other, 1);
    assert_int_equal(g.executed_events, 10);
    agg_writer_stop(w, 1000);
}

static int always_busy(void *ctx, const struct agg_write_job *j, char *why, size_t why_len)
{
    (void)ctx;
    (void)j;
    (void)why;
    (void)why_len;
    return MON_EBUSY;
}

/* Fails the first two jobs with a reason: the disk is full (retried), then a value the
 * database refuses for good. */
struct reasons {
    int calls;
};

static int reason_exec(void *ctx, const struct agg_write_job *j, char *why, size_t why_len)
{
    struct reasons *rs = ctx;
    (void)j;
    switch (rs->calls++) {
    case 0:
        snprintf(why, why_len, "database or disk is full");
        return MON_EIO;
    case 2:
        snprintf(why, why_len, "NOT NULL constraint failed: events.type");
        return MON_EINVAL;
    default:
        return MON_OK;
    }
}

static void test_status_carries_the_reason(void **state)
{
    struct reasons rs = {0};
    struct agg_writer_options o = {.exec = reason_exec, .exec_ctx = &rs, .backoff_min_ms = 1};
    struct agg_writer *w = NULL;
    struct agg_writer_status st;
    (void)state;
    assert_int_equal(agg_writer_start(&o, &w), MON_OK);
    assert_int_equal(agg_writer_event(w, 1, "srv", 100, "server_up", "m0"), MON_OK);
    assert_int_equal(agg_writer_flush(w, 5000), MON_OK);
    agg_writer_get_status(w, &st);
    assert_true(st.db_ok);
    assert_int_equal(st.written, 1);
    assert_non_null(strstr(st.last_error, "database write failed: database or disk is full"));
    assert_non_null(strstr(st.last_error, "retrying in"));
    assert_int_equal(agg_writer_event(w, 1, "srv", 101, "server_up", "m1"), MON_OK);
    assert_int_equal(agg_writer_flush(w, 5000), MON_OK);
    agg_writer_get_status(w, &st);
    assert_int_equal(st.rejected, 1);
    assert_string_equal(st.last_error, "write rejected: NOT NULL constraint failed: events.type");
    agg_writer_stop(w, 1000);
}

static void test_stop_is_bounded(void **state)
{
    struct agg_writer_options o = {.exec = always_busy, .backoff_min_ms = 10};
    struct agg_writer *w = NULL;
    struct agg_writer_status st;
    struct agg_hourly_row *rows = calloc(2, sizeof(*rows));
    int64_t t0;
    (void)state;
    assert_int_equal(agg_writer_start(&o, &w), MON_OK);
    assert_int_equal(agg_writer_hourly(w, rows, 2, NULL, 0, NULL, 0), MON_OK);
    agg_writer_retention(w, 5);
    agg_writer_vacuum(w);
    mon_sleep_ms(60);
    agg_writer_get_status(w, &st);
    assert_false(st.db_ok);
    assert_int_equal(st.pending, 3);
    t0 = mon_mono_ms();
    agg_writer_stop(w, 200); /* frees the jobs it could not write (ASan checks the leak) */
    assert_true(mon_mono_ms() - t0 < 1500);
}

/* A fake database with transactions: jobs executed inside one are kept aside until COMMIT
 * (ROLLBACK drops them), the others are committed at once. Every job is an event whose
 * message names it; "bad" is refused for good; the first fail_commit COMMITs fail ("disk
 * full") and the first busy_begin BEGINs find the database locked. The first job waits for
 * `open`, so that the rest queue up behind it. */
#define LOG_MAX 64
struct txlog {
    pthread_mutex_t lock;
    bool open, in_tx;
    char done[LOG_MAX][16], pending[LOG_MAX][16];
    size_t n_done, n_pending;
    int fail_commit, busy_begin;
    int begins, commits, rollbacks;
    size_t batch_sizes[LOG_MAX];
};

static int tx_exec(void *ctx, const struct agg_write_job *j, char *why, size_t why_len)
{
    struct txlog *l = ctx;
    while (!__atomic_load_n(&l->open, __ATOMIC_ACQUIRE))
        mon_sleep_ms(1);
    pthread_mutex_lock(&l->lock);
    if (strcmp(j->u.event.message, "bad") == 0) {
        pthread_mutex_unlock(&l->lock);
        snprintf(why, why_len, "CHECK constraint failed");
        return MON_EINVAL;
    }
    if (l->in_tx)
        mon_strlcpy(l->pending[l->n_pending++], j->u.event.message, 16);
    else
        mon_strlcpy(l->done[l->n_done++], j->u.event.message, 16);
    pthread_mutex_unlock(&l->lock);
    return MON_OK;
}

static int tx_tx(void *ctx, enum agg_writer_tx op, char *why, size_t why_len)
{
    struct txlog *l = ctx;
    int r = MON_OK;
    pthread_mutex_lock(&l->lock);
    if (op == AGG_WRITER_TX_BEGIN) {
        assert_false(l->in_tx);
        if (l->busy_begin > 0) {
            l->busy_begin--;
            r = MON_EBUSY;
        } else {
            l->begins++;
            l->in_tx = true;
        }
    } else if (op == AGG_WRITER_TX_COMMIT) {
        assert_true(l->in_tx);
        if (l->fail_commit > 0) {
            l->fail_commit--;
            snprintf(why, why_len, "database or disk is full");
            r = MON_EIO; /* the transaction stays open: ROLLBACK must end it */
        } else {
            l->batch_sizes[l->commits++] = l->n_pending;
            for (size_t i = 0; i < l->n_pending; i++)
                memcpy(l->done[l->n_done++], l->pending[i], 16);
            l->n_pending = 0;
            l->in_tx = false;
        }
    } else {
        l->rollbacks++;
        l->n_pending = 0;
        l->in_tx = false;
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

/* Runs the events named by msgs through a writer on l (batches of at most 4), the first one
 * alone while the others queue; returns the writer's status after a flush. */
static struct agg_writer_status run_txlog(struct txlog *l, const char *const *msgs, size_t n)
{
    struct agg_writer_options o = {.exec = tx_exec,
                                   .tx = tx_tx,
                                   .exec_ctx = l,
                                   .batch_max = 4,
                                   .backoff_min_ms = 1,
                                   .backoff_max_ms = 2};
    struct agg_writer *w = NULL;
    struct agg_writer_status st;
    assert_int_equal(agg_writer_start(&o, &w), MON_OK);
    assert_int_equal(agg_writer_event(w, 1, "srv", 1, "server_up", msgs[0]), MON_OK);
    assert_int_equal(agg_writer_flush(w, 30), MON_ETIMEDOUT); /* it holds the first */
    for (size_t i = 1; i < n; i++)
        assert_int_equal(agg_writer_event(w, 1, "srv", 1, "server_up", msgs[i]), MON_OK);
    __atomic_store_n(&l->open, true, __ATOMIC_RELEASE);
    assert_int_equal(agg_writer_flush(w, 5000), MON_OK);
    agg_writer_get_status(w, &st);
    agg_writer_stop(w, 1000);
    assert_false(l->in_tx);
    return st;
}

static const char *const ten[] = {"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"};

/* Every job of msgs but "bad" was committed, once, in order. */
static void assert_committed(const struct txlog *l, const char *const *msgs, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(msgs[i], "bad") != 0) {
            assert_true(k < l->n_done);
            assert_string_equal(l->done[k++], msgs[i]);
        }
    assert_int_equal(l->n_done, k);
}

/* The first job runs alone; the nine queued behind it go in batches of at most 4, each one
 * transaction, in order. */
static void test_batches_share_a_transaction(void **state)
{
    struct txlog l = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct agg_writer_status st;
    size_t most = 0, batched = 0;
    (void)state;
    st = run_txlog(&l, ten, 10);
    assert_committed(&l, ten, 10);
    assert_int_equal(l.rollbacks, 0);
    assert_int_equal(l.begins, l.commits);
    assert_true(l.commits >= 2); /* 9 jobs, 4 a batch (a last lone one needs none) */
    for (int i = 0; i < l.commits; i++) {
        most = l.batch_sizes[i] > most ? l.batch_sizes[i] : most;
        batched += l.batch_sizes[i];
    }
    assert_true(most >= 2 && most <= 4);
    assert_int_equal(st.written, 10);
    /* One per batch, one per job run alone. */
    assert_int_equal(st.transactions, (uint64_t)l.commits + 10 - batched);
    assert_true(st.db_ok);
}

/* A job the database refuses inside a batch: the batch is rolled back and its jobs run alone,
 * so only that one is lost (counted as rejected) and none is written twice. */
static void test_refused_job_in_batch_alone(void **state)
{
    static const char *const msgs[] = {"m0", "m1", "m2", "bad", "m4", "m5"};
    struct txlog l = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct agg_writer_status st;
    (void)state;
    st = run_txlog(&l, msgs, 6);
    assert_committed(&l, msgs, 6);
    assert_true(l.rollbacks >= 1);
    assert_int_equal(st.written, 5);
    assert_int_equal(st.rejected, 1);
    assert_string_equal(st.last_error, "write rejected: CHECK constraint failed");
}

/* A COMMIT that fails (disk full) rolls the batch back and its jobs are retried alone; a
 * BEGIN on a locked database lets the head job run alone (with its retries). Nothing lost,
 * nothing twice, in order. */
static void test_failed_commit_and_begin_retried(void **state)
{
    struct txlog l = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail_commit = 1, .busy_begin = 1};
    struct agg_writer_status st;
    (void)state;
    st = run_txlog(&l, ten, 10);
    assert_committed(&l, ten, 10);
    assert_int_equal(l.rollbacks, 1);
    assert_int_equal(st.written, 10);
    assert_int_equal(st.dropped + st.rejected, 0);
    assert_true(st.db_ok);
    assert_non_null(strstr(st.last_error, "database or disk is full"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_keeps_order),
        cmocka_unit_test(test_overflow_drops_non_events_first),
        cmocka_unit_test(test_status_carries_the_reason),
        cmocka_unit_test(test_stop_is_bounded),
        cmocka_unit_test(test_batches_share_a_transaction),
        cmocka_unit_test(test_refused_job_in_batch_alone),
        cmocka_unit_test(test_failed_commit_and_begin_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
