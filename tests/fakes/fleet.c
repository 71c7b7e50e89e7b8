/* SPDX-License-Identifier: MIT */
/* fleet: one process playing many monitor-agents for the aggregator benchmark and the overload
 * test: agent k (of --first .. --first + --count - 1) listens on address --address + k / M
 * (counting up in the last byte) and port --base-port + k % M, M = --ports-per-address, so
 * that 100,000 agents fit below the ephemeral port range on a few loopback addresses. It answers
 * GET /v1/snapshot with made-up but realistic samples (two GPUs with their health fields and
 * the job on each busy one, one or two disks, the units asked for) and implements nothing else of
 * the agent. Replies are written with a small formatter, not printf, so that the simulator stays
 * cheaper than the aggregator it drives. */
#include "common/clock.h"
#include "common/err.h"
#include "common/str.h"

#include <arpa/inet.h>
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
#include <sys/uio.h>
#include <unistd.h>

#define FLEET_MAX_HEADER   8192 /* request line + headers, as the real agent */
#define FLEET_MAX_BODY     16384
#define FLEET_SPARE_FDS    16 /* stdio, epoll, signalfd, the config file, headroom */
#define FLEET_TAG_LISTENER (UINT64_C(1) << 32) /* epoll tags: + agent index; below: a conn fd */
#define FLEET_TAG_SIGNAL   UINT64_MAX
#define FLEET_DEFAULT_PPA  10000 /* ports per address */

struct agent {
    int fd;
    uint32_t index; /* global agent number */
    uint16_t port;
    uint32_t addr; /* IPv4, host order */
    uint32_t served;
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
    size_t token_len;
    struct agent *agents;
    struct conn **conns; /* by fd */
    size_t n_agents, n_fds, n_conns, max_conns;
    int last_fd; /* of the connection served last */
    uint64_t requests, accepted, evicted;
    int64_t ts_second; /* the second ts_text was made for */
    char ts_text[MON_ISO8601_LEN], since_text[MON_ISO8601_LEN];
};

/* ---- a tiny writer (bounded; writes nothing past end) ---- */

struct out {
    char *p, *end;
};

