/* SPDX-License-Identifier: MIT */
/* Disk usage of configured mounts, read by one worker thread per mount so that a hung
 * filesystem only ever makes its own entry stale; this file does not discover mounts. */
#include "agent/collect/disk_monitor.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/os/cond.h"
#include "common/os/os.h"
#include "common/str.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

/* One mount's worker and its last result. Shared by the worker thread and the monitor, each
 * holding a reference: a worker stuck in statvfs outlives agent_disk_monitor_free() and frees the
 * state itself when (if ever) the call returns. */
struct disk_worker {
    pthread_mutex_t lock;
    struct mon_cond wake; /* signalled to stop */
    unsigned refs;
    bool stop;
    pthread_t thread;

    /* settings, constant after start */
    agent_disk_statvfs_fn fn;
    int64_t interval_ms;

    /* the result, under lock */
    bool in_call; /* a stat/statvfs attempt is running */
    int64_t call_started_ms;
    struct agent_disk_entry entry; /* mount, have_value, error, usage, read_at_mono_ms */
};

struct agent_disk_monitor {
    size_t n;
    int64_t timeout_ms;
    struct disk_worker **workers;
};

int agent_disk_usage_from_statvfs(uint64_t blocks, uint64_t bfree, uint64_t bavail, uint64_t frsize,
                                  struct agent_disk_usage *ret)
{
    struct agent_disk_usage u = {0};
    uint64_t used_blocks;

    if (frsize == 0 || bfree > blocks)
        return MON_ERANGE;
    used_blocks = blocks - bfree;
    /* Filesystems report block counts that no real disk has (FUSE, broken NFS servers):
     * every product, and the sum df divides by, must fit in 64 bits. */
    if (__builtin_mul_overflow(blocks, frsize, &u.total_bytes) ||
        __builtin_mul_overflow(used_blocks, frsize, &u.used_bytes) ||
        __builtin_mul_overflow(bavail, frsize, &u.avail_bytes) ||
        u.used_bytes > UINT64_MAX - u.avail_bytes)
        return MON_ERANGE;
    /* df's Use%: the share of the space non-root users can see (root's reserve excluded). */
    if (u.used_bytes + u.avail_bytes > 0)
        u.used_pct = (double)u.used_bytes * 100.0 / (double)(u.used_bytes + u.avail_bytes);
    *ret = u;
    return MON_OK;
}

static void worker_unref(struct disk_worker *w)
{
    bool last;

    pthread_mutex_lock(&w->lock);
    last = --w->refs == 0;
    pthread_mutex_unlock(&w->lock);
    if (!last)
        return;
    mon_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void set_errno_text(char *dst, size_t size, int e)
{
    if (e == ENOENT) {
        mon_strlcpy(dst, "not found", size);
        return;
    }
    mon_os_errno_text(e, dst, size);
}

/* Configured mounts must be real mount points: if /data is not mounted, statvfs("/data")
 * silently answers for the root filesystem, and the dashboard would show the wrong disk as
 * healthy. A mount point's device differs from its parent's ("path/.." follows the real
 * tree, symlinks included); "/" is its own parent. Writes an error text and returns false. */
static bool check_mount_point(const char *mount, char *err, size_t err_size)
{
    char parent[sizeof(((struct agent_disk_entry *)0)->mount) + 4];
    struct stat st, pst;

    if (stat(mount, &st) != 0) {
        set_errno_text(err, err_size, errno);
        return false;
    }
    if (strcmp(mount, "/") == 0)
        return true;
    snprintf(parent, sizeof(parent), "%s/..", mount); /* fits: mount < 256 bytes */
    if (stat(parent, &pst) != 0) {
        set_errno_text(err, err_size, errno);
        return false;
    }
    if (st.st_dev == pst.st_dev && st.st_ino != pst.st_ino) {
        mon_strlcpy(err, "not a mount point", err_size);
        return false;
    }
    return true;
}

/* One attempt: mount check then statvfs. Runs without the lock, may block for ever. */
static bool read_mount(const struct disk_worker *w, const char *mount,
                       struct agent_disk_usage *usage, char *err, size_t err_size)
{
    struct statvfs sv;
    uint64_t frsize;
    int r;

    if (!check_mount_point(mount, err, err_size))
        return false;
    if ((w->fn ? w->fn(mount, &sv) : statvfs(mount, &sv)) != 0) {
        set_errno_text(err, err_size, errno);
        return false;
    }
    frsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize; /* as df does */
    r = agent_disk_usage_from_statvfs(sv.f_blocks, sv.f_bfree, sv.f_bavail, frsize, usage);
    if (r < 0) {
        snprintf(err, err_size, "statvfs values: %s", mon_strerror(r));
        return false;
    }
    return true;
}

static void *worker_main(void *arg)
{
    struct disk_worker *w = arg;
    char mount[sizeof(w->entry.mount)];

    memcpy(mount, w->entry.mount, sizeof(mount)); /* constant; read it without the lock */
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct agent_disk_usage usage;
        char err[sizeof(w->entry.error)] = "";
        int64_t until;
        bool ok;

        w->in_call = true;
        w->call_started_ms = mon_mono_ms();
        pthread_mutex_unlock(&w->lock);
        ok = read_mount(w, mount, &usage, err, sizeof(err));
        pthread_mutex_lock(&w->lock);
        w->in_call = false;
        if (ok) {
            w->entry.usage = usage;
            w->entry.have_value = true;
            w->entry.read_at_mono_ms = mon_mono_ms();
        }
        memcpy(w->entry.error, err, sizeof(err));
        until = mon_cond_deadline(w->interval_ms);
        while (!w->stop && mon_cond_wait_until(&w->wake, &w->lock, until))
            ;
    }
    pthread_mutex_unlock(&w->lock);
    worker_unref(w);
    return NULL;
}

