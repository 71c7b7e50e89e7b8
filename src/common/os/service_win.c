/* SPDX-License-Identifier: MIT */
/* Windows service glue: install/uninstall through the Service Control Manager and the service
 * dispatcher that runs the daemon on the service thread and reports its state. */
#include "common/os/service.h"

#include "common/err.h"
#include "common/os/os.h"

#include <windows.h>

#include <stdio.h>
#include <string.h>
#include <wchar.h>

#define WIDE_MAX MON_PATH_MAX /* UTF-16 units of a path */

/* The SCM calls the service's main function without a context pointer, and a process hosts
 * one service, so its state is process-wide by necessity: set by mon_os_service_run before the
 * dispatcher starts, changed only under lock afterwards. */
static struct {
    wchar_t name[256];
    int (*run)(void *ctx);
    void *ctx;
    int result;
    SERVICE_STATUS_HANDLE handle;
    SERVICE_STATUS status;
    DWORD checkpoint; /* counts the pending reports, as the SCM asks */
    CRITICAL_SECTION lock;
} svc;

/* Writes "what: <system message> (code N)" into why. */
static void win_error(char *why, size_t why_len, const char *what, DWORD code)
{
    char msg[512] = "";
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
                             0, msg, sizeof(msg), NULL);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == '.'))
        msg[--n] = '\0';
    snprintf(why, why_len, "%s: %s (code %lu)", what, n ? msg : "unknown error",
             (unsigned long)code);
}

static int code_from_win32(DWORD e)
{
    switch (e) {
    case ERROR_ACCESS_DENIED:
        return MON_EPERM;
    case ERROR_SERVICE_DOES_NOT_EXIST:
        return MON_ENOENT;
    default:
        return MON_ESYS;
    }
}

static bool widen(const char *s, wchar_t *out, int out_len)
{
    return MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, out, out_len) > 0;
}

static SC_HANDLE open_manager(DWORD access, char *why, size_t why_len, int *ret_code)
{
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, access);
    if (!scm) {
        DWORD e = GetLastError();
        *ret_code = code_from_win32(e);
        if (e == ERROR_ACCESS_DENIED)
            snprintf(why, why_len,
                     "administrator rights are needed (run the console or "
                     "PowerShell as Administrator)");
        else
            win_error(why, why_len, "cannot open the Service Control Manager", e);
    }
    return scm;
}

int mon_os_service_install(const struct mon_os_service_spec *spec, char *why, size_t why_len)
{
    static wchar_t exe[WIDE_MAX], cmd[WIDE_MAX * 2], args[WIDE_MAX];
    wchar_t name[256], display[256], desc[1024];
    SERVICE_DESCRIPTIONW description = {desc};
    SC_ACTION restart[3] = {
        {SC_ACTION_RESTART, 5000}, {SC_ACTION_RESTART, 5000}, {SC_ACTION_RESTART, 5000}};
    SERVICE_FAILURE_ACTIONSW failure = {
        .dwResetPeriod = 24 * 3600, .cActions = 3, .lpsaActions = restart};
    SERVICE_FAILURE_ACTIONS_FLAG on_error_exit = {TRUE};
    SC_HANDLE scm = NULL, s = NULL;
    DWORD n;
    int r = MON_ESYS, updated = 0;

    if (!widen(spec->name, name, 256) || !widen(spec->display_name, display, 256) ||
        !widen(spec->description, desc, 1024) || !widen(spec->arguments, args, WIDE_MAX)) {
        snprintf(why, why_len, "service name, description or arguments too long or not UTF-8");
        return MON_EINVAL;
    }
    n = GetModuleFileNameW(NULL, exe, WIDE_MAX);
    if (n == 0 || n >= WIDE_MAX) {
        win_error(why, why_len, "cannot find this program's path", GetLastError());
        return MON_ESYS;
    }
    /* The SCM splits the command line itself: the program path is quoted (it often contains
     * spaces, as in C:\Program Files). */
    if (swprintf(cmd, WIDE_MAX * 2, L"\"%ls\" %ls", exe, args) < 0) {
        snprintf(why, why_len, "command line too long");
        return MON_ETOOBIG;
    }
    scm = open_manager(SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE, why, why_len, &r);
    if (!scm)
        return r;
    s = CreateServiceW(scm, name, display, SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
                       SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL, NULL);
    if (!s && GetLastError() == ERROR_SERVICE_EXISTS) {
        s = OpenServiceW(scm, name, SERVICE_ALL_ACCESS);
        if (s && !ChangeServiceConfigW(s, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                       SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL, NULL,
                                       display)) {
            r = code_from_win32(GetLastError());
            win_error(why, why_len, "cannot update the installed service", GetLastError());
            goto out;
        }
        updated = 1;
    }
    if (!s) {
        DWORD e = GetLastError();
        r = code_from_win32(e);
        win_error(why, why_len, "cannot create the service", e);
        goto out;
    }
    /* The description and the restart policy are conveniences: a Windows that refuses them
     * still has a working service. */
    ChangeServiceConfig2W(s, SERVICE_CONFIG_DESCRIPTION, &description);
    ChangeServiceConfig2W(s, SERVICE_CONFIG_FAILURE_ACTIONS, &failure);
    ChangeServiceConfig2W(s, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &on_error_exit);
    r = updated;
out:
    if (s)
        CloseServiceHandle(s);
    CloseServiceHandle(scm);
    return r;
}

