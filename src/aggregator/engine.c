/* SPDX-License-Identifier: MIT */
/* Wires the engine together: poll results feed the rollup and the live state; the poller's
 * tick drives offline detection; a housekeeping thread writes finished buckets, checkpoints
 * and runs the daily retention job, away from the poller thread. */
#include "aggregator/engine.h"

#include "aggregator/dbname.h"
#include "aggregator/poller.h"
#include "aggregator/rollup.h"
#include "aggregator/sample.h"
#include "aggregator/state.h"
#include "aggregator/store.h"
#include "aggregator/usage.h"
#include "aggregator/writer.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/os/cond.h"
#include "common/log.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WRITER_BUSY_MS      500  /* a single write waits at most this long for a lock */
#define READER_BUSY_MS      100  /* bucket seeding retries at the next sample instead */
#define FIRST_RETENTION_MS  5000 /* soon after start: a restart catches up at once */
#define RETENTION_PERIOD_MS (24 * 3600 * 1000LL)
#define VACUUM_EVERY_N_RUNS 7
#define STOP_DRAIN_MS       1500
#define CHECKPOINT_FLUSH_MS 5000
#define HOUSEKEEPING_MS     1000 /* finished buckets are written within about a second */

struct agg_engine {
    struct agg_engine_options opt;
    struct agg_store *wstore, *rstore;
    struct agg_writer *writer;
    struct agg_state *state;
    struct agg_rollup *rollup;
    struct agg_usage *usage;
    struct agg_poller *poller;
    /* The housekeeping thread. */
    pthread_t housekeeper;
    bool housekeeper_started;
    pthread_mutex_t hk_lock;
    struct mon_cond hk_wake;
    bool hk_stop;
    int64_t next_checkpoint, next_retention;
    unsigned retention_runs;
};

static void on_result(void *ctx, int64_t server_id, const struct agg_sample *sample,
                      const char *error, int64_t now_utc_ms, int64_t now_mono_ms)
{
    struct agg_engine *e = ctx;
    if (!sample) {
        agg_state_poll_fail(e->state, server_id, error, now_utc_ms, now_mono_ms);
        return;
    }
    agg_rollup_add(e->rollup, server_id, sample, now_utc_ms);
    agg_usage_add(e->usage, server_id, sample, now_utc_ms, now_mono_ms);
    agg_state_poll_ok(e->state, server_id, sample, now_utc_ms, now_mono_ms);
}

/* Trust on first use: the live state takes the pin and records server_key_pinned; the writer
 * stores it (queued: a thousand agents pinned at once must not hold up the poll loop), only
 * while the server has none (an admin's pin, saved meanwhile, wins). */
static void on_pinned(void *ctx, int64_t server_id, const char *pin, int64_t now_utc_ms)
{
    struct agg_engine *e = ctx;
    if (agg_writer_server_pin(e->writer, server_id, pin) < 0)
        mon_warn("server %lld: the pinned TLS key could not be queued for storing; it is "
                 "pinned again after a restart",
                 (long long)server_id);
    agg_state_key_pinned(e->state, server_id, pin, now_utc_ms);
}

static void on_tick(void *ctx, int64_t now_utc_ms, int64_t now_mono_ms)
{
    struct agg_engine *e = ctx;
    agg_state_tick(e->state, now_utc_ms, now_mono_ms);
}

