/* SPDX-License-Identifier: MIT */
/* Ownership helpers of the shared row types: freeing and deep-copying a server. */
#include "aggregator/model.h"

#include "common/err.h"
#include "common/str.h"

#include <stdlib.h>
#include <string.h>

void agg_server_done(struct agg_server *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->host);
    free(s->token);
    free(s->tls_pin);
    free(s->tls_ca_file);
    for (size_t i = 0; i < s->n_services; i++)
        free(s->services[i]);
    free(s->services);
    s->name = s->host = s->token = s->tls_pin = s->tls_ca_file = NULL;
    s->services = NULL;
    s->n_services = 0;
}

static char *dup_or_null(const char *s, bool *failed)
{
    char *d;
    if (!s)
        return NULL;
    d = mon_strndup(s, strlen(s));
    if (!d)
        *failed = true;
    return d;
}

int agg_server_copy(const struct agg_server *src, struct agg_server *ret)
{
    struct agg_server c = *src;
    bool failed = false;

    c.name = dup_or_null(src->name, &failed);
    c.host = dup_or_null(src->host, &failed);
    c.token = dup_or_null(src->token, &failed);
    c.tls_pin = dup_or_null(src->tls_pin, &failed);
    c.tls_ca_file = dup_or_null(src->tls_ca_file, &failed);
    c.services = NULL;
    c.n_services = 0;
    if (src->n_services > 0) {
        c.services = calloc(src->n_services, sizeof(*c.services));
        if (!c.services)
            failed = true;
        for (size_t i = 0; c.services && i < src->n_services; i++) {
            c.services[i] = dup_or_null(src->services[i], &failed);
            c.n_services = i + 1;
        }
    }
    if (failed) {
        agg_server_done(&c);
        return MON_ENOMEM;
    }
    *ret = c;
    return MON_OK;
}

void agg_server_list_free(struct agg_server *list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        agg_server_done(&list[i]);
    free(list);
}
