/* SPDX-License-Identifier: MIT */
/* Fake libnvidia-ml.so.1 for tests: the NVML functions the agent uses, driven by FAKE_NVML_*
 * environment variables (read at nvmlInit) and a state file (FAKE_NVML_STATE_FILE) re-read when
 * it changes. Replace the file (write another, rename it over) rather than rewrite it in place:
 * a reader may see the truncated file, and an Xid list that shrinks starts over.
 *
 * State file: one "key=value" per line; "key@N=value" sets it for GPU N only. Keys:
 *   util, mem_used_mb          utilisation and memory used (default 10*(i+1) % 101, 1024*(i+1))
 *   lost=N, fail_all=1, init_fail=1   GPU N lost; every call fails; nvmlInit fails
 *   procs=PID:MB,...           compute processes (MB "-": memory not available)
 *   gprocs=PID:MB,...          graphics processes
 *   procs_fail=RC              the process-list calls answer RC
 *   ecc_mode=0|1 (default 1), ecc_vol_corr, ecc_vol_unc, ecc_agg_corr, ecc_agg_unc
 *   remap_corr, remap_unc, remap_pending, remap_failed
 *   throttle=MASK (default 0), fan (41), sm_clock (1410), power_limit_mw (400000), pstate (0)
 *   unsupported=NAME,...       calls answering "Not Supported": ecc, ecc_counts, remap, throttle,
 *                              fan, clock, power_limit, pstate, compute, graphics, compute_v3,
 *                              compute_v2, xid (event registration)
 *   xid=GPU:CODE,...           critical Xid events, each delivered once, in order
 *   xid_wait_error=RC          nvmlEventSetWait answers RC; xid_hang=1: it hangs for 30 s
 * Variants (fake_nvml.cmake): -nov2 (no _v2 symbols), -nosym (no nvmlDeviceGetUtilizationRates),
 * -procv2 (no _v3 process lists), -procv1 (only the v1 process lists, 16-byte layout). */
#define _POSIX_C_SOURCE 200809L
#include "fake_nvml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fake is a test double: plain file-static state is fine here (the state file's part is
 * in fake_nvml_state.c, under its lock). */
static struct nvml_device devices[FAKE_MAX_GPUS];
static unsigned gpu_count = 1;
static _Atomic int initialized; /* nvmlInit count; an Xid thread may shut down late */
static int lost_env = -1;
static int power_unsupported = -1;
static unsigned power_calls;
static unsigned call_counts[C_COUNT];

FAKE_EXPORT nvml_return_t nvmlInit(void);
FAKE_EXPORT nvml_return_t nvmlShutdown(void);
FAKE_EXPORT const char *nvmlErrorString(nvml_return_t rc);
FAKE_EXPORT nvml_return_t nvmlDeviceGetCount(unsigned int *count);
FAKE_EXPORT nvml_return_t nvmlDeviceGetHandleByIndex(unsigned int i, nvml_device_t *dev);
FAKE_EXPORT nvml_return_t nvmlDeviceGetMemoryInfo(nvml_device_t dev, struct nvml_memory_v1 *m);
FAKE_EXPORT nvml_return_t nvmlDeviceGetName(nvml_device_t dev, char *name, unsigned int len);
FAKE_EXPORT nvml_return_t nvmlDeviceGetUUID(nvml_device_t dev, char *uuid, unsigned int len);
FAKE_EXPORT nvml_return_t nvmlDeviceGetTemperature(nvml_device_t dev, int sensor,
                                                   unsigned int *temp);
FAKE_EXPORT nvml_return_t nvmlDeviceGetPowerUsage(nvml_device_t dev, unsigned int *mw);
FAKE_EXPORT unsigned fake_nvml_power_calls(void);
FAKE_EXPORT unsigned fake_nvml_calls(const char *name);
FAKE_EXPORT unsigned fake_nvml_sessions(void);
FAKE_EXPORT void fake_nvml_state_changed(void);
#ifndef FAKE_MISSING_SYMBOL
FAKE_EXPORT nvml_return_t nvmlDeviceGetUtilizationRates(nvml_device_t dev,
                                                        struct nvml_utilization *u);
#endif
#ifndef FAKE_NO_V2
FAKE_EXPORT nvml_return_t nvmlInit_v2(void);
FAKE_EXPORT nvml_return_t nvmlDeviceGetCount_v2(unsigned int *count);
FAKE_EXPORT nvml_return_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvml_device_t *dev);
FAKE_EXPORT nvml_return_t nvmlDeviceGetMemoryInfo_v2(nvml_device_t dev, struct nvml_memory_v2 *m);
#endif

static long env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    char *end;
    long v;

    if (!s || !*s)
        return dflt;
    v = strtol(s, &end, 10);
    return *end ? dflt : v;
}

static int is_lost(const struct fake_state *st, unsigned i)
{
    return (lost_env >= 0 && (unsigned)lost_env == i) || (st->lost >= 0 && (unsigned)st->lost == i);
}

