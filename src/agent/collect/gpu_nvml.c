/* SPDX-License-Identifier: MIT */
/* NVML through dlopen with our own declarations of the few functions used: versioned symbols
 * first, optional ones probed per device and skipped once they answer "not supported". */
#include "agent/collect/gpu_nvml.h"

#include "common/err.h"
#include "common/str.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Our own declarations of the NVML ABI (stable across drivers): return codes are ints, devices
 * are opaque pointers, and the structures below follow the documented layouts. */
typedef int nvml_return_t;
typedef struct nvml_device *nvml_device_t;

#define NVML_SUCCESS             0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_TEMPERATURE_GPU     0
#define NVML_TEXT_LEN            96

struct nvml_memory_v1 {
    unsigned long long total, free, used;
};

struct nvml_memory_v2 {
    unsigned int version;
    unsigned long long total, reserved, free, used;
};

#define NVML_MEMORY_V2_VERSION ((unsigned int)(sizeof(struct nvml_memory_v2) | (2u << 24)))

struct nvml_utilization {
    unsigned int gpu, memory;
};

typedef nvml_return_t (*nvml_void_fn)(void);
typedef const char *(*nvml_error_string_fn)(nvml_return_t);
typedef nvml_return_t (*nvml_count_fn)(unsigned int *);
typedef nvml_return_t (*nvml_handle_fn)(unsigned int, nvml_device_t *);
typedef nvml_return_t (*nvml_memory_v1_fn)(nvml_device_t, struct nvml_memory_v1 *);
typedef nvml_return_t (*nvml_memory_v2_fn)(nvml_device_t, struct nvml_memory_v2 *);
typedef nvml_return_t (*nvml_utilization_fn)(nvml_device_t, struct nvml_utilization *);
typedef nvml_return_t (*nvml_text_fn)(nvml_device_t, char *, unsigned int);
typedef nvml_return_t (*nvml_temperature_fn)(nvml_device_t, int, unsigned int *);
typedef nvml_return_t (*nvml_power_fn)(nvml_device_t, unsigned int *);

/* Optional per-device calls that can answer "not supported" once and for all. */
enum nvml_optional { OPT_NAME = 0, OPT_UUID, OPT_TEMP, OPT_POWER, OPT_COUNT };

struct gpu_nvml {
    void *lib;
    nvml_void_fn init;
    nvml_void_fn shutdown;
    nvml_error_string_fn error_string;
    nvml_count_fn get_count;
    nvml_handle_fn get_handle;
    nvml_memory_v2_fn get_memory_v2; /* one of the two memory functions is set */
    nvml_memory_v1_fn get_memory_v1;
    nvml_utilization_fn get_utilization;
    nvml_text_fn get_name; /* optional from here on */
    nvml_text_fn get_uuid;
    nvml_temperature_fn get_temperature;
    nvml_power_fn get_power;
    /* Optional functions a device answered "not supported" to: not called again for it. */
    bool unsupported[GPU_MAX][OPT_COUNT];
};

/* dlsym returns an object pointer; POSIX guarantees it converts to a function pointer. The
 * memcpy keeps that conversion out of ISO C's sight. */
#define LOAD_FN(dst, ptr)                                                                          \
    do {                                                                                           \
        void *p_ = (ptr);                                                                          \
        memcpy(&(dst), &p_, sizeof(dst));                                                          \
    } while (0)

/* Returns the first symbol of names[0..n) that the library exports (newest version first). */
static void *symbol_first(void *lib, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(lib, names[i]);
        if (p)
            return p;
    }
    return NULL;
}

static const char *nvml_error(const struct gpu_nvml *g, nvml_return_t rc)
{
    const char *s = g->error_string ? g->error_string(rc) : NULL;
    return s && s[0] ? s : "unknown NVML error";
}

