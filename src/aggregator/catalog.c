/* SPDX-License-Identifier: MIT */
/* Service catalogs fetched asynchronously: coalesced per server, capped, kept briefly. */
#include "aggregator/catalog.h"

#include "aggregator/agentclient.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/text.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_UNITS 4096

struct waiter {
    agg_catalog_done_fn done;
    void *ctx;
};

struct entry {
    struct entry *next;
    int64_t id;
    char *host, *token;
    int port;
    bool tls;
    char *pin, *ca_file; /* "" when none */
    bool fetching;       /* queued or in the multi handle */
    bool queued;         /* not yet given to the multi handle */
    CURL *easy;
    void *headers;
    char *url;
    struct agg_agent_body body;
    int status; /* the kept answer, when json != NULL */
    char *json;
    int64_t expires_ms;
    struct waiter waiters[AGG_CATALOG_MAX_WAITERS];
    size_t n_waiters;
};

struct agg_catalog {
    pthread_mutex_t lock;
    pthread_t thread;
    atomic_bool stop;
    CURLM *multi;
    struct entry *entries;
    size_t fetching;
    int64_t timeout_ms;
    bool stopped; /* guarded by lock */
};

static void entry_free_target(struct entry *e)
{
    free(e->host);
    free(e->token);
    free(e->pin);
    free(e->ca_file);
    e->host = e->token = e->pin = e->ca_file = NULL;
}

/* ---- the answer (pure) ---- */

static char *error_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *error_json(const char *fmt, ...)
{
    char msg[512], clean[512];
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mon_text_sanitize(msg, strlen(msg), clean, sizeof(clean)); /* it may quote the agent */
    if (o && cJSON_AddStringToObject(o, "error", clean))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* Copies the string field name of from into to, cleaned; false with a reason when it is not a
 * string or longer than max. Absent fields are skipped. */
static bool copy_text(const cJSON *from, cJSON *to, const char *name, size_t max, char *why,
                      size_t why_len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, name);
    char *text;
    bool ok;

    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > max) {
        snprintf(why, why_len, "%s is not a string of at most %zu bytes", name, max);
        return false;
    }
    text = strdup(v->valuestring);
    if (!text) {
        snprintf(why, why_len, "out of memory");
        return false;
    }
    mon_text_strip_hidden(text);
    ok = cJSON_AddStringToObject(to, name, text) != NULL;
    free(text);
    if (!ok)
        snprintf(why, why_len, "out of memory");
    return ok;
}

/* The agent's reply rebuilt from the fields the dashboard uses; NULL with a reason. */
static cJSON *rebuild(const cJSON *root, int64_t server_id, char *why, size_t why_len)
{
    static const struct {
        const char *name;
        size_t max;
    } fields[] = {{"name", 255},
                  {"description", 1024},
                  {"active_state", 64},
                  {"sub_state", 64},
                  {"unit_file_state", 64}};
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "services"), *it;
    cJSON *out = cJSON_CreateObject(), *arr;
    char reason[96];
    int i = 0;

    arr = out ? cJSON_AddArrayToObject(out, "services") : NULL;
    if (!arr) {
        snprintf(why, why_len, "out of memory");
        goto fail;
    }
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > MAX_UNITS) {
        snprintf(why, why_len, "no services list of at most %d units", MAX_UNITS);
        goto fail;
    }
    cJSON_ArrayForEach(it, list)
    {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            snprintf(why, why_len, "out of memory");
            goto fail;
        }
        if (!cJSON_IsObject(it) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "name"))) {
            snprintf(why, why_len, "services[%d] is not a unit with a name", i);
            goto fail;
        }
        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
            if (!copy_text(it, o, fields[f].name, fields[f].max, reason, sizeof(reason))) {
                snprintf(why, why_len, "services[%d].%s", i, reason);
                goto fail;
            }
        }
        i++;
    }
    if (!copy_text(root, out, "hint", 1024, reason, sizeof(reason))) {
        snprintf(why, why_len, "%s", reason);
        goto fail;
    }
    cJSON_AddNumberToObject(out, "server_id", (double)server_id);
    return out;
