/* SPDX-License-Identifier: MIT */
/* Debug-only check of the "call with the lock held" precondition of the helpers that expect
 * their caller to hold a mutex: MON_ASSERT_LOCKED(&x->lock) at their top aborts a debug build
 * that reaches them without it, and compiles to nothing under NDEBUG (release builds). */
#ifndef MON_COMMON_OS_LOCK_H
#define MON_COMMON_OS_LOCK_H

/* Ownership and threads: the lock is only looked at during the call (never kept); both functions
 * are safe from any thread. */

#include <pthread.h>
#include <stdbool.h>

/* True when lock is locked by the calling thread. With glibc it is exact (the mutex records
 * its owner's thread id); elsewhere (winpthreads, musl) it is true while any thread holds
 * lock, so only "held by nobody" is caught there. const because callers check the lock of
 * an object they only read; the fallback does lock and unlock a free mutex for a moment. Safe
 * from any thread; meant for assertions, not for deciding what to do. */
bool mon_lock_held(const pthread_mutex_t *lock);

/* 1 where mon_lock_held tells the owner thread apart (glibc), 0 where it cannot. */
#if defined(__GLIBC__)
#define MON_LOCK_HELD_EXACT 1
#else
#define MON_LOCK_HELD_EXACT 0
#endif

/* Prints "FILE:LINE: FUNC: lock EXPR is not held" on stderr and aborts. */
_Noreturn void mon_lock_assert_fail(const char *expr, const char *file, int line, const char *func);

#ifdef NDEBUG
#define MON_ASSERT_LOCKED(lock) ((void)sizeof(lock)) /* not evaluated, but still type-checked */
#else
#define MON_ASSERT_LOCKED(lock)                                                                    \
    ((void)(mon_lock_held(lock) || (mon_lock_assert_fail(#lock, __FILE__, __LINE__, __func__), 0)))
#endif

#endif
