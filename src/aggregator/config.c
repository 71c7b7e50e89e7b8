/* SPDX-License-Identifier: MIT */
/* Maps the aggregator's YAML onto struct agg_config; wrong values are errors, never guesses. */
#include "aggregator/config.h"

#include "aggregator/dbname.h"
#include "aggregator/validate.h"
#include "common/err.h"
#include "common/net.h"
#include "common/os/os.h"
#include "common/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const top_keys[] = {"listen",
                                       "database",
                                       "database_password_file",
                                       "admin_token",
                                       "admin_token_file",
                                       "web_root",
                                       "allow_from",
                                       "poll",
                                       "history",
                                       "backup",
                                       "log",
                                       "gpu_state",
                                       "events",
                                       "servers",
                                       "tls",
                                       "tls_ca_file",
                                       NULL};
static const char *const poll_keys[] = {"interval", "timeout", "max_response_bytes", NULL};
static const char *const history_keys[] = {"retention_days", "bucket", "checkpoint",
                                           "usage_retention_days", NULL};
static const char *const backup_keys[] = {"dir", "keep_days", NULL};
static const char *const log_keys[] = {"file", "max_size_mb", "keep", NULL};
static const char *const gpu_state_keys[] = {"free_mem_mb", "busy_util_pct", "idle_after", NULL};
static const char *const events_keys[] = {"gpu_idle", NULL};
static const char *const server_keys[] = {"name",       "host",        "agent_port", "token",
                                          "token_file", "services",    "enabled",    "tls",
                                          "tls_pin",    "tls_ca_file", NULL};

void agg_config_free(struct agg_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->listen);
    free(cfg->database);
    free(cfg->database_password);
    free(cfg->admin_token);
    free(cfg->web_root);
    free(cfg->backup_dir);
    free(cfg->log_file);
    free(cfg->allow_from);
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    free(cfg->tls_ca_file);
    agg_server_list_free(cfg->servers, cfg->n_servers);
    free(cfg);
}

bool agg_config_client_allowed(const struct agg_config *cfg, const struct sockaddr *client)
{
    return mon_cidr_list_allows(cfg->allow_from, cfg->n_allow_from, client);
}

/* allow_from: IPv4/IPv6 addresses or CIDR blocks of the clients that may connect. */
static int load_allow_from(const struct mon_cfg_doc *doc, const struct mon_cfg_node *root,
                           struct agg_config *cfg, struct mon_cfg_error *err)
{
    return mon_cfg_cidr_list(doc, root, "allow_from", AGG_MAX_CIDRS, &cfg->allow_from,
                             &cfg->n_allow_from, err);
}

/* Joins base and rel unless rel is absolute; returns malloc'd text. */
static char *resolve_path(const char *base, const char *rel)
{
    size_t n;
    char *out;
    if (mon_os_path_is_absolute(rel) || !base || !*base)
        return strdup(rel);
    n = strlen(base) + strlen(rel) + 2;
    out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", base, rel);
    return out;
}

/* The dashboard assets installed beside the binary: <exe>/web, <exe>/../web or
 * <exe>/../share/monitor-aggregator/web. */
static char *default_web_root(void)
{
    static const char *const candidates[] = {"web", "../web", "../share/monitor-aggregator/web"};
    char exe[MON_PATH_MAX], path[MON_PATH_MAX + MON_PATH_SUFFIX_MAX];
    if (mon_os_exe_dir(exe, sizeof(exe)) < 0)
        return NULL;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s/index.html", exe, candidates[i]);
        if (mon_os_path_exists(path)) {
            snprintf(path, sizeof(path), "%s/%s", exe, candidates[i]);
            return strdup(path);
        }
    }
    return NULL;
}

/* An optional file path, resolved from base_dir; it must exist. */
static int load_path(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                     const char *base_dir, char **ret, struct mon_cfg_error *err)
{
    char *given = NULL, *path;
    int r = mon_cfg_string(doc, map, key, false, &given, err);
    if (r < 0 || !given)
        return r;
    path = given[0] ? resolve_path(base_dir, given) : NULL;
    if (given[0] && !path)
        r = MON_ENOMEM;
    else if (path && !mon_os_path_exists(path))
        r = mon_cfg_fail(doc, map, key, err, "file '%s' does not exist", path);
    free(given);
    if (r < 0) {
        free(path);
        return r;
    }
    free(*ret);
    *ret = path;
    return MON_OK;
}

