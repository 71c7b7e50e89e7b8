/* SPDX-License-Identifier: MIT */
/* Leveled logging: one formatted line per call, written with a single write for atomicity. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Set once at start-up before any thread exists; read-only afterwards. */
static const char *log_program = "monitor";
static enum mon_log_level log_min_level = MON_LOG_INFO;

void mon_log_init(const char *program, enum mon_log_level min_level)
{
    if (program)
        log_program = program;
    log_min_level = min_level;
}

void mon_log(enum mon_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    char line[2048];
    va_list ap;
    int n, m;

    if (level < log_min_level)
        return;
    n = snprintf(line, sizeof(line), "%s: %s: ", log_program, names[level]);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2; /* truncated: keep what fits */
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}
