/* SPDX-License-Identifier: MIT */
/* Linear-probing hash table from server id to pointer, at most half full, with backward-shift
 * deletion (no tombstones, so lookups stay short after many deletions). */
#include "aggregator/idmap.h"

#include "common/err.h"

#include <stdlib.h>

struct agg_idmap_slot {
    int64_t id; /* 0: empty */
    void *value;
};

static size_t slot_of(int64_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ULL; /* Fibonacci hashing: ids are dense */
    return (size_t)(h >> 32) & (cap - 1);
}

void *agg_idmap_get(const struct agg_idmap *m, int64_t id)
{
    if (!m->cap || id <= 0)
        return NULL;
    for (size_t i = slot_of(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].id == id)
            return m->slots[i].value;
        if (m->slots[i].id == 0)
            return NULL;
    }
}

static void place(struct agg_idmap_slot *slots, size_t cap, int64_t id, void *value)
{
    size_t i = slot_of(id, cap);
    while (slots[i].id != 0 && slots[i].id != id)
        i = (i + 1) & (cap - 1);
    slots[i].id = id;
    slots[i].value = value;
}

static int grow(struct agg_idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct agg_idmap_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return MON_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].id != 0)
            place(slots, cap, m->slots[i].id, m->slots[i].value);
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return MON_OK;
}

int agg_idmap_put(struct agg_idmap *m, int64_t id, void *value)
{
    if (id <= 0 || !value)
        return MON_EINVAL;
    if (agg_idmap_get(m, id)) {
        place(m->slots, m->cap, id, value);
        return MON_OK;
    }
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return MON_ENOMEM;
    place(m->slots, m->cap, id, value);
    m->n++;
    return MON_OK;
}

void agg_idmap_del(struct agg_idmap *m, int64_t id)
{
    size_t i, j, mask;
    if (!m->cap || id <= 0)
        return;
    mask = m->cap - 1;
    for (i = slot_of(id, m->cap); m->slots[i].id != id; i = (i + 1) & mask)
        if (m->slots[i].id == 0)
            return;
    /* Backward shift: move later entries of the probe run into the hole when their home slot
     * does not lie (cyclically) between the hole and their position. */
    for (j = (i + 1) & mask; m->slots[j].id != 0; j = (j + 1) & mask) {
        size_t home = slot_of(m->slots[j].id, m->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].id = 0;
    m->slots[i].value = NULL;
    m->n--;
}

void agg_idmap_clear(struct agg_idmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}