static int load_server(const struct mon_cfg_doc *doc, const struct mon_cfg_node *n,
                       const char *base_dir, struct agg_server *s, struct mon_cfg_error *err)
{
    int64_t port = 9109;
    char *token_file = NULL, why[300], msg[AGG_FIELD_MSG_LEN];
    const char *field;
    int r;

    s->enabled = true;
    s->tls = true; /* a server new to the database: pinned TLS unless told otherwise */
    s->last_seen_at = -1;
    s->last_online = -1;
    if ((r = mon_cfg_check_keys(doc, n, server_keys, err)) < 0 ||
        (r = mon_cfg_string(doc, n, "name", true, &s->name, err)) < 0 ||
        (r = mon_cfg_string(doc, n, "host", true, &s->host, err)) < 0 ||
        (r = mon_cfg_int(doc, n, "agent_port", 1, 65535, &port, err)) < 0 ||
        (r = mon_cfg_string(doc, n, "token", false, &s->token, err)) < 0 ||
        (r = mon_cfg_string(doc, n, "token_file", false, &token_file, err)) < 0 ||
        (r = mon_cfg_string_list(doc, n, "services", AGG_MAX_SERVICES, &s->services, &s->n_services,
                                 err)) < 0 ||
        (r = mon_cfg_bool(doc, n, "enabled", &s->enabled, err)) < 0 ||
        (r = mon_cfg_bool(doc, n, "tls", &s->tls, err)) < 0 ||
        (r = mon_cfg_string(doc, n, "tls_pin", false, &s->tls_pin, err)) < 0 ||
        (r = load_path(doc, n, "tls_ca_file", base_dir, &s->tls_ca_file, err)) < 0)
        goto out;
    s->port = (int)port;
    if (s->token && token_file) {
        r = mon_cfg_fail(doc, n, "token_file", err, "set either token or token_file, not both");
        goto out;
    }
    if (token_file) {
        char *path = resolve_path(base_dir, token_file);
        r = path ? mon_cfg_read_secret_file(path, &s->token, why, sizeof(why)) : MON_ENOMEM;
        free(path);
        if (r < 0) {
            r = mon_cfg_fail(doc, n, "token_file", err, "%s", why);
            goto out;
        }
    }
    if (!s->token) {
        r = mon_cfg_fail(doc, n, "token", err, "required: the agent's token (or token_file)");
        goto out;
    }
    if (!agg_normalize_name(s->name, msg, sizeof(msg))) {
        r = mon_cfg_fail(doc, n, "name", err, "%s", msg);
        goto out;
    }
    if (!agg_validate_server(s, &field, msg, sizeof(msg))) {
        r = mon_cfg_fail(doc, n, field, err, "%s", msg);
        goto out;
    }
out:
    free(token_file);
    return r;
}

static bool same_name(const char *a, const char *b)
{
    char ka[AGG_NAME_KEY_LEN], kb[AGG_NAME_KEY_LEN];
    agg_name_key(a, ka, sizeof(ka));
    agg_name_key(b, kb, sizeof(kb));
    return strcmp(ka, kb) == 0;
}

