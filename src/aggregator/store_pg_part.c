/* SPDX-License-Identifier: MIT */
/* Monthly partitions of the PostgreSQL history tables (samples_hourly, gpu_samples_hourly,
 * disk_samples_hourly, service_status) and hourly GPU usage tables (RANGE on ts): named
 * <table>_pYYYYMM and covering [first second of the month, first second of the next) in UTC,
 * created ahead of time at open and on demand before a write of a month they do not have yet, and
 * dropped whole by retention once the month lies entirely before the cutoff. A small cache per
 * connection remembers the months known to exist, so a write checks with no round trip. */
#include "aggregator/store_pg.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <string.h>

/* Months of years 1970..9999 only: a partition name has four digits of year. */
#define FIRST_TS 0
#define LAST_TS  253402300799LL /* 9999-12-31T23:59:59Z */

/* The most months a span may create at once (a clock far off should not make thousands). */
#define MAX_SPAN_MONTHS 1200

int agg_pg_partitioned_index(const char *table)
{
    for (int i = 0; i < AGG_PG_PARTITIONED; i++)
        if (strcmp(agg_pg_partitioned[i], table) == 0)
            return i;
    return -1;
}

static bool known(const struct agg_pg_months *m, int64_t start)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->start[i] == start)
            return true;
    return false;
}

static void remember(struct agg_pg_months *m, int64_t start)
{
    /* A full cache starts over: it only saves round trips. */
    if (m->n == AGG_PG_MONTH_CACHE)
        m->n = 0;
    m->start[m->n++] = start;
}

void agg_pg_partitions_forget(struct agg_store *st)
{
    struct agg_pg *c = agg_pg_of(st);
    for (int i = 0; i < AGG_PG_PARTITIONED; i++)
        c->months[i].n = 0;
}

int agg_pg_partition_for(struct agg_store *st, int t, int64_t ts)
{
    struct agg_pg *c = agg_pg_of(st);
    char sql[256];
    int64_t start, next;
    int year = 0, month = 0, r;

    if (ts < FIRST_TS || ts > LAST_TS)
        return agg_store_fail(st, MON_EINVAL, "time %lld outside the years 1970..9999",
                              (long long)ts);
    start = mon_utc_month_start(ts, 0, &year, &month);
    if (known(&c->months[t], start) || (c->in_tx && known(&c->tx_months[t], start)))
        return MON_OK;
    next = mon_utc_month_start(ts, 1, NULL, NULL);
    if (!agg_pg_partition_create_sql(agg_pg_partitioned[t], year, month, start, next, sql,
                                     sizeof(sql)))
        return agg_store_fail(st, MON_EINVAL, "partition statement too long");
    /* IF NOT EXISTS: another connection (or an earlier run) may have made it. Inside a
     * transaction of the caller, the cache entry would outlive a rollback, so it is only
     * remembered after the commit (agg_pg_partitions_tx_end). */
    r = agg_pg_run(st, sql);
    if (r == MON_EEXIST) /* created concurrently by another session */
        r = MON_OK;
    if (r == MON_OK)
        remember(c->in_tx ? &c->tx_months[t] : &c->months[t], start);
    return r;
}

void agg_pg_partitions_tx_end(struct agg_store *st, bool committed)
{
    struct agg_pg *c = agg_pg_of(st);
    for (int t = 0; t < AGG_PG_PARTITIONED; t++) {
        for (size_t i = 0; committed && i < c->tx_months[t].n; i++)
            if (!known(&c->months[t], c->tx_months[t].start[i]))
                remember(&c->months[t], c->tx_months[t].start[i]);
        c->tx_months[t].n = 0;
    }
}

int agg_pg_partitions_span(struct agg_store *st, int t, int64_t from, int64_t to)
{
    int64_t ts = from;
    int r = MON_OK;
    for (int i = 0; r == MON_OK && ts <= to; i++) {
        if (i >= MAX_SPAN_MONTHS)
            return agg_store_fail(st, MON_ERANGE, "more than %d months of %s at once",
                                  MAX_SPAN_MONTHS, agg_pg_partitioned[t]);
        r = agg_pg_partition_for(st, t, ts);
        ts = mon_utc_month_start(ts, 1, NULL, NULL);
    }
    return r;
}

