/* SPDX-License-Identifier: MIT */
/* Fuzzes the query parameters of both daemons from a raw query string ("metric=cpu_pct&
 * from=...&to=..."): split and percent-decoded as libmicrohttpd does (first value of a key
 * wins, "+" is a space), then given to the aggregator's /timeseries, /recent and /events
 * parsers and to the agent's ?services= list. */
#include "fuzz_util.h"

#include "agent/config.h"
#include "aggregator/api_params.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

static void check_events(const struct fuzz_query *q)
{
    static const struct agg_events_params sentinel = {.limit = -3, .type = "sentinel"};
    struct agg_events_params p = sentinel;
    const char *type = fuzz_query_get(q, "type");
    char why[1024];
    int r;

    memset(why, 'x', sizeof(why));
    r = agg_api_params_events(fuzz_query_get(q, "limit"), fuzz_query_get(q, "server_id"), type,
                              fuzz_query_get(q, "before"), &p, why, sizeof(why));
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
    struct fuzz_query q;

    fuzz_query_split(text, &q);
    metric = fuzz_query_get(&q, "metric");
    fuzz_check_timeseries(metric, fuzz_query_get(&q, "agg"), fuzz_query_get(&q, "from"),
                          fuzz_query_get(&q, "to"));
    FUZZ_CHECK(!agg_api_params_metric(metric) ||
               strcmp(agg_api_params_metric(metric), metric) == 0);
    check_events(&q);
    check_agent_units(fuzz_query_get(&q, "services"));
    free(text);
    return 0;
}
