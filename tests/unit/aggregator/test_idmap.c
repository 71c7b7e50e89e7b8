/* SPDX-License-Identifier: MIT */
/* The id hash map: lookups, replacement, deletions that keep every other entry findable
 * (backward shift), growth to 100,000 entries. */
#include "aggregator/idmap.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

static void *val(int64_t id)
{
    return (void *)(intptr_t)(id * 8 + 8);
}

static void test_basic(void **state)
{
    struct agg_idmap m = {0};
    int x;
    (void)state;
    assert_null(agg_idmap_get(&m, 1));
    agg_idmap_del(&m, 1); /* on an empty map: nothing */
    assert_int_equal(agg_idmap_put(&m, 0, &x), MON_EINVAL);
    assert_int_equal(agg_idmap_put(&m, 5, NULL), MON_EINVAL);
    assert_int_equal(agg_idmap_put(&m, 5, &x), MON_OK);
    assert_ptr_equal(agg_idmap_get(&m, 5), &x);
    assert_int_equal(agg_idmap_put(&m, 5, val(5)), MON_OK); /* replaced, not added */
    assert_int_equal(m.n, 1);
    assert_ptr_equal(agg_idmap_get(&m, 5), val(5));
    assert_null(agg_idmap_get(&m, -5));
    agg_idmap_del(&m, 5);
    assert_null(agg_idmap_get(&m, 5));
    assert_int_equal(m.n, 0);
    agg_idmap_clear(&m);
}

static void test_many_with_deletions(void **state)
{
    struct agg_idmap m = {0};
    const int64_t n = 100000;
    (void)state;
    for (int64_t id = 1; id <= n; id++)
        assert_int_equal(agg_idmap_put(&m, id, val(id)), MON_OK);
    assert_int_equal(m.n, (size_t)n);
    assert_true(m.cap >= 2 * (size_t)n); /* at most half full */
    /* Deleting every third id must leave all others findable (no lost probe chains). */
    for (int64_t id = 3; id <= n; id += 3)
        agg_idmap_del(&m, id);
    for (int64_t id = 1; id <= n; id++) {
        if (id % 3 == 0)
            assert_null(agg_idmap_get(&m, id));
        else
            assert_ptr_equal(agg_idmap_get(&m, id), val(id));
    }
    /* Sparse, large ids too. */
    for (int64_t id = 1; id <= 1000; id++)
        assert_int_equal(agg_idmap_put(&m, id * 1000003, val(id)), MON_OK);
    for (int64_t id = 1; id <= 1000; id++)
        assert_ptr_equal(agg_idmap_get(&m, id * 1000003), val(id));
    agg_idmap_clear(&m);
    assert_null(agg_idmap_get(&m, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_many_with_deletions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
