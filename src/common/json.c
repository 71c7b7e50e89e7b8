/* SPDX-License-Identifier: MIT */
/* cJSON helpers with explicit null handling and range checks. */
#include "common/json.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/text.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double mon_round_int(double v)
{
    /* round() without libm (the portable agent's only use of it: linking libm costs about
     * 0.3 MiB of resident pages). Below 2^52 the fraction v - trunc(v) is exact; from there on
     * every double is an integer (and NaN or an infinity is returned as it is). */
    int64_t i;
    double frac;
    if (!(fabs(v) < 4503599627370496.0))
        return v;
    i = (int64_t)v;
    frac = v - (double)i;
    if (frac >= 0.5)
        i++;
    else if (frac <= -0.5)
        i--;
    return copysign((double)i, v);
}

double mon_round(double v, int decimals)
{
    /* Powers of ten by multiplication: exact up to 1e22, unlike some C libraries' pow()
     * (mingw's pow(10, -2) is not the double nearest 0.01). */
    double scale = 1.0, r;
    for (int i = 0; i < (decimals < 0 ? -decimals : decimals) && isfinite(scale); i++)
        scale *= 10.0;
    r = decimals < 0 ? mon_round_int(v / scale) * scale : mon_round_int(v * scale) / scale;
    if (!isfinite(r)) /* v * scale overflowed: v is too large to have digits to round */
        return v;
    return r == 0.0 ? 0.0 : r; /* -0.001 rounds to 0, never to "-0" in JSON */
}

cJSON *mon_json_add_rounded(cJSON *obj, const char *name, double v, int decimals)
{
    return cJSON_AddNumberToObject(obj, name, mon_round(v, decimals));
}

cJSON *mon_json_add_opt(cJSON *obj, const char *name, bool present, double v, int decimals)
{
    if (!present || !isfinite(v))
        return cJSON_AddNullToObject(obj, name);
    return mon_json_add_rounded(obj, name, v, decimals);
}

cJSON *mon_json_add_time(cJSON *obj, const char *name, int64_t utc_s)
{
    char buf[MON_ISO8601_LEN];
    if (utc_s < 0 || mon_format_iso8601(utc_s, buf, sizeof(buf)) < 0)
        return cJSON_AddNullToObject(obj, name);
    return cJSON_AddStringToObject(obj, name, buf);
}

int mon_json_item_number(const cJSON *it, const char *name, double min, double max, double *ret,
                         char *why, size_t why_len)
{
    if (!it || cJSON_IsNull(it))
        return MON_ENOENT;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
        snprintf(why, why_len, "%s: not a number", name);
        return MON_EINVAL;
    }
    if (it->valuedouble < min || it->valuedouble > max) {
        snprintf(why, why_len, "%s: %g out of range", name, it->valuedouble);
        return MON_EINVAL;
    }
    *ret = it->valuedouble;
    return MON_OK;
}

int mon_json_get_number(const cJSON *obj, const char *name, double min, double max, double *ret,
                        char *why, size_t why_len)
{
    return mon_json_item_number(cJSON_GetObjectItemCaseSensitive(obj, name), name, min, max, ret,
                                why, why_len);
}

int mon_json_item_string(const cJSON *it, const char *name, size_t max_len, const char **ret,
                         char *why, size_t why_len)
{
    if (!it || cJSON_IsNull(it))
        return MON_ENOENT;
    if (!cJSON_IsString(it) || !it->valuestring) {
        snprintf(why, why_len, "%s: not a string", name);
        return MON_EINVAL;
    }
    /* bounded: a hostile megabyte string is not walked to its end */
    if (max_len < SIZE_MAX && strnlen(it->valuestring, max_len + 1) > max_len) {
        snprintf(why, why_len, "%s: longer than %zu bytes", name, max_len);
        return MON_EINVAL;
    }
    *ret = it->valuestring;
    return MON_OK;
}

int mon_json_get_string(const cJSON *obj, const char *name, size_t max_len, const char **ret,
                        char *why, size_t why_len)
{
    return mon_json_item_string(cJSON_GetObjectItemCaseSensitive(obj, name), name, max_len, ret,
                                why, why_len);
}

/* True when some byte of s is below 0x20 (a word at a time: a byte b < 0x20 is the only one
 * whose b - 0x20 borrows into its high bit while its own high bit is clear). */
static bool has_control(const char *s, size_t len)
{
    uint64_t w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        if ((w - 0x2020202020202020ULL) & ~w & 0x8080808080808080ULL)
            return true;
    }
    for (; i < len; i++)
        if ((unsigned char)s[i] < 0x20)
            return true;
    return false;
}

/* Rejects what cJSON would accept but lose: "\u0000" inside a string (the string would end
 * there) and raw control characters, which JSON forbids in strings. Text with neither a
 * backslash nor a byte below 0x20 (compact JSON without escapes: what agents send) has
 * neither, which two fast passes show; other text is walked string by string. */
