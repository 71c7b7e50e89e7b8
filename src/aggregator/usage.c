/* SPDX-License-Identifier: MIT */
/* GPU usage accumulators: one per server for the current hour, one entry per user. The time
 * since a server's previous successful poll is shared out by agg_usage_account. A checkpoint
 * replaces the stored rows of the hour, so an hour that may already have stored rows (written
 * by an earlier run, or by this one before the clock went back) is resumed from them first and
 * is never written before: agg_usage_resume reads them on the caller's thread (the engine's
 * start, then the housekeeper), never on the poller's, which only touches memory. */
#include "aggregator/usage.h"

#include "aggregator/idmap.h"
#include "aggregator/sample.h"
#include "aggregator/store.h"
#include "aggregator/usage_procs.h"
#include "aggregator/writer.h"
#include "common/err.h"
#include "common/str.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RESUME_FLUSH_MS 2000 /* the writer's queue drains before an hour is read back */

struct user_acc {
    struct agg_usage_row row;     /* sums of the hour; ts, server and user filled */
    struct agg_usage_procs procs; /* processes counted in row.processes this hour (this run) */
    /* Set when the hour was resumed from a stored row: processes that started at or before
     * its last_seen were counted by the run that wrote it. -1: nothing resumed. */
    int64_t resumed_last_seen;
};

struct server_acc {
    int64_t server_id;
    size_t pos; /* index in agg_usage.servers */
    char name[AGG_NAME_MAX + 1];
    int64_t hour; /* -1: nothing accumulated yet */
    bool seeded;  /* the stored rows of this hour have been merged (or there were none) */
    /* Hours up to this one may have stored rows that are not in memory (an earlier run's, or
     * this run's own when the clock goes back): they are resumed before they are written.
     * Later hours start seeded. */
    int64_t resume_upto;
    bool dirty;             /* news since the last write */
    int64_t last_poll_mono; /* previous successful poll, -1 none in this run */
    uint32_t polls;         /* polls with processes accounted: agg_usage_proc.seen */
    struct user_acc *users;
    size_t n_users, cap_users;
};

struct agg_usage {
    pthread_mutex_t lock;
    struct agg_usage_options opt;
    struct server_acc **servers;
    size_t n_servers, cap_servers;
    struct agg_idmap by_id; /* server id -> its entry of servers: O(1) per poll */
    /* Some server may have an hour waiting for agg_usage_resume: only then does it walk
     * the servers (it runs every second). */
    bool unresumed;
    struct agg_usage_stats stats;
    /* Set once the stored hours at and after the start have been read (agg_usage_resume):
     * resume_default is then the last of them, else INT64_MAX (every hour is resumed). */
    bool preloaded;
    int64_t resume_default;
};

static void users_clear(struct server_acc *a)
{
    for (size_t i = 0; i < a->n_users; i++)
        agg_usage_procs_clear(&a->users[i].procs);
    free(a->users);
    a->users = NULL;
    a->n_users = a->cap_users = 0;
}

static void acc_free(struct server_acc *a)
{
    if (!a)
        return;
    users_clear(a);
    free(a);
}

static struct server_acc *find(struct agg_usage *u, int64_t server_id)
{
    return agg_idmap_get(&u->by_id, server_id);
}

static struct user_acc *user_slot(struct server_acc *a, const char *user)
{
    struct user_acc *x;
    for (size_t i = 0; i < a->n_users; i++)
        if (strcmp(a->users[i].row.user, user) == 0)
            return &a->users[i];
    if (a->n_users == a->cap_users) {
        size_t cap = a->cap_users ? a->cap_users * 2 : 2;
        x = realloc(a->users, cap * sizeof(*x));
        if (!x)
            return NULL;
        a->users = x;
        a->cap_users = cap;
    }
    x = &a->users[a->n_users++];
    memset(x, 0, sizeof(*x));
    x->row.ts = a->hour;
    x->row.server_id = a->server_id;
    mon_strlcpy(x->row.user, user, sizeof(x->row.user));
    x->row.first_seen = -1;
    x->row.last_seen = -1;
    x->resumed_last_seen = -1;
    return x;
}

