/* SPDX-License-Identifier: MIT */
/* cJSON allocation hooks over a per-thread bump arena. The one piece of mutable global state
 * here is the thread-local pointer to the active arena: the hooks have no context argument,
 * and it is only ever set and read by its own thread. */
#include "common/json_arena.h"

#include "common/err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define ALIGN 16

static _Thread_local struct mon_json_arena *active;

static bool owned(const struct mon_json_arena *a, const void *p)
{
    return a && (const char *)p >= a->base && (const char *)p < a->base + a->size;
}

static void *arena_malloc(size_t n)
{
    struct mon_json_arena *a = active;
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (a && need >= n && a->size - a->used >= need) {
        void *p = a->base + a->used;
        a->used += need;
        return p;
    }
    if (a)
        a->spilled++;
    return malloc(n);
}

static void arena_free(void *p)
{
    /* Arena memory goes back all at once (mon_json_arena_end); anything else to the heap. A
     * pointer from an arena may be freed only by the thread that owns it. */
    if (!owned(active, p))
        free(p);
}

void mon_json_arena_install(void)
{
    cJSON_Hooks hooks = {arena_malloc, arena_free};
    cJSON_InitHooks(&hooks);
}

int mon_json_arena_init(struct mon_json_arena *a, size_t size)
{
    a->base = malloc(size);
    a->size = a->base ? size : 0;
    a->used = 0;
    return a->base ? MON_OK : MON_ENOMEM;
}

void mon_json_arena_done(struct mon_json_arena *a)
{
    free(a->base);
    a->base = NULL;
    a->size = a->used = 0;
}

void mon_json_arena_begin(struct mon_json_arena *a)
{
    a->used = 0;
    a->spilled = 0;
    active = a;
}

void mon_json_arena_delete(cJSON *root)
{
    const struct mon_json_arena *a = active;
    /* used == 0 after a parse: the hooks are not installed, the tree is malloc'd */
    if (root && !(a && a->used > 0 && a->spilled == 0))
        cJSON_Delete(root);
}

void mon_json_arena_end(void)
{
    if (active)
        active->used = 0;
    active = NULL;
}
