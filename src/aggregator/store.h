/* SPDX-License-Identifier: MIT */
/* The aggregator's storage API, the same whatever the database: servers, persisted last known
 * unit states, events, hourly history, timeseries, retention, checks and backups. Times are
 * int64 UTC seconds. The row types are in model.h.
 *
 * Each agg_store is one connection guarded by its own mutex, so one object may be shared by
 * several threads; open a separate agg_store per subsystem (writer thread, API) so that a
 * slow write never blocks API reads.
 *
 * Layout (docs/operations.md §12 has the file map): store.c is this API's backend-neutral
 * side (it picks the backend, checks arguments, takes the connection's lock and keeps the
 * reason of the last failure); store_backend.h is what a backend implements (struct
 * agg_store_ops); store_sqlite*.c is the SQLite backend, the only code that includes sqlite3.h,
 * with all of its SQL in store_sqlite_sql.c; store_pg*.c is the PostgreSQL backend, the only
 * code that includes libpq-fe.h, with all of its SQL in store_pg_sql.c; store_copy.c copies a
 * whole database from one backend into another (--migrate-to). agg_store_open uses the first
 * backend whose accepts() takes the `database:` value: PostgreSQL takes postgresql:// and
 * postgres:// URIs, SQLite any file path, so it comes last.
 *
 * Schema versions: agg_store_schema_version() (AGG_STORE_SCHEMA_VERSION) is the version this
 * build writes. Each backend keeps an ordered list of struct agg_store_migration whose entry i
 * produces version i + 1, the same numbers in every backend, applied at open each in its own
 * transaction; a database newer than the binary is refused (MON_EUNSUPPORTED). SQLite keeps
 * the version in PRAGMA user_version, PostgreSQL in the one-row table lanmon_schema. Never edit
 * a released migration; append one.
 *
 * Errors: every function returns a MON_E* code and records the reason (the database's own
 * message, e.g. "database or disk is full", or a short one of ours) on the connection, read
 * with agg_store_last_error(); functions that have no connection (open, restore check) or
 * whose callers want the text at once write it into why. */
#ifndef MON_AGGREGATOR_STORE_H
#define MON_AGGREGATOR_STORE_H

/* Ownership: arrays and texts returned through ret parameters are malloc'd for the caller
 * (free() or the matching agg_*_free named below); arguments are only read during the call.
 * agg_store_last_error's text stays the store's (see there). */

#include "aggregator/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agg_store;

/* Opens the database named by path (the `database:` value) with busy_ms as the longest wait
 * for a lock, migrates the schema to the current version and checks that the schema has every
 * table, column, index and foreign key it should (MON_EIO naming the first one missing).
 * SQLite: path is a file; the file (mode 0600: it holds the agents' tokens) and its folder are
 * created when missing; an existing empty file (0 bytes, no -wal content) is refused with
 * MON_EIO rather than silently made a new database; WAL, foreign_keys=ON. PostgreSQL: path is
 * a postgresql:// URI; the check covers every table and column (indexes and keys are the
 * migrations'). On failure a reason is written in why. */
int agg_store_open(const char *path, int busy_ms, struct agg_store **ret, char *why,
                   size_t why_len);
/* Flags of agg_store_open_ex. */
enum {
    /* Refuse (MON_EEXIST) a database that holds any other table or any row, before creating
     * the schema: the target of a copy (agg_store_copy_all). Server databases only. */
    AGG_STORE_OPEN_REQUIRE_EMPTY = 1,
    /* A connection that mostly writes (the engine's writer): SQLite keeps at most 512 KiB of
     * database pages in memory instead of its default 2,000 KiB; others: no effect. */
    AGG_STORE_OPEN_SMALL_CACHE = 2,
};

/* agg_store_open with a password for a server database (database_password_file's secret;
 * NULL: the URI's, PGPASSFILE's or none; never logged) and flags. A PostgreSQL `database:`
 * value is a postgresql:// URI (libpq's); the connection is re-established by the next call
 * after the server restarted or dropped it. */
int agg_store_open_ex(const char *database, const char *password, int busy_ms, unsigned flags,
                      struct agg_store **ret, char *why, size_t why_len);
/* Closes. Accepts NULL. */
void agg_store_close(struct agg_store *st);
/* True when the backend keeps the database in the one file that `database` names (SQLite):
 * the file-level care applies to it (a lock on the file itself, the watch for a deleted or
 * replaced file, mode 0600). */
