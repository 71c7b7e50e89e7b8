/* SPDX-License-Identifier: MIT */
/* /proc/uptime: seconds since the machine booted. */
#ifndef MON_AGENT_COLLECT_PROC_UPTIME_H
#define MON_AGENT_COLLECT_PROC_UPTIME_H

/* Threads: a pure parser writing into caller storage: safe from any thread. */

#include <stddef.h>

/* Parses the first field of /proc/uptime. Malformed or negative: MON_EPARSE. */
int agent_parse_proc_uptime(const char *buf, size_t len, double *ret_seconds);

#endif