/* Counts a process once per hour; poll numbers the server's polls. */
static void count_proc(struct user_acc *x, const struct agg_gpu_proc *p, uint32_t poll)
{
    /* Already counted before a restart: it was running when the resumed row was written. */
    bool counted = !(x->resumed_last_seen >= 0 &&
                     (p->started_at < 0 || p->started_at <= x->resumed_last_seen));
    if (agg_usage_procs_add(&x->procs, p, poll, x->row.ts, counted) && counted)
        x->row.processes++;
}

static void merge_stored(struct server_acc *a, const struct agg_usage_row *r)
{
    struct user_acc *x = user_slot(a, r->user);
    if (!x)
        return;
    /* Polls accounted before the resume counted processes that the stored row has already:
     * those that were running when it was written. */
    x->row.processes -= agg_usage_procs_uncount(&x->procs, r->last_seen, x->row.ts);
    x->row.gpu_seconds += r->gpu_seconds;
    x->row.busy_gpu_seconds += r->busy_gpu_seconds;
    x->row.mem_mb_seconds += r->mem_mb_seconds;
    x->row.processes += r->processes;
    if (r->max_gpus > x->row.max_gpus)
        x->row.max_gpus = r->max_gpus;
    if (x->row.first_seen < 0 || (r->first_seen >= 0 && r->first_seen < x->row.first_seen))
        x->row.first_seen = r->first_seen;
    if (r->last_seen > x->row.last_seen)
        x->row.last_seen = r->last_seen;
    x->resumed_last_seen = r->last_seen;
}

/* Lock held; never on the poller thread (it reads the store). Merges the stored rows of a's
 * hour; true when a is seeded. */
static bool seed_now(struct agg_usage *u, struct server_acc *a)
{
    struct agg_usage_row *rows = NULL;
    size_t n = 0;
    if (a->seeded)
        return true;
    if (u->opt.reader) {
        if (agg_store_usage_hour_get(u->opt.reader, a->server_id, a->hour, &rows, &n) < 0) {
            u->stats.seed_failures++;
            return false;
        }
        for (size_t i = 0; i < n; i++)
            merge_stored(a, &rows[i]);
        free(rows);
    }
    a->seeded = true;
    return true;
}

/* Lock held. The rows of the accumulators with users, as one writer job. */
static int write_accs(struct agg_usage *u, struct server_acc **accs, size_t n)
{
    struct agg_usage_row *rows;
    size_t total = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        total += accs[i]->n_users;
    if (total == 0 || !u->opt.writer)
        return MON_OK;
    rows = calloc(total, sizeof(*rows));
    if (!rows)
        return MON_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* Written rows are stored: coming back to this hour (the clock going back) resumes. */
        if (accs[i]->hour > accs[i]->resume_upto)
            accs[i]->resume_upto = accs[i]->hour;
        for (size_t j = 0; j < accs[i]->n_users; j++) {
            rows[k] = accs[i]->users[j].row;
            mon_strlcpy(rows[k].server_name, accs[i]->name, sizeof(rows[k].server_name));
            k++;
        }
    }
    return agg_writer_usage(u->opt.writer, rows, total);
}

int agg_usage_new(const struct agg_usage_options *o, struct agg_usage **ret_usage)
{
    struct agg_usage *u = calloc(1, sizeof(*u));
    if (!u)
        return MON_ENOMEM;
    pthread_mutex_init(&u->lock, NULL);
    u->opt = *o;
    if (u->opt.interval_ms <= 0)
        u->opt.interval_ms = 5000;
    /* Without a store there is nothing to resume. */
    u->preloaded = !u->opt.reader;
    u->resume_default = u->opt.reader ? INT64_MAX : -1;
    *ret_usage = u;
    return MON_OK;
}

void agg_usage_free(struct agg_usage *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n_servers; i++)
        acc_free(u->servers[i]);
    free(u->servers);
    agg_idmap_clear(&u->by_id);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

