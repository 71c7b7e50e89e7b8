/* SPDX-License-Identifier: MIT */
/* POSIX (Linux) implementation of the portability layer. */
#include "common/os/os.h"

#include "common/err.h"
#include "common/str.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mon_os_init(void)
{
    return MON_OK;
}

int mon_os_mkdir_p(const char *path)
{
    char tmp[4096];
    size_t len;

    if (!mon_strlcpy(tmp, path, sizeof(tmp)))
        return MON_ETOOBIG;
    len = strlen(tmp);
    while (len > 1 && tmp[len - 1] == '/')
        tmp[--len] = '\0';
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return mon_err_from_errno(errno);
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return mon_err_from_errno(errno);
    return MON_OK;
}

int mon_os_exe_dir(char *buf, size_t size)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n < 0)
        return mon_err_from_errno(errno);
    path[n] = '\0';
    return mon_strlcpy(buf, dirname(path), size) ? MON_OK : MON_ETOOBIG;
}

bool mon_os_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

long long mon_os_rss_bytes(void)
{
    long long pages = -1, rss = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%lld %lld", &pages, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}
