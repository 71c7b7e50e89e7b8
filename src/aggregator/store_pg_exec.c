/* SPDX-License-Identifier: MIT */
/* Running statements on the PostgreSQL backend's connection: text parameters (copies for text
 * without a terminator or that is not UTF-8), prepared and one-off statements, transactions,
 * and reading values and rows out of results. Every run first makes sure the connection is up
 * (agg_pg_ready reconnects). */
#include "aggregator/store_pg.h"

#include "common/err.h"
#include "common/str.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ---- */

char *agg_pg_utf8_copy(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t i = 0;
    if (!out)
        return NULL;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (c >= 0x80 && i + n <= len && mon_utf8_valid(s + i, n)) {
            memcpy(out + i, s + i, n);
            i += n;
        } else {
            out[i] = s[i];
            if (c >= 0x80)
                out[i] = '?';
            i++;
        }
    }
    out[len] = '\0';
    return out;
}

void agg_pg_params_done(struct agg_pg_params *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->owned[i]);
        p->owned[i] = NULL;
    }
}

/* The next parameter slot, or NULL when the statement has too many (a programming error). */
static int next_slot(struct agg_pg_params *p)
{
    if (p->n >= AGG_PG_MAX_PARAMS) {
        p->oom = true;
        return -1;
    }
    p->owned[p->n] = NULL;
    p->values[p->n] = NULL;
    return p->n++;
}

void agg_pg_param_int(struct agg_pg_params *p, int64_t v)
{
    int i = next_slot(p);
    if (i < 0)
        return;
    snprintf(p->nums[i], sizeof(p->nums[i]), "%lld", (long long)v);
    p->values[i] = p->nums[i];
}

void agg_pg_param_double(struct agg_pg_params *p, bool has, double v)
{
    int i = next_slot(p);
    if (i < 0 || !has || isnan(v))
        return;
    if (isinf(v))
        p->values[i] = v > 0 ? "Infinity" : "-Infinity";
    else {
        snprintf(p->nums[i], sizeof(p->nums[i]), "%.17g", v);
        p->values[i] = p->nums[i];
    }
}

/* s of len bytes as the next parameter: as it is, or a copy when it has no terminator there
 * or is not valid UTF-8 (a database in UTF8 refuses it, a whole checkpoint with it). */
static void param_bytes(struct agg_pg_params *p, const char *s, size_t len, bool terminated)
{
    int i = next_slot(p);
    if (i < 0)
        return;
    if (terminated && mon_utf8_valid(s, len)) {
        p->values[i] = s;
        return;
    }
    p->owned[i] = agg_pg_utf8_copy(s, len);
    p->values[i] = p->owned[i];
    if (!p->owned[i])
        p->oom = true;
}

void agg_pg_param_text(struct agg_pg_params *p, const char *s)
{
    if (!s) {
        int i = next_slot(p);
        if (i >= 0)
            p->values[i] = NULL;
        return;
    }
    param_bytes(p, s, strlen(s), true);
}

void agg_pg_param_array(struct agg_pg_params *p, const char *s, size_t size, bool optional)
{
    size_t len = strnlen(s, size);
    if (optional && len == 0)
        agg_pg_param_text(p, NULL);
    else
        param_bytes(p, s, len, len < size);
}

void agg_pg_param_take(struct agg_pg_params *p, char *s)
{
    int i = next_slot(p);
    if (i < 0) {
        free(s);
        return;
    }
    p->owned[i] = s;
    p->values[i] = s;
    if (!s)
        p->oom = true;
}

/* ---- running statements ---- */

int agg_pg_finish(struct agg_store *st, PGresult *res, PGresult **ret)
{
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        return agg_pg_fail(st, res);
    if (ret)
        *ret = res;
    else
        PQclear(res);
    return MON_OK;
}

int agg_pg_exec_cached(struct agg_store *st, bool *slot, const char *name, const char *sql,
                       const struct agg_pg_params *p, PGresult **ret)
{
    struct agg_pg *c = agg_pg_of(st);
    int r;

    if (p && p->oom)
        return agg_store_fail(st, MON_ENOMEM, "out of memory");
    r = agg_pg_ready(st);
    if (r < 0)
        return r;
    if (!*slot) {
        r = agg_pg_finish(st, PQprepare(c->conn, name, sql, 0, NULL), NULL);
        if (r < 0)
            return r;
        *slot = true;
    }
    return agg_pg_finish(
        st, PQexecPrepared(c->conn, name, p ? p->n : 0, p ? p->values : NULL, NULL, NULL, 0), ret);
}

int agg_pg_exec(struct agg_store *st, enum agg_pg_stmt id, const struct agg_pg_params *p,
                PGresult **ret)
{
    char name[16];
    snprintf(name, sizeof(name), "s%d", (int)id);
    return agg_pg_exec_cached(st, &agg_pg_of(st)->prepared[id], name, agg_pg_stmt_sql[id], p, ret);
}

