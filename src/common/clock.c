/* SPDX-License-Identifier: MIT */
/* Clock reads and the ISO-8601 / duration text forms, with no locale or time-zone dependence. */
#include "common/clock.h"

#include "common/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t mon_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Configuration set once by mon_clock_init_from_env() before threads start; NULL (the
 * default) means no offset. */
static char *offset_file;

void mon_clock_set_offset_file(const char *path)
{
    free(offset_file);
    offset_file = path && *path ? strdup(path) : NULL;
}

void mon_clock_init_from_env(void)
{
    mon_clock_set_offset_file(getenv(MON_CLOCK_OFFSET_ENV));
}

/* Test-only: the offset in ms from offset_file, re-read on every call so a test can change it
 * while the daemon runs. */
static int64_t offset_ms(const char *path)
{
    char line[32];
    long long v;
    char *end;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    errno = 0;
    v = strtoll(line, &end, 10);
    if (end == line || errno || v < -100LL * 365 * 86400 || v > 100LL * 365 * 86400)
        return 0;
    return (int64_t)v * 1000;
}

int64_t mon_utc_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
           (offset_file ? offset_ms(offset_file) : 0);
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian), after H. Hinnant's algorithm;
 * avoids timegm(), which is not portable to Windows. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int64_t mon_utc_from_date(int year, int month, int day)
{
    return days_from_civil(year, (unsigned)month, (unsigned)day) * 86400;
}

int64_t mon_utc_month_start(int64_t utc_s, int months, int *ret_year, int *ret_month)
{
    int64_t days = utc_s / 86400, y, index;
    unsigned m, d;
    if (utc_s % 86400 < 0)
        days--;
    civil_from_days(days, &y, &m, &d);
    /* Months since year 0, moved, then split again (floor division for negative moves). */
    index = y * 12 + (int64_t)m - 1 + months;
    y = index >= 0 ? index / 12 : -((11 - index) / 12);
    m = (unsigned)(index - y * 12) + 1;
    if (ret_year)
        *ret_year = (int)y;
    if (ret_month)
        *ret_month = (int)m;
    return days_from_civil(y, m, 1) * 86400;
}

/* v as n decimal digits, zero-padded, at p. */
static void put_digits(char *p, int n, unsigned v)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

int mon_format_iso8601(int64_t utc_s, char *buf, size_t size)
{
    int64_t days = utc_s / 86400, rem = utc_s % 86400, y;
    unsigned m, d;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999 || size < 21)
        return MON_ERANGE;
    /* Digit by digit: snprintf cost most of a 5,000-line usage report's time stamps. */
    put_digits(buf, 4, (unsigned)y);
    buf[4] = '-';
    put_digits(buf + 5, 2, m);
    buf[7] = '-';
    put_digits(buf + 8, 2, d);
    buf[10] = 'T';
    put_digits(buf + 11, 2, (unsigned)(rem / 3600));
    buf[13] = ':';
    put_digits(buf + 14, 2, (unsigned)(rem / 60 % 60));
    buf[16] = ':';
    put_digits(buf + 17, 2, (unsigned)(rem % 60));
    buf[19] = 'Z';
    buf[20] = '\0';
    return MON_OK;
}

static int read_digits(const char **p, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return MON_EPARSE;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *ret = v;
    return MON_OK;
}

static int expect_char(const char **p, char c)
{
    if (**p != c)
        return MON_EPARSE;
    (*p)++;
    return MON_OK;
}

int mon_parse_iso8601(const char *text, int64_t *ret_utc_s)
{
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0, zone_s = 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (!text)
        return MON_EINVAL;
    if (read_digits(&p, 4, &y) || expect_char(&p, '-') || read_digits(&p, 2, &mo) ||
        expect_char(&p, '-') || read_digits(&p, 2, &d))
        return MON_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return MON_ERANGE;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return MON_ERANGE;
    if (*p == '\0')
        goto done;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return MON_EPARSE;
    p++;
    if (read_digits(&p, 2, &h) || expect_char(&p, ':') || read_digits(&p, 2, &mi) ||
        expect_char(&p, ':') || read_digits(&p, 2, &s))
        return MON_EPARSE;
    if (h > 23 || mi > 59 || s > 60)
        return MON_ERANGE;
    if (*p == '.') { /* fractional seconds are accepted and truncated */
        p++;
        if (!isdigit((unsigned char)*p))
            return MON_EPARSE;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, zh, zm;
        p++;
        if (read_digits(&p, 2, &zh))
            return MON_EPARSE;
        if (*p == ':')
            p++;
        if (read_digits(&p, 2, &zm) || zh > 23 || zm > 59)
            return MON_EPARSE;
        zone_s = sign * (zh * 3600 + zm * 60);
    } else {
        return MON_EPARSE; /* a local time without zone is ambiguous */
    }
    if (*p != '\0')
        return MON_EPARSE;
done:
    *ret_utc_s =
        days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s - zone_s;
    return MON_OK;
}

int mon_parse_duration_ms(const char *text, int64_t *ret_ms)
{
    char *end;
    long long v;
    int64_t unit;

    if (!text || !isdigit((unsigned char)text[0]))
        return MON_EPARSE;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || v < 0)
        return MON_ERANGE;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (strcmp(end, "s") == 0)
        unit = 1000;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        unit = 60000;
    else if (strcmp(end, "h") == 0)
        unit = 3600000;
    else if (strcmp(end, "d") == 0)
        unit = 86400000;
    else
        return MON_EPARSE;
    if (v > INT64_MAX / unit)
        return MON_ERANGE;
    *ret_ms = (int64_t)v * unit;
    return MON_OK;
}

void mon_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    if (ms > 0)
        nanosleep(&ts, NULL);
}
