/* SPDX-License-Identifier: MIT */
/* What a storage backend implements and may use; included only by store*.c. store.c owns the
 * connection object (lock, last error) and calls the backend's ops with the lock held; the
 * backend keeps its own connection state behind st->backend. */
#ifndef MON_AGGREGATOR_STORE_BACKEND_H
#define MON_AGGREGATOR_STORE_BACKEND_H

/* Ownership and threads: store.c owns the struct agg_store and its backend state; a backend op
 * runs with st->lock held (the calling thread's only), so backends never lock, and what they
 * return follows store.h. */

#include "aggregator/metric.h"
#include "aggregator/store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The schema version every backend's migration list reaches. */
#define AGG_STORE_SCHEMA_VERSION 6

#define AGG_STORE_ERR_LEN 512

/* One step of a backend's migration list: entry i takes the schema from version i to
 * version = i + 1, in one transaction, with the backend's own statements. Every backend has
 * the same versions with the same meaning. */
struct agg_store_migration {
    int version;
    const char *sql;
};

struct agg_store {
    const struct agg_store_ops *ops;
    void *backend;                   /* the backend's connection state */
    const char *password;            /* for open only (NULL after it): database_password_file */
    bool require_empty;              /* for open only: refuse a database holding any table or
                                        row before creating the schema (--migrate-to) */
    bool small_cache;                /* for open only: AGG_STORE_OPEN_SMALL_CACHE */
    pthread_mutex_t lock;            /* held around every op (backup_to takes it itself) */
    char err[AGG_STORE_ERR_LEN];     /* reason for the latest failure, written under lock */
    char err_out[AGG_STORE_ERR_LEN]; /* the copy agg_store_last_error hands out */
};

/* ---- copying a whole database (--migrate-to, store_copy.c) ---- */

/* One table of the schema as a copy sees it: its name, its columns in the order every
 * backend reads and writes them, whether it has an id sequence ("id" first) and a ts column,
 * and whether its history is partitioned by month on a server database. */
struct agg_store_table {
    const char *name;
    const char *columns; /* comma-separated */
    size_t n_columns;
    bool has_id, has_ts;
};

#define AGG_STORE_TABLE_COUNT 13

/* Every table, parents before the tables that reference them. */
extern const struct agg_store_table agg_store_tables[AGG_STORE_TABLE_COUNT];

/* What a copy needs to know of a source table before its rows. */
struct agg_store_table_info {
    int64_t rows;
    int64_t id_high;        /* the highest id ever handed out (deleted ones too); 0 when none */
    int64_t ts_min, ts_max; /* when rows > 0 and the table has ts */
};

/* Receives one row: values[i] is column i as text (NULL for SQL NULL; numbers written so that
 * they read back exactly). A negative return stops the copy with that code. */
typedef int (*agg_store_row_fn)(void *ctx, const char *const *values, size_t n);

/* A backend. Every op except accepts, restore_check, backup_to, restrict_files and interrupt
 * is called with st->lock held, returns a MON_E* code with the meaning store.h gives the
 * function of the same name, records the reason of a failure with agg_store_fail (or its own
 * copy into st->err) and writes its outputs only on success. Arguments were checked by
 * store.c. */
struct agg_store_ops {
    const char *name; /* "sqlite" */
    /* True when the `database:` value is the path of the file that holds the database (SQLite):
     * then the aggregator locks that file, watches it and keeps its mode at 0600. */
    bool in_file;
    /* True when this backend serves the `database:` value. */
    bool (*accepts)(const char *database);
    /* Connects (with st->password when set), sets st->backend and migrates (after checking
     * that the database is empty when st->require_empty). On failure the reason (naming the
     * database without any secret in it) is in st->err and close is called. */
    int (*open)(struct agg_store *st, const char *database, int busy_ms);
    /* Frees st->backend (may be NULL after a failed open). */
    void (*close)(struct agg_store *st);
    int (*stats)(struct agg_store *st, char **ret_json);