static void w_mem(struct out *o, const char *s, size_t n)
{
    if ((size_t)(o->end - o->p) < n) {
        o->p = o->end; /* overflow: the caller sees a full buffer and fails */
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

static void w_str(struct out *o, const char *s)
{
    w_mem(o, s, strlen(s));
}

static void w_u64(struct out *o, uint64_t v)
{
    char tmp[24], *q = tmp + sizeof(tmp);
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    w_mem(o, q, (size_t)(tmp + sizeof(tmp) - q));
}

/* A non-negative value with one decimal, from tenths. */
static void w_tenths(struct out *o, uint64_t tenths)
{
    char d[2] = {'.', (char)('0' + tenths % 10)};
    w_u64(o, tenths / 10);
    w_mem(o, d, 2);
}

static void w_hex(struct out *o, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        tmp[i] = hex[v & 15];
    w_mem(o, tmp, (size_t)digits);
}

/* splitmix64: a deterministic "random" number in [0, 1000) for a seed. */
static uint64_t wobble(uint64_t seed)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (z ^ (z >> 31)) % 1000;
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
static void put_services(struct out *o, const char *q, const char *since)
{
    char name[256];
    size_t n = 0;
    bool first = true;
    w_str(o, ",\"services\":[");
    for (;;) {
        if (*q == ',' || *q == '&' || *q == '\0' || *q == ' ') {
            if (n > 0) {
                w_str(o, first ? "{\"name\":\"" : ",{\"name\":\"");
                w_mem(o, name, n);
                w_str(o, "\",\"active_state\":\"active\",\"sub_state\":\"running\",\"since\":\"");
                w_str(o, since);
                w_str(o, "\"}");
                first = false;
            }
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
    w_str(o, "]");
}

static void refresh_time(struct fleet *f)
{
    int64_t now = mon_utc_ms() / 1000;
    if (now == f->ts_second)
        return;
    f->ts_second = now;
    if (mon_format_iso8601(now, f->ts_text, sizeof(f->ts_text)) < 0 ||
        mon_format_iso8601(now - 3600, f->since_text, sizeof(f->since_text)) < 0)
        f->ts_text[0] = f->since_text[0] = '\0';
}

/* The agent's per-GPU health and process fields (as the real agent sends them with NVML): a
 * GPU above 5 % utilisation runs one job of one of four users, using its memory. */
static void put_gpu_health(struct out *o, const struct agent *a, int g, uint64_t util,
                           const char *since)
{
    static const char *const users[] = {"alice", "bob", "carol", "dave"};
    uint64_t who = ((uint64_t)a->index + (uint64_t)g) % 4;
    w_str(o, ",\"fan_pct\":");
    w_u64(o, 30 + util / 20);
    w_str(o, ",\"sm_clock_mhz\":1410,\"power_limit_w\":400,\"pstate\":0,\"throttle\":");
    w_str(o, util > 900 ? "[\"sw_power_cap\"]" : "[]");
    w_str(o, ",\"ecc\":{\"mode\":\"enabled\",\"volatile_corrected\":0,"
             "\"volatile_uncorrected\":0,\"aggregate_corrected\":0,\"aggregate_uncorrected\":0},"
             "\"remapped_rows\":{\"corrected\":0,\"uncorrected\":0,\"pending\":false,"
             "\"failed\":false},\"xid\":[],\"processes\":[");
    if (util > 50) {
        w_str(o, "{\"pid\":");
        w_u64(o, 100000 + (uint64_t)a->index % 800000 + (uint64_t)g);
        w_str(o, ",\"user\":\"");
        w_str(o, users[who]);
        w_str(o, "\",\"uid\":");
        w_u64(o, 1001 + who);
        w_str(o, ",\"command\":\"python3\",\"type\":\"compute\",\"used_mem_mb\":");
        w_u64(o, 81920 * util / 1000);
        w_str(o, ",\"container\":null,\"started_at\":\"");
        w_str(o, since);
        w_str(o, "\"}");
    }
    w_str(o, "],\"processes_truncated\":false");
}

/* The snapshot body of agent a (values move from request to request). */
static void put_snapshot(struct fleet *f, struct out *o, struct agent *a, const char *services)
{
    uint64_t seed = (uint64_t)a->index * 1000003u + a->served;
    uint64_t cpu = 20 + wobble(seed) * 96 / 100, mem_pct = 300 + wobble(seed + 1) * 4 / 10;
    uint64_t total = 274877906944ULL, disk_total = 1000000000000ULL;
    uint64_t disk_used = 200000000000ULL + wobble(a->index) * 600000000ULL;

    w_str(o, "{\"node_id\":\"fleet-");
    w_u64(o, a->index);
    w_str(o, "\",\"ts\":\"");
    w_str(o, f->ts_text);
    w_str(o, "\",\"agent_version\":\"0.1.0\",\"uptime_s\":");
    w_u64(o, 86400 + (uint64_t)f->ts_second % 1000000);
    w_str(o, ",\"cpu_count\":64,\"load\":[");
    w_tenths(o, cpu * 64 / 100);
    w_str(o, ",");
    w_tenths(o, cpu * 60 / 100);
    w_str(o, ",");
    w_tenths(o, cpu * 55 / 100);
    w_str(o, "],\"cpu_pct\":");
    w_tenths(o, cpu);
    w_str(o, ",\"mem\":{\"used_bytes\":");
    w_u64(o, total / 1000 * mem_pct);
    w_str(o, ",\"total_bytes\":");
    w_u64(o, total);
    w_str(o, ",\"used_pct\":");
    w_tenths(o, mem_pct);
    w_str(o, "},\"disks\":[{\"mount\":\"/\",\"used_bytes\":");
    w_u64(o, disk_used);
    w_str(o, ",\"total_bytes\":");
    w_u64(o, disk_total);
    w_str(o, ",\"used_pct\":");
    w_tenths(o, disk_used / 1000000000ULL);
    w_str(o, "}");
    if (a->index % 2)
        w_str(o, ",{\"mount\":\"/data\",\"used_bytes\":3000000000000,\"total_bytes\":"
                 "8000000000000,\"used_pct\":37.5}");
    w_str(o, "],\"gpus\":[");
    for (int g = 0; g < 2; g++) {
        uint64_t util = wobble(seed + 2 + (uint64_t)g); /* tenths */
        w_str(o, g ? ",{\"index\":1" : "{\"index\":0");
        w_str(o, ",\"name\":\"NVIDIA A100-SXM4-80GB\",\"uuid\":\"GPU-");
        w_hex(o, a->index, 8);
        w_str(o, "-");
        w_hex(o, (uint64_t)g, 4);
        w_str(o, "-4000-8000-");
        w_hex(o, a->index, 12);
        w_str(o, "\",\"util_pct\":");
        w_tenths(o, util);
        w_str(o, ",\"mem_used_mb\":");
        w_u64(o, 81920 * util / 1000);
        w_str(o, ",\"mem_total_mb\":81920,\"temp_c\":");
        w_tenths(o, 350 + util * 4 / 10);
        w_str(o, ",\"power_w\":");
        w_tenths(o, 600 + util * 34 / 10);
        put_gpu_health(o, a, g, util, f->since_text);
        w_str(o, "}");
    }
    w_str(o, "]");
    if (services)
        put_services(o, services, f->since_text);
    w_str(o, ",\"health\":\"ok\"}");
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

/* Answers one request (block: its headers, NUL-terminated) with one writev. The reply must
 * fit the socket buffer at once (its clients never pipeline); otherwise the connection is
 * closed. */
static int respond(struct fleet *f, struct conn *c, const char *block)
{
    char body[FLEET_MAX_BODY], head[256];
    struct out ob = {body, body + sizeof(body)}, oh = {head, head + sizeof(head)};
    const char *auth = header(block, "Authorization"), *services = NULL, *text = "OK";
    bool path_ok =
        strncmp(block, "GET /v1/snapshot", 16) == 0 && (block[16] == ' ' || block[16] == '?');
    int status = 200;
    struct iovec iov[2];

    if (!path_ok) {
        status = 404;
        text = "Not Found";
    } else if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 ||
               strncmp(auth + 7, f->token, f->token_len) != 0 || auth[7 + f->token_len] != '\r') {
        status = 401;
        text = "Unauthorized";
    }
    if (path_ok && block[16] == '?')
        for (const char *q = block + 17; q && *q && *q != ' ' && !services;
             q = (q = strpbrk(q, "& ")) && *q == '&' ? q + 1 : NULL)
            if (strncmp(q, "services=", 9) == 0)
                services = q + 9;
    refresh_time(f);
    if (status == 200) {
        put_snapshot(f, &ob, c->agent, services);
    } else {
        w_str(&ob, "{\"error\":\"");
        w_str(&ob, text);
        w_str(&ob, "\"}");
    }
    w_str(&oh, status == 200   ? "HTTP/1.1 200 OK"
               : status == 401 ? "HTTP/1.1 401 Unauthorized"
                               : "HTTP/1.1 404 Not Found");
    w_str(&oh, "\r\nContent-Type: application/json\r\nContent-Length: ");
    w_u64(&oh, (uint64_t)(ob.p - body));
    w_str(&oh, status == 401 ? "\r\nWWW-Authenticate: Bearer\r\n\r\n" : "\r\n\r\n");
    c->agent->served += status == 200;
    f->requests++;
    if (ob.p == ob.end || oh.p == oh.end)
        return MON_ETOOBIG;
    iov[0] = (struct iovec){head, (size_t)(oh.p - head)};
    iov[1] = (struct iovec){body, (size_t)(ob.p - body)};
    return writev(c->fd, iov, 2) == (ssize_t)(iov[0].iov_len + iov[1].iov_len) ? MON_OK : MON_EIO;
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
        char *end;
        c->in[c->in_len] = '\0';
        end = strstr(c->in, "\r\n\r\n");
        if (!end) { /* incomplete: wait for more unless the buffer is full */
            if (c->in_len == FLEET_MAX_HEADER)
                conn_close(f, c);
            return;
        }
        end[2] = '\0';
        if (respond(f, c, c->in) < 0) {
            conn_close(f, c);
            return;
        }
        c->in_len -= (size_t)(end + 4 - c->in);
        memmove(c->in, end + 4, c->in_len);
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

static int open_listener(struct fleet *f, size_t i)
{
    struct agent *a = &f->agents[i];
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(a->port), .sin_addr.s_addr = htonl(a->addr)};
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = FLEET_TAG_LISTENER + i};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    a->fd = fd;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 512) < 0 ||
        epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
        fprintf(stderr, "fleet: cannot listen on %s:%u: %s\n", ip, a->port, strerror(errno));
        return -1;
    }
    return 0;
}

/* Compact on purpose: the aggregator reads at most 1 MiB of config (~100 bytes a server). */
static int print_config(const char *path, const struct fleet *f)
{
    FILE *out = fopen(path, "w");
    bool ok = out && fputs("servers:\n", out) >= 0;
    for (size_t i = 0; ok && i < f->n_agents; i++) {
        const struct agent *a = &f->agents[i];
        struct in_addr in = {.s_addr = htonl(a->addr)};
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in, ip, sizeof(ip));
        ok = fprintf(out,
                     "- {name: fleet-%" PRIu32
                     ", host: %s, agent_port: %u, token: \"%s\", tls: false}\n",
                     a->index, ip, a->port, f->token) > 0;
    }
    if (out && fclose(out) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "fleet: cannot write %s\n", path);
    return ok ? 0 : -1;
}

