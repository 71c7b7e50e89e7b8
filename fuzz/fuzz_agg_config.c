/* SPDX-License-Identifier: MIT */
/* Fuzzes agg_config_parse(), the aggregator's strict YAML configuration including its server
 * seeds: an accepted configuration holds only values the daemon and the store accept; a
 * rejected one always gets a "file:line:col" message and no half-built configuration. */
#include "fuzz_util.h"

#include "aggregator/config.h"
#include "aggregator/validate.h"
#include "common/err.h"
#include "common/net.h"

#include <string.h>

#define NAME "fuzz.yaml"
/* Relative token_file, web_root and database paths resolve under a folder that never exists. */
#define BASE_DIR "/nonexistent/lanmon-fuzz"

static void check_config(const struct agg_config *c)
{
    struct mon_listen_addr addr;
    const char *field;
    char msg[AGG_FIELD_MSG_LEN];

    FUZZ_CHECK(c->path && strcmp(c->path, NAME) == 0);
    FUZZ_CHECK(c->listen && mon_parse_listen_addr(c->listen, &addr) == MON_OK);
    FUZZ_CHECK(c->database && c->database[0]);
    FUZZ_CHECK(!c->admin_token || strlen(c->admin_token) >= 8);
    FUZZ_CHECK(c->interval_ms >= 1000 && c->interval_ms <= 3600000);
    FUZZ_CHECK(c->timeout_ms >= 100 && c->timeout_ms <= c->interval_ms);
    FUZZ_CHECK(c->max_response_bytes >= 1024 && c->max_response_bytes <= 64 * 1024 * 1024);
    FUZZ_CHECK(c->retention_days >= 1 && c->retention_days <= 3650);
    FUZZ_CHECK(c->bucket_ms >= 1000 && c->bucket_ms % 1000 == 0 && 86400000 % c->bucket_ms == 0);
    FUZZ_CHECK(c->checkpoint_ms >= 1000 && c->checkpoint_ms <= 3600000);
    FUZZ_CHECK(!c->backup_dir || c->backup_dir[0]);
    FUZZ_CHECK(c->backup_keep_days >= 1 && c->backup_keep_days <= 3650);
    FUZZ_CHECK(c->n_servers <= AGG_MAX_CONFIG_SERVERS);
    for (size_t i = 0; i < c->n_servers; i++) {
        const struct agg_server *s = &c->servers[i];
        FUZZ_CHECK(agg_validate_server(s, &field, msg, sizeof(msg)));
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(c->servers[j].name, s->name) != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct agg_config sentinel;
    struct agg_config *cfg = &sentinel;
    struct mon_cfg_error err;
    int r;

    memset(&err, 'x', sizeof(err));
    r = agg_config_parse(NAME, (const char *)data, size, BASE_DIR, &cfg, &err);
    if (r < 0) {
        FUZZ_CHECK(cfg == &sentinel);
        FUZZ_CHECK(fuzz_terminated(err.msg, sizeof(err.msg)));
        FUZZ_CHECK(strncmp(err.msg, NAME ":", sizeof(NAME)) == 0);
        return 0;
    }
    FUZZ_CHECK(r == MON_OK && cfg != &sentinel && cfg != NULL);
    check_config(cfg);
    agg_config_free(cfg);
    return 0;
}
