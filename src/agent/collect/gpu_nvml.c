/* SPDX-License-Identifier: MIT */
/* NVIDIA GPUs through NVML loaded at run time with dlopen, using our own declarations of the
 * handful of functions read; it never links against the driver and never spawns a process. */
#include "agent/collect/gpu_nvml.h"

#include "common/err.h"
#include "common/str.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NVML's return codes are an enum in its header; we only need them as ints. */
typedef int nvml_return_t;
typedef struct nvml_device *nvml_device_t;

#define NVML_SUCCESS                          0
#define NVML_ERROR_NOT_SUPPORTED              3
#define NVML_ERROR_FUNCTION_NOT_FOUND         13
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH  25
#define NVML_TEMPERATURE_GPU                  0

/* Layouts of nvmlMemory_t (v1) and nvmlMemory_v2_t as the driver's ABI defines them. */
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

#define BYTES_PER_MIB 1048576ull

typedef nvml_return_t (*nvml_init_fn)(void);
typedef nvml_return_t (*nvml_shutdown_fn)(void);
typedef const char *(*nvml_error_string_fn)(nvml_return_t);
typedef nvml_return_t (*nvml_get_count_fn)(unsigned int *);
typedef nvml_return_t (*nvml_get_handle_fn)(unsigned int, nvml_device_t *);
typedef nvml_return_t (*nvml_get_memory_v1_fn)(nvml_device_t, struct nvml_memory_v1 *);
typedef nvml_return_t (*nvml_get_memory_v2_fn)(nvml_device_t, struct nvml_memory_v2 *);
typedef nvml_return_t (*nvml_get_utilization_fn)(nvml_device_t, struct nvml_utilization *);
typedef nvml_return_t (*nvml_get_text_fn)(nvml_device_t, char *, unsigned int);
typedef nvml_return_t (*nvml_get_temperature_fn)(nvml_device_t, int, unsigned int *);
typedef nvml_return_t (*nvml_get_power_fn)(nvml_device_t, unsigned int *);

struct gpu_nvml {
    void *lib;
    nvml_init_fn init;
    nvml_shutdown_fn shutdown;
    nvml_error_string_fn error_string;
    nvml_get_count_fn get_count;
    nvml_get_handle_fn get_handle;
    nvml_get_memory_v2_fn get_memory_v2; /* NULL when absent or refused by this driver */
    nvml_get_memory_v1_fn get_memory_v1; /* NULL when absent; one of the two is present */
    nvml_get_utilization_fn get_utilization;
    /* Optional: NULL when missing or when device 0 answered "Not Supported" at open. */
    nvml_get_text_fn get_name;
    nvml_get_text_fn get_uuid;
    nvml_get_temperature_fn get_temperature;
    nvml_get_power_fn get_power;
};

static void set_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    if (!why || why_len == 0)
        return;
    va_start(ap, fmt);
    /* A truncated reason is still a useful reason. */
    if (vsnprintf(why, why_len, fmt, ap) < 0)
        why[0] = '\0';
    va_end(ap);
}

/* Returns the first of the NULL-terminated names that the library exports, or NULL. */
static void *resolve(void *lib, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        void *p = dlsym(lib, names[i]);
        if (p)
            return p;
    }
    return NULL;
}

/* NVML's text for rc; nvmlErrorString is required, but a NULL answer is still handled. */
static const char *nvml_text(const struct gpu_nvml *g, nvml_return_t rc)
{
    const char *s = g->error_string(rc);
    return s && *s ? s : "unknown NVML error";
}

/* Calls every optional function once on device 0 and turns off those the driver reports as
 * unsupported, so that later reads do not pay for calls that cannot succeed (as btop does).
 * Other failures (a lost GPU) say nothing about support and leave the function on. */
static void probe_optional(struct gpu_nvml *g)
{
    nvml_device_t dev;
    unsigned int count = 0, value;
    char text[sizeof(((struct gpu_reading *)0)->name)];

    if (g->get_count(&count) != NVML_SUCCESS || count == 0 ||
        g->get_handle(0, &dev) != NVML_SUCCESS)
        return;
    if (g->get_name && g->get_name(dev, text, sizeof(text)) == NVML_ERROR_NOT_SUPPORTED)
        g->get_name = NULL;
    if (g->get_uuid && g->get_uuid(dev, text, sizeof(text)) == NVML_ERROR_NOT_SUPPORTED)
        g->get_uuid = NULL;
    if (g->get_temperature &&
        g->get_temperature(dev, NVML_TEMPERATURE_GPU, &value) == NVML_ERROR_NOT_SUPPORTED)
        g->get_temperature = NULL;
    if (g->get_power && g->get_power(dev, &value) == NVML_ERROR_NOT_SUPPORTED)
        g->get_power = NULL;
}

