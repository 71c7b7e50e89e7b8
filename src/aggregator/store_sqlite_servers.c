/* SPDX-License-Identifier: MIT */
/* The SQLite backend's servers (with their seed imports and added/removed events), last known
 * unit states, events and service_status rows. Called by store.c with the lock held. */
#include "aggregator/store_sqlite.h"

#include "common/err.h"

#include <stdlib.h>

/* Reads a row of SERVER_COLUMNS into *ret (an agg_sqlite_read_fn). */
static int server_from_row(struct agg_store *st, sqlite3_stmt *s, void *ret, void *ctx)
{
    struct agg_server sv = {0};
    const unsigned char *services;
    int r;

    sv.id = sqlite3_column_int64(s, 0);
    sv.name = agg_sqlite_col_dup(s, 1);
    sv.host = agg_sqlite_col_dup(s, 2);
    sv.port = sqlite3_column_int(s, 3);
    sv.enabled = sqlite3_column_int(s, 4) != 0;
    sv.token = agg_sqlite_col_dup(s, 6);
    sv.last_seen_at = agg_sqlite_col_int64_or(s, 7, -1);
    sv.created_at = sqlite3_column_int64(s, 8);
    sv.last_online = (int)agg_sqlite_col_int64_or(s, 9, -1);
    sv.tls = sqlite3_column_int(s, 10) != 0;
    sv.tls_pin = agg_sqlite_col_dup(s, 11);
    sv.tls_ca_file = agg_sqlite_col_dup(s, 12);
    if (!sv.name || !sv.host || !sv.token || !sv.tls_pin || !sv.tls_ca_file) {
        r = MON_ENOMEM;
        goto out;
    }
    services = sqlite3_column_text(s, 5);
    r = agg_store_services_decode(st, services ? (const char *)services : "[]",
                                  services ? (size_t)sqlite3_column_bytes(s, 5) : 2, &sv);
out:
    if (r < 0) {
        if (r == MON_ENOMEM)
            agg_store_fail(st, r, "out of memory");
        agg_server_done(&sv);
        return r;
    }
    (void)ctx;
    *(struct agg_server *)ret = sv;
    return MON_OK;
}

static void server_free(void *item)
{
    agg_server_done(item);
}

/* Inserts an event inside the caller's transaction (server_id <= 0: none). */
static int event_insert(struct agg_store *st, int64_t server_id, const char *server_name,
                        size_t name_size, int64_t ts, const char *type, const char *message,
                        size_t message_size)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, S_EVENT_ADD, &s);
    if (r < 0)
        return r;
    if (server_id > 0)
        sqlite3_bind_int64(s, 1, server_id);
    else
        sqlite3_bind_null(s, 1);
    agg_sqlite_bind_array(s, 2, server_name, name_size);
    sqlite3_bind_int64(s, 3, ts);
    agg_sqlite_bind_text(s, 4, type);
    agg_sqlite_bind_array(s, 5, message, message_size);
    r = agg_sqlite_step_write(st, s, NULL);
    agg_sqlite_release(s);
    return r;
}

/* ---- servers ---- */

int agg_sqlite_server_list(struct agg_store *st, struct agg_server **ret, size_t *ret_n)
{
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    int r = agg_sqlite_stmt(st, S_SERVER_LIST, &s);
    if (r < 0)
        return r;
    r = agg_sqlite_collect(st, s, sizeof(struct agg_server), server_from_row, NULL, server_free,
                           &list, ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

/* Reads one server with a statement whose ?1 the caller bound. */
static int server_get_one(struct agg_store *st, sqlite3_stmt *s, struct agg_server *ret)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return server_from_row(st, s, ret, NULL);
    if (rc == SQLITE_DONE)
        return agg_store_fail(st, MON_ENOENT, "no such server");
    return agg_sqlite_fail(st, rc);
}

int agg_sqlite_server_get(struct agg_store *st, int64_t id, struct agg_server *ret)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, S_SERVER_GET, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, id);
    r = server_get_one(st, s, ret);
    agg_sqlite_release(s);
    return r;
}

