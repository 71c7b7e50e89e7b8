/* SPDX-License-Identifier: MIT */
/* The aggregator's SQLite storage: schema migrations, servers, events, unit states, hourly history,
 * timeseries and retention, each statement prepared once per connection with bound values only. */
#include "aggregator/store.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/os/os.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ordered schema migrations: migrations[i] takes user_version i to i + 1 inside one transaction
 * and ends by setting the new user_version. Never edit a released entry; append a new one. */
static const char *const migrations[] = {
    /* 1: the initial schema (auto_vacuum is set by agg_store_open, outside any transaction). */
    "CREATE TABLE servers ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " host TEXT NOT NULL,"
    " agent_port INTEGER NOT NULL DEFAULT 9109,"
    " enabled INTEGER NOT NULL DEFAULT 1,"
    " services TEXT NOT NULL DEFAULT '[]',"
    " token TEXT NOT NULL,"
    " last_seen_at INTEGER,"
    " created_at INTEGER NOT NULL,"
    " last_online INTEGER);"
    "CREATE TABLE samples_hourly ("
    " id INTEGER PRIMARY KEY,"
    " server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
    " ts INTEGER NOT NULL,"
    " samples INTEGER NOT NULL,"
    " cpu_pct_avg REAL, cpu_pct_max REAL, cpu_pct_min REAL,"
    " mem_used_pct_avg REAL, mem_used_pct_max REAL, mem_used_pct_min REAL,"
    " disk_used_pct REAL, disk_used_pct_max REAL, disk_used_pct_min REAL,"
    " disk_used_bytes INTEGER, disk_total_bytes INTEGER,"
    " gpu_util_pct_avg REAL, gpu_util_pct_max REAL, gpu_util_pct_min REAL,"
    " gpu_mem_used_mb INTEGER, gpu_mem_total_mb INTEGER,"
    " gpu_mem_used_mb_max INTEGER, gpu_mem_used_mb_min INTEGER,"
    " UNIQUE(server_id, ts));"
    "CREATE INDEX samples_hourly_ts ON samples_hourly(ts);"
    "CREATE TABLE gpu_samples_hourly ("
    " id INTEGER PRIMARY KEY,"
    " server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
    " ts INTEGER NOT NULL,"
    " gpu_index INTEGER NOT NULL,"
    " uuid TEXT, name TEXT,"
    " samples INTEGER NOT NULL,"
    " util_pct_avg REAL, util_pct_max REAL,"
    " mem_used_mb_avg REAL, mem_used_mb_max REAL, mem_total_mb REAL,"
    " temp_c_max REAL, power_w_avg REAL,"
    " UNIQUE(server_id, ts, gpu_index));"
    "CREATE INDEX gpu_samples_hourly_ts ON gpu_samples_hourly(ts);"
    "CREATE TABLE disk_samples_hourly ("
    " id INTEGER PRIMARY KEY,"
    " server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
    " ts INTEGER NOT NULL,"
    " mount TEXT NOT NULL,"
    " samples INTEGER NOT NULL,"
    " used_pct_avg REAL, used_pct_max REAL, used_pct REAL,"
    " used_bytes INTEGER, total_bytes INTEGER,"
    " UNIQUE(server_id, ts, mount));"
    "CREATE INDEX disk_samples_hourly_ts ON disk_samples_hourly(ts);"
    "CREATE TABLE service_status ("
    " id INTEGER PRIMARY KEY,"
    " server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
    " ts INTEGER NOT NULL,"
    " unit_name TEXT NOT NULL,"
    " active_state TEXT, sub_state TEXT);"
    "CREATE INDEX service_status_server_ts ON service_status(server_id, ts DESC);"
    "CREATE INDEX service_status_ts ON service_status(ts);"
    "CREATE TABLE unit_states ("
    " server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
    " unit_name TEXT NOT NULL,"
    " active_state TEXT, sub_state TEXT,"
    " since INTEGER,"
    " PRIMARY KEY(server_id, unit_name));"
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " server_id INTEGER REFERENCES servers(id) ON DELETE SET NULL,"
    " server_name TEXT NOT NULL,"
    " ts INTEGER NOT NULL,"
    " type TEXT NOT NULL,"
    " message TEXT NOT NULL);"
    "CREATE INDEX events_ts ON events(ts DESC);"
    "CREATE INDEX events_server_id ON events(server_id, id DESC);"
    "PRAGMA user_version = 1;",
    /* 2: names of config-file servers already imported, so that a server deleted in the UI
     * is not re-created from config.yaml at the next start. */
    "CREATE TABLE seed_imports (name TEXT PRIMARY KEY, imported_at INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO seed_imports (name, imported_at) SELECT name, created_at FROM servers;"
    "PRAGMA user_version = 2;",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define SERVER_COLUMNS                                                                             \
    "SELECT id, name, host, agent_port, enabled, services, token, last_seen_at, created_at, "      \
    "last_online FROM servers "

#define EVENT_COLUMNS "SELECT id, server_id, server_name, ts, type, message FROM events "

/* Every fixed statement, prepared on first use and kept until close. */
enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_USER_VERSION,
    S_SERVER_LIST,
    S_SERVER_GET,
    S_SERVER_GET_BY_NAME,
    S_SERVER_INSERT,
    S_SERVER_UPDATE,
    S_SERVER_NAME,
    S_SERVER_DELETE,
    S_SERVER_SEEN,
    S_UNIT_LOAD,
    S_UNIT_SAVE,
    S_EVENT_ADD,
    S_EVENTS_ALL,
    S_EVENTS_SERVER,
    S_STATUS_ADD,
    S_HOURLY_UPSERT,
    S_GPU_UPSERT,
    S_DISK_UPSERT,
    S_HOURLY_GET,
    S_GPU_GET,
    S_DISK_GET,
    S_RET_SAMPLES,
    S_RET_GPU,
    S_RET_DISK,
    S_RET_STATUS,
    S_RET_EVENTS,
    S_INCREMENTAL_VACUUM,
    S_VACUUM,
    S_QUICK_CHECK,
    S_PAGE_COUNT,
    S_PAGE_SIZE,
    S_JOURNAL_MODE,
    S_COUNT_SERVERS,
    S_COUNT_SAMPLES,
    S_COUNT_GPU,
    S_COUNT_DISK,
    S_COUNT_STATUS,
    S_COUNT_UNITS,
    S_COUNT_EVENTS,
    S_COUNT_SEED,
    S_SEED_SEEN,
    S_SEED_RECORD,
    S_SERVER_NAME_TAKEN,
    S__COUNT
};

