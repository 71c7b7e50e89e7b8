/* SPDX-License-Identifier: MIT */
/* fleet: one process playing N monitor-agents on 127.0.0.1 ports BASE..BASE+N-1 for the
 * aggregator benchmark; it answers GET /v1/snapshot with made-up but realistic samples and
 * implements nothing else of the agent. */
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define FLEET_MAX_HEADER   8192 /* request line + headers, as the real agent */
#define FLEET_MAX_REPLY    65536
#define FLEET_SPARE_FDS    16 /* stdio, epoll, signalfd, the config file, headroom */
#define FLEET_TAG_LISTENER (UINT64_C(1) << 32) /* epoll tags: + agent index; below: a conn fd */
#define FLEET_TAG_SIGNAL   UINT64_MAX

struct agent {
    int fd;
    int port;
    uint64_t served;
};

struct conn {
    int fd;
    struct agent *agent;
    size_t in_len;
    bool idle; /* has been served: may be closed to make room */
    char in[FLEET_MAX_HEADER + 1];
};

struct fleet {
    int ep;
    const char *token;
    struct agent *agents;
    struct conn **conns; /* by fd */
    size_t n_agents, n_fds, n_conns, max_conns;
    int last_fd; /* of the connection served last */
    uint64_t requests, accepted, evicted;
};

/* splitmix64: a deterministic "random" number in [0, 1) for a seed. */
static double wobble(uint64_t seed)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static int hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Echoes the comma-separated, percent-encoded units of ?services= as active/running; bytes
 * that cannot be in a unit name are dropped, so nothing needs JSON escaping. */
static int put_services(struct mon_buf *b, const char *q, const char *since)
{
    char name[256];
    size_t n = 0;
    int r = mon_buf_puts(b, ",\"services\":[");
    while (r == MON_OK) {
        if (*q == ',' || *q == '&' || *q == '\0') {
            if (n > 0)
                r = mon_buf_printf(b,
                                   "%s{\"name\":\"%.*s\",\"active_state\":\"active\",\"sub_state\":"
                                   "\"running\",\"since\":\"%s\"}",
                                   b->data[b->len - 1] == '[' ? "" : ",", (int)n, name, since);
            n = 0;
            if (*q++ != ',')
                break;
            continue;
        }
        char ch = *q;
        if (ch == '%' && hex(q[1]) >= 0 && hex(q[2]) >= 0) {
            ch = (char)(hex(q[1]) * 16 + hex(q[2]));
            q += 2;
        }
        if (n < sizeof(name) && ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            name[n++] = ch;
        q++;
    }
    return r == MON_OK ? mon_buf_puts(b, "]") : r;
}

static int put_snapshot(struct mon_buf *b, struct agent *a, const char *services)
{
    int64_t now_ms = mon_utc_ms();
    uint64_t seed = (uint64_t)a->port * 1000003u + a->served;
    double cpu = 2.0 + 96.0 * wobble(seed), mem_pct = 30.0 + 40.0 * wobble(seed + 1);
    double total = 274877906944.0, disk_total = 1.0e12,
           disk_used = 2.0e11 + 6.0e11 * wobble(a->port);
    char ts[MON_ISO8601_LEN], since[MON_ISO8601_LEN];
    int r;

    if (mon_format_iso8601(now_ms / 1000, ts, sizeof(ts)) < 0 ||
        mon_format_iso8601(now_ms / 1000 - 3600, since, sizeof(since)) < 0)
        return MON_ERANGE;
    r = mon_buf_printf(b,
                       "{\"node_id\":\"fleet-%d\",\"ts\":\"%s\",\"agent_version\":\"0.1.0\","
                       "\"uptime_s\":%" PRId64 ",\"cpu_count\":64,\"load\":[%.2f,%.2f,%.2f],"
                       "\"cpu_pct\":%.1f,\"mem\":{\"used_bytes\":%.0f,\"total_bytes\":%.0f,"
                       "\"used_pct\":%.1f},\"disks\":[{\"mount\":\"/\",\"used_bytes\":%.0f,"
                       "\"total_bytes\":%.0f,\"used_pct\":%.1f}",
                       a->port, ts, 86400 + now_ms / 1000 % 1000000, cpu * 0.64, cpu * 0.6,
                       cpu * 0.55, cpu, total * mem_pct / 100.0, total, mem_pct, disk_used,
                       disk_total, disk_used * 100.0 / disk_total);
    if (r == MON_OK && a->port % 2)
        r = mon_buf_puts(b, ",{\"mount\":\"/data\",\"used_bytes\":3000000000000,\"total_bytes\":"
                            "8000000000000,\"used_pct\":37.5}");
    for (int g = 0; g < 2 && r == MON_OK; g++) {
        double util = 100.0 * wobble(seed + 2 + (uint64_t)g);
        r = mon_buf_printf(b,
                           "%s{\"index\":%d,\"name\":\"NVIDIA A100-SXM4-80GB\",\"uuid\":\"GPU-"
                           "%08x-%04x-4000-8000-%012x\",\"util_pct\":%.1f,\"mem_used_mb\":%.0f,"
                           "\"mem_total_mb\":81920,\"temp_c\":%.1f,\"power_w\":%.1f}",
                           g ? "," : "],\"gpus\":[", g, (unsigned)a->port, (unsigned)g,
                           (unsigned)a->port, util, 81920.0 * util / 100.0, 35.0 + util * 0.4,
                           60.0 + util * 3.4);
    }
    if (r == MON_OK)
        r = mon_buf_puts(b, "]");
    if (r == MON_OK && services)
        r = put_services(b, services, since);
    return r == MON_OK ? mon_buf_puts(b, ",\"health\":\"ok\"}") : r;
}

/* Returns the value of header name in the NUL-terminated header block, or NULL. */
static const char *header(const char *block, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = strstr(block, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, len) == 0 && p[2 + len] == ':') {
            p += 3 + len;
            return p + strspn(p, " \t");
        }
    }
    return NULL;
}

