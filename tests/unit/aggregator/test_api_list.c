/* SPDX-License-Identifier: MIT */
/* The GET /api/servers query parameters: defaults, every value of status/sort, paging and
 * field lists, and a 400 message for each kind of bad value. */
#include "aggregator/api_list.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_defaults_and_values(void **state)
{
    struct agg_list_query q;
    bool any = true;
    char why[256];
    (void)state;
    assert_int_equal(
        agg_api_list_params(NULL, NULL, NULL, NULL, NULL, NULL, &q, &any, why, sizeof(why)),
        MON_OK);
    assert_false(any);
    assert_int_equal(q.status, -1);
    assert_int_equal(q.sort, AGG_SORT_ID);
    assert_int_equal(q.limit, 0);
    assert_int_equal(q.fields, 0);
    /* Empty values count as absent (a form with nothing filled in). */
    assert_int_equal(agg_api_list_params("", "", "", "", "", "", &q, &any, why, sizeof(why)),
                     MON_OK);
    assert_false(any);
    assert_int_equal(agg_api_list_params("degraded", "GPU", "cpu", "96", "48",
                                         "id,name,latest,last_seen_at", &q, &any, why, sizeof(why)),
                     MON_OK);
    assert_true(any);
    assert_int_equal(q.status, AGG_STATUS_DEGRADED);
    assert_string_equal(q.q, "GPU");
    assert_int_equal(q.sort, AGG_SORT_CPU);
    assert_int_equal(q.offset, 96);
    assert_int_equal(q.limit, 48);
    assert_int_equal(q.fields,
                     AGG_FIELD_ID | AGG_FIELD_NAME | AGG_FIELD_LATEST | AGG_FIELD_LAST_SEEN_AT);
    assert_int_equal(agg_api_list_params("disabled", NULL, "gpu", NULL, "10000", NULL, &q, &any,
                                         why, sizeof(why)),
                     MON_OK);
    assert_int_equal(q.status, AGG_STATUS_DISABLED);
    assert_int_equal(q.sort, AGG_SORT_GPU);
}

static void bad(const char *status, const char *q, const char *sort, const char *offset,
                const char *limit, const char *fields, const char *want)
{
    struct agg_list_query out = {.status = 42};
    bool any = false;
    char why[256] = "";
    assert_int_equal(
        agg_api_list_params(status, q, sort, offset, limit, fields, &out, &any, why, sizeof(why)),
        MON_EINVAL);
    if (!strstr(why, want))
        fail_msg("message '%s' lacks '%s'", why, want);
    assert_int_equal(out.status, 42); /* untouched on failure */
}

static void test_bad_values(void **state)
{
    char longq[300];
    (void)state;
    memset(longq, 'a', sizeof(longq) - 1);
    longq[sizeof(longq) - 1] = '\0';
    bad("up", NULL, NULL, NULL, NULL, NULL, "status: must be one of");
    bad(NULL, NULL, "size", NULL, NULL, NULL, "sort: must be one of id, name, status, cpu, gpu");
    bad(NULL, NULL, NULL, "-1", NULL, NULL, "offset:");
    bad(NULL, NULL, NULL, "1e3", NULL, NULL, "offset:");
    bad(NULL, NULL, NULL, NULL, "0", NULL, "limit: must be an integer from 1 to 10000");
    bad(NULL, NULL, NULL, NULL, "10001", NULL, "limit:");
    bad(NULL, NULL, NULL, NULL, NULL, "id,token", "fields: unknown field 'token'");
    bad(NULL, NULL, NULL, NULL, NULL, "id,,name", "fields: unknown field ''");
    bad(NULL, longq, NULL, NULL, NULL, NULL, "q: at most 256 bytes");
    bad(NULL, "\xff", NULL, NULL, NULL, NULL, "q: at most 256 bytes of UTF-8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
