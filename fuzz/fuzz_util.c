/* SPDX-License-Identifier: MIT */
/* Invariant failure reporting, string helpers and the shared checks of the harnesses. */
#include "fuzz_util.h"

#include "aggregator/api_params.h"
#include "common/clock.h"
#include "common/err.h"

#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "fuzz invariant failed: %s:%d: %s\n", file, line, what);
    abort();
}

bool fuzz_terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

bool fuzz_in_range(double v, double min, double max)
{
    return isfinite(v) && v >= min && v <= max;
}

char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

size_t fuzz_split(char *text, char sep, char **fields, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        fields[i] = NULL;
    if (n == 0)
        return 0;
    fields[k++] = text;
    while (k < n) {
        char *at = strchr(fields[k - 1], sep);
        if (!at)
            break;
        *at = '\0';
        fields[k++] = at + 1;
    }
    return k;
}

static void query_decode(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '+')
            *p = ' ';
    MHD_http_unescape(s);
}

void fuzz_query_split(char *text, struct fuzz_query *q)
{
    char *p = text;
    q->n = 0;
    while (p && *p && q->n < FUZZ_QUERY_MAX_ARGS) {
        char *amp = strchr(p, '&'), *eq;
        if (amp)
            *amp = '\0';
        eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        query_decode(p);
        if (eq)
            query_decode(eq + 1);
        q->key[q->n] = p;
        q->value[q->n] = eq ? eq + 1 : NULL;
        q->n++;
        p = amp ? amp + 1 : NULL;
    }
}

const char *fuzz_query_get(const struct fuzz_query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->key[i], key) == 0)
            return q->value[i];
    return NULL;
}

/* An explicit time parameter is what mon_parse_iso8601 makes of it. */
static void check_time(const char *text, int64_t got)
{
    int64_t t = -1;
    if (text && *text)
        FUZZ_CHECK(mon_parse_iso8601(text, &t) == MON_OK && t == got);
}

void fuzz_check_timeseries(const char *metric, const char *agg, const char *from, const char *to)
{
    static const struct agg_timeseries_params sentinel = {.from = -7, .to = -7};
    struct agg_timeseries_params p = sentinel;
    char why[1024];
    int r;

    memset(why, 'x', sizeof(why));
    r = agg_api_params_timeseries(metric, agg, from, to, FUZZ_NOW_S, &p, why, sizeof(why));
    if (r < 0) {
        FUZZ_CHECK(r == MON_EINVAL && fuzz_terminated(why, sizeof(why)) && why[0]);
        FUZZ_CHECK(memcmp(&p, &sentinel, sizeof(p)) == 0);
        return;
    }
    FUZZ_CHECK(r == MON_OK);
    FUZZ_CHECK(p.metric && agg_api_params_metric(p.metric) == p.metric);
    FUZZ_CHECK(strcmp(p.metric, metric) == 0);
    FUZZ_CHECK(p.agg && strcmp(p.agg, agg && *agg ? agg : "avg") == 0);
    FUZZ_CHECK(p.from <= p.to && p.to - p.from <= AGG_API_MAX_RANGE_S);
    FUZZ_CHECK((to && *to) || p.to == FUZZ_NOW_S);
    FUZZ_CHECK((from && *from) || p.from == p.to - 86400);
    check_time(from, p.from);
    check_time(to, p.to);
}
