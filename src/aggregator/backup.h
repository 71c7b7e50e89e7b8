/* SPDX-License-Identifier: MIT */
/* Database backups: restoring a checked copy over the database, the daily backup file name,
 * pruning old backups, and a thread that writes one backup a day (first one shortly after
 * start). The SQLite work itself is agg_store_backup_to / agg_store_restore_check. */
#ifndef MON_AGGREGATOR_BACKUP_H
#define MON_AGGREGATOR_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator/store.h"

/* Checks src with agg_store_restore_check, copies it to "<db_path>.restore-tmp" (synced),
 * removes "<db_path>-wal" and "-shm", and renames the copy over db_path. The caller must make
 * sure no aggregator uses db_path (hold "<db_path>.lock"). The reason is written in why. */
int agg_backup_restore(const char *src, const char *db_path, char *why, size_t why_len);

/* Writes "monitor-YYYYMMDD.db" (the UTC date of utc_s) into buf. */
int agg_backup_daily_name(int64_t utc_s, char *buf, size_t size);

/* Deletes files named monitor-YYYYMMDD.db in dir whose modification time is more than
 * keep_days days before now_utc_s; *ret_removed counts them. A missing dir removes nothing. */
int agg_backup_prune(const char *dir, int keep_days, int64_t now_utc_s, int *ret_removed);

/* One daily run: creates dir, writes <dir>/monitor-YYYYMMDD.db from st unless today's file
 * already exists (*ret_written false), then prunes. The file's path is written in path_out;
 * a failure's reason in why. */
int agg_backup_daily_run(struct agg_store *st, const char *dir, int keep_days, int64_t now_utc_s,
                         bool *ret_written, char *path_out, size_t path_len, char *why,
                         size_t why_len);

/* Called on the backup thread after each run: rc < 0 with the reason in text, else text is the
 * backup's path; written tells whether a new file was made; removed counts pruned files. */
typedef void (*agg_backup_report_fn)(void *ctx, int rc, bool written, int removed,
                                     const char *text);

struct agg_backup_options {
    struct agg_store *store; /* shared, e.g. the API's handle */
    const char *dir;         /* copied */
    int keep_days;
    int64_t first_delay_ms; /* <= 0: 10 s */
    int64_t period_ms;      /* <= 0: one day */
    agg_backup_report_fn report;
    void *report_ctx;
};

struct agg_backup_sched;

/* Starts the daily backup thread. */
int agg_backup_sched_start(const struct agg_backup_options *opt, struct agg_backup_sched **ret);
/* Stops (waiting for a run in progress) and frees. Accepts NULL. */
void agg_backup_sched_stop(struct agg_backup_sched *b);

#endif