/* Writes and database maintenance that must never hold up polling. */
static void housekeeping(struct agg_engine *e)
{
    int64_t now = mon_mono_ms();
    /* Stored usage hours are read here, not on the poller thread. */
    agg_usage_resume(e->usage, mon_utc_ms());
    if (now >= e->next_checkpoint) {
        agg_rollup_checkpoint(e->rollup);
        agg_usage_checkpoint(e->usage);
        /* Idle countdowns that began since the last one (a crash loses at most this much). */
        agg_state_persist_gpus(e->state);
        e->next_checkpoint = now + e->opt.checkpoint_ms;
    } else {
        agg_rollup_flush(e->rollup);
    }
    if (now >= e->next_retention) {
        agg_writer_retention(e->writer,
                             mon_utc_ms() / 1000 - (int64_t)e->opt.retention_days * 86400);
        agg_writer_usage_retention(e->writer, mon_utc_ms() / 1000 -
                                                  (int64_t)e->opt.usage_retention_days * 86400);
        if (++e->retention_runs % VACUUM_EVERY_N_RUNS == 0)
            agg_writer_vacuum(e->writer);
        e->next_retention = now + RETENTION_PERIOD_MS;
    }
}

static void *housekeeper_main(void *arg)
{
    struct agg_engine *e = arg;
    pthread_mutex_lock(&e->hk_lock);
    while (!e->hk_stop) {
        int64_t deadline;
        pthread_mutex_unlock(&e->hk_lock);
        housekeeping(e);
        pthread_mutex_lock(&e->hk_lock);
        deadline = mon_cond_deadline(HOUSEKEEPING_MS);
        while (!e->hk_stop && mon_cond_wait_until(&e->hk_wake, &e->hk_lock, deadline))
            ;
    }
    pthread_mutex_unlock(&e->hk_lock);
    return NULL;
}

static int housekeeper_start(struct agg_engine *e)
{
    if (mon_cond_init(&e->hk_wake) < 0)
        return MON_ENOMEM;
    pthread_mutex_init(&e->hk_lock, NULL);
    if (pthread_create(&e->housekeeper, NULL, housekeeper_main, e) != 0) {
        mon_cond_destroy(&e->hk_wake);
        pthread_mutex_destroy(&e->hk_lock);
        return MON_ESYS;
    }
    e->housekeeper_started = true;
    return MON_OK;
}

static void housekeeper_stop(struct agg_engine *e)
{
    if (!e->housekeeper_started)
        return;
    pthread_mutex_lock(&e->hk_lock);
    e->hk_stop = true;
    mon_cond_broadcast(&e->hk_wake);
    pthread_mutex_unlock(&e->hk_lock);
    pthread_join(e->housekeeper, NULL);
    mon_cond_destroy(&e->hk_wake);
    pthread_mutex_destroy(&e->hk_lock);
    e->housekeeper_started = false;
}

static void apply_defaults(struct agg_engine_options *o)
{
    if (o->interval_ms <= 0)
        o->interval_ms = 5000;
    if (o->timeout_ms <= 0)
        o->timeout_ms = 2000;
    if (o->max_response_bytes <= 0)
        o->max_response_bytes = 1024 * 1024;
    if (o->bucket_ms < 1000)
        o->bucket_ms = 3600 * 1000;
    if (o->checkpoint_ms <= 0)
        o->checkpoint_ms = 60000;
    if (o->retention_days <= 0)
        o->retention_days = 30;
    if (o->usage_retention_days <= 0)
        o->usage_retention_days = 365;
}

/* The persisted GPU states of a server into the live state (a database that cannot be read
 * here is reported by the writer soon enough; the GPUs then start afresh). */
static int seed_gpus(struct agg_engine *e, int64_t id)
{
    struct agg_gpu_state_row *rows = NULL;
    size_t n = 0;
    int r = MON_OK;
    if (agg_store_gpu_states_load(e->rstore, id, &rows, &n) >= 0) {
        r = agg_state_seed_gpus(e->state, id, rows, n);
        free(rows);
    }
    return r == MON_ENOMEM ? r : MON_OK;
}

