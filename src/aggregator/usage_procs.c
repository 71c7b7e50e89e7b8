/* SPDX-License-Identifier: MIT */
/* The per-hour set of a user's processes (usage_procs.h): 16-byte entries, bounded. */
#include "aggregator/usage_procs.h"

#include "aggregator/sample.h"

#include <stdlib.h>

/* A process's key: pid and start time mixed (splitmix64's finaliser). */
static uint64_t proc_id(int64_t pid, int64_t started_at)
{
    uint64_t z = (uint64_t)pid * 0x9e3779b97f4a7c15ULL ^ (uint64_t)started_at;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A time (UTC s, -1 unknown) relative to the hour: 0 for unknown or before the hour,
 * UINT16_MAX for anything too late. */
static uint16_t started_rel(int64_t t, int64_t hour_s)
{
    if (t < hour_s)
        return 0;
    return t - hour_s + 1 < UINT16_MAX ? (uint16_t)(t - hour_s + 1) : UINT16_MAX;
}

/* The entry to reuse for a new process when s is full: the one gone longest, or NULL when
 * every entry was in this poll (then s grows). */
static struct agg_usage_proc *victim(struct agg_usage_procs *s, uint32_t poll)
{
    struct agg_usage_proc *v = NULL;
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i].seen != poll && (!v || poll - s->v[i].seen > poll - v->seen))
            v = &s->v[i];
    return v;
}

bool agg_usage_procs_add(struct agg_usage_procs *s, const struct agg_gpu_proc *p, uint32_t poll,
                         int64_t hour_s, bool counted)
{
    uint64_t id = proc_id(p->pid, p->started_at);
    struct agg_usage_proc *k = NULL;
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i].id == id) {
            s->v[i].seen = poll;
            return false;
        }
    if (s->n >= AGG_USAGE_PROCS_KEEP)
        k = victim(s, poll);
    if (!k && s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 2;
        struct agg_usage_proc *grown = realloc(s->v, cap * sizeof(*grown));
        if (!grown)
            return false;
        s->v = grown;
        s->cap = cap;
    }
    if (!k)
        k = &s->v[s->n++];
    *k = (struct agg_usage_proc){id, poll, started_rel(p->started_at, hour_s), counted};
    return true;
}

uint32_t agg_usage_procs_uncount(struct agg_usage_procs *s, int64_t last_seen, int64_t hour_s)
{
    uint16_t upto = started_rel(last_seen, hour_s);
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i].counted && s->v[i].started <= upto) {
            s->v[i].counted = false;
            n++;
        }
    return n;
}

void agg_usage_procs_clear(struct agg_usage_procs *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
