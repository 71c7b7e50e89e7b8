/* SPDX-License-Identifier: MIT */
/* All the SQL of the PostgreSQL backend in one place: the versioned schema migrations (the
 * same versions as SQLite's, with the history tables partitioned by month), the session
 * settings, every prepared statement and the templates of the statements built from fixed
 * names (metric columns, table names, partition months). Values are always parameters. */
#include "aggregator/store_pg.h"

#include <stdio.h>

/* Columns whose values are measurements are double precision (SQLite keeps any number in
 * them, integral or not); ids, times and counts are bigint. Text that is sorted (unit names,
 * mounts) compares bytewise, like SQLite. */
#define SCHEMA_SERVERS                                                                             \
    "CREATE TABLE servers (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, "                  \
    "host text NOT NULL, agent_port integer NOT NULL DEFAULT 9109, "                               \
    "enabled integer NOT NULL DEFAULT 1, services text NOT NULL DEFAULT '[]', "                    \
    "token text NOT NULL, last_seen_at bigint, created_at bigint NOT NULL, last_online integer);"

/* A history table: partitioned by month on ts, a BRIN index on ts for retention (rows arrive
 * in time order, so a block range index is small and exact enough). */
#define HISTORY_TABLE(name, cols, key)                                                             \
    "CREATE TABLE " name " (id bigserial, "                                                        \
    "server_id bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE, "                         \
    "ts bigint NOT NULL, " cols key ") PARTITION BY RANGE (ts);"                                   \
    "CREATE INDEX " name "_ts ON " name " USING brin (ts);"

#define SCHEMA_SAMPLES                                                                             \
    HISTORY_TABLE("samples_hourly",                                                                \
                  "samples bigint NOT NULL, "                                                      \
                  "cpu_pct_avg float8, cpu_pct_max float8, cpu_pct_min float8, "                   \
                  "mem_used_pct_avg float8, mem_used_pct_max float8, mem_used_pct_min float8, "    \
                  "disk_used_pct float8, disk_used_pct_max float8, disk_used_pct_min float8, "     \
                  "disk_used_bytes float8, disk_total_bytes float8, "                              \
                  "gpu_util_pct_avg float8, gpu_util_pct_max float8, gpu_util_pct_min float8, "    \
                  "gpu_mem_used_mb float8, gpu_mem_total_mb float8, "                              \
                  "gpu_mem_used_mb_max float8, gpu_mem_used_mb_min float8",                        \
                  ", PRIMARY KEY (server_id, ts)")

#define SCHEMA_GPU                                                                                 \
    HISTORY_TABLE("gpu_samples_hourly",                                                            \
                  "gpu_index integer NOT NULL, uuid text, name text, samples bigint NOT NULL, "    \
                  "util_pct_avg float8, util_pct_max float8, mem_used_mb_avg float8, "             \
                  "mem_used_mb_max float8, mem_total_mb float8, temp_c_max float8, "               \
                  "power_w_avg float8",                                                            \
                  ", PRIMARY KEY (server_id, ts, gpu_index)")

#define SCHEMA_DISK                                                                                \
    HISTORY_TABLE("disk_samples_hourly",                                                           \
                  "mount text COLLATE \"C\" NOT NULL, samples bigint NOT NULL, "                   \
                  "used_pct_avg float8, used_pct_max float8, used_pct float8, "                    \
                  "used_bytes float8, total_bytes float8",                                         \
                  ", PRIMARY KEY (server_id, ts, mount)")

#define SCHEMA_STATUS                                                                              \
    HISTORY_TABLE("service_status", "unit_name text NOT NULL, active_state text, sub_state text",  \
                  "")                                                                              \
    "CREATE INDEX service_status_server_ts ON service_status (server_id, ts DESC);"

#define SCHEMA_UNITS                                                                               \
    "CREATE TABLE unit_states (server_id bigint NOT NULL REFERENCES servers(id) ON DELETE "        \
    "CASCADE, unit_name text COLLATE \"C\" NOT NULL, active_state text, sub_state text, "          \
    "since bigint, PRIMARY KEY (server_id, unit_name));"

#define SCHEMA_EVENTS                                                                              \
    "CREATE TABLE events (id bigserial PRIMARY KEY, "                                              \
    "server_id bigint REFERENCES servers(id) ON DELETE SET NULL, server_name text NOT NULL, "      \
    "ts bigint NOT NULL, type text NOT NULL, message text NOT NULL);"                              \
    "CREATE INDEX events_ts ON events (ts DESC);"                                                  \
    "CREATE INDEX events_server_id ON events (server_id, id DESC);"

