/* SPDX-License-Identifier: MIT */
/* Internals of the PostgreSQL backend shared by its files (store_pg*.c, the only ones that
 * include libpq-fe.h): the statement ids and their SQL (store_pg_sql.c), the connection state
 * with its reconnect, the helpers that run statements with text parameters and record the
 * server's reason for a failure, and the monthly partitions of the history tables. */
#ifndef MON_AGGREGATOR_STORE_PG_H
#define MON_AGGREGATOR_STORE_PG_H

/* Ownership and threads: the SQL text builders are pure and write into caller storage; every
 * other function runs with the store's lock held (see store_backend.h) on the connection that
 * struct agg_pg owns; PGresult objects never leave the function that made them. */

#include "aggregator/metric.h"
#include "aggregator/store_backend.h"
#include "common/buf.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- SQL (store_pg_sql.c) ---- */

/* Every fixed statement, prepared on first use on each connection. */
enum agg_pg_stmt {
    P_SERVER_LIST,
    P_SERVER_GET,
    P_SERVER_GET_BY_NAME,
    P_SERVER_INSERT,
    P_SERVER_UPDATE,
    P_SERVER_SET_PIN,
    P_SERVER_NAME,
    P_SERVER_DELETE,
    P_SERVER_SEEN,
    P_UNIT_LOAD,
    P_UNIT_SAVE,
    P_EVENT_ADD,
    P_EVENTS_ALL,
    P_EVENTS_SERVER,
    P_STATUS_ADD,
    P_HOURLY_UPSERT,
    P_GPU_UPSERT,
    P_DISK_UPSERT,
    P_HOURLY_GET,
    P_GPU_GET,
    P_DISK_GET,
    P_RET_EVENTS,
    P_SEED_SEEN,
    P_SEED_RECORD,
    P_SERVER_NAME_TAKEN,
    P_GPU_STATE_LOAD,
    P_GPU_STATE_SAVE,
    P_PARTITIONS_OF,
    P_USAGE_UPSERT,
    P_USAGE_HOUR_GET,
    P_USAGE_HOURS_SINCE,
    P_USAGE_QUERY,
    P_USAGE_QUERY_USERS,
    P_USAGE_SERIES,
    P_USAGE_SERIES_USERS,
    P_RET_USAGE_DAILY,
    P_RET_USAGE_USER_DAILY,
    P__COUNT
};

extern const char *const agg_pg_stmt_sql[P__COUNT];

/* The schema steps, entry i producing version i + 1 (the same numbers as every backend). */
extern const struct agg_store_migration agg_pg_migrations[AGG_STORE_SCHEMA_VERSION];

/* Creates the version table if missing (run inside the migration transaction). */
extern const char agg_pg_version_table_sql[];
/* Reads the version (no row: 0). */
extern const char agg_pg_version_get_sql[];
/* Records version $1. */
extern const char agg_pg_version_set_sql[];
/* Serialises migrations of concurrent openers (transaction-level advisory lock). */
extern const char agg_pg_migration_lock_sql[];
/* The instance lock (session-level advisory lock, try). */
extern const char agg_pg_instance_lock_sql[];
/* Tables of the current schema that are not partitions; $1 the names that are ours. */
extern const char agg_pg_foreign_tables_sql[];
extern const char agg_pg_vacuum_sql[];
/* The statement timeout off (for VACUUM) and back to the session's. */
extern const char agg_pg_no_timeout_sql[];
extern const char agg_pg_timeout_sql[];
/* 1 when the table named $1 exists (in the search path), else 0. */
extern const char agg_pg_table_exists_sql[];
extern const char agg_pg_database_size_sql[];

/* The tables partitioned by month (RANGE on ts), in agg_store_tables' order: first the
 * history tables (retention.days), then the hourly GPU usage tables
 * (history.usage_retention_days). */
#define AGG_PG_PARTITIONED         6
#define AGG_PG_HISTORY_PARTITIONED 4
extern const char *const agg_pg_partitioned[AGG_PG_PARTITIONED];

/* Statement texts built from fixed names only (metric.h's columns, agg_store_tables, the
 * partitioned tables and month numbers). False when buf is too small. */
bool agg_pg_timeseries_sql(const char *column, char *buf, size_t size);
/* The session settings after each (re)connect. */
bool agg_pg_session_sql(int lock_timeout_ms, char *buf, size_t size);
bool agg_pg_partition_create_sql(const char *table, int year, int month, int64_t from, int64_t to,
                                 char *buf, size_t size);
