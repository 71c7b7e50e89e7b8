/* SPDX-License-Identifier: MIT */
/* GPU usage accounting: the pure per-poll rules (shared GPUs, several GPUs, busy share, memory,
 * memory without a process, free and failed GPUs) and the accumulators against a real SQLite
 * store: Δt capped at two intervals, hour changes, checkpoints that never count twice, a
 * restart that resumes the hour without recounting processes, a deleted server's last hour. */
#include "aggregator/usage.h"

#include "aggregator/sample.h"
#include "aggregator/store.h"
#include "aggregator/writer.h"
#include "common/err.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_os.h"

#define HOUR0_MS (1767225600LL * 1000) /* 2026-01-01T00:00:00Z */
#define MONO0    1000000LL

static struct agg_sample *sample(const char *gpus_json)
{
    char body[8192], why[256] = "";
    struct agg_sample *s = NULL;
    snprintf(body, sizeof(body),
             "{\"ts\":\"2026-01-01T00:00:00Z\",\"cpu_pct\":1,\"disks\":[],\"gpus\":[%s]}",
             gpus_json);
    if (agg_sample_parse(body, strlen(body), &s, why, sizeof(why)) != MON_OK)
        fail_msg("sample: %s", why);
    return s;
}

#define PROC(pid, user, mb, start)                                                                 \
    "{\"pid\":" #pid ",\"user\":\"" user "\",\"command\":\"python3\",\"type\":\"compute\","        \
    "\"started_at\":\"" start "\",\"used_mem_mb\":" #mb "}"
#define GPU(i, util, mem, procs)                                                                   \
    "{\"index\":" #i ",\"uuid\":\"GPU-" #i "\",\"name\":\"A100\",\"util_pct\":" #util ","          \
    "\"mem_used_mb\":" #mem ",\"mem_total_mb\":81920,\"processes\":[" procs "]}"
#define T_EARLY "2025-12-31T23:00:00Z"
#define T_LATE  "2026-01-01T00:30:00Z"

static const struct agg_usage_share *share_of(const struct agg_usage_share *s, size_t n,
                                              const char *user)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].user, user) == 0)
            return &s[i];
    return NULL;
}