/* The GPU usage tables' columns after the hour or day (no foreign key: a deleted server's
 * usage stays). */
#define USER_USAGE_COLS                                                                            \
    "user_name text COLLATE \"C\" NOT NULL, gpu_seconds float8 NOT NULL, "                         \
    "busy_gpu_seconds float8 NOT NULL, mem_mb_seconds float8 NOT NULL, max_gpus bigint NOT NULL, " \
    "processes bigint NOT NULL, first_seen bigint NOT NULL, last_seen bigint NOT NULL"
#define USAGE_COLS "server_id bigint NOT NULL, server_name text NOT NULL, " USER_USAGE_COLS

/* Ordered schema migrations with the same version numbers and meaning as SQLite's list; the
 * runner in store_pg.c records the version in lanmon_schema. Never edit a released entry. */
const struct agg_store_migration agg_pg_migrations[AGG_STORE_SCHEMA_VERSION] = {
    /* 1: the initial schema; the history tables' monthly partitions are created ahead of
     * time and on demand (store_pg_part.c). */
    {1,
     SCHEMA_SERVERS SCHEMA_SAMPLES SCHEMA_GPU SCHEMA_DISK SCHEMA_STATUS SCHEMA_UNITS SCHEMA_EVENTS},
    /* 2: names of config-file servers already imported (see the SQLite list). */
    {2, "CREATE TABLE seed_imports (name text PRIMARY KEY, imported_at bigint NOT NULL);"
        "INSERT INTO seed_imports (name, imported_at) SELECT name, created_at FROM servers "
        "ON CONFLICT DO NOTHING;"},
    /* 3: the last known state of every GPU (see the SQLite list). */
    {3, "CREATE TABLE gpu_states (server_id bigint NOT NULL REFERENCES servers(id) ON DELETE "
        "CASCADE, gpu_index integer NOT NULL, uuid text NOT NULL DEFAULT '', state text NOT NULL, "
        "since bigint, low_since bigint, idle_reported integer NOT NULL DEFAULT 0, "
        "error_open integer NOT NULL DEFAULT 0, conditions integer NOT NULL DEFAULT 0, "
        "ecc_volatile bigint, ecc_aggregate bigint, xid_seen_at bigint, "
        "xid_seen_n integer NOT NULL DEFAULT 0, updated_at bigint NOT NULL, "
        "PRIMARY KEY (server_id, gpu_index));"},
    /* 4: TLS per server (see the SQLite list): existing servers keep plain HTTP. */
    {4, "ALTER TABLE servers ADD COLUMN tls integer NOT NULL DEFAULT 0,"
        " ADD COLUMN tls_pin text NOT NULL DEFAULT '',"
        " ADD COLUMN tls_ca_file text NOT NULL DEFAULT '';"},
    /* 5: GPU usage accounting (see the SQLite list); the hourly tables partitioned by month
     * like the history, with their own retention (history.usage_retention_days). */
    {5, "CREATE TABLE gpu_usage_hourly (ts bigint NOT NULL, " USAGE_COLS
        ", PRIMARY KEY (ts, server_id, user_name)) PARTITION BY RANGE (ts);"
        "CREATE INDEX gpu_usage_hourly_server ON gpu_usage_hourly (server_id, ts);"
        "CREATE TABLE gpu_usage_daily (day bigint NOT NULL, " USAGE_COLS
        ", PRIMARY KEY (day, server_id, user_name));"
        "CREATE TABLE gpu_usage_user_hourly (ts bigint NOT NULL, " USER_USAGE_COLS
        ", PRIMARY KEY (ts, user_name)) PARTITION BY RANGE (ts);"
        "CREATE TABLE gpu_usage_user_daily (day bigint NOT NULL, " USER_USAGE_COLS
        ", PRIMARY KEY (day, user_name));"},
    /* 6: (SQLite's usage tables become WITHOUT ROWID.) Here the daily rows, rewritten by every
     * checkpoint of their day, leave room in their pages for the new versions, so that the
     * updates stay on the page (HOT) and the dead versions are pruned there instead of
     * spreading the table over many more pages than its rows need (bench/usage). Applies to
     * the pages written from now on. */
    {6, "ALTER TABLE gpu_usage_daily SET (fillfactor = 70);"
        "ALTER TABLE gpu_usage_user_daily SET (fillfactor = 70);"},
};

