/* SPDX-License-Identifier: MIT */
/* cJSON helpers: rounded and nullable numbers out, strictly validated fields in. */
#ifndef MON_COMMON_JSON_H
#define MON_COMMON_JSON_H

/* Ownership and threads: items added to obj belong to obj (the return value is borrowed);
 * strings read from an object are borrowed and live as long as it does; a tree from
 * mon_json_parse_strict belongs to the caller (cJSON_Delete). No state of their own: safe from
 * any thread on objects that thread owns. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* Adds name: v rounded to `decimals` places (so 23.400000001 prints as 23.4). Returns the
 * item or NULL on allocation failure. */
struct cJSON *mon_json_add_rounded(struct cJSON *obj, const char *name, double v, int decimals);

/* Adds name: v when present, else name: null. */
struct cJSON *mon_json_add_opt(struct cJSON *obj, const char *name, bool present, double v,
                               int decimals);

/* Adds name: "YYYY-MM-DDTHH:MM:SSZ" for utc_s, or null when utc_s < 0. */
struct cJSON *mon_json_add_time(struct cJSON *obj, const char *name, int64_t utc_s);

/* Reads a number field in [min, max]. Absent or null: MON_ENOENT. Wrong type, NaN or out of
 * range: MON_EINVAL with a reason ("cpu_pct: not a number") in why. */
int mon_json_get_number(const struct cJSON *obj, const char *name, double min, double max,
                        double *ret, char *why, size_t why_len);

/* Reads a string field of at most max_len bytes. Same returns as mon_json_get_number; the
 * returned pointer is borrowed from obj. */
int mon_json_get_string(const struct cJSON *obj, const char *name, size_t max_len, const char **ret,
                        char *why, size_t why_len);

/* The same two checks on an item already looked up (it NULL: absent), for callers that find
 * their fields themselves; name is only used in the reason. */
int mon_json_item_number(const struct cJSON *it, const char *name, double min, double max,
                         double *ret, char *why, size_t why_len);
int mon_json_item_string(const struct cJSON *it, const char *name, size_t max_len, const char **ret,
                         char *why, size_t why_len);

/* Parses len bytes of UTF-8 as exactly one JSON value, stricter than cJSON alone: strings may
 * not hold \u0000 (cJSON would cut them there) or raw control characters, only whitespace may
 * follow the value, and no object may name a key twice. On failure returns MON_EPARSE with a
 * short reason in why ("duplicate key \"name\"", "data after the JSON value") or MON_ENOMEM;
 * *ret is written only on success (free it with cJSON_Delete). */
int mon_json_parse_strict(const char *text, size_t len, struct cJSON **ret, char *why,
                          size_t why_len);

/* v rounded to an integer, half away from zero, as C's round() (without libm). */
double mon_round_int(double v);

/* Rounds v to `decimals` decimal places (half away from zero). */
double mon_round(double v, int decimals);

#endif
