/* SPDX-License-Identifier: MIT */
/* Fuzzes the /timeseries parameter parser and the time text forms under it. The input is up
 * to four lines, "metric\nagg\nfrom\nto" (a missing line is an absent parameter); each line is
 * also run through mon_parse_iso8601 and mon_parse_duration_ms, whose results must survive
 * formatting and parsing again. */
#include "fuzz_util.h"

#include "common/clock.h"
#include "common/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static void check_iso8601(const char *text)
{
    int64_t t = -1, again = -1;
    char buf[MON_ISO8601_LEN];
    if (mon_parse_iso8601(text, &t) < 0) {
        FUZZ_CHECK(t == -1);
        return;
    }
    /* Years 0000-9999 with a zone of at most ±23:59 stay inside this range. */
    FUZZ_CHECK(t >= -62167219200LL - 86400 && t <= 253402300799LL + 86400);
    if (mon_format_iso8601(t, buf, sizeof(buf)) == MON_OK)
        FUZZ_CHECK(mon_parse_iso8601(buf, &again) == MON_OK && again == t);
}

static void check_duration(const char *text)
{
    int64_t ms = -1, again = -1;
    char buf[32];
    if (mon_parse_duration_ms(text, &ms) < 0) {
        FUZZ_CHECK(ms == -1);
        return;
    }
    FUZZ_CHECK(ms >= 0);
    snprintf(buf, sizeof(buf), "%" PRId64 "ms", ms);
    FUZZ_CHECK(mon_parse_duration_ms(buf, &again) == MON_OK && again == ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strdup(data, size), *f[4];
    size_t n = fuzz_split(text, '\n', f, 4);

    fuzz_check_timeseries(f[0], f[1], f[2], f[3]);
    for (size_t i = 0; i < n; i++) {
        check_iso8601(f[i]);
        check_duration(f[i]);
    }
    free(text);
    return 0;
}
