/* SPDX-License-Identifier: MIT */
/* GPU process lists joined with /proc through a PID table kept sorted for binary search; a PID
 * leaves the table as soon as a sample no longer lists it. */
#include "agent/gpu_procs.h"

#include "agent/collect/gpu_nvml.h"
#include "common/err.h"
#include "common/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PID_REFRESH_MS   30000 /* re-read a listed process's uid and name this often */
#define PID_TABLE_MAX    (GPU_MAX * AGENT_GPU_PROCESSES_MAX)
#define PID_FILE_BUFSIZE 16384 /* status is ~1.5 KB; cgroup v1 of a pod can be several KB */

struct pid_entry {
    uint32_t pid;
    bool seen; /* listed in the current sample */
    bool visible;
    int64_t read_ms;
    struct agent_pid_info info;
    char user[AGENT_USER_NAME_SIZE];
    char error[96];
};

struct agent_gpu_procs {
    char *procfs_root;
    long clock_ticks; /* per second */
    bool has_btime;
    int64_t btime, now_ms;
    struct agent_passwd_cache *users;
    char *buf;
    struct pid_entry *pids; /* sorted by pid */
    size_t n_pids, cap_pids;
    struct agent_gpu_process_list *lists[GPU_MAX];
    bool listed[GPU_MAX];
};

int agent_gpu_procs_new(const char *procfs_root, struct agent_gpu_procs **ret)
{
    struct agent_gpu_procs *p = calloc(1, sizeof(*p));

    if (!p)
        return MON_ENOMEM;
    p->procfs_root = strdup(procfs_root);
    p->buf = malloc(PID_FILE_BUFSIZE);
    p->clock_ticks = sysconf(_SC_CLK_TCK);
    if (p->clock_ticks <= 0)
        p->clock_ticks = 100;
    if (!p->procfs_root || !p->buf || agent_passwd_cache_new(&p->users) < 0) {
        agent_gpu_procs_free(p);
        return MON_ENOMEM;
    }
    *ret = p;
    return MON_OK;
}

void agent_gpu_procs_begin(struct agent_gpu_procs *p, bool has_btime, int64_t btime, int64_t now_ms)
{
    p->has_btime = has_btime;
    p->btime = btime;
    p->now_ms = now_ms;
    memset(p->listed, 0, sizeof(p->listed));
}