bool agg_pg_partition_name(const char *table, int year, int month, char *buf, size_t size);
bool agg_pg_drop_sql(const char *partition, char *buf, size_t size);
bool agg_pg_count_sql(const char *table, char *buf, size_t size);
bool agg_pg_exists_sql(const char *table, char *buf, size_t size);
bool agg_pg_delete_before_sql(const char *table, char *buf, size_t size);
bool agg_pg_copy_in_sql(const struct agg_store_table *t, char *buf, size_t size);
bool agg_pg_setval_sql(const struct agg_store_table *t, char *buf, size_t size);
bool agg_pg_columns_probe_sql(const struct agg_store_table *t, char *buf, size_t size);

/* Every table of the schema with every column it should have; MON_EIO naming the first one
 * missing ("schema check: column \"ts\" does not exist"). */
int agg_pg_schema_check(struct agg_store *st);

/* ---- connection (store_pg.c) and running statements (store_pg_exec.c) ---- */

/* After a failed reconnect, calls fail at once with its reason for this long. */
#define AGG_PG_RECONNECT_HOLDOFF_MS 1000

/* Known partitions of one partitioned table: month starts (UTC s), a small cache. */
#define AGG_PG_MONTH_CACHE 32
struct agg_pg_months {
    int64_t start[AGG_PG_MONTH_CACHE];
    size_t n;
};

struct agg_pg {
    PGconn *conn;
    char display[256]; /* the database as it may be printed (no password) */
    int busy_ms;
    bool prepared[P__COUNT];
    bool ts_prepared[AGG_METRIC_COUNT][AGG_METRIC_AGG_COUNT];
    bool instance_lock;      /* taken: take it again after a reconnect */
    bool instance_lock_held; /* this session holds it */
    bool loading;            /* inside a copy's transaction (load_begin..load_end) */
    bool in_tx;              /* between BEGIN and COMMIT/ROLLBACK */
    int64_t reconnect_after; /* monotonic ms: no new attempt before (after a failed one) */
    char reconnect_error[AGG_STORE_ERR_LEN];
    bool in_copy;        /* COPY FROM STDIN in progress */
    struct mon_buf copy; /* COPY data not sent yet */
    struct agg_pg_months months[AGG_PG_PARTITIONED];
    /* Partitions made inside the open transaction: known to it, remembered in months after
     * its COMMIT (a rollback undoes them), so that a batch of the writer asks once. */
    struct agg_pg_months tx_months[AGG_PG_PARTITIONED];
};

static inline struct agg_pg *agg_pg_of(struct agg_store *st)
{
    return (struct agg_pg *)st->backend;
}

/* Text parameters of one statement. Numbers are formatted into the struct, strings point at
 * the caller's (or at a copy owned here: agg_pg_params_done frees it). */
#define AGG_PG_MAX_PARAMS 24
struct agg_pg_params {
    const char *values[AGG_PG_MAX_PARAMS];
    char nums[AGG_PG_MAX_PARAMS][32];
    char *owned[AGG_PG_MAX_PARAMS];
    int n;
    bool oom;
};

void agg_pg_params_done(struct agg_pg_params *p);
void agg_pg_param_int(struct agg_pg_params *p, int64_t v);
/* v, or NULL when !has (NaN too, as SQLite stores it). */
void agg_pg_param_double(struct agg_pg_params *p, bool has, double v);
/* A NUL-terminated string (NULL: SQL NULL). */
void agg_pg_param_text(struct agg_pg_params *p, const char *s);
/* A fixed-size char array, ending at its size even without a terminator; optional: empty
 * stores NULL. */
void agg_pg_param_array(struct agg_pg_params *p, const char *s, size_t size, bool optional);
/* A copy of s (len bytes) with every byte that does not belong to a valid UTF-8 sequence
 * replaced by '?' (a UTF8 database refuses such text); NULL when out of memory. */
char *agg_pg_utf8_copy(const char *s, size_t len);
/* A string the params own from now on (may be NULL after an allocation failure: then oom). */
void agg_pg_param_take(struct agg_pg_params *p, char *s);

/* Makes sure the connection is up: reconnects a dropped one (then the session settings, the
 * instance lock and the statements are set up again). MON_EIO with libpq's reason. */
int agg_pg_ready(struct agg_store *st);
/* True when the connection broke during the last call, so that the call may be retried once
 * on a new connection (the server ended the old one: its transaction did not commit). */
bool agg_pg_lost(struct agg_store *st);
/* Records the reason of a failed result (NULL: the connection's) and maps its SQLSTATE onto
 * MON_E*; clears res. */
int agg_pg_fail(struct agg_store *st, PGresult *res);
/* The result of a run: MON_OK with *ret (may be NULL: res is cleared), or the failure
 * recorded (agg_pg_fail). */
int agg_pg_finish(struct agg_store *st, PGresult *res, PGresult **ret);

/* Runs the cached statement id with p; *ret (may be NULL) gets the result on success (rows or
 * a command's; PQclear it). */
