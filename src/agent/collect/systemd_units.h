/* SPDX-License-Identifier: MIT */
/* systemd unit states over D-Bus (sd-bus via dlopen, system bus; honours DBUS_SYSTEM_BUS_ADDRESS).
 */
#ifndef MON_AGENT_COLLECT_SYSTEMD_UNITS_H
#define MON_AGENT_COLLECT_SYSTEMD_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_unit_state {
    char name[256];
    char active_state[32];    /* active, inactive, failed, activating, ... */
    char sub_state[32];       /* running, exited, dead, ... */
    int64_t since_utc_s;      /* last state change, -1 when unknown */
    char description[256];    /* catalog only */
    char unit_file_state[32]; /* catalog only: enabled, disabled, static, ... */
    char error[160];          /* non-empty when this unit could not be read */
};

struct agent_systemd_units;

/* Creates a reader; libsystemd (sd-bus) is loaded with dlopen on first use and the bus
 * connection opened lazily and re-opened after failures, so the agent survives a D-Bus restart
 * and runs without libsystemd (every unit then carries an error saying so). Every call is
 * bounded by timeout_ms. The library is libsystemd.so.0, or $MONITOR_AGENT_LIBSYSTEMD when set
 * (a path or another name). Returns MON_OK and the reader in *ret_units (the caller's, freed
 * with agent_systemd_units_free), or MON_ENOMEM. */
int agent_systemd_units_new(int64_t timeout_ms, struct agent_systemd_units **ret_units);

/* Like agent_systemd_units_new() with the library to load given (tests use a missing one). */
int agent_systemd_units_new_from(int64_t timeout_ms, const char *library,
                                 struct agent_systemd_units **ret_units);

/* Reads the state of one unit by name (LoadUnit/GetUnit + properties ActiveState, SubState,
 * StateChangeTimestamp). A unit systemd does not know gives active_state "inactive",
 * sub_state "dead" and error "unit not found" only when LoadUnit fails. No bus: the entry
 * carries an error ("system bus unavailable: ...") and the function returns MON_EIO.
 * Unlike most ret_* out-params, *ret is written on every return except MON_EINVAL for NULL
 * arguments: name is copied, error says what went wrong, states are "" when unknown.
 * Returns MON_OK; MON_ENOENT for an unknown unit (NoSuchUnit, or LoadState "not-found" as
 * real systemd answers); MON_EINVAL for a name outside [A-Za-z0-9:_.@\-\\] (at most 255
 * chars, with a '.'; error "invalid unit name"); MON_EIO when the bus is down, systemd is not
 * on it ("systemd is not on the system bus: ...") or the deadline passed.
 * Not thread-safe: serialise calls (the agent holds a lock). */
int agent_systemd_units_get(struct agent_systemd_units *u, const char *name,
                            struct agent_unit_state *ret);

/* Lists loaded *.service units (ListUnits) that are active or whose unit file is enabled,
 * with description and unit_file_state. Returns a malloc'd array in *ret (free()) and the
 * count, or MON_EIO with a reason in why. At most max units. The array is sorted by name
 * (the cap keeps the first max), *ret is NULL when the count is 0, since_utc_s is -1 in
 * listed entries (not read, to save a round trip per unit). MON_ENOMEM is also possible;
 * why is "" on success and may be NULL. Not thread-safe, like agent_systemd_units_get(). */
int agent_systemd_units_list_services(struct agent_systemd_units *u, size_t max,
                                      struct agent_unit_state **ret, size_t *ret_n, char *why,
                                      size_t why_len);

/* Closes the bus. Accepts NULL. */
void agent_systemd_units_free(struct agent_systemd_units *u);

#endif