bool agg_store_in_file(const char *database);
/* For a database kept in files: takes the group and other permission bits from the database
 * file and its companions that exist (SQLite: -wal, -shm, -journal), since they hold the
 * agents' tokens, and writes what it changed into done ("monitor.db (was 0644)"; "" when
 * nothing). MON_OK or the first failure (with its reason in done). Other backends: MON_OK. */
int agg_store_restrict_files(const char *database, char *done, size_t done_len);
/* Makes the call running on st in another thread (e.g. agg_store_check on a large database)
 * return early with an error. Safe to call at any time while st is open; st must not be
 * closed meanwhile. A no-op for backends that cannot. */
void agg_store_interrupt(struct agg_store *st);
/* The backend's name: "sqlite" or "postgresql". */
const char *agg_store_backend_name(const struct agg_store *st);
/* Marks the database as used by this aggregator for as long as st stays open, so that a
 * second aggregator on it refuses to start: MON_EBUSY (with the reason in why) when another
 * one holds it. PostgreSQL: a session advisory lock (taken again after a reconnect); SQLite:
 * MON_EUNSUPPORTED (main.c locks "<database>.lock" instead). */
int agg_store_lock_instance(struct agg_store *st, char *why, size_t why_len);
/* The schema version this build writes (SQLite: PRAGMA user_version after open). */
int agg_store_schema_version(void);
/* The reason for the most recent failed call on st (the database's message, e.g. "database or
 * disk is full", or a short one of ours); "" when none has failed yet. Thread-safe; the pointer
 * stays valid until the next call on the same store.
 *
 * Error codes of every function below: MON_EBUSY when the database stays locked past busy_ms,
 * MON_ENOMEM, MON_EINVAL for a bad argument or a value a constraint refuses, MON_EIO for any
 * other database failure (disk full, I/O error, corruption, connection lost). */
const char *agg_store_last_error(struct agg_store *st);
/* A JSON object (malloc'd string, free()) with "rows" (a count per table), "size_bytes",
 * "journal_mode" and "user_version" (SQLite: page_count * page_size and the PRAGMAs): for
 * --check-db. */
int agg_store_stats(struct agg_store *st, char **ret_json);

/* ---- servers ---- */
/* All servers ordered by id; *ret malloc'd (agg_server_list_free). */
int agg_store_server_list(struct agg_store *st, struct agg_server **ret, size_t *ret_n);
/* MON_ENOENT when absent. */
int agg_store_server_get(struct agg_store *st, int64_t id, struct agg_server *ret);
/* MON_ENOENT when absent. */
int agg_store_server_get_by_name(struct agg_store *st, const char *name, struct agg_server *ret);
/* Inserts (id and created_at are assigned; created_at = now). MON_EEXIST when the name is
 * taken. Also writes a server_added event in the same transaction. */
int agg_store_server_insert(struct agg_store *st, const struct agg_server *in, int64_t *ret_id);
/* Replaces name, host, port, token, services, enabled and the TLS settings of in->id.
 * MON_ENOENT, MON_EEXIST. */
int agg_store_server_update(struct agg_store *st, const struct agg_server *in);
/* Trust on first use: stores pin for server id only while it has none; *ret_set says whether
 * it did (false: an admin set one meanwhile, or the server is gone). */
int agg_store_server_set_pin(struct agg_store *st, int64_t id, const char *pin, bool *ret_set);
/* Deletes the server and all its history rows (samples, per-GPU, per-disk, service_status,
 * unit and GPU states); its events are kept with server_id NULL and a server_removed event is
 * added, all in one transaction. MON_ENOENT when absent. */
int agg_store_server_delete(struct agg_store *st, int64_t id);
/* Imports a server listed in config.yaml once by name: inserted (with its server_added event)
 * only when that name was never imported and no server has it; afterwards the database is the
 * source of truth, so a server deleted in the UI is not re-created. *ret_imported tells
 * whether a row was added (*ret_id is its id, else 0). */
int agg_store_seed_import(struct agg_store *st, const struct agg_server *seed, bool *ret_imported,
                          int64_t *ret_id);
/* Records a successful poll time and/or the last known online state (-1 leaves it).
 * MON_ENOENT when the server does not exist (any more). */
int agg_store_server_seen(struct agg_store *st, int64_t id, int64_t last_seen_at, int online);

/* ---- last known unit states (so a restart emits no duplicate events) ---- */
/* All saved states of a server ordered by unit name; *ret malloc'd (NULL when none). */
int agg_store_unit_states_load(struct agg_store *st, int64_t server_id, struct agg_unit_state **ret,
                               size_t *ret_n);