static int load_servers(const struct mon_cfg_doc *doc, const struct mon_cfg_node *root,
                        const char *base_dir, struct agg_config *cfg, struct mon_cfg_error *err)
{
    const struct mon_cfg_node *list = mon_cfg_get(root, "servers");
    int r;

    if (!list || (list->kind == MON_CFG_SCALAR && list->is_null))
        return MON_OK;
    if (list->kind != MON_CFG_SEQ)
        return mon_cfg_fail(doc, root, "servers", err, "expected a list of servers");
    if (list->n > AGG_MAX_CONFIG_SERVERS)
        return mon_cfg_fail(doc, root, "servers", err, "more than %d servers",
                            AGG_MAX_CONFIG_SERVERS);
    cfg->servers = calloc(list->n ? list->n : 1, sizeof(*cfg->servers));
    if (!cfg->servers)
        return MON_ENOMEM;
    for (size_t i = 0; i < list->n; i++) {
        r = load_server(doc, list->items[i], base_dir, &cfg->servers[i], err);
        cfg->n_servers = i + 1;
        if (r < 0)
            return r;
        for (size_t j = 0; j < i; j++)
            if (same_name(cfg->servers[j].name, cfg->servers[i].name))
                return mon_cfg_fail(doc, list->items[i], "name", err,
                                    "server name '%s' is used twice (names are compared "
                                    "ignoring letter case)",
                                    cfg->servers[i].name);
    }
    return MON_OK;
}

static int load_sections(const struct mon_cfg_doc *doc, const struct mon_cfg_node *root,
                         struct agg_config *cfg, struct mon_cfg_error *err)
{
    const struct mon_cfg_node *poll = mon_cfg_get(root, "poll"),
                              *hist = mon_cfg_get(root, "history");
    int r;

    if (poll) {
        if ((r = mon_cfg_check_keys(doc, poll, poll_keys, err)) < 0 ||
            (r = mon_cfg_duration(doc, poll, "interval", 1000, 3600000, &cfg->interval_ms, err)) <
                0 ||
            (r = mon_cfg_duration(doc, poll, "timeout", 100, 600000, &cfg->timeout_ms, err)) < 0 ||
            (r = mon_cfg_int(doc, poll, "max_response_bytes", 1024, AGG_MAX_RESPONSE_BYTES,
                             &cfg->max_response_bytes, err)) < 0)
            return r;
        if (cfg->timeout_ms > cfg->interval_ms)
            return mon_cfg_fail(doc, poll, "timeout", err, "must not be longer than poll.interval");
    }
    if (hist) {
        if ((r = mon_cfg_check_keys(doc, hist, history_keys, err)) < 0 ||
            (r = mon_cfg_int(doc, hist, "retention_days", 1, 3650, &cfg->retention_days, err)) <
                0 ||
            (r = mon_cfg_int(doc, hist, "usage_retention_days", 1, 36500,
                             &cfg->usage_retention_days, err)) < 0 ||
            (r = mon_cfg_duration(doc, hist, "bucket", 1000, 86400000, &cfg->bucket_ms, err)) < 0 ||
            (r = mon_cfg_duration(doc, hist, "checkpoint", 1000, 3600000, &cfg->checkpoint_ms,
                                  err)) < 0)
            return r;
        if (cfg->bucket_ms % 1000 != 0 || 86400000 % cfg->bucket_ms != 0)
            return mon_cfg_fail(doc, hist, "bucket", err,
                                "must be whole seconds that divide a day (e.g. 10s, 1m, 1h)");
    }
    return MON_OK;
}

/* The GPU state rules (gpu_state: free_mem_mb, busy_util_pct, idle_after) and which optional
 * events are sent (events: gpu_idle). */
static int load_gpu_sections(const struct mon_cfg_doc *doc, const struct mon_cfg_node *root,
                             struct agg_config *cfg, struct mon_cfg_error *err)
{
    const struct mon_cfg_node *g = mon_cfg_get(root, "gpu_state"),
                              *ev = mon_cfg_get(root, "events");
    int r;
    if (g &&
        ((r = mon_cfg_check_keys(doc, g, gpu_state_keys, err)) < 0 ||
         (r = mon_cfg_int(doc, g, "free_mem_mb", 0, 1024 * 1024, &cfg->gpu_free_mem_mb, err)) < 0 ||
         (r = mon_cfg_int(doc, g, "busy_util_pct", 1, 100, &cfg->gpu_busy_util_pct, err)) < 0 ||
         (r = mon_cfg_duration(doc, g, "idle_after", 1000, 7 * 86400000LL, &cfg->gpu_idle_after_ms,
                               err)) < 0))
        return r;
    if (ev && ((r = mon_cfg_check_keys(doc, ev, events_keys, err)) < 0 ||
               (r = mon_cfg_bool(doc, ev, "gpu_idle", &cfg->events_gpu_idle, err)) < 0))
        return r;
    return MON_OK;
}

