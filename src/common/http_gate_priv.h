/* SPDX-License-Identifier: MIT */
/* What the parts of the HTTP front door share and no one else uses: http_gate.c (the door's
 * thread, connections waiting for their first request head, lifetime), http_gate_admit.c
 * (admission, caps and push-out, the connections libmicrohttpd owns) and http_gate_report.c
 * (rate-limited log lines). Threads: everything under "The door's thread only" is touched by
 * that thread alone; lock guards live and n_live, which the server's threads change through
 * mon_http_gate_conn_started/closed. */
#ifndef MON_COMMON_HTTP_GATE_PRIV_H
#define MON_COMMON_HTTP_GATE_PRIV_H

#include "common/http_gate.h"

#include <pthread.h>
#include <stdatomic.h>

#define LINGER_MS       2000 /* after a 4xx: time for the client to read it and hang up */
#define PEEK_MIN_MS     20   /* re-peek a partial head after this, doubling ... */
#define PEEK_MAX_MS     250  /* ... up to this, while nothing new arrives */
#define FULL_RECHECK_MS 100  /* while no connection can be taken: look again after this */
#define ACCEPT_BURST    64
#define REPORT_MS       60000 /* each kind of refusal is logged at most once a minute */

enum pending_state {
    PENDING_WAIT,    /* nothing received yet: polled for input */
    PENDING_PARTIAL, /* part of a head: peeked again on a timer (its bytes stay queued, so
                      * the socket would always poll readable) */
    PENDING_LINGER,  /* answered with a 4xx and half-closed: draining until the client hangs up */
};

struct pending {
    struct pending *prev, *next;
    mon_socket fd;
    uint8_t key[16];
    struct sockaddr_storage addr;
    socklen_t addr_len;
    enum pending_state state;
    int64_t deadline_ms, next_peek_ms;
    unsigned backoff_ms;
    size_t seen;
};

struct mon_http_conn {
    struct mon_http_conn *prev, *next;
    mon_socket fd;
    uint8_t key[16];
    _Atomic int64_t deadline_ms;
    atomic_bool trusted;
    bool gone; /* shut down by the door, to be closed by the server; guarded by the lock */
};

enum report_kind {
    REPORT_REFUSED,
    REPORT_PER_IP,
    REPORT_FULL,
    REPORT_SLOW,
    REPORT_IDLE,
    REPORT_BAD
};

struct report {
    unsigned count;
    int64_t logged_ms;
    char last[64]; /* the latest client address */
    char detail[160];
};

struct mon_http_gate {
    struct mon_http_gate_options opt;
    mon_socket listener;
    uint16_t port;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    /* The door's thread only: */
    struct pending *pending;
    size_t n_pending;
    char *peek_buf;
    size_t peek_len;
    mon_pollfd *pfds;
    struct pending **polled;
    struct report reports[REPORT_BAD + 1];
    bool handed_over; /* since the last timers() */
    /* Shared with the server's threads: */
    pthread_mutex_t lock;
    struct mon_http_conn *live;
    size_t n_live; /* not gone */
};

/* ---- http_gate_report.c (the door's thread) ---- */

/* Counts one event of kind (client and detail: the latest, may be NULL). */
void mon_http_gate_report(struct mon_http_gate *g, enum report_kind kind,
                          const struct sockaddr *client, const char *detail);

/* Logs each kind of event at most once a minute, with the count since the last line. */
void mon_http_gate_reports_flush(struct mon_http_gate *g, int64_t now);

/* ---- http_gate.c (the door's thread) ---- */

/* Closes and frees a waiting connection. */
void mon_http_gate_pending_drop(struct mon_http_gate *g, struct pending *p);

/* Answers status {"error": msg} on the raw socket, half-closes it and lets it linger. */
void mon_http_gate_pending_answer(struct mon_http_gate *g, struct pending *p, int status,
                                  const char *msg, int64_t now);

/* The socket is readable (or due for another peek): looks at what the client sent; may hand
 * p over or free it. */
void mon_http_gate_pending_read(struct mon_http_gate *g, struct pending *p, int64_t now);

/* ---- http_gate_admit.c (the door's thread; takes the lock) ---- */

/* True when a new connection could be taken now: below the cap, or someone to push out. */
bool mon_http_gate_may_accept(struct mon_http_gate *g);

/* Applies allow_from and the caps to an accepted socket (pushing out another connection when
 * full) and queues it at the door, or closes it. */
void mon_http_gate_admit(struct mon_http_gate *g, mon_socket fd,
                         const struct sockaddr_storage *addr, socklen_t addr_len, int64_t now);

#endif