const char agg_pg_version_table_sql[] =
    "CREATE TABLE IF NOT EXISTS lanmon_schema (version integer NOT NULL)";
const char agg_pg_version_get_sql[] = "SELECT COALESCE(MAX(version), 0) FROM lanmon_schema";
const char agg_pg_version_set_sql[] =
    "WITH d AS (DELETE FROM lanmon_schema) INSERT INTO lanmon_schema (version) VALUES ($1::int)";
/* Keys of the advisory locks: "lanmon" and a number, per database. */
const char agg_pg_migration_lock_sql[] = "SELECT pg_advisory_xact_lock(7809911, 1)";
const char agg_pg_instance_lock_sql[] = "SELECT pg_try_advisory_lock(7809911, 2)::int";
const char agg_pg_foreign_tables_sql[] =
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "AND NOT c.relispartition AND c.relname <> ALL ($1::text[]) ORDER BY 1 LIMIT 3";
const char agg_pg_vacuum_sql[] = "VACUUM (ANALYZE)";
const char agg_pg_no_timeout_sql[] = "SET statement_timeout = 0";
const char agg_pg_timeout_sql[] = "SET statement_timeout = '10min'";
const char agg_pg_table_exists_sql[] = "SELECT (to_regclass($1::text) IS NOT NULL)::int";
const char agg_pg_database_size_sql[] = "SELECT pg_database_size(current_database())";

const char *const agg_pg_partitioned[AGG_PG_PARTITIONED] = {
    "samples_hourly", "gpu_samples_hourly", "disk_samples_hourly",
    "service_status", "gpu_usage_hourly",   "gpu_usage_user_hourly"};

/* The filters of the usage reads: $5 server (0 any), $6 user (NULL any). */
#define USER_FILTER  "AND ($6::text IS NULL OR user_name = $6::text)"
#define USAGE_FILTER "AND ($5::bigint = 0 OR server_id = $5::bigint) " USER_FILTER

/* A user's row of an hour or day moved by the difference d (see P_USAGE_UPSERT). */
#define USER_UPSERT(table, key, key_value)                                                         \
    "INSERT INTO " table " (" key ", user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, "   \
    "max_gpus, processes, first_seen, last_seen) SELECT " key_value ", $4::text, d.g, d.b, d.m, "  \
    "$8::bigint, d.p, $10::bigint, $11::bigint FROM d ON CONFLICT (" key ", user_name) DO UPDATE " \
    "SET gpu_seconds = " table ".gpu_seconds + excluded.gpu_seconds, "                             \
    "busy_gpu_seconds = " table ".busy_gpu_seconds + excluded.busy_gpu_seconds, "                  \
    "mem_mb_seconds = " table ".mem_mb_seconds + excluded.mem_mb_seconds, "                        \
    "max_gpus = GREATEST(" table ".max_gpus, excluded.max_gpus), "                                 \
    "processes = " table ".processes + excluded.processes, "                                       \
    "first_seen = LEAST(" table ".first_seen, excluded.first_seen), "                              \
    "last_seen = GREATEST(" table ".last_seen, excluded.last_seen) RETURNING 1"

#define SERVER_COLUMNS                                                                             \
    "SELECT id, name, host, agent_port, enabled, services, token, last_seen_at, created_at, "      \
    "last_online, tls, tls_pin, tls_ca_file FROM servers "

#define EVENT_COLUMNS "SELECT id, server_id, server_name, ts, type, message FROM events "

/* A batch of hourly rows arrives as one array per column: unnest() turns them back into rows,
 * the last of two rows with the same key wins (as a second upsert would), and rows of servers
 * deleted meanwhile are skipped. */
#define UNNEST_UPSERT(table, cols, casts, key, updates)                                            \
    "INSERT INTO " table " (" cols ") SELECT DISTINCT ON (" key ") " cols " FROM unnest(" casts    \
    ") WITH ORDINALITY AS u(" cols ", ord) WHERE EXISTS (SELECT 1 FROM servers s WHERE s.id = "    \
    "u.server_id) ORDER BY " key ", ord DESC ON CONFLICT (" key ") DO UPDATE SET " updates

