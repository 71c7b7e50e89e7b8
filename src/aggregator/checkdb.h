/* SPDX-License-Identifier: MIT */
/* monitor-aggregator --check-db: the configured database (a SQLite file or a PostgreSQL
 * database) opened, checked and described: size, versions, row counts. */
#ifndef MON_AGGREGATOR_CHECKDB_H
#define MON_AGGREGATOR_CHECKDB_H

/* Threads: a command-line action of the main thread, before (instead of) the daemon; it opens
 * and closes its own store connection and only reads cfg. */

#include <stdio.h>

struct agg_config;

/* Prints the database's name (without any password), the result of its check (SQLite:
 * quick_check and integrity_check; PostgreSQL: schema version, tables and this month's
 * partitions), its size, journal mode or server version and partition count, schema version
 * and the rows of each table on out. Returns the exit status: 0 when the check passes. May run
 * while the aggregator runs. */
int agg_check_db(const struct agg_config *cfg, FILE *out);

#endif
