/* SPDX-License-Identifier: MIT */
/* nvidia-smi fallback: one bounded run per call (no shell, capped output, killed on timeout)
 * and strict parsers of its CSV (GPUs and their compute processes). */
#define _GNU_SOURCE /* pipe2 */
#include "agent/collect/gpu_smi.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/os/os.h"
#include "common/str.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMI_COLUMNS         8
#define SMI_MAX_OUTPUT      (64 * 1024)
#define SMI_MAX_APPS_OUTPUT (512 * 1024) /* ~60 bytes a process */
#define SMI_EXEC_FAILED     127
#define SMI_APPS_COLUMNS    3

static const char *const smi_column_names[SMI_COLUMNS] = {
    "index",           "name",      "uuid", "utilization.gpu", "memory.used", "memory.total",
    "temperature.gpu", "power.draw"};

/* nvidia-smi prints "[N/A]", "[Not Supported]", "[Unknown Error]" ... or a bare "N/A" for
 * values it cannot read: the field is absent, not zero. */
static bool field_absent(const char *f)
{
    size_t n = strlen(f);
    return (n >= 2 && f[0] == '[' && f[n - 1] == ']') || strcmp(f, "N/A") == 0;
}

/* Splits one line at commas into trimmed fields (in place); returns how many there were. */
static size_t split_line(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;

    for (;;) {
        char *comma = strchr(p, ',');
        char *end;
        if (comma)
            *comma = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        end = p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            *--end = '\0';
        if (n < max)
            fields[n] = p;
        n++;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

static int int_field(const char *f, int64_t max, bool *present, uint64_t *ret)
{
    int64_t v;
    *present = false;
    if (field_absent(f))
        return MON_OK;
    if (mon_parse_int64(f, 0, max, &v) < 0)
        return MON_EPARSE;
    *present = true;
    *ret = (uint64_t)v;
    return MON_OK;
}

static int double_field(const char *f, double min, double max, bool *present, double *ret)
{
    double v;
    *present = false;
    if (field_absent(f))
        return MON_OK;
    if (mon_parse_double(f, &v) < 0 || v < min || v > max)
        return MON_EPARSE;
    *present = true;
    *ret = v;
    return MON_OK;
}

/* Parses one data line into r; on failure names the offending column in why. */
static int parse_line(char *line, int line_no, struct agent_gpu_reading *r, char *why,
                      size_t why_len)
{
    char *f[SMI_COLUMNS];
    size_t n = split_line(line, f, SMI_COLUMNS);
    bool has_index, has_used, has_total;
    uint64_t index = 0, used = 0, total = 0;
    int col = -1;

    if (n != SMI_COLUMNS) {
        snprintf(why, why_len, "line %d: expected %d columns, got %zu", line_no, SMI_COLUMNS, n);
        return MON_EPARSE;
    }
    memset(r, 0, sizeof(*r));
    if (int_field(f[0], GPU_MAX - 1, &has_index, &index) < 0 || !has_index)
        col = 0;
    else if (int_field(f[4], INT64_MAX, &has_used, &used) < 0)
        col = 4;
    else if (int_field(f[5], INT64_MAX, &has_total, &total) < 0)
        col = 5;
    else if (double_field(f[3], 0, 100, &r->has_util, &r->util_pct) < 0)
        col = 3;
    else if (double_field(f[6], -273, 1000, &r->has_temp, &r->temp_c) < 0)
        col = 6;
    else if (double_field(f[7], 0, 1e6, &r->has_power, &r->power_w) < 0)
        col = 7;
    if (col >= 0) {
        snprintf(why, why_len, "line %d: bad %s \"%.40s\"", line_no, smi_column_names[col], f[col]);
        return MON_EPARSE;
    }
    r->index = (unsigned)index;
    r->has_mem = has_used && has_total;
    if (r->has_mem) {
        r->mem_used_mb = used;
        r->mem_total_mb = total;
    }
    if (!field_absent(f[1]))
        mon_strlcpy(r->name, f[1], sizeof(r->name));
    if (!field_absent(f[2]))
        mon_strlcpy(r->uuid, f[2], sizeof(r->uuid));
    return MON_OK;
}

/* A NUL-terminated copy of nvidia-smi's output for the line splitters; a NUL byte inside
 * the output is refused (it would silently end the parse early). */
static int smi_output_copy(const char *buf, size_t len, char **ret_copy, char *why, size_t why_len)
{
    char *copy = mon_strndup(buf, len);

    if (!copy) {
        snprintf(why, why_len, "out of memory");
        return MON_ENOMEM;
    }
    if (strlen(copy) != len) {
        snprintf(why, why_len, "NUL byte in nvidia-smi output");
        free(copy);
        return MON_EPARSE;
    }
    *ret_copy = copy;
    return MON_OK;
}

int agent_parse_nvidia_smi_csv(const char *buf, size_t len, struct agent_gpu_reading *out,
                               size_t max, size_t *ret_n, char *why, size_t why_len)
{
    char *copy, *line, *next;
    size_t n = 0;
    int line_no = 0, r = smi_output_copy(buf, len, &copy, why, why_len);

    if (r != MON_OK)
        return r;
    for (line = copy; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        if (line[strspn(line, " \t\r")] == '\0')
            continue; /* blank line, e.g. a trailing CRLF */
        if (n >= max) {
            snprintf(why, why_len, "more than %zu GPUs", max);
            r = MON_ERANGE;
            goto out;
        }
        r = parse_line(line, line_no, &out[n], why, why_len);
        if (r < 0)
            goto out;
        n++;
    }
    *ret_n = n;
out:
    free(copy);
    return r;
}

/* Parses one "gpu_uuid, pid, used_memory" line into app. */
static int parse_app_line(char *line, int line_no, struct agent_smi_app *app, char *why,
                          size_t why_len)
{
    char *f[SMI_APPS_COLUMNS];
    size_t n = split_line(line, f, SMI_APPS_COLUMNS);
    bool has_pid;
    uint64_t pid = 0;

    if (n != SMI_APPS_COLUMNS) {
        snprintf(why, why_len, "line %d: expected %d columns, got %zu", line_no, SMI_APPS_COLUMNS,
                 n);
        return MON_EPARSE;
    }
    memset(app, 0, sizeof(*app));
    if (!f[0][0] || field_absent(f[0]) || !mon_strlcpy(app->uuid, f[0], sizeof(app->uuid))) {
        snprintf(why, why_len, "line %d: bad gpu_uuid \"%.40s\"", line_no, f[0]);
        return MON_EPARSE;
    }
    if (int_field(f[1], UINT32_MAX, &has_pid, &pid) < 0 || !has_pid || pid == 0) {
        snprintf(why, why_len, "line %d: bad pid \"%.40s\"", line_no, f[1]);
        return MON_EPARSE;
    }
    if (int_field(f[2], INT64_MAX, &app->process.has_mem, &app->process.used_mem_mb) < 0) {
        snprintf(why, why_len, "line %d: bad used_memory \"%.40s\"", line_no, f[2]);
        return MON_EPARSE;
    }
    app->process.pid = (uint32_t)pid;
    app->process.type = GPU_PROCESS_COMPUTE;
    return MON_OK;
}

int agent_parse_smi_apps_csv(const char *buf, size_t len, struct agent_smi_app *out, size_t max,
                             size_t *ret_n, char *why, size_t why_len)
{
    char *copy, *line, *next;
    size_t n = 0;
    int line_no = 0, r = smi_output_copy(buf, len, &copy, why, why_len);

    if (r != MON_OK)
        return r;
    for (line = copy; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        line += strspn(line, " \t");
        if (line[strspn(line, "\r")] == '\0' || mon_str_starts_with(line, "No running"))
            continue; /* blank, or older versions' "No running processes found" */
        if (n >= max) {
            snprintf(why, why_len, "more than %zu GPU processes", max);
            r = MON_ERANGE;
            goto out;
        }
        r = parse_app_line(line, line_no, &out[n], why, why_len);
        if (r < 0)
            goto out;
        n++;
    }
    *ret_n = n;
out:
    free(copy);
    return r;
}

/* Reads the child's output until EOF, the cap or the deadline. */
static int collect_output(int fd, int64_t deadline, char *buf, size_t cap, size_t *ret_len)
{
    size_t len = 0;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - mon_mono_ms();
        ssize_t got;
        int rc;

        if (left <= 0)
            return MON_ETIMEDOUT;
        rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return MON_EIO;
        }
        if (rc == 0)
            continue; /* the deadline check above ends the loop */
        got = read(fd, buf + len, cap - len);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return MON_EIO;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        if (len >= cap)
            return MON_ETOOBIG;
    }
    *ret_len = len;
    return MON_OK;
}

