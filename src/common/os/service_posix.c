/* SPDX-License-Identifier: MIT */
/* Service glue on POSIX systems: none; systemd runs the daemons from their unit files. */
#include "common/os/service.h"

#include "common/err.h"

#include <stdio.h>

static int unsupported(char *why, size_t why_len)
{
    snprintf(why, why_len,
             "Windows services exist only on Windows; on Linux install the "
             "systemd unit (deploy/aggregator/monitor-aggregator.service)");
    return MON_EUNSUPPORTED;
}

int mon_os_service_install(const struct mon_os_service_spec *spec, char *why, size_t why_len)
{
    (void)spec;
    return unsupported(why, why_len);
}

int mon_os_service_uninstall(const char *name, int timeout_ms, char *why, size_t why_len)
{
    (void)name;
    (void)timeout_ms;
    return unsupported(why, why_len);
}

int mon_os_service_run(const char *name, int (*run)(void *ctx), void *ctx, char *why,
                       size_t why_len)
{
    (void)name;
    (void)run;
    (void)ctx;
    return unsupported(why, why_len);
}

void mon_os_service_ready(void)
{
}
