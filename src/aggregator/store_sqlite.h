/* SPDX-License-Identifier: MIT */
/* Internals of the SQLite backend shared by its files (store_sqlite*.c, the only ones that
 * include sqlite3.h): the statement ids and their SQL (store_sqlite_sql.c), the connection
 * state and the helpers that run statements and record SQLite's reason for a failure. */
#ifndef MON_AGGREGATOR_STORE_SQLITE_H
#define MON_AGGREGATOR_STORE_SQLITE_H

/* Ownership and threads: the SQL text builders are pure and write into caller storage; every
 * other function runs with the store's lock held (see store_backend.h) on the connection and
 * prepared statements that struct agg_sqlite owns; agg_sqlite_col_dup returns malloc'd text. */

#include "aggregator/metric.h"
#include "aggregator/store_backend.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- SQL (store_sqlite_sql.c) ---- */

/* Every fixed statement, prepared on first use and kept until close. */
enum agg_sqlite_stmt {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_USER_VERSION,
    S_SERVER_LIST,
    S_SERVER_GET,
    S_SERVER_GET_BY_NAME,
    S_SERVER_INSERT,
    S_SERVER_UPDATE,
    S_SERVER_SET_PIN,
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
    S_COUNT_GPU_STATES,
    S_COUNT_USAGE_HOURLY,
    S_COUNT_USAGE_DAILY,
    S_COUNT_USAGE_USER_HOURLY,
    S_COUNT_USAGE_USER_DAILY,
    S_SEED_SEEN,
    S_SEED_RECORD,
    S_SERVER_NAME_TAKEN,
    S_GPU_STATE_LOAD,
    S_GPU_STATE_SAVE,
    S_USAGE_OLD,
    S_USAGE_HOUR_UPSERT,
    S_USAGE_DAY_UPSERT,
    S_USAGE_USER_HOUR_UPSERT,
    S_USAGE_USER_DAY_UPSERT,
    S_USAGE_HOUR_GET,
    S_USAGE_HOURS_SINCE,
    S_USAGE_RANGE_DAILY,
    S_USAGE_RANGE_HOURLY,
    S_USAGE_QUERY_USERS,
    S_USAGE_SERIES,
    S_USAGE_SERIES_USERS,
    S_RET_USAGE_HOURLY,
    S_RET_USAGE_DAILY,
    S_RET_USAGE_USER_HOURLY,
    S_RET_USAGE_USER_DAILY,
    S__COUNT
};

extern const char *const agg_sqlite_stmt_sql[S__COUNT];

/* The schema steps, entry i producing version i + 1 (AGG_STORE_SCHEMA_VERSION entries). */
extern const struct agg_store_migration agg_sqlite_migrations[AGG_STORE_SCHEMA_VERSION];

/* Connection settings applied at open, outside any transaction, before the migrations. */
extern const char agg_sqlite_open_pragmas[];
extern const char agg_sqlite_small_cache_pragma[];
/* Turns a finished backup copy into one self-contained file. */
extern const char agg_sqlite_backup_finish_sql[];
/* The restore check's integrity question to a candidate file. */
extern const char agg_sqlite_integrity_check_sql[];
/* Describes the database's own tables as (table, item) rows for the schema check. */
extern const char agg_sqlite_schema_sql[];

/* Table names for agg_store_stats, in the order of S_COUNT_SERVERS..S_COUNT_USAGE_USER_DAILY. */
extern const char *const agg_sqlite_stats_tables[S_COUNT_USAGE_USER_DAILY - S_COUNT_SERVERS + 1];

/* Writes the timeseries query of one samples_hourly column into buf (the column comes from
 * metric.h's table, never from a caller). False when buf is too small. */
bool agg_sqlite_timeseries_sql(const char *column, char *buf, size_t size);

/* Writes the statement that records schema version (PRAGMA user_version cannot be bound). */
bool agg_sqlite_set_version_sql(int version, char *buf, size_t size);

/* The statements of a copy's source side: every row of t in its column order, and its row
 * count, highest id ever handed out, first and last ts (0 where t has none). */
bool agg_sqlite_copy_out_sql(const struct agg_store_table *t, char *buf, size_t size);
bool agg_sqlite_table_info_sql(const struct agg_store_table *t, char *buf, size_t size);

/* ---- connection (store_sqlite.c) ---- */

struct agg_sqlite {
    sqlite3 *db;
    sqlite3_stmt *stmts[S__COUNT];
    sqlite3_stmt *ts_stmts[AGG_METRIC_COUNT][AGG_METRIC_AGG_COUNT];
};

