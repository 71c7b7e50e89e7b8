/* SPDX-License-Identifier: MIT */
/* Windows implementation of the portability layer (mingw-w64, winpthreads). */
#include "common/os/os.h"
#include "common/os/os_priv.h"

#include <limits.h>

#include "common/err.h"
#include "common/str.h"

#include <windows.h>

#include <direct.h>
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <malloc.h>
#include <psapi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int mon_os_init(void)
{
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
        return MON_ESYS;
    return MON_OK;
}

static bool is_sep(char c)
{
    return c == '/' || c == '\\';
}

const char *mon_os_path_last_sep(const char *path)
{
    const char *sep = NULL;
    for (const char *p = path; *p; p++)
        if (is_sep(*p))
            sep = p;
    return sep;
}

bool mon_os_path_is_absolute(const char *path)
{
    return is_sep(path[0]) || (path[0] && path[1] == ':');
}

int mon_os_mkdir_p(const char *path)
{
    char tmp[MON_PATH_MAX];
    size_t len, start = 1;

    if (!mon_strlcpy(tmp, path, sizeof(tmp)))
        return MON_ETOOBIG;
    len = strlen(tmp);
    while (len > 1 && is_sep(tmp[len - 1]))
        tmp[--len] = '\0';
    if (len >= 2 && tmp[1] == ':')
        start = 3; /* skip the drive, "C:\" */
    for (char *p = tmp + (start < len ? start : len); *p; p++) {
        char sep = *p;
        if (!is_sep(sep))
            continue;
        *p = '\0';
        if (_mkdir(tmp) < 0 && errno != EEXIST)
            return mon_err_from_errno(errno);
        *p = sep;
    }
    if (_mkdir(tmp) < 0 && errno != EEXIST)
        return mon_err_from_errno(errno);
    return MON_OK;
}

int mon_os_mkdir_parent(const char *file_path)
{
    const char *sep = mon_os_path_last_sep(file_path);
    char dir[MON_PATH_MAX];
    size_t len;

    if (!sep || sep == file_path) /* a bare name, or a file in the current drive's root */
        return MON_OK;
    len = (size_t)(sep - file_path);
    if (file_path[len - 1] == ':') /* "C:\x.db": the drive root exists */
        return MON_OK;
    if (len >= sizeof(dir))
        return MON_ETOOBIG;
    memcpy(dir, file_path, len);
    dir[len] = '\0';
    return mon_os_mkdir_p(dir);
}

int mon_os_exe_dir(char *buf, size_t size)
{
    wchar_t wpath[MAX_PATH * 4];
    char path[MAX_PATH * 4 * 3];
    DWORD n = GetModuleFileNameW(NULL, wpath, (DWORD)(sizeof(wpath) / sizeof(wpath[0])));
    const char *slash;

    if (n == 0 || n >= sizeof(wpath) / sizeof(wpath[0]))
        return MON_ESYS;
    if (WideCharToMultiByte(CP_UTF8, 0, wpath, -1, path, (int)sizeof(path), NULL, NULL) <= 0)
        return MON_ETOOBIG;
    slash = mon_os_path_last_sep(path);
    if (!slash)
        return MON_ENOENT;
    path[slash - path] = '\0';
    return mon_strlcpy(buf, path, size) ? MON_OK : MON_ETOOBIG;
}

bool mon_os_path_exists(const char *path)
{
    struct _stat64 st;
    return _stat64(path, &st) == 0;
}

long long mon_os_rss_bytes(void)
{
    PROCESS_MEMORY_COUNTERS pmc;
    if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof(pmc)))
        return -1;
    return (long long)pmc.WorkingSetSize;
}

int mon_os_realpath(const char *path, char *buf, size_t size)
{
    char tmp[MAX_PATH * 4];
    if (!_fullpath(tmp, path, sizeof(tmp)))
        return MON_ETOOBIG;
    if (!mon_os_path_exists(tmp))
        return MON_ENOENT;
    return mon_strlcpy(buf, tmp, size) ? MON_OK : MON_ETOOBIG;
}