int agg_sqlite_server_get_by_name(struct agg_store *st, const char *name, struct agg_server *ret)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, S_SERVER_GET_BY_NAME, &s);
    if (r < 0)
        return r;
    agg_sqlite_bind_text(s, 1, name);
    r = server_get_one(st, s, ret);
    agg_sqlite_release(s);
    return r;
}

/* Binds ?2..?10 of S_SERVER_INSERT / S_SERVER_UPDATE (the same order in both, shifted by one
 * for insert, where name is ?1). */
static void bind_server_fields(sqlite3_stmt *s, int first, const struct agg_server *in,
                               const char *services_json)
{
    agg_sqlite_bind_text(s, first, in->name);
    agg_sqlite_bind_text(s, first + 1, in->host);
    sqlite3_bind_int(s, first + 2, in->port);
    sqlite3_bind_int(s, first + 3, in->enabled ? 1 : 0);
    agg_sqlite_bind_text(s, first + 4, services_json);
    agg_sqlite_bind_text(s, first + 5, in->token ? in->token : "");
    sqlite3_bind_int(s, first + 6, in->tls ? 1 : 0);
    agg_sqlite_bind_text(s, first + 7, in->tls_pin ? in->tls_pin : "");
    agg_sqlite_bind_text(s, first + 8, in->tls_ca_file ? in->tls_ca_file : "");
}

/* Inserts a server and its server_added event inside the caller's transaction. */
static int server_insert_tx(struct agg_store *st, const struct agg_server *in, int64_t now,
                            int64_t *ret_id)
{
    char *services = NULL;
    char message[sizeof(((struct agg_event *)0)->message)];
    sqlite3_stmt *s = NULL;
    int64_t id;
    int r;

    r = agg_store_server_check(st, in);
    if (r < 0)
        return r;
    r = agg_store_services_encode(st, in, &services);
    if (r < 0)
        return r;
    r = agg_sqlite_stmt(st, S_SERVER_INSERT, &s);
    if (r < 0)
        goto out;
    bind_server_fields(s, 1, in, services);
    sqlite3_bind_int64(s, 10, now);
    r = agg_sqlite_step_write(st, s, NULL);
    if (r == MON_EEXIST)
        agg_store_fail(st, r, "a server named \"%s\" exists", in->name);
    if (r < 0)
        goto out;
    id = sqlite3_last_insert_rowid(agg_sqlite_of(st)->db);
    agg_store_event_text_added(message, sizeof(message), in);
    r = event_insert(st, id, in->name, AGG_NAME_MAX_BYTES + 1, now, "server_added", message,
                     sizeof(message));
    if (r == MON_OK)
        *ret_id = id;
out:
    agg_sqlite_release(s);
    free(services);
    return r;
}

int agg_sqlite_server_insert(struct agg_store *st, const struct agg_server *in, int64_t now,
                             int64_t *ret_id)
{
    int64_t id = 0;
    int r = agg_sqlite_begin(st);
    if (r < 0)
        return r;
    r = server_insert_tx(st, in, now, &id);
    if (r == MON_OK)
        r = agg_sqlite_commit(st);
    if (r < 0) {
        agg_sqlite_rollback(st);
        return r;
    }
    *ret_id = id;
    return MON_OK;
}

/* Runs a cached statement that binds a name (?1) and, when ts >= 0, a time (?2); *ret_row (may
 * be NULL) tells whether it produced a row. */
static int name_step(struct agg_store *st, enum agg_sqlite_stmt id, const char *name, int64_t ts,
                     bool *ret_row)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, id, &s), rc;
    if (r < 0)
        return r;
    agg_sqlite_bind_text(s, 1, name);
    if (ts >= 0)
        sqlite3_bind_int64(s, 2, ts);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        if (ret_row)
            *ret_row = rc == SQLITE_ROW;
        r = MON_OK;
    } else {
        r = agg_sqlite_fail(st, rc);
    }
    agg_sqlite_release(s);
    return r;
}

