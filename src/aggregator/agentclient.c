/* SPDX-License-Identifier: MIT */
/* libcurl plumbing for talking to agents: URL building, easy-handle options, error texts and
 * the blocking GET used for the service catalog (the poller runs its own multi loop). */
#include "aggregator/agentclient.h"

#include "common/clock.h"
#include "common/err.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool host_ok(const char *host, bool *ret_v6)
{
    bool v6 = strchr(host, ':') != NULL;
    if (!host[0] || strlen(host) > 253)
        return false;
    for (const char *p = host; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (v6 ? !(isxdigit(c) || c == ':' || c == '.')
               : !(isalnum(c) || c == '.' || c == '-' || c == '_'))
            return false;
    }
    *ret_v6 = v6;
    return true;
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static int put_escaped(struct mon_buf *b, const char *s)
{
    int r = MON_OK;
    for (; *s && r == MON_OK; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
            r = mon_buf_append(b, s, 1);
        else
            r = mon_buf_printf(b, "%%%02X", c);
    }
    return r;
}

int agg_agent_url(const char *host, int port, const char *path, char *const *services,
                  size_t n_services, char **ret)
{
    return agg_agent_url_scheme(false, host, port, path, services, n_services, ret);
}

int agg_agent_url_scheme(bool https, const char *host, int port, const char *path,
                         char *const *services, size_t n_services, char **ret)
{
    struct mon_buf b;
    bool v6 = false;
    char *url;
    int r;

    if (!host || !host_ok(host, &v6) || port < 1 || port > 65535 || !path || path[0] != '/')
        return MON_EINVAL;
    mon_buf_init(&b, 64 * 1024);
    r = mon_buf_printf(&b, v6 ? "%s://[%s]:%d%s" : "%s://%s:%d%s", https ? "https" : "http", host,
                       port, path);
    for (size_t i = 0; r == MON_OK && i < n_services; i++) {
        r = mon_buf_puts(&b, i == 0 ? (strchr(path, '?') ? "&services=" : "?services=") : ",");
        if (r == MON_OK)
            r = put_escaped(&b, services[i]);
    }
    if (r != MON_OK) {
        mon_buf_done(&b);
        return r == MON_ETOOBIG ? MON_EINVAL : r;
    }
    url = mon_buf_take(&b);
    if (!url)
        return MON_ENOMEM;
    *ret = url;
    return MON_OK;
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
    struct agg_agent_body *body = userdata;
    size_t len = size * n;
    if (len == 0)
        return 0;
    if (mon_buf_append(&body->buf, p, len) != MON_OK) {
        body->too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return len;
}

int agg_agent_headers(const char *token, void **ret_headers)
{
    struct curl_slist *headers = NULL, *grown;
    char *auth = NULL;
    size_t len;

    if (token && token[0]) {
        for (const char *p = token; *p; p++)
            if (iscntrl((unsigned char)*p))
                return MON_EINVAL;
        len = strlen(token) + sizeof("Authorization: Bearer ");
        auth = malloc(len);
        if (!auth)
            return MON_ENOMEM;
        snprintf(auth, len, "Authorization: Bearer %s", token);
        headers = curl_slist_append(NULL, auth);
        free(auth);
        if (!headers)
            return MON_ENOMEM;
    }
    grown = curl_slist_append(headers, "Accept: application/json");
    if (!grown) {
        curl_slist_free_all(headers);
        return MON_ENOMEM;
    }
    *ret_headers = grown;
    return MON_OK;
}

void agg_agent_easy_setup(void *easy, int64_t timeout_ms, int64_t max_bytes,
                          struct agg_agent_body *body)
{
    if (timeout_ms < 1)
        timeout_ms = 1;
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Agents are on the LAN: no proxy, and no look-up of the *_proxy variables in the
     * environment at each transfer ("*" matches every host; libcurl 7.88 reads no_proxy and
     * NO_PROXY at each transfer unless this is set). */
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
    /* No CA directory, and nothing for a proxy: libcurl copies these strings into every new
     * transfer's connection (7.88: Curl_clone_primary_ssl_config) even for plain HTTP. A CA
     * is only ever the tls_ca_file given (CURLOPT_CAINFO, agg_agent_easy_tls). */
    curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(easy, CURLOPT_PROXY_CAINFO, NULL);
    curl_easy_setopt(easy, CURLOPT_PROXY_CAPATH, NULL);
    /* No libcurl DNS cache: its shared hash of host:port entries made every transfer walk
     * long chains with thousands of agents (10,000 agents needed more than a core and missed
     * 40 % of their polls). Agents are mostly IP literals; names go to the system resolver. */
    curl_easy_setopt(easy, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
    body->error[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, body->error);
    agg_agent_easy_tls(easy, &(struct agg_agent_tls){0});
}

void agg_agent_easy_target(void *easy, const char *url, void *headers)
{
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, (struct curl_slist *)headers);
}

int agg_agent_easy_prepare(void *easy, const char *url, const char *token, int64_t timeout_ms,
                           int64_t max_bytes, struct agg_agent_body *body, void **ret_headers)
{
    void *headers = NULL;
    int r = agg_agent_headers(token, &headers);
    if (r < 0)
        return r;
    agg_agent_easy_setup(easy, timeout_ms, max_bytes, body);
    agg_agent_easy_target(easy, url, headers);
    *ret_headers = headers;
    return MON_OK;
}

void agg_agent_easy_tls(void *easy, const struct agg_agent_tls *tls)
{
    bool ca = tls->on && tls->ca_file && tls->ca_file[0];
    bool pin = tls->on && !ca && tls->pin && tls->pin[0];
    curl_easy_setopt(easy, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    /* With a CA: a verified chain and host name. Without: the key is what is trusted (pinned,
     * or pinned now), as with SSH; the agent's self-signed certificate has no chain. */
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, ca ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, ca ? 2L : 0L);
    curl_easy_setopt(easy, CURLOPT_CAINFO, ca ? tls->ca_file : NULL);
    curl_easy_setopt(easy, CURLOPT_PINNEDPUBLICKEY, pin ? tls->pin : NULL);
    /* Schannel (Windows) checks revocation on a verified chain and fails when no CRL or OCSP
     * server is reachable, as on most LANs: only a revoked certificate is refused. */
    curl_easy_setopt(easy, CURLOPT_SSL_OPTIONS, ca ? (long)CURLSSLOPT_REVOKE_BEST_EFFORT : 0L);
    /* The certificate itself, at each new connection: its dates, and its pin at first use. */
    curl_easy_setopt(easy, CURLOPT_CERTINFO, tls->on ? 1L : 0L);
    /* A first-use connection is not kept: the next poll (with the pin) opens its own, and the
     * unpinned one would hold a socket on both sides until it timed out. */
    if (tls->on && !ca && !pin)
        curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
}

static void format_utc(int64_t t, char *buf, size_t size)
{
    if (mon_format_iso8601(t, buf, size) < 0)
        snprintf(buf, size, "%lld (Unix time)", (long long)t);
}

int agg_agent_tls_check(void *easy, int64_t now_utc_s, char ret_pin[MON_TLS_PIN_LEN], char *why,
                        size_t why_len)
{
    struct curl_certinfo *ci = NULL;
    long connects = 0;
    int64_t from = 0, until = 0;
    char pin[MON_TLS_PIN_LEN], when[64];
    const char *pem = NULL;

    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    if (connects == 0)
        return MON_EAGAIN;
    if (curl_easy_getinfo(easy, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci ||
        ci->num_of_certs < 1) {
        snprintf(why, why_len, "TLS: the agent's certificate could not be read");
        return MON_EPERM;
    }
    for (struct curl_slist *e = ci->certinfo[0]; e && !pem; e = e->next)
        if (strncmp(e->data, "Cert:", 5) == 0)
            pem = e->data + 5;
    if (!pem || mon_tls_cert_facts(pem, strlen(pem), pin, &from, &until) < 0) {
        snprintf(why, why_len, "TLS: the agent's certificate could not be read");
        return MON_EPERM;
    }
    if (now_utc_s > until) {
        format_utc(until, when, sizeof(when));
        snprintf(why, why_len,
                 "certificate expired on %s (make a new one on the agent and re-pin it; check "
                 "the clocks)",
                 when);
        return MON_EPERM;
    }
    if (now_utc_s < from) {
        format_utc(from, when, sizeof(when));
        snprintf(why, why_len,
                 "certificate not valid before %s (a clock is wrong: run NTP on both machines)",
                 when);
        return MON_EPERM;
    }
    memcpy(ret_pin, pin, sizeof(pin));
    return MON_OK;
}

/* Whether the detail names a plain-HTTP answer to the TLS ClientHello (OpenSSL, GnuTLS,
 * Schannel). */
static bool plain_answer(const char *detail)
{
    return strstr(detail, "wrong version number") || strstr(detail, "packet length too long") ||
           strstr(detail, "unexpected TLS packet") || strstr(detail, "unexpected message") ||
           strstr(detail, "SEC_E_INVALID_TOKEN");
}

int agg_agent_outcome(int curl_code, long http_status, const struct agg_agent_body *body, char *why,
                      size_t why_len)
{
    CURLcode c = (CURLcode)curl_code;
    const char *detail = body->error[0] ? body->error : curl_easy_strerror(c);
    switch (c) {
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        snprintf(why, why_len, AGG_AGENT_PIN_MISMATCH);
        return MON_EPERM;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        /* Schannel matches a CA-verified certificate's DNS names only, never an address. */
        if (strstr(detail, "failed to match connection hostname"))
            snprintf(why, why_len,
                     "certificate not trusted: it does not name this host (with tls_ca_file, "
                     "Windows matches only DNS names: add the server by its host name)");
        else
            snprintf(why, why_len, "certificate not trusted: %s", detail);
        return MON_EPERM;
    case CURLE_SSL_CONNECT_ERROR:
        if (plain_answer(detail))
            snprintf(why, why_len,
                     "TLS handshake failed: the agent speaks plain HTTP (no tls: in its "
                     "config.yaml; or set tls off for this server)");
        else if (strstr(detail, "failed to receive handshake")) /* Schannel: the peer closed */
            snprintf(why, why_len, AGG_AGENT_TLS_CLOSED);
        else
            snprintf(why, why_len, "TLS handshake failed: %s", detail);
        return MON_EIO;
    default:
        break;
    }
    /* A plain request that the agent's HTTPS port answered (see http_gate.c). */
    if (c == CURLE_OK && http_status == 400 && body->buf.data &&
        strstr(body->buf.data, "HTTPS only")) {
        snprintf(why, why_len,
                 "the agent speaks HTTPS only: turn tls on for this server (and pin its key)");
        return MON_EIO;
    }
    return agg_agent_result(curl_code, http_status, body->too_large, why, why_len);
}

void agg_agent_headers_free(void *headers)
{
    curl_slist_free_all(headers);
}

int agg_agent_result(int curl_code, long http_status, bool too_large, char *why, size_t why_len)
{
    CURLcode c = (CURLcode)curl_code;
    if (too_large || c == CURLE_FILESIZE_EXCEEDED) {
        snprintf(why, why_len, "reply too large");
        return MON_ETOOBIG;
    }
    switch (c) {
    case CURLE_OK:
        break;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(why, why_len, "timeout");
        return MON_ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        snprintf(why, why_len, "connection refused");
        return MON_EIO;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(why, why_len, "host not found");
        return MON_ENOENT;
    /* The peer answered, but not as an agent does: the texts of the documented "bad reply"
     * family rather than libcurl's wording. */
    case CURLE_PARTIAL_FILE:
        snprintf(why, why_len, "bad reply: truncated");
        return MON_EIO;
    case CURLE_GOT_NOTHING:
        snprintf(why, why_len, "bad reply: closed without an answer");
        return MON_EIO;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL: /* an HTTP/0.9-looking answer */
        snprintf(why, why_len, "bad reply: not HTTP");
        return MON_EIO;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        snprintf(why, why_len, "connection reset");
        return MON_EIO;
    default:
        snprintf(why, why_len, "%s", curl_easy_strerror(c));
        return MON_EIO;
    }
    if (http_status == 200)
        return MON_OK;
    if (http_status == 401) {
        snprintf(why, why_len, "token rejected (HTTP 401)");
        return MON_EPERM;
    }
    if (http_status == 403) {
        snprintf(why, why_len, "forbidden (HTTP 403)");
        return MON_EPERM;
    }
    snprintf(why, why_len, "HTTP %ld", http_status);
    return MON_EIO;
}

int agg_agent_get(const char *host, int port, const char *token, const char *path,
                  int64_t timeout_ms, int64_t max_bytes, long *ret_status, char **ret_body,
                  char *why, size_t why_len)
{
    struct agg_agent_body body = {0};
    void *headers = NULL;
    char *url = NULL, *text;
    long status = 0;
    CURLcode cc;
    CURL *easy = NULL;
    int r;

    mon_buf_init(&body.buf, max_bytes > 0 ? (size_t)max_bytes : 1);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(why, why_len, "libcurl could not start");
        return MON_ESYS;
    }
    r = agg_agent_url(host, port, path, NULL, 0, &url);
    if (r < 0) {
        snprintf(why, why_len, "invalid agent address");
        goto out;
    }
    easy = curl_easy_init();
    if (!easy) {
        r = MON_ENOMEM;
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    r = agg_agent_easy_prepare(easy, url, token, timeout_ms, max_bytes, &body, &headers);
    if (r < 0) {
        snprintf(why, why_len, "%s", r == MON_EINVAL ? "invalid token" : "out of memory");
        goto out;
    }
    cc = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    r = agg_agent_result((int)cc, status, body.too_large, why, why_len);
    if (cc != CURLE_OK || body.too_large)
        goto out;
    text = mon_buf_take(&body.buf);
    if (!text) {
        r = MON_ENOMEM;
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    if (r == MON_OK && why_len)
        why[0] = '\0';
    *ret_status = status;
    *ret_body = text;
    r = MON_OK;
out:
    if (easy)
        curl_easy_cleanup(easy);
    agg_agent_headers_free(headers);
    free(url);
    mon_buf_done(&body.buf);
    curl_global_cleanup();
    return r;
}