static bool close_to(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

/* ---- the pure rules ---- */

static void test_account_rules(void **state)
{
    struct agg_usage_share out[16];
    const struct agg_usage_share *alice, *bob, *unknown;
    struct agg_sample *s = sample(
        /* GPU 0: alice (two processes) and bob share it, 80 % busy. */
        GPU(0, 80, 9000,
            PROC(10, "alice", 3000, T_EARLY) "," PROC(11, "alice", 1000, T_EARLY) "," PROC(
                20, "bob", 4000, T_EARLY)) ","
        /* GPU 1: alice alone, 50 % busy. */
        GPU(1, 50, 2000, PROC(12, "alice", 2000, T_EARLY)) ","
        /* GPU 2: memory held, nobody visible: (unknown), 20 % busy. */
        GPU(2, 20, 6000, "") ","
        /* GPU 3: free (memory below free_mem_mb). */
        GPU(3, 0, 300, "") ","
                           /* GPU 4: failing: not counted even though it lists a process. */
                           "{\"index\":4,\"uuid\":\"GPU-4\",\"name\":\"A100\",\"util_pct\":null,"
                           "\"error\":\"GPU is lost\",\"processes\":[" PROC(30, "carol", 100,
                                                                            T_EARLY) "]}");
    size_t n = agg_usage_account(s, 5.0, 512, out, 16);
    (void)state;

    assert_int_equal(n, 3);
    alice = share_of(out, n, "alice");
    bob = share_of(out, n, "bob");
    unknown = share_of(out, n, AGG_USAGE_UNKNOWN_USER);
    assert_non_null(alice);
    assert_non_null(bob);
    assert_non_null(unknown);
    assert_null(share_of(out, n, "carol"));
    /* Half of GPU 0 and all of GPU 1. */
    assert_true(close_to(alice->gpu_seconds, 2.5 + 5.0));
    assert_true(close_to(alice->busy_gpu_seconds, 2.5 * 0.8 + 5.0 * 0.5));
    assert_true(close_to(alice->mem_mb_seconds, (3000 + 1000 + 2000) * 5.0));
    assert_int_equal(alice->gpus, 2);
    assert_true(close_to(bob->gpu_seconds, 2.5));
    assert_true(close_to(bob->busy_gpu_seconds, 2.0));
    assert_true(close_to(bob->mem_mb_seconds, 4000 * 5.0));
    assert_int_equal(bob->gpus, 1);
    assert_true(close_to(unknown->gpu_seconds, 5.0));
    assert_true(close_to(unknown->busy_gpu_seconds, 1.0));
    assert_true(close_to(unknown->mem_mb_seconds, 6000 * 5.0));
    /* One GPU's occupancy adds up to Δt whoever holds it. */
    assert_true(close_to(alice->gpu_seconds + bob->gpu_seconds + unknown->gpu_seconds, 15.0));
    /* A poll worth nothing (the first one) counts nothing. */
    assert_int_equal(agg_usage_account(s, 0, 512, out, 16), 0);
    /* Room for one user only: the first one gets it, nothing overflows. */
    assert_int_equal(agg_usage_account(s, 1, 512, out, 1), 1);
    agg_sample_free(s);
}

/* Processes the agent could not attribute and unknown utilisation. */
static void test_account_unknowns(void **state)
{
    struct agg_usage_share out[4];
    struct agg_sample *s = sample(
        "{\"index\":0,\"uuid\":\"GPU-0\",\"name\":\"A100\",\"util_pct\":null,\"mem_used_mb\":"
        "5000,\"mem_total_mb\":81920,\"processes\":[{\"pid\":9,\"user\":null,\"command\":null,"
        "\"type\":\"compute\",\"used_mem_mb\":null,\"error\":\"no access\"}]}");
    size_t n = agg_usage_account(s, 2.0, 512, out, 4);
    (void)state;
    assert_int_equal(n, 1);
    assert_string_equal(out[0].user, AGG_USAGE_UNKNOWN_USER);
    assert_true(close_to(out[0].gpu_seconds, 2.0));
    assert_true(close_to(out[0].busy_gpu_seconds, 0));
    assert_true(close_to(out[0].mem_mb_seconds, 0));
    agg_sample_free(s);
}

/* ---- accumulators on a real store ---- */

struct fx {
    char dir[64], path[160];
    struct agg_store *st;  /* reader and the test's view */
    struct agg_store *wst; /* the writer's connection */
    struct agg_writer *writer;
    struct agg_usage *u;
    int64_t server;
};

static struct agg_usage *usage_new(struct fx *f)
{
    struct agg_usage_options o = {
        .reader = f->st, .writer = f->writer, .interval_ms = 1000, .free_mem_mb = 512};
    struct agg_usage *u = NULL;
    assert_int_equal(agg_usage_new(&o, &u), MON_OK);
    assert_non_null(u);
    assert_int_equal(agg_usage_server_add(u, f->server, "gpu-a"), MON_OK);
    /* The engine's start: the stored hour is read before the first poll. */
    assert_int_equal(agg_usage_resume(u, HOUR0_MS), MON_OK);
    return u;
}

/* A restarted process whose start-up read of the stored hour has not happened (the engine
 * retries it from the housekeeper). */
static struct agg_usage *usage_new_unresumed(struct fx *f)
{
    struct agg_usage_options o = {
        .reader = f->st, .writer = f->writer, .interval_ms = 1000, .free_mem_mb = 512};
    struct agg_usage *u = NULL;
    assert_int_equal(agg_usage_new(&o, &u), MON_OK);
    assert_non_null(u);
    assert_int_equal(agg_usage_server_add(u, f->server, "gpu-a"), MON_OK);
    return u;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct agg_writer_options wo = {0};
    struct agg_server s = {
        .name = "gpu-a", .host = "10.0.0.5", .port = 9109, .token = "tok", .enabled = true};
    char why[256];
    if (!f || test_make_temp_dir("lanmon-usage", f->dir, sizeof(f->dir)) < 0)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/aggregator.db", f->dir);
    if (agg_store_open(f->path, 2000, &f->st, why, sizeof(why)) < 0 ||
        agg_store_open(f->path, 2000, &f->wst, why, sizeof(why)) < 0 ||
        agg_store_server_insert(f->st, &s, &f->server) < 0)
        return -1;
    wo.store = f->wst;
    if (agg_writer_start(&wo, &f->writer) < 0)
        return -1;
    f->u = usage_new(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    agg_usage_free(f->u);
    agg_writer_stop(f->writer, 2000);
    agg_store_close(f->wst);
    agg_store_close(f->st);
    test_rm_tree(f->dir);
    free(f);
    return 0;
}

static void poll_at(struct fx *f, const char *gpus, int64_t offset_ms)
{
    struct agg_sample *s = sample(gpus);
    assert_int_equal(agg_usage_add(f->u, f->server, s, HOUR0_MS + offset_ms, MONO0 + offset_ms),
                     MON_OK);
    agg_sample_free(s);
}

static void checkpoint(struct fx *f)
{
    assert_true(agg_usage_checkpoint(f->u) >= 0);
    assert_int_equal(agg_writer_flush(f->writer, 5000), MON_OK);
}

/* The stored row of (hour, user) on the fixture's server; fails when absent. */
static struct agg_usage_row stored(struct fx *f, int64_t hour_ms, const char *user)
{
    struct agg_usage_row *rows = NULL, out = {0};
    size_t n = 0;
    bool found = false;
    assert_int_equal(agg_store_usage_hour_get(f->st, f->server, hour_ms / 1000, &rows, &n), MON_OK);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].user, user) == 0) {
            out = rows[i];
            found = true;
        }
    }
    free(rows);
    if (!found)
        fail_msg("no stored row for %s", user);
    return out;
}