struct gpu_nvml *gpu_nvml_open(const char *library, char *why, size_t why_len)
{
    static const char *const init_names[] = {"nvmlInit_v2", "nvmlInit", NULL};
    static const char *const count_names[] = {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount",
                                              NULL};
    static const char *const handle_names[] = {"nvmlDeviceGetHandleByIndex_v2",
                                               "nvmlDeviceGetHandleByIndex", NULL};
    static const char *const memory_v2_names[] = {"nvmlDeviceGetMemoryInfo_v2", NULL};
    static const char *const memory_v1_names[] = {"nvmlDeviceGetMemoryInfo", NULL};
    static const char *const util_names[] = {"nvmlDeviceGetUtilizationRates", NULL};
    static const char *const shutdown_names[] = {"nvmlShutdown", NULL};
    static const char *const error_names[] = {"nvmlErrorString", NULL};
    struct gpu_nvml *g = NULL;
    const char *missing = NULL;
    const char *err;
    nvml_return_t rc;

    if (!library || !*library) {
        set_why(why, why_len, "no NVML library configured");
        return NULL;
    }
    g = calloc(1, sizeof(*g));
    if (!g) {
        set_why(why, why_len, "out of memory");
        return NULL;
    }
    g->lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!g->lib) {
        err = dlerror();
        /* dlerror() normally starts with the path already; make sure it is there. */
        if (err && strstr(err, library))
            set_why(why, why_len, "%s", err);
        else
            set_why(why, why_len, "%s: %s", library, err ? err : "cannot be loaded");
        goto fail;
    }

    /* Casting dlsym's object pointer to a function pointer is what POSIX requires to work. */
    g->init = (nvml_init_fn)resolve(g->lib, init_names);
    g->get_count = (nvml_get_count_fn)resolve(g->lib, count_names);
    g->get_handle = (nvml_get_handle_fn)resolve(g->lib, handle_names);
    g->get_memory_v2 = (nvml_get_memory_v2_fn)resolve(g->lib, memory_v2_names);
    g->get_memory_v1 = (nvml_get_memory_v1_fn)resolve(g->lib, memory_v1_names);
    g->get_utilization = (nvml_get_utilization_fn)resolve(g->lib, util_names);
    g->shutdown = (nvml_shutdown_fn)resolve(g->lib, shutdown_names);
    g->error_string = (nvml_error_string_fn)resolve(g->lib, error_names);
    if (!g->init)
        missing = "nvmlInit";
    else if (!g->get_count)
        missing = "nvmlDeviceGetCount";
    else if (!g->get_handle)
        missing = "nvmlDeviceGetHandleByIndex";
    else if (!g->get_memory_v2 && !g->get_memory_v1)
        missing = "nvmlDeviceGetMemoryInfo";
    else if (!g->get_utilization)
        missing = "nvmlDeviceGetUtilizationRates";
    else if (!g->shutdown)
        missing = "nvmlShutdown";
    else if (!g->error_string)
        missing = "nvmlErrorString";
    if (missing) {
        set_why(why, why_len, "missing symbol %s", missing);
        goto fail;
    }
    g->get_name = (nvml_get_text_fn)dlsym(g->lib, "nvmlDeviceGetName");
    g->get_uuid = (nvml_get_text_fn)dlsym(g->lib, "nvmlDeviceGetUUID");
    g->get_temperature = (nvml_get_temperature_fn)dlsym(g->lib, "nvmlDeviceGetTemperature");
    g->get_power = (nvml_get_power_fn)dlsym(g->lib, "nvmlDeviceGetPowerUsage");

    rc = g->init();
    if (rc != NVML_SUCCESS) {
        set_why(why, why_len, "nvmlInit failed: %s", nvml_text(g, rc));
        goto fail;
    }
    probe_optional(g);
    return g;

fail:
    if (g->lib)
        dlclose(g->lib);
    free(g);
    return NULL;
}

/* Reads used and total memory, preferring the v2 call (which leaves out memory the driver
 * reserves) and dropping to v1 for good when this driver turns v2 down. */
