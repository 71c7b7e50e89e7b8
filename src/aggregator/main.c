/* SPDX-License-Identifier: MIT */
/* monitor-aggregator: command line, start-up (config, database, seed import), the engine and
 * the API, and an orderly stop on SIGTERM/SIGINT (Ctrl-C). */
#include "aggregator/api.h"
#include "aggregator/backup.h"
#include "aggregator/checkdb.h"
#include "aggregator/config.h"
#include "aggregator/dblock.h"
#include "aggregator/dbname.h"
#include "aggregator/dbwatch.h"
#include "aggregator/engine.h"
#include "aggregator/migrate.h"
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json_arena.h"
#include "common/log.h"
#include "common/os/os.h"
#include "common/tls.h"
#include "common/tls_cli.h"
#include "common/os/service.h"

#include <curl/curl.h>
#include <limits.h>
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

/* Takes the database's locks, logging why not. */
static int lock_database(const char *db, struct agg_dblock *l)
{
    char why[1024];
    int r = agg_dblock_take(db, l, why, sizeof(why));
    if (r < 0)
        mon_error("%s", why);
    return r;
}

/* The database holds the agents' tokens: files left 0644 by an older version (or copied in
 * with a wide mode) are narrowed to 0600, and the log says so. */
static void restrict_database_files(const char *db)
{
    char done[1024];
    int r = agg_store_restrict_files(db, done, sizeof(done));
    if (r < 0)
        mon_warn("cannot make the database files readable by their owner only: %s", done);
    else if (done[0])
        mon_warn("made the database files readable and writable by their owner only (0600), as "
                 "they hold the agents' tokens: %s",
                 done);
}

static int do_restore(const struct agg_config *cfg, const char *file)
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
    r = lock_database(cfg->database, &locks);
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

static int do_backup(const struct agg_config *cfg, const char *file)
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
static int do_migrate(const struct agg_config *cfg, const char *target)
{
    struct agg_dblock locks = AGG_DBLOCK_INIT;
    int rc;
    if (agg_db_kind_of(cfg->database) == AGG_DB_SQLITE && mon_os_path_exists(cfg->database) &&
        lock_database(cfg->database, &locks) < 0)
        return 1;
    rc = agg_migrate_to(cfg, target, stdout);
    agg_dblock_release(&locks);
    return rc;
}

/* Adds the config file's servers that the database has never seen (matched by name); the
 * database is the source of truth afterwards, so edits made in the UI are kept. */
static int import_seeds(struct agg_store *st, const struct agg_config *cfg)
{
    for (size_t i = 0; i < cfg->n_servers; i++) {
        int64_t id;
        bool imported = false;
        int r = agg_store_seed_import(st, &cfg->servers[i], &imported, &id);
        if (r < 0) {
            mon_error("cannot import server '%s' from %s: %s", cfg->servers[i].name, cfg->path,
                      mon_strerror(r));
            return r;
        }
        if (imported)
            mon_info("imported server '%s' from %s", cfg->servers[i].name, cfg->path);
    }
    return MON_OK;
}

#define SERVICE_NAME "monitor-aggregator"

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

