/* SPDX-License-Identifier: MIT */
/* Readiness notification for many sockets at a cost independent of their number (epoll on
 * Linux), for the aggregator's poll loop; elsewhere mon_os_evloop_new says MON_EUNSUPPORTED and
 * the caller uses a simpler wait. */
#ifndef MON_COMMON_OS_EVLOOP_H
#define MON_COMMON_OS_EVLOOP_H

/* Ownership and threads: the loop from mon_os_evloop_new belongs to the caller
 * (mon_os_evloop_free); the sockets it watches stay the caller's. One thread (the poller) adds,
 * changes, removes and waits; only mon_os_evloop_wake may be called from any other thread. */

#include <stdint.h>

struct mon_os_evloop;

enum {
    MON_OS_EV_IN = 1,  /* readable (or the peer closed) */
    MON_OS_EV_OUT = 2, /* writable */
    MON_OS_EV_ERR = 4, /* error on the socket */
};

struct mon_os_event {
    uint64_t tag; /* what the caller gave with the socket (not UINT64_MAX) */
    unsigned events;
};

/* Creates an event loop with a built-in wake-up. MON_OK, MON_EUNSUPPORTED where the OS has no
 * scalable readiness API here (Windows), MON_ENOMEM or MON_ESYS. */
int mon_os_evloop_new(struct mon_os_evloop **ret);

/* Frees the loop (the watched sockets stay open). Accepts NULL. */
void mon_os_evloop_free(struct mon_os_evloop *ev);

/* Starts watching sock for MON_OS_EV_IN / MON_OS_EV_OUT (its events carry tag), changes what
 * is watched, or stops watching it (del also accepts a socket that is already closed).
 * MON_OK or a MON_E* code. */
int mon_os_evloop_add(struct mon_os_evloop *ev, int64_t sock, unsigned events, uint64_t tag);
int mon_os_evloop_mod(struct mon_os_evloop *ev, int64_t sock, unsigned events, uint64_t tag);
int mon_os_evloop_del(struct mon_os_evloop *ev, int64_t sock);

/* Waits at most timeout_ms (0: only what is ready now, -1: no limit) for ready sockets or a
 * wake-up, and writes at most max events. Returns the number written (0 after a timeout or a
 * wake-up), or a MON_E* code. Interrupted waits return 0. */
int mon_os_evloop_wait(struct mon_os_evloop *ev, struct mon_os_event *out, int max, int timeout_ms);

/* Sleeps at most timeout_ms, returning early only for a wake-up (sockets that become ready
 * meanwhile are reported by the next mon_os_evloop_wait): a loop that collects replies in
 * batches wakes once per batch instead of once per reply. */
void mon_os_evloop_pause(struct mon_os_evloop *ev, int timeout_ms);

/* Makes a wait or pause in progress (or the next one) return. Safe from any thread. */
void mon_os_evloop_wake(struct mon_os_evloop *ev);

#endif
