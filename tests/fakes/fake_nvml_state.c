/* SPDX-License-Identifier: MIT */
/* The fake NVML's state file (see fake_nvml.c for its keys): parsed into struct fake_state,
 * re-read when it changes, and handed out under one lock to the fake's calls, which run on the
 * caller's threads (sampler, Xid thread). */
#define _POSIX_C_SOURCE 200809L
#include "fake_nvml.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The fake is a test double: plain file-static state is fine here. The state is shared by the
 * caller's threads (sampler, Xid thread), hence the lock. */
#define STAT_EVERY_MS 20   /* look at the state file's stat() at most this often */
#define RELOAD_MS     2000 /* re-read at least this often, even if stat() shows no change */

static const char *const field_names[F_COUNT] = {
    "util",         "mem_used_mb", "procs_fail", "ecc_mode",       "ecc_vol_corr",  "ecc_vol_unc",
    "ecc_agg_corr", "ecc_agg_unc", "remap_corr", "remap_unc",      "remap_pending", "remap_failed",
    "throttle",     "fan",         "sm_clock",   "power_limit_mw", "pstate"};
static const char *const call_names[C_COUNT] = {
    "ecc",    "ecc_counts", "remap",    "throttle",   "fan",        "clock", "power_limit",
    "pstate", "compute",    "graphics", "compute_v3", "compute_v2", "xid"};

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_state state;
/* FAKE_NVML_STATE_FILE as nvmlInit saw it: an Xid thread left over from a previous session
 * reads the state too, and getenv() while the test's main thread calls setenv() is a data race
 * (glibc frees the old environment array). Under state_lock. */
static char state_path[4096];
static struct stat state_stat;
static long long state_read_ms = -1, state_stat_ms;

void fake_state_session_begin(const char *path)
{
    pthread_mutex_lock(&state_lock);
    if (!path || strlen(path) >= sizeof(state_path))
        path = "";
    memcpy(state_path, path, strlen(path) + 1);
    state_read_ms = -1;
    pthread_mutex_unlock(&state_lock);
}

void fake_state_lock(void)
{
    pthread_mutex_lock(&state_lock);
}

