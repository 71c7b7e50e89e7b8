/* SPDX-License-Identifier: MIT */
/* Agent replies the benchmark workers parse (usage_bench poll, sample_bench). */
#include "bench_replies.h"

#include "common/err.h"

#include <stdio.h>

/* An 8-GPU reply with two users per GPU (and a third process of the first). */
int bench_reply_gpu8(char *buf, size_t size)
{
    size_t off = 0;
    int n = snprintf(buf, size,
                     "{\"ts\":\"2026-01-01T00:00:00Z\",\"cpu_pct\":12.5,\"load\":[1,1,1],"
                     "\"mem\":{\"used_bytes\":1000,\"total_bytes\":4000,\"used_pct\":25},"
                     "\"disks\":[{\"mount\":\"/\",\"used_bytes\":1,\"total_bytes\":4,"
                     "\"used_pct\":25}],\"gpus\":[");
    if (n < 0 || (size_t)n >= size)
        return MON_ETOOBIG;
    off = (size_t)n;
    for (int g = 0; g < 8; g++) {
        n = snprintf(buf + off, size - off,
                     "%s{\"index\":%d,\"uuid\":\"GPU-%d\",\"name\":\"H100\",\"util_pct\":%d,"
                     "\"mem_used_mb\":40000,\"mem_total_mb\":81559,\"temp_c\":60,\"power_w\":500,"
                     "\"processes\":[{\"pid\":%d,\"user\":\"user%02d\",\"uid\":%d,\"command\":"
                     "\"python3\",\"type\":\"compute\",\"used_mem_mb\":20000,\"started_at\":"
                     "\"2025-12-31T00:00:00Z\"},{\"pid\":%d,\"user\":\"user%02d\",\"uid\":%d,"
                     "\"command\":\"python3\",\"type\":\"compute\",\"used_mem_mb\":19000,"
                     "\"started_at\":\"2025-12-31T00:00:00Z\"},{\"pid\":%d,\"user\":\"user%02d\","
                     "\"uid\":%d,\"command\":\"python3\",\"type\":\"compute\",\"used_mem_mb\":"
                     "1000,\"started_at\":\"2025-12-31T00:00:00Z\"}]}",
                     g ? "," : "", g, g, 10 * g + 10, 1000 + g, g, 1000 + g, 2000 + g, g + 8,
                     1008 + g, 3000 + g, g, 1000 + g);
        if (n < 0 || (size_t)n >= size - off)
            return MON_ETOOBIG;
        off += (size_t)n;
    }
    n = snprintf(buf + off, size - off, "]}");
    return n < 0 || (size_t)n >= size - off ? MON_ETOOBIG : MON_OK;
}
