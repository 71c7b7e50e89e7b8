/* SPDX-License-Identifier: MIT */
/* The portability layer: the only header with OS #ifdefs. Socket headers, process start-up,
 * paths and directories for code in common/ and aggregator/ (the agent is Linux-only). */
#ifndef MON_COMMON_OS_OS_H
#define MON_COMMON_OS_OS_H

#include <stdbool.h>
#include <stddef.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
typedef int socklen_t_compat;
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

/* The longest file path the daemons take (Linux's PATH_MAX; longer Windows paths need opting in).
 * A buffer for a path plus a suffix (".lock", "-wal", "/<pid>/status") is MON_PATH_MAX +
 * MON_PATH_SUFFIX_MAX bytes, so a path that fits the first always fits the second. */
#define MON_PATH_MAX        4096
#define MON_PATH_SUFFIX_MAX 104

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

/* Canonical absolute path with symlinks resolved; MON_ENOENT when it does not exist. */
int mon_os_realpath(const char *path, char *buf, size_t size);

/* Opens a regular file read-only; returns its descriptor and size. Directories and other
 * non-regular files are MON_ENOENT (nothing is listed). */
int mon_os_open_regular(const char *path, int *ret_fd, unsigned long long *ret_size);

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

/* Resident set size of this process in bytes, or -1 when unknown. */
long long mon_os_rss_bytes(void);

/* Sends a service-manager notification such as "READY=1" or "STOPPING=1" (the sd_notify
 * datagram protocol, a stable systemd interface) to $NOTIFY_SOCKET. Returns 1 when sent, 0
 * when no manager listens ($NOTIFY_SOCKET unset; always on Windows), or a MON_E* code. Done
 * here rather than through libsystemd so that the agent never maps that library for it. */
int mon_os_notify(const char *state);

#endif
