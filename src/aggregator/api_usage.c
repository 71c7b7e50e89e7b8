/* SPDX-License-Identifier: MIT */
/* The GPU usage endpoints: the stored hours of the range (the current hour excluded), plus the
 * current hour from memory for the servers whose hour is there and from the store for the
 * others (e.g. a server deleted this hour), merged by usage_report.c. */
#include "aggregator/api_usage.h"

#include "aggregator/engine.h"
#include "aggregator/store.h"
#include "aggregator/usage_report.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHY_LEN 1024

/* Everything one request reads. */
struct usage_input {
    struct agg_usage_row *stored, *current, *mem, *cur_db;
    size_t n_stored, n_current, n_mem, n_cur_db;
    int64_t *covered;
    size_t n_covered;
    bool partial;
};

static void input_done(struct usage_input *in)
{
    free(in->stored);
    free(in->current);
    free(in->mem);
    free(in->cur_db);
    free(in->covered);
    memset(in, 0, sizeof(*in));
}

static bool is_covered(const struct usage_input *in, int64_t server_id)
{
    for (size_t i = 0; i < in->n_covered; i++)
        if (in->covered[i] == server_id)
            return true;
    return false;
}

static void store_failed(struct mon_http_response *resp, struct agg_store *st)
{
    mon_http_error(resp, 503, "database: %s", agg_store_last_error(st));
}

/* When the range holds the current hour (cur): its rows from memory for the servers whose hour
 * is there, from the store for the others. false after an error response. */
static bool read_current(struct agg_engine *e, struct agg_store *st,
                         const struct agg_usage_params *p, int64_t cur,
                         struct mon_http_response *resp, struct usage_input *in)
{
    const char *user = p->has_user ? p->user : NULL;
    size_t k = 0;

    if (!(p->from <= cur && cur < p->to))
        return true;
    in->partial = true;
    if (agg_engine_usage_current(e, p->server_id, user, &in->mem, &in->n_mem, &in->covered,
                                 &in->n_covered) < 0) {
        mon_http_error(resp, 500, "out of memory");
        return false;
    }
    if (agg_store_usage_query(st, cur, cur + AGG_USAGE_HOUR_S, p->server_id, user, true,
                              &in->cur_db, &in->n_cur_db) < 0) {
        store_failed(resp, st);
        return false;
    }
    in->current = calloc(in->n_mem + in->n_cur_db + 1, sizeof(*in->current));
    if (!in->current) {
        mon_http_error(resp, 500, "out of memory");
        return false;
    }
    for (size_t i = 0; i < in->n_mem; i++)
        in->current[k++] = in->mem[i];
    for (size_t i = 0; i < in->n_cur_db; i++)
        if (!is_covered(in, in->cur_db[i].server_id))
            in->current[k++] = in->cur_db[i];
    in->n_current = k;
    return true;
}

/* The stored hours of the range before the current one, then the current hour. */
static bool read_input(struct agg_engine *e, struct agg_store *st, const struct agg_usage_params *p,
                       struct mon_http_response *resp, struct usage_input *in)
{
    int64_t now = mon_utc_ms() / 1000, cur = now - now % AGG_USAGE_HOUR_S;
    int64_t db_to = p->to < cur ? p->to : cur;
    /* Users only: the per-user tables answer with ~1/servers of the rows. */
    bool per_server = (p->group & AGG_USAGE_BY_SERVER) || p->server_id > 0;

    memset(in, 0, sizeof(*in));
    if (p->from < db_to &&
        agg_store_usage_query(st, p->from, db_to, p->server_id, p->has_user ? p->user : NULL,
                              per_server, &in->stored, &in->n_stored) < 0) {
        store_failed(resp, st);
        return false;
    }
    if (!read_current(e, st, p, cur, resp, in)) {
        input_done(in);
        return false;
    }
    return true;
}

