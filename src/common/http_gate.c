/* SPDX-License-Identifier: MIT */
/* The HTTP front door: accept, allow-list, caps with push-out, request-head deadlines and
 * checks by peeking (on a TLS listener: the first byte only), clean 4xx answers, hand-over to
 * libmicrohttpd, keep-alive deadlines. */
#include "common/http_gate.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/net.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINGER_MS       2000 /* after a 4xx: time for the client to read it and hang up */
#define PEEK_MIN_MS     20   /* re-peek a partial head after this, doubling ... */
#define PEEK_MAX_MS     250  /* ... up to this, while nothing new arrives */
#define FULL_RECHECK_MS 100  /* while no connection can be taken: look again after this */
#define ACCEPT_BURST    64
#define REPORT_MS       60000 /* each kind of refusal is logged at most once a minute */

enum pending_state {
    PENDING_WAIT,    /* nothing received yet: polled for input */
    PENDING_PARTIAL, /* part of a head: peeked again on a timer (its bytes stay queued, so
                      * the socket would always poll readable) */
    PENDING_LINGER,  /* answered with a 4xx and half-closed: draining until the client hangs up */
};

struct pending {
    struct pending *prev, *next;
    mon_socket fd;
    uint8_t key[16];
    struct sockaddr_storage addr;
    socklen_t addr_len;
    enum pending_state state;
    int64_t deadline_ms, next_peek_ms;
    unsigned backoff_ms;
    size_t seen;
};

struct mon_http_conn {
    struct mon_http_conn *prev, *next;
    mon_socket fd;
    uint8_t key[16];
    _Atomic int64_t deadline_ms;
    atomic_bool trusted;
    bool gone; /* shut down by the door, to be closed by the server; guarded by the lock */
};

enum report_kind {
    REPORT_REFUSED,
    REPORT_PER_IP,
    REPORT_FULL,
    REPORT_SLOW,
    REPORT_IDLE,
    REPORT_BAD
};

struct report {
    unsigned count;
    int64_t logged_ms;
    char last[64]; /* the latest client address */
    char detail[160];
};

struct mon_http_gate {
    struct mon_http_gate_options opt;
    mon_socket listener;
    uint16_t port;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    /* The door's thread only: */
    struct pending *pending;
    size_t n_pending;
    char *peek_buf;
    size_t peek_len;
    mon_pollfd *pfds;
    struct pending **polled;
    struct report reports[REPORT_BAD + 1];
    bool handed_over; /* since the last timers() */
    /* Shared with the server's threads: */
    pthread_mutex_t lock;
    struct mon_http_conn *live;
    size_t n_live; /* not gone */
};

/* ---- reports: counted in the door's thread, logged at most once a minute per kind ---- */

static void report(struct mon_http_gate *g, enum report_kind kind, const struct sockaddr *client,
                   const char *detail)
{
    struct report *r = &g->reports[kind];
    r->count++;
    if (client)
        mon_format_sockaddr(client, r->last, sizeof(r->last));
    if (detail)
        snprintf(r->detail, sizeof(r->detail), "%s", detail);
}

static void report_line(enum report_kind kind, const struct report *r)
{
    switch (kind) {
    case REPORT_REFUSED:
        mon_warn("refused %u connection(s) from outside allow_from (latest %s)", r->count, r->last);
        break;
    case REPORT_PER_IP:
        mon_warn("%u connection(s) over the per-address limit closed (latest from %s)", r->count,
                 r->last);
        break;
    case REPORT_FULL:
        mon_warn("connection limit reached: %u waiting connection(s) pushed out (latest new one "
                 "from %s)",
                 r->count, r->last);
        break;
    case REPORT_SLOW:
        mon_info("closed %u connection(s) that sent no complete request head in time (latest "
                 "from %s)",
                 r->count, r->last);
        break;
    case REPORT_IDLE:
        mon_info("closed %u kept-alive connection(s) whose next request did not arrive in time",
                 r->count);
        break;
    case REPORT_BAD:
        mon_info("answered %u malformed request(s) with a 4xx (latest from %s: %s)", r->count,
                 r->last, r->detail);
        break;
    }
}

/* Logs each kind of event at most once a minute, with the count since the last line. */
static void reports_flush(struct mon_http_gate *g, int64_t now)
{
    for (size_t k = 0; k < sizeof(g->reports) / sizeof(g->reports[0]); k++) {
        struct report *r = &g->reports[k];
        if (r->count == 0 || (r->logged_ms && now - r->logged_ms < REPORT_MS))
            continue;
        report_line((enum report_kind)k, r);
        r->count = 0;
        r->logged_ms = now;
    }
}

