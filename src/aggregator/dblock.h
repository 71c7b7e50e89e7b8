/* SPDX-License-Identifier: MIT */
/* One aggregator per database: "<database>.lock" beside it and, for a database kept in a file,
 * a lock on that file itself, so that no other name of the file (a hard link, a symlink,
 * another spelling of the path) lets a second aggregator or a --restore at it. */
#ifndef MON_AGGREGATOR_DBLOCK_H
#define MON_AGGREGATOR_DBLOCK_H

/* Ownership and threads: a struct agg_dblock is caller storage owning the lock handles until
 * agg_dblock_release; the lock is per process (the main thread takes and releases it). */

#include <stddef.h>

struct agg_dblock {
    int path_lock; /* "<database>.lock": also covers a database file not created yet */
    int file_lock; /* the database file itself: the same file under any other name */
};

#define AGG_DBLOCK_INIT                                                                            \
    {                                                                                              \
        -1, -1                                                                                     \
    }

/* Takes "<database>.lock" (creating the database's folder; the lock file is made 0600) and,
 * when the database is a file that exists, the lock on the file itself. MON_EBUSY when another
 * process holds either; the reason (naming the lock that is taken) is written in why. l is
 * written in every case (locks not taken are -1). A database that is not a file (a
 * postgresql:// URI) takes no lock here and returns MON_OK: agg_store_lock_instance holds its
 * lock on the server instead. */
int agg_dblock_take(const char *database, struct agg_dblock *l, char *why, size_t why_len);

/* Takes the lock on the database file itself if it is not held yet and the file now exists
 * (after the open created it). MON_OK, MON_EBUSY with the reason in why. */
int agg_dblock_take_file(const char *database, struct agg_dblock *l, char *why, size_t why_len);

/* Releases both. Call after every connection to the database in this process is closed: a
 * POSIX process that closes a descriptor of a file loses all its locks on it, SQLite's too. */
void agg_dblock_release(struct agg_dblock *l);

#endif