/* Waits for the child until the deadline, then kills it; the child is always reaped. Returns
 * MON_ETIMEDOUT when it had to be killed. */
static int reap_child(pid_t pid, int64_t deadline, bool kill_now, int *ret_status)
{
    int status = 0, r = MON_OK;

    while (!kill_now) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            *ret_status = status;
            return MON_OK;
        }
        if (w < 0 && errno != EINTR)
            return MON_ESYS;
        if (mon_mono_ms() >= deadline) {
            r = MON_ETIMEDOUT;
            break;
        }
        mon_sleep_ms(5);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return MON_ESYS;
    }
    *ret_status = status;
    return r;
}

/* Starts `command query --format=csv,noheader,nounits` with stdin from /dev/null and
 * stdout+stderr into out_fd. */
static int spawn_smi(const char *command, const char *query, int out_fd, pid_t *ret_pid)
{
    char *argv[] = {(char *)command, (char *)query, "--format=csv,noheader,nounits", NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int rc;

    rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0)
        return rc;
    rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
    if (rc == 0)
        rc = posix_spawnp(&pid, command, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc == 0)
        *ret_pid = pid;
    return rc;
}

/* Runs nvidia-smi with one query and returns its whole output (malloc'd, NUL-terminated) when
 * it exits 0 within the deadline and within cap bytes; otherwise a reason in why. */
