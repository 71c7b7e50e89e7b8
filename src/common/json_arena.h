/* SPDX-License-Identifier: MIT */
/* A bump allocator for cJSON parse trees that live only within one call, so that parsing every
 * agent reply (the aggregator's hot path: ~150 nodes and strings a reply) makes no malloc/free
 * calls: cJSON's allocation hooks draw from the calling thread's arena when one is active and
 * fall back to malloc otherwise (every other thread, or an arena that is full). */
#ifndef MON_COMMON_JSON_ARENA_H
#define MON_COMMON_JSON_ARENA_H

/* Ownership and threads: the arena is caller storage (init/done); trees parsed between begin and
 * end borrow its memory and must be deleted before end. begin/end act on the calling thread only
 * (a thread-local pointer), so each thread uses its own arena; mon_json_arena_install runs once,
 * before other threads use cJSON. */

#include <stddef.h>

struct mon_json_arena {
    char *base;
    size_t size, used;
    size_t spilled; /* allocations since begin that did not fit (malloc'd instead) */
};

struct cJSON;

/* Installs the hooks in cJSON. Call once at start-up, before any other thread uses cJSON.
 * Without it arenas are never used: everything is malloc'd as before. */
void mon_json_arena_install(void);

/* Allocates an arena of size bytes. MON_OK or MON_ENOMEM. */
int mon_json_arena_init(struct mon_json_arena *a, size_t size);

/* Frees it. Accepts a zeroed arena. */
void mon_json_arena_done(struct mon_json_arena *a);

/* Makes cJSON allocations of the calling thread come from a (until mon_json_arena_end, which
 * empties it: every tree parsed in between must have been deleted by then). */
void mon_json_arena_begin(struct mon_json_arena *a);
void mon_json_arena_end(void);

/* Deletes root, a tree parsed on this thread since mon_json_arena_begin (or with no arena
 * active): when every allocation since begin came from the arena there is nothing to do (end
 * empties it, and walking the tree to free nothing costs ~5 % of a parse); otherwise, or with
 * no arena active, cJSON_Delete. Accepts NULL. */
void mon_json_arena_delete(struct cJSON *root);

#endif
