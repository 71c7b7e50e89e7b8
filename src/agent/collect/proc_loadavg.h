/* SPDX-License-Identifier: MIT */
/* /proc/loadavg: the 1, 5 and 15 minute load averages. */
#ifndef MON_AGENT_COLLECT_PROC_LOADAVG_H
#define MON_AGENT_COLLECT_PROC_LOADAVG_H

/* Threads: pure parsers writing into caller storage: safe from any thread. */

#include <stddef.h>

/* Parses the first three fields of /proc/loadavg. Malformed or negative: MON_EPARSE. */
int agent_parse_proc_loadavg(const char *buf, size_t len, double ret_load[3]);

/* Parses one space-separated field of the form digits[.digits] starting at *pos (leading
 * blanks skipped) and advances *pos past it. The field must end at a blank, a newline or len.
 * Signs, exponents, hex, "inf" and "nan" are MON_EPARSE. Shared with /proc/uptime, whose
 * fields have the same form. */
int agent_parse_proc_decimal_field(const char *buf, size_t len, size_t *pos, double *ret);

#endif