static const char *const stmt_sql[S__COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_USER_VERSION] = "PRAGMA user_version",
    [S_SERVER_LIST] = SERVER_COLUMNS "ORDER BY id",
    [S_SERVER_GET] = SERVER_COLUMNS "WHERE id = ?1",
    [S_SERVER_GET_BY_NAME] = SERVER_COLUMNS "WHERE name = ?1",
    [S_SERVER_INSERT] = "INSERT INTO servers(name, host, agent_port, enabled, services, token, "
                        "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_SERVER_UPDATE] = "UPDATE servers SET name = ?2, host = ?3, agent_port = ?4, enabled = ?5, "
                        "services = ?6, token = ?7 WHERE id = ?1",
    [S_SERVER_NAME] = "SELECT name FROM servers WHERE id = ?1",
    [S_SERVER_DELETE] = "DELETE FROM servers WHERE id = ?1",
    [S_SERVER_SEEN] = "UPDATE servers SET "
                      "last_seen_at = CASE WHEN ?2 >= 0 THEN ?2 ELSE last_seen_at END, "
                      "last_online = CASE WHEN ?3 >= 0 THEN ?3 ELSE last_online END "
                      "WHERE id = ?1",
    [S_UNIT_LOAD] = "SELECT unit_name, active_state, sub_state, since FROM unit_states "
                    "WHERE server_id = ?1 ORDER BY unit_name",
    [S_UNIT_SAVE] = "INSERT INTO unit_states(server_id, unit_name, active_state, sub_state, since) "
                    "SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM servers WHERE id = ?1) "
                    "ON CONFLICT(server_id, unit_name) DO UPDATE SET "
                    "active_state = excluded.active_state, sub_state = excluded.sub_state, "
                    "since = excluded.since",
    /* A server that no longer exists (or none, ?1 NULL) leaves server_id NULL. */
    [S_EVENT_ADD] = "INSERT INTO events(server_id, server_name, ts, type, message) "
                    "VALUES ((SELECT id FROM servers WHERE id = ?1), ?2, ?3, ?4, ?5)",
    [S_EVENTS_ALL] = EVENT_COLUMNS "WHERE id < ?1 AND (?2 IS NULL OR type = ?2) "
                                   "ORDER BY id DESC LIMIT ?3",
    [S_EVENTS_SERVER] = EVENT_COLUMNS "WHERE server_id = ?4 AND id < ?1 AND "
                                      "(?2 IS NULL OR type = ?2) ORDER BY id DESC LIMIT ?3",
    [S_STATUS_ADD] = "INSERT INTO service_status(server_id, ts, unit_name, active_state, "
                     "sub_state) SELECT ?1, ?2, ?3, ?4, ?5 "
                     "WHERE EXISTS (SELECT 1 FROM servers WHERE id = ?1)",
    [S_HOURLY_UPSERT] =
        "INSERT INTO samples_hourly(server_id, ts, samples, cpu_pct_avg, cpu_pct_max, "
        "cpu_pct_min, mem_used_pct_avg, mem_used_pct_max, mem_used_pct_min, disk_used_pct, "
        "disk_used_pct_max, disk_used_pct_min, disk_used_bytes, disk_total_bytes, "
        "gpu_util_pct_avg, gpu_util_pct_max, gpu_util_pct_min, gpu_mem_used_mb, gpu_mem_total_mb, "
        "gpu_mem_used_mb_max, gpu_mem_used_mb_min) "
        "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
        "?19, ?20, ?21 WHERE EXISTS (SELECT 1 FROM servers WHERE id = ?1) "
        "ON CONFLICT(server_id, ts) DO UPDATE SET samples = excluded.samples, "
        "cpu_pct_avg = excluded.cpu_pct_avg, cpu_pct_max = excluded.cpu_pct_max, "
        "cpu_pct_min = excluded.cpu_pct_min, mem_used_pct_avg = excluded.mem_used_pct_avg, "
        "mem_used_pct_max = excluded.mem_used_pct_max, "
        "mem_used_pct_min = excluded.mem_used_pct_min, disk_used_pct = excluded.disk_used_pct, "
        "disk_used_pct_max = excluded.disk_used_pct_max, "
        "disk_used_pct_min = excluded.disk_used_pct_min, "
        "disk_used_bytes = excluded.disk_used_bytes, disk_total_bytes = excluded.disk_total_bytes, "
        "gpu_util_pct_avg = excluded.gpu_util_pct_avg, "
        "gpu_util_pct_max = excluded.gpu_util_pct_max, "
        "gpu_util_pct_min = excluded.gpu_util_pct_min, gpu_mem_used_mb = excluded.gpu_mem_used_mb, "
        "gpu_mem_total_mb = excluded.gpu_mem_total_mb, "
        "gpu_mem_used_mb_max = excluded.gpu_mem_used_mb_max, "
        "gpu_mem_used_mb_min = excluded.gpu_mem_used_mb_min",
    [S_GPU_UPSERT] =
        "INSERT INTO gpu_samples_hourly(server_id, ts, gpu_index, uuid, name, samples, "
        "util_pct_avg, util_pct_max, mem_used_mb_avg, mem_used_mb_max, mem_total_mb, temp_c_max, "
        "power_w_avg) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13 "
        "WHERE EXISTS (SELECT 1 FROM servers WHERE id = ?1) "
        "ON CONFLICT(server_id, ts, gpu_index) DO UPDATE SET uuid = excluded.uuid, "
        "name = excluded.name, samples = excluded.samples, util_pct_avg = excluded.util_pct_avg, "
        "util_pct_max = excluded.util_pct_max, mem_used_mb_avg = excluded.mem_used_mb_avg, "
        "mem_used_mb_max = excluded.mem_used_mb_max, mem_total_mb = excluded.mem_total_mb, "
        "temp_c_max = excluded.temp_c_max, power_w_avg = excluded.power_w_avg",
    [S_DISK_UPSERT] =
        "INSERT INTO disk_samples_hourly(server_id, ts, mount, samples, used_pct_avg, "
        "used_pct_max, used_pct, used_bytes, total_bytes) "
        "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 "
        "WHERE EXISTS (SELECT 1 FROM servers WHERE id = ?1) "
        "ON CONFLICT(server_id, ts, mount) DO UPDATE SET samples = excluded.samples, "
        "used_pct_avg = excluded.used_pct_avg, used_pct_max = excluded.used_pct_max, "
        "used_pct = excluded.used_pct, used_bytes = excluded.used_bytes, "
        "total_bytes = excluded.total_bytes",
    [S_HOURLY_GET] =
        "SELECT samples, cpu_pct_avg, cpu_pct_max, cpu_pct_min, mem_used_pct_avg, "
        "mem_used_pct_max, mem_used_pct_min, disk_used_pct, disk_used_pct_max, disk_used_pct_min, "
        "disk_used_bytes, disk_total_bytes, gpu_util_pct_avg, gpu_util_pct_max, gpu_util_pct_min, "
        "gpu_mem_used_mb, gpu_mem_total_mb, gpu_mem_used_mb_max, gpu_mem_used_mb_min "
        "FROM samples_hourly WHERE server_id = ?1 AND ts = ?2",
    [S_GPU_GET] = "SELECT gpu_index, uuid, name, samples, util_pct_avg, util_pct_max, "
                  "mem_used_mb_avg, mem_used_mb_max, mem_total_mb, temp_c_max, power_w_avg "
                  "FROM gpu_samples_hourly WHERE server_id = ?1 AND ts = ?2 ORDER BY gpu_index",
    [S_DISK_GET] = "SELECT mount, samples, used_pct_avg, used_pct_max, used_pct, used_bytes, "
                   "total_bytes FROM disk_samples_hourly WHERE server_id = ?1 AND ts = ?2 "
                   "ORDER BY mount",
    [S_RET_SAMPLES] = "DELETE FROM samples_hourly WHERE ts < ?1",
    [S_RET_GPU] = "DELETE FROM gpu_samples_hourly WHERE ts < ?1",
    [S_RET_DISK] = "DELETE FROM disk_samples_hourly WHERE ts < ?1",
    [S_RET_STATUS] = "DELETE FROM service_status WHERE ts < ?1",
    [S_RET_EVENTS] = "DELETE FROM events WHERE ts < ?1",
    [S_INCREMENTAL_VACUUM] = "PRAGMA incremental_vacuum",
    [S_VACUUM] = "VACUUM",
    [S_QUICK_CHECK] = "PRAGMA quick_check",
    [S_PAGE_COUNT] = "PRAGMA page_count",
    [S_PAGE_SIZE] = "PRAGMA page_size",
    [S_JOURNAL_MODE] = "PRAGMA journal_mode",
    [S_COUNT_SERVERS] = "SELECT COUNT(*) FROM servers",
    [S_COUNT_SAMPLES] = "SELECT COUNT(*) FROM samples_hourly",
    [S_COUNT_GPU] = "SELECT COUNT(*) FROM gpu_samples_hourly",
    [S_COUNT_DISK] = "SELECT COUNT(*) FROM disk_samples_hourly",
    [S_COUNT_STATUS] = "SELECT COUNT(*) FROM service_status",
    [S_COUNT_UNITS] = "SELECT COUNT(*) FROM unit_states",
    [S_COUNT_EVENTS] = "SELECT COUNT(*) FROM events",
    [S_COUNT_SEED] = "SELECT COUNT(*) FROM seed_imports",
    [S_SEED_SEEN] = "SELECT 1 FROM seed_imports WHERE name = ?1",
    [S_SEED_RECORD] = "INSERT OR IGNORE INTO seed_imports(name, imported_at) VALUES (?1, ?2)",
    [S_SERVER_NAME_TAKEN] = "SELECT 1 FROM servers WHERE name = ?1",
};

/* Table names for agg_store_stats, in the order of S_COUNT_SERVERS.. S_COUNT_SEED. */
static const char *const stats_tables[] = {
    "servers",     "samples_hourly", "gpu_samples_hourly", "disk_samples_hourly", "service_status",
    "unit_states", "events",         "seed_imports",
};

/* The timeseries (metric, agg) -> column map: the only way a caller's words reach SQL is by
 * selecting one of these fixed statements. */
#define TS_SQL(col)                                                                                \
    "SELECT ts, " col " FROM samples_hourly WHERE server_id = ?1 AND ts >= ?2 AND ts <= ?3 "       \
    "ORDER BY ts"

