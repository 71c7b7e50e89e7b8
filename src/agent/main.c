/* SPDX-License-Identifier: MIT */
/* monitor-agent: command line, start-up, signal loop (SIGTERM/SIGINT stop, SIGHUP reload). */
#include "agent/api.h"
#include "agent/config.h"
#include "agent/sampler.h"
#include "agent/snapshot.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/os/os.h"
#include "common/tls.h"
#include "common/tls_cli.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONFIG "/etc/monitor-agent/config.yaml"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: monitor-agent [--config PATH] [--check-config | --print-snapshot | "
            "--print-pin]\n"
            "       monitor-agent --gen-cert --cert FILE --key FILE [--days N] [--name "
            "HOST[,HOST...]] [--force]\n"
            "       monitor-agent --version\n\n"
            "  --config PATH     configuration file (default $MONITOR_AGENT_CONFIG, else %s)\n"
            "  --check-config    validate the configuration and exit (0 when valid)\n"
            "  --print-snapshot  print one snapshot as JSON (CPU measured over 1 s) and exit\n"
            "  --print-pin       print the public-key pin of the configured tls certificate\n"
            "                    (or of --cert FILE)\n"
            "  --gen-cert        make a self-signed ECDSA P-256 key and certificate (default\n"
            "                    3650 days; names: the host name and the machine's addresses)\n"
            "                    and print its pin (sha256//...) for the aggregator\n"
            "  --version         print the version and exit\n",
            DEFAULT_CONFIG);
}

static int print_snapshot(const struct agent_config *cfg)
{
    char why[256];
    struct agent_sampler *s = NULL;
    size_t len = 0;
    char *json;

    if (agent_sampler_new(cfg, &s, why, sizeof(why)) < 0) {
        fprintf(stderr, "monitor-agent: %s\n", why);
        return 1;
    }
    agent_sampler_wait_ready(s, 3000);
    /* Let the first full window of readings (and slow mounts) come in, up to one second. */
    mon_sleep_ms(1000);
    json = agent_sampler_snapshot_json(s, &len);
    if (json) {
        cJSON *obj = cJSON_Parse(json);
        char *pretty = obj ? cJSON_Print(obj) : NULL;
        printf("%s\n", pretty ? pretty : json);
        free(pretty);
        cJSON_Delete(obj);
    }
    free(json);
    agent_sampler_free(s, 2000);
    return json ? 0 : 1;
}

/* Loads the key and certificate tls: names; true when there is none to load. */
static bool load_tls(const struct agent_config *cfg, struct mon_tls_pair *ret)
{
    return mon_cfg_tls_load(cfg->tls_cert_file, cfg->tls_key_file, ret);
}

/* agent_config_load that logs the error (file, line, key) itself. */
static int load_or_report(const char *path, struct agent_config **ret_cfg)
{
    struct mon_cfg_error err;
    int r = agent_config_load(path, ret_cfg, &err);
    if (r < 0)
        mon_error("%s", err.msg);
    return r;
}

/* Applies a reloaded configuration: token, allowlist, allow_from and disks take effect; a
 * changed listen address, procfs_root, gpu, gpu_processes or cpu_window needs a restart and is
 * reported. */
static void reload(const char *path, struct agent_api *api, struct agent_sampler *sampler)
{
    struct agent_config *fresh = NULL;
    const struct agent_config *cur = agent_api_config(api);

    if (load_or_report(path, &fresh) < 0) {
        mon_warn("reload failed, keeping the running configuration");
        return;
    }
    if ((fresh->tls_cert_file != NULL) != (cur->tls_cert_file != NULL))
        mon_warn("turning tls on or off takes effect after a restart");
    if (fresh->tls_cert_file && cur->tls_cert_file) {
        struct mon_tls_pair pair = {0};
        if (!load_tls(fresh, &pair)) {
            mon_warn("reload failed, keeping the running configuration and certificate");
            agent_config_free(fresh);
            return;
        }
        if (agent_api_set_tls(api, &pair) < 0)
            mon_warn("the new certificate could not be used; new connections keep the old one");
        else
            mon_info("tls: certificate %s loaded (pin %s)", fresh->tls_cert_file, pair.pin);
        mon_tls_pair_done(&pair);
    }
    if (strcmp(fresh->listen, cur->listen) != 0 ||
        strcmp(fresh->procfs_root, cur->procfs_root) != 0 || fresh->gpu != cur->gpu ||
        fresh->gpu_processes != cur->gpu_processes || fresh->cpu_window_ms != cur->cpu_window_ms)
        mon_warn("listen, procfs_root, gpu, gpu_processes and cpu_window changes take effect "
                 "after a restart");
    agent_sampler_set_disks(sampler, fresh->disks, fresh->n_disks);
    agent_api_set_config(api, fresh);
    mon_info("configuration reloaded from %s", path);
}