struct args {
    int64_t base, count, first, per_addr;
    uint32_t address; /* first address, host order */
    const char *token, *config;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    int r = MON_OK;
    if (argc % 2 == 0)
        return MON_EINVAL;
    for (int i = 1; i + 1 < argc && r == MON_OK; i += 2) {
        if (strcmp(argv[i], "--base-port") == 0)
            r = mon_parse_int64(argv[i + 1], 1, 65535, &a->base);
        else if (strcmp(argv[i], "--count") == 0)
            r = mon_parse_int64(argv[i + 1], 1, 1000000, &a->count);
        else if (strcmp(argv[i], "--first") == 0)
            r = mon_parse_int64(argv[i + 1], 0, 1000000, &a->first);
        else if (strcmp(argv[i], "--ports-per-address") == 0)
            r = mon_parse_int64(argv[i + 1], 1, 65535, &a->per_addr);
        else if (strcmp(argv[i], "--address") == 0) {
            struct in_addr in;
            if (inet_pton(AF_INET, argv[i + 1], &in) != 1 ||
                (ntohl(in.s_addr) >> 24) != 127) /* loopback only */
                r = MON_EINVAL;
            a->address = ntohl(in.s_addr);
        } else if (strcmp(argv[i], "--token") == 0)
            a->token = argv[i + 1];
        else if (strcmp(argv[i], "--print-config") == 0)
            a->config = argv[i + 1];
        else
            r = MON_EINVAL;
    }
    if (r < 0 || a->base < 1 || a->count < 1 || !a->token || !*a->token || strlen(a->token) > 256 ||
        a->token[strcspn(a->token, "\"\\ \t\r\n#:{}[],&*!|>'%@`")] != '\0')
        return MON_EINVAL;
    if (a->address == 0)
        a->address = 0x7f000001u; /* 127.0.0.1 */
    if (a->per_addr == 0)
        a->per_addr = a->first + a->count <= FLEET_DEFAULT_PPA ? 65536 : FLEET_DEFAULT_PPA;
    /* The last agent's port and address must exist. */
    if (a->base + (a->per_addr < a->first + a->count ? a->per_addr : a->first + a->count) - 1 >
            65535 ||
        (a->address & 0xffu) + (uint32_t)((a->first + a->count - 1) / a->per_addr) > 254)
        return MON_EINVAL;
    return MON_OK;
}