static const struct ts_query {
    const char *metric;
    const char *agg;
    const char *sql;
} ts_queries[] = {
    {"cpu_pct", "avg", TS_SQL("cpu_pct_avg")},
    {"cpu_pct", "max", TS_SQL("cpu_pct_max")},
    {"cpu_pct", "min", TS_SQL("cpu_pct_min")},
    {"mem_used_pct", "avg", TS_SQL("mem_used_pct_avg")},
    {"mem_used_pct", "max", TS_SQL("mem_used_pct_max")},
    {"mem_used_pct", "min", TS_SQL("mem_used_pct_min")},
    {"disk_used_pct", "avg", TS_SQL("disk_used_pct")},
    {"disk_used_pct", "max", TS_SQL("disk_used_pct_max")},
    {"disk_used_pct", "min", TS_SQL("disk_used_pct_min")},
    {"gpu_util_pct", "avg", TS_SQL("gpu_util_pct_avg")},
    {"gpu_util_pct", "max", TS_SQL("gpu_util_pct_max")},
    {"gpu_util_pct", "min", TS_SQL("gpu_util_pct_min")},
    {"gpu_mem_used_mb", "avg", TS_SQL("gpu_mem_used_mb")},
    {"gpu_mem_used_mb", "max", TS_SQL("gpu_mem_used_mb_max")},
    {"gpu_mem_used_mb", "min", TS_SQL("gpu_mem_used_mb_min")},
};

#define N_TS_QUERIES (sizeof(ts_queries) / sizeof(ts_queries[0]))

#define ERR_LEN 512

struct agg_store {
    sqlite3 *db;
    pthread_mutex_t lock;
    sqlite3_stmt *stmts[S__COUNT];
    sqlite3_stmt *ts_stmts[N_TS_QUERIES];
    char err[ERR_LEN];     /* reason for the latest failure, written under lock */
    char err_out[ERR_LEN]; /* the copy agg_store_last_error hands out */
};

/* ---- errors ---- */

static void set_error(struct agg_store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct agg_store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* A truncated reason is still a useful reason. */
    if (vsnprintf(st->err, sizeof(st->err), fmt, ap) < 0)
        st->err[0] = '\0';
    va_end(ap);
}

/* Records the reason for a refused argument (taking the lock) and returns MON_EINVAL. */
static int arg_error(struct agg_store *st, const char *what)
{
    pthread_mutex_lock(&st->lock);
    set_error(st, "invalid argument: %s", what);
    pthread_mutex_unlock(&st->lock);
    return MON_EINVAL;
}

static int map_sqlite(int rc)
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

/* Records SQLite's message for rc (call before anything else touches the connection, such as a
 * ROLLBACK) and returns the MON_E* code. */
static int sql_fail(struct agg_store *st, int rc)
{
    const char *msg = st->db ? sqlite3_errmsg(st->db) : NULL;
    mon_strlcpy(st->err, msg && *msg ? msg : sqlite3_errstr(rc), sizeof(st->err));
    return map_sqlite(rc);
}

/* ---- statements ---- */

static int prepare(struct agg_store *st, sqlite3_stmt **slot, const char *sql, sqlite3_stmt **ret)
{
    if (!*slot) {
        int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK) {
            *slot = NULL;
            return sql_fail(st, rc);
        }
    }
    *ret = *slot;
    return MON_OK;
}

static int stmt(struct agg_store *st, enum stmt_id id, sqlite3_stmt **ret)
{
    return prepare(st, &st->stmts[id], stmt_sql[id], ret);
}

/* Makes a cached statement ready for its next use (and ends its implicit read). */
static void release(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

/* Runs a statement without parameters to completion, discarding any rows. */
static int run_simple(struct agg_store *st, enum stmt_id id)
{
    sqlite3_stmt *s = NULL;
    int r = stmt(st, id, &s), rc;
    if (r < 0)
        return r;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    r = rc == SQLITE_DONE ? MON_OK : sql_fail(st, rc);
    release(s);
    return r;
}

/* Runs a statement that yields one integer (PRAGMA, COUNT). */
static int query_int(struct agg_store *st, enum stmt_id id, int64_t *ret)
{
    sqlite3_stmt *s = NULL;
    int r = stmt(st, id, &s), rc;
    if (r < 0)
        return r;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *ret = sqlite3_column_int64(s, 0);
        r = MON_OK;
    } else if (rc == SQLITE_DONE) {
        set_error(st, "no result from: %s", stmt_sql[id]);
        r = MON_EIO;
    } else {
        r = sql_fail(st, rc);
    }
    release(s);
    return r;
}

/* Runs a bound write statement; *ret_changes (may be NULL) gets the rows it touched. */
static int step_write(struct agg_store *st, sqlite3_stmt *s, int *ret_changes)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return sql_fail(st, rc);
    if (ret_changes)
        *ret_changes = sqlite3_changes(st->db);
    return MON_OK;
}

static int tx_begin(struct agg_store *st)
{
    return run_simple(st, S_BEGIN);
}

static int tx_commit(struct agg_store *st)
{
    return run_simple(st, S_COMMIT);
}

/* Rolls back an open transaction, if SQLite has not already done so after an error. The reason
 * of the original failure stays in st->err. */
static void tx_rollback(struct agg_store *st)
{
    char keep[ERR_LEN];
    if (sqlite3_get_autocommit(st->db))
        return;
    memcpy(keep, st->err, sizeof(keep));
    (void)run_simple(st, S_ROLLBACK);
    memcpy(st->err, keep, sizeof(keep));
}

/* ---- binding and reading helpers ---- */

static int bind_text(sqlite3_stmt *s, int i, const char *text)
{
    return text ? sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

/* Binds a fixed-size char array, stopping at its size even without a terminator. */
static int bind_array(sqlite3_stmt *s, int i, const char *text, size_t size)
{
    return sqlite3_bind_text(s, i, text, (int)strnlen(text, size), SQLITE_TRANSIENT);
}

/* Binds an optional string array: empty stores NULL. */
static int bind_array_opt(sqlite3_stmt *s, int i, const char *text, size_t size)
{
    return text[0] ? bind_array(s, i, text, size) : sqlite3_bind_null(s, i);
}

static int bind_opt(sqlite3_stmt *s, int i, bool has, double v)
{
    return has ? sqlite3_bind_double(s, i, v) : sqlite3_bind_null(s, i);
}

static bool col_null(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL;
}

static int64_t col_int64_or(sqlite3_stmt *s, int i, int64_t when_null)
{
    return col_null(s, i) ? when_null : sqlite3_column_int64(s, i);
}

/* Copies a text column into a fixed array (truncating; NULL gives ""). */
static void col_copy(sqlite3_stmt *s, int i, char *dst, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    mon_strlcpy(dst, t ? (const char *)t : "", size);
}

/* A malloc'd copy of a text column (NULL gives ""), or NULL when out of memory. */
static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    int n = sqlite3_column_bytes(s, i);
    return mon_strndup(t ? (const char *)t : "", t ? (size_t)n : 0);
}

/* Grows *arr (of elem-sized items) so that it holds at least need items. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t n;
    void *p;
    if (need <= *cap)
        return MON_OK;
    n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    p = realloc(*arr, n * elem);
    if (!p)
        return MON_ENOMEM;
    *arr = p;
    *cap = n;
    return MON_OK;
}

/* ---- servers: value checks and encodings ---- */

/* Checks what the schema and the event texts rely on. */
static int server_validate(struct agg_store *st, const struct agg_server *in)
{
    size_t len;
    if (!in->name || (len = strlen(in->name)) == 0 || len > AGG_NAME_MAX) {
        set_error(st, "server name must be 1..%d bytes", AGG_NAME_MAX);
        return MON_EINVAL;
    }
    if (!in->host || (len = strlen(in->host)) == 0 || len > AGG_HOST_MAX) {
        set_error(st, "server host must be 1..%d bytes", AGG_HOST_MAX);
        return MON_EINVAL;
    }
    if (in->token && strlen(in->token) > AGG_TOKEN_MAX) {
        set_error(st, "server token longer than %d bytes", AGG_TOKEN_MAX);
        return MON_EINVAL;
    }
    if (in->port < 1 || in->port > 65535) {
        set_error(st, "server port %d outside 1..65535", in->port);
        return MON_EINVAL;
    }
    if (in->n_services > AGG_MAX_SERVICES || (in->n_services > 0 && !in->services)) {
        set_error(st, "more than %d services", AGG_MAX_SERVICES);
        return MON_EINVAL;
    }
    for (size_t i = 0; i < in->n_services; i++) {
        if (!in->services[i] || (len = strlen(in->services[i])) == 0 ||
            len >= sizeof(((struct agg_unit_state *)0)->name)) {
            set_error(st, "service name %zu is empty or too long", i);
            return MON_EINVAL;
        }
    }
    return MON_OK;
}

