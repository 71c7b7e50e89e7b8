/* SPDX-License-Identifier: MIT */
/* Reading files under the configured procfs root (a fixture tree in tests): kept open and
 * re-read with pread, which makes the kernel regenerate the content without a new open(). */
#ifndef MON_AGENT_COLLECT_PROCFS_H
#define MON_AGENT_COLLECT_PROCFS_H

/* Ownership and threads: a struct agent_procfs_file is caller storage that owns its descriptor
 * (agent_procfs_file_done closes it); reads go into the caller's buffer. One thread at a time
 * per file (the sampler's). */

#include <stddef.h>

#include "common/os/os.h"

struct agent_procfs_file {
    int fd;                  /* -1 until opened */
    char path[MON_PATH_MAX]; /* root + relative path */
};

/* Prepares reading root/rel ("/proc" + "stat"). Does not open yet. */
int agent_procfs_file_init(struct agent_procfs_file *f, const char *root, const char *rel);

/* Reads the whole file (up to size-1 bytes, NUL-terminated) into buf, opening it on first
 * use. Returns MON_OK and *ret_len, MON_ENOENT/MON_EIO on failure, MON_ETOOBIG when the file
 * does not fit. */
int agent_procfs_file_read(struct agent_procfs_file *f, char *buf, size_t size, size_t *ret_len);

/* Closes the file. Accepts an unopened file. */
void agent_procfs_file_done(struct agent_procfs_file *f);

#endif