/* The optional backup section: dir (default "backups", relative to the config file's folder)
 * and keep_days (default 7). */
static int load_backup(const struct mon_cfg_doc *doc, const struct mon_cfg_node *root,
                       const char *base_dir, struct agg_config *cfg, struct mon_cfg_error *err)
{
    const struct mon_cfg_node *b = mon_cfg_get(root, "backup");
    char *dir = NULL;
    int r;

    if (!b)
        return MON_OK;
    dir = strdup("backups");
    if (!dir)
        return MON_ENOMEM;
    if ((r = mon_cfg_check_keys(doc, b, backup_keys, err)) < 0 ||
        (r = mon_cfg_string(doc, b, "dir", false, &dir, err)) < 0 ||
        (r = mon_cfg_int(doc, b, "keep_days", 1, 3650, &cfg->backup_keep_days, err)) < 0)
        goto out;
    if (!dir[0]) {
        r = mon_cfg_fail(doc, b, "dir", err, "must be a folder path");
        goto out;
    }
    cfg->backup_dir = resolve_path(base_dir, dir);
    r = cfg->backup_dir ? MON_OK : MON_ENOMEM;
out:
    free(dir);
    return r;
}

/* The log section: file (default "logs/monitor-aggregator.log", relative to the config file's
 * folder), max_size_mb (10) and keep (5). Without the section the daemon logs to stderr, but
 * the resolved default is kept for the Windows service, which has no console. */
static int load_log(const struct mon_cfg_doc *doc, const struct mon_cfg_node *root,
                    const char *base_dir, struct agg_config *cfg, struct mon_cfg_error *err)
{
    const struct mon_cfg_node *l = mon_cfg_get(root, "log");
    char *file = strdup("logs/monitor-aggregator.log");
    int64_t max_mb = 10;
    int r = MON_OK;

    if (!file)
        return MON_ENOMEM;
    cfg->log_keep = 5;
    if (l && ((r = mon_cfg_check_keys(doc, l, log_keys, err)) < 0 ||
              (r = mon_cfg_string(doc, l, "file", false, &file, err)) < 0 ||
              (r = mon_cfg_int(doc, l, "max_size_mb", 1, 1024, &max_mb, err)) < 0 ||
              (r = mon_cfg_int(doc, l, "keep", 1, 100, &cfg->log_keep, err)) < 0))
        goto out;
    if (!file[0]) {
        r = mon_cfg_fail(doc, l, "file", err, "must be a file path");
        goto out;
    }
    cfg->log_configured = l != NULL;
    cfg->log_max_bytes = max_mb * 1024 * 1024;
    cfg->log_file = resolve_path(base_dir, file);
    r = cfg->log_file ? MON_OK : MON_ENOMEM;
out:
    free(file);
    return r;
}

/* database: a SQLite file path (relative to the config file's folder) or a postgresql:// URI,
 * and database_password_file: the PostgreSQL password, read like the other secret files. */
static int load_database(const struct mon_cfg_doc *doc, const struct mon_cfg_node *root,
                         const char *base_dir, const char *database, struct agg_config *cfg,
                         struct mon_cfg_error *err)
{
    enum agg_db_kind kind = agg_db_kind_of(database);
    char *password_file = NULL, why[300];
    int r;