/* Resolves every function; returns the name of the first required one that is missing. */
static const char *resolve_all(struct gpu_nvml *g)
{
    static const char *const init[] = {"nvmlInit_v2", "nvmlInit"};
    static const char *const count[] = {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"};
    static const char *const handle[] = {"nvmlDeviceGetHandleByIndex_v2",
                                         "nvmlDeviceGetHandleByIndex"};
    void *p;

    LOAD_FN(g->init, symbol_first(g->lib, init, 2));
    if (!g->init)
        return "nvmlInit";
    LOAD_FN(g->get_count, symbol_first(g->lib, count, 2));
    if (!g->get_count)
        return "nvmlDeviceGetCount";
    LOAD_FN(g->get_handle, symbol_first(g->lib, handle, 2));
    if (!g->get_handle)
        return "nvmlDeviceGetHandleByIndex";
    p = dlsym(g->lib, "nvmlDeviceGetMemoryInfo_v2");
    if (p)
        LOAD_FN(g->get_memory_v2, p);
    /* v1 too: some drivers export _v2 but refuse it for a device (then v1 still answers) */
    LOAD_FN(g->get_memory_v1, dlsym(g->lib, "nvmlDeviceGetMemoryInfo"));
    if (!g->get_memory_v2 && !g->get_memory_v1)
        return "nvmlDeviceGetMemoryInfo";
    LOAD_FN(g->get_utilization, dlsym(g->lib, "nvmlDeviceGetUtilizationRates"));
    if (!g->get_utilization)
        return "nvmlDeviceGetUtilizationRates";
    LOAD_FN(g->shutdown, dlsym(g->lib, "nvmlShutdown"));
    if (!g->shutdown)
        return "nvmlShutdown";
    LOAD_FN(g->error_string, dlsym(g->lib, "nvmlErrorString"));
    if (!g->error_string)
        return "nvmlErrorString";
    LOAD_FN(g->get_name, dlsym(g->lib, "nvmlDeviceGetName"));
    LOAD_FN(g->get_uuid, dlsym(g->lib, "nvmlDeviceGetUUID"));
    LOAD_FN(g->get_temperature, dlsym(g->lib, "nvmlDeviceGetTemperature"));
    LOAD_FN(g->get_power, dlsym(g->lib, "nvmlDeviceGetPowerUsage"));
    return NULL;
}

struct gpu_nvml *gpu_nvml_open(const char *library, char *why, size_t why_len)
{
    struct gpu_nvml *g = calloc(1, sizeof(*g));
    const char *missing;
    nvml_return_t rc;

    if (!g) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    g->lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!g->lib) {
        const char *e = dlerror();
        snprintf(why, why_len, "%s", e ? e : library);
        free(g);
        return NULL;
    }
    missing = resolve_all(g);
    if (missing) {
        snprintf(why, why_len, "missing symbol %s in %s", missing, library);
        goto fail;
    }
    rc = g->init();
    if (rc != NVML_SUCCESS) {
        snprintf(why, why_len, "nvmlInit failed: %s", nvml_error(g, rc));
        goto fail;
    }
    return g;
fail:
    dlclose(g->lib);
    free(g);
    return NULL;
}

/* Reads the memory figures in MiB with whichever structure version the library offers. */
static nvml_return_t read_memory(const struct gpu_nvml *g, nvml_device_t dev, struct gpu_reading *r)
{
    unsigned long long used, total;
    nvml_return_t rc;

    rc = NVML_ERROR_NOT_SUPPORTED;
    if (g->get_memory_v2) {
        struct nvml_memory_v2 m = {.version = NVML_MEMORY_V2_VERSION};
        rc = g->get_memory_v2(dev, &m);
        used = m.used;
        total = m.total;
    }
    if (rc != NVML_SUCCESS && g->get_memory_v1) {
        struct nvml_memory_v1 m = {0};
        rc = g->get_memory_v1(dev, &m);
        used = m.used;
        total = m.total;
    }
    if (rc == NVML_SUCCESS) {
        r->has_mem = true;
        r->mem_used_mb = used / 1048576;
        r->mem_total_mb = total / 1048576;
    }
    return rc;
}

