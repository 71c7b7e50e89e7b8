/* SPDX-License-Identifier: MIT */
/* Fuzzes agg_sample_parse(), the aggregator's parser of an agent's /v1/snapshot reply, and
 * checks what the rest of the aggregator relies on: every value in range, every string
 * terminated and free of control characters, arrays sized as counted (each GPU's processes
 * inside the sample's list), nothing written on error; then runs the GPU state rules on every
 * GPU of the sample. */
#include "fuzz_util.h"

#include "aggregator/gpu_state.h"
#include "aggregator/sample.h"
#include "common/err.h"
#include "common/text.h"

#include <string.h>

/* Terminated, valid UTF-8, and no control, invisible or text-direction character left in it:
 * agent text reaches people and the database without them (the parser strips them). */
static int clean_text(const char *s, size_t size)
{
    size_t len;
    if (!fuzz_terminated(s, size))
        return 0;
    len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = mon_utf8_next(s + i, len - i, &cp);
        if (n == 0 || mon_text_is_hidden(cp))
            return 0;
        i += n;
    }
    return 1;
}

static void check_text(const char *s)
{
    FUZZ_CHECK(clean_text(s, strlen(s) + 1));
}

static void check_gpu_health(const struct agg_gpu *g)
{
    FUZZ_CHECK(!g->has_fan || fuzz_in_range(g->fan_pct, 0, 1000));
    FUZZ_CHECK(!g->has_pstate || (g->pstate >= 0 && g->pstate <= 32));
    FUZZ_CHECK(g->throttle < (1u << AGG_THROTTLE_COUNT) && (g->has_throttle || !g->throttle));
    FUZZ_CHECK(g->ecc_mode >= -1 && g->ecc_mode <= 1);
    FUZZ_CHECK(g->ecc_volatile_uncorrected >= -1 && g->ecc_aggregate_uncorrected >= -1);
    FUZZ_CHECK(g->n_xid <= AGG_MAX_GPU_XIDS && (g->has_xid || g->n_xid == 0));
    for (uint32_t k = 0; k < g->n_xid && k < AGG_MAX_GPU_XIDS; k++)
        FUZZ_CHECK(g->xid[k].at >= -1);
    FUZZ_CHECK(!g->remap_pending || g->has_remap);
}

static void check_gpu_procs(const struct agg_sample *s, const struct agg_gpu *g)
{
    const struct agg_gpu_proc *p = agg_sample_gpu_procs(s, g);
    FUZZ_CHECK(g->n_procs <= AGG_MAX_GPU_PROCS && (g->has_procs || g->n_procs == 0));
    FUZZ_CHECK((size_t)g->procs_first + g->n_procs <= s->n_procs);
    FUZZ_CHECK((p == NULL) == (g->n_procs == 0));
    for (uint32_t k = 0; k < g->n_procs; k++) {
        FUZZ_CHECK(p[k].pid >= 0 && p[k].uid >= -1 && p[k].started_at >= -1);
        FUZZ_CHECK(p[k].used_mem_mb == -1 || fuzz_in_range(p[k].used_mem_mb, 0, 1e12));
        FUZZ_CHECK(p[k].type <= (AGG_PROC_COMPUTE | AGG_PROC_GRAPHICS));
        FUZZ_CHECK(clean_text(p[k].user, sizeof(p[k].user)));
        FUZZ_CHECK(clean_text(p[k].command, sizeof(p[k].command)));
        FUZZ_CHECK(clean_text(p[k].container, sizeof(p[k].container)));
        FUZZ_CHECK(clean_text(p[k].error, sizeof(p[k].error)));
    }
}

/* The state rules on each GPU, twice (first sight, then an hour later): no event at first
 * sight, a valid state after, and an error state always says why. */
static void check_gpu_states(const struct agg_sample *s)
{
    struct agg_gpu_state_config cfg;
    agg_gpu_state_config_default(&cfg);
    for (size_t i = 0; i < s->n_gpus; i++) {
        struct agg_gpu_track t;
        struct agg_gpu_step st;
        agg_gpu_track_init(&t, s->gpus[i].uuid, s->gpus[i].index);
        agg_gpu_state_step(&cfg, &t, &s->gpus[i], s->ts, s->ts * 1000, &st);
        FUZZ_CHECK(!st.gpu_error && !st.gpu_recovered && !st.gpu_idle && st.persist);
        agg_gpu_state_step(&cfg, &t, &s->gpus[i], s->ts, s->ts * 1000 + 3600000, &st);
        FUZZ_CHECK((unsigned)t.state < AGG_GPU_STATE_COUNT && t.seen);
        FUZZ_CHECK(fuzz_terminated(t.reason, sizeof(t.reason)));
        FUZZ_CHECK(t.state != AGG_GPU_ERROR || t.reason[0]);
    }
}

