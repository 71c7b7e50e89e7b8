/* SPDX-License-Identifier: MIT */
/* The poll loop: a round-robin schedule over the servers (ordered by id) with one due time per
 * step of interval / n, a pool of reusable transfers, our own timeouts (declared only after the
 * replies that had arrived were read), and the overload accounting of /api/health. */
#include "aggregator/poller.h"

#include "aggregator/agentclient.h"
#include "aggregator/idmap.h"
#include "aggregator/pollio.h"
#include "aggregator/sample.h"
#include "aggregator/model.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json_arena.h"
#include "common/log.h"
#include "common/os/os.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START_BATCH      256          /* polls started before the loop looks at replies again */
#define POOL_KEEP        256          /* idle transfers kept for reuse */
#define BODY_KEEP        65536        /* reply buffers larger than this are freed after use */
#define TRIM_EVERY_MS    10000        /* at most this often: give freed big buffers back */
#define ARENA_BYTES      (256 * 1024) /* parse trees of replies up to ~60 KB need no malloc */
#define CURL_SAFETY_MS   60000        /* libcurl's own timeout, beyond ours: only a last resort */
#define OVERLOAD_LOG_MS  60000        /* while overloaded, one log line per minute */
#define OVERLOAD_CALM_MS 10000        /* keeping up this long ends an overload episode */
#define TRANSIENT_SHARE  8            /* 1/8 of the socket budget for per-poll connections */
#define TRANSIENT_MAX    1024
/* Polls due within this much of now start together: the loop wakes ~40 times a second
 * instead of once per poll (a wake-up costs more than a poll on a small fleet), and each
 * server keeps the same place in the round, so its interval is unchanged. */
#define QUANTUM_MS 25

/* One request to an agent; pooled and reused (its easy handle, buffer and options). */
struct xfer {
    CURL *easy;
    struct target *t;
    struct agg_agent_body body;
    int64_t due, deadline; /* monotonic ms */
    /* The URL and headers this request uses (the target's at its start). When the server is
     * reconfigured meanwhile, the request takes them over and frees them at its end. */
    char *url;
    void *headers;
    bool owns_request;
    struct xfer *prev, *next; /* in flight, oldest first; or the free list (next only) */
};

struct target {
    int64_t id;
    char *url;       /* NULL: the server cannot be polled, setup_error says why */
    void *headers;   /* struct curl_slist * */
    int setup_error; /* MON_EINVAL (host or token) or MON_ENOMEM */
    bool persistent; /* kept-alive connection; else a new one per poll */
    bool dead;       /* removed: freed after the batch of changes */
    int shard;       /* agg_pollio shard (multi handle) of its transfers */
    struct xfer *xfer;
};

struct change {
    struct change *next;
    bool remove;
    int64_t id;
    struct agg_server cfg; /* for an upsert */
};

struct agg_poller {
    struct agg_poller_options opt;
    struct agg_pollio *io;
    pthread_t thread;
    pthread_mutex_t lock; /* guards changes, stop, stats and published_at */
    struct change *changes, *changes_tail;
    bool stop;
    struct agg_poller_stats stats; /* published copy */
    int64_t published_at;
    /* Owned by the poller thread. */
    struct agg_poller_stats local;
    struct agg_idmap by_id;
    struct target **targets; /* ordered by id: the round-robin order */
    size_t n_targets, cap_targets;
    size_t cursor;    /* next target to poll */
    int64_t next_due; /* monotonic ms of the poll at cursor, scaled by n_targets */
    struct xfer *fly_head, *fly_tail, *pool;
    size_t in_flight, transient_in_flight, pooled;
    size_t max_persistent, max_transient, max_in_flight;
    int64_t quantum;           /* ms, see QUANTUM_MS */
    struct agg_sample *sample; /* parse buffer, reused */
    struct mon_json_arena arena;
    int64_t lag_cur, lag_prev, window_end;
    bool was_overloaded;
    int64_t overload_logged, late_logged_base, last_over;
    bool big_freed, warned_sockets;
    int64_t trimmed_at;
};

/* The schedule works in units of interval / n_targets ("steps"): next_due advances by one
 * step per poll. To stay exact without fractions it is kept in ms * n_targets. */
