/* SPDX-License-Identifier: MIT */
/* The fleet's HTTPS: GnuTLS server sessions on non-blocking sockets, with the key, certificate
 * and priorities a real agent serves (libmicrohttpd + GnuTLS, MON_TLS_PRIORITIES, no session
 * tickets), so that the aggregator's TLS cost in bench/aggregator is the cost against agents. */
#include "fleet.h"

#include "common/err.h"
#include "common/tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>

struct fleet_tls {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
};

int fleet_tls_new(const char *cert_file, const char *key_file, struct fleet_tls **ret)
{
    struct fleet_tls *t = calloc(1, sizeof(*t));
    const char *where = NULL;
    int r;
    if (!t)
        return MON_ENOMEM;
    r = gnutls_certificate_allocate_credentials(&t->cred);
    if (r == GNUTLS_E_SUCCESS)
        r = gnutls_certificate_set_x509_key_file(t->cred, cert_file, key_file, GNUTLS_X509_FMT_PEM);
    if (r == GNUTLS_E_SUCCESS)
        r = gnutls_priority_init(&t->prio, MON_TLS_PRIORITIES, &where);
    if (r != GNUTLS_E_SUCCESS) {
        fprintf(stderr, "fleet: TLS with %s and %s: %s\n", cert_file, key_file, gnutls_strerror(r));
        fleet_tls_free(t);
        return MON_EINVAL;
    }
    *ret = t;
    return MON_OK;
}

void fleet_tls_free(struct fleet_tls *t)
{
    if (!t)
        return;
    if (t->prio)
        gnutls_priority_deinit(t->prio);
    if (t->cred)
        gnutls_certificate_free_credentials(t->cred);
    free(t);
}

int fleet_tls_session(struct fleet_tls *t, int fd, void **ret_session)
{
    gnutls_session_t s;
    if (gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) != GNUTLS_E_SUCCESS)
        return MON_ENOMEM;
    if (gnutls_priority_set(s, t->prio) != GNUTLS_E_SUCCESS ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, t->cred) != GNUTLS_E_SUCCESS) {
        gnutls_deinit(s);
        return MON_ENOMEM;
    }
    gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
    gnutls_transport_set_int(s, fd);
    *ret_session = s;
    return MON_OK;
}

void fleet_tls_session_free(void *session)
{
    if (session)
        gnutls_deinit((gnutls_session_t)session);
}

int fleet_tls_handshake(void *session)
{
    int r = gnutls_handshake((gnutls_session_t)session);
    if (r == GNUTLS_E_SUCCESS)
        return MON_OK;
    /* Handshake messages are small: a full send buffer (a wait for writability) does not
     * happen on loopback, so only reads are waited for. */
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(r))
        return MON_EAGAIN;
    return MON_EIO;
}

long fleet_tls_recv(void *session, char *buf, size_t len)
{
    ssize_t n = gnutls_record_recv((gnutls_session_t)session, buf, len);
    if (n >= 0)
        return (long)n;
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        return MON_EAGAIN;
    if (n == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
    return MON_EIO;
}

size_t fleet_tls_pending(void *session)
{
    return gnutls_record_check_pending((gnutls_session_t)session);
}

int fleet_tls_send(void *session, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = gnutls_record_send((gnutls_session_t)session, buf, len);
        if (n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0)
            return MON_EIO;
        buf += n;
        len -= (size_t)n;
    }
    return MON_OK;
}