#define HOURLY_COLS                                                                                \
    "server_id, ts, samples, cpu_pct_avg, cpu_pct_max, cpu_pct_min, mem_used_pct_avg, "            \
    "mem_used_pct_max, mem_used_pct_min, disk_used_pct, disk_used_pct_max, disk_used_pct_min, "    \
    "disk_used_bytes, disk_total_bytes, gpu_util_pct_avg, gpu_util_pct_max, gpu_util_pct_min, "    \
    "gpu_mem_used_mb, gpu_mem_total_mb, gpu_mem_used_mb_max, gpu_mem_used_mb_min"
#define GPU_COLS                                                                                   \
    "server_id, ts, gpu_index, uuid, name, samples, util_pct_avg, util_pct_max, mem_used_mb_avg, " \
    "mem_used_mb_max, mem_total_mb, temp_c_max, power_w_avg"
#define DISK_COLS                                                                                  \
    "server_id, ts, mount, samples, used_pct_avg, used_pct_max, used_pct, used_bytes, total_bytes"

const char *const agg_pg_stmt_sql[P__COUNT] = {
    [P_SERVER_LIST] = SERVER_COLUMNS "ORDER BY id",
    [P_SERVER_GET] = SERVER_COLUMNS "WHERE id = $1::bigint",
    [P_SERVER_GET_BY_NAME] = SERVER_COLUMNS "WHERE name = $1::text",
    [P_SERVER_INSERT] = "INSERT INTO servers (name, host, agent_port, enabled, services, token, "
                        "tls, tls_pin, tls_ca_file, created_at) VALUES ($1::text, $2::text, "
                        "$3::int, $4::int, $5::text, $6::text, $7::int, $8::text, $9::text, "
                        "$10::bigint) RETURNING id",
    [P_SERVER_UPDATE] = "UPDATE servers SET name = $2::text, host = $3::text, agent_port = "
                        "$4::int, enabled = $5::int, services = $6::text, token = $7::text, "
                        "tls = $8::int, tls_pin = $9::text, tls_ca_file = $10::text "
                        "WHERE id = $1::bigint",
    /* Trust on first use: only while no pin is stored (an admin's pin wins a race). */
    [P_SERVER_SET_PIN] = "UPDATE servers SET tls_pin = $2::text WHERE id = $1::bigint AND "
                         "tls_pin = ''",
    [P_SERVER_NAME] = "SELECT name FROM servers WHERE id = $1::bigint FOR UPDATE",
    [P_SERVER_DELETE] = "DELETE FROM servers WHERE id = $1::bigint",
    [P_SERVER_SEEN] = "UPDATE servers SET "
                      "last_seen_at = CASE WHEN $2::bigint >= 0 THEN $2::bigint ELSE "
                      "last_seen_at END, "
                      "last_online = CASE WHEN $3::int >= 0 THEN $3::int ELSE last_online END "
                      "WHERE id = $1::bigint",
    [P_UNIT_LOAD] = "SELECT unit_name, active_state, sub_state, since FROM unit_states "
                    "WHERE server_id = $1::bigint ORDER BY unit_name",
    [P_UNIT_SAVE] = "INSERT INTO unit_states (server_id, unit_name, active_state, sub_state, "
                    "since) SELECT $1::bigint, $2::text, $3::text, $4::text, $5::bigint "
                    "WHERE EXISTS (SELECT 1 FROM servers WHERE id = $1::bigint) "
                    "ON CONFLICT (server_id, unit_name) DO UPDATE SET "
                    "active_state = excluded.active_state, sub_state = excluded.sub_state, "
                    "since = excluded.since",
    /* A server that no longer exists (or none, $1 NULL) leaves server_id NULL. */
    [P_EVENT_ADD] = "INSERT INTO events (server_id, server_name, ts, type, message) "
                    "VALUES ((SELECT id FROM servers WHERE id = $1::bigint), $2::text, "
                    "$3::bigint, $4::text, $5::text)",
    [P_EVENTS_ALL] = EVENT_COLUMNS "WHERE id < $1::bigint AND ($2::text IS NULL OR type = "
                                   "$2::text) ORDER BY id DESC LIMIT $3::int",
    [P_EVENTS_SERVER] = EVENT_COLUMNS "WHERE server_id = $4::bigint AND id < $1::bigint AND "
                                      "($2::text IS NULL OR type = $2::text) "
                                      "ORDER BY id DESC LIMIT $3::int",
    [P_STATUS_ADD] = "INSERT INTO service_status (server_id, ts, unit_name, active_state, "
                     "sub_state) SELECT $1::bigint, $2::bigint, $3::text, $4::text, $5::text "
                     "WHERE EXISTS (SELECT 1 FROM servers WHERE id = $1::bigint)",
    [P_HOURLY_UPSERT] = UNNEST_UPSERT(
        "samples_hourly", HOURLY_COLS,
        "$1::bigint[], $2::bigint[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], "
        "$7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::float8[], "
        "$13::float8[], $14::float8[], $15::float8[], $16::float8[], $17::float8[], "
        "$18::float8[], $19::float8[], $20::float8[], $21::float8[]",
        "server_id, ts",
        "samples = excluded.samples, cpu_pct_avg = excluded.cpu_pct_avg, "
        "cpu_pct_max = excluded.cpu_pct_max, cpu_pct_min = excluded.cpu_pct_min, "
        "mem_used_pct_avg = excluded.mem_used_pct_avg, "
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
        "gpu_mem_used_mb_min = excluded.gpu_mem_used_mb_min"),
    [P_GPU_UPSERT] = UNNEST_UPSERT(
        "gpu_samples_hourly", GPU_COLS,
        "$1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::text[], $6::bigint[], "
        "$7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::float8[], "
        "$13::float8[]",
        "server_id, ts, gpu_index",
        "uuid = excluded.uuid, name = excluded.name, samples = excluded.samples, "
        "util_pct_avg = excluded.util_pct_avg, util_pct_max = excluded.util_pct_max, "
        "mem_used_mb_avg = excluded.mem_used_mb_avg, mem_used_mb_max = excluded.mem_used_mb_max, "
        "mem_total_mb = excluded.mem_total_mb, temp_c_max = excluded.temp_c_max, "
        "power_w_avg = excluded.power_w_avg"),
    [P_DISK_UPSERT] = UNNEST_UPSERT(
        "disk_samples_hourly", DISK_COLS,
        "$1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::float8[], $6::float8[], "
        "$7::float8[], $8::float8[], $9::float8[]",
        "server_id, ts, mount",
        "samples = excluded.samples, used_pct_avg = excluded.used_pct_avg, "
        "used_pct_max = excluded.used_pct_max, used_pct = excluded.used_pct, "
        "used_bytes = excluded.used_bytes, total_bytes = excluded.total_bytes"),
    [P_HOURLY_GET] =
        "SELECT samples, cpu_pct_avg, cpu_pct_max, cpu_pct_min, mem_used_pct_avg, "
        "mem_used_pct_max, mem_used_pct_min, disk_used_pct, disk_used_pct_max, disk_used_pct_min, "
        "disk_used_bytes, disk_total_bytes, gpu_util_pct_avg, gpu_util_pct_max, gpu_util_pct_min, "
        "gpu_mem_used_mb, gpu_mem_total_mb, gpu_mem_used_mb_max, gpu_mem_used_mb_min "
        "FROM samples_hourly WHERE server_id = $1::bigint AND ts = $2::bigint",
    [P_GPU_GET] = "SELECT gpu_index, uuid, name, samples, util_pct_avg, util_pct_max, "
                  "mem_used_mb_avg, mem_used_mb_max, mem_total_mb, temp_c_max, power_w_avg "
                  "FROM gpu_samples_hourly WHERE server_id = $1::bigint AND ts = $2::bigint "
                  "ORDER BY gpu_index",
    [P_DISK_GET] = "SELECT mount, samples, used_pct_avg, used_pct_max, used_pct, used_bytes, "
                   "total_bytes FROM disk_samples_hourly WHERE server_id = $1::bigint AND ts = "
                   "$2::bigint ORDER BY mount",
    [P_RET_EVENTS] = "DELETE FROM events WHERE ts < $1::bigint",
    [P_SEED_SEEN] = "SELECT 1 FROM seed_imports WHERE name = $1::text",
    [P_SEED_RECORD] = "INSERT INTO seed_imports (name, imported_at) VALUES ($1::text, $2::bigint) "
                      "ON CONFLICT DO NOTHING",
    [P_SERVER_NAME_TAKEN] = "SELECT 1 FROM servers WHERE name = $1::text",
    [P_GPU_STATE_LOAD] = "SELECT gpu_index, uuid, state, since, low_since, idle_reported, "
                         "error_open, conditions, ecc_volatile, ecc_aggregate, xid_seen_at, "
                         "xid_seen_n, updated_at FROM gpu_states WHERE server_id = $1::bigint "
                         "ORDER BY gpu_index",
    [P_GPU_STATE_SAVE] =
        "INSERT INTO gpu_states (server_id, gpu_index, uuid, state, since, low_since, "
        "idle_reported, error_open, conditions, ecc_volatile, ecc_aggregate, xid_seen_at, "
        "xid_seen_n, updated_at) SELECT $1::bigint, $2::int, $3::text, $4::text, $5::bigint, "
        "$6::bigint, $7::int, $8::int, $9::int, $10::bigint, $11::bigint, $12::bigint, $13::int, "
        "$14::bigint WHERE EXISTS (SELECT 1 FROM servers WHERE id = $1::bigint) "
        "ON CONFLICT (server_id, gpu_index) DO UPDATE SET uuid = excluded.uuid, "
        "state = excluded.state, since = excluded.since, low_since = excluded.low_since, "
        "idle_reported = excluded.idle_reported, error_open = excluded.error_open, "
        "conditions = excluded.conditions, ecc_volatile = excluded.ecc_volatile, "
        "ecc_aggregate = excluded.ecc_aggregate, xid_seen_at = excluded.xid_seen_at, "
        "xid_seen_n = excluded.xid_seen_n, updated_at = excluded.updated_at",
    /* Our partitions of a partitioned table, by name (<table>_pYYYYMM). */
    [P_PARTITIONS_OF] = "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = "
                        "i.inhrelid WHERE i.inhparent = to_regclass($1::text) ORDER BY 1",
    /* One hour of one server and user: the hour replaced, its day and the user's hour and day
     * moved by the difference to what the hour held (o), in one statement. $1 hour, $2 server,
     * $3 server name, $4 user, $5..$7 sums, $8 max GPUs, $9 processes, $10/$11 first/last. */
    [P_USAGE_UPSERT] =
        "WITH o AS (SELECT gpu_seconds g, busy_gpu_seconds b, mem_mb_seconds m, processes p "
        "FROM gpu_usage_hourly WHERE ts = $1::bigint AND server_id = $2::bigint "
        "AND user_name = $4::text), "
        "d AS (SELECT $5::float8 - COALESCE((SELECT g FROM o), 0) g, "
        "$6::float8 - COALESCE((SELECT b FROM o), 0) b, "
        "$7::float8 - COALESCE((SELECT m FROM o), 0) m, "
        "$9::bigint - COALESCE((SELECT p FROM o), 0) p), "
        "h AS (INSERT INTO gpu_usage_hourly (ts, server_id, server_name, user_name, gpu_seconds, "
        "busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, last_seen) VALUES "
        "($1::bigint, $2::bigint, $3::text, $4::text, $5::float8, $6::float8, $7::float8, "
        "$8::bigint, $9::bigint, $10::bigint, $11::bigint) "
        "ON CONFLICT (ts, server_id, user_name) DO UPDATE SET server_name = excluded.server_name, "
        "gpu_seconds = excluded.gpu_seconds, busy_gpu_seconds = excluded.busy_gpu_seconds, "
        "mem_mb_seconds = excluded.mem_mb_seconds, max_gpus = excluded.max_gpus, "
        "processes = excluded.processes, first_seen = excluded.first_seen, "
        "last_seen = excluded.last_seen RETURNING 1), "
        "dd AS (INSERT INTO gpu_usage_daily (day, server_id, server_name, user_name, gpu_seconds, "
        "busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, last_seen) "
        "SELECT $1::bigint - $1::bigint % 86400, $2::bigint, $3::text, $4::text, d.g, d.b, d.m, "
        "$8::bigint, d.p, $10::bigint, $11::bigint FROM d "
        "ON CONFLICT (day, server_id, user_name) DO UPDATE SET "
        "server_name = excluded.server_name, "
        "gpu_seconds = gpu_usage_daily.gpu_seconds + excluded.gpu_seconds, "
        "busy_gpu_seconds = gpu_usage_daily.busy_gpu_seconds + excluded.busy_gpu_seconds, "
        "mem_mb_seconds = gpu_usage_daily.mem_mb_seconds + excluded.mem_mb_seconds, "
        "max_gpus = GREATEST(gpu_usage_daily.max_gpus, excluded.max_gpus), "
        "processes = gpu_usage_daily.processes + excluded.processes, "
        "first_seen = LEAST(gpu_usage_daily.first_seen, excluded.first_seen), "
        "last_seen = GREATEST(gpu_usage_daily.last_seen, excluded.last_seen) RETURNING 1), "
        "uh AS (" USER_UPSERT(
            "gpu_usage_user_hourly", "ts",
            "$1::bigint") "), "
                          "ud AS (" USER_UPSERT(
                              "gpu_usage_user_daily", "day",
                              "$1::bigint - $1::bigint % 86400") ") SELECT (SELECT count(*) FROM "
                                                                 "h) + (SELECT count(*) FROM dd) + "
                                                                 "(SELECT count(*) FROM uh) + "
                                                                 "(SELECT count(*) FROM ud)",
    [P_USAGE_HOUR_GET] = "SELECT ts, server_id, server_name, user_name, gpu_seconds, "
                         "busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, "
                         "last_seen FROM gpu_usage_hourly WHERE server_id = $1::bigint AND "
                         "ts = $2::bigint ORDER BY user_name",
    [P_USAGE_HOURS_SINCE] = "SELECT ts, server_id, server_name, user_name, gpu_seconds, "
                            "busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, "
                            "last_seen FROM gpu_usage_hourly WHERE ts >= $2::bigint AND "
                            "$1::bigint = 0 ORDER BY server_id, ts, user_name",
    /* $1/$2 the hours, $3/$4 the whole days inside them, $5 server (0 any), $6 user (NULL
     * any); as the SQLite statement, without ORDER BY: store_pg_usage.c sorts the groups
     * (5,000 per 30 days in bench/usage: the server's CPU per request 22 -> 20 ms, the
     * aggregator's +0.5-1 ms). */
    [P_USAGE_QUERY] =
        "SELECT 0, server_id, max(server_name), user_name, sum(gpu_seconds), "
        "sum(busy_gpu_seconds), sum(mem_mb_seconds), max(max_gpus), sum(processes), "
        "min(first_seen), max(last_seen) FROM ("
        "SELECT server_id, server_name, user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, "
        "max_gpus, processes, first_seen, last_seen FROM gpu_usage_daily "
        "WHERE day >= $3::bigint AND day < $4::bigint " USAGE_FILTER
        " UNION ALL SELECT server_id, server_name, user_name, gpu_seconds, busy_gpu_seconds, "
        "mem_mb_seconds, max_gpus, processes, first_seen, last_seen FROM gpu_usage_hourly "
        "WHERE ((ts >= $1::bigint AND ts < $3::bigint) OR (ts >= $4::bigint AND ts < "
        "$2::bigint)) " USAGE_FILTER ") u GROUP BY server_id, user_name",
    [P_USAGE_QUERY_USERS] =
        "SELECT 0, 0, '', user_name, sum(gpu_seconds), sum(busy_gpu_seconds), "
        "sum(mem_mb_seconds), max(max_gpus), sum(processes), min(first_seen), max(last_seen) "
        "FROM (SELECT user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, "
        "processes, first_seen, last_seen FROM gpu_usage_user_daily "
        "WHERE day >= $3::bigint AND day < $4::bigint AND $5::bigint = 0 " USER_FILTER
        " UNION ALL SELECT user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, "
        "processes, first_seen, last_seen FROM gpu_usage_user_hourly "
        "WHERE ((ts >= $1::bigint AND ts < $3::bigint) OR (ts >= $4::bigint AND ts < "
        "$2::bigint)) " USER_FILTER ") u GROUP BY user_name ORDER BY user_name",
    /* $3 bucket length, $4 offset (east positive), $5 server, $6 user (NULL any). */
    [P_USAGE_SERIES] =
        "SELECT ts - (ts + $4::bigint + $3::bigint * 2) % $3::bigint AS b, sum(gpu_seconds), "
        "sum(busy_gpu_seconds), sum(mem_mb_seconds) FROM gpu_usage_hourly "
        "WHERE ts >= $1::bigint AND ts < $2::bigint " USAGE_FILTER " GROUP BY b ORDER BY b",
    [P_USAGE_SERIES_USERS] =
        "SELECT ts - (ts + $4::bigint + $3::bigint * 2) % $3::bigint AS b, sum(gpu_seconds), "
        "sum(busy_gpu_seconds), sum(mem_mb_seconds) FROM gpu_usage_user_hourly "
        "WHERE ts >= $1::bigint AND ts < $2::bigint AND $5::bigint = 0 " USER_FILTER
        " GROUP BY b ORDER BY b",
    [P_RET_USAGE_DAILY] = "DELETE FROM gpu_usage_daily WHERE day <= $1::bigint - 86400",
    [P_RET_USAGE_USER_DAILY] = "DELETE FROM gpu_usage_user_daily WHERE day <= $1::bigint - 86400",
};

