/* SPDX-License-Identifier: MIT */
/* GET /api/servers: its query parameters, the plain list's cache, and the list and summary
 * handlers. */
#include "aggregator/api_list.h"

#include "aggregator/engine.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http.h"
#include "common/os/cond.h"
#include "common/os/lock.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_CACHE_MS  500
#define WANTED_MS      10000 /* rebuilt in the background while asked for this recently */
#define FIRST_WAIT_MS  30000 /* a request waits at most this long for a body */
#define STALE_SLACK_MS 250   /* scheduling slack before a body counts as too old */
#define WHY_LEN        1024

/* The plain list is rebuilt by a thread of its own, while clients keep asking for it (in the
 * last WANTED_MS), as soon as it is LIST_CACHE_MS old: requests copy the latest body and never
 * wait for a rebuild of 10,000 servers, except for the first one and after a change made
 * through the API (which must show at once). */
struct agg_list_cache {
    struct agg_engine *engine;
    pthread_mutex_t lock;
    struct mon_cond wake;  /* a rebuild is wanted, or stop */
    struct mon_cond built; /* a rebuild finished */
    pthread_t thread;
    bool stop;
    char *body; /* NULL: none (yet, or invalidated) */
    size_t len;
    int64_t built_ms;    /* when the build of body began: the moment its content shows */
    int64_t build_ms;    /* how long the last build took */
    int64_t wanted_ms;   /* the last request */
    uint64_t generation; /* rebuilds done */
    uint64_t epoch;      /* invalidations: a build begun before one is not kept */
};

#define Q_MAX_BYTES 256

static const char *const field_names[] = {
    "id",     "name",   "host",       "agent_port",   "enabled", "services", "token_set",
    "online", "status", "last_error", "last_seen_at", "latest",  "tls"};

static const char *const sort_names[] = {"id", "name", "status", "cpu", "gpu"};

static bool given(const char *v)
{
    return v && v[0];
}

/* Parses "id,name,latest" into AGG_FIELD_* bits. */
static int parse_fields(const char *text, unsigned *ret, char *why, size_t why_len)
{
    unsigned bits = 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ","), i;
        for (i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++)
            if (strlen(field_names[i]) == len && strncmp(field_names[i], p, len) == 0)
                break;
        if (i == sizeof(field_names) / sizeof(field_names[0])) {
            snprintf(why, why_len,
                     "fields: unknown field '%.*s' (known: id, name, host, agent_port, enabled, "
                     "services, token_set, online, status, last_error, last_seen_at, latest, tls)",
                     (int)(len > 64 ? 64 : len), p);
            return MON_EINVAL;
        }
        bits |= 1u << i;
        p += len;
        if (*p == ',')
            p++;
    }
    *ret = bits;
    return MON_OK;
}

int agg_api_list_params(const char *status, const char *q, const char *sort, const char *offset,
                        const char *limit, const char *fields, struct agg_list_query *ret,
                        bool *ret_any, char *why, size_t why_len)
{
    struct agg_list_query out = {.status = -1};
    int64_t v;
    size_t i;

    if (given(status)) {
        for (i = 0; i < AGG_STATUS_COUNT; i++)
            if (strcmp(status, agg_status_name((enum agg_status)i)) == 0)
                break;
        if (i == AGG_STATUS_COUNT) {
            snprintf(why, why_len, "status: must be one of online, degraded, offline, disabled");
            return MON_EINVAL;
        }
        out.status = (int)i;
    }
    if (given(q)) {
        if (strlen(q) > Q_MAX_BYTES || !mon_utf8_valid(q, strlen(q))) {
            snprintf(why, why_len, "q: at most %d bytes of UTF-8", Q_MAX_BYTES);
            return MON_EINVAL;
        }
        out.q = q;
    }
    if (given(sort)) {
        for (i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++)
            if (strcmp(sort, sort_names[i]) == 0)
                break;
        if (i == sizeof(sort_names) / sizeof(sort_names[0])) {
            snprintf(why, why_len, "sort: must be one of id, name, status, cpu, gpu");
            return MON_EINVAL;
        }
        out.sort = (enum agg_list_sort)i;
    }
    if (given(offset)) {
        if (mon_parse_int64(offset, 0, 1000000000, &v) < 0) {
            snprintf(why, why_len, "offset: must be an integer from 0");
            return MON_EINVAL;
        }
        out.offset = (size_t)v;
    }
    if (given(limit)) {
        if (mon_parse_int64(limit, 1, AGG_API_LIST_MAX_LIMIT, &v) < 0) {
            snprintf(why, why_len, "limit: must be an integer from 1 to %d",
                     AGG_API_LIST_MAX_LIMIT);
            return MON_EINVAL;
        }
        out.limit = (size_t)v;
    }
    if (given(fields) && parse_fields(fields, &out.fields, why, why_len) < 0)
        return MON_EINVAL;
    *ret_any =
        given(status) || given(q) || given(sort) || given(offset) || given(limit) || given(fields);
    *ret = out;
    return MON_OK;
}

