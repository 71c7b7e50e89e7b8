/* SPDX-License-Identifier: MIT */
/* The poller's transfers: a pool of reusable easy handles and reply buffers, starting a poll,
 * turning a finished one into a sample or an error text for the callback, and our timeouts. */
#include "aggregator/poller_priv.h"

#include "aggregator/pollio.h"
#include "aggregator/sample.h"
#include "common/clock.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_KEEP      256   /* idle transfers kept for reuse */
#define BODY_KEEP      65536 /* reply buffers larger than this are freed after use */
#define CURL_SAFETY_MS 60000 /* libcurl's own timeout, beyond ours: only a last resort */

static struct agg_poll_xfer *xfer_get(struct agg_poller *p)
{
    struct agg_poll_xfer *x = p->pool;
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
    agg_pollio_easy_init(p->io, x->easy);
    return x;
}

void agg_poller_xfer_free(struct agg_poll_xfer *x)
{
    curl_easy_cleanup(x->easy);
    mon_buf_done(&x->body.buf);
    free(x);
}

/* Back to the pool: big reply buffers are freed so that one huge reply does not stay. */
static void xfer_put(struct agg_poller *p, struct agg_poll_xfer *x)
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
        agg_poller_xfer_free(x);
        return;
    }
    x->prev = NULL;
    x->next = p->pool;
    p->pool = x;
    p->pooled++;
}

static void fly_unlink(struct agg_poller *p, struct agg_poll_xfer *x)
{
    /* (head and tail compared by address: the head has no prev, the tail no next) */
    if (p->fly_head == x)
        p->fly_head = x->next;
    else if (x->prev)
        x->prev->next = x->next;
    if (p->fly_tail == x)
        p->fly_tail = x->prev;
    else if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    p->in_flight--;
    if (!x->t->persistent)
        p->transient_in_flight--;
    if (x->handshake)
        p->handshakes--;
    x->handshake = false;
    x->t->xfer = NULL;
}

/* TLS: what this poll tells about the target's connection (for the handshake count). */
static void note_connection(struct agg_poller *p, struct agg_poll_xfer *x, bool ok)
{
    struct agg_poll_target *t = x->t;
    long connects = 0;
    if (!t->tls)
        return;
    curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects);
    if (connects > 0) {
        p->local.tls_handshakes++;
        if (!x->handshake)
            t->churn = true; /* a connection we expected to be open was not */
    } else {
        t->churn = false;
    }
    t->warm = ok && t->persistent && x->reusable && !t->churn;
}

/* Ends a transfer without a result (its server was removed). */
void agg_poller_abort(struct agg_poller *p, struct agg_poll_xfer *x)
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

/* A TLS poll went through: the certificate's dates (at each new connection), and trust on
 * first use. MON_OK, or MON_EPERM with the reason in error (the data is not taken). */
static int tls_check(struct agg_poller *p, struct agg_poll_xfer *x, char *error, size_t error_len)
{
    struct agg_poll_target *t = x->t;
    char pin[MON_TLS_PIN_LEN];
    int r = agg_agent_tls_check(x->easy, mon_utc_ms() / 1000, pin, error, error_len);
    if (r == MON_EAGAIN) /* a kept-alive connection, checked when it was opened */
        return MON_OK;
    if (r < 0 || t->pin || t->ca_file || p->ca_file)
        return r;
    /* The first handshake: this key is the agent's from now on. */
    t->pin = strdup(pin);
    if (!t->pin) {
        snprintf(error, error_len, "out of memory");
        return MON_ENOMEM;
    }
    if (p->opt.on_pinned)
        p->opt.on_pinned(p->opt.ctx, t->id, pin, mon_utc_ms());
    return MON_OK;
}