/* ---- connections waiting at the door ---- */

static void pending_unlink(struct mon_http_gate *g, struct pending *p)
{
    if (g->pending == p)
        g->pending = p->next;
    if (p->prev)
        p->prev->next = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    g->n_pending--;
}

static void pending_drop(struct mon_http_gate *g, struct pending *p)
{
    pending_unlink(g, p);
    mon_os_sock_close(p->fd);
    free(p);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 403:
        return "Forbidden";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Bad Request";
    }
}

/* Answers status {"error": msg} on the raw socket, half-closes it and lets it linger. */
static void pending_answer(struct mon_http_gate *g, struct pending *p, int status, const char *msg,
                           int64_t now)
{
    char head[256], *body;
    cJSON *obj = cJSON_CreateObject();
    long n;
    int head_len;

    body = obj && cJSON_AddStringToObject(obj, "error", msg) ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    /* Take the request off the socket first: closing it with unread bytes would send a reset
     * that can destroy the answer before the client reads it. */
    while ((n = mon_os_sock_recv(p->fd, g->peek_buf, g->peek_len, false)) > 0 &&
           (size_t)n == g->peek_len)
        ;
    head_len = snprintf(head, sizeof(head),
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Cache-Control: no-store\r\nConnection: close\r\nContent-Length: %zu\r\n"
                        "\r\n",
                        status, reason_phrase(status), body ? strlen(body) : 0);
    /* A few hundred bytes always fit an empty send buffer. */
    if (mon_os_sock_send(p->fd, head, (size_t)head_len) == head_len && body)
        (void)mon_os_sock_send(p->fd, body, strlen(body));
    free(body);
    mon_os_sock_shutdown(p->fd, false);
    p->state = PENDING_LINGER;
    p->deadline_ms = now + LINGER_MS;
}

static void pending_handover(struct mon_http_gate *g, struct pending *p)
{
    pending_unlink(g, p);
    g->handed_over = true; /* its deadline is set elsewhere: look again soon */
    g->opt.handover(g->opt.ctx, p->fd, (struct sockaddr *)&p->addr, p->addr_len);
    free(p);
}

#define TLS_HANDSHAKE_RECORD 0x16 /* the content type of a TLS record that opens a handshake */

/* A TLS listener's connection sent its first byte (peeked): a handshake goes to the server,
 * plain HTTP (a request line starts with a letter) gets a readable 400, the rest is closed. */
