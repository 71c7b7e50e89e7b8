/* SPDX-License-Identifier: MIT */
/* monitor-aggregator --migrate-to: the configured SQLite database copied into an empty
 * PostgreSQL database, with the row counts printed and the configuration change explained. */
#ifndef MON_AGGREGATOR_MIGRATE_H
#define MON_AGGREGATOR_MIGRATE_H

/* Threads: a command-line action of the main thread, instead of the daemon; it opens and closes
 * both databases itself and only reads cfg. */

#include <stdio.h>

struct agg_config;

/* Copies cfg's SQLite database into the PostgreSQL database target (a postgresql:// URI; its
 * password from the URI, PGPASSWORD or PGPASSFILE), which must hold no table and no row, in
 * one transaction: every table with its ids, id sequences advanced, row counts verified. The
 * caller keeps the aggregator from running meanwhile (the SQLite lock file). Prints the counts
 * and how to switch the configuration on out, errors through the log. Returns the exit status
 * (0 when everything was copied). */
int agg_migrate_to(const struct agg_config *cfg, const char *target, FILE *out);

#endif
