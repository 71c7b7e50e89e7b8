/* SPDX-License-Identifier: MIT */
/* Who holds a mutex, for MON_ASSERT_LOCKED: the owner glibc records, or a trylock elsewhere. */
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#include "common/os/lock.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__GLIBC__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

bool mon_lock_held(const pthread_mutex_t *lock)
{
#if defined(__GLIBC__)
    /* glibc stores the kernel thread id of the owner in every mutex it locks (default type
     * included) and clears it on unlock; a condition wait re-records it on wake-up. gettid()
     * itself is glibc >= 2.30 only. */
    return lock->__data.__owner == (int)syscall(SYS_gettid);
#else
    pthread_mutex_t *m = (pthread_mutex_t *)lock; /* a mutex is state even in a const object */
    if (pthread_mutex_trylock(m) == 0) {
        pthread_mutex_unlock(m);
        return false;
    }
    return true;
#endif
}

void mon_lock_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "%s:%d: %s: lock %s is not held\n", file, line, func, expr);
    fflush(stderr);
    abort();
}