int mon_os_open_file(const char *path, int *ret_fd, unsigned long long *ret_size)
{
    struct _stat64 st;
    int fd;

    /* Windows opens named pipes and devices without waiting; the type check refuses them. */
    fd = _open(path, _O_RDONLY | _O_BINARY | _O_NOINHERIT);
    if (fd < 0) {
        int r = mon_err_from_errno(errno);
        /* Windows refuses to open a folder at all (EACCES): call it what it is, as on POSIX. */
        if (r == MON_EPERM && _stat64(path, &st) == 0 && (st.st_mode & _S_IFDIR))
            return MON_EINVAL;
        return r;
    }
    if (_fstat64(fd, &st) < 0) {
        int r = mon_err_from_errno(errno);
        _close(fd);
        return r;
    }
    if (!(st.st_mode & _S_IFREG)) {
        _close(fd);
        return MON_EINVAL;
    }
    *ret_fd = fd;
    *ret_size = (unsigned long long)st.st_size;
    return MON_OK;
}

long mon_os_fd_read(int fd, void *buf, size_t len)
{
    int n = _read(fd, buf, len > INT_MAX ? INT_MAX : (unsigned)len);
    return n < 0 ? mon_err_from_errno(errno) : (long)n;
}

void mon_os_fd_close(int fd)
{
    _close(fd);
}

int mon_os_fsync(int fd)
{
    return _commit(fd) == 0 ? MON_OK : mon_err_from_errno(errno);
}

static int errno_from_win32(DWORD e)
{
    switch (e) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
        return ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION:
        return EACCES;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS:
        return EEXIST;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    default:
        return EIO;
    }
}

int mon_os_rename_replace(const char *from, const char *to)
{
    if (MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        return MON_OK;
    errno = errno_from_win32(GetLastError());
    return mon_err_from_errno(errno);
}

/* A console control handler and C signal handlers receive no context pointer, so the event
 * they set is process-wide state by necessity: created once by mon_os_signals_block. */
static HANDLE stop_event;

static BOOL WINAPI console_handler(DWORD type)
{
    switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT:
    case CTRL_SHUTDOWN_EVENT:
        SetEvent(stop_event);
        return TRUE;
    default:
        return FALSE;
    }
}

static void stop_signal_handler(int sig)
{
    signal(sig, stop_signal_handler);
    SetEvent(stop_event);
}

/* The event is auto-reset: a request made before anyone waits is kept until the wait. */
static void ensure_stop_event(void)
{
    if (!stop_event)
        stop_event = CreateEventW(NULL, FALSE, FALSE, NULL);
}

void mon_os_request_stop(void)
{
    ensure_stop_event();
    SetEvent(stop_event);
}

void mon_os_signals_block(void)
{
    ensure_stop_event();
    SetConsoleCtrlHandler(console_handler, TRUE);
    signal(SIGTERM, stop_signal_handler);
    signal(SIGINT, stop_signal_handler);
}

enum mon_os_signal mon_os_signals_wait(void)
{
    /* Windows has no reload signal: only stop requests arrive. */
    if (!stop_event)
        mon_os_signals_block();
    while (WaitForSingleObject(stop_event, INFINITE) != WAIT_OBJECT_0)
        Sleep(100);
    return MON_OS_SIGNAL_STOP;
}

/* The lock covers one byte far past the end of the file, so the pid written into the file stays
 * readable by others. */
#define LOCK_OFFSET_HIGH 0x7fffffffu

int mon_os_lock_file(const char *path, int *ret_handle)
{
    char pid[32];
    OVERLAPPED ov = {0};
    HANDLE h;
    int fd = _open(path, _O_RDWR | _O_CREAT | _O_BINARY | _O_NOINHERIT, _S_IREAD | _S_IWRITE), n;

    if (fd < 0)
        return mon_err_from_errno(errno);
    h = (HANDLE)_get_osfhandle(fd);
    ov.OffsetHigh = LOCK_OFFSET_HIGH;
    if (h == INVALID_HANDLE_VALUE ||
        !LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) {
        DWORD e = GetLastError();
        _close(fd);
        return e == ERROR_LOCK_VIOLATION || e == ERROR_IO_PENDING ? MON_EBUSY : MON_ESYS;
    }
    /* The holder's pid, for people looking at the file; the lock itself is what counts. */
    n = snprintf(pid, sizeof(pid), "%lu\n", (unsigned long)GetCurrentProcessId());
    if (_chsize(fd, 0) == 0 && n > 0 && _write(fd, pid, (unsigned)n) < 0) {
        /* informational only */
    }
    *ret_handle = fd;
    return MON_OK;
}