static void finish(struct agg_poller *p, struct agg_poll_xfer *x, int cc, bool timed_out,
                   int64_t now)
{
    char why[200] = "", error[256] = "";
    int64_t id = x->t->id, due = x->due;
    long status = 0;
    int r;

    agg_pollio_remove(p->io, x->t->shard, x->easy);
    if (timed_out) {
        snprintf(error, sizeof(error), "timeout");
        r = MON_ETIMEDOUT;
    } else {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        r = agg_agent_outcome(cc, status, &x->body, error, sizeof(error));
        if (r == MON_OK && x->t->tls)
            r = tls_check(p, x, error, sizeof(error));
    }
    note_connection(p, x, r == MON_OK);
    fly_unlink(p, x);
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
void agg_poller_on_done(void *ctx, void *easy, int curl_code)
{
    struct agg_poller *p = ctx;
    char *priv = NULL;
    curl_easy_getinfo((CURL *)easy, CURLINFO_PRIVATE, &priv);
    if (priv)
        finish(p, (struct agg_poll_xfer *)(void *)priv, curl_code, false, mon_mono_ms());
}

/* Our timeouts: a request whose deadline passed is failed only after everything that was
 * ready to read has been read, so a loop that was itself late (starved of CPU, stopped) does
 * not blame an agent whose reply was waiting in the socket. */
/* Moves x to the end of the in-flight list with a later deadline. */
static void requeue(struct agg_poller *p, struct agg_poll_xfer *x, int64_t deadline)
{
    if (x->next) {
        if (x->prev)
            x->prev->next = x->next;
        else
            p->fly_head = x->next;
        x->next->prev = x->prev;
        x->prev = p->fly_tail;
        x->next = NULL;
        p->fly_tail->next = x;
        p->fly_tail = x;
    }
    x->deadline = deadline;
}

void agg_poller_expire(struct agg_poller *p)
{
    int64_t t0 = agg_poller_serviced_ms(p, mon_mono_ms());
    if (!p->fly_head || p->fly_head->deadline > t0)
        return;
    agg_pollio_run(p->io, 0);
    while (p->fly_head && p->fly_head->deadline <= t0) {
        struct agg_poll_xfer *x = p->fly_head;
        curl_off_t sent_us = 0;
        /* A request sent late (its connection completed while the loop was behind) gets the
         * whole timeout from when it was sent: the agent must have had that long to answer. */
        if (!x->extended &&
            curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &sent_us) == CURLE_OK &&
            sent_us > 0) {
            int64_t deadline = agg_poller_serviced_ms(p, x->started + (int64_t)(sent_us / 1000)) +
                               p->opt.timeout_ms;
            x->extended = true;
            if (deadline > t0) {
                requeue(p, x, deadline);
                continue;
            }
        }
        finish(p, x, CURLE_OK, true, mon_mono_ms());
    }
}

/* ---- schedule ---- */

void agg_poller_start_poll(struct agg_poller *p, struct agg_poll_target *t, int64_t due,
                           int64_t now)
{
    struct agg_poll_xfer *x;
    uint8_t conf;
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
    conf = t->tls          ? AGG_XFER_CONF_UNSET
           : t->persistent ? AGG_XFER_CONF_PLAIN_KEPT
                           : AGG_XFER_CONF_PLAIN_CLOSE;
    if (conf == AGG_XFER_CONF_UNSET || conf != x->conf) {
        struct agg_agent_tls tls = {
            .on = t->tls, .pin = t->pin, .ca_file = t->ca_file ? t->ca_file : p->ca_file};
        curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, t->persistent ? 0L : 1L);
        agg_agent_easy_tls(x->easy, &tls); /* libcurl copies the strings */
        x->conf = conf;
    }
    x->t = t;
    x->due = due;
    x->started = now;
    x->extended = false;
    x->handshake = agg_poller_needs_handshake(t);
    /* A first-use connection (no pin, no CA) is closed after its poll (agg_agent_easy_tls). */
    x->reusable = t->pin || t->ca_file || p->ca_file;
    x->deadline = agg_poller_serviced_ms(p, now) + p->opt.timeout_ms;
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
    if (x->handshake && ++p->handshakes > p->local.handshakes_in_flight_max)
        p->local.handshakes_in_flight_max = p->handshakes;
}
