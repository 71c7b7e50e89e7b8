/* SPDX-License-Identifier: MIT */
/* /proc/meminfo: total and available memory. */
#ifndef MON_AGENT_COLLECT_PROC_MEMINFO_H
#define MON_AGENT_COLLECT_PROC_MEMINFO_H

/* Threads: a pure parser writing into caller storage: safe from any thread. */

#include <stddef.h>
#include <stdint.h>

struct agent_meminfo {
    uint64_t total_bytes;
    uint64_t available_bytes; /* MemAvailable (kernel ≥ 3.14) */
};

/* Parses MemTotal and MemAvailable (kB values) from /proc/meminfo text. Kernels without
 * MemAvailable fall back to MemFree+Buffers+Cached. Missing MemTotal or a malformed value
 * is MON_EPARSE; available > total, or a value whose byte count overflows, is MON_ERANGE. */
int agent_parse_proc_meminfo(const char *buf, size_t len, struct agent_meminfo *ret);

#endif
