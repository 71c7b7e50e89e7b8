/* SPDX-License-Identifier: MIT */
/* Parses the three load averages of /proc/loadavg (the run-queue and last-pid fields are not). */
#include "agent/collect/proc_loadavg.h"

#include "common/err.h"
#include "common/str.h"

#include <string.h>

/* Longer than any load average or uptime the kernel prints. */
#define DECIMAL_MAX_LEN 31

int agent_parse_proc_decimal_field(const char *buf, size_t len, size_t *pos, double *ret)
{
    char tok[DECIMAL_MAX_LEN + 1];
    size_t i = *pos, start, int_digits = 0, frac_digits = 0;
    double v;

    while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
        i++;
    start = i;
    for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++)
        int_digits++;
    if (i < len && buf[i] == '.') {
        for (i++; i < len && buf[i] >= '0' && buf[i] <= '9'; i++)
            frac_digits++;
        if (frac_digits == 0)
            return MON_EPARSE;
    }
    if (int_digits == 0 || i - start > DECIMAL_MAX_LEN)
        return MON_EPARSE;
    if (i < len && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n')
        return MON_EPARSE;
    memcpy(tok, buf + start, i - start);
    tok[i - start] = '\0';
    /* The token holds only digits and one '.', so strtod cannot see a sign or exponent; the
     * agent never calls setlocale, so '.' is the decimal point. */
    if (mon_parse_double(tok, &v) < 0)
        return MON_EPARSE;
    *ret = v;
    *pos = i;
    return MON_OK;
}

int agent_parse_proc_loadavg(const char *buf, size_t len, double ret_load[3])
{
    double load[3];
    size_t pos = 0;

    for (size_t k = 0; k < 3; k++) {
        /* Fields are separated by blanks, never by a newline. */
        if (k > 0 && (pos >= len || buf[pos] == '\n'))
            return MON_EPARSE;
        int r = agent_parse_proc_decimal_field(buf, len, &pos, &load[k]);
        if (r < 0)
            return r;
    }
    memcpy(ret_load, load, sizeof(load));
    return MON_OK;
}
