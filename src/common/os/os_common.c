/* SPDX-License-Identifier: MIT */
/* The OS-independent part of the portability layer: whole-file reads with a cap, regular-file
 * opens and the host-name list, on top of the few primitives os_posix.c and os_win.c provide
 * (os_priv.h). No state; every function is thread-safe. */
#include "common/os/os.h"
#include "common/os/os_priv.h"

#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mon_os_open_regular(const char *path, int *ret_fd, unsigned long long *ret_size)
{
    int r = mon_os_open_file(path, ret_fd, ret_size);
    /* Nothing but regular files is listed: a folder or device is as good as absent. */
    return r == MON_EINVAL ? MON_ENOENT : r;
}

int mon_os_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    unsigned long long size;
    size_t len = 0;
    char *buf = NULL;
    int fd, r;

    r = mon_os_open_file(path, &fd, &size);
    if (r < 0)
        return r;
    if (size > max) {
        r = MON_ETOOBIG;
        goto out;
    }
    buf = malloc(max + 2);
    if (!buf) {
        r = MON_ENOMEM;
        goto out;
    }
    /* Up to one byte past max, so that a file that grew since it was opened is still caught. */
    while (len <= max) {
        long n = mon_os_fd_read(fd, buf + len, max + 1 - len);
        if (n < 0) {
            r = (int)n;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        r = MON_ETOOBIG;
        goto out;
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    buf = NULL;
    r = MON_OK;
out:
    free(buf);
    mon_os_fd_close(fd);
    return r;
}

bool mon_os_names_add(char *buf, size_t size, const char *item)
{
    size_t used = strlen(buf);
    int n;

    if (strstr(buf, item)) /* e.g. an address on two interfaces */
        return true;
    n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", item);
    if (n < 0 || (size_t)n >= size - used) {
        buf[used] = '\0';
        return false;
    }
    return true;
}
