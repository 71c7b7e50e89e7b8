/* SPDX-License-Identifier: MIT */
/* History-bucket accumulators of every server. The poller thread only adds samples (O(1), no
 * database access); finished buckets are staged and written, stored rows of a resumed bucket
 * are read and the checkpoints taken by a background caller, a bounded number of servers per
 * hold of the lock, so that 100,000 servers' checkpoints never hold up polling. */
#include "aggregator/rollup.h"

#include "aggregator/idmap.h"
#include "aggregator/rollup_acc.h"
#include "aggregator/sample.h"
#include "aggregator/store.h"
#include "aggregator/writer.h"
#include "common/err.h"
#include "common/os/lock.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_CHUNK          1024 /* accumulators handled per hold of the lock */
#define CHECKPOINT_DRAIN_MS 5000 /* longest wait for the writer between checkpoint chunks */
#define SEED_RETRIES        10 /* failed reads of a finished bucket's stored row before it is lost */

struct agg_rollup {
    pthread_mutex_t lock; /* the accumulators, the staging list and the stats */
    int64_t bucket_s;
    struct agg_store *reader;
    pthread_mutex_t reader_lock; /* one user of the reader connection at a time */
    struct agg_writer *writer;
    struct agg_rollup_acc **accs; /* in the order added */
    size_t n_accs, cap_accs;
    struct agg_idmap by_id;
    /* Finished buckets waiting to be written (moved out of their accumulator at rollover). */
    struct agg_rollup_acc *staged;
    size_t n_staged, cap_staged;
    struct agg_rollup_stats stats;
};

/* Rows being gathered for one writer job. */
struct batch {
    struct agg_hourly_row *rows;
    struct agg_gpu_hourly_row *gpus;
    struct agg_disk_hourly_row *disks;
    size_t n, n_gpus, n_disks, cap, cap_gpus, cap_disks;
};

static bool grow(void **arr, size_t *cap, size_t need, size_t size)
{
    void *p;
    size_t c = *cap ? *cap : 64;
    if (need <= *cap)
        return true;
    while (c < need)
        c *= 2;
    p = realloc(*arr, c * size);
    if (!p)
        return false;
    *arr = p;
    *cap = c;
    return true;
}

static int batch_add(struct batch *b, const struct agg_rollup_acc *a)
{
    void *rows = b->rows, *gpus = b->gpus, *disks = b->disks;
    bool ok = grow(&rows, &b->cap, b->n + 1, sizeof(*b->rows));
    b->rows = rows;
    ok = ok && grow(&gpus, &b->cap_gpus, b->n_gpus + a->n_gpus, sizeof(*b->gpus));
    b->gpus = gpus;
    ok = ok && grow(&disks, &b->cap_disks, b->n_disks + a->n_disks, sizeof(*b->disks));
    b->disks = disks;
    if (!ok)
        return MON_ENOMEM;
    agg_rollup_acc_rows(a, &b->rows[b->n], b->gpus + b->n_gpus, b->disks + b->n_disks);
    b->n++;
    b->n_gpus += a->n_gpus;
    b->n_disks += a->n_disks;
    return MON_OK;
}

/* Hands the batch to the writer (which frees it); an empty one is just freed. */
static int batch_send(struct agg_rollup *r, struct batch *b)
{
    int rc = MON_OK;
    if (b->n && r->writer)
        rc = agg_writer_hourly(r->writer, b->rows, b->n, b->gpus, b->n_gpus, b->disks, b->n_disks);
    else {
        free(b->rows);
        free(b->gpus);
        free(b->disks);
    }
    memset(b, 0, sizeof(*b));
    return rc;
}

/* ---- stored rows of a resumed bucket ---- */

struct seed {
    int64_t id, bucket;
    bool found, ok;
    struct agg_hourly_row row;
    struct agg_gpu_hourly_row *gpus;
    struct agg_disk_hourly_row *disks;
    size_t n_gpus, n_disks;
};

