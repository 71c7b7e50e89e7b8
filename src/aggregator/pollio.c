/* SPDX-License-Identifier: MIT */
/* libcurl multi handles on mon_os_evloop (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION and
 * curl_multi_socket_action, after libcurl's "hiper" example), sharded, or one multi handle on
 * curl_multi_poll. */
#include "aggregator/pollio.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/os/evloop.h"
#include "common/os/os.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SHARD_SIZE  128 /* servers per multi handle (bounds libcurl's per-removal walk) */
#define EVENT_BATCH 256
#define MAX_ROUNDS  64 /* event batches handled per run before the caller gets control back */

/* What the loop knows of a socket (fd_state, indexed by descriptor). libcurl stops watching a
 * kept-alive connection between polls (CURL_POLL_REMOVE) and watches it again at the next
 * one: a socket we opened stays in the epoll set meanwhile, so a poll costs no epoll_ctl at
 * all when its events are the same; should the idle socket report anything (the agent
 * closed it), it leaves the set then, and libcurl finds it dead at its next use. Sockets that
 * libcurl opened without us (none for HTTP) leave at once as before. */
#define FD_OURS   0x01 /* opened by on_open: closed through on_close, which forgets it */
#define FD_IN_SET 0x02 /* in the epoll set */
#define FD_WANTED 0x04 /* libcurl watches it now */
#define FD_EV_IN  0x08 /* the events it is in the set with */
#define FD_EV_OUT 0x10

struct shard {
    struct agg_pollio *io;
    CURLM *multi;
    uint32_t index;
    size_t members;
    int64_t timer_at; /* monotonic ms libcurl wants to be called at, -1: none */
};

struct agg_pollio {
    struct mon_os_evloop *ev; /* NULL: curl_multi_poll on shard 0 */
    struct shard **shards;
    size_t n_shards, cap_shards, hint; /* hint: a shard that may have room */
    int64_t next_timer;                /* earliest timer_at, -1: none */
    bool timers_stale;                 /* next_timer must be recomputed */
    agg_pollio_done_fn done;
    void *ctx;
    uint8_t *fd_state; /* FD_* per descriptor (epoll driver only) */
    size_t fd_cap;
    struct mon_os_event events[EVENT_BATCH];
};

/* Socket tags: shard index in the high half, socket in the low half. */
static uint64_t tag_of(const struct shard *sh, curl_socket_t s)
{
    return (uint64_t)sh->index << 32 | (uint32_t)s;
}

/* The state slot of descriptor s (grown as needed), or NULL without memory. */
static uint8_t *fd_slot(struct agg_pollio *io, curl_socket_t s)
{
    size_t need = (size_t)s + 1, cap;
    uint8_t *grown;
    if (s == CURL_SOCKET_BAD)
        return NULL;
    if (need > io->fd_cap) {
        cap = io->fd_cap ? io->fd_cap : 1024;
        while (cap < need)
            cap *= 2;
        grown = realloc(io->fd_state, cap);
        if (!grown)
            return NULL;
        memset(grown + io->fd_cap, 0, cap - io->fd_cap);
        io->fd_state = grown;
        io->fd_cap = cap;
    }
    return &io->fd_state[s];
}

/* The sockets libcurl wants watched (see FD_OURS). */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct shard *sh = userp;
    struct agg_pollio *io = sh->io;
    uint8_t *st = fd_slot(io, s), want = 0;
    unsigned events = 0;
    (void)easy;
    (void)socketp;
    if (!st)
        return -1; /* out of memory: libcurl fails the transfer */
    if (what == CURL_POLL_REMOVE) {
        *st &= (uint8_t)~FD_WANTED;
        if ((*st & FD_IN_SET) && !(*st & FD_OURS)) {
            mon_os_evloop_del(io->ev, (int64_t)s);
            *st &= (uint8_t) ~(FD_IN_SET | FD_EV_IN | FD_EV_OUT);
        }
        return 0;
    }
    if (what & CURL_POLL_IN) {
        events |= MON_OS_EV_IN;
        want |= FD_EV_IN;
    }
    if (what & CURL_POLL_OUT) {
        events |= MON_OS_EV_OUT;
        want |= FD_EV_OUT;
    }
    /* (A socket the set lost without us, closed behind our back, is added again.) */
    if ((!(*st & FD_IN_SET) ||
         ((*st & (FD_EV_IN | FD_EV_OUT)) != want &&
          mon_os_evloop_mod(io->ev, (int64_t)s, events, tag_of(sh, s)) < 0)) &&
        mon_os_evloop_add(io->ev, (int64_t)s, events, tag_of(sh, s)) < 0)
        return -1;
    *st = (uint8_t)((*st & FD_OURS) | FD_IN_SET | FD_WANTED | want);
    return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: the socket libcurl would open, known to be ours. */