fail:
    cJSON_Delete(out);
    return NULL;
}

int agg_catalog_answer(int curl_code, long http_status, bool too_large, const char *body,
                       size_t len, int64_t server_id, int *ret_status, char **ret_json)
{
    char why[256] = "", agent_error[200] = "";
    cJSON *root = NULL, *out;
    char *json = NULL;
    int r = agg_agent_result(curl_code, http_status, too_large, why, sizeof(why)), status = 502;

    if (r == MON_ETIMEDOUT) {
        status = 504;
        json = error_json("agent did not answer: %s", why);
    } else if (curl_code != CURLE_OK || too_large) {
        json = error_json("agent unreachable: %s", why);
    } else if (http_status != 200) {
        const cJSON *e;
        if (body && mon_json_parse_strict(body, len, &root, why, sizeof(why)) == MON_OK &&
            (e = cJSON_GetObjectItemCaseSensitive(root, "error")) && cJSON_IsString(e))
            snprintf(agent_error, sizeof(agent_error), ": %s", e->valuestring);
        json = error_json("agent answered HTTP %ld%s%s", http_status,
                          http_status == 401   ? " (token rejected)"
                          : http_status == 429 ? " (too many failed authentications)"
                                               : "",
                          agent_error);
    } else if (!body || (r = mon_json_parse_strict(body, len, &root, why, sizeof(why))) < 0 ||
               !cJSON_IsObject(root)) {
        json = error_json("bad reply from the agent: %s", r < 0 ? why : "not a JSON object");
    } else if (!(out = rebuild(root, server_id, why, sizeof(why)))) {
        json = error_json("bad reply from the agent: %s", why);
    } else {
        status = 200;
        json = cJSON_PrintUnformatted(out);
        cJSON_Delete(out);
    }
    cJSON_Delete(root);
    if (!json)
        return MON_ENOMEM;
    *ret_status = status;
    *ret_json = json;
    return MON_OK;
}

/* ---- fetching ---- */

static void entry_transfer_done(struct agg_catalog *c, struct entry *e)
{
    if (e->easy) {
        curl_multi_remove_handle(c->multi, e->easy);
        curl_easy_cleanup(e->easy);
        e->easy = NULL;
    }
    agg_agent_headers_free(e->headers);
    e->headers = NULL;
    free(e->url);
    e->url = NULL;
    mon_buf_done(&e->body.buf);
    e->body.too_large = false;
}

/* Ends e's fetch with status/json (json may be NULL: out of memory) and answers its askers. */
static void entry_finish(struct agg_catalog *c, struct entry *e, int status, char *json)
{
    struct waiter waiters[AGG_CATALOG_MAX_WAITERS];
    char *copies[AGG_CATALOG_MAX_WAITERS];
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = e->n_waiters;
    memcpy(waiters, e->waiters, n * sizeof(waiters[0]));
    for (size_t i = 0; i < n; i++)
        copies[i] = json ? strdup(json) : NULL;
    e->n_waiters = 0;
    e->fetching = e->queued = false;
    c->fetching--;
    free(e->json);
    e->json = json;
    e->status = status;
    e->expires_ms =
        mon_mono_ms() + (status == 200 ? AGG_CATALOG_KEEP_OK_MS : AGG_CATALOG_KEEP_FAIL_MS);
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n; i++)
        waiters[i].done(waiters[i].ctx, copies[i] ? status : 500, copies[i]);
}

