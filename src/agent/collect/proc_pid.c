/* SPDX-License-Identifier: MIT */
/* Pure parsers of /proc/<pid>/status, stat and cgroup, and the reader that feeds them from
 * procfs_root (a fixture tree in tests). */
#include "agent/collect/proc_pid.h"

#include "common/err.h"
#include "common/os/os.h"
#include "common/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STAT_STARTTIME_FIELD 22 /* 1-based, as proc(5) numbers them */
#define CONTAINER_ID_HEX     64

int agent_parse_pid_status_uid(const char *buf, size_t len, uint32_t *ret_uid)
{
    const char *end = buf + len, *p = buf;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        if (line_end - p > 4 && memcmp(p, "Uid:", 4) == 0) {
            const char *num = p + 4, *num_end;
            uint64_t uid;
            while (num < line_end && (*num == '\t' || *num == ' '))
                num++;
            num_end = num;
            while (num_end < line_end && *num_end >= '0' && *num_end <= '9')
                num_end++;
            if (!mon_parse_u64_span(num, num_end, &uid) || uid > UINT32_MAX ||
                (num_end < line_end && *num_end != '\t' && *num_end != ' '))
                return MON_EPARSE;
            *ret_uid = (uint32_t)uid;
            return MON_OK;
        }
        p = line_end + 1;
    }
    return MON_EPARSE;
}

/* Copies name[0..n) into dst as valid UTF-8: a byte that does not start a well-formed
 * sequence becomes '?'. False when it does not fit. */
static bool copy_utf8(const char *name, size_t n, char *dst, size_t size)
{
    size_t o = 0;

    for (size_t i = 0; i < n;) {
        size_t seq = 1;
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x80) {
            seq = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (i + seq > n || !mon_utf8_valid(name + i, seq))
                seq = 0;
        } else if (c == '\0') {
            seq = 0;
        }
        if (o + (seq ? seq : 1) >= size)
            return false;
        if (seq) {
            memcpy(dst + o, name + i, seq);
            o += seq;
            i += seq;
        } else {
            dst[o++] = '?';
            i++;
        }
    }
    dst[o] = '\0';
    return true;
}

int agent_parse_pid_stat(const char *buf, size_t len, char *name, size_t name_size,
                         uint64_t *ret_start_ticks)
{
    const char *end = buf + len, *open = memchr(buf, '(', len), *close = NULL, *p;
    char tmp[AGENT_COMM_SIZE];
    uint64_t start = 0;
    int field = 3; /* the first field after the name is the state, field 3 */

    for (p = end; p > buf; p--) {
        if (p[-1] == ')') {
            close = p - 1;
            break;
        }
    }
    if (!open || !close || close < open ||
        !copy_utf8(open + 1, (size_t)(close - open - 1), tmp, sizeof(tmp)))
        return MON_EPARSE;
    p = close + 1;
    for (;;) {
        const char *tok;
        while (p < end && *p == ' ')
            p++;
        if (p >= end || *p == '\n')
            return MON_EPARSE;
        tok = p;
        while (p < end && *p != ' ' && *p != '\n')
            p++;
        if (field == STAT_STARTTIME_FIELD) {
            if (!mon_parse_u64_span(tok, p, &start))
                return MON_EPARSE;
            break;
        }
        field++;
    }
    if (strlen(tmp) >= name_size)
        return MON_EPARSE;
    memcpy(name, tmp, strlen(tmp) + 1);
    *ret_start_ticks = start;
    return MON_OK;
}

static bool all_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    return true;
}

/* True when the path component [p, p + n) names a container: a 64-hex id, bare or as
 * "<runtime>-<id>.scope". */
static bool component_id(const char *p, size_t n, const char **ret_id)
{
    static const char *const prefixes[] = {"docker-", "libpod-", "cri-containerd-", "crio-",
                                           "nerdctl-"};
    if (n > 6 && memcmp(p + n - 6, ".scope", 6) == 0)
        n -= 6;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t pl = strlen(prefixes[i]);
        if (n == pl + CONTAINER_ID_HEX && memcmp(p, prefixes[i], pl) == 0) {
            p += pl;
            n -= pl;
            break;
        }
    }
    if (n != CONTAINER_ID_HEX || !all_hex(p, n))
        return false;
    *ret_id = p;
    return true;
}