int agg_pg_exec_sql(struct agg_store *st, const char *sql, const struct agg_pg_params *p,
                    PGresult **ret)
{
    int r;
    if (p && p->oom)
        return agg_store_fail(st, MON_ENOMEM, "out of memory");
    r = agg_pg_ready(st);
    if (r < 0)
        return r;
    return agg_pg_finish(st,
                         PQexecParams(agg_pg_of(st)->conn, sql, p ? p->n : 0, NULL,
                                      p ? p->values : NULL, NULL, NULL, 0),
                         ret);
}

int agg_pg_run(struct agg_store *st, const char *sql)
{
    int r = agg_pg_ready(st);
    if (r < 0)
        return r;
    /* Several statements: PQexec returns the last result, the first failure stops it. */
    return agg_pg_finish(st, PQexec(agg_pg_of(st)->conn, sql), NULL);
}

int agg_pg_query_int(struct agg_store *st, const char *sql, const struct agg_pg_params *p,
                     int64_t *ret)
{
    PGresult *res = NULL;
    int r = agg_pg_exec_sql(st, sql, p, &res);
    if (r < 0)
        return r;
    if (PQntuples(res) < 1 || PQnfields(res) < 1)
        r = agg_store_fail(st, MON_EIO, "no result from: %s", sql);
    else
        *ret = agg_pg_int64_or(res, 0, 0, 0);
    PQclear(res);
    return r;
}

int64_t agg_pg_changes(PGresult *res)
{
    const char *t = PQcmdTuples(res);
    int64_t n = 0;
    return t && *t && mon_parse_int64(t, 0, INT64_MAX, &n) == MON_OK ? n : 0;
}

int agg_pg_begin(struct agg_store *st)
{
    int r = agg_pg_run(st, "BEGIN");
    if (r == MON_OK)
        agg_pg_of(st)->in_tx = true;
    return r;
}

int agg_pg_commit(struct agg_store *st)
{
    int r = agg_pg_run(st, "COMMIT");
    agg_pg_of(st)->in_tx = false;
    agg_pg_partitions_tx_end(st, r == MON_OK);
    return r;
}

void agg_pg_rollback(struct agg_store *st)
{
    struct agg_pg *c = agg_pg_of(st);
    char keep[AGG_STORE_ERR_LEN];
    PGTransactionStatusType t = PQtransactionStatus(c->conn);

    c->in_tx = false;
    agg_pg_partitions_tx_end(st, false);
    if (t != PQTRANS_INTRANS && t != PQTRANS_INERROR)
        return;
    memcpy(keep, st->err, sizeof(keep));
    PQclear(PQexec(c->conn, "ROLLBACK"));
    memcpy(st->err, keep, sizeof(keep));
}

/* ---- reading results ---- */

int64_t agg_pg_int64_or(const PGresult *res, int row, int col, int64_t when_null)
{
    int64_t v = when_null;
    if (PQgetisnull(res, row, col))
        return when_null;
    if (mon_parse_int64(PQgetvalue(res, row, col), INT64_MIN, INT64_MAX, &v) < 0)
        return when_null;
    return v;
}

double agg_pg_double_opt(const PGresult *res, int row, int col, bool *has)
{
    double v = 0;
    if (PQgetisnull(res, row, col))
        return 0;
    /* float8 out: shortest exact text (extra_float_digits default 1), "Infinity", "NaN". */
    v = strtod(PQgetvalue(res, row, col), NULL);
    *has = true;
    return v;
}

void agg_pg_copy_text(const PGresult *res, int row, int col, char *dst, size_t size)
{
    mon_strlcpy(dst, PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col), size);
}

char *agg_pg_dup_text(const PGresult *res, int row, int col)
{
    const char *v = PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
    return mon_strndup(v, strlen(v));
}

int agg_pg_collect(struct agg_store *st, const PGresult *res, size_t elem, agg_pg_read_fn read_row,
                   void *ctx, void (*free_item)(void *item), void **ret, size_t *ret_n)
{
    int rows = PQntuples(res);
    char *list = NULL;
    int n = 0, r = MON_OK;

    if (rows > 0) {
        list = calloc((size_t)rows, elem);
        if (!list)
            return agg_store_fail(st, MON_ENOMEM, "out of memory");
    }
    for (; n < rows; n++) {
        r = read_row(st, res, n, list + (size_t)n * elem, ctx);
        if (r < 0)
            break;
    }
    if (r < 0) {
        for (int i = 0; free_item && i < n; i++)
            free_item(list + (size_t)i * elem);
        free(list);
        return r;
    }
    *ret = list;
    *ret_n = (size_t)rows;
    return MON_OK;
}
