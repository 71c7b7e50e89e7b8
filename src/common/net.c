/* SPDX-License-Identifier: MIT */
/* Parsing of listen addresses and CIDR blocks, and matching client addresses against them. */
#include "common/net.h"

#include "common/err.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>

int mon_parse_listen_addr(const char *text, struct mon_listen_addr *ret)
{
    char host[64];
    const char *colon, *port_text;
    int64_t port;
    struct mon_listen_addr a;

    if (!text)
        return MON_EINVAL;
    memset(&a, 0, sizeof(a));
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return MON_EPARSE;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_text = close + 2;
        a.family = AF_INET6;
    } else {
        colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host) || strchr(text, ':') != colon)
            return MON_EPARSE;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
        a.family = strcmp(host, "*") == 0 ? AF_INET6 : AF_INET;
    }
    if (mon_parse_int64(port_text, 0, 65535, &port) < 0)
        return MON_ERANGE;
    a.port = (uint16_t)port;
    if (a.family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a.port);
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            return MON_EPARSE;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(a.port);
        if (strcmp(host, "*") == 0)
            sin6->sin6_addr = in6addr_any;
        else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return MON_EPARSE;
    }
    *ret = a;
    return MON_OK;
}

int mon_parse_cidr(const char *text, struct mon_cidr *ret)
{
    char host[64];
    const char *slash;
    struct mon_cidr c;
    int64_t prefix = -1;
    int bits;

    if (!text)
        return MON_EINVAL;
    memset(&c, 0, sizeof(c));
    slash = strchr(text, '/');
    if (!mon_strlcpy(host, text, sizeof(host)))
        return MON_EPARSE;
    if (slash)
        host[slash - text] = '\0';
    if (inet_pton(AF_INET, host, c.addr) == 1) {
        c.family = AF_INET;
        bits = 32;
    } else if (inet_pton(AF_INET6, host, c.addr) == 1) {
        c.family = AF_INET6;
        bits = 128;
    } else {
        return MON_EPARSE;
    }
    if (slash && mon_parse_int64(slash + 1, 0, bits, &prefix) < 0)
        return MON_ERANGE;
    c.prefix = slash ? (int)prefix : bits;
    for (int i = c.prefix; i < bits; i++) /* host bits must be zero */
        if (c.addr[i / 8] & (0x80 >> (i % 8)))
            return MON_EINVAL;
    *ret = c;
    return MON_OK;
}

bool mon_cidr_contains(const struct mon_cidr *cidr, const struct sockaddr *sa)
{
    const uint8_t *addr;
    static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        if (cidr->family != AF_INET)
            return false;
        addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        addr = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (cidr->family == AF_INET) {
            if (memcmp(addr, mapped_prefix, sizeof(mapped_prefix)) != 0)
                return false;
            addr += 12;
        }
    } else {
        return false;
    }
    for (int i = 0; i < cidr->prefix; i++) {
        uint8_t m = (uint8_t)(0x80 >> (i % 8));
        if ((addr[i / 8] & m) != (cidr->addr[i / 8] & m))
            return false;
    }
    return true;
}

void mon_format_sockaddr(const struct sockaddr *sa, char *buf, size_t size)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const void *a = NULL;
    int family = sa ? sa->sa_family : AF_UNSPEC;
    if (family == AF_INET) {
        a = &((const struct sockaddr_in *)sa)->sin_addr;
    } else if (family == AF_INET6) {
        const uint8_t *b = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        /* A dual-stack listener's IPv4 client reads as IPv4. */
        if (memcmp(b, mapped, sizeof(mapped)) == 0) {
            a = b + 12;
            family = AF_INET;
        } else {
            a = b;
        }
    }
    if (!a || !inet_ntop(family, a, buf, (socklen_t)size))
        mon_strlcpy(buf, "?", size);
}

void mon_addr_key(const struct sockaddr *sa, bool prefix64, uint8_t key[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(key, 0, 16);
    if (sa && sa->sa_family == AF_INET) {
        memcpy(key, mapped, sizeof(mapped));
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        if (prefix64 && memcmp(key, mapped, sizeof(mapped)) != 0)
            memset(key + 8, 0, 8);
    }
}
