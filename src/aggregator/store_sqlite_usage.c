/* SPDX-License-Identifier: MIT */
/* The SQLite backend's GPU usage tables (issue 15): checkpoint upserts that keep each day's row
 * equal to the sum of its hours, an hour's rows for resuming, range sums, timeseries and
 * retention. Called by store_usage.c with the lock held. */
#include "aggregator/store_sqlite.h"

#include "common/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The hour's stored sums (zero when there is no row yet). */
struct usage_old {
    double gpu_s, busy_s, mem_s;
    int64_t processes;
};

static int read_old(struct agg_store *st, const struct agg_usage_row *u, struct usage_old *ret)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, S_USAGE_OLD, &s), rc;
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, u->ts);
    sqlite3_bind_int64(s, 2, u->server_id);
    agg_sqlite_bind_array(s, 3, u->user, sizeof(u->user));
    memset(ret, 0, sizeof(*ret));
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        ret->gpu_s = sqlite3_column_double(s, 0);
        ret->busy_s = sqlite3_column_double(s, 1);
        ret->mem_s = sqlite3_column_double(s, 2);
        ret->processes = sqlite3_column_int64(s, 3);
    } else if (rc != SQLITE_DONE) {
        r = agg_sqlite_fail(st, rc);
    }
    agg_sqlite_release(s);
    return r;
}

/* Binds a usage row's columns 1..11 with the given key time and sums. */
static void bind_row(sqlite3_stmt *s, int64_t key, const struct agg_usage_row *u, double gpu_s,
                     double busy_s, double mem_s, int64_t processes)
{
    sqlite3_bind_int64(s, 1, key);
    sqlite3_bind_int64(s, 2, u->server_id);
    agg_sqlite_bind_array(s, 3, u->server_name, sizeof(u->server_name));
    agg_sqlite_bind_array(s, 4, u->user, sizeof(u->user));
    sqlite3_bind_double(s, 5, gpu_s);
    sqlite3_bind_double(s, 6, busy_s);
    sqlite3_bind_double(s, 7, mem_s);
    sqlite3_bind_int64(s, 8, u->max_gpus);
    sqlite3_bind_int64(s, 9, processes);
    sqlite3_bind_int64(s, 10, u->first_seen);
    sqlite3_bind_int64(s, 11, u->last_seen);
}

/* Moves the user's row of the hour or day (over all servers) by the hour's differences. */
static int upsert_user(struct agg_store *st, enum agg_sqlite_stmt id, int64_t key,
                       const struct agg_usage_row *u, const struct usage_old *old)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, id, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, key);
    agg_sqlite_bind_array(s, 2, u->user, sizeof(u->user));
    sqlite3_bind_double(s, 3, u->gpu_seconds - old->gpu_s);
    sqlite3_bind_double(s, 4, u->busy_gpu_seconds - old->busy_s);
    sqlite3_bind_double(s, 5, u->mem_mb_seconds - old->mem_s);
    sqlite3_bind_int64(s, 6, u->max_gpus);
    sqlite3_bind_int64(s, 7, u->processes - old->processes);
    sqlite3_bind_int64(s, 8, u->first_seen);
    sqlite3_bind_int64(s, 9, u->last_seen);
    r = agg_sqlite_step_write(st, s, NULL);
    agg_sqlite_release(s);
    return r;
}

static int upsert_one(struct agg_store *st, const struct agg_usage_row *u)
{
    struct usage_old old;
    sqlite3_stmt *s = NULL;
    int64_t day = u->ts - u->ts % AGG_USAGE_DAY_S;
    int r = read_old(st, u, &old);

    if (r >= 0)
        r = upsert_user(st, S_USAGE_USER_HOUR_UPSERT, u->ts, u, &old);
    if (r >= 0)
        r = upsert_user(st, S_USAGE_USER_DAY_UPSERT, day, u, &old);

    if (r >= 0)
        r = agg_sqlite_stmt(st, S_USAGE_DAY_UPSERT, &s);
    if (r < 0)
        return r;
    bind_row(s, day, u, u->gpu_seconds - old.gpu_s, u->busy_gpu_seconds - old.busy_s,
             u->mem_mb_seconds - old.mem_s, u->processes - old.processes);
    r = agg_sqlite_step_write(st, s, NULL);
    agg_sqlite_release(s);
    if (r < 0)
        return r;
    r = agg_sqlite_stmt(st, S_USAGE_HOUR_UPSERT, &s);
    if (r < 0)
        return r;
    bind_row(s, u->ts, u, u->gpu_seconds, u->busy_gpu_seconds, u->mem_mb_seconds, u->processes);
    r = agg_sqlite_step_write(st, s, NULL);
    agg_sqlite_release(s);
    return r;
}

