/* SPDX-License-Identifier: MIT */
/* The database watch: the integrity check after start (in the background, interruptible), the
 * database file compared by identity with the one opened at start, and the daily backups'
 * results, each logged once when it changes and shown in /api/health. */
#include "aggregator/dbwatch.h"

#include "aggregator/backup.h"
#include "aggregator/dbname.h"
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/os/cond.h"
#include "common/json.h"
#include "common/log.h"
#include "common/os/lock.h"
#include "common/os/os.h"
#include "common/str.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_WATCH_MS 2000
#define CHECK_BUSY_MS    5000 /* the check's connection waits this long for a lock at open */
#define INTERRUPT_MS     20   /* stop repeats the interrupt until the check has returned */
#define TEXT_LEN         600
#define PATH_LEN         (MON_PATH_MAX + MON_PATH_SUFFIX_MAX)

enum integrity_state { INTEGRITY_CHECKING, INTEGRITY_OK, INTEGRITY_FAILED };

static const char *const integrity_names[] = {"checking", "ok", "failed"};

struct agg_dbwatch {
    char *database;
    char *password; /* database_password_file's secret, or NULL */
    char name[512]; /* the database as it may be printed (without a password) */
    bool in_file, backups;
    int64_t watch_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    struct mon_cond wake;
    /* Everything below is under lock. */
    bool stop;
    struct agg_store *checking; /* the check's connection while the check runs */
    enum integrity_state integrity;
    char integrity_detail[TEXT_LEN];
    int64_t integrity_at; /* UTC s the check ended; -1 */
    int64_t integrity_ms; /* how long it took; -1 */
    bool have_id;
    struct mon_os_file_id id;    /* the file opened at start */
    char file_problem[TEXT_LEN]; /* "" while the path still names that file */
    int64_t file_problem_since;  /* UTC s; -1 */
    int backup_runs, backup_failures;
    bool backup_ok;
    int64_t backup_attempt_at, backup_success_at, backup_next_at; /* UTC s; -1 */
    char backup_file[PATH_LEN], backup_error[TEXT_LEN];
};

static int64_t now_s(void)
{
    return mon_utc_ms() / 1000;
}

/* The store's own consistency check on a connection of its own: a damaged page otherwise goes
 * unnoticed until a request happens to read it. */
static void run_integrity_check(struct agg_dbwatch *w)
{
    struct agg_store *st = NULL;
    char why[TEXT_LEN] = "";
    int64_t t0 = mon_mono_ms(), took;
    bool stopped;
    int r;

    r = agg_store_open_ex(w->database, w->password, CHECK_BUSY_MS, 0, &st, why, sizeof(why));
    pthread_mutex_lock(&w->lock);
    stopped = w->stop;
    if (r >= 0 && !stopped)
        w->checking = st;
    pthread_mutex_unlock(&w->lock);
    if (r >= 0 && !stopped)
        r = agg_store_check(st, why, sizeof(why));
    pthread_mutex_lock(&w->lock);
    w->checking = NULL;
    stopped = w->stop;
    mon_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    agg_store_close(st);
    if (stopped)
        return; /* interrupted: neither passed nor failed */
    took = mon_mono_ms() - t0;
    pthread_mutex_lock(&w->lock);
    w->integrity = r < 0 ? INTEGRITY_FAILED : INTEGRITY_OK;
    mon_strlcpy(w->integrity_detail, r < 0 ? why : "", sizeof(w->integrity_detail));
    w->integrity_at = now_s();
    w->integrity_ms = took;
    pthread_mutex_unlock(&w->lock);
    if (r < 0 && w->in_file)
        mon_error("integrity check of the database %s FAILED: %s. Requests that read the damaged "
                  "part fail and its data may be lost: stop the aggregator and restore a backup "
                  "(monitor-aggregator --restore FILE); --check-db shows the details",
                  w->name, why);
    else if (r < 0)
        mon_error("check of the database %s FAILED: %s; --check-db shows the details", w->name,
                  why);
    else
        mon_info("integrity check of the database %s: ok (%lld ms)", w->name, (long long)took);
}

