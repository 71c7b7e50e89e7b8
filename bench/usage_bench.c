/* SPDX-License-Identifier: MIT */
/* The GPU usage benchmark's worker (bench/usage runs it and prints the figures).
 *   usage_bench fill --database DB [--servers 100] [--users 50] [--days 30] [--per-server 8]
 *     adds --servers disabled servers and --days days of usage ending at the current hour, as
 *     the aggregator writes it: one checkpoint per hour holding every server's rows, each server
 *     used every hour by --per-server of the --users users (one per GPU of an 8-GPU server: the
 *     most rows a fully used lab writes). Prints {"rows": N, "fill_s": S}.
 *   usage_bench poll [--iterations 200000]
 *     the per-poll cost in the aggregator's poller thread: agg_usage_add of an 8-GPU sample with
 *     two users per GPU, against agg_rollup_add (the history accounting every poll already pays)
 *     and agg_sample_parse of the same reply. Prints ns per poll of each. */
#include "bench_replies.h"

#include "aggregator/rollup.h"
#include "aggregator/sample.h"
#include "aggregator/store.h"
#include "aggregator/usage.h"
#include "common/clock.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int arg_int(int argc, char **argv, const char *name, int dflt)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return atoi(argv[i + 1]);
    return dflt;
}

static const char *arg_str(int argc, char **argv, const char *name)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static int fill(const char *database, int servers, int users, int days, int per_server)
{
    struct agg_store *st = NULL;
    struct agg_usage_row *rows = NULL;
    int64_t *ids = calloc((size_t)servers, sizeof(*ids));
    int64_t hour = mon_utc_ms() / 1000 / AGG_USAGE_HOUR_S * AGG_USAGE_HOUR_S;
    int64_t first = hour - (int64_t)days * 24 * AGG_USAGE_HOUR_S, total = 0;
    double t0 = now_ns();
    char why[256];
    int r = MON_ENOMEM;

    rows = calloc((size_t)servers * (size_t)per_server, sizeof(*rows));
    if (!ids || !rows)
        goto out;
    r = agg_store_open(database, 5000, &st, why, sizeof(why));
    if (r < 0) {
        fprintf(stderr, "usage_bench: %s: %s\n", database, why);
        goto out;
    }
    for (int s = 0; s < servers && r >= 0; s++) {
        char name[32];
        struct agg_server sv = {
            .host = "10.0.0.1", .port = 9109, .token = "bench-token-0123", .enabled = false};
        snprintf(name, sizeof(name), "gpu-%03d", s);
        sv.name = name;
        r = agg_store_server_insert(st, &sv, &ids[s]);
    }
    for (int64_t h = first; h <= hour && r >= 0; h += AGG_USAGE_HOUR_S) {
        size_t n = 0;
        int64_t day = h / 86400;
        for (int s = 0; s < servers; s++) {
            for (int k = 0; k < per_server; k++) {
                struct agg_usage_row *u = &rows[n++];
                /* Users move between servers from day to day; each GPU has its own user. */
                int user = (int)((s * 7 + k * 11 + day * 3) % users);
                memset(u, 0, sizeof(*u));
                u->ts = h;
                u->server_id = ids[s];
                snprintf(u->server_name, sizeof(u->server_name), "gpu-%03d", s);
                snprintf(u->user, sizeof(u->user), "user%02d", user);
                u->gpu_seconds = 3600 - (double)((s + k + h / 3600) % 600);
                u->busy_gpu_seconds = u->gpu_seconds * (double)((s * 13 + k * 7) % 100) / 100.0;
                u->mem_mb_seconds = u->gpu_seconds * 20000.0;
                u->max_gpus = 1;
                u->processes = 1 + (k % 3);
                u->first_seen = h + 5;
                u->last_seen = h + 3595;
            }
        }
        r = agg_store_usage_upsert(st, rows, n);
        total += (int64_t)n;
        if (r < 0)
            fprintf(stderr, "usage_bench: upsert: %s\n", agg_store_last_error(st));
    }
    if (r >= 0)
        printf("{\"rows\": %lld, \"fill_s\": %.1f}\n", (long long)total, (now_ns() - t0) / 1e9);
out:
    agg_store_close(st);
    free(rows);
    free(ids);
    return r < 0 ? 1 : 0;
}

static int poll_cost(int iterations)
{
    char body[16384], why[256];
    struct agg_sample *s = NULL;
    struct agg_usage_options uo = {.interval_ms = 5000, .free_mem_mb = 512};
    struct agg_usage *u = NULL;
    struct agg_rollup *r = NULL;
    int64_t t = 1767225600LL * 1000;
    double t0, usage_ns, rollup_ns, parse_ns;

    if (agg_usage_new(&uo, &u) < 0 || agg_rollup_new(3600, NULL, NULL, &r) < 0 ||
        bench_reply_gpu8(body, sizeof(body)) < 0 ||
        agg_sample_parse(body, strlen(body), &s, why, sizeof(why)) < 0 ||
        agg_usage_server_add(u, 1, "gpu-000") < 0 || agg_rollup_server_add(r, 1) < 0) {
        fprintf(stderr, "usage_bench: setup failed\n");
        agg_usage_free(u);
        agg_rollup_free(r);
        agg_sample_free(s);
        return 1;
    }
    /* Polls 5 s apart within one hour and the next ones (an hour change writes nothing here:
     * no writer), as the poller thread calls them. */
    t0 = now_ns();
    for (int i = 0; i < iterations; i++)
        agg_usage_add(u, 1, s, t + (int64_t)i * 5000, (int64_t)i * 5000);
    usage_ns = (now_ns() - t0) / iterations;
    t0 = now_ns();
    for (int i = 0; i < iterations; i++)
        agg_rollup_add(r, 1, s, t + (int64_t)i * 5000);
    rollup_ns = (now_ns() - t0) / iterations;
    t0 = now_ns();
    for (int i = 0; i < iterations / 10; i++) {
        struct agg_sample *p = NULL;
        if (agg_sample_parse(body, strlen(body), &p, why, sizeof(why)) == MON_OK)
            agg_sample_free(p);
    }
    parse_ns = (now_ns() - t0) / (iterations / 10);
    printf("{\"iterations\": %d, \"usage_ns\": %.0f, \"rollup_ns\": %.0f, \"parse_ns\": %.0f, "
           "\"reply_bytes\": %zu}\n",
           iterations, usage_ns, rollup_ns, parse_ns, strlen(body));
    agg_usage_free(u);
    agg_rollup_free(r);
    agg_sample_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "fill") == 0 && arg_str(argc, argv, "--database"))
        return fill(arg_str(argc, argv, "--database"), arg_int(argc, argv, "--servers", 100),
                    arg_int(argc, argv, "--users", 50), arg_int(argc, argv, "--days", 30),
                    arg_int(argc, argv, "--per-server", 8));
    if (argc >= 2 && strcmp(argv[1], "poll") == 0)
        return poll_cost(arg_int(argc, argv, "--iterations", 200000));
    fprintf(stderr, "usage: usage_bench fill --database DB [--servers N] [--users N] [--days N] "
                    "[--per-server N]\n       usage_bench poll [--iterations N]\n");
    return 2;
}
