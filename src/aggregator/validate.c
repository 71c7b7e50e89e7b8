/* SPDX-License-Identifier: MIT */
/* Field checks for server settings (host names, ports, unit names, lengths). */
#include "aggregator/validate.h"

#include "common/os/os.h"
#include "common/str.h"
#include "common/tls.h"
#include "common/text.h"

#include <stdio.h>
#include <string.h>

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool agg_valid_host(const char *host)
{
    unsigned char buf[16];
    size_t len = host ? strlen(host) : 0, label = 0;

    if (len == 0 || len > AGG_HOST_MAX)
        return false;
    if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1)
        return true;
    for (size_t i = 0; i <= len; i++) {
        char c = host[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || host[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!is_alnum(c) && c != '-')
            return false;
        if (label == 0 && c == '-')
            return false;
        label++;
    }
    /* A name of digits and dots only that inet_pton refused (e.g. 1.2.3.999) is no host name. */
    return strspn(host, "0123456789.") != len;
}

bool agg_valid_unit_name(const char *name)
{
    static const char *const suffixes[] = {".service", ".socket", ".timer",     ".mount",
                                           ".target",  ".path",   ".automount", ".swap",
                                           ".slice",   ".scope",  ".device"};
    size_t len = name ? strlen(name) : 0;
    if (len < 2 || len > 255)
        return false;
    for (const char *p = name; *p; p++)
        if (!is_alnum(*p) && !strchr(":_.@-\\", *p))
            return false;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t n = strlen(suffixes[i]);
        if (len > n && strcmp(name + len - n, suffixes[i]) == 0)
            return true;
    }
    return false;
}

bool agg_normalize_name(char *name, char *msg, size_t msg_len)
{
    size_t len = strlen(name), in = 0, out = 0, chars = 0;
    bool space = false;

    while (in < len) {
        uint32_t cp = 0;
        size_t n = mon_utf8_next(name + in, len - in, &cp);
        if (n == 0) {
            snprintf(msg, msg_len, "must be valid UTF-8");
            return false;
        }
        if (mon_text_is_hidden(cp)) {
            snprintf(msg, msg_len,
                     "must not contain control, invisible or text-direction characters (U+%04X)",
                     (unsigned)cp);
            return false;
        }
        if (mon_text_is_space(cp)) {
            space = out > 0; /* leading spaces vanish */
        } else {
            if (space) {
                name[out++] = ' ';
                chars++;
                space = false;
            }
            memmove(name + out, name + in, n); /* out <= in: never overtakes the reading */
            out += n;
            chars++;
        }
        in += n;
    }
    name[out] = '\0'; /* trailing spaces vanish too */
    if (chars < 1 || chars > AGG_NAME_MAX) {
        snprintf(msg, msg_len, "must be 1 to %d characters", AGG_NAME_MAX);
        return false;
    }
    return true;
}

void agg_name_key(const char *name, char *key, size_t size)
{
    size_t len = strlen(name), in = 0, out = 0;
    while (in < len && out + 4 < size) {
        uint32_t cp = 0;
        size_t n = mon_utf8_next(name + in, len - in, &cp);
        if (n == 0) { /* not a normalised name: compare the byte as it is */
            key[out++] = name[in++];
            continue;
        }
        out += mon_utf8_put(mon_text_fold(cp), key + out);
        in += n;
    }
    key[out] = '\0';
}

bool agg_validate_server(const struct agg_server *s, const char **ret_field, char *msg,
                         size_t msg_len)
{
    size_t name_len = s->name ? strlen(s->name) : 0;
    const char *problem;

    if (name_len < 1 || name_len > AGG_NAME_MAX_BYTES ||
        mon_utf8_chars(s->name, name_len) > AGG_NAME_MAX) {
        *ret_field = "name";
        snprintf(msg, msg_len, "must be 1 to %d characters", AGG_NAME_MAX);
        return false;
    }
    for (const char *p = s->name; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *ret_field = "name";
            snprintf(msg, msg_len, "must not contain control characters");
            return false;
        }
    }
    if (!agg_valid_host(s->host)) {
        *ret_field = "host";
        snprintf(msg, msg_len, "must be an IP address or a DNS name");
        return false;
    }
    if (s->port < 1 || s->port > 65535) {
        *ret_field = "agent_port";
        snprintf(msg, msg_len, "must be an integer from 1 to 65535");
        return false;
    }
    if (!s->token || !s->token[0] || strlen(s->token) > AGG_TOKEN_MAX) {
        *ret_field = "token";
        snprintf(msg, msg_len, "must be 1 to %d characters", AGG_TOKEN_MAX);
        return false;
    }
    if ((problem = mon_token_problem(s->token))) {
        *ret_field = "token";
        snprintf(msg, msg_len, "%s", problem);
        return false;
    }
    if (s->n_services > AGG_MAX_SERVICES) {
        *ret_field = "services";
        snprintf(msg, msg_len, "at most %d units", AGG_MAX_SERVICES);
        return false;
    }
    for (size_t i = 0; i < s->n_services; i++) {
        if (!agg_valid_unit_name(s->services[i])) {
            *ret_field = "services";
            snprintf(msg, msg_len, "'%.64s' is not a systemd unit name (e.g. nginx.service)",
                     s->services[i]);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->services[i], s->services[j]) == 0) {
                *ret_field = "services";
                snprintf(msg, msg_len, "'%.64s' is listed twice", s->services[i]);
                return false;
            }
        }
    }
    if (s->tls_pin && s->tls_pin[0] && !mon_tls_pin_valid(s->tls_pin)) {
        *ret_field = "tls_pin";
        snprintf(msg, msg_len,
                 "must be empty (pin at the next contact) or sha256// and 44 base64 characters, "
                 "as monitor-agent --print-pin prints it");
        return false;
    }
    if (s->tls_ca_file && strlen(s->tls_ca_file) > AGG_PATH_MAX) {
        *ret_field = "tls_ca_file";
        snprintf(msg, msg_len, "must be at most %d bytes", AGG_PATH_MAX);
        return false;
    }
    return true;
}
