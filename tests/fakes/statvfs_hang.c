/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD shim: statvfs()/statvfs64() never return for paths starting with the value of
 * $FAKE_STATVFS_HANG, like a hung NFS mount; other paths go to the real functions. */
#define _GNU_SOURCE /* RTLD_NEXT, struct statvfs64 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

typedef int (*statvfs_fn)(const char *, struct statvfs *);
typedef int (*statvfs64_fn)(const char *, struct statvfs64 *);

/* Sleeps until the process exits when path is under $FAKE_STATVFS_HANG. */
static void maybe_hang(const char *path)
{
    const char *prefix = getenv("FAKE_STATVFS_HANG");

    if (!prefix || !*prefix || !path || strncmp(path, prefix, strlen(prefix)) != 0)
        return;
    for (;;)
        sleep(60);
}

int statvfs(const char *path, struct statvfs *buf)
{
    statvfs_fn real;

    maybe_hang(path);
    real = (statvfs_fn)dlsym(RTLD_NEXT, "statvfs");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(path, buf);
}

int statvfs64(const char *path, struct statvfs64 *buf)
{
    statvfs64_fn real;

    maybe_hang(path);
    real = (statvfs64_fn)dlsym(RTLD_NEXT, "statvfs64");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(path, buf);
}