/* Reads the stored rows of (id, bucket); s->ok tells whether the read worked. */
static void seed_read(struct agg_rollup *r, struct seed *s)
{
    int rc;
    s->ok = true;
    if (!r->reader)
        return;
    pthread_mutex_lock(&r->reader_lock);
    rc = agg_store_hourly_get(r->reader, s->id, s->bucket, &s->row);
    if (rc == MON_OK) {
        s->found = true;
        /* per-GPU and per-mount rows cannot exist without the server row */
        s->ok = agg_store_gpu_hourly_get(r->reader, s->id, s->bucket, &s->gpus, &s->n_gpus) >= 0 &&
                agg_store_disk_hourly_get(r->reader, s->id, s->bucket, &s->disks, &s->n_disks) >= 0;
    } else if (rc != MON_ENOENT) {
        s->ok = false;
    }
    pthread_mutex_unlock(&r->reader_lock);
}

static void seed_done(struct seed *s)
{
    free(s->gpus);
    free(s->disks);
    s->gpus = NULL;
    s->disks = NULL;
}

/* Merges a read into an accumulator; false when the read failed. */
static bool seed_apply(struct agg_rollup *r, struct agg_rollup_acc *a, const struct seed *s)
{
    if (!s->ok) {
        r->stats.seed_failures++;
        a->seed_attempts++;
        return false;
    }
    if (s->found)
        agg_rollup_acc_merge(a, &s->row, s->gpus, s->n_gpus, s->disks, s->n_disks);
    a->seeded = true;
    return true;
}

/* Seeds the live accumulators whose current bucket may have stored rows: the first bucket
 * each server sees in this run (a restart continues it) and any bucket the clock went back
 * to. Reads outside the lock, LOCK_CHUNK servers at a time. */
static void seed_live(struct agg_rollup *r)
{
    struct seed *todo = calloc(LOCK_CHUNK, sizeof(*todo));
    size_t next = 0;
    bool more = true;
    if (!todo)
        return;
    while (more) {
        size_t n = 0;
        pthread_mutex_lock(&r->lock);
        for (; next < r->n_accs && n < LOCK_CHUNK; next++) {
            const struct agg_rollup_acc *a = r->accs[next];
            if (!a->seeded && a->bucket >= 0) {
                todo[n].id = a->server_id;
                todo[n].bucket = a->bucket;
                n++;
            }
        }
        more = next < r->n_accs;
        pthread_mutex_unlock(&r->lock);
        for (size_t i = 0; i < n; i++)
            seed_read(r, &todo[i]);
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < n; i++) {
            struct agg_rollup_acc *a = agg_idmap_get(&r->by_id, todo[i].id);
            if (a && !a->seeded && a->bucket == todo[i].bucket)
                seed_apply(r, a, &todo[i]);
            seed_done(&todo[i]);
            memset(&todo[i], 0, sizeof(todo[i]));
        }
        pthread_mutex_unlock(&r->lock);
    }
    free(todo);
}

/* ---- registry ---- */

int agg_rollup_new(int64_t bucket_s, struct agg_store *reader, struct agg_writer *writer,
                   struct agg_rollup **ret_rollup)
{
    struct agg_rollup *r = calloc(1, sizeof(*r));
    if (!r)
        return MON_ENOMEM;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->reader_lock, NULL);
    r->bucket_s = bucket_s > 0 ? bucket_s : 3600;
    r->reader = reader;
    r->writer = writer;
    *ret_rollup = r;
    return MON_OK;
}

void agg_rollup_free(struct agg_rollup *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_accs; i++) {
        agg_rollup_acc_done(r->accs[i]);
        free(r->accs[i]);
    }
    for (size_t i = 0; i < r->n_staged; i++)
        agg_rollup_acc_done(&r->staged[i]);
    free(r->accs);
    free(r->staged);
    agg_idmap_clear(&r->by_id);
    pthread_mutex_destroy(&r->reader_lock);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int64_t agg_rollup_bucket_s(const struct agg_rollup *r)
{
    return r->bucket_s;
}