    int (*server_list)(struct agg_store *st, struct agg_server **ret, size_t *ret_n);
    int (*server_get)(struct agg_store *st, int64_t id, struct agg_server *ret);
    int (*server_get_by_name)(struct agg_store *st, const char *name, struct agg_server *ret);
    int (*server_insert)(struct agg_store *st, const struct agg_server *in, int64_t now,
                         int64_t *ret_id);
    int (*server_update)(struct agg_store *st, const struct agg_server *in);
    int (*server_set_pin)(struct agg_store *st, int64_t id, const char *pin, bool *ret_set);
    int (*server_delete)(struct agg_store *st, int64_t id, int64_t now);
    int (*seed_import)(struct agg_store *st, const struct agg_server *seed, int64_t now,
                       bool *ret_imported, int64_t *ret_id);
    int (*server_seen)(struct agg_store *st, int64_t id, int64_t last_seen_at, int online);

    int (*unit_states_load)(struct agg_store *st, int64_t server_id, struct agg_unit_state **ret,
                            size_t *ret_n);
    int (*unit_state_save)(struct agg_store *st, int64_t server_id, const struct agg_unit_state *u);
    int (*gpu_states_load)(struct agg_store *st, int64_t server_id, struct agg_gpu_state_row **ret,
                           size_t *ret_n);
    int (*gpu_state_save)(struct agg_store *st, int64_t server_id,
                          const struct agg_gpu_state_row *g);
    int (*event_add)(struct agg_store *st, const struct agg_event *ev);
    int (*events_query)(struct agg_store *st, int64_t server_id, const char *type,
                        int64_t before_id, int limit, struct agg_event **ret, size_t *ret_n);
    int (*service_status_add)(struct agg_store *st, int64_t server_id, int64_t ts, const char *unit,
                              const char *active_state, const char *sub_state);

    int (*hourly_upsert)(struct agg_store *st, const struct agg_hourly_row *rows, size_t n,
                         const struct agg_gpu_hourly_row *gpus, size_t n_gpus,
                         const struct agg_disk_hourly_row *disks, size_t n_disks);
    int (*hourly_get)(struct agg_store *st, int64_t server_id, int64_t ts,
                      struct agg_hourly_row *ret);
    int (*gpu_hourly_get)(struct agg_store *st, int64_t server_id, int64_t ts,
                          struct agg_gpu_hourly_row **ret, size_t *ret_n);
    int (*disk_hourly_get)(struct agg_store *st, int64_t server_id, int64_t ts,
                           struct agg_disk_hourly_row **ret, size_t *ret_n);
    /* The metric and aggregate come from metric.h's table: the backend reads
     * m->columns[agg], never text from the caller. */
    int (*timeseries)(struct agg_store *st, int64_t server_id, const struct agg_metric *m,
                      enum agg_metric_agg agg, int64_t from, int64_t to, struct agg_point **ret,
                      size_t *ret_n);

    int (*usage_upsert)(struct agg_store *st, const struct agg_usage_row *rows, size_t n);
    int (*usage_hour_get)(struct agg_store *st, int64_t server_id, int64_t ts,
                          struct agg_usage_row **ret, size_t *ret_n);
    /* from <= to are hour starts; the backend splits the range into hours and whole days. */
    int (*usage_query)(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                       const char *user, bool per_server, struct agg_usage_row **ret,
                       size_t *ret_n);
    int (*usage_timeseries)(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                            const char *user, int64_t bucket_s, int64_t offset_s,
                            struct agg_usage_point **ret, size_t *ret_n);
    int (*usage_retention)(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted);

    int (*retention)(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted);
    int (*vacuum)(struct agg_store *st);
    /* Optional (NULL: MON_EUNSUPPORTED; then all three are NULL): agg_store_tx_*. */
    int (*tx_begin)(struct agg_store *st);
    int (*tx_commit)(struct agg_store *st);
    void (*tx_rollback)(struct agg_store *st);
    int (*check)(struct agg_store *st);
    /* Called WITHOUT st->lock: takes it for each chunk it copies. The reason goes into why. */
    int (*backup_to)(struct agg_store *st, const char *dest_path, char *why, size_t why_len);
    /* No connection: checks the database named src before a restore. */
    int (*restore_check)(const char *src, char *why, size_t why_len);
    /* Optional (in_file backends). No connection: narrows the modes of the database's files
     * to 0600 and writes what it changed into done. */
    int (*restrict_files)(const char *database, char *done, size_t done_len);
    /* Optional. Called WITHOUT st->lock from another thread: makes the op running on st
     * return early with an error. */
    void (*interrupt)(struct agg_store *st);