/* Loads the configured servers with their persisted states into state and rollup. */
static int load_servers(struct agg_engine *e, char *why, size_t why_len)
{
    struct agg_server *list = NULL;
    size_t n = 0;
    int64_t now = mon_mono_ms();
    int r = agg_store_server_list(e->rstore, &list, &n);
    if (r < 0) {
        snprintf(why, why_len, "cannot read servers: %s", mon_strerror(r));
        return r;
    }
    for (size_t i = 0; i < n && r >= 0; i++) {
        struct agg_unit_state *units = NULL;
        size_t n_units = 0;
        r = agg_state_server_upsert(e->state, &list[i], now);
        if (r >= 0)
            r = agg_rollup_server_add(e->rollup, list[i].id);
        if (r >= 0)
            r = agg_usage_server_add(e->usage, list[i].id, list[i].name);
        if (r >= 0 && agg_store_unit_states_load(e->rstore, list[i].id, &units, &n_units) >= 0) {
            agg_state_seed_units(e->state, list[i].id, units, n_units);
            free(units);
        }
        if (r >= 0)
            r = seed_gpus(e, list[i].id);
    }
    if (r < 0)
        snprintf(why, why_len, "cannot load servers: %s", mon_strerror(r));
    /* The usage hour a restart continues, before the first poll (a failure is retried by the
     * housekeeper; polls are accounted meanwhile). */
    if (r >= 0)
        agg_usage_resume(e->usage, mon_utc_ms());
    for (size_t i = 0; i < n && r >= 0; i++)
        r = agg_poller_upsert(e->poller, &list[i]);
    agg_server_list_free(list, n);
    return r < 0 ? r : MON_OK;
}

/* Frees what the engine owns once its threads (poller, housekeeper, writer) are stopped. */
static void engine_free(struct agg_engine *e)
{
    agg_rollup_free(e->rollup);
    agg_usage_free(e->usage);
    agg_state_free(e->state);
    agg_store_close(e->rstore);
    agg_store_close(e->wstore);
    free(e);
}

int agg_engine_start(const struct agg_engine_options *o, struct agg_engine **ret, char *why,
                     size_t why_len)
{
    struct agg_engine *e = calloc(1, sizeof(*e));
    struct agg_writer_options wo = {0};
    struct agg_state_options so = {0};
    struct agg_poller_options po = {0};
    struct agg_usage_options uo = {0};
    char reason[256] = "";
    int r;

    if (!e) {
        snprintf(why, why_len, "out of memory");
        return MON_ENOMEM;
    }
    e->opt = *o;
    apply_defaults(&e->opt);
    r = agg_store_open_ex(o->db_path, o->db_password, WRITER_BUSY_MS, AGG_STORE_OPEN_SMALL_CACHE,
                          &e->wstore, reason, sizeof(reason));
    if (r >= 0)
        r = agg_store_open_ex(o->db_path, o->db_password, READER_BUSY_MS, 0, &e->rstore, reason,
                              sizeof(reason));
    if (r < 0) {
        char name[256];
        agg_db_display(o->db_path, name, sizeof(name));
        snprintf(why, why_len, "database %s: %s", name, reason);
        goto fail;
    }
    wo.store = e->wstore;
    if ((r = agg_writer_start(&wo, &e->writer)) < 0) {
        snprintf(why, why_len, "cannot start the database writer: %s", mon_strerror(r));
        goto fail;
    }
    so.interval_ms = e->opt.interval_ms;
    so.timeout_ms = e->opt.timeout_ms;
    so.bucket_s = e->opt.bucket_ms / 1000;
    so.writer = e->writer;
    so.gpu = e->opt.gpu;
    so.gpu_idle_events = e->opt.gpu_idle_events;
    uo.reader = e->rstore;
    uo.writer = e->writer;
    uo.interval_ms = e->opt.interval_ms;
    if (so.gpu.idle_after_ms <= 0) /* the state's own rule for "no gpu_state given" */
        agg_gpu_state_config_default(&so.gpu);
    uo.free_mem_mb = so.gpu.free_mem_mb;
    if ((r = agg_state_new(&so, &e->state)) < 0 ||
        (r = agg_rollup_new(e->opt.bucket_ms / 1000, e->rstore, e->writer, &e->rollup)) < 0 ||
        (r = agg_usage_new(&uo, &e->usage)) < 0) {
        snprintf(why, why_len, "out of memory");
        goto fail;
    }
    e->next_checkpoint = mon_mono_ms() + e->opt.checkpoint_ms;
    e->next_retention = mon_mono_ms() + FIRST_RETENTION_MS;
    po.interval_ms = e->opt.interval_ms;
    po.timeout_ms = e->opt.timeout_ms;
    po.max_response_bytes = e->opt.max_response_bytes;
    po.max_sockets = e->opt.max_sockets;
    po.on_result = on_result;
    po.on_tick = on_tick;
    po.on_pinned = on_pinned;
    po.tls_ca_file = e->opt.tls_ca_file;
    po.ctx = e;
    if ((r = agg_poller_start(&po, &e->poller, reason, sizeof(reason))) < 0) {
        snprintf(why, why_len, "cannot start the poller: %s", reason);
        goto fail;
    }
    if ((r = load_servers(e, why, why_len)) < 0)
        goto fail;
    if ((r = housekeeper_start(e)) < 0) {
        snprintf(why, why_len, "cannot start the housekeeping thread");
        goto fail;
    }
    *ret = e;
    return MON_OK;
fail:
    agg_poller_stop(e->poller);
    agg_writer_stop(e->writer, 0);
    engine_free(e);
    return r;
}

