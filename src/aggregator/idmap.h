/* SPDX-License-Identifier: MIT */
/* Server id → pointer hash map (open addressing): the O(1) lookup that each poll result needs
 * in the poller, the live state and the rollup, whatever the number of servers. */
#ifndef MON_AGGREGATOR_IDMAP_H
#define MON_AGGREGATOR_IDMAP_H

/* Ownership and threads: the map is caller storage (agg_idmap_clear frees its table) holding
 * borrowed values it never frees. No locking: its owner's lock guards it (poller, live state,
 * rollup, usage). */

#include <stddef.h>
#include <stdint.h>

struct agg_idmap_slot;

struct agg_idmap {
    struct agg_idmap_slot *slots; /* NULL while empty */
    size_t cap;                   /* a power of two, or 0 */
    size_t n;
};

/* An empty map needs no set-up: struct agg_idmap m = {0}. */

/* The value stored for id (ids are ≥ 1), or NULL. */
void *agg_idmap_get(const struct agg_idmap *m, int64_t id);

/* Stores value (not NULL) for id, replacing an earlier one. MON_OK, MON_EINVAL or MON_ENOMEM
 * (the map is unchanged then). */
int agg_idmap_put(struct agg_idmap *m, int64_t id, void *value);

/* Forgets id (nothing happens when it is absent). */
void agg_idmap_del(struct agg_idmap *m, int64_t id);

/* Frees the table (not the values); the map is empty and usable again. */
void agg_idmap_clear(struct agg_idmap *m);

#endif
