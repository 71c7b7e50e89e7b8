/* SPDX-License-Identifier: MIT */
/* POSIX (Linux) implementation of the portability layer. */
#define _GNU_SOURCE /* accept4, SOCK_NONBLOCK */
#include "common/os/os.h"
#include "common/os/os_priv.h"

#include "common/err.h"
#include "common/str.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ifaddrs.h>
#include <net/if.h>
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
    const char *slash = mon_os_path_last_sep(file_path);
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

const char *mon_os_path_last_sep(const char *path)
{
    return strrchr(path, '/');
}

bool mon_os_path_is_absolute(const char *path)
{
    return path[0] == '/';
}

int mon_os_realpath(const char *path, char *buf, size_t size)
{
    char tmp[PATH_MAX]; /* realpath(3) writes up to PATH_MAX bytes, whatever MON_PATH_MAX is */
    if (!realpath(path, tmp))
        return mon_err_from_errno(errno);
    return mon_strlcpy(buf, tmp, size) ? MON_OK : MON_ETOOBIG;
}

int mon_os_open_file(const char *path, int *ret_fd, unsigned long long *ret_size)
{
    struct stat st;
    int fd;

    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return mon_err_from_errno(errno);
    if (fstat(fd, &st) < 0) {
        int r = mon_err_from_errno(errno);
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return MON_EINVAL;
    }
    *ret_fd = fd;
    *ret_size = (unsigned long long)st.st_size;
    return MON_OK;
}

long mon_os_fd_read(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0)
            return (long)n;
        if (errno != EINTR)
            return mon_err_from_errno(errno);
    }
}

void mon_os_fd_close(int fd)
{
    close(fd);
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

/* Takes the exclusive flock on fd without waiting; closes fd when it cannot. */
static int flock_now(int fd)
{
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? MON_EBUSY : mon_err_from_errno(e);
    }
    return MON_OK;
}

int mon_os_lock_file(const char *path, int *ret_handle)
{
    char pid[32];
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600), n, r;
    if (fd < 0)
        return mon_err_from_errno(errno);
    r = flock_now(fd);
    if (r < 0)
        return r;
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
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), r;
    if (fd < 0)
        return mon_err_from_errno(errno);
    r = flock_now(fd);
    if (r < 0)
        return r;
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

/* strerror_r is the XSI one (int: 0 when buf holds the text) or, with _GNU_SOURCE (this file
 * needs it for accept4), the GNU one (char *: the text, in buf or a static string). */
static const char *xsi_text(int r, const char *buf)
{
    return r == 0 ? buf : NULL;
}

static const char *gnu_text(const char *r, const char *buf)
{
    (void)buf;
    return r;
}

#define STRERROR_TEXT(r, buf) _Generic((r), int : xsi_text, char * : gnu_text)(r, buf)

const char *mon_os_errno_text(int errnum, char *buf, size_t size)
{
    const char *text;

    if (!size)
        return buf;
    text = STRERROR_TEXT(strerror_r(errnum, buf, size), buf);
    if (!text || !*text)
        snprintf(buf, size, "error %d", errnum);
    else if (text != buf)
        mon_strlcpy(buf, text, size);
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

int mon_os_listen(const struct sockaddr *addr, socklen_t addr_len, bool dual_stack, int backlog,
                  mon_socket *ret)
{
    int one = 1, v6only = dual_stack ? 0 : 1, e;
    int s = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return mon_err_from_errno(errno);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->sa_family == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    if (bind(s, addr, addr_len) < 0 || listen(s, backlog) < 0) {
        e = errno;
        close(s);
        return e == EADDRINUSE ? MON_EBUSY : mon_err_from_errno(e);
    }
    *ret = s;
    return MON_OK;
}

unsigned mon_os_sock_port(mon_socket s)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof(ss);
    if (getsockname(s, (struct sockaddr *)&ss, &len) < 0)
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
    socklen_t len = sizeof(*ret_addr);
    int s = accept4(listener, (struct sockaddr *)ret_addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED
                   ? MON_EAGAIN
                   : mon_err_from_errno(errno);
    *ret = s;
    *ret_addr_len = len;
    return MON_OK;
}

long mon_os_sock_recv(mon_socket s, void *buf, size_t len, bool peek)
{
    ssize_t n = recv(s, buf, len, MSG_DONTWAIT | (peek ? MSG_PEEK : 0));
    if (n >= 0)
        return (long)n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? MON_EAGAIN
                                                                     : mon_err_from_errno(errno);
}

long mon_os_sock_send(mon_socket s, const void *buf, size_t len)
{
    ssize_t n = send(s, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0)
        return (long)n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? MON_EAGAIN
                                                                     : mon_err_from_errno(errno);
}

void mon_os_sock_shutdown(mon_socket s, bool both)
{
    shutdown(s, both ? SHUT_RDWR : SHUT_WR);
}

void mon_os_sock_close(mon_socket s)
{
    close(s);
}

int mon_os_poll(mon_pollfd *fds, size_t n, int timeout_ms)
{
    int r = poll(fds, (nfds_t)n, timeout_ms);
    return r < 0 ? 0 : r;
}

void mon_os_release_free_memory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

int mon_os_host_names(char *buf, size_t size)
{
    struct ifaddrs *list = NULL;
    char host[256], addr[INET6_ADDRSTRLEN];
    bool fits = true;

    if (size == 0)
        return MON_ETOOBIG;
    buf[0] = '\0';
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        fits = mon_os_names_add(buf, size, host);
    }
    if (getifaddrs(&list) < 0)
        return fits ? MON_OK : MON_ETOOBIG;
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        const struct sockaddr *sa = i->ifa_addr;
        if (!sa || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (sa->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof(addr));
        } else if (sa->sa_family == AF_INET6) {
            const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(a6))
                continue; /* needs a zone to be used: no one connects by it */
            inet_ntop(AF_INET6, a6, addr, sizeof(addr));
        } else {
            continue;
        }
        fits = mon_os_names_add(buf, size, addr) && fits;
    }
    freeifaddrs(list);
    return fits ? MON_OK : MON_ETOOBIG;
}
