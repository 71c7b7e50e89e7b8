/* SPDX-License-Identifier: MIT */
/* SQLite backend: the last known state of each GPU (gpu_states), read at start and written when
 * a GPU's state record changes. */
#include "aggregator/store_sqlite.h"

#include "common/err.h"

static void bind_opt_int(sqlite3_stmt *s, int i, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

static int gpu_state_from_row(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx)
{
    struct agg_gpu_state_row *g = item;
    (void)st;
    (void)ctx;
    g->gpu_index = sqlite3_column_int(s, 0);
    agg_sqlite_col_copy(s, 1, g->uuid, sizeof(g->uuid));
    agg_sqlite_col_copy(s, 2, g->state, sizeof(g->state));
    g->since = agg_sqlite_col_int64_or(s, 3, -1);
    g->low_since = agg_sqlite_col_int64_or(s, 4, -1);
    g->idle_reported = sqlite3_column_int(s, 5) != 0;
    g->error_open = sqlite3_column_int(s, 6) != 0;
    g->conditions = sqlite3_column_int(s, 7);
    g->ecc_volatile = agg_sqlite_col_int64_or(s, 8, -1);
    g->ecc_aggregate = agg_sqlite_col_int64_or(s, 9, -1);
    g->xid_seen_at = agg_sqlite_col_int64_or(s, 10, -1);
    g->xid_seen_n = sqlite3_column_int(s, 11);
    g->updated_at = agg_sqlite_col_int64_or(s, 12, -1);
    return MON_OK;
}

int agg_sqlite_gpu_states_load(struct agg_store *st, int64_t server_id,
                               struct agg_gpu_state_row **ret, size_t *ret_n)
{
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    int r = agg_sqlite_stmt(st, S_GPU_STATE_LOAD, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, server_id);
    r = agg_sqlite_collect(st, s, sizeof(struct agg_gpu_state_row), gpu_state_from_row, NULL, NULL,
                           &list, ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_sqlite_gpu_state_save(struct agg_store *st, int64_t server_id,
                              const struct agg_gpu_state_row *g)
{
    sqlite3_stmt *s = NULL;
    int changes = 0;
    int r = agg_sqlite_stmt(st, S_GPU_STATE_SAVE, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int(s, 2, g->gpu_index);
    agg_sqlite_bind_array(s, 3, g->uuid, sizeof(g->uuid));
    agg_sqlite_bind_array(s, 4, g->state, sizeof(g->state));
    bind_opt_int(s, 5, g->since);
    bind_opt_int(s, 6, g->low_since);
    sqlite3_bind_int(s, 7, g->idle_reported);
    sqlite3_bind_int(s, 8, g->error_open);
    sqlite3_bind_int(s, 9, g->conditions);
    bind_opt_int(s, 10, g->ecc_volatile);
    bind_opt_int(s, 11, g->ecc_aggregate);
    bind_opt_int(s, 12, g->xid_seen_at);
    sqlite3_bind_int(s, 13, g->xid_seen_n);
    sqlite3_bind_int64(s, 14, g->updated_at);
    r = agg_sqlite_step_write(st, s, &changes);
    if (r == MON_OK && changes == 0)
        r = agg_store_fail(st, MON_ENOENT, "no server with id %lld", (long long)server_id);
    agg_sqlite_release(s);
    return r;
}
