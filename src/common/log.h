/* SPDX-License-Identifier: MIT */
/* Leveled logging to stderr (journald picks it up); the daemons' loops log, libraries do not. */
#ifndef MON_COMMON_LOG_H
#define MON_COMMON_LOG_H

enum mon_log_level { MON_LOG_DEBUG = 0, MON_LOG_INFO, MON_LOG_WARN, MON_LOG_ERROR };

/* Sets the lowest level written (default INFO) and the program name prefix. Call once at start. */
void mon_log_init(const char *program, enum mon_log_level min_level);

/* Writes one line "program: level: message" to stderr. Thread-safe (one write per line). */
void mon_log(enum mon_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define mon_debug(...) mon_log(MON_LOG_DEBUG, __VA_ARGS__)
#define mon_info(...)  mon_log(MON_LOG_INFO, __VA_ARGS__)
#define mon_warn(...)  mon_log(MON_LOG_WARN, __VA_ARGS__)
#define mon_error(...) mon_log(MON_LOG_ERROR, __VA_ARGS__)

#endif
