/* SPDX-License-Identifier: MIT */
/* Failed-authentication bookkeeping per client address: after MON_AUTHLIMIT_FREE wrong tokens
 * an address must wait (1 s, doubling with each further failure, at most 60 s) before its next
 * token is even compared, and failures are logged with the address, at most once a minute per
 * address and a few lines a minute in all. A success never resets the count: an attacker that
 * shares an address with a legitimate client must not profit from that client's successes. */
#ifndef MON_COMMON_AUTHLIMIT_H
#define MON_COMMON_AUTHLIMIT_H

/* Ownership and threads: the limiter from mon_authlimit_new belongs to the caller
 * (mon_authlimit_free, after the last request); client addresses and texts are only read during
 * a call. mon_authlimit_wait_s and mon_authlimit_failed are thread-safe (one mutex): every HTTP
 * worker calls them. */

#include <stdint.h>

#include "common/os/os.h"

#define MON_AUTHLIMIT_FREE      20     /* wrong tokens before the first wait */
#define MON_AUTHLIMIT_MAX_WAIT  60000  /* ms */
#define MON_AUTHLIMIT_FORGET_MS 600000 /* a quiet address starts again from zero after this */

struct mon_authlimit;

/* daemon names the daemon in log lines ("agent", "aggregator"). */
int mon_authlimit_new(const char *daemon, struct mon_authlimit **ret);

/* Accepts NULL. */
void mon_authlimit_free(struct mon_authlimit *l);

/* Seconds (rounded up) the client must still wait before a token it presents may be compared;
 * 0 when it may try now. Lock-free while no address is waiting. */
int mon_authlimit_wait_s(struct mon_authlimit *l, const struct sockaddr *client, int64_t now_ms);

/* Records a wrong token from client; what says which ("bearer token on GET /v1/snapshot"). */
void mon_authlimit_failed(struct mon_authlimit *l, const struct sockaddr *client, const char *what,
                          int64_t now_ms);

#endif
