/* SPDX-License-Identifier: MIT */
/* monitor-aggregator's daemon mode and the start-up steps the one-shot commands share with it
 * (database locks, file modes, seed import, the listener's certificate). Main thread only;
 * errors are logged here, callers only turn them into an exit status. */
#ifndef MON_AGGREGATOR_DAEMON_H
#define MON_AGGREGATOR_DAEMON_H

/* Ownership and threads: agg_daemon_run is the main thread's loop and owns everything it starts
 * until it returns; the start-up helpers are for the main thread too and write into caller
 * storage (locks, TLS pair) that the caller releases as each says. */

#include <stdbool.h>

#include "aggregator/config.h"
#include "aggregator/dblock.h"
#include "aggregator/store.h"
#include "common/tls.h"

/* Runs the aggregator until SIGTERM/SIGINT (or the service's stop): locks and opens the
 * database, imports the seeds, starts the engine, the API, the database watch and the daily
 * backups, and stops them all in order. Returns the exit status (0 after a clean stop). */
int agg_daemon_run(const struct agg_config *cfg);

/* Takes the database's locks into *l (released with agg_dblock_release), logging why not. */
int agg_daemon_lock_database(const char *db, struct agg_dblock *l);

/* Narrows the database files to 0600 (they hold the agents' tokens), logging what changed. */
void agg_daemon_restrict_files(const char *db);

/* Adds the config file's servers that the database has never seen (matched by name). */
int agg_daemon_import_seeds(struct agg_store *st, const struct agg_config *cfg);

/* Loads the listener's key and certificate (tls:) into *ret (the caller's, released with
 * mon_tls_pair_done); true also when there are none, false (logged) when they do not load. */
bool agg_daemon_load_tls(const struct agg_config *cfg, struct mon_tls_pair *ret);

#endif