int agg_sqlite_seed_import(struct agg_store *st, const struct agg_server *seed, int64_t now,
                           bool *ret_imported, int64_t *ret_id)
{
    bool seen = false, exists = false;
    int64_t id = 0;
    int r = agg_sqlite_begin(st);
    if (r < 0)
        return r;
    r = name_step(st, S_SEED_SEEN, seed->name, -1, &seen);
    if (r == MON_OK && !seen)
        r = name_step(st, S_SERVER_NAME_TAKEN, seed->name, -1, &exists);
    if (r == MON_OK && !seen && !exists)
        r = server_insert_tx(st, seed, now, &id);
    if (r == MON_OK && !seen)
        r = name_step(st, S_SEED_RECORD, seed->name, now, NULL);
    if (r == MON_OK)
        r = agg_sqlite_commit(st);
    if (r < 0) {
        agg_sqlite_rollback(st);
        return r;
    }
    *ret_imported = !seen && !exists;
    *ret_id = id;
    return MON_OK;
}

int agg_sqlite_server_update(struct agg_store *st, const struct agg_server *in)
{
    char *services = NULL;
    sqlite3_stmt *s = NULL;
    int r, changes = 0;

    r = agg_store_server_check(st, in);
    if (r < 0)
        return r;
    r = agg_store_services_encode(st, in, &services);
    if (r < 0)
        return r;
    r = agg_sqlite_stmt(st, S_SERVER_UPDATE, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, in->id);
    bind_server_fields(s, 2, in, services);
    r = agg_sqlite_step_write(st, s, &changes);
    if (r == MON_EEXIST)
        agg_store_fail(st, r, "a server named \"%s\" exists", in->name);
    if (r == MON_OK && changes == 0)
        r = agg_store_fail(st, MON_ENOENT, "no server with id %lld", (long long)in->id);
out:
    agg_sqlite_release(s);
    free(services);
    return r;
}

int agg_sqlite_server_set_pin(struct agg_store *st, int64_t id, const char *pin, bool *ret_set)
{
    sqlite3_stmt *s = NULL;
    int changes = 0;
    int r = agg_sqlite_stmt(st, S_SERVER_SET_PIN, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, id);
    agg_sqlite_bind_text(s, 2, pin);
    r = agg_sqlite_step_write(st, s, &changes);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret_set = changes > 0;
    return r;
}

int agg_sqlite_server_delete(struct agg_store *st, int64_t id, int64_t now)
{
    char name[AGG_NAME_MAX_BYTES + 1];
    char message[sizeof(((struct agg_event *)0)->message)];
    sqlite3_stmt *s = NULL;
    int r, rc;

    r = agg_sqlite_begin(st);
    if (r < 0)
        return r;
    r = agg_sqlite_stmt(st, S_SERVER_NAME, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        r = agg_store_fail(st, MON_ENOENT, "no server with id %lld", (long long)id);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = agg_sqlite_fail(st, rc);
        goto out;
    }
    agg_sqlite_col_copy(s, 0, name, sizeof(name));
    agg_sqlite_release(s);
    r = agg_sqlite_stmt(st, S_SERVER_DELETE, &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    r = agg_sqlite_step_write(st, s, NULL);
    if (r < 0)
        goto out;
    agg_store_event_text_removed(message, sizeof(message), name);
    r = event_insert(st, -1, name, sizeof(name), now, "server_removed", message, sizeof(message));
    if (r < 0)
        goto out;
    r = agg_sqlite_commit(st);
out:
    agg_sqlite_release(s);
    if (r < 0)
        agg_sqlite_rollback(st);
    return r;
}

/* Runs a bound write that touches no row when the server does not exist (any more). */
static int write_for_server(struct agg_store *st, sqlite3_stmt *s, int64_t server_id)
{
    int changes = 0;
    int r = agg_sqlite_step_write(st, s, &changes);
    if (r == MON_OK && changes == 0)
        r = agg_store_fail(st, MON_ENOENT, "no server with id %lld", (long long)server_id);
    return r;
}

int agg_sqlite_server_seen(struct agg_store *st, int64_t id, int64_t last_seen_at, int online)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, S_SERVER_SEEN, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, last_seen_at);
    sqlite3_bind_int(s, 3, online);
    r = write_for_server(st, s, id);
    agg_sqlite_release(s);
    return r;
}

