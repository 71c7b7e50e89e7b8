/* SPDX-License-Identifier: MIT */
/* The fake NVML's health calls (ECC, row remapping, throttle reasons, fan, clocks, power
 * limit, P-state), process lists in both structure layouts and the Xid event set, all driven by
 * the state file (see fake_nvml.c). */
#define _GNU_SOURCE /* inotify_init1 flags */
#include "fake_nvml.h"

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

/* Event sets are malloc'd, each with what it has delivered (an abandoned waiter may still use
 * its set while a new one is made); the lock, the count of live sets and that of the threads
 * inside a wait are file statics (test double). */
static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned live_sets, waiters;

FAKE_EXPORT nvml_return_t nvmlDeviceGetEccMode(nvml_device_t dev, int *current, int *pending);
FAKE_EXPORT nvml_return_t nvmlDeviceGetTotalEccErrors(nvml_device_t dev, int error_type,
                                                      int counter, unsigned long long *count);
FAKE_EXPORT nvml_return_t nvmlDeviceGetRemappedRows(nvml_device_t dev, unsigned int *corr,
                                                    unsigned int *unc, unsigned int *pending,
                                                    unsigned int *failed);
FAKE_EXPORT nvml_return_t nvmlDeviceGetCurrentClocksThrottleReasons(nvml_device_t dev,
                                                                    unsigned long long *reasons);
FAKE_EXPORT nvml_return_t nvmlDeviceGetFanSpeed(nvml_device_t dev, unsigned int *speed);
FAKE_EXPORT nvml_return_t nvmlDeviceGetClockInfo(nvml_device_t dev, int type, unsigned int *mhz);
FAKE_EXPORT nvml_return_t nvmlDeviceGetEnforcedPowerLimit(nvml_device_t dev, unsigned int *mw);
FAKE_EXPORT nvml_return_t nvmlDeviceGetPerformanceState(nvml_device_t dev, int *pstate);
FAKE_EXPORT nvml_return_t nvmlDeviceGetComputeRunningProcesses(nvml_device_t dev,
                                                               unsigned int *count,
                                                               struct nvml_process_v1 *infos);
FAKE_EXPORT nvml_return_t nvmlDeviceGetGraphicsRunningProcesses(nvml_device_t dev,
                                                                unsigned int *count,
                                                                struct nvml_process_v1 *infos);
#ifndef FAKE_PROC_V1_ONLY
FAKE_EXPORT nvml_return_t nvmlDeviceGetComputeRunningProcesses_v2(nvml_device_t dev,
                                                                  unsigned int *count,
                                                                  struct nvml_process_v2 *infos);
FAKE_EXPORT nvml_return_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvml_device_t dev,
                                                                   unsigned int *count,
                                                                   struct nvml_process_v2 *infos);
#ifndef FAKE_PROC_NO_V3
FAKE_EXPORT nvml_return_t nvmlDeviceGetComputeRunningProcesses_v3(nvml_device_t dev,
                                                                  unsigned int *count,
                                                                  struct nvml_process_v2 *infos);
FAKE_EXPORT nvml_return_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvml_device_t dev,
                                                                   unsigned int *count,
                                                                   struct nvml_process_v2 *infos);
#endif
#endif
FAKE_EXPORT unsigned fake_nvml_live_event_sets(void);
FAKE_EXPORT unsigned fake_nvml_event_waiters(void);
FAKE_EXPORT nvml_return_t nvmlEventSetCreate(nvml_event_set_t *set);
FAKE_EXPORT nvml_return_t nvmlEventSetFree(nvml_event_set_t set);
FAKE_EXPORT nvml_return_t nvmlDeviceRegisterEvents(nvml_device_t dev, unsigned long long types,
                                                   nvml_event_set_t set);
FAKE_EXPORT nvml_return_t nvmlEventSetWait(nvml_event_set_t set, struct nvml_event_data *data,
                                           unsigned int timeout_ms);
#ifndef FAKE_NO_V2
FAKE_EXPORT nvml_return_t nvmlEventSetWait_v2(nvml_event_set_t set, struct nvml_event_data *data,
                                              unsigned int timeout_ms);
#endif

#define XID_EVENT 0x8ULL

/* Test hook: event sets created and not yet freed. */
unsigned fake_nvml_live_event_sets(void)
{
    unsigned n;
    pthread_mutex_lock(&events_lock);
    n = live_sets;
    pthread_mutex_unlock(&events_lock);
    return n;
}

/* Test hook: threads inside nvmlEventSetWait now (a test that stops the Xid thread while it
 * waits in the driver waits for this rather than sleeping). */
