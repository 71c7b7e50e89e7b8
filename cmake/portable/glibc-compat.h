/* SPDX-License-Identifier: MIT */
/* Forced into every compile of the portable agent and of its static libraries (-include, see
 * scripts/portable-build): binds the glibc functions that got a new symbol version between 2.28
 * and the sysroot's 2.31 to the version that glibc 2.28 (RHEL/Rocky 8) exports, so that using
 * one of them does not raise the binary's minimum glibc. A function that exists only in a newer
 * glibc cannot be pinned: scripts/check-portable-abi fails the build on it. */
#ifndef MON_PORTABLE_GLIBC_COMPAT_H
#define MON_PORTABLE_GLIBC_COMPAT_H

#if defined(__x86_64__)
#define MON_GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define MON_GLIBC_BASE "GLIBC_2.17"
#else
#error "the portable agent is built for x86_64 and aarch64 only"
#endif

/* glibc 2.29 gave these libm functions new versions (without the SVID error handling); the
 * old ones return the same results for every argument we pass. */
__asm__(".symver exp, exp@" MON_GLIBC_BASE);
__asm__(".symver exp2, exp2@" MON_GLIBC_BASE);
__asm__(".symver log, log@" MON_GLIBC_BASE);
__asm__(".symver log2, log2@" MON_GLIBC_BASE);
__asm__(".symver pow, pow@" MON_GLIBC_BASE);

#endif
