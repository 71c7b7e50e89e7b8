/* SPDX-License-Identifier: MIT */
/* All the SQL of the SQLite backend in one place: the versioned schema migrations, the
 * connection settings, every prepared statement and the timeseries query template. Values
 * are always bound; the only text spliced into a statement is a column name from metric.h's
 * fixed table. */
#include "aggregator/store_sqlite.h"

#include <stdio.h>

/* The GPU usage tables' columns after the hour or day (versions 5 and 6). */
#define USER_USAGE_COLS                                                                            \
    " user_name TEXT NOT NULL,"                                                                    \
    " gpu_seconds REAL NOT NULL,"                                                                  \
    " busy_gpu_seconds REAL NOT NULL,"                                                             \
    " mem_mb_seconds REAL NOT NULL,"                                                               \
    " max_gpus INTEGER NOT NULL,"                                                                  \
    " processes INTEGER NOT NULL,"                                                                 \
    " first_seen INTEGER NOT NULL,"                                                                \
    " last_seen INTEGER NOT NULL,"
#define USAGE_COLS " server_id INTEGER NOT NULL, server_name TEXT NOT NULL," USER_USAGE_COLS

/* Rebuilds usage table t (first column k, columns cols) as WITHOUT ROWID on primary key pk,
 * keeping its rows and its name. */
#define USAGE_REBUILD(t, k, cols, pk)                                                              \
    "CREATE TABLE " t "_v6 (" k " INTEGER NOT NULL," cols " PRIMARY KEY(" pk ")) WITHOUT ROWID;"   \
    "INSERT INTO " t "_v6 SELECT * FROM " t " ORDER BY " pk ";"                                    \
    "DROP TABLE " t ";"                                                                            \
    "ALTER TABLE " t "_v6 RENAME TO " t ";"

/* Version 6: the four usage tables rebuilt WITHOUT ROWID, the hourly one's index again. */
#define USAGE_V6                                                                                   \
    USAGE_REBUILD("gpu_usage_hourly", "ts", USAGE_COLS, "ts, server_id, user_name")                \
    "CREATE INDEX gpu_usage_hourly_server ON gpu_usage_hourly(server_id, ts);" USAGE_REBUILD(      \
        "gpu_usage_daily", "day", USAGE_COLS, "day, server_id, user_name")                         \
        USAGE_REBUILD("gpu_usage_user_hourly", "ts", USER_USAGE_COLS, "ts, user_name")             \
            USAGE_REBUILD("gpu_usage_user_daily", "day", USER_USAGE_COLS, "day, user_name")

/* Ordered schema migrations: entry i takes PRAGMA user_version i to i + 1 inside one
 * transaction (the runner in store_sqlite.c sets the new user_version). The version numbers
 * are shared with every other backend's list. Never edit a released entry; append a new one
 * and raise AGG_STORE_SCHEMA_VERSION. */
