/* SPDX-License-Identifier: MIT */
/* Unit tests for the lock-held assertion: mon_lock_held follows lock, unlock and condition
 * waits; in a debug build MON_ASSERT_LOCKED aborts (in a child process) when the lock is not
 * held and returns when it is; under NDEBUG it is empty and does not even evaluate its argument. */
#include "common/os/cond.h"
#include "common/os/lock.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/test_os.h"

struct holder {
    pthread_mutex_t *lock;
    pthread_mutex_t gate_lock;
    struct mon_cond gate;
    bool locked, release;
};

/* Another thread that takes the lock and keeps it until told to let go. */
static void *holder_main(void *arg)
{
    struct holder *h = arg;
    pthread_mutex_lock(h->lock);
    pthread_mutex_lock(&h->gate_lock);
    h->locked = true;
    mon_cond_broadcast(&h->gate);
    while (!h->release)
        mon_cond_wait(&h->gate, &h->gate_lock);
    pthread_mutex_unlock(&h->gate_lock);
    pthread_mutex_unlock(h->lock);
    return NULL;
}

static void holder_start(struct holder *h, pthread_mutex_t *lock, pthread_t *thread)
{
    h->lock = lock;
    assert_int_equal(pthread_mutex_init(&h->gate_lock, NULL), 0);
    assert_int_equal(mon_cond_init(&h->gate), 0);
    assert_int_equal(pthread_create(thread, NULL, holder_main, h), 0);
    pthread_mutex_lock(&h->gate_lock);
    while (!h->locked)
        mon_cond_wait(&h->gate, &h->gate_lock);
    pthread_mutex_unlock(&h->gate_lock);
}

static void holder_stop(struct holder *h, pthread_t thread)
{
    pthread_mutex_lock(&h->gate_lock);
    h->release = true;
    mon_cond_broadcast(&h->gate);
    pthread_mutex_unlock(&h->gate_lock);
    assert_int_equal(pthread_join(thread, NULL), 0);
    mon_cond_destroy(&h->gate);
    pthread_mutex_destroy(&h->gate_lock);
}

static void test_held_follows_lock_and_unlock(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct mon_cond cond;

    (void)state;
    assert_false(mon_lock_held(&lock));
    pthread_mutex_lock(&lock);
    assert_true(mon_lock_held(&lock));
    MON_ASSERT_LOCKED(&lock); /* held: returns */
    /* A condition wait gives the lock up and takes it again: held again afterwards. */
    assert_int_equal(mon_cond_init(&cond), 0);
    assert_false(mon_cond_wait_until(&cond, &lock, mon_cond_deadline(10)));
    assert_true(mon_lock_held(&lock));
    MON_ASSERT_LOCKED(&lock);
    mon_cond_destroy(&cond);
    pthread_mutex_unlock(&lock);
    assert_false(mon_lock_held(&lock));
    pthread_mutex_destroy(&lock);
}

static void test_held_by_another_thread(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct holder h = {0};
    pthread_t thread;

    (void)state;
    holder_start(&h, &lock, &thread);
    /* Exact where the C library records the owner; elsewhere "held by someone". */
    assert_int_equal(mon_lock_held(&lock), !MON_LOCK_HELD_EXACT);
    holder_stop(&h, thread);
    assert_false(mon_lock_held(&lock));
}

#ifndef NDEBUG
static void assert_on_free_lock(void *arg)
{
    (void)arg;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    MON_ASSERT_LOCKED(&lock);
}

static void assert_on_held_lock(void *arg)
{
    (void)arg;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    MON_ASSERT_LOCKED(&lock);
    pthread_mutex_unlock(&lock);
}

static void assert_on_lock_of_another_thread(void *arg)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct holder h = {0};
    pthread_t thread;

    (void)arg;
    holder_start(&h, &lock, &thread);
    MON_ASSERT_LOCKED(&lock);
    holder_stop(&h, thread);
}

static void test_debug_assert_aborts_unless_held(void **state)
{
    (void)state;
    assert_int_equal(test_run_in_child(assert_on_free_lock, NULL), 128 + SIGABRT);
    assert_int_equal(test_run_in_child(assert_on_held_lock, NULL), 0);
    if (MON_LOCK_HELD_EXACT)
        assert_int_equal(test_run_in_child(assert_on_lock_of_another_thread, NULL), 128 + SIGABRT);
}
#else
static int evaluated;

static pthread_mutex_t *counted(pthread_mutex_t *lock)
{
    evaluated++;
    return lock;
}

static void test_release_assert_is_empty(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

    (void)state;
    assert_false(mon_lock_held(&lock));
    MON_ASSERT_LOCKED(counted(&lock)); /* not held, yet no abort: the check is compiled out */
    assert_int_equal(evaluated, 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_held_follows_lock_and_unlock),
        cmocka_unit_test(test_held_by_another_thread),
#ifndef NDEBUG
        cmocka_unit_test(test_debug_assert_aborts_unless_held),
#else
        cmocka_unit_test(test_release_assert_is_empty),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
