/* SPDX-License-Identifier: MIT */
/* The systemd unit reader's bus side: libsystemd loaded on first use, the system bus
 * connection (re-opened after failures), method calls and property reads bounded by the
 * caller's deadline, and the reason text for each failure. Not thread-safe (one call at a time
 * per reader); the connection is owned by struct agent_systemd_units. */
#include "agent/collect/systemd_units_priv.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

void agent_units_set_why(struct op *op, const char *fmt, ...)
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

bool agent_units_has_name(const struct agent_systemd_units *u, const struct agent_sd_error *e,
                          const char *name)
{
    return e && u->sd->error_has_name(e, name) > 0;
}

void agent_units_drop_bus(struct agent_systemd_units *u)
{
    /* No flush: the queue is empty after synchronous calls and a dead peer could block it. */
    if (u->bus) {
        u->sd->bus_close(u->bus);
        u->sd->bus_unref(u->bus);
        u->bus = NULL;
    }
}

bool agent_units_is_bus_failure(const struct agent_systemd_units *u, int r,
                                const struct agent_sd_error *e)
{
    if (!u->bus || u->sd->bus_is_open(u->bus) <= 0)
        return true;
    if (r == -ETIMEDOUT || r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE || r == -ESHUTDOWN ||
        r == -ECONNREFUSED)
        return true;
    return agent_units_has_name(u, e, ERR_DISCONNECTED) ||
           agent_units_has_name(u, e, ERR_NO_REPLY) || agent_units_has_name(u, e, ERR_TIMEOUT);
}

/* Turns a failed call into MON_EIO with a reason; a bus-level failure also closes the
 * connection, so that the next call opens a new one. */
int agent_units_op_failed(struct op *op, int r, const struct agent_sd_error *e, const char *what)
{
    char text[128];

    if (e && e->message)
        mon_strlcpy(text, e->message, sizeof(text));
    else
        errno_text(op->u->sd, r, text, sizeof(text));
    if (agent_units_is_bus_failure(op->u, r, e)) {
        agent_units_drop_bus(op->u);
        agent_units_set_why(op, "system bus unavailable: %s", text);
    } else if (agent_units_has_name(op->u, e, ERR_SERVICE_UNKNOWN) ||
               agent_units_has_name(op->u, e, ERR_NAME_HAS_NO_OWNER)) {
        agent_units_set_why(op, "systemd is not on the system bus: %s", text);
    } else {
        agent_units_set_why(op, "systemd %s failed: %s", what, text);
    }
    return MON_EIO;
}

/* Bounds the next method call by what is left of the deadline. */
int agent_units_op_arm(struct op *op)
{
    int64_t left = op->deadline_ms - mon_mono_ms();

    if (left <= 0) {
        agent_units_set_why(op, "systemd did not answer within %lld ms",
                            (long long)op->u->timeout_ms);
        return MON_EIO;
    }
    op->call_usec = (uint64_t)left * 1000u;
    return MON_OK;
}

/* Calls member on path with zero, one or two string arguments (arg1/arg2 NULL when absent),
 * bounded by the timeout agent_units_op_arm() set. Returns sd-bus's result (negative errno on
 * failure, e filled for an error reply). */
int agent_units_call(struct op *op, const char *path, const char *interface, const char *member,
                     const char *arg1, const char *arg2, struct agent_sd_error *e,
                     agent_sd_msg **reply)
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

/* Properties.Get of a Unit property (after agent_units_op_arm()); on success *reply is positioned
 * inside the variant, whose contents must be the D-Bus type `type` (else -ENXIO, as for a read of
 * another type). */
int agent_units_get_property(struct op *op, const char *path, const char *member, const char *type,
                             struct agent_sd_error *e, agent_sd_msg **reply)
{
    int r = agent_units_call(op, path, DBUS_PROPERTIES, "Get", SD_UNIT, member, e, reply);

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
        agent_units_set_why(op, "%s", text);
        return MON_EIO;
    }
    return MON_OK;
}

/* Opens the system bus unless a usable connection exists, and waits (bounded by the
 * deadline) until the connection has authenticated and said Hello. */
int agent_units_op_connect(struct op *op)
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
    agent_units_drop_bus(u);

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
    agent_units_drop_bus(u);
    errno_text(sd, r, text, sizeof(text));
    agent_units_set_why(op, "system bus unavailable: %s", text);
    return MON_EIO;
}

/* Reads a string property of the Unit interface into buf (truncated to size).
 * Returns MON_OK, MON_EIO (reason set, connection dropped) on bus failures, or MON_EPARSE
 * without a reason when systemd answered with an error or another type: the caller decides
 * whether that matters. */
int agent_units_get_string(struct op *op, const char *path, const char *member, char *buf,
                           size_t size)
{
    const struct agent_sd *sd = op->u->sd;
    struct agent_sd_error e = AGENT_SD_ERROR_NULL;
    agent_sd_msg *reply = NULL;
    const char *value;
    int r;

    r = agent_units_op_arm(op);
    if (r < 0)
        goto out;
    r = agent_units_get_property(op, path, member, "s", &e, &reply);
    if (r >= 0)
        r = sd->msg_read(reply, "s", &value);
    if (r == 0) /* nothing to read: not a string after all */
        r = -ENXIO;
    if (r < 0) {
        r = agent_units_is_bus_failure(op->u, r, &e) ? agent_units_op_failed(op, r, &e, member)
                                                     : MON_EPARSE;
        goto out;
    }
    mon_strlcpy(buf, value, size);
    r = MON_OK;
out:
    sd->msg_unref(reply);
    sd->error_free(&e);
    return r;
}