static curl_socket_t on_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct agg_pollio *io = clientp;
    curl_socket_t s = socket(addr->family, addr->socktype, addr->protocol);
    uint8_t *st;
    (void)purpose;
    if (s == CURL_SOCKET_BAD)
        return s;
    st = fd_slot(io, s);
    if (!st) {
        mon_os_sock_close(s);
        return CURL_SOCKET_BAD;
    }
    *st = FD_OURS;
    return s;
}

/* CURLOPT_CLOSESOCKETFUNCTION: a socket of ours closed (by libcurl, at any time). */
static int on_close(void *clientp, curl_socket_t s)
{
    struct agg_pollio *io = clientp;
    uint8_t *st = fd_slot(io, s);
    if (st) {
        if (*st & FD_IN_SET)
            mon_os_evloop_del(io->ev, (int64_t)s);
        *st = 0;
    }
    mon_os_sock_close(s);
    return 0;
}

void agg_pollio_easy_init(struct agg_pollio *io, void *easy)
{
    if (!io->ev)
        return;
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, io);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, io);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct shard *sh = userp;
    struct agg_pollio *io = sh->io;
    int64_t old = sh->timer_at;
    (void)multi;
    sh->timer_at = timeout_ms < 0 ? -1 : mon_mono_ms() + timeout_ms;
    if (sh->timer_at >= 0 && (io->next_timer < 0 || sh->timer_at < io->next_timer))
        io->next_timer = sh->timer_at;
    else if (old >= 0 && old == io->next_timer)
        io->timers_stale = true; /* the earliest one moved: find the new earliest */
    return 0;
}

/* Adds a shard to io (which owns it) and gives it in *ret_shard. MON_OK or MON_ENOMEM. */
static int shard_new(struct agg_pollio *io, struct shard **ret_shard)
{
    struct shard *sh, **grown;
    if (io->n_shards == io->cap_shards) {
        size_t cap = io->cap_shards ? io->cap_shards * 2 : 8;
        grown = realloc(io->shards, cap * sizeof(*grown));
        if (!grown)
            return MON_ENOMEM;
        io->shards = grown;
        io->cap_shards = cap;
    }
    sh = calloc(1, sizeof(*sh));
    if (!sh || !(sh->multi = curl_multi_init())) {
        free(sh);
        return MON_ENOMEM;
    }
    sh->io = io;
    sh->index = (uint32_t)io->n_shards;
    sh->timer_at = -1;
    /* Room for every member's kept-alive connection (per-poll ones are never cached). */
    curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, (long)SHARD_SIZE + 16);
    if (io->ev) {
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
    }
    io->shards[io->n_shards++] = sh;
    *ret_shard = sh;
    return MON_OK;
}

int agg_pollio_new(bool simple, agg_pollio_done_fn done, void *ctx, struct agg_pollio **ret)
{
    struct agg_pollio *io = calloc(1, sizeof(*io));
    struct shard *first;
    int r;
    if (!io)
        return MON_ENOMEM;
    io->next_timer = -1;
    io->done = done;
    io->ctx = ctx;
    r = simple ? MON_EUNSUPPORTED : mon_os_evloop_new(&io->ev);
    if (r < 0 && r != MON_EUNSUPPORTED) {
        free(io);
        return r;
    }
    if (r < 0)
        io->ev = NULL;
    if (shard_new(io, &first) < 0) { /* shard 0 always exists */
        agg_pollio_free(io);
        return MON_ENOMEM;
    }
    *ret = io;
    return MON_OK;
}

void agg_pollio_free(struct agg_pollio *io)
{
    if (!io)
        return;
    for (size_t i = 0; i < io->n_shards; i++) {
        curl_multi_cleanup(io->shards[i]->multi); /* reports its sockets as removed */
        free(io->shards[i]);
    }
    free(io->shards);
    mon_os_evloop_free(io->ev);
    free(io->fd_state);
    free(io);
}

int agg_pollio_join(struct agg_pollio *io)
{
    struct shard *sh = NULL;
    if (!io->ev) { /* one multi handle: its cache must hold every kept-alive connection */
        sh = io->shards[0];
        sh->members++;
        curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS,
                          (long)(sh->members > SHARD_SIZE ? sh->members : SHARD_SIZE) + 16);
        return 0;
    }
    for (size_t k = 0; k < io->n_shards && !sh; k++) {
        size_t i = (io->hint + k) % io->n_shards;
        if (io->shards[i]->members < SHARD_SIZE)
            sh = io->shards[i];
    }
    if (!sh && shard_new(io, &sh) < 0)
        return MON_ENOMEM;
    sh->members++;
    io->hint = sh->index;
    return (int)sh->index;
}

