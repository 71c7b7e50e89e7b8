/* SPDX-License-Identifier: MIT */
/* The portability layer: the only header with OS #ifdefs. Socket headers, process start-up,
 * paths and directories for code in common/ and aggregator/ (the agent is Linux-only). */
#ifndef MON_COMMON_OS_OS_H
#define MON_COMMON_OS_OS_H

/* Ownership and threads: descriptors, handles and sockets returned here belong to the caller
 * (close or mon_os_unlock_file); mon_os_read_file's buffer is malloc'd for the caller;
 * everything else writes into caller storage. The functions keep no state, so any thread may
 * call them, except the process-wide ones documented below (mon_os_init and mon_os_signals_block
 * before threads start; mon_os_signals_wait from the main thread). */

#include <stdbool.h>
#include <stddef.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
typedef int socklen_t_compat;
typedef SOCKET mon_socket;
typedef WSAPOLLFD mon_pollfd;
#define MON_SOCKET_INVALID INVALID_SOCKET
#define MON_POLLIN         POLLRDNORM /* WSAPoll refuses some of what POLLIN includes */
/* Whether a thread in mon_os_poll on a listening socket wakes when another thread shuts it
 * down (Linux: yes; WSAPoll: not reliably, so waits there are bounded). */
#define MON_OS_POLL_WAKES_ON_SHUTDOWN 0
/* '\\' separates the parts of a path too, and a drive ("C:") makes one absolute. */
#define MON_OS_PATH_BACKSLASH 1
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
typedef int mon_socket;
typedef struct pollfd mon_pollfd;
#define MON_SOCKET_INVALID            (-1)
#define MON_POLLIN                    POLLIN
#define MON_OS_POLL_WAKES_ON_SHUTDOWN 1
#define MON_OS_PATH_BACKSLASH         0
#endif

/* The longest file path the daemons take (Linux's PATH_MAX; longer Windows paths need opting in).
 * A buffer for a path plus a suffix (".lock", "-wal", "/<pid>/status") is MON_PATH_MAX +
 * MON_PATH_SUFFIX_MAX bytes, so a path that fits the first always fits the second. */
#define MON_PATH_MAX        4096
#define MON_PATH_SUFFIX_MAX 104

/* The machine's host name and its addresses (loopback and link-local left out), comma
 * separated, for a certificate's subject alternative names. MON_ETOOBIG when they do not fit
 * (what fits is kept). */
int mon_os_host_names(char *buf, size_t size);

/* Process-wide start-up (Winsock on Windows). Returns MON_OK or a MON_E* code. */
int mon_os_init(void);

/* Creates a directory and its parents (mode 0755 where modes exist). Existing is fine. */
int mon_os_mkdir_p(const char *path);

/* Creates the folder that will hold the file file_path, and its parents ("data/x.db" ->
 * "data"; on Windows a backslash separates too and a drive root such as "C:\" is left
 * alone). Nothing for a bare file name. Existing is fine. */
int mon_os_mkdir_parent(const char *file_path);

/* Writes the directory holding the running executable into buf. */
int mon_os_exe_dir(char *buf, size_t size);

/* True when path names an existing regular file or directory. */
bool mon_os_path_exists(const char *path);

/* Path syntax, the one place that knows the separators: on POSIX '/' separates and only a path
 * starting with '/' is absolute; on Windows '\\' separates too and "\\x", "C:\\x" and "C:x"
 * (a drive) count as absolute. */

/* The last separator in path, or NULL when it has none (a bare name). */
const char *mon_os_path_last_sep(const char *path);

/* True when path is absolute (not to be resolved against another folder). */
bool mon_os_path_is_absolute(const char *path);

/* Canonical absolute path with symlinks resolved; MON_ENOENT when it does not exist. */
int mon_os_realpath(const char *path, char *buf, size_t size);

/* Opens a regular file read-only; returns its descriptor and size. Directories and other
 * non-regular files are MON_ENOENT (nothing is listed). */
int mon_os_open_regular(const char *path, int *ret_fd, unsigned long long *ret_size);

/* Reads a whole regular file of at most max bytes into a malloc'd NUL-terminated buffer.
 * Never waits for a writer: a FIFO, device or socket is refused without being read (the file
 * is opened non-blocking and checked before any read). MON_EINVAL: not a regular file;
 * MON_ETOOBIG: larger than max; other MON_E* codes from opening or reading (errno is set).
 * *ret and *ret_len are written only on success. */
int mon_os_read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* Takes an exclusive advisory lock on path (created when missing) without waiting, held until
 * mon_os_unlock_file or the process ends: one process per resource. MON_EBUSY when another
 * holder has it. *ret_handle is written only on success. */
int mon_os_lock_file(const char *path, int *ret_handle);

/* Flushes a file descriptor's data to disk (fsync / _commit). MON_OK or a MON_E* code; errno
 * is set on failure. */
int mon_os_fsync(int fd);

/* Renames from to to, replacing an existing to (atomically where the OS can). MON_OK or a
 * MON_E* code; errno is set on failure. */
int mon_os_rename_replace(const char *from, const char *to);

/* Takes an exclusive advisory lock on the existing file path itself (not on a lock file beside
 * it) without waiting and without writing to it, so that every name of one file (hard links,
 * symlinks, "./" spellings) shares one lock; Windows locks a byte far past its end, which
 * leaves SQLite's own lock bytes alone. MON_ENOENT when missing, MON_EBUSY when another holder
 * has it; release it with mon_os_unlock_file. A POSIX process loses all its fcntl locks on a
 * file when it closes any descriptor of it, so on a SQLite database hold this handle until
 * every connection to the file in this process is closed. */
