/* SPDX-License-Identifier: MIT */
/* GET /api/servers and GET /api/servers/summary: the query parameters (filters, sorting,
 * paging and field selection, so that a dashboard of thousands of servers fetches one page
 * instead of megabytes) parsed without I/O, the cache of the plain list, and the handlers. */
#ifndef MON_AGGREGATOR_API_LIST_H
#define MON_AGGREGATOR_API_LIST_H

/* Ownership and threads: the list cache from agg_list_cache_new belongs to the caller
 * (agg_list_cache_free) and borrows the engine; replies are written into the caller's response.
 * agg_api_list_get, agg_api_list_summary and agg_list_cache_invalidate are thread-safe (the HTTP
 * workers call them; the cache has one mutex); agg_api_list_params is pure. */

#include "aggregator/state.h"

#include <stdbool.h>
#include <stddef.h>

struct agg_engine;
struct agg_list_cache;
struct mon_http_request;
struct mon_http_response;

/* The most servers one request may ask for with limit. */
#define AGG_API_LIST_MAX_LIMIT 10000

/* Parses status, q, sort, offset, limit and fields (each NULL when absent; empty means
 * absent) into *ret; *ret_any tells whether any was given (none: the plain list, which the API
 * caches). q is borrowed. On a bad value returns MON_EINVAL with the 400 message in why
 * ("sort: must be one of id, name, status, cpu, gpu") and leaves *ret untouched. */
int agg_api_list_params(const char *status, const char *q, const char *sort, const char *offset,
                        const char *limit, const char *fields, struct agg_list_query *ret,
                        bool *ret_any, char *why, size_t why_len);

/* The plain list (no parameters) is shared by every client and rebuilt by a thread of its own
 * every 500 ms while clients ask for it, so that no request waits for a rebuild. e is borrowed
 * (free the cache first). Returns MON_OK with the cache in *ret_cache (owned by the caller:
 * agg_list_cache_free), MON_ENOMEM or MON_ESYS (no thread). */
int agg_list_cache_new(struct agg_engine *e, struct agg_list_cache **ret_cache);
void agg_list_cache_free(struct agg_list_cache *c);

/* Drops the cached list (after a change made through the API, so that it shows at once: the
 * next request waits for a fresh one). */
void agg_list_cache_invalidate(struct agg_list_cache *c);

/* GET /api/servers: 400 for bad parameters; with parameters the array of the page asked for
 * and X-Total-Count (how many matched before paging); without, the whole list (cached). */
void agg_api_list_get(struct agg_engine *e, struct agg_list_cache *c, struct mon_http_request *req,
                      struct mon_http_response *resp);

/* GET /api/servers/summary: {total, enabled, online, status: {online, degraded, offline,
 * disabled}, poll: (as /api/health)}. */
void agg_api_list_summary(struct agg_engine *e, struct mon_http_response *resp);

#endif
