/* SPDX-License-Identifier: MIT */
/* /proc/loadavg: the 1, 5 and 15 minute load averages. */
#ifndef MON_AGENT_COLLECT_PROC_LOADAVG_H
#define MON_AGENT_COLLECT_PROC_LOADAVG_H

#include <stddef.h>

/* Parses the first three fields of /proc/loadavg. Malformed or negative: MON_EPARSE. */
int parse_proc_loadavg(const char *buf, size_t len, double ret_load[3]);

#endif
