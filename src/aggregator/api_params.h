/* SPDX-License-Identifier: MIT */
/* Parsing of REST API requests without I/O: the server id from the path, the query parameters
 * of /timeseries, /recent and /events, and the JSON body of POST/PUT /api/servers. api.c maps
 * the results onto responses; tests and fuzzers call these directly. */
#ifndef MON_AGGREGATOR_API_PARAMS_H
#define MON_AGGREGATOR_API_PARAMS_H

/* Ownership and threads: pure parsing into caller storage (agg_api_params_server_body fills s
 * with malloc'd strings, freed with agg_server_done, and a malloc'd field name); metric names
 * returned are static. Safe from any thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator/model.h"

/* The longest /timeseries range. */
#define AGG_API_MAX_RANGE_S (400LL * 86400)

/* Parses the {id} path segment: a decimal integer ≥ 1. MON_EPARSE / MON_ERANGE otherwise. */
int agg_api_params_server_id(const char *text, int64_t *ret_id);

/* Returns the static name of a history metric (metric.h: cpu_pct, mem_used_pct,
 * disk_used_pct, gpu_util_pct, gpu_mem_used_mb) equal to text, or NULL (also for NULL text). */
const char *agg_api_params_metric(const char *text);

/* Writes the 400 message for an unknown metric ("metric: must be one of cpu_pct, ..."). */
void agg_api_params_metric_error(char *why, size_t why_len);

struct agg_timeseries_params {
    const char *metric; /* static string from agg_api_params_metric */
    const char *agg;    /* static "avg", "max" or "min" */
    int64_t from, to;   /* UTC seconds; from <= to and to - from <= AGG_API_MAX_RANGE_S */
};

/* Checks the query parameters of GET /api/servers/{id}/timeseries (each NULL when absent):
 * metric is required; agg defaults to avg; to defaults to now_s and from to 24 h before to;
 * from/to are ISO-8601 (mon_parse_iso8601). On a bad value returns MON_EINVAL with the 400
 * message in why ("agg: must be avg, max or min") and leaves *ret untouched. */
int agg_api_params_timeseries(const char *metric, const char *agg, const char *from, const char *to,
                              int64_t now_s, struct agg_timeseries_params *ret, char *why,
                              size_t why_len);

struct agg_events_params {
    int64_t limit;     /* 1..1000, default 200 */
    int64_t server_id; /* 0: any server */
    int64_t before;    /* 0: from the newest event */
    const char *type;  /* static event type name, NULL: any */
};

/* Checks the query parameters of GET /api/events (each NULL when absent; empty means absent).
 * On a bad value returns MON_EINVAL with the 400 message in why; *ret untouched. */
int agg_api_params_events(const char *limit, const char *server_id, const char *type,
                          const char *before, struct agg_events_params *ret, char *why,
                          size_t why_len);

/* Checks the query parameters of GET /api/gpus (each NULL when absent; empty means absent):
 * state one of free, busy, idle, error, unknown (*ret_state an enum agg_gpu_state, -1 when
 * absent), server_id a positive integer (*ret_server_id 0 when absent). On a bad value returns
 * MON_EINVAL with the 400 message in why; outputs untouched. */
int agg_api_params_gpus(const char *state, const char *server_id, int *ret_state,
                        int64_t *ret_server_id, char *why, size_t why_len);

/* Applies a POST (create) or PUT (partial update) JSON body of /api/servers onto *s: a fresh
 * default for create, a copy of the stored row for an update. Only the type of each field is
 * checked here (agg_validate_server checks the values); an omitted or empty token keeps the
 * stored one on update and is required on create.
 *
 * Returns MON_OK with *s updated; MON_EINVAL with the message in msg and, when the problem is
 * one field, its name in *err_field (malloc'd, the caller frees; NULL for a body that is not a
 * JSON object); MON_ENOMEM. On failure *s is untouched. */
int agg_api_params_server_body(const char *body, size_t len, bool create, struct agg_server *s,
                               char **err_field, char *msg, size_t msg_len);

#endif