#define ALICE_ON_0(util) GPU(0, util, 4000, PROC(10, "alice", 4000, T_EARLY))

static void test_polls_capped_and_checkpointed(void **state)
{
    struct fx *f = *state;
    struct agg_usage_row r;

    poll_at(f, ALICE_ON_0(100), 1000); /* first poll: nothing to bill yet */
    poll_at(f, ALICE_ON_0(100), 2000); /* 1 s */
    poll_at(f, ALICE_ON_0(50), 3000);  /* 1 s at 50 % */
    poll_at(f, ALICE_ON_0(50), 13000); /* 10 s outage: capped at 2 s */
    checkpoint(f);
    r = stored(f, HOUR0_MS, "alice");
    assert_true(close_to(r.gpu_seconds, 4.0));
    assert_true(close_to(r.busy_gpu_seconds, 1.0 + 0.5 + 1.0));
    assert_true(close_to(r.mem_mb_seconds, 4000 * 4.0));
    assert_int_equal(r.max_gpus, 1);
    assert_int_equal(r.processes, 1);
    assert_string_equal(r.server_name, "gpu-a");
    assert_int_equal(r.first_seen, HOUR0_MS / 1000 + 2);
    assert_int_equal(r.last_seen, HOUR0_MS / 1000 + 13);
    /* A checkpoint again with nothing new, then one more poll: replaced, never added twice. */
    checkpoint(f);
    poll_at(f, ALICE_ON_0(50), 14000);
    checkpoint(f);
    checkpoint(f);
    r = stored(f, HOUR0_MS, "alice");
    assert_true(close_to(r.gpu_seconds, 5.0));
}