const struct agg_store_migration agg_sqlite_migrations[AGG_STORE_SCHEMA_VERSION] = {
    /* 1: the initial schema (auto_vacuum is set by agg_store_open, outside any transaction). */
    {1, "CREATE TABLE servers ("
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
        "CREATE INDEX events_server_id ON events(server_id, id DESC);"},
    /* 2: names of config-file servers already imported, so that a server deleted in the UI
     * is not re-created from config.yaml at the next start. */
    {2, "CREATE TABLE seed_imports (name TEXT PRIMARY KEY, imported_at INTEGER NOT NULL);"
        "INSERT OR IGNORE INTO seed_imports (name, imported_at) SELECT name, created_at FROM "
        "servers;"},
    /* 3: the last known state of every GPU (issue 10), so that a restart repeats no gpu_error,
     * gpu_recovered or gpu_idle event. */
    {3, "CREATE TABLE gpu_states ("
        " server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
        " gpu_index INTEGER NOT NULL,"
        " uuid TEXT NOT NULL DEFAULT '',"
        " state TEXT NOT NULL,"
        " since INTEGER,"
        " low_since INTEGER,"
        " idle_reported INTEGER NOT NULL DEFAULT 0,"
        " error_open INTEGER NOT NULL DEFAULT 0,"
        " conditions INTEGER NOT NULL DEFAULT 0,"
        " ecc_volatile INTEGER,"
        " ecc_aggregate INTEGER,"
        " xid_seen_at INTEGER,"
        " xid_seen_n INTEGER NOT NULL DEFAULT 0,"
        " updated_at INTEGER NOT NULL,"
        " PRIMARY KEY(server_id, gpu_index));"},
    /* 4: TLS per server. Servers of an existing database keep polling plain HTTP (tls 0)
     * until an admin turns TLS on; new servers get tls from the API (default on). */
    {4, "ALTER TABLE servers ADD COLUMN tls INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE servers ADD COLUMN tls_pin TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE servers ADD COLUMN tls_ca_file TEXT NOT NULL DEFAULT '';"},
    /* 5: GPU usage accounting (issue 15): GPU-seconds per hour, server and user, and the same
     * summed per UTC day so that a month reads ~30 rows per server and user. No foreign key:
     * a deleted server's usage stays, under the name it had. */
    {5, "CREATE TABLE gpu_usage_hourly (ts INTEGER NOT NULL," USAGE_COLS
        " PRIMARY KEY(ts, server_id, user_name));"
        "CREATE INDEX gpu_usage_hourly_server ON gpu_usage_hourly(server_id, ts);"
        "CREATE TABLE gpu_usage_daily (day INTEGER NOT NULL," USAGE_COLS
        " PRIMARY KEY(day, server_id, user_name));"
        /* The same per user over all servers, for the questions about users only (the usage
         * page's first one, and the daily chart of a user or of everyone). */
        "CREATE TABLE gpu_usage_user_hourly (ts INTEGER NOT NULL," USER_USAGE_COLS
        " PRIMARY KEY(ts, user_name));"
        "CREATE TABLE gpu_usage_user_daily (day INTEGER NOT NULL," USER_USAGE_COLS
        " PRIMARY KEY(day, user_name));"},
    /* 6: the usage tables become WITHOUT ROWID, stored in their primary key's order: a range
     * of hours or days is then read in one pass over adjacent pages instead of an index walk
     * plus one table lookup per row (the 30-day /api/usage reads ~42,000 rows; bench/usage).
     * Copied in place; the columns and indexes are those of version 5. */
    {6, USAGE_V6},
};

/* These cannot change inside a transaction, so they come before the migrations. auto_vacuum
 * takes effect only while the file is still empty, which switching to WAL ends, so it comes
 * first; on an older file it applies at the next full VACUUM. */
const char agg_sqlite_open_pragmas[] = "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA foreign_keys = ON;"
                                       "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
/* AGG_STORE_OPEN_SMALL_CACHE: the writer's page cache (a minute's checkpoint of every server
 * touches each leaf page once; misses are read back from the OS's cache). */
const char agg_sqlite_small_cache_pragma[] = "PRAGMA cache_size = -512";

/* The copy comes in WAL mode like its source: make it one self-contained file that readers
 * open without creating -wal/-shm files beside it (agg_store_open turns WAL on again). */
const char agg_sqlite_backup_finish_sql[] = "PRAGMA journal_mode = DELETE";

/* The restore check's first question to a candidate file (then S_USER_VERSION's). */
const char agg_sqlite_integrity_check_sql[] = "PRAGMA integrity_check(1)";

/* One row (table, item) per table ("table"), column, index and foreign key of the database's
 * own tables, as the schema check compares them: a column with its declared type, NOT NULL and
 * PRIMARY KEY; an index by its columns and uniqueness (so the UNIQUE keys the upserts rely on
 * count, whatever their names); a foreign key with its ON DELETE action. */
