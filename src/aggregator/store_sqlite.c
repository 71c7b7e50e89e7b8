/* SPDX-License-Identifier: MIT */
/* The SQLite backend's connection: open with the migration runner, close, error mapping, the
 * prepared-statement cache, transactions and the binding helpers its other files use, and its
 * ops table. Each statement is prepared once per connection with bound values only. */
#include "aggregator/store_sqlite.h"

#include "common/err.h"
#include "common/os/os.h"
#include "common/str.h"

#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

int agg_sqlite_map(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MON_EBUSY;
    case SQLITE_NOMEM:
        return MON_ENOMEM;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return MON_EEXIST;
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return MON_ENOENT;
        /* NOT NULL / CHECK: the value is wrong; retrying would not help. */
        return MON_EINVAL;
    default:
        return MON_EIO;
    }
}

int agg_sqlite_fail(struct agg_store *st, int rc)
{
    struct agg_sqlite *c = agg_sqlite_of(st);
    const char *msg = c && c->db ? sqlite3_errmsg(c->db) : NULL;
    mon_strlcpy(st->err, msg && *msg ? msg : sqlite3_errstr(rc), sizeof(st->err));
    return agg_sqlite_map(rc);
}

/* ---- statements ---- */

int agg_sqlite_prepare(struct agg_store *st, sqlite3_stmt **slot, const char *sql,
                       sqlite3_stmt **ret)
{
    if (!*slot) {
        int rc = sqlite3_prepare_v3(agg_sqlite_of(st)->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot,
                                    NULL);
        if (rc != SQLITE_OK) {
            *slot = NULL;
            return agg_sqlite_fail(st, rc);
        }
    }
    *ret = *slot;
    return MON_OK;
}

int agg_sqlite_stmt(struct agg_store *st, enum agg_sqlite_stmt id, sqlite3_stmt **ret)
{
    return agg_sqlite_prepare(st, &agg_sqlite_of(st)->stmts[id], agg_sqlite_stmt_sql[id], ret);
}

void agg_sqlite_release(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

int agg_sqlite_run(struct agg_store *st, enum agg_sqlite_stmt id)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, id, &s), rc;
    if (r < 0)
        return r;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    r = rc == SQLITE_DONE ? MON_OK : agg_sqlite_fail(st, rc);
    agg_sqlite_release(s);
    return r;
}

int agg_sqlite_query_int(struct agg_store *st, enum agg_sqlite_stmt id, int64_t *ret)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, id, &s), rc;
    if (r < 0)
        return r;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *ret = sqlite3_column_int64(s, 0);
        r = MON_OK;
    } else if (rc == SQLITE_DONE) {
        r = agg_store_fail(st, MON_EIO, "no result from: %s", agg_sqlite_stmt_sql[id]);
    } else {
        r = agg_sqlite_fail(st, rc);
    }
    agg_sqlite_release(s);
    return r;
}

int agg_sqlite_step_write(struct agg_store *st, sqlite3_stmt *s, int *ret_changes)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return agg_sqlite_fail(st, rc);
    if (ret_changes)
        *ret_changes = sqlite3_changes(agg_sqlite_of(st)->db);
    return MON_OK;
}

int agg_sqlite_begin(struct agg_store *st)
{
    return agg_sqlite_run(st, S_BEGIN);
}

int agg_sqlite_commit(struct agg_store *st)
{
    return agg_sqlite_run(st, S_COMMIT);
}

void agg_sqlite_rollback(struct agg_store *st)
{
    char keep[AGG_STORE_ERR_LEN];
    if (sqlite3_get_autocommit(agg_sqlite_of(st)->db))
        return;
    memcpy(keep, st->err, sizeof(keep));
    (void)agg_sqlite_run(st, S_ROLLBACK);
    memcpy(st->err, keep, sizeof(keep));
}

int agg_sqlite_collect(struct agg_store *st, sqlite3_stmt *s, size_t elem,
                       agg_sqlite_read_fn read_row, void *ctx, void (*free_item)(void *item),
                       void **ret, size_t *ret_n)
{
    char *list = NULL;
    size_t n = 0, cap = 0;
    int r, rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        void *item;
        r = agg_store_grow(st, (void **)&list, &cap, n + 1, elem);
        if (r < 0)
            goto out;
        item = list + n * elem;
        memset(item, 0, elem);
        r = read_row(st, s, item, ctx);
        if (r < 0)
            goto out;
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = agg_sqlite_fail(st, rc);
        goto out;
    }
    *ret = list;
    *ret_n = n;
    list = NULL;
    r = MON_OK;
