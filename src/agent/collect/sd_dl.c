/* SPDX-License-Identifier: MIT */
/* libsystemd's sd-bus through dlopen: the agent neither links nor needs libsystemd unless a
 * unit state is asked for, so it runs (and stays small) on hosts and in containers without it. */
#include "agent/collect/sd_dl.h"

#include "common/err.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dlsym returns an object pointer; POSIX guarantees it converts to a function pointer. The
 * memcpy keeps that conversion out of ISO C's sight. */
#define LOAD_FN(dst, ptr)                                                                          \
    do {                                                                                           \
        void *p_ = (ptr);                                                                          \
        memcpy(&(dst), &p_, sizeof(dst));                                                          \
    } while (0)

#define REQUIRE(sd, member, symbol)                                                                \
    do {                                                                                           \
        LOAD_FN((sd)->member, dlsym((sd)->lib, symbol));                                           \
        if (!(sd)->member)                                                                         \
            return symbol;                                                                         \
    } while (0)

/* Resolves every function; returns the name of the first required one that is missing. */
static const char *resolve_all(struct agent_sd *sd)
{
    REQUIRE(sd, bus_open_system, "sd_bus_open_system");
    REQUIRE(sd, bus_close, "sd_bus_close");
    REQUIRE(sd, bus_unref, "sd_bus_unref");
    REQUIRE(sd, bus_is_open, "sd_bus_is_open");
    REQUIRE(sd, bus_process, "sd_bus_process");
    REQUIRE(sd, bus_wait, "sd_bus_wait");
    REQUIRE(sd, bus_call, "sd_bus_call");
    REQUIRE(sd, msg_new_method_call, "sd_bus_message_new_method_call");
    REQUIRE(sd, msg_append, "sd_bus_message_append");
    REQUIRE(sd, msg_read, "sd_bus_message_read");
    REQUIRE(sd, msg_enter_container, "sd_bus_message_enter_container");
    REQUIRE(sd, msg_exit_container, "sd_bus_message_exit_container");
    REQUIRE(sd, msg_unref, "sd_bus_message_unref");
    REQUIRE(sd, error_free, "sd_bus_error_free");
    REQUIRE(sd, error_set_errno, "sd_bus_error_set_errno");
    REQUIRE(sd, error_has_name, "sd_bus_error_has_name");
    LOAD_FN(sd->bus_is_ready, dlsym(sd->lib, "sd_bus_is_ready"));
    return NULL;
}

int agent_sd_open(const char *library, struct agent_sd **ret, char *why, size_t why_len)
{
    struct agent_sd *sd = calloc(1, sizeof(*sd));
    const char *missing;
    int r;

    if (!sd) {
        snprintf(why, why_len, "out of memory");
        return MON_ENOMEM;
    }
    sd->lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!sd->lib) {
        const char *e = dlerror();
        snprintf(why, why_len, "%s is not available: %s", library, e ? e : "dlopen failed");
        r = MON_ENOENT;
        goto fail;
    }
    missing = resolve_all(sd);
    if (missing) {
        snprintf(why, why_len, "%s is too old: no %s (systemd 221 or newer needed)", library,
                 missing);
        r = MON_EUNSUPPORTED;
        goto fail;
    }
    *ret = sd;
    return MON_OK;
fail:
    if (sd->lib)
        dlclose(sd->lib);
    free(sd);
    return r;
}

void agent_sd_close(struct agent_sd *sd)
{
    if (!sd)
        return;
    dlclose(sd->lib);
    free(sd);
}
