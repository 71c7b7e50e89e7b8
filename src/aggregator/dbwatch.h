/* SPDX-License-Identifier: MIT */
/* What /api/health and the log say about the database beyond the writer: the integrity check
 * made in the background after start, the database file (deleted, replaced or emptied under the
 * running aggregator) and the results of the daily backups. */
#ifndef MON_AGGREGATOR_DBWATCH_H
#define MON_AGGREGATOR_DBWATCH_H

/* Ownership: the watch from agg_dbwatch_start belongs to the caller (agg_dbwatch_stop) and
 * copies the options' texts; agg_dbwatch_health_json adds items to the caller's tree. */

#include <stdbool.h>
#include <stdint.h>

struct agg_backup_result;
struct agg_dbwatch;
struct cJSON;

struct agg_dbwatch_options {
    const char *database; /* the `database:` value (copied); open and locked by the caller */
    const char *password; /* database_password_file's secret (copied), or NULL */
    bool backups;         /* daily backups are configured */
    int64_t watch_ms;     /* between looks at the database file; <= 0: 2 s */
};

/* Starts the watch thread: it runs the store's integrity check (SQLite: PRAGMA quick_check, a
 * few seconds per GB) on its own connection, so that start-up is not held up by a large
 * database, and then, for a database kept in a file, compares the file the path names with the
 * one opened at start every watch_ms. Each finding and each change back is logged once.
 * MON_OK, MON_ENOMEM, MON_ESYS. */
int agg_dbwatch_start(const struct agg_dbwatch_options *opt, struct agg_dbwatch **ret);

/* Stops the thread, interrupting an integrity check in progress, and frees. Accepts NULL. */
void agg_dbwatch_stop(struct agg_dbwatch *w);

/* An agg_backup_report_fn (ctx: the watch): logs a daily backup's result and keeps it for
 * /api/health. Thread-safe. */
void agg_dbwatch_backup_report(void *ctx, const struct agg_backup_result *res);

/* Adds to the /api/health object root: "integrity" and "file" inside its "db" object and a
 * "backup" object (docs/api.md), and sets "status" to "degraded" when the integrity check
 * failed, the database file is gone or the last backup failed. Thread-safe; accepts NULL w. */
void agg_dbwatch_health_json(struct agg_dbwatch *w, struct cJSON *root);

#endif
