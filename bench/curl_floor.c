/* SPDX-License-Identifier: MIT */
/* curl_floor: libcurl's own CPU cost per kept-alive request, the reference bench/aggregator
 * measures in the same run as the aggregator (issue 12). It fetches the fleet's agents'
 * GET /v1/snapshot with the aggregator's two headers over kept-alive connections, the way a
 * lean libcurl client does: one easy handle per agent, set up once and re-added for each
 * request (no option set per request), multi handles of 128 agents as the aggregator's
 * shards (libcurl walks a multi handle's connection cache at each removal), epoll and
 * curl_multi_socket_action, idle sockets left in the epoll set. No parsing, no bookkeeping:
 * what remains is libcurl's work per request plus the kernel's send and receive. After one
 * request to every agent (the connections opened, not measured) it runs --in-flight requests
 * at a time, round robin over the agents, back to back or paced at --rate requests a second
 * (the aggregator's schedule: N / interval), with --burst-ms in bursts as the aggregator's
 * quantum, for --seconds, and prints one JSON line with the process' CPU (getrusage) per
 * request. Linux only; at most 32,768 agents.
 * Usage: curl_floor --address 127.77.0.1 --base-port 20000 --ports-per-address 10000
 *                   --count N --token T [--in-flight 1] [--rate 0 [--burst-ms 0]]
 *                   [--seconds 5] */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define SHARD_SIZE 128
#define MAX_FDS    65536
#define BATCH      256
#define BODY_MAX   65536

struct agent {
    CURL *easy;
    int shard;
    bool busy;
    size_t len; /* reply bytes (counted, not kept) */
};

struct run;

struct shard {
    struct run *run;
    int index;
    CURLM *multi;
    bool kick; /* libcurl asked for an immediate timeout call */
    int64_t timer_at;
};

struct run {
    int ep;
    struct agent *agents;
    size_t n;
    struct shard *shards;
    size_t n_shards;
    int *kicks; /* shards to call with CURL_SOCKET_TIMEOUT now */
    size_t n_kicks;
    uint8_t fd_events[MAX_FDS]; /* events an fd is in the epoll set with, 0: not in it */
    uint8_t fd_wanted[MAX_FDS]; /* libcurl watches it now */
    int fd_shard[MAX_FDS];
    size_t in_flight, done, failed;
    long connects;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
    struct agent *a = userdata;
    size_t len = size * n;
    (void)p;
    if (len > BODY_MAX - a->len)
        return 0;
    a->len += len;
    return len;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct shard *sh = userp;
    struct run *r = sh->run;
    struct epoll_event ev = {0};
    uint8_t want;
    (void)easy;
    (void)socketp;
    if (s < 0 || s >= MAX_FDS)
        return -1;
    if (what == CURL_POLL_REMOVE) {
        r->fd_wanted[s] = 0; /* stays in the set: a kept-alive socket is watched again soon */
        return 0;
    }
    want = (uint8_t)(((what & CURL_POLL_IN) ? 1 : 0) | ((what & CURL_POLL_OUT) ? 2 : 0));
    r->fd_wanted[s] = 1;
    r->fd_shard[s] = sh->index;
    if (r->fd_events[s] == want)
        return 0;
    ev.events = ((want & 1) ? EPOLLIN : 0) | ((want & 2) ? EPOLLOUT : 0);
    ev.data.fd = s;
    if (epoll_ctl(r->ep, r->fd_events[s] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) < 0)
        return -1;
    r->fd_events[s] = want;
    return 0;
}

static int on_close(void *clientp, curl_socket_t s)
{
    struct run *r = clientp;
    if (s < 0)
        return 0;
    if (s < MAX_FDS) {
        r->fd_events[s] = 0; /* close() takes it out of the set */
        r->fd_wanted[s] = 0;
    }
    return close(s);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct shard *sh = userp;
    (void)multi;
    sh->timer_at = timeout_ms < 0 ? -1 : mono_us() / 1000 + timeout_ms;
    if (timeout_ms == 0 && !sh->kick) {
        sh->kick = true;
        sh->run->kicks[sh->run->n_kicks++] = sh->index;
    }
    return 0;
}

static void collect(struct run *r, struct shard *sh)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(sh->multi, &left))) {
        CURL *easy = msg->easy_handle;
        struct agent *a;
        char *priv = NULL;
        long status = 0, connects = 0;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        a = (struct agent *)(void *)priv;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
        if (msg->data.result != CURLE_OK || status != 200 || a->len == 0)
            r->failed++;
        r->connects += connects;
        r->done++;
        r->in_flight--;
        a->busy = false;
        curl_multi_remove_handle(sh->multi, easy); /* (msg is invalid from here) */
    }
}

static void action(struct run *r, int shard, curl_socket_t s, int mask)
{
    int running;
    curl_multi_socket_action(r->shards[shard].multi, s, mask, &running);
    collect(r, &r->shards[shard]);
}