/* The hour ends: the poll in the next hour writes the previous one at once. */
static void test_hour_change_writes_previous(void **state)
{
    struct fx *f = *state;
    struct agg_usage_row r;
    int64_t end = 3600 * 1000LL;

    poll_at(f, ALICE_ON_0(100), end - 2000);
    poll_at(f, ALICE_ON_0(100), end - 1000);
    poll_at(f, ALICE_ON_0(100), end + 500); /* billed to the hour of the poll */
    assert_int_equal(agg_writer_flush(f->writer, 5000), MON_OK);
    r = stored(f, HOUR0_MS, "alice");
    assert_true(close_to(r.gpu_seconds, 1.0));
    checkpoint(f);
    r = stored(f, HOUR0_MS + end, "alice");
    assert_true(close_to(r.gpu_seconds, 1.5));
}

/* kill -9 after a checkpoint: the new process resumes the stored hour (no double count), and a
 * process running before the checkpoint is not counted again; a new one is. */
static void test_restart_resumes_hour(void **state)
{
    struct fx *f = *state;
    struct agg_usage_row r;
    struct agg_usage_row *cur = NULL;
    int64_t *covered = NULL;
    size_t n = 0, n_cov = 0;

    poll_at(f, ALICE_ON_0(100), 1000);
    poll_at(f, ALICE_ON_0(100), 2000);
    poll_at(f, ALICE_ON_0(100), 3000);
    checkpoint(f);
    poll_at(f, ALICE_ON_0(100), 4000); /* lost with the process */
    agg_usage_free(f->u);              /* the crash: nothing more is written */
    f->u = usage_new(f);

    poll_at(f, ALICE_ON_0(100), 60000); /* first poll of the new process: no Δt */
    poll_at(f,
            GPU(0, 100, 4000, PROC(10, "alice", 3000, T_EARLY) "," PROC(15, "alice", 1000, T_LATE)),
            61000);
    /* The current hour from memory: the stored part included, the server covered. */
    assert_int_equal(agg_usage_current(f->u, HOUR0_MS + 61000, 0, NULL, &cur, &n, &covered, &n_cov),
                     MON_OK);
    assert_int_equal(n, 1);
    assert_int_equal(n_cov, 1);
    assert_int_equal(covered[0], f->server);
    assert_true(close_to(cur[0].gpu_seconds, 3.0));
    free(cur);
    free(covered);
    /* Another hour, or a filter on another user: nothing. */
    assert_int_equal(
        agg_usage_current(f->u, HOUR0_MS + 3600 * 1000LL, 0, NULL, &cur, &n, &covered, &n_cov),
        MON_OK);
    assert_int_equal(n, 0);
    assert_int_equal(n_cov, 0);
    free(cur);
    free(covered);
    assert_int_equal(
        agg_usage_current(f->u, HOUR0_MS + 61000, 0, "bob", &cur, &n, &covered, &n_cov), MON_OK);
    assert_int_equal(n, 0);
    free(cur);
    free(covered);

    checkpoint(f);
    r = stored(f, HOUR0_MS, "alice");
    assert_true(close_to(r.gpu_seconds, 2.0 + 1.0)); /* 2 s before, 1 s after; the lost 1 s gone */
    assert_int_equal(r.processes, 2);                /* pid 10 once, pid 15 new */
    assert_int_equal(r.first_seen, HOUR0_MS / 1000 + 2);
    assert_int_equal(r.last_seen, HOUR0_MS / 1000 + 61);
}

/* Polls accounted before the stored hour is read (the read happens on the housekeeper, never
 * on the poller thread): the hour is neither written nor shown as covered until then, and the
 * stored sums are then added to the polls, processes that the stored row counted not counted
 * again. */