    if ((r = mon_cfg_string(doc, root, "database_password_file", false, &password_file, err)) < 0)
        return r;
    if (!database[0]) {
        r = mon_cfg_fail(doc, root, "database", err,
                         "must be a file path (SQLite) or a postgresql:// URI");
        goto out;
    }
    if (agg_db_looks_like_conninfo(database)) {
        r = mon_cfg_fail(doc, root, "database", err,
                         "looks like a libpq key=value string: write a PostgreSQL database as a "
                         "URI, postgresql://USER@HOST:PORT/DATABASE");
        goto out;
    }
    if (!agg_db_kind_available(kind)) {
        r = mon_cfg_fail(doc, root, "database", err,
                         "this build of monitor-aggregator has no PostgreSQL support (the Windows "
                         "build stores its history in SQLite: use a file path here, or run the "
                         "aggregator on Linux to use PostgreSQL)");
        goto out;
    }
    if (kind == AGG_DB_POSTGRES && mon_cfg_get(root, "backup")) {
        r = mon_cfg_fail(doc, root, "backup", err,
                         "daily backups copy a SQLite file; back up a PostgreSQL database with "
                         "pg_dump (docs/operations.md section 6) and remove this section");
        goto out;
    }
    if (password_file && kind != AGG_DB_POSTGRES) {
        r = mon_cfg_fail(doc, root, "database_password_file", err,
                         "only for a postgresql:// database (a SQLite file has no password)");
        goto out;
    }
    if (password_file) {
        char *path = resolve_path(base_dir, password_file);
        r = path ? mon_cfg_read_secret_file(path, &cfg->database_password, why, sizeof(why))
                 : MON_ENOMEM;
        free(path);
        if (r < 0) {
            r = mon_cfg_fail(doc, root, "database_password_file", err, "%s", why);
            goto out;
        }
    }
    /* A URI is passed to libpq as it is; a file path is taken from the config's folder. */
    cfg->database = kind == AGG_DB_POSTGRES ? strdup(database) : resolve_path(base_dir, database);
    r = cfg->database ? MON_OK : MON_ENOMEM;
out:
    free(password_file);
    return r;
}

int agg_config_parse(const char *name, const char *text, size_t len, const char *base_dir,
                     struct agg_config **ret, struct mon_cfg_error *err)
{
    struct mon_cfg_doc *doc = NULL;
    struct agg_config *cfg = calloc(1, sizeof(*cfg));
    char *database = NULL, *token_file = NULL, *web_root = NULL, why[300];
    const struct mon_cfg_node *root;
    const char *problem;
    int r;