static void pending_first_byte(struct mon_http_gate *g, struct pending *p, unsigned char first,
                               int64_t now)
{
    if (first == TLS_HANDSHAKE_RECORD) {
        pending_handover(g, p);
        return;
    }
    report(g, REPORT_BAD, (struct sockaddr *)&p->addr, "plain HTTP on the HTTPS port");
    if ((first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z'))
        pending_answer(g, p, 400, "this port serves HTTPS only: use https://", now);
    else
        pending_drop(g, p);
}

/* The socket is readable (or due for another peek): look at what the client sent. */
static void pending_read(struct mon_http_gate *g, struct pending *p, int64_t now)
{
    struct mon_http_head_result res;
    enum mon_http_head_verdict v;
    long n;

    if (p->state == PENDING_LINGER) {
        for (int i = 0; i < 16; i++) {
            n = mon_os_sock_recv(p->fd, g->peek_buf, g->peek_len, false);
            if (n == MON_EAGAIN)
                return;
            if (n <= 0)
                break;
        }
        if (n <= 0)
            pending_drop(g, p);
        return;
    }
    n = mon_os_sock_recv(p->fd, g->peek_buf, g->opt.tls ? 1 : g->peek_len, true);
    if (n == MON_EAGAIN)
        return;
    if (n <= 0) { /* hung up before sending a request */
        pending_drop(g, p);
        return;
    }
    if (g->opt.tls) {
        pending_first_byte(g, p, (unsigned char)g->peek_buf[0], now);
        return;
    }
    if ((unsigned char)g->peek_buf[0] == TLS_HANDSHAKE_RECORD) {
        /* https:// to a plain port: answered at once, not after the head deadline (the client
         * reads a plain answer where its handshake expected a record: a clear failure). */
        report(g, REPORT_BAD, (struct sockaddr *)&p->addr, "TLS on the plain HTTP port");
        pending_answer(g, p, 400, "this port speaks plain HTTP, not HTTPS", now);
        return;
    }
    v = mon_http_head_check(g->peek_buf, (size_t)n, &g->opt.limits, &res);
    if (v == MON_HTTP_HEAD_INCOMPLETE) {
        p->backoff_ms = (size_t)n > p->seen               ? PEEK_MIN_MS
                        : p->backoff_ms * 2 > PEEK_MAX_MS ? PEEK_MAX_MS
                                                          : p->backoff_ms * 2;
        p->seen = (size_t)n;
        p->state = PENDING_PARTIAL;
        p->next_peek_ms = now + p->backoff_ms;
        return;
    }
    if (v == MON_HTTP_HEAD_REJECT) {
        report(g, REPORT_BAD, (struct sockaddr *)&p->addr, res.error);
        pending_answer(g, p, res.status, res.error, now);
        return;
    }
    pending_handover(g, p);
}

/* ---- admission: caps and push-out ---- */

struct victim {
    struct pending *p;
    struct mon_http_conn *c;
    int64_t deadline;
    bool trusted;
};

/* Keeps the better victim: untrusted before trusted, then the earliest deadline. */
static void consider(struct victim *v, struct pending *p, struct mon_http_conn *c, int64_t deadline,
                     bool trusted)
{
    if ((v->p || v->c) &&
        (trusted > v->trusted || (trusted == v->trusted && deadline >= v->deadline)))
        return;
    v->p = p;
    v->c = c;
    v->deadline = deadline;
    v->trusted = trusted;
}

/* The connection to push out (of this client address, or of anyone when key is NULL): one
 * waiting at the door, or a served one that is between requests or receiving a body. Call with
 * the lock held. */
static struct victim pick_victim(struct mon_http_gate *g, const uint8_t *key)
{
    struct victim v = {0};
    for (struct pending *p = g->pending; p; p = p->next)
        if (!key || memcmp(p->key, key, 16) == 0)
            consider(&v, p, NULL, p->state == PENDING_LINGER ? 0 : p->deadline_ms, false);
    for (struct mon_http_conn *c = g->live; c; c = c->next) {
        int64_t d = atomic_load(&c->deadline_ms);
        if (!c->gone && d != 0 && (!key || memcmp(c->key, key, 16) == 0))
            consider(&v, NULL, c, d, atomic_load(&c->trusted));
    }
    return v;
}

/* Call with the lock held. */
static void push_out(struct mon_http_gate *g, struct victim *v)
{
    if (v->p) {
        pending_drop(g, v->p);
    } else if (v->c) {
        mon_os_sock_shutdown(v->c->fd, true); /* the server sees the end and closes it */
        v->c->gone = true;
        g->n_live--;
    }
}

static size_t count_key(struct mon_http_gate *g, const uint8_t *key)
{
    size_t n = 0;
    for (struct pending *p = g->pending; p; p = p->next)
        n += memcmp(p->key, key, 16) == 0;
    for (struct mon_http_conn *c = g->live; c; c = c->next)
        n += !c->gone && memcmp(c->key, key, 16) == 0;
    return n;
}

/* True when a new connection could be taken now: below the cap, or someone to push out. */
static bool may_accept(struct mon_http_gate *g)
{
    bool ok;
    if (g->n_pending > 0)
        return true;
    pthread_mutex_lock(&g->lock);
    ok = g->n_live < g->opt.max_connections;
    for (struct mon_http_conn *c = g->live; c && !ok; c = c->next)
        ok = !c->gone && atomic_load(&c->deadline_ms) != 0;
    pthread_mutex_unlock(&g->lock);
    return ok;
}

static void admit(struct mon_http_gate *g, mon_socket fd, const struct sockaddr_storage *addr,
                  socklen_t addr_len, int64_t now)
{
    const struct sockaddr *sa = (const struct sockaddr *)addr;
    struct pending *p;
    struct victim v;
    uint8_t key[16];
    bool over, refused = g->opt.allow && !g->opt.allow(g->opt.allow_ctx, sa);

    if (refused)
        report(g, REPORT_REFUSED, sa, NULL);
    mon_addr_key(sa, false, key);
    pthread_mutex_lock(&g->lock);
    if (g->opt.per_ip_connections && count_key(g, key) >= g->opt.per_ip_connections) {
        v = pick_victim(g, key);
        report(g, REPORT_PER_IP, sa, NULL);
        if (!v.p && !v.c) {
            pthread_mutex_unlock(&g->lock);
            mon_os_sock_close(fd);
            return;
        }
        push_out(g, &v);
    }
    over = g->n_pending + g->n_live >= g->opt.max_connections;
    if (over) {
        v = pick_victim(g, NULL);
        if (!v.p && !v.c) {
            pthread_mutex_unlock(&g->lock);
            mon_os_sock_close(fd);
            return;
        }
        report(g, REPORT_FULL, sa, NULL);
        push_out(g, &v);
    }
    pthread_mutex_unlock(&g->lock);
    p = calloc(1, sizeof(*p));
    if (!p) {
        mon_os_sock_close(fd);
        return;
    }
    p->fd = fd;
    memcpy(p->key, key, sizeof(key));
    memcpy(&p->addr, addr, sizeof(*addr));
    p->addr_len = addr_len;
    p->state = PENDING_WAIT;
    p->deadline_ms = now + g->opt.head_timeout_ms;
    p->next = g->pending;
    if (g->pending)
        g->pending->prev = p;
    g->pending = p;
    g->n_pending++;
    /* Outside allow_from: answered at once, before a byte of the request is read, and closed
     * (lingering briefly so that the answer is not lost; the first to go when full). On a TLS
     * listener no answer can be read before a handshake, which such a client must not get:
     * closed at once. */
    if (refused && g->opt.tls)
        pending_drop(g, p);
    else if (refused)
        pending_answer(g, p, 403, "forbidden: client address not in allow_from", now);
    else
        pending_read(g, p, now); /* the head usually came with the connection: no poll round */
}

/* ---- the door's thread ---- */

/* Closes what ran out of time and peeks at partial heads that are due; returns how long the
 * next poll may sleep (-1: as long as it likes). An idle daemon must not wake for nothing (an
 * idle agent's whole CPU budget is 0.1 ms a second): the door sleeps until the earliest
 * deadline it knows of, and with no connection at all until a client comes. Other threads set
 * deadlines without waking it, but only for connections that are being answered (deadline 0)
 * or that it just handed over: while there are such, it looks again after look_ms. */
static int timers(struct mon_http_gate *g, int64_t now)
{
    int64_t next = INT64_MAX;
    struct pending *p, *after;
    bool unknown = g->handed_over;

    g->handed_over = false;
    for (p = g->pending; p; p = after) {
        after = p->next;
        if (now >= p->deadline_ms) {
            if (p->state != PENDING_LINGER)
                report(g, REPORT_SLOW, (struct sockaddr *)&p->addr, NULL);
            pending_drop(g, p);
        } else if (p->state == PENDING_PARTIAL && now >= p->next_peek_ms) {
            pending_read(g, p, now); /* may hand p over or free it */
        }
    }
    for (p = g->pending; p; p = p->next) {
        if (p->deadline_ms < next)
            next = p->deadline_ms;
        if (p->state == PENDING_PARTIAL && p->next_peek_ms < next)
            next = p->next_peek_ms;
    }
    pthread_mutex_lock(&g->lock);
    for (struct mon_http_conn *c = g->live; c; c = c->next) {
        int64_t d = atomic_load(&c->deadline_ms);
        if (c->gone)
            continue;
        if (d == 0) {
            unknown = true; /* being answered: a deadline comes later */
        } else if (now >= d) {
            mon_os_sock_shutdown(c->fd, true);
            c->gone = true;
            g->n_live--;
            report(g, REPORT_IDLE, NULL, NULL);
        } else if (d < next) {
            next = d;
        }
    }
    pthread_mutex_unlock(&g->lock);
    unknown = unknown || g->handed_over; /* pending_read above may have handed over */
    g->handed_over = false;
    if (unknown && now + g->opt.look_ms < next)
        next = now + g->opt.look_ms;
    if (!MON_OS_POLL_WAKES_ON_SHUTDOWN && now + 1000 < next)
        next = now + 1000; /* stopping must not wait for a deadline */
    if (next == INT64_MAX)
        return -1;
    return next - now <= 0 ? 0 : next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

static void *gate_main(void *arg)
{
    struct mon_http_gate *g = arg;

    while (!atomic_load(&g->stop)) {
        int64_t now = mon_mono_ms();
        int timeout = timers(g, now);
        bool accepting = may_accept(g);
        size_t n = 1;

        reports_flush(g, now);
        g->pfds[0].fd = g->listener;
        g->pfds[0].events = accepting ? MON_POLLIN : 0;
        g->pfds[0].revents = 0;
        if (!accepting && (timeout < 0 || timeout > FULL_RECHECK_MS))
            timeout = FULL_RECHECK_MS;
        for (struct pending *p = g->pending; p; p = p->next) {
            if (p->state == PENDING_PARTIAL)
                continue;
            g->pfds[n].fd = p->fd;
            g->pfds[n].events = MON_POLLIN;
            g->pfds[n].revents = 0;
            g->polled[n++] = p;
        }
        if (mon_os_poll(g->pfds, n, timeout) <= 0 || atomic_load(&g->stop))
            continue;
        now = mon_mono_ms();
        /* The polled entries stay valid here: only this thread frees them. */
        for (size_t i = 1; i < n; i++)
            if (g->pfds[i].revents)
                pending_read(g, g->polled[i], now);
        for (int i = 0; i < ACCEPT_BURST && (g->pfds[0].revents & MON_POLLIN); i++) {
            struct sockaddr_storage addr;
            socklen_t addr_len = 0;
            mon_socket fd;
            if (!may_accept(g) || mon_os_accept(g->listener, &fd, &addr, &addr_len) < 0)
                break;
            admit(g, fd, &addr, addr_len, now);
        }
    }
    return NULL;
}

/* ---- public ---- */

int mon_http_gate_new(const struct mon_http_gate_options *opt, struct mon_http_gate **ret)
{
    struct mon_http_gate *g = calloc(1, sizeof(*g));
    size_t slots = (size_t)opt->max_connections + 1;
    int r;

    if (!g)
        return MON_ENOMEM;
    g->opt = *opt;
    g->listener = MON_SOCKET_INVALID;
    g->peek_len = opt->limits.max_header_bytes + 1;
    g->peek_buf = malloc(g->peek_len);
    g->pfds = calloc(slots, sizeof(*g->pfds));
    g->polled = calloc(slots, sizeof(*g->polled));
    if (!g->peek_buf || !g->pfds || !g->polled) {
        r = MON_ENOMEM;
        goto fail;
    }
    r = mon_os_listen(opt->addr, opt->addr_len, opt->dual_stack, 1024, &g->listener);
    if (r < 0)
        goto fail;
    g->port = (uint16_t)mon_os_sock_port(g->listener);
    pthread_mutex_init(&g->lock, NULL);
    *ret = g;
    return MON_OK;
fail:
    free(g->peek_buf);
    free(g->pfds);
    free(g->polled);
    free(g);
    return r;
}

uint16_t mon_http_gate_port(const struct mon_http_gate *g)
{
    return g->port;
}

int mon_http_gate_run(struct mon_http_gate *g)
{
    if (pthread_create(&g->thread, NULL, gate_main, g) != 0)
        return MON_ESYS;
    g->running = true;
    return MON_OK;
}

void mon_http_gate_stop(struct mon_http_gate *g)
{
    if (!g || !g->running)
        return;
    atomic_store(&g->stop, true);
    mon_os_sock_shutdown(g->listener, true); /* wakes the poll where the OS allows */
    pthread_join(g->thread, NULL);
    g->running = false;
    while (g->pending)
        pending_drop(g, g->pending);
}

void mon_http_gate_free(struct mon_http_gate *g)
{
    if (!g)
        return;
    mon_http_gate_stop(g);
    mon_os_sock_close(g->listener);
    while (g->live) { /* the server should have closed them; free what it did not report */
        struct mon_http_conn *c = g->live;
        g->live = c->next;
        free(c);
    }
    pthread_mutex_destroy(&g->lock);
    free(g->peek_buf);
    free(g->pfds);
    free(g->polled);
    free(g);
}

struct mon_http_conn *mon_http_gate_conn_started(struct mon_http_gate *g, mon_socket fd,
                                                 const struct sockaddr *client)
{
    struct mon_http_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    mon_addr_key(client, false, c->key);
    /* The head is here already (the door checked it): the first request is read at once. */
    atomic_store(&c->deadline_ms, mon_mono_ms() + g->opt.head_timeout_ms);
    pthread_mutex_lock(&g->lock);
    c->next = g->live;
    if (g->live)
        g->live->prev = c;
    g->live = c;
    g->n_live++;
    pthread_mutex_unlock(&g->lock);
    return c;
}

void mon_http_gate_conn_closed(struct mon_http_gate *g, struct mon_http_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    if (g->live == c)
        g->live = c->next;
    if (c->prev)
        c->prev->next = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (!c->gone)
        g->n_live--;
    pthread_mutex_unlock(&g->lock);
    free(c);
}

void mon_http_conn_set_deadline(struct mon_http_conn *c, int64_t deadline_ms)
{
    if (c)
        atomic_store_explicit(&c->deadline_ms, deadline_ms, memory_order_relaxed);
}

void mon_http_conn_trust(struct mon_http_conn *c)
{
    if (c)
        atomic_store_explicit(&c->trusted, true, memory_order_relaxed);
}

bool mon_http_conn_trusted(const struct mon_http_conn *c)
{
    return c && atomic_load_explicit(&c->trusted, memory_order_relaxed);
}
