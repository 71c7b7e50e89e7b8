/* SPDX-License-Identifier: MIT */
/* Fuzzes the GPU usage endpoints from a raw query string (/api/usage, /api/usage.csv and
 * /api/usage/timeseries: from, to, group_by, server_id, user, bucket, tz_offset): the
 * parameters are checked as agg_usage_params_parse reads them; a valid request is then answered
 * from a few rows that carry the fuzzed user and server names ("name=" names the server), the
 * JSON is read back and the CSV is parsed as RFC 4180 to check that every line and field
 * survived quoting. */
#include "fuzz_util.h"

#include "aggregator/store.h"
#include "aggregator/usage.h"
#include "aggregator/usage_report.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 32

static int expected_group(const char *g)
{
    if (!g || !*g || strcmp(g, "user") == 0)
        return AGG_USAGE_BY_USER;
    if (strcmp(g, "server") == 0)
        return AGG_USAGE_BY_SERVER;
    if (strcmp(g, "user,server") == 0 || strcmp(g, "server,user") == 0)
        return AGG_USAGE_BY_USER | AGG_USAGE_BY_SERVER;
    return -1;
}

/* Returns true when the parameters were valid (*ret filled). */
static bool check_params(const struct fuzz_query *q, struct agg_usage_params *ret)
{
    static const struct agg_usage_params sentinel = {.from = -7, .to = -7, .group = -7};
    struct agg_usage_params p = sentinel;
    const char *from = fuzz_query_get(q, "from"), *to = fuzz_query_get(q, "to");
    const char *user = fuzz_query_get(q, "user"), *bucket = fuzz_query_get(q, "bucket");
    const char *group = fuzz_query_get(q, "group_by");
    char why[1024];
    int r;

    memset(why, 'x', sizeof(why));
    r = agg_usage_params_parse(from, to, group, fuzz_query_get(q, "server_id"), user, bucket,
                               fuzz_query_get(q, "tz_offset"), FUZZ_NOW_S, &p, why, sizeof(why));
    if (r < 0) {
        FUZZ_CHECK(r == MON_EINVAL && fuzz_terminated(why, sizeof(why)) && why[0]);
        FUZZ_CHECK(memcmp(&p, &sentinel, sizeof(p)) == 0);
        return false;
    }
    FUZZ_CHECK(r == MON_OK);
    /* Whole hours, in order, at most 400 days before the widening to whole hours. */
    FUZZ_CHECK(p.from >= 0 && p.from < p.to);
    FUZZ_CHECK(p.from % AGG_USAGE_HOUR_S == 0 && p.to % AGG_USAGE_HOUR_S == 0);
    FUZZ_CHECK(p.to - p.from <= AGG_USAGE_MAX_RANGE_S + 2 * AGG_USAGE_HOUR_S);
    if (to && *to) {
        int64_t t = -1;
        FUZZ_CHECK(mon_parse_iso8601(to, &t) == MON_OK && t <= p.to && p.to - t < 3600);
    } else {
        FUZZ_CHECK(p.to == FUZZ_NOW_S); /* FUZZ_NOW_S is a whole hour */
    }
    if (from && *from) {
        int64_t t = -1;
        FUZZ_CHECK(mon_parse_iso8601(from, &t) == MON_OK && t >= p.from && t - p.from < 3600);
    }
    FUZZ_CHECK(p.group == expected_group(group));
    FUZZ_CHECK(p.server_id >= 0);
    FUZZ_CHECK(p.has_user == (user && *user));
    FUZZ_CHECK(!p.has_user || strcmp(p.user, user) == 0);
    FUZZ_CHECK(p.bucket_s == AGG_USAGE_HOUR_S || p.bucket_s == AGG_USAGE_DAY_S);
    FUZZ_CHECK((p.bucket_s == AGG_USAGE_HOUR_S) == (bucket && strcmp(bucket, "1h") == 0));
    FUZZ_CHECK(p.offset_s % AGG_USAGE_HOUR_S == 0 && p.offset_s >= -720 * 60 &&
               p.offset_s <= 840 * 60);
    *ret = p;
    return true;
}