out:
    for (size_t i = 0; list && free_item && i < n; i++)
        free_item(list + i * elem);
    free(list);
    return r;
}

/* ---- binding and reading helpers ---- */

int agg_sqlite_bind_text(sqlite3_stmt *s, int i, const char *text)
{
    return text ? sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

int agg_sqlite_bind_array(sqlite3_stmt *s, int i, const char *text, size_t size)
{
    return sqlite3_bind_text(s, i, text, (int)strnlen(text, size), SQLITE_TRANSIENT);
}

int agg_sqlite_bind_array_opt(sqlite3_stmt *s, int i, const char *text, size_t size)
{
    return text[0] ? agg_sqlite_bind_array(s, i, text, size) : sqlite3_bind_null(s, i);
}

int agg_sqlite_bind_opt(sqlite3_stmt *s, int i, bool has, double v)
{
    return has ? sqlite3_bind_double(s, i, v) : sqlite3_bind_null(s, i);
}

static bool col_null(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL;
}

int64_t agg_sqlite_col_int64_or(sqlite3_stmt *s, int i, int64_t when_null)
{
    return col_null(s, i) ? when_null : sqlite3_column_int64(s, i);
}

void agg_sqlite_col_copy(sqlite3_stmt *s, int i, char *dst, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    mon_strlcpy(dst, t ? (const char *)t : "", size);
}

char *agg_sqlite_col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    int n = sqlite3_column_bytes(s, i);
    return mon_strndup(t ? (const char *)t : "", t ? (size_t)n : 0);
}

double agg_sqlite_col_opt(sqlite3_stmt *s, int i, bool *has)
{
    if (col_null(s, i))
        return 0;
    *has = true;
    return sqlite3_column_double(s, i);
}

/* ---- open, migrate, close ---- */

/* Applies every migration above the database's user_version, each in its own transaction
 * that also sets the new user_version. The version is re-read inside the transaction so that
 * two processes opening a new file at once do not apply a migration twice. */
