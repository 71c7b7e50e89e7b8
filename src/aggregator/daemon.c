/* SPDX-License-Identifier: MIT */
/* monitor-aggregator's daemon mode: database locks and open (waiting for a database server that
 * is not up yet), seed import, the engine, the API, backups and the database watch, then the
 * signal loop (SIGHUP reloads the listener's certificate) and an orderly stop. Runs on the main
 * thread; everything it starts it stops and frees before returning. */
#include "aggregator/daemon.h"

#include "aggregator/api.h"
#include "aggregator/backup.h"
#include "aggregator/dbname.h"
#include "aggregator/dbwatch.h"
#include "aggregator/engine.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json_arena.h"
#include "common/log.h"
#include "common/os/os.h"
#include "common/os/service.h"

#include <curl/curl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <limits.h>

/* Takes the database's locks, logging why not. */
int agg_daemon_lock_database(const char *db, struct agg_dblock *l)
{
    char why[1024];
    int r = agg_dblock_take(db, l, why, sizeof(why));
    if (r < 0)
        mon_error("%s", why);
    return r;
}

/* The database holds the agents' tokens: files left 0644 by an older version (or copied in
 * with a wide mode) are narrowed to 0600, and the log says so. */
void agg_daemon_restrict_files(const char *db)
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

/* Adds the config file's servers that the database has never seen (matched by name); the
 * database is the source of truth afterwards, so edits made in the UI are kept. */
int agg_daemon_import_seeds(struct agg_store *st, const struct agg_config *cfg)
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

/* Loads the listener's key and certificate (tls:); true also when there are none. */
bool agg_daemon_load_tls(const struct agg_config *cfg, struct mon_tls_pair *ret)
{
    return mon_cfg_tls_load(cfg->tls_cert_file, cfg->tls_key_file, ret);
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
    if (!agg_daemon_load_tls(cfg, &tls)) {
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

/* The daemon: database lock, store, seeds, engine, API and backups until a stop request. */
int agg_daemon_run(const struct agg_config *cfg)
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

#ifdef __GLIBC__
    /* Buffers of 128 KiB and more (a minute's checkpoint rows of every server, a list reply)
     * are mapped and unmapped, not left in the heap: glibc's default raises that threshold to
     * the largest such buffer freed, and the free space they leave stayed resident (malloc_stats
     * at 1,000 servers after 200 s: 3.2 of 24.6 MB free). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
    if (!agg_daemon_load_tls(cfg, &tls))
        return 1;
    agg_db_display(cfg->database, name, sizeof(name));
    /* A file database is locked through files; a server database through its connection. */
    if (!server && agg_daemon_lock_database(cfg->database, &locks) < 0)
        goto out;
    agg_daemon_restrict_files(cfg->database);
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
    if (agg_daemon_import_seeds(store, cfg) < 0)
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
    if (agg_api_start(cfg, engine, store, dbwatch, tls.cert_pem ? &tls : NULL, &api, why,
                      sizeof(why)) < 0) {
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
