/* SPDX-License-Identifier: MIT */
/* The PostgreSQL backend's care: retention (whole monthly partitions dropped, then the rows
 * of the boundary month older than the cutoff deleted, in one transaction), VACUUM, the
 * check and the statistics of --check-db, and the answers of backup and restore, which are
 * pg_dump's and pg_restore's job on a database server. Called by store.c with the lock held. */
#include "aggregator/store_pg.h"

#include "aggregator/dbname.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <string.h>

static int retention_once(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted)
{
    struct agg_pg_params p = {0};
    int64_t total = 0, dropped = 0;
    int r;

    r = agg_pg_begin(st);
    if (r < 0)
        return r;
    /* Months that end at or before the cutoff go whole (their rows counted first). */
    r = agg_pg_partitions_drop_before(st, 0, AGG_PG_HISTORY_PARTITIONED, cutoff, &dropped);
    if (r < 0)
        goto out;
    total += dropped;
    /* The month holding the cutoff keeps its newer rows; its older ones are deleted. Events
     * are not partitioned (few rows, paged by id). */
    agg_pg_param_int(&p, cutoff);
    for (int t = 0; t <= AGG_PG_HISTORY_PARTITIONED && r == MON_OK; t++) {
        const char *table = t < AGG_PG_HISTORY_PARTITIONED ? agg_pg_partitioned[t] : "events";
        PGresult *res = NULL;
        char sql[128];
        if (!agg_pg_delete_before_sql(table, sql, sizeof(sql))) {
            r = agg_store_fail(st, MON_EINVAL, "statement too long");
            break;
        }
        r = agg_pg_exec_sql(st, sql, &p, &res);
        if (r == MON_OK) {
            total += agg_pg_changes(res);
            PQclear(res);
        }
    }
    if (r == MON_OK)
        r = agg_pg_commit(st);
out:
    if (r < 0) {
        agg_pg_rollback(st);
        return r;
    }
    /* The dropped months are gone; the cache is refilled by the next writes. */
    agg_pg_partitions_forget(st);
    *ret_deleted = total;
    return MON_OK;
}

int agg_pg_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted)
{
    AGG_PG_RETRY(st, retention_once(st, cutoff, ret_deleted));
}

/* VACUUM of a large database may take longer than the session's statement timeout. It cannot
 * share a query string with the SETs (that would make it a transaction block). */
static int vacuum_once(struct agg_store *st)
{
    int r = agg_pg_run(st, agg_pg_no_timeout_sql);
    if (r == MON_OK) {
        r = agg_pg_run(st, agg_pg_vacuum_sql);
        if (PQstatus(agg_pg_of(st)->conn) == CONNECTION_OK) {
            char keep[AGG_STORE_ERR_LEN];
            memcpy(keep, st->err, sizeof(keep));
            (void)agg_pg_run(st, agg_pg_timeout_sql);
            memcpy(st->err, keep, sizeof(keep));
        }
    }
    return r;
}

int agg_pg_vacuum(struct agg_store *st)
{
    AGG_PG_RETRY(st, vacuum_once(st));
}

static int check_once(struct agg_store *st)
{
    int64_t version = 0, exists = 0;
    int r;

    r = agg_pg_query_int(st, agg_pg_version_get_sql, NULL, &version);
    if (r < 0)
        return r;
    if (version != AGG_STORE_SCHEMA_VERSION)
        return agg_store_fail(st, MON_EIO, "schema version %lld, expected %d", (long long)version,
                              AGG_STORE_SCHEMA_VERSION);
    for (size_t i = 0; i < AGG_STORE_TABLE_COUNT; i++) {
        struct agg_pg_params p = {0};
        agg_pg_param_text(&p, agg_store_tables[i].name);
        r = agg_pg_query_int(st, agg_pg_table_exists_sql, &p, &exists);
        if (r < 0)
            return r;
        if (!exists)
            return agg_store_fail(st, MON_EIO, "table %s is missing", agg_store_tables[i].name);
    }
    r = agg_pg_schema_check(st);
    if (r < 0)
        return r;
    return agg_pg_partitions_check(st, mon_utc_ms() / 1000);
}

