/* SPDX-License-Identifier: MIT */
/* The SQLite backend as the source of a copy (--migrate-to): each table's counts and id high
 * mark, and its rows as text, numbers written so that they read back exactly (integers in
 * full, REALs with 17 significant digits). Called by store_copy.c with the lock held. */
#include "aggregator/store_sqlite.h"

#include "common/err.h"

#include <math.h>
#include <stdio.h>

#define COPY_SQL_LEN  1024
#define COPY_MAX_COLS 32

int agg_sqlite_table_info(struct agg_store *st, const struct agg_store_table *t,
                          struct agg_store_table_info *ret)
{
    struct agg_store_table_info info = {0};
    sqlite3_stmt *s = NULL;
    char sql[COPY_SQL_LEN];
    int r, rc;

    if (!agg_sqlite_table_info_sql(t, sql, sizeof(sql)))
        return agg_store_fail(st, MON_EINVAL, "query of %s too long", t->name);
    rc = sqlite3_prepare_v2(agg_sqlite_of(st)->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return agg_sqlite_fail(st, rc);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        info.rows = sqlite3_column_int64(s, 0);
        info.id_high = sqlite3_column_int64(s, 1);
        info.ts_min = sqlite3_column_int64(s, 2);
        info.ts_max = sqlite3_column_int64(s, 3);
        *ret = info;
        r = MON_OK;
    } else {
        r = agg_sqlite_fail(st, rc);
    }
    sqlite3_finalize(s);
    return r;
}

/* The text of column i of the current row (NULL for NULL); numbers go into num. */
static const char *column_text(sqlite3_stmt *s, int i, char *num, size_t size)
{
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_NULL:
        return NULL;
    case SQLITE_INTEGER:
        snprintf(num, size, "%lld", (long long)sqlite3_column_int64(s, i));
        return num;
    case SQLITE_FLOAT: {
        double v = sqlite3_column_double(s, i);
        if (isinf(v))
            return v > 0 ? "Infinity" : "-Infinity";
        /* 17 significant digits name every double exactly. */
        snprintf(num, size, "%.17g", v);
        return num;
    }
    default:
        return (const char *)sqlite3_column_text(s, i);
    }
}

int agg_sqlite_copy_out(struct agg_store *st, const struct agg_store_table *t, agg_store_row_fn row,
                        void *ctx)
{
    char sql[COPY_SQL_LEN], nums[COPY_MAX_COLS][32];
    const char *values[COPY_MAX_COLS];
    sqlite3_stmt *s = NULL;
    int r = MON_OK, rc, cols;

    if (t->n_columns > COPY_MAX_COLS || !agg_sqlite_copy_out_sql(t, sql, sizeof(sql)))
        return agg_store_fail(st, MON_EINVAL, "query of %s too long", t->name);
    rc = sqlite3_prepare_v2(agg_sqlite_of(st)->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return agg_sqlite_fail(st, rc);
    cols = sqlite3_column_count(s);
    if (cols != (int)t->n_columns) {
        r = agg_store_fail(st, MON_EINVAL, "%s: %d columns, expected %zu", t->name, cols,
                           t->n_columns);
        goto out;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        for (int i = 0; i < cols; i++)
            values[i] = column_text(s, i, nums[i], sizeof(nums[i]));
        /* The target's failure: its reason is in the target's store, not here. */
        r = row(ctx, values, (size_t)cols);
        if (r < 0)
            goto out;
    }
    if (rc != SQLITE_DONE)
        r = agg_sqlite_fail(st, rc);
out:
    sqlite3_finalize(s);
    return r;
}
