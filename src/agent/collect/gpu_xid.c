/* SPDX-License-Identifier: MIT */
/* The Xid thread: waits on an NVML event set, keeps a small ring of events per GPU, rides out
 * driver errors with a pause, and, when its owner stops waiting for it, cleans up after itself. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "agent/collect/gpu_xid.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/os/cond.h"
#include "common/os/lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERROR_PAUSE_MS 1000 /* after a failed wait (driver trouble), before the next one */

struct xid_gpu {
    nvml_device_t dev;
    bool watched;
    unsigned n, head; /* ring of the newest GPU_XID_KEEP events; head = oldest */
    uint64_t total;
    struct agent_gpu_xid_event ring[GPU_XID_KEEP];
};

struct agent_gpu_xid_watch {
    const struct nvml_api *api;
    nvml_event_set_t set;
    size_t n_gpus;
    struct xid_gpu gpus[GPU_MAX];
    pthread_mutex_t lock;
    struct mon_cond wake;
    bool stop, finished;
    bool abandoned; /* the owner left: the thread frees the watch and calls release */
    void (*release)(void *);
    void *release_arg;
    pthread_t thread;
};

/* Records one event under the lock. */
static void record_locked(struct agent_gpu_xid_watch *w, const struct nvml_device *dev,
                          unsigned long long code)
{
    MON_ASSERT_LOCKED(&w->lock);
    for (size_t i = 0; i < w->n_gpus; i++) {
        struct xid_gpu *g = &w->gpus[i];
        struct agent_gpu_xid_event e = {.code = code > 0xFFFFFFFFULL ? 0xFFFFFFFFu : (unsigned)code,
                                        .at_utc_s = mon_utc_ms() / 1000};
        if (!g->watched || g->dev != dev)
            continue;
        if (g->n < GPU_XID_KEEP) {
            g->ring[(g->head + g->n) % GPU_XID_KEEP] = e;
            g->n++;
        } else {
            g->ring[g->head] = e;
            g->head = (g->head + 1) % GPU_XID_KEEP;
        }
        g->total++;
        return;
    }
}

static void watch_free(struct agent_gpu_xid_watch *w)
{
    if (w->set)
        w->api->event_set_free(w->set);
    pthread_mutex_destroy(&w->lock);
    mon_cond_destroy(&w->wake);
    free(w);
}

static void *xid_main(void *arg)
{
    struct agent_gpu_xid_watch *w = arg;
    void (*release)(void *);
    void *release_arg;
    bool abandoned;

    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct nvml_event_data data;
        nvml_return_t rc;

        pthread_mutex_unlock(&w->lock);
        memset(&data, 0, sizeof(data));
        rc = w->api->event_wait(w->set, &data, AGENT_XID_WAIT_MS);
        pthread_mutex_lock(&w->lock);
        if (rc == NVML_SUCCESS && (data.event_type & NVML_EVENT_XID_CRITICAL)) {
            record_locked(w, data.device, data.event_data);
        } else if (rc != NVML_SUCCESS && rc != NVML_ERROR_TIMEOUT) {
            /* A lost GPU or a driver hiccup: pause, then wait again (stop still ends it). */
            int64_t until = mon_cond_deadline(ERROR_PAUSE_MS);
            while (!w->stop && mon_cond_wait_until(&w->wake, &w->lock, until))
                ;
        }
    }
    /* finished and abandoned are decided under the same lock: either the owner joins us, or it
     * has left and the clean-up is ours */
    w->finished = true;
    abandoned = w->abandoned;
    release = w->release;
    release_arg = w->release_arg;
    mon_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    if (abandoned) {
        watch_free(w);
        if (release)
            release(release_arg);
    }
    return NULL;
}

int agent_gpu_xid_watch_start(const struct nvml_api *api, const nvml_device_t *devs, size_t n,
                              struct agent_gpu_xid_watch **ret)
{
    struct agent_gpu_xid_watch *w;
    size_t watched = 0;

    if (!api->event_set_create || !api->event_set_free || !api->register_events ||
        !api->event_wait || n == 0)
        return MON_EUNSUPPORTED;
    w = calloc(1, sizeof(*w));
    if (!w)
        return MON_ENOMEM;
    if (mon_cond_init(&w->wake) != MON_OK) {
        free(w);
        return MON_ENOMEM;
    }
    w->api = api;
    w->n_gpus = n < GPU_MAX ? n : GPU_MAX;
    pthread_mutex_init(&w->lock, NULL);
    if (api->event_set_create(&w->set) != NVML_SUCCESS) {
        w->set = NULL;
        watch_free(w);
        return MON_EUNSUPPORTED;
    }
    for (size_t i = 0; i < w->n_gpus; i++) {
        w->gpus[i].dev = devs[i];
        /* Not supported (MIG, some boards), no permission: no Xid figure for this GPU. */
        w->gpus[i].watched = devs[i] && api->register_events(devs[i], NVML_EVENT_XID_CRITICAL,
                                                             w->set) == NVML_SUCCESS;
        watched += w->gpus[i].watched;
    }
    if (watched == 0) {
        watch_free(w);
        return MON_EUNSUPPORTED;
    }
    if (pthread_create(&w->thread, NULL, xid_main, w) != 0) {
        watch_free(w);
        return MON_ESYS;
    }
    pthread_setname_np(w->thread, "gpu-xid");
    *ret = w;
    return MON_OK;
}

void agent_gpu_xid_watch_copy(struct agent_gpu_xid_watch *w, unsigned index,
                              struct agent_gpu_reading *r)
{
    const struct xid_gpu *g;

    if (!w || index >= w->n_gpus)
        return;
    g = &w->gpus[index];
    pthread_mutex_lock(&w->lock);
    r->has_xid = g->watched;
    r->n_xid = g->n;
    r->xid_total = g->total;
    for (unsigned k = 0; k < g->n; k++)
        r->xid[k] = g->ring[(g->head + k) % GPU_XID_KEEP];
    pthread_mutex_unlock(&w->lock);
}

bool agent_gpu_xid_watch_stop(struct agent_gpu_xid_watch *w, int64_t wait_ms,
                              void (*release)(void *), void *arg)
{
    int64_t until;
    pthread_t thread;

    if (!w)
        return true;
    until = mon_cond_deadline(wait_ms);
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    mon_cond_broadcast(&w->wake);
    while (!w->finished && mon_cond_wait_until(&w->wake, &w->lock, until))
        ;
    if (!w->finished) {
        /* Still inside the driver's wait: hand everything over and leave without touching w
         * again (the thread may free it as soon as the lock is released). */
        w->abandoned = true;
        w->release = release;
        w->release_arg = arg;
        thread = w->thread;
        pthread_mutex_unlock(&w->lock);
        pthread_detach(thread);
        return false;
    }
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    watch_free(w);
    return true;
}
