/* SPDX-License-Identifier: MIT */
/* Test helper: a writer whose jobs are recorded in memory instead of written to SQLite, so
 * tests can check which events, states and rows the engine produced. */
#ifndef MON_TESTS_WRITER_CAPTURE_H
#define MON_TESTS_WRITER_CAPTURE_H

#include "aggregator/writer.h"
#include "common/err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct capture {
    pthread_mutex_t lock;
    struct agg_write_job *jobs; /* copies; hourly arrays deep-copied */
    size_t n, cap;
    int fail_next; /* this many executions return MON_EBUSY first */
    struct agg_writer *writer;
};

static inline int capture_exec(void *ctx, const struct agg_write_job *j, char *why, size_t why_len)
{
    struct capture *c = ctx;
    struct agg_write_job copy = *j;
    (void)why;
    (void)why_len;
    pthread_mutex_lock(&c->lock);
    if (c->fail_next > 0) {
        c->fail_next--;
        pthread_mutex_unlock(&c->lock);
        return MON_EBUSY;
    }
    if (j->kind == AGG_JOB_HOURLY) {
        copy.u.hourly.rows = malloc((j->u.hourly.n + 1) * sizeof(*j->u.hourly.rows));
        copy.u.hourly.gpus = malloc((j->u.hourly.n_gpus + 1) * sizeof(*j->u.hourly.gpus));
        copy.u.hourly.disks = malloc((j->u.hourly.n_disks + 1) * sizeof(*j->u.hourly.disks));
        memcpy(copy.u.hourly.rows, j->u.hourly.rows, j->u.hourly.n * sizeof(*j->u.hourly.rows));
        if (j->u.hourly.n_gpus)
            memcpy(copy.u.hourly.gpus, j->u.hourly.gpus,
                   j->u.hourly.n_gpus * sizeof(*j->u.hourly.gpus));
        if (j->u.hourly.n_disks)
            memcpy(copy.u.hourly.disks, j->u.hourly.disks,
                   j->u.hourly.n_disks * sizeof(*j->u.hourly.disks));
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->jobs = realloc(c->jobs, c->cap * sizeof(*c->jobs));
    }
    c->jobs[c->n++] = copy;
    pthread_mutex_unlock(&c->lock);
    return MON_OK;
}

static inline void capture_start(struct capture *c)
{
    struct agg_writer_options o = {0};
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    o.exec = capture_exec;
    o.exec_ctx = c;
    o.backoff_min_ms = 5;
    o.backoff_max_ms = 20;
    if (agg_writer_start(&o, &c->writer) != MON_OK)
        abort();
}

/* Waits until every queued job has been recorded. */
static inline void capture_flush(struct capture *c)
{
    if (agg_writer_flush(c->writer, 5000) != MON_OK)
        abort();
}

static inline void capture_clear(struct capture *c)
{
    capture_flush(c);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        if (c->jobs[i].kind == AGG_JOB_HOURLY) {
            free(c->jobs[i].u.hourly.rows);
            free(c->jobs[i].u.hourly.gpus);
            free(c->jobs[i].u.hourly.disks);
        }
    }
    c->n = 0;
    pthread_mutex_unlock(&c->lock);
}

static inline void capture_stop(struct capture *c)
{
    capture_clear(c);
    agg_writer_stop(c->writer, 1000);
    free(c->jobs);
    pthread_mutex_destroy(&c->lock);
}

/* Number of recorded jobs of kind (and, for events, of the given type when non-NULL). */
static inline size_t capture_count(struct capture *c, enum agg_job_kind kind, const char *type)
{
    size_t n = 0;
    capture_flush(c);
    for (size_t i = 0; i < c->n; i++)
        if (c->jobs[i].kind == kind && (!type || strcmp(c->jobs[i].u.event.type, type) == 0))
            n++;
    return n;
}

/* The last recorded job of kind, or NULL. */
static inline const struct agg_write_job *capture_last(struct capture *c, enum agg_job_kind kind)
{
    capture_flush(c);
    for (size_t i = c->n; i > 0; i--)
        if (c->jobs[i - 1].kind == kind)
            return &c->jobs[i - 1];
    return NULL;
}

#endif