int agg_usage_server_add(struct agg_usage *u, int64_t server_id, const char *name)
{
    struct server_acc *a;
    int rc = MON_OK;
    pthread_mutex_lock(&u->lock);
    a = find(u, server_id);
    if (a) {
        mon_strlcpy(a->name, name ? name : "", sizeof(a->name));
        goto out;
    }
    if (u->n_servers == u->cap_servers) {
        size_t cap = u->cap_servers ? u->cap_servers * 2 : 8;
        struct server_acc **grown = realloc(u->servers, cap * sizeof(*grown));
        if (!grown) {
            rc = MON_ENOMEM;
            goto out;
        }
        u->servers = grown;
        u->cap_servers = cap;
    }
    a = calloc(1, sizeof(*a));
    if (!a) {
        rc = MON_ENOMEM;
        goto out;
    }
    a->server_id = server_id;
    mon_strlcpy(a->name, name ? name : "", sizeof(a->name));
    a->hour = -1;
    a->last_poll_mono = -1;
    a->resume_upto = u->resume_default;
    if (agg_idmap_put(&u->by_id, server_id, a) < 0) {
        free(a);
        rc = MON_ENOMEM;
        goto out;
    }
    a->pos = u->n_servers;
    u->servers[u->n_servers++] = a;
out:
    pthread_mutex_unlock(&u->lock);
    return rc;
}

void agg_usage_server_remove(struct agg_usage *u, int64_t server_id)
{
    struct server_acc *a;
    pthread_mutex_lock(&u->lock);
    a = find(u, server_id);
    if (a) {
        if (a->hour >= 0 && a->dirty && seed_now(u, a)) /* an API thread: it may read */
            write_accs(u, &a, 1);
        agg_idmap_del(&u->by_id, server_id);
        u->servers[a->pos] = u->servers[--u->n_servers];
        u->servers[a->pos]->pos = a->pos;
        acc_free(a);
    }
    pthread_mutex_unlock(&u->lock);
}

static int64_t hour_of(int64_t utc_ms)
{
    int64_t s = utc_ms / 1000;
    return s - s % AGG_USAGE_HOUR_S;
}

/* Lock held. Adds one poll's shares and processes to a's hour. */
static void add_poll(struct server_acc *a, const struct agg_sample *s, double dt_s,
                     double free_mem_mb, int64_t now_s)
{
    struct agg_usage_share shares[AGG_MAX_GPUS + 1];
    size_t n = agg_usage_account(s, dt_s, free_mem_mb, shares, sizeof(shares) / sizeof(*shares));

    for (size_t i = 0; i < n; i++) {
        struct user_acc *x = user_slot(a, shares[i].user);
        if (!x)
            continue;
        x->row.gpu_seconds += shares[i].gpu_seconds;
        x->row.busy_gpu_seconds += shares[i].busy_gpu_seconds;
        x->row.mem_mb_seconds += shares[i].mem_mb_seconds;
        if (shares[i].gpus > x->row.max_gpus)
            x->row.max_gpus = shares[i].gpus;
        if (x->row.first_seen < 0)
            x->row.first_seen = now_s;
        x->row.last_seen = now_s;
        a->dirty = true;
    }
    if (n == 0)
        return;
    a->polls++;
    for (size_t i = 0; i < s->n_procs; i++) {
        const struct agg_gpu_proc *p = &s->procs[i];
        struct user_acc *x = user_slot(a, p->user[0] ? p->user : AGG_USAGE_UNKNOWN_USER);
        if (x)
            count_proc(x, p, a->polls);
    }
}

