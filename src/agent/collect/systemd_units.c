/* SPDX-License-Identifier: MIT */
/* Reads systemd unit states from the system bus with sd-bus (libsystemd loaded with dlopen on
 * first use, see sd_dl.h); it never starts or stops units. */
#include "agent/collect/systemd_units.h"

#include "agent/collect/sd_dl.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SD_DEST         "org.freedesktop.systemd1"
#define SD_PATH         "/org/freedesktop/systemd1"
#define SD_MANAGER      "org.freedesktop.systemd1.Manager"
#define SD_UNIT         "org.freedesktop.systemd1.Unit"
#define SD_NO_SUCH_UNIT "org.freedesktop.systemd1.NoSuchUnit"
#define DBUS_PROPERTIES "org.freedesktop.DBus.Properties"

/* The D-Bus error names sd-bus reports (sd-bus-protocol.h). */
#define ERR_DISCONNECTED      "org.freedesktop.DBus.Error.Disconnected"
#define ERR_NO_REPLY          "org.freedesktop.DBus.Error.NoReply"
#define ERR_TIMEOUT           "org.freedesktop.DBus.Error.Timeout"
#define ERR_SERVICE_UNKNOWN   "org.freedesktop.DBus.Error.ServiceUnknown"
#define ERR_NAME_HAS_NO_OWNER "org.freedesktop.DBus.Error.NameHasNoOwner"
#define ERR_UNKNOWN_METHOD    "org.freedesktop.DBus.Error.UnknownMethod"

#define UNIT_NAME_MAX 255
/* ListUnits on a busy host returns a few thousand units; more than this is not a real systemd. */
#define LIST_UNITS_CAP 100000

struct agent_systemd_units {
    char *library;       /* libsystemd to load */
    struct agent_sd *sd; /* NULL until first use; loading is retried while it fails */
    agent_sd_bus *bus;   /* NULL until first use and after a bus-level failure */
    int64_t timeout_ms;
};

/* One public call: its deadline and where the reason for a failure goes. */
struct op {
    struct agent_systemd_units *u;
    int64_t deadline_ms; /* mon_mono_ms() clock */
    uint64_t call_usec;  /* timeout of the next call, set by op_arm() */
    char *why;
    size_t why_len;
};

/* A *.service row of ListUnits; the strings point into the reply message. */
struct list_row {
    const char *name;
    const char *description;
    const char *active_state;
    const char *sub_state;
    const char *path;
};

