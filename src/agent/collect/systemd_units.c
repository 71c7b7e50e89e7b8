/* SPDX-License-Identifier: MIT */
/* Reads systemd unit states from the system bus with sd-bus (libsystemd loaded with dlopen on
 * first use, see sd_dl.h); it never starts or stops units. This file: the reader's lifetime and
 * one unit's state; the bus calls are in systemd_units_bus.c, the service list in
 * systemd_units_list.c. */
#include "agent/collect/systemd_units.h"
#include "agent/collect/systemd_units_priv.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool unit_name_valid(const char *name)
{
    size_t n = strnlen(name, UNIT_NAME_MAX + 1);

    if (n == 0 || n > UNIT_NAME_MAX || !strchr(name, '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == ':' || c == '_' || c == '.' || c == '@' || c == '-' || c == '\\';
        if (!ok)
            return false;
    }
    return true;
}

/* Resolves a unit name to its object path (LoadUnit, or GetUnit on managers without it).
 * Returns MON_OK, MON_ENOENT (NoSuchUnit) or MON_EIO. *ret_path is malloc'd. */
static int resolve_unit(struct op *op, const char *name, char **ret_path)
{
    static const char *const methods[] = {"LoadUnit", "GetUnit"};
    const size_t n_methods = sizeof(methods) / sizeof(methods[0]);
    const struct agent_sd *sd = op->u->sd;
    struct agent_sd_error e = AGENT_SD_ERROR_NULL;
    agent_sd_msg *reply = NULL;
    const char *path;
    char *copy;
    int r = MON_EIO;

    for (size_t i = 0; i < n_methods; i++) {
        sd->error_free(&e);
        r = agent_units_op_arm(op);
        if (r < 0)
            goto out;
        r = agent_units_call(op, SD_PATH, SD_MANAGER, methods[i], name, NULL, &e, &reply);
        if (r >= 0)
            break;
        if (agent_units_has_name(op->u, &e, SD_NO_SUCH_UNIT)) {
            r = MON_ENOENT;
            goto out;
        }
        if (!agent_units_has_name(op->u, &e, ERR_UNKNOWN_METHOD) || i + 1 == n_methods) {
            r = agent_units_op_failed(op, r, &e, methods[i]);
            goto out;
        }
    }
    r = sd->msg_read(reply, "o", &path);
    if (r < 0) {
        r = agent_units_op_failed(op, r, NULL, "unit lookup");
        goto out;
    }
    copy = strdup(path);
    if (!copy) {
        r = MON_ENOMEM;
        agent_units_set_why(op, "out of memory");
        goto out;
    }
    *ret_path = copy;
    r = MON_OK;
out:
    sd->msg_unref(reply);
    sd->error_free(&e);
    return r;
}

/* Like agent_units_get_string() for a property the caller needs: any failure is MON_EIO. */
static int need_unit_string(struct op *op, const char *path, const char *member, char *buf,
                            size_t size)
{
    int r = agent_units_get_string(op, path, member, buf, size);

    if (r == MON_EPARSE) {
        agent_units_set_why(op, "systemd unit %s has no readable %s", path, member);
        r = MON_EIO;
    }
    return r;
}

/* Reads StateChangeTimestamp (µs since the epoch) as seconds, -1 when unset or unreadable
 * for reasons other than the bus. */
static int get_since(struct op *op, const char *path, int64_t *ret_since)
{
    const struct agent_sd *sd = op->u->sd;
    struct agent_sd_error e = AGENT_SD_ERROR_NULL;
    agent_sd_msg *reply = NULL;
    uint64_t usec = 0;
    int r;

    r = agent_units_op_arm(op);
    if (r < 0)
        goto out;
    r = agent_units_get_property(op, path, "StateChangeTimestamp", "t", &e, &reply);
    if (r >= 0)
        r = sd->msg_read(reply, "t", &usec);
    if (r == 0)
        r = -ENXIO;
    if (r < 0) {
        if (agent_units_is_bus_failure(op->u, r, &e)) {
            r = agent_units_op_failed(op, r, &e, "StateChangeTimestamp");
            goto out;
        }
        usec = 0;
    }
    *ret_since = usec == 0 ? -1 : (int64_t)(usec / 1000000u);
    r = MON_OK;
out:
    sd->msg_unref(reply);
    sd->error_free(&e);
    return r;
}

static int get_once(struct op *op, const char *name, struct agent_unit_state *st)
{
    char load_state[32] = "";
    char *path = NULL;
    int r;

    r = resolve_unit(op, name, &path);
    if (r < 0)
        goto out;
    r = need_unit_string(op, path, "ActiveState", st->active_state, sizeof(st->active_state));
    if (r < 0)
        goto out;
    r = need_unit_string(op, path, "SubState", st->sub_state, sizeof(st->sub_state));
    if (r < 0)
        goto out;
    r = get_since(op, path, &st->since_utc_s);
    if (r < 0)
        goto out;
    /* Real systemd's LoadUnit succeeds for unknown names with LoadState "not-found". */
    r = agent_units_get_string(op, path, "LoadState", load_state, sizeof(load_state));
    if (r == MON_EIO)
        goto out;
    r = strcmp(load_state, "not-found") == 0 ? MON_ENOENT : MON_OK;
out:
    free(path);
    return r;
}

int agent_systemd_units_new(int64_t timeout_ms, struct agent_systemd_units **ret_units)
{
    const char *library = getenv("MONITOR_AGENT_LIBSYSTEMD");

    return agent_systemd_units_new_from(
        timeout_ms, library && *library ? library : AGENT_SD_LIBRARY, ret_units);
}

int agent_systemd_units_new_from(int64_t timeout_ms, const char *library,
                                 struct agent_systemd_units **ret_units)
{
    struct agent_systemd_units *u;

    if (!library || !ret_units)
        return MON_EINVAL;
    u = calloc(1, sizeof(*u));
    if (!u)
        return MON_ENOMEM;
    u->library = strdup(library);
    if (!u->library) {
        free(u);
        return MON_ENOMEM;
    }
    u->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    *ret_units = u;
    return MON_OK;
}

int agent_systemd_units_get(struct agent_systemd_units *u, const char *name,
                            struct agent_unit_state *ret)
{
    struct agent_unit_state st = {.since_utc_s = -1};
    struct op op = {.u = u, .why = st.error, .why_len = sizeof(st.error)};
    int r;

    if (!u || !name || !ret)
        return MON_EINVAL;
    mon_strlcpy(st.name, name, sizeof(st.name));
    if (!unit_name_valid(name)) {
        mon_strlcpy(st.error, "invalid unit name", sizeof(st.error));
        r = MON_EINVAL;
        goto out;
    }
    op.deadline_ms = mon_mono_ms() + u->timeout_ms;
    r = agent_units_op_connect(&op);
    if (r >= 0)
        r = get_once(&op, name, &st);
    if (r == MON_ENOENT) {
        mon_strlcpy(st.active_state, "inactive", sizeof(st.active_state));
        mon_strlcpy(st.sub_state, "dead", sizeof(st.sub_state));
        st.since_utc_s = -1;
        mon_strlcpy(st.error, "unit not found", sizeof(st.error));
    } else if (r < 0) {
        st.active_state[0] = '\0';
        st.sub_state[0] = '\0';
        st.since_utc_s = -1;
    }
out:
    *ret = st;
    return r;
}

void agent_systemd_units_free(struct agent_systemd_units *u)
{
    if (!u)
        return;
    if (u->sd) {
        agent_units_drop_bus(u);
        agent_sd_close(u->sd);
    }
    free(u->library);
    free(u);
}
