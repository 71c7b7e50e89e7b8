/* SPDX-License-Identifier: MIT */
/* The OS event loop (epoll on Linux): readiness with the caller's tag, changing and removing
 * watches (also of a closed socket), wake-ups from another thread, pause ignoring sockets;
 * where there is no event loop, MON_EUNSUPPORTED. */
#include "common/clock.h"
#include "common/err.h"
#include "common/os/evloop.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#ifdef __linux__
#include <sys/socket.h>
#include <unistd.h>

static void *waker(void *arg)
{
    mon_sleep_ms(100);
    mon_os_evloop_wake(arg);
    return NULL;
}

static void test_evloop(void **state)
{
    struct mon_os_evloop *ev = NULL;
    struct mon_os_event out[4];
    int sv[2];
    pthread_t th;
    int64_t t0;
    (void)state;
    assert_int_equal(mon_os_evloop_new(&ev), MON_OK);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(mon_os_evloop_add(ev, sv[0], MON_OS_EV_IN, 0x1234567800000007ULL), MON_OK);
    assert_int_equal(mon_os_evloop_wait(ev, out, 4, 0), 0); /* nothing to read */
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(mon_os_evloop_wait(ev, out, 4, 1000), 1);
    assert_int_equal(out[0].tag, 0x1234567800000007ULL);
    assert_true(out[0].events & MON_OS_EV_IN);
    /* Pause: a ready socket does not end it, a wake-up from another thread does. */
    t0 = mon_mono_ms();
    mon_os_evloop_pause(ev, 150);
    assert_true(mon_mono_ms() - t0 >= 140);
    assert_int_equal(pthread_create(&th, NULL, waker, ev), 0);
    t0 = mon_mono_ms();
    mon_os_evloop_pause(ev, 5000);
    assert_true(mon_mono_ms() - t0 < 4000);
    pthread_join(th, NULL);
    /* Writable, then nothing watched. */
    assert_int_equal(mon_os_evloop_mod(ev, sv[0], MON_OS_EV_OUT, 9), MON_OK);
    assert_int_equal(mon_os_evloop_wait(ev, out, 4, 1000), 1);
    assert_int_equal(out[0].tag, 9);
    assert_true(out[0].events & MON_OS_EV_OUT);
    assert_int_equal(mon_os_evloop_del(ev, sv[0]), MON_OK);
    assert_int_equal(mon_os_evloop_wait(ev, out, 4, 0), 0);
    /* A peer that hangs up reads as readable. */
    assert_int_equal(mon_os_evloop_add(ev, sv[0], MON_OS_EV_IN, 3), MON_OK);
    close(sv[1]);
    assert_int_equal(mon_os_evloop_wait(ev, out, 4, 1000), 1);
    assert_true(out[0].events & MON_OS_EV_IN);
    close(sv[0]);
    assert_int_equal(mon_os_evloop_del(ev, sv[0]), MON_OK); /* already closed: fine */
    /* A wake-up before a wait makes it return at once. */
    mon_os_evloop_wake(ev);
    t0 = mon_mono_ms();
    assert_int_equal(mon_os_evloop_wait(ev, out, 4, 5000), 0);
    assert_true(mon_mono_ms() - t0 < 4000);
    mon_os_evloop_free(ev);
    mon_os_evloop_free(NULL);
}
#else
static void test_evloop(void **state)
{
    struct mon_os_evloop *ev = NULL;
    (void)state;
    assert_int_equal(mon_os_evloop_new(&ev), MON_EUNSUPPORTED);
    mon_os_evloop_free(ev);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evloop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
