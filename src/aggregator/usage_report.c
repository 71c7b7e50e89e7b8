/* SPDX-License-Identifier: MIT */
/* The usage report: query parameters, grouping of stored and in-memory rows, JSON and CSV.
 * Pure functions (no clock, no database) for tests and fuzzers. */
#include "aggregator/usage_report.h"

#include "aggregator/store.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/json_text.h"
#include "common/str.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_BYTES   (64u * 1024 * 1024)
#define JSON_MAX_BYTES  (256u * 1024 * 1024)
#define JSON_LINE_BYTES 320u /* room reserved per line of the JSON report */
#define CSV_LINE_BYTES  128u

static int time_param(const char *name, const char *v, int64_t dflt, int64_t *ret, char *why,
                      size_t why_len)
{
    if (!v || !*v) {
        *ret = dflt;
        return MON_OK;
    }
    if (mon_parse_iso8601(v, ret) < 0 || *ret < 0) {
        snprintf(why, why_len, "%s: '%s' is not an ISO-8601 time such as 2026-01-17T10:00:00Z",
                 name, v);
        return MON_EINVAL;
    }
    return MON_OK;
}

static int group_param(const char *v, int *ret, char *why, size_t why_len)
{
    if (!v || !*v || strcmp(v, "user") == 0)
        *ret = AGG_USAGE_BY_USER;
    else if (strcmp(v, "server") == 0)
        *ret = AGG_USAGE_BY_SERVER;
    else if (strcmp(v, "user,server") == 0 || strcmp(v, "server,user") == 0)
        *ret = AGG_USAGE_BY_USER | AGG_USAGE_BY_SERVER;
    else {
        snprintf(why, why_len, "group_by: must be user, server or user,server");
        return MON_EINVAL;
    }
    return MON_OK;
}

int agg_usage_params_parse(const char *from, const char *to, const char *group_by,
                           const char *server_id, const char *user, const char *bucket,
                           const char *tz_offset, int64_t now_s, struct agg_usage_params *ret,
                           char *why, size_t why_len)
{
    struct agg_usage_params p = {.bucket_s = AGG_USAGE_DAY_S};
    int64_t tz = 0;

    if (time_param("to", to, now_s, &p.to, why, why_len) < 0 ||
        time_param("from", from, p.to - 7 * 86400, &p.from, why, why_len) < 0)
        return MON_EINVAL;
    if (p.from < 0)
        p.from = 0;
    if (p.from >= p.to) {
        snprintf(why, why_len, "from: must be before to");
        return MON_EINVAL;
    }
    if (p.to - p.from > AGG_USAGE_MAX_RANGE_S) {
        snprintf(why, why_len, "from: the range is limited to 400 days");
        return MON_EINVAL;
    }
    p.from -= p.from % AGG_USAGE_HOUR_S;
    p.to = (p.to + AGG_USAGE_HOUR_S - 1) / AGG_USAGE_HOUR_S * AGG_USAGE_HOUR_S;
    if (group_param(group_by, &p.group, why, why_len) < 0)
        return MON_EINVAL;
    if (server_id && *server_id && mon_parse_int64(server_id, 1, INT64_MAX, &p.server_id) < 0) {
        snprintf(why, why_len, "server_id: must be a positive integer");
        return MON_EINVAL;
    }
    if (user && *user) {
        if (strlen(user) >= sizeof(p.user)) {
            snprintf(why, why_len, "user: longer than %zu bytes", sizeof(p.user) - 1);
            return MON_EINVAL;
        }
        mon_strlcpy(p.user, user, sizeof(p.user));
        p.has_user = true;
    }
    if (bucket && *bucket) {
        if (strcmp(bucket, "1h") == 0)
            p.bucket_s = AGG_USAGE_HOUR_S;
        else if (strcmp(bucket, "1d") != 0) {
            snprintf(why, why_len, "bucket: must be 1h or 1d");
            return MON_EINVAL;
        }
    }
    if (tz_offset && *tz_offset &&
        (mon_parse_int64(tz_offset, -720, 840, &tz) < 0 || tz % 60 != 0)) {
        snprintf(why, why_len,
                 "tz_offset: must be whole hours in minutes east of UTC, -720 to 840");
        return MON_EINVAL;
    }
    p.offset_s = tz * 60;
    *ret = p;
    return MON_OK;
}

/* ---- grouping ---- */

