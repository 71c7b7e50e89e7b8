/* SPDX-License-Identifier: MIT */
/* What the parts of the systemd unit reader share and no one else uses: systemd_units.c (the
 * reader's lifetime, one unit's state), systemd_units_bus.c (the bus connection and bounded
 * calls) and systemd_units_list.c (the service catalog). Not thread-safe, like the public
 * calls: one call at a time per reader (the agent holds a lock). */
#ifndef MON_AGENT_COLLECT_SYSTEMD_UNITS_PRIV_H
#define MON_AGENT_COLLECT_SYSTEMD_UNITS_PRIV_H

#include "agent/collect/sd_dl.h"
#include "agent/collect/systemd_units.h"

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
    uint64_t call_usec;  /* timeout of the next call, set by agent_units_op_arm() */
    char *why;
    size_t why_len;
};

/* Sets op's reason (truncated to its buffer; never fails). */
void agent_units_set_why(struct op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when e is an error reply named name. */
bool agent_units_has_name(const struct agent_systemd_units *u, const struct agent_sd_error *e,
                          const char *name);

/* Closes the bus connection (the next call opens a new one). */
void agent_units_drop_bus(struct agent_systemd_units *u);

/* True when r/e say the connection itself failed (closed, timed out, peer gone). */
bool agent_units_is_bus_failure(const struct agent_systemd_units *u, int r,
                                const struct agent_sd_error *e);

/* Turns a failed call into MON_EIO with a reason; a bus-level failure also closes the
 * connection, so that the next call opens a new one. */
int agent_units_op_failed(struct op *op, int r, const struct agent_sd_error *e, const char *what);

/* Bounds the next method call by what is left of the deadline; MON_EIO when none is left. */
int agent_units_op_arm(struct op *op);

/* Calls member on path with zero, one or two string arguments (arg1/arg2 NULL when absent),
 * bounded by the timeout agent_units_op_arm() set. Returns sd-bus's result (negative errno on
 * failure, e filled for an error reply); *reply is the caller's to unref. */
int agent_units_call(struct op *op, const char *path, const char *interface, const char *member,
                     const char *arg1, const char *arg2, struct agent_sd_error *e,
                     agent_sd_msg **reply);

/* Properties.Get of a Unit property (after agent_units_op_arm()); on success *reply is
 * positioned inside the variant, whose contents must be the D-Bus type `type` (else -ENXIO). */
int agent_units_get_property(struct op *op, const char *path, const char *member, const char *type,
                             struct agent_sd_error *e, agent_sd_msg **reply);

/* Loads libsystemd on first use and opens the system bus unless a usable connection exists,
 * waiting (bounded by the deadline) for its Hello. MON_OK or MON_EIO with a reason. */
int agent_units_op_connect(struct op *op);

/* Reads a string property of the Unit interface into buf (truncated to size). MON_OK, MON_EIO
 * (reason set, connection dropped) on bus failures, or MON_EPARSE without a reason when
 * systemd answered with an error or another type: the caller decides whether that matters. */
int agent_units_get_string(struct op *op, const char *path, const char *member, char *buf,
                           size_t size);

#endif
