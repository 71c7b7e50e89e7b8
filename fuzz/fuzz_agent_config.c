/* SPDX-License-Identifier: MIT */
/* Fuzzes agent_config_parse(), the agent's strict YAML configuration: a result that passed is
 * one the agent can run with; a rejected file always gets a "file:line:col" message and no
 * half-built configuration. */
#include "fuzz_util.h"

#include "agent/config.h"
#include "common/err.h"
#include "common/net.h"

#include <netinet/in.h>
#include <string.h>

#define NAME "fuzz.yaml"

static void check_config(const struct agent_config *c)
{
    struct mon_listen_addr addr;
    struct sockaddr_in loopback = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};

    FUZZ_CHECK(c->node_id && c->node_id[0] && strlen(c->node_id) <= 64);
    FUZZ_CHECK(c->listen && mon_parse_listen_addr(c->listen, &addr) == MON_OK);
    FUZZ_CHECK(c->token && strlen(c->token) >= 8);
    FUZZ_CHECK(c->nvml_library && c->nvidia_smi);
    FUZZ_CHECK(c->procfs_root && c->procfs_root[0] == '/');
    FUZZ_CHECK(c->cpu_window_ms >= 1000 && c->cpu_window_ms <= 300000);
    FUZZ_CHECK(c->gpu == AGENT_GPU_AUTO || c->gpu == AGENT_GPU_OFF || c->gpu == AGENT_GPU_NVIDIA);
    FUZZ_CHECK(c->n_disks <= AGENT_MAX_DISKS && c->disks);
    for (size_t i = 0; i < c->n_disks; i++)
        FUZZ_CHECK(c->disks[i] && c->disks[i][0] == '/');
    FUZZ_CHECK(c->n_allow <= AGENT_MAX_ALLOW);
    for (size_t i = 0; i < c->n_allow; i++)
        FUZZ_CHECK(c->services_allowlist[i] && c->services_allowlist[i][0]);
    FUZZ_CHECK(c->n_allow_from <= AGENT_MAX_CIDRS && (c->n_allow_from == 0 || c->allow_from));
    for (size_t i = 0; i < c->n_allow_from; i++) {
        const struct mon_cidr *b = &c->allow_from[i];
        FUZZ_CHECK((b->family == AF_INET && b->prefix >= 0 && b->prefix <= 32) ||
                   (b->family == AF_INET6 && b->prefix >= 0 && b->prefix <= 128));
    }
    /* The request-time checks run on what the parser accepted. */
    (void)agent_config_unit_allowed(c, "nginx.service");
    FUZZ_CHECK(c->n_allow_from > 0 ||
               agent_config_client_allowed(c, (const struct sockaddr *)&loopback));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct agent_config sentinel;
    struct agent_config *cfg = &sentinel;
    struct mon_cfg_error err;
    int r;

    memset(&err, 'x', sizeof(err));
    r = agent_config_parse(NAME, (const char *)data, size, &cfg, &err);
    if (r < 0) {
        FUZZ_CHECK(cfg == &sentinel);
        FUZZ_CHECK(fuzz_terminated(err.msg, sizeof(err.msg)));
        FUZZ_CHECK(strncmp(err.msg, NAME ":", sizeof(NAME)) == 0);
        return 0;
    }
    FUZZ_CHECK(r == MON_OK && cfg != &sentinel && cfg != NULL);
    check_config(cfg);
    agent_config_free(cfg);
    return 0;
}