static void set_why(struct op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_why(struct op *op, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!op->why || op->why_len == 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(op->why, op->why_len, fmt, ap);
    va_end(ap);
    /* A truncated reason is still a useful reason; only a formatting error loses it. */
    if (n < 0)
        mon_strlcpy(op->why, "systemd error", op->why_len);
}

/* Writes the text for a negative errno without strerror()'s shared buffer. */
static void errno_text(const struct agent_sd *sd, int r, char *buf, size_t size)
{
    struct agent_sd_error e = AGENT_SD_ERROR_NULL;

    sd->error_set_errno(&e, r);
    mon_strlcpy(buf, e.message ? e.message : "unknown error", size);
    sd->error_free(&e);
}

static bool has_name(const struct agent_systemd_units *u, const struct agent_sd_error *e,
                     const char *name)
{
    return e && u->sd->error_has_name(e, name) > 0;
}

static void drop_bus(struct agent_systemd_units *u)
{
    /* No flush: the queue is empty after synchronous calls and a dead peer could block it. */
    if (u->bus) {
        u->sd->bus_close(u->bus);
        u->sd->bus_unref(u->bus);
        u->bus = NULL;
    }
}

static bool is_bus_failure(const struct agent_systemd_units *u, int r,
                           const struct agent_sd_error *e)
{
    if (!u->bus || u->sd->bus_is_open(u->bus) <= 0)
        return true;
    if (r == -ETIMEDOUT || r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE || r == -ESHUTDOWN ||
        r == -ECONNREFUSED)
        return true;
    return has_name(u, e, ERR_DISCONNECTED) || has_name(u, e, ERR_NO_REPLY) ||
           has_name(u, e, ERR_TIMEOUT);
}

/* Turns a failed call into MON_EIO with a reason; a bus-level failure also closes the
 * connection, so that the next call opens a new one. */
static int op_failed(struct op *op, int r, const struct agent_sd_error *e, const char *what)
{
    char text[128];

    if (e && e->message)
        mon_strlcpy(text, e->message, sizeof(text));
    else
        errno_text(op->u->sd, r, text, sizeof(text));
    if (is_bus_failure(op->u, r, e)) {
        drop_bus(op->u);
        set_why(op, "system bus unavailable: %s", text);
    } else if (has_name(op->u, e, ERR_SERVICE_UNKNOWN) ||
               has_name(op->u, e, ERR_NAME_HAS_NO_OWNER)) {
        set_why(op, "systemd is not on the system bus: %s", text);
    } else {
        set_why(op, "systemd %s failed: %s", what, text);
    }
    return MON_EIO;
}

/* Bounds the next method call by what is left of the deadline. */
static int op_arm(struct op *op)
{
    int64_t left = op->deadline_ms - mon_mono_ms();

    if (left <= 0) {
        set_why(op, "systemd did not answer within %lld ms", (long long)op->u->timeout_ms);
        return MON_EIO;
    }
    op->call_usec = (uint64_t)left * 1000u;
    return MON_OK;
}

/* Calls member on path with zero, one or two string arguments (arg1/arg2 NULL when absent),
 * bounded by the timeout op_arm() set. Returns sd-bus's result (negative errno on failure, e
 * filled for an error reply). */
static int call(struct op *op, const char *path, const char *interface, const char *member,
                const char *arg1, const char *arg2, struct agent_sd_error *e, agent_sd_msg **reply)
{
    const struct agent_sd *sd = op->u->sd;
    agent_sd_msg *m = NULL;
    int r;

    r = sd->msg_new_method_call(op->u->bus, &m, SD_DEST, path, interface, member);
    if (r >= 0 && arg1 && arg2)
        r = sd->msg_append(m, "ss", arg1, arg2);
    else if (r >= 0 && arg1)
        r = sd->msg_append(m, "s", arg1);
    if (r >= 0)
        r = sd->bus_call(op->u->bus, m, op->call_usec, e, reply);
    sd->msg_unref(m);
    return r;
}

/* Properties.Get of a Unit property (after op_arm()); on success *reply is positioned inside the
 * variant, whose contents must be the D-Bus type `type` (else -ENXIO, as for a read of another
 * type). */
static int get_property(struct op *op, const char *path, const char *member, const char *type,
                        struct agent_sd_error *e, agent_sd_msg **reply)
{
    int r = call(op, path, DBUS_PROPERTIES, "Get", SD_UNIT, member, e, reply);

    if (r >= 0)
        r = op->u->sd->msg_enter_container(*reply, 'v', type);
    return r;
}

/* Loads libsystemd on first use (again after a failure, so installing it later helps). */
static int op_load(struct op *op)
{
    struct agent_systemd_units *u = op->u;
    char text[sizeof(((struct agent_unit_state *)0)->error)];

    if (u->sd)
        return MON_OK;
    if (agent_sd_open(u->library, &u->sd, text, sizeof(text)) < 0) {
        set_why(op, "%s", text);
        return MON_EIO;
    }
    return MON_OK;
}

/* Opens the system bus unless a usable connection exists, and waits (bounded by the
 * deadline) until the connection has authenticated and said Hello. */
static int op_connect(struct op *op)
{
    struct agent_systemd_units *u = op->u;
    const struct agent_sd *sd;
    char text[128];
    int r;

    r = op_load(op);
    if (r < 0)
        return r;
    sd = u->sd;
    if (u->bus && sd->bus_is_open(u->bus) > 0) {
        /* Drain what arrived since the last call (NameAcquired, stray late replies); this
         * also notices a connection whose peer went away while we were idle (D-Bus restart),
         * so that the call below runs on a new one instead of failing once. */
        while ((r = sd->bus_process(u->bus, NULL)) > 0)
            ;
        if (r >= 0 && sd->bus_is_open(u->bus) > 0)
            return MON_OK;
    }
    drop_bus(u);

    /* sd_bus_open_system() honours DBUS_SYSTEM_BUS_ADDRESS. */
    r = sd->bus_open_system(&u->bus);
    if (r < 0) {
        u->bus = NULL;
        goto fail;
    }
    /* Without sd_bus_is_ready (systemd < 237) the first call waits for the Hello itself. */
    while (sd->bus_is_ready) {
        int64_t left;

        r = sd->bus_is_ready(u->bus);
        if (r > 0)
            return MON_OK;
        if (r < 0)
            goto fail;
        r = sd->bus_process(u->bus, NULL);
        if (r < 0)
            goto fail;
        if (r > 0)
            continue;
        left = op->deadline_ms - mon_mono_ms();
        if (left <= 0) {
            r = -ETIMEDOUT;
            goto fail;
        }
        r = sd->bus_wait(u->bus, (uint64_t)left * 1000u);
        if (r < 0)
            goto fail;
    }
    return MON_OK;

fail:
    drop_bus(u);
    errno_text(sd, r, text, sizeof(text));
    set_why(op, "system bus unavailable: %s", text);
    return MON_EIO;
}

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

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
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
        r = op_arm(op);
        if (r < 0)
            goto out;
        r = call(op, SD_PATH, SD_MANAGER, methods[i], name, NULL, &e, &reply);
        if (r >= 0)
            break;
        if (has_name(op->u, &e, SD_NO_SUCH_UNIT)) {
            r = MON_ENOENT;
            goto out;
        }
        if (!has_name(op->u, &e, ERR_UNKNOWN_METHOD) || i + 1 == n_methods) {
            r = op_failed(op, r, &e, methods[i]);
            goto out;
        }
    }
    r = sd->msg_read(reply, "o", &path);
    if (r < 0) {
        r = op_failed(op, r, NULL, "unit lookup");
        goto out;
    }
    copy = strdup(path);
    if (!copy) {
        r = MON_ENOMEM;
        set_why(op, "out of memory");
        goto out;
    }
    *ret_path = copy;
    r = MON_OK;
