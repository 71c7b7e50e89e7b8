/* SPDX-License-Identifier: MIT */
/* Database backups: restore of a checked copy, daily backup files, pruning and the daily thread. */
#include "aggregator/backup.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/os/cond.h"
#include "common/os/os.h"
#include "common/str.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_FIRST_DELAY_MS 10000
#define DEFAULT_PERIOD_MS      (24 * 3600 * 1000LL)
#define DEFAULT_RETRY_MIN_MS   15000           /* first retry of a failed backup */
#define DEFAULT_RETRY_MAX_MS   (3600 * 1000LL) /* retries double up to hourly */
#define PATH_LEN               (MON_PATH_MAX + MON_PATH_SUFFIX_MAX)

/* Records "<what> <path>: <the system's reason>" in why and returns errno's MON_E* code. */
static int errno_why(char *why, size_t why_len, const char *what, const char *path)
{
    int e = errno;
    char text[128];
    mon_str_format(why, why_len, "%s %s: %s", what, path, mon_os_errno_text(e, text, sizeof(text)));
    return mon_err_from_errno(e);
}

/* Copies src into a new file dst (mode 0600: a database holds the agents' tokens) and syncs it
 * to disk. */
static int copy_file(const char *src, const char *dst, char *why, size_t why_len)
{
    char chunk[65536];
    FILE *in = fopen(src, "rb"), *out = NULL;
    size_t n;
    int fd = -1, r = MON_OK;

    if (!in)
        return errno_why(why, why_len, "cannot open", src);
    r = mon_os_create_private(dst, &fd);
    if (r < 0) {
        r = errno_why(why, why_len, "cannot create", dst);
        goto out;
    }
    if (!(out = fdopen(fd, "wb"))) {
        r = errno_why(why, why_len, "cannot create", dst);
        close(fd);
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
        if (fwrite(chunk, 1, n, out) != n) {
            r = errno_why(why, why_len, "cannot write", dst);
            goto out;
        }
    }
    if (ferror(in)) {
        r = MON_EIO;
        mon_str_format(why, why_len, "cannot read %s", src);
        goto out;
    }
    if (fflush(out) != 0 || mon_os_fsync(fileno(out)) < 0) {
        r = errno_why(why, why_len, "cannot write", dst);
        goto out;
    }
out:
    if (out && fclose(out) != 0 && r == MON_OK)
        r = errno_why(why, why_len, "cannot write", dst);
    fclose(in);
    return r;
}

int agg_backup_restore(const char *src, const char *db_path, int *db_file_lock, char *why,
                       size_t why_len)
{
    char tmp[PATH_LEN], wal[PATH_LEN], shm[PATH_LEN];
    int r;

    mon_str_format(why, why_len, "%s", "");
    if (!src || !db_path || !*src || !*db_path) {
        mon_str_format(why, why_len, "invalid arguments");
        return MON_EINVAL;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.restore-tmp", db_path) >= (int)sizeof(tmp) ||
        snprintf(wal, sizeof(wal), "%s-wal", db_path) >= (int)sizeof(wal) ||
        snprintf(shm, sizeof(shm), "%s-shm", db_path) >= (int)sizeof(shm)) {
        mon_str_format(why, why_len, "path too long");
        return MON_ETOOBIG;
    }
    r = agg_store_restore_check(src, why, why_len);
    if (r < 0)
        return r;
    remove(tmp); /* left by a restore that was killed */
    r = copy_file(src, tmp, why, why_len);
    if (r < 0)
        goto out;
    /* The old database's log belongs to the old file; left beside the new one it would be
     * replayed into it. */
    if (remove(wal) != 0 && errno != ENOENT) {
        r = errno_why(why, why_len, "cannot remove", wal);
        goto out;
    }
    if (remove(shm) != 0 && errno != ENOENT) {
        r = errno_why(why, why_len, "cannot remove", shm);
        goto out;
    }
    /* Windows cannot replace a file that is open, even by us. */
    if (db_file_lock && *db_file_lock >= 0) {
        mon_os_unlock_file(*db_file_lock);
        *db_file_lock = -1;
    }
    r = mon_os_rename_replace(tmp, db_path);
    if (r < 0) {
        r = errno_why(why, why_len, "cannot move the checked copy over", db_path);
        goto out;
    }
    r = MON_OK;
out:
    if (r < 0)
        remove(tmp);
    return r;
}

int agg_backup_daily_name(int64_t utc_s, char *buf, size_t size)
{
    char iso[40];
    int r = mon_format_iso8601(utc_s, iso, sizeof(iso));
    if (r < 0)
        return r;
    /* iso: YYYY-MM-DDTHH:MM:SSZ */
    if (strlen(iso) < 10)
        return MON_EINVAL;
    r = snprintf(buf, size, "monitor-%.4s%.2s%.2s.db", iso, iso + 5, iso + 8);
    return r < 0 || (size_t)r >= size ? MON_ETOOBIG : MON_OK;
}

