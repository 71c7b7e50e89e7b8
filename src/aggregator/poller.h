/* SPDX-License-Identifier: MIT */
/* The poll loop: one thread running a libcurl multi handle that fetches every enabled agent's
 * /v1/snapshot once per interval, spread evenly over the interval, at most one request in
 * flight per server, connections kept alive. */
#ifndef MON_AGGREGATOR_POLLER_H
#define MON_AGGREGATOR_POLLER_H

#include <stddef.h>
#include <stdint.h>

struct agg_poller;
struct agg_sample;
struct agg_server;

/* A finished poll: sample (owned by the callee) on success, else NULL and an error text
 * ("timeout", "bad reply: cpu_pct: not a number"...). Runs on the poller thread. */
typedef void (*agg_poll_result_fn)(void *ctx, int64_t server_id, struct agg_sample *sample,
                                   const char *error, int64_t now_utc_ms, int64_t now_mono_ms);
/* Periodic work on the poller thread (offline detection, checkpoints). */
typedef void (*agg_poll_tick_fn)(void *ctx, int64_t now_utc_ms, int64_t now_mono_ms);

struct agg_poller_options {
    int64_t interval_ms;
    int64_t timeout_ms;
    int64_t max_response_bytes;
    int64_t tick_ms; /* 0: 250 */
    agg_poll_result_fn on_result;
    agg_poll_tick_fn on_tick; /* may be NULL */
    void *ctx;
};

struct agg_poller_stats {
    uint64_t polls_started;
    uint64_t polls_completed; /* finished with a valid sample */
    uint64_t polls_failed;    /* finished with an error */
    uint64_t polls_in_window; /* completed within one interval of their due time */
    uint64_t late_polls;      /* due while the previous request was still running: skipped */
    int64_t lag_ms;           /* how late the most overdue recent poll started */
    size_t targets, in_flight;
};

/* Starts the thread with no servers. Returns MON_OK, or MON_ENOMEM / MON_ESYS with why. */
int agg_poller_start(const struct agg_poller_options *opt, struct agg_poller **ret, char *why,
                     size_t why_len);

/* Stops the thread (aborting requests in flight) and frees. Accepts NULL. */
void agg_poller_stop(struct agg_poller *p);

/* Adds or updates a server (copied); a disabled server is removed. Takes effect at its next
 * poll; phases are recomputed when the set changes. Thread-safe. MON_OK or MON_ENOMEM. */
int agg_poller_upsert(struct agg_poller *p, const struct agg_server *s);

/* Removes a server; a request in flight is aborted. Thread-safe. */
void agg_poller_remove(struct agg_poller *p, int64_t server_id);

/* Counters for /api/health. Thread-safe. */
void agg_poller_get_stats(struct agg_poller *p, struct agg_poller_stats *ret);

/* Share of finished and skipped polls that completed within their interval, 0..100 (100 when
 * nothing has finished yet). */
double agg_poller_in_window_pct(const struct agg_poller_stats *s);

#endif
