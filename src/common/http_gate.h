/* SPDX-License-Identifier: MIT */
/* The front door of the HTTP server: owns the listening socket and holds each new connection
 * until its first request head is complete (peeked, never consumed), so a slow or hostile
 * client never occupies one of libmicrohttpd's connection slots. It answers clients outside the
 * allow-list 403 at accept, before reading anything, and closes them; it caps connections in
 * total and per client address (pushing out the
 * connection that has waited longest for a request when full), closes connections whose
 * request head is not complete within an absolute deadline, answers malformed heads with one
 * clean 4xx, and hands good ones to libmicrohttpd. It also tracks the connections
 * libmicrohttpd owns, to give their later keep-alive requests absolute deadlines too. */
#ifndef MON_COMMON_HTTP_GATE_H
#define MON_COMMON_HTTP_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/http_head.h"
#include "common/os/os.h"

struct mon_http_gate;
struct mon_http_conn; /* one connection libmicrohttpd owns */

struct mon_http_gate_options {
    const struct sockaddr *addr; /* where to listen */
    socklen_t addr_len;
    bool dual_stack;
    /* The listener serves HTTPS (libmicrohttpd with GnuTLS does the handshake). A request head
     * is then encrypted until libmicrohttpd has made the handshake, so the door cannot read it:
     * it waits for the first byte only (within head_timeout_ms of the accept) and hands the
     * connection over when that byte starts a TLS handshake record; mon_http_gate_conn_started
     * then gives the handshake and the first request head head_timeout_ms together, enforced
     * by the door like every deadline of a served connection, and libmicrohttpd parses the
     * head (http.c checks it as it checks kept-alive requests). Still at accept, as for plain
     * listeners: allow_from (refused clients are closed without an answer: nothing can be said
     * before the handshake), the caps per address and in total with push-out. A first byte
     * that looks like plain HTTP gets a plain 400 telling the client to use https (a clear
     * failure, not a hang); anything else is closed. */
    bool tls;
    unsigned max_connections;    /* waiting at the door + served, in total */
    unsigned per_ip_connections; /* per client address; 0 = no cap */
    unsigned head_timeout_ms;    /* a new connection's first request head, from accept */
    unsigned look_ms; /* half the shortest deadline the server sets for its connections */
    struct mon_http_head_limits limits;
    bool (*allow)(void *ctx, const struct sockaddr *client); /* NULL: everyone */
    void *allow_ctx;
    /* Gives an accepted socket whose first head is complete and acceptable to the server
     * (which owns and closes it from then on, also on failure). */
    void (*handover)(void *ctx, mon_socket fd, const struct sockaddr *client, socklen_t len);
    void *ctx;
};

/* Binds the listening socket (nothing is accepted before mon_http_gate_run). MON_EBUSY when
 * the address is in use. */
int mon_http_gate_new(const struct mon_http_gate_options *opt, struct mon_http_gate **ret);

/* The bound port. */
uint16_t mon_http_gate_port(const struct mon_http_gate *g);

/* Starts the door's thread. */
int mon_http_gate_run(struct mon_http_gate *g);

/* Stops accepting and closes the connections still waiting at the door; joins the thread.
 * Connections already handed over stay with the server. */
void mon_http_gate_stop(struct mon_http_gate *g);

/* Frees the gate (after the server has closed every connection). Accepts NULL. */
void mon_http_gate_free(struct mon_http_gate *g);

/* A connection the server took over (from its "connection started" notification): tracked
 * for the caps and deadlines until mon_http_gate_conn_closed, which frees *ret_conn (owned by
 * the gate; the server keeps the pointer). MON_ENOMEM when out of memory (the connection then
 * simply has no deadline). Thread-safe (takes the gate's lock). */
int mon_http_gate_conn_started(struct mon_http_gate *g, mon_socket fd,
                               const struct sockaddr *client, struct mon_http_conn **ret_conn);

/* The server is about to close the connection's socket. Accepts NULL. */
void mon_http_gate_conn_closed(struct mon_http_gate *g, struct mon_http_conn *c);

/* Sets the absolute time (mon_mono_ms) by which the connection must have sent what it owes
 * (0: nothing owed, e.g. while its request is being answered). Past it the door shuts the
 * socket down. Lock-free: called on every request. Accepts NULL. */
void mon_http_conn_set_deadline(struct mon_http_conn *c, int64_t deadline_ms);

/* Marks a connection as authenticated (a request on it presented the right token): it is the
 * last to be pushed out when the server is full. */
void mon_http_conn_trust(struct mon_http_conn *c);
bool mon_http_conn_trusted(const struct mon_http_conn *c);

#endif
