/* SPDX-License-Identifier: MIT */
/* The PostgreSQL backend's servers (with their seed imports and added/removed events), last
 * known unit states, events and service_status rows. Called by store.c with the lock held;
 * each op is retried once on a new connection when the server had ended the old one. */
#include "aggregator/store_pg.h"

#include "common/err.h"

#include <stdlib.h>
#include <string.h>

/* Reads a row of SERVER_COLUMNS (an agg_pg_read_fn). */
static int server_from_row(struct agg_store *st, const PGresult *res, int row, void *ret, void *ctx)
{
    struct agg_server sv = {0};
    const char *services;
    int r;

    (void)ctx;
    sv.id = agg_pg_int64_or(res, row, 0, 0);
    sv.name = agg_pg_dup_text(res, row, 1);
    sv.host = agg_pg_dup_text(res, row, 2);
    sv.port = (int)agg_pg_int64_or(res, row, 3, 0);
    sv.enabled = agg_pg_int64_or(res, row, 4, 0) != 0;
    sv.token = agg_pg_dup_text(res, row, 6);
    sv.last_seen_at = agg_pg_int64_or(res, row, 7, -1);
    sv.created_at = agg_pg_int64_or(res, row, 8, 0);
    sv.last_online = (int)agg_pg_int64_or(res, row, 9, -1);
    sv.tls = agg_pg_int64_or(res, row, 10, 0) != 0;
    sv.tls_pin = agg_pg_dup_text(res, row, 11);
    sv.tls_ca_file = agg_pg_dup_text(res, row, 12);
    if (!sv.name || !sv.host || !sv.token || !sv.tls_pin || !sv.tls_ca_file) {
        r = agg_store_fail(st, MON_ENOMEM, "out of memory");
        goto out;
    }
    services = PQgetisnull(res, row, 5) ? "[]" : PQgetvalue(res, row, 5);
    r = agg_store_services_decode(st, services, strlen(services), &sv);
    if (r == MON_ENOMEM)
        agg_store_fail(st, r, "out of memory");
out:
    if (r < 0) {
        agg_server_done(&sv);
        return r;
    }
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
    struct agg_pg_params p = {0};
    int r;
    if (server_id > 0)
        agg_pg_param_int(&p, server_id);
    else
        agg_pg_param_text(&p, NULL);
    agg_pg_param_array(&p, server_name, name_size, false);
    agg_pg_param_int(&p, ts);
    agg_pg_param_text(&p, type);
    agg_pg_param_array(&p, message, message_size, false);
    r = agg_pg_exec(st, P_EVENT_ADD, &p, NULL);
    agg_pg_params_done(&p);
    return r;
}

/* ---- servers ---- */

static int server_list_once(struct agg_store *st, struct agg_server **ret, size_t *ret_n)
{
    PGresult *res = NULL;
    void *list = NULL;
    int r = agg_pg_exec(st, P_SERVER_LIST, NULL, &res);
    if (r < 0)
        return r;
    r = agg_pg_collect(st, res, sizeof(struct agg_server), server_from_row, NULL, server_free,
                       &list, ret_n);
    PQclear(res);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_pg_server_list(struct agg_store *st, struct agg_server **ret, size_t *ret_n)
{
    AGG_PG_RETRY(st, server_list_once(st, ret, ret_n));
}

/* Reads the one server a statement with parameter p selects. */
static int server_get_one(struct agg_store *st, enum agg_pg_stmt id, const struct agg_pg_params *p,
                          struct agg_server *ret)
{
    PGresult *res = NULL;
    int r = agg_pg_exec(st, id, p, &res);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0)
        r = agg_store_fail(st, MON_ENOENT, "no such server");
    else
        r = server_from_row(st, res, 0, ret, NULL);
    PQclear(res);
    return r;
}

static int server_get_once(struct agg_store *st, int64_t id, struct agg_server *ret)
{
    struct agg_pg_params p = {0};
    agg_pg_param_int(&p, id);
    return server_get_one(st, P_SERVER_GET, &p, ret);
}

int agg_pg_server_get(struct agg_store *st, int64_t id, struct agg_server *ret)
{
    AGG_PG_RETRY(st, server_get_once(st, id, ret));
}

static int server_get_by_name_once(struct agg_store *st, const char *name, struct agg_server *ret)
{
    struct agg_pg_params p = {0};
    int r;
    agg_pg_param_text(&p, name);
    r = server_get_one(st, P_SERVER_GET_BY_NAME, &p, ret);
    agg_pg_params_done(&p);
    return r;
}

int agg_pg_server_get_by_name(struct agg_store *st, const char *name, struct agg_server *ret)
{
    AGG_PG_RETRY(st, server_get_by_name_once(st, name, ret));
}

