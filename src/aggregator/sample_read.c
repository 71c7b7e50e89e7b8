/* SPDX-License-Identifier: MIT */
/* The field readers of the agent-reply parser (sample_priv.h): member look-up, one checked
 * reader per JSON type, and the "gpus[2].processes[0].pid: ..." reasons, formatted only when a
 * field is rejected. */
#include "aggregator/sample.h"
#include "aggregator/sample_priv.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/text.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define PCT_MAX 100.0001 /* agents round; a hair above 100 is accepted and clamped */

/* True when member it is named name. The first bytes are compared here: most members differ
 * there, so the library call is made about once per field. */
static bool named(const cJSON *it, const char *name)
{
    return it->string && it->string[0] == name[0] && strcmp(it->string, name) == 0;
}

const cJSON *agg_sample_member(struct agg_parse_ctx *c, const cJSON *o, const char *name)
{
    const cJSON *start, *it;
    if (!o)
        return NULL;
    start = c->obj == o && c->last && c->last->next ? c->last->next : o->child;
    for (it = start; it; it = it->next)
        if (named(it, name))
            goto found;
    for (it = o->child; it && it != start; it = it->next)
        if (named(it, name))
            goto found;
    return NULL;
found:
    c->obj = o;
    c->last = it;
    return it;
}

void agg_sample_at(struct agg_parse_ctx *c, const char *outer, size_t outer_i)
{
    c->outer = outer;
    c->outer_i = outer_i;
    c->inner = NULL;
    c->inner_i = AGG_NO_INDEX;
}

void agg_sample_in(struct agg_parse_ctx *c, const char *inner, size_t inner_i)
{
    c->inner = inner;
    c->inner_i = inner_i;
}

/* One level of the path: "name." or "name[i].". */
static size_t put_level(char *buf, size_t size, size_t off, const char *name, size_t i)
{
    int n;
    if (!name || off >= size)
        return off;
    if (i == AGG_NO_INDEX)
        n = snprintf(buf + off, size - off, "%s.", name);
    else
        n = snprintf(buf + off, size - off, "%s[%zu].", name, i);
    return n < 0 ? off : off + (size_t)n;
}

void agg_sample_prefix(const struct agg_parse_ctx *c, char *buf, size_t size)
{
    size_t off;
    buf[0] = '\0';
    off = put_level(buf, size, 0, c->outer, c->outer_i);
    put_level(buf, size, off, c->inner, c->inner_i);
}

/* True when s is printable ASCII only: nothing to strip (the common case). */
static bool printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

int agg_sample_fail(struct agg_parse_ctx *c, const char *field, const char *reason)
{
    char prefix[AGG_PREFIX_LEN];
    agg_sample_prefix(c, prefix, sizeof(prefix));
    snprintf(c->why, c->why_len, "%s%s: %s", prefix, field, reason);
    return MON_EPARSE;
}

/* A reason from the common JSON readers ("cpu_pct: not a number") after the path. */
static int fail_with(struct agg_parse_ctx *c, const char *reason)
{
    char prefix[AGG_PREFIX_LEN];
    agg_sample_prefix(c, prefix, sizeof(prefix));
    snprintf(c->why, c->why_len, "%s%s", prefix, reason);
    return MON_EPARSE;
}

/* Reads an optional number; *ret_has tells whether it was present (not absent, not null). */
int agg_sample_num(struct agg_parse_ctx *c, const cJSON *o, const char *name, double min,
                   double max, bool *ret_has, double *ret)
{
    char reason[128];
    double v = 0;
    int r = mon_json_item_number(agg_sample_member(c, o, name), name, min, max, &v, reason,
                                 sizeof(reason));
    if (r == MON_ENOENT) {
        *ret_has = false;
        return MON_OK;
    }
    if (r < 0)
        return fail_with(c, reason);
    *ret_has = true;
    *ret = v;
    return MON_OK;
}

int agg_sample_pct(struct agg_parse_ctx *c, const cJSON *o, const char *name, bool *ret_has,
                   double *ret)
{
    int r = agg_sample_num(c, o, name, 0, PCT_MAX, ret_has, ret);
    if (r == MON_OK && *ret_has && *ret > 100.0)
        *ret = 100.0;
    return r;
}