const char *fake_call_name(enum fake_call call)
{
    return call_names[call];
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void parse_procs(const char *text, unsigned *n, struct fake_proc *out)
{
    const char *p = text;
    *n = 0;
    while (*p && *p != '\n' && *n < FAKE_MAX_PROCS) {
        char *end;
        unsigned long pid = strtoul(p, &end, 10);
        struct fake_proc *e = &out[*n];
        if (end == p || *end != ':')
            return;
        p = end + 1;
        e->pid = (unsigned)pid;
        if (*p == '-') {
            e->bytes = NOT_AVAILABLE;
            p++;
        } else {
            e->bytes = strtoull(p, &end, 10) * MIB;
            p = end;
        }
        (*n)++;
        if (*p == ',')
            p++;
    }
}

static void parse_unsupported(const char *text, struct fake_gpu_state *g)
{
    for (int c = 0; c < C_COUNT; c++) {
        size_t n = strlen(call_names[c]);
        for (const char *p = text; (p = strstr(p, call_names[c])) != NULL; p += n)
            if ((p == text || p[-1] == ',') && (p[n] == ',' || p[n] == '\n' || p[n] == '\0'))
                g->unsupported[c] = 1;
    }
}

static void parse_xid(const char *text, struct fake_state *st)
{
    const char *p = text;
    while (*p && *p != '\n' && st->n_xid < FAKE_MAX_XID) {
        char *end;
        unsigned long gpu = strtoul(p, &end, 10), code;
        if (end == p || *end != ':')
            return;
        code = strtoul(end + 1, &end, 10);
        st->xid[st->n_xid].gpu = (unsigned)gpu;
        st->xid[st->n_xid].code = (unsigned)code;
        st->n_xid++;
        p = *end == ',' ? end + 1 : end;
    }
}

/* Applies one "key[@gpu]=value" line to every GPU or to one. */
static void apply_line(struct fake_state *st, char *line)
{
    char *eq = strchr(line, '='), *at, *value;
    long gpu = -1;

    if (!eq)
        return;
    *eq = '\0';
    value = eq + 1;
    at = strchr(line, '@');
    if (at) {
        *at = '\0';
        gpu = strtol(at + 1, NULL, 10);
        if (gpu < 0 || gpu >= FAKE_MAX_GPUS)
            return;
    }
    if (strcmp(line, "lost") == 0)
        st->lost = strtol(value, NULL, 10);
    else if (strcmp(line, "fail_all") == 0)
        st->fail_all = strtol(value, NULL, 10) != 0;
    else if (strcmp(line, "init_fail") == 0)
        st->init_fail = strtol(value, NULL, 10) != 0;
    else if (strcmp(line, "xid_hang") == 0)
        st->xid_hang = strtol(value, NULL, 10) != 0;
    else if (strcmp(line, "xid_wait_error") == 0)
        st->xid_wait_error = strtol(value, NULL, 10);
    else if (strcmp(line, "xid") == 0)
        parse_xid(value, st);
    for (long i = gpu < 0 ? 0 : gpu; i < (gpu < 0 ? FAKE_MAX_GPUS : gpu + 1); i++) {
        struct fake_gpu_state *g = &st->gpu[i];
        if (strcmp(line, "procs") == 0)
            parse_procs(value, &g->n_procs[0], g->procs[0]);
        else if (strcmp(line, "gprocs") == 0)
            parse_procs(value, &g->n_procs[1], g->procs[1]);
        else if (strcmp(line, "unsupported") == 0)
            parse_unsupported(value, g);
        for (int f = 0; f < F_COUNT; f++)
            if (strcmp(line, field_names[f]) == 0)
                g->v[f] = strtoll(value, NULL, 0);
    }
}

static void read_state_file(struct fake_state *st)
{
    const char *path = state_path;
    char *line = NULL;
    size_t cap = 0;
    FILE *f;

    memset(st, 0, sizeof(*st));
    st->lost = -1;
    for (int i = 0; i < FAKE_MAX_GPUS; i++)
        for (int k = 0; k < F_COUNT; k++)
            st->gpu[i].v[k] = -1;
    if (!path || !*path)
        return;
    f = fopen(path, "r");
    if (!f)
        return;
    while (getline(&line, &cap, f) > 0)
        apply_line(st, line);
    free(line);
    fclose(f);
}

/* Locks and returns the state, re-read when the file changed (or always, when fresh). stat()
 * is asked at most every STAT_EVERY_MS (a sample makes ~20 calls per GPU: the fake should cost
 * less than the agent it serves), and the file is re-read every RELOAD_MS anyway, as a rewrite
 * within the file system's timestamp granularity keeps stat() identical;
 * fake_nvml_state_changed() forces it. */
static struct fake_state *state_get(int fresh)
{
    long long now;
    struct stat sb;

    pthread_mutex_lock(&state_lock);
    now = now_ms();
    if (!fresh && state_read_ms >= 0 && now - state_stat_ms < STAT_EVERY_MS)
        return &state;
    state_stat_ms = now;
    memset(&sb, 0, sizeof(sb));
    if (state_path[0])
        stat(state_path, &sb);
    if (fresh || state_read_ms < 0 || now - state_read_ms >= RELOAD_MS ||
        sb.st_ino != state_stat.st_ino || sb.st_size != state_stat.st_size ||
        sb.st_mtim.tv_sec != state_stat.st_mtim.tv_sec ||
        sb.st_mtim.tv_nsec != state_stat.st_mtim.tv_nsec) {
        read_state_file(&state);
        state_stat = sb;
        state_read_ms = now;
    }
    return &state;
}

struct fake_state *fake_state_get(void)
{
    return state_get(0);
}

struct fake_state *fake_state_get_fresh(void)
{
    return state_get(1);
}

/* Test hook: the state file was just rewritten; the next call re-reads it. */
void fake_nvml_state_changed(void)
{
    pthread_mutex_lock(&state_lock);
    state_read_ms = -1;
    pthread_mutex_unlock(&state_lock);
}

void fake_state_put(void)
{
    pthread_mutex_unlock(&state_lock);
}

int fake_state_path(char *buf, size_t len)
{
    int ok;

    pthread_mutex_lock(&state_lock);
    ok = state_path[0] && strlen(state_path) < len;
    if (ok)
        memcpy(buf, state_path, strlen(state_path) + 1);
    pthread_mutex_unlock(&state_lock);
    return ok;
}

long long fake_field(const struct fake_state *st, unsigned i, enum fake_field f, long long dflt)
{
    return st->gpu[i].v[f] >= 0 ? st->gpu[i].v[f] : dflt;
}