out:
    sd->msg_unref(reply);
    sd->error_free(&e);
    return r;
}

/* Reads a string property of the Unit interface into buf (truncated to size).
 * Returns MON_OK, MON_EIO (reason set, connection dropped) on bus failures, or MON_EPARSE
 * without a reason when systemd answered with an error or another type: the caller decides
 * whether that matters. */
static int get_unit_string(struct op *op, const char *path, const char *member, char *buf,
                           size_t size)
{
    const struct agent_sd *sd = op->u->sd;
    struct agent_sd_error e = AGENT_SD_ERROR_NULL;
    agent_sd_msg *reply = NULL;
    const char *value;
    int r;

    r = op_arm(op);
    if (r < 0)
        goto out;
    r = get_property(op, path, member, "s", &e, &reply);
    if (r >= 0)
        r = sd->msg_read(reply, "s", &value);
    if (r == 0) /* nothing to read: not a string after all */
        r = -ENXIO;
    if (r < 0) {
        r = is_bus_failure(op->u, r, &e) ? op_failed(op, r, &e, member) : MON_EPARSE;
        goto out;
    }
    mon_strlcpy(buf, value, size);
    r = MON_OK;
out:
    sd->msg_unref(reply);
    sd->error_free(&e);
    return r;
}

/* Like get_unit_string() for a property the caller needs: any failure is MON_EIO. */
static int need_unit_string(struct op *op, const char *path, const char *member, char *buf,
                            size_t size)
{
    int r = get_unit_string(op, path, member, buf, size);

    if (r == MON_EPARSE) {
        set_why(op, "systemd unit %s has no readable %s", path, member);
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

    r = op_arm(op);
    if (r < 0)
        goto out;
    r = get_property(op, path, "StateChangeTimestamp", "t", &e, &reply);
    if (r >= 0)
        r = sd->msg_read(reply, "t", &usec);
    if (r == 0)
        r = -ENXIO;
    if (r < 0) {
        if (is_bus_failure(op->u, r, &e)) {
            r = op_failed(op, r, &e, "StateChangeTimestamp");
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
    r = get_unit_string(op, path, "LoadState", load_state, sizeof(load_state));
    if (r == MON_EIO)
        goto out;
    r = strcmp(load_state, "not-found") == 0 ? MON_ENOENT : MON_OK;
out:
    free(path);
    return r;
}

struct agent_systemd_units *agent_systemd_units_new(int64_t timeout_ms)
{
    const char *library = getenv("MONITOR_AGENT_LIBSYSTEMD");

    return agent_systemd_units_new_from(timeout_ms,
                                        library && *library ? library : AGENT_SD_LIBRARY);
}

struct agent_systemd_units *agent_systemd_units_new_from(int64_t timeout_ms, const char *library)
{
    struct agent_systemd_units *u = calloc(1, sizeof(*u));

    if (!u)
        return NULL;
    u->library = strdup(library);
    if (!u->library) {
        free(u);
        return NULL;
    }
    u->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    return u;
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
    r = op_connect(&op);
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
            set_why(op, "systemd listed more than %d units", LIST_UNITS_CAP);
            r = MON_EIO;
            goto out;
        }
        if (!has_suffix(row.name, ".service"))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct list_row *grown = realloc(rows, ncap * sizeof(*rows));
            if (!grown) {
                set_why(op, "out of memory");
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
    set_why(op, "systemd ListUnits: malformed reply");
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

    r = get_unit_string(op, row->path, "UnitFileState", buf, size);
    if (r != MON_EPARSE)
        return r;
    buf[0] = '\0';
    r = op_arm(op);
    if (r < 0)
        goto out;
    r = call(op, SD_PATH, SD_MANAGER, "GetUnitFileState", row->name, NULL, &e, &reply);
    if (r < 0) {
        r = is_bus_failure(op->u, r, &e) ? op_failed(op, r, &e, "GetUnitFileState") : MON_OK;
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

    r = op_arm(op);
    if (r < 0)
        goto out;
    r = call(op, SD_PATH, SD_MANAGER, "ListUnits", NULL, NULL, &e, &reply);
    if (r < 0) {
        r = op_failed(op, r, &e, "ListUnits");
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
            set_why(op, "out of memory");
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
    r = op_connect(&op);
    if (r >= 0)
        r = list_once(&op, max, ret, ret_n);
    return r;
}

void agent_systemd_units_free(struct agent_systemd_units *u)
{
    if (!u)
        return;
    if (u->sd) {
        drop_bus(u);
        agent_sd_close(u->sd);
    }
    free(u->library);
    free(u);
}
