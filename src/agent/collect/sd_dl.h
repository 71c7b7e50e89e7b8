/* SPDX-License-Identifier: MIT */
/* libsystemd's sd-bus through dlopen, with our own declarations of the few functions used. */
#ifndef MON_AGENT_COLLECT_SD_DL_H
#define MON_AGENT_COLLECT_SD_DL_H

/* Ownership and threads: the table from agent_sd_open belongs to the caller (agent_sd_close) and
 * is only read after it is filled; sd-bus objects made through it are not thread-safe, so each
 * bus is used by one thread at a time (the caller serialises). */

#include <stddef.h>
#include <stdint.h>

/* The library's stable ABI (sd-bus.h): opaque handles and the public error structure. */
typedef struct agent_sd_bus agent_sd_bus;
typedef struct agent_sd_msg agent_sd_msg;
struct agent_sd_error {
    const char *name;
    const char *message;
    int need_free; /* sd-bus private */
};
#define AGENT_SD_ERROR_NULL                                                                        \
    {                                                                                              \
        NULL, NULL, 0                                                                              \
    }

#define AGENT_SD_LIBRARY "libsystemd.so.0"

/* Every function comes from libsystemd 221 or newer (RHEL/Rocky 8 ships 239); is_ready
 * (237) may be NULL, the callers then rely on the call timeouts alone. */
struct agent_sd {
    void *lib;
    int (*bus_open_system)(agent_sd_bus **ret);
    void (*bus_close)(agent_sd_bus *bus);
    agent_sd_bus *(*bus_unref)(agent_sd_bus *bus);
    int (*bus_is_open)(agent_sd_bus *bus);
    int (*bus_is_ready)(agent_sd_bus *bus); /* optional */
    int (*bus_process)(agent_sd_bus *bus, agent_sd_msg **ret);
    int (*bus_wait)(agent_sd_bus *bus, uint64_t timeout_usec);
    int (*bus_call)(agent_sd_bus *bus, agent_sd_msg *m, uint64_t usec,
                    struct agent_sd_error *ret_error, agent_sd_msg **reply);
    int (*msg_new_method_call)(agent_sd_bus *bus, agent_sd_msg **ret, const char *destination,
                               const char *path, const char *interface, const char *member);
    int (*msg_append)(agent_sd_msg *m, const char *types, ...);
    int (*msg_read)(agent_sd_msg *m, const char *types, ...);
    int (*msg_enter_container)(agent_sd_msg *m, char type, const char *contents);
    int (*msg_exit_container)(agent_sd_msg *m);
    agent_sd_msg *(*msg_unref)(agent_sd_msg *m);
    void (*error_free)(struct agent_sd_error *e);
    int (*error_set_errno)(struct agent_sd_error *e, int error);
    int (*error_has_name)(const struct agent_sd_error *e, const char *name);
};

/* Loads library (AGENT_SD_LIBRARY normally) and resolves every function. Returns MON_OK with
 * *ret set, MON_ENOENT when the library cannot be loaded, MON_EUNSUPPORTED when it lacks a
 * function, MON_ENOMEM; why then says which (e.g. "libsystemd.so.0 is not available: ..."). */
int agent_sd_open(const char *library, struct agent_sd **ret, char *why, size_t why_len);

/* Unloads the library. Accepts NULL. */
void agent_sd_close(struct agent_sd *sd);

#endif
