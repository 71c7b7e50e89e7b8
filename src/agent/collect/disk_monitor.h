/* SPDX-License-Identifier: MIT */
/* Disk usage of configured mounts via statvfs, computed as df does, read by one worker thread
 * per mount so that a hung mount (NFS, FUSE) never stalls the sampler or a request. */
#ifndef MON_AGENT_COLLECT_DISK_MONITOR_H
#define MON_AGENT_COLLECT_DISK_MONITOR_H

/* Ownership and threads: the monitor from agent_disk_monitor_new belongs to the caller
 * (agent_disk_monitor_free) and copies the mounts; readings are copied out.
 * agent_disk_monitor_read is thread-safe; new and free are called by one owner thread (the
 * sampler's owner). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct statvfs;

struct agent_disk_usage {
    uint64_t used_bytes;  /* (blocks - bfree) * frsize */
    uint64_t total_bytes; /* blocks * frsize */
    uint64_t avail_bytes; /* bavail * frsize (what non-root users can still write) */
    double used_pct;      /* used / (used + avail) * 100, as df rounds up to whole %: we keep
                             the exact value, so it matches df to 0.1 point */
};

/* Pure arithmetic from statvfs fields. frsize 0 or bfree > blocks: MON_ERANGE. A filesystem with
 * blocks == 0 (pseudo fs) gives all zeros and used_pct 0. */
int agent_disk_usage_from_statvfs(uint64_t blocks, uint64_t bfree, uint64_t bavail, uint64_t frsize,
                                  struct agent_disk_usage *ret);

/* statvfs-compatible function pointer, so tests can inject one that blocks or fails. */
typedef int (*agent_disk_statvfs_fn)(const char *path, struct statvfs *buf);

struct agent_disk_entry {
    char mount[256];
    bool have_value; /* a reading exists (possibly old) */
    bool stale;      /* no reading within the timeout, or an attempt hangs past it */
    char error[128]; /* non-empty when the last attempt failed: "not found", "not a mount
                        point", "statvfs timed out" (hung, no value yet) or strerror text */
    struct agent_disk_usage usage;
    int64_t read_at_mono_ms;
};

struct agent_disk_monitor;

/* Starts one worker per mount that reads at once, then every interval_ms; readings older than
 * timeout_ms, or an attempt running longer than that, are reported stale. fn NULL means
 * statvfs(3). Mounts are copied. A mount that is not a mount point (only a directory on
 * another fs) reports "not a mount point" in error. n_mounts 0 gives an empty monitor.
 * Returns MON_OK with the monitor in *ret_monitor (owned by the caller: agent_disk_monitor_free),
 * MON_EINVAL for interval_ms or timeout_ms <= 0, an empty mount or one of 256 bytes or more,
 * MON_ENOMEM, or MON_ESYS when a thread cannot be started. */
int agent_disk_monitor_new(char *const *mounts, size_t n_mounts, int64_t interval_ms,
                           int64_t timeout_ms, agent_disk_statvfs_fn fn,
                           struct agent_disk_monitor **ret_monitor);

/* Copies the current state of every mount into out (up to max entries), in configured order,
 * without blocking on any statvfs. Returns the number written (0 for NULL m). Thread-safe. */
size_t agent_disk_monitor_read(struct agent_disk_monitor *m, struct agent_disk_entry *out,
                               size_t max);

/* Stops the workers. A worker stuck in a hung statvfs is detached and exits (freeing its own
 * state) when the call returns, so this never blocks. Accepts NULL. */
void agent_disk_monitor_free(struct agent_disk_monitor *m);

#endif
