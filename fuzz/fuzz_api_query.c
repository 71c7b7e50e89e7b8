/* SPDX-License-Identifier: MIT */
/* Fuzzes the query parameters of both daemons from a raw query string ("metric=cpu_pct&
 * from=...&to=..."): split and percent-decoded as libmicrohttpd does (first value of a key
 * wins, "+" is a space), then given to the aggregator's /timeseries, /recent and /events
 * parsers and to the agent's ?services= list. */
#include "fuzz_util.h"

#include "agent/config.h"
#include "aggregator/api_params.h"
#include "common/err.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

struct query {
    size_t n;
    char *key[MAX_ARGS];
    char *value[MAX_ARGS]; /* NULL for "key" without "=" */
};

static void decode(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '+')
            *p = ' ';
    MHD_http_unescape(s);
}

/* Splits text in place into q. */
static void parse_query(char *text, struct query *q)
{
    char *p = text;
    q->n = 0;
    while (p && *p && q->n < MAX_ARGS) {
        char *amp = strchr(p, '&'), *eq;
        if (amp)
            *amp = '\0';
        eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        decode(p);
        if (eq)
            decode(eq + 1);
        q->key[q->n] = p;
        q->value[q->n] = eq ? eq + 1 : NULL;
        q->n++;
        p = amp ? amp + 1 : NULL;
    }
}

/* mon_http_query(): the first argument named key, NULL when absent. */
static const char *lookup(const struct query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->key[i], key) == 0)
            return q->value[i];
    return NULL;
}

static void check_events(const struct query *q)
{
    static const struct agg_events_params sentinel = {.limit = -3, .type = "sentinel"};
    struct agg_events_params p = sentinel;
    const char *type = lookup(q, "type");
    char why[1024];
    int r;

    memset(why, 'x', sizeof(why));
    r = agg_api_params_events(lookup(q, "limit"), lookup(q, "server_id"), type, lookup(q, "before"),
                              &p, why, sizeof(why));
    if (r < 0) {
        FUZZ_CHECK(r == MON_EINVAL && fuzz_terminated(why, sizeof(why)) && why[0]);
        FUZZ_CHECK(memcmp(&p, &sentinel, sizeof(p)) == 0);
        return;
    }
    FUZZ_CHECK(r == MON_OK);
    FUZZ_CHECK(p.limit >= 1 && p.limit <= 1000);
    FUZZ_CHECK(p.server_id >= 0 && p.before >= 0);
    FUZZ_CHECK(type && *type ? p.type && strcmp(p.type, type) == 0 : p.type == NULL);
}

/* The agent's /v1/snapshot?services=a,b against an allowlist of a name and two globs. */
static void check_agent_units(const char *param)
{
    static char *allowlist[] = {(char *)"nginx.service", (char *)"*.timer", (char *)"ssh*"};
    static const struct agent_config cfg = {.services_allowlist = allowlist, .n_allow = 3};
    char *names[AGENT_MAX_REQUESTED_UNITS];
    bool allowed[AGENT_MAX_REQUESTED_UNITS], present = false;
    size_t chars = 0, items = 0;
    int n = agent_config_request_units(&cfg, param, names, allowed, &present);

    if (n < 0) {
        FUZZ_CHECK(n == MON_ERANGE);
        for (size_t i = 0; i < AGENT_MAX_REQUESTED_UNITS; i++)
            FUZZ_CHECK(names[i] == NULL);
        return;
    }
    FUZZ_CHECK(present && n <= AGENT_MAX_REQUESTED_UNITS);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        FUZZ_CHECK(len >= 1 && len <= 255 && !strchr(names[i], ','));
        FUZZ_CHECK(allowed[i] == agent_config_unit_allowed(&cfg, names[i]));
        chars += len;
    }
    /* Without a parameter the exact allowlist names; else every non-empty item, in order. */
    if (!param) {
        FUZZ_CHECK(n == 1 && strcmp(names[0], "nginx.service") == 0);
    } else {
        for (const char *p = param; *p; p++)
            chars -= *p != ',';
        for (const char *p = param; *p; p++)
            items += *p != ',' && (p == param || p[-1] == ',');
        FUZZ_CHECK(chars == 0 && items == (size_t)n);
    }
    for (size_t i = 0; i < AGENT_MAX_REQUESTED_UNITS; i++)
        free(names[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strdup(data, size);
    const char *metric;
    struct query q;

    parse_query(text, &q);
    metric = lookup(&q, "metric");
    fuzz_check_timeseries(metric, lookup(&q, "agg"), lookup(&q, "from"), lookup(&q, "to"));
    FUZZ_CHECK(!agg_api_params_metric(metric) ||
               strcmp(agg_api_params_metric(metric), metric) == 0);
    check_events(&q);
    check_agent_units(lookup(&q, "services"));
    free(text);
    return 0;
}