int mon_os_lock_existing(const char *path, int *ret_handle);

/* Releases a lock from mon_os_lock_file or mon_os_lock_existing (the file stays). Accepts a
 * negative handle. */
void mon_os_unlock_file(int handle);

/* What makes a file the same file under any name. */
struct mon_os_file_id {
    unsigned long long device; /* Windows: the volume's serial number */
    unsigned long long inode;  /* Windows: the file index */
    unsigned long long size;   /* bytes */
    unsigned long links;       /* hard links; 0 once an open file was deleted */
};

/* The identity of the file path names (symlinks followed), without opening it on POSIX (so a
 * SQLite database's locks are safe). MON_ENOENT when it does not exist. */
int mon_os_file_id(const char *path, struct mon_os_file_id *ret);

/* The identity of the file behind a handle from mon_os_lock_existing. */
int mon_os_file_id_handle(int handle, struct mon_os_file_id *ret);

/* True when a and b are the same file (device and inode). */
bool mon_os_same_file(const struct mon_os_file_id *a, const struct mon_os_file_id *b);

/* Creates the new file path, readable and writable by its owner only (mode 0600 whatever the
 * umask; on Windows the folder's permissions apply), and returns it open for writing.
 * MON_EEXIST when path exists. */
int mon_os_create_private(const char *path, int *ret_fd);

/* The system's text for an errno value ("No space left on device") in buf, thread-safe (a
 * MON_E* code loses such detail). Returns buf. */
const char *mon_os_errno_text(int errnum, char *buf, size_t size);

/* Takes from an existing file every permission bit that mode lacks (POSIX chmod; Windows has no
 * such bits: always 0). Returns 1 when the mode changed, with the bits it had in *ret_old_mode
 * (may be NULL), 0 when it was already within mode, MON_ENOENT when the file does not exist. */
int mon_os_restrict_mode(const char *path, unsigned mode, unsigned *ret_old_mode);

enum mon_os_signal { MON_OS_SIGNAL_STOP = 1, MON_OS_SIGNAL_RELOAD = 2 };

/* Routes stop (SIGTERM/SIGINT, console Ctrl-C) and reload (SIGHUP) requests to
 * mon_os_signals_wait. Call before starting any thread so that all threads inherit the mask. */
void mon_os_signals_block(void);

/* Blocks until a stop or reload request arrives and returns which. */
enum mon_os_signal mon_os_signals_wait(void);

/* Makes mon_os_signals_wait return MON_OS_SIGNAL_STOP, as SIGTERM or Ctrl-C would (the
 * Windows service's stop request). Safe from any thread. */
void mon_os_request_stop(void);

/* Raises the soft limit of open files to the hard limit (a poller keeps one connection per
 * agent). Returns the new limit, or -1 when it cannot be read. */
long mon_os_raise_fd_limit(void);

/* ---- TCP sockets (the HTTP front door) ---- */

/* A non-blocking, non-inherited listening TCP socket bound to addr; an IPv6 one also takes
 * IPv4 clients when dual_stack. An address in use is MON_EBUSY. */
int mon_os_listen(const struct sockaddr *addr, socklen_t addr_len, bool dual_stack, int backlog,
                  mon_socket *ret);

/* The local port of a bound socket, 0 when unknown. */
unsigned mon_os_sock_port(mon_socket s);

/* Accepts one waiting connection as a non-blocking, non-inherited socket and its peer address.
 * MON_EAGAIN when none is waiting. */
int mon_os_accept(mon_socket listener, mon_socket *ret, struct sockaddr_storage *ret_addr,
                  socklen_t *ret_addr_len);

/* Non-blocking recv (peek: leave the bytes queued for the next reader): the number of bytes,
 * 0 at end of stream, MON_EAGAIN when nothing is there yet, another MON_E* code on error. */
long mon_os_sock_recv(mon_socket s, void *buf, size_t len, bool peek);

/* Non-blocking send without SIGPIPE: bytes sent, MON_EAGAIN, or another MON_E* code. */
long mon_os_sock_send(mon_socket s, const void *buf, size_t len);

/* Ends sending (and receiving too when both): the peer sees end of stream, a thread blocked
 * in poll on s wakes up. */
void mon_os_sock_shutdown(mon_socket s, bool both);

void mon_os_sock_close(mon_socket s);

/* poll()/WSAPoll() over n sockets (n >= 1); timeout_ms < 0 waits without limit. Returns the
 * number of ready sockets, 0 on timeout or interruption. */
int mon_os_poll(mon_pollfd *fds, size_t n, int timeout_ms);

/* Hands heap memory that is free but still mapped back to the OS (after large temporary
 * buffers were released: the C library keeps them otherwise). Costs a walk of the heap: call
 * it rarely. */
void mon_os_release_free_memory(void);

/* Resident set size of this process in bytes, or -1 when unknown. */
long long mon_os_rss_bytes(void);

/* Sends a service-manager notification such as "READY=1" or "STOPPING=1" (the sd_notify
 * datagram protocol, a stable systemd interface) to $NOTIFY_SOCKET. Returns 1 when sent, 0
 * when no manager listens ($NOTIFY_SOCKET unset; always on Windows), or a MON_E* code. Done
 * here rather than through libsystemd so that the agent never maps that library for it. */
int mon_os_notify(const char *state);

#endif
