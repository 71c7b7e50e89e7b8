/* SPDX-License-Identifier: MIT */
/* Maps the agent's YAML onto struct agent_config; every wrong value is an error, never a guess. */
#include "agent/config.h"

#include "common/err.h"
#include "common/str.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const agent_keys[] = {
    "node_id",    "listen",        "token",      "token_file",   "disks",      "services_allowlist",
    "gpu",        "gpu_processes", "allow_from", "nvml_library", "nvidia_smi", "procfs_root",
    "cpu_window", "tls",           NULL};

static const char *const gpu_modes[] = {"auto", "off", "nvidia", NULL};

void agent_config_free(struct agent_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->node_id);
    free(cfg->listen);
    free(cfg->token);
    free(cfg->token_file);
    mon_cfg_strv_free(cfg->disks, cfg->n_disks);
    mon_cfg_strv_free(cfg->services_allowlist, cfg->n_allow);
    free(cfg->allow_from);
    free(cfg->nvml_library);
    free(cfg->nvidia_smi);
    free(cfg->procfs_root);
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    free(cfg);
}

static bool valid_unit_pattern(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return false;
    for (const char *p = s; *p; p++)
        if (!(((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) ||
              strchr(":_.@-\\*?[]", *p)))
            return false;
    return true;
}

static int load_lists(const struct mon_cfg_doc *doc, const struct mon_cfg_node *root,
                      struct agent_config *cfg, struct mon_cfg_error *err)
{
    const struct mon_cfg_node *node;
    int r;

    r = mon_cfg_string_list(doc, root, "disks", AGENT_MAX_DISKS, &cfg->disks, &cfg->n_disks, err);
    if (r < 0)
        return r;
    node = mon_cfg_get(root, "disks");
    for (size_t i = 0; i < cfg->n_disks; i++)
        if (cfg->disks[i][0] != '/')
            return mon_cfg_fail(doc, node->items[i], NULL, err,
                                "'%s' is not an absolute mount point", cfg->disks[i]);
    r = mon_cfg_string_list(doc, root, "services_allowlist", AGENT_MAX_ALLOW,
                            &cfg->services_allowlist, &cfg->n_allow, err);
    if (r < 0)
        return r;
    node = mon_cfg_get(root, "services_allowlist");
    for (size_t i = 0; i < cfg->n_allow; i++)
        if (!valid_unit_pattern(cfg->services_allowlist[i]))
            return mon_cfg_fail(doc, node->items[i], NULL, err,
                                "'%s' is not a unit name or glob pattern",
                                cfg->services_allowlist[i]);
    return mon_cfg_cidr_list(doc, root, "allow_from", AGENT_MAX_CIDRS, &cfg->allow_from,
                             &cfg->n_allow_from, err);
}

static int load_token(const struct mon_cfg_doc *doc, const struct mon_cfg_node *root,
                      struct agent_config *cfg, struct mon_cfg_error *err)
{
    const char *problem;
    char why[300];
    int r;

    r = mon_cfg_string(doc, root, "token", false, &cfg->token, err);
    if (r < 0)
        return r;
    r = mon_cfg_string(doc, root, "token_file", false, &cfg->token_file, err);
    if (r < 0)
        return r;
    if (cfg->token && cfg->token_file)
        return mon_cfg_fail(doc, root, "token_file", err,
                            "set either token or token_file, not both");
    if (!cfg->token && !cfg->token_file)
        return mon_cfg_fail(doc, root, "token", err,
                            "required: set token or token_file (clients must authenticate)");
    if (cfg->token_file) {
        r = mon_cfg_read_secret_file(cfg->token_file, &cfg->token, why, sizeof(why));
        if (r < 0)
            return mon_cfg_fail(doc, root, "token_file", err, "%s", why);
    }
    if ((problem = mon_token_problem(cfg->token)))
        return mon_cfg_fail(doc, root, cfg->token_file ? "token_file" : "token", err,
                            "the token %s", problem);
    if (strlen(cfg->token) < 8)
        return mon_cfg_fail(doc, root, cfg->token_file ? "token_file" : "token", err,
                            "token is shorter than 8 characters");
    if (strlen(cfg->token) > AGENT_TOKEN_MAX)
        return mon_cfg_fail(doc, root, cfg->token_file ? "token_file" : "token", err,
                            "token is longer than %d bytes", AGENT_TOKEN_MAX);
    return MON_OK;
}

int agent_config_parse(const char *name, const char *text, size_t len, struct agent_config **ret,
                       struct mon_cfg_error *err)
{
    struct mon_cfg_doc *doc = NULL;
    struct agent_config *cfg;
    struct mon_listen_addr addr;
    const struct mon_cfg_node *root;
    int gpu = AGENT_GPU_AUTO, r;

    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return MON_ENOMEM;
    r = mon_cfg_load_string(name, text, len, &doc, err);
    if (r < 0)
        goto out;
    root = doc->root;
    r = mon_cfg_check_keys(doc, root, agent_keys, err);
    if (r < 0)
        goto out;
    cfg->listen = strdup("0.0.0.0:9109");
    cfg->nvml_library = strdup("libnvidia-ml.so.1");
    cfg->nvidia_smi = strdup("nvidia-smi");
    cfg->procfs_root = strdup("/proc");
    cfg->disks = calloc(1, sizeof(char *));
    if (!cfg->listen || !cfg->nvml_library || !cfg->nvidia_smi || !cfg->procfs_root ||
        !cfg->disks || !(cfg->disks[0] = strdup("/"))) {
        r = MON_ENOMEM;
        goto out;
    }
    cfg->n_disks = 1;
    cfg->cpu_window_ms = 5000;
    cfg->gpu_processes = true;
    if ((r = mon_cfg_string(doc, root, "node_id", true, &cfg->node_id, err)) < 0 ||
        (r = mon_cfg_string(doc, root, "listen", false, &cfg->listen, err)) < 0 ||
        (r = load_token(doc, root, cfg, err)) < 0 || (r = load_lists(doc, root, cfg, err)) < 0 ||
        (r = mon_cfg_enum(doc, root, "gpu", gpu_modes, &gpu, err)) < 0 ||
        (r = mon_cfg_bool(doc, root, "gpu_processes", &cfg->gpu_processes, err)) < 0 ||
        (r = mon_cfg_string(doc, root, "nvml_library", false, &cfg->nvml_library, err)) < 0 ||
        (r = mon_cfg_string(doc, root, "nvidia_smi", false, &cfg->nvidia_smi, err)) < 0 ||
        (r = mon_cfg_string(doc, root, "procfs_root", false, &cfg->procfs_root, err)) < 0 ||
        (r = mon_cfg_duration(doc, root, "cpu_window", 1000, 300000, &cfg->cpu_window_ms, err)) <
            0 ||
        (r = mon_cfg_tls(doc, root, "tls", &cfg->tls_cert_file, &cfg->tls_key_file, err)) < 0)
        goto out;
    cfg->gpu = (enum agent_gpu_mode)gpu;
    if (cfg->node_id[0] == '\0' || strlen(cfg->node_id) > 64) {
        r = mon_cfg_fail(doc, root, "node_id", err, "must be 1 to 64 characters");
        goto out;
    }
    if (mon_parse_listen_addr(cfg->listen, &addr) < 0) {
        r = mon_cfg_fail(doc, root, "listen", err,
                         "'%s' is not ADDRESS:PORT (e.g. 0.0.0.0:9109, [::]:9109)", cfg->listen);
        goto out;
    }
    if (cfg->procfs_root[0] != '/') {
        r = mon_cfg_fail(doc, root, "procfs_root", err, "must be an absolute path");
        goto out;
    }
    *ret = cfg;
    cfg = NULL;
out:
    mon_cfg_doc_free(doc);
    agent_config_free(cfg);
    return r;
}

int agent_config_load(const char *path, struct agent_config **ret, struct mon_cfg_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int r = mon_cfg_read_file(path, &text, &len, err);
    if (r < 0)
        return r;
    r = agent_config_parse(path, text, len, ret, err);
    free(text);
    return r;
}

bool agent_config_unit_allowed(const struct agent_config *cfg, const char *unit)
{
    for (size_t i = 0; i < cfg->n_allow; i++)
        if (fnmatch(cfg->services_allowlist[i], unit, FNM_NOESCAPE) == 0)
            return true;
    return false;
}

/* Fills names[] and allowed[]; on failure the names allocated so far are left to the caller. */
static int request_units(const struct agent_config *cfg, const char *param, char **names,
                         bool *allowed)
{
    int n = 0;
    if (!param) {
        for (size_t i = 0; i < cfg->n_allow && n < AGENT_MAX_REQUESTED_UNITS; i++) {
            if (strpbrk(cfg->services_allowlist[i], "*?["))
                continue; /* patterns allow; only exact names are reported by default */
            names[n] = strdup(cfg->services_allowlist[i]);
            allowed[n] = true;
            if (!names[n])
                return MON_ENOMEM;
            n++;
        }
        return n;
    }
    for (const char *p = param; *p;) {
        size_t len = strcspn(p, ",");
        if (len > 0) {
            if (n >= AGENT_MAX_REQUESTED_UNITS || len > 255)
                return MON_ERANGE;
            names[n] = mon_strndup(p, len);
            if (!names[n])
                return MON_ENOMEM;
            allowed[n] = agent_config_unit_allowed(cfg, names[n]);
            n++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return n;
}

int agent_config_request_units(const struct agent_config *cfg, const char *param, char **names,
                               bool *allowed, bool *ret_present)
{
    int n;
    for (size_t i = 0; i < AGENT_MAX_REQUESTED_UNITS; i++)
        names[i] = NULL;
    n = request_units(cfg, param, names, allowed);
    if (n < 0) {
        for (size_t i = 0; i < AGENT_MAX_REQUESTED_UNITS; i++) {
            free(names[i]);
            names[i] = NULL;
        }
        return n;
    }
    *ret_present = param != NULL || cfg->n_allow > 0;
    return n;
}

bool agent_config_client_allowed(const struct agent_config *cfg, const struct sockaddr *client)
{
    return mon_cidr_list_allows(cfg->allow_from, cfg->n_allow_from, client);
}
