/* SPDX-License-Identifier: MIT */
/* Parses the uptime field of /proc/uptime (the idle-time field is not used). */
#include "agent/collect/proc_uptime.h"

#include "agent/collect/proc_loadavg.h"
#include "common/err.h"

int agent_parse_proc_uptime(const char *buf, size_t len, double *ret_seconds)
{
    size_t pos = 0;
    double v;
    int r = agent_parse_proc_decimal_field(buf, len, &pos, &v);

    if (r < 0)
        return r;
    *ret_seconds = v;
    return MON_OK;
}