static int migrate(struct agg_store *st)
{
    sqlite3 *db = agg_sqlite_of(st)->db;
    int r;
    for (;;) {
        const struct agg_store_migration *m;
        char set_version[64];
        int64_t version = 0;
        char *msg = NULL;
        int rc;

        r = agg_sqlite_begin(st);
        if (r < 0)
            return r;
        r = agg_sqlite_query_int(st, S_USER_VERSION, &version);
        if (r < 0)
            goto fail;
        if (version >= AGG_STORE_SCHEMA_VERSION)
            return agg_sqlite_commit(st);
        m = &agg_sqlite_migrations[version];
        if (m->version != version + 1 ||
            !agg_sqlite_set_version_sql(m->version, set_version, sizeof(set_version))) {
            r = agg_store_fail(st, MON_EINVAL, "migration list out of order at version %d",
                               (int)version + 1);
            goto fail;
        }
        rc = sqlite3_exec(db, m->sql, NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, set_version, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            agg_store_fail(st, MON_EIO, "migration to schema version %d failed: %s", m->version,
                           msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            r = agg_sqlite_map(rc);
            goto fail;
        }
        r = agg_sqlite_commit(st);
        if (r < 0)
            goto fail;
    }
fail:
    agg_sqlite_rollback(st);
    return r;
}

/* The reason of a failed open, naming the file as the caller knows it. */
static int open_failed(struct agg_store *st, const char *path, int r)
{
    char reason[AGG_STORE_ERR_LEN];
    memcpy(reason, st->err, sizeof(reason));
    agg_store_fail(st, r, "%s: %s", path, reason);
    return r;
}

static int sqlite_open(struct agg_store *st, const char *path, int busy_ms)
{
    struct agg_sqlite *c;
    int64_t version = 0;
    int r, rc;

    r = mon_os_mkdir_parent(path);
    if (r < 0)
        return agg_store_fail(st, r, "cannot create the folder of %s: %s", path, mon_strerror(r));
    r = agg_sqlite_prepare_file(st, path);
    if (r < 0)
        return open_failed(st, path, r);
    c = calloc(1, sizeof(*c));
    if (!c)
        return agg_store_fail(st, MON_ENOMEM, "out of memory");
    st->backend = c;
    rc = sqlite3_open_v2(path, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return open_failed(st, path, agg_sqlite_fail(st, rc));
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, busy_ms);
    rc = sqlite3_exec(c->db, agg_sqlite_open_pragmas, NULL, NULL, NULL);
    if (rc == SQLITE_OK && st->small_cache)
        rc = sqlite3_exec(c->db, agg_sqlite_small_cache_pragma, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return open_failed(st, path, agg_sqlite_fail(st, rc));
    r = agg_sqlite_query_int(st, S_USER_VERSION, &version);
    if (r < 0)
        return open_failed(st, path, r);
    if (version > AGG_STORE_SCHEMA_VERSION) {
        agg_store_fail(st, MON_EUNSUPPORTED,
                       "database schema version %lld is newer than this program (%d)",
                       (long long)version, AGG_STORE_SCHEMA_VERSION);
        return open_failed(st, path, MON_EUNSUPPORTED);
    }
    r = migrate(st);
    if (r < 0)
        return open_failed(st, path, r);
    /* A table or column missing under a current user_version (a hand-edited or half-restored
     * file) would otherwise fail every request that touches it. */
    r = agg_sqlite_schema_check(c->db, AGG_STORE_SCHEMA_VERSION, st->err, sizeof(st->err));
    if (r < 0)
        return open_failed(st, path, r);
    return MON_OK;
}

static void sqlite_close(struct agg_store *st)
{
    struct agg_sqlite *c = agg_sqlite_of(st);
    if (!c)
        return;
    for (size_t i = 0; i < S__COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    for (size_t m = 0; m < AGG_METRIC_COUNT; m++)
        for (size_t a = 0; a < AGG_METRIC_AGG_COUNT; a++)
            sqlite3_finalize(c->ts_stmts[m][a]);
    sqlite3_close(c->db);
    free(c);
    st->backend = NULL;
}

static void sqlite_interrupt(struct agg_store *st)
{
    struct agg_sqlite *c = agg_sqlite_of(st);
    /* sqlite3_interrupt is the one call SQLite allows from another thread during a step. */
    if (c && c->db)
        sqlite3_interrupt(c->db);
}

/* Any `database:` value is a file path to SQLite. */
static bool sqlite_accepts(const char *database)
{
    (void)database;
    return true;
}

const struct agg_store_ops agg_store_sqlite_ops = {
    .name = "sqlite",
    .in_file = true,
    .accepts = sqlite_accepts,
    .open = sqlite_open,
    .close = sqlite_close,
    .stats = agg_sqlite_stats,
    .server_list = agg_sqlite_server_list,
    .server_get = agg_sqlite_server_get,
    .server_get_by_name = agg_sqlite_server_get_by_name,
    .server_insert = agg_sqlite_server_insert,
    .server_update = agg_sqlite_server_update,
    .server_set_pin = agg_sqlite_server_set_pin,
    .server_delete = agg_sqlite_server_delete,
    .seed_import = agg_sqlite_seed_import,
    .server_seen = agg_sqlite_server_seen,
    .unit_states_load = agg_sqlite_unit_states_load,
    .unit_state_save = agg_sqlite_unit_state_save,
    .gpu_states_load = agg_sqlite_gpu_states_load,
    .gpu_state_save = agg_sqlite_gpu_state_save,
    .event_add = agg_sqlite_event_add,
    .events_query = agg_sqlite_events_query,
    .service_status_add = agg_sqlite_service_status_add,
    .hourly_upsert = agg_sqlite_hourly_upsert,
    .hourly_get = agg_sqlite_hourly_get,
    .gpu_hourly_get = agg_sqlite_gpu_hourly_get,
    .disk_hourly_get = agg_sqlite_disk_hourly_get,
    .timeseries = agg_sqlite_timeseries,
    .usage_upsert = agg_sqlite_usage_upsert,
    .usage_hour_get = agg_sqlite_usage_hour_get,
    .usage_query = agg_sqlite_usage_query,
    .usage_timeseries = agg_sqlite_usage_timeseries,
    .usage_retention = agg_sqlite_usage_retention,
    .retention = agg_sqlite_retention,
    .vacuum = agg_sqlite_vacuum,
    .tx_begin = agg_sqlite_begin,
    .tx_commit = agg_sqlite_commit,
    .tx_rollback = agg_sqlite_rollback,
    .check = agg_sqlite_check,
    .backup_to = agg_sqlite_backup_to,
    .restore_check = agg_sqlite_restore_check,
    .restrict_files = agg_sqlite_restrict_files,
    .interrupt = sqlite_interrupt,
    .table_info = agg_sqlite_table_info,
    .copy_out = agg_sqlite_copy_out,
};