/* The services column: a JSON array of unit names (malloc'd string, free()). */
static int services_to_json(struct agg_store *st, const struct agg_server *in, char **ret)
{
    cJSON *arr = cJSON_CreateArray();
    char *text = NULL, *copy = NULL;
    int r = MON_ENOMEM;

    if (!arr)
        goto out;
    for (size_t i = 0; i < in->n_services; i++) {
        cJSON *item = cJSON_CreateString(in->services[i]);
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            goto out;
        }
    }
    text = cJSON_PrintUnformatted(arr);
    if (!text)
        goto out;
    copy = mon_strndup(text, strlen(text));
    if (!copy)
        goto out;
    *ret = copy;
    r = MON_OK;
out:
    if (r < 0)
        set_error(st, "out of memory");
    cJSON_free(text);
    cJSON_Delete(arr);
    return r;
}

/* Parses the services column; strings beyond AGG_MAX_SERVICES and non-strings are ignored. */
static int services_from_json(struct agg_store *st, const char *text, size_t len,
                              struct agg_server *sv)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *item;
    int r = MON_OK;

    if (!root || !cJSON_IsArray(root)) {
        set_error(st, "servers.services of server %lld is not a JSON array", (long long)sv->id);
        r = MON_EIO;
        goto out;
    }
    cJSON_ArrayForEach(item, root)
    {
        if (sv->n_services >= AGG_MAX_SERVICES)
            break;
        if (!cJSON_IsString(item) || !item->valuestring)
            continue;
        /* Allocated at the first name, so an empty list stays NULL. */
        if (!sv->services && !(sv->services = calloc(AGG_MAX_SERVICES, sizeof(*sv->services)))) {
            r = MON_ENOMEM;
            goto out;
        }
        sv->services[sv->n_services] = mon_strndup(item->valuestring, strlen(item->valuestring));
        if (!sv->services[sv->n_services]) {
            r = MON_ENOMEM;
            goto out;
        }
        sv->n_services++;
    }
out:
    cJSON_Delete(root);
    return r;
}

/* Reads a row of SERVER_COLUMNS. */
static int server_from_row(struct agg_store *st, sqlite3_stmt *s, struct agg_server *ret)
{
    struct agg_server sv = {0};
    const unsigned char *services;
    int r;

    sv.id = sqlite3_column_int64(s, 0);
    sv.name = col_dup(s, 1);
    sv.host = col_dup(s, 2);
    sv.port = sqlite3_column_int(s, 3);
    sv.enabled = sqlite3_column_int(s, 4) != 0;
    sv.token = col_dup(s, 6);
    sv.last_seen_at = col_int64_or(s, 7, -1);
    sv.created_at = sqlite3_column_int64(s, 8);
    sv.last_online = (int)col_int64_or(s, 9, -1);
    if (!sv.name || !sv.host || !sv.token) {
        r = MON_ENOMEM;
        goto out;
    }
    services = sqlite3_column_text(s, 5);
    r = services_from_json(st, services ? (const char *)services : "[]",
                           services ? (size_t)sqlite3_column_bytes(s, 5) : 2, &sv);
out:
    if (r < 0) {
        if (r == MON_ENOMEM)
            set_error(st, "out of memory");
        agg_server_done(&sv);
        return r;
    }
    *ret = sv;
    return MON_OK;
}

/* Inserts an event inside the caller's transaction (server_id <= 0: none). */
static int event_insert(struct agg_store *st, int64_t server_id, const char *server_name,
                        size_t name_size, int64_t ts, const char *type, const char *message,
                        size_t message_size)
{
    sqlite3_stmt *s = NULL;
    int r = stmt(st, S_EVENT_ADD, &s);
    if (r < 0)
        return r;
    if (server_id > 0)
        sqlite3_bind_int64(s, 1, server_id);
    else
        sqlite3_bind_null(s, 1);
    bind_array(s, 2, server_name, name_size);
    sqlite3_bind_int64(s, 3, ts);
    bind_text(s, 4, type);
    bind_array(s, 5, message, message_size);
    r = step_write(st, s, NULL);
    release(s);
    return r;
}

/* ---- open, close, care ---- */

/* Creates the folder that will hold path ("data/x.db" -> "data"); nothing for a bare name. */
static int make_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *bslash = strrchr(path, '\\');
    size_t len;
    char *dir;
    int r;

    if (bslash && (!slash || bslash > slash))
        slash = bslash;
    if (!slash || slash == path)
        return MON_OK;
    len = (size_t)(slash - path);
    if (path[len - 1] == ':') /* "C:\x.db": the drive root exists */
        return MON_OK;
    dir = mon_strndup(path, len);
    if (!dir)
        return MON_ENOMEM;
    r = mon_os_mkdir_p(dir);
    free(dir);
    return r;
}

/* Applies every migration above the database's user_version, each in its own transaction.
 * The version is re-read inside the transaction so that two processes opening a new file at
 * once do not apply a migration twice. */
static int migrate(struct agg_store *st)
{
    int r;
    for (;;) {
        int64_t version = 0;
        char *msg = NULL;
        int rc;

        r = tx_begin(st);
        if (r < 0)
            return r;
        r = query_int(st, S_USER_VERSION, &version);
        if (r < 0)
            goto fail;
        if (version >= N_MIGRATIONS)
            return tx_commit(st);
        rc = sqlite3_exec(st->db, migrations[version], NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            set_error(st, "migration to schema version %d failed: %s", (int)version + 1,
                      msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            r = map_sqlite(rc);
            goto fail;
        }
        r = tx_commit(st);
        if (r < 0)
            goto fail;
    }
fail:
    tx_rollback(st);
    return r;
}

int agg_store_schema_version(void)
{
    return N_MIGRATIONS;
}

int agg_store_open(const char *path, int busy_ms, struct agg_store **ret, char *why, size_t why_len)
{
    struct agg_store *st = NULL;
    int64_t version = 0;
    int r, rc;

    if (why && why_len)
        why[0] = '\0';
    if (!path || !*path || !ret || busy_ms < 0) {
        if (why && why_len)
            snprintf(why, why_len, "invalid arguments");
        return MON_EINVAL;
    }
    r = make_parent_dir(path);
    if (r < 0) {
        if (why && why_len)
            snprintf(why, why_len, "cannot create the folder of %s: %s", path, mon_strerror(r));
        return r;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        if (why && why_len)
            snprintf(why, why_len, "out of memory");
        return MON_ENOMEM;
    }
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st);
        if (why && why_len)
            snprintf(why, why_len, "cannot create a mutex");
        return MON_ESYS;
    }
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        r = sql_fail(st, rc);
        goto out;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, busy_ms);
    /* These cannot change inside a transaction, so they come before the migrations. auto_vacuum
     * takes effect only while the file is still empty, which switching to WAL ends, so it comes
     * first; on an older file it applies at the next full VACUUM. */
    rc = sqlite3_exec(st->db,
                      "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA foreign_keys = ON;"
                      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        r = sql_fail(st, rc);
        goto out;
    }
    r = query_int(st, S_USER_VERSION, &version);
    if (r < 0)
        goto out;
    if (version > N_MIGRATIONS) {
        set_error(st, "database schema version %lld is newer than this program (%d)",
                  (long long)version, N_MIGRATIONS);
        r = MON_EUNSUPPORTED;
        goto out;
    }
    r = migrate(st);
    if (r < 0)
        goto out;
    st->err[0] = '\0';
    *ret = st;
    st = NULL;
out:
    if (st && why && why_len)
        snprintf(why, why_len, "%s: %s", path, st->err);
    agg_store_close(st);
    return r;
}

void agg_store_close(struct agg_store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < S__COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    for (size_t i = 0; i < N_TS_QUERIES; i++)
        sqlite3_finalize(st->ts_stmts[i]);
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->lock);
    free(st);
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

/* ---- servers ---- */

int agg_store_server_list(struct agg_store *st, struct agg_server **ret, size_t *ret_n)
{
    struct agg_server *list = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = NULL;
    int r, rc;

    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_SERVER_LIST, &s);
    if (r < 0)
        goto out;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        r = grow((void **)&list, &cap, n + 1, sizeof(*list));
        if (r < 0) {
            set_error(st, "out of memory");
            goto out;
        }
        r = server_from_row(st, s, &list[n]);
        if (r < 0)
            goto out;
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = sql_fail(st, rc);
        goto out;
    }
    *ret = list;
    *ret_n = n;
    list = NULL;
    r = MON_OK;
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    agg_server_list_free(list, n);
    return r;
}

/* Reads one server with a statement whose ?1 the caller bound. */
static int server_get_one(struct agg_store *st, sqlite3_stmt *s, struct agg_server *ret)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return server_from_row(st, s, ret);
    if (rc == SQLITE_DONE) {
        set_error(st, "no such server");
        return MON_ENOENT;
    }
    return sql_fail(st, rc);
}

