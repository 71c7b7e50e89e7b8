/* SPDX-License-Identifier: MIT */
/* Parses total and available memory from /proc/meminfo; other fields are not interpreted. */
#include "agent/collect/proc_meminfo.h"

#include "common/err.h"

#include <stdbool.h>
#include <string.h>

enum meminfo_key { KEY_TOTAL, KEY_AVAILABLE, KEY_FREE, KEY_BUFFERS, KEY_CACHED, KEY_COUNT };

static const char *const key_names[KEY_COUNT] = {"MemTotal", "MemAvailable", "MemFree", "Buffers",
                                                 "Cached"};

/* Parses the value part of a line, "   16384000 kB", into bytes. */
static int parse_kb_value(const char *p, const char *end, uint64_t *ret_bytes)
{
    uint64_t kb = 0;
    const char *digits;

    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    digits = p;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (kb > (UINT64_MAX - d) / 10)
            return MON_EPARSE; /* no kernel prints 20-digit kB counts */
        kb = kb * 10 + d;
    }
    if (p == digits || end - p != 3 || memcmp(p, " kB", 3) != 0)
        return MON_EPARSE;
    if (kb > UINT64_MAX / 1024)
        return MON_ERANGE;
    *ret_bytes = kb * 1024;
    return MON_OK;
}

int agent_parse_proc_meminfo(const char *buf, size_t len, struct agent_meminfo *ret)
{
    const char *p = buf, *end = buf + len;
    uint64_t val[KEY_COUNT] = {0};
    bool have[KEY_COUNT] = {false};
    struct agent_meminfo m;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *colon;
        if (!eol)
            eol = end;
        colon = memchr(p, ':', (size_t)(eol - p));
        for (size_t k = 0; colon && k < KEY_COUNT; k++) {
            size_t klen = strlen(key_names[k]);
            if (have[k] || (size_t)(colon - p) != klen || memcmp(p, key_names[k], klen) != 0)
                continue;
            int r = parse_kb_value(colon + 1, eol, &val[k]);
            if (r < 0)
                return r;
            have[k] = true;
        }
        p = eol + (eol < end);
    }
    if (!have[KEY_TOTAL])
        return MON_EPARSE;
    m.total_bytes = val[KEY_TOTAL];
    if (have[KEY_AVAILABLE]) {
        m.available_bytes = val[KEY_AVAILABLE];
    } else {
        /* Before Linux 3.14: free plus page cache is the usual estimate (overstates a bit,
         * since not all cache is reclaimable). */
        if (!have[KEY_FREE] || !have[KEY_BUFFERS] || !have[KEY_CACHED])
            return MON_EPARSE;
        if (val[KEY_FREE] > UINT64_MAX - val[KEY_BUFFERS] ||
            val[KEY_FREE] + val[KEY_BUFFERS] > UINT64_MAX - val[KEY_CACHED])
            return MON_ERANGE;
        m.available_bytes = val[KEY_FREE] + val[KEY_BUFFERS] + val[KEY_CACHED];
    }
    if (m.available_bytes > m.total_bytes)
        return MON_ERANGE;
    *ret = m;
    return MON_OK;
}
