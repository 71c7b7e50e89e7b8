/* SPDX-License-Identifier: MIT */
/* The PostgreSQL backend's connection: open (libpq conninfo from the URI, the password of
 * database_password_file, safe defaults for timeouts), the migration runner, reconnecting
 * after the server restarted or ended the session, the mapping of SQLSTATEs onto MON_E*, and
 * its ops table. Running statements is store_pg_exec.c's. */
#include "aggregator/store_pg.h"

#include "aggregator/dbname.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

/* Copies libpq's text into st->err on one line ("could not connect...\n\tIs the server
 * running...?" becomes "could not connect... Is the server running...?"). */
static void set_reason(struct agg_store *st, const char *prefix, const char *msg)
{
    size_t len = 0;
    bool space = false;
    int n = snprintf(st->err, sizeof(st->err), "%s", prefix);

    len = n > 0 ? (size_t)n : 0;
    if (len >= sizeof(st->err))
        return;
    for (const char *p = msg ? msg : ""; *p && len + 1 < sizeof(st->err); p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            space = len > 0;
            continue;
        }
        if (space && len + 2 < sizeof(st->err))
            st->err[len++] = ' ';
        space = false;
        st->err[len++] = *p;
    }
    st->err[len] = '\0';
    if (!st->err[0])
        mon_strlcpy(st->err, "database error", sizeof(st->err));
}