int agg_store_server_get(struct agg_store *st, int64_t id, struct agg_server *ret)
{
    sqlite3_stmt *s = NULL;
    int r;

    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_SERVER_GET, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    r = server_get_one(st, s, ret);
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_server_get_by_name(struct agg_store *st, const char *name, struct agg_server *ret)
{
    sqlite3_stmt *s = NULL;
    int r;

    if (!name)
        return arg_error(st, "server name is NULL");
    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_SERVER_GET_BY_NAME, &s);
    if (r < 0)
        goto out;
    bind_text(s, 1, name);
    r = server_get_one(st, s, ret);
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* Binds ?2..?7 of S_SERVER_INSERT / S_SERVER_UPDATE (the same order in both, shifted by one
 * for insert, where name is ?1). */
static void bind_server_fields(sqlite3_stmt *s, int first, const struct agg_server *in,
                               const char *services_json)
{
    bind_text(s, first, in->name);
    bind_text(s, first + 1, in->host);
    sqlite3_bind_int(s, first + 2, in->port);
    sqlite3_bind_int(s, first + 3, in->enabled ? 1 : 0);
    bind_text(s, first + 4, services_json);
    bind_text(s, first + 5, in->token ? in->token : "");
}

/* "host:port", with brackets around an IPv6 literal. */
static void format_endpoint(char *buf, size_t size, const char *host, int port)
{
    int n = strchr(host, ':') ? snprintf(buf, size, "[%s]:%d", host, port)
                              : snprintf(buf, size, "%s:%d", host, port);
    if (n < 0)
        buf[0] = '\0';
}

/* Inserts a server and its server_added event; the caller holds the lock and a transaction. */
static int server_insert_locked(struct agg_store *st, const struct agg_server *in, int64_t now,
                                int64_t *ret_id)
{
    char *services = NULL;
    char message[sizeof(((struct agg_event *)0)->message)];
    char endpoint[AGG_HOST_MAX + 16];
    sqlite3_stmt *s = NULL;
    int64_t id;
    int r;

    r = server_validate(st, in);
    if (r < 0)
        return r;
    r = services_to_json(st, in, &services);
    if (r < 0)
        return r;
    r = stmt(st, S_SERVER_INSERT, &s);
    if (r < 0)
        goto out;
    bind_server_fields(s, 1, in, services);
    sqlite3_bind_int64(s, 7, now);
    r = step_write(st, s, NULL);
    if (r == MON_EEXIST)
        set_error(st, "a server named \"%s\" exists", in->name);
    if (r < 0)
        goto out;
    id = sqlite3_last_insert_rowid(st->db);
    /* Validated lengths (name 64, host 253) always fit the 512-byte message. */
    format_endpoint(endpoint, sizeof(endpoint), in->host, in->port);
    snprintf(message, sizeof(message), "Server %s added (%s)", in->name, endpoint);
    r = event_insert(st, id, in->name, AGG_NAME_MAX + 1, now, "server_added", message,
                     sizeof(message));
    if (r == MON_OK)
        *ret_id = id;
out:
    release(s);
    free(services);
    return r;
}

int agg_store_server_insert(struct agg_store *st, const struct agg_server *in, int64_t *ret_id)
{
    int64_t id = 0;
    int r;

    pthread_mutex_lock(&st->lock);
    r = tx_begin(st);
    if (r < 0)
        goto out;
    r = server_insert_locked(st, in, mon_utc_ms() / 1000, &id);
    if (r == MON_OK)
        r = tx_commit(st);
    if (r < 0)
        tx_rollback(st);
    else if (ret_id)
        *ret_id = id;
out:
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* Runs a cached statement that binds a name (?1) and, when ts >= 0, a time (?2); *ret_row (may
 * be NULL) tells whether it produced a row. */
static int name_step(struct agg_store *st, enum stmt_id id, const char *name, int64_t ts,
                     bool *ret_row)
{
    sqlite3_stmt *s = NULL;
    int r = stmt(st, id, &s), rc;
    if (r < 0)
        return r;
    bind_text(s, 1, name);
    if (ts >= 0)
        sqlite3_bind_int64(s, 2, ts);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        if (ret_row)
            *ret_row = rc == SQLITE_ROW;
        r = MON_OK;
    } else {
        r = sql_fail(st, rc);
    }
    release(s);
    return r;
}

int agg_store_seed_import(struct agg_store *st, const struct agg_server *seed, bool *ret_imported,
                          int64_t *ret_id)
{
    int64_t now = mon_utc_ms() / 1000, id = 0;
    bool seen = false, exists = false;
    int r;

    pthread_mutex_lock(&st->lock);
    if (!seed || !seed->name) {
        set_error(st, "seed server without a name");
        r = MON_EINVAL;
        goto out;
    }
    r = tx_begin(st);
    if (r < 0)
        goto out;
    r = name_step(st, S_SEED_SEEN, seed->name, -1, &seen);
    if (r == MON_OK && !seen)
        r = name_step(st, S_SERVER_NAME_TAKEN, seed->name, -1, &exists);
    if (r == MON_OK && !seen && !exists)
        r = server_insert_locked(st, seed, now, &id);
    if (r == MON_OK && !seen)
        r = name_step(st, S_SEED_RECORD, seed->name, now, NULL);
    if (r == MON_OK)
        r = tx_commit(st);
    if (r < 0) {
        tx_rollback(st);
        goto out;
    }
    if (ret_imported)
        *ret_imported = !seen && !exists;
    if (ret_id)
        *ret_id = id;
out:
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_server_update(struct agg_store *st, const struct agg_server *in)
{
    char *services = NULL;
    sqlite3_stmt *s = NULL;
    int r, changes = 0;

    pthread_mutex_lock(&st->lock);
    r = server_validate(st, in);
    if (r < 0)
        goto out;
    r = services_to_json(st, in, &services);
    if (r < 0)
        goto out;
    r = stmt(st, S_SERVER_UPDATE, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, in->id);
    bind_server_fields(s, 2, in, services);
    r = step_write(st, s, &changes);
    if (r == MON_EEXIST)
        set_error(st, "a server named \"%s\" exists", in->name);
    if (r < 0)
        goto out;
    if (changes == 0) {
        set_error(st, "no server with id %lld", (long long)in->id);
        r = MON_ENOENT;
    }
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    free(services);
    return r;
}

int agg_store_server_delete(struct agg_store *st, int64_t id)
{
    char name[AGG_NAME_MAX + 1];
    char message[sizeof(((struct agg_event *)0)->message)];
    sqlite3_stmt *s = NULL;
    int64_t now = mon_utc_ms() / 1000;
    int r, rc;

    pthread_mutex_lock(&st->lock);
    r = tx_begin(st);
    if (r < 0)
        goto out;
    r = stmt(st, S_SERVER_NAME, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        set_error(st, "no server with id %lld", (long long)id);
        r = MON_ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = sql_fail(st, rc);
        goto out;
    }
    col_copy(s, 0, name, sizeof(name));
    release(s);
    r = stmt(st, S_SERVER_DELETE, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    r = step_write(st, s, NULL);
    if (r < 0)
        goto out;
    snprintf(message, sizeof(message), "Server %s removed", name);
    r = event_insert(st, -1, name, sizeof(name), now, "server_removed", message, sizeof(message));
    if (r < 0)
        goto out;
    r = tx_commit(st);
out:
    release(s);
    if (r < 0)
        tx_rollback(st);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_server_seen(struct agg_store *st, int64_t id, int64_t last_seen_at, int online)
{
    sqlite3_stmt *s = NULL;
    int r, changes = 0;

    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_SERVER_SEEN, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, last_seen_at);
    sqlite3_bind_int(s, 3, online < 0 ? -1 : online ? 1 : 0);
    r = step_write(st, s, &changes);
    if (r == MON_OK && changes == 0) {
        set_error(st, "no server with id %lld", (long long)id);
        r = MON_ENOENT;
    }
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* ---- unit states ---- */

int agg_store_unit_states_load(struct agg_store *st, int64_t server_id, struct agg_unit_state **ret,
                               size_t *ret_n)
{
    struct agg_unit_state *list = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = NULL;
    int r, rc;

    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_UNIT_LOAD, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, server_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        r = grow((void **)&list, &cap, n + 1, sizeof(*list));
        if (r < 0) {
            set_error(st, "out of memory");
            goto out;
        }
        col_copy(s, 0, list[n].name, sizeof(list[n].name));
        col_copy(s, 1, list[n].active_state, sizeof(list[n].active_state));
        col_copy(s, 2, list[n].sub_state, sizeof(list[n].sub_state));
        list[n].since = col_int64_or(s, 3, -1);
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = sql_fail(st, rc);
        goto out;
    }
    *ret = list;
    *ret_n = n;
    list = NULL;
    r = MON_OK;
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    free(list);
    return r;
}

int agg_store_unit_state_save(struct agg_store *st, int64_t server_id,
                              const struct agg_unit_state *u)
{
    sqlite3_stmt *s = NULL;
    int r, changes = 0;

    if (!u || !u->name[0])
        return arg_error(st, "unit state without a unit name");
    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_UNIT_SAVE, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, server_id);
    bind_array(s, 2, u->name, sizeof(u->name));
    bind_array(s, 3, u->active_state, sizeof(u->active_state));
    bind_array(s, 4, u->sub_state, sizeof(u->sub_state));
    if (u->since >= 0)
        sqlite3_bind_int64(s, 5, u->since);
    else
        sqlite3_bind_null(s, 5);
    r = step_write(st, s, &changes);
    if (r == MON_OK && changes == 0) {
        set_error(st, "no server with id %lld", (long long)server_id);
        r = MON_ENOENT;
    }
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* ---- events ---- */

int agg_store_event_add(struct agg_store *st, const struct agg_event *ev)
{
    int r;
    if (!ev || !ev->type[0])
        return arg_error(st, "event without a type");
    pthread_mutex_lock(&st->lock);
    r = event_insert(st, ev->server_id, ev->server_name, sizeof(ev->server_name), ev->ts, ev->type,
                     ev->message, sizeof(ev->message));
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_events_query(struct agg_store *st, int64_t server_id, const char *type,
                           int64_t before_id, int limit, struct agg_event **ret, size_t *ret_n)
{
    struct agg_event *list = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = NULL;
    int r, rc;

    if (limit < 1 || limit > 1000)
        return arg_error(st, "events limit outside 1..1000");
    pthread_mutex_lock(&st->lock);
    r = stmt(st, server_id > 0 ? S_EVENTS_SERVER : S_EVENTS_ALL, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, before_id > 0 ? before_id : INT64_MAX);
    bind_text(s, 2, type);
    sqlite3_bind_int(s, 3, limit);
    if (server_id > 0)
        sqlite3_bind_int64(s, 4, server_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct agg_event *e;
        r = grow((void **)&list, &cap, n + 1, sizeof(*list));
        if (r < 0) {
            set_error(st, "out of memory");
            goto out;
        }
        e = &list[n++];
        e->id = sqlite3_column_int64(s, 0);
        e->server_id = col_int64_or(s, 1, -1);
        col_copy(s, 2, e->server_name, sizeof(e->server_name));
        e->ts = sqlite3_column_int64(s, 3);
        col_copy(s, 4, e->type, sizeof(e->type));
        col_copy(s, 5, e->message, sizeof(e->message));
    }
    if (rc != SQLITE_DONE) {
        r = sql_fail(st, rc);
        goto out;
    }
    *ret = list;
    *ret_n = n;
    list = NULL;
    r = MON_OK;
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    free(list);
    return r;
}

/* ---- service status ---- */

int agg_store_service_status_add(struct agg_store *st, int64_t server_id, int64_t ts,
                                 const char *unit, const char *active_state, const char *sub_state)
{
    sqlite3_stmt *s = NULL;
    int r, changes = 0;

    if (!unit || !*unit)
        return arg_error(st, "service status without a unit name");
    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_STATUS_ADD, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, ts);
    bind_text(s, 3, unit);
    bind_text(s, 4, active_state);
    bind_text(s, 5, sub_state);
    r = step_write(st, s, &changes);
    if (r == MON_OK && changes == 0) {
        set_error(st, "no server with id %lld", (long long)server_id);
        r = MON_ENOENT;
    }
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* ---- hourly history ---- */

static int upsert_hourly_row(struct agg_store *st, sqlite3_stmt *s, const struct agg_hourly_row *h)
{
    sqlite3_bind_int64(s, 1, h->server_id);
    sqlite3_bind_int64(s, 2, h->ts);
    sqlite3_bind_int64(s, 3, h->samples);
    bind_opt(s, 4, h->has_cpu, h->cpu_pct_avg);
    bind_opt(s, 5, h->has_cpu, h->cpu_pct_max);
    bind_opt(s, 6, h->has_cpu, h->cpu_pct_min);
    bind_opt(s, 7, h->has_mem, h->mem_used_pct_avg);
    bind_opt(s, 8, h->has_mem, h->mem_used_pct_max);
    bind_opt(s, 9, h->has_mem, h->mem_used_pct_min);
    bind_opt(s, 10, h->has_disk, h->disk_used_pct);
    bind_opt(s, 11, h->has_disk, h->disk_used_pct_max);
    bind_opt(s, 12, h->has_disk, h->disk_used_pct_min);
    bind_opt(s, 13, h->has_disk, h->disk_used_bytes);
    bind_opt(s, 14, h->has_disk, h->disk_total_bytes);
    bind_opt(s, 15, h->has_gpu, h->gpu_util_pct_avg);
    bind_opt(s, 16, h->has_gpu, h->gpu_util_pct_max);
    bind_opt(s, 17, h->has_gpu, h->gpu_util_pct_min);
    bind_opt(s, 18, h->has_gpu, h->gpu_mem_used_mb);
    bind_opt(s, 19, h->has_gpu, h->gpu_mem_total_mb);
    bind_opt(s, 20, h->has_gpu, h->gpu_mem_used_mb_max);
    bind_opt(s, 21, h->has_gpu, h->gpu_mem_used_mb_min);
    return step_write(st, s, NULL);
}

static int upsert_gpu_row(struct agg_store *st, sqlite3_stmt *s, const struct agg_gpu_hourly_row *g)
{
    sqlite3_bind_int64(s, 1, g->server_id);
    sqlite3_bind_int64(s, 2, g->ts);
    sqlite3_bind_int(s, 3, g->gpu_index);
    bind_array_opt(s, 4, g->uuid, sizeof(g->uuid));
    bind_array_opt(s, 5, g->name, sizeof(g->name));
    sqlite3_bind_int64(s, 6, g->samples);
    bind_opt(s, 7, g->has_util, g->util_pct_avg);
    bind_opt(s, 8, g->has_util, g->util_pct_max);
    bind_opt(s, 9, g->has_mem, g->mem_used_mb_avg);
    bind_opt(s, 10, g->has_mem, g->mem_used_mb_max);
    bind_opt(s, 11, g->has_mem, g->mem_total_mb);
    bind_opt(s, 12, g->has_temp, g->temp_c_max);
    bind_opt(s, 13, g->has_power, g->power_w_avg);
    return step_write(st, s, NULL);
}

static int upsert_disk_row(struct agg_store *st, sqlite3_stmt *s,
                           const struct agg_disk_hourly_row *d)
{
    sqlite3_bind_int64(s, 1, d->server_id);
    sqlite3_bind_int64(s, 2, d->ts);
    bind_array(s, 3, d->mount, sizeof(d->mount));
    sqlite3_bind_int64(s, 4, d->samples);
    sqlite3_bind_double(s, 5, d->used_pct_avg);
    sqlite3_bind_double(s, 6, d->used_pct_max);
    sqlite3_bind_double(s, 7, d->used_pct);
    sqlite3_bind_double(s, 8, d->used_bytes);
    sqlite3_bind_double(s, 9, d->total_bytes);
    return step_write(st, s, NULL);
}

int agg_store_hourly_upsert(struct agg_store *st, const struct agg_hourly_row *rows, size_t n,
                            const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                            const struct agg_disk_hourly_row *disks, size_t n_disks)
{
    sqlite3_stmt *s = NULL;
    int r;

    if ((n && !rows) || (n_gpus && !gpus) || (n_disks && !disks))
        return arg_error(st, "hourly rows missing");
    pthread_mutex_lock(&st->lock);
    r = tx_begin(st);
    if (r < 0)
        goto out;
    if (n) {
        r = stmt(st, S_HOURLY_UPSERT, &s);
        for (size_t i = 0; r >= 0 && i < n; i++) {
            r = upsert_hourly_row(st, s, &rows[i]);
            release(s);
        }
        if (r < 0)
            goto out;
    }
    if (n_gpus) {
        r = stmt(st, S_GPU_UPSERT, &s);
        for (size_t i = 0; r >= 0 && i < n_gpus; i++) {
            r = upsert_gpu_row(st, s, &gpus[i]);
            release(s);
        }
        if (r < 0)
            goto out;
    }
    if (n_disks) {
        r = stmt(st, S_DISK_UPSERT, &s);
        for (size_t i = 0; r >= 0 && i < n_disks; i++) {
            r = upsert_disk_row(st, s, &disks[i]);
            release(s);
        }
        if (r < 0)
            goto out;
    }
    r = tx_commit(st);
out:
    if (r < 0)
        tx_rollback(st);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* Reads an optional REAL column: *has becomes false (and the value 0) for NULL. */
static double col_opt(sqlite3_stmt *s, int i, bool *has)
{
    if (col_null(s, i))
        return 0;
    *has = true;
    return sqlite3_column_double(s, i);
}

int agg_store_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                         struct agg_hourly_row *ret)
{
    struct agg_hourly_row h = {.server_id = server_id, .ts = ts};
    sqlite3_stmt *s = NULL;
    bool has_gpu_mem = false;
    int r, rc;

    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_HOURLY_GET, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, ts);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        set_error(st, "no hourly row");
        r = MON_ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = sql_fail(st, rc);
        goto out;
    }
    h.samples = sqlite3_column_int64(s, 0);
    h.cpu_pct_avg = col_opt(s, 1, &h.has_cpu);
    h.cpu_pct_max = col_opt(s, 2, &h.has_cpu);
    h.cpu_pct_min = col_opt(s, 3, &h.has_cpu);
    h.mem_used_pct_avg = col_opt(s, 4, &h.has_mem);
    h.mem_used_pct_max = col_opt(s, 5, &h.has_mem);
    h.mem_used_pct_min = col_opt(s, 6, &h.has_mem);
    h.disk_used_pct = col_opt(s, 7, &h.has_disk);
    h.disk_used_pct_max = col_opt(s, 8, &h.has_disk);
    h.disk_used_pct_min = col_opt(s, 9, &h.has_disk);
    h.disk_used_bytes = col_opt(s, 10, &h.has_disk);
    h.disk_total_bytes = col_opt(s, 11, &h.has_disk);
    h.gpu_util_pct_avg = col_opt(s, 12, &h.has_gpu);
    h.gpu_util_pct_max = col_opt(s, 13, &h.has_gpu);
    h.gpu_util_pct_min = col_opt(s, 14, &h.has_gpu);
    h.gpu_mem_used_mb = col_opt(s, 15, &has_gpu_mem);
    h.gpu_mem_total_mb = col_opt(s, 16, &has_gpu_mem);
    h.gpu_mem_used_mb_max = col_opt(s, 17, &has_gpu_mem);
    h.gpu_mem_used_mb_min = col_opt(s, 18, &has_gpu_mem);
    h.has_gpu = h.has_gpu || has_gpu_mem;
    *ret = h;
    r = MON_OK;
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_gpu_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                             struct agg_gpu_hourly_row **ret, size_t *ret_n)
{
    struct agg_gpu_hourly_row *list = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = NULL;
    int r, rc;

    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_GPU_GET, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, ts);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct agg_gpu_hourly_row *g;
        r = grow((void **)&list, &cap, n + 1, sizeof(*list));
        if (r < 0) {
            set_error(st, "out of memory");
            goto out;
        }
        g = &list[n++];
        memset(g, 0, sizeof(*g));
        g->server_id = server_id;
        g->ts = ts;
        g->gpu_index = sqlite3_column_int(s, 0);
        col_copy(s, 1, g->uuid, sizeof(g->uuid));
        col_copy(s, 2, g->name, sizeof(g->name));
        g->samples = sqlite3_column_int64(s, 3);
        g->util_pct_avg = col_opt(s, 4, &g->has_util);
        g->util_pct_max = col_opt(s, 5, &g->has_util);
        g->mem_used_mb_avg = col_opt(s, 6, &g->has_mem);
        g->mem_used_mb_max = col_opt(s, 7, &g->has_mem);
        g->mem_total_mb = col_opt(s, 8, &g->has_mem);
        g->temp_c_max = col_opt(s, 9, &g->has_temp);
        g->power_w_avg = col_opt(s, 10, &g->has_power);
    }
    if (rc != SQLITE_DONE) {
        r = sql_fail(st, rc);
        goto out;
    }
    *ret = list;
    *ret_n = n;
    list = NULL;
    r = MON_OK;
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    free(list);
    return r;
}

