/* SPDX-License-Identifier: MIT */
/* GET /api/usage, /api/usage.csv and /api/usage/timeseries without I/O: the query parameters,
 * the merge of stored rows with the current hour from memory into the requested grouping, and
 * the JSON and CSV (RFC 4180) bodies. api_usage.c does the reading; tests and fuzzers call
 * these directly. */
#ifndef MON_AGGREGATOR_USAGE_REPORT_H
#define MON_AGGREGATOR_USAGE_REPORT_H

/* Ownership and threads: pure (no I/O, no state): a report is caller storage whose arrays
 * agg_usage_report_done frees; JSON trees and CSV texts returned belong to the caller. Safe from
 * any thread. */

#include "aggregator/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest range of a usage request. */
#define AGG_USAGE_MAX_RANGE_S (400LL * 86400)

enum { AGG_USAGE_BY_USER = 1, AGG_USAGE_BY_SERVER = 2 }; /* bits of agg_usage_params.group */

struct agg_usage_params {
    int64_t from, to;  /* UTC s, whole hours: the hours that meet the requested [from, to) */
    int group;         /* AGG_USAGE_BY_* bits, at least one */
    int64_t server_id; /* 0: all */
    bool has_user;
    char user[AGG_USAGE_USER_MAX];
    int64_t bucket_s; /* timeseries: 3600 or 86400 */
    int64_t offset_s; /* timeseries: UTC offset of the days (tz_offset minutes × 60) */
};

/* Checks the query parameters (each NULL when absent; empty means absent): from/to ISO-8601
 * (to defaults to now_s, from to 7 days before to; from < to; at most 400 days), widened to
 * whole hours; group_by "user" (default), "server" or "user,server"; server_id a positive
 * integer; user at most 63 bytes; bucket "1h" or "1d" (default 1d); tz_offset minutes east of
 * UTC, whole hours, -720..840 (default 0). On a bad value returns MON_EINVAL with the 400
 * message in why; *ret untouched. */
int agg_usage_params_parse(const char *from, const char *to, const char *group_by,
                           const char *server_id, const char *user, const char *bucket,
                           const char *tz_offset, int64_t now_s, struct agg_usage_params *ret,
                           char *why, size_t why_len);

/* The name of a server that exists now (the rows carry the name they were written with). */
struct agg_usage_server_name {
    int64_t id;
    const char *name;
};

/* One line of the report. */
struct agg_usage_line {
    struct agg_usage_row sum; /* user "" when not grouped by user; server_id 0 when not by
                                 server */
    bool deleted;             /* grouped by server and the server no longer exists */
    bool partial;             /* includes the current hour from memory */
};

struct agg_usage_report {
    int64_t from, to;
    int group;
    bool partial;                 /* the range includes the current hour */
    struct agg_usage_line *lines; /* ordered by GPU time, largest first */
    size_t n;
    struct agg_usage_row total;
};

/* Merges the stored sums (one row per server and user, agg_store_usage_query) and the current
 * hour's rows from memory (partial) into lines of p->group; names of servers that exist are
 * taken from servers (sorted by id), others keep their stored names and are marked deleted.
 * *ret owns its lines (agg_usage_report_done). MON_OK or MON_ENOMEM. */
int agg_usage_report_build(const struct agg_usage_params *p, const struct agg_usage_row *stored,
                           size_t n_stored, const struct agg_usage_row *current, size_t n_current,
                           const struct agg_usage_server_name *servers, size_t n_servers,
                           bool partial, struct agg_usage_report *ret);
void agg_usage_report_done(struct agg_usage_report *r);

/* {"from", "to", "group_by", "partial", "rows": [...], "total": {...}} (docs/api.md), written
 * as text (no cJSON tree: 5,000 lines cost hundreds of milliseconds that way), byte for byte
 * what cJSON_PrintUnformatted printed. *ret malloc'd. MON_OK or MON_ENOMEM. */
int agg_usage_report_json(const struct agg_usage_report *r, char **ret, size_t *ret_len);

/* The same lines as CSV: UTF-8 with a byte order mark (spreadsheets then read it as UTF-8),
 * a header row, CRLF line ends, fields quoted per RFC 4180 where they need it, and text that a
 * spreadsheet would run as a formula (=, +, -, @ first) prefixed with '. *ret malloc'd.
 * MON_OK or MON_ENOMEM. */
int agg_usage_report_csv(const struct agg_usage_report *r, char **ret, size_t *ret_len);

#endif