/* Answers one request (block: its headers, NUL-terminated). The reply must fit the socket
 * buffer at once (its clients never pipeline); otherwise the connection is closed. */
static int respond(struct fleet *f, struct conn *c, char *block)
{
    struct mon_buf body, all;
    const char *auth = header(block, "Authorization"), *services = NULL, *text = "OK";
    bool path_ok =
        strncmp(block, "GET /v1/snapshot", 16) == 0 && (block[16] == ' ' || block[16] == '?');
    char *query = path_ok && block[16] == '?' ? block + 17 : NULL;
    size_t tlen = strlen(f->token);
    int status = 200, r;

    if (!path_ok) {
        status = 404;
        text = "Not Found";
    } else if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 ||
               strncmp(auth + 7, f->token, tlen) != 0 || auth[7 + tlen] != '\r') {
        status = 401;
        text = "Unauthorized";
    }
    if (query)
        query[strcspn(query, " \r")] = '\0';
    for (const char *q = query; q && !services; q = (q = strchr(q, '&')) ? q + 1 : NULL)
        if (strncmp(q, "services=", 9) == 0)
            services = q + 9;
    mon_buf_init(&body, FLEET_MAX_REPLY);
    mon_buf_init(&all, FLEET_MAX_REPLY);
    if (status == 200)
        r = put_snapshot(&body, c->agent, services);
    else
        r = mon_buf_printf(&body, "{\"error\":\"%s\"}", text);
    if (r == MON_OK)
        r = mon_buf_printf(&all,
                           "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\n%s\r\n%s",
                           status, text, body.len,
                           status == 401 ? "WWW-Authenticate: Bearer\r\n" : "", body.data);
    if (r == MON_OK && send(c->fd, all.data, all.len, MSG_NOSIGNAL) != (ssize_t)all.len)
        r = MON_EIO;
    mon_buf_done(&body);
    mon_buf_done(&all);
    c->agent->served += status == 200;
    f->requests++;
    return r;
}

