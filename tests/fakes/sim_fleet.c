/* SPDX-License-Identifier: MIT */
/* sim-fleet: the simulated GPU servers of `make run` (sim-gpu-01, ...), each on its own
 * 127.0.0.1 port answering the agent API (/v1/snapshot, /v1/health, /v1/services) with the
 * readings of sim_model.c; a server that "goes down" closes its listener for a while. A demo
 * and test double, not part of the product. */
#include "sim_model.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/http.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fleet;

struct sim_srv {
    size_t index;
    int port;
    struct mon_http_server *http; /* NULL while down */
    const struct fleet *fleet;
};

struct fleet {
    char token[256];
    struct sim_time tm;
    int64_t outage_start_s, outage_every_s, outage_for_s;
    size_t n;
    struct sim_srv srv[SIM_MAX_SERVERS];
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: sim-fleet --base-port P --token-file FILE [--servers N]\n"
            "                 [--outage-start S] [--outage-every S] [--outage-for S] [--cycle S]\n"
            "       sim-fleet --base-port P [--servers N] --print-servers\n\n"
            "Simulated GPU servers sim-gpu-01..N (N 1-%d, default 4) on 127.0.0.1:P..P+N-1, "
            "for demos.\n"
            "A server marked as flaky stops listening for --outage-for seconds (default 40),\n"
            "first --outage-start seconds after the start (60), then every --outage-every (300).\n"
            "--cycle S (default 600): sim-gpu-04 loses GPU 6 from 30 %% to 50 %% of each cycle,\n"
            "sim-gpu-02's jupyterhub.service fails from 60 %% to 80 %%.\n"
            "--print-servers prints them as JSON (name, host, agent_port, services) and exits.\n",
            SIM_MAX_SERVERS);
}

static bool authorized(const struct sim_srv *s, struct mon_http_request *req,
                       struct mon_http_response *resp)
{
    const char *token = mon_http_bearer(req);

    if (token && mon_secret_equal(token, s->fleet->token))
        return true;
    mon_http_set_header(resp, "WWW-Authenticate", "Bearer");
    mon_http_error(resp, 401, "missing or wrong bearer token");
    return false;
}

static void reply(struct mon_http_response *resp, cJSON *json)
{
    if (json)
        mon_http_json(resp, 200, json);
    else
        mon_http_error(resp, 500, "out of memory");
}

static void handle_snapshot(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    const struct sim_srv *s = ctx;

    if (authorized(s, req, resp))
        reply(resp,
              sim_snapshot(s->index, mon_utc_ms(), &s->fleet->tm, mon_http_query(req, "services")));
}

static void handle_health(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    const struct sim_srv *s = ctx;

    (void)req;
    reply(resp, sim_health(s->index, mon_utc_ms(), &s->fleet->tm));
}

static void handle_services(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    const struct sim_srv *s = ctx;

    if (authorized(s, req, resp))
        reply(resp, sim_catalog(s->index));
}

static const struct mon_http_route routes[] = {
    {"GET", "/v1/snapshot", handle_snapshot},
    {"GET", "/v1/health", handle_health},
    {"GET", "/v1/services", handle_services},
};

static void dispatch(void *ctx, struct mon_http_request *req, struct mon_http_response *resp)
{
    mon_http_dispatch(routes, sizeof(routes) / sizeof(routes[0]), ctx, req, resp);
}

static int srv_start(struct sim_srv *s, char *why, size_t why_len)
{
    char listen[32];
    struct mon_http_options opt = {
        .listen = listen,
        .max_connections = 32,
        .per_ip_connections = 0,
        .timeout_s = 15,
        .max_header_bytes = 8192,
        .max_body_bytes = 0,
        .threads = 1,
        .handler = dispatch,
        .ctx = s,
    };

    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
    return mon_http_start(&opt, &s->http, why, why_len);
}

/* Whether a flaky server is inside one of its outages, seconds after the start. */
static bool in_outage(const struct fleet *f, int64_t since_start_s)
{
    int64_t t = since_start_s - f->outage_start_s;
    return t >= 0 && t % f->outage_every_s < f->outage_for_s;
}

static int read_token(const char *path, char *buf, size_t size)
{
    FILE *fp = fopen(path, "r");
    size_t n;

    if (!fp)
        return MON_ENOENT;
    n = fread(buf, 1, size - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] ? MON_OK : MON_EINVAL;
}

