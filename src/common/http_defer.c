/* SPDX-License-Identifier: MIT */
/* Deferred answers of the HTTP wrapper: a handler sets its request aside (no worker thread waits
 * for it) and another thread answers it later, exactly once. The server's defer_lock guards the
 * list and each answer; a struct mon_http_deferred is shared by the request and the answering
 * side (reference count) and freed by whichever lets go last. */
#include "common/http.h"
#include "common/http_priv.h"

#include "common/err.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

void mon_http_deferred_unref(struct mon_http_deferred *d)
{
    if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
        mon_http_response_free(&d->resp);
        free(d);
    }
}

/* Call with defer_lock held. */
static void deferred_unlink(struct mon_http_server *srv, struct mon_http_deferred *d)
{
    if (srv->deferred == d)
        srv->deferred = d->next;
    if (d->prev)
        d->prev->next = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
}

/* Call with defer_lock held: stores the answer and wakes the connection if it sleeps. */
static void deferred_store(struct mon_http_deferred *d, struct mon_http_response *resp)
{
    d->resp = *resp;
    *resp = (struct mon_http_response){.fd = -1};
    d->answered = true;
    deferred_unlink(d->srv, d);
    if (d->suspended) {
        d->suspended = false;
        MHD_resume_connection(d->conn); /* libmicrohttpd calls the access handler again */
    }
}

int mon_http_defer(struct mon_http_request *req, struct mon_http_deferred **ret_deferred)
{
    struct mon_http_server *srv = req->server;
    struct mon_http_deferred *d;

    if (!srv || req->deferred)
        return MON_EINVAL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return MON_ENOMEM;
    d->srv = srv;
    d->conn = req->conn;
    d->resp.fd = -1;
    atomic_init(&d->refs, 2);
    pthread_mutex_lock(&srv->defer_lock);
    if (srv->stopping) {
        pthread_mutex_unlock(&srv->defer_lock);
        free(d);
        return MON_EBUSY;
    }
    d->next = srv->deferred;
    if (srv->deferred)
        srv->deferred->prev = d;
    srv->deferred = d;
    pthread_mutex_unlock(&srv->defer_lock);
    req->deferred = d;
    *ret_deferred = d;
    return MON_OK;
}

void mon_http_deferred_answer(struct mon_http_deferred *d, struct mon_http_response *resp)
{
    struct mon_http_server *srv = d->srv;
    pthread_mutex_lock(&srv->defer_lock);
    if (!d->answered)
        deferred_store(d, resp);
    pthread_mutex_unlock(&srv->defer_lock);
    mon_http_response_free(resp); /* empty unless it came too late */
    mon_http_deferred_unref(d);
}

/* After the handler deferred: sleep until the answer comes, or send it if it came already. */
enum MHD_Result mon_http_deferred_wait(struct mon_http_server *srv, struct MHD_Connection *conn,
                                       struct mon_http_deferred *d)
{
    struct mon_http_response resp;
    pthread_mutex_lock(&srv->defer_lock);
    if (!d->answered) {
        d->suspended = true;
        MHD_suspend_connection(conn);
        pthread_mutex_unlock(&srv->defer_lock);
        return MHD_YES;
    }
    resp = d->resp;
    d->resp = (struct mon_http_response){.fd = -1};
    pthread_mutex_unlock(&srv->defer_lock);
    mon_http_answering(srv, mon_http_conn_of(conn));
    return mon_http_send_response(conn, &resp);
}

void mon_http_deferred_stop_all(struct mon_http_server *srv)
{
    /* libmicrohttpd (0.9.75) aborts when stopped with a connection set aside: answer every
     * deferred request first (whoever answers later finds it answered). */
    pthread_mutex_lock(&srv->defer_lock);
    srv->stopping = true;
    while (srv->deferred) {
        struct mon_http_deferred *d = srv->deferred;
        struct mon_http_response resp = {.fd = -1};
        srv->deferred = d->next; /* taken off the list here; deferred_store finds it off */
        if (d->next)
            d->next->prev = NULL;
        d->next = NULL;
        mon_http_error(&resp, 503, "the server is stopping");
        deferred_store(d, &resp);
        mon_http_deferred_unref(
            d); /* the answering side's reference: it must not answer any more */
    }
    pthread_mutex_unlock(&srv->defer_lock);
}