int mon_os_lock_existing(const char *path, int *ret_handle)
{
    OVERLAPPED ov = {0};
    HANDLE h;
    int fd;

    /* Read access is enough to lock; sharing everything (delete included) keeps SQLite's own
     * opens of the file and a restore's replacement working. */
    h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        errno = errno_from_win32(GetLastError());
        return mon_err_from_errno(errno);
    }
    ov.OffsetHigh = LOCK_OFFSET_HIGH;
    if (!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) {
        DWORD e = GetLastError();
        CloseHandle(h);
        return e == ERROR_LOCK_VIOLATION || e == ERROR_IO_PENDING ? MON_EBUSY : MON_ESYS;
    }
    fd = _open_osfhandle((intptr_t)h, _O_RDONLY);
    if (fd < 0) {
        UnlockFileEx(h, 0, 1, 0, &ov);
        CloseHandle(h);
        return MON_ESYS;
    }
    *ret_handle = fd;
    return MON_OK;
}

static void file_id_from_info(const BY_HANDLE_FILE_INFORMATION *fi, struct mon_os_file_id *ret)
{
    ret->device = fi->dwVolumeSerialNumber;
    ret->inode = ((unsigned long long)fi->nFileIndexHigh << 32) | fi->nFileIndexLow;
    ret->size = ((unsigned long long)fi->nFileSizeHigh << 32) | fi->nFileSizeLow;
    ret->links = fi->nNumberOfLinks;
}

int mon_os_file_id(const char *path, struct mon_os_file_id *ret)
{
    BY_HANDLE_FILE_INFORMATION fi;
    /* No access rights: only the metadata is read (Windows locks are per handle, so this open
     * disturbs nobody's). */
    HANDLE h = CreateFileA(path, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    BOOL ok;
    if (h == INVALID_HANDLE_VALUE) {
        errno = errno_from_win32(GetLastError());
        return mon_err_from_errno(errno);
    }
    ok = GetFileInformationByHandle(h, &fi);
    CloseHandle(h);
    if (!ok)
        return MON_ESYS;
    file_id_from_info(&fi, ret);
    return MON_OK;
}

int mon_os_file_id_handle(int handle, struct mon_os_file_id *ret)
{
    BY_HANDLE_FILE_INFORMATION fi;
    HANDLE h = (HANDLE)_get_osfhandle(handle);
    if (h == INVALID_HANDLE_VALUE || !GetFileInformationByHandle(h, &fi))
        return MON_ESYS;
    file_id_from_info(&fi, ret);
    return MON_OK;
}

bool mon_os_same_file(const struct mon_os_file_id *a, const struct mon_os_file_id *b)
{
    return a->device == b->device && a->inode == b->inode;
}

int mon_os_create_private(const char *path, int *ret_fd)
{
    /* Windows has no mode bits: the file inherits the folder's access control list. */
    int fd = _open(path, _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT,
                   _S_IREAD | _S_IWRITE);
    if (fd < 0)
        return mon_err_from_errno(errno);
    *ret_fd = fd;
    return MON_OK;
}

int mon_os_restrict_mode(const char *path, unsigned mode, unsigned *ret_old_mode)
{
    (void)mode;
    (void)ret_old_mode;
    return mon_os_path_exists(path) ? 0 : MON_ENOENT;
}

const char *mon_os_errno_text(int errnum, char *buf, size_t size)
{
    if (size && strerror_s(buf, size, errnum) != 0)
        snprintf(buf, size, "error %d", errnum);
    return buf;
}

void mon_os_unlock_file(int handle)
{
    OVERLAPPED ov = {0};
    HANDLE h;

    if (handle < 0)
        return;
    h = (HANDLE)_get_osfhandle(handle);
    ov.OffsetHigh = LOCK_OFFSET_HIGH;
    if (h != INVALID_HANDLE_VALUE)
        UnlockFileEx(h, 0, 1, 0, &ov);
    _close(handle);
}

long mon_os_raise_fd_limit(void)
{
    /* Winsock sockets are not C runtime descriptors: no per-process limit to raise. */
    return LONG_MAX;
}

int mon_os_notify(const char *state)
{
    (void)state;
    return 0;
}

int mon_os_listen(const struct sockaddr *addr, socklen_t addr_len, bool dual_stack, int backlog,
                  mon_socket *ret)
{
    DWORD v6only = dual_stack ? 0 : 1;
    BOOL exclusive = TRUE;
    u_long nonblocking = 1;
    int e;
    SOCKET s = socket(addr->sa_family, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET)
        return MON_ESYS;
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    /* Without it another process could bind the same port beside us (SO_REUSEADDR there
     * means "steal the port"). */
    setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&exclusive, sizeof(exclusive));
    if (addr->sa_family == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&v6only, sizeof(v6only));
    if (bind(s, addr, addr_len) != 0 || listen(s, backlog) != 0 ||
        ioctlsocket(s, FIONBIO, &nonblocking) != 0) {
        e = WSAGetLastError();
        closesocket(s);
        return e == WSAEADDRINUSE || e == WSAEACCES ? MON_EBUSY : MON_ESYS;
    }
    *ret = s;
    return MON_OK;
}

