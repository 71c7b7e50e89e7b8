/* SPDX-License-Identifier: MIT */
/* Admission at the HTTP front door: allow-list verdicts, caps per client address and in total
 * with push-out (untrusted first, then the earliest deadline), and the connections
 * libmicrohttpd owns (their absolute deadlines and trust). The door's thread admits; the
 * server's threads report connections started and closed; g->lock guards the live list. */
#include "common/http_gate_priv.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/net.h"

#include <stdlib.h>
#include <string.h>

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
        mon_http_gate_pending_drop(g, v->p);
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
bool mon_http_gate_may_accept(struct mon_http_gate *g)
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

void mon_http_gate_admit(struct mon_http_gate *g, mon_socket fd,
                         const struct sockaddr_storage *addr, socklen_t addr_len, int64_t now)
{
    const struct sockaddr *sa = (const struct sockaddr *)addr;
    struct pending *p;
    struct victim v;
    uint8_t key[16];
    bool over, refused = g->opt.allow && !g->opt.allow(g->opt.allow_ctx, sa);

    if (refused)
        mon_http_gate_report(g, REPORT_REFUSED, sa, NULL);
    mon_addr_key(sa, false, key);
    pthread_mutex_lock(&g->lock);
    if (g->opt.per_ip_connections && count_key(g, key) >= g->opt.per_ip_connections) {
        v = pick_victim(g, key);
        mon_http_gate_report(g, REPORT_PER_IP, sa, NULL);
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
        mon_http_gate_report(g, REPORT_FULL, sa, NULL);
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
        mon_http_gate_pending_drop(g, p);
    else if (refused)
        mon_http_gate_pending_answer(g, p, 403, "forbidden: client address not in allow_from", now);
    else
        mon_http_gate_pending_read(
            g, p, now); /* the head usually came with the connection: no poll round */
}

int mon_http_gate_conn_started(struct mon_http_gate *g, mon_socket fd,
                               const struct sockaddr *client, struct mon_http_conn **ret_conn)
{
    struct mon_http_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return MON_ENOMEM;
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
    *ret_conn = c;
    return MON_OK;
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