/* Lock held. Waits on cond for at most ms (callers recheck their condition). */
static void timed_wait_locked(struct agg_list_cache *c, struct mon_cond *cond, int64_t ms)
{
    MON_ASSERT_LOCKED(&c->lock);
    mon_cond_wait_until(cond, &c->lock, mon_cond_deadline(ms));
}

/* Lock held. A rebuild is due: nothing cached, or stale while clients still ask. */
static bool rebuild_due_locked(const struct agg_list_cache *c, int64_t now)
{
    MON_ASSERT_LOCKED(&c->lock);
    return c->wanted_ms > 0 && now - c->wanted_ms < WANTED_MS &&
           (!c->body || now - c->built_ms >= LIST_CACHE_MS);
}

static void *refresher_main(void *arg)
{
    struct agg_list_cache *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct agg_list_query all = {.status = -1};
        struct mon_buf b;
        size_t matched = 0, len;
        int64_t now = mon_mono_ms(), started;
        uint64_t epoch = c->epoch;
        if (!rebuild_due_locked(c, now)) {
            /* Stale but not asked for: sleep until asked; fresh: until it goes stale. */
            timed_wait_locked(c, &c->wake, c->body ? LIST_CACHE_MS : WANTED_MS);
            continue;
        }
        pthread_mutex_unlock(&c->lock);
        started = now;
        mon_buf_init(&b, SIZE_MAX / 2);
        if (agg_engine_list_json(c->engine, &all, &b, &matched) == MON_OK) {
            char *body;
            len = b.len;
            body = mon_buf_take(&b);
            pthread_mutex_lock(&c->lock);
            if (body && epoch != c->epoch) { /* changed meanwhile: build again */
                free(body);
                body = NULL;
            }
            if (body) {
                free(c->body);
                c->body = body;
                c->len = len;
            }
        } else {
            pthread_mutex_lock(&c->lock);
        }
        mon_buf_done(&b);
        c->built_ms = started;
        c->build_ms = mon_mono_ms() - started;
        c->generation++;
        mon_cond_broadcast(&c->built);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int agg_list_cache_new(struct agg_engine *e, struct agg_list_cache **ret_cache)
{
    struct agg_list_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return MON_ENOMEM;
    c->engine = e;
    if (mon_cond_init(&c->wake) < 0) {
        free(c);
        return MON_ENOMEM;
    }
    if (mon_cond_init(&c->built) < 0) {
        mon_cond_destroy(&c->wake);
        free(c);
        return MON_ENOMEM;
    }
    pthread_mutex_init(&c->lock, NULL);
    if (pthread_create(&c->thread, NULL, refresher_main, c) != 0) {
        mon_cond_destroy(&c->wake);
        mon_cond_destroy(&c->built);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return MON_ESYS;
    }
    *ret_cache = c;
    return MON_OK;
}

void agg_list_cache_free(struct agg_list_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    mon_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    free(c->body);
    mon_cond_destroy(&c->wake);
    mon_cond_destroy(&c->built);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void agg_list_cache_invalidate(struct agg_list_cache *c)
{
    pthread_mutex_lock(&c->lock);
    free(c->body);
    c->body = NULL;
    c->epoch++;
    pthread_mutex_unlock(&c->lock);
}

/* Lock held. The body is older than the background rebuilds keep it while clients ask (it
 * was last asked for long ago): a request must wait for a fresh one. */
static bool too_old_locked(const struct agg_list_cache *c, int64_t now)
{
    MON_ASSERT_LOCKED(&c->lock);
    return now - c->built_ms > LIST_CACHE_MS + 2 * c->build_ms + STALE_SLACK_MS;
}

/* A copy of the latest plain list (NULL without memory or when none could be built). */
static char *cached_list(struct agg_list_cache *c, size_t *ret_len)
{
    int64_t now = mon_mono_ms(), deadline = now + FIRST_WAIT_MS;
    char *copy = NULL;
    pthread_mutex_lock(&c->lock);
    c->wanted_ms = now;
    if (rebuild_due_locked(c, now))
        mon_cond_broadcast(&c->wake);
    while ((!c->body || too_old_locked(c, now)) && !c->stop && mon_mono_ms() < deadline) {
        uint64_t gen = c->generation;
        mon_cond_broadcast(&c->wake);
        while (c->generation == gen && !c->stop && mon_mono_ms() < deadline)
            timed_wait_locked(c, &c->built, 1000);
    }
    if (c->body && (copy = malloc(c->len + 1))) {
        memcpy(copy, c->body, c->len + 1);
        *ret_len = c->len;
    }
    pthread_mutex_unlock(&c->lock);
    return copy;
}

void agg_api_list_get(struct agg_engine *e, struct agg_list_cache *c, struct mon_http_request *req,
                      struct mon_http_response *resp)
{
    struct agg_list_query q;
    char why[WHY_LEN], total[32];
    struct mon_buf b;
    size_t matched = 0, len = 0;
    bool any = false;
    char *body;

    if (agg_api_list_params(mon_http_query(req, "status"), mon_http_query(req, "q"),
                            mon_http_query(req, "sort"), mon_http_query(req, "offset"),
                            mon_http_query(req, "limit"), mon_http_query(req, "fields"), &q, &any,
                            why, sizeof(why)) < 0) {
        mon_http_error(resp, 400, "%s", why);
        return;
    }
    if (!any) {
        body = cached_list(c, &len);
        if (!body) {
            mon_http_error(resp, 500, "out of memory");
            return;
        }
        mon_http_body(resp, 200, "application/json", body, len);
        return;
    }
    mon_buf_init(&b, SIZE_MAX / 2);
    if (agg_engine_list_json(e, &q, &b, &matched) < 0 || !(body = mon_buf_take(&b))) {
        mon_buf_done(&b);
        mon_http_error(resp, 500, "out of memory");
        return;
    }
    len = strlen(body);
    mon_http_body(resp, 200, "application/json", body, len);
    /* How many matched before paging: the dashboard's page count. */
    snprintf(total, sizeof(total), "%zu", matched);
    mon_http_set_header(resp, "X-Total-Count", total);
}

/* Counts by status and the poll state: what the overview header needs, whatever the fleet
 * size, for a few hundred bytes. */
void agg_api_list_summary(struct agg_engine *e, struct mon_http_response *resp)
{
    struct agg_state_counts c;
    cJSON *root = cJSON_CreateObject(), *by, *health, *poll;
    agg_engine_counts(e, &c);
    health = agg_engine_health_json(e);
    poll = health ? cJSON_DetachItemFromObjectCaseSensitive(health, "poll") : NULL;
    cJSON_Delete(health);
    if (!root || !poll) {
        cJSON_Delete(root);
        cJSON_Delete(poll);
        mon_http_error(resp, 500, "out of memory");
        return;
    }
    cJSON_AddNumberToObject(root, "total", (double)c.total);
    cJSON_AddNumberToObject(root, "enabled", (double)c.enabled);
    cJSON_AddNumberToObject(root, "online", (double)c.online);
    by = cJSON_AddObjectToObject(root, "status");
    for (int i = 0; by && i < AGG_STATUS_COUNT; i++)
        cJSON_AddNumberToObject(by, agg_status_name((enum agg_status)i), (double)c.by_status[i]);
    cJSON_AddItemToObject(root, "poll", poll);
    mon_http_json(resp, 200, root);
}
