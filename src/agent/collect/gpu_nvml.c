/* SPDX-License-Identifier: MIT */
/* NVML through dlopen with our own declarations of the functions used: versioned symbols
 * first, optional ones probed per device and skipped once they answer "not supported"; health
 * figures, process lists and the Xid thread live in gpu_nvml_health.c, gpu_nvml_procs.c and
 * gpu_xid.c. */
#include "agent/collect/gpu_nvml.h"

#include "agent/collect/gpu_nvml_api.h"
#include "agent/collect/gpu_nvml_health.h"
#include "agent/collect/gpu_nvml_procs.h"
#include "agent/collect/gpu_xid.h"
#include "common/err.h"
#include "common/str.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XID_STOP_WAIT_MS 100 /* a thread inside the driver's wait is not waited for */

/* Optional per-device calls that can answer "not supported" once and for all. */
enum nvml_optional { OPT_NAME = 0, OPT_UUID, OPT_TEMP, OPT_POWER, OPT_COUNT };

struct agent_gpu_nvml {
    void *lib;
    struct nvml_api api;
    /* Per device (by index): the handle of the last read, the optional and health calls it
     * answered "not supported" to (not called again), and its process-list generations. */
    size_t n_handles;
    nvml_device_t handles[GPU_MAX];
    bool unsupported[GPU_MAX][OPT_COUNT];
    bool health_unsupported[GPU_MAX][AGENT_NVML_HEALTH_CALLS];
    struct agent_gpu_nvml_proc_state procs[GPU_MAX];
    struct agent_gpu_nvml_proc_buf proc_buf;
    struct agent_gpu_xid_watch *xid; /* NULL until the first read, or when Xid is not supported */
    bool xid_tried;
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

const char *agent_gpu_nvml_error(const struct nvml_api *api, nvml_return_t rc)
{
    const char *s = api->error_string ? api->error_string(rc) : NULL;
    return s && s[0] ? s : "unknown NVML error";
}

/* Resolves the optional functions of the health figures, process lists and Xid events. */
static void resolve_optional(void *lib, struct nvml_api *a)
{
    static const char *const throttle[] = {"nvmlDeviceGetCurrentClocksEventReasons",
                                           "nvmlDeviceGetCurrentClocksThrottleReasons"};
    static const char *const power_limit[] = {"nvmlDeviceGetEnforcedPowerLimit",
                                              "nvmlDeviceGetPowerManagementLimit"};
    static const char *const wait[] = {"nvmlEventSetWait_v2", "nvmlEventSetWait"};
    static const char *const compute[NVML_PROCESSES_API_COUNT] = {
        "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2",
        "nvmlDeviceGetComputeRunningProcesses"};
    static const char *const graphics[NVML_PROCESSES_API_COUNT] = {
        "nvmlDeviceGetGraphicsRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v2",
        "nvmlDeviceGetGraphicsRunningProcesses"};

    LOAD_FN(a->get_name, dlsym(lib, "nvmlDeviceGetName"));
    LOAD_FN(a->get_uuid, dlsym(lib, "nvmlDeviceGetUUID"));
    LOAD_FN(a->get_temperature, dlsym(lib, "nvmlDeviceGetTemperature"));
    LOAD_FN(a->get_power, dlsym(lib, "nvmlDeviceGetPowerUsage"));
    LOAD_FN(a->get_ecc_mode, dlsym(lib, "nvmlDeviceGetEccMode"));
    LOAD_FN(a->get_ecc_total, dlsym(lib, "nvmlDeviceGetTotalEccErrors"));
    LOAD_FN(a->get_remapped_rows, dlsym(lib, "nvmlDeviceGetRemappedRows"));
    LOAD_FN(a->get_throttle_reasons, symbol_first(lib, throttle, 2));
    LOAD_FN(a->get_fan_speed, dlsym(lib, "nvmlDeviceGetFanSpeed"));
    LOAD_FN(a->get_clock, dlsym(lib, "nvmlDeviceGetClockInfo"));
    LOAD_FN(a->get_power_limit, symbol_first(lib, power_limit, 2));
    LOAD_FN(a->get_pstate, dlsym(lib, "nvmlDeviceGetPerformanceState"));
    for (int i = 0; i < NVML_PROCESSES_API_COUNT; i++) {
        LOAD_FN(a->compute_processes[i], dlsym(lib, compute[i]));
        LOAD_FN(a->graphics_processes[i], dlsym(lib, graphics[i]));
    }
    LOAD_FN(a->event_set_create, dlsym(lib, "nvmlEventSetCreate"));
    LOAD_FN(a->event_set_free, dlsym(lib, "nvmlEventSetFree"));
    LOAD_FN(a->register_events, dlsym(lib, "nvmlDeviceRegisterEvents"));
    LOAD_FN(a->event_wait, symbol_first(lib, wait, 2));
}

/* Resolves every function; returns the name of the first required one that is missing. */
static const char *resolve_all(void *lib, struct nvml_api *a)
{
    static const char *const init[] = {"nvmlInit_v2", "nvmlInit"};
    static const char *const count[] = {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"};
    static const char *const handle[] = {"nvmlDeviceGetHandleByIndex_v2",
                                         "nvmlDeviceGetHandleByIndex"};

    LOAD_FN(a->init, symbol_first(lib, init, 2));
    if (!a->init)
        return "nvmlInit";
    LOAD_FN(a->get_count, symbol_first(lib, count, 2));
    if (!a->get_count)
        return "nvmlDeviceGetCount";
    LOAD_FN(a->get_handle, symbol_first(lib, handle, 2));
    if (!a->get_handle)
        return "nvmlDeviceGetHandleByIndex";
    LOAD_FN(a->get_memory_v2, dlsym(lib, "nvmlDeviceGetMemoryInfo_v2"));
    /* v1 too: some drivers export _v2 but refuse it for a device (then v1 still answers) */
    LOAD_FN(a->get_memory_v1, dlsym(lib, "nvmlDeviceGetMemoryInfo"));
    if (!a->get_memory_v2 && !a->get_memory_v1)
        return "nvmlDeviceGetMemoryInfo";
    LOAD_FN(a->get_utilization, dlsym(lib, "nvmlDeviceGetUtilizationRates"));
    if (!a->get_utilization)
        return "nvmlDeviceGetUtilizationRates";
    LOAD_FN(a->shutdown, dlsym(lib, "nvmlShutdown"));
    if (!a->shutdown)
        return "nvmlShutdown";
    LOAD_FN(a->error_string, dlsym(lib, "nvmlErrorString"));
    if (!a->error_string)
        return "nvmlErrorString";
    resolve_optional(lib, a);
    return NULL;
}

int agent_gpu_nvml_open(const char *library, struct agent_gpu_nvml **ret_nvml, char *why,
                        size_t why_len)
{
    struct agent_gpu_nvml *g = calloc(1, sizeof(*g));
    const char *missing;
    nvml_return_t rc;
    int r;

    if (!g) {
        snprintf(why, why_len, "out of memory");
        return MON_ENOMEM;
    }
    g->lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!g->lib) {
        const char *e = dlerror();
        snprintf(why, why_len, "%s", e ? e : library);
        free(g);
        return MON_ENOENT;
    }
    missing = resolve_all(g->lib, &g->api);
    if (missing) {
        snprintf(why, why_len, "missing symbol %s in %s", missing, library);
        r = MON_EUNSUPPORTED;
        goto fail;
    }
    rc = g->api.init();
    if (rc != NVML_SUCCESS) {
        snprintf(why, why_len, "nvmlInit failed: %s", agent_gpu_nvml_error(&g->api, rc));
        r = MON_EIO;
        goto fail;
    }
    *ret_nvml = g;
    return MON_OK;
fail:
    dlclose(g->lib);
    free(g);
    return r;
}

/* Reads the memory figures in MiB with whichever structure version the library offers. */
static nvml_return_t read_memory(const struct nvml_api *a, nvml_device_t dev,
                                 struct agent_gpu_reading *r)
{
    unsigned long long used, total;
    nvml_return_t rc;