/* Compares the file the database's path names now with the one opened at start. */
static void look_at_file(struct agg_dbwatch *w)
{
    struct mon_os_file_id id;
    char problem[TEXT_LEN] = "";
    bool changed;
    int r = mon_os_file_id(w->database, &id);

    if (r == MON_ENOENT)
        snprintf(problem, sizeof(problem),
                 "the database file %s was deleted or moved away while the aggregator runs: "
                 "what it writes now is lost when it stops. Put it back, or restore a backup "
                 "(stop it, then monitor-aggregator --restore FILE)",
                 w->database);
    else if (r < 0)
        snprintf(problem, sizeof(problem), "the database file %s cannot be examined: %s",
                 w->database, mon_strerror(r));
    else if (!mon_os_same_file(&id, &w->id))
        snprintf(problem, sizeof(problem),
                 "the database file %s was replaced by another file while the aggregator runs: "
                 "it still writes to the old one, which is lost when it stops. Stop it and put "
                 "the file you want in place with monitor-aggregator --restore FILE",
                 w->database);
    else if (id.size == 0)
        snprintf(problem, sizeof(problem),
                 "the database file %s was emptied (0 bytes) while the aggregator runs: its data "
                 "is gone. Restore a backup (stop it, then monitor-aggregator --restore FILE)",
                 w->database);
    pthread_mutex_lock(&w->lock);
    changed = strcmp(problem, w->file_problem) != 0;
    if (changed) {
        mon_strlcpy(w->file_problem, problem, sizeof(w->file_problem));
        w->file_problem_since = problem[0] ? now_s() : -1;
    }
    pthread_mutex_unlock(&w->lock);
    if (changed && problem[0])
        mon_error("%s", problem);
    else if (changed)
        mon_info("the database file %s is in place again", w->database);
}

static void *watch_main(void *arg)
{
    struct agg_dbwatch *w = arg;

    run_integrity_check(w);
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        mon_cond_wait_until(&w->wake, &w->lock, mon_cond_deadline(w->watch_ms));
        if (w->stop || !w->in_file || !w->have_id)
            continue;
        pthread_mutex_unlock(&w->lock);
        look_at_file(w);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* The identity of the database file at start, and a warning when it has other names. */
static void take_identity(struct agg_dbwatch *w)
{
    if (!w->in_file || mon_os_file_id(w->database, &w->id) < 0)
        return;
    w->have_id = true;
    if (w->id.links > 1)
        mon_warn("the database file %s has %lu names (hard links): use only this one. SQLite "
                 "keeps the -wal and -shm files beside the name a program opens, so a program "
                 "opening another name does not see the latest writes",
                 w->database, w->id.links);
}

int agg_dbwatch_start(const struct agg_dbwatch_options *opt, struct agg_dbwatch **ret)
{
    struct agg_dbwatch *w;

    if (!opt || !opt->database || !ret)
        return MON_EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return MON_ENOMEM;
    w->database = strdup(opt->database);
    w->password = opt->password ? strdup(opt->password) : NULL;
    if (!w->database || (opt->password && !w->password)) {
        free(w->database);
        free(w->password);
        free(w);
        return MON_ENOMEM;
    }
    agg_db_display(opt->database, w->name, sizeof(w->name));
    w->in_file = agg_store_in_file(opt->database);
    w->backups = opt->backups;
    w->watch_ms = opt->watch_ms > 0 ? opt->watch_ms : DEFAULT_WATCH_MS;
    w->integrity = INTEGRITY_CHECKING;
    w->integrity_at = w->integrity_ms = w->file_problem_since = -1;
    w->backup_attempt_at = w->backup_success_at = w->backup_next_at = -1;
    take_identity(w);
    if (mon_cond_init(&w->wake) != MON_OK) {
        free(w->database);
        free(w->password);
        free(w);
        return MON_ENOMEM;
    }
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        mon_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w->database);
        free(w->password);
        free(w);
        return MON_ESYS;
    }
    *ret = w;
    return MON_OK;
}

void agg_dbwatch_stop(struct agg_dbwatch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    mon_cond_broadcast(&w->wake);
    /* An interrupt that lands just before the check's statement starts is forgotten by
     * SQLite, so it is repeated until the check has returned. */
    while (w->checking) {
        agg_store_interrupt(w->checking);
        mon_cond_wait_until(&w->wake, &w->lock, mon_cond_deadline(INTERRUPT_MS));
    }
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    mon_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w->database);
    free(w->password);
    free(w);
}

