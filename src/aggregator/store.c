/* SPDX-License-Identifier: MIT */
/* The backend-neutral side of the store: picks the backend from the `database:` value, checks
 * arguments, serialises each connection with its lock and keeps the reason of its last
 * failure. The SQL lives in the backends (store_sqlite*.c, store_pg*.c). */
#include "aggregator/store.h"

#include "aggregator/dbname.h"
#include "aggregator/metric.h"
#include "aggregator/store_backend.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MON_HAVE_LIBPQ
/* A build without libpq (Windows): a postgresql:// database is refused with the reason
 * instead of being taken for a file name. The configuration refuses it first (dbname.h). */
static bool pg_missing_accepts(const char *database)
{
    return agg_db_kind_of(database) == AGG_DB_POSTGRES;
}

static int pg_missing_open(struct agg_store *st, const char *database, int busy_ms)
{
    (void)database;
    (void)busy_ms;
    return agg_store_fail(st, MON_EUNSUPPORTED,
                          "this build of monitor-aggregator has no PostgreSQL support (Windows "
                          "builds use SQLite; run the aggregator on Linux for PostgreSQL)");
}

static void pg_missing_close(struct agg_store *st)
{
    (void)st;
}

static int pg_missing_restore_check(const char *src, char *why, size_t why_len)
{
    (void)src;
    agg_store_why(why, why_len, "this build of monitor-aggregator has no PostgreSQL support");
    return MON_EUNSUPPORTED;
}

const struct agg_store_ops agg_store_pg_missing_ops = {
    .name = "postgresql",
    .accepts = pg_missing_accepts,
    .open = pg_missing_open,
    .close = pg_missing_close,
    .restore_check = pg_missing_restore_check,
};
#endif

/* Tried in order: the first whose accepts() takes the `database:` value serves it. SQLite
 * takes any path, so a backend with a URI scheme goes before it. */
static const struct agg_store_ops *const backends[] = {
#ifdef MON_HAVE_LIBPQ
    &agg_store_pg_ops,
#else
    &agg_store_pg_missing_ops,
#endif
    &agg_store_sqlite_ops,
};

static const struct agg_store_ops *backend_for(const char *database)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (backends[i]->accepts(database))
            return backends[i];
    return NULL;
}

void agg_store_why(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (!why || !why_len)
        return;
    va_start(ap, fmt);
    /* A truncated reason is still a useful reason. */
    if (vsnprintf(why, why_len, fmt, ap) < 0)
        why[0] = '\0';
    va_end(ap);
}

int agg_store_fail(struct agg_store *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(st->err, sizeof(st->err), fmt, ap) < 0)
        st->err[0] = '\0';
    va_end(ap);
    return code;
}

/* Records the reason for a refused argument (taking the lock) and returns MON_EINVAL. */
static int arg_error(struct agg_store *st, const char *what)
{
    pthread_mutex_lock(&st->lock);
    agg_store_fail(st, MON_EINVAL, "invalid argument: %s", what);
    pthread_mutex_unlock(&st->lock);
    return MON_EINVAL;
}

static int64_t now_s(void)
{
    return mon_utc_ms() / 1000;
}

/* ---- open, close, errors ---- */

int agg_store_schema_version(void)
{
    return AGG_STORE_SCHEMA_VERSION;
}

int agg_store_open(const char *path, int busy_ms, struct agg_store **ret, char *why, size_t why_len)
{
    return agg_store_open_ex(path, NULL, busy_ms, 0, ret, why, why_len);
}

int agg_store_open_ex(const char *database, const char *password, int busy_ms, unsigned flags,
                      struct agg_store **ret, char *why, size_t why_len)
{
    const struct agg_store_ops *ops;
    struct agg_store *st;
    int r;

    agg_store_why(why, why_len, "%s", "");
    if (!database || !*database || !ret || busy_ms < 0) {
        agg_store_why(why, why_len, "invalid arguments");
        return MON_EINVAL;
    }
    ops = backend_for(database);
    if (!ops) {
        agg_store_why(why, why_len, "no storage backend for this database");
        return MON_EUNSUPPORTED;
    }
    if ((flags & AGG_STORE_OPEN_REQUIRE_EMPTY) && !ops->load_begin) {
        agg_store_why(why, why_len, "a %s database cannot be the target of a copy", ops->name);
        return MON_EUNSUPPORTED;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        agg_store_why(why, why_len, "out of memory");
        return MON_ENOMEM;
    }
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st);
        agg_store_why(why, why_len, "cannot create a mutex");
        return MON_ESYS;
    }
    st->ops = ops;
    st->password = password;
    st->require_empty = (flags & AGG_STORE_OPEN_REQUIRE_EMPTY) != 0;
    st->small_cache = (flags & AGG_STORE_OPEN_SMALL_CACHE) != 0;
    r = ops->open(st, database, busy_ms);
    st->password = NULL; /* the backend keeps what it needs to reconnect */
    if (r < 0) {
        agg_store_why(why, why_len, "%s", st->err);
        agg_store_close(st);
        return r;
    }
    st->err[0] = '\0';
    *ret = st;
    return MON_OK;
}

