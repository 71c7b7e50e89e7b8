/* SPDX-License-Identifier: MIT */
/* Configuration values that are network addresses: the `allow_from` list of addresses and CIDR
 * blocks both daemons' configurations take, and the check of a client against it. */
#include "common/cfg.h"

#include "common/err.h"
#include "common/net.h"

#include <stdlib.h>

int mon_cfg_cidr_list(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map,
                      const char *key, size_t max_items, struct mon_cidr **ret, size_t *ret_n,
                      struct mon_cfg_error *err)
{
    const struct mon_cfg_node *node;
    struct mon_cidr *cidrs = NULL;
    char **texts = NULL;
    size_t n = 0;
    int r = mon_cfg_string_list(doc, map, key, max_items, &texts, &n, err);

    if (r < 0 || n == 0)
        goto out;
    node = mon_cfg_get(map, key);
    cidrs = calloc(n, sizeof(*cidrs));
    if (!cidrs) {
        r = MON_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (mon_parse_cidr(texts[i], &cidrs[i]) < 0) {
            r = mon_cfg_fail(doc, node->items[i], NULL, err,
                             "'%s' is not an IPv4/IPv6 address or CIDR block (e.g. 10.0.0.0/24)",
                             texts[i]);
            goto out;
        }
    }
    *ret = cidrs;
    *ret_n = n;
    cidrs = NULL;
out:
    free(cidrs);
    mon_cfg_strv_free(texts, n);
    return r;
}

bool mon_cidr_list_allows(const struct mon_cidr *list, size_t n, const struct sockaddr *client)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (mon_cidr_contains(&list[i], client))
            return true;
    return false;
}
