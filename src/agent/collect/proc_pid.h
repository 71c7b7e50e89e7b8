/* SPDX-License-Identifier: MIT */
/* One process under procfs_root: its real uid (/proc/<pid>/status), name and start time
 * (/proc/<pid>/stat) and container (/proc/<pid>/cgroup). Never the command line: it can hold
 * secrets. */
#ifndef MON_AGENT_COLLECT_PROC_PID_H
#define MON_AGENT_COLLECT_PROC_PID_H

/* Ownership and threads: the parsers are pure and agent_pid_read reads files into the caller's
 * buffer; nothing is allocated or kept, so any thread may call them. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_COMM_SIZE         64 /* the kernel keeps 15 bytes; room for '?' replacements */
#define AGENT_CONTAINER_ID_SIZE 13 /* 12 hex digits, as `docker ps` shows them */

struct agent_pid_info {
    uint32_t uid;                            /* real uid */
    char command[AGENT_COMM_SIZE];           /* comm, made valid UTF-8 */
    uint64_t start_ticks;                    /* clock ticks after boot */
    char container[AGENT_CONTAINER_ID_SIZE]; /* short container id, "" when none */
};

/* The real uid (first number of the "Uid:" line) of /proc/<pid>/status text. MON_EPARSE when
 * the line is missing or malformed. */
int agent_parse_pid_status_uid(const char *buf, size_t len, uint32_t *ret_uid);

/* The process name and start time of /proc/<pid>/stat text. The name is what lies between the
 * first '(' and the last ')' (a name may contain parentheses and spaces); bytes that are not
 * UTF-8 become '?'. The name must fit name_size. MON_EPARSE on malformed text. */
int agent_parse_pid_stat(const char *buf, size_t len, char *name, size_t name_size,
                         uint64_t *ret_start_ticks);

/* The short id (12 hex digits) of the container a process runs in, from /proc/<pid>/cgroup
 * text: cgroup v2 ("0::/system.slice/docker-<id>.scope") or v1 ("4:memory:/docker/<id>"), for
 * docker, containerd (plain ids, "cri-containerd-", "nerdctl-") and podman ("libpod-"; the
 * "libpod-conmon-" monitor is not a container). The innermost id wins. Returns MON_OK with the
 * id in ret_id (AGENT_CONTAINER_ID_SIZE bytes), MON_ENOENT when the process is in none. */
int agent_parse_pid_cgroup(const char *buf, size_t len, char *ret_id);

/* Reads pid's three files under procfs_root with buf (buf_size bytes) as scratch space.
 * Returns MON_OK with *ret; MON_ENOENT when the process is not visible (exited, or in another
 * PID namespace), MON_EPERM when procfs refuses (hidepid), other codes with why filled. A
 * cgroup file that cannot be read only leaves the container empty. */
int agent_pid_read(const char *procfs_root, uint32_t pid, char *buf, size_t buf_size,
                   struct agent_pid_info *ret, char *why, size_t why_len);

#endif