static void conn_close(struct fleet *f, struct conn *c)
{
    f->conns[c->fd] = NULL;
    close(c->fd);
    free(c);
    f->n_conns--;
}

static void on_conn(struct fleet *f, struct conn *c)
{
    ssize_t n = read(c->fd, c->in + c->in_len, FLEET_MAX_HEADER - c->in_len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(f, c);
        return;
    }
    c->in_len += n > 0 ? (size_t)n : 0;
    for (;;) { /* every complete request, in order */
        size_t end = 0;
        while (end + 4 <= c->in_len && memcmp(c->in + end, "\r\n\r\n", 4) != 0)
            end++;
        if (end + 4 > c->in_len) { /* incomplete: wait for more unless the buffer is full */
            if (c->in_len == FLEET_MAX_HEADER)
                conn_close(f, c);
            return;
        }
        c->in[end + 2] = '\0';
        if (respond(f, c, c->in) < 0) {
            conn_close(f, c);
            return;
        }
        c->in_len -= end + 4;
        memmove(c->in, c->in + end + 4, c->in_len);
        c->idle = true;
        f->last_fd = c->fd;
    }
}

/* Closes an idle connection to make room, the one served last first: agents are polled in a
 * fixed cycle, so it is the one needed again the latest. */
static bool evict(struct fleet *f)
{
    for (size_t k = 0; k < f->n_fds; k++) {
        struct conn *c = f->conns[((size_t)f->last_fd + k) % f->n_fds];
        if (c && c->idle && c->in_len == 0) {
            conn_close(f, c);
            f->evicted++;
            return true;
        }
    }
    return false;
}

/* Accepts one connection per event (the listener is level-triggered). */
static void on_listener(struct fleet *f, struct agent *a)
{
    struct conn *c;
    int fd;
    if ((f->n_conns >= f->max_conns && !evict(f)) || (fd = accept(a->fd, NULL, NULL)) < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd};
    c = (size_t)fd < f->n_fds ? calloc(1, sizeof(*c)) : NULL;
    if (!c || fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    c->agent = a;
    f->conns[fd] = c;
    f->n_conns++;
    f->accepted++;
}

static int open_listener(struct fleet *f, size_t i, int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = FLEET_TAG_LISTENER + i};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    f->agents[i] = (struct agent){.fd = fd, .port = port};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 512) < 0 ||
        epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        fprintf(stderr, "fleet: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return -1;
    }
    return 0;
}

/* Compact on purpose: the aggregator reads at most 1 MiB of config (~100 bytes a server). */
static int print_config(const char *path, int64_t base, size_t count, const char *token)
{
    FILE *out = fopen(path, "w");
    bool ok = out && fputs("servers:\n", out) >= 0;
    for (size_t i = 0; ok && i < count; i++)
        ok = fprintf(out, "- {name: fleet-%zu, host: 127.0.0.1, agent_port: %zu, token: \"%s\"}\n",
                     (size_t)base + i, (size_t)base + i, token) > 0;
    if (out && fclose(out) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "fleet: cannot write %s\n", path);
    return ok ? 0 : -1;
}

