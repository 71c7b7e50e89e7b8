/* SPDX-License-Identifier: MIT */
/* The poller's I/O driver: libcurl multi handles driven by readiness events (epoll through
 * mon_os_evloop, curl_multi_socket_action), so that the cost of a wait does not grow with the
 * number of connections. Servers are spread over shards of at most 128, each with its own
 * multi handle: libcurl 7.88 walks every cached connection of a multi handle whenever a
 * transfer is removed from it, so one handle for 10,000 kept-alive connections made every
 * poll cost O(n). Where the OS layer has no event loop (Windows) there is a single multi
 * handle driven by curl_multi_perform + curl_multi_poll, fine for the fleets one Windows PC
 * monitors. */
#ifndef MON_AGGREGATOR_POLLIO_H
#define MON_AGGREGATOR_POLLIO_H

/* Ownership and threads: the driver from agg_pollio_new belongs to the caller (agg_pollio_free);
 * easy handles added stay the caller's. Only the poller thread calls it, except agg_pollio_wake. */

#include <stdbool.h>
#include <stddef.h>

struct agg_pollio;

/* A finished transfer: easy is the CURL * given to agg_pollio_add, curl_code its CURLcode.
 * The callee may remove it (agg_pollio_remove) and free it. */
typedef void (*agg_pollio_done_fn)(void *ctx, void *easy, int curl_code);

/* Creates the driver. simple forces the single-handle fallback (tests run it on Linux too).
 * MON_OK, MON_ENOMEM or MON_ESYS. */
int agg_pollio_new(bool simple, agg_pollio_done_fn done, void *ctx, struct agg_pollio **ret);

/* Frees the driver and its multi handles (remove every easy handle first). Accepts NULL. */
void agg_pollio_free(struct agg_pollio *io);

/* The shard for a new server (one with room, or a new one). ≥ 0, or MON_ENOMEM. */
int agg_pollio_join(struct agg_pollio *io);

/* A server left its shard. */
void agg_pollio_leave(struct agg_pollio *io, int shard);

/* Sets up a new easy handle for the driver (before its first agg_pollio_add): the sockets its
 * connections open are known to the loop, which then keeps a kept-alive one watched between
 * polls. The handle must be used with this driver only. */
void agg_pollio_easy_init(struct agg_pollio *io, void *easy);

/* Starts (adds) or ends (removes) a transfer in a shard. add: MON_OK or MON_ENOMEM. */
int agg_pollio_add(struct agg_pollio *io, int shard, void *easy);
void agg_pollio_remove(struct agg_pollio *io, int shard, void *easy);

/* Waits at most timeout_ms for socket activity, a libcurl timer or a wake-up, lets libcurl act
 * on what is ready and reports finished transfers to the done callback. A call with 0 acts
 * only on what is ready now. */
void agg_pollio_run(struct agg_pollio *io, int timeout_ms);

/* Sleeps at most timeout_ms, or until a wake-up; replies arriving meanwhile wait for the next
 * run (the fallback driver returns early for them too). */
void agg_pollio_pause(struct agg_pollio *io, int timeout_ms);

/* Makes a run or pause in progress on another thread return soon. Thread-safe. */
void agg_pollio_wake(struct agg_pollio *io);

/* "epoll" or "curl_multi_poll": which driver is in use (for the log and tests). */
const char *agg_pollio_kind(const struct agg_pollio *io);

/* Number of shards (multi handles). */
size_t agg_pollio_shards(const struct agg_pollio *io);

#endif
