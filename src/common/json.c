/* SPDX-License-Identifier: MIT */
/* cJSON helpers with explicit null handling and range checks. */
#include "common/json.h"

#include "common/clock.h"
#include "common/err.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

double mon_round(double v, int decimals)
{
    /* Powers of ten by multiplication: exact up to 1e22, unlike some C libraries' pow()
     * (mingw's pow(10, -2) is not the double nearest 0.01). */
    double scale = 1.0, r;
    for (int i = 0; i < (decimals < 0 ? -decimals : decimals) && isfinite(scale); i++)
        scale *= 10.0;
    r = decimals < 0 ? round(v / scale) * scale : round(v * scale) / scale;
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

int mon_json_get_number(const cJSON *obj, const char *name, double min, double max, double *ret,
                        char *why, size_t why_len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
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

int mon_json_get_string(const cJSON *obj, const char *name, size_t max_len, const char **ret,
                        char *why, size_t why_len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!it || cJSON_IsNull(it))
        return MON_ENOENT;
    if (!cJSON_IsString(it) || !it->valuestring) {
        snprintf(why, why_len, "%s: not a string", name);
        return MON_EINVAL;
    }
    if (strlen(it->valuestring) > max_len) {
        snprintf(why, why_len, "%s: longer than %zu bytes", name, max_len);
        return MON_EINVAL;
    }
    *ret = it->valuestring;
    return MON_OK;
}
