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

/* Releases a lock from mon_os_lock_file (the file stays). Accepts a negative handle. */
void mon_os_unlock_file(int handle);

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

#endif