/* Reads one RFC 4180 field at *at into out (quotes removed, doubled quotes undone); returns the
 * character that ended it: ',', '\n' (after CR LF) or '\0' at the end. */
static char csv_field(const char **at, char *out, size_t size)
{
    const char *p = *at;
    size_t n = 0;
    char end;

    if (*p == '"') {
        for (p++;; p++) {
            FUZZ_CHECK(*p != '\0'); /* an unterminated quoted field */
            if (*p == '"') {
                if (p[1] != '"')
                    break;
                p++;
            }
            FUZZ_CHECK(n + 1 < size);
            out[n++] = *p;
        }
        p++;
    } else {
        for (; *p && *p != ',' && *p != '\r'; p++) {
            FUZZ_CHECK(*p != '"' && *p != '\n');
            FUZZ_CHECK(n + 1 < size);
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    if (*p == ',') {
        end = ',';
        p++;
    } else if (*p == '\r') {
        FUZZ_CHECK(p[1] == '\n');
        end = '\n';
        p += 2;
    } else {
        FUZZ_CHECK(*p == '\0');
        end = '\0';
    }
    *at = p;
    return end;
}

/* Reads one record into fields (each malloc'd); returns the number of fields, 0 at the end. */
static size_t csv_record(const char **at, char **fields)
{
    size_t n = 0;
    char buf[4096], end;
    if (**at == '\0')
        return 0;
    do {
        FUZZ_CHECK(n < MAX_FIELDS);
        end = csv_field(at, buf, sizeof(buf));
        fields[n++] = fuzz_strdup((const uint8_t *)buf, strlen(buf));
    } while (end == ',');
    FUZZ_CHECK(end == '\n'); /* every record ends with CR LF */
    return n;
}

static void free_fields(char **fields, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(fields[i]);
}

/* The text a spreadsheet sees: a leading ' defuses a formula. */
static bool csv_text_is(const char *field, const char *text)
{
    if (text[0] && strchr("=+-@\t\r", text[0]))
        return field[0] == '\'' && strcmp(field + 1, text) == 0;
    return strcmp(field, text) == 0;
}

static void check_csv(const struct agg_usage_report *r)
{
    char *csv = NULL, *header[MAX_FIELDS], *fields[MAX_FIELDS];
    size_t len = 0, n_header, n, lines = 0;
    const char *at;

    FUZZ_CHECK(agg_usage_report_csv(r, &csv, &len) == MON_OK);
    FUZZ_CHECK(strlen(csv) == len && memcmp(csv, "\xef\xbb\xbf", 3) == 0);
    at = csv + 3;
    n_header = csv_record(&at, header);
    FUZZ_CHECK(n_header > 3 && strcmp(header[0], "user") == 0 &&
               strcmp(header[2], "server_name") == 0);
    while ((n = csv_record(&at, fields)) > 0) {
        const struct agg_usage_line *l = &r->lines[lines];
        FUZZ_CHECK(lines < r->n && n == n_header);
        FUZZ_CHECK(csv_text_is(fields[0], (r->group & AGG_USAGE_BY_USER) ? l->sum.user : ""));
        FUZZ_CHECK(
            csv_text_is(fields[2], (r->group & AGG_USAGE_BY_SERVER) ? l->sum.server_name : ""));
        free_fields(fields, n);
        lines++;
    }
    FUZZ_CHECK(lines == r->n);
    free_fields(header, n_header);
    free(csv);
}

static void check_json(const struct agg_usage_report *r)
{
    cJSON *back, *rows;
    char *text = NULL;
    size_t len = 0;
    FUZZ_CHECK(agg_usage_report_json(r, &text, &len) == MON_OK);
    FUZZ_CHECK(text && strlen(text) == len);
    back = cJSON_Parse(text);
    FUZZ_CHECK(back != NULL);
    rows = cJSON_GetObjectItemCaseSensitive(back, "rows");
    FUZZ_CHECK(cJSON_IsArray(rows) && (size_t)cJSON_GetArraySize(rows) == r->n);
    for (size_t i = 0; i < r->n; i++) {
        const cJSON *o = cJSON_GetArrayItem(rows, (int)i);
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "user");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "server_name");
        if (r->group & AGG_USAGE_BY_USER)
            FUZZ_CHECK(cJSON_IsString(u) && strcmp(u->valuestring, r->lines[i].sum.user) == 0);
        else
            FUZZ_CHECK(cJSON_IsNull(u));
        if (r->group & AGG_USAGE_BY_SERVER)
            FUZZ_CHECK(cJSON_IsString(s) &&
                       strcmp(s->valuestring, r->lines[i].sum.server_name) == 0);
        else
            FUZZ_CHECK(cJSON_IsNull(s));
    }
    cJSON_Delete(back);
    free(text);
}

