/* SPDX-License-Identifier: MIT */
/* The pure part of GPU usage accounting: one poll's GPU time, busy time and memory time per
 * user (issue 15's rules), without state or I/O, so that it is tested on plain samples. */
#include "aggregator/usage.h"

#include "aggregator/gpu_state.h"
#include "aggregator/sample.h"

#include <string.h>

/* The slot of user in out[0..*n) (added when missing and there is room), or NULL. */
static struct agg_usage_share *slot(struct agg_usage_share *out, size_t *n, size_t max,
                                    const char *user)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(out[i].user, user) == 0)
            return &out[i];
    if (*n == max)
        return NULL;
    memset(&out[*n], 0, sizeof(out[*n]));
    out[*n].user = user;
    return &out[(*n)++];
}

size_t agg_usage_account(const struct agg_sample *s, double dt_s, double free_mem_mb,
                         struct agg_usage_share *out, size_t max)
{
    struct agg_gpu_user users[AGG_MAX_GPU_PROCS];
    size_t n_out = 0;

    if (!(dt_s > 0))
        return 0;
    for (size_t i = 0; i < s->n_gpus; i++) {
        const struct agg_gpu *g = &s->gpus[i];
        const struct agg_gpu_proc *procs = agg_sample_gpu_procs(s, g);
        size_t n_users = 0;
        double util = g->has_util ? g->util_pct : 0, share;

        if (g->error[0])
            continue; /* lost or failing: nobody is computing on it */
        if (g->has_procs && procs && g->n_procs > 0)
            n_users = agg_gpu_users(procs, g->n_procs, users, AGG_MAX_GPU_PROCS);
        if (n_users == 0) {
            struct agg_usage_share *u;
            if (!g->has_mem || !(g->mem_used_mb > free_mem_mb))
                continue; /* free */
            u = slot(out, &n_out, max, AGG_USAGE_UNKNOWN_USER);
            if (!u)
                continue;
            u->gpu_seconds += dt_s;
            u->busy_gpu_seconds += dt_s * util / 100.0;
            u->mem_mb_seconds += g->mem_used_mb * dt_s;
            u->gpus++;
            continue;
        }
        share = dt_s / (double)n_users;
        for (size_t k = 0; k < n_users; k++) {
            const char *name = users[k].user[0] ? users[k].user : AGG_USAGE_UNKNOWN_USER;
            struct agg_usage_share *u = slot(out, &n_out, max, name);
            if (!u)
                continue;
            u->gpu_seconds += share;
            u->busy_gpu_seconds += share * util / 100.0;
            if (users[k].used_mem_mb > 0)
                u->mem_mb_seconds += users[k].used_mem_mb * dt_s;
            u->gpus++;
        }
    }
    return n_out;
}