    rc = NVML_ERROR_NOT_SUPPORTED;
    if (a->get_memory_v2) {
        struct nvml_memory_v2 m = {.version = NVML_MEMORY_V2_VERSION};
        rc = a->get_memory_v2(dev, &m);
        used = m.used;
        total = m.total;
    }
    if (rc != NVML_SUCCESS && a->get_memory_v1) {
        struct nvml_memory_v1 m = {0};
        rc = a->get_memory_v1(dev, &m);
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
static bool read_text(struct agent_gpu_nvml *g, unsigned i, enum nvml_optional which,
                      nvml_text_fn fn, nvml_device_t dev, char *dst, size_t dst_len)
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

static void read_optional(struct agent_gpu_nvml *g, unsigned i, nvml_device_t dev,
                          struct agent_gpu_reading *r)
{
    const struct nvml_api *a = &g->api;
    unsigned int v = 0;
    nvml_return_t rc;

    if (a->get_temperature && !g->unsupported[i][OPT_TEMP]) {
        rc = a->get_temperature(dev, NVML_TEMPERATURE_GPU, &v);
        if (rc == NVML_SUCCESS) {
            r->has_temp = true;
            r->temp_c = v;
        } else if (rc == NVML_ERROR_NOT_SUPPORTED) {
            g->unsupported[i][OPT_TEMP] = true;
        }
    }
    if (a->get_power && !g->unsupported[i][OPT_POWER]) {
        rc = a->get_power(dev, &v);
        if (rc == NVML_SUCCESS) {
            r->has_power = true;
            r->power_w = v / 1000.0;
        } else if (rc == NVML_ERROR_NOT_SUPPORTED) {
            g->unsupported[i][OPT_POWER] = true;
        }
    }
    agent_gpu_nvml_read_health(a, dev, g->health_unsupported[i], r);
}

/* Fills one reading; a failing required call sets r->error and the other fields are still
 * read where they can be. */
static void read_device(struct agent_gpu_nvml *g, unsigned i, struct agent_gpu_reading *r)
{
    const struct nvml_api *a = &g->api;
    struct nvml_utilization util = {0};
    nvml_device_t dev = NULL;
    nvml_return_t rc;

    memset(r, 0, sizeof(*r));
    r->index = i;
    snprintf(r->name, sizeof(r->name), "GPU %u", i);
    agent_gpu_xid_watch_copy(g->xid, i, r); /* also for a lost GPU: its Xid says why */
    g->handles[i] = NULL;
    rc = a->get_handle(i, &dev);
    if (rc != NVML_SUCCESS) {
        mon_strlcpy(r->error, agent_gpu_nvml_error(a, rc), sizeof(r->error));
        return;
    }
    g->handles[i] = dev;
    read_text(g, i, OPT_NAME, a->get_name, dev, r->name, sizeof(r->name));
    read_text(g, i, OPT_UUID, a->get_uuid, dev, r->uuid, sizeof(r->uuid));
    rc = a->get_utilization(dev, &util);
    if (rc == NVML_SUCCESS) {
        r->has_util = true;
        r->util_pct = util.gpu > 100 ? 100 : util.gpu;
    } else if (rc != NVML_ERROR_NOT_SUPPORTED) {
        /* "Not Supported" (MIG-enabled GPUs) means no utilisation figure, not a fault */
        mon_strlcpy(r->error, agent_gpu_nvml_error(a, rc), sizeof(r->error));
    }
    rc = read_memory(a, dev, r);
    if (rc != NVML_SUCCESS && !r->error[0])
        mon_strlcpy(r->error, agent_gpu_nvml_error(a, rc), sizeof(r->error));
    read_optional(g, i, dev, r);
}

int agent_gpu_nvml_read(struct agent_gpu_nvml *g, struct agent_gpu_reading *out, size_t max,
                        size_t *ret_n, char *why, size_t why_len)
{
    unsigned int count = 0;
    nvml_return_t rc = g->api.get_count(&count);

    if (rc != NVML_SUCCESS) {
        snprintf(why, why_len, "nvmlDeviceGetCount failed: %s", agent_gpu_nvml_error(&g->api, rc));
        return MON_EIO;
    }
    if (max > GPU_MAX)
        max = GPU_MAX;
    if (count > max)
        count = (unsigned int)max;
    for (unsigned int i = 0; i < count; i++)
        read_device(g, i, &out[i]);
    g->n_handles = count;
    /* The Xid watch needs the handles: it starts after the first read, and its events show
     * from the next one on. */
    if (!g->xid_tried && count > 0) {
        g->xid_tried = true;
        if (agent_gpu_xid_watch_start(&g->api, g->handles, count, &g->xid) < 0)
            g->xid = NULL;
    }
    *ret_n = count;
    return MON_OK;
}

int agent_gpu_nvml_processes(struct agent_gpu_nvml *g, unsigned index,
                             struct agent_gpu_driver_process *out, size_t max, size_t *ret_n,
                             size_t *ret_total, char *why, size_t why_len)
{
    if (index >= g->n_handles || !g->handles[index]) {
        snprintf(why, why_len, "GPU %u has no handle", index);
        return MON_ENOENT;
    }
    return agent_gpu_nvml_read_processes(&g->api, g->handles[index], &g->procs[index], &g->proc_buf,
                                         out, max, ret_n, ret_total, why, why_len);
}

/* Shuts NVML down and unloads it: at close, or from the Xid thread when its last wait ends. */
static void unload(void *arg)
{
    struct agent_gpu_nvml *g = arg;
    g->api.shutdown();
    dlclose(g->lib);
    free(g);
}

bool agent_gpu_nvml_close(struct agent_gpu_nvml *g)
{
    if (!g)
        return true;
    agent_gpu_nvml_proc_buf_done(&g->proc_buf);
    if (!agent_gpu_xid_watch_stop(g->xid, XID_STOP_WAIT_MS, unload, g))
        return false; /* the Xid thread unloads the library once the driver lets it go */
    unload(g);
    return true;
}