const char agg_sqlite_schema_sql[] =
    "WITH t(name) AS (SELECT name FROM sqlite_master WHERE type = 'table' AND "
    "name NOT LIKE 'sqlite\\_%' ESCAPE '\\') "
    "SELECT t.name, 'table' FROM t "
    "UNION ALL SELECT t.name, 'column ' || c.name || ' ' || c.type || "
    "CASE WHEN c.\"notnull\" THEN ' NOT NULL' ELSE '' END || "
    "CASE WHEN c.pk > 0 THEN ' PRIMARY KEY' ELSE '' END FROM t, pragma_table_info(t.name) AS c "
    "UNION ALL SELECT t.name, CASE WHEN i.\"unique\" THEN 'unique index on (' ELSE 'index on (' "
    "END || (SELECT group_concat(k.name, ', ') FROM (SELECT name FROM pragma_index_info(i.name) "
    "ORDER BY seqno) AS k) || ')' FROM t, pragma_index_list(t.name) AS i "
    "UNION ALL SELECT t.name, 'foreign key ' || f.\"from\" || ' references ' || f.\"table\" || "
    "'(' || f.\"to\" || ') on delete ' || lower(f.on_delete) "
    "FROM t, pragma_foreign_key_list(t.name) AS f";

#define SERVER_COLUMNS                                                                             \
    "SELECT id, name, host, agent_port, enabled, services, token, last_seen_at, created_at, "      \
    "last_online, tls, tls_pin, tls_ca_file FROM servers "

#define EVENT_COLUMNS "SELECT id, server_id, server_name, ts, type, message FROM events "