/* The SQLite connection state of st. */
static inline struct agg_sqlite *agg_sqlite_of(struct agg_store *st)
{
    return (struct agg_sqlite *)st->backend;
}

/* Maps a SQLite result code onto MON_E*. */
int agg_sqlite_map(int rc);
/* Records SQLite's message for rc (call before anything else touches the connection, such as a
 * ROLLBACK) and returns the MON_E* code. */
int agg_sqlite_fail(struct agg_store *st, int rc);

/* Prepares (once) the statement in *slot from sql and hands it out in *ret. */
int agg_sqlite_prepare(struct agg_store *st, sqlite3_stmt **slot, const char *sql,
                       sqlite3_stmt **ret);
/* The cached statement id. */
int agg_sqlite_stmt(struct agg_store *st, enum agg_sqlite_stmt id, sqlite3_stmt **ret);
/* Makes a cached statement ready for its next use (and ends its implicit read). Accepts NULL. */
void agg_sqlite_release(sqlite3_stmt *s);
/* Runs a statement without parameters to completion, discarding any rows. */
int agg_sqlite_run(struct agg_store *st, enum agg_sqlite_stmt id);
/* Runs a statement that yields one integer (PRAGMA, COUNT). */
int agg_sqlite_query_int(struct agg_store *st, enum agg_sqlite_stmt id, int64_t *ret);
/* Runs a bound write statement; *ret_changes (may be NULL) gets the rows it touched. */
int agg_sqlite_step_write(struct agg_store *st, sqlite3_stmt *s, int *ret_changes);

int agg_sqlite_begin(struct agg_store *st);
int agg_sqlite_commit(struct agg_store *st);
/* Rolls back an open transaction, if SQLite has not already done so after an error. The reason
 * of the original failure stays recorded. */
void agg_sqlite_rollback(struct agg_store *st);

/* Reads the current row of s into item (zeroed, elem bytes); may fail with the reason recorded
 * (then it leaves nothing to free in item). */
typedef int (*agg_sqlite_read_fn)(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx);
/* Steps the bound statement s to its end, reading each row into a growing array of
 * elem-sized items with read_row. On success *ret (malloc'd, NULL when no rows) and *ret_n;
 * on failure the items read so far are freed (free_item, may be NULL, for what they own). The
 * caller releases s. */
int agg_sqlite_collect(struct agg_store *st, sqlite3_stmt *s, size_t elem,
                       agg_sqlite_read_fn read_row, void *ctx, void (*free_item)(void *item),
                       void **ret, size_t *ret_n);

/* Binding and reading helpers. */
int agg_sqlite_bind_text(sqlite3_stmt *s, int i, const char *text);
/* Binds a fixed-size char array, stopping at its size even without a terminator. */
int agg_sqlite_bind_array(sqlite3_stmt *s, int i, const char *text, size_t size);
/* Binds an optional string array: empty stores NULL. */
int agg_sqlite_bind_array_opt(sqlite3_stmt *s, int i, const char *text, size_t size);
/* Binds v, or NULL when !has. */
int agg_sqlite_bind_opt(sqlite3_stmt *s, int i, bool has, double v);
int64_t agg_sqlite_col_int64_or(sqlite3_stmt *s, int i, int64_t when_null);
/* Copies a text column into a fixed array (truncating; NULL gives ""). */
void agg_sqlite_col_copy(sqlite3_stmt *s, int i, char *dst, size_t size);
/* A malloc'd copy of a text column (NULL gives ""), or NULL when out of memory. */
char *agg_sqlite_col_dup(sqlite3_stmt *s, int i);
/* Reads an optional REAL column: *has becomes true when it is not NULL (else the value is 0
 * and *has is left alone). */
double agg_sqlite_col_opt(sqlite3_stmt *s, int i, bool *has);

/* ---- ops implemented by the other files ---- */

/* store_sqlite_servers.c */
int agg_sqlite_server_list(struct agg_store *st, struct agg_server **ret, size_t *ret_n);
int agg_sqlite_server_get(struct agg_store *st, int64_t id, struct agg_server *ret);
int agg_sqlite_server_get_by_name(struct agg_store *st, const char *name, struct agg_server *ret);
int agg_sqlite_server_insert(struct agg_store *st, const struct agg_server *in, int64_t now,
                             int64_t *ret_id);
int agg_sqlite_server_update(struct agg_store *st, const struct agg_server *in);
int agg_sqlite_server_set_pin(struct agg_store *st, int64_t id, const char *pin, bool *ret_set);
int agg_sqlite_server_delete(struct agg_store *st, int64_t id, int64_t now);
int agg_sqlite_seed_import(struct agg_store *st, const struct agg_server *seed, int64_t now,
                           bool *ret_imported, int64_t *ret_id);