int agg_sqlite_usage_upsert(struct agg_store *st, const struct agg_usage_row *rows, size_t n)
{
    int r = agg_sqlite_begin(st);
    if (r < 0)
        return r;
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = upsert_one(st, &rows[i]);
    if (r >= 0)
        r = agg_sqlite_commit(st);
    if (r < 0)
        agg_sqlite_rollback(st);
    return r;
}

/* Columns: ts, server_id, server_name, user_name, the three sums, max_gpus, processes,
 * first_seen, last_seen. */
static int usage_from_row(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx)
{
    struct agg_usage_row *u = item;
    (void)st;
    (void)ctx;
    u->ts = sqlite3_column_int64(s, 0);
    u->server_id = sqlite3_column_int64(s, 1);
    agg_sqlite_col_copy(s, 2, u->server_name, sizeof(u->server_name));
    agg_sqlite_col_copy(s, 3, u->user, sizeof(u->user));
    u->gpu_seconds = sqlite3_column_double(s, 4);
    u->busy_gpu_seconds = sqlite3_column_double(s, 5);
    u->mem_mb_seconds = sqlite3_column_double(s, 6);
    u->max_gpus = sqlite3_column_int64(s, 7);
    u->processes = sqlite3_column_int64(s, 8);
    u->first_seen = sqlite3_column_int64(s, 9);
    u->last_seen = sqlite3_column_int64(s, 10);
    return MON_OK;
}

