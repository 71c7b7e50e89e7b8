/* SPDX-License-Identifier: MIT */
/* Fuzzes the JSON body of POST and PUT /api/servers: agg_api_params_server_body() onto a fresh
 * server and onto a stored one, then agg_validate_server() as the handlers do. A rejected body
 * changes nothing and names its field; an accepted and validated one fits the store. */
#include "fuzz_util.h"

#include "aggregator/api_params.h"
#include "aggregator/validate.h"
#include "common/err.h"
#include "common/str.h"
#include "common/text.h"

#include <stdlib.h>
#include <string.h>

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_server(const struct agg_server *a, const struct agg_server *b)
{
    if (!same_text(a->name, b->name) || !same_text(a->host, b->host) ||
        !same_text(a->token, b->token) || a->port != b->port || a->enabled != b->enabled ||
        a->id != b->id || a->n_services != b->n_services)
        return false;
    for (size_t i = 0; i < a->n_services; i++)
        if (!same_text(a->services[i], b->services[i]))
            return false;
    return true;
}

/* A canonical name: valid UTF-8, no hidden characters, single inner spaces, no outer ones, and
 * normalising it again changes nothing. */
static void check_name(const char *name)
{
    size_t len = strlen(name);
    char again[AGG_NAME_MAX_BYTES + 1], msg[AGG_FIELD_MSG_LEN];
    FUZZ_CHECK(len >= 1 && len <= AGG_NAME_MAX_BYTES && mon_utf8_valid(name, len));
    FUZZ_CHECK(name[0] != ' ' && name[len - 1] != ' ' && !strstr(name, "  "));
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = mon_utf8_next(name + i, len - i, &cp);
        FUZZ_CHECK(n > 0 && !mon_text_is_hidden(cp) && (cp == ' ' || !mon_text_is_space(cp)));
        i += n;
    }
    memcpy(again, name, len + 1);
    FUZZ_CHECK(agg_normalize_name(again, msg, sizeof(msg)) && strcmp(again, name) == 0);
}

static void check_valid(const struct agg_server *s)
{
    const char *field = NULL;
    char msg[AGG_FIELD_MSG_LEN];
    size_t len;

    memset(msg, 'x', sizeof(msg));
    if (!agg_validate_server(s, &field, msg, sizeof(msg))) {
        FUZZ_CHECK(field && fuzz_terminated(msg, sizeof(msg)) && msg[0]);
        return;
    }
    len = strlen(s->name);
    FUZZ_CHECK(len >= 1 && len <= AGG_NAME_MAX_BYTES &&
               mon_utf8_chars(s->name, len) <= AGG_NAME_MAX);
    FUZZ_CHECK(mon_token_problem(s->token) == NULL);
    FUZZ_CHECK(s->host && strlen(s->host) <= AGG_HOST_MAX && agg_valid_host(s->host));
    FUZZ_CHECK(s->port >= 1 && s->port <= 65535);
    FUZZ_CHECK(s->token && s->token[0] && strlen(s->token) <= AGG_TOKEN_MAX);
    FUZZ_CHECK(s->n_services <= AGG_MAX_SERVICES);
    for (size_t i = 0; i < s->n_services; i++) {
        FUZZ_CHECK(agg_valid_unit_name(s->services[i]));
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(s->services[i], s->services[j]) != 0);
    }
}

static void apply(const uint8_t *data, size_t size, bool create, const struct agg_server *base)
{
    struct agg_server s, before;
    char msg[AGG_FIELD_MSG_LEN], *field = (char *)"untouched";
    int r;

    FUZZ_CHECK(agg_server_copy(base, &s) == MON_OK && agg_server_copy(base, &before) == MON_OK);
    memset(msg, 'x', sizeof(msg));
    r = agg_api_params_server_body((const char *)data, size, create, &s, &field, msg, sizeof(msg));
    if (r < 0) {
        FUZZ_CHECK(r == MON_EINVAL);
        FUZZ_CHECK(same_server(&s, &before));
        FUZZ_CHECK(fuzz_terminated(msg, sizeof(msg)) && msg[0]);
        free(field);
    } else {
        FUZZ_CHECK(r == MON_OK && field == NULL);
        if (s.name && !same_text(s.name, base->name))
            check_name(s.name); /* a name from the body comes out in its canonical form */
        FUZZ_CHECK(s.id == base->id);
        FUZZ_CHECK(s.n_services <= AGG_MAX_SERVICES);
        FUZZ_CHECK(!create || s.token);
        FUZZ_CHECK(create || s.token); /* an update may keep the stored token, never drop it */
        check_valid(&s);
    }
    agg_server_done(&s);
    agg_server_done(&before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *stored_services[] = {(char *)"nginx.service", (char *)"docker.service"};
    const struct agg_server fresh = {
        .port = 9109, .enabled = true, .last_seen_at = -1, .last_online = -1};
    const struct agg_server stored = {.id = 3,
                                      .name = (char *)"srv-01",
                                      .host = (char *)"10.0.0.101",
                                      .port = 9109,
                                      .token = (char *)"stored-token-123",
                                      .services = stored_services,
                                      .n_services = 2,
                                      .enabled = true,
                                      .last_seen_at = 1768644000,
                                      .last_online = 1};

    apply(data, size, true, &fresh);
    apply(data, size, false, &stored);
    return 0;
}
