/* SPDX-License-Identifier: MIT */
/* Small string helpers: strict number parsing, constant-time compare, bounded copies, UTF-8
 * checks. */
#ifndef MON_COMMON_STR_H
#define MON_COMMON_STR_H

/* Ownership and threads: mon_strndup returns malloc'd text (the caller frees); mon_token_problem
 * returns a static text; everything else writes into caller storage. Pure functions: safe from
 * any thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses a whole string as a decimal integer in [min, max]. No sign for unsigned-looking
 * input is required; leading/trailing spaces and trailing garbage are rejected.
 * Returns MON_OK, MON_EPARSE or MON_ERANGE. */
int mon_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);

/* Parses the unsigned decimal digits of [p, end) (no sign, no space, not empty) into *ret.
 * Returns false on anything but digits or on overflow, leaving *ret untouched. */
bool mon_parse_u64_span(const char *p, const char *end, uint64_t *ret);

/* Parses a whole string as a finite double. Returns MON_OK, MON_EPARSE or MON_ERANGE. */
int mon_parse_double(const char *s, double *ret);

/* Compares two secrets in time that depends only on the length of `expected`: the same
 * instructions run whatever `given` holds, how long it is or whether it is NULL (compared as
 * ""), so neither the position of the first difference nor the length leaks. An empty or NULL
 * `expected` never matches. tests/integration/test_constant_time.py counts the instructions. */
bool mon_secret_equal(const char *given, const char *expected);

/* Copies at most size-1 bytes of src into dst and NUL-terminates. Returns false when src
 * was truncated (callers decide whether that is an error). */
bool mon_strlcpy(char *dst, const char *src, size_t size);

/* Returns true when s starts with prefix. */
bool mon_str_starts_with(const char *s, const char *prefix);

/* Duplicates n bytes as a NUL-terminated string, or NULL on allocation failure. */
char *mon_strndup(const char *s, size_t n);

/* snprintf into a reason buffer: nothing when buf is NULL or size 0, a truncated text kept (a
 * cut reason is still a reason), "" on a format error. */
void mon_str_format(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Checks a token or other secret as both daemons accept it (config files, token files, the
 * API): not empty, no control characters (CR, LF, tab, NUL, DEL...), no leading or trailing
 * space (HTTP header values lose them) and so never only spaces. Returns NULL when fine, else a
 * static reason ("contains a line break or another control character"). */
const char *mon_token_problem(const char *token);

/* True when the len bytes at s are well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), as JSON text must be. Pure; NUL bytes are allowed. */
bool mon_utf8_valid(const char *s, size_t len);

#endif
