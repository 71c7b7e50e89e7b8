/* SPDX-License-Identifier: MIT */
/* Running as a Windows service under the Service Control Manager: install, uninstall, and the
 * dispatcher glue. Elsewhere every call answers MON_EUNSUPPORTED (Linux uses systemd units). */
#ifndef MON_COMMON_OS_SERVICE_H
#define MON_COMMON_OS_SERVICE_H

/* Threads: install and uninstall are command-line actions of the main thread; mon_os_service_run
 * is called once by main and runs run() on the SCM's service thread; mon_os_service_ready may be
 * called from any thread. The spec and name are only read during the call. */

#include <stddef.h>

struct mon_os_service_spec {
    const char *name;         /* service (key) name, e.g. "monitor-aggregator" */
    const char *display_name; /* shown in services.msc */
    const char *description;
    const char *arguments; /* appended to the quoted path of this executable */
};

/* Registers this executable as an automatically started service that runs as LocalSystem and
 * is restarted by the SCM after a crash (5 s, 3 times a day). Installing a service that exists
 * updates its command line and description instead (so reinstalling after an upgrade or a
 * config move is safe). Needs administrator rights.
 * Returns 0 when installed, 1 when an existing service was updated, or MON_EPERM /
 * MON_EUNSUPPORTED / MON_ESYS with the reason in why. */
int mon_os_service_install(const struct mon_os_service_spec *spec, char *why, size_t why_len);

/* Stops the service when it runs (waiting up to timeout_ms) and deletes it. MON_ENOENT when no
 * such service is installed; MON_EPERM, MON_ETIMEDOUT, MON_EUNSUPPORTED or MON_ESYS otherwise,
 * with the reason in why. */
int mon_os_service_uninstall(const char *name, int timeout_ms, char *why, size_t why_len);

/* For a process started by the SCM: connects to it and calls run(ctx) on the service thread,
 * reporting "start pending" until mon_os_service_ready() and "stopped" (with run's return
 * value as the exit code) after run returns. A stop or shutdown request from the SCM makes
 * mon_os_signals_wait() return MON_OS_SIGNAL_STOP. Returns run's value, or MON_EUNSUPPORTED
 * when the process was not started by the SCM (why says so). */
int mon_os_service_run(const char *name, int (*run)(void *ctx), void *ctx, char *why,
                       size_t why_len);

/* Tells the SCM that the service is up (listening). No-op outside service mode. */
void mon_os_service_ready(void);

#endif
