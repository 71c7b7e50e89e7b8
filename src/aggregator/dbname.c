/* SPDX-License-Identifier: MIT */
/* The `database:` value's kind and its printable form without secrets (see dbname.h). The
 * URI rules follow libpq's: user information ends at the first '@' before any '/', its
 * password after the first ':'; query parameters are '&'-separated key=value pairs. */
#include "aggregator/dbname.h"

#include <string.h>

static const char *const postgres_schemes[] = {"postgresql://", "postgres://"};

static char ascii_lower(char c)
{
    static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                      lower[] = "abcdefghijklmnopqrstuvwxyz";
    const char *p = c ? strchr(upper, c) : NULL;
    if (p)
        return lower[p - upper];
    return c;
}

/* Length of the PostgreSQL scheme prefix of database, or 0. */
static size_t scheme_len(const char *database)
{
    for (size_t i = 0; database && i < sizeof(postgres_schemes) / sizeof(postgres_schemes[0]);
         i++) {
        size_t n = strlen(postgres_schemes[i]);
        size_t k = 0;
        while (k < n && ascii_lower(database[k]) == postgres_schemes[i][k])
            k++;
        if (k == n)
            return n;
    }
    return 0;
}

enum agg_db_kind agg_db_kind_of(const char *database)
{
    return scheme_len(database) ? AGG_DB_POSTGRES : AGG_DB_SQLITE;
}

bool agg_db_kind_available(enum agg_db_kind kind)
{
#ifdef MON_HAVE_LIBPQ
    (void)kind;
    return true;
#else
    return kind == AGG_DB_SQLITE;
#endif
}

bool agg_db_looks_like_conninfo(const char *database)
{
    static const char *const keys[] = {"host=", "hostaddr=", "dbname=", "user=", "port="};
    if (!database || agg_db_kind_of(database) == AGG_DB_POSTGRES)
        return false;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *p = strstr(database, keys[i]);
        /* A keyword at the start or after a space: "host=db dbname=x". */
        if (p && (p == database || p[-1] == ' '))
            return true;
    }
    return false;
}

/* Appends n bytes of s to buf at *len, keeping room for the NUL (truncates). */
static void put(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    size_t room = size - 1 - *len;
    if (n > room)
        n = room;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

/* Appends the query string q (after '?', without it) minus its password parameters. */
static void put_query(char *buf, size_t size, size_t *len, const char *q)
{
    bool first = true;
    while (*q) {
        size_t n = strcspn(q, "&");
        bool secret = n >= 9 && memcmp(q, "password=", 9) == 0;
        if (!secret && n > 0) {
            put(buf, size, len, first ? "?" : "&", 1);
            put(buf, size, len, q, n);
            first = false;
        }
        q += n;
        if (*q == '&')
            q++;
    }
}

void agg_db_display(const char *database, char *buf, size_t size)
{
    size_t len = 0, scheme;
    const char *p, *rest, *query;

    if (!buf || !size)
        return;
    buf[0] = '\0';
    if (!database)
        return;
    scheme = scheme_len(database);
    if (!scheme) {
        put(buf, size, &len, database, strlen(database));
        return;
    }
    put(buf, size, &len, database, scheme);
    p = database + scheme;
    rest = p + strcspn(p, "@/");
    if (*rest == '@') {
        /* user[:password]@: keep the user only. */
        size_t user = strcspn(p, ":@");
        put(buf, size, &len, p, user);
        put(buf, size, &len, "@", 1);
        p = rest + 1;
    }
    query = strchr(p, '?');
    put(buf, size, &len, p, query ? (size_t)(query - p) : strlen(p));
    if (query)
        put_query(buf, size, &len, query + 1);
}
