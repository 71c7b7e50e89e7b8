/* SPDX-License-Identifier: MIT */
/* The GPU usage endpoints (issue 15): GET /api/usage, /api/usage.csv and /api/usage/timeseries,
 * stored hours from the store and the current hour from the engine's memory. */
#ifndef MON_AGGREGATOR_API_USAGE_H
#define MON_AGGREGATOR_API_USAGE_H

/* Ownership and threads: the handlers borrow the engine and the store and write into the
 * caller's response; they run on the HTTP workers and are thread-safe (the engine and the store
 * lock themselves). */

#include <stdbool.h>

struct agg_engine;
struct agg_store;
struct mon_http_request;
struct mon_http_response;

/* GET /api/usage (csv false) and /api/usage.csv (csv true). */
void agg_api_usage_report(struct agg_engine *e, struct agg_store *st, struct mon_http_request *req,
                          struct mon_http_response *resp, bool csv);

/* GET /api/usage/timeseries. */
void agg_api_usage_timeseries(struct agg_engine *e, struct agg_store *st,
                              struct mon_http_request *req, struct mon_http_response *resp);

#endif
