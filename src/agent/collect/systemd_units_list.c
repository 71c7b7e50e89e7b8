/* SPDX-License-Identifier: MIT */
/* The systemd service catalog: loaded *.service units that are active or enabled (ListUnits and
 * each one's UnitFileState), sorted by name and capped, for the server form's service picker.
 * Not thread-safe (one call at a time per reader); the returned array is the caller's. */
#include "agent/collect/systemd_units.h"
#include "agent/collect/systemd_units_priv.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <stdlib.h>
#include <string.h>

/* A *.service row of ListUnits; the strings point into the reply message. */
struct list_row {
    const char *name;
    const char *description;
    const char *active_state;
    const char *sub_state;
    const char *path;
};

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int row_cmp(const void *a, const void *b)
{
    const struct list_row *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Reads the *.service rows of a ListUnits reply into a malloc'd array (pointers into reply). */
static int read_rows(struct op *op, agent_sd_msg *reply, struct list_row **ret_rows, size_t *ret_n)
{
    const struct agent_sd *sd = op->u->sd;
    struct list_row *rows = NULL;
    size_t n = 0, cap = 0, seen = 0;
    int r;

    r = sd->msg_enter_container(reply, 'a', "(ssssssouso)");
    if (r < 0)
        goto bad;
    for (;;) {
        struct list_row row;
        const char *load, *following, *job_type, *job_path;
        uint32_t job_id;

        r = sd->msg_read(reply, "(ssssssouso)", &row.name, &row.description, &load,
                         &row.active_state, &row.sub_state, &following, &row.path, &job_id,
                         &job_type, &job_path);
        if (r < 0)
            goto bad;
        if (r == 0)
            break;
        if (++seen > LIST_UNITS_CAP) {
            agent_units_set_why(op, "systemd listed more than %d units", LIST_UNITS_CAP);
            r = MON_EIO;
            goto out;
        }
        if (!has_suffix(row.name, ".service"))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct list_row *grown = realloc(rows, ncap * sizeof(*rows));
            if (!grown) {
                agent_units_set_why(op, "out of memory");
                r = MON_ENOMEM;
                goto out;
            }
            rows = grown;
            cap = ncap;
        }
        rows[n++] = row;
    }
    r = sd->msg_exit_container(reply);
    if (r < 0)
        goto bad;
    *ret_rows = rows;
    *ret_n = n;
    return MON_OK;
bad:
    agent_units_set_why(op, "systemd ListUnits: malformed reply");
    r = MON_EIO;
out:
    free(rows);
    return r;
}

/* Reads a unit's UnitFileState: the property on the unit object, or GetUnitFileState on the
 * manager when the property is missing. "" when systemd cannot say; MON_EIO on bus failure. */
static int get_file_state(struct op *op, const struct list_row *row, char *buf, size_t size)
{
    const struct agent_sd *sd = op->u->sd;
    struct agent_sd_error e = AGENT_SD_ERROR_NULL;
    agent_sd_msg *reply = NULL;
    const char *state;
    int r;

    r = agent_units_get_string(op, row->path, "UnitFileState", buf, size);
    if (r != MON_EPARSE)
        return r;
    buf[0] = '\0';
    r = agent_units_op_arm(op);
    if (r < 0)
        goto out;
    r = agent_units_call(op, SD_PATH, SD_MANAGER, "GetUnitFileState", row->name, NULL, &e, &reply);
    if (r < 0) {
        r = agent_units_is_bus_failure(op->u, r, &e)
                ? agent_units_op_failed(op, r, &e, "GetUnitFileState")
                : MON_OK;
        goto out;
    }
    if (sd->msg_read(reply, "s", &state) > 0)
        mon_strlcpy(buf, state, size);
    r = MON_OK;
out:
    sd->msg_unref(reply);
    sd->error_free(&e);
    return r;
}

/* Lists, filters and sorts; *ret_out holds at most max entries (NULL when none). */
static int list_once(struct op *op, size_t max, struct agent_unit_state **ret_out, size_t *ret_n)
{
    const struct agent_sd *sd = op->u->sd;
    struct agent_sd_error e = AGENT_SD_ERROR_NULL;
    agent_sd_msg *reply = NULL;
    struct list_row *rows = NULL;
    struct agent_unit_state *units = NULL;
    size_t nrows = 0, n = 0;
    int r;

    r = agent_units_op_arm(op);
    if (r < 0)
        goto out;
    r = agent_units_call(op, SD_PATH, SD_MANAGER, "ListUnits", NULL, NULL, &e, &reply);
    if (r < 0) {
        r = agent_units_op_failed(op, r, &e, "ListUnits");
        goto out;
    }
    r = read_rows(op, reply, &rows, &nrows);
    if (r < 0)
        goto out;
    if (max > nrows)
        max = nrows;
    if (max > 0) {
        units = calloc(max, sizeof(*units));
        if (!units) {
            agent_units_set_why(op, "out of memory");
            r = MON_ENOMEM;
            goto out;
        }
    }
    /* Sorting first lets the cap stop the per-unit lookups early. */
    if (nrows > 1)
        qsort(rows, nrows, sizeof(*rows), row_cmp);
    for (size_t i = 0; i < nrows && n < max; i++) {
        struct agent_unit_state *st = &units[n];
        char file_state[sizeof(st->unit_file_state)];

        r = get_file_state(op, &rows[i], file_state, sizeof(file_state));
        if (r < 0)
            goto out;
        if (strcmp(rows[i].active_state, "active") != 0 && strcmp(file_state, "enabled") != 0)
            continue;
        mon_strlcpy(st->name, rows[i].name, sizeof(st->name));
        mon_strlcpy(st->active_state, rows[i].active_state, sizeof(st->active_state));
        mon_strlcpy(st->sub_state, rows[i].sub_state, sizeof(st->sub_state));
        mon_strlcpy(st->description, rows[i].description, sizeof(st->description));
        mon_strlcpy(st->unit_file_state, file_state, sizeof(st->unit_file_state));
        st->since_utc_s = -1;
        n++;
    }
    if (n == 0) {
        free(units);
        units = NULL;
    }
    *ret_out = units;
    *ret_n = n;
    units = NULL;
    r = MON_OK;
out:
    free(units);
    free(rows);
    sd->msg_unref(reply);
    sd->error_free(&e);
    return r;
}

int agent_systemd_units_list_services(struct agent_systemd_units *u, size_t max,
                                      struct agent_unit_state **ret, size_t *ret_n, char *why,
                                      size_t why_len)
{
    struct op op = {.u = u, .why = why, .why_len = why_len};
    int r;

    if (why && why_len > 0)
        why[0] = '\0';
    if (!u || !ret || !ret_n)
        return MON_EINVAL;
    op.deadline_ms = mon_mono_ms() + u->timeout_ms;
    r = agent_units_op_connect(&op);
    if (r >= 0)
        r = list_once(&op, max, ret, ret_n);
    return r;
}
