/* SPDX-License-Identifier: MIT */
/* Leveled logging: one formatted line per call, written with a single write for atomicity, to
 * stderr or to a log file that is rotated by size. */
#include "common/log.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/os/lock.h"
#include "common/os/os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef O_BINARY
#define O_BINARY 0 /* only Windows distinguishes text and binary files */
#endif

/* Owner read-write, group read (an admin group may read logs), others nothing. The umask can
 * only take bits away from it. */
#define LOG_FILE_MODE 0640

/* Logging is the one process-wide facility (style.md): set at start-up, then only the file
 * state changes, under log_lock. */
static const char *log_program = "monitor";
static enum mon_log_level log_min_level = MON_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int fd; /* -1: stderr */
    char path[MON_PATH_MAX];
    int64_t size, max_bytes;
    int keep;
} log_file = {.fd = -1};

void mon_log_init(const char *program, enum mon_log_level min_level)
{
    if (program)
        log_program = program;
    log_min_level = min_level;
}

static int open_log(const char *path, int64_t *ret_size)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_BINARY, LOG_FILE_MODE);
    if (fd < 0)
        return mon_err_from_errno(errno);
    *ret_size = fstat(fd, &st) == 0 ? (int64_t)st.st_size : 0;
    return fd;
}

/* path.N-1 → path.N, ..., path → path.1 with the file closed (Windows cannot rename an open
 * file), then a new empty file. Called with log_lock held. On failure logging goes on in the
 * old file (or stderr when it cannot be reopened) rather than losing lines. */
static void rotate_locked(void)
{
    MON_ASSERT_LOCKED(&log_lock);
    char from[MON_PATH_MAX + MON_PATH_SUFFIX_MAX], to[MON_PATH_MAX + MON_PATH_SUFFIX_MAX];
    int fd;

    close(log_file.fd);
    log_file.fd = -1;
    snprintf(to, sizeof(to), "%s.%d", log_file.path, log_file.keep);
    remove(to);
    for (int i = log_file.keep - 1; i >= 1; i--) {
        snprintf(from, sizeof(from), "%s.%d", log_file.path, i);
        snprintf(to, sizeof(to), "%s.%d", log_file.path, i + 1);
        mon_os_rename_replace(from, to); /* a missing older file is fine */
    }
    snprintf(to, sizeof(to), "%s.1", log_file.path);
    mon_os_rename_replace(log_file.path, to);
    fd = open_log(log_file.path, &log_file.size);
    log_file.fd = fd >= 0 ? fd : -1;
}

/* Takes group write and every "other" bit from path and its rotated copies, which older
 * versions created 0644 (a log names servers and clients). Returns how many changed. */
static int restrict_log_modes(const char *path, int keep)
{
    char old[MON_PATH_MAX + MON_PATH_SUFFIX_MAX];
    int changed = mon_os_restrict_mode(path, LOG_FILE_MODE, NULL) > 0;
    for (int i = 1; i <= keep; i++)
        if (snprintf(old, sizeof(old), "%s.%d", path, i) < (int)sizeof(old) &&
            mon_os_restrict_mode(old, LOG_FILE_MODE, NULL) > 0)
            changed++;
    return changed;
}

int mon_log_to_file(const char *path, int64_t max_bytes, int keep)
{
    char dir[MON_PATH_MAX];
    char *slash;
    int64_t size = 0;
    int fd, r;

    if (!path || !*path || max_bytes < 1024 || keep < 1)
        return MON_EINVAL;
    if (strlen(path) >= sizeof(dir))
        return MON_ETOOBIG;
    memcpy(dir, path, strlen(path) + 1);
    slash = strrchr(dir, '/');
    if (!slash)
        slash = strrchr(dir, '\\');
    if (slash && slash != dir) {
        *slash = '\0';
        if ((r = mon_os_mkdir_p(dir)) < 0)
            return r;
    }
    if ((fd = open_log(path, &size)) < 0)
        return fd;
    r = restrict_log_modes(path, keep);
    pthread_mutex_lock(&log_lock);
    if (log_file.fd >= 0)
        close(log_file.fd);
    log_file.fd = fd;
    memcpy(log_file.path, path, strlen(path) + 1);
    log_file.size = size;
    log_file.max_bytes = max_bytes;
    log_file.keep = keep;
    pthread_mutex_unlock(&log_lock);
    return r;
}

void mon_log_close(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_file.fd >= 0)
        close(log_file.fd);
    log_file.fd = -1;
    pthread_mutex_unlock(&log_lock);
}

static void write_line(const char *line, size_t n)
{
    pthread_mutex_lock(&log_lock);
    if (log_file.fd >= 0 && log_file.size > 0 && log_file.size + (int64_t)n > log_file.max_bytes)
        rotate_locked();
    if (log_file.fd >= 0) {
        ssize_t w = write(log_file.fd, line, n);
        if (w > 0)
            log_file.size += w;
    } else {
        (void)!write(STDERR_FILENO, line, n);
    }
    pthread_mutex_unlock(&log_lock);
}

void mon_log(enum mon_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    char line[2048], stamp[MON_ISO8601_LEN] = "";
    bool to_file;
    va_list ap;
    int n, m;

    if (level < log_min_level)
        return;
    pthread_mutex_lock(&log_lock);
    to_file = log_file.fd >= 0;
    pthread_mutex_unlock(&log_lock);
    /* journald and terminals add their own time; a file needs one. */
    if (to_file && mon_format_iso8601(mon_utc_ms() / 1000, stamp, sizeof(stamp)) == MON_OK)
        n = snprintf(line, sizeof(line), "%s %s: %s: ", stamp, log_program, names[level]);
    else
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
    write_line(line, (size_t)n);
}