/* Adds name, host, port, enabled, services, token and the TLS settings (the order of both
 * statements). */
static void server_fields(struct agg_pg_params *p, const struct agg_server *in,
                          const char *services_json)
{
    agg_pg_param_text(p, in->name);
    agg_pg_param_text(p, in->host);
    agg_pg_param_int(p, in->port);
    agg_pg_param_int(p, in->enabled ? 1 : 0);
    agg_pg_param_text(p, services_json);
    agg_pg_param_text(p, in->token ? in->token : "");
    agg_pg_param_int(p, in->tls ? 1 : 0);
    agg_pg_param_text(p, in->tls_pin ? in->tls_pin : "");
    agg_pg_param_text(p, in->tls_ca_file ? in->tls_ca_file : "");
}

/* Inserts a server and its server_added event inside the caller's transaction. */
static int server_insert_tx(struct agg_store *st, const struct agg_server *in, int64_t now,
                            int64_t *ret_id)
{
    char message[sizeof(((struct agg_event *)0)->message)];
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    char *services = NULL;
    int64_t id;
    int r;

    r = agg_store_server_check(st, in);
    if (r < 0)
        return r;
    r = agg_store_services_encode(st, in, &services);
    if (r < 0)
        return r;
    server_fields(&p, in, services);
    agg_pg_param_int(&p, now);
    r = agg_pg_exec(st, P_SERVER_INSERT, &p, &res);
    agg_pg_params_done(&p);
    free(services);
    if (r == MON_EEXIST)
        agg_store_fail(st, r, "a server named \"%s\" exists", in->name);
    if (r < 0)
        return r;
    id = agg_pg_int64_or(res, 0, 0, 0);
    PQclear(res);
    agg_store_event_text_added(message, sizeof(message), in);
    r = event_insert(st, id, in->name, AGG_NAME_MAX + 1, now, "server_added", message,
                     sizeof(message));
    if (r == MON_OK)
        *ret_id = id;
    return r;
}

static int server_insert_once(struct agg_store *st, const struct agg_server *in, int64_t now,
                              int64_t *ret_id)
{
    int64_t id = 0;
    int r = agg_pg_begin(st);
    if (r < 0)
        return r;
    r = server_insert_tx(st, in, now, &id);
    if (r == MON_OK)
        r = agg_pg_commit(st);
    if (r < 0) {
        agg_pg_rollback(st);
        return r;
    }
    *ret_id = id;
    return MON_OK;
}

int agg_pg_server_insert(struct agg_store *st, const struct agg_server *in, int64_t now,
                         int64_t *ret_id)
{
    AGG_PG_RETRY(st, server_insert_once(st, in, now, ret_id));
}

/* Runs a statement that binds a name ($1) and, when ts >= 0, a time ($2); *ret_row (may be
 * NULL) tells whether it produced a row. */
static int name_step(struct agg_store *st, enum agg_pg_stmt id, const char *name, int64_t ts,
                     bool *ret_row)
{
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    int r;
    agg_pg_param_text(&p, name);
    if (ts >= 0)
        agg_pg_param_int(&p, ts);
    r = agg_pg_exec(st, id, &p, &res);
    agg_pg_params_done(&p);
    if (r < 0)
        return r;
    if (ret_row)
        *ret_row = PQntuples(res) > 0;
    PQclear(res);
    return MON_OK;
}

static int seed_import_once(struct agg_store *st, const struct agg_server *seed, int64_t now,
                            bool *ret_imported, int64_t *ret_id)
{
    bool seen = false, exists = false;
    int64_t id = 0;
    int r = agg_pg_begin(st);
    if (r < 0)
        return r;
    r = name_step(st, P_SEED_SEEN, seed->name, -1, &seen);
    if (r == MON_OK && !seen)
        r = name_step(st, P_SERVER_NAME_TAKEN, seed->name, -1, &exists);
    if (r == MON_OK && !seen && !exists)
        r = server_insert_tx(st, seed, now, &id);
    if (r == MON_OK && !seen)
        r = name_step(st, P_SEED_RECORD, seed->name, now, NULL);
    if (r == MON_OK)
        r = agg_pg_commit(st);
    if (r < 0) {
        agg_pg_rollback(st);
        return r;
    }
    *ret_imported = !seen && !exists;
    *ret_id = id;
    return MON_OK;
}

int agg_pg_seed_import(struct agg_store *st, const struct agg_server *seed, int64_t now,
                       bool *ret_imported, int64_t *ret_id)
{
    AGG_PG_RETRY(st, seed_import_once(st, seed, now, ret_imported, ret_id));
}

