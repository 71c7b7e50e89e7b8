/* SPDX-License-Identifier: MIT */
/* fleet: one process playing many monitor-agents for the aggregator benchmark and the overload
 * test: agent k (of --first .. --first + --count - 1) listens on address --address + k / M
 * (counting up in the last byte) and port --base-port + k % M, M = --ports-per-address, so
 * that 100,000 agents fit below the ephemeral port range on a few loopback addresses. It answers
 * GET /v1/snapshot (fleet_reply.c) over plain HTTP, or over HTTPS with --cert/--key as a real
 * agent with tls: does (fleet_tls.c), and implements nothing else of the agent. This file: the
 * listeners, connections and the event loop. */
#include "fleet.h"

#include "common/err.h"
#include "common/str.h"
#include "common/tls.h"

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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define FLEET_MAX_REPLY    20480 /* status line, headers and the body */
#define FLEET_SPARE_FDS    16    /* stdio, epoll, signalfd, the config file, headroom */
#define FLEET_TAG_LISTENER (UINT64_C(1) << 32) /* epoll tags: + agent index; below: a conn fd */
#define FLEET_TAG_SIGNAL   UINT64_MAX
#define FLEET_DEFAULT_PPA  10000 /* ports per address */

static void conn_close(struct fleet *f, struct conn *c)
{
    if (c->tls && !c->handshaken)
        f->handshaking--;
    fleet_tls_session_free(c->tls);
    f->conns[c->fd] = NULL;
    close(c->fd);
    free(c);
    f->n_conns--;
}

/* Answers one request with one write. The reply must fit the socket buffer at once (its
 * clients never pipeline); otherwise the connection is closed. */
static int respond(struct fleet *f, struct conn *c, const char *block)
{
    char reply[FLEET_MAX_REPLY];
    int len = fleet_reply(f, c->agent, block, reply, sizeof(reply));
    if (len < 0)
        return len;
    if (c->tls)
        return fleet_tls_send(c->tls, reply, (size_t)len);
    return write(c->fd, reply, (size_t)len) == len ? MON_OK : MON_EIO;
}

/* TLS: advances the handshake. false when the connection was closed or must wait. */
static bool handshake(struct fleet *f, struct conn *c)
{
    int r = fleet_tls_handshake(c->tls);
    if (r == MON_EAGAIN)
        return false;
    f->handshaking--;
    c->handshaken = true; /* (counted out of handshaking either way) */
    if (r < 0) {
        f->handshake_failures++;
        conn_close(f, c);
        return false;
    }
    f->handshakes++;
    return true;
}

/* Reads what arrived (plain, or decrypted). > 0, 0 at the end, MON_EAGAIN or MON_EIO. */
static long conn_read(struct conn *c)
{
    long n;
    if (c->tls)
        return fleet_tls_recv(c->tls, c->in + c->in_len, FLEET_MAX_HEADER - c->in_len);
    n = (long)read(c->fd, c->in + c->in_len, FLEET_MAX_HEADER - c->in_len);
    return n >= 0 ? n : errno == EAGAIN || errno == EINTR ? MON_EAGAIN : MON_EIO;
}

/* Answers every complete request in the buffer, in order. false: the connection was closed. */
static bool serve(struct fleet *f, struct conn *c)
{
    for (;;) {
        char *end;
        c->in[c->in_len] = '\0';
        end = strstr(c->in, "\r\n\r\n");
        if (!end) { /* incomplete: wait for more unless the buffer is full */
            if (c->in_len == FLEET_MAX_HEADER) {
                conn_close(f, c);
                return false;
            }
            return true;
        }
        end[2] = '\0';
        if (respond(f, c, c->in) < 0 || f->close_each) {
            conn_close(f, c);
            return false;
        }
        c->in_len -= (size_t)(end + 4 - c->in);
        memmove(c->in, end + 4, c->in_len);
        c->idle = true;
        f->last_fd = c->fd;
    }
}