    /* Optional (NULL: MON_EUNSUPPORTED). Holds a lock, for as long as st is open (taken
     * again after a reconnect), that tells a second aggregator this database is in use:
     * MON_EBUSY when another connection holds it. SQLite uses the lock file instead. */
    int (*lock_instance)(struct agg_store *st);

    /* Optional: the source side of a copy (lock held, in one read transaction per call). */
    int (*table_info)(struct agg_store *st, const struct agg_store_table *t,
                      struct agg_store_table_info *ret);
    /* Calls row for every row of t, ordered by its first column. */
    int (*copy_out)(struct agg_store *st, const struct agg_store_table *t, agg_store_row_fn row,
                    void *ctx);

    /* Optional: the target side of a copy, all of it in one transaction (lock held). */
    int (*load_begin)(struct agg_store *st);
    /* Prepares t for info->rows rows (a server database creates the partitions of
     * info->ts_min..ts_max) and starts loading it. */
    int (*load_table_begin)(struct agg_store *st, const struct agg_store_table *t,
                            const struct agg_store_table_info *info);
    int (*load_row)(struct agg_store *st, const char *const *values, size_t n);
    /* Ends loading t, moves its id sequence past info->id_high and counts its rows. */
    int (*load_table_end)(struct agg_store *st, const struct agg_store_table *t,
                          const struct agg_store_table_info *info, int64_t *ret_rows);
    /* Commits (commit true) or rolls back everything loaded. */
    int (*load_end)(struct agg_store *st, bool commit);
};

/* The SQLite backend (store_sqlite*.c). */
extern const struct agg_store_ops agg_store_sqlite_ops;
/* The PostgreSQL backend (store_pg*.c; in builds with libpq). */
extern const struct agg_store_ops agg_store_pg_ops;
/* Stands in for it in builds without libpq: accepts postgresql:// and refuses to open. */
extern const struct agg_store_ops agg_store_pg_missing_ops;

/* Records a reason for st's latest failure (lock held) and returns code. */
int agg_store_fail(struct agg_store *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a reason into why (when why is not NULL and why_len > 0), truncating. */
void agg_store_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- shared by backends (store_rows.c); st is only used to record the reason ---- */

/* Checks what the schema and the event texts rely on (lengths, port range, service names).
 * MON_EINVAL with the reason recorded. */
int agg_store_server_check(struct agg_store *st, const struct agg_server *in);

/* The services column: a JSON array of unit names (malloc'd string, free()). MON_ENOMEM. */
int agg_store_services_encode(struct agg_store *st, const struct agg_server *in, char **ret);

/* Parses a services column into sv->services (appended; strings beyond AGG_MAX_SERVICES and
 * non-strings are ignored). MON_EIO when it is not a JSON array, MON_ENOMEM. */
int agg_store_services_decode(struct agg_store *st, const char *text, size_t len,
                              struct agg_server *sv);

/* The message of the server_added and server_removed events. */
void agg_store_event_text_added(char *buf, size_t size, const struct agg_server *in);
void agg_store_event_text_removed(char *buf, size_t size, const char *name);

/* The whole UTC days inside the hours [from, to): [*ret_d0, *ret_d1), empty (both = to) when
 * none. The part of a usage query read from gpu_usage_daily. */
void agg_store_usage_days(int64_t from, int64_t to, int64_t *ret_d0, int64_t *ret_d1);
/* Orders usage rows by server_id, then user in byte order (PostgreSQL's COLLATE "C"): the
 * order agg_store_usage_query returns, sorted here rather than by the database. */
void agg_store_usage_sort(struct agg_usage_row *rows, size_t n);

/* Grows *arr (of elem-sized items) so that it holds at least need items; records "out of
 * memory" on failure. MON_OK or MON_ENOMEM. */
int agg_store_grow(struct agg_store *st, void **arr, size_t *cap, size_t need, size_t elem);

#endif