/* Gives a queued entry to the multi handle; on failure answers at once. Catalog thread. */
static void entry_start(struct agg_catalog *c, struct entry *e)
{
    int status = 502, r;
    char *json = NULL;

    mon_buf_init(&e->body.buf, AGG_CATALOG_MAX_BYTES);
    r = agg_agent_url_scheme(e->tls, e->host, e->port, "/v1/services", NULL, 0, &e->url);
    if (r == MON_OK && !(e->easy = curl_easy_init()))
        r = MON_ENOMEM;
    if (r == MON_OK)
        r = agg_agent_easy_prepare(e->easy, e->url, e->token, c->timeout_ms, AGG_CATALOG_MAX_BYTES,
                                   &e->body, &e->headers);
    if (r == MON_OK) {
        struct agg_agent_tls tls = {.on = e->tls, .pin = e->pin, .ca_file = e->ca_file};
        agg_agent_easy_tls(e->easy, &tls);
        curl_easy_setopt(e->easy, CURLOPT_PRIVATE, e);
        if (curl_multi_add_handle(c->multi, e->easy) == CURLM_OK)
            return;
        r = MON_ENOMEM;
    }
    json = error_json("agent unreachable: %s",
                      r == MON_EINVAL ? "invalid agent address or token" : "out of memory");
    entry_transfer_done(c, e);
    entry_finish(c, e, status, json);
}

static void transfer_done(struct agg_catalog *c, CURLMsg *msg)
{
    struct entry *e = NULL;
    long http_status = 0;
    int status = 500;
    char *json = NULL;

    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&e);
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &http_status);
    if (!e)
        return;
    if (agg_catalog_answer((int)msg->data.result, http_status, e->body.too_large, e->body.buf.data,
                           e->body.buf.len, e->id, &status, &json) < 0)
        json = NULL;
    entry_transfer_done(c, e);
    entry_finish(c, e, status, json);
}

/* Forgets answers nobody asked for again in time (catalogs can be large). Catalog thread. */
static void expire(struct agg_catalog *c, int64_t now)
{
    struct entry **pp = &c->entries;
    pthread_mutex_lock(&c->lock);
    while (*pp) {
        struct entry *e = *pp;
        if (!e->fetching && now >= e->expires_ms) {
            *pp = e->next;
            free(e->json);
            entry_free_target(e);
            free(e);
            continue;
        }
        pp = &e->next;
    }
    pthread_mutex_unlock(&c->lock);
}