static int64_t due_ms(const struct agg_poller *p)
{
    return p->n_targets ? p->next_due / (int64_t)p->n_targets : p->next_due;
}

static void publish(struct agg_poller *p, int64_t now)
{
    p->local.lag_ms = p->lag_cur > p->lag_prev ? p->lag_cur : p->lag_prev;
    p->local.overloaded = p->local.lag_ms > p->opt.interval_ms;
    p->local.targets = p->n_targets;
    p->local.in_flight = p->in_flight;
    pthread_mutex_lock(&p->lock);
    p->stats = p->local;
    p->published_at = now;
    pthread_mutex_unlock(&p->lock);
}

static void free_target(struct agg_poller *p, struct target *t)
{
    agg_pollio_leave(p->io, t->shard);
    agg_agent_headers_free(t->headers);
    free(t->url);
    free(t);
}

/* ---- transfers ---- */

static struct xfer *xfer_get(struct agg_poller *p)
{
    struct xfer *x = p->pool;
    if (x) {
        p->pool = x->next;
        p->pooled--;
        x->next = NULL;
        return x;
    }
    x = calloc(1, sizeof(*x));
    if (!x || !(x->easy = curl_easy_init())) {
        free(x);
        return NULL;
    }
    mon_buf_init(&x->body.buf, (size_t)p->opt.max_response_bytes);
    agg_agent_easy_setup(x->easy, p->opt.timeout_ms + CURL_SAFETY_MS, p->opt.max_response_bytes,
                         &x->body);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    return x;
}

static void xfer_free(struct xfer *x)
{
    curl_easy_cleanup(x->easy);
    mon_buf_done(&x->body.buf);
    free(x);
}

/* Back to the pool: big reply buffers are freed so that one huge reply does not stay. */
static void xfer_put(struct agg_poller *p, struct xfer *x)
{
    if (x->owns_request) {
        free(x->url);
        agg_agent_headers_free(x->headers);
    }
    x->url = NULL;
    x->headers = NULL;
    x->owns_request = false;
    x->t = NULL;
    x->body.too_large = false;
    if (x->body.buf.cap > BODY_KEEP) {
        mon_buf_done(&x->body.buf);
        p->big_freed = true;
    } else {
        mon_buf_reset(&x->body.buf);
    }
    if (p->pooled >= POOL_KEEP) {
        xfer_free(x);
        return;
    }
    x->prev = NULL;
    x->next = p->pool;
    p->pool = x;
    p->pooled++;
}

static void fly_unlink(struct agg_poller *p, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        p->fly_head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        p->fly_tail = x->prev;
    x->prev = x->next = NULL;
    p->in_flight--;
    if (!x->t->persistent)
        p->transient_in_flight--;
    x->t->xfer = NULL;
}

/* Ends a transfer without a result (its server was removed). */
static void xfer_abort(struct agg_poller *p, struct xfer *x)
{
    agg_pollio_remove(p->io, x->t->shard, x->easy);
    fly_unlink(p, x);
    xfer_put(p, x);
}

static void report(struct agg_poller *p, int64_t id, const struct agg_sample *s, const char *error,
                   int64_t now)
{
    p->opt.on_result(p->opt.ctx, id, s, error, mon_utc_ms(), now);
}

static void finish(struct agg_poller *p, struct xfer *x, int cc, bool timed_out, int64_t now)
{
    char why[200] = "", error[256] = "";
    int64_t id = x->t->id, due = x->due;
    long status = 0;
    int r;

    agg_pollio_remove(p->io, x->t->shard, x->easy);
    fly_unlink(p, x);
    if (timed_out) {
        snprintf(error, sizeof(error), "timeout");
        r = MON_ETIMEDOUT;
    } else {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        r = agg_agent_result(cc, status, x->body.too_large, error, sizeof(error));
    }
    if (r == MON_OK) {
        mon_json_arena_begin(&p->arena);
        r = agg_sample_parse_into(x->body.buf.data, x->body.buf.len, p->sample, why, sizeof(why));
        mon_json_arena_end();
        if (r < 0)
            snprintf(error, sizeof(error), "bad reply: %s", why);
    }
    xfer_put(p, x);
    if (r == MON_OK) {
        p->local.polls_completed++;
        if (now - due <= p->opt.interval_ms)
            p->local.polls_in_window++;
    } else {
        p->local.polls_failed++;
    }
    report(p, id, r == MON_OK ? p->sample : NULL, r == MON_OK ? NULL : error, now);
}

