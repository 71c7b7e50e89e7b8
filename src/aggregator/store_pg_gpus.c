/* SPDX-License-Identifier: MIT */
/* PostgreSQL backend: the last known state of each GPU (gpu_states), read at start and written
 * when a GPU's state record changes (as store_sqlite_gpus.c). */
#include "aggregator/store_pg.h"

#include "common/err.h"

/* A number that may be unknown (-1): NULL then. */
static void param_opt_int(struct agg_pg_params *p, int64_t v)
{
    if (v >= 0)
        agg_pg_param_int(p, v);
    else
        agg_pg_param_text(p, NULL);
}

static int gpu_state_from_row(struct agg_store *st, const PGresult *res, int row, void *item,
                              void *ctx)
{
    struct agg_gpu_state_row *g = item;
    (void)st;
    (void)ctx;
    g->gpu_index = (int)agg_pg_int64_or(res, row, 0, -1);
    agg_pg_copy_text(res, row, 1, g->uuid, sizeof(g->uuid));
    agg_pg_copy_text(res, row, 2, g->state, sizeof(g->state));
    g->since = agg_pg_int64_or(res, row, 3, -1);
    g->low_since = agg_pg_int64_or(res, row, 4, -1);
    g->idle_reported = agg_pg_int64_or(res, row, 5, 0) != 0;
    g->error_open = agg_pg_int64_or(res, row, 6, 0) != 0;
    g->conditions = (int)agg_pg_int64_or(res, row, 7, 0);
    g->ecc_volatile = agg_pg_int64_or(res, row, 8, -1);
    g->ecc_aggregate = agg_pg_int64_or(res, row, 9, -1);
    g->xid_seen_at = agg_pg_int64_or(res, row, 10, -1);
    g->xid_seen_n = (int)agg_pg_int64_or(res, row, 11, 0);
    g->updated_at = agg_pg_int64_or(res, row, 12, -1);
    return MON_OK;
}

static int gpu_states_load_once(struct agg_store *st, int64_t server_id,
                                struct agg_gpu_state_row **ret, size_t *ret_n)
{
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    void *list = NULL;
    int r;
    agg_pg_param_int(&p, server_id);
    r = agg_pg_exec(st, P_GPU_STATE_LOAD, &p, &res);
    if (r < 0)
        return r;
    r = agg_pg_collect(st, res, sizeof(struct agg_gpu_state_row), gpu_state_from_row, NULL, NULL,
                       &list, ret_n);
    PQclear(res);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_pg_gpu_states_load(struct agg_store *st, int64_t server_id, struct agg_gpu_state_row **ret,
                           size_t *ret_n)
{
    AGG_PG_RETRY(st, gpu_states_load_once(st, server_id, ret, ret_n));
}

static int gpu_state_save_once(struct agg_store *st, int64_t server_id,
                               const struct agg_gpu_state_row *g)
{
    struct agg_pg_params p = {0};
    int r;
    agg_pg_param_int(&p, server_id);
    agg_pg_param_int(&p, g->gpu_index);
    agg_pg_param_array(&p, g->uuid, sizeof(g->uuid), false);
    agg_pg_param_array(&p, g->state, sizeof(g->state), false);
    param_opt_int(&p, g->since);
    param_opt_int(&p, g->low_since);
    agg_pg_param_int(&p, g->idle_reported);
    agg_pg_param_int(&p, g->error_open);
    agg_pg_param_int(&p, g->conditions);
    param_opt_int(&p, g->ecc_volatile);
    param_opt_int(&p, g->ecc_aggregate);
    param_opt_int(&p, g->xid_seen_at);
    agg_pg_param_int(&p, g->xid_seen_n);
    agg_pg_param_int(&p, g->updated_at);
    r = agg_pg_write_for_server(st, P_GPU_STATE_SAVE, &p, server_id);
    agg_pg_params_done(&p);
    return r;
}

int agg_pg_gpu_state_save(struct agg_store *st, int64_t server_id,
                          const struct agg_gpu_state_row *g)
{
    AGG_PG_RETRY(st, gpu_state_save_once(st, server_id, g));
}
