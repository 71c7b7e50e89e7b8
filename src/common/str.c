/* SPDX-License-Identifier: MIT */
/* String helpers with explicit bounds; number parsing never depends on the locale's grouping. */
#include "common/str.h"

#include "common/err.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mon_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
    char *end;
    long long v;

    if (!s || !(isdigit((unsigned char)s[0]) ||
                ((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1]))))
        return MON_EPARSE;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return MON_EPARSE;
    if (errno == ERANGE || v < min || v > max)
        return MON_ERANGE;
    *ret = (int64_t)v;
    return MON_OK;
}

bool mon_parse_u64_span(const char *p, const char *end, uint64_t *ret)
{
    uint64_t v = 0;

    if (p == end)
        return false;
    for (; p < end; p++) {
        unsigned d;
        if (*p < '0' || *p > '9')
            return false;
        d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *ret = v;
    return true;
}

int mon_parse_double(const char *s, double *ret)
{
    char *end;
    double v;

    if (!s || !*s || isspace((unsigned char)s[0]))
        return MON_EPARSE;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0')
        return MON_EPARSE;
    if (errno == ERANGE || !isfinite(v))
        return MON_ERANGE;
    *ret = v;
    return MON_OK;
}

bool mon_secret_equal(const char *given, const char *expected)
{
    /* A missing secret is compared like an empty one; picked by index, not by a branch, so
     * that it runs the same instructions as any other wrong secret. */
    const char *const pick[2] = {given, ""};
    volatile unsigned char diff = 0;
    unsigned char bad;
    size_t n, j = 0;

    if (!expected)
        return false;
    given = pick[given == NULL];
    n = strlen(expected);
    /* Exactly n rounds of the same instructions, whatever `given` holds or how long it is: j
     * advances along `given` and stays on its NUL once it ends (never reading past it), so a
     * shorter `given` differs at its NUL and a longer one leaves a non-NUL byte at given[n]. */
    for (size_t i = 0; i < n; i++) {
        unsigned char g = (unsigned char)given[j];
        diff |= (unsigned char)(g ^ (unsigned char)expected[i]);
        j += (size_t)(g != 0);
    }
    diff |= (unsigned char)given[j];
    bad = diff;
    bad |= (unsigned char)(n == 0);
    return bad == 0;
}

const char *mon_token_problem(const char *token)
{
    size_t len = token ? strlen(token) : 0;
    if (len == 0)
        return "is empty";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f)
            return "contains a line break, tab or another control character";
    if (strspn(token, " ") == len)
        return "contains only spaces";
    if (token[0] == ' ' || token[len - 1] == ' ')
        return "starts or ends with a space";
    return NULL;
}

bool mon_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size == 0)
        return n == 0;
    if (n >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

bool mon_str_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *mon_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

bool mon_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p, cp, min;
        size_t more;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            min = 0x10000;
        } else {
            return false; /* a continuation byte, 0xc0/0xc1 or 0xf5.. */
        }
        cp = c & (0x3fu >> more);
        if ((size_t)(end - p) <= more)
            return false;
        for (size_t i = 1; i <= more; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += more + 1;
    }
    return true;
}

void mon_str_format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    if (!buf || !size)
        return;
    va_start(ap, fmt);
    if (vsnprintf(buf, size, fmt, ap) < 0)
        buf[0] = '\0';
    va_end(ap);
}
