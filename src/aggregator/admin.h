/* SPDX-License-Identifier: MIT */
/* monitor-aggregator's one-shot commands (--check-config, --init-db, --backup, --restore,
 * --migrate-to, --install-service, --uninstall-service). Main thread only; each returns the
 * process's exit status (0: done) and logs or prints why not. */
#ifndef MON_AGGREGATOR_ADMIN_H
#define MON_AGGREGATOR_ADMIN_H

/* Threads: command-line actions of the main thread, run instead of the daemon; each opens and
 * closes what it needs itself (store, locks, service manager) and only reads cfg and the file
 * names. */

#include "aggregator/config.h"

/* The name of the Windows service (--install-service, --service). */
#define AGG_SERVICE_NAME "monitor-aggregator"

/* --check-config: the configuration loaded already; checks that its certificate loads too. */
int agg_admin_check_config(const struct agg_config *cfg);

/* --init-db: creates or upgrades the schema and imports the seed servers. */
int agg_admin_init_db(const struct agg_config *cfg);

/* --backup FILE: copies the database into the new file (also while the aggregator runs). */
int agg_admin_backup(const struct agg_config *cfg, const char *file);

/* --restore FILE: replaces the SQLite database with file after checking it (the aggregator
 * stopped: its locks are taken). */
int agg_admin_restore(const struct agg_config *cfg, const char *file);

/* --migrate-to URI: copies the SQLite database into an empty PostgreSQL one. */
int agg_admin_migrate(const struct agg_config *cfg, const char *target);

/* --install-service: registers the Windows service with the absolute path of config_path,
 * after checking that it loads. */
int agg_admin_install_service(const char *config_path);

/* --uninstall-service: stops and removes the Windows service. */
int agg_admin_uninstall_service(void);

#endif
