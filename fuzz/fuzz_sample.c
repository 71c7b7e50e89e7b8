/* SPDX-License-Identifier: MIT */
/* Fuzzes agg_sample_parse(), the aggregator's parser of an agent's /v1/snapshot reply, and
 * checks what the rest of the aggregator relies on: every value in range, every string
 * terminated, arrays sized as counted, nothing written on error. */
#include "fuzz_util.h"

#include "aggregator/sample.h"
#include "common/err.h"

#include <string.h>

static void check_sample(const struct agg_sample *s)
{
    FUZZ_CHECK(fuzz_terminated(s->node_id, sizeof(s->node_id)));
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
        FUZZ_CHECK(!d->has_value || fuzz_in_range(d->used_pct, 0, 100));
        FUZZ_CHECK(fuzz_in_range(d->used_bytes, 0, 1e18) && fuzz_in_range(d->total_bytes, 0, 1e18));
        FUZZ_CHECK(!(d->error[0] || d->stale) || s->degraded);
    }
    for (size_t i = 0; i < s->n_gpus; i++) {
        const struct agg_gpu *g = &s->gpus[i];
        FUZZ_CHECK(g->index >= 0 && g->index <= 1023);
        FUZZ_CHECK(fuzz_terminated(g->name, sizeof(g->name)));
        FUZZ_CHECK(fuzz_terminated(g->uuid, sizeof(g->uuid)));
        FUZZ_CHECK(fuzz_terminated(g->error, sizeof(g->error)));
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
    }
    FUZZ_CHECK(s->services_failed_count >= 0 && (size_t)s->services_failed_count <= s->n_units);
    FUZZ_CHECK(s->services_failed_count == 0 || s->degraded);
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