struct tagged {
    const struct agg_usage_row *row;
    bool partial;
};

static int cmp_server(const struct agg_usage_row *a, const struct agg_usage_row *b)
{
    return a->server_id < b->server_id ? -1 : a->server_id > b->server_id;
}

/* By user, then server: a user's rows are adjacent. */
static int cmp_user_first(const void *x, const void *y)
{
    const struct tagged *a = x, *b = y;
    int c = strcmp(a->row->user, b->row->user);
    return c ? c : cmp_server(a->row, b->row);
}

/* By server, then user: a server's rows are adjacent. */
static int cmp_server_first(const void *x, const void *y)
{
    const struct tagged *a = x, *b = y;
    int c = cmp_server(a->row, b->row);
    return c ? c : strcmp(a->row->user, b->row->user);
}

static bool same_group(const struct agg_usage_row *a, const struct agg_usage_row *b, int group)
{
    if ((group & AGG_USAGE_BY_USER) && strcmp(a->user, b->user) != 0)
        return false;
    return !(group & AGG_USAGE_BY_SERVER) || a->server_id == b->server_id;
}

/* Adds the sums of r into s (first/last seen: the earliest and latest; max_gpus: the most). */
static void add_sums(struct agg_usage_row *s, const struct agg_usage_row *r)
{
    s->gpu_seconds += r->gpu_seconds;
    s->busy_gpu_seconds += r->busy_gpu_seconds;
    s->mem_mb_seconds += r->mem_mb_seconds;
    s->processes += r->processes;
    if (r->max_gpus > s->max_gpus)
        s->max_gpus = r->max_gpus;
    if (r->first_seen >= 0 && (s->first_seen < 0 || r->first_seen < s->first_seen))
        s->first_seen = r->first_seen;
    if (r->last_seen > s->last_seen)
        s->last_seen = r->last_seen;
}