/* Runs a write that touches no row when the server does not exist (any more). */
int agg_pg_write_for_server(struct agg_store *st, enum agg_pg_stmt id,
                            const struct agg_pg_params *p, int64_t server_id)
{
    PGresult *res = NULL;
    int r = agg_pg_exec(st, id, p, &res);
    if (r < 0)
        return r;
    if (agg_pg_changes(res) == 0)
        r = agg_store_fail(st, MON_ENOENT, "no server with id %lld", (long long)server_id);
    PQclear(res);
    return r;
}

static int server_update_once(struct agg_store *st, const struct agg_server *in)
{
    struct agg_pg_params p = {0};
    char *services = NULL;
    int r;

    r = agg_store_server_check(st, in);
    if (r < 0)
        return r;
    r = agg_store_services_encode(st, in, &services);
    if (r < 0)
        return r;
    agg_pg_param_int(&p, in->id);
    server_fields(&p, in, services);
    r = agg_pg_write_for_server(st, P_SERVER_UPDATE, &p, in->id);
    agg_pg_params_done(&p);
    free(services);
    if (r == MON_EEXIST)
        agg_store_fail(st, r, "a server named \"%s\" exists", in->name);
    return r;
}

int agg_pg_server_update(struct agg_store *st, const struct agg_server *in)
{
    AGG_PG_RETRY(st, server_update_once(st, in));
}

static int server_delete_once(struct agg_store *st, int64_t id, int64_t now)
{
    char name[AGG_NAME_MAX + 1];
    char message[sizeof(((struct agg_event *)0)->message)];
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    int r;

    agg_pg_param_int(&p, id);
    r = agg_pg_begin(st);
    if (r < 0)
        return r;
    r = agg_pg_exec(st, P_SERVER_NAME, &p, &res);
    if (r < 0)
        goto out;
    if (PQntuples(res) == 0) {
        PQclear(res);
        r = agg_store_fail(st, MON_ENOENT, "no server with id %lld", (long long)id);
        goto out;
    }
    agg_pg_copy_text(res, 0, 0, name, sizeof(name));
    PQclear(res);
    r = agg_pg_exec(st, P_SERVER_DELETE, &p, NULL);
    if (r < 0)
        goto out;
    agg_store_event_text_removed(message, sizeof(message), name);
    r = event_insert(st, -1, name, sizeof(name), now, "server_removed", message, sizeof(message));
    if (r == MON_OK)
        r = agg_pg_commit(st);
out:
    if (r < 0)
        agg_pg_rollback(st);
    return r;
}

int agg_pg_server_delete(struct agg_store *st, int64_t id, int64_t now)
{
    AGG_PG_RETRY(st, server_delete_once(st, id, now));
}

static int server_set_pin_once(struct agg_store *st, int64_t id, const char *pin, bool *ret_set)
{
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    int r;
    agg_pg_param_int(&p, id);
    agg_pg_param_text(&p, pin);
    r = agg_pg_exec(st, P_SERVER_SET_PIN, &p, &res);
    agg_pg_params_done(&p);
    if (r == MON_OK)
        *ret_set = agg_pg_changes(res) > 0;
    PQclear(res);
    return r;
}

int agg_pg_server_set_pin(struct agg_store *st, int64_t id, const char *pin, bool *ret_set)
{
    AGG_PG_RETRY(st, server_set_pin_once(st, id, pin, ret_set));
}

static int server_seen_once(struct agg_store *st, int64_t id, int64_t last_seen_at, int online)
{
    struct agg_pg_params p = {0};
    agg_pg_param_int(&p, id);
    agg_pg_param_int(&p, last_seen_at);
    agg_pg_param_int(&p, online);
    return agg_pg_write_for_server(st, P_SERVER_SEEN, &p, id);
}

int agg_pg_server_seen(struct agg_store *st, int64_t id, int64_t last_seen_at, int online)
{
    AGG_PG_RETRY(st, server_seen_once(st, id, last_seen_at, online));
}

/* ---- unit states ---- */

static int unit_from_row(struct agg_store *st, const PGresult *res, int row, void *item, void *ctx)
{
    struct agg_unit_state *u = item;
    (void)st;
    (void)ctx;
    agg_pg_copy_text(res, row, 0, u->name, sizeof(u->name));
    agg_pg_copy_text(res, row, 1, u->active_state, sizeof(u->active_state));
    agg_pg_copy_text(res, row, 2, u->sub_state, sizeof(u->sub_state));
    u->since = agg_pg_int64_or(res, row, 3, -1);
    return MON_OK;
}