int agg_sqlite_usage_hour_get(struct agg_store *st, int64_t server_id, int64_t ts,
                              struct agg_usage_row **ret, size_t *ret_n)
{
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    int r = agg_sqlite_stmt(st, server_id > 0 ? S_USAGE_HOUR_GET : S_USAGE_HOURS_SINCE, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, ts);
    r = agg_sqlite_collect(st, s, sizeof(struct agg_usage_row), usage_from_row, NULL, NULL, &list,
                           ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

/* ---- range sums per server and user ----
 * Summed here rather than by SQL's GROUP BY: SQLite sorted every row of the range in a
 * temporary B-tree (at 30 days x 100 servers x 50 users, ~40,000 rows, 80-90 % of the
 * request). The rows are read in index order and added up in a hash table. */

struct usage_sums {
    struct agg_usage_row *rows;
    size_t n, cap;
    uint32_t *slots; /* index into rows + 1; 0: empty */
    size_t n_slots;  /* a power of two, at least twice n */
    uint32_t *next;  /* per row: the row (+ 1) that came after it the last time; 0: none */
    uint32_t prev;   /* the row (+ 1) of the previous statement row; 0: none */
};

static bool key_is(const struct agg_usage_row *r, int64_t server_id, const unsigned char *user,
                   size_t len)
{
    return r->server_id == server_id && strncmp(r->user, (const char *)user, len) == 0 &&
           r->user[len] == '\0';
}

static uint64_t key_hash(int64_t server_id, const unsigned char *user, size_t len)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)server_id * 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ user[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static int sums_grow(struct usage_sums *u)
{
    size_t n_slots = u->n_slots ? u->n_slots * 2 : 1024;
    uint32_t *slots = calloc(n_slots, sizeof(*slots));
    if (!slots || n_slots > UINT32_MAX) {
        free(slots);
        return MON_ENOMEM;
    }
    for (size_t i = 0; i < u->n; i++) {
        const struct agg_usage_row *r = &u->rows[i];
        size_t at =
            key_hash(r->server_id, (const unsigned char *)r->user, strlen(r->user)) & (n_slots - 1);
        while (slots[at])
            at = (at + 1) & (n_slots - 1);
        slots[at] = (uint32_t)i + 1;
    }
    free(u->slots);
    u->slots = slots;
    u->n_slots = n_slots;
    return MON_OK;
}

/* The row of (server_id, user) in the hash table (len < AGG_USAGE_USER_MAX), added when new
 * (sums zero, first/last seen -1); NULL when out of memory. */
static struct agg_usage_row *sums_slot(struct usage_sums *u, int64_t server_id,
                                       const unsigned char *user, size_t len)
{
    size_t at;
    struct agg_usage_row *r;
    if ((u->n + 1) * 2 > u->n_slots && sums_grow(u) < 0)
        return NULL;
    at = key_hash(server_id, user, len) & (u->n_slots - 1);
    for (; u->slots[at]; at = (at + 1) & (u->n_slots - 1)) {
        r = &u->rows[u->slots[at] - 1];
        if (key_is(r, server_id, user, len))
            return r;
    }
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 256;
        struct agg_usage_row *grown = realloc(u->rows, cap * sizeof(*grown));
        uint32_t *next;
        if (!grown)
            return NULL;
        u->rows = grown;
        next = realloc(u->next, cap * sizeof(*next));
        if (!next)
            return NULL;
        u->next = next;
        u->cap = cap;
    }
    u->next[u->n] = 0;
    r = &u->rows[u->n];
    memset(r, 0, sizeof(*r));
    r->server_id = server_id;
    memcpy(r->user, user, len);
    r->first_seen = r->last_seen = -1;
    u->slots[at] = (uint32_t)++u->n;
    return r;
}

/* The row of (server_id, user), as sums_slot. First the row that followed the previous one
 * the last time: the hours of a day, and the days of a steady lab, repeat the same keys in the
 * same order, which then cost one comparison instead of a hash lookup (~1/5 of the 30-day
 * request went to the lookups, bench/usage). */
static struct agg_usage_row *sums_find(struct usage_sums *u, int64_t server_id,
                                       const unsigned char *user, size_t len)
{
    struct agg_usage_row *r;
    uint32_t guess = u->prev ? u->next[u->prev - 1] : 0, at;
    if (len >= AGG_USAGE_USER_MAX)
        len = AGG_USAGE_USER_MAX - 1; /* as agg_sqlite_col_copy cuts it */
    if (guess && key_is(&u->rows[guess - 1], server_id, user, len)) {
        u->prev = guess;
        return &u->rows[guess - 1];
    }
    r = sums_slot(u, server_id, user, len);
    if (!r)
        return NULL;
    at = (uint32_t)(r - u->rows) + 1;
    if (u->prev)
        u->next[u->prev - 1] = at;
    u->prev = at;
    return r;
}

/* Adds the rows of one statement (columns of S_USAGE_RANGE_*). The server name kept is the
 * greatest the rows carry (as max(server_name) did). */
static int sums_add(struct agg_store *st, sqlite3_stmt *s, struct usage_sums *u)
{
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *user = sqlite3_column_text(s, 2);
        const unsigned char *name = sqlite3_column_text(s, 1);
        size_t len = (size_t)sqlite3_column_bytes(s, 2);
        struct agg_usage_row *r = sums_find(
            u, sqlite3_column_int64(s, 0), user ? user : (const unsigned char *)"", user ? len : 0);
        int64_t v;
        if (!r)
            return MON_ENOMEM;
        if (name && strcmp((const char *)name, r->server_name) > 0)
            agg_sqlite_col_copy(s, 1, r->server_name, sizeof(r->server_name));
        r->gpu_seconds += sqlite3_column_double(s, 3);
        r->busy_gpu_seconds += sqlite3_column_double(s, 4);
        r->mem_mb_seconds += sqlite3_column_double(s, 5);
        v = sqlite3_column_int64(s, 6);
        if (v > r->max_gpus)
            r->max_gpus = v;
        r->processes += sqlite3_column_int64(s, 7);
        v = sqlite3_column_int64(s, 8);
        if (r->first_seen < 0 || v < r->first_seen)
            r->first_seen = v;
        v = sqlite3_column_int64(s, 9);
        if (v > r->last_seen)
            r->last_seen = v;
    }
    return rc == SQLITE_DONE ? MON_OK : agg_sqlite_fail(st, rc);
}