int agg_store_disk_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                              struct agg_disk_hourly_row **ret, size_t *ret_n)
{
    struct agg_disk_hourly_row *list = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = NULL;
    int r, rc;

    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_DISK_GET, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, ts);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct agg_disk_hourly_row *d;
        r = grow((void **)&list, &cap, n + 1, sizeof(*list));
        if (r < 0) {
            set_error(st, "out of memory");
            goto out;
        }
        d = &list[n++];
        memset(d, 0, sizeof(*d));
        d->server_id = server_id;
        d->ts = ts;
        col_copy(s, 0, d->mount, sizeof(d->mount));
        d->samples = sqlite3_column_int64(s, 1);
        d->used_pct_avg = sqlite3_column_double(s, 2);
        d->used_pct_max = sqlite3_column_double(s, 3);
        d->used_pct = sqlite3_column_double(s, 4);
        d->used_bytes = sqlite3_column_double(s, 5);
        d->total_bytes = sqlite3_column_double(s, 6);
    }
    if (rc != SQLITE_DONE) {
        r = sql_fail(st, rc);
        goto out;
    }
    *ret = list;
    *ret_n = n;
    list = NULL;
    r = MON_OK;
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    free(list);
    return r;
}

int agg_store_timeseries(struct agg_store *st, int64_t server_id, const char *metric,
                         const char *agg, int64_t from, int64_t to, struct agg_point **ret,
                         size_t *ret_n)
{
    struct agg_point *list = NULL;
    size_t n = 0, cap = 0, q;
    sqlite3_stmt *s = NULL;
    int r, rc;

    for (q = 0; q < N_TS_QUERIES; q++) {
        if (metric && agg && strcmp(ts_queries[q].metric, metric) == 0 &&
            strcmp(ts_queries[q].agg, agg) == 0)
            break;
    }
    pthread_mutex_lock(&st->lock);
    if (q == N_TS_QUERIES) {
        set_error(st, "unknown metric or aggregate");
        r = MON_EINVAL;
        goto out;
    }
    r = prepare(st, &st->ts_stmts[q], ts_queries[q].sql, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, from);
    sqlite3_bind_int64(s, 3, to);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        r = grow((void **)&list, &cap, n + 1, sizeof(*list));
        if (r < 0) {
            set_error(st, "out of memory");
            goto out;
        }
        list[n].ts = sqlite3_column_int64(s, 0);
        list[n].has_value = false;
        list[n].value = col_opt(s, 1, &list[n].has_value);
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = sql_fail(st, rc);
        goto out;
    }
    *ret = list;
    *ret_n = n;
    list = NULL;
    r = MON_OK;