const char *const agg_sqlite_stmt_sql[S__COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_USER_VERSION] = "PRAGMA user_version",
    [S_SERVER_LIST] = SERVER_COLUMNS "ORDER BY id",
    [S_SERVER_GET] = SERVER_COLUMNS "WHERE id = ?1",
    [S_SERVER_GET_BY_NAME] = SERVER_COLUMNS "WHERE name = ?1",
    [S_SERVER_INSERT] = "INSERT INTO servers(name, host, agent_port, enabled, services, token, "
                        "tls, tls_pin, tls_ca_file, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                        "?7, ?8, ?9, ?10)",
    [S_SERVER_UPDATE] = "UPDATE servers SET name = ?2, host = ?3, agent_port = ?4, enabled = ?5, "
                        "services = ?6, token = ?7, tls = ?8, tls_pin = ?9, tls_ca_file = ?10 "
                        "WHERE id = ?1",
    /* Trust on first use: only while no pin is stored (an admin's pin wins a race). */
    [S_SERVER_SET_PIN] = "UPDATE servers SET tls_pin = ?2 WHERE id = ?1 AND tls_pin = ''",
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
    [S_COUNT_GPU_STATES] = "SELECT COUNT(*) FROM gpu_states",
    [S_COUNT_USAGE_HOURLY] = "SELECT COUNT(*) FROM gpu_usage_hourly",
    [S_COUNT_USAGE_DAILY] = "SELECT COUNT(*) FROM gpu_usage_daily",
    [S_COUNT_USAGE_USER_HOURLY] = "SELECT COUNT(*) FROM gpu_usage_user_hourly",
    [S_COUNT_USAGE_USER_DAILY] = "SELECT COUNT(*) FROM gpu_usage_user_daily",
    [S_SEED_SEEN] = "SELECT 1 FROM seed_imports WHERE name = ?1",
    [S_SEED_RECORD] = "INSERT OR IGNORE INTO seed_imports(name, imported_at) VALUES (?1, ?2)",
    [S_SERVER_NAME_TAKEN] = "SELECT 1 FROM servers WHERE name = ?1",
    [S_GPU_STATE_LOAD] = "SELECT gpu_index, uuid, state, since, low_since, idle_reported, "
                         "error_open, conditions, ecc_volatile, ecc_aggregate, xid_seen_at, "
                         "xid_seen_n, updated_at FROM gpu_states WHERE server_id = ?1 "
                         "ORDER BY gpu_index",
    [S_GPU_STATE_SAVE] =
        "INSERT INTO gpu_states(server_id, gpu_index, uuid, state, since, low_since, "
        "idle_reported, error_open, conditions, ecc_volatile, ecc_aggregate, xid_seen_at, "
        "xid_seen_n, updated_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
        "?14 WHERE EXISTS (SELECT 1 FROM servers WHERE id = ?1) "
        "ON CONFLICT(server_id, gpu_index) DO UPDATE SET uuid = excluded.uuid, "
        "state = excluded.state, since = excluded.since, low_since = excluded.low_since, "
        "idle_reported = excluded.idle_reported, error_open = excluded.error_open, "
        "conditions = excluded.conditions, ecc_volatile = excluded.ecc_volatile, "
        "ecc_aggregate = excluded.ecc_aggregate, xid_seen_at = excluded.xid_seen_at, "
        "xid_seen_n = excluded.xid_seen_n, updated_at = excluded.updated_at",
    /* The hour's stored sums, so that the day's row moves by the difference. */
    [S_USAGE_OLD] = "SELECT gpu_seconds, busy_gpu_seconds, mem_mb_seconds, processes "
                    "FROM gpu_usage_hourly WHERE ts = ?1 AND server_id = ?2 AND user_name = ?3",
    [S_USAGE_HOUR_UPSERT] =
        "INSERT INTO gpu_usage_hourly(ts, server_id, server_name, user_name, gpu_seconds, "
        "busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, last_seen) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
        "ON CONFLICT(ts, server_id, user_name) DO UPDATE SET server_name = excluded.server_name, "
        "gpu_seconds = excluded.gpu_seconds, busy_gpu_seconds = excluded.busy_gpu_seconds, "
        "mem_mb_seconds = excluded.mem_mb_seconds, max_gpus = excluded.max_gpus, "
        "processes = excluded.processes, first_seen = excluded.first_seen, "
        "last_seen = excluded.last_seen",
    /* ?5..?7 and ?9 are the differences to the hour's previous sums. */
    [S_USAGE_DAY_UPSERT] =
        "INSERT INTO gpu_usage_daily(day, server_id, server_name, user_name, gpu_seconds, "
        "busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, last_seen) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
        "ON CONFLICT(day, server_id, user_name) DO UPDATE SET server_name = excluded.server_name, "
        "gpu_seconds = gpu_usage_daily.gpu_seconds + excluded.gpu_seconds, "
        "busy_gpu_seconds = gpu_usage_daily.busy_gpu_seconds + excluded.busy_gpu_seconds, "
        "mem_mb_seconds = gpu_usage_daily.mem_mb_seconds + excluded.mem_mb_seconds, "
        "max_gpus = max(gpu_usage_daily.max_gpus, excluded.max_gpus), "
        "processes = gpu_usage_daily.processes + excluded.processes, "
        "first_seen = min(gpu_usage_daily.first_seen, excluded.first_seen), "
        "last_seen = max(gpu_usage_daily.last_seen, excluded.last_seen)",
    /* Per user over all servers: ?1 hour or day, ?2 user, ?3..?5 and ?7 differences. */
    [S_USAGE_USER_HOUR_UPSERT] =
        "INSERT INTO gpu_usage_user_hourly(ts, user_name, gpu_seconds, busy_gpu_seconds, "
        "mem_mb_seconds, "
        "max_gpus, processes, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
        "ON CONFLICT(ts, user_name) DO UPDATE SET "
        "gpu_seconds = gpu_usage_user_hourly.gpu_seconds + excluded.gpu_seconds, "
        "busy_gpu_seconds = gpu_usage_user_hourly.busy_gpu_seconds + excluded.busy_gpu_seconds, "
        "mem_mb_seconds = gpu_usage_user_hourly.mem_mb_seconds + excluded.mem_mb_seconds, "
        "max_gpus = max(gpu_usage_user_hourly.max_gpus, excluded.max_gpus), "
        "processes = gpu_usage_user_hourly.processes + excluded.processes, "
        "first_seen = min(gpu_usage_user_hourly.first_seen, excluded.first_seen), "
        "last_seen = max(gpu_usage_user_hourly.last_seen, excluded.last_seen)",
    [S_USAGE_USER_DAY_UPSERT] =
        "INSERT INTO gpu_usage_user_daily(day, user_name, gpu_seconds, busy_gpu_seconds, "
        "mem_mb_seconds, "
        "max_gpus, processes, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
        "ON CONFLICT(day, user_name) DO UPDATE SET "
        "gpu_seconds = gpu_usage_user_daily.gpu_seconds + excluded.gpu_seconds, "
        "busy_gpu_seconds = gpu_usage_user_daily.busy_gpu_seconds + excluded.busy_gpu_seconds, "
        "mem_mb_seconds = gpu_usage_user_daily.mem_mb_seconds + excluded.mem_mb_seconds, "
        "max_gpus = max(gpu_usage_user_daily.max_gpus, excluded.max_gpus), "
        "processes = gpu_usage_user_daily.processes + excluded.processes, "
        "first_seen = min(gpu_usage_user_daily.first_seen, excluded.first_seen), "
        "last_seen = max(gpu_usage_user_daily.last_seen, excluded.last_seen)",
    [S_USAGE_HOUR_GET] = "SELECT ts, server_id, server_name, user_name, gpu_seconds, "
                         "busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, "
                         "last_seen FROM gpu_usage_hourly WHERE ts = ?2 AND server_id = ?1 "
                         "ORDER BY user_name",
    /* Every server's hours from ?2 on (?1 unused): what a starting aggregator resumes. */
    [S_USAGE_HOURS_SINCE] = "SELECT ts, server_id, server_name, user_name, gpu_seconds, "
                            "busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, "
                            "last_seen FROM gpu_usage_hourly WHERE ts >= ?2 AND ?1 = 0 "
                            "ORDER BY server_id, ts, user_name",
    /* ?1/?2 the hours, ?3/?4 the whole days inside them (agg_store_usage_days), ?5 server
     * (0 any), ?6 user (NULL any). */
    /* The rows of a range per server and user, summed in C (store_sqlite_usage.c): ?1/?2 the
     * days or hours, ?3 server (0 any), ?4 user (NULL any). */
    [S_USAGE_RANGE_DAILY] =
        "SELECT server_id, server_name, user_name, gpu_seconds, busy_gpu_seconds, "
        "mem_mb_seconds, max_gpus, processes, first_seen, last_seen FROM gpu_usage_daily "
        "WHERE day >= ?1 AND day < ?2 AND (?3 = 0 OR server_id = ?3) "
        "AND (?4 IS NULL OR user_name = ?4)",
    [S_USAGE_RANGE_HOURLY] =
        "SELECT server_id, server_name, user_name, gpu_seconds, busy_gpu_seconds, "
        "mem_mb_seconds, max_gpus, processes, first_seen, last_seen FROM gpu_usage_hourly "
        "WHERE ts >= ?1 AND ts < ?2 AND (?3 = 0 OR server_id = ?3) "
        "AND (?4 IS NULL OR user_name = ?4)",
    /* The same per user over all servers (server_id 0, no name). */
    [S_USAGE_QUERY_USERS] =
        "SELECT 0, 0, '', user_name, sum(gpu_seconds), sum(busy_gpu_seconds), "
        "sum(mem_mb_seconds), max(max_gpus), sum(processes), min(first_seen), max(last_seen) "
        "FROM (SELECT user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, "
        "processes, first_seen, last_seen FROM gpu_usage_user_daily "
        "WHERE day >= ?3 AND day < ?4 AND (?6 IS NULL OR user_name = ?6) "
        "UNION ALL SELECT user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, "
        "processes, first_seen, last_seen FROM gpu_usage_user_hourly "
        "WHERE ((ts >= ?1 AND ts < ?3) OR (ts >= ?4 AND ts < ?2)) "
        "AND (?6 IS NULL OR user_name = ?6)) GROUP BY user_name ORDER BY user_name",
    /* ?3 bucket length, ?4 offset (east positive), ?5 server (0 any), ?6 user (NULL any). */
    [S_USAGE_SERIES] =
        "SELECT ts - (ts + ?4 + ?3 * 2) % ?3 AS b, sum(gpu_seconds), sum(busy_gpu_seconds), "
        "sum(mem_mb_seconds) FROM gpu_usage_hourly WHERE ts >= ?1 AND ts < ?2 "
        "AND (?5 = 0 OR server_id = ?5) AND (?6 IS NULL OR user_name = ?6) GROUP BY b ORDER BY b",
    /* Without a server: from the per-user hours (?5 unused). */
    [S_USAGE_SERIES_USERS] =
        "SELECT ts - (ts + ?4 + ?3 * 2) % ?3 AS b, sum(gpu_seconds), sum(busy_gpu_seconds), "
        "sum(mem_mb_seconds) FROM gpu_usage_user_hourly WHERE ts >= ?1 AND ts < ?2 "
        "AND (?5 = 0) AND (?6 IS NULL OR user_name = ?6) GROUP BY b ORDER BY b",
    [S_RET_USAGE_HOURLY] = "DELETE FROM gpu_usage_hourly WHERE ts < ?1",
    [S_RET_USAGE_USER_HOURLY] = "DELETE FROM gpu_usage_user_hourly WHERE ts < ?1",
    [S_RET_USAGE_USER_DAILY] = "DELETE FROM gpu_usage_user_daily WHERE day <= ?1 - 86400",
    [S_RET_USAGE_DAILY] = "DELETE FROM gpu_usage_daily WHERE day <= ?1 - 86400",
};

