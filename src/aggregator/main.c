/* SPDX-License-Identifier: MIT */
/* monitor-aggregator: the command line, the log set-up and the dispatch to the daemon
 * (daemon.c) or a one-shot command (admin.c), directly or under the Windows Service Control
 * Manager. */
#include "aggregator/admin.h"
#include "aggregator/checkdb.h"
#include "aggregator/config.h"
#include "aggregator/daemon.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/os/os.h"
#include "common/os/service.h"
#include "common/tls_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: monitor-aggregator [--config PATH] [--check-config | --init-db |\n"
                 "                          --backup FILE | --restore FILE | --check-db |\n"
                 "                          --migrate-to URI |\n"
                 "                          --install-service | --uninstall-service]\n"
                 "       monitor-aggregator --gen-cert --cert FILE --key FILE [--days N]\n"
                 "                          [--name HOST[,HOST...]] [--force]\n"
                 "       monitor-aggregator --version\n\n"
                 "  --config PATH   configuration (default $MONITOR_AGGREGATOR_CONFIG, else\n"
                 "                  config.yaml beside the executable)\n"
                 "  --check-config  validate the configuration and exit (0 when valid)\n"
                 "  --init-db       create or upgrade the database schema and exit\n"
                 "  --backup FILE   copy the database into the new FILE (also while the\n"
                 "                  aggregator runs) and exit\n"
                 "  --restore FILE  replace the database with FILE after checking it (the\n"
                 "                  aggregator must be stopped) and exit\n"
                 "  --check-db      check the database, print its size and row counts, exit 0\n"
                 "                  when it is healthy\n"
                 "  --migrate-to URI  copy the SQLite database into the empty PostgreSQL\n"
                 "                  database URI (postgresql://USER@HOST/DB; the aggregator\n"
                 "                  stopped), verify the row counts and exit\n"
                 "  --install-service    (Windows, as Administrator) register the service\n"
                 "                  'monitor-aggregator' that runs with this configuration\n"
                 "                  and starts at boot; again after an upgrade to update it\n"
                 "  --uninstall-service  (Windows) stop and remove that service\n"
                 "  --service       run under the Service Control Manager (set by\n"
                 "                  --install-service; logs go to the log file)\n"
                 "  --gen-cert      make a self-signed ECDSA P-256 key and certificate for the\n"
                 "                  dashboard's HTTPS (tls: in config.yaml; default 3650 days,\n"
                 "                  names: the host name and the machine's addresses)\n"
                 "  --version       print the version and exit\n");
}

static char *default_config_path(void)
{
    const char *env = getenv("MONITOR_AGGREGATOR_CONFIG");
    char dir[MON_PATH_MAX], path[MON_PATH_MAX + MON_PATH_SUFFIX_MAX];
    if (env && *env)
        return strdup(env);
    if (mon_os_exe_dir(dir, sizeof(dir)) < 0)
        return strdup("config.yaml");
    snprintf(path, sizeof(path), "%s/config.yaml", dir);
    return strdup(path);
}

enum run_mode {
    MODE_RUN,
    MODE_CHECK_CONFIG,
    MODE_INIT_DB,
    MODE_BACKUP,
    MODE_RESTORE,
    MODE_CHECK_DB,
    MODE_MIGRATE,
    MODE_INSTALL_SERVICE,
    MODE_UNINSTALL_SERVICE,
    MODE_SERVICE, /* started by the Windows Service Control Manager */
};

struct options {
    char *config; /* the configuration file (resolved before use) */
    enum run_mode mode;
    const char *file; /* --backup / --restore FILE, --migrate-to URI */
};

/* Parses the command line into o. Returns -1 to go on, or the exit status to end with. */
static int parse_args(int argc, char **argv, struct options *o)
{
    int modes = 0;

    for (int i = 1; i < argc; i++) {
        enum run_mode m = MODE_RUN;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            free(o->config);
            o->config = strdup(argv[++i]);
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            free(o->config);
            o->config = strdup(argv[i] + 9);
        } else if (strcmp(argv[i], "--check-config") == 0) {
            m = MODE_CHECK_CONFIG;
        } else if (strcmp(argv[i], "--init-db") == 0) {
            m = MODE_INIT_DB;
        } else if (strcmp(argv[i], "--backup") == 0 && i + 1 < argc) {
            m = MODE_BACKUP;
            o->file = argv[++i];
        } else if (strcmp(argv[i], "--restore") == 0 && i + 1 < argc) {
            m = MODE_RESTORE;
            o->file = argv[++i];
        } else if (strcmp(argv[i], "--check-db") == 0) {
            m = MODE_CHECK_DB;
        } else if (strcmp(argv[i], "--migrate-to") == 0 && i + 1 < argc) {
            m = MODE_MIGRATE;
            o->file = argv[++i];
        } else if (strcmp(argv[i], "--install-service") == 0) {
            m = MODE_INSTALL_SERVICE;
        } else if (strcmp(argv[i], "--uninstall-service") == 0) {
            m = MODE_UNINSTALL_SERVICE;
        } else if (strcmp(argv[i], "--service") == 0) {
            m = MODE_SERVICE;
        } else if (strcmp(argv[i], "--gen-cert") == 0) {
            return mon_tls_gen_cert_main("monitor-aggregator", argc - 1, argv + 1);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("monitor-aggregator %s\n", MON_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "monitor-aggregator: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (m != MODE_RUN) {
            o->mode = m;
            modes++;
        }
    }
    if (modes > 1) {
        fprintf(stderr, "monitor-aggregator: choose one of --check-config, --init-db, --backup, "
                        "--restore, --check-db, --migrate-to, --install-service, "
                        "--uninstall-service and --service\n");
        return 2;
    }
    if (!o->config)
        o->config = default_config_path();
    if (!o->config) {
        fprintf(stderr, "monitor-aggregator: out of memory\n");
        return 1;
    }
    return -1;
}

