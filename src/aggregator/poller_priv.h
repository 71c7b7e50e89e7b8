/* SPDX-License-Identifier: MIT */
/* Internals of the poll loop shared by poller.c (schedule, servers, loop, API) and
 * poller_xfer.c (transfers, results, timeouts); nothing else includes this header. */
#ifndef MON_AGGREGATOR_POLLER_PRIV_H
#define MON_AGGREGATOR_POLLER_PRIV_H

/* Ownership and threads: the poller owns its targets, transfers and their buffers; everything
 * here runs on the poller thread except what the lock in struct agg_poller guards (changes,
 * stop, stats), which the API's threads touch through poller.c. */

#include "aggregator/agentclient.h"
#include "aggregator/idmap.h"
#include "aggregator/poller.h"
#include "aggregator/store.h"
#include "common/json_arena.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* One request to an agent; pooled and reused (its easy handle, buffer and options). */
struct agg_poll_xfer {
    CURL *easy;
    struct agg_poll_target *t;
    struct agg_agent_body body;
    int64_t due;      /* monotonic ms */
    int64_t deadline; /* on the serviced clock (see agg_poller_serviced_ms) */
    int64_t started;  /* monotonic ms */
    bool extended;    /* the deadline was moved to the request's sending time */
    bool handshake;   /* counted against max_handshakes: expected to open a TLS connection */
    bool reusable;    /* its connection may be kept (TLS: pinned or CA, not a first use) */
    uint8_t conf;     /* AGG_XFER_CONF_*: the per-poll options its handle has now */
    /* The URL and headers this request uses (the target's at its start). When the server is
     * reconfigured meanwhile, the request takes them over and frees them at its end. */
    char *url;
    void *headers;
    bool owns_request;
    struct agg_poll_xfer *prev, *next; /* in flight, oldest first; or the free list (next only) */
};

/* The per-poll options of a pooled handle (FORBID_REUSE and the TLS ones), set only when the
 * poll needs others than its handle's last poll had: a plain poll to a kept-alive or a
 * per-poll connection leaves them as they are. TLS polls set them every time (they depend on
 * the target's pin and CA). */
#define AGG_XFER_CONF_UNSET       0
#define AGG_XFER_CONF_PLAIN_KEPT  1
#define AGG_XFER_CONF_PLAIN_CLOSE 2

struct agg_poll_target {
    int64_t id;
    char *url;       /* NULL: the server cannot be polled, setup_error says why */
    void *headers;   /* struct curl_slist * */
    int setup_error; /* MON_EINVAL (host or token) or MON_ENOMEM */
    bool persistent; /* kept-alive connection; else a new one per poll */
    bool tls;        /* poll over HTTPS */
    char *pin;       /* "sha256//..." or NULL: pinned at the first handshake */
    char *ca_file;   /* the server's own, or NULL */
    bool dead;       /* removed: freed after the batch of changes */
    /* TLS: a kept-alive connection is open, as far as the last poll tells; churn: a poll that
     * expected one opened a new connection (the agent closes or restarted), so until a poll
     * reuses a connection again every poll is counted as a handshake. */
    bool warm, churn;
    int shard; /* agg_pollio shard (multi handle) of its transfers */
    struct agg_poll_xfer *xfer;
};

struct agg_poll_change {
    struct agg_poll_change *next;
    bool remove;
    int64_t id;
    struct agg_server cfg; /* for an upsert */
};

struct agg_poller {
    struct agg_poller_options opt;
    struct agg_pollio *io;
    pthread_t thread;
    pthread_mutex_t lock; /* guards changes, stop, stats and published_at */
    struct agg_poll_change *changes, *changes_tail;
    bool stop;
    struct agg_poller_stats stats; /* published copy */
    int64_t published_at;
    /* Owned by the poller thread. */
    struct agg_poller_stats local;
    struct agg_idmap by_id;
    struct agg_poll_target **targets; /* ordered by id: the round-robin order */
    size_t n_targets, cap_targets;
    size_t cursor;    /* next target to poll */
    int64_t next_due; /* monotonic ms of the poll at cursor, scaled by n_targets */
    struct agg_poll_xfer *fly_head, *fly_tail, *pool;
    size_t in_flight, transient_in_flight, pooled;
    size_t max_persistent, max_transient, max_in_flight;
    size_t handshakes, max_handshakes; /* new TLS connections in flight, and the cap */
    bool held;                         /* the schedule waits for a socket or a handshake slot */
    int64_t quantum;                   /* ms, see QUANTUM_MS */
    int64_t stalled_ms;        /* time the loop could not service its sockets, see serviced_ms */
    struct agg_sample *sample; /* parse buffer, reused */
    struct mon_json_arena arena;
    int64_t lag_cur, lag_prev, window_end;
    bool was_overloaded;
    int64_t overload_logged, late_logged_base, last_over;
    bool big_freed, warned_sockets;
    int64_t trimmed_at;
    char *ca_file; /* opt.tls_ca_file's copy: for servers without their own */
};

/* The clock our timeouts run on: monotonic time minus the time the loop could not look at its
 * sockets (stopped, starved of CPU, or busy for long stretches). A request whose agent was
 * never given the chance to answer (not even sent yet when the loop stalled) is not failed. */
static inline int64_t agg_poller_serviced_ms(const struct agg_poller *p, int64_t mono)
{
    return mono - p->stalled_ms;
}

/* Whether a poll of t is expected to open a new TLS connection (then it needs a slot). */
static inline bool agg_poller_needs_handshake(const struct agg_poll_target *t)
{
    return t->tls && !(t->warm && t->persistent);
}

/* Starts one poll of t, due at due (reports a failure at once when it cannot start). */
void agg_poller_start_poll(struct agg_poller *p, struct agg_poll_target *t, int64_t due,
                           int64_t now);

/* Ends a transfer without a result (its server was removed, or the loop stops). */
void agg_poller_abort(struct agg_poller *p, struct agg_poll_xfer *x);

/* agg_pollio's report of a finished transfer (ctx: the poller). */
void agg_poller_on_done(void *ctx, void *easy, int curl_code);

/* Fails the requests whose deadline passed, after reading what had arrived. */
void agg_poller_expire(struct agg_poller *p);

/* Frees an idle transfer of the pool. */
void agg_poller_xfer_free(struct agg_poll_xfer *x);

#endif