/* Inserts or replaces the state of (server_id, u->name). MON_ENOENT when the server does not
 * exist (any more). */
int agg_store_unit_state_save(struct agg_store *st, int64_t server_id,
                              const struct agg_unit_state *u);

/* ---- several writes in one transaction (the writer's batches) ---- */
/* Begins a transaction for the single-row writes that follow (event_add, service_status_add,
 * unit_state_save, gpu_state_save, server_seen, server_set_pin: none opens its own), ended by
 * agg_store_tx_commit or agg_store_tx_rollback. Only for a connection that one thread uses
 * (the writer's). MON_EUNSUPPORTED when the backend has none; else as any write (MON_EBUSY
 * while another connection writes, MON_EIO). */
int agg_store_tx_begin(struct agg_store *st);
int agg_store_tx_commit(struct agg_store *st);
/* Undoes an open transaction; nothing when none is open. Keeps the last error. */
void agg_store_tx_rollback(struct agg_store *st);

/* ---- last known GPU states (so a restart emits no duplicate GPU events) ---- */
/* All saved GPU states of a server ordered by gpu_index; *ret malloc'd (NULL when none). */
int agg_store_gpu_states_load(struct agg_store *st, int64_t server_id,
                              struct agg_gpu_state_row **ret, size_t *ret_n);
/* Inserts or replaces the state of (server_id, g->gpu_index). MON_ENOENT when the server does
 * not exist (any more), MON_EINVAL for a negative index. */
int agg_store_gpu_state_save(struct agg_store *st, int64_t server_id,
                             const struct agg_gpu_state_row *g);

/* ---- events ---- */
/* Appends an event (id assigned). A server_id <= 0 or of a server that no longer exists is
 * stored as NULL (read back as -1); server_name is kept either way. */
int agg_store_event_add(struct agg_store *st, const struct agg_event *ev);
/* Newest first: server_id <= 0 for all, before_id > 0 returns events with id < before_id,
 * type NULL for all types; at most limit (1..1000). *ret malloc'd. */
int agg_store_events_query(struct agg_store *st, int64_t server_id, const char *type,
                           int64_t before_id, int limit, struct agg_event **ret, size_t *ret_n);

/* ---- service_status history ---- */
/* Appends one unit observation. MON_ENOENT when the server does not exist (any more). */
int agg_store_service_status_add(struct agg_store *st, int64_t server_id, int64_t ts,
                                 const char *unit, const char *active_state, const char *sub_state);

/* ---- hourly history ---- */
/* Upserts (INSERT ... ON CONFLICT DO UPDATE on the unique key) all given rows in ONE
 * transaction: the checkpoint of a rollup. Rows whose server no longer exists are skipped. */
int agg_store_hourly_upsert(struct agg_store *st, const struct agg_hourly_row *rows, size_t n,
                            const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                            const struct agg_disk_hourly_row *disks, size_t n_disks);
/* Reads one bucket (to resume accumulating after a restart). MON_ENOENT when absent. */
int agg_store_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                         struct agg_hourly_row *ret);
int agg_store_gpu_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                             struct agg_gpu_hourly_row **ret, size_t *ret_n);
int agg_store_disk_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                              struct agg_disk_hourly_row **ret, size_t *ret_n);

/* metric: a name of metric.h's table (cpu_pct, mem_used_pct, disk_used_pct, gpu_util_pct,
 * gpu_mem_used_mb); agg: avg, max, min. Returns buckets with from <= ts <= to, oldest first. A
 * NULL value (e.g. no GPU) gives has_value false. MON_EINVAL for an unknown metric/agg. */
int agg_store_timeseries(struct agg_store *st, int64_t server_id, const char *metric,
                         const char *agg, int64_t from, int64_t to, struct agg_point **ret,
                         size_t *ret_n);

/* ---- GPU usage accounting (issue 15; store_usage.c) ----
 * gpu_usage_hourly holds one row per hour, server and user; gpu_usage_daily the same summed
 * per UTC day, and gpu_usage_user_hourly / gpu_usage_user_daily the same per user over all
 * servers, all kept equal to the hours by every upsert (one transaction), so that a month is
 * read from ~30 rows per server and user, or per user. None refers to servers: a deleted
 * server's usage stays under the name it had. Times are UTC seconds; hours and days start at
 * multiples of 3600 and 86400. */
#define AGG_USAGE_HOUR_S 3600
#define AGG_USAGE_DAY_S  86400
/* Inserts or replaces the given hourly rows (each ts an hour start) and moves each day's row
 * by the difference, all in ONE transaction: the checkpoint of the usage accounting. */
