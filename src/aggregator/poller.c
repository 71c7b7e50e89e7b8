/* SPDX-License-Identifier: MIT */
/* The poll loop: a round-robin schedule over the servers (ordered by id) with one due time per
 * step of interval / n, a pool of reusable transfers, our own timeouts (declared only after the
 * replies that had arrived were read), and the overload accounting of /api/health. */
#include "aggregator/poller.h"

#include "aggregator/pollio.h"
#include "aggregator/poller_priv.h"
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
#define TRIM_EVERY_MS    10000        /* at most this often: give freed big buffers back */
#define ARENA_BYTES      (256 * 1024) /* parse trees of replies up to ~60 KB need no malloc */
#define OVERLOAD_LOG_MS  60000        /* while overloaded, one log line per minute */
#define OVERLOAD_CALM_MS 10000        /* keeping up this long ends an overload episode */
#define STALL_GRACE_MS   50           /* longer work or oversleep than this counts as a stall */
#define TRANSIENT_SHARE  8            /* 1/8 of the socket budget for per-poll connections */
#define TRANSIENT_MAX    1024
#define HANDSHAKES_MAX   128 /* default cap of new TLS connections in flight */
/* Polls due within a quantum of now start together, and replies are collected once per
 * quantum: the loop wakes 10-40 times a second instead of once per poll (a wake-up of the
 * loop, and of an agent's idle socket, costs more than a poll on a small fleet), and each
 * server keeps the same place in the round, so its interval is unchanged. The quantum is 2 %
 * of the interval (100 ms at the default 5 s) but at least the earlier 25 ms (an eighth of a
 * short interval), so a poll starts at most 100 ms early. */
#define QUANTUM_MS     25
#define QUANTUM_MAX_MS 100

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
    p->local.handshakes_in_flight = p->handshakes;
    pthread_mutex_lock(&p->lock);
    p->stats = p->local;
    p->published_at = now;
    pthread_mutex_unlock(&p->lock);
}

static void free_target(struct agg_poller *p, struct agg_poll_target *t)
{
    agg_pollio_leave(p->io, t->shard);
    agg_agent_headers_free(t->headers);
    free(t->url);
    free(t->pin);
    free(t->ca_file);
    free(t);
}

/* ---- schedule ---- */

/* Starts the polls that are due, in round-robin order. A server whose previous request is
 * still running is skipped (late). Behind by more than an interval, the schedule moves on to
 * stay one interval behind: missed slots are not caught up in a burst, and every server's
 * interval stretches by the same amount. */
static int schedule(struct agg_poller *p, int64_t now)
{
    int64_t n = (int64_t)p->n_targets, iv = p->opt.interval_ms;
    int started = 0;
    p->held = false;
    for (; n > 0 && started < START_BATCH && due_ms(p) <= now + p->quantum; started++) {
        struct agg_poll_target *t = p->targets[p->cursor];
        int64_t due = due_ms(p), lag = now - due;
        if (!t->xfer && (p->in_flight >= p->max_in_flight ||
                         (!t->persistent && p->transient_in_flight >= p->max_transient))) {
            p->held = true; /* out of sockets: wait for requests to finish */
            break;
        }
        if (!t->xfer && p->handshakes >= p->max_handshakes && agg_poller_needs_handshake(t)) {
            /* Out of handshake slots: this poll and the ones after it wait (the order, and
             * so every server's interval, stays the same). Not a failure of the agent. */
            p->local.handshake_waits++;
            p->held = true;
            break;
        }
        if (lag > iv) {
            p->next_due = (now - iv) * n;
            due = now - iv;
        }
        if (lag > p->lag_cur)
            p->lag_cur = lag;
        if (lag > iv || t->xfer) /* once per poll, late and skipped alike */
            p->local.late_polls++;
        if (!t->xfer)
            agg_poller_start_poll(p, t, due, now);
        p->next_due += iv;
        if (++p->cursor >= p->n_targets)
            p->cursor = 0;
    }
    return started;
}

/* ---- servers ---- */

