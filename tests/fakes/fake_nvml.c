/* SPDX-License-Identifier: MIT */
/* Fake libnvidia-ml.so.1 for tests: the NVML functions the agent uses, driven by FAKE_NVML_*
 * environment variables and a state file that is re-read on every call that reads values. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_EXPORT __attribute__((visibility("default")))

#define NVML_SUCCESS                         0
#define NVML_ERROR_UNINITIALIZED             1
#define NVML_ERROR_INVALID_ARGUMENT          2
#define NVML_ERROR_NOT_SUPPORTED             3
#define NVML_ERROR_INSUFFICIENT_SIZE         7
#define NVML_ERROR_DRIVER_NOT_LOADED         9
#define NVML_ERROR_GPU_IS_LOST               15
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_UNKNOWN                   999

#define FAKE_MAX_GPUS 64
#define MIB           1048576ULL

typedef int nvml_return_t;

struct nvml_device {
    unsigned index;
};
typedef struct nvml_device *nvml_device_t;

struct nvml_memory_v1 {
    unsigned long long total, free, used;
};

struct nvml_memory_v2 {
    unsigned int version;
    unsigned long long total, reserved, free, used;
};

struct nvml_utilization {
    unsigned int gpu, memory;
};

/* The fake is a test double: plain file-static state is fine here. */
static struct nvml_device devices[FAKE_MAX_GPUS];
static unsigned gpu_count = 1;
static int initialized;
static int lost_env = -1;
static int power_unsupported = -1;
static unsigned power_calls;

/* Values from the state file (re-read on demand); -1 = not set. Lines "key=value": util,
 * mem_used_mb, lost (index of a GPU that answers "GPU is lost"), fail_all (every device call
 * fails) and init_fail (nvmlInit fails as if the driver were unloaded). */
struct fake_state {
    long util, mem_used_mb, lost;
    int fail_all, init_fail;
};

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

static void read_state(struct fake_state *st)
{
    const char *path = getenv("FAKE_NVML_STATE_FILE");
    char line[128];
    FILE *f;

    st->util = st->mem_used_mb = st->lost = -1;
    st->fail_all = st->init_fail = 0;
    if (!path || !*path)
        return;
    f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        long v;
        if (!eq)
            continue;
        *eq = '\0';
        v = strtol(eq + 1, NULL, 10);
        if (strcmp(line, "util") == 0)
            st->util = v;
        else if (strcmp(line, "mem_used_mb") == 0)
            st->mem_used_mb = v;
        else if (strcmp(line, "lost") == 0)
            st->lost = v;
        else if (strcmp(line, "fail_all") == 0)
            st->fail_all = v != 0;
        else if (strcmp(line, "init_fail") == 0)
            st->init_fail = v != 0;
    }
    fclose(f);
}

static int is_lost(const struct fake_state *st, unsigned i)
{
    return (lost_env >= 0 && (unsigned)lost_env == i) || (st->lost >= 0 && (unsigned)st->lost == i);
}

/* Checks a handle and the lost/fail_all state; returns NVML_SUCCESS or the error to report. */
static nvml_return_t check_device(nvml_device_t dev, struct fake_state *st)
{
    if (!initialized)
        return NVML_ERROR_UNINITIALIZED;
    if (!dev || dev < devices || dev >= devices + gpu_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    read_state(st);
    if (st->fail_all)
        return NVML_ERROR_UNKNOWN;
    if (is_lost(st, dev->index))
        return NVML_ERROR_GPU_IS_LOST;
    return NVML_SUCCESS;
}

nvml_return_t nvmlInit(void)
{
    struct fake_state st;
    long n;

    read_state(&st);
    if (env_long("FAKE_NVML_INIT_FAIL", 0) == 1 || st.init_fail)
        return NVML_ERROR_DRIVER_NOT_LOADED;
    n = env_long("FAKE_NVML_GPUS", 1);
    if (n < 0 || n > FAKE_MAX_GPUS)
        return NVML_ERROR_UNKNOWN;
    gpu_count = (unsigned)n;
    for (unsigned i = 0; i < FAKE_MAX_GPUS; i++)
        devices[i].index = i;
    lost_env = (int)env_long("FAKE_NVML_LOST", -1);
    power_unsupported = (int)env_long("FAKE_NVML_POWER_UNSUPPORTED", -1);
    power_calls = 0;
    initialized = 1;
    return NVML_SUCCESS;
}

nvml_return_t nvmlShutdown(void)
{
    if (!initialized)
        return NVML_ERROR_UNINITIALIZED;
    initialized = 0;
    return NVML_SUCCESS;
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
    struct fake_state st;

    if (!initialized)
        return NVML_ERROR_UNINITIALIZED;
    if (!count)
        return NVML_ERROR_INVALID_ARGUMENT;
    read_state(&st);
    if (st.fail_all)
        return NVML_ERROR_UNKNOWN;
    *count = gpu_count;
    return NVML_SUCCESS;
}

nvml_return_t nvmlDeviceGetHandleByIndex(unsigned int i, nvml_device_t *dev)
{
    struct fake_state st;

    if (!initialized)
        return NVML_ERROR_UNINITIALIZED;
    if (i >= gpu_count || !dev)
        return NVML_ERROR_INVALID_ARGUMENT;
    read_state(&st);
    if (st.fail_all)
        return NVML_ERROR_UNKNOWN;
    if (is_lost(&st, i))
        return NVML_ERROR_GPU_IS_LOST;
    *dev = &devices[i];
    return NVML_SUCCESS;
}

static unsigned long long used_bytes(const struct fake_state *st, unsigned i)
{
    unsigned long long mb =
        st->mem_used_mb >= 0 ? (unsigned long long)st->mem_used_mb : 1024ULL * (i + 1);
    return mb * MIB;
}

nvml_return_t nvmlDeviceGetMemoryInfo(nvml_device_t dev, struct nvml_memory_v1 *m)
{
    struct fake_state st;
    nvml_return_t rc = check_device(dev, &st);

    if (rc != NVML_SUCCESS)
        return rc;
    if (!m)
        return NVML_ERROR_INVALID_ARGUMENT;
    m->total = 81920ULL * MIB;
    m->used = used_bytes(&st, dev->index);
    m->free = m->total - m->used;
    return NVML_SUCCESS;
}

#ifndef FAKE_MISSING_SYMBOL
nvml_return_t nvmlDeviceGetUtilizationRates(nvml_device_t dev, struct nvml_utilization *u)
{
    struct fake_state st;
    nvml_return_t rc = check_device(dev, &st);

    if (rc != NVML_SUCCESS)
        return rc;
    if (!u)
        return NVML_ERROR_INVALID_ARGUMENT;
    u->gpu = st.util >= 0 ? (unsigned)st.util : (10 * (dev->index + 1)) % 101;
    u->memory = u->gpu / 2;
    return NVML_SUCCESS;
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
    struct fake_state st;
    nvml_return_t rc = check_device(dev, &st);

    if (rc != NVML_SUCCESS)
        return rc;
    if (!m)
        return NVML_ERROR_INVALID_ARGUMENT;
    /* Like the real library, refuse a structure whose version word does not match. */
    if (m->version != (unsigned int)(sizeof(struct nvml_memory_v2) | (2u << 24)))
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    m->total = 81920ULL * MIB;
    m->reserved = 512ULL * MIB;
    m->used = used_bytes(&st, dev->index);
    m->free = m->total - m->reserved - m->used;
    return NVML_SUCCESS;
}
#endif