int main(int argc, char **argv)
{
    const char *path = getenv("MONITOR_AGENT_CONFIG");
    bool check_only = false, print_only = false, print_pin = false;
    const char *pin_cert = NULL;
    struct mon_tls_pair tls = {0};
    struct agent_config *cfg;
    struct agent_sampler *sampler = NULL;
    struct agent_api *api = NULL;
    sigset_t sigs;
    char why[256];
    int sig, rc = 1;

    if (!path || !*path)
        path = DEFAULT_CONFIG;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = true;
        } else if (strcmp(argv[i], "--gen-cert") == 0) {
            return mon_tls_gen_cert_main("monitor-agent", argc - 1, argv + 1);
        } else if (strcmp(argv[i], "--print-pin") == 0) {
            print_pin = true;
        } else if (strcmp(argv[i], "--cert") == 0 && i + 1 < argc) {
            pin_cert = argv[++i]; /* --print-pin of this file, without a configuration */
        } else if (strcmp(argv[i], "--print-snapshot") == 0) {
            print_only = true;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("monitor-agent %s\n", MON_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "monitor-agent: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (print_pin && pin_cert)
        return mon_tls_print_pin("monitor-agent", pin_cert);
    mon_log_init("monitor-agent", getenv("MONITOR_DEBUG") ? MON_LOG_DEBUG : MON_LOG_INFO);
    mon_clock_init_from_env(); /* test-only wall-clock offset, see clock.h */
    if (load_or_report(path, &cfg) < 0)
        return 1;
    if (print_pin) {
        rc = cfg->tls_cert_file ? mon_tls_print_pin("monitor-agent", cfg->tls_cert_file) : 1;
        if (!cfg->tls_cert_file)
            fprintf(stderr, "monitor-agent: %s has no tls: section (plain HTTP)\n", path);
        agent_config_free(cfg);
        return rc;
    }
    if (!load_tls(cfg, &tls)) {
        agent_config_free(cfg);
        return 1;
    }
    if (check_only) {
        mon_tls_pair_done(&tls);
        printf("%s: configuration is valid\n", path);
        agent_config_free(cfg);
        return 0;
    }
    if (print_only) {
        mon_tls_pair_done(&tls);
        rc = print_snapshot(cfg);
        agent_config_free(cfg);
        return rc;
    }

    /* Block the signals in every thread; the main thread takes them with sigwait. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (agent_sampler_new(cfg, &sampler, why, sizeof(why)) < 0) {
        mon_error("cannot start sampling: %s", why);
        mon_tls_pair_done(&tls);
        agent_config_free(cfg);
        return 1;
    }
    if (!agent_sampler_wait_ready(sampler, 2000))
        mon_warn("no CPU reading after 2 s; serving anyway");
    if (agent_api_start(cfg, sampler, tls.cert_pem ? &tls : NULL, &api, why, sizeof(why)) <
        0) { /* it freed cfg */
        mon_error("%s", why);
        goto out;
    }
    mon_info("listening on %s (%s, node %s, version %s)", agent_api_config(api)->listen,
             tls.cert_pem ? "HTTPS" : "plain HTTP", agent_api_config(api)->node_id, MON_VERSION);
    if (tls.cert_pem)
        mon_info("tls: certificate %s, pin %s", agent_api_config(api)->tls_cert_file, tls.pin);
    mon_tls_pair_done(&tls);
    mon_os_notify("READY=1");
    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            mon_os_notify("RELOADING=1");
            reload(path, api, sampler);
            mon_os_notify("READY=1");
            continue;
        }
        mon_info("stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    mon_os_notify("STOPPING=1");
    rc = 0;
out:
    mon_tls_pair_done(&tls);
    agent_api_stop(api);
    if (!agent_sampler_free(sampler, 700))
        mon_warn("a collector did not stop in time; exiting anyway");
    return rc;
}
