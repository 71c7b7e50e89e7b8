/* SPDX-License-Identifier: MIT */
/* What os_common.c (the OS-independent part of the portability layer) needs from os_posix.c or
 * os_win.c, and what they share from it. Private to src/common/os/; every call is thread-safe
 * (no shared state). */
#ifndef MON_COMMON_OS_OS_PRIV_H
#define MON_COMMON_OS_OS_PRIV_H

#include <stdbool.h>
#include <stddef.h>

/* Opens path read-only without ever waiting for a writer (a FIFO is not blocked on) and checks
 * that it is a regular file: *ret_fd and *ret_size on success (the caller closes the
 * descriptor with mon_os_fd_close); MON_EINVAL (nothing left open) when it is not a regular
 * file; other MON_E* codes from opening (errno set). */
int mon_os_open_file(const char *path, int *ret_fd, unsigned long long *ret_size);

/* One read into buf: the number of bytes read, 0 at the end of the file, or a MON_E* code
 * (errno set). Interrupted reads are retried. */
long mon_os_fd_read(int fd, void *buf, size_t len);

/* Closes a descriptor from mon_os_open_file. */
void mon_os_fd_close(int fd);

/* Appends ",item" (item alone when buf is empty) to the comma-separated list in buf unless
 * item is in it already. False when it does not fit (buf is left as it was). */
bool mon_os_names_add(char *buf, size_t size, const char *item);

#endif
