/* SPDX-License-Identifier: MIT */
/* The SQLite backend's files on disk: a new database file is created 0600 before SQLite opens
 * it (SQLite would make it 0644, and gives its -wal, -shm and -journal the database's mode), an
 * existing empty file is refused instead of becoming a new database, and the modes of the
 * database's files are narrowed to 0600. */
#include "aggregator/store_sqlite.h"

#include "common/err.h"
#include "common/os/os.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DB_FILE_MODE 0600u

/* The files SQLite keeps for the database `path`: the database itself, then its companions. */
static const char *const db_file_suffixes[] = {"", "-wal", "-shm", "-journal"};

/* SQLite's names for a database that is not a file. */
static bool is_file_path(const char *path)
{
    return *path && strcmp(path, ":memory:") != 0;
}

int agg_sqlite_prepare_file(struct agg_store *st, const char *path)
{
    struct mon_os_file_id id, wal_id;
    char wal[MON_PATH_MAX + MON_PATH_SUFFIX_MAX];
    int fd = -1, r;

    if (!is_file_path(path))
        return MON_OK;
    r = mon_os_file_id(path, &id);
    if (r == MON_ENOENT) {
        r = mon_os_create_private(path, &fd);
        if (r == MON_OK) {
            close(fd);
            return MON_OK;
        }
        if (r != MON_EEXIST) /* else someone created it meanwhile: check theirs */
            return agg_store_fail(st, r, "cannot create the file: %s", mon_strerror(r));
        r = mon_os_file_id(path, &id);
    }
    if (r < 0)
        return agg_store_fail(st, r, "cannot read the file: %s", mon_strerror(r));
    if (id.size > 0)
        return MON_OK;
    /* Switching a new file to WAL writes its first page at once, so an empty file whose log is
     * empty too was never a database this program made: it was emptied. SQLite would take it
     * as a new database and the loss would go unnoticed. */
    if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal))
        return agg_store_fail(st, MON_ETOOBIG, "path too long");
    if (mon_os_file_id(wal, &wal_id) == MON_OK && wal_id.size > 0)
        return MON_OK;
    return agg_store_fail(st, MON_EIO,
                          "the database file is empty (0 bytes): its data is gone. Restore a "
                          "backup (monitor-aggregator --restore FILE), or delete the file to "
                          "start over with an empty database");
}

int agg_sqlite_restrict_files(const char *database, char *done, size_t done_len)
{
    size_t used = 0;

    if (!is_file_path(database))
        return MON_OK;
    for (size_t i = 0; i < sizeof(db_file_suffixes) / sizeof(db_file_suffixes[0]); i++) {
        char name[MON_PATH_MAX + MON_PATH_SUFFIX_MAX];
        unsigned old = 0;
        int r, n;
        if (snprintf(name, sizeof(name), "%s%s", database, db_file_suffixes[i]) >=
            (int)sizeof(name)) {
            agg_store_why(done, done_len, "path too long: %s", database);
            return MON_ETOOBIG;
        }
        r = mon_os_restrict_mode(name, DB_FILE_MODE, &old);
        if (r == MON_ENOENT || r == 0)
            continue;
        if (r < 0) {
            agg_store_why(done, done_len, "cannot change the mode of %s: %s", name,
                          mon_strerror(r));
            return r;
        }
        n = done && done_len > used ? snprintf(done + used, done_len - used, "%s%s (was %04o)",
                                               used ? ", " : "", name, old)
                                    : 0;
        if (n > 0)
            used += (size_t)n < done_len - used ? (size_t)n : done_len - used - 1;
    }
    return MON_OK;
}
