/* SPDX-License-Identifier: MIT */
/* The PostgreSQL backend as the target of a copy (--migrate-to): the check that the database
 * is empty, then every table loaded with COPY FROM STDIN in one transaction (the partitions of
 * the months the source holds created first), each id sequence moved past the source's
 * highest id, and the rows counted back. Called by store_copy.c with the lock held. */
#include "aggregator/store_pg.h"

#include "common/err.h"
#include "common/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY_FLUSH (256 * 1024) /* bytes of COPY data sent at once */
#define COPY_MAX   (4 * 1024 * 1024)

/* {servers,...,lanmon_schema}: the tables that may exist in a database we may fill. */
static int our_tables_literal(char *buf, size_t size)
{
    size_t len = 0;
    int n;
    buf[len++] = '{';
    for (size_t i = 0; i < AGG_STORE_TABLE_COUNT; i++) {
        n = snprintf(buf + len, size - len, "%s,", agg_store_tables[i].name);
        if (n < 0 || (size_t)n >= size - len)
            return MON_ETOOBIG;
        len += (size_t)n;
    }
    n = snprintf(buf + len, size - len, "lanmon_schema}");
    return n < 0 || (size_t)n >= size - len ? MON_ETOOBIG : MON_OK;
}

int agg_pg_check_empty(struct agg_store *st)
{
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    char names[512];
    int r;

    if (our_tables_literal(names, sizeof(names)) < 0)
        return agg_store_fail(st, MON_EINVAL, "table list too long");
    agg_pg_param_text(&p, names);
    r = agg_pg_exec_sql(st, agg_pg_foreign_tables_sql, &p, &res);
    if (r < 0)
        return r;
    if (PQntuples(res) > 0) {
        r = agg_store_fail(st, MON_EEXIST,
                           "the database is not empty (it has the table %s): copy into a new, "
                           "empty database (createdb -O <user> <name>)",
                           PQgetvalue(res, 0, 0));
        PQclear(res);
        return r;
    }
    PQclear(res);
    for (size_t i = 0; i < AGG_STORE_TABLE_COUNT; i++) {
        struct agg_pg_params q = {0};
        int64_t exists = 0, rows = 0;
        char sql[128];
        agg_pg_param_text(&q, agg_store_tables[i].name);
        r = agg_pg_query_int(st, agg_pg_table_exists_sql, &q, &exists);
        if (r < 0)
            return r;
        if (!exists)
            continue;
        if (!agg_pg_exists_sql(agg_store_tables[i].name, sql, sizeof(sql)))
            return agg_store_fail(st, MON_EINVAL, "statement too long");
        r = agg_pg_query_int(st, sql, NULL, &rows);
        if (r < 0)
            return r;
        if (rows)
            return agg_store_fail(st, MON_EEXIST,
                                  "the database is not empty (its table %s has rows): copy into "
                                  "a new, empty database (createdb -O <user> <name>)",
                                  agg_store_tables[i].name);
    }
    return MON_OK;
}

int agg_pg_load_begin(struct agg_store *st)
{
    struct agg_pg *c = agg_pg_of(st);
    int r = agg_pg_check_empty(st);
    if (r < 0)
        return r;
    r = agg_pg_begin(st);
    if (r < 0)
        return r;
    c->loading = true;
    mon_buf_init(&c->copy, COPY_MAX);
    return MON_OK;
}

int agg_pg_load_table_begin(struct agg_store *st, const struct agg_store_table *t,
                            const struct agg_store_table_info *info)
{
    struct agg_pg *c = agg_pg_of(st);
    int part = agg_pg_partitioned_index(t->name);
    char sql[1024];
    PGresult *res;
    int r;

    if (part >= 0 && info->rows > 0) {
        r = agg_pg_partitions_span(st, part, info->ts_min, info->ts_max);
        if (r < 0)
            return r;
    }
    if (!agg_pg_copy_in_sql(t, sql, sizeof(sql)))
        return agg_store_fail(st, MON_EINVAL, "statement too long");
    res = PQexec(c->conn, sql);
    if (!res || PQresultStatus(res) != PGRES_COPY_IN)
        return agg_pg_fail(st, res);
    PQclear(res);
    c->in_copy = true;
    mon_buf_reset(&c->copy);
    return MON_OK;
}