void agg_engine_stop(struct agg_engine *e)
{
    if (!e)
        return;
    agg_poller_stop(e->poller);
    housekeeper_stop(e);
    agg_rollup_checkpoint(e->rollup);
    agg_usage_checkpoint(e->usage);
    agg_state_persist_seen(e->state);
    agg_state_persist_gpus(e->state);
    agg_writer_stop(e->writer, STOP_DRAIN_MS);
    engine_free(e);
}

void agg_engine_server_upsert(struct agg_engine *e, const struct agg_server *s)
{
    agg_state_server_upsert(e->state, s, mon_mono_ms());
    agg_rollup_server_add(e->rollup, s->id);
    agg_usage_server_add(e->usage, s->id, s->name);
    agg_poller_upsert(e->poller, s);
}

void agg_engine_server_remove(struct agg_engine *e, int64_t id)
{
    agg_poller_remove(e->poller, id);
    agg_state_server_remove(e->state, id);
    agg_rollup_server_remove(e->rollup, id);
    agg_usage_server_remove(e->usage, id);
}

int agg_engine_list_json(struct agg_engine *e, const struct agg_list_query *q, struct mon_buf *out,
                         size_t *ret_matched)
{
    return agg_state_list_json(e->state, q, mon_mono_ms(), out, ret_matched);
}

void agg_engine_counts(struct agg_engine *e, struct agg_state_counts *ret)
{
    agg_state_get_counts(e->state, mon_mono_ms(), ret);
}

cJSON *agg_engine_servers_json(struct agg_engine *e)
{
    return agg_state_servers_json(e->state, mon_mono_ms());
}

cJSON *agg_engine_server_json(struct agg_engine *e, int64_t id)
{
    return agg_state_server_json(e->state, id, mon_mono_ms());
}

int agg_engine_recent_json(struct agg_engine *e, int64_t id, const char *metric, cJSON **ret)
{
    return agg_state_recent_json(e->state, id, metric, mon_utc_ms(), ret);
}

int agg_engine_gpus_json(struct agg_engine *e, const struct agg_gpus_query *q, cJSON **ret)
{
    return agg_state_gpus_json(e->state, q, mon_mono_ms(), ret);
}

int agg_engine_services_json(struct agg_engine *e, int64_t id, cJSON **ret)
{
    return agg_state_services_json(e->state, id, ret);
}

