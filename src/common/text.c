/* SPDX-License-Identifier: MIT */
/* Unicode text rules: UTF-8 decoding, hidden characters, sanitising and name case folding. */
#include "common/text.h"

#include <string.h>

size_t mon_utf8_next(const char *s, size_t len, uint32_t *ret_cp)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp, min;
    size_t more;

    if (len == 0)
        return 0;
    if (p[0] < 0x80) {
        *ret_cp = p[0];
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        more = 1;
        min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        more = 2;
        min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        more = 3;
        min = 0x10000;
    } else {
        return 0; /* a continuation byte, 0xc0/0xc1 or 0xf5.. */
    }
    if (len <= more)
        return 0;
    cp = p[0] & (0x3fu >> more);
    for (size_t i = 1; i <= more; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *ret_cp = cp;
    return more + 1;
}

size_t mon_utf8_put(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

struct cp_range {
    uint32_t first, last;
};

/* Sorted. Controls, the format characters of Unicode 15 (category Cf), separators, variation
 * selectors, fillers that draw as blank and the noncharacters of the BMP. */
static const struct cp_range hidden[] = {
    {0x0000, 0x001f},   {0x007f, 0x009f},   {0x00ad, 0x00ad},   {0x034f, 0x034f},
    {0x0600, 0x0605},   {0x061c, 0x061c},   {0x06dd, 0x06dd},   {0x070f, 0x070f},
    {0x0890, 0x0891},   {0x08e2, 0x08e2},   {0x115f, 0x1160},   {0x17b4, 0x17b5},
    {0x180b, 0x180f},   {0x200b, 0x200f},   {0x2028, 0x202e},   {0x2060, 0x206f},
    {0x3164, 0x3164},   {0xfdd0, 0xfdef},   {0xfe00, 0xfe0f},   {0xfeff, 0xfeff},
    {0xffa0, 0xffa0},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd},
    {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0000, 0xe0fff},
};

bool mon_text_is_hidden(uint32_t cp)
{
    size_t lo = 0, hi = sizeof(hidden) / sizeof(hidden[0]);
    if ((cp & 0xfffe) == 0xfffe) /* U+xFFFE and U+xFFFF of every plane */
        return true;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < hidden[mid].first)
            hi = mid;
        else if (cp > hidden[mid].last)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

bool mon_text_is_space(uint32_t cp)
{
    return cp == 0x20 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* Upper case at even code points, lower case right after: folds to cp | 1. */
static bool even_odd_pair(uint32_t cp)
{
    return (cp >= 0x0100 && cp <= 0x012f) || (cp >= 0x0132 && cp <= 0x0137) ||
           (cp >= 0x014a && cp <= 0x0177) || (cp >= 0x0460 && cp <= 0x0481) ||
           (cp >= 0x048a && cp <= 0x04bf) || (cp >= 0x04d0 && cp <= 0x052f) ||
           (cp >= 0x1e00 && cp <= 0x1e95) || (cp >= 0x1ea0 && cp <= 0x1eff);
}

/* Upper case at odd code points, lower case right after. */
static bool odd_even_pair(uint32_t cp)
{
    return (cp >= 0x0139 && cp <= 0x0148) || (cp >= 0x0179 && cp <= 0x017e) ||
           (cp >= 0x04c1 && cp <= 0x04ce);
}

uint32_t mon_text_fold(uint32_t cp)
{
    if (cp >= 0xff01 && cp <= 0xff5e) /* fullwidth ASCII */
        cp -= 0xfee0;
    if (cp >= 'A' && cp <= 'Z')
        return cp + 0x20;
    if (cp < 0xc0)
        return cp;
    if ((cp <= 0xde && cp != 0xd7) || (cp >= 0x391 && cp <= 0x3ab && cp != 0x3a2) ||
        (cp >= 0x410 && cp <= 0x42f))
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40f)
        return cp + 0x50;
    if (cp >= 0x531 && cp <= 0x556)
        return cp + 0x30;
    if (even_odd_pair(cp))
        return cp | 1;
    if (odd_even_pair(cp))
        return (cp & 1) ? cp + 1 : cp;
    switch (cp) {
    case 0x178: /* Ÿ */
        return 0xff;
    case 0x130: /* İ */
        return 'i';
    case 0x386:
        return 0x3ac;
    case 0x388:
    case 0x389:
    case 0x38a:
        return cp + 0x25;
    case 0x38c:
        return 0x3cc;
    case 0x38e:
    case 0x38f:
        return cp + 0x3f;
    case 0x3c2: /* final sigma */
        return 0x3c3;
    case 0x1e9e: /* capital sharp s */
        return 0xdf;
    default:
        return cp;
    }
}

size_t mon_text_sanitize(const char *src, size_t len, char *dst, size_t size)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    size_t out = 0, i = 0;

    if (size == 0)
        return 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t n = mon_utf8_next(src + i, len - i, &cp);
        const char *piece = src + i;
        size_t piece_len = n;
        if (n == 0 || mon_text_is_hidden(cp)) {
            piece = replacement;
            piece_len = 3;
        }
        if (out + piece_len >= size)
            break;
        memcpy(dst + out, piece, piece_len);
        out += piece_len;
        i += n ? n : 1;
    }
    dst[out] = '\0';
    return out;
}

size_t mon_text_strip_hidden(char *s)
{
    size_t len = strlen(s), out = 0, i = 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t n = mon_utf8_next(s + i, len - i, &cp);
        if (n == 0) {
            s[out++] = '?';
            i++;
            continue;
        }
        if (!mon_text_is_hidden(cp)) {
            memmove(s + out, s + i, n);
            out += n;
        }
        i += n;
    }
    s[out] = '\0';
    return out;
}

size_t mon_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}