/* agg_pollio's report of a finished transfer. */
static void on_done(void *ctx, void *easy, int curl_code)
{
    struct agg_poller *p = ctx;
    char *priv = NULL;
    curl_easy_getinfo((CURL *)easy, CURLINFO_PRIVATE, &priv);
    if (priv)
        finish(p, (struct xfer *)(void *)priv, curl_code, false, mon_mono_ms());
}

/* Our timeouts: a request whose deadline passed is failed only after everything that was
 * ready to read has been read, so a loop that was itself late (starved of CPU, stopped) does
 * not blame an agent whose reply was waiting in the socket. */
static void expire(struct agg_poller *p)
{
    int64_t t0 = mon_mono_ms();
    if (!p->fly_head || p->fly_head->deadline > t0)
        return;
    agg_pollio_run(p->io, 0);
    while (p->fly_head && p->fly_head->deadline <= t0)
        finish(p, p->fly_head, CURLE_OK, true, mon_mono_ms());
}

/* ---- schedule ---- */

static void start(struct agg_poller *p, struct target *t, int64_t due, int64_t now)
{
    struct xfer *x;
    p->local.polls_started++;
    if (!t->url) {
        p->local.polls_failed++;
        report(p, t->id, NULL,
               t->setup_error == MON_EINVAL ? "invalid host or token" : "out of memory", now);
        return;
    }
    x = xfer_get(p);
    if (!x) {
        p->local.polls_failed++;
        report(p, t->id, NULL, "out of memory", now);
        return;
    }
    agg_agent_easy_target(x->easy, t->url, t->headers);
    x->url = t->url;
    x->headers = t->headers;
    curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, t->persistent ? 0L : 1L);
    x->t = t;
    x->due = due;
    x->deadline = now + p->opt.timeout_ms;
    if (agg_pollio_add(p->io, t->shard, x->easy) < 0) {
        xfer_put(p, x);
        p->local.polls_failed++;
        report(p, t->id, NULL, "out of memory", now);
        return;
    }
    t->xfer = x;
    x->prev = p->fly_tail;
    if (p->fly_tail)
        p->fly_tail->next = x;
    else
        p->fly_head = x;
    p->fly_tail = x;
    p->in_flight++;
    if (!t->persistent)
        p->transient_in_flight++;
}

/* Starts the polls that are due, in round-robin order. A server whose previous request is
 * still running is skipped (late). Behind by more than an interval, the schedule moves on to
 * stay one interval behind: missed slots are not caught up in a burst, and every server's
 * interval stretches by the same amount. */
static int schedule(struct agg_poller *p, int64_t now)
{
    int64_t n = (int64_t)p->n_targets, iv = p->opt.interval_ms;
    int started = 0;
    for (; n > 0 && started < START_BATCH && due_ms(p) <= now + p->quantum; started++) {
        struct target *t = p->targets[p->cursor];
        int64_t due = due_ms(p), lag = now - due;
        if (!t->xfer && (p->in_flight >= p->max_in_flight ||
                         (!t->persistent && p->transient_in_flight >= p->max_transient)))
            break; /* out of sockets: wait for requests to finish */
        if (lag > iv) {
            p->local.late_polls++;
            p->next_due = (now - iv) * n;
            due = now - iv;
        }
        if (lag > p->lag_cur)
            p->lag_cur = lag;
        if (t->xfer)
            p->local.late_polls++;
        else
            start(p, t, due, now);
        p->next_due += iv;
        if (++p->cursor >= p->n_targets)
            p->cursor = 0;
    }
    return started;
}

/* ---- servers ---- */

