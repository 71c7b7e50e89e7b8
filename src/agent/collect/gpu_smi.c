/* SPDX-License-Identifier: MIT */
/* nvidia-smi fallback: one bounded run per sample (no shell, capped output, killed on
 * timeout) and a strict parser of its CSV. */
#define _GNU_SOURCE /* pipe2 */
#include "agent/collect/gpu_smi.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMI_COLUMNS     8
#define SMI_MAX_OUTPUT  (64 * 1024)
#define SMI_EXEC_FAILED 127

/* A field is absent when nvidia-smi prints "[N/A]", "[Not Supported]" or plain "N/A". */
static bool field_absent(const char *f)
{
    return f[0] == '[' || strcmp(f, "N/A") == 0;
}

static int number_field(const char *f, double min, double max, bool *present, double *ret)
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

/* Splits one line into exactly SMI_COLUMNS trimmed fields (in place). */
static int split_line(char *line, char **fields)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        char *end;
        if (n >= SMI_COLUMNS)
            return MON_EPARSE;
        if (comma)
            *comma = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        end = p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            *--end = '\0';
        fields[n++] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    return n == SMI_COLUMNS ? MON_OK : MON_EPARSE;
}

static int parse_line(char *line, struct gpu_reading *r)
{
    char *f[SMI_COLUMNS];
    bool has_used, has_total;
    double index, used = 0, total = 0;
    bool has_index;

    if (split_line(line, f) < 0)
        return MON_EPARSE;
    memset(r, 0, sizeof(*r));
    if (number_field(f[0], 0, GPU_MAX - 1, &has_index, &index) < 0 || !has_index ||
        index != (double)(unsigned)index)
        return MON_EPARSE;
    r->index = (unsigned)index;
    if (!field_absent(f[1]))
        mon_strlcpy(r->name, f[1], sizeof(r->name));
    if (!field_absent(f[2]))
        mon_strlcpy(r->uuid, f[2], sizeof(r->uuid));
    if (number_field(f[3], 0, 100, &r->has_util, &r->util_pct) < 0 ||
        number_field(f[4], 0, 1e9, &has_used, &used) < 0 ||
        number_field(f[5], 0, 1e9, &has_total, &total) < 0 ||
        number_field(f[6], -100, 300, &r->has_temp, &r->temp_c) < 0 ||
        number_field(f[7], 0, 1e5, &r->has_power, &r->power_w) < 0)
        return MON_EPARSE;
    r->has_mem = has_used && has_total;
    r->mem_used_mb = (uint64_t)used;
    r->mem_total_mb = (uint64_t)total;
    return MON_OK;
}

int parse_nvidia_smi_csv(const char *buf, size_t len, struct gpu_reading *out, size_t max,
                         size_t *ret_n, char *why, size_t why_len)
{
    char *copy = mon_strndup(buf, len), *line, *next;
    size_t n = 0;
    int line_no = 0, r = MON_OK;

    if (!copy)
        return MON_ENOMEM;
    for (line = copy; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        if (line[strspn(line, " \t\r")] == '\0')
            continue; /* blank line */
        if (n >= max) {
            snprintf(why, why_len, "more than %zu GPUs", max);
            r = MON_ERANGE;
            goto out;
        }
        if (parse_line(line, &out[n]) < 0) {
            snprintf(why, why_len, "nvidia-smi output line %d: malformed", line_no);
            r = MON_EPARSE;
            goto out;
        }
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
        if (left <= 0)
            return MON_ETIMEDOUT;
        if (poll(&p, 1, (int)left) < 0) {
            if (errno == EINTR)
                continue;
            return MON_EIO;
        }
        if (!p.revents)
            continue;
        if (len >= cap)
            return MON_ETOOBIG;
        got = read(fd, buf + len, cap - len);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return MON_EIO;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    *ret_len = len;
    return MON_OK;
}

int gpu_smi_read(const char *command, int64_t timeout_ms, struct gpu_reading *out, size_t max,
                 size_t *ret_n, char *why, size_t why_len)
{
    char *argv[] = {(char *)command, "--query-gpu=" GPU_SMI_QUERY, "--format=csv,noheader,nounits",
                    NULL};
    int64_t deadline = mon_mono_ms() + timeout_ms;
    char *buf = malloc(SMI_MAX_OUTPUT + 1);
    int pipefd[2], status = 0, r;
    size_t len = 0;
    pid_t pid;

    if (!buf)
        return MON_ENOMEM;
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        free(buf);
        snprintf(why, why_len, "pipe: %s", strerror(errno));
        return MON_EIO;
    }
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        free(buf);
        snprintf(why, why_len, "fork: %s", strerror(errno));
        return MON_EIO;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        execvp(command, argv);
        _exit(SMI_EXEC_FAILED);
    }
    close(pipefd[1]);
    r = collect_output(pipefd[0], deadline, buf, SMI_MAX_OUTPUT, &len);
    close(pipefd[0]);
    if (r < 0)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    buf[len] = '\0';
    if (r == MON_ETIMEDOUT) {
        snprintf(why, why_len, "nvidia-smi timed out after %lld ms", (long long)timeout_ms);
        goto out;
    }
    if (r < 0) {
        snprintf(why, why_len, "reading nvidia-smi output: %s", mon_strerror(r));
        goto out;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == SMI_EXEC_FAILED && len == 0) {
        snprintf(why, why_len, "%s not found", command);
        r = MON_ENOENT;
        goto out;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        buf[strcspn(buf, "\r\n")] = '\0';
        snprintf(why, why_len, "nvidia-smi exited with %d: %.120s",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, buf);
        r = MON_EIO;
        goto out;
    }
    r = parse_nvidia_smi_csv(buf, len, out, max, ret_n, why, why_len);
out:
    free(buf);
    return r;
}