void agg_dbwatch_backup_report(void *ctx, const struct agg_backup_result *res)
{
    struct agg_dbwatch *w = ctx;
    int64_t now = now_s();

    if (res->rc < 0)
        mon_warn("daily backup failed: %s; trying again in %lld s (%d failure(s) in a row)",
                 res->text, (long long)(res->next_in_ms / 1000), res->failures);
    else if (res->written)
        mon_info("daily backup written to %s", res->text);
    if (res->removed > 0)
        mon_info("removed %d old backup(s)", res->removed);
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->backup_runs++;
    w->backup_ok = res->rc >= 0;
    w->backup_failures = res->failures;
    w->backup_attempt_at = now;
    w->backup_next_at = now + res->next_in_ms / 1000;
    if (res->rc >= 0) {
        w->backup_success_at = now;
        mon_strlcpy(w->backup_file, res->text, sizeof(w->backup_file));
        w->backup_error[0] = '\0';
    } else {
        mon_strlcpy(w->backup_error, res->text, sizeof(w->backup_error));
    }
    pthread_mutex_unlock(&w->lock);
}

static void add_text_or_null(cJSON *obj, const char *name, const char *text)
{
    if (text && *text)
        cJSON_AddStringToObject(obj, name, text);
    else
        cJSON_AddNullToObject(obj, name);
}

/* Lock held. */
static bool add_integrity_locked(struct agg_dbwatch *w, cJSON *db)
{
    MON_ASSERT_LOCKED(&w->lock);
    cJSON *o = cJSON_AddObjectToObject(db, "integrity");
    if (!o)
        return false;
    cJSON_AddStringToObject(o, "state", integrity_names[w->integrity]);
    add_text_or_null(o, "detail", w->integrity_detail);
    mon_json_add_time(o, "checked_at", w->integrity_at);
    mon_json_add_opt(o, "duration_ms", w->integrity_ms >= 0, (double)w->integrity_ms, 0);
    return w->integrity == INTEGRITY_FAILED;
}

/* Lock held. */
static bool add_file_locked(struct agg_dbwatch *w, cJSON *db)
{
    MON_ASSERT_LOCKED(&w->lock);
    cJSON *o;
    if (!w->in_file) {
        cJSON_AddNullToObject(db, "file");
        return false;
    }
    o = cJSON_AddObjectToObject(db, "file");
    if (!o)
        return false;
    cJSON_AddBoolToObject(o, "ok", !w->file_problem[0]);
    add_text_or_null(o, "problem", w->file_problem);
    mon_json_add_time(o, "since", w->file_problem_since);
    return w->file_problem[0] != '\0';
}

/* Lock held. */
static bool add_backup_locked(struct agg_dbwatch *w, cJSON *root)
{
    MON_ASSERT_LOCKED(&w->lock);
    cJSON *o = cJSON_AddObjectToObject(root, "backup");
    if (!o)
        return false;
    cJSON_AddBoolToObject(o, "enabled", w->backups);
    if (w->backup_runs)
        cJSON_AddBoolToObject(o, "ok", w->backup_ok);
    else
        cJSON_AddNullToObject(o, "ok");
    mon_json_add_time(o, "last_attempt_at", w->backup_attempt_at);
    mon_json_add_time(o, "last_success_at", w->backup_success_at);
    add_text_or_null(o, "last_file", w->backup_file);
    add_text_or_null(o, "last_error", w->backup_ok ? NULL : w->backup_error);
    cJSON_AddNumberToObject(o, "failures", (double)w->backup_failures);
    mon_json_add_time(o, "next_attempt_at", w->backup_next_at);
    return w->backup_runs && !w->backup_ok;
}

void agg_dbwatch_health_json(struct agg_dbwatch *w, cJSON *root)
{
    cJSON *db, *degraded = NULL;
    bool bad;

    if (!w || !root)
        return;
    db = cJSON_GetObjectItemCaseSensitive(root, "db");
    if (!db)
        db = cJSON_AddObjectToObject(root, "db");
    if (!db)
        return;
    pthread_mutex_lock(&w->lock);
    bad = add_integrity_locked(w, db);
    bad = add_file_locked(w, db) || bad;
    bad = add_backup_locked(w, root) || bad;
    pthread_mutex_unlock(&w->lock);
    if (bad && (degraded = cJSON_CreateString("degraded")) &&
        !cJSON_ReplaceItemInObjectCaseSensitive(root, "status", degraded) &&
        !cJSON_AddItemToObject(root, "status", degraded))
        cJSON_Delete(degraded);
}