static int by_id(const void *a, const void *b)
{
    int64_t x = (*(struct target *const *)a)->id, y = (*(struct target *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* Builds the URL and headers of a server; on failure the target keeps none. */
static void target_config(struct target *t, const struct agg_server *s)
{
    char *url = NULL;
    void *headers = NULL;
    int r = agg_agent_url(s->host, s->port, "/v1/snapshot", s->services, s->n_services, &url);
    if (r == MON_OK)
        r = agg_agent_headers(s->token, &headers);
    if (t->xfer && !t->xfer->owns_request && t->xfer->url == t->url) {
        t->xfer->owns_request = true; /* in use until the request ends */
    } else {
        free(t->url);
        agg_agent_headers_free(t->headers);
    }
    t->url = r == MON_OK ? url : NULL;
    t->headers = r == MON_OK ? headers : NULL;
    t->setup_error = r;
    if (r < 0) {
        free(url);
        agg_agent_headers_free(headers);
    }
}

/* Poller thread: applies one change. Returns true when the set of servers changed. */
static bool apply_change(struct agg_poller *p, struct change *c)
{
    struct target *t = agg_idmap_get(&p->by_id, c->id), **grown;
    if (c->remove || !c->cfg.enabled) {
        if (!t)
            return false;
        if (t->xfer)
            xfer_abort(p, t->xfer);
        agg_idmap_del(&p->by_id, c->id);
        t->dead = true;
        return true;
    }
    if (t) {
        target_config(t, &c->cfg);
        return false;
    }
    if (p->n_targets == p->cap_targets) {
        size_t cap = p->cap_targets ? p->cap_targets * 2 : 16;
        grown = realloc(p->targets, cap * sizeof(*grown));
        if (!grown)
            return false;
        p->targets = grown;
        p->cap_targets = cap;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return false;
    t->id = c->id;
    t->shard = agg_pollio_join(p->io);
    if (t->shard < 0 || agg_idmap_put(&p->by_id, t->id, t) < 0) {
        agg_pollio_leave(p->io, t->shard);
        free(t);
        return false;
    }
    target_config(t, &c->cfg);
    p->targets[p->n_targets++] = t;
    return true;
}

/* After changes: drops removed targets, restores the id order, keeps the cursor on the same
 * server and decides which servers keep their connection open. */
static void reorder(struct agg_poller *p, int64_t cursor_id, size_t old_n, int64_t now)
{
    size_t k = 0, lo = 0, hi;
    for (size_t i = 0; i < p->n_targets; i++) {
        if (p->targets[i]->dead)
            free_target(p, p->targets[i]);
        else
            p->targets[k++] = p->targets[i];
    }
    p->n_targets = k;
    qsort(p->targets, p->n_targets, sizeof(*p->targets), by_id);
    hi = p->n_targets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->targets[mid]->id < cursor_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    p->cursor = lo < p->n_targets ? lo : 0;
    for (size_t i = 0; i < p->n_targets; i++)
        p->targets[i]->persistent = i < p->max_persistent;
    /* The schedule keeps its current due time: rescale it to the new number of steps. */
    if (old_n == 0)
        p->next_due = now * (int64_t)p->n_targets;
    else
        p->next_due = p->next_due / (int64_t)old_n * (int64_t)p->n_targets;
    p->local.persistent = p->n_targets < p->max_persistent ? p->n_targets : p->max_persistent;
    if (p->n_targets > p->max_persistent && !p->warned_sockets) {
        mon_warn("%zu servers, but the open-file limit leaves room for %zu kept-alive "
                 "connections: the other %zu are polled over a new connection each time, which "
                 "costs more CPU (raise LimitNOFILE / ulimit -n)",
                 p->n_targets, p->max_persistent, p->n_targets - p->max_persistent);
        p->warned_sockets = true;
    }
}

/* Poller thread: takes the queued changes and applies them. Returns false when stopping. */
static bool apply_changes(struct agg_poller *p, int64_t now)
{
    struct change *list, *c;
    bool stop, changed = false;
    size_t old_n = p->n_targets;
    int64_t cursor_id = old_n ? p->targets[p->cursor]->id : 0;

    pthread_mutex_lock(&p->lock);
    list = p->changes;
    p->changes = p->changes_tail = NULL;
    stop = p->stop;
    pthread_mutex_unlock(&p->lock);
    while ((c = list)) {
        list = c->next;
        if (!stop)
            changed |= apply_change(p, c);
        agg_server_done(&c->cfg);
        free(c);
    }
    if (changed)
        reorder(p, cursor_id, old_n, now);
    return !stop;
}

/* ---- the loop ---- */

/* Once per tick: rolls the lag window, logs overload (at most once a minute, and "back on
 * schedule" once it has kept up for OVERLOAD_CALM_MS) and gives big freed buffers back. */
static void housekeeping(struct agg_poller *p, int64_t now)
{
    int64_t window = p->opt.interval_ms > 1000 ? p->opt.interval_ms : 1000;
    int64_t lag;
    if (now >= p->window_end) {
        p->lag_prev = p->lag_cur;
        p->lag_cur = 0;
        p->window_end = now + window;
    }
    lag = p->lag_cur > p->lag_prev ? p->lag_cur : p->lag_prev;
    if (lag > p->opt.interval_ms) {
        if (!p->was_overloaded || now - p->overload_logged >= OVERLOAD_LOG_MS) {
            mon_warn("polling is behind schedule: polls start %lld ms late (interval %lld ms, "
                     "%zu servers, %llu late polls since the last report); every server's "
                     "interval is stretched alike and none is reported down for it",
                     (long long)lag, (long long)p->opt.interval_ms, p->n_targets,
                     (unsigned long long)(p->local.late_polls - (uint64_t)p->late_logged_base));
            p->overload_logged = now;
            p->late_logged_base = (int64_t)p->local.late_polls;
        }
        p->was_overloaded = true;
        p->last_over = now;
    } else if (p->was_overloaded && now - p->last_over >= OVERLOAD_CALM_MS) {
        mon_info("polling is back on schedule (%zu servers)", p->n_targets);
        p->was_overloaded = false;
    }
    if (p->big_freed && now - p->trimmed_at >= TRIM_EVERY_MS) {
        mon_os_release_free_memory();
        p->big_freed = false;
        p->trimmed_at = now;
    }
}

/* How long the loop may sleep: until the next batch of polls is due, a timeout or a tick, and
 * with requests in flight at most one quantum (their replies are collected in batches). */
static int wait_ms(const struct agg_poller *p, int64_t now, int64_t next_tick)
{
    int64_t until = next_tick;
    /* At the next due time the loop starts every poll due within the following quantum. */
    if (p->n_targets && p->in_flight < p->max_in_flight && due_ms(p) < until)
        until = due_ms(p);
    if (p->in_flight && now + p->quantum < until)
        until = now + p->quantum;
    if (p->fly_head && p->fly_head->deadline < until)
        until = p->fly_head->deadline;
    if (until - now > 1000)
        return 1000;
    return until <= now ? 0 : (int)(until - now);
}

static void *poller_main(void *arg)
{
    struct agg_poller *p = arg;
    int64_t now = mon_mono_ms(), next_tick = now;

    p->window_end = now;
    for (;;) {
        now = mon_mono_ms();
        if (!apply_changes(p, now))
            break;
        agg_pollio_run(p->io, 0); /* the replies that arrived since the last round */
        expire(p);
        if (schedule(p, mon_mono_ms()) > 0)
            agg_pollio_run(p->io, 0); /* sends the new requests now */
        now = mon_mono_ms();
        if (now >= next_tick) {
            if (p->opt.on_tick)
                p->opt.on_tick(p->opt.ctx, mon_utc_ms(), now);
            housekeeping(p, now);
            next_tick = now + p->opt.tick_ms;
        }
        publish(p, now);
        agg_pollio_pause(p->io, wait_ms(p, now, next_tick));
    }
    while (p->fly_head)
        xfer_abort(p, p->fly_head);
    for (size_t i = 0; i < p->n_targets; i++)
        free_target(p, p->targets[i]);
    p->n_targets = 0;
    return NULL;
}

/* Splits the socket budget between kept-alive connections and per-poll ones. */
static void size_limits(struct agg_poller *p)
{
    size_t budget = p->opt.max_sockets, transient;
    if (budget == 0) {
        p->max_persistent = p->max_transient = p->max_in_flight = SIZE_MAX;
        return;
    }
    if (budget < 16)
        budget = 16;
    transient = budget / TRANSIENT_SHARE;
    if (transient > TRANSIENT_MAX)
        transient = TRANSIENT_MAX;
    if (transient < 4)
        transient = 4;
    p->max_transient = transient;
    p->max_persistent = budget - transient;
    p->max_in_flight = budget;
}

int agg_poller_start(const struct agg_poller_options *opt, struct agg_poller **ret, char *why,
                     size_t why_len)
{
    struct agg_poller *p;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(why, why_len, "libcurl could not start");
        return MON_ESYS;
    }
    p = calloc(1, sizeof(*p));
    if (!p || !(p->sample = agg_sample_new()) || mon_json_arena_init(&p->arena, ARENA_BYTES) < 0 ||
        agg_pollio_new(opt->simple_io, on_done, p, &p->io) < 0) {
        if (p) {
            agg_sample_free(p->sample);
            mon_json_arena_done(&p->arena);
        }
        free(p);
        curl_global_cleanup();
        snprintf(why, why_len, "out of memory");
        return MON_ENOMEM;
    }
    p->opt = *opt;
    if (p->opt.interval_ms <= 0)
        p->opt.interval_ms = 5000;
    if (p->opt.tick_ms <= 0)
        p->opt.tick_ms = 250;
    if (p->opt.max_response_bytes <= 0)
        p->opt.max_response_bytes = 1024 * 1024;
    size_limits(p);
    p->quantum = p->opt.interval_ms / 8 < QUANTUM_MS ? p->opt.interval_ms / 8 : QUANTUM_MS;
    p->local.io_kind = agg_pollio_kind(p->io);
    p->stats = p->local;
    p->published_at = mon_mono_ms();
    pthread_mutex_init(&p->lock, NULL);
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        agg_pollio_free(p->io);
        agg_sample_free(p->sample);
        mon_json_arena_done(&p->arena);
        free(p);
        curl_global_cleanup();
        snprintf(why, why_len, "cannot start the poller thread");
        return MON_ESYS;
    }
    *ret = p;
    return MON_OK;
}

void agg_poller_stop(struct agg_poller *p)
{
    struct change *c;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_mutex_unlock(&p->lock);
    agg_pollio_wake(p->io);
    pthread_join(p->thread, NULL);
    while ((c = p->changes)) {
        p->changes = c->next;
        agg_server_done(&c->cfg);
        free(c);
    }
    while (p->pool) {
        struct xfer *x = p->pool;
        p->pool = x->next;
        xfer_free(x);
    }
    agg_pollio_free(p->io);
    agg_idmap_clear(&p->by_id);
    agg_sample_free(p->sample);
    mon_json_arena_done(&p->arena);
    free(p->targets);
    pthread_mutex_destroy(&p->lock);
    free(p);
    curl_global_cleanup();
}

static void push_change(struct agg_poller *p, struct change *c)
{
    pthread_mutex_lock(&p->lock);
    if (p->changes_tail)
        p->changes_tail->next = c;
    else
        p->changes = c;
    p->changes_tail = c;
    pthread_mutex_unlock(&p->lock);
    agg_pollio_wake(p->io);
}

int agg_poller_upsert(struct agg_poller *p, const struct agg_server *s)
{
    struct change *c = calloc(1, sizeof(*c));
    if (!c)
        return MON_ENOMEM;
    if (agg_server_copy(s, &c->cfg) < 0) {
        free(c);
        return MON_ENOMEM;
    }
    c->id = s->id;
    push_change(p, c);
    return MON_OK;
}

void agg_poller_remove(struct agg_poller *p, int64_t server_id)
{
    struct change *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->remove = true;
    c->id = server_id;
    push_change(p, c);
}

void agg_poller_get_stats(struct agg_poller *p, struct agg_poller_stats *ret)
{
    int64_t now = mon_mono_ms(), silent;
    pthread_mutex_lock(&p->lock);
    *ret = p->stats;
    silent = now - p->published_at;
    pthread_mutex_unlock(&p->lock);
    /* A loop that has not come round for longer than an interval is behind too. */
    if (silent > ret->lag_ms && silent > 1000) {
        ret->lag_ms = silent;
        ret->overloaded = silent > p->opt.interval_ms;
    }
}

double agg_poller_in_window_pct(const struct agg_poller_stats *s)
{
    uint64_t total = s->polls_completed + s->polls_failed + s->late_polls;
    if (total == 0)
        return 100.0;
    return (double)s->polls_in_window * 100.0 / (double)total;
}
