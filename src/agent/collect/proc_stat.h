/* SPDX-License-Identifier: MIT */
/* /proc/stat: aggregate CPU time counters and whole-machine utilisation between readings. */
#ifndef MON_AGENT_COLLECT_PROC_STAT_H
#define MON_AGENT_COLLECT_PROC_STAT_H

/* Threads: pure parsers and arithmetic writing into caller storage: safe from any thread. */

#include <stddef.h>
#include <stdint.h>

/* Jiffies per state from the "cpu " line (guest times are already inside user/nice). */
struct agent_cpu_times {
    uint64_t user, nice, system, idle, iowait, irq, softirq, steal;
};

/* Parses the aggregate "cpu " line and counts the "cpuN" lines of /proc/stat text.
 * Older kernels with fewer columns are accepted (missing columns are 0); a missing or
 * malformed "cpu " line is MON_EPARSE. */
int agent_parse_proc_stat(const char *buf, size_t len, struct agent_cpu_times *ret_total,
                          unsigned *ret_ncpu);

/* Finds the "btime" line of /proc/stat text: the boot time in UTC seconds, the base of every
 * process start time. MON_ENOENT when the line is missing, MON_EPARSE when malformed. */
int agent_parse_proc_stat_btime(const char *buf, size_t len, int64_t *ret_btime);

/* Busy percentage (0..100) from prev to cur, counting idle+iowait as idle. Returns MON_EAGAIN
 * when no time passed, and MON_ERANGE when any counter went backwards (wrap, CPU hot-unplug or
 * a counter reset): callers then restart their window from cur instead of reporting a
 * negative or huge value. */
int agent_cpu_times_busy_pct(const struct agent_cpu_times *prev, const struct agent_cpu_times *cur,
                             double *ret_pct);

#endif