int64_t agg_rollup_bucket_of(const struct agg_rollup *r, int64_t utc_ms)
{
    int64_t s = utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000);
    int64_t q = s / r->bucket_s;
    if (s % r->bucket_s < 0)
        q--;
    return q * r->bucket_s;
}

int agg_rollup_server_add(struct agg_rollup *r, int64_t server_id)
{
    struct agg_rollup_acc *a, **grown;
    int rc = MON_OK;
    pthread_mutex_lock(&r->lock);
    if (agg_idmap_get(&r->by_id, server_id))
        goto out;
    if (r->n_accs == r->cap_accs) {
        size_t cap = r->cap_accs ? r->cap_accs * 2 : 16;
        grown = realloc(r->accs, cap * sizeof(*grown));
        if (!grown) {
            rc = MON_ENOMEM;
            goto out;
        }
        r->accs = grown;
        r->cap_accs = cap;
    }
    a = calloc(1, sizeof(*a));
    if (!a || agg_idmap_put(&r->by_id, server_id, a) < 0) {
        free(a);
        rc = MON_ENOMEM;
        goto out;
    }
    a->server_id = server_id;
    a->bucket = a->max_bucket = -1;
    r->accs[r->n_accs++] = a;
out:
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void agg_rollup_server_remove(struct agg_rollup *r, int64_t server_id)
{
    struct agg_rollup_acc *a;
    size_t k = 0;
    pthread_mutex_lock(&r->lock);
    a = agg_idmap_get(&r->by_id, server_id);
    if (a) {
        agg_idmap_del(&r->by_id, server_id);
        for (size_t i = 0; i < r->n_accs; i++)
            if (r->accs[i] != a)
                r->accs[k++] = r->accs[i];
        r->n_accs = k;
        agg_rollup_acc_done(a);
        free(a);
    }
    /* Its finished buckets are not written either: its history is being deleted. */
    k = 0;
    for (size_t i = 0; i < r->n_staged; i++) {
        if (r->staged[i].server_id == server_id)
            agg_rollup_acc_done(&r->staged[i]);
        else
            r->staged[k++] = r->staged[i];
    }
    r->n_staged = k;
    pthread_mutex_unlock(&r->lock);
}

/* Lock held. Moves a's finished bucket to the staging list (its arrays go with it). */
static void stage_locked(struct agg_rollup *r, struct agg_rollup_acc *a)
{
    MON_ASSERT_LOCKED(&r->lock);
    void *staged = r->staged;
    if (!a->dirty || !grow(&staged, &r->cap_staged, r->n_staged + 1, sizeof(*r->staged))) {
        if (a->dirty)
            r->stats.lost_buckets++;
        return;
    }
    r->staged = staged;
    r->staged[r->n_staged++] = *a;
    a->gpus = NULL;
    a->disks = NULL;
    a->n_gpus = a->n_disks = 0;
}

int agg_rollup_add(struct agg_rollup *r, int64_t server_id, const struct agg_sample *s,
                   int64_t recv_utc_ms)
{
    int64_t bucket = agg_rollup_bucket_of(r, recv_utc_ms);
    struct agg_rollup_acc *a;
    int rc = MON_OK;

    pthread_mutex_lock(&r->lock);
    a = agg_idmap_get(&r->by_id, server_id);
    if (!a) {
        rc = MON_ENOENT;
        goto out;
    }
    if (a->bucket != bucket) {
        /* A later bucket than any before in this run has no stored row: nothing to read. */
        bool fresh = a->max_bucket >= 0 && bucket > a->max_bucket;
        if (a->bucket >= 0)
            stage_locked(r, a);
        agg_rollup_acc_reset(a, bucket);
        a->seeded = fresh || !r->reader;
    }
    agg_rollup_acc_add(a, s);
out:
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int agg_rollup_flush(struct agg_rollup *r)
{
    struct agg_rollup_acc *list;
    struct batch b = {0};
    size_t n, written = 0;
    int rc = MON_OK;

    pthread_mutex_lock(&r->lock);
    list = r->staged;
    n = r->n_staged;
    r->staged = NULL;
    r->n_staged = r->cap_staged = 0;
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < n; i++) {
        struct agg_rollup_acc *a = &list[i];
        bool keep = false;
        if (!a->seeded) {
            struct seed s = {.id = a->server_id, .bucket = a->bucket};
            seed_read(r, &s);
            pthread_mutex_lock(&r->lock);
            keep = !seed_apply(r, a, &s) && a->seed_attempts < SEED_RETRIES;
            if (!a->seeded && !keep) /* never readable: writing would overwrite samples */
                r->stats.lost_buckets++;
            pthread_mutex_unlock(&r->lock);
            seed_done(&s);
        }
        if (a->seeded) {
            if (batch_add(&b, a) < 0)
                rc = MON_ENOMEM;
            else
                written++;
        } else if (keep) { /* retried at the next flush */
            pthread_mutex_lock(&r->lock);
            stage_locked(r, a);
            pthread_mutex_unlock(&r->lock);
        }
        agg_rollup_acc_done(a);
    }
    free(list);
    if (batch_send(r, &b) < 0)
        rc = MON_ENOMEM;
    return rc < 0 ? rc : (int)written;
}

int agg_rollup_checkpoint(struct agg_rollup *r)
{
    struct batch b = {0};
    size_t next = 0, written = 0;
    bool more = true, drain = r->writer != NULL;
    int rc = agg_rollup_flush(r);

    if (rc < 0)
        return rc;
    seed_live(r);
    while (more && rc == MON_OK) {
        /* One chunk's rows at a time: the previous chunk is written before the next is built,
         * so a checkpoint of 100,000 servers holds ~1 MB of rows, not ~120 MB. A writer that
         * does not keep up (a slow or failing database) is not waited for again. */
        if (b.n) {
            if (batch_send(r, &b) < 0)
                rc = MON_ENOMEM;
            if (drain && agg_writer_flush(r->writer, CHECKPOINT_DRAIN_MS) < 0)
                drain = false;
        }
        pthread_mutex_lock(&r->lock);
        for (size_t end = next + LOCK_CHUNK; next < r->n_accs && next < end; next++) {
            struct agg_rollup_acc *a = r->accs[next];
            if (!a->dirty || a->samples == 0 || !a->seeded)
                continue;
            if (batch_add(&b, a) < 0) {
                rc = MON_ENOMEM;
                break;
            }
            a->dirty = false;
            written++;
        }
        more = next < r->n_accs;
        pthread_mutex_unlock(&r->lock);
    }
    if (batch_send(r, &b) < 0 && rc == MON_OK)
        rc = MON_ENOMEM;
    return rc < 0 ? rc : (int)written;
}

int agg_rollup_current(struct agg_rollup *r, int64_t server_id, int64_t now_utc_ms,
                       struct agg_hourly_row *ret)
{
    int64_t bucket = agg_rollup_bucket_of(r, now_utc_ms);
    struct agg_rollup_acc *a;
    struct seed s = {.id = server_id, .bucket = bucket};
    bool unseeded;
    int rc = MON_ENOENT;

    pthread_mutex_lock(&r->lock);
    a = agg_idmap_get(&r->by_id, server_id);
    unseeded = a && a->bucket == bucket && !a->seeded;
    pthread_mutex_unlock(&r->lock);
    if (unseeded) /* show the resumed bucket whole, not just this run's samples */
        seed_read(r, &s);
    pthread_mutex_lock(&r->lock);
    a = agg_idmap_get(&r->by_id, server_id);
    if (a && unseeded && a->bucket == bucket && !a->seeded)
        seed_apply(r, a, &s);
    if (a && a->bucket == bucket && a->samples > 0) {
        agg_rollup_acc_rows(a, ret, NULL, NULL);
        rc = MON_OK;
    }
    pthread_mutex_unlock(&r->lock);
    seed_done(&s);
    return rc;
}

void agg_rollup_get_stats(struct agg_rollup *r, struct agg_rollup_stats *ret)
{
    pthread_mutex_lock(&r->lock);
    *ret = r->stats;
    pthread_mutex_unlock(&r->lock);
}
