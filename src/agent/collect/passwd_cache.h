/* SPDX-License-Identifier: MIT */
/* User names of uids from the passwd database (files, LDAP, sssd: whatever NSS says), cached
 * so that a sample does not ask NSS again for the same few users. */
#ifndef MON_AGENT_COLLECT_PASSWD_CACHE_H
#define MON_AGENT_COLLECT_PASSWD_CACHE_H

/* Ownership and threads: the cache belongs to the caller (agent_passwd_cache_free); names are
 * copied out. Not thread-safe: one caller (the sampler thread's process table). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_USER_NAME_SIZE 64

struct agent_passwd_cache;

/* Creates an empty cache in *ret_cache (owned by the caller: agent_passwd_cache_free). Returns
 * MON_OK or MON_ENOMEM. */
int agent_passwd_cache_new(struct agent_passwd_cache **ret_cache);

/* Copies uid's user name into name (AGENT_USER_NAME_SIZE bytes) and returns true; false when
 * the database has no such user, or the name is longer than the buffer (callers then show the
 * number). Answers, found or not, are kept for a few minutes (now_ms: a monotonic clock), so
 * new accounts show up without a restart. Not thread-safe. */
bool agent_passwd_cache_name(struct agent_passwd_cache *c, uint32_t uid, int64_t now_ms,
                             char *name);

/* Frees the cache. Accepts NULL. */
void agent_passwd_cache_free(struct agent_passwd_cache *c);

#endif
