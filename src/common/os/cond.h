/* SPDX-License-Identifier: MIT */
/* Condition variables with deadlines on the monotonic clock, the one way every thread here waits
 * for "a signal or a time limit" (a clock step must neither stretch nor cut a wait). */
#ifndef MON_COMMON_OS_COND_H
#define MON_COMMON_OS_COND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Owned by the struct that embeds it; the functions are as thread-safe as pthread_cond_*
 * (waits and signals from any thread, with the caller's mutex as documented per call). */
struct mon_cond {
    pthread_cond_t cond;
    bool monotonic; /* false where the thread library cannot wait on CLOCK_MONOTONIC
                     * (winpthreads): each wait is then converted to the realtime clock */
};

/* Initialises c. Returns MON_OK or MON_ENOMEM (c is then unusable and needs no destroy). */
int mon_cond_init(struct mon_cond *c);

void mon_cond_destroy(struct mon_cond *c);

/* Wakes every waiter (call with the waiters' mutex held, or not: as pthread_cond_broadcast). */
void mon_cond_broadcast(struct mon_cond *c);

/* The deadline for mon_cond_wait_until that is ms from now (mon_mono_ms() time). */
int64_t mon_cond_deadline(int64_t ms);

/* Waits on c with lock held (released while waiting) until a signal, without a time limit: for
 * threads whose only way out is a signal (a stop request broadcasts). */
void mon_cond_wait(struct mon_cond *c, pthread_mutex_t *lock);

/* Waits on c with lock held (released while waiting, held again on return) until a signal or
 * deadline_ms (mon_mono_ms() time). Returns true when woken before the deadline (possibly
 * spuriously: callers loop on their predicate), false once the deadline has passed. */
bool mon_cond_wait_until(struct mon_cond *c, pthread_mutex_t *lock, int64_t deadline_ms);

#endif