int agg_usage_add(struct agg_usage *u, int64_t server_id, const struct agg_sample *s,
                  int64_t now_utc_ms, int64_t now_mono_ms)
{
    int64_t hour = hour_of(now_utc_ms);
    struct server_acc *a;
    double dt_s = 0;
    int rc = MON_OK;

    pthread_mutex_lock(&u->lock);
    a = find(u, server_id);
    if (!a) {
        rc = MON_ENOENT;
        goto out;
    }
    if (a->last_poll_mono >= 0 && now_mono_ms > a->last_poll_mono) {
        int64_t dt = now_mono_ms - a->last_poll_mono, cap = 2 * u->opt.interval_ms;
        dt_s = (double)(dt < cap ? dt : cap) / 1000.0;
    }
    a->last_poll_mono = now_mono_ms;
    if (a->hour != hour) {
        /* The previous hour is complete: write it now, unless it was never resumed (that
         * would overwrite stored usage that could not be read back). */
        if (a->hour >= 0 && a->dirty) {
            if (a->seeded)
                rc = write_accs(u, &a, 1);
            else
                u->stats.lost_hours++;
        }
        users_clear(a);
        a->hour = hour;
        /* No store read here: an hour that may have stored rows waits for agg_usage_resume
         * (the accumulated polls are kept; the stored rows are added to them). */
        a->seeded = hour > a->resume_upto;
        u->unresumed |= !a->seeded;
        a->dirty = false;
    }
    add_poll(a, s, dt_s, u->opt.free_mem_mb, now_utc_ms / 1000);
    u->stats.polls++;
out:
    pthread_mutex_unlock(&u->lock);
    return rc;
}

/* The first stored row of server_id in rows (ordered by server), or n. */
static size_t first_of(const struct agg_usage_row *rows, size_t n, int64_t server_id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].server_id < server_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Reads every server's stored rows of the current hour and later ones (one query) and resumes
 * the accumulators of that hour; from then on only hours up to the last stored one are
 * resumed one by one. */