static nvml_return_t read_memory(struct gpu_nvml *g, nvml_device_t dev, struct gpu_reading *r)
{
    nvml_return_t rc = NVML_ERROR_FUNCTION_NOT_FOUND;

    if (g->get_memory_v2) {
        struct nvml_memory_v2 m = {.version = NVML_MEMORY_V2_VERSION};
        rc = g->get_memory_v2(dev, &m);
        if (rc == NVML_SUCCESS) {
            r->mem_used_mb = m.used / BYTES_PER_MIB;
            r->mem_total_mb = m.total / BYTES_PER_MIB;
            return rc;
        }
        if (!g->get_memory_v1 ||
            (rc != NVML_ERROR_NOT_SUPPORTED && rc != NVML_ERROR_FUNCTION_NOT_FOUND &&
             rc != NVML_ERROR_ARGUMENT_VERSION_MISMATCH))
            return rc;
        g->get_memory_v2 = NULL;
    }
    if (g->get_memory_v1) {
        struct nvml_memory_v1 m = {0};
        rc = g->get_memory_v1(dev, &m);
        if (rc == NVML_SUCCESS) {
            r->mem_used_mb = m.used / BYTES_PER_MIB;
            r->mem_total_mb = m.total / BYTES_PER_MIB;
        }
    }
    return rc;
}

/* Copies an NVML text answer, which the driver NUL-terminates within the buffer it is given. */
static void read_text(nvml_get_text_fn fn, nvml_device_t dev, char *dst, size_t size)
{
    char text[sizeof(((struct gpu_reading *)0)->name)];

    if (!fn)
        return;
    memset(text, 0, sizeof(text));
    if (fn(dev, text, (unsigned int)sizeof(text) - 1) != NVML_SUCCESS)
        return;
    mon_strlcpy(dst, text, size);
}

/* Fills one reading; an error in a required call is recorded in r->error, not returned. */
static void read_device(struct gpu_nvml *g, unsigned int index, struct gpu_reading *r)
{
    nvml_device_t dev;
    struct nvml_utilization u = {0};
    unsigned int value;
    nvml_return_t rc;

    memset(r, 0, sizeof(*r));
    r->index = index;
    rc = g->get_handle(index, &dev);
    if (rc != NVML_SUCCESS) {
        mon_strlcpy(r->error, nvml_text(g, rc), sizeof(r->error));
        return;
    }
    read_text(g->get_name, dev, r->name, sizeof(r->name));
    read_text(g->get_uuid, dev, r->uuid, sizeof(r->uuid));

    /* "Not Supported" (MIG parents, some boards) is an absent value, not a failed GPU. */
    rc = g->get_utilization(dev, &u);
    if (rc == NVML_SUCCESS) {
        r->util_pct = u.gpu > 100 ? 100.0 : (double)u.gpu;
        r->has_util = true;
    } else if (rc != NVML_ERROR_NOT_SUPPORTED) {
        mon_strlcpy(r->error, nvml_text(g, rc), sizeof(r->error));
    }
    rc = read_memory(g, dev, r);
    if (rc == NVML_SUCCESS)
        r->has_mem = true;
    else if (rc != NVML_ERROR_NOT_SUPPORTED && !r->error[0])
        mon_strlcpy(r->error, nvml_text(g, rc), sizeof(r->error));

    if (g->get_temperature &&
        g->get_temperature(dev, NVML_TEMPERATURE_GPU, &value) == NVML_SUCCESS) {
        r->temp_c = (double)value;
        r->has_temp = true;
    }
    if (g->get_power && g->get_power(dev, &value) == NVML_SUCCESS) {
        r->power_w = (double)value / 1000.0;
        r->has_power = true;
    }
}

int gpu_nvml_read(struct gpu_nvml *g, struct gpu_reading *out, size_t max, size_t *ret_n, char *why,
                  size_t why_len)
{
    unsigned int count = 0;
    nvml_return_t rc;
    size_t n;

    if (!g || (!out && max > 0) || !ret_n)
        return MON_EINVAL;
    rc = g->get_count(&count);
    if (rc != NVML_SUCCESS) {
        set_why(why, why_len, "nvmlDeviceGetCount failed: %s", nvml_text(g, rc));
        return MON_EIO;
    }
    n = count < max ? count : max;
    for (size_t i = 0; i < n; i++)
        read_device(g, (unsigned int)i, &out[i]);
    *ret_n = n;
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