int agg_pg_exec(struct agg_store *st, enum agg_pg_stmt id, const struct agg_pg_params *p,
                PGresult **ret);
/* Runs sql (not prepared) with p (may be NULL); *ret as above. */
int agg_pg_exec_sql(struct agg_store *st, const char *sql, const struct agg_pg_params *p,
                    PGresult **ret);
/* Runs the statement *slot prepares (under name) once per connection, with p. */
int agg_pg_exec_cached(struct agg_store *st, bool *slot, const char *name, const char *sql,
                       const struct agg_pg_params *p, PGresult **ret);
/* Runs one or more statements without parameters (simple protocol), discarding results. */
int agg_pg_run(struct agg_store *st, const char *sql);
/* Runs a statement that yields one integer in its first row and column. */
int agg_pg_query_int(struct agg_store *st, const char *sql, const struct agg_pg_params *p,
                     int64_t *ret);
/* The number of rows a command touched. */
int64_t agg_pg_changes(PGresult *res);

int agg_pg_begin(struct agg_store *st);
int agg_pg_commit(struct agg_store *st);
/* Rolls back an open transaction, keeping the reason of the original failure. */
void agg_pg_rollback(struct agg_store *st);

/* Reading values of a result. */
int64_t agg_pg_int64_or(const PGresult *res, int row, int col, int64_t when_null);
/* An optional number: *has becomes true when it is not NULL (else 0 and *has is left). */
double agg_pg_double_opt(const PGresult *res, int row, int col, bool *has);
/* Copies a text value into a fixed array (truncating; NULL gives ""). */
void agg_pg_copy_text(const PGresult *res, int row, int col, char *dst, size_t size);
/* A malloc'd copy of a text value (NULL gives ""), or NULL when out of memory. */
char *agg_pg_dup_text(const PGresult *res, int row, int col);

/* Reads row i of res into item (zeroed, elem bytes); may fail with the reason recorded. */
typedef int (*agg_pg_read_fn)(struct agg_store *st, const PGresult *res, int row, void *item,
                              void *ctx);
/* Reads every row of res into a malloc'd array (NULL when none); on failure frees the items
 * read so far (free_item, may be NULL). Does not clear res. */
int agg_pg_collect(struct agg_store *st, const PGresult *res, size_t elem, agg_pg_read_fn read_row,
                   void *ctx, void (*free_item)(void *item), void **ret, size_t *ret_n);

/* Retries a call once when it failed because the connection broke (see agg_pg_lost); when
 * the retry succeeds, the call did not fail: the reason of the last failed call stays. */
#define AGG_PG_RETRY(st, call)                                                                     \
    do {                                                                                           \
        char keep_[AGG_STORE_ERR_LEN];                                                             \
        int r_;                                                                                    \
        memcpy(keep_, (st)->err, sizeof(keep_));                                                   \
        r_ = (call);                                                                               \
        if (r_ < 0 && agg_pg_lost(st)) {                                                           \
            r_ = (call);                                                                           \
            if (r_ >= 0)                                                                           \
                memcpy((st)->err, keep_, sizeof(keep_));                                           \
        }                                                                                          \
        return r_;                                                                                 \
    } while (0)

/* ---- monthly partitions (store_pg_part.c) ---- */

/* Makes sure partitioned table number t has the partition of the month holding ts. */
int agg_pg_partition_for(struct agg_store *st, int t, int64_t ts);
/* The end of a transaction: the partitions it made are remembered (committed) or not. */
void agg_pg_partitions_tx_end(struct agg_store *st, bool committed);
/* The same for every month from the one holding from to the one holding to. */
int agg_pg_partitions_span(struct agg_store *st, int t, int64_t from, int64_t to);
/* Every partitioned table gets the partitions from this month to `ahead` months later. */
int agg_pg_partitions_ahead(struct agg_store *st, int64_t now, int ahead);
/* Drops the partitions of every month that ends at or before cutoff of the partitioned tables
 * first..end-1 (each counted first: *ret_rows) inside the caller's transaction; forgets them in
 * the cache only through agg_pg_partitions_forget after the commit. */
int agg_pg_partitions_drop_before(struct agg_store *st, int first, int end, int64_t cutoff,
                                  int64_t *ret_rows);
/* Empties the cache of known partitions (after a retention, or when the server said a row
 * had no partition). */
void agg_pg_partitions_forget(struct agg_store *st);
/* The number of partitions of the history tables, for --check-db. */
int agg_pg_partitions_count(struct agg_store *st, int64_t *ret);
/* MON_OK when every partitioned table has this month's partition (else the reason). */
int agg_pg_partitions_check(struct agg_store *st, int64_t now);

/* The index of a partitioned table by name, or -1. */
int agg_pg_partitioned_index(const char *table);

