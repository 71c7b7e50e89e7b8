/* SPDX-License-Identifier: MIT */
/* Network address text: listen addresses ("0.0.0.0:9109", "[::]:9109") and CIDR allow-lists. */
#ifndef MON_COMMON_NET_H
#define MON_COMMON_NET_H

/* Threads: pure functions on caller storage (no allocation, no state): safe from any thread. */

#include <stdbool.h>
#include <stdint.h>

#include "common/os/os.h"

struct mon_listen_addr {
    struct sockaddr_storage ss;
    int family; /* AF_INET or AF_INET6 */
    uint16_t port;
};

/* Parses "IPv4:port", "[IPv6]:port" or "*:port" (all IPv4+IPv6). Port 0 asks the OS for one
 * (tests). Host names are rejected: a listener binds a numeric address. */
int mon_parse_listen_addr(const char *text, struct mon_listen_addr *ret);

struct mon_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix; /* 0..32 or 0..128 */
};

/* Parses "10.0.0.0/8", "fd00::/8" or a single address (full-length prefix). Host bits set
 * below the prefix are rejected as a likely typo. */
int mon_parse_cidr(const char *text, struct mon_cidr *ret);

/* True when the socket address is inside the block; IPv4-mapped IPv6 addresses match IPv4
 * blocks (dual-stack listeners report IPv4 clients that way). */
bool mon_cidr_contains(const struct mon_cidr *cidr, const struct sockaddr *sa);

/* Writes the numeric form of a socket address ("10.0.0.5", "::1") into buf; an IPv4-mapped
 * IPv6 address is written as IPv4. */
void mon_format_sockaddr(const struct sockaddr *sa, char *buf, size_t size);

/* The 16-byte identity of a client address: IPv6 as it is, IPv4 as its IPv4-mapped IPv6 form
 * (so a dual-stack listener counts a client the same either way); all zero for other families.
 * With prefix64, only the first 64 bits of a (non-mapped) IPv6 address are kept: one host can
 * pick any address of its /64. */
void mon_addr_key(const struct sockaddr *sa, bool prefix64, uint8_t key[16]);

#endif