unsigned fake_nvml_event_waiters(void)
{
    unsigned n;
    pthread_mutex_lock(&events_lock);
    n = waiters;
    pthread_mutex_unlock(&events_lock);
    return n;
}

nvml_return_t nvmlDeviceGetEccMode(nvml_device_t dev, int *current, int *pending)
{
    struct fake_state *st;
    nvml_return_t rc = fake_call_state(dev, C_ECC, &st);

    if (rc != NVML_SUCCESS)
        return rc;
    *current = *pending = fake_field(st, dev->index, F_ECC_MODE, 1) != 0;
    fake_state_put();
    return NVML_SUCCESS;
}

nvml_return_t nvmlDeviceGetTotalEccErrors(nvml_device_t dev, int error_type, int counter,
                                          unsigned long long *count)
{
    struct fake_state *st;
    nvml_return_t rc = fake_call_state(dev, C_ECC_COUNTS, &st);
    enum fake_field f;

    if (rc != NVML_SUCCESS)
        return rc;
    if (fake_field(st, dev->index, F_ECC_MODE, 1) == 0) {
        fake_state_put();
        return NVML_ERROR_NOT_SUPPORTED; /* what drivers answer with ECC off */
    }
    f = counter == 0 ? (error_type == 0 ? F_ECC_VOL_CORR : F_ECC_VOL_UNC)
                     : (error_type == 0 ? F_ECC_AGG_CORR : F_ECC_AGG_UNC);
    *count = (unsigned long long)fake_field(st, dev->index, f, 0);
    fake_state_put();
    return NVML_SUCCESS;
}

nvml_return_t nvmlDeviceGetRemappedRows(nvml_device_t dev, unsigned int *corr, unsigned int *unc,
                                        unsigned int *pending, unsigned int *failed)
{
    struct fake_state *st;
    nvml_return_t rc = fake_call_state(dev, C_REMAP, &st);

    if (rc != NVML_SUCCESS)
        return rc;
    *corr = (unsigned)fake_field(st, dev->index, F_REMAP_CORR, 0);
    *unc = (unsigned)fake_field(st, dev->index, F_REMAP_UNC, 0);
    *pending = (unsigned)fake_field(st, dev->index, F_REMAP_PENDING, 0);
    *failed = (unsigned)fake_field(st, dev->index, F_REMAP_FAILED, 0);
    fake_state_put();
    return NVML_SUCCESS;
}

/* One unsigned figure of the state file behind the unsupported list of call. */
static nvml_return_t get_uint(nvml_device_t dev, enum fake_call call, enum fake_field f,
                              long long dflt, unsigned long long *out)
{
    struct fake_state *st;
    nvml_return_t rc = fake_call_state(dev, call, &st);

    if (rc != NVML_SUCCESS)
        return rc;
    *out = (unsigned long long)fake_field(st, dev->index, f, dflt);
    fake_state_put();
    return NVML_SUCCESS;
}

nvml_return_t nvmlDeviceGetCurrentClocksThrottleReasons(nvml_device_t dev,
                                                        unsigned long long *reasons)
{
    return get_uint(dev, C_THROTTLE, F_THROTTLE, 0, reasons);
}

nvml_return_t nvmlDeviceGetFanSpeed(nvml_device_t dev, unsigned int *speed)
{
    unsigned long long v = 0;
    nvml_return_t rc = get_uint(dev, C_FAN, F_FAN, 41, &v);
    *speed = (unsigned)v;
    return rc;
}

nvml_return_t nvmlDeviceGetClockInfo(nvml_device_t dev, int type, unsigned int *mhz)
{
    unsigned long long v = 0;
    nvml_return_t rc;

    if (type != 1) /* only the SM clock is faked */
        return NVML_ERROR_INVALID_ARGUMENT;
    rc = get_uint(dev, C_CLOCK, F_SM_CLOCK, 1410, &v);
    *mhz = (unsigned)v;
    return rc;
}

nvml_return_t nvmlDeviceGetEnforcedPowerLimit(nvml_device_t dev, unsigned int *mw)
{
    unsigned long long v = 0;
    nvml_return_t rc = get_uint(dev, C_POWER_LIMIT, F_POWER_LIMIT_MW, 400000, &v);
    *mw = (unsigned)v;
    return rc;
}

nvml_return_t nvmlDeviceGetPerformanceState(nvml_device_t dev, int *pstate)
{
    unsigned long long v = 0;
    nvml_return_t rc = get_uint(dev, C_PSTATE, F_PSTATE, 0, &v);
    *pstate = (int)v;
    return rc;
}