int mon_os_service_uninstall(const char *name, int timeout_ms, char *why, size_t why_len)
{
    wchar_t wname[256];
    SC_HANDLE scm, s = NULL;
    SERVICE_STATUS st;
    DWORD start = GetTickCount();
    int r = MON_ESYS;

    if (!widen(name, wname, 256)) {
        snprintf(why, why_len, "service name too long or not UTF-8");
        return MON_EINVAL;
    }
    scm = open_manager(SC_MANAGER_CONNECT, why, why_len, &r);
    if (!scm)
        return r;
    s = OpenServiceW(scm, wname, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
    if (!s) {
        DWORD e = GetLastError();
        r = code_from_win32(e);
        if (e == ERROR_SERVICE_DOES_NOT_EXIST)
            snprintf(why, why_len, "no service named %s is installed", name);
        else
            win_error(why, why_len, "cannot open the service", e);
        goto out;
    }
    if (QueryServiceStatus(s, &st) && st.dwCurrentState != SERVICE_STOPPED) {
        ControlService(s, SERVICE_CONTROL_STOP, &st);
        while (QueryServiceStatus(s, &st) && st.dwCurrentState != SERVICE_STOPPED) {
            if ((int)(GetTickCount() - start) > timeout_ms) {
                snprintf(why, why_len, "the service did not stop within %d s", timeout_ms / 1000);
                r = MON_ETIMEDOUT;
                goto out;
            }
            Sleep(200);
        }
    }
    if (!DeleteService(s) && GetLastError() != ERROR_SERVICE_MARKED_FOR_DELETE) {
        DWORD e = GetLastError();
        r = code_from_win32(e);
        win_error(why, why_len, "cannot delete the service", e);
        goto out;
    }
    r = MON_OK;
out:
    if (s)
        CloseServiceHandle(s);
    CloseServiceHandle(scm);
    return r;
}

/* Reports state to the SCM; the wait hint says how long the next step may take. */
static void report(DWORD state, DWORD wait_hint)
{
    EnterCriticalSection(&svc.lock);
    svc.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    svc.status.dwCurrentState = state;
    svc.status.dwControlsAccepted = state == SERVICE_STOPPED || state == SERVICE_STOP_PENDING
                                        ? 0
                                        : SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN;
    svc.status.dwWaitHint = wait_hint;
    svc.status.dwCheckPoint =
        state == SERVICE_RUNNING || state == SERVICE_STOPPED ? 0 : ++svc.checkpoint;
    if (state == SERVICE_STOPPED && svc.result != 0) {
        svc.status.dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
        svc.status.dwServiceSpecificExitCode = (DWORD)svc.result;
    }
    if (svc.handle)
        SetServiceStatus(svc.handle, &svc.status);
    LeaveCriticalSection(&svc.lock);
}

static DWORD WINAPI control_handler(DWORD control, DWORD type, LPVOID data, LPVOID ctx)
{
    (void)type;
    (void)data;
    (void)ctx;
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        /* The daemon stops within a few seconds: polls aborted, last checkpoint written. */
        report(SERVICE_STOP_PENDING, 15000);
        mon_os_request_stop();
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    (void)argc;
    (void)argv;
    svc.handle = RegisterServiceCtrlHandlerExW(svc.name, control_handler, NULL);
    if (!svc.handle) {
        svc.result = 1;
        return;
    }
    report(SERVICE_START_PENDING, 30000);
    svc.result = svc.run(svc.ctx);
    report(SERVICE_STOPPED, 0);
}

int mon_os_service_run(const char *name, int (*run)(void *ctx), void *ctx, char *why,
                       size_t why_len)
{
    SERVICE_TABLE_ENTRYW table[] = {{svc.name, service_main}, {NULL, NULL}};

    if (!widen(name, svc.name, 256)) {
        snprintf(why, why_len, "service name too long or not UTF-8");
        return MON_EINVAL;
    }
    InitializeCriticalSection(&svc.lock);
    mon_os_signals_block(); /* the stop event exists before the SCM can ask for a stop */
    svc.run = run;
    svc.ctx = ctx;
    if (!StartServiceCtrlDispatcherW(table)) {
        DWORD e = GetLastError();
        if (e == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
            snprintf(why, why_len,
                     "not started by the Service Control Manager: --service is "
                     "for the installed service (start it with 'sc start %s'); "
                     "in a console run without --service",
                     name);
            return MON_EUNSUPPORTED;
        }
        win_error(why, why_len, "cannot connect to the Service Control Manager", e);
        return MON_ESYS;
    }
    return svc.result;
}

void mon_os_service_ready(void)
{
    if (svc.handle)
        report(SERVICE_RUNNING, 0);
}