/* Index of pid in the table, or where it would go (then *found is false). */
static size_t find_pid(const struct agent_gpu_procs *p, uint32_t pid, bool *found)
{
    size_t lo = 0, hi = p->n_pids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->pids[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < p->n_pids && p->pids[lo].pid == pid;
    return lo;
}

/* Reads pid from /proc into e (visible with uid, user, command...; or not, with the reason). */
static void read_pid(struct agent_gpu_procs *p, struct pid_entry *e)
{
    char why[96];
    int r = agent_pid_read(p->procfs_root, e->pid, p->buf, PID_FILE_BUFSIZE, &e->info, why,
                           sizeof(why));
    e->read_ms = p->now_ms;
    e->visible = r == MON_OK;
    if (!e->visible) {
        mon_strlcpy(e->error, why, sizeof(e->error));
        return;
    }
    e->error[0] = '\0';
    if (!agent_passwd_cache_name(p->users, e->info.uid, p->now_ms, e->user))
        snprintf(e->user, sizeof(e->user), "%u", e->info.uid); /* as ps shows it */
}

/* The table entry of pid, read from /proc when new or due; NULL when the table is full. */
static struct pid_entry *lookup(struct agent_gpu_procs *p, uint32_t pid)
{
    bool found;
    size_t at = find_pid(p, pid, &found);
    struct pid_entry *e;

    if (!found) {
        if (p->n_pids >= PID_TABLE_MAX)
            return NULL;
        if (p->n_pids == p->cap_pids) {
            size_t cap = p->cap_pids ? p->cap_pids * 2 : 64;
            struct pid_entry *bigger = realloc(p->pids, cap * sizeof(*bigger));
            if (!bigger)
                return NULL;
            p->pids = bigger;
            p->cap_pids = cap;
        }
        memmove(&p->pids[at + 1], &p->pids[at], (p->n_pids - at) * sizeof(*p->pids));
        p->n_pids++;
        e = &p->pids[at];
        memset(e, 0, sizeof(*e));
        e->pid = pid;
        read_pid(p, e);
    } else {
        e = &p->pids[at];
        if (p->now_ms - e->read_ms >= PID_REFRESH_MS)
            read_pid(p, e);
    }
    e->seen = true;
    return e;
}

int agent_gpu_procs_set(struct agent_gpu_procs *p, size_t slot,
                        const struct agent_gpu_driver_process *list, size_t n)
{
    struct agent_gpu_process_list *l;

    if (slot >= GPU_MAX)
        return MON_ERANGE;
    if (!p->lists[slot]) {
        p->lists[slot] = malloc(sizeof(*p->lists[slot]));
        if (!p->lists[slot])
            return MON_ENOMEM;
    }
    l = p->lists[slot];
    l->n = 0;
    for (size_t i = 0; i < n && l->n < AGENT_GPU_PROCESSES_MAX; i++) {
        struct agent_gpu_process *out = &l->e[l->n++];
        const struct pid_entry *e = lookup(p, list[i].pid);
        memset(out, 0, sizeof(*out));
        out->gpu = list[i];
        if (!e) {
            mon_strlcpy(out->error, "out of memory", sizeof(out->error));
            continue;
        }
        out->visible = e->visible;
        if (!e->visible) {
            mon_strlcpy(out->error, e->error, sizeof(out->error));
            continue;
        }
        out->uid = e->info.uid;
        memcpy(out->user, e->user, sizeof(out->user));
        memcpy(out->command, e->info.command, sizeof(out->command));
        memcpy(out->container, e->info.container, sizeof(out->container));
        out->has_started = p->has_btime;
        out->started_at_utc_s =
            p->btime + (int64_t)(e->info.start_ticks / (uint64_t)p->clock_ticks);
    }
    p->listed[slot] = true;
    return MON_OK;
}

void agent_gpu_procs_end(struct agent_gpu_procs *p)
{
    size_t kept = 0;
    for (size_t i = 0; i < p->n_pids; i++) {
        if (!p->pids[i].seen)
            continue;
        p->pids[i].seen = false;
        p->pids[kept++] = p->pids[i];
    }
    p->n_pids = kept;
}

const struct agent_gpu_process_list *agent_gpu_procs_list(const struct agent_gpu_procs *p,
                                                          size_t slot)
{
    return slot < GPU_MAX && p->listed[slot] ? p->lists[slot] : NULL;
}

void agent_gpu_procs_sample_nvml(struct agent_gpu_procs *p, struct agent_gpu_nvml *nvml,
                                 struct agent_gpu_reading *gpus, size_t n, bool has_btime,
                                 int64_t btime, int64_t now_ms)
{
    struct agent_gpu_driver_process list[AGENT_GPU_PROCESSES_MAX];

    agent_gpu_procs_begin(p, has_btime, btime, now_ms);
    for (size_t i = 0; i < n; i++) {
        char why[160];
        size_t got = 0, total = 0;
        if (gpus[i].error[0] ||
            agent_gpu_nvml_processes(nvml, gpus[i].index, list, AGENT_GPU_PROCESSES_MAX, &got,
                                     &total, why, sizeof(why)) < 0 ||
            agent_gpu_procs_set(p, i, list, got) < 0)
            continue;
        gpus[i].has_processes = true;
        gpus[i].n_processes = total > UINT32_MAX ? UINT32_MAX : (unsigned)total;
    }
    agent_gpu_procs_end(p);
}

void agent_gpu_procs_sample_smi(struct agent_gpu_procs *p, const struct agent_smi_app *apps,
                                size_t n_apps, struct agent_gpu_reading *gpus, size_t n,
                                bool has_btime, int64_t btime, int64_t now_ms)
{
    struct agent_gpu_driver_process *list = NULL;

    agent_gpu_procs_begin(p, has_btime, btime, now_ms);
    if (apps)
        list = malloc((n_apps ? n_apps : 1) * sizeof(*list));
    for (size_t i = 0; list && i < n; i++) {
        size_t got = 0, total;
        if (gpus[i].error[0] || !gpus[i].uuid[0])
            continue;
        for (size_t k = 0; k < n_apps; k++)
            if (strcmp(apps[k].uuid, gpus[i].uuid) == 0)
                list[got++] = apps[k].process;
        total = agent_gpu_processes_merge(list, got);
        if (agent_gpu_procs_set(p, i, list, total) < 0)
            continue;
        gpus[i].has_processes = true;
        gpus[i].n_processes = (unsigned)total;
    }
    free(list);
    agent_gpu_procs_end(p);
}

void agent_gpu_procs_free(struct agent_gpu_procs *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < GPU_MAX; i++)
        free(p->lists[i]);
    free(p->pids);
    free(p->buf);
    agent_passwd_cache_free(p->users);
    free(p->procfs_root);
    free(p);
}