/* Registers the Windows service with the absolute path of a configuration that loads. */
static int do_install_service(const struct options *o)
{
    struct mon_os_service_spec spec = {
        .name = SERVICE_NAME,
        .display_name = "lanmon monitor-aggregator",
        .description = "Polls the lanmon agents of the LAN, keeps their history and serves the "
                       "dashboard.",
    };
    char config[MON_PATH_MAX], args[MON_PATH_MAX + MON_PATH_SUFFIX_MAX], why[512];
    struct agg_config *cfg = NULL;
    struct mon_cfg_error err;
    int r;

    /* The service starts in C:\Windows\System32: the configuration must be named absolutely. */
    if (mon_os_realpath(o->config, config, sizeof(config)) < 0) {
        mon_error("the configuration %s does not exist", o->config);
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
    printf("service '%s' %s (configuration %s); start it with: sc start %s\n", SERVICE_NAME,
           r == 1 ? "updated" : "installed", config, SERVICE_NAME);
    return 0;
}

static int do_uninstall_service(void)
{
    char why[512];
    int r = mon_os_service_uninstall(SERVICE_NAME, 30000, why, sizeof(why));
    if (r == MON_ENOENT) {
        printf("%s\n", why);
        return 0;
    }
    if (r < 0) {
        mon_error("cannot uninstall the service: %s", why);
        return 1;
    }
    printf("service '%s' stopped and removed\n", SERVICE_NAME);
    return 0;
}

/* How long a start waits for the lock of a server database that a crashed aggregator held,
 * and for a database server that does not answer yet. */
#define INSTANCE_LOCK_WAIT_MS 5000
#define SERVER_DB_WAIT_MS     60000

/* Descriptors the rest of the daemon may need: API clients (1,024 at most), the database and
 * its journal, backups, logs, the event loop. */
#define OTHER_FDS 1280

/* The poller's socket budget for an open-file limit (0: no limit). */
static size_t poller_sockets(long fd_limit)
{
    if (fd_limit < 0 || fd_limit == LONG_MAX)
        return 0;
    return fd_limit > OTHER_FDS + 64 ? (size_t)(fd_limit - OTHER_FDS) : 64;
}

/* The daemon: database lock, store, seeds, engine, API and backups until a stop request. */
/* Loads the listener's key and certificate (tls:); true also when there are none. */
static bool load_tls(const struct agg_config *cfg, struct mon_tls_pair *ret)
{
    char why[512];
    if (!cfg->tls_cert_file)
        return true;
    if (mon_tls_pair_load(cfg->tls_cert_file, cfg->tls_key_file, ret, why, sizeof(why)) < 0) {
        mon_error("tls: %s", why);
        return false;
    }
    return true;
}

/* SIGHUP: the listener's certificate is read again (for new connections). */
static void reload_tls(const struct agg_config *cfg, struct agg_api *api)
{
    struct mon_tls_pair tls = {0};
    if (!cfg->tls_cert_file) {
        mon_info("reload is not supported: servers are managed in the dashboard; restart to "
                 "apply config.yaml changes");
        return;
    }
    if (!load_tls(cfg, &tls)) {
        mon_warn("the listener keeps its certificate");
        return;
    }
    if (agg_api_set_tls(api, &tls) < 0)
        mon_warn("the new certificate could not be used; the listener keeps the old one");
    else
        mon_info("tls: certificate %s loaded (pin %s); other config.yaml changes need a restart",
                 cfg->tls_cert_file, tls.pin);
    mon_tls_pair_done(&tls);
}

static int run_daemon(const struct agg_config *cfg)
{
    struct agg_backup_sched *backups = NULL;
    struct agg_store *store = NULL;
    struct agg_engine *engine = NULL;
    struct agg_dbwatch *dbwatch = NULL;
    struct agg_api *api = NULL;
    struct agg_dblock locks = AGG_DBLOCK_INIT;
    bool server = agg_db_kind_of(cfg->database) == AGG_DB_POSTGRES;
    struct mon_tls_pair tls = {0};
    char why[1024], name[512];
    int rc = 1;
    size_t max_sockets;

    if (!load_tls(cfg, &tls))
        return 1;
    agg_db_display(cfg->database, name, sizeof(name));
    /* A file database is locked through files; a server database through its connection. */
    if (!server && lock_database(cfg->database, &locks) < 0)
        goto out;
    restrict_database_files(cfg->database);
    /* A database server that is not up yet (a boot that starts both) is waited for, a while. */
    for (int64_t until = mon_mono_ms() + (server ? SERVER_DB_WAIT_MS : 0);;) {
        int r = agg_store_open_ex(cfg->database, cfg->database_password, 5000, 0, &store, why,
                                  sizeof(why));
        if (r >= 0)
            break;
        if (r != MON_EIO || mon_mono_ms() >= until) {
            mon_error("cannot open the database %s: %s", name, why);
            goto out;
        }
        mon_warn("cannot reach the database %s yet (%s); trying again in 5 s", name, why);
        mon_sleep_ms(5000);
    }
    /* A server database has no lock file: its connection holds an advisory lock instead.
     * Right after a crash the server may not have ended the old session yet: wait a little. */
    if (server) {
        int64_t until = mon_mono_ms() + INSTANCE_LOCK_WAIT_MS;
        int r;
        while ((r = agg_store_lock_instance(store, why, sizeof(why))) == MON_EBUSY &&
               mon_mono_ms() < until)
            mon_sleep_ms(250);
        if (r < 0) {
            mon_error("%s; stop it first", why);
            goto out;
        }
    }
    if (!server && agg_dblock_take_file(cfg->database, &locks, why, sizeof(why)) < 0) {
        mon_error("%s", why);
        goto out;
    }
    if (import_seeds(store, cfg) < 0)
        goto out;
    mon_os_signals_block();
    mon_json_arena_install(); /* before the threads start: see json_arena.h */
    max_sockets = poller_sockets(mon_os_raise_fd_limit());
    curl_global_init(CURL_GLOBAL_DEFAULT);
    {
        struct agg_engine_options eo = {
            .interval_ms = cfg->interval_ms,
            .timeout_ms = cfg->timeout_ms,
            .max_response_bytes = cfg->max_response_bytes,
            .bucket_ms = cfg->bucket_ms,
            .checkpoint_ms = cfg->checkpoint_ms,
            .retention_days = (int)cfg->retention_days,
            .max_sockets = max_sockets,
            .usage_retention_days = (int)cfg->usage_retention_days,
            .db_path = cfg->database,
            .db_password = cfg->database_password,
            .gpu = {.free_mem_mb = (double)cfg->gpu_free_mem_mb,
                    .busy_util_pct = (double)cfg->gpu_busy_util_pct,
                    .idle_after_ms = cfg->gpu_idle_after_ms},
            .gpu_idle_events = cfg->events_gpu_idle,
            .tls_ca_file = cfg->tls_ca_file,
        };
        if (agg_engine_start(&eo, &engine, why, sizeof(why)) < 0) {
            mon_error("cannot start polling: %s", why);
            goto out_curl;
        }
    }
    {
        struct agg_dbwatch_options wo = {.database = cfg->database,
                                         .password = cfg->database_password,
                                         .backups = cfg->backup_dir != NULL};
        if (agg_dbwatch_start(&wo, &dbwatch) < 0)
            mon_warn("cannot start the database watch: no integrity check, no watch of the "
                     "database file");
    }
    api = agg_api_start(cfg, engine, store, dbwatch, tls.cert_pem ? &tls : NULL, why, sizeof(why));
    if (!api) {
        mon_error("%s", why);
        goto out_curl;
    }
    mon_info("listening on %s (%s, database %s, dashboard %s)", cfg->listen,
             tls.cert_pem ? "HTTPS" : "plain HTTP", name,
             cfg->web_root ? cfg->web_root : "not installed");
    if (tls.cert_pem)
        mon_info("tls: certificate %s, pin %s", cfg->tls_cert_file, tls.pin);
    mon_tls_pair_done(&tls);
    mon_os_service_ready();
    if (cfg->backup_dir) {
        struct agg_backup_options bo = {
            .store = store,
            .dir = cfg->backup_dir,
            .keep_days = (int)cfg->backup_keep_days,
            .report = agg_dbwatch_backup_report,
            .report_ctx = dbwatch,
        };
        if (agg_backup_sched_start(&bo, &backups) < 0)
            mon_warn("cannot start the daily backup; none will be made");
        else
            mon_info("daily backups into %s (kept %d days)", cfg->backup_dir,
                     (int)cfg->backup_keep_days);
    }
    if (!cfg->admin_token)
        mon_warn("no admin_token set: adding, editing and deleting servers is disabled");
    while (mon_os_signals_wait() != MON_OS_SIGNAL_STOP)
        reload_tls(cfg, api);
    mon_info("stopping");
    rc = 0;
out_curl:
    agg_backup_sched_stop(backups);
    agg_api_stop(api);
    agg_engine_stop(engine);
    agg_dbwatch_stop(dbwatch);
    curl_global_cleanup();
out:
    mon_tls_pair_done(&tls);
    agg_store_close(store);
    agg_dblock_release(&locks);
    return rc;
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
    const char *slash = strrchr(config, '/'), *bs = strrchr(config, '\\');
    int dir_len;
    if (bs && (!slash || bs > slash))
        slash = bs;
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
    char why[512];
    int rc = 1;

    if (mon_os_init() < 0)
        return 1;
    if (o->mode == MODE_UNINSTALL_SERVICE)
        return do_uninstall_service();
    if (o->mode == MODE_INSTALL_SERVICE)
        return do_install_service(o);
    if (o->mode == MODE_SERVICE)
        service_early_log(o->config);
    if (agg_config_load(o->config, &cfg, &err) < 0) {
        mon_error("%s", err.msg);
        goto out;
    }
    switch (o->mode) {
    case MODE_CHECK_CONFIG: {
        struct mon_tls_pair tls = {0};
        if (!load_tls(cfg, &tls))
            break;
        mon_tls_pair_done(&tls);
        printf("%s: configuration is valid (%zu servers to import)\n", o->config, cfg->n_servers);
        rc = 0;
        break;
    }
    case MODE_RESTORE:
        rc = do_restore(cfg, o->file);
        break;
    case MODE_BACKUP:
        rc = do_backup(cfg, o->file);
        break;
    case MODE_CHECK_DB:
        rc = agg_check_db(cfg, stdout);
        break;
    case MODE_MIGRATE:
        rc = do_migrate(cfg, o->file);
        break;
    case MODE_INIT_DB: {
        struct agg_store *store = NULL;
        char name[512];
        agg_db_display(cfg->database, name, sizeof(name));
        restrict_database_files(cfg->database);
        if (agg_store_open_ex(cfg->database, cfg->database_password, 5000, 0, &store, why,
                              sizeof(why)) < 0) {
            mon_error("cannot open the database %s: %s", name, why);
            break;
        }
        if (import_seeds(store, cfg) == MON_OK) {
            printf("%s: schema version %d ready\n", name, agg_store_schema_version());
            rc = 0;
        }
        agg_store_close(store);
        break;
    }
    default:
        if (open_log_file(cfg, o->mode == MODE_SERVICE) < 0 && o->mode == MODE_SERVICE)
            break;
        rc = run_daemon(cfg);
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
        rc = mon_os_service_run(SERVICE_NAME, run, &o, why, sizeof(why));
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