/* Reads an optional integer in [min, max]. */
int agg_sample_int(struct agg_parse_ctx *c, const cJSON *o, const char *name, int min, int max,
                   bool *ret_has, int *ret)
{
    double v = 0;
    int r = agg_sample_num(c, o, name, min, max, ret_has, &v);
    if (r < 0 || !*ret_has)
        return r;
    if (floor(v) != v)
        return agg_sample_fail(c, name, "not an integer");
    *ret = (int)v;
    return MON_OK;
}

/* Copies an optional string into dst (size bytes with the NUL); too long is an error. Hidden
 * characters are removed. */
int agg_sample_str(struct agg_parse_ctx *c, const cJSON *o, const char *name, char *dst,
                   size_t size)
{
    char reason[128];
    const char *s = NULL;
    int r = mon_json_item_string(agg_sample_member(c, o, name), name, size - 1, &s, reason,
                                 sizeof(reason));
    dst[0] = '\0';
    if (r == MON_ENOENT)
        return MON_OK;
    if (r < 0)
        return fail_with(c, reason);
    /* the reader checked that s fits: strlen(s) < size */
    memcpy(dst, s, strlen(s) + 1);
    /* Agent text is shown to people and stored: no controls, no invisible or text-direction
     * characters that could make "srv-01" look like another name or reorder a line. */
    if (!printable_ascii(dst))
        mon_text_strip_hidden(dst);
    return MON_OK;
}

int agg_sample_bool(struct agg_parse_ctx *c, const cJSON *o, const char *name, bool *ret)
{
    const cJSON *it = agg_sample_member(c, o, name);
    *ret = false;
    if (!it || cJSON_IsNull(it))
        return MON_OK;
    if (!cJSON_IsBool(it))
        return agg_sample_fail(c, name, "not a boolean");
    *ret = cJSON_IsTrue(it);
    return MON_OK;
}

/* Returns the array item name (NULL when absent or null) after checking its type and size. */
int agg_sample_array(struct agg_parse_ctx *c, const cJSON *o, const char *name, bool required,
                     int max, const cJSON **ret, size_t *ret_n)
{
    const cJSON *it = agg_sample_member(c, o, name);
    char reason[48];
    int n;
    *ret = NULL;
    *ret_n = 0;
    if (!it || cJSON_IsNull(it))
        return required ? agg_sample_fail(c, name, "missing") : MON_OK;
    if (!cJSON_IsArray(it))
        return agg_sample_fail(c, name, "not an array");
    n = cJSON_GetArraySize(it);
    if (n > max) {
        snprintf(reason, sizeof(reason), "more than %d entries", max);
        return agg_sample_fail(c, name, reason);
    }
    *ret = it;
    *ret_n = (size_t)n;
    return MON_OK;
}

/* Reads an optional whole number in [0, max]; -1 when absent or null. */
int agg_sample_count(struct agg_parse_ctx *c, const cJSON *o, const char *name, double max,
                     int64_t *ret)
{
    bool has = false;
    double v = 0;
    int r = agg_sample_num(c, o, name, 0, max, &has, &v);
    if (r < 0)
        return r;
    if (has && floor(v) != v)
        return agg_sample_fail(c, name, "not an integer");
    *ret = has ? (int64_t)v : -1;
    return MON_OK;
}

/* Reads an optional ISO-8601 time; -1 when absent or null. */
int agg_sample_time(struct agg_parse_ctx *c, const cJSON *o, const char *name, int64_t *ret)
{
    const cJSON *it = agg_sample_member(c, o, name);
    int64_t t = -1;
    *ret = -1;
    if (!it || cJSON_IsNull(it))
        return MON_OK;
    if (!cJSON_IsString(it) || mon_parse_iso8601(it->valuestring, &t) < 0)
        return agg_sample_fail(c, name, "not an ISO-8601 time");
    /* -1 means "not given": an earlier time is no process start or Xid an agent reports. */
    if (t < 0)
        return agg_sample_fail(c, name, "before 1970");
    *ret = t;
    return MON_OK;
}

/* Returns the object item name (NULL when absent or null) after checking its type. */
int agg_sample_object(struct agg_parse_ctx *c, const cJSON *o, const char *name, const cJSON **ret)
{
    const cJSON *it = agg_sample_member(c, o, name);
    *ret = NULL;
    if (!it || cJSON_IsNull(it))
        return MON_OK;
    if (!cJSON_IsObject(it))
        return agg_sample_fail(c, name, "not an object");
    *ret = it;
    return MON_OK;
}
