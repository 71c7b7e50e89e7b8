/* SPDX-License-Identifier: MIT */
/* monitor-agent configuration: strict YAML → struct agent_config, with file:line:key errors. */
#ifndef MON_AGENT_CONFIG_H
#define MON_AGENT_CONFIG_H

/* Ownership and threads: a configuration from agent_config_load/agent_config_parse belongs to
 * the caller (agent_config_free) and is not changed afterwards, so the read-only queries below
 * may run on several threads at once (the api guards the swap on reload). Strings passed in are
 * copied. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cfg.h"
#include "common/net.h"

#define AGENT_MAX_DISKS 64
#define AGENT_MAX_ALLOW 256
#define AGENT_MAX_CIDRS 64
#define AGENT_TOKEN_MAX 4096 /* bytes; what a token file holds and a request may present */

enum agent_gpu_mode { AGENT_GPU_AUTO = 0, AGENT_GPU_OFF, AGENT_GPU_NVIDIA };

struct agent_config {
    char *node_id;
    char *listen;
    char *token; /* from token: or read from token_file: */
    char *token_file;
    char **disks;
    size_t n_disks;
    char **services_allowlist; /* unit names or fnmatch globs */
    size_t n_allow;
    enum agent_gpu_mode gpu;
    bool gpu_processes; /* list who is on each GPU (default true) */
    struct mon_cidr *allow_from;
    size_t n_allow_from;
    char *nvml_library;
    char *nvidia_smi;
    char *procfs_root;
    int64_t cpu_window_ms;
    char *tls_cert_file; /* tls: {cert_file, key_file}; NULL: plain HTTP */
    char *tls_key_file;
};

/* Loads and validates path. On failure returns a MON_E* code with "file:line:col: key 'x':
 * reason" in err; *ret is only written on success (free with agent_config_free). */
int agent_config_load(const char *path, struct agent_config **ret, struct mon_cfg_error *err);

/* Same from a YAML string (tests); name appears in messages. */
int agent_config_parse(const char *name, const char *text, size_t len, struct agent_config **ret,
                       struct mon_cfg_error *err);

/* Frees a configuration. Accepts NULL. */
void agent_config_free(struct agent_config *cfg);

/* True when unit matches one of the allowlist's names or glob patterns. */
bool agent_config_unit_allowed(const struct agent_config *cfg, const char *unit);

#define AGENT_MAX_REQUESTED_UNITS 64

/* The units a request reports: the comma-separated names of param (the ?services= value; empty
 * items are skipped), each checked against the allowlist, or, when param is NULL, the exact
 * (non-glob) names of the allowlist. Fills names[] (AGENT_MAX_REQUESTED_UNITS entries, malloc'd
 * copies the caller frees) and allowed[], and says in *ret_present whether the reply carries a
 * services array. Returns the count; MON_ERANGE for more than AGENT_MAX_REQUESTED_UNITS names
 * or a name longer than 255 bytes, MON_ENOMEM. On failure names[] hold nothing to free. */
int agent_config_request_units(const struct agent_config *cfg, const char *param, char **names,
                               bool *allowed, bool *ret_present);

/* True when client may connect: allow_from empty, or the address is in one of its blocks. */
bool agent_config_client_allowed(const struct agent_config *cfg, const struct sockaddr *client);

#endif
