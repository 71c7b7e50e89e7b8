/* SPDX-License-Identifier: MIT */
/* The poll loop: one thread running a libcurl multi handle on an event loop that fetches every
 * enabled agent's /v1/snapshot once per interval, in a fixed round-robin order spread evenly
 * over the interval, at most one request in flight per server, connections kept alive. When
 * the loop cannot keep up, polls start late but in the same order (every server's interval
 * stretches alike) and a timeout is only declared after every reply that had arrived was read,
 * so our own slowness never makes a healthy agent fail. */
#ifndef MON_AGGREGATOR_POLLER_H
#define MON_AGGREGATOR_POLLER_H

/* Ownership: the poller from agg_poller_start belongs to the caller (agg_poller_stop); servers
 * and options are copied; samples passed to the callbacks are borrowed for the duration of the
 * call. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agg_poller;
struct agg_sample;
struct agg_server;

/* A finished poll: sample (borrowed: valid during the call only) on success, else NULL and an
 * error text ("timeout", "bad reply: cpu_pct: not a number"...). Runs on the poller thread. */
typedef void (*agg_poll_result_fn)(void *ctx, int64_t server_id, const struct agg_sample *sample,
                                   const char *error, int64_t now_utc_ms, int64_t now_mono_ms);
/* Trust on first use: the first TLS handshake with an unpinned server gave this pin (the
 * poller already uses it for the next polls). Runs on the poller thread. */
typedef void (*agg_poll_pinned_fn)(void *ctx, int64_t server_id, const char *pin,
                                   int64_t now_utc_ms);
/* Periodic work on the poller thread (offline detection). */
typedef void (*agg_poll_tick_fn)(void *ctx, int64_t now_utc_ms, int64_t now_mono_ms);

struct agg_poller_options {
    int64_t interval_ms;
    int64_t timeout_ms;
    int64_t max_response_bytes;
    int64_t tick_ms; /* 0: 250 */
    /* Sockets the poller may hold (open-file limit minus what the rest of the process needs);
     * 0: no limit. With fewer than one per server, the servers past the limit get a new
     * connection for each poll instead of a kept-alive one. */
    size_t max_sockets;
    /* New TLS connections (handshakes) in flight at once; 0: 128. Polls that need one wait
     * for a free slot, in their round-robin order, rather than all starting together when
     * thousands of agents (re)connect at once and timing out while they share the CPU. */
    size_t max_handshakes;
    bool simple_io; /* tests: use the curl_multi_poll driver even where epoll exists */
    agg_poll_result_fn on_result;
    agg_poll_tick_fn on_tick;     /* may be NULL */
    agg_poll_pinned_fn on_pinned; /* may be NULL */
    const char *tls_ca_file;      /* for servers without their own (copied); NULL: none */
    void *ctx;
};

struct agg_poller_stats {
    uint64_t polls_started;
    uint64_t polls_completed; /* finished with a valid sample */
    uint64_t polls_failed;    /* finished with an error */
    uint64_t polls_in_window; /* completed within one interval of their due time */
    /* Polls that started more than one interval after their due time, or were due while the
     * previous request to the same server was still running (then skipped). */
    uint64_t late_polls;
    int64_t lag_ms;  /* how late polls started, worst of the last one or two intervals */
    bool overloaded; /* lag_ms beyond the interval: the loop cannot keep up */
    size_t targets, in_flight;
    size_t persistent;               /* servers polled over kept-alive connections */
    uint64_t tls_handshakes;         /* new TLS connections made (finished polls that opened one) */
    uint64_t handshake_waits;        /* times the schedule waited for a free handshake slot */
    size_t handshakes_in_flight;     /* polls in flight counted against max_handshakes */
    size_t handshakes_in_flight_max; /* the most there were at once */
    const char *io_kind;             /* "epoll" or "curl_multi_poll" */
};

/* Starts the thread with no servers. Returns MON_OK, or MON_ENOMEM / MON_ESYS with why. */
int agg_poller_start(const struct agg_poller_options *opt, struct agg_poller **ret, char *why,
                     size_t why_len);

/* Stops the thread (aborting requests in flight) and frees. Accepts NULL. */
void agg_poller_stop(struct agg_poller *p);

/* Adds or updates a server (copied); a disabled server is removed. Takes effect at its next
 * poll. Thread-safe. MON_OK or MON_ENOMEM. */
int agg_poller_upsert(struct agg_poller *p, const struct agg_server *s);

/* Removes a server; a request in flight is aborted. Thread-safe. */
void agg_poller_remove(struct agg_poller *p, int64_t server_id);

/* Counters for /api/health. Thread-safe. */
void agg_poller_get_stats(struct agg_poller *p, struct agg_poller_stats *ret);

/* Share of finished and skipped polls that completed within their interval, 0..100 (100 when
 * nothing has finished yet). */
double agg_poller_in_window_pct(const struct agg_poller_stats *s);

#endif