bool agg_pg_timeseries_sql(const char *column, char *buf, size_t size)
{
    int n = snprintf(buf, size,
                     "SELECT ts, %s FROM samples_hourly WHERE server_id = $1::bigint AND ts >= "
                     "$2::bigint AND ts <= $3::bigint ORDER BY ts",
                     column);
    return n >= 0 && (size_t)n < size;
}

bool agg_pg_partition_name(const char *table, int year, int month, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s_p%04d%02d", table, year, month);
    return n >= 0 && (size_t)n < size;
}

bool agg_pg_partition_create_sql(const char *table, int year, int month, int64_t from, int64_t to,
                                 char *buf, size_t size)
{
    int n = snprintf(buf, size,
                     "CREATE TABLE IF NOT EXISTS %s_p%04d%02d PARTITION OF %s FOR VALUES FROM "
                     "(%lld) TO (%lld)",
                     table, year, month, table, (long long)from, (long long)to);
    return n >= 0 && (size_t)n < size;
}

bool agg_pg_drop_sql(const char *partition, char *buf, size_t size)
{
    int n = snprintf(buf, size, "DROP TABLE %s", partition);
    return n >= 0 && (size_t)n < size;
}

bool agg_pg_count_sql(const char *table, char *buf, size_t size)
{
    int n = snprintf(buf, size, "SELECT COUNT(*) FROM %s", table);
    return n >= 0 && (size_t)n < size;
}