static void on_conn(struct fleet *f, struct conn *c)
{
    if (c->tls && !c->handshaken && !handshake(f, c))
        return;
    do { /* TLS may hold decrypted bytes that no socket event announces */
        long n = conn_read(c);
        if (n == MON_EAGAIN)
            return;
        if (n <= 0) {
            conn_close(f, c);
            return;
        }
        c->in_len += (size_t)n;
        if (!serve(f, c))
            return;
    } while (c->tls && fleet_tls_pending(c->tls) > 0);
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
    if (!c || fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
        (f->tls && fleet_tls_session(f->tls, fd, &c->tls) < 0) ||
        epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        if (c)
            fleet_tls_session_free(c->tls);
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    c->agent = a;
    f->conns[fd] = c;
    f->n_conns++;
    f->accepted++;
    if (c->tls && ++f->handshaking > f->handshaking_max)
        f->handshaking_max = f->handshaking;
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
static int print_config(const char *path, const struct fleet *f, const char *pin)
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
                     ", host: %s, agent_port: %u, token: \"%s\", tls: %s%s%s%s}\n",
                     a->index, ip, a->port, f->token, f->tls ? "true" : "false",
                     pin ? ", tls_pin: \"" : "", pin ? pin : "", pin ? "\"" : "") > 0;
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
    const char *cert, *key, *pin; /* HTTPS; the pin to print into the config (else TOFU) */
    bool close_each;
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
        else if (strcmp(argv[i], "--cert") == 0)
            a->cert = argv[i + 1];
        else if (strcmp(argv[i], "--key") == 0)
            a->key = argv[i + 1];
        else if (strcmp(argv[i], "--pin") == 0)
            r = mon_tls_pin_valid(argv[i + 1]) ? (a->pin = argv[i + 1], MON_OK) : MON_EINVAL;
        else if (strcmp(argv[i], "--connection") == 0)
            r = strcmp(argv[i + 1], "close") == 0        ? (a->close_each = true, MON_OK)
                : strcmp(argv[i + 1], "keep-alive") == 0 ? MON_OK
                                                         : MON_EINVAL;
        else
            r = MON_EINVAL;
    }
    if (r < 0 || a->base < 1 || a->count < 1 || !a->token || !*a->token || strlen(a->token) > 256 ||
        a->token[strcspn(a->token, "\"\\ \t\r\n#:{}[],&*!|>'%@`")] != '\0' || !a->cert != !a->key ||
        (a->pin && !a->cert))
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
                "             [--cert FILE --key FILE [--pin sha256//...]]\n"
                "             [--connection keep-alive|close]\n"
                "  agents K..K+N-1; agent k on (A + k / M):(P + k %% M), A a loopback address\n"
                "  (default 127.0.0.1, counting up in its last byte); M: 65536 (one address) up\n"
                "  to 10,000 agents, else 10,000; T: 1-256 characters, no spaces or quotes;\n"
                "  --cert/--key: HTTPS only (the config says tls: true, with tls_pin when\n"
                "  --pin is given, else the aggregator pins at first contact); --connection\n"
                "  close: every reply closes its connection (a new one per poll)\n");
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
    f.close_each = a.close_each;
    if (a.cert && fleet_tls_new(a.cert, a.key, &f.tls) < 0)
        goto out;
    if (a.config && print_config(a.config, &f, a.pin) < 0)
        goto out;
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-reply is an error return, not the end */
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
    fleet_tls_free(f.tls);
    fprintf(stderr,
            "fleet: %" PRIu64 " requests, %" PRIu64 " connections, %" PRIu64 " evicted, %" PRIu64
            " TLS handshakes, %" PRIu64 " failed, at most %zu at once\n",
            f.requests, f.accepted, f.evicted, f.handshakes, f.handshake_failures,
            f.handshaking_max);
    return rc;
}