int agg_sqlite_server_seen(struct agg_store *st, int64_t id, int64_t last_seen_at, int online);
int agg_sqlite_unit_states_load(struct agg_store *st, int64_t server_id,
                                struct agg_unit_state **ret, size_t *ret_n);
int agg_sqlite_unit_state_save(struct agg_store *st, int64_t server_id,
                               const struct agg_unit_state *u);
int agg_sqlite_event_add(struct agg_store *st, const struct agg_event *ev);
int agg_sqlite_events_query(struct agg_store *st, int64_t server_id, const char *type,
                            int64_t before_id, int limit, struct agg_event **ret, size_t *ret_n);
int agg_sqlite_service_status_add(struct agg_store *st, int64_t server_id, int64_t ts,
                                  const char *unit, const char *active_state,
                                  const char *sub_state);

/* store_sqlite_files.c */
/* Before SQLite opens path: creates a missing file with mode 0600, refuses (MON_EIO, reason
 * recorded) an existing empty one whose -wal is empty too. */
int agg_sqlite_prepare_file(struct agg_store *st, const char *path);
/* The restrict_files op: the database, -wal, -shm and -journal narrowed to 0600. */
int agg_sqlite_restrict_files(const char *database, char *done, size_t done_len);

/* store_sqlite_schema.c */
/* Compares the tables, columns, indexes and foreign keys of db with what the migrations make
 * at schema version `version` (1..AGG_STORE_SCHEMA_VERSION); tables and indexes of its own
 * are allowed beside them. MON_OK; MON_EIO with the first difference in why ("table events is
 * missing", "table servers has no column token TEXT NOT NULL") or a failed query's reason;
 * MON_ENOMEM. Used by open, the restore check and so --check-db. */
int agg_sqlite_schema_check(sqlite3 *db, int64_t version, char *why, size_t why_len);

/* store_sqlite_gpus.c */
int agg_sqlite_gpu_states_load(struct agg_store *st, int64_t server_id,
                               struct agg_gpu_state_row **ret, size_t *ret_n);
int agg_sqlite_gpu_state_save(struct agg_store *st, int64_t server_id,
                              const struct agg_gpu_state_row *g);

/* store_sqlite_history.c */
int agg_sqlite_hourly_upsert(struct agg_store *st, const struct agg_hourly_row *rows, size_t n,
                             const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                             const struct agg_disk_hourly_row *disks, size_t n_disks);
int agg_sqlite_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                          struct agg_hourly_row *ret);
int agg_sqlite_gpu_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                              struct agg_gpu_hourly_row **ret, size_t *ret_n);
int agg_sqlite_disk_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                               struct agg_disk_hourly_row **ret, size_t *ret_n);
int agg_sqlite_timeseries(struct agg_store *st, int64_t server_id, const struct agg_metric *m,
                          enum agg_metric_agg agg, int64_t from, int64_t to, struct agg_point **ret,
                          size_t *ret_n);
int agg_sqlite_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted);
int agg_sqlite_vacuum(struct agg_store *st);
int agg_sqlite_check(struct agg_store *st);
int agg_sqlite_stats(struct agg_store *st, char **ret_json);

/* store_sqlite_copy.c */
int agg_sqlite_table_info(struct agg_store *st, const struct agg_store_table *t,
                          struct agg_store_table_info *ret);
int agg_sqlite_copy_out(struct agg_store *st, const struct agg_store_table *t, agg_store_row_fn row,
                        void *ctx);

/* store_sqlite_usage.c */
int agg_sqlite_usage_upsert(struct agg_store *st, const struct agg_usage_row *rows, size_t n);
int agg_sqlite_usage_hour_get(struct agg_store *st, int64_t server_id, int64_t ts,
                              struct agg_usage_row **ret, size_t *ret_n);
int agg_sqlite_usage_query(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                           const char *user, bool per_server, struct agg_usage_row **ret,
                           size_t *ret_n);
int agg_sqlite_usage_timeseries(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                                const char *user, int64_t bucket_s, int64_t offset_s,
                                struct agg_usage_point **ret, size_t *ret_n);
int agg_sqlite_usage_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted);

/* store_sqlite_backup.c */
int agg_sqlite_backup_to(struct agg_store *st, const char *dest_path, char *why, size_t why_len);
int agg_sqlite_restore_check(const char *src_path, char *why, size_t why_len);

#endif