static void test_resume_after_polls(void **state)
{
    struct fx *f = *state;
    struct agg_usage_row r, *cur = NULL;
    int64_t *covered = NULL;
    size_t n = 0, n_cov = 0;

    poll_at(f, ALICE_ON_0(100), 1000);
    poll_at(f, ALICE_ON_0(100), 3000); /* 2 s */
    checkpoint(f);
    agg_usage_free(f->u); /* kill -9 */
    f->u = usage_new_unresumed(f);

    poll_at(f, ALICE_ON_0(100), 60000);
    poll_at(f,
            GPU(0, 100, 4000, PROC(10, "alice", 3000, T_EARLY) "," PROC(15, "alice", 1000, T_LATE)),
            61000); /* 1 s; pid 15 is new */
    /* Not resumed: a checkpoint writes nothing over the stored 2 s, nothing is covered. */
    assert_int_equal(agg_usage_checkpoint(f->u), 0);
    assert_int_equal(agg_writer_flush(f->writer, 5000), MON_OK);
    r = stored(f, HOUR0_MS, "alice");
    assert_true(close_to(r.gpu_seconds, 2.0));
    assert_int_equal(agg_usage_current(f->u, HOUR0_MS + 61000, 0, NULL, &cur, &n, &covered, &n_cov),
                     MON_OK);
    assert_int_equal(n_cov, 0);
    free(cur);
    free(covered);

    assert_int_equal(agg_usage_resume(f->u, HOUR0_MS + 61500), MON_OK);
    checkpoint(f);
    r = stored(f, HOUR0_MS, "alice");
    assert_true(close_to(r.gpu_seconds, 2.0 + 1.0));
    assert_int_equal(r.processes, 2); /* pid 10 once (stored), pid 15 new */
    assert_int_equal(r.first_seen, HOUR0_MS / 1000 + 3);
    assert_int_equal(r.last_seen, HOUR0_MS / 1000 + 61);
}

/* The over-billing an earlier attempt had: reading the stored hour again after this process
 * has checkpointed it adds its own usage twice. A resumed hour is never read again, however
 * often agg_usage_resume runs, and the hours after the last stored one are not read at all. */
static void test_resume_never_rereads_own_rows(void **state)
{
    struct fx *f = *state;
    struct agg_usage_row r;
    int64_t next = 3600 * 1000LL;

    poll_at(f, ALICE_ON_0(100), 1000);
    poll_at(f, ALICE_ON_0(100), 2000);
    checkpoint(f);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(agg_usage_resume(f->u, HOUR0_MS + 2500), MON_OK);
        checkpoint(f);
    }
    poll_at(f, ALICE_ON_0(100), 3000);
    assert_int_equal(agg_usage_resume(f->u, HOUR0_MS + 3500), MON_OK);
    checkpoint(f);
    r = stored(f, HOUR0_MS, "alice");
    assert_true(close_to(r.gpu_seconds, 2.0));
    /* The next hour starts resumed (nothing can be stored for it): written at once. */
    poll_at(f, ALICE_ON_0(100), next + 500); /* Δt capped at 2 s */
    assert_int_equal(agg_usage_checkpoint(f->u), 1);
    assert_int_equal(agg_writer_flush(f->writer, 5000), MON_OK);
    assert_int_equal(agg_usage_resume(f->u, HOUR0_MS + next + 600), MON_OK);
    checkpoint(f);
    r = stored(f, HOUR0_MS + next, "alice");
    assert_true(close_to(r.gpu_seconds, 2.0));
    r = stored(f, HOUR0_MS, "alice");
    assert_true(close_to(r.gpu_seconds, 2.0));
}

/* The clock goes back into an hour this process has already written: the hour is read back
 * (after the writer's queue drained) before more is added, so it is neither lost nor
 * doubled. */