static int parse_args(int argc, char **argv, int64_t *ret_base, int64_t *ret_count,
                      const char **ret_token, const char **ret_config)
{
    int r = MON_OK;
    if (argc % 2 == 0)
        return MON_EINVAL;
    for (int i = 1; i + 1 < argc && r == MON_OK; i += 2) {
        if (strcmp(argv[i], "--base-port") == 0)
            r = mon_parse_int64(argv[i + 1], 1, 65535, ret_base);
        else if (strcmp(argv[i], "--count") == 0)
            r = mon_parse_int64(argv[i + 1], 1, 65535, ret_count);
        else if (strcmp(argv[i], "--token") == 0)
            *ret_token = argv[i + 1];
        else if (strcmp(argv[i], "--print-config") == 0)
            *ret_config = argv[i + 1];
        else
            r = MON_EINVAL;
    }
    if (r < 0 || *ret_base < 1 || *ret_count < 1 || *ret_base + *ret_count - 1 > 65535 ||
        !*ret_token || !**ret_token || strlen(*ret_token) > 256 ||
        (*ret_token)[strcspn(*ret_token, "\"\\ \t\r\n#:{}[],&*!|>'%@`")] != '\0')
        return MON_EINVAL;
    return MON_OK;
}

int main(int argc, char **argv)
{
    struct fleet f = {.ep = -1};
    struct epoll_event events[256];
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = FLEET_TAG_SIGNAL};
    struct rlimit rl;
    const char *config = NULL;
    int64_t base = 0, count = 0;
    int sfd = -1, rc = 1;
    size_t opened = 0;
    sigset_t mask;

    if (parse_args(argc, argv, &base, &count, &f.token, &config) < 0) {
        fprintf(stderr,
                "Usage: fleet --base-port P --count N --token T [--print-config FILE]\n"
                "  serves ports P..P+N-1 on 127.0.0.1; T: 1-256 characters, no spaces or quotes\n");
        return 2;
    }
    f.n_agents = (size_t)count;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < f.n_agents + 2 * FLEET_SPARE_FDS) {
        fprintf(stderr,
                "fleet: %zu agents need at least %zu file descriptors but the limit is %llu "
                "(raise it: ulimit -Hn)\n",
                f.n_agents, f.n_agents + 2 * FLEET_SPARE_FDS, (unsigned long long)rl.rlim_cur);
        return 1;
    }
    f.n_fds = rl.rlim_cur < (1u << 20) ? (size_t)rl.rlim_cur : (1u << 20);
    f.max_conns = f.n_fds - f.n_agents - FLEET_SPARE_FDS;
    if (config && print_config(config, base, f.n_agents, f.token) < 0)
        return 1;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    f.agents = calloc(f.n_agents, sizeof(*f.agents));
    f.conns = calloc(f.n_fds, sizeof(*f.conns));
    f.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!f.agents || !f.conns || f.ep < 0 || sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
        (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
        epoll_ctl(f.ep, EPOLL_CTL_ADD, sfd, &sev) < 0) {
        fprintf(stderr, "fleet: cannot set up: %s\n", strerror(errno));
        goto out;
    }
    for (; opened < f.n_agents; opened++)
        if (open_listener(&f, opened, (int)(base + (int64_t)opened)) < 0)
            goto out;
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(f.ep, events, 256, -1);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "fleet: epoll_wait: %s\n", strerror(errno));
            goto out;
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = events[i].data.u64;
            if (tag == FLEET_TAG_SIGNAL) {
                rc = 0;
                goto out;
            }
            if (tag >= FLEET_TAG_LISTENER)
                on_listener(&f, &f.agents[tag - FLEET_TAG_LISTENER]);
            else if (f.conns[tag]) /* NULL when closed earlier in this batch */
                on_conn(&f, f.conns[tag]);
        }
    }
out:
    for (size_t fd = 0; f.conns && fd < f.n_fds; fd++)
        if (f.conns[fd])
            conn_close(&f, f.conns[fd]);
    for (size_t i = 0; f.agents && i <= opened && i < f.n_agents; i++)
        if (f.agents[i].fd > 0)
            close(f.agents[i].fd);
    if (sfd >= 0)
        close(sfd);
    if (f.ep >= 0)
        close(f.ep);
    free(f.agents);
    free(f.conns);
    fprintf(stderr, "fleet: %" PRIu64 " requests, %" PRIu64 " connections, %" PRIu64 " evicted\n",
            f.requests, f.accepted, f.evicted);
    return rc;
}
