/* SPDX-License-Identifier: MIT */
/* Unit tests for the failed-authentication limiter (issue 11 item 3): free attempts, the
 * doubling wait and its cap, per-address counts, successes that never reset a count, and
 * forgetting a quiet address. Times are passed in: no sleeping. */
#include "common/authlimit.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static struct sockaddr_in v4(uint8_t last)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000000u | last);
    return a;
}

#define SA(a) ((const struct sockaddr *)&(a))

static void test_waits(void **state)
{
    struct mon_authlimit *l = NULL;
    struct sockaddr_in a = v4(5), b = v4(6);
    int64_t t = 1000000;
    (void)state;
    assert_int_equal(mon_authlimit_new("test", &l), MON_OK);
    assert_int_equal(mon_authlimit_wait_s(l, SA(a), t), 0);
    for (int i = 1; i < MON_AUTHLIMIT_FREE; i++) {
        mon_authlimit_failed(l, SA(a), "wrong token", t);
        assert_int_equal(mon_authlimit_wait_s(l, SA(a), t), 0);
    }
    mon_authlimit_failed(l, SA(a), "wrong token", t); /* the 20th */
    assert_int_equal(mon_authlimit_wait_s(l, SA(a), t), 1);
    assert_int_equal(mon_authlimit_wait_s(l, SA(a), t + 999), 1);
    assert_int_equal(mon_authlimit_wait_s(l, SA(a), t + 1000), 0);
    /* Another address is not affected. */
    assert_int_equal(mon_authlimit_wait_s(l, SA(b), t), 0);
    /* Each further failure doubles the wait: 2, 4, 8, 16, 32, then 60 s at most. */
    const int want[] = {2, 4, 8, 16, 32, 60, 60, 60};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        t += 100000;
        mon_authlimit_failed(l, SA(a), "wrong token", t);
        assert_int_equal(mon_authlimit_wait_s(l, SA(a), t), want[i]);
    }
    /* Ten quiet minutes: counted from zero again. */
    t += MON_AUTHLIMIT_FORGET_MS + 1;
    assert_int_equal(mon_authlimit_wait_s(l, SA(a), t), 0);
    mon_authlimit_failed(l, SA(a), "wrong token", t);
    assert_int_equal(mon_authlimit_wait_s(l, SA(a), t), 0);
    mon_authlimit_free(l);
    mon_authlimit_free(NULL);
    assert_int_equal(mon_authlimit_wait_s(NULL, SA(a), t), 0);
    mon_authlimit_failed(NULL, SA(a), "ignored", t);
}

/* Many guessing addresses: the table reuses the stalest slot, and the one waiting keeps its
 * wait while others come and go. */
static void test_many_addresses(void **state)
{
    struct mon_authlimit *l = NULL;
    struct sockaddr_in a = v4(1);
    int64_t t = 5000000;
    (void)state;
    assert_int_equal(mon_authlimit_new("test", &l), MON_OK);
    for (int i = 0; i < MON_AUTHLIMIT_FREE; i++)
        mon_authlimit_failed(l, SA(a), "wrong token", t);
    for (int i = 0; i < 2000; i++) {
        struct sockaddr_in6 x;
        memset(&x, 0, sizeof(x));
        x.sin6_family = AF_INET6;
        x.sin6_addr.s6_addr[0] = 0xfd;
        x.sin6_addr.s6_addr[6] = (uint8_t)(i >> 8);
        x.sin6_addr.s6_addr[7] = (uint8_t)i; /* another /64 each time */
        mon_authlimit_failed(l, SA(x), "wrong token", t + 1);
    }
    assert_int_equal(mon_authlimit_wait_s(l, SA(a), t + 1), 1);
    mon_authlimit_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waits),
        cmocka_unit_test(test_many_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
