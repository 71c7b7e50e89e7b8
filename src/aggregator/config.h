/* SPDX-License-Identifier: MIT */
/* monitor-aggregator configuration: strict YAML → struct agg_config (file:line:key errors). */
#ifndef MON_AGGREGATOR_CONFIG_H
#define MON_AGGREGATOR_CONFIG_H

/* Ownership and threads: a configuration from agg_config_load/agg_config_parse belongs to the
 * caller (agg_config_free); it is not changed afterwards (a reload builds a new one), so the
 * read-only query below may run on several threads at once. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator/model.h"
#include "common/cfg.h"
#include "common/net.h"

#define AGG_MAX_CONFIG_SERVERS 10000
#define AGG_MAX_CIDRS          64
#define AGG_ADMIN_TOKEN_MAX    4096 /* bytes: what a token file holds, what a request may send */

/* The largest poll.max_response_bytes: a real snapshot is ~1-100 KB (64 GPUs, disks and units
 * at most); 64 MiB let ten endless agents make the aggregator hold 617 MB (issue 11 item 15). */
#define AGG_MAX_RESPONSE_BYTES (8 * 1024 * 1024)

struct agg_config {
    char *path; /* the file it came from */
    char *listen;
    char *database;          /* a SQLite file (resolved: relative paths are taken from the config
                                file's folder) or a postgresql:// URI (as written; may hold a password:
                                print it with agg_db_display) */
    char *database_password; /* from database_password_file (PostgreSQL); NULL: none. Never
                                logged */
    char *admin_token;       /* NULL: mutations are refused with 403 */
    char *web_root;          /* resolved; NULL when no dashboard assets were found */
    int64_t interval_ms, timeout_ms, max_response_bytes;
    int64_t retention_days, bucket_ms, checkpoint_ms;
    int64_t usage_retention_days; /* history.usage_retention_days: GPU usage rows (365) */
    char *backup_dir; /* resolved; NULL when the config has no backup section (no daily backup) */
    int64_t backup_keep_days;
    char *log_file;      /* resolved; the configured or the default file (see log_configured) */
    bool log_configured; /* a log section exists: log to log_file (else stderr, but the
                          * Windows service always logs to log_file) */
    int64_t log_max_bytes, log_keep;
    /* gpu_state: {free_mem_mb: 512, busy_util_pct: 10, idle_after: 30m} */
    int64_t gpu_free_mem_mb, gpu_busy_util_pct, gpu_idle_after_ms;
    bool events_gpu_idle;       /* events: {gpu_idle: true} */
    struct agg_server *servers; /* seeds, imported once by name */
    size_t n_servers;
    struct mon_cidr *allow_from; /* clients allowed to connect; none: everyone */
    size_t n_allow_from;
    char *tls_cert_file; /* the listener's tls: {cert_file, key_file} (resolved); NULL: HTTP */
    char *tls_key_file;
    char *tls_ca_file; /* resolved; verifies agents whose own tls_ca_file is empty; NULL: none */
};

/* Loads and validates path. On failure returns a MON_E* code with the message in err. */
int agg_config_load(const char *path, struct agg_config **ret, struct mon_cfg_error *err);

/* Same from a string; base_dir resolves relative paths. */
int agg_config_parse(const char *name, const char *text, size_t len, const char *base_dir,
                     struct agg_config **ret, struct mon_cfg_error *err);

/* Frees. Accepts NULL. */
void agg_config_free(struct agg_config *cfg);

/* True when client may connect: allow_from is empty or one of its blocks contains it. */
bool agg_config_client_allowed(const struct agg_config *cfg, const struct sockaddr *client);

#endif
