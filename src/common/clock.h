/* SPDX-License-Identifier: MIT */
/* Clocks and time text: monotonic ms for intervals, UTC for records, ISO-8601 "Z" at the edges. */
#ifndef MON_COMMON_CLOCK_H
#define MON_COMMON_CLOCK_H

/* Threads: the clock readings, conversions and parsers keep no state and are safe from any
 * thread; mon_clock_init_from_env and mon_clock_set_offset_file are for start-up, before other
 * threads run. Results go to caller storage; nothing is allocated. */

#include <stddef.h>
#include <stdint.h>

/* Milliseconds from a monotonic clock (only differences are meaningful). */
int64_t mon_mono_ms(void);

/* Milliseconds since the Unix epoch, UTC (wall clock; may jump). */
int64_t mon_utc_ms(void);

/* Name of the environment variable behind the test-only wall-clock offset. */
#define MON_CLOCK_OFFSET_ENV "LANMON_TEST_CLOCK_OFFSET_FILE"

/* Test seam, for the fault-injection suite only: when $LANMON_TEST_CLOCK_OFFSET_FILE names a
 * file, every mon_utc_ms() call adds the whole seconds written in it (e.g. "3600" or "-3600";
 * a missing, empty or malformed file counts as 0), so a test can jump the wall clock of a
 * running daemon. The monotonic clock is never shifted. Call once at start-up, before any
 * thread starts; without the variable mon_utc_ms() costs one pointer test more. */
void mon_clock_init_from_env(void);

/* The same with the file named directly (NULL: no offset); mon_clock_init_from_env() calls it.
 * Same start-up-only rule. */
void mon_clock_set_offset_file(const char *path);

/* Seconds since the epoch of midnight UTC of a civil date (proleptic Gregorian; month 1..12,
 * day 1..31, not checked against the month's length). */
int64_t mon_utc_from_date(int year, int month, int day);

/* The first second (UTC) of the calendar month holding utc_s, moved by months (negative:
 * earlier; 1: the next month). *ret_year and *ret_month (1..12; either may be NULL) name that
 * month. Pure arithmetic, no time zone. */
int64_t mon_utc_month_start(int64_t utc_s, int months, int *ret_year, int *ret_month);

#define MON_ISO8601_LEN 32

/* Writes "YYYY-MM-DDTHH:MM:SSZ" for utc_s seconds since the epoch. buf must hold
 * MON_ISO8601_LEN bytes. Returns MON_OK or MON_ERANGE for a year outside 0..9999. */
int mon_format_iso8601(int64_t utc_s, char *buf, size_t size);

/* Parses ISO-8601 "YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)" or a date "YYYY-MM-DD" (midnight UTC)
 * into seconds since the epoch. A time without zone is rejected (ambiguous). */
int mon_parse_iso8601(const char *text, int64_t *ret_utc_s);

/* Parses a duration "500ms", "5s", "2m", "1h", "30d" (one integer and unit) into ms.
 * A bare number is rejected: the unit must be explicit. */
int mon_parse_duration_ms(const char *text, int64_t *ret_ms);

/* Sleeps ms milliseconds (restarting after signals is not done: returns early on EINTR). */
void mon_sleep_ms(int64_t ms);

#endif
