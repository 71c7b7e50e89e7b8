/* SPDX-License-Identifier: MIT */
/* What a `database:` value names (a SQLite file or a PostgreSQL URI) and how to print it
 * without its secrets. Pure text functions, no database access, built into every aggregator
 * (also the Windows one, which has no PostgreSQL backend), so that the configuration, the
 * command line and the logs agree on the same rules. */
#ifndef MON_AGGREGATOR_DBNAME_H
#define MON_AGGREGATOR_DBNAME_H

/* Threads: pure text functions on caller storage: safe from any thread. */

#include <stdbool.h>
#include <stddef.h>

enum agg_db_kind {
    AGG_DB_SQLITE,   /* any other value: a file path */
    AGG_DB_POSTGRES, /* "postgresql://..." or "postgres://..." (scheme case-insensitive) */
};

/* The kind of database a `database:` value names (NULL counts as SQLite). */
enum agg_db_kind agg_db_kind_of(const char *database);

/* True when this build has the backend for kind (PostgreSQL: built with libpq, i.e. not the
 * Windows build). */
bool agg_db_kind_available(enum agg_db_kind kind);

/* True for a libpq "keyword=value" connection string ("host=db dbname=lanmon"), which would
 * otherwise be taken for a file name: the configuration asks for a postgresql:// URI instead. */
bool agg_db_looks_like_conninfo(const char *database);

/* Writes database into buf as it may be shown in logs, errors and command output: a
 * PostgreSQL URI loses the password of its user information ("user:secret@" becomes "user@")
 * and every "password=" query parameter; a file path is copied as it is. Truncated to size
 * (always NUL-terminated when size > 0). */
void agg_db_display(const char *database, char *buf, size_t size);

#endif