/* Calls an optional text getter (name, uuid); true when dst was filled. */
static bool read_text(struct gpu_nvml *g, unsigned i, enum nvml_optional which, nvml_text_fn fn,
                      nvml_device_t dev, char *dst, size_t dst_len)
{
    char text[NVML_TEXT_LEN] = "";
    nvml_return_t rc;

    if (!fn || g->unsupported[i][which])
        return false;
    rc = fn(dev, text, sizeof(text));
    if (rc == NVML_ERROR_NOT_SUPPORTED)
        g->unsupported[i][which] = true;
    if (rc != NVML_SUCCESS)
        return false;
    text[sizeof(text) - 1] = '\0';
    if (!text[0])
        return false;
    mon_strlcpy(dst, text, dst_len);
    return true;
}

static void read_optional(struct gpu_nvml *g, unsigned i, nvml_device_t dev, struct gpu_reading *r)
{
    unsigned int v = 0;
    nvml_return_t rc;

    if (g->get_temperature && !g->unsupported[i][OPT_TEMP]) {
        rc = g->get_temperature(dev, NVML_TEMPERATURE_GPU, &v);
        if (rc == NVML_SUCCESS) {
            r->has_temp = true;
            r->temp_c = v;
        } else if (rc == NVML_ERROR_NOT_SUPPORTED) {
            g->unsupported[i][OPT_TEMP] = true;
        }
    }
    if (g->get_power && !g->unsupported[i][OPT_POWER]) {
        rc = g->get_power(dev, &v);
        if (rc == NVML_SUCCESS) {
            r->has_power = true;
            r->power_w = v / 1000.0;
        } else if (rc == NVML_ERROR_NOT_SUPPORTED) {
            g->unsupported[i][OPT_POWER] = true;
        }
    }
}

/* Fills one reading; a failing required call sets r->error and the other fields are still
 * read where they can be. */
static void read_device(struct gpu_nvml *g, unsigned i, struct gpu_reading *r)
{
    struct nvml_utilization util = {0};
    nvml_device_t dev = NULL;
    nvml_return_t rc;

    memset(r, 0, sizeof(*r));
    r->index = i;
    snprintf(r->name, sizeof(r->name), "GPU %u", i);
    rc = g->get_handle(i, &dev);
    if (rc != NVML_SUCCESS) {
        mon_strlcpy(r->error, nvml_error(g, rc), sizeof(r->error));
        return;
    }
    read_text(g, i, OPT_NAME, g->get_name, dev, r->name, sizeof(r->name));
    read_text(g, i, OPT_UUID, g->get_uuid, dev, r->uuid, sizeof(r->uuid));
    rc = g->get_utilization(dev, &util);
    if (rc == NVML_SUCCESS) {
        r->has_util = true;
        r->util_pct = util.gpu > 100 ? 100 : util.gpu;
    } else if (rc != NVML_ERROR_NOT_SUPPORTED) {
        /* "Not Supported" (MIG-enabled GPUs) means no utilisation figure, not a fault */
        mon_strlcpy(r->error, nvml_error(g, rc), sizeof(r->error));
    }
    rc = read_memory(g, dev, r);
    if (rc != NVML_SUCCESS && !r->error[0])
        mon_strlcpy(r->error, nvml_error(g, rc), sizeof(r->error));
    read_optional(g, i, dev, r);
}

int gpu_nvml_read(struct gpu_nvml *g, struct gpu_reading *out, size_t max, size_t *ret_n, char *why,
                  size_t why_len)
{
    unsigned int count = 0;
    nvml_return_t rc = g->get_count(&count);

    if (rc != NVML_SUCCESS) {
        snprintf(why, why_len, "nvmlDeviceGetCount failed: %s", nvml_error(g, rc));
        return MON_EIO;
    }
    if (max > GPU_MAX)
        max = GPU_MAX;
    if (count > max)
        count = (unsigned int)max;
    for (unsigned int i = 0; i < count; i++)
        read_device(g, i, &out[i]);
    *ret_n = count;
    return MON_OK;
}

void gpu_nvml_close(struct gpu_nvml *g)
{
    if (!g)
        return;
    g->shutdown();
    dlclose(g->lib);
    free(g);
}
