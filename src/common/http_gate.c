/* SPDX-License-Identifier: MIT */
/* The HTTP front door: the door's thread (accept, request-head deadlines and checks by peeking,
 * on a TLS listener the first byte only), clean 4xx answers, hand-over to libmicrohttpd,
 * keep-alive deadlines, and the door's lifetime. Admission and caps: http_gate_admit.c. */
#include "common/http_gate.h"
#include "common/http_gate_priv.h"

#include "common/clock.h"
#include "common/err.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void mon_http_gate_pending_drop(struct mon_http_gate *g, struct pending *p)
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
void mon_http_gate_pending_answer(struct mon_http_gate *g, struct pending *p, int status,
                                  const char *msg, int64_t now)
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
    mon_http_gate_report(g, REPORT_BAD, (struct sockaddr *)&p->addr,
                         "plain HTTP on the HTTPS port");
    if ((first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z'))
        mon_http_gate_pending_answer(g, p, 400, "this port serves HTTPS only: use https://", now);
    else
        mon_http_gate_pending_drop(g, p);
}

/* The socket is readable (or due for another peek): look at what the client sent. */
void mon_http_gate_pending_read(struct mon_http_gate *g, struct pending *p, int64_t now)
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
            mon_http_gate_pending_drop(g, p);
        return;
    }
    n = mon_os_sock_recv(p->fd, g->peek_buf, g->opt.tls ? 1 : g->peek_len, true);
    if (n == MON_EAGAIN)
        return;
    if (n <= 0) { /* hung up before sending a request */
        mon_http_gate_pending_drop(g, p);
        return;
    }
    if (g->opt.tls) {
        pending_first_byte(g, p, (unsigned char)g->peek_buf[0], now);
        return;
    }
    if ((unsigned char)g->peek_buf[0] == TLS_HANDSHAKE_RECORD) {
        /* https:// to a plain port: answered at once, not after the head deadline (the client
         * reads a plain answer where its handshake expected a record: a clear failure). */
        mon_http_gate_report(g, REPORT_BAD, (struct sockaddr *)&p->addr,
                             "TLS on the plain HTTP port");
        mon_http_gate_pending_answer(g, p, 400, "this port speaks plain HTTP, not HTTPS", now);
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
        mon_http_gate_report(g, REPORT_BAD, (struct sockaddr *)&p->addr, res.error);
        mon_http_gate_pending_answer(g, p, res.status, res.error, now);
        return;
    }
    pending_handover(g, p);
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
                mon_http_gate_report(g, REPORT_SLOW, (struct sockaddr *)&p->addr, NULL);
            mon_http_gate_pending_drop(g, p);
        } else if (p->state == PENDING_PARTIAL && now >= p->next_peek_ms) {
            mon_http_gate_pending_read(g, p, now); /* may hand p over or free it */
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
            mon_http_gate_report(g, REPORT_IDLE, NULL, NULL);
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
        bool accepting = mon_http_gate_may_accept(g);
        size_t n = 1;

        mon_http_gate_reports_flush(g, now);
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
                mon_http_gate_pending_read(g, g->polled[i], now);
        for (int i = 0; i < ACCEPT_BURST && (g->pfds[0].revents & MON_POLLIN); i++) {
            struct sockaddr_storage addr;
            socklen_t addr_len = 0;
            mon_socket fd;
            if (!mon_http_gate_may_accept(g) ||
                mon_os_accept(g->listener, &fd, &addr, &addr_len) < 0)
                break;
            mon_http_gate_admit(g, fd, &addr, addr_len, now);
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
        mon_http_gate_pending_drop(g, g->pending);
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
