/* SPDX-License-Identifier: MIT */
/* A small uid → name cache in front of getpwuid_r, with an expiry so that renamed or new
 * accounts are picked up, and a bounded size (the oldest answer makes room). */
#include "agent/collect/passwd_cache.h"

#include "common/err.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_ENTRIES  128
#define FOUND_TTL_MS   (10 * 60 * 1000)
#define MISSING_TTL_MS (60 * 1000) /* a user being created now shows up within a minute */
#define PW_BUF_FIRST   4096
#define PW_BUF_MAX     (1024 * 1024)

struct passwd_entry {
    bool used, found;
    uint32_t uid;
    int64_t expires_ms;
    char name[AGENT_USER_NAME_SIZE];
};

struct agent_passwd_cache {
    struct passwd_entry e[CACHE_ENTRIES];
    char *buf; /* getpwuid_r's scratch space, grown on ERANGE */
    size_t buf_size;
};

int agent_passwd_cache_new(struct agent_passwd_cache **ret_cache)
{
    struct agent_passwd_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return MON_ENOMEM;
    *ret_cache = c;
    return MON_OK;
}

/* Asks NSS; true with the name when uid has an entry whose name fits. */
static bool lookup(struct agent_passwd_cache *c, uint32_t uid, char *name)
{
    struct passwd pw, *result = NULL;
    int rc;

    for (;;) {
        if (!c->buf) {
            c->buf_size = PW_BUF_FIRST;
            c->buf = malloc(c->buf_size);
            if (!c->buf)
                return false;
        }
        rc = getpwuid_r((uid_t)uid, &pw, c->buf, c->buf_size, &result);
        if (rc == ERANGE && c->buf_size < PW_BUF_MAX) {
            char *bigger = realloc(c->buf, c->buf_size * 2);
            if (!bigger)
                return false;
            c->buf = bigger;
            c->buf_size *= 2;
            continue;
        }
        if (rc == EINTR)
            continue;
        break;
    }
    if (rc != 0 || !result || !pw.pw_name || strlen(pw.pw_name) >= AGENT_USER_NAME_SIZE)
        return false;
    memcpy(name, pw.pw_name, strlen(pw.pw_name) + 1);
    return true;
}

bool agent_passwd_cache_name(struct agent_passwd_cache *c, uint32_t uid, int64_t now_ms, char *name)
{
    struct passwd_entry *slot = NULL, *unused = NULL, *oldest = NULL;

    for (size_t i = 0; i < CACHE_ENTRIES && !slot; i++) {
        struct passwd_entry *e = &c->e[i];
        if (!e->used) {
            if (!unused)
                unused = e;
        } else if (e->uid == uid) {
            if (now_ms < e->expires_ms) {
                if (e->found)
                    memcpy(name, e->name, sizeof(e->name));
                return e->found;
            }
            slot = e; /* expired: ask again in place */
        } else if (!oldest || e->expires_ms < oldest->expires_ms) {
            oldest = e;
        }
    }
    /* else a free entry, else the one that expires first (the table is full then) */
    if (!slot)
        slot = unused ? unused : oldest;
    slot->used = true;
    slot->uid = uid;
    slot->found = lookup(c, uid, slot->name);
    slot->expires_ms = now_ms + (slot->found ? FOUND_TTL_MS : MISSING_TTL_MS);
    if (slot->found)
        memcpy(name, slot->name, sizeof(slot->name));
    return slot->found;
}

void agent_passwd_cache_free(struct agent_passwd_cache *c)
{
    if (!c)
        return;
    free(c->buf);
    free(c);
}
