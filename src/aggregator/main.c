/* SPDX-License-Identifier: MIT */
/* monitor-aggregator: command line, start-up (config, database, seed import), the engine and
 * the API, and an orderly stop on SIGTERM/SIGINT (Ctrl-C). */
#include "aggregator/api.h"
#include "aggregator/config.h"
#include "aggregator/engine.h"
#include "aggregator/store.h"
#include "common/err.h"
#include "common/log.h"
#include "common/os/os.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: monitor-aggregator [--config PATH] [--check-config | --init-db]\n"
                 "       monitor-aggregator --version\n\n"
                 "  --config PATH   configuration (default $MONITOR_AGGREGATOR_CONFIG, else\n"
                 "                  config.yaml beside the executable)\n"
                 "  --check-config  validate the configuration and exit (0 when valid)\n"
                 "  --init-db       create or upgrade the database schema and exit\n"
                 "  --version       print the version and exit\n");
}

static char *default_config_path(void)
{
    const char *env = getenv("MONITOR_AGGREGATOR_CONFIG");
    char dir[4096], path[4200];
    if (env && *env)
        return strdup(env);
    if (mon_os_exe_dir(dir, sizeof(dir)) < 0)
        return strdup("config.yaml");
    snprintf(path, sizeof(path), "%s/config.yaml", dir);
    return strdup(path);
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

int main(int argc, char **argv)
{
    char *path = NULL, why[512];
    bool check_only = false, init_only = false;
    struct agg_config *cfg = NULL;
    struct agg_store *store = NULL;
    struct agg_engine *engine = NULL;
    struct agg_api *api = NULL;
    struct mon_cfg_error err;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            free(path);
            path = strdup(argv[++i]);
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            free(path);
            path = strdup(argv[i] + 9);
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = true;
        } else if (strcmp(argv[i], "--init-db") == 0) {
            init_only = true;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("monitor-aggregator %s\n", MON_VERSION);
            free(path);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            free(path);
            return 0;
        } else {
            fprintf(stderr, "monitor-aggregator: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            free(path);
            return 2;
        }
    }
    mon_log_init("monitor-aggregator", getenv("MONITOR_DEBUG") ? MON_LOG_DEBUG : MON_LOG_INFO);
    if (!path)
        path = default_config_path();
    if (!path || mon_os_init() < 0)
        goto out;
    if (agg_config_load(path, &cfg, &err) < 0) {
        mon_error("%s", err.msg);
        goto out;
    }
    if (check_only) {
        printf("%s: configuration is valid (%zu servers to import)\n", path, cfg->n_servers);
        rc = 0;
        goto out;
    }
    if (agg_store_open(cfg->database, 5000, &store, why, sizeof(why)) < 0) {
        mon_error("cannot open the database %s: %s", cfg->database, why);
        goto out;
    }
    if (import_seeds(store, cfg) < 0)
        goto out;
    if (init_only) {
        printf("%s: schema version %d ready\n", cfg->database, agg_store_schema_version());
        rc = 0;
        goto out;
    }
    mon_os_signals_block();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    {
        struct agg_engine_options eo = {
            .interval_ms = cfg->interval_ms,
            .timeout_ms = cfg->timeout_ms,
            .max_response_bytes = cfg->max_response_bytes,
            .bucket_ms = cfg->bucket_ms,
            .checkpoint_ms = cfg->checkpoint_ms,
            .retention_days = (int)cfg->retention_days,
            .db_path = cfg->database,
        };
        if (agg_engine_start(&eo, &engine, why, sizeof(why)) < 0) {
            mon_error("cannot start polling: %s", why);
            goto out_curl;
        }
    }
    api = agg_api_start(cfg, engine, store, why, sizeof(why));
    if (!api) {
        mon_error("%s", why);
        goto out_curl;
    }
    mon_info("listening on %s (database %s, dashboard %s)", cfg->listen, cfg->database,
             cfg->web_root ? cfg->web_root : "not installed");
    if (!cfg->admin_token)
        mon_warn("no admin_token set: adding, editing and deleting servers is disabled");
    while (mon_os_signals_wait() != MON_OS_SIGNAL_STOP)
        mon_info("reload is not supported: servers are managed in the dashboard; restart to "
                 "apply config.yaml changes");
    mon_info("stopping");
    rc = 0;
out_curl:
    agg_api_stop(api);
    agg_engine_stop(engine);
    curl_global_cleanup();
out:
    agg_store_close(store);
    agg_config_free(cfg);
    free(path);
    return rc;
}
