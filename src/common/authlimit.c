/* SPDX-License-Identifier: MIT */
/* Per-address failed-authentication counts, waits with exponential backoff, rate-limited log. */
#include "common/authlimit.h"

#include "common/err.h"
#include "common/log.h"
#include "common/net.h"
#include "common/os/lock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS         512   /* addresses remembered; the stalest is reused when full */
#define LOG_EVERY_MS  60000 /* one line per address per minute at most ... */
#define LOG_LINES_MAX 10    /* ... and this many lines per minute for all addresses */
#define FIRST_WAIT_MS 1000

struct slot {
    uint8_t key[16];
    bool used;
    unsigned failures;
    int64_t last_failure_ms;
    int64_t wait_until_ms;
    int64_t logged_ms;
    unsigned unlogged; /* failures since the last line about this address */
};

struct mon_authlimit {
    const char *daemon;
    pthread_mutex_t lock;
    _Atomic int64_t waits_until_ms; /* the latest wait_until of any slot: the lock-free test */
    int64_t window_ms;              /* start of the current minute of log lines */
    unsigned lines, suppressed;
    struct slot slots[SLOTS];
};

int mon_authlimit_new(const char *daemon, struct mon_authlimit **ret)
{
    struct mon_authlimit *l = calloc(1, sizeof(*l));
    if (!l)
        return MON_ENOMEM;
    l->daemon = daemon;
    pthread_mutex_init(&l->lock, NULL);
    *ret = l;
    return MON_OK;
}

void mon_authlimit_free(struct mon_authlimit *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* The slot of key, or NULL. Call with the lock held. */
static struct slot *find_locked(struct mon_authlimit *l, const uint8_t *key)
{
    MON_ASSERT_LOCKED(&l->lock);
    for (size_t i = 0; i < SLOTS; i++)
        if (l->slots[i].used && memcmp(l->slots[i].key, key, 16) == 0)
            return &l->slots[i];
    return NULL;
}

/* A slot for a new key: a free one, else the one quiet for longest that is not waiting. */
static struct slot *claim_locked(struct mon_authlimit *l, const uint8_t *key, int64_t now)
{
    MON_ASSERT_LOCKED(&l->lock);
    struct slot *best = NULL;
    for (size_t i = 0; i < SLOTS; i++) {
        struct slot *s = &l->slots[i];
        if (!s->used) {
            best = s;
            break;
        }
        if (!best || (s->wait_until_ms <= now && best->wait_until_ms > now) ||
            ((s->wait_until_ms <= now) == (best->wait_until_ms <= now) &&
             s->last_failure_ms < best->last_failure_ms))
            best = s;
    }
    memset(best, 0, sizeof(*best));
    memcpy(best->key, key, 16);
    best->used = true;
    return best;
}

int mon_authlimit_wait_s(struct mon_authlimit *l, const struct sockaddr *client, int64_t now_ms)
{
    uint8_t key[16];
    struct slot *s;
    int64_t left = 0;

    if (!l || atomic_load_explicit(&l->waits_until_ms, memory_order_relaxed) <= now_ms)
        return 0;
    mon_addr_key(client, true, key);
    pthread_mutex_lock(&l->lock);
    s = find_locked(l, key);
    if (s && s->wait_until_ms > now_ms)
        left = s->wait_until_ms - now_ms;
    pthread_mutex_unlock(&l->lock);
    return (int)((left + 999) / 1000);
}

void mon_authlimit_failed(struct mon_authlimit *l, const struct sockaddr *client, const char *what,
                          int64_t now_ms)
{
    char addr[64], line[320] = "";
    uint8_t key[16];
    struct slot *s;
    int64_t wait = 0;

    if (!l)
        return;
    mon_addr_key(client, true, key);
    mon_format_sockaddr(client, addr, sizeof(addr));
    pthread_mutex_lock(&l->lock);
    s = find_locked(l, key);
    if (!s)
        s = claim_locked(l, key, now_ms);
    if (now_ms - s->last_failure_ms > MON_AUTHLIMIT_FORGET_MS)
        s->failures = 0;
    s->failures++;
    s->last_failure_ms = now_ms;
    s->unlogged++;
    if (s->failures >= MON_AUTHLIMIT_FREE) {
        unsigned doublings = s->failures - MON_AUTHLIMIT_FREE;
        wait = doublings >= 6 ? MON_AUTHLIMIT_MAX_WAIT : (int64_t)FIRST_WAIT_MS << doublings;
        if (wait > MON_AUTHLIMIT_MAX_WAIT)
            wait = MON_AUTHLIMIT_MAX_WAIT;
        s->wait_until_ms = now_ms + wait;
        if (s->wait_until_ms > atomic_load(&l->waits_until_ms))
            atomic_store(&l->waits_until_ms, s->wait_until_ms);
    }
    if (now_ms - l->window_ms >= LOG_EVERY_MS) {
        if (l->suppressed)
            snprintf(line, sizeof(line),
                     "%s: %u more failed authentication(s) not logged in the last minute",
                     l->daemon, l->suppressed);
        l->window_ms = now_ms;
        l->lines = 0;
        l->suppressed = 0;
    }
    if (line[0]) {
        pthread_mutex_unlock(&l->lock);
        mon_warn("%s", line);
        pthread_mutex_lock(&l->lock);
        line[0] = '\0';
    }
    if (s->logged_ms == 0 || now_ms - s->logged_ms >= LOG_EVERY_MS) {
        if (l->lines < LOG_LINES_MAX) {
            l->lines++;
            snprintf(line, sizeof(line),
                     "authentication failed from %s: %s (%u failure(s) since the last report, %u "
                     "without a 10-minute pause)%s",
                     addr, what, s->unlogged, s->failures,
                     wait ? "; further attempts from this address are refused for a while" : "");
            s->logged_ms = now_ms;
            s->unlogged = 0;
        } else {
            l->suppressed++;
        }
    }
    pthread_mutex_unlock(&l->lock);
    if (line[0])
        mon_warn("%s", line);
}