/* Finds the innermost container id of one cgroup path [p, end). */
static bool path_id(const char *p, const char *end, const char **ret_id)
{
    const char *comp_end = end;

    while (comp_end > p) {
        const char *slash = comp_end;
        while (slash > p && slash[-1] != '/')
            slash--;
        if (component_id(slash, (size_t)(comp_end - slash), ret_id))
            return true;
        comp_end = slash > p ? slash - 1 : p;
    }
    return false;
}

int agent_parse_pid_cgroup(const char *buf, size_t len, char *ret_id)
{
    const char *end = buf + len, *p = buf, *found = NULL;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *c1 = memchr(p, ':', (size_t)(line_end - p));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(line_end - c1 - 1)) : NULL;
        const char *id;
        /* "0::" is the cgroup v2 line: it is authoritative; v1 lines agree with each other */
        if (c2 && path_id(c2 + 1, line_end, &id)) {
            found = id;
            if (c2 - p == 2 && p[0] == '0')
                break;
        }
        p = line_end + 1;
    }
    if (!found)
        return MON_ENOENT;
    memcpy(ret_id, found, AGENT_CONTAINER_ID_SIZE - 1);
    ret_id[AGENT_CONTAINER_ID_SIZE - 1] = '\0';
    return MON_OK;
}

/* Reads root/pid/name whole into buf (NUL-terminated). */
static int read_file(const char *root, uint32_t pid, const char *name, char *buf, size_t size,
                     size_t *ret_len)
{
    char path[MON_PATH_MAX + MON_PATH_SUFFIX_MAX];
    size_t len = 0;
    int fd, n = snprintf(path, sizeof(path), "%s/%u/%s", root, pid, name);

    if (n < 0 || (size_t)n >= sizeof(path))
        return MON_ETOOBIG;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mon_err_from_errno(errno);
    for (;;) {
        ssize_t got;
        if (len + 1 >= size) {
            close(fd);
            return MON_ETOOBIG;
        }
        got = read(fd, buf + len, size - 1 - len);
        if (got < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            close(fd);
            /* ESRCH: the process exited after the open */
            return e == ESRCH ? MON_ENOENT : mon_err_from_errno(e);
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    *ret_len = len;
    return MON_OK;
}

int agent_pid_read(const char *procfs_root, uint32_t pid, char *buf, size_t buf_size,
                   struct agent_pid_info *ret, char *why, size_t why_len)
{
    struct agent_pid_info info = {0};
    size_t len = 0;
    int r;

    r = read_file(procfs_root, pid, "stat", buf, buf_size, &len);
    if (r == MON_OK &&
        agent_parse_pid_stat(buf, len, info.command, sizeof(info.command), &info.start_ticks) < 0) {
        snprintf(why, why_len, "malformed /proc/%u/stat", pid);
        return MON_EPARSE;
    }
    if (r == MON_OK) {
        r = read_file(procfs_root, pid, "status", buf, buf_size, &len);
        if (r == MON_OK && agent_parse_pid_status_uid(buf, len, &info.uid) < 0) {
            snprintf(why, why_len, "malformed /proc/%u/status", pid);
            return MON_EPARSE;
        }
    }
    if (r == MON_ENOENT) {
        snprintf(why, why_len, "process not visible (exited, or in another PID namespace)");
        return r;
    }
    if (r == MON_EPERM) {
        snprintf(why, why_len, "not permitted to read /proc/%u (hidepid?)", pid);
        return r;
    }
    if (r < 0) {
        snprintf(why, why_len, "reading /proc/%u: %s", pid, mon_strerror(r));
        return r;
    }
    if (read_file(procfs_root, pid, "cgroup", buf, buf_size, &len) == MON_OK &&
        agent_parse_pid_cgroup(buf, len, info.container) < 0)
        info.container[0] = '\0';
    *ret = info;
    return MON_OK;
}