unsigned mon_os_sock_port(mon_socket s)
{
    struct sockaddr_storage ss = {0};
    int len = sizeof(ss);
    if (getsockname(s, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

int mon_os_accept(mon_socket listener, mon_socket *ret, struct sockaddr_storage *ret_addr,
                  socklen_t *ret_addr_len)
{
    int len = sizeof(*ret_addr);
    u_long nonblocking = 1;
    SOCKET s = accept(listener, (struct sockaddr *)ret_addr, &len);
    if (s == INVALID_SOCKET) {
        int e = WSAGetLastError();
        return e == WSAEWOULDBLOCK || e == WSAECONNRESET || e == WSAEINTR ? MON_EAGAIN : MON_ESYS;
    }
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    ioctlsocket(s, FIONBIO, &nonblocking);
    *ret = s;
    *ret_addr_len = len;
    return MON_OK;
}

long mon_os_sock_recv(mon_socket s, void *buf, size_t len, bool peek)
{
    int n = recv(s, buf, len > INT_MAX ? INT_MAX : (int)len, peek ? MSG_PEEK : 0);
    if (n >= 0)
        return n;
    return WSAGetLastError() == WSAEWOULDBLOCK ? MON_EAGAIN : MON_EIO;
}

long mon_os_sock_send(mon_socket s, const void *buf, size_t len)
{
    int n = send(s, buf, len > INT_MAX ? INT_MAX : (int)len, 0);
    if (n >= 0)
        return n;
    return WSAGetLastError() == WSAEWOULDBLOCK ? MON_EAGAIN : MON_EIO;
}

void mon_os_sock_shutdown(mon_socket s, bool both)
{
    shutdown(s, both ? SD_BOTH : SD_SEND);
}

void mon_os_sock_close(mon_socket s)
{
    closesocket(s);
}

int mon_os_poll(mon_pollfd *fds, size_t n, int timeout_ms)
{
    int r = WSAPoll(fds, (ULONG)n, timeout_ms);
    return r < 0 ? 0 : r;
}

void mon_os_release_free_memory(void)
{
    _heapmin();
}

int mon_os_host_names(char *buf, size_t size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *list = NULL;
    char host[256], addr[INET6_ADDRSTRLEN];
    bool fits = true;

    if (size == 0)
        return MON_ETOOBIG;
    buf[0] = '\0';
    if (gethostname(host, (int)sizeof(host)) != 0)
        return MON_OK;
    host[sizeof(host) - 1] = '\0';
    if (!mon_os_names_add(buf, size, host))
        return MON_ETOOBIG;
    /* Windows resolves its own name to the addresses of its adapters. */
    if (getaddrinfo(host, NULL, &hints, &list) != 0)
        return MON_OK;
    for (struct addrinfo *i = list; i; i = i->ai_next) {
        if (i->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ai_addr)->sin_addr, addr, sizeof(addr));
        else if (i->ai_family == AF_INET6 &&
                 !IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ai_addr)->sin6_addr))
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ai_addr)->sin6_addr, addr,
                      sizeof(addr));
        else
            continue;
        if (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0)
            continue;
        fits = mon_os_names_add(buf, size, addr) && fits;
    }
    freeaddrinfo(list);
    return fits ? MON_OK : MON_ETOOBIG;
}
