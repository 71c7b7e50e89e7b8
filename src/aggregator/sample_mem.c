/* SPDX-License-Identifier: MIT */
/* The storage of struct agg_sample: its arrays, grown only when a reply needs more entries
 * than any before and reused by the next parse; copy and free. */
#include "aggregator/sample.h"
#include "aggregator/sample_priv.h"

#include "common/err.h"

#include <stdlib.h>
#include <string.h>

/* arr with room for n entries of size bytes (moved when it grew); NULL when growing failed
 * (arr is then unchanged) or when nothing was ever needed. */
static void *grow_to(void *arr, size_t *cap, size_t n, size_t size)
{
    void *grown;
    if (n <= *cap)
        return arr;
    grown = realloc(arr, n * size);
    if (grown)
        *cap = n;
    return grown;
}

int agg_sample_reserve(struct agg_sample *s, size_t n_disks, size_t n_gpus, size_t n_units,
                       size_t n_procs)
{
    struct agg_disk *d = grow_to(s->disks, &s->cap_disks, n_disks, sizeof(*d));
    struct agg_gpu *g;
    struct agg_unit *u;
    struct agg_gpu_proc *p;
    if (d)
        s->disks = d;
    g = grow_to(s->gpus, &s->cap_gpus, n_gpus, sizeof(*g));
    if (g)
        s->gpus = g;
    u = grow_to(s->units, &s->cap_units, n_units, sizeof(*u));
    if (u)
        s->units = u;
    p = grow_to(s->procs, &s->cap_procs, n_procs, sizeof(*p));
    if (p)
        s->procs = p;
    if ((n_disks && !s->disks) || (n_gpus && !s->gpus) || (n_units && !s->units) ||
        (n_procs && !s->procs) || (n_disks && !d) || (n_gpus && !g) || (n_units && !u) ||
        (n_procs && !p))
        return MON_ENOMEM;
    if (n_disks)
        memset(s->disks, 0, n_disks * sizeof(*s->disks));
    if (n_gpus)
        memset(s->gpus, 0, n_gpus * sizeof(*s->gpus));
    if (n_units)
        memset(s->units, 0, n_units * sizeof(*s->units));
    if (n_procs)
        memset(s->procs, 0, n_procs * sizeof(*s->procs));
    return MON_OK;
}

/* Overwrites s with from (with zeroes when from is NULL), keeping s's own arrays and their
 * sizes. */
static void overwrite_keeping_arrays(struct agg_sample *s, const struct agg_sample *from)
{
    struct agg_sample kept = *s;
    if (from)
        *s = *from;
    else
        memset(s, 0, sizeof(*s));
    s->disks = kept.disks;
    s->gpus = kept.gpus;
    s->units = kept.units;
    s->procs = kept.procs;
    s->cap_disks = kept.cap_disks;
    s->cap_gpus = kept.cap_gpus;
    s->cap_units = kept.cap_units;
    s->cap_procs = kept.cap_procs;
}

void agg_sample_clear(struct agg_sample *s)
{
    overwrite_keeping_arrays(s, NULL);
}

int agg_sample_new(struct agg_sample **ret_sample)
{
    struct agg_sample *s = calloc(1, sizeof(*s));
    if (!s)
        return MON_ENOMEM;
    *ret_sample = s;
    return MON_OK;
}

int agg_sample_copy(struct agg_sample *dst, const struct agg_sample *src)
{
    agg_sample_clear(dst);
    if (agg_sample_reserve(dst, src->n_disks, src->n_gpus, src->n_units, src->n_procs) < 0)
        return MON_ENOMEM;
    overwrite_keeping_arrays(dst, src);
    if (src->n_disks)
        memcpy(dst->disks, src->disks, src->n_disks * sizeof(*dst->disks));
    if (src->n_gpus)
        memcpy(dst->gpus, src->gpus, src->n_gpus * sizeof(*dst->gpus));
    if (src->n_units)
        memcpy(dst->units, src->units, src->n_units * sizeof(*dst->units));
    if (src->n_procs)
        memcpy(dst->procs, src->procs, src->n_procs * sizeof(*dst->procs));
    return MON_OK;
}

void agg_sample_free(struct agg_sample *s)
{
    if (!s)
        return;
    free(s->disks);
    free(s->gpus);
    free(s->units);
    free(s->procs);
    free(s);
}

const struct agg_gpu_proc *agg_sample_gpu_procs(const struct agg_sample *s, const struct agg_gpu *g)
{
    if (!g->has_procs || g->n_procs == 0 || !s->procs ||
        (size_t)g->procs_first + g->n_procs > s->n_procs)
        return NULL;
    return &s->procs[g->procs_first];
}