/* One process list in the given layout (v1: 16-byte entries, else 24-byte ones), with NVML's
 * size protocol: a too small *count gets INSUFFICIENT_SIZE and the needed count. */
static nvml_return_t list_processes(nvml_device_t dev, int graphics, enum fake_call version_call,
                                    unsigned int *count, void *infos, int v1_layout)
{
    struct fake_state *st;
    const struct fake_gpu_state *g;
    nvml_return_t rc = fake_call_state(dev, graphics ? C_GRAPHICS : C_COMPUTE, &st);
    unsigned n;

    if (rc != NVML_SUCCESS)
        return rc;
    g = &st->gpu[dev->index];
    n = g->n_procs[graphics];
    if (version_call != C_COUNT)
        fake_count_call(version_call);
    if (version_call != C_COUNT && g->unsupported[version_call])
        rc = NVML_ERROR_NOT_SUPPORTED;
    else if (fake_field(st, dev->index, F_PROCS_FAIL, 0) > 0)
        rc = (nvml_return_t)fake_field(st, dev->index, F_PROCS_FAIL, 0);
    else if (!count)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    else if (*count < n)
        rc = NVML_ERROR_INSUFFICIENT_SIZE;
    for (unsigned i = 0; rc == NVML_SUCCESS && i < n; i++) {
        const struct fake_proc *p = &g->procs[graphics][i];
        if (v1_layout) {
            struct nvml_process_v1 *e = (struct nvml_process_v1 *)infos + i;
            e->pid = p->pid;
            e->used_gpu_memory = p->bytes;
        } else {
            struct nvml_process_v2 *e = (struct nvml_process_v2 *)infos + i;
            e->pid = p->pid;
            e->used_gpu_memory = p->bytes;
            e->gpu_instance_id = e->compute_instance_id = 0xFFFFFFFFu;
        }
    }
    if (count && (rc == NVML_SUCCESS || rc == NVML_ERROR_INSUFFICIENT_SIZE))
        *count = n;
    fake_state_put();
    return rc;
}

nvml_return_t nvmlDeviceGetComputeRunningProcesses(nvml_device_t dev, unsigned int *count,
                                                   struct nvml_process_v1 *infos)
{
    return list_processes(dev, 0, C_COUNT, count, infos, 1);
}

nvml_return_t nvmlDeviceGetGraphicsRunningProcesses(nvml_device_t dev, unsigned int *count,
                                                    struct nvml_process_v1 *infos)
{
    return list_processes(dev, 1, C_COUNT, count, infos, 1);
}

#ifndef FAKE_PROC_V1_ONLY
nvml_return_t nvmlDeviceGetComputeRunningProcesses_v2(nvml_device_t dev, unsigned int *count,
                                                      struct nvml_process_v2 *infos)
{
    return list_processes(dev, 0, C_COMPUTE_V2, count, infos, 0);
}

nvml_return_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvml_device_t dev, unsigned int *count,
                                                       struct nvml_process_v2 *infos)
{
    return list_processes(dev, 1, C_COUNT, count, infos, 0);
}

#ifndef FAKE_PROC_NO_V3
nvml_return_t nvmlDeviceGetComputeRunningProcesses_v3(nvml_device_t dev, unsigned int *count,
                                                      struct nvml_process_v2 *infos)
{
    return list_processes(dev, 0, C_COMPUTE_V3, count, infos, 0);
}

nvml_return_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvml_device_t dev, unsigned int *count,
                                                       struct nvml_process_v2 *infos)
{
    return list_processes(dev, 1, C_COUNT, count, infos, 0);
}
#endif
#endif

nvml_return_t nvmlEventSetCreate(nvml_event_set_t *set)
{
    struct fake_state *st;
    nvml_event_set_t s;

    if (!set)
        return NVML_ERROR_INVALID_ARGUMENT;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NVML_ERROR_UNKNOWN;
    st = fake_state_get();
    s->delivered = st->n_xid; /* like the driver: only events from now on */
    fake_state_put();
    pthread_mutex_lock(&events_lock);
    live_sets++;
    pthread_mutex_unlock(&events_lock);
    *set = s;
    return NVML_SUCCESS;
}

nvml_return_t nvmlEventSetFree(nvml_event_set_t set)
{
    if (!set)
        return NVML_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&events_lock);
    live_sets--;
    pthread_mutex_unlock(&events_lock);
    free(set);
    return NVML_SUCCESS;
}

