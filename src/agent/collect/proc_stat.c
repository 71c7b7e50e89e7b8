/* SPDX-License-Identifier: MIT */
/* Parses the aggregate CPU line of /proc/stat and turns two readings into a busy percentage. */
#include "agent/collect/proc_stat.h"

#include "common/err.h"
#include "common/str.h"

#include <stdbool.h>
#include <string.h>

/* Columns before guest/guest_nice; Linux 2.4 had only the first four. */
#define CPU_MIN_COLUMNS   4
#define CPU_KNOWN_COLUMNS 8

/* Parses the numbers after "cpu" on one line [p, end). Extra columns from newer kernels
 * (guest, guest_nice and beyond) must be numbers too but are not kept: guest time is
 * already counted in user and nice. */
static int parse_cpu_columns(const char *p, const char *end, struct agent_cpu_times *ret)
{
    uint64_t col[CPU_KNOWN_COLUMNS] = {0};
    size_t n = 0;

    for (;;) {
        const char *tok;
        uint64_t v;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end)
            break;
        tok = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        if (!mon_parse_u64_span(tok, p, &v))
            return MON_EPARSE;
        if (n < CPU_KNOWN_COLUMNS)
            col[n] = v;
        n++;
    }
    if (n < CPU_MIN_COLUMNS)
        return MON_EPARSE;
    *ret = (struct agent_cpu_times){.user = col[0],
                                    .nice = col[1],
                                    .system = col[2],
                                    .idle = col[3],
                                    .iowait = col[4],
                                    .irq = col[5],
                                    .softirq = col[6],
                                    .steal = col[7]};
    return MON_OK;
}

int agent_parse_proc_stat(const char *buf, size_t len, struct agent_cpu_times *ret_total,
                          unsigned *ret_ncpu)
{
    const char *p = buf, *end = buf + len;
    struct agent_cpu_times total;
    bool have_total = false;
    unsigned ncpu = 0;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t line_len;
        if (!eol)
            eol = end;
        line_len = (size_t)(eol - p);
        if (line_len > 3 && memcmp(p, "cpu", 3) == 0) {
            char c = p[3];
            if ((c == ' ' || c == '\t') && !have_total) {
                int r = parse_cpu_columns(p + 3, eol, &total);
                if (r < 0)
                    return r;
                have_total = true;
            } else if (c >= '0' && c <= '9') {
                ncpu++;
            }
        }
        p = eol + (eol < end);
    }
    if (!have_total)
        return MON_EPARSE;
    *ret_total = total;
    *ret_ncpu = ncpu;
    return MON_OK;
}

int agent_cpu_times_busy_pct(const struct agent_cpu_times *prev, const struct agent_cpu_times *cur,
                             double *ret_pct)
{
    const uint64_t a[] = {prev->user,   prev->nice, prev->system,  prev->idle,
                          prev->iowait, prev->irq,  prev->softirq, prev->steal};
    const uint64_t b[] = {cur->user,   cur->nice, cur->system,  cur->idle,
                          cur->iowait, cur->irq,  cur->softirq, cur->steal};
    uint64_t total = 0, idle;
    double pct;

    for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
        /* Any counter going backwards (including iowait, which some kernels decrement) makes
         * the whole window meaningless: the caller restarts it. */
        if (b[i] < a[i] || total > UINT64_MAX - (b[i] - a[i]))
            return MON_ERANGE;
        total += b[i] - a[i];
    }
    if (total == 0)
        return MON_EAGAIN;
    idle = (cur->idle - prev->idle) + (cur->iowait - prev->iowait);
    pct = (double)(total - idle) * 100.0 / (double)total;
    /* Past 2^53 jiffies the conversions round, and an all-busy window can come out a hair
     * above 100 (100.00000000000001); the contract is 0..100. */
    *ret_pct = pct > 100.0 ? 100.0 : pct;
    return MON_OK;
}

int agent_parse_proc_stat_btime(const char *buf, size_t len, int64_t *ret_btime)
{
    static const char key[] = "btime ";
    const char *end = buf + len, *p = buf;
    uint64_t v;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        if ((size_t)(line_end - p) > sizeof(key) - 1 && memcmp(p, key, sizeof(key) - 1) == 0) {
            const char *num = p + sizeof(key) - 1, *num_end = line_end;
            while (num < num_end && *num == ' ')
                num++;
            while (num_end > num && (num_end[-1] == ' ' || num_end[-1] == '\r'))
                num_end--;
            if (!mon_parse_u64_span(num, num_end, &v) || v > INT64_MAX)
                return MON_EPARSE;
            *ret_btime = (int64_t)v;
            return MON_OK;
        }
        p = line_end + 1;
    }
    return MON_ENOENT;
}