static void *catalog_main(void *arg)
{
    struct agg_catalog *c = arg;
    while (!atomic_load(&c->stop)) {
        struct entry *queued[AGG_CATALOG_MAX_FETCHES];
        size_t n = 0;
        int running = 0, left = 0;
        CURLMsg *msg;

        pthread_mutex_lock(&c->lock);
        for (struct entry *e = c->entries; e && n < AGG_CATALOG_MAX_FETCHES; e = e->next)
            if (e->queued) {
                e->queued = false;
                queued[n++] = e;
            }
        pthread_mutex_unlock(&c->lock);
        for (size_t i = 0; i < n; i++)
            entry_start(c, queued[i]);
        curl_multi_perform(c->multi, &running);
        while ((msg = curl_multi_info_read(c->multi, &left)))
            if (msg->msg == CURLMSG_DONE)
                transfer_done(c, msg);
        expire(c, mon_mono_ms());
        curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

/* ---- public ---- */

int agg_catalog_new(int64_t timeout_ms, struct agg_catalog **ret)
{
    struct agg_catalog *c;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return MON_ESYS;
    c = calloc(1, sizeof(*c));
    if (!c || !(c->multi = curl_multi_init())) {
        free(c);
        curl_global_cleanup();
        return MON_ENOMEM;
    }
    c->timeout_ms = timeout_ms;
    pthread_mutex_init(&c->lock, NULL);
    if (pthread_create(&c->thread, NULL, catalog_main, c) != 0) {
        pthread_mutex_destroy(&c->lock);
        curl_multi_cleanup(c->multi);
        free(c);
        curl_global_cleanup();
        return MON_ESYS;
    }
    *ret = c;
    return MON_OK;
}

void agg_catalog_stop(struct agg_catalog *c)
{
    if (!c || c->stopped)
        return;
    atomic_store(&c->stop, true);
    curl_multi_wakeup(c->multi);
    pthread_join(c->thread, NULL);
    pthread_mutex_lock(&c->lock);
    c->stopped = true; /* from now on get() answers at once */
    pthread_mutex_unlock(&c->lock);
    for (struct entry *e = c->entries; e; e = e->next) {
        if (!e->fetching)
            continue;
        entry_transfer_done(c, e);
        entry_finish(c, e, 503, error_json("the aggregator is stopping"));
    }
}

void agg_catalog_free(struct agg_catalog *c)
{
    if (!c)
        return;
    agg_catalog_stop(c);
    while (c->entries) {
        struct entry *e = c->entries;
        c->entries = e->next;
        free(e->json);
        entry_free_target(e);
        free(e);
    }
    curl_multi_cleanup(c->multi);
    pthread_mutex_destroy(&c->lock);
    free(c);
    curl_global_cleanup();
}

static bool same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool same_target(const struct entry *e, const char *host, int port, const char *token,
                        const struct agg_agent_tls *tls)
{
    return e->host && strcmp(e->host, host) == 0 && e->port == port && same_text(e->token, token) &&
           e->tls == tls->on && same_text(e->pin, tls->pin) && same_text(e->ca_file, tls->ca_file);
}

int agg_catalog_get(struct agg_catalog *c, int64_t id, const char *host, int port,
                    const char *token, const struct agg_agent_tls *tls, agg_catalog_done_fn done,
                    void *ctx)
{
    int64_t now = mon_mono_ms();
    struct entry *e;
    char *host_copy = NULL, *token_copy = NULL, *pin_copy, *ca_copy, *answer;
    int status;

    /* The token goes only to a verified agent: the poller pins the key first. */
    if (tls->on && !(tls->pin && tls->pin[0]) && !(tls->ca_file && tls->ca_file[0])) {
        answer = error_json("the agent's TLS key is not pinned yet: it is pinned at the first "
                            "successful poll");
        done(ctx, answer ? 409 : 500, answer);
        return MON_OK;
    }

    pthread_mutex_lock(&c->lock);
    if (c->stopped) {
        pthread_mutex_unlock(&c->lock);
        answer = error_json("the aggregator is stopping");
        done(ctx, answer ? 503 : 500, answer);
        return MON_OK;
    }
    for (e = c->entries; e && e->id != id; e = e->next)
        ;
    if (e && e->fetching) { /* share the fetch under way */
        if (e->n_waiters >= AGG_CATALOG_MAX_WAITERS) {
            pthread_mutex_unlock(&c->lock);
            return MON_EBUSY;
        }
        e->waiters[e->n_waiters++] = (struct waiter){done, ctx};
        pthread_mutex_unlock(&c->lock);
        return MON_OK;
    }
    if (e && e->json && now < e->expires_ms && same_target(e, host, port, token, tls)) {
        status = e->status;
        answer = strdup(e->json);
        pthread_mutex_unlock(&c->lock);
        done(ctx, answer ? status : 500, answer);
        return MON_OK;
    }
    if (c->fetching >= AGG_CATALOG_MAX_FETCHES) {
        pthread_mutex_unlock(&c->lock);
        return MON_EBUSY;
    }
    host_copy = strdup(host);
    token_copy = strdup(token ? token : "");
    pin_copy = strdup(tls->pin ? tls->pin : "");
    ca_copy = strdup(tls->ca_file ? tls->ca_file : "");
    if (!e && host_copy && token_copy && pin_copy && ca_copy && (e = calloc(1, sizeof(*e)))) {
        e->id = id;
        e->next = c->entries;
        c->entries = e;
    }
    if (!e || !host_copy || !token_copy || !pin_copy || !ca_copy) {
        pthread_mutex_unlock(&c->lock);
        free(host_copy);
        free(token_copy);
        free(pin_copy);
        free(ca_copy);
        return MON_ENOMEM;
    }
    entry_free_target(e);
    free(e->json);
    e->json = NULL;
    e->host = host_copy;
    e->token = token_copy;
    e->pin = pin_copy;
    e->ca_file = ca_copy;
    e->tls = tls->on;
    e->port = port;
    e->fetching = e->queued = true;
    e->waiters[0] = (struct waiter){done, ctx};
    e->n_waiters = 1;
    c->fetching++;
    pthread_mutex_unlock(&c->lock);
    curl_multi_wakeup(c->multi);
    return MON_OK;
}
