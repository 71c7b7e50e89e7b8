/* SPDX-License-Identifier: MIT */
/* Leveled logging to stderr (journald picks it up) or to a size-rotated file (Windows service);
 * the daemons' loops log, libraries do not. */
#ifndef MON_COMMON_LOG_H
#define MON_COMMON_LOG_H

/* Threads: mon_log is thread-safe (one mutex, one write per line); mon_log_init, mon_log_to_file
 * and mon_log_close are for start-up and exit, from the main thread. mon_log_init keeps the
 * program name without copying it (pass one that lives as long as the process); the log path is
 * copied. */

#include <stdint.h>

enum mon_log_level { MON_LOG_DEBUG = 0, MON_LOG_INFO, MON_LOG_WARN, MON_LOG_ERROR };

/* Sets the lowest level written (default INFO) and the program name prefix. Call once at start. */
void mon_log_init(const char *program, enum mon_log_level min_level);

/* From now on writes lines to path (appending; created with its folder when missing) instead
 * of stderr, each prefixed with its UTC time. When a line would take the file past max_bytes,
 * the file is rotated first: path.N-1 → path.N ... path → path.1, and path.<keep> is deleted,
 * so at most keep old files stay beside it. Call at start-up before other threads log; a
 * second call replaces the first. New files are created 0640 (owner read-write, group read);
 * an existing file and its rotated copies with wider modes are narrowed to 0640. Returns how
 * many files it narrowed (0 usually), or a MON_E* code (logging stays on stderr). */
int mon_log_to_file(const char *path, int64_t max_bytes, int keep);

/* Goes back to stderr and closes the log file (at exit). */
void mon_log_close(void);

/* Writes one line "program: level: message". Thread-safe (one write per line). */
void mon_log(enum mon_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define mon_debug(...) mon_log(MON_LOG_DEBUG, __VA_ARGS__)
#define mon_info(...)  mon_log(MON_LOG_INFO, __VA_ARGS__)
#define mon_warn(...)  mon_log(MON_LOG_WARN, __VA_ARGS__)
#define mon_error(...) mon_log(MON_LOG_ERROR, __VA_ARGS__)

#endif