static void test_clock_back_resumes_own_hour(void **state)
{
    struct fx *f = *state;
    struct agg_usage_row r;
    int64_t next = 3600 * 1000LL;

    poll_at(f, ALICE_ON_0(100), next - 3000);
    poll_at(f, ALICE_ON_0(100), next - 1000);        /* 2 s in hour 0 */
    poll_at(f, ALICE_ON_0(100), next + 1000);        /* 2 s in hour 1; hour 0 written */
    poll_at(f, ALICE_ON_0(100), next - 2000);        /* the clock steps back: hour 0 again */
    poll_at(f, ALICE_ON_0(100), next - 1500);        /* 0.5 s more */
    assert_int_equal(agg_usage_checkpoint(f->u), 0); /* not resumed: nothing written */
    assert_int_equal(agg_usage_resume(f->u, HOUR0_MS + next), MON_OK);
    checkpoint(f);
    r = stored(f, HOUR0_MS, "alice");
    assert_true(close_to(r.gpu_seconds, 2.0 + 0.5)); /* the step back itself is worth nothing */
    r = stored(f, HOUR0_MS + next, "alice");
    assert_true(close_to(r.gpu_seconds, 2.0));
}

/* A server deleted mid-hour: its unwritten usage is written before it is forgotten, and polls
 * racing with the deletion are ignored. */
static void test_removed_server_keeps_last_hour(void **state)
{
    struct fx *f = *state;
    struct agg_usage_row r;
    struct agg_sample *s = sample(ALICE_ON_0(100));

    poll_at(f, ALICE_ON_0(100), 1000);
    poll_at(f, ALICE_ON_0(100), 2000);
    assert_int_equal(agg_store_server_delete(f->st, f->server), MON_OK);
    agg_usage_server_remove(f->u, f->server);
    assert_int_equal(agg_usage_add(f->u, f->server, s, HOUR0_MS + 3000, MONO0 + 3000), MON_ENOENT);
    agg_sample_free(s);
    assert_int_equal(agg_writer_flush(f->writer, 5000), MON_OK);
    r = stored(f, HOUR0_MS, "alice");
    assert_true(close_to(r.gpu_seconds, 1.0));
    assert_string_equal(r.server_name, "gpu-a");
}

/* Servers are found by id whatever their number and order of removal (a removal moves the
 * last server into the freed place). */
static void test_many_servers_found_by_id(void **state)
{
    struct fx *f = *state;
    struct agg_sample *s = sample(ALICE_ON_0(100));
    const int64_t first = 1000, n = 3000;
    struct agg_usage_row *rows = NULL;
    int64_t *ids = NULL;
    size_t n_rows = 0, n_ids = 0, seen = 0, expected = 0;

    for (int64_t id = first; id < first + n; id++)
        assert_int_equal(agg_usage_server_add(f->u, id, "many"), MON_OK);
    for (int64_t id = first; id < first + n; id += 3)
        agg_usage_server_remove(f->u, id);
    agg_usage_server_remove(f->u, first + n - 1); /* the last one: nothing moves */
    for (int64_t id = first; id < first + n; id++) {
        bool gone = (id - first) % 3 == 0 || id == first + n - 1;
        assert_int_equal(agg_usage_add(f->u, id, s, HOUR0_MS + 1000, MONO0 + 1000),
                         gone ? MON_ENOENT : MON_OK);
    }
    /* Added again after its removal: found again. */
    assert_int_equal(agg_usage_server_add(f->u, first, "many"), MON_OK);
    assert_int_equal(agg_usage_add(f->u, first, s, HOUR0_MS + 1000, MONO0 + 1000), MON_OK);
    assert_int_equal(agg_usage_add(f->u, f->server, s, HOUR0_MS + 1000, MONO0 + 1000), MON_OK);
    agg_sample_free(s);
    /* The list of servers holds each remaining one once, and no removed one (once their hour
     * is resumed: they were added after the start). */
    assert_int_equal(agg_usage_resume(f->u, HOUR0_MS + 1000), MON_OK);
    assert_int_equal(
        agg_usage_current(f->u, HOUR0_MS + 1000, 0, NULL, &rows, &n_rows, &ids, &n_ids), MON_OK);
    for (size_t i = 0; i < n_ids; i++) {
        int64_t id = ids[i];
        bool gone = id != first && id >= first && ((id - first) % 3 == 0 || id == first + n - 1);
        assert_false(gone);
        seen += id == f->server ? 1 : (size_t)(id - first + 1);
    }
    /* 1999 servers polled (of 3000 less 1000 removed, less the last one), the re-added one
     * and the fixture's: each id once (the sum of their positions tells). */
    assert_int_equal(n_ids, 1999 + 1 + 1);
    for (int64_t id = first; id < first + n; id++)
        expected += ((id - first) % 3 != 0 && id != first + n - 1) || id == first
                        ? (size_t)(id - first + 1)
                        : 0;
    assert_int_equal(seen, expected + 1);
    free(rows);
    free(ids);
}

