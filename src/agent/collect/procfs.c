/* SPDX-License-Identifier: MIT */
/* Opens procfs files once and re-reads them with pread (the kernel regenerates the text). */
#include "agent/collect/procfs.h"

#include "common/err.h"
#include "common/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int agent_procfs_file_init(struct agent_procfs_file *f, const char *root, const char *rel)
{
    int n = snprintf(f->path, sizeof(f->path), "%s/%s", root, rel);
    f->fd = -1;
    if (n < 0 || (size_t)n >= sizeof(f->path))
        return MON_ETOOBIG;
    return MON_OK;
}

int agent_procfs_file_read(struct agent_procfs_file *f, char *buf, size_t size, size_t *ret_len)
{
    size_t len = 0;

    if (f->fd < 0) {
        f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0)
            return mon_err_from_errno(errno);
    }
    /* procfs files may need several reads; a short read of 0 is the end. */
    for (;;) {
        ssize_t n;
        if (len + 1 >= size)
            return MON_ETOOBIG;
        n = pread(f->fd, buf + len, size - 1 - len, (off_t)len);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            close(f->fd); /* reopen next time: the file may have been replaced */
            f->fd = -1;
            return mon_err_from_errno(e);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret_len = len;
    return MON_OK;
}

void agent_procfs_file_done(struct agent_procfs_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}
