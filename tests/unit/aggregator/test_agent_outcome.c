/* SPDX-License-Identifier: MIT */
/* agg_agent_outcome: the documented last_error of each TLS failure, from the detail texts of
 * every TLS library libcurl is built with here (OpenSSL and GnuTLS on Linux, Schannel in the
 * Windows build), so the Windows aggregator names a plain agent and a name mismatch as Linux
 * does. */
#include "aggregator/agentclient.h"
#include "common/err.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define PLAIN_AGENT                                                                                \
    "TLS handshake failed: the agent speaks plain HTTP (no tls: in its config.yaml; or set tls "   \
    "off for this server)"

/* The outcome of a failed transfer whose libcurl detail is detail; its why in why. */
static int outcome(int code, const char *detail, char *why, size_t why_len)
{
    struct agg_agent_body body = {0};
    snprintf(body.error, sizeof(body.error), "%s", detail);
    return agg_agent_outcome(code, 0, &body, why, why_len);
}

static void test_plain_agent_on_tls(void **state)
{
    (void)state;
    static const char *const details[] = {
        "error:0A00010B:SSL routines::wrong version number",                    /* OpenSSL */
        "gnutls_handshake() failed: An unexpected TLS packet was received.",    /* GnuTLS */
        "schannel: next InitializeSecurityContext failed: SEC_E_INVALID_TOKEN " /* Schannel */
        "(0x80090308) - The token supplied to the function is invalid",
    };
    char why[256];
    for (size_t i = 0; i < sizeof(details) / sizeof(details[0]); i++) {
        assert_int_equal(outcome(CURLE_SSL_CONNECT_ERROR, details[i], why, sizeof(why)), MON_EIO);
        assert_string_equal(why, PLAIN_AGENT);
    }
    /* Schannel when the agent closes the connection during the handshake. */
    assert_int_equal(outcome(CURLE_SSL_CONNECT_ERROR,
                             "schannel: failed to receive handshake, SSL/TLS connection failed",
                             why, sizeof(why)),
                     MON_EIO);
    assert_string_equal(why, AGG_AGENT_TLS_CLOSED);
    /* Any other handshake failure keeps libcurl's words. */
    assert_int_equal(
        outcome(CURLE_SSL_CONNECT_ERROR, "schannel: SEC_E_ALGORITHM_MISMATCH", why, sizeof(why)),
        MON_EIO);
    assert_string_equal(why, "TLS handshake failed: schannel: SEC_E_ALGORITHM_MISMATCH");
}

static void test_trust_failures(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(outcome(CURLE_SSL_PINNEDPUBKEYNOTMATCH,
                             "SSL: public key does not match pinned public key", why, sizeof(why)),
                     MON_EPERM);
    assert_string_equal(why, AGG_AGENT_PIN_MISMATCH);
    /* Schannel with tls_ca_file and an address as the host: a hint, not libcurl's words. */
    assert_int_equal(outcome(CURLE_PEER_FAILED_VERIFICATION,
                             "schannel: CertGetNameString() failed to match connection hostname "
                             "(10.0.0.5) against server certificate names",
                             why, sizeof(why)),
                     MON_EPERM);
    assert_non_null(strstr(why, "certificate not trusted: it does not name this host"));
    assert_non_null(strstr(why, "add the server by its host name"));
    assert_int_equal(outcome(CURLE_PEER_FAILED_VERIFICATION,
                             "SSL certificate problem: self-signed "
                             "certificate",
                             why, sizeof(why)),
                     MON_EPERM);
    assert_string_equal(why, "certificate not trusted: SSL certificate problem: self-signed "
                             "certificate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_agent_on_tls),
        cmocka_unit_test(test_trust_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