int agg_pg_check(struct agg_store *st)
{
    AGG_PG_RETRY(st, check_once(st));
}

static int stats_once(struct agg_store *st, char **ret_json)
{
    cJSON *root = cJSON_CreateObject(), *rows;
    char *text = NULL, *copy = NULL;
    int64_t size = 0, version = 0, partitions = 0;
    const char *server_version;
    int r = MON_ENOMEM;

    rows = root ? cJSON_AddObjectToObject(root, "rows") : NULL;
    if (!rows)
        goto out;
    for (size_t i = 0; i < AGG_STORE_TABLE_COUNT; i++) {
        char sql[96];
        int64_t count = 0;
        if (!agg_pg_count_sql(agg_store_tables[i].name, sql, sizeof(sql))) {
            r = agg_store_fail(st, MON_EINVAL, "statement too long");
            goto out;
        }
        r = agg_pg_query_int(st, sql, NULL, &count);
        if (r < 0)
            goto out;
        r = MON_ENOMEM;
        if (!cJSON_AddNumberToObject(rows, agg_store_tables[i].name, (double)count))
            goto out;
    }
    if ((r = agg_pg_query_int(st, agg_pg_database_size_sql, NULL, &size)) < 0 ||
        (r = agg_pg_query_int(st, agg_pg_version_get_sql, NULL, &version)) < 0 ||
        (r = agg_pg_partitions_count(st, &partitions)) < 0)
        goto out;
    server_version = PQparameterStatus(agg_pg_of(st)->conn, "server_version");
    r = MON_ENOMEM;
    if (!cJSON_AddNumberToObject(root, "size_bytes", (double)size) ||
        !cJSON_AddNumberToObject(root, "user_version", (double)version) ||
        !cJSON_AddStringToObject(root, "backend", "postgresql") ||
        !cJSON_AddStringToObject(root, "server_version", server_version ? server_version : "") ||
        !cJSON_AddNumberToObject(root, "partitions", (double)partitions))
        goto out;
    text = cJSON_PrintUnformatted(root);
    copy = text ? mon_strndup(text, strlen(text)) : NULL;
    if (!copy)
        goto out;
    *ret_json = copy;
    r = MON_OK;
out:
    if (r == MON_ENOMEM)
        agg_store_fail(st, r, "out of memory");
    cJSON_free(text);
    cJSON_Delete(root);
    return r;
}

int agg_pg_stats(struct agg_store *st, char **ret_json)
{
    AGG_PG_RETRY(st, stats_once(st, ret_json));
}

/* ---- backup and restore: the server's own tools ---- */

int agg_pg_backup_to(struct agg_store *st, const char *dest_path, char *why, size_t why_len)
{
    char display[256];
    pthread_mutex_lock(&st->lock);
    mon_strlcpy(display, agg_pg_of(st)->display, sizeof(display));
    pthread_mutex_unlock(&st->lock);
    agg_store_why(why, why_len,
                  "a PostgreSQL database is backed up with PostgreSQL's own tools, also while "
                  "the aggregator runs: pg_dump --format=custom --file=%s '%s' (the password "
                  "from PGPASSFILE or ~/.pgpass); restore it into an empty database with "
                  "pg_restore --dbname='<database URI>' %s (docs/operations.md §6)",
                  dest_path, display, dest_path);
    return MON_EUNSUPPORTED;
}

int agg_pg_restore_check(const char *src, char *why, size_t why_len)
{
    char display[256];
    agg_db_display(src, display, sizeof(display));
    agg_store_why(why, why_len,
                  "%s is a PostgreSQL database: restore a dump of it with pg_restore "
                  "(docs/operations.md §6), not with --restore",
                  display);
    return MON_EUNSUPPORTED;
}