/* Checks a handle and the lost/fail_all state; on success returns with the state locked in
 * *ret (release with state_put), else returns the error to report (unlocked). */
nvml_return_t fake_device_state(nvml_device_t dev, struct fake_state **ret)
{
    struct fake_state *st;

    if (!initialized)
        return NVML_ERROR_UNINITIALIZED;
    if (!dev || dev < devices || dev >= devices + gpu_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    st = fake_state_get();
    if (st->fail_all || is_lost(st, dev->index)) {
        nvml_return_t rc = st->fail_all ? NVML_ERROR_UNKNOWN : NVML_ERROR_GPU_IS_LOST;
        fake_state_put();
        return rc;
    }
    *ret = st;
    return NVML_SUCCESS;
}

/* device_state plus the "unsupported" list for call (counted for fake_nvml_calls). */
nvml_return_t fake_call_state(nvml_device_t dev, enum fake_call call, struct fake_state **ret)
{
    nvml_return_t rc = fake_device_state(dev, ret);
    if (rc != NVML_SUCCESS)
        return rc;
    call_counts[call]++;
    if ((*ret)->gpu[dev->index].unsupported[call]) {
        fake_state_put();
        return NVML_ERROR_NOT_SUPPORTED;
    }
    return NVML_SUCCESS;
}

void fake_count_call(enum fake_call call)
{
    call_counts[call]++;
}

nvml_device_t fake_device(unsigned i)
{
    return &devices[i];
}

unsigned fake_gpu_count(void)
{
    return gpu_count;
}

nvml_return_t nvmlInit(void)
{
    const char *path = getenv("FAKE_NVML_STATE_FILE");
    struct fake_state *st;
    int init_fail;
    long n;

    /* A new session reads the state afresh: the cached one may be a previous test's (its file
     * gone or replaced less than STAT_EVERY_MS ago). */
    fake_state_session_begin(path);
    st = fake_state_get();
    init_fail = st->init_fail;
    fake_state_put();
    if (env_long("FAKE_NVML_INIT_FAIL", 0) == 1 || init_fail)
        return NVML_ERROR_DRIVER_NOT_LOADED;
    n = env_long("FAKE_NVML_GPUS", 1);
    if (n < 0 || n > FAKE_MAX_GPUS)
        return NVML_ERROR_UNKNOWN;
    fake_state_lock(); /* an old session's Xid thread reads them under it */
    gpu_count = (unsigned)n;
    for (unsigned i = 0; i < FAKE_MAX_GPUS; i++)
        devices[i].index = i;
    fake_state_put();
    lost_env = (int)env_long("FAKE_NVML_LOST", -1);
    power_unsupported = (int)env_long("FAKE_NVML_POWER_UNSUPPORTED", -1);
    power_calls = 0;
    memset(call_counts, 0, sizeof(call_counts));
    initialized++;
    return NVML_SUCCESS;
}

/* Counted like the real library's: a late shutdown (an Xid thread that outlived its owner)
 * does not end a newer user's session. */
nvml_return_t nvmlShutdown(void)
{
    if (!initialized)
        return NVML_ERROR_UNINITIALIZED;
    initialized--;
    return NVML_SUCCESS;
}

/* Test hook: how many nvmlInit are not yet matched by nvmlShutdown. */
unsigned fake_nvml_sessions(void)
{
    return (unsigned)initialized;
}

const char *nvmlErrorString(nvml_return_t rc)
{
    switch (rc) {
    case NVML_SUCCESS:
        return "Success";
    case NVML_ERROR_UNINITIALIZED:
        return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT:
        return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED:
        return "Not Supported";
    case NVML_ERROR_INSUFFICIENT_SIZE:
        return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED:
        return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT:
        return "Timeout";
    case NVML_ERROR_GPU_IS_LOST:
        return "GPU is lost";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH:
        return "Argument Version Mismatch";
    default:
        return "Unknown Error";
    }
}

nvml_return_t nvmlDeviceGetCount(unsigned int *count)
{
    struct fake_state *st;
    int fail;

    if (!initialized)
        return NVML_ERROR_UNINITIALIZED;
    if (!count)
        return NVML_ERROR_INVALID_ARGUMENT;
    st = fake_state_get();
    fail = st->fail_all;
    fake_state_put();
    if (fail)
        return NVML_ERROR_UNKNOWN;
    *count = gpu_count;
    return NVML_SUCCESS;
}

nvml_return_t nvmlDeviceGetHandleByIndex(unsigned int i, nvml_device_t *dev)
{
    struct fake_state *st;
    nvml_return_t rc = NVML_SUCCESS;

    if (!initialized)
        return NVML_ERROR_UNINITIALIZED;
    if (i >= gpu_count || !dev)
        return NVML_ERROR_INVALID_ARGUMENT;
    st = fake_state_get();
    if (st->fail_all)
        rc = NVML_ERROR_UNKNOWN;
    else if (is_lost(st, i))
        rc = NVML_ERROR_GPU_IS_LOST;
    fake_state_put();
    if (rc == NVML_SUCCESS)
        *dev = &devices[i];
    return rc;
}

static unsigned long long used_bytes(const struct fake_state *st, unsigned i)
{
    return (unsigned long long)fake_field(st, i, F_MEM_USED_MB, 1024LL * (i + 1)) * MIB;
}

nvml_return_t nvmlDeviceGetMemoryInfo(nvml_device_t dev, struct nvml_memory_v1 *m)
{
    struct fake_state *st;
    nvml_return_t rc = fake_device_state(dev, &st);

    if (rc != NVML_SUCCESS)
        return rc;
    if (m) {
        m->total = 81920ULL * MIB;
        m->used = used_bytes(st, dev->index);
        m->free = m->total - m->used;
    }
    fake_state_put();
    return m ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

#ifndef FAKE_MISSING_SYMBOL
nvml_return_t nvmlDeviceGetUtilizationRates(nvml_device_t dev, struct nvml_utilization *u)
{
    struct fake_state *st;
    nvml_return_t rc = fake_device_state(dev, &st);

    if (rc != NVML_SUCCESS)
        return rc;
    if (u) {
        u->gpu = (unsigned)fake_field(st, dev->index, F_UTIL, (10 * (dev->index + 1)) % 101);
        u->memory = u->gpu / 2;
    }
    fake_state_put();
    return u ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}
#endif

static nvml_return_t copy_text(const char *text, char *dst, unsigned int len)
{
    if (!dst)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(text) + 1 > len)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, text, strlen(text) + 1);
    return NVML_SUCCESS;
}