static int smi_run(const char *command, const char *query, int64_t timeout_ms, size_t cap,
                   char **ret_out, size_t *ret_len, char *why, size_t why_len)
{
    int64_t deadline = mon_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    char *buf = malloc(cap + 1);
    int pipefd[2] = {-1, -1}, status = 0, r, rr, spawn_rc;
    size_t len = 0;
    pid_t pid = -1;

    if (!buf) {
        snprintf(why, why_len, "out of memory");
        return MON_ENOMEM;
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        char text[96];

        r = mon_err_from_errno(errno);
        snprintf(why, why_len, "pipe: %s", mon_os_errno_text(errno, text, sizeof(text)));
        goto out;
    }
    /* posix_spawnp reports exec failures (glibc waits for the exec) as its return value. */
    spawn_rc = spawn_smi(command, query, pipefd[1], &pid);
    close(pipefd[1]);
    pipefd[1] = -1;
    if (spawn_rc != 0) {
        if (spawn_rc == ENOENT || spawn_rc == EACCES || spawn_rc == ENOTDIR) {
            snprintf(why, why_len, "%s not found", command);
            r = MON_ENOENT;
        } else {
            char text[96];

            snprintf(why, why_len, "cannot start %s: %s", command,
                     mon_os_errno_text(spawn_rc, text, sizeof(text)));
            r = mon_err_from_errno(spawn_rc);
        }
        goto out;
    }
    r = collect_output(pipefd[0], deadline, buf, cap, &len);
    rr = reap_child(pid, deadline, r < 0, &status);
    if (r == MON_OK && rr < 0)
        r = rr;
    buf[len] = '\0';
    if (r == MON_ETIMEDOUT) {
        snprintf(why, why_len, "nvidia-smi timed out after %lld ms", (long long)timeout_ms);
        goto out;
    }
    if (r == MON_ETOOBIG) {
        snprintf(why, why_len, "nvidia-smi output larger than %zu bytes", cap);
        goto out;
    }
    if (r < 0) {
        snprintf(why, why_len, "reading nvidia-smi output: %s", mon_strerror(r));
        goto out;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == SMI_EXEC_FAILED) {
        snprintf(why, why_len, "%s not found", command);
        r = MON_ENOENT;
        goto out;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        buf[strcspn(buf, "\r\n")] = '\0';
        if (WIFEXITED(status))
            snprintf(why, why_len, "nvidia-smi exited with status %d: %.160s", WEXITSTATUS(status),
                     buf);
        else
            snprintf(why, why_len, "nvidia-smi killed by signal %d: %.160s",
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0, buf);
        r = MON_EIO;
        goto out;
    }
    *ret_out = buf;
    *ret_len = len;
    buf = NULL;
out:
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    free(buf);
    return r;
}

int agent_gpu_smi_read(const char *command, int64_t timeout_ms, struct agent_gpu_reading *out,
                       size_t max, size_t *ret_n, char *why, size_t why_len)
{
    char *buf = NULL;
    size_t len = 0;
    int r = smi_run(command, "--query-gpu=" GPU_SMI_QUERY, timeout_ms, SMI_MAX_OUTPUT, &buf, &len,
                    why, why_len);
    if (r < 0)
        return r;
    r = agent_parse_nvidia_smi_csv(buf, len, out, max, ret_n, why, why_len);
    free(buf);
    return r;
}

int agent_gpu_smi_read_apps(const char *command, int64_t timeout_ms, struct agent_smi_app *out,
                            size_t max, size_t *ret_n, char *why, size_t why_len)
{
    char *buf = NULL;
    size_t len = 0;
    int r = smi_run(command, "--query-compute-apps=" AGENT_SMI_APPS_QUERY, timeout_ms,
                    SMI_MAX_APPS_OUTPUT, &buf, &len, why, why_len);
    if (r < 0)
        return r;
    r = agent_parse_smi_apps_csv(buf, len, out, max, ret_n, why, why_len);
    free(buf);
    return r;
}