static int by_id(const void *a, const void *b)
{
    int64_t x = (*(struct agg_poll_target *const *)a)->id,
            y = (*(struct agg_poll_target *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* Builds the URL and headers of a server; on failure the target keeps none. */
static void target_config(struct agg_poll_target *t, const struct agg_server *s)
{
    char *url = NULL;
    void *headers = NULL;
    int r = agg_agent_url_scheme(s->tls, s->host, s->port, "/v1/snapshot", s->services,
                                 s->n_services, &url);
    char *pin = s->tls_pin && s->tls_pin[0] ? strdup(s->tls_pin) : NULL;
    char *ca = s->tls_ca_file && s->tls_ca_file[0] ? strdup(s->tls_ca_file) : NULL;
    free(t->pin);
    free(t->ca_file);
    t->warm = false; /* new settings: libcurl may not reuse the connection */
    t->tls = s->tls;
    t->pin = pin;
    t->ca_file = ca;
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
static bool apply_change(struct agg_poller *p, struct agg_poll_change *c)
{
    struct agg_poll_target *t = agg_idmap_get(&p->by_id, c->id), **grown;
    if (c->remove || !c->cfg.enabled) {
        if (!t)
            return false;
        if (t->xfer)
            agg_poller_abort(p, t->xfer);
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
    struct agg_poll_change *list, *c;
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
    /* At the next due time the loop starts every poll due within the following quantum
     * (held back for sockets or handshake slots: when requests in flight end). */
    if (p->n_targets && p->in_flight < p->max_in_flight && !p->held && due_ms(p) < until)
        until = due_ms(p);
    if (p->in_flight && now + p->quantum < until)
        until = now + p->quantum;
    if (p->fly_head && p->fly_head->deadline + p->stalled_ms < until)
        until = p->fly_head->deadline + p->stalled_ms;
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
        int64_t busy_from = mon_mono_ms(), planned, paused_at, over;
        now = busy_from;
        if (!apply_changes(p, now))
            break;
        agg_pollio_run(p->io, 0); /* the replies that arrived since the last round */
        agg_poller_expire(p);
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
        planned = wait_ms(p, now, next_tick);
        paused_at = mon_mono_ms();
        agg_pollio_pause(p->io, (int)planned);
        /* Work beyond the grace, or a pause that overslept (stopped, starved): a stall. */
        over = paused_at - busy_from - STALL_GRACE_MS;
        p->stalled_ms += over > 0 ? over : 0;
        over = mon_mono_ms() - paused_at - planned - STALL_GRACE_MS;
        p->stalled_ms += over > 0 ? over : 0;
    }
    while (p->fly_head)
        agg_poller_abort(p, p->fly_head);
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
    if (!p || agg_sample_new(&p->sample) < 0 || mon_json_arena_init(&p->arena, ARENA_BYTES) < 0 ||
        agg_pollio_new(opt->simple_io, agg_poller_on_done, p, &p->io) < 0) {
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
    if (opt->tls_ca_file && opt->tls_ca_file[0])
        p->ca_file = strdup(opt->tls_ca_file); /* NULL on failure: no global CA (logged below) */
    p->opt.tls_ca_file = NULL;
    if (p->opt.interval_ms <= 0)
        p->opt.interval_ms = 5000;
    if (p->opt.tick_ms <= 0)
        p->opt.tick_ms = 250;
    if (p->opt.max_response_bytes <= 0)
        p->opt.max_response_bytes = 1024 * 1024;
    size_limits(p);
    p->max_handshakes = p->opt.max_handshakes ? p->opt.max_handshakes : HANDSHAKES_MAX;
    p->quantum = p->opt.interval_ms / 8 < QUANTUM_MS ? p->opt.interval_ms / 8 : QUANTUM_MS;
    if (p->opt.interval_ms / 50 > p->quantum)
        p->quantum =
            p->opt.interval_ms / 50 < QUANTUM_MAX_MS ? p->opt.interval_ms / 50 : QUANTUM_MAX_MS;
    p->local.io_kind = agg_pollio_kind(p->io);
    p->stats = p->local;
    p->published_at = mon_mono_ms();
    pthread_mutex_init(&p->lock, NULL);
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        agg_pollio_free(p->io);
        agg_sample_free(p->sample);
        mon_json_arena_done(&p->arena);
        free(p->ca_file);
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
    struct agg_poll_change *c;
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
        struct agg_poll_xfer *x = p->pool;
        p->pool = x->next;
        agg_poller_xfer_free(x);
    }
    agg_pollio_free(p->io);
    agg_idmap_clear(&p->by_id);
    agg_sample_free(p->sample);
    mon_json_arena_done(&p->arena);
    free(p->targets);
    pthread_mutex_destroy(&p->lock);
    free(p->ca_file);
    free(p);
    curl_global_cleanup();
}

static void push_change(struct agg_poller *p, struct agg_poll_change *c)
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
    struct agg_poll_change *c = calloc(1, sizeof(*c));
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
    struct agg_poll_change *c = calloc(1, sizeof(*c));
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
