/* SPDX-License-Identifier: MIT */
/* Field checks for server settings (host names, ports, unit names, lengths). */
#include "aggregator/validate.h"

#include "common/os/os.h"

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

bool agg_validate_server(const struct agg_server *s, const char **ret_field, char *msg,
                         size_t msg_len)
{
    size_t name_len = s->name ? strlen(s->name) : 0;

    if (name_len < 1 || name_len > AGG_NAME_MAX) {
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
    return true;
}