/* Starts the worker of one mount: MON_EINVAL for an empty mount or one that does not fit,
 * MON_ENOMEM or MON_ESYS (no thread). */
static int worker_start(const char *mount, int64_t interval_ms, agent_disk_statvfs_fn fn,
                        struct disk_worker **ret_worker)
{
    struct disk_worker *w;
    bool have_cond = false, have_lock = false;
    int r = MON_ENOMEM;

    if (!mount[0] || strlen(mount) >= sizeof(w->entry.mount))
        return MON_EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return MON_ENOMEM;
    mon_strlcpy(w->entry.mount, mount, sizeof(w->entry.mount));
    w->fn = fn;
    w->interval_ms = interval_ms;
    w->refs = 2; /* the thread's and the monitor's */
    have_cond = mon_cond_init(&w->wake) == MON_OK;
    have_lock = have_cond && pthread_mutex_init(&w->lock, NULL) == 0;
    if (!have_lock)
        goto fail;
    if (pthread_create(&w->thread, NULL, worker_main, w) == 0) {
        *ret_worker = w;
        return MON_OK;
    }
    r = MON_ESYS;
    pthread_mutex_destroy(&w->lock);
fail:
    if (have_cond)
        mon_cond_destroy(&w->wake);
    free(w);
    return r;
}

/* Stops a worker and drops the monitor's reference. A worker inside an attempt may be stuck
 * there for ever (hung NFS), so it is detached rather than joined; one that is waiting sees
 * stop at once and is joined. */
static void worker_stop(struct disk_worker *w)
{
    bool busy;

    pthread_mutex_lock(&w->lock);
    w->stop = true;
    busy = w->in_call;
    mon_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    if (busy)
        pthread_detach(w->thread);
    else
        pthread_join(w->thread, NULL);
    worker_unref(w);
}

int agent_disk_monitor_new(char *const *mounts, size_t n_mounts, int64_t interval_ms,
                           int64_t timeout_ms, agent_disk_statvfs_fn fn,
                           struct agent_disk_monitor **ret_monitor)
{
    struct agent_disk_monitor *m;
    int r = MON_ENOMEM;

    if (interval_ms <= 0 || timeout_ms <= 0 || (n_mounts > 0 && !mounts))
        return MON_EINVAL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return MON_ENOMEM;
    m->timeout_ms = timeout_ms;
    m->workers = calloc(n_mounts ? n_mounts : 1, sizeof(*m->workers));
    if (!m->workers)
        goto fail;
    for (; m->n < n_mounts; m->n++) {
        r = worker_start(mounts[m->n], interval_ms, fn, &m->workers[m->n]);
        if (r < 0)
            goto fail;
    }
    *ret_monitor = m;
    return MON_OK;
fail:
    agent_disk_monitor_free(m);
    return r;
}

size_t agent_disk_monitor_read(struct agent_disk_monitor *m, struct agent_disk_entry *out,
                               size_t max)
{
    size_t n;

    if (!m)
        return 0;
    n = m->n < max ? m->n : max;
    for (size_t i = 0; i < n; i++) {
        struct disk_worker *w = m->workers[i];
        int64_t now;

        pthread_mutex_lock(&w->lock);
        now = mon_mono_ms();
        out[i] = w->entry;
        out[i].stale = w->entry.have_value && now - w->entry.read_at_mono_ms > m->timeout_ms;
        if (w->in_call && now - w->call_started_ms > m->timeout_ms) {
            /* The attempt hangs: whatever value we have is no longer current. */
            out[i].stale = true;
            if (!w->entry.have_value)
                mon_strlcpy(out[i].error, "statvfs timed out", sizeof(out[i].error));
        }
        pthread_mutex_unlock(&w->lock);
    }
    return n;
}

void agent_disk_monitor_free(struct agent_disk_monitor *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        worker_stop(m->workers[i]);
    free(m->workers);
    free(m);
}