/* The servers as a JSON array for scripts/demo-sim.py (it adds them through the admin API). */
static int print_servers(const struct fleet *f)
{
    cJSON *arr = cJSON_CreateArray();
    char *text;

    for (size_t i = 0; arr && i < f->n; i++) {
        cJSON *o = cJSON_CreateObject(), *units;
        char name[32];

        if (!o || !cJSON_AddItemToArray(arr, o))
            break;
        sim_server_name(i, name, sizeof(name));
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddStringToObject(o, "host", "127.0.0.1");
        cJSON_AddNumberToObject(o, "agent_port", f->srv[i].port);
        cJSON_AddStringToObject(o, "role", sim_server(i)->role);
        cJSON_AddNumberToObject(o, "gpus", sim_server(i)->n_gpus);
        if ((units = cJSON_AddArrayToObject(o, "services")))
            for (size_t k = 0; k < sim_n_units; k++)
                cJSON_AddItemToArray(units, cJSON_CreateString(sim_units[k]));
    }
    text = arr ? cJSON_Print(arr) : NULL;
    cJSON_Delete(arr);
    if (!text)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

static int parse_args(int argc, char **argv, struct fleet *f, int64_t *ret_base,
                      const char **ret_token_file, bool *ret_print)
{
    int64_t n = 4;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = MON_OK;

        if (strcmp(a, "--print-servers") == 0) {
            *ret_print = true;
            continue;
        }
        if (!v)
            return MON_EINVAL;
        if (strcmp(a, "--base-port") == 0)
            r = mon_parse_int64(v, 1, 65535 - SIM_MAX_SERVERS, ret_base);
        else if (strcmp(a, "--servers") == 0)
            r = mon_parse_int64(v, 1, SIM_MAX_SERVERS, &n);
        else if (strcmp(a, "--token-file") == 0)
            *ret_token_file = v;
        else if (strcmp(a, "--outage-start") == 0)
            r = mon_parse_int64(v, 0, 86400, &f->outage_start_s);
        else if (strcmp(a, "--outage-every") == 0)
            r = mon_parse_int64(v, 1, 86400, &f->outage_every_s);
        else if (strcmp(a, "--outage-for") == 0)
            r = mon_parse_int64(v, 0, 86400, &f->outage_for_s);
        else if (strcmp(a, "--cycle") == 0)
            r = mon_parse_int64(v, 10, 86400, &f->tm.cycle_s);
        else
            r = MON_EINVAL;
        if (r < 0)
            return r;
        i++;
    }
    if (*ret_base <= 0 || (!*ret_token_file && !*ret_print) || f->outage_for_s >= f->outage_every_s)
        return MON_EINVAL;
    f->n = (size_t)n;
    return MON_OK;
}

int main(int argc, char **argv)
{
    static struct fleet f = {
        .tm = {.cycle_s = 600}, .outage_start_s = 60, .outage_every_s = 300, .outage_for_s = 40};
    const char *token_file = NULL;
    int64_t base = 0;
    bool print = false;
    sigset_t sigs;
    char why[256];
    int rc = 0;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (parse_args(argc, argv, &f, &base, &token_file, &print) < 0) {
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < f.n; i++)
        f.srv[i] = (struct sim_srv){.index = i, .port = (int)base + (int)i, .fleet = &f};
    if (print)
        return print_servers(&f);
    if (read_token(token_file, f.token, sizeof(f.token)) < 0) {
        fprintf(stderr, "sim-fleet: cannot read a token from %s\n", token_file);
        return 1;
    }
    /* Signals are taken by sigtimedwait below; the server threads inherit the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    f.tm.started_ms = mon_utc_ms();
    for (size_t i = 0; i < f.n; i++) {
        char name[32];
        sim_server_name(i, name, sizeof(name));
        if (srv_start(&f.srv[i], why, sizeof(why)) < 0) {
            fprintf(stderr, "sim-fleet: %s: %s\n", name, why);
            rc = 1;
            goto out;
        }
        fprintf(stderr, "sim-fleet: %s (%s, %u GPUs) on 127.0.0.1:%d\n", name, sim_server(i)->role,
                sim_server(i)->n_gpus, f.srv[i].port);
    }
    int64_t t0 = mon_mono_ms();
    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 250000000};
        int sig = sigtimedwait(&sigs, NULL, &tick);

        if (sig == SIGTERM || sig == SIGINT)
            break;
        for (size_t i = 0; i < f.n; i++) {
            struct sim_srv *s = &f.srv[i];
            bool down = sim_server(i)->goes_down && in_outage(&f, (mon_mono_ms() - t0) / 1000);
            char name[32];

            sim_server_name(i, name, sizeof(name));
            if (down && s->http) {
                mon_http_stop(s->http);
                s->http = NULL;
                fprintf(stderr, "sim-fleet: %s is down (simulated outage of %llds)\n", name,
                        (long long)f.outage_for_s);
            } else if (!down && !s->http) {
                if (srv_start(s, why, sizeof(why)) < 0)
                    fprintf(stderr, "sim-fleet: %s cannot come back yet: %s\n", name, why);
                else
                    fprintf(stderr, "sim-fleet: %s is back\n", name);
            }
        }
    }
out:
    for (size_t i = 0; i < f.n; i++)
        mon_http_stop(f.srv[i].http);
    return rc;
}
