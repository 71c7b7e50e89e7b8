/* SPDX-License-Identifier: MIT */
/* systemd unit states over D-Bus (sd-bus, system bus; honours DBUS_SYSTEM_BUS_ADDRESS). */
#ifndef MON_AGENT_COLLECT_SYSTEMD_UNITS_H
#define MON_AGENT_COLLECT_SYSTEMD_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct unit_state {
    char name[256];
    char active_state[32];    /* active, inactive, failed, activating, ... */
    char sub_state[32];       /* running, exited, dead, ... */
    int64_t since_utc_s;      /* last state change, -1 when unknown */
    char description[256];    /* catalog only */
    char unit_file_state[32]; /* catalog only: enabled, disabled, static, ... */
    char error[160];          /* non-empty when this unit could not be read */
};

struct systemd_units;

/* Creates a reader; the bus connection is opened lazily and re-opened after failures, so the
 * agent survives a D-Bus restart. Every call is bounded by timeout_ms. */
struct systemd_units *systemd_units_new(int64_t timeout_ms);

/* Reads the state of one unit by name (LoadUnit/GetUnit + properties ActiveState, SubState,
 * StateChangeTimestamp). A unit systemd does not know gives active_state "inactive",
 * sub_state "dead" and error "unit not found" only when LoadUnit fails. No bus: the entry
 * carries an error ("system bus unavailable: ...") and the function returns MON_EIO.
 * Not thread-safe: serialise calls (the agent holds a lock). */
int systemd_units_get(struct systemd_units *u, const char *name, struct unit_state *ret);

/* Lists loaded *.service units (ListUnits) that are active or whose unit file is enabled,
 * with description and unit_file_state. Returns a malloc'd array in *ret (free()) and the
 * count, or MON_EIO with a reason in why. At most max units. */
int systemd_units_list_services(struct systemd_units *u, size_t max, struct unit_state **ret,
                                size_t *ret_n, char *why, size_t why_len);

/* Closes the bus. Accepts NULL. */
void systemd_units_free(struct systemd_units *u);

#endif