/* Raises the open-file limit and sizes the connection table. */
static int size_fds(struct fleet *f)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < f->n_agents + 2 * FLEET_SPARE_FDS) {
        fprintf(stderr,
                "fleet: %zu agents need at least %zu file descriptors but the limit is %llu "
                "(raise it: ulimit -Hn, or run more fleet processes with --first)\n",
                f->n_agents, f->n_agents + 2 * FLEET_SPARE_FDS, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    f->n_fds = rl.rlim_cur < (1u << 20) ? (size_t)rl.rlim_cur : (1u << 20);
    f->max_conns = f->n_fds - f->n_agents - FLEET_SPARE_FDS;
    return 0;
}

int main(int argc, char **argv)
{
    struct fleet f = {.ep = -1, .ts_second = -1};
    struct args a = {0};
    struct epoll_event events[256];
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = FLEET_TAG_SIGNAL};
    int sfd = -1, rc = 1;
    size_t opened = 0;
    sigset_t mask;

    if (parse_args(argc, argv, &a) < 0) {
        fprintf(stderr,
                "Usage: fleet --base-port P --count N --token T [--first K] [--address A]\n"
                "             [--ports-per-address M] [--print-config FILE]\n"
                "  agents K..K+N-1; agent k on (A + k / M):(P + k %% M), A a loopback address\n"
                "  (default 127.0.0.1, counting up in its last byte); M: 65536 (one address) up\n"
                "  to 10,000 agents, else 10,000; T: 1-256 characters, no spaces or quotes\n");
        return 2;
    }
    f.token = a.token;
    f.token_len = strlen(a.token);
    f.n_agents = (size_t)a.count;
    if (size_fds(&f) < 0)
        return 1;
    f.agents = calloc(f.n_agents, sizeof(*f.agents));
    if (!f.agents)
        return 1;
    for (size_t i = 0; i < f.n_agents; i++) {
        uint32_t k = (uint32_t)(a.first + (int64_t)i);
        f.agents[i] = (struct agent){.fd = -1,
                                     .index = k,
                                     .port = (uint16_t)(a.base + k % a.per_addr),
                                     .addr = a.address + (uint32_t)(k / a.per_addr)};
    }
    if (a.config && print_config(a.config, &f) < 0)
        goto out;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    f.conns = calloc(f.n_fds, sizeof(*f.conns));
    f.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!f.conns || f.ep < 0 || sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
        (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
        epoll_ctl(f.ep, EPOLL_CTL_ADD, sfd, &sev) < 0) {
        fprintf(stderr, "fleet: cannot set up: %s\n", strerror(errno));
        goto out;
    }
    for (; opened < f.n_agents; opened++)
        if (open_listener(&f, opened) < 0)
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
    for (size_t i = 0; f.agents && i < f.n_agents; i++)
        if (f.agents[i].fd >= 0)
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
