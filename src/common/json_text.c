/* SPDX-License-Identifier: MIT */
/* JSON text written straight into a buffer, byte for byte as cJSON prints the same values:
 * for large replies (the server list, the usage report) where a cJSON tree cost tens of
 * milliseconds. */
#include "common/json_text.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string with the escapes RFC 8259 requires (as cJSON writes them). */
int mon_jtext_str(struct mon_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;
    int r = mon_buf_append(b, "\"", 1);
    for (; r == MON_OK && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t n = 2;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        r = mon_buf_append(b, run, (size_t)(s - run));
        run = s + 1;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default: /* \u00XX */
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (r == MON_OK)
            r = mon_buf_append(b, esc, n);
    }
    if (r == MON_OK)
        r = mon_buf_append(b, run, (size_t)(s - run));
    return r == MON_OK ? mon_buf_append(b, "\"", 1) : r;
}

int mon_jtext_i64(struct mon_buf *b, int64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return mon_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* A number rounded to decimals places, printed as cJSON prints the rounded value (integers
 * without a fraction; otherwise the shortest of %.15g / %.17g that reads back the same). */
int mon_jtext_num(struct mon_buf *b, bool present, double v, int decimals)
{
    double r, back;
    char tmp[32], *end = NULL;
    if (!present || !isfinite(v))
        return mon_buf_puts(b, "null");
    r = mon_round(v, decimals);
    if (fabs(r) < 1e15 && r == floor(r))
        return mon_jtext_i64(b, (int64_t)r);
    if (decimals == 1 && fabs(r) < 1e14) {
        int64_t tenths = llround(r * 10.0), whole = tenths / 10;
        int rc = tenths < 0 && whole == 0 ? mon_buf_puts(b, "-") : MON_OK;
        if (rc == MON_OK)
            rc = mon_jtext_i64(b, whole);
        tmp[0] = '.';
        tmp[1] = (char)('0' + (tenths < 0 ? -tenths : tenths) % 10);
        return rc == MON_OK ? mon_buf_append(b, tmp, 2) : rc;
    }
    snprintf(tmp, sizeof(tmp), "%1.15g", r);
    back = strtod(tmp, &end);
    if (!end || *end || back != r)
        snprintf(tmp, sizeof(tmp), "%1.17g", r);
    return mon_buf_puts(b, tmp);
}

int mon_jtext_time(struct mon_buf *b, int64_t utc_s)
{
    char text[MON_ISO8601_LEN];
    if (utc_s < 0 || mon_format_iso8601(utc_s, text, sizeof(text)) < 0)
        return mon_buf_puts(b, "null");
    return mon_jtext_str(b, text);
}

int mon_jtext_str_or_null(struct mon_buf *b, const char *s)
{
    return s && s[0] ? mon_jtext_str(b, s) : mon_buf_puts(b, "null");
}

/* ",\"name\":" (without the comma before the first key of an object). */
int mon_jtext_key(struct mon_buf *b, bool *first, const char *name)
{
    int r = *first ? MON_OK : mon_buf_append(b, ",", 1);
    *first = false;
    if (r == MON_OK)
        r = mon_jtext_str(b, name);
    return r == MON_OK ? mon_buf_append(b, ":", 1) : r;
}

int mon_jtext_fixed(struct mon_buf *b, bool present, double v, int decimals)
{
    static const double scales[] = {1, 10, 100, 1000, 10000};
    double k;
    int64_t scale, whole, frac;
    char digits[8];
    int n, r;
    if (!present || !isfinite(v))
        return mon_buf_puts(b, "null");
    if (decimals < 0 || decimals > 4)
        return mon_jtext_num(b, present, v, decimals);
    k = mon_round_int(v * scales[decimals]); /* mon_round's numerator */
    if (!(fabs(k) < 1e15))
        return mon_jtext_num(b, present, v, decimals);
    scale = (int64_t)scales[decimals];
    whole = (int64_t)k / scale;
    frac = (int64_t)k % scale;
    if (frac == 0)
        return mon_jtext_i64(b, whole);
    r = k < 0 && whole == 0 ? mon_buf_append(b, "-", 1) : MON_OK;
    if (r == MON_OK)
        r = mon_jtext_i64(b, whole);
    /* The fraction's digits, without the trailing zeros %g leaves out. */
    frac = frac < 0 ? -frac : frac;
    for (n = decimals; n > 0; n--) {
        digits[n] = (char)('0' + frac % 10);
        frac /= 10;
    }
    digits[0] = '.';
    for (n = decimals; n > 1 && digits[n] == '0'; n--)
        ;
    return r == MON_OK ? mon_buf_append(b, digits, (size_t)n + 1) : r;
}
