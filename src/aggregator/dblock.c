/* SPDX-License-Identifier: MIT */
/* The database locks: the lock file beside the database, then the database file itself. */
#include "aggregator/dblock.h"

#include "aggregator/store.h"
#include "common/err.h"
#include "common/os/os.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>

#define PATH_LEN (MON_PATH_MAX + MON_PATH_SUFFIX_MAX)

int agg_dblock_take_file(const char *database, struct agg_dblock *l, char *why, size_t why_len)
{
    int r;
    if (l->file_lock >= 0 || !agg_store_in_file(database))
        return MON_OK;
    /* Two aggregators on one file would each keep a -wal beside the name they opened, and
     * corrupt it: the lock has to follow the file, not its name. */
    r = mon_os_lock_existing(database, &l->file_lock);
    if (r == MON_ENOENT)
        return MON_OK; /* the open creates it; locked then */
    if (r == MON_EBUSY)
        mon_str_format(
            why, why_len,
            "another monitor-aggregator is running on the database file %s under another "
            "name (a hard link, a symlink or another spelling of its path); stop it first",
            database);
    else if (r < 0)
        mon_str_format(why, why_len, "cannot lock the database file %s: %s", database,
                       mon_strerror(r));
    return r;
}

int agg_dblock_take(const char *database, struct agg_dblock *l, char *why, size_t why_len)
{
    char lock[PATH_LEN];
    int r;

    l->path_lock = l->file_lock = -1;
    /* A database server (postgresql://) is not a path: "<uri>.lock" would make folders named
     * after the URI under the working directory, and the server holds the instance lock. */
    if (!agg_store_in_file(database))
        return MON_OK;
    if (snprintf(lock, sizeof(lock), "%s.lock", database) >= (int)sizeof(lock)) {
        mon_str_format(why, why_len, "path too long: %s", database);
        return MON_ETOOBIG;
    }
    r = mon_os_mkdir_parent(database);
    if (r < 0) {
        mon_str_format(why, why_len, "cannot create the folder of %s: %s", database,
                       mon_strerror(r));
        return r;
    }
    r = mon_os_lock_file(lock, &l->path_lock);
    if (r == MON_EBUSY)
        mon_str_format(
            why, why_len,
            "another monitor-aggregator is running on the database %s (%s is locked); stop "
            "it first",
            database, lock);
    else if (r < 0)
        mon_str_format(why, why_len, "cannot lock %s: %s", lock, mon_strerror(r));
    if (r < 0)
        return r;
    (void)mon_os_restrict_mode(lock, 0600, NULL); /* older versions made it 0644 */
    r = agg_dblock_take_file(database, l, why, why_len);
    if (r < 0) {
        mon_os_unlock_file(l->path_lock);
        l->path_lock = -1;
    }
    return r;
}

void agg_dblock_release(struct agg_dblock *l)
{
    mon_os_unlock_file(l->file_lock);
    mon_os_unlock_file(l->path_lock);
    l->file_lock = l->path_lock = -1;
}
