/* SPDX-License-Identifier: MIT */
/* The `tls: {cert_file, key_file}` section both daemons' configurations share. */
#include "common/cfg.h"

#include "common/err.h"
#include "common/log.h"
#include "common/tls.h"

#include <stdlib.h>

static const char *const tls_keys[] = {"cert_file", "key_file", NULL};

int mon_cfg_tls(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                char **ret_cert, char **ret_key, struct mon_cfg_error *err)
{
    const struct mon_cfg_node *node = mon_cfg_get(map, key);
    char *cert = NULL, *pem_key = NULL;
    int r;

    if (!node || (node->kind == MON_CFG_SCALAR && node->is_null))
        return 0;
    if (node->kind != MON_CFG_MAP)
        return mon_cfg_fail(doc, node, NULL, err,
                            "must be a mapping with cert_file and key_file (or absent for "
                            "plain HTTP)");
    r = mon_cfg_check_keys(doc, node, tls_keys, err);
    if (r == MON_OK)
        r = mon_cfg_string(doc, node, "cert_file", true, &cert, err);
    if (r == MON_OK)
        r = mon_cfg_string(doc, node, "key_file", true, &pem_key, err);
    if (r == MON_OK && (!cert[0] || !pem_key[0]))
        r = mon_cfg_fail(doc, node, !cert[0] ? "cert_file" : "key_file", err,
                         "must be a file path");
    if (r < 0) {
        free(cert);
        free(pem_key);
        return r;
    }
    free(*ret_cert);
    free(*ret_key);
    *ret_cert = cert;
    *ret_key = pem_key;
    return MON_OK;
}

bool mon_cfg_tls_load(const char *cert_file, const char *key_file, struct mon_tls_pair *ret)
{
    char why[512];
    if (!cert_file)
        return true;
    if (mon_tls_pair_load(cert_file, key_file, ret, why, sizeof(why)) < 0) {
        mon_error("tls: %s", why);
        return false;
    }
    return true;
}