    if (!cfg)
        return MON_ENOMEM;
    cfg->interval_ms = 5000;
    cfg->timeout_ms = 2000;
    cfg->max_response_bytes = 1048576;
    cfg->retention_days = 30;
    cfg->usage_retention_days = 365;
    cfg->bucket_ms = 3600000;
    cfg->checkpoint_ms = 60000;
    cfg->backup_keep_days = 7;
    cfg->gpu_free_mem_mb = 512;
    cfg->gpu_busy_util_pct = 10;
    cfg->gpu_idle_after_ms = 30 * 60 * 1000;
    cfg->events_gpu_idle = true;
    if ((r = mon_cfg_load_string(name, text, len, &doc, err)) < 0)
        goto out;
    root = doc->root;
    if ((r = mon_cfg_check_keys(doc, root, top_keys, err)) < 0)
        goto out;
    cfg->path = strdup(name);
    cfg->listen = strdup("0.0.0.0:8080");
    database = strdup("data/monitor.db");
    if (!cfg->path || !cfg->listen || !database) {
        r = MON_ENOMEM;
        goto out;
    }
    if ((r = mon_cfg_string(doc, root, "listen", false, &cfg->listen, err)) < 0 ||
        (r = mon_cfg_string(doc, root, "database", false, &database, err)) < 0 ||
        (r = mon_cfg_string(doc, root, "admin_token", false, &cfg->admin_token, err)) < 0 ||
        (r = mon_cfg_string(doc, root, "admin_token_file", false, &token_file, err)) < 0 ||
        (r = mon_cfg_string(doc, root, "web_root", false, &web_root, err)) < 0 ||
        (r = load_sections(doc, root, cfg, err)) < 0 ||
        (r = load_gpu_sections(doc, root, cfg, err)) < 0 ||
        (r = load_backup(doc, root, base_dir, cfg, err)) < 0 ||
        (r = load_log(doc, root, base_dir, cfg, err)) < 0 ||
        (r = load_allow_from(doc, root, cfg, err)) < 0 ||
        (r = mon_cfg_tls(doc, root, "tls", &cfg->tls_cert_file, &cfg->tls_key_file, err)) < 0 ||
        (r = load_path(doc, root, "tls_ca_file", base_dir, &cfg->tls_ca_file, err)) < 0 ||
        (r = load_servers(doc, root, base_dir, cfg, err)) < 0)
        goto out;
    {
        struct mon_listen_addr addr;
        if (mon_parse_listen_addr(cfg->listen, &addr) < 0) {
            r = mon_cfg_fail(doc, root, "listen", err,
                             "'%s' is not ADDRESS:PORT (e.g. 0.0.0.0:8080)", cfg->listen);
            goto out;
        }
    }
    if (cfg->admin_token && token_file) {
        r = mon_cfg_fail(doc, root, "admin_token_file", err,
                         "set either admin_token or admin_token_file, not both");
        goto out;
    }
    if (token_file) {
        char *path = resolve_path(base_dir, token_file);
        r = path ? mon_cfg_read_secret_file(path, &cfg->admin_token, why, sizeof(why)) : MON_ENOMEM;
        free(path);
        if (r < 0) {
            r = mon_cfg_fail(doc, root, "admin_token_file", err, "%s", why);
            goto out;
        }
    }
    if (cfg->admin_token && (problem = mon_token_problem(cfg->admin_token))) {
        r = mon_cfg_fail(doc, root, token_file ? "admin_token_file" : "admin_token", err,
                         "the admin token %s", problem);
        goto out;
    }
    if (cfg->admin_token && strlen(cfg->admin_token) < 8) {
        r = mon_cfg_fail(doc, root, token_file ? "admin_token_file" : "admin_token", err,
                         "the admin token is shorter than 8 characters");
        goto out;
    }
    if (cfg->admin_token && strlen(cfg->admin_token) > AGG_ADMIN_TOKEN_MAX) {
        r = mon_cfg_fail(doc, root, token_file ? "admin_token_file" : "admin_token", err,
                         "the admin token is longer than %d bytes", AGG_ADMIN_TOKEN_MAX);
        goto out;
    }
    if ((r = load_database(doc, root, base_dir, database, cfg, err)) < 0)
        goto out;
    if (cfg->tls_cert_file) {
        char *cert = resolve_path(base_dir, cfg->tls_cert_file),
             *key = resolve_path(base_dir, cfg->tls_key_file);
        free(cfg->tls_cert_file);
        free(cfg->tls_key_file);
        cfg->tls_cert_file = cert;
        cfg->tls_key_file = key;
        if (!cert || !key) {
            r = MON_ENOMEM;
            goto out;
        }
    }
    if (web_root && web_root[0]) {
        cfg->web_root = resolve_path(base_dir, web_root);
        if (cfg->web_root && !mon_os_path_exists(cfg->web_root)) {
            r = mon_cfg_fail(doc, root, "web_root", err, "folder '%s' does not exist",
                             cfg->web_root);
            goto out;
        }
    } else {
        cfg->web_root = default_web_root();
    }
    *ret = cfg;
    cfg = NULL;
    r = MON_OK;
out:
    free(database);
    free(token_file);
    free(web_root);
    mon_cfg_doc_free(doc);
    agg_config_free(cfg);
    return r;
}

int agg_config_load(const char *path, struct agg_config **ret, struct mon_cfg_error *err)
{
    const char *slash;
    char *text = NULL, *dir;
    size_t len = 0;
    int r = mon_cfg_read_file(path, &text, &len, err);
    if (r < 0)
        return r;
    /* Room for "." even when path is shorter. */
    dir = malloc(strlen(path) + 2);
    if (!dir) {
        free(text);
        return MON_ENOMEM;
    }
    memcpy(dir, path, strlen(path) + 1);
    slash = mon_os_path_last_sep(dir); /* '\\' too on Windows */
    if (slash)
        dir[slash - dir] = '\0';
    else
        memcpy(dir, ".", 2);
    r = agg_config_parse(path, text, len, dir, ret, err);
    free(dir);
    free(text);
    return r;
}