static bool strings_clean(const char *text, size_t len, char *why, size_t why_len)
{
    bool in_string = false;
    if (!memchr(text, '\\', len) && !has_control(text, len))
        return true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!in_string) {
            in_string = c == '"';
            continue;
        }
        if (c == '"') {
            in_string = false;
        } else if (c == '\\') {
            if (i + 5 < len && text[i + 1] == 'u' && memcmp(text + i + 2, "0000", 4) == 0) {
                snprintf(why, why_len, "a string contains \\u0000");
                return false;
            }
            i++; /* the escaped character, whatever it is */
        } else if (c < 0x20) {
            snprintf(why, why_len, "a string contains a raw control character");
            return false;
        }
    }
    return true;
}

static int key_order(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key that obj names twice, or NULL, for objects of any size: sorted (n log n, so a
 * hostile object of 100,000 keys is no n² walk). */
static int duplicate_key_sorted(const cJSON *obj, size_t n, const char **ret_key)
{
    const cJSON *a;
    const char **keys = malloc(n * sizeof(*keys));
    size_t i = 0;
    if (!keys)
        return MON_ENOMEM;
    for (a = obj->child; a; a = a->next)
        keys[i++] = a->string ? a->string : "";
    qsort(keys, n, sizeof(*keys), key_order);
    for (i = 1; i < n && !*ret_key; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            *ret_key = keys[i];
    free(keys);
    return MON_OK;
}

/* The first key that obj names twice, or NULL. Objects of up to KEYS_SMALL keys (every object
 * an agent or the dashboard sends) are compared pairwise on their first two bytes, kept in an
 * array on the stack, and with strcmp only where those are equal: no allocation, and about
 * one byte compare per pair. Larger ones are sorted. */
#define KEYS_SMALL 64
static int duplicate_key(const cJSON *obj, const char **ret_key)
{
    const char *keys[KEYS_SMALL];
    uint16_t tags[KEYS_SMALL];
    const cJSON *a;
    size_t n = 0;

    *ret_key = NULL;
    for (a = obj->child; a; a = a->next)
        n++;
    if (n > KEYS_SMALL)
        return duplicate_key_sorted(obj, n, ret_key);
    n = 0;
    for (a = obj->child; a; a = a->next) {
        const char *key = a->string ? a->string : "";
        /* the second byte is read only when the first is not the end */
        uint16_t tag = (uint8_t)key[0] | (uint16_t)(key[0] ? (uint8_t)key[1] << 8 : 0);
        for (size_t i = 0; i < n; i++)
            if (tags[i] == tag && strcmp(keys[i], key) == 0) {
                *ret_key = key;
                return MON_OK;
            }
        keys[n] = key;
        tags[n++] = tag;
    }
    return MON_OK;
}

/* Walks the tree without recursion (cJSON allows 1000 levels): each container's children are
 * visited through the next/child links, returning to the parent via an explicit stack. */
static int check_keys(const cJSON *root, char *why, size_t why_len)
{
    const cJSON *stack[1024];
    size_t depth = 0;
    const cJSON *it = root;

    while (it) {
        /* cJSON_IsObject and cJSON_IsArray, without a library call per node */
        int type = it->type & 0xFF;
        if (type == cJSON_Object) {
            const char *dup;
            int r = duplicate_key(it, &dup);
            if (r < 0)
                return r;
            if (dup) {
                char shown[64];
                mon_text_sanitize(dup, strlen(dup), shown, sizeof(shown));
                snprintf(why, why_len, "duplicate key \"%s\"", shown);
                return MON_EPARSE;
            }
        }
        if ((type == cJSON_Object || type == cJSON_Array) && it->child &&
            depth < sizeof(stack) / sizeof(stack[0])) {
            stack[depth++] = it;
            it = it->child;
            continue;
        }
        while (it && !it->next && depth > 0)
            it = stack[--depth];
        it = (it && it != root) ? it->next : NULL;
    }
    return MON_OK;
}

int mon_json_parse_strict(const char *text, size_t len, cJSON **ret, char *why, size_t why_len)
{
    const char *end = NULL;
    cJSON *root;
    int r;

    if (!strings_clean(text, len, why, why_len))
        return MON_EPARSE;
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        snprintf(why, why_len, "not JSON");
        return MON_EPARSE;
    }
    while (end && end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (!end || end != text + len) {
        snprintf(why, why_len, "data after the JSON value");
        cJSON_Delete(root);
        return MON_EPARSE;
    }
    r = check_keys(root, why, why_len);
    if (r < 0) {
        if (r == MON_ENOMEM)
            snprintf(why, why_len, "out of memory");
        cJSON_Delete(root);
        return r;
    }
    *ret = root;
    return MON_OK;
}