void agg_pollio_leave(struct agg_pollio *io, int shard)
{
    if (shard >= 0 && (size_t)shard < io->n_shards && io->shards[shard]->members > 0) {
        io->shards[shard]->members--;
        io->hint = (size_t)shard;
    }
}

int agg_pollio_add(struct agg_pollio *io, int shard, void *easy)
{
    return curl_multi_add_handle(io->shards[shard]->multi, easy) == CURLM_OK ? MON_OK : MON_ENOMEM;
}

void agg_pollio_remove(struct agg_pollio *io, int shard, void *easy)
{
    curl_multi_remove_handle(io->shards[shard]->multi, easy);
}

static void report_done(struct agg_pollio *io, struct shard *sh)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(sh->multi, &left)))
        if (msg->msg == CURLMSG_DONE)
            io->done(io->ctx, msg->easy_handle, (int)msg->data.result);
}

/* Runs the libcurl timers that are due, in every shard where one is. */
static void run_timers(struct agg_pollio *io)
{
    int64_t now = mon_mono_ms();
    int running;
    if (!io->timers_stale && (io->next_timer < 0 || io->next_timer > now))
        return;
    io->next_timer = -1;
    io->timers_stale = false;
    for (size_t i = 0; i < io->n_shards; i++) {
        struct shard *sh = io->shards[i];
        if (sh->timer_at >= 0 && sh->timer_at <= now) {
            sh->timer_at = -1;
            curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
            report_done(io, sh);
        }
        /* A timer set meanwhile lowered next_timer already; this keeps the others. */
        if (sh->timer_at >= 0 && (io->next_timer < 0 || sh->timer_at < io->next_timer))
            io->next_timer = sh->timer_at;
    }
}

static void run_events(struct agg_pollio *io, int timeout_ms)
{
    int running, n;

    if (io->timers_stale)
        run_timers(io); /* also recomputes next_timer */
    if (io->next_timer >= 0) {
        int64_t left = io->next_timer - mon_mono_ms();
        if (left < timeout_ms)
            timeout_ms = left <= 0 ? 0 : (int)left;
    }
    for (int round = 0; round < MAX_ROUNDS; round++) {
        n = mon_os_evloop_wait(io->ev, io->events, EVENT_BATCH, round ? 0 : timeout_ms);
        for (int i = 0; i < n; i++) {
            uint64_t tag = io->events[i].tag;
            curl_socket_t s = (curl_socket_t)(uint32_t)tag;
            struct shard *sh;
            int mask = 0;
            if ((tag >> 32) >= io->n_shards)
                continue;
            if ((size_t)s < io->fd_cap && (io->fd_state[s] & (FD_OURS | FD_WANTED)) == FD_OURS) {
                /* An idle kept-alive socket spoke (closed, most likely): out of the set. */
                if (io->fd_state[s] & FD_IN_SET)
                    mon_os_evloop_del(io->ev, (int64_t)s);
                io->fd_state[s] = FD_OURS;
                continue;
            }
            sh = io->shards[tag >> 32];
            if (io->events[i].events & MON_OS_EV_IN)
                mask |= CURL_CSELECT_IN;
            if (io->events[i].events & MON_OS_EV_OUT)
                mask |= CURL_CSELECT_OUT;
            if (io->events[i].events & MON_OS_EV_ERR)
                mask |= CURL_CSELECT_ERR;
            curl_multi_socket_action(sh->multi, s, mask, &running);
            report_done(io, sh);
        }
        run_timers(io);
        if (n < EVENT_BATCH) /* everything that was ready has been handled */
            break;
    }
}

void agg_pollio_run(struct agg_pollio *io, int timeout_ms)
{
    struct shard *sh = io->shards[0];
    int running;
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (io->ev) {
        run_events(io, timeout_ms);
        return;
    }
    if (timeout_ms > 0)
        curl_multi_poll(sh->multi, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(sh->multi, &running);
    report_done(io, sh);
}

void agg_pollio_pause(struct agg_pollio *io, int timeout_ms)
{
    if (timeout_ms <= 0)
        return;
    if (io->ev)
        mon_os_evloop_pause(io->ev, timeout_ms);
    else
        curl_multi_poll(io->shards[0]->multi, NULL, 0, timeout_ms, NULL);
}

void agg_pollio_wake(struct agg_pollio *io)
{
    if (io->ev)
        mon_os_evloop_wake(io->ev);
    else
        curl_multi_wakeup(io->shards[0]->multi);
}

const char *agg_pollio_kind(const struct agg_pollio *io)
{
    return io->ev ? "epoll" : "curl_multi_poll";
}

size_t agg_pollio_shards(const struct agg_pollio *io)
{
    return io->n_shards;
}