static int start(struct run *r, size_t i)
{
    struct agent *a = &r->agents[i];
    a->len = 0;
    a->busy = true;
    if (curl_multi_add_handle(r->shards[a->shard].multi, a->easy) != CURLM_OK)
        return -1;
    r->in_flight++;
    return 0;
}

/* One round: the immediate timeouts libcurl asked for, the ready sockets, the due timers. */
static int step(struct run *r, int timeout_ms)
{
    struct epoll_event evs[BATCH];
    int n;
    while (r->n_kicks) {
        int k = r->kicks[--r->n_kicks];
        r->shards[k].kick = false;
        action(r, k, CURL_SOCKET_TIMEOUT, 0);
    }
    n = epoll_wait(r->ep, evs, BATCH, r->n_kicks ? 0 : timeout_ms);
    for (int i = 0; i < n; i++) {
        int s = evs[i].data.fd, mask = 0;
        if (!r->fd_wanted[s]) { /* an idle kept-alive socket spoke (closed): out of the set */
            epoll_ctl(r->ep, EPOLL_CTL_DEL, s, NULL);
            r->fd_events[s] = 0;
            continue;
        }
        mask |= (evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0;
        mask |= (evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0;
        mask |= (evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0;
        action(r, r->fd_shard[s], s, mask);
    }
    if (n <= 0) { /* nothing ready: the timers libcurl set (slow agents) */
        int64_t now = mono_us() / 1000;
        for (size_t k = 0; k < r->n_shards; k++)
            if (r->shards[k].timer_at >= 0 && r->shards[k].timer_at <= now)
                action(r, (int)k, CURL_SOCKET_TIMEOUT, 0);
    }
    return n;
}

struct opts {
    const char *address, *token;
    long base_port, ports_per_address, count, in_flight, rate, burst_ms;
    double seconds;
};

static int setup(struct run *r, const struct opts *o, struct curl_slist *headers)
{
    struct in_addr base;
    if (inet_pton(AF_INET, o->address, &base) != 1)
        return -1;
    r->n = (size_t)o->count;
    r->n_shards = (r->n + SHARD_SIZE - 1) / SHARD_SIZE;
    r->agents = calloc(r->n, sizeof(*r->agents));
    r->shards = calloc(r->n_shards, sizeof(*r->shards));
    r->kicks = calloc(r->n_shards, sizeof(*r->kicks));
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!r->agents || !r->shards || !r->kicks || r->ep < 0)
        return -1;
    for (size_t k = 0; k < r->n_shards; k++) {
        struct shard *sh = &r->shards[k];
        sh->run = r;
        sh->index = (int)k;
        sh->timer_at = -1;
        if (!(sh->multi = curl_multi_init()))
            return -1;
        curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, (long)SHARD_SIZE + 16);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
    }
    for (size_t i = 0; i < r->n; i++) {
        struct agent *a = &r->agents[i];
        struct in_addr addr = {
            .s_addr = htonl(ntohl(base.s_addr) + (uint32_t)(i / (size_t)o->ports_per_address))};
        char host[INET_ADDRSTRLEN], url[96];
        inet_ntop(AF_INET, &addr, host, sizeof(host));
        snprintf(url, sizeof(url), "http://%s:%ld/v1/snapshot", host,
                 o->base_port + (long)(i % (size_t)o->ports_per_address));
        a->shard = (int)(i / SHARD_SIZE);
        if (!(a->easy = curl_easy_init()))
            return -1;
        curl_easy_setopt(a->easy, CURLOPT_URL, url);
        curl_easy_setopt(a->easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(a->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(a->easy, CURLOPT_PROXY, "");
        curl_easy_setopt(a->easy, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(a->easy, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(a->easy, CURLOPT_WRITEDATA, a);
        curl_easy_setopt(a->easy, CURLOPT_PRIVATE, a);
        curl_easy_setopt(a->easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
        curl_easy_setopt(a->easy, CURLOPT_CLOSESOCKETDATA, r);
    }
    return 0;
}

/* The aggregator's schedule (src/aggregator/poller.c): every --burst-ms the requests due in it
 * start together (--rate a second), then the loop sleeps without looking at its sockets and
 * collects the replies at the next burst. */
static void bursts(struct run *r, const struct opts *o, int64_t w0)
{
    size_t next = 0;
    int64_t end = w0 + (int64_t)(o->seconds * 1e6), started = 0;
    for (int64_t tick = 0;; tick++) {
        int64_t at = w0 + tick * o->burst_ms * 1000, now = mono_us(), due;
        struct timespec ts;
        if (at > now) {
            ts.tv_sec = (time_t)((at - now) / 1000000);
            ts.tv_nsec = (long)((at - now) % 1000000 * 1000);
            nanosleep(&ts, NULL);
        }
        while (step(r, 0) > 0) /* the replies that arrived meanwhile */
            ;
        if (at >= end)
            break;
        due = (tick + 1) * o->burst_ms * o->rate / 1000; /* requests due by the next tick */
        for (; started < due; started++) {
            size_t i = next;
            next = (next + 1) % r->n;
            if (!r->agents[i].busy && start(r, i) < 0) /* (a busy one is skipped) */
                return;
        }
        step(r, 0); /* sends them */
    }
    while (r->in_flight)
        step(r, 50);
}

static long arg_long(const char *v, long lo, long hi)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) {
        fprintf(stderr, "curl_floor: bad number %s\n", v);
        exit(2);
    }
    return x;
}

int main(int argc, char **argv)
{
    struct opts o = {.address = "127.77.0.1",
                     .token = "",
                     .base_port = 20000,
                     .ports_per_address = 10000,
                     .count = 1000,
                     .in_flight = 1,
                     .seconds = 5};
    static struct run r;
    struct curl_slist *headers = NULL;
    char auth[256];
    size_t next = 0;
    int64_t w0, c0, w1, c1;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--address"))
            o.address = v;
        else if (!strcmp(k, "--token"))
            o.token = v;
        else if (!strcmp(k, "--base-port"))
            o.base_port = arg_long(v, 1, 65535);
        else if (!strcmp(k, "--ports-per-address"))
            o.ports_per_address = arg_long(v, 1, 65535);
        else if (!strcmp(k, "--count"))
            o.count = arg_long(v, 1, MAX_FDS / 2);
        else if (!strcmp(k, "--in-flight"))
            o.in_flight = arg_long(v, 1, 4096);
        else if (!strcmp(k, "--rate"))
            o.rate = arg_long(v, 0, 1000000);
        else if (!strcmp(k, "--burst-ms"))
            o.burst_ms = arg_long(v, 0, 10000);
        else if (!strcmp(k, "--seconds"))
            o.seconds = (double)arg_long(v, 1, 3600);
        else {
            fprintf(stderr, "curl_floor: unknown option %s\n", k);
            return 2;
        }
    }
    if (o.in_flight > o.count)
        o.in_flight = o.count;
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o.token);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        !(headers = curl_slist_append(NULL, auth)) ||
        !(headers = curl_slist_append(headers, "Accept: application/json")) ||
        setup(&r, &o, headers) < 0) {
        fprintf(stderr, "curl_floor: setup failed\n");
        return 1;
    }
    /* Every agent once, 64 at a time: the connections are opened here, not measured. */
    while (next < r.n || r.in_flight) {
        while (next < r.n && r.in_flight < 64)
            if (start(&r, next++) < 0)
                return 1;
        step(&r, 50);
    }
    if (r.failed) {
        fprintf(stderr, "curl_floor: %zu of %zu warm-up requests failed\n", r.failed, r.n);
        return 1;
    }
    r.done = r.failed = 0;
    r.connects = 0;
    next = 0;
    w0 = mono_us();
    c0 = cpu_us();
    if (o.burst_ms > 0 && o.rate > 0) {
        bursts(&r, &o, w0);
        goto done;
    }
    for (size_t started = 0;;) {
        int64_t now = mono_us(), due = o.rate ? w0 + (int64_t)started * 1000000 / o.rate : now;
        bool more = now - w0 < (int64_t)(o.seconds * 1e6);
        while (more && due <= now && r.in_flight < (size_t)o.in_flight) {
            while (r.agents[next].busy)
                next = (next + 1) % r.n;
            if (start(&r, next) < 0)
                return 1;
            next = (next + 1) % r.n;
            started++;
            due = o.rate ? w0 + (int64_t)started * 1000000 / o.rate : now;
        }
        if (!more && r.in_flight == 0)
            break;
        /* Paced: sleep until the next request is due (as the aggregator does between polls). */
        step(&r, due > now ? (int)((due - now + 999) / 1000) : 50);
    }
done:
    c1 = cpu_us();
    w1 = mono_us();
    printf("{\"count\": %zu, \"in_flight\": %ld, \"rate\": %ld, \"burst_ms\": %ld, \"requests\": "
           "%zu, \"failed\": %zu, "
           "\"new_connections\": %ld, \"wall_s\": %.3f, \"cpu_s\": %.3f, "
           "\"cpu_us_per_req\": %.2f, \"libcurl\": \"%s\"}\n",
           r.n, o.in_flight, o.rate, o.burst_ms, r.done, r.failed, r.connects,
           (double)(w1 - w0) / 1e6, (double)(c1 - c0) / 1e6,
           r.done ? (double)(c1 - c0) / (double)r.done : 0.0,
           curl_version_info(CURLVERSION_NOW)->version);
    for (size_t i = 0; i < r.n; i++)
        curl_easy_cleanup(r.agents[i].easy);
    for (size_t k = 0; k < r.n_shards; k++)
        curl_multi_cleanup(r.shards[k].multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return r.failed ? 1 : 0;
}
