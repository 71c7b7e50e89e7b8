/* SPDX-License-Identifier: MIT */
/* mon_os_evloop on Linux: epoll, with an eventfd for wake-ups from other threads. */
#include "common/os/evloop.h"

#include "common/err.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define WAKE_TAG  UINT64_MAX
#define MAX_BATCH 1024

struct mon_os_evloop {
    int ep, wake_fd;
    struct epoll_event batch[MAX_BATCH];
};

int mon_os_evloop_new(struct mon_os_evloop **ret)
{
    struct mon_os_evloop *ev = calloc(1, sizeof(*ev));
    struct epoll_event wake = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
    if (!ev)
        return MON_ENOMEM;
    ev->ep = epoll_create1(EPOLL_CLOEXEC);
    ev->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ev->ep < 0 || ev->wake_fd < 0 || epoll_ctl(ev->ep, EPOLL_CTL_ADD, ev->wake_fd, &wake) < 0) {
        int r = mon_err_from_errno(errno);
        mon_os_evloop_free(ev);
        return r;
    }
    *ret = ev;
    return MON_OK;
}

void mon_os_evloop_free(struct mon_os_evloop *ev)
{
    if (!ev)
        return;
    if (ev->ep >= 0)
        close(ev->ep);
    if (ev->wake_fd >= 0)
        close(ev->wake_fd);
    free(ev);
}

static int ctl(struct mon_os_evloop *ev, int op, int64_t sock, unsigned events, uint64_t tag)
{
    struct epoll_event e = {.data.u64 = tag};
    if (events & MON_OS_EV_IN)
        e.events |= EPOLLIN;
    if (events & MON_OS_EV_OUT)
        e.events |= EPOLLOUT;
    if (sock < 0 || sock > INT32_MAX || tag == WAKE_TAG)
        return MON_EINVAL;
    return epoll_ctl(ev->ep, op, (int)sock, &e) < 0 ? mon_err_from_errno(errno) : MON_OK;
}

int mon_os_evloop_add(struct mon_os_evloop *ev, int64_t sock, unsigned events, uint64_t tag)
{
    return ctl(ev, EPOLL_CTL_ADD, sock, events, tag);
}

int mon_os_evloop_mod(struct mon_os_evloop *ev, int64_t sock, unsigned events, uint64_t tag)
{
    return ctl(ev, EPOLL_CTL_MOD, sock, events, tag);
}

int mon_os_evloop_del(struct mon_os_evloop *ev, int64_t sock)
{
    struct epoll_event unused = {0};
    if (sock < 0 || sock > INT32_MAX)
        return MON_EINVAL;
    /* A socket closed before it was forgotten is no longer in the set: nothing to do. */
    if (epoll_ctl(ev->ep, EPOLL_CTL_DEL, (int)sock, &unused) < 0 && errno != ENOENT &&
        errno != EBADF)
        return mon_err_from_errno(errno);
    return MON_OK;
}

int mon_os_evloop_wait(struct mon_os_evloop *ev, struct mon_os_event *out, int max, int timeout_ms)
{
    int n, k = 0;
    if (max > MAX_BATCH)
        max = MAX_BATCH;
    n = epoll_wait(ev->ep, ev->batch, max, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : mon_err_from_errno(errno);
    for (int i = 0; i < n; i++) {
        const struct epoll_event *e = &ev->batch[i];
        if (e->data.u64 == WAKE_TAG) {
            uint64_t count;
            while (read(ev->wake_fd, &count, sizeof(count)) > 0)
                ;
            continue;
        }
        out[k].tag = e->data.u64;
        out[k].events = 0;
        /* A hang-up is reported as readable so that the reader sees the end of the stream. */
        if (e->events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
            out[k].events |= MON_OS_EV_IN;
        if (e->events & EPOLLOUT)
            out[k].events |= MON_OS_EV_OUT;
        if (e->events & EPOLLERR)
            out[k].events |= MON_OS_EV_ERR;
        k++;
    }
    return k;
}

void mon_os_evloop_pause(struct mon_os_evloop *ev, int timeout_ms)
{
    struct pollfd pfd = {.fd = ev->wake_fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) > 0) {
        uint64_t count;
        while (read(ev->wake_fd, &count, sizeof(count)) > 0)
            ;
    }
}

void mon_os_evloop_wake(struct mon_os_evloop *ev)
{
    uint64_t one = 1;
    /* A full counter (never in practice) still leaves the eventfd readable: nothing lost. */
    ssize_t n = write(ev->wake_fd, &one, sizeof(one));
    (void)n;
}