int agg_pg_partitions_ahead(struct agg_store *st, int64_t now, int ahead)
{
    int64_t until = mon_utc_month_start(now, ahead, NULL, NULL);
    int r = MON_OK;
    for (int t = 0; r == MON_OK && t < AGG_PG_PARTITIONED; t++)
        r = agg_pg_partitions_span(st, t, now, until);
    return r;
}

/* The month of a partition from its name <table>_pYYYYMM; false for any other name. */
static bool partition_month(const char *table, const char *name, int64_t *ret_start,
                            int64_t *ret_next)
{
    size_t tl = strlen(table);
    int64_t year = 0, month = 0, start;
    char digits[5];

    if (strncmp(name, table, tl) != 0 || strncmp(name + tl, "_p", 2) != 0 ||
        strlen(name + tl + 2) != 6)
        return false;
    memcpy(digits, name + tl + 2, 4);
    digits[4] = '\0';
    if (mon_parse_int64(digits, 1970, 9999, &year) < 0)
        return false;
    memcpy(digits, name + tl + 6, 2);
    digits[2] = '\0';
    if (mon_parse_int64(digits, 1, 12, &month) < 0)
        return false;
    start = mon_utc_from_date((int)year, (int)month, 1);
    *ret_start = start;
    *ret_next = mon_utc_month_start(start, 1, NULL, NULL);
    return true;
}

int agg_pg_partitions_drop_before(struct agg_store *st, int first, int end, int64_t cutoff,
                                  int64_t *ret_rows)
{
    int64_t rows = 0;
    int r = MON_OK;

    for (int t = first; r == MON_OK && t < end; t++) {
        struct agg_pg_params p = {0};
        PGresult *res = NULL;

        agg_pg_param_text(&p, agg_pg_partitioned[t]);
        r = agg_pg_exec(st, P_PARTITIONS_OF, &p, &res);
        if (r < 0)
            break;
        for (int i = 0; r == MON_OK && i < PQntuples(res); i++) {
            const char *name = PQgetvalue(res, i, 0);
            int64_t start, next, count = 0;
            char sql[160];

            /* Only months that end at or before the cutoff hold nothing to keep. */
            if (!partition_month(agg_pg_partitioned[t], name, &start, &next) || next > cutoff)
                continue;
            if (!agg_pg_count_sql(name, sql, sizeof(sql))) {
                r = agg_store_fail(st, MON_EINVAL, "partition name too long");
                break;
            }
            r = agg_pg_query_int(st, sql, NULL, &count);
            if (r == MON_OK && !agg_pg_drop_sql(name, sql, sizeof(sql)))
                r = agg_store_fail(st, MON_EINVAL, "partition name too long");
            if (r == MON_OK)
                r = agg_pg_run(st, sql);
            rows += count;
        }
        PQclear(res);
    }
    if (r == MON_OK)
        *ret_rows = rows;
    return r;
}

int agg_pg_partitions_count(struct agg_store *st, int64_t *ret)
{
    int64_t total = 0;
    for (int t = 0; t < AGG_PG_PARTITIONED; t++) {
        struct agg_pg_params p = {0};
        PGresult *res = NULL;
        int r;
        agg_pg_param_text(&p, agg_pg_partitioned[t]);
        r = agg_pg_exec(st, P_PARTITIONS_OF, &p, &res);
        if (r < 0)
            return r;
        total += PQntuples(res);
        PQclear(res);
    }
    *ret = total;
    return MON_OK;
}

int agg_pg_partitions_check(struct agg_store *st, int64_t now)
{
    for (int t = 0; t < AGG_PG_PARTITIONED; t++) {
        struct agg_pg_params p = {0};
        char name[96];
        int64_t exists = 0;
        int year = 0, month = 0, r;

        (void)mon_utc_month_start(now, 0, &year, &month);
        if (!agg_pg_partition_name(agg_pg_partitioned[t], year, month, name, sizeof(name)))
            return agg_store_fail(st, MON_EINVAL, "partition name too long");
        agg_pg_param_text(&p, name);
        r = agg_pg_query_int(st, agg_pg_table_exists_sql, &p, &exists);
        if (r < 0)
            return r;
        if (!exists)
            return agg_store_fail(st, MON_EIO, "the partition %s of this month is missing", name);
    }
    return MON_OK;
}