static int cmp_names(const void *x, const void *y)
{
    const struct agg_usage_server_name *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

void agg_api_usage_report(struct agg_engine *e, struct agg_store *st, struct mon_http_request *req,
                          struct mon_http_response *resp, bool csv)
{
    struct agg_usage_params p;
    struct usage_input in;
    struct agg_usage_report rep = {0};
    struct agg_server *servers = NULL;
    struct agg_usage_server_name *names = NULL;
    size_t n_servers = 0;
    char why[WHY_LEN];

    if (agg_usage_params_parse(mon_http_query(req, "from"), mon_http_query(req, "to"),
                               mon_http_query(req, "group_by"), mon_http_query(req, "server_id"),
                               mon_http_query(req, "user"), NULL, NULL, mon_utc_ms() / 1000, &p,
                               why, sizeof(why)) < 0) {
        mon_http_error(resp, 400, "%s", why);
        return;
    }
    if (!read_input(e, st, &p, resp, &in))
        return;
    if (agg_store_server_list(st, &servers, &n_servers) < 0) {
        store_failed(resp, st);
        goto out;
    }
    names = calloc(n_servers + 1, sizeof(*names));
    if (!names)
        goto oom;
    for (size_t i = 0; i < n_servers; i++)
        names[i] = (struct agg_usage_server_name){servers[i].id, servers[i].name};
    qsort(names, n_servers, sizeof(*names), cmp_names);
    if (agg_usage_report_build(&p, in.stored, in.n_stored, in.current, in.n_current, names,
                               n_servers, in.partial, &rep) < 0)
        goto oom;
    /* The report holds copies: its input goes before the body is written, so that the body
     * takes the freed memory instead of ~1 MB of fresh pages (page faults). */
    input_done(&in);
    if (csv) {
        char *body = NULL, disposition[128], f[MON_ISO8601_LEN] = "", t[MON_ISO8601_LEN] = "";
        size_t len = 0;
        if (agg_usage_report_csv(&rep, &body, &len) < 0)
            goto oom;
        mon_format_iso8601(p.from, f, sizeof(f));
        mon_format_iso8601(p.to, t, sizeof(t));
        f[10] = t[10] = '\0'; /* the dates */
        snprintf(disposition, sizeof(disposition), "attachment; filename=\"gpu-usage_%s_%s.csv\"",
                 f, t);
        mon_http_body(resp, 200, "text/csv; charset=utf-8", body, len);
        mon_http_set_header(resp, "Content-Disposition", disposition);
    } else {
        char *body = NULL;
        size_t len = 0;
        if (agg_usage_report_json(&rep, &body, &len) < 0)
            goto oom;
        mon_http_body(resp, 200, "application/json", body, len);
    }
    goto out;
oom:
    mon_http_error(resp, 500, "out of memory");
out:
    agg_usage_report_done(&rep);
    free(names);
    agg_server_list_free(servers, n_servers);
    input_done(&in);
}

/* The bucket of the timeseries that holds hour ts. */
static int64_t bucket_of(const struct agg_usage_params *p, int64_t ts)
{
    int64_t m = (ts + p->offset_s + 2 * p->bucket_s) % p->bucket_s;
    return ts - m;
}

static cJSON *point_json(int64_t ts, double gpu_s, double busy_s, double mem_s, bool partial)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    mon_json_add_time(o, "ts", ts);
    mon_json_add_rounded(o, "gpu_hours", gpu_s / 3600.0, 4);
    mon_json_add_rounded(o, "busy_gpu_hours", busy_s / 3600.0, 4);
    mon_json_add_rounded(o, "gpu_mem_gb_hours", mem_s / 1024.0 / 3600.0, 4);
    if (partial)
        cJSON_AddBoolToObject(o, "partial", 1);
    return o;
}

void agg_api_usage_timeseries(struct agg_engine *e, struct agg_store *st,
                              struct mon_http_request *req, struct mon_http_response *resp)
{
    struct agg_usage_params p;
    struct agg_usage_point *pts = NULL;
    struct usage_input in = {0};
    double cur_gpu = 0, cur_busy = 0, cur_mem = 0;
    size_t n = 0;
    int64_t now = mon_utc_ms() / 1000, cur = now - now % AGG_USAGE_HOUR_S, db_to, cur_bucket;
    char why[WHY_LEN];
    cJSON *root, *arr;
    bool cur_done = false;

    if (agg_usage_params_parse(mon_http_query(req, "from"), mon_http_query(req, "to"), NULL,
                               mon_http_query(req, "server_id"), mon_http_query(req, "user"),
                               mon_http_query(req, "bucket"), mon_http_query(req, "tz_offset"), now,
                               &p, why, sizeof(why)) < 0) {
        mon_http_error(resp, 400, "%s", why);
        return;
    }
    db_to = p.to < cur ? p.to : cur;
    if (p.from < db_to &&
        agg_store_usage_timeseries(st, p.from, db_to, p.server_id, p.has_user ? p.user : NULL,
                                   p.bucket_s, p.offset_s, &pts, &n) < 0) {
        store_failed(resp, st);
        return;
    }
    if (!read_current(e, st, &p, cur, resp, &in))
        goto out;
    for (size_t i = 0; i < in.n_current; i++) {
        cur_gpu += in.current[i].gpu_seconds;
        cur_busy += in.current[i].busy_gpu_seconds;
        cur_mem += in.current[i].mem_mb_seconds;
    }
    cur_bucket = bucket_of(&p, cur);
    root = cJSON_CreateObject();
    arr = root ? cJSON_CreateArray() : NULL;
    if (!arr) {
        cJSON_Delete(root);
        mon_http_error(resp, 500, "out of memory");
        goto out;
    }
    mon_json_add_time(root, "from", p.from);
    mon_json_add_time(root, "to", p.to);
    cJSON_AddNumberToObject(root, "bucket_s", (double)p.bucket_s);
    cJSON_AddNumberToObject(root, "tz_offset", (double)p.offset_s / 60.0);
    if (p.has_user)
        cJSON_AddStringToObject(root, "user", p.user);
    else
        cJSON_AddNullToObject(root, "user");
    if (p.server_id > 0)
        cJSON_AddNumberToObject(root, "server_id", (double)p.server_id);
    else
        cJSON_AddNullToObject(root, "server_id");
    cJSON_AddItemToObject(root, "points", arr);
    for (size_t i = 0; i < n; i++) {
        double g = pts[i].gpu_seconds, b = pts[i].busy_gpu_seconds, m = pts[i].mem_mb_seconds;
        bool partial = in.partial && pts[i].ts == cur_bucket;
        if (partial) {
            g += cur_gpu;
            b += cur_busy;
            m += cur_mem;
            cur_done = true;
        }
        cJSON_AddItemToArray(arr, point_json(pts[i].ts, g, b, m, partial));
    }
    if (in.partial && !cur_done && in.n_current > 0)
        cJSON_AddItemToArray(arr, point_json(cur_bucket, cur_gpu, cur_busy, cur_mem, true));
    mon_http_json(resp, 200, root);
out:
    free(pts);
    input_done(&in);
}