/* Sends what is buffered. */
static int flush(struct agg_store *st)
{
    struct agg_pg *c = agg_pg_of(st);
    if (c->copy.len && PQputCopyData(c->conn, c->copy.data, (int)c->copy.len) != 1)
        return agg_pg_fail(st, NULL);
    mon_buf_reset(&c->copy);
    return MON_OK;
}

/* Appends one value in COPY's text format: \N for NULL; backslash, tab, newline and carriage
 * return escaped. */
static int put_value(struct mon_buf *b, const char *v)
{
    int r = MON_OK;
    if (!v)
        return mon_buf_puts(b, "\\N");
    for (const char *p = v; *p && r == MON_OK; p++) {
        switch (*p) {
        case '\\':
            r = mon_buf_puts(b, "\\\\");
            break;
        case '\t':
            r = mon_buf_puts(b, "\\t");
            break;
        case '\n':
            r = mon_buf_puts(b, "\\n");
            break;
        case '\r':
            r = mon_buf_puts(b, "\\r");
            break;
        default:
            r = mon_buf_append(b, p, 1);
        }
    }
    return r;
}

int agg_pg_load_row(struct agg_store *st, const char *const *values, size_t n)
{
    struct agg_pg *c = agg_pg_of(st);
    int r = MON_OK;

    if (!c->in_copy)
        return agg_store_fail(st, MON_EINVAL, "no table is being loaded");
    for (size_t i = 0; i < n && r == MON_OK; i++) {
        const char *v = values[i];
        char *fixed = NULL;
        /* Text that is not UTF-8 (SQLite keeps any bytes) gets '?' for each stray byte. */
        if (v && !mon_utf8_valid(v, strlen(v)) && !(v = fixed = agg_pg_utf8_copy(v, strlen(v))))
            r = MON_ENOMEM;
        if (r == MON_OK && i > 0)
            r = mon_buf_puts(&c->copy, "\t");
        if (r == MON_OK)
            r = put_value(&c->copy, v);
        free(fixed);
    }
    if (r == MON_OK)
        r = mon_buf_puts(&c->copy, "\n");
    if (r < 0)
        return agg_store_fail(st, r, r == MON_ETOOBIG ? "a row is too large" : "out of memory");
    return c->copy.len >= COPY_FLUSH ? flush(st) : MON_OK;
}

int agg_pg_load_table_end(struct agg_store *st, const struct agg_store_table *t,
                          const struct agg_store_table_info *info, int64_t *ret_rows)
{
    struct agg_pg *c = agg_pg_of(st);
    struct agg_pg_params p = {0};
    PGresult *res;
    char sql[512];
    int r = MON_OK;

    if (!c->in_copy)
        return agg_store_fail(st, MON_EINVAL, "no table is being loaded");
    c->in_copy = false;
    r = flush(st);
    /* On an earlier failure the server discards the copy (and the transaction fails). */
    if (PQputCopyEnd(c->conn, r == MON_OK ? NULL : "copy aborted") != 1 && r == MON_OK)
        r = agg_pg_fail(st, NULL);
    while ((res = PQgetResult(c->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && r == MON_OK)
            r = agg_pg_fail(st, res);
        else
            PQclear(res);
    }
    if (r < 0)
        return r;
    if (t->has_id) {
        if (!agg_pg_setval_sql(t, sql, sizeof(sql)))
            return agg_store_fail(st, MON_EINVAL, "statement too long");
        agg_pg_param_int(&p, info->id_high);
        r = agg_pg_exec_sql(st, sql, &p, NULL);
        if (r < 0)
            return r;
    }
    if (!agg_pg_count_sql(t->name, sql, sizeof(sql)))
        return agg_store_fail(st, MON_EINVAL, "statement too long");
    return agg_pg_query_int(st, sql, NULL, ret_rows);
}

int agg_pg_load_end(struct agg_store *st, bool commit)
{
    struct agg_pg *c = agg_pg_of(st);
    int r = MON_OK;
    if (commit)
        r = agg_pg_commit(st);
    if (!commit || r < 0)
        agg_pg_rollback(st);
    c->loading = false;
    mon_buf_done(&c->copy);
    /* Partitions made inside the transaction were not cached; the ones rolled back neither. */
    agg_pg_partitions_forget(st);
    return r;
}