/* ---- ops implemented by the other files ---- */

/* store_pg_servers.c */
int agg_pg_server_list(struct agg_store *st, struct agg_server **ret, size_t *ret_n);
int agg_pg_server_get(struct agg_store *st, int64_t id, struct agg_server *ret);
int agg_pg_server_get_by_name(struct agg_store *st, const char *name, struct agg_server *ret);
int agg_pg_server_insert(struct agg_store *st, const struct agg_server *in, int64_t now,
                         int64_t *ret_id);
int agg_pg_server_update(struct agg_store *st, const struct agg_server *in);
int agg_pg_server_set_pin(struct agg_store *st, int64_t id, const char *pin, bool *ret_set);
int agg_pg_server_delete(struct agg_store *st, int64_t id, int64_t now);
int agg_pg_seed_import(struct agg_store *st, const struct agg_server *seed, int64_t now,
                       bool *ret_imported, int64_t *ret_id);
int agg_pg_server_seen(struct agg_store *st, int64_t id, int64_t last_seen_at, int online);
int agg_pg_unit_states_load(struct agg_store *st, int64_t server_id, struct agg_unit_state **ret,
                            size_t *ret_n);
int agg_pg_unit_state_save(struct agg_store *st, int64_t server_id, const struct agg_unit_state *u);
/* store_pg_gpus.c */
int agg_pg_gpu_states_load(struct agg_store *st, int64_t server_id, struct agg_gpu_state_row **ret,
                           size_t *ret_n);
int agg_pg_gpu_state_save(struct agg_store *st, int64_t server_id,
                          const struct agg_gpu_state_row *g);
/* Runs a write for one server: MON_ENOENT (reason recorded) when it touched no row. */
int agg_pg_write_for_server(struct agg_store *st, enum agg_pg_stmt id,
                            const struct agg_pg_params *p, int64_t server_id);

/* store_pg_servers.c */
int agg_pg_event_add(struct agg_store *st, const struct agg_event *ev);
int agg_pg_events_query(struct agg_store *st, int64_t server_id, const char *type,
                        int64_t before_id, int limit, struct agg_event **ret, size_t *ret_n);
int agg_pg_service_status_add(struct agg_store *st, int64_t server_id, int64_t ts, const char *unit,
                              const char *active_state, const char *sub_state);

/* store_pg_history.c */
int agg_pg_hourly_upsert(struct agg_store *st, const struct agg_hourly_row *rows, size_t n,
                         const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                         const struct agg_disk_hourly_row *disks, size_t n_disks);
int agg_pg_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                      struct agg_hourly_row *ret);
int agg_pg_gpu_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                          struct agg_gpu_hourly_row **ret, size_t *ret_n);
int agg_pg_disk_hourly_get(struct agg_store *st, int64_t server_id, int64_t ts,
                           struct agg_disk_hourly_row **ret, size_t *ret_n);
int agg_pg_timeseries(struct agg_store *st, int64_t server_id, const struct agg_metric *m,
                      enum agg_metric_agg agg, int64_t from, int64_t to, struct agg_point **ret,
                      size_t *ret_n);

/* store_pg_care.c */
int agg_pg_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted);
int agg_pg_vacuum(struct agg_store *st);
int agg_pg_check(struct agg_store *st);
int agg_pg_stats(struct agg_store *st, char **ret_json);
int agg_pg_backup_to(struct agg_store *st, const char *dest_path, char *why, size_t why_len);
int agg_pg_restore_check(const char *src, char *why, size_t why_len);

/* store_pg_usage.c */
int agg_pg_usage_upsert(struct agg_store *st, const struct agg_usage_row *rows, size_t n);
int agg_pg_usage_hour_get(struct agg_store *st, int64_t server_id, int64_t ts,
                          struct agg_usage_row **ret, size_t *ret_n);
int agg_pg_usage_query(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                       const char *user, bool per_server, struct agg_usage_row **ret,
                       size_t *ret_n);
int agg_pg_usage_timeseries(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                            const char *user, int64_t bucket_s, int64_t offset_s,
                            struct agg_usage_point **ret, size_t *ret_n);
int agg_pg_usage_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted);

/* store_pg_copy.c */
int agg_pg_check_empty(struct agg_store *st);
int agg_pg_load_begin(struct agg_store *st);
int agg_pg_load_table_begin(struct agg_store *st, const struct agg_store_table *t,
                            const struct agg_store_table_info *info);
int agg_pg_load_row(struct agg_store *st, const char *const *values, size_t n);
int agg_pg_load_table_end(struct agg_store *st, const struct agg_store_table *t,
                          const struct agg_store_table_info *info, int64_t *ret_rows);
int agg_pg_load_end(struct agg_store *st, bool commit);

#endif