out:
    release(s);
    pthread_mutex_unlock(&st->lock);
    free(list);
    return r;
}

/* ---- retention and care ---- */

int agg_store_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted)
{
    static const enum stmt_id deletes[] = {S_RET_SAMPLES, S_RET_GPU, S_RET_DISK, S_RET_STATUS,
                                           S_RET_EVENTS};
    sqlite3_stmt *s = NULL;
    int64_t total = 0;
    int r;

    pthread_mutex_lock(&st->lock);
    r = tx_begin(st);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < sizeof(deletes) / sizeof(deletes[0]); i++) {
        int changes = 0;
        r = stmt(st, deletes[i], &s);
        if (r < 0)
            goto out;
        sqlite3_bind_int64(s, 1, cutoff);
        r = step_write(st, s, &changes);
        release(s);
        s = NULL;
        if (r < 0)
            goto out;
        total += changes;
    }
    r = tx_commit(st);
    if (r < 0)
        goto out;
    /* Give the freed pages back to the file system; the deletions stand even if this fails. */
    r = run_simple(st, S_INCREMENTAL_VACUUM);
    if (r < 0)
        goto out;
    if (ret_deleted)
        *ret_deleted = total;
out:
    release(s);
    if (r < 0)
        tx_rollback(st);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_vacuum(struct agg_store *st)
{
    int r;
    pthread_mutex_lock(&st->lock);
    r = run_simple(st, S_VACUUM);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_check(struct agg_store *st, char *why, size_t why_len)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    if (why && why_len)
        why[0] = '\0';
    pthread_mutex_lock(&st->lock);
    r = stmt(st, S_QUICK_CHECK, &s);
    if (r < 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        if (t && strcmp((const char *)t, "ok") == 0) {
            r = MON_OK;
        } else {
            set_error(st, "quick_check: %s", t ? (const char *)t : "(no text)");
            r = MON_EIO;
        }
    } else {
        r = rc == SQLITE_DONE ? MON_EIO : sql_fail(st, rc);
        if (rc == SQLITE_DONE)
            set_error(st, "quick_check gave no answer");
    }
out:
    release(s);
    if (r < 0 && why && why_len)
        mon_strlcpy(why, st->err, why_len);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int agg_store_stats(struct agg_store *st, char **ret_json)
{
    cJSON *root = NULL, *rows;
    sqlite3_stmt *s = NULL;
    char *text = NULL, *copy = NULL;
    int64_t page_count = 0, page_size = 0, version = 0;
    int r, rc;

    pthread_mutex_lock(&st->lock);
    root = cJSON_CreateObject();
    rows = root ? cJSON_AddObjectToObject(root, "rows") : NULL;
    if (!rows) {
        r = MON_ENOMEM;
        goto out;
    }
    for (int i = S_COUNT_SERVERS; i <= S_COUNT_SEED; i++) {
        int64_t count = 0;
        r = query_int(st, (enum stmt_id)i, &count);
        if (r < 0)
            goto out;
        if (!cJSON_AddNumberToObject(rows, stats_tables[i - S_COUNT_SERVERS], (double)count)) {
            r = MON_ENOMEM;
            goto out;
        }
    }
    r = query_int(st, S_PAGE_COUNT, &page_count);
    if (r >= 0)
        r = query_int(st, S_PAGE_SIZE, &page_size);
    if (r >= 0)
        r = query_int(st, S_USER_VERSION, &version);
    if (r < 0)
        goto out;
    r = stmt(st, S_JOURNAL_MODE, &s);
    if (r < 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        r = sql_fail(st, rc);
        goto out;
    }
    r = MON_ENOMEM;
    if (!cJSON_AddNumberToObject(root, "size_bytes", (double)(page_count * page_size)) ||
        !cJSON_AddStringToObject(root, "journal_mode", (const char *)sqlite3_column_text(s, 0)) ||
        !cJSON_AddNumberToObject(root, "user_version", (double)version))
        goto out;
    text = cJSON_PrintUnformatted(root);
    copy = text ? mon_strndup(text, strlen(text)) : NULL;
    if (!copy)
        goto out;
    *ret_json = copy;
    r = MON_OK;
out:
    if (r == MON_ENOMEM)
        set_error(st, "out of memory");
    release(s);
    pthread_mutex_unlock(&st->lock);
    cJSON_free(text);
    cJSON_Delete(root);
    return r;
}

/* ---- backup and restore ---- */

#define BACKUP_STEP_PAGES    256
#define BACKUP_PAUSE_MS      2
#define BACKUP_MAX_RESTARTS  3   /* then the rest is copied in one step (one read transaction) */
#define BACKUP_MAX_BUSY_WAIT 500 /* pauses on a locked source before giving up */

static void why_set(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (!why || !why_len)
        return;
    va_start(ap, fmt);
    if (vsnprintf(why, why_len, fmt, ap) < 0)
        why[0] = '\0';
    va_end(ap);
}

/* Removes path and its -wal/-shm/-journal companions (missing ones are fine). */
static void remove_db_files(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[4200];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
        if (snprintf(name, sizeof(name), "%s%s", path, suffixes[i]) < (int)sizeof(name))
            remove(name);
}

/* Copies st's database into an open destination connection in chunks of BACKUP_STEP_PAGES,
 * releasing st's lock and pausing between chunks so other users of st (and other connections,
 * thanks to WAL) keep working. */
static int backup_copy(struct agg_store *st, sqlite3 *dst, char *why, size_t why_len)
{
    sqlite3_backup *b;
    int rc = SQLITE_OK, restarts = 0, busy = 0, prev_remaining = -1, step = BACKUP_STEP_PAGES;

    pthread_mutex_lock(&st->lock);
    b = sqlite3_backup_init(dst, "main", st->db, "main");
    if (!b) {
        why_set(why, why_len, "cannot start the backup: %s", sqlite3_errmsg(dst));
        pthread_mutex_unlock(&st->lock);
        return map_sqlite(sqlite3_errcode(dst));
    }
    for (;;) {
        int remaining;
        rc = sqlite3_backup_step(b, step);
        remaining = sqlite3_backup_remaining(b);
        if (rc == SQLITE_DONE)
            break;
        if (rc == SQLITE_OK) {
            /* Another connection wrote between two chunks: SQLite starts over. */
            if (prev_remaining >= 0 && remaining > prev_remaining &&
                ++restarts >= BACKUP_MAX_RESTARTS)
                step = -1;
            prev_remaining = remaining;
            busy = 0;
        } else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
            if (++busy > BACKUP_MAX_BUSY_WAIT)
                break;
        } else {
            break;
        }
        pthread_mutex_unlock(&st->lock);
        sqlite3_sleep(BACKUP_PAUSE_MS);
        pthread_mutex_lock(&st->lock);
    }
    sqlite3_backup_finish(b);
    pthread_mutex_unlock(&st->lock);
    if (rc != SQLITE_DONE) {
        why_set(why, why_len, "backup failed: %s", sqlite3_errstr(rc));
        return map_sqlite(rc);
    }
    rc = sqlite3_errcode(dst);
    if (rc != SQLITE_OK) {
        why_set(why, why_len, "backup failed: %s", sqlite3_errmsg(dst));
        return map_sqlite(rc);
    }
    return MON_OK;
}