nvml_return_t nvmlDeviceGetName(nvml_device_t dev, char *name, unsigned int len)
{
    if (!initialized || !dev)
        return NVML_ERROR_INVALID_ARGUMENT;
    return copy_text("NVIDIA Fake GPU", name, len);
}

nvml_return_t nvmlDeviceGetUUID(nvml_device_t dev, char *uuid, unsigned int len)
{
    char text[64];

    if (!initialized || !dev)
        return NVML_ERROR_INVALID_ARGUMENT;
    snprintf(text, sizeof(text), "GPU-00000000-0000-0000-0000-0000000000%02u", dev->index);
    return copy_text(text, uuid, len);
}

nvml_return_t nvmlDeviceGetTemperature(nvml_device_t dev, int sensor, unsigned int *temp)
{
    if (!initialized || !dev || !temp)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (sensor != 0)
        return NVML_ERROR_NOT_SUPPORTED;
    *temp = 40 + dev->index;
    return NVML_SUCCESS;
}

nvml_return_t nvmlDeviceGetPowerUsage(nvml_device_t dev, unsigned int *mw)
{
    if (!initialized || !dev || !mw)
        return NVML_ERROR_INVALID_ARGUMENT;
    power_calls++;
    if (power_unsupported >= 0 && (unsigned)power_unsupported == dev->index)
        return NVML_ERROR_NOT_SUPPORTED;
    *mw = (100 + dev->index) * 1000;
    return NVML_SUCCESS;
}

/* Test hook: how many times nvmlDeviceGetPowerUsage was called since nvmlInit. */
unsigned fake_nvml_power_calls(void)
{
    return power_calls;
}

/* Test hook: how many times the call named like an "unsupported=" entry was made since
 * nvmlInit (refused calls included); 0 for an unknown name. */
unsigned fake_nvml_calls(const char *name)
{
    for (int c = 0; c < C_COUNT; c++)
        if (strcmp(name, fake_call_name((enum fake_call)c)) == 0)
            return call_counts[c];
    return 0;
}

#ifndef FAKE_NO_V2
nvml_return_t nvmlInit_v2(void)
{
    return nvmlInit();
}

nvml_return_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    return nvmlDeviceGetCount(count);
}

nvml_return_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvml_device_t *dev)
{
    return nvmlDeviceGetHandleByIndex(i, dev);
}

nvml_return_t nvmlDeviceGetMemoryInfo_v2(nvml_device_t dev, struct nvml_memory_v2 *m)
{
    struct fake_state *st;
    nvml_return_t rc = fake_device_state(dev, &st);

    if (rc != NVML_SUCCESS)
        return rc;
    /* Like the real library, refuse a structure whose version word does not match. */
    if (!m)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    else if (m->version != (unsigned int)(sizeof(struct nvml_memory_v2) | (2u << 24)))
        rc = NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (rc == NVML_SUCCESS) {
        m->total = 81920ULL * MIB;
        m->reserved = 512ULL * MIB;
        m->used = used_bytes(st, dev->index);
        m->free = m->total - m->reserved - m->used;
    }
    fake_state_put();
    return rc;
}
#endif
