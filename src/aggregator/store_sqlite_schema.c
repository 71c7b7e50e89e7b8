/* SPDX-License-Identifier: MIT */
/* The SQLite backend's schema check: a database must have every table, column, index and
 * foreign key that the migration list makes at its schema version. The expected schema is not
 * written down twice: it is read back from an in-memory database built with the migrations. */
#include "aggregator/store_sqlite.h"

#include "common/err.h"
#include "common/str.h"

#include <stdlib.h>
#include <string.h>

/* The (table, item) rows of agg_sqlite_schema_sql, each as "table\titem". */
struct schema_items {
    char **items;
    size_t n, cap;
};

static void items_free(struct schema_items *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
    free(s->items);
    memset(s, 0, sizeof(*s));
}

static int items_add(struct schema_items *s, const char *table, const char *item)
{
    size_t lt = strlen(table), li = strlen(item);
    char *text;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 128;
        char **grown = realloc(s->items, cap * sizeof(*grown));
        if (!grown)
            return MON_ENOMEM;
        s->items = grown;
        s->cap = cap;
    }
    text = malloc(lt + li + 2);
    if (!text)
        return MON_ENOMEM;
    memcpy(text, table, lt);
    text[lt] = '\t';
    memcpy(text + lt + 1, item, li + 1);
    s->items[s->n++] = text;
    return MON_OK;
}

/* Reads db's schema description into *ret. */
static int describe(sqlite3 *db, struct schema_items *ret, char *why, size_t why_len)
{
    struct schema_items s = {0};
    sqlite3_stmt *stmt = NULL;
    int r = MON_OK, rc;

    rc = sqlite3_prepare_v2(db, agg_sqlite_schema_sql, -1, &stmt, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        const unsigned char *table, *item;
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
            break;
        table = sqlite3_column_text(stmt, 0);
        item = sqlite3_column_text(stmt, 1);
        /* A row with a NULL part (an index on an expression) has nothing to compare. */
        if (!table || !item)
            continue;
        r = items_add(&s, (const char *)table, (const char *)item);
        if (r < 0) {
            agg_store_why(why, why_len, "out of memory");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        agg_store_why(why, why_len, "cannot read the schema: %s", sqlite3_errmsg(db));
        r = agg_sqlite_map(rc) == MON_ENOMEM ? MON_ENOMEM : MON_EIO;
        goto out;
    }
    *ret = s;
    memset(&s, 0, sizeof(s));
out:
    sqlite3_finalize(stmt);
    items_free(&s);
    return r;
}

/* The description of what the migrations make at version. */
static int expected(int64_t version, struct schema_items *ret, char *why, size_t why_len)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    int r, rc;

    rc = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    for (int64_t v = 0; rc == SQLITE_OK && v < version; v++)
        rc = sqlite3_exec(db, agg_sqlite_migrations[v].sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        agg_store_why(why, why_len, "cannot build the expected schema: %s",
                      msg ? msg : sqlite3_errstr(rc));
        r = rc == SQLITE_NOMEM ? MON_ENOMEM : MON_EIO;
        goto out;
    }
    r = describe(db, ret, why, why_len);
out:
    sqlite3_free(msg);
    sqlite3_close(db);
    return r;
}

static bool has_item(const struct schema_items *s, const char *item)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i], item) == 0)
            return true;
    return false;
}

int agg_sqlite_schema_check(sqlite3 *db, int64_t version, char *why, size_t why_len)
{
    struct schema_items want = {0}, have = {0};
    int r;

    if (version < 1 || version > AGG_STORE_SCHEMA_VERSION) {
        agg_store_why(why, why_len, "schema version %lld is not one this program knows",
                      (long long)version);
        return MON_EIO;
    }
    r = expected(version, &want, why, why_len);
    if (r < 0)
        goto out;
    r = describe(db, &have, why, why_len);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < want.n; i++) {
        const char *tab;
        int table_len;
        if (has_item(&have, want.items[i]))
            continue;
        tab = strchr(want.items[i], '\t');
        table_len = (int)(tab - want.items[i]);
        if (strcmp(tab + 1, "table") == 0)
            agg_store_why(why, why_len, "schema of version %lld: table %.*s is missing",
                          (long long)version, table_len, want.items[i]);
        else
            agg_store_why(why, why_len, "schema of version %lld: table %.*s has no %s",
                          (long long)version, table_len, want.items[i], tab + 1);
        r = MON_EIO;
        goto out;
    }
    r = MON_OK;
out:
    items_free(&want);
    items_free(&have);
    return r;
}