static int unit_states_load_once(struct agg_store *st, int64_t server_id,
                                 struct agg_unit_state **ret, size_t *ret_n)
{
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    void *list = NULL;
    int r;
    agg_pg_param_int(&p, server_id);
    r = agg_pg_exec(st, P_UNIT_LOAD, &p, &res);
    if (r < 0)
        return r;
    r = agg_pg_collect(st, res, sizeof(struct agg_unit_state), unit_from_row, NULL, NULL, &list,
                       ret_n);
    PQclear(res);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_pg_unit_states_load(struct agg_store *st, int64_t server_id, struct agg_unit_state **ret,
                            size_t *ret_n)
{
    AGG_PG_RETRY(st, unit_states_load_once(st, server_id, ret, ret_n));
}

static int unit_state_save_once(struct agg_store *st, int64_t server_id,
                                const struct agg_unit_state *u)
{
    struct agg_pg_params p = {0};
    int r;
    agg_pg_param_int(&p, server_id);
    agg_pg_param_array(&p, u->name, sizeof(u->name), false);
    agg_pg_param_array(&p, u->active_state, sizeof(u->active_state), false);
    agg_pg_param_array(&p, u->sub_state, sizeof(u->sub_state), false);
    if (u->since >= 0)
        agg_pg_param_int(&p, u->since);
    else
        agg_pg_param_text(&p, NULL);
    r = agg_pg_write_for_server(st, P_UNIT_SAVE, &p, server_id);
    agg_pg_params_done(&p);
    return r;
}

int agg_pg_unit_state_save(struct agg_store *st, int64_t server_id, const struct agg_unit_state *u)
{
    AGG_PG_RETRY(st, unit_state_save_once(st, server_id, u));
}

/* ---- events ---- */

int agg_pg_event_add(struct agg_store *st, const struct agg_event *ev)
{
    AGG_PG_RETRY(st, event_insert(st, ev->server_id, ev->server_name, sizeof(ev->server_name),
                                  ev->ts, ev->type, ev->message, sizeof(ev->message)));
}

static int event_from_row(struct agg_store *st, const PGresult *res, int row, void *item, void *ctx)
{
    struct agg_event *e = item;
    (void)st;
    (void)ctx;
    e->id = agg_pg_int64_or(res, row, 0, 0);
    e->server_id = agg_pg_int64_or(res, row, 1, -1);
    agg_pg_copy_text(res, row, 2, e->server_name, sizeof(e->server_name));
    e->ts = agg_pg_int64_or(res, row, 3, 0);
    agg_pg_copy_text(res, row, 4, e->type, sizeof(e->type));
    agg_pg_copy_text(res, row, 5, e->message, sizeof(e->message));
    return MON_OK;
}

static int events_query_once(struct agg_store *st, int64_t server_id, const char *type,
                             int64_t before_id, int limit, struct agg_event **ret, size_t *ret_n)
{
    struct agg_pg_params p = {0};
    PGresult *res = NULL;
    void *list = NULL;
    int r;
    agg_pg_param_int(&p, before_id > 0 ? before_id : INT64_MAX);
    agg_pg_param_text(&p, type);
    agg_pg_param_int(&p, limit);
    if (server_id > 0)
        agg_pg_param_int(&p, server_id);
    r = agg_pg_exec(st, server_id > 0 ? P_EVENTS_SERVER : P_EVENTS_ALL, &p, &res);
    agg_pg_params_done(&p);
    if (r < 0)
        return r;
    r = agg_pg_collect(st, res, sizeof(struct agg_event), event_from_row, NULL, NULL, &list, ret_n);
    PQclear(res);
    if (r == MON_OK)
        *ret = list;
    return r;
}

int agg_pg_events_query(struct agg_store *st, int64_t server_id, const char *type,
                        int64_t before_id, int limit, struct agg_event **ret, size_t *ret_n)
{
    AGG_PG_RETRY(st, events_query_once(st, server_id, type, before_id, limit, ret, ret_n));
}

/* ---- service status ---- */

static int service_status_add_once(struct agg_store *st, int64_t server_id, int64_t ts,
                                   const char *unit, const char *active_state,
                                   const char *sub_state)
{
    struct agg_pg_params p = {0};
    int r = agg_pg_partition_for(st, agg_pg_partitioned_index("service_status"), ts);
    if (r < 0)
        return r;
    agg_pg_param_int(&p, server_id);
    agg_pg_param_int(&p, ts);
    agg_pg_param_text(&p, unit);
    agg_pg_param_text(&p, active_state);
    agg_pg_param_text(&p, sub_state);
    r = agg_pg_write_for_server(st, P_STATUS_ADD, &p, server_id);
    agg_pg_params_done(&p);
    return r;
}

int agg_pg_service_status_add(struct agg_store *st, int64_t server_id, int64_t ts, const char *unit,
                              const char *active_state, const char *sub_state)
{
    AGG_PG_RETRY(st, service_status_add_once(st, server_id, ts, unit, active_state, sub_state));
}
