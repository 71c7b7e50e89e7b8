/* SPDX-License-Identifier: MIT */
/* monitor-aggregator's one-shot commands: --check-config, --init-db, --backup, --restore,
 * --migrate-to, --install-service and --uninstall-service. Each runs on the main thread, prints
 * its result on stdout, logs why it failed and returns the process's exit status. */
#include "aggregator/admin.h"

#include "aggregator/backup.h"
#include "aggregator/daemon.h"
#include "aggregator/dblock.h"
#include "aggregator/dbname.h"
#include "aggregator/migrate.h"
#include "aggregator/store.h"
#include "common/err.h"
#include "common/log.h"
#include "common/os/os.h"
#include "common/os/service.h"
#include "common/tls.h"

#include <stdio.h>

int agg_admin_restore(const struct agg_config *cfg, const char *file)
{
    struct agg_dblock locks = AGG_DBLOCK_INIT;
    char why[512];
    int r;

    if (agg_db_kind_of(cfg->database) == AGG_DB_POSTGRES) {
        agg_db_display(cfg->database, why, sizeof(why));
        mon_error("--restore replaces a SQLite file; %s is a PostgreSQL database: stop the "
                  "aggregator, restore the dump with PostgreSQL's tools (pg_restore --clean "
                  "--if-exists --dbname='%s' %s) and start it again (docs/operations.md "
                  "section 6)",
                  why, why, file);
        return 1;
    }
    r = agg_daemon_lock_database(cfg->database, &locks);
    if (r < 0)
        return 1;
    r = agg_backup_restore(file, cfg->database, &locks.file_lock, why, sizeof(why));
    agg_dblock_release(&locks);
    if (r < 0) {
        mon_error("restore refused: %s", why);
        return 1;
    }
    printf("%s: restored from %s\n", cfg->database, file);
    return 0;
}

int agg_admin_backup(const struct agg_config *cfg, const char *file)
{
    struct agg_store *st = NULL;
    char why[1024], name[512];
    int rc = 1;

    agg_db_display(cfg->database, name, sizeof(name));
    if (agg_db_kind_of(cfg->database) == AGG_DB_SQLITE && !mon_os_path_exists(cfg->database)) {
        mon_error("the database %s does not exist", cfg->database);
        return 1;
    }
    if (mon_os_path_exists(file)) {
        mon_error("%s already exists; choose a new file name", file);
        return 1;
    }
    if (agg_store_open_ex(cfg->database, cfg->database_password, 5000, 0, &st, why, sizeof(why)) <
        0) {
        mon_error("cannot open the database %s: %s", name, why);
        return 1;
    }
    if (agg_store_backup_to(st, file, why, sizeof(why)) < 0) {
        /* A server database names its own tools instead: said as such, not as a failure. */
        if (agg_db_kind_of(cfg->database) == AGG_DB_POSTGRES)
            mon_error("--backup copies a SQLite file; %s", why);
        else
            mon_error("backup failed: %s", why);
        goto out;
    }
    printf("%s: backed up to %s\n", cfg->database, file);
    rc = 0;
out:
    agg_store_close(st);
    return rc;
}

/* Copies the SQLite database into an empty PostgreSQL one (migrate.c), holding the SQLite
 * file's locks so that no aggregator writes to it meanwhile. */
int agg_admin_migrate(const struct agg_config *cfg, const char *target)
{
    struct agg_dblock locks = AGG_DBLOCK_INIT;
    int rc;
    if (agg_db_kind_of(cfg->database) == AGG_DB_SQLITE && mon_os_path_exists(cfg->database) &&
        agg_daemon_lock_database(cfg->database, &locks) < 0)
        return 1;
    rc = agg_migrate_to(cfg, target, stdout);
    agg_dblock_release(&locks);
    return rc;
}

/* Registers the Windows service with the absolute path of a configuration that loads. */
int agg_admin_install_service(const char *config_path)
{
    struct mon_os_service_spec spec = {
        .name = AGG_SERVICE_NAME,
        .display_name = "lanmon monitor-aggregator",
        .description = "Polls the lanmon agents of the LAN, keeps their history and serves the "
                       "dashboard.",
    };
    char config[MON_PATH_MAX], args[MON_PATH_MAX + MON_PATH_SUFFIX_MAX], why[512];
    struct agg_config *cfg = NULL;
    struct mon_cfg_error err;
    int r;

    /* The service starts in C:\Windows\System32: the configuration must be named absolutely. */
    if (mon_os_realpath(config_path, config, sizeof(config)) < 0) {
        mon_error("the configuration %s does not exist", config_path);
        return 1;
    }
    if (agg_config_load(config, &cfg, &err) < 0) {
        mon_error("%s", err.msg);
        return 1;
    }
    agg_config_free(cfg);
    snprintf(args, sizeof(args), "--service --config \"%s\"", config);
    spec.arguments = args;
    r = mon_os_service_install(&spec, why, sizeof(why));
    if (r < 0) {
        mon_error("cannot install the service: %s", why);
        return 1;
    }
    printf("service '%s' %s (configuration %s); start it with: sc start %s\n", AGG_SERVICE_NAME,
           r == 1 ? "updated" : "installed", config, AGG_SERVICE_NAME);
    return 0;
}

int agg_admin_uninstall_service(void)
{
    char why[512];
    int r = mon_os_service_uninstall(AGG_SERVICE_NAME, 30000, why, sizeof(why));
    if (r == MON_ENOENT) {
        printf("%s\n", why);
        return 0;
    }
    if (r < 0) {
        mon_error("cannot uninstall the service: %s", why);
        return 1;
    }
    printf("service '%s' stopped and removed\n", AGG_SERVICE_NAME);
    return 0;
}

int agg_admin_check_config(const struct agg_config *cfg)
{
    struct mon_tls_pair tls = {0};
    if (!agg_daemon_load_tls(cfg, &tls))
        return 1;
    mon_tls_pair_done(&tls);
    return 0;
}

int agg_admin_init_db(const struct agg_config *cfg)
{
    struct agg_store *store = NULL;
    char why[512], name[512];
    int rc = 1;

    agg_db_display(cfg->database, name, sizeof(name));
    agg_daemon_restrict_files(cfg->database);
    if (agg_store_open_ex(cfg->database, cfg->database_password, 5000, 0, &store, why,
                          sizeof(why)) < 0) {
        mon_error("cannot open the database %s: %s", name, why);
        return 1;
    }
    if (agg_daemon_import_seeds(store, cfg) == MON_OK) {
        printf("%s: schema version %d ready\n", name, agg_store_schema_version());
        rc = 0;
    }
    agg_store_close(store);
    return rc;
}
