/* SPDX-License-Identifier: MIT */
/* Database backups: restoring a checked copy over the database, the daily backup file name,
 * pruning old backups, and a thread that writes one backup a day (first one shortly after
 * start; a failed one is retried with a growing delay). The SQLite work itself is
 * agg_store_backup_to / agg_store_restore_check. */
#ifndef MON_AGGREGATOR_BACKUP_H
#define MON_AGGREGATOR_BACKUP_H

/* Ownership and threads: the scheduler from agg_backup_sched_start belongs to the caller
 * (agg_backup_sched_stop) and borrows the store named in its options; file names go into caller
 * storage. The one-shot functions (restore, prune, daily run) keep no state: the main thread
 * (restore at start-up) and the backup thread call them. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator/store.h"

/* Checks src with agg_store_restore_check, copies it to "<db_path>.restore-tmp" (mode 0600,
 * synced), removes "<db_path>-wal" and "-shm", and renames the copy over db_path (which so
 * becomes 0600). The caller must make sure no aggregator uses db_path: hold "<db_path>.lock"
 * and the lock on the database file itself (mon_os_lock_existing), whose handle is passed in
 * *db_file_lock (or NULL when the file does not exist yet): it is released, and set to -1,
 * just before the rename, because Windows cannot replace a file that is open. The reason is
 * written in why. */
int agg_backup_restore(const char *src, const char *db_path, int *db_file_lock, char *why,
                       size_t why_len);

/* Writes "monitor-YYYYMMDD.db" (the UTC date of utc_s) into buf. */
int agg_backup_daily_name(int64_t utc_s, char *buf, size_t size);

/* Deletes files named monitor-YYYYMMDD.db in dir whose modification time is more than
 * keep_days days before now_utc_s; *ret_removed counts them. The ones kept are narrowed to mode
 * 0600 (older versions made them 0644). A missing dir removes nothing. */
int agg_backup_prune(const char *dir, int keep_days, int64_t now_utc_s, int *ret_removed);

/* One daily run: creates dir, writes <dir>/monitor-YYYYMMDD.db from st unless today's file
 * already exists (*ret_written false), then prunes. The file's path is written in path_out;
 * a failure's reason in why. */
int agg_backup_daily_run(struct agg_store *st, const char *dir, int keep_days, int64_t now_utc_s,
                         bool *ret_written, char *path_out, size_t path_len, char *why,
                         size_t why_len);

/* What one run of the daily backup thread did. */
struct agg_backup_result {
    int rc;             /* MON_OK, or the failure's code */
    bool written;       /* a new file was made (false: today's file was there already) */
    int removed;        /* old backups pruned */
    const char *text;   /* the backup's path, or the failure's reason */
    int failures;       /* failed runs in a row, this one included; 0 after a success */
    int64_t next_in_ms; /* until the next run: the period after a success, a retry delay after
                           a failure */
};

/* Called on the backup thread after each run; res and its text live until it returns. */
typedef void (*agg_backup_report_fn)(void *ctx, const struct agg_backup_result *res);

struct agg_backup_options {
    struct agg_store *store; /* shared, e.g. the API's handle */
    const char *dir;         /* copied */
    int keep_days;
    int64_t first_delay_ms; /* <= 0: 10 s */
    int64_t period_ms;      /* <= 0: one day */
    int64_t retry_min_ms;   /* after a failed run; <= 0: 15 s, doubling per failure ... */
    int64_t retry_max_ms;   /* ... up to this; < retry_min_ms: one hour */
    agg_backup_report_fn report;
    void *report_ctx;
};

/* The wait before the next try after `failures` failed runs in a row (>= 1): min_ms doubled
 * per further failure, at most max_ms. */
int64_t agg_backup_retry_delay_ms(int failures, int64_t min_ms, int64_t max_ms);

struct agg_backup_sched;

/* Starts the daily backup thread. */
int agg_backup_sched_start(const struct agg_backup_options *opt, struct agg_backup_sched **ret);
/* Stops (waiting for a run in progress) and frees. Accepts NULL. */
void agg_backup_sched_stop(struct agg_backup_sched *b);

#endif
