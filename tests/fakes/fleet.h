/* SPDX-License-Identifier: MIT */
/* The fleet simulator's shared parts (fleet.c: sockets and the event loop; fleet_reply.c: the
 * agent's replies; fleet_tls.c: HTTPS as the agent serves it). Nothing outside tests/fakes. */
#ifndef MON_FAKES_FLEET_H
#define MON_FAKES_FLEET_H

#include "common/clock.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLEET_MAX_HEADER 8192 /* request line + headers, as the real agent */

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
    void *tls;       /* gnutls_session_t, NULL for plain HTTP */
    bool handshaken; /* TLS: the handshake finished */
    size_t in_len;
    bool idle; /* has been served: may be closed to make room */
    char in[FLEET_MAX_HEADER + 1];
};

struct fleet_tls;

struct fleet {
    int ep;
    const char *token;
    size_t token_len;
    bool close_each;       /* "Connection: close" on every reply: the client reconnects each poll */
    struct fleet_tls *tls; /* NULL: plain HTTP */
    struct agent *agents;
    struct conn **conns; /* by fd */
    size_t n_agents, n_fds, n_conns, max_conns;
    int last_fd; /* of the connection served last */
    uint64_t requests, accepted, evicted;
    /* TLS: handshakes finished and failed, and the most that were in progress at once. */
    uint64_t handshakes, handshake_failures;
    size_t handshaking, handshaking_max;
    int64_t ts_second; /* the second ts_text was made for */
    /* since_text: an hour ago (units); job_text: the start of the jobs on busy GPUs. */
    char ts_text[MON_ISO8601_LEN], since_text[MON_ISO8601_LEN], job_text[MON_ISO8601_LEN];
};

/* Writes the reply to one request (block: its request line and headers, NUL-terminated) into
 * buf: the status line, headers and body. Returns its length, or MON_ETOOBIG. */
int fleet_reply(struct fleet *f, struct agent *a, const char *block, char *buf, size_t size);

/* Loads the agent key and certificate (PEM files) for HTTPS with the agent's priorities.
 * MON_OK, or a negative code with the reason printed. */
int fleet_tls_new(const char *cert_file, const char *key_file, struct fleet_tls **ret);
void fleet_tls_free(struct fleet_tls *t);

/* A server session on fd (non-blocking). MON_OK or MON_ENOMEM. */
int fleet_tls_session(struct fleet_tls *t, int fd, void **ret_session);
void fleet_tls_session_free(void *session);

/* Advances the handshake: MON_OK when finished, MON_EAGAIN to wait for more data, MON_EIO. */
int fleet_tls_handshake(void *session);

/* Reads decrypted bytes: > 0, 0 at the end of the stream, MON_EAGAIN or MON_EIO. */
long fleet_tls_recv(void *session, char *buf, size_t len);

/* Bytes already decrypted and waiting in the session (no socket event will announce them). */
size_t fleet_tls_pending(void *session);

/* Sends len bytes at once (they must fit the socket buffer). MON_OK or MON_EIO. */
int fleet_tls_send(void *session, const char *buf, size_t len);

#endif
