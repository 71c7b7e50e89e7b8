/* SPDX-License-Identifier: MIT */
/* The libcurl multi poll loop: schedules one GET /v1/snapshot per enabled server and interval
 * at evenly spread phases, maps failures to short texts and hands samples to a callback. */
#include "aggregator/poller.h"

#include "aggregator/agentclient.h"
#include "aggregator/sample.h"
#include "aggregator/model.h"
#include "common/clock.h"
#include "common/err.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct target {
    struct agg_server cfg; /* latest configuration (owned) */
    CURL *easy;            /* kept across polls so the connection stays open */
    void *headers;         /* of the request in flight (or the last one) */
    char *url;
    struct agg_agent_body body;
    bool in_flight;
    int64_t due;         /* next due time, monotonic ms */
    int64_t started_due; /* due time of the request in flight */
    int64_t last_lag;    /* how late the last request started */
};

struct change {
    struct change *next;
    bool remove;
    int64_t id;
    struct agg_server cfg; /* for an upsert */
};

struct agg_poller {
    struct agg_poller_options opt;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t lock; /* guards changes, stop and stats */
    struct change *changes, *changes_tail;
    bool stop;
    struct agg_poller_stats stats;
    /* Owned by the poller thread. */
    struct target **targets; /* ordered by id */
    size_t n_targets, cap_targets;
    int64_t base; /* monotonic origin of the phases */
};

static void target_free(struct agg_poller *p, struct target *t)
{
    if (!t)
        return;
    if (t->easy) {
        if (t->in_flight)
            curl_multi_remove_handle(p->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    agg_agent_headers_free(t->headers);
    free(t->url);
    mon_buf_done(&t->body.buf);
    agg_server_done(&t->cfg);
    free(t);
}

static struct target *find_target(struct agg_poller *p, int64_t id, size_t *ret_pos)
{
    size_t i = 0;
    while (i < p->n_targets && p->targets[i]->cfg.id < id)
        i++;
    *ret_pos = i;
    return i < p->n_targets && p->targets[i]->cfg.id == id ? p->targets[i] : NULL;
}

/* Server k of n polls at phase k * interval / n; due times are the next slot from now. */
static void rephase(struct agg_poller *p, int64_t now)
{
    int64_t iv = p->opt.interval_ms;
    for (size_t k = 0; k < p->n_targets; k++) {
        int64_t origin = p->base + (int64_t)k * iv / (int64_t)p->n_targets;
        int64_t slots = now > origin ? (now - origin + iv - 1) / iv : 0;
        p->targets[k]->due = origin + slots * iv;
    }
}

/* Poller thread: applies one queued change. Returns true when the set of servers changed. */
static bool apply_change(struct agg_poller *p, struct change *c)
{
    struct target *t, **grown;
    size_t pos;

    t = find_target(p, c->id, &pos);
    if (c->remove || !c->cfg.enabled) {
        if (!t)
            return false;
        memmove(&p->targets[pos], &p->targets[pos + 1],
                (p->n_targets - pos - 1) * sizeof(*p->targets));
        p->n_targets--;
        target_free(p, t);
        return true;
    }
    if (t) { /* the request in flight keeps its own URL and headers */
        agg_server_done(&t->cfg);
        t->cfg = c->cfg;
        memset(&c->cfg, 0, sizeof(c->cfg));
        return false;
    }
    if (p->n_targets == p->cap_targets) {
        size_t cap = p->cap_targets ? p->cap_targets * 2 : 8;
        grown = realloc(p->targets, cap * sizeof(*grown));
        if (!grown)
            return false;
        p->targets = grown;
        p->cap_targets = cap;
    }
    t = calloc(1, sizeof(*t));
    if (!t || !(t->easy = curl_easy_init())) {
        free(t);
        return false;
    }
    t->cfg = c->cfg;
    memset(&c->cfg, 0, sizeof(c->cfg));
    mon_buf_init(&t->body.buf, (size_t)p->opt.max_response_bytes);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    memmove(&p->targets[pos + 1], &p->targets[pos], (p->n_targets - pos) * sizeof(*p->targets));
    p->targets[pos] = t;
    p->n_targets++;
    /* libcurl keeps at most 4 idle connections per handle currently added; ours are added only
     * while polling, so without this every poll would open a new TCP connection. */
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, (long)p->n_targets + 8);
    return true;
}

/* Poller thread: takes the queued changes and applies them. Returns false when stopping. */
static bool apply_changes(struct agg_poller *p, int64_t now)
{
    struct change *list, *c;
    bool stop, changed = false;
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
        rephase(p, now);
    return !stop;
}

static void finish(struct agg_poller *p, struct target *t, CURLcode cc, int64_t now)
{
    struct agg_sample *sample = NULL;
    char why[200] = "", error[256] = "";
    long status = 0;
    int r;

    curl_multi_remove_handle(p->multi, t->easy);
    t->in_flight = false;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    r = agg_agent_result((int)cc, status, t->body.too_large, error, sizeof(error));
    if (r == MON_OK) {
        r = agg_sample_parse(t->body.buf.data, t->body.buf.len, &sample, why, sizeof(why));
        if (r < 0)
            snprintf(error, sizeof(error), "bad reply: %s", why);
    }
    mon_buf_reset(&t->body.buf);
    pthread_mutex_lock(&p->lock);
    if (r == MON_OK) {
        p->stats.polls_completed++;
        if (now - t->started_due <= p->opt.interval_ms)
            p->stats.polls_in_window++;
    } else {
        p->stats.polls_failed++;
    }
    pthread_mutex_unlock(&p->lock);
    p->opt.on_result(p->opt.ctx, t->cfg.id, sample, r == MON_OK ? NULL : error, mon_utc_ms(), now);
}

static void start(struct agg_poller *p, struct target *t, int64_t now)
{
    char *url = NULL;
    void *headers = NULL;
    int r;

    r = agg_agent_url(t->cfg.host, t->cfg.port, "/v1/snapshot", t->cfg.services, t->cfg.n_services,
                      &url);
    if (r == MON_OK)
        r = agg_agent_easy_prepare(t->easy, url, t->cfg.token, p->opt.timeout_ms,
                                   p->opt.max_response_bytes, &t->body, &headers);
    if (r == MON_OK && curl_multi_add_handle(p->multi, t->easy) != CURLM_OK)
        r = MON_ENOMEM;
    /* The previous request's URL and headers are no longer referenced by libcurl. */
    agg_agent_headers_free(t->headers);
    free(t->url);
    t->headers = headers;
    t->url = url;
    pthread_mutex_lock(&p->lock);
    p->stats.polls_started++;
    if (r < 0)
        p->stats.polls_failed++;
    pthread_mutex_unlock(&p->lock);
    if (r < 0) {
        p->opt.on_result(p->opt.ctx, t->cfg.id, NULL,
                         r == MON_EINVAL ? "invalid host or token" : "out of memory", mon_utc_ms(),
                         now);
        return;
    }
    t->in_flight = true;
    t->started_due = t->due;
    t->last_lag = now - t->due;
    t->body.too_large = false;
    mon_buf_reset(&t->body.buf);
}

/* Starts the polls that are due; returns the earliest next due time. */
static int64_t schedule(struct agg_poller *p, int64_t now)
{
    int64_t next = now + p->opt.interval_ms;
    for (size_t i = 0; i < p->n_targets; i++) {
        struct target *t = p->targets[i];
        if (now >= t->due) {
            if (t->in_flight) {
                pthread_mutex_lock(&p->lock);
                p->stats.late_polls++;
                pthread_mutex_unlock(&p->lock);
            } else {
                start(p, t, now);
            }
            /* Missed slots (a stalled loop) are skipped, not caught up in a burst. */
            while (t->due <= now)
                t->due += p->opt.interval_ms;
        }
        if (t->due < next)
            next = t->due;
    }
    return next;
}

static void collect(struct agg_poller *p, int64_t now)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(p->multi, &left))) {
        char *priv = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            finish(p, (struct target *)(void *)priv, msg->data.result, now);
    }
}

