/* SPDX-License-Identifier: MIT */
/* Value checks and encodings every storage backend shares: the limits a server row must keep,
 * the services column (a JSON array of unit names), the texts of the server_added and
 * server_removed events. No database access here. */
#include "aggregator/store_backend.h"

#include "common/err.h"
#include "common/tls.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int agg_store_server_check(struct agg_store *st, const struct agg_server *in)
{
    size_t len;
    if (!in->name || (len = strlen(in->name)) == 0 || len > AGG_NAME_MAX_BYTES)
        return agg_store_fail(st, MON_EINVAL, "server name must be 1..%d bytes",
                              AGG_NAME_MAX_BYTES);
    if (!in->host || (len = strlen(in->host)) == 0 || len > AGG_HOST_MAX)
        return agg_store_fail(st, MON_EINVAL, "server host must be 1..%d bytes", AGG_HOST_MAX);
    if (in->token && strlen(in->token) > AGG_TOKEN_MAX)
        return agg_store_fail(st, MON_EINVAL, "server token longer than %d bytes", AGG_TOKEN_MAX);
    if (in->port < 1 || in->port > 65535)
        return agg_store_fail(st, MON_EINVAL, "server port %d outside 1..65535", in->port);
    if (in->n_services > AGG_MAX_SERVICES || (in->n_services > 0 && !in->services))
        return agg_store_fail(st, MON_EINVAL, "more than %d services", AGG_MAX_SERVICES);
    for (size_t i = 0; i < in->n_services; i++) {
        if (!in->services[i] || (len = strlen(in->services[i])) == 0 ||
            len >= sizeof(((struct agg_unit_state *)0)->name))
            return agg_store_fail(st, MON_EINVAL, "service name %zu is empty or too long", i);
    }
    if (in->tls_pin && in->tls_pin[0] && strlen(in->tls_pin) >= MON_TLS_PIN_LEN)
        return agg_store_fail(st, MON_EINVAL, "tls_pin longer than %d bytes", MON_TLS_PIN_LEN - 1);
    if (in->tls_ca_file && strlen(in->tls_ca_file) > AGG_PATH_MAX)
        return agg_store_fail(st, MON_EINVAL, "tls_ca_file longer than %d bytes", AGG_PATH_MAX);
    return MON_OK;
}

int agg_store_services_encode(struct agg_store *st, const struct agg_server *in, char **ret)
{
    cJSON *arr = cJSON_CreateArray();
    char *text = NULL, *copy = NULL;
    int r = MON_ENOMEM;

    if (!arr)
        goto out;
    for (size_t i = 0; i < in->n_services; i++) {
        cJSON *item = cJSON_CreateString(in->services[i]);
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            goto out;
        }
    }
    text = cJSON_PrintUnformatted(arr);
    if (!text)
        goto out;
    copy = mon_strndup(text, strlen(text));
    if (!copy)
        goto out;
    *ret = copy;
    r = MON_OK;
out:
    if (r < 0)
        agg_store_fail(st, r, "out of memory");
    cJSON_free(text);
    cJSON_Delete(arr);
    return r;
}

int agg_store_services_decode(struct agg_store *st, const char *text, size_t len,
                              struct agg_server *sv)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *item;
    int r = MON_OK;

    if (!root || !cJSON_IsArray(root)) {
        r = agg_store_fail(st, MON_EIO, "servers.services of server %lld is not a JSON array",
                           (long long)sv->id);
        goto out;
    }
    cJSON_ArrayForEach(item, root)
    {
        if (sv->n_services >= AGG_MAX_SERVICES)
            break;
        if (!cJSON_IsString(item) || !item->valuestring)
            continue;
        /* Allocated at the first name, so an empty list stays NULL. */
        if (!sv->services && !(sv->services = calloc(AGG_MAX_SERVICES, sizeof(*sv->services)))) {
            r = MON_ENOMEM;
            goto out;
        }
        sv->services[sv->n_services] = mon_strndup(item->valuestring, strlen(item->valuestring));
        if (!sv->services[sv->n_services]) {
            r = MON_ENOMEM;
            goto out;
        }
        sv->n_services++;
    }
out:
    cJSON_Delete(root);
    return r;
}

/* "host:port", with brackets around an IPv6 literal. */
static void format_endpoint(char *buf, size_t size, const char *host, int port)
{
    int n = strchr(host, ':') ? snprintf(buf, size, "[%s]:%d", host, port)
                              : snprintf(buf, size, "%s:%d", host, port);
    if (n < 0)
        buf[0] = '\0';
}

void agg_store_event_text_added(char *buf, size_t size, const struct agg_server *in)
{
    char endpoint[AGG_HOST_MAX + 16];
    /* A name of up to 256 bytes and a host of 253 nearly always fit an event's 512-byte
     * message; a longer one is cut, and the API repairs a character cut in two when serving. */
    format_endpoint(endpoint, sizeof(endpoint), in->host, in->port);
    if (snprintf(buf, size, "Server %s added (%s)", in->name, endpoint) < 0)
        buf[0] = '\0';
}

void agg_store_event_text_removed(char *buf, size_t size, const char *name)
{
    if (snprintf(buf, size, "Server %s removed", name) < 0)
        buf[0] = '\0';
}

int agg_store_grow(struct agg_store *st, void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t n;
    void *p;
    if (need <= *cap)
        return MON_OK;
    n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    p = realloc(*arr, n * elem);
    if (!p)
        return agg_store_fail(st, MON_ENOMEM, "out of memory");
    *arr = p;
    *cap = n;
    return MON_OK;
}