/* Table names for agg_store_stats, in the order of S_COUNT_SERVERS.. S_COUNT_USAGE_USER_DAILY. */
const char *const agg_sqlite_stats_tables[S_COUNT_USAGE_USER_DAILY - S_COUNT_SERVERS + 1] = {
    "servers",
    "samples_hourly",
    "gpu_samples_hourly",
    "disk_samples_hourly",
    "service_status",
    "unit_states",
    "events",
    "seed_imports",
    "gpu_states",
    "gpu_usage_hourly",
    "gpu_usage_daily",
    "gpu_usage_user_hourly",
    "gpu_usage_user_daily",
};

bool agg_sqlite_timeseries_sql(const char *column, char *buf, size_t size)
{
    int n = snprintf(buf, size,
                     "SELECT ts, %s FROM samples_hourly WHERE server_id = ?1 AND ts >= ?2 AND "
                     "ts <= ?3 ORDER BY ts",
                     column);
    return n >= 0 && (size_t)n < size;
}

bool agg_sqlite_set_version_sql(int version, char *buf, size_t size)
{
    int n = snprintf(buf, size, "PRAGMA user_version = %d", version);
    return n >= 0 && (size_t)n < size;
}

/* ---- copies (--migrate-to): the table and column names come from agg_store_tables ---- */

