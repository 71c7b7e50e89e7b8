/* SPDX-License-Identifier: MIT */
/* mon_os_evloop where there is none (Windows): callers fall back to libcurl's own wait, which
 * is fine for the fleet sizes one Windows PC monitors. */
#include "common/os/evloop.h"

#include "common/err.h"

int mon_os_evloop_new(struct mon_os_evloop **ret)
{
    (void)ret;
    return MON_EUNSUPPORTED;
}

void mon_os_evloop_free(struct mon_os_evloop *ev)
{
    (void)ev;
}

int mon_os_evloop_add(struct mon_os_evloop *ev, int64_t sock, unsigned events, uint64_t tag)
{
    (void)ev;
    (void)sock;
    (void)events;
    (void)tag;
    return MON_EUNSUPPORTED;
}

int mon_os_evloop_mod(struct mon_os_evloop *ev, int64_t sock, unsigned events, uint64_t tag)
{
    return mon_os_evloop_add(ev, sock, events, tag);
}

int mon_os_evloop_del(struct mon_os_evloop *ev, int64_t sock)
{
    return mon_os_evloop_add(ev, sock, 0, 0);
}

int mon_os_evloop_wait(struct mon_os_evloop *ev, struct mon_os_event *out, int max, int timeout_ms)
{
    (void)ev;
    (void)out;
    (void)max;
    (void)timeout_ms;
    return MON_EUNSUPPORTED;
}

void mon_os_evloop_pause(struct mon_os_evloop *ev, int timeout_ms)
{
    (void)ev;
    (void)timeout_ms;
}

void mon_os_evloop_wake(struct mon_os_evloop *ev)
{
    (void)ev;
}
