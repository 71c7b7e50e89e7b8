/* SPDX-License-Identifier: MIT */
/* The SQLite backend's backups: an online copy of a live database with SQLite's backup API
 * (in chunks, so the running aggregator is not held up) and the check of a file before it is
 * restored. What to do with the files (daily names, pruning, swapping in) is backup.c's. */
#include "aggregator/store_sqlite.h"

#include "common/err.h"
#include "common/os/os.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BACKUP_STEP_PAGES    256
#define BACKUP_PAUSE_MS      2
#define BACKUP_MAX_RESTARTS  3   /* then the rest is copied in one step (one read transaction) */
#define BACKUP_MAX_BUSY_WAIT 500 /* pauses on a locked source before giving up */

/* Removes path and its -wal/-shm/-journal companions (missing ones are fine). */
static void remove_db_files(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[MON_PATH_MAX + MON_PATH_SUFFIX_MAX];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
        if (snprintf(name, sizeof(name), "%s%s", path, suffixes[i]) < (int)sizeof(name))
            remove(name);
}

/* Copies st's database into an open destination connection in chunks of BACKUP_STEP_PAGES,
 * taking st's lock for each chunk and pausing between chunks so other users of st (and other
 * connections, thanks to WAL) keep working. */
static int backup_copy(struct agg_store *st, sqlite3 *dst, char *why, size_t why_len)
{
    sqlite3_backup *b;
    int rc = SQLITE_OK, restarts = 0, busy = 0, prev_remaining = -1, step = BACKUP_STEP_PAGES;

    pthread_mutex_lock(&st->lock);
    b = sqlite3_backup_init(dst, "main", agg_sqlite_of(st)->db, "main");
    if (!b) {
        agg_store_why(why, why_len, "cannot start the backup: %s", sqlite3_errmsg(dst));
        pthread_mutex_unlock(&st->lock);
        return agg_sqlite_map(sqlite3_errcode(dst));
    }
    for (;;) {
        int remaining;
        rc = sqlite3_backup_step(b, step);
        remaining = sqlite3_backup_remaining(b);
        if (rc == SQLITE_DONE)
            break;
        if (rc == SQLITE_OK) {
            /* Another connection wrote between two chunks: SQLite starts over. */
            if (prev_remaining >= 0 && remaining > prev_remaining &&
                ++restarts >= BACKUP_MAX_RESTARTS)
                step = -1;
            prev_remaining = remaining;
            busy = 0;
        } else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
            if (++busy > BACKUP_MAX_BUSY_WAIT)
                break;
        } else {
            break;
        }
        pthread_mutex_unlock(&st->lock);
        sqlite3_sleep(BACKUP_PAUSE_MS);
        pthread_mutex_lock(&st->lock);
    }
    sqlite3_backup_finish(b);
    pthread_mutex_unlock(&st->lock);
    if (rc != SQLITE_DONE) {
        agg_store_why(why, why_len, "backup failed: %s", sqlite3_errstr(rc));
        return agg_sqlite_map(rc);
    }
    rc = sqlite3_errcode(dst);
    if (rc != SQLITE_OK) {
        agg_store_why(why, why_len, "backup failed: %s", sqlite3_errmsg(dst));
        return agg_sqlite_map(rc);
    }
    return MON_OK;
}

int agg_sqlite_backup_to(struct agg_store *st, const char *dest_path, char *why, size_t why_len)
{
    char tmp[MON_PATH_MAX + MON_PATH_SUFFIX_MAX];
    sqlite3 *dst = NULL;
    int fd, r, rc;

    if (mon_os_path_exists(dest_path)) {
        agg_store_why(why, why_len, "%s already exists", dest_path);
        return MON_EEXIST;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.partial", dest_path) >= (int)sizeof(tmp)) {
        agg_store_why(why, why_len, "path too long");
        return MON_ETOOBIG;
    }
    remove_db_files(tmp);
    /* Created here so that it is 0600 from the start: the copy holds the agents' tokens, and
     * SQLite would create it 0644. */
    r = mon_os_create_private(tmp, &fd);
    if (r < 0) {
        char text[128];
        agg_store_why(why, why_len, "cannot create %s: %s", tmp,
                      mon_os_errno_text(errno, text, sizeof(text)));
        return r;
    }
    close(fd);
    rc = sqlite3_open_v2(tmp, &dst,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        agg_store_why(why, why_len, "cannot create %s: %s", tmp,
                      dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        r = agg_sqlite_map(rc);
        goto out;
    }
    r = backup_copy(st, dst, why, why_len);
    if (r < 0)
        goto out;
    rc = sqlite3_exec(dst, agg_sqlite_backup_finish_sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        agg_store_why(why, why_len, "cannot finish %s: %s", tmp, sqlite3_errmsg(dst));
        r = agg_sqlite_map(rc);
        goto out;
    }
    rc = sqlite3_close(dst);
    dst = NULL;
    if (rc != SQLITE_OK) {
        agg_store_why(why, why_len, "cannot close %s: %s", tmp, sqlite3_errstr(rc));
        r = agg_sqlite_map(rc);
        goto out;
    }
    if (mon_os_path_exists(dest_path)) {
        agg_store_why(why, why_len, "%s already exists", dest_path);
        r = MON_EEXIST;
        goto out;
    }
    if (rename(tmp, dest_path) != 0) {
        char text[128];
        r = mon_err_from_errno(errno);
        agg_store_why(why, why_len, "cannot rename %s to %s: %s", tmp, dest_path,
                      mon_os_errno_text(errno, text, sizeof(text)));
        goto out;
    }
    r = MON_OK;
out:
    sqlite3_close(dst);
    if (r < 0)
        remove_db_files(tmp);
    return r;
}

int agg_sqlite_restore_check(const char *src_path, char *why, size_t why_len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    const unsigned char *text;
    char reason[AGG_STORE_ERR_LEN];
    int64_t version;
    int r, rc;

    if (!mon_os_path_exists(src_path)) {
        agg_store_why(why, why_len, "%s does not exist", src_path);
        return MON_ENOENT;
    }
    rc = sqlite3_open_v2(src_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_prepare_v2(db, agg_sqlite_integrity_check_sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        goto fail;
    text = sqlite3_column_text(s, 0);
    if (!text || strcmp((const char *)text, "ok") != 0) {
        agg_store_why(why, why_len, "%s: integrity_check: %s", src_path,
                      text ? (const char *)text : "(no answer)");
        r = MON_EIO;
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    rc = sqlite3_prepare_v2(db, agg_sqlite_stmt_sql[S_USER_VERSION], -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        goto fail;
    version = sqlite3_column_int64(s, 0);
    if (version > AGG_STORE_SCHEMA_VERSION) {
        agg_store_why(why, why_len, "%s: schema version %lld is newer than this program (%d)",
                      src_path, (long long)version, AGG_STORE_SCHEMA_VERSION);
        r = MON_EUNSUPPORTED;
        goto out;
    }
    if (version < 1) {
        agg_store_why(why, why_len, "%s: not a monitor-aggregator database (schema version 0)",
                      src_path);
        r = MON_EINVAL;
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    /* The same schema check as at open: a file with a table or column missing passes the
     * integrity check but would fail every request that needs it. */
    r = agg_sqlite_schema_check(db, version, reason, sizeof(reason));
    if (r < 0)
        agg_store_why(why, why_len, "%s: %s", src_path, reason);
    goto out;
fail:
    agg_store_why(why, why_len, "%s: %s", src_path,
                  db && sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    r = agg_sqlite_map(rc) == MON_EBUSY ? MON_EBUSY : MON_EIO;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    return r;
}