int agg_store_backup_to(struct agg_store *st, const char *dest_path, char *why, size_t why_len)
{
    char tmp[4200];
    sqlite3 *dst = NULL;
    int r, rc;

    why_set(why, why_len, "%s", "");
    if (!st || !dest_path || !*dest_path) {
        why_set(why, why_len, "invalid arguments");
        return MON_EINVAL;
    }
    if (mon_os_path_exists(dest_path)) {
        why_set(why, why_len, "%s already exists", dest_path);
        return MON_EEXIST;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.partial", dest_path) >= (int)sizeof(tmp)) {
        why_set(why, why_len, "path too long");
        return MON_ETOOBIG;
    }
    remove_db_files(tmp);
    rc = sqlite3_open_v2(tmp, &dst,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        why_set(why, why_len, "cannot create %s: %s", tmp,
                dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        r = map_sqlite(rc);
        goto out;
    }
    r = backup_copy(st, dst, why, why_len);
    if (r < 0)
        goto out;
    /* The copy came in WAL mode like its source: make it one self-contained file that readers
     * open without creating -wal/-shm files beside it (agg_store_open turns WAL on again). */
    rc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        why_set(why, why_len, "cannot finish %s: %s", tmp, sqlite3_errmsg(dst));
        r = map_sqlite(rc);
        goto out;
    }
    rc = sqlite3_close(dst);
    dst = NULL;
    if (rc != SQLITE_OK) {
        why_set(why, why_len, "cannot close %s: %s", tmp, sqlite3_errstr(rc));
        r = map_sqlite(rc);
        goto out;
    }
    if (mon_os_path_exists(dest_path)) {
        why_set(why, why_len, "%s already exists", dest_path);
        r = MON_EEXIST;
        goto out;
    }
    if (rename(tmp, dest_path) != 0) {
        r = mon_err_from_errno(errno);
        why_set(why, why_len, "cannot rename %s to %s: %s", tmp, dest_path, strerror(errno));
        goto out;
    }
    r = MON_OK;
out:
    sqlite3_close(dst);
    if (r < 0)
        remove_db_files(tmp);
    return r;
}

int agg_store_restore_check(const char *src_path, char *why, size_t why_len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    const unsigned char *text;
    int64_t version;
    int r, rc;

    why_set(why, why_len, "%s", "");
    if (!src_path || !*src_path) {
        why_set(why, why_len, "invalid arguments");
        return MON_EINVAL;
    }
    if (!mon_os_path_exists(src_path)) {
        why_set(why, why_len, "%s does not exist", src_path);
        return MON_ENOENT;
    }
    rc = sqlite3_open_v2(src_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        goto fail;
    text = sqlite3_column_text(s, 0);
    if (!text || strcmp((const char *)text, "ok") != 0) {
        why_set(why, why_len, "%s: integrity_check: %s", src_path,
                text ? (const char *)text : "(no answer)");
        r = MON_EIO;
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        goto fail;
    version = sqlite3_column_int64(s, 0);
    if (version > N_MIGRATIONS) {
        why_set(why, why_len, "%s: schema version %lld is newer than this program (%d)", src_path,
                (long long)version, N_MIGRATIONS);
        r = MON_EUNSUPPORTED;
        goto out;
    }
    if (version < 1) {
        why_set(why, why_len, "%s: not a monitor-aggregator database (schema version 0)", src_path);
        r = MON_EINVAL;
        goto out;
    }
    r = MON_OK;
    goto out;
fail:
    why_set(why, why_len, "%s: %s", src_path,
            db && sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    r = map_sqlite(rc) == MON_EBUSY ? MON_EBUSY : MON_EIO;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    return r;
}