bool agg_pg_exists_sql(const char *table, char *buf, size_t size)
{
    int n = snprintf(buf, size, "SELECT EXISTS (SELECT 1 FROM %s)::int", table);
    return n >= 0 && (size_t)n < size;
}

bool agg_pg_delete_before_sql(const char *table, char *buf, size_t size)
{
    int n = snprintf(buf, size, "DELETE FROM %s WHERE ts < $1::bigint", table);
    return n >= 0 && (size_t)n < size;
}

bool agg_pg_copy_in_sql(const struct agg_store_table *t, char *buf, size_t size)
{
    int n = snprintf(buf, size, "COPY %s (%s) FROM STDIN", t->name, t->columns);
    return n >= 0 && (size_t)n < size;
}

bool agg_pg_setval_sql(const struct agg_store_table *t, char *buf, size_t size)
{
    /* The next id is past both the highest id the source handed out and the highest copied;
     * an empty table starts at 1. */
    int n = snprintf(buf, size,
                     "SELECT setval(pg_get_serial_sequence('%s', 'id'), GREATEST($1::bigint, "
                     "(SELECT COALESCE(MAX(id), 0) FROM %s), 1), GREATEST($1::bigint, (SELECT "
                     "COALESCE(MAX(id), 0) FROM %s)) > 0)",
                     t->name, t->name, t->name);
    return n >= 0 && (size_t)n < size;
}

bool agg_pg_session_sql(int lock_timeout_ms, char *buf, size_t size)
{
    /* Lock waits end after the busy time (like SQLite's busy timeout), any statement after 10
     * minutes; notices ("relation already exists, skipping") are not wanted. Commits do not
     * wait for the WAL flush: the durability of SQLite's WAL with synchronous=NORMAL (a crash
     * of the database machine may lose the last moments of writes, never consistency), and a
     * checkpoint costs no disk flush of its own. */
    int n = snprintf(buf, size,
                     "SET lock_timeout = %d; SET statement_timeout = '10min'; "
                     "SET client_min_messages = warning; SET synchronous_commit = off",
                     lock_timeout_ms);
    return n >= 0 && (size_t)n < size;
}

bool agg_pg_columns_probe_sql(const struct agg_store_table *t, char *buf, size_t size)
{
    /* Reads no row: fails, naming it, when the table or one of its columns is missing. */
    int n = snprintf(buf, size, "SELECT %s FROM %s LIMIT 0", t->columns, t->name);
    return n >= 0 && (size_t)n < size;
}
