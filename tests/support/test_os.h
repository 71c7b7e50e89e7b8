/* SPDX-License-Identifier: MIT */
/* Test-side portability for the unit tests that also run on Windows (under wine): temp folders,
 * tree removal, file times, anonymous temp files and sockets. The only test file with OS
 * #ifdefs, as src/common/os/ is for the product. */
#ifndef MON_TESTS_SUPPORT_TEST_OS_H
#define MON_TESTS_SUPPORT_TEST_OS_H

#include "common/os/os.h" /* socket headers */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef _WIN32
#include <direct.h>
#include <fcntl.h>
#include <io.h>
#include <sys/utime.h>
#include <windows.h>
#else
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

/* Creates a new, empty folder "<system temp>/<prefix>-XXXXXX" and writes its path with '/'
 * separators into buf. Returns 0, or -1 with errno set. */
static inline int test_make_temp_dir(const char *prefix, char *buf, size_t size)
{
#ifdef _WIN32
    char base[MAX_PATH + 1];
    DWORD n = GetTempPathA(sizeof(base), base);
    if (n == 0 || n >= sizeof(base))
        return -1;
    for (char *p = base; *p; p++)
        if (*p == '\\')
            *p = '/';
    if (n > 0 && base[n - 1] == '/')
        base[n - 1] = '\0';
    for (int attempt = 0; attempt < 100; attempt++) {
        if (snprintf(buf, size, "%s/%s-%08lx%02x", base, prefix,
                     (unsigned long)GetTickCount() ^ (unsigned long)GetCurrentProcessId(),
                     attempt) >= (int)size)
            return -1;
        if (_mkdir(buf) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
#else
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    if (snprintf(buf, size, "%s/%s-XXXXXX", base, prefix) >= (int)size)
        return -1;
    return mkdtemp(buf) ? 0 : -1;
#endif
}

/* Removes a folder tree made by a test (plain files and folders; symlinks are unlinked, never
 * followed). */
static inline void test_rm_tree(const char *path)
{
#ifdef _WIN32
    char pattern[MAX_PATH * 2];
    WIN32_FIND_DATAA fd;
    HANDLE h;
    if (snprintf(pattern, sizeof(pattern), "%s/*", path) >= (int)sizeof(pattern))
        return;
    h = FindFirstFileA(pattern, &fd);
    if (h != INVALID_HANDLE_VALUE) {
        do {
            char child[MAX_PATH * 2];
            if (strcmp(fd.cFileName, ".") == 0 || strcmp(fd.cFileName, "..") == 0)
                continue;
            if (snprintf(child, sizeof(child), "%s/%s", path, fd.cFileName) >= (int)sizeof(child))
                continue;
            if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
                test_rm_tree(child);
            else
                DeleteFileA(child);
        } while (FindNextFileA(h, &fd));
        FindClose(h);
    }
    RemoveDirectoryA(path);
#else
    DIR *d = opendir(path);
    struct dirent *e;
    if (d) {
        while ((e = readdir(d)) != NULL) {
            char child[512];
            struct stat sb;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >= (int)sizeof(child))
                continue;
            if (lstat(child, &sb) == 0 && S_ISDIR(sb.st_mode))
                test_rm_tree(child);
            else
                unlink(child);
        }
        closedir(d);
    }
    rmdir(path);
#endif
}

/* Sets a file's access and modification times to utc_s. Returns 0 or -1. */
static inline int test_set_mtime(const char *path, int64_t utc_s)
{
#ifdef _WIN32
    struct __utimbuf64 t = {.actime = utc_s, .modtime = utc_s};
    return _utime64(path, &t);
#else
    struct timeval tv[2] = {{.tv_sec = (time_t)utc_s}, {.tv_sec = (time_t)utc_s}};
    return utimes(path, tv);
#endif
}

/* ---- file modes and links: Windows has no permission bits (the mode checks are skipped
 * there) and no symlinks without privileges ---- */

/* True where files have POSIX permission bits. */
static inline bool test_has_file_modes(void)
{
#ifdef _WIN32
    return false;
#else
    return true;
#endif
}

/* The permission bits of path (0777 part), or 0 where there are none or on error. */
static inline unsigned test_file_mode(const char *path)
{
#ifdef _WIN32
    (void)path;
    return 0;
#else
    struct stat sb;
    return stat(path, &sb) == 0 ? (unsigned)sb.st_mode & 0777u : 0;
#endif
}

/* chmod; a no-op returning 0 on Windows. */
static inline int test_chmod(const char *path, unsigned mode)
{
#ifdef _WIN32
    (void)path;
    (void)mode;
    return 0;
#else
    return chmod(path, (mode_t)mode);
#endif
}

/* Sets the process's umask and returns the old one (0 and nothing done on Windows). */
static inline unsigned test_umask(unsigned mask)
{
#ifdef _WIN32
    (void)mask;
    return 0;
#else
    return (unsigned)umask((mode_t)mask);
#endif
}

/* Makes `link_path` a second name (hard link) of the existing file `target`. 0 or -1. */
static inline int test_hard_link(const char *target, const char *link_path)
{
#ifdef _WIN32
    return CreateHardLinkA(link_path, target, NULL) ? 0 : -1;
#else
    return link(target, link_path);
#endif
}

/* Makes `link_path` a symlink to target; -1 where the test cannot (Windows). */
static inline int test_symlink(const char *target, const char *link_path)
{
#ifdef _WIN32
    (void)target;
    (void)link_path;
    return -1;
#else
    return symlink(target, link_path);
#endif
}

/* Opens a new temporary file for reading and writing that disappears when closed (it has no
 * name left on POSIX; Windows deletes it at close). Returns the descriptor or -1. */
static inline int test_anonymous_file(void)
{
    char dir[512], path[600];
    int fd;
    if (test_make_temp_dir("mon-anon", dir, sizeof(dir)) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/f", dir);
#ifdef _WIN32
    fd = _open(path, _O_RDWR | _O_CREAT | _O_EXCL | _O_BINARY | _O_TEMPORARY, _S_IREAD | _S_IWRITE);
    /* The folder goes when the test's process ends; the file when it is closed. */
#else
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    unlink(path);
    rmdir(dir);
#endif
    return fd;
}

/* ---- sockets: descriptors are kept in an int, as the tests (and Winsock's small handle
 * values in practice) allow ---- */

#ifdef _WIN32
#define TEST_MSG_NOSIGNAL 0 /* Windows raises no SIGPIPE */
#define TEST_POLLIN       POLLRDNORM
#define TEST_POLLOUT      POLLWRNORM
#else
#define TEST_MSG_NOSIGNAL MSG_NOSIGNAL
#define TEST_POLLIN       POLLIN
#define TEST_POLLOUT      POLLOUT
#endif

/* Starts the socket library (Winsock) once per process; a no-op on POSIX. */
static inline void test_sockets_init(void)
{
#ifdef _WIN32
    WSADATA wsa;
    WSAStartup(MAKEWORD(2, 2), &wsa);
#endif
}

static inline int test_socket(int family)
{
#ifdef _WIN32
    SOCKET s = socket(family, SOCK_STREAM, IPPROTO_TCP);
    return s == INVALID_SOCKET ? -1 : (int)s;
#else
    return socket(family, SOCK_STREAM, 0);
#endif
}

static inline void test_sock_close(int fd)
{
#ifdef _WIN32
    closesocket((SOCKET)fd);
#else
    close(fd);
#endif
}

/* Waits up to ms for events (TEST_POLLIN / TEST_POLLOUT) on fd; true when ready. */
static inline bool test_sock_wait(int fd, short events, int ms)
{
#ifdef _WIN32
    WSAPOLLFD p = {.fd = (SOCKET)fd, .events = events};
    return WSAPoll(&p, 1, ms) > 0;
#else
    struct pollfd p = {.fd = fd, .events = events};
    int r;
    do {
        r = poll(&p, 1, ms);
    } while (r < 0 && errno == EINTR);
    return r > 0;
#endif
}

/* send/recv returning the byte count, or -1 (a signal interruption is retried). */
static inline long test_sock_send(int fd, const void *data, size_t len)
{
#ifdef _WIN32
    return send((SOCKET)fd, (const char *)data, (int)(len > INT32_MAX ? INT32_MAX : len), 0);
#else
    ssize_t n;
    do {
        n = send(fd, data, len, TEST_MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return (long)n;
#endif
}

static inline long test_sock_recv(int fd, void *buf, size_t len)
{
#ifdef _WIN32
    return recv((SOCKET)fd, (char *)buf, (int)(len > INT32_MAX ? INT32_MAX : len), 0);
#else
    ssize_t n;
    do {
        n = recv(fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    return (long)n;
#endif
}

/* Runs fn(arg) in a child process and returns how the child ended: its exit status (0..255),
 * 128 + the number of the signal that killed it, or -1 when it could not be started. POSIX
 * (fork); the Windows build has no fork and runs no test that needs it (they check debug-only
 * aborts, and that build is Release). */
static inline int test_run_in_child(void (*fn)(void *), void *arg)
{
#ifdef _WIN32
    (void)fn;
    (void)arg;
    return -1;
#else
    int status;
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
#endif
}

#endif
