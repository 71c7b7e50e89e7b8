/* SPDX-License-Identifier: MIT */
/* The front door's log lines: each kind of refusal counted in the door's thread and logged at
 * most once a minute per kind with the count and the latest client (never a line per client,
 * which a flood would turn into a flood of log lines). */
#include "common/http_gate_priv.h"

#include "common/log.h"
#include "common/net.h"

#include <stdio.h>

void mon_http_gate_report(struct mon_http_gate *g, enum report_kind kind,
                          const struct sockaddr *client, const char *detail)
{
    struct report *r = &g->reports[kind];
    r->count++;
    if (client)
        mon_format_sockaddr(client, r->last, sizeof(r->last));
    if (detail)
        snprintf(r->detail, sizeof(r->detail), "%s", detail);
}

static void report_line(enum report_kind kind, const struct report *r)
{
    switch (kind) {
    case REPORT_REFUSED:
        mon_warn("refused %u connection(s) from outside allow_from (latest %s)", r->count, r->last);
        break;
    case REPORT_PER_IP:
        mon_warn("%u connection(s) over the per-address limit closed (latest from %s)", r->count,
                 r->last);
        break;
    case REPORT_FULL:
        mon_warn("connection limit reached: %u waiting connection(s) pushed out (latest new one "
                 "from %s)",
                 r->count, r->last);
        break;
    case REPORT_SLOW:
        mon_info("closed %u connection(s) that sent no complete request head in time (latest "
                 "from %s)",
                 r->count, r->last);
        break;
    case REPORT_IDLE:
        mon_info("closed %u kept-alive connection(s) whose next request did not arrive in time",
                 r->count);
        break;
    case REPORT_BAD:
        mon_info("answered %u malformed request(s) with a 4xx (latest from %s: %s)", r->count,
                 r->last, r->detail);
        break;
    }
}

/* Logs each kind of event at most once a minute, with the count since the last line. */
void mon_http_gate_reports_flush(struct mon_http_gate *g, int64_t now)
{
    for (size_t k = 0; k < sizeof(g->reports) / sizeof(g->reports[0]); k++) {
        struct report *r = &g->reports[k];
        if (r->count == 0 || (r->logged_ms && now - r->logged_ms < REPORT_MS))
            continue;
        report_line((enum report_kind)k, r);
        r->count = 0;
        r->logged_ms = now;
    }
}