static int preload(struct agg_usage *u, int64_t hour)
{
    struct agg_usage_row *rows = NULL;
    size_t n = 0;
    int64_t last = hour;
    int r = agg_store_usage_hour_get(u->opt.reader, 0, hour, &rows, &n);

    pthread_mutex_lock(&u->lock);
    if (r < 0) {
        u->stats.seed_failures++;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (rows[i].ts > last)
            last = rows[i].ts;
    u->preloaded = true;
    u->resume_default = last;
    for (size_t i = 0; i < u->n_servers; i++) {
        struct server_acc *a = u->servers[i];
        int64_t upto = a->seeded && a->hour > hour ? a->hour : hour;
        size_t k = first_of(rows, n, a->server_id);
        if (a->hour < 0) { /* not polled yet: its first poll continues the stored hour */
            a->hour = hour;
            a->seeded = false;
            u->unresumed = true;
        }
        for (size_t j = k; j < n && rows[j].server_id == a->server_id; j++) {
            if (rows[j].ts > upto)
                upto = rows[j].ts;
            if (a->hour == hour && !a->seeded && rows[j].ts == hour)
                merge_stored(a, &rows[j]);
        }
        if (a->hour == hour)
            a->seeded = true;
        a->resume_upto = upto;
    }
out:
    pthread_mutex_unlock(&u->lock);
    free(rows);
    return r < 0 ? r : MON_OK;
}

/* An hour of a server waiting to be resumed. */
struct pending_hour {
    int64_t server_id, hour;
};

int agg_usage_resume(struct agg_usage *u, int64_t now_utc_ms)
{
    struct pending_hour *todo = NULL;
    size_t n_todo = 0;
    bool preloaded;
    int rc = MON_OK;

    if (!u->opt.reader)
        return MON_OK;
    pthread_mutex_lock(&u->lock);
    preloaded = u->preloaded;
    pthread_mutex_unlock(&u->lock);
    if (!preloaded && (rc = preload(u, hour_of(now_utc_ms))) < 0)
        return rc;

    pthread_mutex_lock(&u->lock);
    for (size_t i = 0; u->unresumed && i < u->n_servers; i++)
        n_todo += u->servers[i]->hour >= 0 && !u->servers[i]->seeded;
    u->unresumed = n_todo > 0;
    todo = n_todo ? calloc(n_todo, sizeof(*todo)) : NULL;
    n_todo = 0;
    for (size_t i = 0; todo && i < u->n_servers; i++) {
        const struct server_acc *a = u->servers[i];
        if (a->hour >= 0 && !a->seeded)
            todo[n_todo++] = (struct pending_hour){a->server_id, a->hour};
    }
    pthread_mutex_unlock(&u->lock);
    if (n_todo == 0)
        goto out;
    /* This run's own rows of those hours (written before the clock went back) must be in the
     * store before it is read; no new ones come: an hour is not written before its resume. */
    if (u->opt.writer && (rc = agg_writer_flush(u->opt.writer, RESUME_FLUSH_MS)) < 0)
        goto out;
    for (size_t i = 0; i < n_todo; i++) {
        struct agg_usage_row *rows = NULL;
        size_t n = 0;
        struct server_acc *a;
        int r = agg_store_usage_hour_get(u->opt.reader, todo[i].server_id, todo[i].hour, &rows, &n);
        pthread_mutex_lock(&u->lock);
        a = find(u, todo[i].server_id);
        if (r < 0) {
            u->stats.seed_failures++;
            rc = r;
        } else if (a && a->hour == todo[i].hour && !a->seeded) {
            for (size_t j = 0; j < n; j++)
                merge_stored(a, &rows[j]);
            a->seeded = true;
        }
        pthread_mutex_unlock(&u->lock);
        free(rows);
    }
out:
    free(todo);
    return rc;
}

int agg_usage_checkpoint(struct agg_usage *u)
{
    struct server_acc **batch;
    size_t n = 0, rows = 0;
    int rc;

    pthread_mutex_lock(&u->lock);
    batch = u->n_servers ? calloc(u->n_servers, sizeof(*batch)) : NULL;
    for (size_t i = 0; batch && i < u->n_servers; i++) {
        struct server_acc *a = u->servers[i];
        if (a->dirty && a->n_users > 0 && a->seeded) {
            batch[n++] = a;
            rows += a->n_users;
        }
    }
    rc = u->n_servers && !batch ? MON_ENOMEM : write_accs(u, batch, n);
    if (rc == MON_OK) {
        for (size_t i = 0; i < n; i++)
            batch[i]->dirty = false;
        rc = (int)rows;
    }
    pthread_mutex_unlock(&u->lock);
    free(batch);
    return rc;
}

int agg_usage_current(struct agg_usage *u, int64_t now_utc_ms, int64_t server_id, const char *user,
                      struct agg_usage_row **ret_rows, size_t *ret_n, int64_t **ret_servers,
                      size_t *ret_n_servers)
{
    int64_t hour = hour_of(now_utc_ms), *servers = NULL;
    struct agg_usage_row *rows = NULL;
    size_t n = 0, n_servers = 0, total = 0;
    int rc = MON_OK;

    pthread_mutex_lock(&u->lock);
    for (size_t i = 0; i < u->n_servers; i++)
        total += u->servers[i]->n_users;
    rows = calloc(total + 1, sizeof(*rows));
    servers = calloc(u->n_servers + 1, sizeof(*servers));
    if (!rows || !servers) {
        rc = MON_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < u->n_servers; i++) {
        const struct server_acc *a = u->servers[i];
        if (a->hour != hour || !a->seeded || (server_id > 0 && a->server_id != server_id))
            continue;
        servers[n_servers++] = a->server_id;
        for (size_t j = 0; j < a->n_users; j++) {
            if (user && strcmp(a->users[j].row.user, user) != 0)
                continue;
            rows[n] = a->users[j].row;
            mon_strlcpy(rows[n].server_name, a->name, sizeof(rows[n].server_name));
            n++;
        }
    }
out:
    pthread_mutex_unlock(&u->lock);
    if (rc < 0) {
        free(rows);
        free(servers);
        return rc;
    }
    if (n == 0) { /* the documented NULL for none */
        free(rows);
        rows = NULL;
    }
    if (n_servers == 0) {
        free(servers);
        servers = NULL;
    }
    *ret_rows = rows;
    *ret_n = n;
    *ret_servers = servers;
    *ret_n_servers = n_servers;
    return MON_OK;
}

void agg_usage_get_stats(struct agg_usage *u, struct agg_usage_stats *ret)
{
    pthread_mutex_lock(&u->lock);
    *ret = u->stats;
    pthread_mutex_unlock(&u->lock);
}