static int range_add(struct agg_store *st, enum agg_sqlite_stmt id, int64_t from, int64_t to,
                     int64_t server_id, const char *user, struct usage_sums *u)
{
    sqlite3_stmt *s = NULL;
    int r;
    if (from >= to)
        return MON_OK;
    r = agg_sqlite_stmt(st, id, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    sqlite3_bind_int64(s, 3, server_id > 0 ? server_id : 0);
    agg_sqlite_bind_text(s, 4, user);
    r = sums_add(st, s, u);
    agg_sqlite_release(s);
    return r;
}

static int query_per_server(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                            const char *user, struct agg_usage_row **ret, size_t *ret_n)
{
    struct usage_sums u = {0};
    int64_t d0, d1;
    int r;
    agg_store_usage_days(from, to, &d0, &d1);
    r = range_add(st, S_USAGE_RANGE_DAILY, d0, d1, server_id, user, &u);
    if (r >= 0)
        r = range_add(st, S_USAGE_RANGE_HOURLY, from, d0, server_id, user, &u);
    if (r >= 0)
        r = range_add(st, S_USAGE_RANGE_HOURLY, d1 > from ? d1 : from, to, server_id, user, &u);
    free(u.slots);
    free(u.next);
    if (r < 0) {
        free(u.rows);
        return r;
    }
    if (u.n)
        agg_store_usage_sort(u.rows, u.n);
    else {
        free(u.rows);
        u.rows = NULL;
    }
    *ret = u.rows;
    *ret_n = u.n;
    return MON_OK;
}

int agg_sqlite_usage_query(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                           const char *user, bool per_server, struct agg_usage_row **ret,
                           size_t *ret_n)
{
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    int64_t d0, d1;
    int r;
    if (per_server)
        return query_per_server(st, from, to, server_id, user, ret, ret_n);
    r = agg_sqlite_stmt(st, S_USAGE_QUERY_USERS, &s);
    if (r < 0)
        return r;
    agg_store_usage_days(from, to, &d0, &d1);
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    sqlite3_bind_int64(s, 3, d0);
    sqlite3_bind_int64(s, 4, d1);
    sqlite3_bind_int64(s, 5, 0);
    agg_sqlite_bind_text(s, 6, user);
    r = agg_sqlite_collect(st, s, sizeof(struct agg_usage_row), usage_from_row, NULL, NULL, &list,
                           ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

static int point_from_row(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx)
{
    struct agg_usage_point *p = item;
    (void)st;
    (void)ctx;
    p->ts = sqlite3_column_int64(s, 0);
    p->gpu_seconds = sqlite3_column_double(s, 1);
    p->busy_gpu_seconds = sqlite3_column_double(s, 2);
    p->mem_mb_seconds = sqlite3_column_double(s, 3);
    return MON_OK;
}

int agg_sqlite_usage_timeseries(struct agg_store *st, int64_t from, int64_t to, int64_t server_id,
                                const char *user, int64_t bucket_s, int64_t offset_s,
                                struct agg_usage_point **ret, size_t *ret_n)
{
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    int r = agg_sqlite_stmt(st, server_id > 0 ? S_USAGE_SERIES : S_USAGE_SERIES_USERS, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    sqlite3_bind_int64(s, 3, bucket_s);
    sqlite3_bind_int64(s, 4, offset_s);
    sqlite3_bind_int64(s, 5, server_id > 0 ? server_id : 0);
    agg_sqlite_bind_text(s, 6, user);
    r = agg_sqlite_collect(st, s, sizeof(struct agg_usage_point), point_from_row, NULL, NULL, &list,
                           ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_sqlite_usage_retention(struct agg_store *st, int64_t cutoff, int64_t *ret_deleted)
{
    static const enum agg_sqlite_stmt deletes[] = {S_RET_USAGE_HOURLY, S_RET_USAGE_DAILY,
                                                   S_RET_USAGE_USER_HOURLY, S_RET_USAGE_USER_DAILY};
    int64_t total = 0;
    int r = agg_sqlite_begin(st);
    if (r < 0)
        return r;
    for (size_t i = 0; r >= 0 && i < sizeof(deletes) / sizeof(deletes[0]); i++) {
        sqlite3_stmt *s = NULL;
        int changes = 0;
        r = agg_sqlite_stmt(st, deletes[i], &s);
        if (r < 0)
            break;
        sqlite3_bind_int64(s, 1, cutoff);
        r = agg_sqlite_step_write(st, s, &changes);
        agg_sqlite_release(s);
        total += changes;
    }
    if (r >= 0)
        r = agg_sqlite_commit(st);
    if (r < 0) {
        agg_sqlite_rollback(st);
        return r;
    }
    *ret_deleted = total;
    return MON_OK;
}
