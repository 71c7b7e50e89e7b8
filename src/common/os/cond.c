/* SPDX-License-Identifier: MIT */
/* Condition variables with deadlines on the monotonic clock (realtime where not supported). */
#include "common/os/cond.h"

#include "common/clock.h"
#include "common/err.h"

#include <errno.h>
#include <time.h>

int mon_cond_init(struct mon_cond *c)
{
    pthread_condattr_t attr;
    int r;

    if (pthread_condattr_init(&attr) != 0)
        return MON_ENOMEM;
    c->monotonic = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0;
    r = pthread_cond_init(&c->cond, c->monotonic ? &attr : NULL);
    pthread_condattr_destroy(&attr);
    return r == 0 ? MON_OK : MON_ENOMEM;
}

void mon_cond_destroy(struct mon_cond *c)
{
    pthread_cond_destroy(&c->cond);
}

void mon_cond_broadcast(struct mon_cond *c)
{
    pthread_cond_broadcast(&c->cond);
}

void mon_cond_wait(struct mon_cond *c, pthread_mutex_t *lock)
{
    pthread_cond_wait(&c->cond, lock);
}

int64_t mon_cond_deadline(int64_t ms)
{
    return mon_mono_ms() + (ms > 0 ? ms : 0);
}

bool mon_cond_wait_until(struct mon_cond *c, pthread_mutex_t *lock, int64_t deadline_ms)
{
    int64_t left = deadline_ms - mon_mono_ms();
    struct timespec ts;

    if (left <= 0)
        return false;
    /* The realtime fallback converts what is left now, so a clock step costs at most one
     * wait's error, never a wait that does not end. */
    clock_gettime(c->monotonic ? CLOCK_MONOTONIC : CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(left / 1000);
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&c->cond, lock, &ts) != ETIMEDOUT;
}