/* MON_E* for a SQLSTATE (NULL: no answer from the server, the connection failed). */
static int map_sqlstate(const char *state)
{
    if (!state || strlen(state) != 5)
        return MON_EIO;
    if (strcmp(state, "23505") == 0)
        return MON_EEXIST;
    if (strcmp(state, "23503") == 0)
        return MON_ENOENT;
    /* lock_not_available (lock_timeout), serialization failure, deadlock: try again. */
    if (strcmp(state, "55P03") == 0 || strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return MON_EBUSY;
    if (strcmp(state, "57014") == 0) /* statement_timeout */
        return MON_ETIMEDOUT;
    if (strcmp(state, "53200") == 0)
        return MON_ENOMEM;
    /* NOT NULL, CHECK, and data exceptions (a value the column cannot take): not retried. */
    if (strcmp(state, "23502") == 0 || strcmp(state, "23514") == 0 || strncmp(state, "22", 2) == 0)
        return MON_EINVAL;
    /* Connection exceptions, shutdowns, disk full, anything else: the writer retries. */
    return MON_EIO;
}

int agg_pg_fail(struct agg_store *st, PGresult *res)
{
    struct agg_pg *c = agg_pg_of(st);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    int r = map_sqlstate(state);

    if (primary && *primary)
        set_reason(st, "", primary);
    else
        set_reason(st, "", c && c->conn ? PQerrorMessage(c->conn) : "no connection");
    /* A row whose month has no partition (dropped by someone else): forget what we knew and
     * let the writer's retry create it. */
    if (state && strcmp(state, "23514") == 0 && primary &&
        strncmp(primary, "no partition of relation", 24) == 0) {
        agg_pg_partitions_forget(st);
        r = MON_EIO;
    }
    PQclear(res);
    return r;
}

bool agg_pg_lost(struct agg_store *st)
{
    struct agg_pg *c = agg_pg_of(st);
    return c && c->conn && !c->loading && PQstatus(c->conn) == CONNECTION_BAD;
}

/* ---- connection ---- */

/* Settings for each new session: the lock timeout is the store's busy time. */
static int session_setup(struct agg_store *st)
{
    struct agg_pg *c = agg_pg_of(st);
    char sql[256];
    if (!agg_pg_session_sql(c->busy_ms > 0 ? c->busy_ms : 1, sql, sizeof(sql)))
        return agg_store_fail(st, MON_EINVAL, "session statement too long");
    return agg_pg_run(st, sql);
}

/* Takes the instance lock on the current session. */
static int take_instance_lock(struct agg_store *st)
{
    PGresult *res = PQexec(agg_pg_of(st)->conn, agg_pg_instance_lock_sql);
    int64_t got = 0;
    /* Straight to libpq: agg_pg_ready calls this, the helpers call agg_pg_ready. */
    int r = agg_pg_finish(st, res, &res);
    if (r < 0)
        return r;
    got = PQntuples(res) > 0 ? agg_pg_int64_or(res, 0, 0, 0) : 0;
    PQclear(res);
    if (!got)
        return agg_store_fail(st, MON_EBUSY,
                              "another monitor-aggregator is running on the database %s",
                              agg_pg_of(st)->display);
    agg_pg_of(st)->instance_lock = true;
    agg_pg_of(st)->instance_lock_held = true;
    return MON_OK;
}

int agg_pg_ready(struct agg_store *st)
{
    struct agg_pg *c = agg_pg_of(st);
    int r;

    if (PQstatus(c->conn) == CONNECTION_OK) {
        /* Lost to another aggregator at a reconnect: nothing is written until it is ours. */
        if (c->instance_lock && !c->instance_lock_held && !c->in_tx)
            return take_instance_lock(st);
        return MON_OK;
    }
    /* Never continue a transaction on a new session: the old one's work is gone. */
    if (c->in_tx)
        return agg_store_fail(st, MON_EIO, "connection to the database lost in a transaction");
    /* Right after a failed attempt, fail at once with its reason instead of waiting for the
     * server again (an API request should not wait connect_timeout each time). */
    if (mon_mono_ms() < c->reconnect_after) {
        mon_strlcpy(st->err, c->reconnect_error, sizeof(st->err));
        return MON_EIO;
    }
    /* The server restarted, ended the session or the network dropped it: a new session
     * with the same parameters. Its statements are prepared again on first use. */
    PQreset(c->conn);
    c->instance_lock_held = false;
    memset(c->prepared, 0, sizeof(c->prepared));
    memset(c->ts_prepared, 0, sizeof(c->ts_prepared));
    if (PQstatus(c->conn) != CONNECTION_OK) {
        set_reason(st, "", PQerrorMessage(c->conn));
        mon_strlcpy(c->reconnect_error, st->err, sizeof(c->reconnect_error));
        c->reconnect_after = mon_mono_ms() + AGG_PG_RECONNECT_HOLDOFF_MS;
        return MON_EIO;
    }
    r = session_setup(st);
    if (r == MON_OK && c->instance_lock)
        r = take_instance_lock(st);
    return r;
}

/* The result of an exec: MON_OK with *ret (or cleared), or the failure recorded. */
/* ---- open, migrations, close ---- */

/* Takes the schema to AGG_STORE_SCHEMA_VERSION, one migration per transaction, with the
 * migration lock held so that concurrent openers migrate once. */
static int migrate(struct agg_store *st)
{
    int r;
    for (;;) {
        const struct agg_store_migration *m;
        struct agg_pg_params p = {0};
        int64_t version = 0;

        r = agg_pg_begin(st);
        if (r < 0)
            return r;
        if ((r = agg_pg_run(st, agg_pg_migration_lock_sql)) < 0 ||
            (r = agg_pg_run(st, agg_pg_version_table_sql)) < 0 ||
            (r = agg_pg_query_int(st, agg_pg_version_get_sql, NULL, &version)) < 0)
            goto fail;
        if (version > AGG_STORE_SCHEMA_VERSION) {
            r = agg_store_fail(st, MON_EUNSUPPORTED,
                               "database schema version %lld is newer than this program (%d)",
                               (long long)version, AGG_STORE_SCHEMA_VERSION);
            goto fail;
        }
        if (version == AGG_STORE_SCHEMA_VERSION)
            return agg_pg_commit(st);
        m = &agg_pg_migrations[version];
        if (m->version != version + 1) {
            r = agg_store_fail(st, MON_EINVAL, "migration list out of order at version %d",
                               (int)version + 1);
            goto fail;
        }
        r = agg_pg_run(st, m->sql);
        if (r < 0) {
            char reason[AGG_STORE_ERR_LEN];
            memcpy(reason, st->err, sizeof(reason));
            agg_store_fail(st, r, "migration to schema version %d failed: %s", m->version, reason);
            goto fail;
        }
        agg_pg_param_int(&p, m->version);
        r = agg_pg_exec_sql(st, agg_pg_version_set_sql, &p, NULL);
        if (r < 0)
            goto fail;
        r = agg_pg_commit(st);
        if (r < 0)
            return r;
    }
fail:
    agg_pg_rollback(st);
    return r;
}

int agg_pg_schema_check(struct agg_store *st)
{
    for (size_t i = 0; i < AGG_STORE_TABLE_COUNT; i++) {
        char sql[1024], reason[AGG_STORE_ERR_LEN];
        int r;
        if (!agg_pg_columns_probe_sql(&agg_store_tables[i], sql, sizeof(sql)))
            return agg_store_fail(st, MON_EINVAL, "statement too long");
        r = agg_pg_run(st, sql);
        if (r == MON_OK)
            continue;
        if (PQstatus(agg_pg_of(st)->conn) != CONNECTION_OK)
            return r;
        memcpy(reason, st->err, sizeof(reason));
        return agg_store_fail(st, MON_EIO, "schema check: %s", reason);
    }
    return MON_OK;
}

/* Discards libpq's notices (they would go to stderr); the session asks for warnings only. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The reason of a failed open, naming the database without its password. */
static int open_failed(struct agg_store *st, int r)
{
    char reason[AGG_STORE_ERR_LEN];
    memcpy(reason, st->err, sizeof(reason));
    agg_store_fail(st, r, "%s: %s", agg_pg_of(st)->display, reason);
    return r;
}

/* Bounded waits for a connection: libpq waits forever by default. Keywords placed before the
 * URI, so that the URI's own settings win. */
static const char *const default_keys[] = {"connect_timeout",     "keepalives_idle",
                                           "keepalives_interval", "keepalives_count",
                                           "tcp_user_timeout",    "fallback_application_name"};
static const char *const default_values[] = {"10", "30", "10", "3", "60000", "monitor-aggregator"};

static int pg_open(struct agg_store *st, const char *database, int busy_ms)
{
    const char *keys[16], *values[16];
    char *uri = NULL;
    struct agg_pg *c;
    size_t n = 0;
    int r;

    c = calloc(1, sizeof(*c));
    if (!c)
        return agg_store_fail(st, MON_ENOMEM, "out of memory");
    st->backend = c;
    c->busy_ms = busy_ms;
    agg_db_display(database, c->display, sizeof(c->display));
    /* libpq knows the scheme in lower case only ("PostgreSQL://" is ours to accept). */
    uri = mon_strndup(database, strlen(database));
    if (!uri)
        return agg_store_fail(st, MON_ENOMEM, "out of memory");
    for (char *p = uri; *p && *p != ':'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    for (size_t i = 0; i < sizeof(default_keys) / sizeof(default_keys[0]); i++) {
        keys[n] = default_keys[i];
        values[n++] = default_values[i];
    }
    if (st->password) {
        /* Before the URI: a password written in the URI wins, as in any libpq program. */
        keys[n] = "password";
        values[n++] = st->password;
    }
    keys[n] = "dbname";
    values[n++] = uri;
    keys[n] = NULL;
    values[n] = NULL;
    c->conn = PQconnectdbParams(keys, values, 1);
    free(uri);
    if (!c->conn)
        return agg_store_fail(st, MON_ENOMEM, "%s: out of memory", c->display);
    PQsetNoticeProcessor(c->conn, ignore_notice, NULL);
    if (PQstatus(c->conn) != CONNECTION_OK) {
        set_reason(st, "", PQerrorMessage(c->conn));
        return open_failed(st, MON_EIO);
    }
    r = session_setup(st);
    if (r == MON_OK && st->require_empty)
        r = agg_pg_check_empty(st);
    if (r == MON_OK)
        r = migrate(st);
    if (r == MON_OK)
        r = agg_pg_schema_check(st);
    /* This month and the next two, so that a new month never waits for its partition. */
    if (r == MON_OK)
        r = agg_pg_partitions_ahead(st, mon_utc_ms() / 1000, 2);
    return r < 0 ? open_failed(st, r) : MON_OK;
}

static void pg_close(struct agg_store *st)
{
    struct agg_pg *c = agg_pg_of(st);
    if (!c)
        return;
    PQfinish(c->conn);
    mon_buf_done(&c->copy);
    free(c);
    st->backend = NULL;
}

static bool pg_accepts(const char *database)
{
    return agg_db_kind_of(database) == AGG_DB_POSTGRES;
}

static int pg_lock_instance(struct agg_store *st)
{
    int r = agg_pg_ready(st);
    return r < 0 ? r : take_instance_lock(st);
}

const struct agg_store_ops agg_store_pg_ops = {
    .name = "postgresql",
    .accepts = pg_accepts,
    .open = pg_open,
    .close = pg_close,
    .stats = agg_pg_stats,
    .server_list = agg_pg_server_list,
    .server_get = agg_pg_server_get,
    .server_get_by_name = agg_pg_server_get_by_name,
    .server_insert = agg_pg_server_insert,
    .server_update = agg_pg_server_update,
    .server_set_pin = agg_pg_server_set_pin,
    .server_delete = agg_pg_server_delete,
    .seed_import = agg_pg_seed_import,
    .server_seen = agg_pg_server_seen,
    .unit_states_load = agg_pg_unit_states_load,
    .unit_state_save = agg_pg_unit_state_save,
    .gpu_states_load = agg_pg_gpu_states_load,
    .gpu_state_save = agg_pg_gpu_state_save,
    .event_add = agg_pg_event_add,
    .events_query = agg_pg_events_query,
    .service_status_add = agg_pg_service_status_add,
    .hourly_upsert = agg_pg_hourly_upsert,
    .hourly_get = agg_pg_hourly_get,
    .gpu_hourly_get = agg_pg_gpu_hourly_get,
    .disk_hourly_get = agg_pg_disk_hourly_get,
    .timeseries = agg_pg_timeseries,
    .usage_upsert = agg_pg_usage_upsert,
    .usage_hour_get = agg_pg_usage_hour_get,
    .usage_query = agg_pg_usage_query,
    .usage_timeseries = agg_pg_usage_timeseries,
    .usage_retention = agg_pg_usage_retention,
    .retention = agg_pg_retention,
    .vacuum = agg_pg_vacuum,
    .tx_begin = agg_pg_begin,
    .tx_commit = agg_pg_commit,
    .tx_rollback = agg_pg_rollback,
    .check = agg_pg_check,
    .backup_to = agg_pg_backup_to,
    .restore_check = agg_pg_restore_check,
    .lock_instance = pg_lock_instance,
    .load_begin = agg_pg_load_begin,
    .load_table_begin = agg_pg_load_table_begin,
    .load_row = agg_pg_load_row,
    .load_table_end = agg_pg_load_table_end,
    .load_end = agg_pg_load_end,
};