static struct agg_usage_row row(int64_t ts, int64_t server, const char *name, const char *user,
                                double gpu_s)
{
    struct agg_usage_row u = {.ts = ts, .server_id = server, .gpu_seconds = gpu_s};
    u.busy_gpu_seconds = gpu_s / 2;
    u.mem_mb_seconds = gpu_s * 1000;
    u.max_gpus = 1;
    u.processes = 2;
    u.first_seen = ts + 5;
    u.last_seen = ts + 3595;
    mon_strlcpy(u.server_name, name, sizeof(u.server_name));
    mon_strlcpy(u.user, user, sizeof(u.user));
    return u;
}

/* A report of rows named after the request: the user (or "alice"), a server named by "name="
 * that still exists, a deleted one and the current hour of the first, partial. */
static void check_report(const struct fuzz_query *q, const struct agg_usage_params *p)
{
    const char *name = fuzz_query_get(q, "name");
    const char *user = p->has_user ? p->user : "alice";
    int64_t sid = p->server_id > 0 ? p->server_id : 1, other = sid == 2 ? 3 : 2;
    struct agg_usage_row stored[3], current[1];
    struct agg_usage_server_name servers[1] = {{sid, name ? name : "gpu-01"}};
    struct agg_usage_report r;
    double total = 0, sum = 0;

    stored[0] = row(p->from, sid, name ? name : "gpu-01", user, 3600);
    stored[1] = row(p->from, other, "old,\"gpu\"", AGG_USAGE_UNKNOWN_USER, 1800);
    stored[2] = row(p->from + 3600, other, "old,\"gpu\"", user, 900);
    current[0] = row(p->to - 3600, sid, "gpu-01", user, 60);
    for (size_t i = 0; i < 3; i++)
        total += stored[i].gpu_seconds;
    total += current[0].gpu_seconds;
    FUZZ_CHECK(agg_usage_report_build(p, stored, 3, current, 1, servers, 1, true, &r) == MON_OK);
    FUZZ_CHECK(r.n >= 1 && r.n <= 4 && r.total.gpu_seconds == total);
    for (size_t i = 0; i < r.n; i++) {
        sum += r.lines[i].sum.gpu_seconds;
        FUZZ_CHECK(i == 0 || r.lines[i - 1].sum.gpu_seconds >= r.lines[i].sum.gpu_seconds);
        if (r.group & AGG_USAGE_BY_SERVER)
            FUZZ_CHECK(r.lines[i].deleted == (r.lines[i].sum.server_id != sid));
    }
    FUZZ_CHECK(sum == total);
    check_json(&r);
    check_csv(&r);
    agg_usage_report_done(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strdup(data, size);
    struct fuzz_query q;
    struct agg_usage_params p;

    fuzz_query_split(text, &q);
    if (check_params(&q, &p))
        check_report(&q, &p);
    free(text);
    return 0;
}
