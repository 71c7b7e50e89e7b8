/* SPDX-License-Identifier: MIT */
/* The agent-reply parser's cost (issue 12): CPU µs and heap allocations per agg_sample_parse_into
 * of two replies, the fleet simulator's 2-GPU reply (tests/fakes/fleet_reply.c, as bench/aggregator
 * polls it) and bench/usage's 8-GPU reply with 24 processes, each parsed into one reused sample
 * as the poller does, with the poller's JSON arena ("arena") and without it ("heap": the API
 * threads' way, and agg_sample_parse's).
 *   sample_bench [--iterations 20000] [--rounds 5] [--reply fleet2|gpu8] [--mode heap|arena]
 * Per reply and mode: --rounds rounds of --iterations parses; the thread's CPU time per parse of
 * each round, their median, and the malloc/calloc/realloc calls per parse (counted by wrapping
 * glibc's allocator in this program; -1 in a sanitizer build, where that is not possible).
 * Prints a table and one JSON line per reply and mode. */
#include "bench_replies.h"
#include "fleet.h"

#include "aggregator/sample.h"
#include "common/err.h"
#include "common/json_arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

#define ROUNDS_MAX 101

/* The allocation counter: this program's only mutable global (one thread). */
static uint64_t allocs;

#if COUNT_ALLOCS
/* glibc's allocator under its internal names: this program's malloc family counts the calls
 * and passes them on (every library's malloc resolves to these). */
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

void *malloc(size_t n)
{
    allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    allocs++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}
#endif

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const char *arg_str(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static int arg_int(int argc, char **argv, const char *name, int dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return atoi(argv[i + 1]);
    return dflt;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The body of the fleet's reply for agent number index (odd: two disks; both GPUs busy enough
 * to carry a process for the agent picked by main). */
static int fleet_body(uint32_t index, char *buf, size_t size, const char **ret_body,
                      size_t *ret_len)
{
    struct agent a = {.index = index};
    struct fleet f = {.token = "bench-fleet-0123", .token_len = 16};
    const char *block = "GET /v1/snapshot HTTP/1.1\r\nAuthorization: Bearer bench-fleet-0123\r\n";
    const char *body;
    int n = fleet_reply(&f, &a, block, buf, size - 1);
    if (n < 0)
        return n;
    buf[n] = '\0';
    body = strstr(buf, "\r\n\r\n");
    if (!body)
        return MON_EPARSE;
    *ret_body = body + 4;
    *ret_len = (size_t)n - (size_t)(body + 4 - buf);
    return MON_OK;
}

/* Parses body rounds x iterations times into s; prints the figures. */
static int measure(const char *name, const char *body, size_t len, bool arena_on,
                   struct mon_json_arena *arena, struct agg_sample *s, int iterations, int rounds)
{
    double per[ROUNDS_MAX];
    char why[256];
    uint64_t a0;
    double allocs_per;

    /* one parse for the allocation count, after a warm-up that sizes the sample's arrays */
    for (int k = 0; k < 2; k++) {
        a0 = allocs;
        if (arena_on)
            mon_json_arena_begin(arena);
        int r = agg_sample_parse_into(body, len, s, why, sizeof(why));
        if (arena_on)
            mon_json_arena_end();
        if (r < 0) {
            fprintf(stderr, "sample_bench: %s: %s\n", name, why);
            return 1;
        }
    }
    allocs_per = COUNT_ALLOCS ? (double)(allocs - a0) : -1;
    for (int k = 0; k < rounds; k++) {
        double t0 = cpu_ns();
        for (int i = 0; i < iterations; i++) {
            if (arena_on)
                mon_json_arena_begin(arena);
            agg_sample_parse_into(body, len, s, why, sizeof(why));
            if (arena_on)
                mon_json_arena_end();
        }
        per[k] = (cpu_ns() - t0) / iterations / 1000.0;
    }
    printf("%-8s %-6s %6zu B  rounds µs:", name, arena_on ? "arena" : "heap", len);
    for (int k = 0; k < rounds; k++)
        printf(" %.2f", per[k]);
    qsort(per, (size_t)rounds, sizeof(per[0]), by_value);
    printf("  median %.2f µs  allocs/parse %.0f\n", per[rounds / 2], allocs_per);
    printf("{\"reply\": \"%s\", \"mode\": \"%s\", \"bytes\": %zu, \"us_per_parse\": %.2f, "
           "\"allocs_per_parse\": %.0f, \"iterations\": %d, \"rounds\": %d}\n",
           name, arena_on ? "arena" : "heap", len, per[rounds / 2], allocs_per, iterations, rounds);
    return 0;
}

int main(int argc, char **argv)
{
    int iterations = arg_int(argc, argv, "--iterations", 20000);
    int rounds = arg_int(argc, argv, "--rounds", 5);
    const char *reply = arg_str(argc, argv, "--reply"), *only = arg_str(argc, argv, "--mode");
    static char fleet_buf[20480], gpu8[16384];
    struct mon_json_arena arena = {0};
    struct agg_sample *s = NULL;
    const char *fleet = NULL;
    size_t fleet_len = 0;
    int rc = 1;

    if (iterations < 1 || rounds < 1 || rounds > ROUNDS_MAX) {
        fprintf(stderr,
                "usage: sample_bench [--iterations N] [--rounds 1..%d] [--reply fleet2|gpu8] "
                "[--mode heap|arena]\n",
                ROUNDS_MAX);
        return 2;
    }
    /* agent 7 of the fleet: two disks, a process on each GPU (as most of a busy fleet) */
    mon_json_arena_install();
    if (fleet_body(7, fleet_buf, sizeof(fleet_buf), &fleet, &fleet_len) < 0 ||
        bench_reply_gpu8(gpu8, sizeof(gpu8)) < 0 || agg_sample_new(&s) < 0 ||
        mon_json_arena_init(&arena, 256 * 1024) < 0) {
        fprintf(stderr, "sample_bench: setup failed\n");
        goto out;
    }
    rc = 0;
    for (int k = 0; k < 4 && rc == 0; k++) {
        const char *name = k < 2 ? "fleet2" : "gpu8", *mode = k % 2 ? "arena" : "heap";
        if ((reply && strcmp(reply, name) != 0) || (only && strcmp(only, mode) != 0))
            continue;
        rc = measure(name, k < 2 ? fleet : gpu8, k < 2 ? fleet_len : strlen(gpu8), k % 2, &arena, s,
                     iterations, rounds);
    }
out:
    agg_sample_free(s);
    mon_json_arena_done(&arena);
    return rc;
}