nvml_return_t nvmlDeviceRegisterEvents(nvml_device_t dev, unsigned long long types,
                                       nvml_event_set_t set)
{
    struct fake_state *st;
    nvml_return_t rc = fake_call_state(dev, C_XID, &st);

    if (rc != NVML_SUCCESS)
        return rc;
    fake_state_put();
    if (!set || types != XID_EVENT)
        return NVML_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&events_lock);
    set->registered[dev->index] |= types;
    pthread_mutex_unlock(&events_lock);
    return NVML_SUCCESS;
}

/* Delivers the set's next undelivered Xid of a registered GPU into data, from the state file as
 * it is now; 1 when there was one. */
static int next_event(nvml_event_set_t set, struct nvml_event_data *data)
{
    struct fake_state *st = fake_state_get_fresh();
    int found = 0;

    pthread_mutex_lock(&events_lock);
    if (set->delivered > st->n_xid)
        set->delivered = st->n_xid; /* the file was rewritten with fewer events */
    while (!found && set->delivered < st->n_xid) {
        unsigned gpu = st->xid[set->delivered].gpu;
        if (gpu < fake_gpu_count() && (set->registered[gpu] & XID_EVENT)) {
            data->device = fake_device(gpu);
            data->event_type = XID_EVENT;
            data->event_data = st->xid[set->delivered].code;
            found = 1;
        }
        set->delivered++;
    }
    pthread_mutex_unlock(&events_lock);
    fake_state_put();
    return found;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An inotify descriptor watching the folder of the state file for writes and renames, or -1. */
static int watch_state_folder(void)
{
    char path[4096], dir[4096];
    const char *slash = fake_state_path(path, sizeof(path)) ? strrchr(path, '/') : NULL;
    int fd;

    if (!slash)
        return -1;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    fd = inotify_init1(IN_CLOEXEC);
    if (fd >= 0 && inotify_add_watch(fd, dir[0] ? dir : "/",
                                     IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Like the driver: returns an event at once when one is pending, else waits up to timeout_ms
 * (one sleep, so an idle wait costs no CPU) and looks again. */
static nvml_return_t wait_for_event(nvml_event_set_t set, struct nvml_event_data *data,
                                    unsigned int timeout_ms, int v2)
{
    long long deadline = now_ms() + timeout_ms;
    struct nvml_event_data got;
    struct fake_state *st;
    long wait_error;
    int hang;

    st = fake_state_get();
    hang = st->xid_hang;
    wait_error = st->xid_wait_error;
    fake_state_put();
    if (hang) {
        sleep_ms(30000);
        return NVML_ERROR_TIMEOUT;
    }
    if (wait_error)
        return (nvml_return_t)wait_error;
    memset(&got, 0, sizeof(got));
    /* Like the driver, answer as soon as an event comes and cost nothing meanwhile: sleep
     * until the state file's folder changes (inotify, set up before looking, so that no
     * change is missed), then look again. Looking reads the file afresh: a state cached by
     * another thread (the sampler, an older Xid thread) may predate the watch, and a change
     * made between the two would wake nobody. */
    for (;;) {
        int fd = watch_state_folder();
        long long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (next_event(set, &got) || left <= 0) {
            if (fd >= 0)
                close(fd);
            break;
        }
        if (fd >= 0)
            poll(&p, 1, (int)left);
        else
            sleep_ms(left < 100 ? (unsigned)left : 100);
        if (fd >= 0)
            close(fd);
    }
    if (!got.event_type)
        return NVML_ERROR_TIMEOUT;
    /* the v1 call fills only device, type and data */
    memcpy(data, &got, v2 ? sizeof(got) : offsetof(struct nvml_event_data, gpu_instance_id));
    return NVML_SUCCESS;
}

/* wait_for_event, counted in waiters while it runs. */
static nvml_return_t wait_event(nvml_event_set_t set, struct nvml_event_data *data,
                                unsigned int timeout_ms, int v2)
{
    nvml_return_t rc;

    if (!set || !data)
        return NVML_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&events_lock);
    waiters++;
    pthread_mutex_unlock(&events_lock);
    rc = wait_for_event(set, data, timeout_ms, v2);
    pthread_mutex_lock(&events_lock);
    waiters--;
    pthread_mutex_unlock(&events_lock);
    return rc;
}

nvml_return_t nvmlEventSetWait(nvml_event_set_t set, struct nvml_event_data *data,
                               unsigned int timeout_ms)
{
    return wait_event(set, data, timeout_ms, 0);
}

#ifndef FAKE_NO_V2
nvml_return_t nvmlEventSetWait_v2(nvml_event_set_t set, struct nvml_event_data *data,
                                  unsigned int timeout_ms)
{
    return wait_event(set, data, timeout_ms, 1);
}
#endif