static const char *current_name(const struct agg_usage_server_name *servers, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (servers[mid].id == id)
            return servers[mid].name;
        if (servers[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void line_start(struct agg_usage_line *l, const struct tagged *t, int group,
                       const struct agg_usage_server_name *servers, size_t n_servers)
{
    memset(l, 0, sizeof(*l));
    l->sum.first_seen = -1;
    l->sum.last_seen = -1;
    if (group & AGG_USAGE_BY_USER)
        mon_strlcpy(l->sum.user, t->row->user, sizeof(l->sum.user));
    if (group & AGG_USAGE_BY_SERVER) {
        const char *name = current_name(servers, n_servers, t->row->server_id);
        l->sum.server_id = t->row->server_id;
        mon_strlcpy(l->sum.server_name, name ? name : t->row->server_name,
                    sizeof(l->sum.server_name));
        l->deleted = !name;
    }
}

static int cmp_lines(const void *x, const void *y)
{
    const struct agg_usage_line *a = x, *b = y;
    int c;
    if (a->sum.gpu_seconds != b->sum.gpu_seconds)
        return a->sum.gpu_seconds > b->sum.gpu_seconds ? -1 : 1;
    c = strcmp(a->sum.user, b->sum.user);
    return c ? c : cmp_server(&a->sum, &b->sum);
}

int agg_usage_report_build(const struct agg_usage_params *p, const struct agg_usage_row *stored,
                           size_t n_stored, const struct agg_usage_row *current, size_t n_current,
                           const struct agg_usage_server_name *servers, size_t n_servers,
                           bool partial, struct agg_usage_report *ret)
{
    size_t n = n_stored + n_current, k = 0, n_lines = 0;
    struct tagged *all = calloc(n + 1, sizeof(*all));
    struct agg_usage_line *lines = calloc(n + 1, sizeof(*lines));
    struct agg_usage_report r = {.from = p->from, .to = p->to, .group = p->group};

    if (!all || !lines) {
        free(all);
        free(lines);
        return MON_ENOMEM;
    }
    for (size_t i = 0; i < n_stored; i++)
        all[k++] = (struct tagged){&stored[i], false};
    for (size_t i = 0; i < n_current; i++)
        all[k++] = (struct tagged){&current[i], true};
    /* Grouped by user only, a user's rows made adjacent; by server, or by user and server, a
     * server's: the stored rows come in that order already (agg_store_usage_query), so that
     * the sort of 5,000 lines is one merge pass with the current hour's rows. */
    if (n)
        qsort(all, n, sizeof(*all),
              p->group == AGG_USAGE_BY_USER ? cmp_user_first : cmp_server_first);
    r.total.first_seen = r.total.last_seen = -1;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || !same_group(all[i - 1].row, all[i].row, p->group))
            line_start(&lines[n_lines++], &all[i], p->group, servers, n_servers);
        add_sums(&lines[n_lines - 1].sum, all[i].row);
        lines[n_lines - 1].partial |= all[i].partial;
        add_sums(&r.total, all[i].row);
    }
    free(all);
    if (n_lines)
        qsort(lines, n_lines, sizeof(*lines), cmp_lines);
    r.lines = lines;
    r.n = n_lines;
    r.partial = partial;
    *ret = r;
    return MON_OK;
}

void agg_usage_report_done(struct agg_usage_report *r)
{
    if (!r)
        return;
    free(r->lines);
    r->lines = NULL;
    r->n = 0;
}

/* ---- output ---- */

static const char *group_name(int group)
{
    switch (group) {
    case AGG_USAGE_BY_USER:
        return "user";
    case AGG_USAGE_BY_SERVER:
        return "server";
    default:
        return "user,server";
    }
}

static double hours(double seconds)
{
    return seconds / 3600.0;
}

static double gb_hours(double mb_seconds)
{
    return mb_seconds / 1024.0 / 3600.0;
}

/* Room for a body of n lines of about per_line bytes, in one allocation (growing by doubling
 * copied the body and touched fresh pages several times); a short estimate only costs a
 * reallocation. At most half the cap is reserved. */
static int reserve_lines(struct mon_buf *b, size_t n, size_t per_line, size_t max)
{
    size_t want = n < max / 2 / per_line ? n * per_line : max / 2;
    return mon_buf_reserve(b, 512 + want);
}

/* Appends the literal text lit (its length known at compile time). */
#define PUT(b, lit) mon_buf_append((b), (lit), sizeof(lit) - 1)

/* A time as a JSON string, or null before the first sighting (as mon_jtext_time). */
static int put_time(struct mon_buf *b, int64_t t)
{
    char iso[MON_ISO8601_LEN + 2];
    size_t len;
    if (t < 0 || mon_format_iso8601(t, iso + 1, sizeof(iso) - 2) < 0)
        return PUT(b, "null");
    iso[0] = '"';
    len = strlen(iso); /* the opening quote and the 20 characters */
    iso[len] = '"';
    return mon_buf_append(b, iso, len + 1);
}

/* The figures of a line or of the total: "gpu_hours":...,"gpu_mem_gb_hours":... (the keys
 * written as literals: mon_jtext_key escaped each of them, 13 times per line). */
static int put_figures(struct mon_buf *b, const struct agg_usage_row *s)
{
    int r = PUT(b, "\"gpu_hours\":");
    if (r >= 0)
        r = mon_jtext_fixed(b, true, hours(s->gpu_seconds), 4);
    if (r >= 0)
        r = PUT(b, ",\"busy_gpu_hours\":");
    if (r >= 0)
        r = mon_jtext_fixed(b, true, hours(s->busy_gpu_seconds), 4);
    if (r >= 0)
        r = PUT(b, ",\"efficiency_pct\":");
    if (r >= 0)
        r = mon_jtext_fixed(b, s->gpu_seconds > 0,
                            s->gpu_seconds > 0 ? 100.0 * s->busy_gpu_seconds / s->gpu_seconds : 0,
                            1);
    if (r >= 0)
        r = PUT(b, ",\"gpu_mem_gb_hours\":");
    if (r >= 0)
        r = mon_jtext_fixed(b, true, gb_hours(s->mem_mb_seconds), 4);
    return r;
}

static int put_line(struct mon_buf *b, const struct agg_usage_report *rep,
                    const struct agg_usage_line *l)
{
    int r = PUT(b, "{\"user\":");
    if (r >= 0)
        r = (rep->group & AGG_USAGE_BY_USER) ? mon_jtext_str(b, l->sum.user) : PUT(b, "null");
    if (r >= 0 && (rep->group & AGG_USAGE_BY_SERVER)) {
        r = PUT(b, ",\"server_id\":");
        if (r >= 0)
            r = mon_jtext_i64(b, l->sum.server_id);
        if (r >= 0)
            r = PUT(b, ",\"server_name\":");
        if (r >= 0)
            r = mon_jtext_str(b, l->sum.server_name);
        if (r >= 0)
            r = l->deleted ? PUT(b, ",\"server_deleted\":true,")
                           : PUT(b, ",\"server_deleted\":false,");
    } else if (r >= 0) {
        r = PUT(b, ",\"server_id\":null,\"server_name\":null,");
    }
    if (r >= 0)
        r = put_figures(b, &l->sum);
    if (r >= 0)
        r = PUT(b, ",\"max_gpus\":");
    if (r >= 0)
        r = mon_jtext_i64(b, l->sum.max_gpus);
    if (r >= 0)
        r = PUT(b, ",\"processes\":");
    if (r >= 0)
        r = mon_jtext_i64(b, l->sum.processes);
    if (r >= 0)
        r = PUT(b, ",\"first_seen\":");
    if (r >= 0)
        r = put_time(b, l->sum.first_seen);
    if (r >= 0)
        r = PUT(b, ",\"last_seen\":");
    if (r >= 0)
        r = put_time(b, l->sum.last_seen);
    if (r >= 0)
        r = l->partial ? PUT(b, ",\"partial\":true}") : PUT(b, ",\"partial\":false}");
    return r;
}

int agg_usage_report_json(const struct agg_usage_report *r, char **ret, size_t *ret_len)
{
    struct mon_buf b;
    bool f = true;
    size_t len;
    char *out;
    int rc;

    mon_buf_init(&b, JSON_MAX_BYTES);
    rc = reserve_lines(&b, r->n, JSON_LINE_BYTES, JSON_MAX_BYTES);
    if (rc >= 0)
        rc = mon_buf_puts(&b, "{");
    if (rc >= 0 && (rc = mon_jtext_key(&b, &f, "from")) >= 0)
        rc = mon_jtext_time(&b, r->from);
    if (rc >= 0 && (rc = mon_jtext_key(&b, &f, "to")) >= 0)
        rc = mon_jtext_time(&b, r->to);
    if (rc >= 0 && (rc = mon_jtext_key(&b, &f, "group_by")) >= 0)
        rc = mon_jtext_str(&b, group_name(r->group));
    if (rc >= 0 && (rc = mon_jtext_key(&b, &f, "partial")) >= 0)
        rc = mon_buf_puts(&b, r->partial ? "true" : "false");
    if (rc >= 0)
        rc = mon_buf_puts(&b, ",\"rows\":[");
    for (size_t i = 0; rc >= 0 && i < r->n; i++) {
        if (i)
            rc = mon_buf_puts(&b, ",");
        if (rc >= 0)
            rc = put_line(&b, r, &r->lines[i]);
    }
    if (rc >= 0)
        rc = mon_buf_puts(&b, "],\"total\":{");
    if (rc >= 0)
        rc = put_figures(&b, &r->total);
    if (rc >= 0)
        rc = mon_buf_puts(&b, "}}");
    if (rc < 0) {
        mon_buf_done(&b);
        return rc == MON_ETOOBIG ? MON_ENOMEM : rc;
    }
    len = b.len;
    out = mon_buf_take(&b);
    if (!out)
        return MON_ENOMEM;
    *ret = out;
    *ret_len = len;
    return MON_OK;
}

/* Appends one CSV field: quoted when it holds a comma, quote, CR or LF (quotes doubled), and
 * with ' before text that a spreadsheet would take for a formula. */
static int csv_text(struct mon_buf *b, const char *text)
{
    bool formula = strchr("=+-@\t\r", text[0]) != NULL && text[0] != '\0';
    bool quote = formula || strpbrk(text, ",\"\r\n") != NULL;
    int r;
    if (!quote)
        return mon_buf_puts(b, text);
    r = mon_buf_puts(b, "\"");
    if (r >= 0 && formula)
        r = mon_buf_puts(b, "'");
    for (const char *p = text; r >= 0 && *p; p++)
        r = *p == '"' ? mon_buf_puts(b, "\"\"") : mon_buf_append(b, p, 1);
    if (r >= 0)
        r = mon_buf_puts(b, "\"");
    return r;
}

static int csv_time(struct mon_buf *b, int64_t t)
{
    char iso[MON_ISO8601_LEN] = "";
    if (t >= 0 && mon_format_iso8601(t, iso, sizeof(iso)) < 0)
        iso[0] = '\0';
    return mon_buf_puts(b, iso);
}

/* v with exactly `decimals` (1 or 4) decimals, rounded as the JSON figures are (mon_round),
 * without printf: 5,000 lines of %.4f cost more than the rest of the CSV. */
static int csv_fixed(struct mon_buf *b, double v, int decimals)
{
    double scale = decimals == 1 ? 10.0 : 10000.0, k = round(v * scale);
    char tmp[48], *p = tmp + sizeof(tmp);
    uint64_t u;
    if (!isfinite(k) || fabs(k) >= 1e18)
        return mon_buf_printf(b, "%.*f", decimals, v);
    u = (uint64_t)(k < 0 ? -k : k);
    for (int i = 0; i < decimals; i++) {
        *--p = (char)('0' + u % 10);
        u /= 10;
    }
    *--p = '.';
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (k < 0)
        *--p = '-';
    return mon_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

static int csv_i64(struct mon_buf *b, int64_t v)
{
    int r = mon_jtext_i64(b, v);
    return r >= 0 ? mon_buf_append(b, ",", 1) : r;
}

static int csv_figures(struct mon_buf *b, const struct agg_usage_row *s)
{
    int r = mon_buf_append(b, ",", 1);
    if (r >= 0)
        r = csv_fixed(b, hours(s->gpu_seconds), 4);
    if (r >= 0)
        r = mon_buf_append(b, ",", 1);
    if (r >= 0)
        r = csv_fixed(b, hours(s->busy_gpu_seconds), 4);
    if (r >= 0)
        r = mon_buf_append(b, ",", 1);
    if (r >= 0 && s->gpu_seconds > 0)
        r = csv_fixed(b, 100.0 * s->busy_gpu_seconds / s->gpu_seconds, 1);
    if (r >= 0)
        r = mon_buf_append(b, ",", 1);
    if (r >= 0)
        r = csv_fixed(b, gb_hours(s->mem_mb_seconds), 4);
    if (r >= 0)
        r = mon_buf_append(b, ",", 1);
    if (r >= 0)
        r = csv_i64(b, s->max_gpus);
    if (r >= 0)
        r = csv_i64(b, s->processes);
    return r;
}

int agg_usage_report_csv(const struct agg_usage_report *r, char **ret, size_t *ret_len)
{
    struct mon_buf b;
    size_t len;
    char *out;
    int rc;

    mon_buf_init(&b, CSV_MAX_BYTES);
    rc = reserve_lines(&b, r->n, CSV_LINE_BYTES, CSV_MAX_BYTES);
    if (rc >= 0)
        rc = mon_buf_puts(&b,
                          "\xef\xbb\xbf"
                          "user,server_id,server_name,gpu_hours,busy_gpu_hours,efficiency_pct,"
                          "gpu_mem_gb_hours,max_gpus,processes,first_seen,last_seen,partial\r\n");
    for (size_t i = 0; rc >= 0 && i < r->n; i++) {
        const struct agg_usage_line *l = &r->lines[i];
        if (r->group & AGG_USAGE_BY_USER)
            rc = csv_text(&b, l->sum.user);
        if (rc >= 0)
            rc = mon_buf_puts(&b, ",");
        if (rc >= 0 && (r->group & AGG_USAGE_BY_SERVER)) {
            rc = csv_i64(&b, l->sum.server_id);
            if (rc >= 0)
                rc = csv_text(&b, l->sum.server_name);
        } else if (rc >= 0) {
            rc = mon_buf_puts(&b, ",");
        }
        if (rc >= 0)
            rc = csv_figures(&b, &l->sum);
        if (rc >= 0)
            rc = csv_time(&b, l->sum.first_seen);
        if (rc >= 0)
            rc = mon_buf_puts(&b, ",");
        if (rc >= 0)
            rc = csv_time(&b, l->sum.last_seen);
        if (rc >= 0)
            rc = mon_buf_puts(&b, l->partial ? ",true\r\n" : ",false\r\n");
    }
    if (rc < 0) {
        mon_buf_done(&b);
        return rc == MON_ETOOBIG ? MON_ENOMEM : rc;
    }
    len = b.len;
    out = mon_buf_take(&b);
    if (!out)
        return MON_ENOMEM;
    *ret = out;
    *ret_len = len;
    return MON_OK;
}