cJSON *agg_engine_health_json(struct agg_engine *e)
{
    struct agg_writer_status ws;
    struct agg_poller_stats ps;
    struct agg_state_counts sc;
    cJSON *root = cJSON_CreateObject(), *db, *poll, *servers;

    if (!root)
        return NULL;
    agg_writer_get_status(e->writer, &ws);
    agg_poller_get_stats(e->poller, &ps);
    agg_state_get_counts(e->state, mon_mono_ms(), &sc);
    cJSON_AddStringToObject(root, "status", ws.db_ok ? "ok" : "degraded");
    db = cJSON_AddObjectToObject(root, "db");
    poll = cJSON_AddObjectToObject(root, "poll");
    servers = cJSON_AddObjectToObject(root, "servers");
    if (!db || !poll || !servers) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddBoolToObject(db, "ok", ws.db_ok);
    if (ws.last_error[0])
        cJSON_AddStringToObject(db, "last_error", ws.last_error);
    else
        cJSON_AddNullToObject(db, "last_error");
    mon_json_add_time(db, "last_error_at", ws.last_error_at);
    cJSON_AddNumberToObject(db, "pending_writes", (double)ws.pending);
    cJSON_AddNumberToObject(db, "dropped_writes", (double)ws.dropped);
    cJSON_AddNumberToObject(db, "writes", (double)ws.written);
    cJSON_AddNumberToObject(db, "transactions", (double)ws.transactions);
    mon_json_add_time(db, "last_write_at", ws.last_success_at);
    mon_json_add_rounded(poll, "interval_s", (double)e->opt.interval_ms / 1000.0, 3);
    cJSON_AddNumberToObject(poll, "lag_ms", (double)ps.lag_ms);
    cJSON_AddBoolToObject(poll, "overloaded", ps.overloaded);
    cJSON_AddNumberToObject(poll, "late_polls", (double)ps.late_polls);
    cJSON_AddNumberToObject(poll, "polls_started", (double)ps.polls_started);
    cJSON_AddNumberToObject(poll, "polls_completed", (double)ps.polls_completed);
    cJSON_AddNumberToObject(poll, "polls_failed", (double)ps.polls_failed);
    mon_json_add_rounded(poll, "polls_in_window_pct", agg_poller_in_window_pct(&ps), 1);
    cJSON_AddNumberToObject(poll, "in_flight", (double)ps.in_flight);
    cJSON_AddNumberToObject(poll, "kept_alive", (double)ps.persistent);
    cJSON_AddNumberToObject(servers, "online", (double)sc.online);
    cJSON_AddNumberToObject(servers, "total", (double)sc.total);
    cJSON_AddNumberToObject(servers, "enabled", (double)sc.enabled);
    for (int i = 0; i < AGG_STATUS_COUNT; i++)
        if (i != AGG_STATUS_ONLINE)
            cJSON_AddNumberToObject(servers, agg_status_name((enum agg_status)i),
                                    (double)sc.by_status[i]);
    return root;
}

int agg_engine_current_bucket(struct agg_engine *e, int64_t server_id, struct agg_hourly_row *ret)
{
    return agg_rollup_current(e->rollup, server_id, mon_utc_ms(), ret);
}

int64_t agg_engine_bucket_s(const struct agg_engine *e)
{
    return agg_rollup_bucket_s(e->rollup);
}

int agg_engine_usage_current(struct agg_engine *e, int64_t server_id, const char *user,
                             struct agg_usage_row **ret_rows, size_t *ret_n, int64_t **ret_servers,
                             size_t *ret_n_servers)
{
    return agg_usage_current(e->usage, mon_utc_ms(), server_id, user, ret_rows, ret_n, ret_servers,
                             ret_n_servers);
}

int agg_engine_checkpoint_now(struct agg_engine *e)
{
    agg_rollup_checkpoint(e->rollup);
    agg_usage_checkpoint(e->usage);
    agg_state_persist_seen(e->state);
    agg_state_persist_gpus(e->state);
    return agg_writer_flush(e->writer, CHECKPOINT_FLUSH_MS);
}