/* True for "monitor-" + 8 digits + ".db". */
static bool is_backup_name(const char *name)
{
    if (strncmp(name, "monitor-", 8) != 0 || strlen(name) != 19 || strcmp(name + 16, ".db") != 0)
        return false;
    for (int i = 8; i < 16; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

int agg_backup_prune(const char *dir, int keep_days, int64_t now_utc_s, int *ret_removed)
{
    DIR *d;
    struct dirent *e;
    int removed = 0, r = MON_OK;
    int64_t cutoff = now_utc_s - (int64_t)keep_days * 86400;

    if (!dir || keep_days < 1)
        return MON_EINVAL;
    d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            return mon_err_from_errno(errno);
        *ret_removed = 0;
        return MON_OK;
    }
    while ((e = readdir(d)) != NULL) {
        char path[PATH_LEN];
        struct stat sb;
        if (!is_backup_name(e->d_name))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if ((int64_t)sb.st_mtime >= cutoff) {
            /* Kept: one made 0644 by an older version is narrowed like new ones. */
            (void)mon_os_restrict_mode(path, 0600, NULL);
            continue;
        }
        if (remove(path) == 0)
            removed++;
        else
            r = mon_err_from_errno(errno);
    }
    closedir(d);
    if (r < 0)
        return r;
    *ret_removed = removed;
    return MON_OK;
}

int agg_backup_daily_run(struct agg_store *st, const char *dir, int keep_days, int64_t now_utc_s,
                         bool *ret_written, char *path_out, size_t path_len, char *why,
                         size_t why_len)
{
    char name[32];
    bool written = false;
    int r, removed = 0;

    mon_str_format(why, why_len, "%s", "");
    if (!st || !dir || !path_out || keep_days < 1) {
        mon_str_format(why, why_len, "invalid arguments");
        return MON_EINVAL;
    }
    r = mon_os_mkdir_p(dir);
    if (r < 0) {
        mon_str_format(why, why_len, "cannot create %s: %s", dir, mon_strerror(r));
        return r;
    }
    r = agg_backup_daily_name(now_utc_s, name, sizeof(name));
    if (r < 0 || snprintf(path_out, path_len, "%s/%s", dir, name) >= (int)path_len) {
        mon_str_format(why, why_len, "path too long");
        return MON_ETOOBIG;
    }
    if (!mon_os_path_exists(path_out)) {
        r = agg_store_backup_to(st, path_out, why, why_len);
        if (r < 0)
            return r;
        written = true;
    }
    r = agg_backup_prune(dir, keep_days, now_utc_s, &removed);
    if (r < 0) {
        mon_str_format(why, why_len, "cannot prune old backups in %s: %s", dir, mon_strerror(r));
        return r;
    }
    *ret_written = written;
    return removed;
}

struct agg_backup_sched {
    struct agg_backup_options opt;
    char *dir;
    pthread_t thread;
    pthread_mutex_t lock;
    struct mon_cond wake;
    bool stop; /* under lock */
};

int64_t agg_backup_retry_delay_ms(int failures, int64_t min_ms, int64_t max_ms)
{
    int64_t d = min_ms;
    for (int i = 1; i < failures && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}

static void *sched_main(void *arg)
{
    struct agg_backup_sched *b = arg;
    int64_t next = mon_mono_ms() + b->opt.first_delay_ms;
    int failures = 0;

    pthread_mutex_lock(&b->lock);
    while (!b->stop) {
        int64_t now = mon_mono_ms();
        char path[PATH_LEN], why[512];
        struct agg_backup_result res = {0};
        int r;
        if (now < next) {
            mon_cond_wait_until(&b->wake, &b->lock, next);
            continue;
        }
        pthread_mutex_unlock(&b->lock);
        r = agg_backup_daily_run(b->opt.store, b->dir, b->opt.keep_days, mon_utc_ms() / 1000,
                                 &res.written, path, sizeof(path), why, sizeof(why));
        /* A failed backup (full disk, a folder that went away) is tried again soon, then
         * less often, rather than a day later; a success returns to the daily rhythm. */
        failures = r < 0 ? failures + 1 : 0;
        res.rc = r < 0 ? r : MON_OK;
        res.removed = r > 0 ? r : 0;
        res.text = r < 0 ? why : path;
        res.failures = failures;
        res.next_in_ms =
            r < 0 ? agg_backup_retry_delay_ms(failures, b->opt.retry_min_ms, b->opt.retry_max_ms)
                  : b->opt.period_ms;
        if (b->opt.report)
            b->opt.report(b->opt.report_ctx, &res);
        next = mon_mono_ms() + res.next_in_ms;
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int agg_backup_sched_start(const struct agg_backup_options *opt, struct agg_backup_sched **ret)
{
    struct agg_backup_sched *b;

    if (!opt || !opt->store || !opt->dir || opt->keep_days < 1 || !ret)
        return MON_EINVAL;
    b = calloc(1, sizeof(*b));
    if (!b)
        return MON_ENOMEM;
    b->opt = *opt;
    b->dir = strdup(opt->dir);
    if (!b->dir) {
        free(b);
        return MON_ENOMEM;
    }
    b->opt.dir = b->dir;
    if (b->opt.first_delay_ms <= 0)
        b->opt.first_delay_ms = DEFAULT_FIRST_DELAY_MS;
    if (b->opt.period_ms <= 0)
        b->opt.period_ms = DEFAULT_PERIOD_MS;
    if (b->opt.retry_min_ms <= 0)
        b->opt.retry_min_ms = DEFAULT_RETRY_MIN_MS;
    if (b->opt.retry_max_ms < b->opt.retry_min_ms)
        b->opt.retry_max_ms =
            DEFAULT_RETRY_MAX_MS > b->opt.retry_min_ms ? DEFAULT_RETRY_MAX_MS : b->opt.retry_min_ms;
    if (mon_cond_init(&b->wake) != MON_OK) {
        free(b->dir);
        free(b);
        return MON_ENOMEM;
    }
    pthread_mutex_init(&b->lock, NULL);
    if (pthread_create(&b->thread, NULL, sched_main, b) != 0) {
        mon_cond_destroy(&b->wake);
        pthread_mutex_destroy(&b->lock);
        free(b->dir);
        free(b);
        return MON_ESYS;
    }
    *ret = b;
    return MON_OK;
}

void agg_backup_sched_stop(struct agg_backup_sched *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->stop = true;
    mon_cond_broadcast(&b->wake);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    mon_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->lock);
    free(b->dir);
    free(b);
}