static void check_sample(const struct agg_sample *s)
{
    FUZZ_CHECK(fuzz_terminated(s->node_id, sizeof(s->node_id)));
    check_text(s->node_id);
    check_text(s->agent_version);
    FUZZ_CHECK(fuzz_terminated(s->agent_version, sizeof(s->agent_version)));
    FUZZ_CHECK(!s->has_cpu || fuzz_in_range(s->cpu_pct, 0, 100));
    FUZZ_CHECK(!s->has_mem || fuzz_in_range(s->mem_used_pct, 0, 100));
    FUZZ_CHECK(fuzz_in_range(s->mem_used_bytes, 0, 1e18));
    FUZZ_CHECK(fuzz_in_range(s->mem_total_bytes, 0, 1e18));
    FUZZ_CHECK(!s->has_uptime || fuzz_in_range(s->uptime_s, 0, 1e11));
    FUZZ_CHECK(s->cpu_count >= 0 && s->cpu_count <= (1 << 20));
    for (int i = 0; s->has_load && i < 3; i++)
        FUZZ_CHECK(fuzz_in_range(s->load[i], 0, 1e6));

    FUZZ_CHECK(s->n_disks <= AGG_MAX_DISKS && (s->n_disks == 0) == (s->disks == NULL));
    FUZZ_CHECK(s->n_gpus <= AGG_MAX_GPUS && (s->n_gpus == 0) == (s->gpus == NULL));
    FUZZ_CHECK(s->n_units <= AGG_MAX_UNITS && (s->n_units == 0) == (s->units == NULL));
    FUZZ_CHECK(s->units_present || s->n_units == 0);
    for (size_t i = 0; i < s->n_disks; i++) {
        const struct agg_disk *d = &s->disks[i];
        FUZZ_CHECK(fuzz_terminated(d->mount, sizeof(d->mount)) && d->mount[0]);
        FUZZ_CHECK(fuzz_terminated(d->error, sizeof(d->error)));
        check_text(d->mount);
        check_text(d->error);
        FUZZ_CHECK(!d->has_value || fuzz_in_range(d->used_pct, 0, 100));
        FUZZ_CHECK(fuzz_in_range(d->used_bytes, 0, 1e18) && fuzz_in_range(d->total_bytes, 0, 1e18));
        FUZZ_CHECK(!(d->error[0] || d->stale) || s->degraded);
    }
    for (size_t i = 0; i < s->n_gpus; i++) {
        const struct agg_gpu *g = &s->gpus[i];
        FUZZ_CHECK(g->index >= 0 && g->index <= 1023);
        FUZZ_CHECK(fuzz_terminated(g->name, sizeof(g->name)));
        FUZZ_CHECK(fuzz_terminated(g->uuid, sizeof(g->uuid)));
        FUZZ_CHECK(clean_text(g->error, sizeof(g->error)));
        FUZZ_CHECK(clean_text(g->name, sizeof(g->name)));
        FUZZ_CHECK(clean_text(g->uuid, sizeof(g->uuid)));
        check_gpu_health(g);
        check_gpu_procs(s, g);
        FUZZ_CHECK(!g->has_util || fuzz_in_range(g->util_pct, 0, 100));
        FUZZ_CHECK(!g->has_mem || (fuzz_in_range(g->mem_used_mb, 0, 1e12) &&
                                   fuzz_in_range(g->mem_total_mb, 0, 1e12)));
        FUZZ_CHECK(!g->has_temp || fuzz_in_range(g->temp_c, -50, 200));
        FUZZ_CHECK(!g->has_power || fuzz_in_range(g->power_w, 0, 10000));
        FUZZ_CHECK(!g->error[0] || s->degraded);
        FUZZ_CHECK(g->error[0] || !g->has_util || (s->has_gpu && g->util_pct <= s->gpu_util_max));
    }
    FUZZ_CHECK(!s->has_gpu || fuzz_in_range(s->gpu_util_max, 0, 100));
    FUZZ_CHECK(fuzz_in_range(s->gpu_mem_used_mb, 0, AGG_MAX_GPUS * 1e12));
    FUZZ_CHECK(fuzz_in_range(s->gpu_mem_total_mb, 0, AGG_MAX_GPUS * 1e12));
    for (size_t i = 0; i < s->n_units; i++) {
        const struct agg_unit *u = &s->units[i];
        FUZZ_CHECK(fuzz_terminated(u->name, sizeof(u->name)) && u->name[0]);
        FUZZ_CHECK(fuzz_terminated(u->active_state, sizeof(u->active_state)));
        FUZZ_CHECK(fuzz_terminated(u->sub_state, sizeof(u->sub_state)));
        FUZZ_CHECK(fuzz_terminated(u->error, sizeof(u->error)));
        check_text(u->name);
        check_text(u->active_state);
        check_text(u->sub_state);
        check_text(u->error);
    }
    FUZZ_CHECK(s->services_failed_count >= 0 && (size_t)s->services_failed_count <= s->n_units);
    FUZZ_CHECK(s->services_failed_count == 0 || s->degraded);
    FUZZ_CHECK(s->n_procs <= s->n_gpus * AGG_MAX_GPU_PROCS &&
               (s->n_procs == 0) == (s->procs == NULL));
    check_gpu_states(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct agg_sample sentinel;
    struct agg_sample *s = &sentinel;
    char why[256];
    int r;

    memset(why, 'x', sizeof(why));
    r = agg_sample_parse((const char *)data, size, &s, why, sizeof(why));
    FUZZ_CHECK(fuzz_terminated(why, sizeof(why)));
    if (r < 0) {
        FUZZ_CHECK(r == MON_EPARSE);
        FUZZ_CHECK(s == &sentinel);
        FUZZ_CHECK(why[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(r == MON_OK && s != &sentinel && s != NULL);
    FUZZ_CHECK(why[0] == '\0');
    check_sample(s);
    agg_sample_free(s);
    return 0;
}
