/* SPDX-License-Identifier: MIT */
/* NVML process lists: the newest call generation the driver answers, its structure layout, a
 * buffer grown to what the driver says it needs, and the two lists merged per PID. */
#include "agent/collect/gpu_nvml_procs.h"

#include "agent/collect/gpu_nvml_health.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB            1048576ULL
#define FIRST_CAPACITY 64
#define SIZE_RETRIES   3 /* the list can grow between "too small" and the next call */
#define LIST_COMPUTE   0
#define LIST_GRAPHICS  1

void agent_gpu_nvml_decode_processes(const void *raw, unsigned count, bool v1_layout, unsigned type,
                                     struct agent_gpu_driver_process *out, size_t max, size_t *n)
{
    const unsigned char *p = raw;
    size_t stride = v1_layout ? sizeof(struct nvml_process_v1) : sizeof(struct nvml_process_v2);

    for (unsigned i = 0; i < count && *n < max; i++, p += stride) {
        unsigned int pid;
        unsigned long long used;
        struct agent_gpu_driver_process *e = &out[(*n)++];
        /* Copy the two fields out of the raw bytes: same offsets in both layouts. */
        if (v1_layout) {
            struct nvml_process_v1 e1;
            memcpy(&e1, p, sizeof(e1));
            pid = e1.pid;
            used = e1.used_gpu_memory;
        } else {
            struct nvml_process_v2 e2;
            memcpy(&e2, p, sizeof(e2));
            pid = e2.pid;
            used = e2.used_gpu_memory;
        }
        *e = (struct agent_gpu_driver_process){.pid = pid, .type = type};
        if (used != NVML_VALUE_NOT_AVAILABLE) {
            e->has_mem = true;
            e->used_mem_mb = used / MIB;
        }
    }
}

static int grow(void **data, size_t *cap, size_t want, size_t elem)
{
    void *p;
    if (*cap >= want)
        return MON_OK;
    p = realloc(*data, want * elem);
    if (!p)
        return MON_ENOMEM;
    *data = p;
    *cap = want;
    return MON_OK;
}

/* Calls one list function, growing the raw buffer while the driver says it is too small. */
static nvml_return_t call_list(nvml_processes_fn fn, nvml_device_t dev,
                               struct agent_gpu_nvml_proc_buf *buf, unsigned *ret_count)
{
    nvml_return_t rc = NVML_ERROR_INSUFFICIENT_SIZE;

    if (grow(&buf->raw, &buf->raw_cap, FIRST_CAPACITY, sizeof(struct nvml_process_v2)) < 0)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    for (int attempt = 0; attempt <= SIZE_RETRIES; attempt++) {
        unsigned int count = (unsigned int)buf->raw_cap;
        rc = fn(dev, &count, buf->raw);
        if (rc == NVML_SUCCESS) {
            *ret_count = count <= buf->raw_cap ? count : (unsigned)buf->raw_cap;
            return rc;
        }
        if (rc != NVML_ERROR_INSUFFICIENT_SIZE || count <= buf->raw_cap ||
            count > AGENT_NVML_PROCESSES_MAX ||
            grow(&buf->raw, &buf->raw_cap, count + 16, sizeof(struct nvml_process_v2)) < 0)
            return rc;
    }
    return rc;
}

/* Reads one list (compute or graphics) with the newest call the device answers, appending to
 * buf->list. Returns the driver's code; NOT_SUPPORTED once every generation refused. */
static nvml_return_t read_list(const nvml_processes_fn *fns, nvml_device_t dev,
                               enum nvml_process_api *level, unsigned type,
                               struct agent_gpu_nvml_proc_buf *buf, size_t *n)
{
    for (; *level < NVML_PROCESSES_API_COUNT; (*level)++) {
        unsigned count = 0;
        nvml_return_t rc;
        if (!fns[*level])
            continue;
        rc = call_list(fns[*level], dev, buf, &count);
        if (rc == NVML_SUCCESS) {
            if (grow((void **)&buf->list, &buf->list_cap, *n + count, sizeof(*buf->list)) < 0)
                return NVML_ERROR_INSUFFICIENT_SIZE;
            agent_gpu_nvml_decode_processes(buf->raw, count, *level == NVML_PROCESSES_V1, type,
                                            buf->list, buf->list_cap, n);
            return rc;
        }
        /* An older generation may still answer where a newer one is refused. */
        if (!agent_gpu_nvml_gives_up(rc) && rc != NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
            return rc;
    }
    return NVML_ERROR_NOT_SUPPORTED;
}

int agent_gpu_nvml_read_processes(const struct nvml_api *api, nvml_device_t dev,
                                  struct agent_gpu_nvml_proc_state *st,
                                  struct agent_gpu_nvml_proc_buf *buf,
                                  struct agent_gpu_driver_process *out, size_t max, size_t *ret_n,
                                  size_t *ret_total, char *why, size_t why_len)
{
    static const unsigned types[2] = {GPU_PROCESS_COMPUTE, GPU_PROCESS_GRAPHICS};
    bool listed = false;
    size_t n = 0, total;

    for (int k = LIST_COMPUTE; k <= LIST_GRAPHICS; k++) {
        nvml_return_t rc;
        if (st->level[k] >= NVML_PROCESSES_API_COUNT)
            continue;
        rc = read_list(k == LIST_COMPUTE ? api->compute_processes : api->graphics_processes, dev,
                       &st->level[k], types[k], buf, &n);
        if (rc == NVML_SUCCESS) {
            listed = true;
        } else if (rc != NVML_ERROR_NOT_SUPPORTED) {
            snprintf(why, why_len, "listing %s processes: %s",
                     k == LIST_COMPUTE ? "compute" : "graphics", agent_gpu_nvml_error(api, rc));
            return MON_EIO;
        }
    }
    if (!listed)
        return MON_EUNSUPPORTED;
    total = agent_gpu_processes_merge(buf->list, n);
    n = total < max ? total : max;
    if (n)
        memcpy(out, buf->list, n * sizeof(*out));
    *ret_n = n;
    *ret_total = total;
    return MON_OK;
}

void agent_gpu_nvml_proc_buf_done(struct agent_gpu_nvml_proc_buf *buf)
{
    free(buf->raw);
    free(buf->list);
    *buf = (struct agent_gpu_nvml_proc_buf){0};
}