/* Two users on one GPU and one user on two GPUs, through the accumulators. */
static void test_shared_and_multi_gpu(void **state)
{
    struct fx *f = *state;
    const char *gpus =
        GPU(0, 60, 8000,
            PROC(10, "alice", 4000, T_EARLY) "," PROC(
                20, "bob", 4000, T_EARLY)) "," GPU(1, 100, 4000, PROC(21, "bob", 4000, T_EARLY));
    struct agg_usage_row alice, bob;
    for (int i = 0; i <= 10; i++)
        poll_at(f, gpus, 1000 + i * 1000);
    checkpoint(f);
    alice = stored(f, HOUR0_MS, "alice");
    bob = stored(f, HOUR0_MS, "bob");
    assert_true(close_to(alice.gpu_seconds, 5.0));
    assert_true(close_to(alice.busy_gpu_seconds, 3.0));
    assert_true(close_to(bob.gpu_seconds, 15.0));
    assert_true(close_to(bob.busy_gpu_seconds, 3.0 + 10.0));
    assert_int_equal(alice.max_gpus, 1);
    assert_int_equal(bob.max_gpus, 2);
    assert_int_equal(bob.processes, 2);
}

/* A job that starts a new process every poll beside a long one: every process is counted once
 * in the hour, also one that is missing from a few polls and comes back, while the memory kept
 * for them stays bounded (usage_procs.c forgets the one gone longest beyond
 * AGG_USAGE_PROCS_KEEP). */
static void test_process_churn_counted_once(void **state)
{
    struct fx *f = *state;
    char gpus[1024], extra[256];
    struct agg_usage_row r;
    const int polls = 300;

    for (int i = 0; i < polls; i++) {
        extra[0] = '\0';
        if (i < 10 || i >= 15) /* pid 20 is missing from polls 10-14 */
            snprintf(extra, sizeof(extra), "," PROC(20, "alice", 100, T_EARLY));
        snprintf(gpus, sizeof(gpus),
                 GPU(0, 100, 4000,
                     PROC(10, "alice", 3000,
                          T_EARLY) "%s,{\"pid\":%d,"
                                   "\"user\":\"alice\",\"started_at\":\"2026-01-01T00:%02d:%02dZ\","
                                   "\"used_mem_mb\":10}"),
                 extra, 1000 + i, i / 60, i % 60);
        poll_at(f, gpus, 1000 + 1000LL * i);
    }
    checkpoint(f);
    r = stored(f, HOUR0_MS, "alice");
    /* pids 10 and 20, and one per poll but the first (not billed: no Δt yet) */
    assert_int_equal(r.processes, 2 + polls - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_rules),
        cmocka_unit_test(test_account_unknowns),
        cmocka_unit_test_setup_teardown(test_polls_capped_and_checkpointed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hour_change_writes_previous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_resumes_hour, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_polls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_never_rereads_own_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_back_resumes_own_hour, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_server_keeps_last_hour, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_and_multi_gpu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_servers_found_by_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_process_churn_counted_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