bool agg_sqlite_copy_out_sql(const struct agg_store_table *t, char *buf, size_t size)
{
    /* Ordered by the first column (the id, or the key), so a copy is reproducible. */
    int n = snprintf(buf, size, "SELECT %s FROM %s ORDER BY 1", t->columns, t->name);
    return n >= 0 && (size_t)n < size;
}

bool agg_sqlite_table_info_sql(const struct agg_store_table *t, char *buf, size_t size)
{
    /* AUTOINCREMENT tables remember in sqlite_sequence ids that were handed out and deleted
     * since; the others reuse max(id) + 1, which is what their sequence must pass. */
    char id_high[160] = "0";
    int n = 0;
    if (t->has_id)
        n = snprintf(id_high, sizeof(id_high),
                     "MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '%s'), 0), "
                     "COALESCE(MAX(id), 0))",
                     t->name);
    if (n < 0 || (size_t)n >= sizeof(id_high))
        return false;
    /* The ts range (for the target's partitions) whether or not the table has an id. */
    n = snprintf(buf, size, "SELECT COUNT(*), %s, %s, %s FROM %s", id_high,
                 t->has_ts ? "COALESCE(MIN(ts), 0)" : "0", t->has_ts ? "COALESCE(MAX(ts), 0)" : "0",
                 t->name);
    return n >= 0 && (size_t)n < size;
}