static void update_stats(struct agg_poller *p)
{
    int64_t lag = 0;
    size_t in_flight = 0;
    for (size_t i = 0; i < p->n_targets; i++) {
        if (p->targets[i]->last_lag > lag)
            lag = p->targets[i]->last_lag;
        in_flight += p->targets[i]->in_flight;
    }
    pthread_mutex_lock(&p->lock);
    p->stats.lag_ms = lag;
    p->stats.targets = p->n_targets;
    p->stats.in_flight = in_flight;
    pthread_mutex_unlock(&p->lock);
}

static void *poller_main(void *arg)
{
    struct agg_poller *p = arg;
    int64_t now = mon_mono_ms(), next_tick = now, next_due, wait;
    int running = 0;

    p->base = now;
    for (;;) {
        now = mon_mono_ms();
        if (!apply_changes(p, now))
            break;
        next_due = schedule(p, now);
        curl_multi_perform(p->multi, &running);
        now = mon_mono_ms();
        collect(p, now);
        if (p->opt.on_tick && now >= next_tick) {
            p->opt.on_tick(p->opt.ctx, mon_utc_ms(), now);
            next_tick = now + p->opt.tick_ms;
        }
        update_stats(p);
        now = mon_mono_ms();
        wait = next_due - now;
        if (p->opt.on_tick && next_tick - now < wait)
            wait = next_tick - now;
        if (wait < 0)
            wait = 0;
        if (wait > 1000)
            wait = 1000;
        curl_multi_poll(p->multi, NULL, 0, (int)wait, NULL);
    }
    for (size_t i = 0; i < p->n_targets; i++)
        target_free(p, p->targets[i]);
    p->n_targets = 0;
    return NULL;
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
    if (!p || !(p->multi = curl_multi_init())) {
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
    pthread_mutex_init(&p->lock, NULL);
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        curl_multi_cleanup(p->multi);
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
    curl_multi_wakeup(p->multi);
    pthread_join(p->thread, NULL);
    while ((c = p->changes)) {
        p->changes = c->next;
        agg_server_done(&c->cfg);
        free(c);
    }
    free(p->targets);
    curl_multi_cleanup(p->multi);
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
    curl_multi_wakeup(p->multi);
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
    pthread_mutex_lock(&p->lock);
    *ret = p->stats;
    pthread_mutex_unlock(&p->lock);
}

double agg_poller_in_window_pct(const struct agg_poller_stats *s)
{
    uint64_t total = s->polls_completed + s->polls_failed + s->late_polls;
    if (total == 0)
        return 100.0;
    return (double)s->polls_in_window * 100.0 / (double)total;
}
