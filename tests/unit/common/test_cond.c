/* SPDX-License-Identifier: MIT */
/* Unit tests for mon_cond: a deadline ends a wait, a broadcast ends it early, a past deadline
 * does not wait at all. Bounds are generous: they check "ends", not speed. */
#include "common/clock.h"
#include "common/err.h"
#include "common/os/cond.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct shared {
    pthread_mutex_t lock;
    struct mon_cond cond;
    bool flag;
};

static void test_deadline_ends_the_wait(void **state)
{
    struct shared s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    int64_t t0, until;
    int wakes = 0;

    (void)state;
    assert_int_equal(mon_cond_init(&s.cond), MON_OK);
    t0 = mon_mono_ms();
    until = mon_cond_deadline(200);
    pthread_mutex_lock(&s.lock);
    while (mon_cond_wait_until(&s.cond, &s.lock, until) && wakes < 1000)
        wakes++; /* spurious wake-ups loop, as callers do */
    pthread_mutex_unlock(&s.lock);
    assert_true(mon_mono_ms() - t0 >= 200);
    assert_true(mon_mono_ms() - t0 < 30000);
    mon_cond_destroy(&s.cond);
}

static void test_past_deadline_returns_at_once(void **state)
{
    struct shared s = {.lock = PTHREAD_MUTEX_INITIALIZER};

    (void)state;
    assert_int_equal(mon_cond_init(&s.cond), MON_OK);
    pthread_mutex_lock(&s.lock);
    assert_false(mon_cond_wait_until(&s.cond, &s.lock, mon_mono_ms() - 1));
    assert_false(mon_cond_wait_until(&s.cond, &s.lock, mon_cond_deadline(-5)));
    pthread_mutex_unlock(&s.lock);
    mon_cond_destroy(&s.cond);
}

static void *set_flag(void *arg)
{
    struct shared *s = arg;

    pthread_mutex_lock(&s->lock);
    s->flag = true;
    mon_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void test_broadcast_ends_the_wait_early(void **state)
{
    struct shared s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    int64_t until = mon_cond_deadline(60000);
    pthread_t t;

    (void)state;
    assert_int_equal(mon_cond_init(&s.cond), MON_OK);
    pthread_mutex_lock(&s.lock);
    assert_int_equal(pthread_create(&t, NULL, set_flag, &s), 0);
    while (!s.flag && mon_cond_wait_until(&s.cond, &s.lock, until))
        ;
    assert_true(s.flag);
    assert_true(mon_mono_ms() < until);
    pthread_mutex_unlock(&s.lock);
    pthread_join(t, NULL);
    mon_cond_destroy(&s.cond);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_ends_the_wait),
        cmocka_unit_test(test_past_deadline_returns_at_once),
        cmocka_unit_test(test_broadcast_ends_the_wait_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