void agg_store_close(struct agg_store *st)
{
    if (!st)
        return;
    st->ops->close(st);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

bool agg_store_in_file(const char *database)
{
    const struct agg_store_ops *ops = database ? backend_for(database) : NULL;
    return ops && ops->in_file;
}

int agg_store_restrict_files(const char *database, char *done, size_t done_len)
{
    const struct agg_store_ops *ops = database ? backend_for(database) : NULL;
    agg_store_why(done, done_len, "%s", "");
    if (!ops || !ops->restrict_files)
        return MON_OK;
    return ops->restrict_files(database, done, done_len);
}

void agg_store_interrupt(struct agg_store *st)
{
    /* Deliberately without st->lock: the call to interrupt holds it. */
    if (st && st->ops->interrupt)
        st->ops->interrupt(st);
}

const char *agg_store_backend_name(const struct agg_store *st)
{
    return st ? st->ops->name : "";
}

int agg_store_lock_instance(struct agg_store *st, char *why, size_t why_len)
{
    int r;
    agg_store_why(why, why_len, "%s", "");
    if (!st->ops->lock_instance) {
        agg_store_why(why, why_len, "%s databases are locked by the caller", st->ops->name);
        return MON_EUNSUPPORTED;
    }
    pthread_mutex_lock(&st->lock);
    r = st->ops->lock_instance(st);
    if (r < 0)
        agg_store_why(why, why_len, "%s", st->err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

const char *agg_store_last_error(struct agg_store *st)
{
    if (!st)
        return "";
    pthread_mutex_lock(&st->lock);
    memcpy(st->err_out, st->err, sizeof(st->err_out));
    pthread_mutex_unlock(&st->lock);
    return st->err_out;
}

int agg_store_stats(struct agg_store *st, char **ret_json)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->stats(st, ret_json);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* ---- servers ---- */

int agg_store_server_list(struct agg_store *st, struct agg_server **ret, size_t *ret_n)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->server_list(st, ret, ret_n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_server_get(struct agg_store *st, int64_t id, struct agg_server *ret)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->server_get(st, id, ret);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_server_get_by_name(struct agg_store *st, const char *name, struct agg_server *ret)
{
    int r;
    if (!name)
        return arg_error(st, "server name is NULL");
    pthread_mutex_lock(&st->lock);
    r = st->ops->server_get_by_name(st, name, ret);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_server_insert(struct agg_store *st, const struct agg_server *in, int64_t *ret_id)
{
    int64_t id = 0;
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->server_insert(st, in, now_s(), &id);
    pthread_mutex_unlock(&st->lock);
    if (r == MON_OK && ret_id)
        *ret_id = id;
    return r;
}

int agg_store_server_update(struct agg_store *st, const struct agg_server *in)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->server_update(st, in);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_server_set_pin(struct agg_store *st, int64_t id, const char *pin, bool *ret_set)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->server_set_pin(st, id, pin, ret_set);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_server_delete(struct agg_store *st, int64_t id)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->server_delete(st, id, now_s());
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_seed_import(struct agg_store *st, const struct agg_server *seed, bool *ret_imported,
                          int64_t *ret_id)
{
    bool imported = false;
    int64_t id = 0;
    int r;

    pthread_mutex_lock(&st->lock);
    if (!seed || !seed->name)
        r = agg_store_fail(st, MON_EINVAL, "seed server without a name");
    else
        r = st->ops->seed_import(st, seed, now_s(), &imported, &id);
    pthread_mutex_unlock(&st->lock);
    if (r < 0)
        return r;
    if (ret_imported)
        *ret_imported = imported;
    if (ret_id)
        *ret_id = id;
    return r;
}

int agg_store_server_seen(struct agg_store *st, int64_t id, int64_t last_seen_at, int online)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->server_seen(st, id, last_seen_at, online < 0 ? -1 : online ? 1 : 0);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* ---- unit states, events, service status ---- */

int agg_store_unit_states_load(struct agg_store *st, int64_t server_id, struct agg_unit_state **ret,
                               size_t *ret_n)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->unit_states_load(st, server_id, ret, ret_n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_unit_state_save(struct agg_store *st, int64_t server_id,
                              const struct agg_unit_state *u)
{
    int r;
    if (!u || !u->name[0])
        return arg_error(st, "unit state without a unit name");
    pthread_mutex_lock(&st->lock);
    r = st->ops->unit_state_save(st, server_id, u);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_gpu_states_load(struct agg_store *st, int64_t server_id,
                              struct agg_gpu_state_row **ret, size_t *ret_n)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->gpu_states_load(st, server_id, ret, ret_n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_gpu_state_save(struct agg_store *st, int64_t server_id,
                             const struct agg_gpu_state_row *g)
{
    int r;
    if (!g || g->gpu_index < 0)
        return arg_error(st, "GPU state without a GPU index");
    pthread_mutex_lock(&st->lock);
    r = st->ops->gpu_state_save(st, server_id, g);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_event_add(struct agg_store *st, const struct agg_event *ev)
{
    int r;
    if (!ev || !ev->type[0])
        return arg_error(st, "event without a type");
    pthread_mutex_lock(&st->lock);
    r = st->ops->event_add(st, ev);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_events_query(struct agg_store *st, int64_t server_id, const char *type,
                           int64_t before_id, int limit, struct agg_event **ret, size_t *ret_n)
{
    int r;
    if (limit < 1 || limit > 1000)
        return arg_error(st, "events limit outside 1..1000");
    pthread_mutex_lock(&st->lock);
    r = st->ops->events_query(st, server_id, type, before_id, limit, ret, ret_n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_service_status_add(struct agg_store *st, int64_t server_id, int64_t ts,
                                 const char *unit, const char *active_state, const char *sub_state)
{
    int r;
    if (!unit || !*unit)
        return arg_error(st, "service status without a unit name");
    pthread_mutex_lock(&st->lock);
    r = st->ops->service_status_add(st, server_id, ts, unit, active_state, sub_state);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* ---- hourly history ---- */

int agg_store_hourly_upsert(struct agg_store *st, const struct agg_hourly_row *rows, size_t n,
                            const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                            const struct agg_disk_hourly_row *disks, size_t n_disks)
{
    int r;
    if ((n && !rows) || (n_gpus && !gpus) || (n_disks && !disks))
        return arg_error(st, "hourly rows missing");
    pthread_mutex_lock(&st->lock);
    r = st->ops->hourly_upsert(st, rows, n, gpus, n_gpus, disks, n_disks);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                         struct agg_hourly_row *ret)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->hourly_get(st, server_id, ts, ret);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_gpu_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                             struct agg_gpu_hourly_row **ret, size_t *ret_n)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->gpu_hourly_get(st, server_id, ts, ret, ret_n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_disk_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                              struct agg_disk_hourly_row **ret, size_t *ret_n)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->disk_hourly_get(st, server_id, ts, ret, ret_n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_timeseries(struct agg_store *st, int64_t server_id, const char *metric,
                         const char *agg, int64_t from, int64_t to, struct agg_point **ret,
                         size_t *ret_n)
{
    const struct agg_metric *m = agg_metric_find(metric);
    enum agg_metric_agg a = AGG_METRIC_AVG;
    int r;

    pthread_mutex_lock(&st->lock);
    if (!m || agg_metric_agg_find(agg, &a) < 0)
        r = agg_store_fail(st, MON_EINVAL, "unknown metric or aggregate");
    else
        r = st->ops->timeseries(st, server_id, m, a, from, to, ret, ret_n);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* ---- retention and care ---- */

int agg_store_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted)
{
    int64_t deleted = 0;
    int r;
    pthread_mutex_lock(&st->lock);
    r = st->ops->retention(st, cutoff, &deleted);
    pthread_mutex_unlock(&st->lock);
    if (r == MON_OK && ret_deleted)
        *ret_deleted = deleted;
    return r;
}

/* An op that takes nothing but the connection, with the lock held. */
static int run_locked(struct agg_store *st, int (*op)(struct agg_store *st))
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = op(st);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_tx_begin(struct agg_store *st)
{
    return st->ops->tx_begin ? run_locked(st, st->ops->tx_begin) : MON_EUNSUPPORTED;
}

int agg_store_tx_commit(struct agg_store *st)
{
    return run_locked(st, st->ops->tx_commit);
}

void agg_store_tx_rollback(struct agg_store *st)
{
    pthread_mutex_lock(&st->lock);
    st->ops->tx_rollback(st);
    pthread_mutex_unlock(&st->lock);
}

int agg_store_vacuum(struct agg_store *st)
{
    return run_locked(st, st->ops->vacuum);
}

int agg_store_check(struct agg_store *st, char *why, size_t why_len)
{
    int r;
    agg_store_why(why, why_len, "%s", "");
    pthread_mutex_lock(&st->lock);
    r = st->ops->check(st);
    if (r < 0)
        agg_store_why(why, why_len, "%s", st->err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* ---- backup and restore ---- */

int agg_store_backup_to(struct agg_store *st, const char *dest_path, char *why, size_t why_len)
{
    agg_store_why(why, why_len, "%s", "");
    if (!st || !dest_path || !*dest_path) {
        agg_store_why(why, why_len, "invalid arguments");
        return MON_EINVAL;
    }
    return st->ops->backup_to(st, dest_path, why, why_len);
}

int agg_store_restore_check(const char *src_path, char *why, size_t why_len)
{
    const struct agg_store_ops *ops;

    agg_store_why(why, why_len, "%s", "");
    if (!src_path || !*src_path) {
        agg_store_why(why, why_len, "invalid arguments");
        return MON_EINVAL;
    }
    ops = backend_for(src_path);
    if (!ops) {
        agg_store_why(why, why_len, "no storage backend for this database");
        return MON_EUNSUPPORTED;
    }
    return ops->restore_check(src_path, why, why_len);
}
