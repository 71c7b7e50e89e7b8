/* SPDX-License-Identifier: MIT */
/* POSIX (Linux) implementation of the portability layer. */
#include "common/os/os.h"

#include "common/err.h"
#include "common/str.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int mon_os_init(void)
{
    return MON_OK;
}

int mon_os_mkdir_p(const char *path)
{
    char tmp[MON_PATH_MAX];
    size_t len;

    if (!mon_strlcpy(tmp, path, sizeof(tmp)))
        return MON_ETOOBIG;
    len = strlen(tmp);
    while (len > 1 && tmp[len - 1] == '/')
        tmp[--len] = '\0';
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return mon_err_from_errno(errno);
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return mon_err_from_errno(errno);
    return MON_OK;
}

int mon_os_mkdir_parent(const char *file_path)
{
    const char *slash = strrchr(file_path, '/');
    char dir[MON_PATH_MAX];
    size_t len;

    if (!slash || slash == file_path) /* a bare name, or a file in "/" */
        return MON_OK;
    len = (size_t)(slash - file_path);
    if (len >= sizeof(dir))
        return MON_ETOOBIG;
    memcpy(dir, file_path, len);
    dir[len] = '\0';
    return mon_os_mkdir_p(dir);
}

int mon_os_exe_dir(char *buf, size_t size)
{
    char path[MON_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n < 0)
        return mon_err_from_errno(errno);
    path[n] = '\0';
    return mon_strlcpy(buf, dirname(path), size) ? MON_OK : MON_ETOOBIG;
}

bool mon_os_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

long long mon_os_rss_bytes(void)
{
    long long pages = -1, rss = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    /* The kernel writes plain decimal counters; a failed conversion leaves rss at -1. */
    if (fscanf(f, "%lld %lld", &pages, &rss) != 2) /* NOLINT(cert-err34-c) */
        rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

int mon_os_realpath(const char *path, char *buf, size_t size)
{
    char tmp[PATH_MAX]; /* realpath(3) writes up to PATH_MAX bytes, whatever MON_PATH_MAX is */
    if (!realpath(path, tmp))
        return mon_err_from_errno(errno);
    return mon_strlcpy(buf, tmp, size) ? MON_OK : MON_ETOOBIG;
}

int mon_os_open_regular(const char *path, int *ret_fd, unsigned long long *ret_size)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return mon_err_from_errno(errno);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return MON_ENOENT;
    }
    *ret_fd = fd;
    *ret_size = (unsigned long long)st.st_size;
    return MON_OK;
}

int mon_os_fsync(int fd)
{
    return fsync(fd) == 0 ? MON_OK : mon_err_from_errno(errno);
}

int mon_os_rename_replace(const char *from, const char *to)
{
    return rename(from, to) == 0 ? MON_OK : mon_err_from_errno(errno);
}

static void stop_signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

void mon_os_signals_block(void)
{
    sigset_t set;
    stop_signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

enum mon_os_signal mon_os_signals_wait(void)
{
    sigset_t set;
    int sig = 0;
    stop_signal_set(&set);
    while (sigwait(&set, &sig) != 0)
        ;
    return sig == SIGHUP ? MON_OS_SIGNAL_RELOAD : MON_OS_SIGNAL_STOP;
}

void mon_os_request_stop(void)
{
    /* Every thread blocks SIGTERM, so the sigwait in mon_os_signals_wait receives it. */
    kill(getpid(), SIGTERM);
}

int mon_os_lock_file(const char *path, int *ret_handle)
{
    char pid[32];
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600), n;
    if (fd < 0)
        return mon_err_from_errno(errno);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? MON_EBUSY : mon_err_from_errno(e);
    }
    /* The holder's pid, for people looking at the file; the lock itself is what counts. */
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && n > 0 && write(fd, pid, (size_t)n) < 0) {
        /* informational only */
    }
    *ret_handle = fd;
    return MON_OK;
}

int mon_os_lock_existing(const char *path, int *ret_handle)
{
    /* flock, not fcntl: SQLite's own locks on the file are fcntl locks, which flock locks
     * neither see nor disturb on a local file system. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return mon_err_from_errno(errno);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? MON_EBUSY : mon_err_from_errno(e);
    }
    *ret_handle = fd;
    return MON_OK;
}

static void file_id_from_stat(const struct stat *st, struct mon_os_file_id *ret)
{
    ret->device = (unsigned long long)st->st_dev;
    ret->inode = (unsigned long long)st->st_ino;
    ret->size = st->st_size > 0 ? (unsigned long long)st->st_size : 0;
    ret->links = (unsigned long)st->st_nlink;
}

int mon_os_file_id(const char *path, struct mon_os_file_id *ret)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return mon_err_from_errno(errno);
    file_id_from_stat(&st, ret);
    return MON_OK;
}

int mon_os_file_id_handle(int handle, struct mon_os_file_id *ret)
{
    struct stat st;
    if (fstat(handle, &st) < 0)
        return mon_err_from_errno(errno);
    file_id_from_stat(&st, ret);
    return MON_OK;
}

bool mon_os_same_file(const struct mon_os_file_id *a, const struct mon_os_file_id *b)
{
    return a->device == b->device && a->inode == b->inode;
}

int mon_os_create_private(const char *path, int *ret_fd)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return mon_err_from_errno(errno);
    /* The umask can only take bits away; this also undoes an odd one that took the owner's. */
    if (fchmod(fd, 0600) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return mon_err_from_errno(e);
    }
    *ret_fd = fd;
    return MON_OK;
}

int mon_os_restrict_mode(const char *path, unsigned mode, unsigned *ret_old_mode)
{
    struct stat st;
    unsigned old;
    if (stat(path, &st) < 0)
        return mon_err_from_errno(errno);
    old = (unsigned)st.st_mode & 07777;
    if ((old & ~mode) == 0)
        return 0;
    if (chmod(path, (mode_t)(old & mode)) < 0)
        return mon_err_from_errno(errno);
    if (ret_old_mode)
        *ret_old_mode = old;
    return 1;
}

const char *mon_os_errno_text(int errnum, char *buf, size_t size)
{
    /* XSI strerror_r (int result: _POSIX_C_SOURCE without _GNU_SOURCE). */
    if (size && strerror_r(errnum, buf, size) != 0)
        snprintf(buf, size, "error %d", errnum);
    return buf;
}

void mon_os_unlock_file(int handle)
{
    if (handle < 0)
        return;
    flock(handle, LOCK_UN);
    close(handle);
}

long mon_os_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0)
            return -1;
    }
    return rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
}

int mon_os_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen;
    int fd, r;

    if (!path || !*path)
        return 0;
    plen = strlen(path);
    /* A file system path, or "@name" for the abstract namespace. */
    if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
        return MON_EINVAL;
    memcpy(sa.sun_path, path, plen);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mon_err_from_errno(errno);
    r = 1;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen)) < 0)
        r = mon_err_from_errno(errno);
    close(fd);
    return r;
}