/* Sends the log to the configured file (always for the service, which has no console). */
static int open_log_file(const struct agg_config *cfg, bool service)
{
    int r;
    if (!cfg->log_configured && !service)
        return MON_OK;
    r = mon_log_to_file(cfg->log_file, cfg->log_max_bytes, (int)cfg->log_keep);
    if (r < 0)
        mon_error("cannot write the log file %s: %s", cfg->log_file, mon_strerror(r));
    else if (r > 0)
        mon_warn("made %d log file(s) (%s and its rotated copies) readable by owner and group "
                 "only (0640)",
                 r, cfg->log_file);
    return r < 0 ? r : MON_OK;
}

/* A service has no console: until its configuration names the log file, it logs to the
 * default one beside the configuration, so that a broken configuration is reported too. */
static void service_early_log(const char *config)
{
    char path[MON_PATH_MAX + MON_PATH_SUFFIX_MAX];
    const char *slash = mon_os_path_last_sep(config);
    int dir_len;
    dir_len = slash ? (int)(slash - config) : 1;
    snprintf(path, sizeof(path), "%.*s/logs/monitor-aggregator.log", dir_len, slash ? config : ".");
    mon_log_to_file(path, 10 * 1024 * 1024, 5);
}

/* Everything after the command line: load the configuration and do what the mode says. */
static int run(void *arg)
{
    const struct options *o = arg;
    struct agg_config *cfg = NULL;
    struct mon_cfg_error err;
    int rc = 1;

    if (mon_os_init() < 0)
        return 1;
    if (o->mode == MODE_UNINSTALL_SERVICE)
        return agg_admin_uninstall_service();
    if (o->mode == MODE_INSTALL_SERVICE)
        return agg_admin_install_service(o->config);
    if (o->mode == MODE_SERVICE)
        service_early_log(o->config);
    if (agg_config_load(o->config, &cfg, &err) < 0) {
        mon_error("%s", err.msg);
        goto out;
    }
    switch (o->mode) {
    case MODE_CHECK_CONFIG:
        rc = agg_admin_check_config(cfg);
        if (rc == 0)
            printf("%s: configuration is valid (%zu servers to import)\n", o->config,
                   cfg->n_servers);
        break;
    case MODE_RESTORE:
        rc = agg_admin_restore(cfg, o->file);
        break;
    case MODE_BACKUP:
        rc = agg_admin_backup(cfg, o->file);
        break;
    case MODE_CHECK_DB:
        rc = agg_check_db(cfg, stdout);
        break;
    case MODE_MIGRATE:
        rc = agg_admin_migrate(cfg, o->file);
        break;
    case MODE_INIT_DB:
        rc = agg_admin_init_db(cfg);
        break;
    default:
        if (open_log_file(cfg, o->mode == MODE_SERVICE) < 0 && o->mode == MODE_SERVICE)
            break;
        rc = agg_daemon_run(cfg);
        break;
    }
out:
    agg_config_free(cfg);
    mon_log_close();
    return rc;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    char why[512];
    int rc = parse_args(argc, argv, &o);

    if (rc >= 0) {
        free(o.config);
        return rc;
    }
    mon_log_init("monitor-aggregator", getenv("MONITOR_DEBUG") ? MON_LOG_DEBUG : MON_LOG_INFO);
    mon_clock_init_from_env(); /* test-only wall-clock offset, see clock.h */
    if (o.mode == MODE_SERVICE) {
        rc = mon_os_service_run(AGG_SERVICE_NAME, run, &o, why, sizeof(why));
        if (rc < 0) {
            mon_error("%s", why);
            rc = 1;
        }
    } else {
        rc = run(&o);
    }
    free(o.config);
    return rc;
}