int agg_store_usage_upsert(struct agg_store *st, const struct agg_usage_row *rows, size_t n);
/* The rows of one server's hour (to resume accumulating after a restart), ordered by user;
 * server_id 0: every server's rows of hour ts and of any later hour (what a starting
 * aggregator resumes), ordered by server, hour and user. *ret malloc'd (NULL when none). */
int agg_store_usage_hour_get(struct agg_store *st, int64_t server_id, int64_t ts,
                             struct agg_usage_row **ret, size_t *ret_n);
/* Sums over the hours h with from <= h < to (both multiples of 3600, from <= to), one row per
 * (server_id, user) ordered by server_id and user, ts 0; server_name is the greatest name the
 * rows carry. server_id 0 and user NULL select all. Whole UTC days inside the range are read
 * from the daily table. per_server false (server_id must be 0): one row per user over all
 * servers (server_id 0, server_name ""; max_gpus the most on one server), from the per-user
 * tables. *ret malloc'd (NULL when none). */
int agg_store_usage_query(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                          const char *user, bool per_server, struct agg_usage_row **ret,
                          size_t *ret_n);
/* Sums per bucket of bucket_s (3600 or 86400) seconds over the hours from <= h < to (multiples
 * of 3600), the buckets starting at multiples of bucket_s shifted by -offset_s (a day from
 * local midnight: offset_s = the UTC offset, east positive, |offset_s| < 86400, a multiple of
 * 3600), oldest first; only buckets with rows. server_id 0 and user NULL select all. */
int agg_store_usage_timeseries(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                               const char *user, int64_t bucket_s, int64_t offset_s,
                               struct agg_usage_point **ret, size_t *ret_n);
/* Deletes hourly rows with ts < cutoff and daily rows of days that end at or before cutoff. */
int agg_store_usage_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted);

/* ---- retention and care ---- */
/* Deletes rows with ts < cutoff from samples_hourly, gpu_samples_hourly,
 * disk_samples_hourly, service_status and events in one transaction; *ret_deleted = total rows
 * removed. Then gives the freed space back (SQLite: PRAGMA incremental_vacuum). */
int agg_store_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted);
/* Full compaction (weekly; SQLite: VACUUM). */
int agg_store_vacuum(struct agg_store *st);
/* The database answers and its own consistency check passes (SQLite: PRAGMA quick_check is
 * "ok"); otherwise the reason is written in why. */
int agg_store_check(struct agg_store *st, char *why, size_t why_len);

/* ---- backup and restore (SQLite; other backends answer MON_EUNSUPPORTED with the route) ---- */
/* Copies st's database into a new file dest_path with SQLite's online backup API, in chunks with
 * short pauses so the running aggregator (and other connections, WAL) are not held up. The copy
 * is written to "<dest_path>.partial" and renamed when complete. MON_EEXIST when dest_path
 * exists (it is never overwritten). The reason of a failure is written in why. */
int agg_store_backup_to(struct agg_store *st, const char *dest_path, char *why, size_t why_len);
/* Checks that src_path is a usable monitor-aggregator database before a restore: opened
 * read-only, PRAGMA integrity_check says "ok", 1 <= user_version <= agg_store_schema_version()
 * and the schema has every table, column, index and foreign key of that version (the check
 * agg_store_open makes). MON_ENOENT (missing), MON_EIO (corrupt, not a database, or a schema
 * with a part missing), MON_EUNSUPPORTED (newer schema), MON_EINVAL (schema version 0). The
 * reason is written in why. */
int agg_store_restore_check(const char *src_path, char *why, size_t why_len);

/* ---- copying a whole database (--migrate-to) ---- */
/* Called once per table after it was copied, with the rows counted in the source and in the
 * target. */
typedef void (*agg_store_copy_report_fn)(void *ctx, const char *table, int64_t source_rows,
                                         int64_t copied_rows);
/* Copies every table of src into dst (opened with AGG_STORE_OPEN_REQUIRE_EMPTY) in one
 * transaction of dst: rows with their ids, id sequences moved past the highest id src ever
 * handed out, the row count of each table verified. The caller keeps src from changing
 * meanwhile (the aggregator stopped). MON_EUNSUPPORTED when src cannot be read or dst cannot
 * be loaded this way, MON_EIO when a count differs (nothing is committed then). The reason is
 * written in why. */
int agg_store_copy_all(struct agg_store *src, struct agg_store *dst,
                       agg_store_copy_report_fn report, void *ctx, char *why, size_t why_len);

#endif