/* ---- unit states ---- */

static int unit_from_row(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx)
{
    struct agg_unit_state *u = item;
    (void)st;
    (void)ctx;
    agg_sqlite_col_copy(s, 0, u->name, sizeof(u->name));
    agg_sqlite_col_copy(s, 1, u->active_state, sizeof(u->active_state));
    agg_sqlite_col_copy(s, 2, u->sub_state, sizeof(u->sub_state));
    u->since = agg_sqlite_col_int64_or(s, 3, -1);
    return MON_OK;
}

int agg_sqlite_unit_states_load(struct agg_store *st, int64_t server_id,
                                struct agg_unit_state **ret, size_t *ret_n)
{
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    int r = agg_sqlite_stmt(st, S_UNIT_LOAD, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, server_id);
    r = agg_sqlite_collect(st, s, sizeof(struct agg_unit_state), unit_from_row, NULL, NULL, &list,
                           ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_sqlite_unit_state_save(struct agg_store *st, int64_t server_id,
                               const struct agg_unit_state *u)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, S_UNIT_SAVE, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, server_id);
    agg_sqlite_bind_array(s, 2, u->name, sizeof(u->name));
    agg_sqlite_bind_array(s, 3, u->active_state, sizeof(u->active_state));
    agg_sqlite_bind_array(s, 4, u->sub_state, sizeof(u->sub_state));
    if (u->since >= 0)
        sqlite3_bind_int64(s, 5, u->since);
    else
        sqlite3_bind_null(s, 5);
    r = write_for_server(st, s, server_id);
    agg_sqlite_release(s);
    return r;
}

/* ---- events ---- */

int agg_sqlite_event_add(struct agg_store *st, const struct agg_event *ev)
{
    return event_insert(st, ev->server_id, ev->server_name, sizeof(ev->server_name), ev->ts,
                        ev->type, ev->message, sizeof(ev->message));
}

static int event_from_row(struct agg_store *st, sqlite3_stmt *s, void *item, void *ctx)
{
    struct agg_event *e = item;
    (void)st;
    (void)ctx;
    e->id = sqlite3_column_int64(s, 0);
    e->server_id = agg_sqlite_col_int64_or(s, 1, -1);
    agg_sqlite_col_copy(s, 2, e->server_name, sizeof(e->server_name));
    e->ts = sqlite3_column_int64(s, 3);
    agg_sqlite_col_copy(s, 4, e->type, sizeof(e->type));
    agg_sqlite_col_copy(s, 5, e->message, sizeof(e->message));
    return MON_OK;
}

int agg_sqlite_events_query(struct agg_store *st, int64_t server_id, const char *type,
                            int64_t before_id, int limit, struct agg_event **ret, size_t *ret_n)
{
    sqlite3_stmt *s = NULL;
    void *list = NULL;
    int r = agg_sqlite_stmt(st, server_id > 0 ? S_EVENTS_SERVER : S_EVENTS_ALL, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, before_id > 0 ? before_id : INT64_MAX);
    agg_sqlite_bind_text(s, 2, type);
    sqlite3_bind_int(s, 3, limit);
    if (server_id > 0)
        sqlite3_bind_int64(s, 4, server_id);
    r = agg_sqlite_collect(st, s, sizeof(struct agg_event), event_from_row, NULL, NULL, &list,
                           ret_n);
    agg_sqlite_release(s);
    if (r == MON_OK)
        *ret = list;
    return r;
}

/* ---- service status ---- */

int agg_sqlite_service_status_add(struct agg_store *st, int64_t server_id, int64_t ts,
                                  const char *unit, const char *active_state, const char *sub_state)
{
    sqlite3_stmt *s = NULL;
    int r = agg_sqlite_stmt(st, S_STATUS_ADD, &s);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, server_id);
    sqlite3_bind_int64(s, 2, ts);
    agg_sqlite_bind_text(s, 3, unit);
    agg_sqlite_bind_text(s, 4, active_state);
    agg_sqlite_bind_text(s, 5, sub_state);
    r = write_for_server(st, s, server_id);
    agg_sqlite_release(s);
    return r;
}
