/* SPDX-License-Identifier: MIT */
/* What only the PostgreSQL backend has, on new databases in the server of the CTest fixture
 * pg: monthly partitions (ahead, on demand, dropped by retention, recreated when missing), a
 * checkpoint racing a delete, the reconnect after the server ended the session, the password
 * sources, the instance lock, text that is not UTF-8, and the backup and restore answers. The
 * cases both backends share are in test_store.c, the copies in test_store_copy_pg.c. */
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "support/test_os.h"
#include "support/test_pg.h"
#include "support/test_store_pg.h"

/* ---- partitions ---- */

static void test_partitions_ahead_and_on_demand(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a");
    int64_t old = mon_utc_from_date(2020, 3, 14), far = mon_utc_from_date(2031, 7, 2);
    struct agg_hourly_row rows[2] = {hourly(a, old, 10), hourly(a, far, 20)};
    struct agg_hourly_row got;
    int year = 0, month = 0;
    char name[64];

    /* This month and the next two of every history table exist from the start. */
    for (int i = 0; i < 3; i++) {
        (void)mon_utc_month_start(mon_utc_ms() / 1000, i, &year, &month);
        snprintf(name, sizeof(name), "samples_hourly_p%04d%02d", year, month);
        assert_true(table_exists(f->uri, name));
        snprintf(name, sizeof(name), "service_status_p%04d%02d", year, month);
        assert_true(table_exists(f->uri, name));
    }
    /* A bucket of a month without a partition gets one. */
    assert_false(table_exists(f->uri, "samples_hourly_p202003"));
    assert_int_equal(agg_store_hourly_upsert(f->st, rows, 2, NULL, 0, NULL, 0), MON_OK);
    assert_true(table_exists(f->uri, "samples_hourly_p202003"));
    assert_true(table_exists(f->uri, "samples_hourly_p203107"));
    assert_int_equal(raw_int(f->uri, "SELECT COUNT(*) FROM samples_hourly_p202003"), 1);
    assert_int_equal(agg_store_hourly_get(f->st, a, far, &got), MON_OK);
    assert_float_equal(got.cpu_pct_avg, 20, 1e-12);
    assert_int_equal(agg_store_service_status_add(f->st, a, mon_utc_from_date(2019, 5, 31) + 5,
                                                  "x.service", "active", "running"),
                     MON_OK);
    assert_true(table_exists(f->uri, "service_status_p201905"));
    /* A partition is a month: [first second, first second of the next). */
    assert_int_equal(raw_int(f->uri, "SELECT COUNT(*) FROM service_status_p201905"), 1);
    assert_int_equal(agg_store_check(f->st, NULL, 0), MON_OK);
}

/* Two rows with the same key in one checkpoint: the later wins, as a second upsert would. */
static void test_same_key_twice_in_one_checkpoint(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a"), t = mon_utc_from_date(2026, 1, 1);
    struct agg_hourly_row rows[3] = {hourly(a, t, 1), hourly(a, t + 3600, 5), hourly(a, t, 2)};
    struct agg_hourly_row got;

    assert_int_equal(agg_store_hourly_upsert(f->st, rows, 3, NULL, 0, NULL, 0), MON_OK);
    assert_int_equal(agg_store_hourly_get(f->st, a, t, &got), MON_OK);
    assert_float_equal(got.cpu_pct_avg, 2, 1e-12);
    assert_int_equal(raw_int(f->uri, "SELECT COUNT(*) FROM samples_hourly"), 2);
}

/* Retention drops the months that end before the cutoff and deletes the older rows of the
 * month that holds it; the count is exact. */
static void test_retention_drops_whole_months(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a");
    int64_t jan = mon_utc_from_date(2021, 1, 10), feb5 = mon_utc_from_date(2021, 2, 5),
            feb20 = mon_utc_from_date(2021, 2, 20), mar = mon_utc_from_date(2021, 3, 3),
            cutoff = mon_utc_from_date(2021, 2, 15), deleted = -1;
    int64_t times[4] = {jan, feb5, feb20, mar};
    static const char *const tables[] = {"samples_hourly", "gpu_samples_hourly",
                                         "disk_samples_hourly", "service_status", "events"};
    char sql[200];

    for (int i = 0; i < 4; i++) {
        struct agg_hourly_row h = hourly(a, times[i], i);
        struct agg_gpu_hourly_row g = gpu(a, times[i]);
        struct agg_disk_hourly_row d = disk(a, times[i]);
        struct agg_event e = {.server_id = a, .ts = times[i]};
        snprintf(e.type, sizeof(e.type), "server_up");
        snprintf(e.server_name, sizeof(e.server_name), "a");
        assert_int_equal(agg_store_hourly_upsert(f->st, &h, 1, &g, 1, &d, 1), MON_OK);
        assert_int_equal(
            agg_store_service_status_add(f->st, a, times[i], "u.service", "active", "running"),
            MON_OK);
        assert_int_equal(agg_store_event_add(f->st, &e), MON_OK);
    }
    assert_true(table_exists(f->uri, "gpu_samples_hourly_p202101"));
    /* Jan goes whole (4 tables x 1), Feb 5 is deleted (4 x 1), and 2 old events. */
    assert_int_equal(agg_store_retention(f->st, cutoff, &deleted), MON_OK);
    assert_int_equal(deleted, 4 + 4 + 2);
    for (size_t i = 0; i < 4; i++) {
        snprintf(sql, sizeof(sql), "%s_p202101", tables[i]);
        assert_false(table_exists(f->uri, sql));
        snprintf(sql, sizeof(sql), "%s_p202102", tables[i]);
        assert_true(table_exists(f->uri, sql));
    }
    for (size_t i = 0; i < 5; i++) {
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE ts < %lld", tables[i],
                 (long long)cutoff);
        assert_int_equal(raw_int(f->uri, sql), 0);
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE ts >= %lld", tables[i],
                 (long long)cutoff);
        assert_int_equal(raw_int(f->uri, sql), i == 4 ? 3 : 2); /* + the server_added event */
    }
    assert_int_equal(agg_store_retention(f->st, cutoff, &deleted), MON_OK);
    assert_int_equal(deleted, 0);
    /* A late bucket of a dropped month gets its partition back. */
    {
        struct agg_hourly_row late = hourly(a, jan + 3600, 7);
        assert_int_equal(agg_store_hourly_upsert(f->st, &late, 1, NULL, 0, NULL, 0), MON_OK);
        assert_true(table_exists(f->uri, "samples_hourly_p202101"));
    }
}

/* A partition dropped behind the store's back: the write fails once with the server's reason
 * (the writer retries), the next one recreates it. */
static void test_missing_partition_recreated(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a"), now = mon_utc_ms() / 1000 / 3600 * 3600;
    struct agg_hourly_row h = hourly(a, now, 3);
    int year = 0, month = 0;
    char name[64], sql[128];

    assert_int_equal(agg_store_hourly_upsert(f->st, &h, 1, NULL, 0, NULL, 0), MON_OK);
    (void)mon_utc_month_start(now, 0, &year, &month);
    snprintf(name, sizeof(name), "samples_hourly_p%04d%02d", year, month);
    snprintf(sql, sizeof(sql), "DROP TABLE %s", name);
    raw_exec(f->uri, sql);
    assert_int_equal(agg_store_check(f->st, NULL, 0), MON_EIO);
    assert_non_null(strstr(agg_store_last_error(f->st), "missing"));
    assert_int_equal(agg_store_hourly_upsert(f->st, &h, 1, NULL, 0, NULL, 0), MON_EIO);
    assert_non_null(strstr(agg_store_last_error(f->st), "no partition"));
    assert_int_equal(agg_store_hourly_upsert(f->st, &h, 1, NULL, 0, NULL, 0), MON_OK);
    assert_true(table_exists(f->uri, name));
    assert_int_equal(agg_store_check(f->st, NULL, 0), MON_OK);
}

/* A server deleted by another session while a checkpoint is being written: the foreign key
 * check fails that attempt, the store runs it again without the deleted server's rows. */
struct committer {
    PGconn *conn;
    int delay_ms;
};

static void *commit_later(void *arg)
{
    struct committer *c = arg;
    mon_sleep_ms(c->delay_ms);
    PQclear(PQexec(c->conn, "COMMIT"));
    return NULL;
}

static void test_checkpoint_survives_concurrent_delete(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a"), b = add_server(f->st, "b");
    int64_t t = mon_utc_from_date(2026, 4, 10);
    struct agg_hourly_row rows[2] = {hourly(a, t, 1), hourly(b, t, 2)};
    struct committer c = {.delay_ms = 300};
    pthread_t thread;
    char sql[128];

    /* The month's partition exists already (making one waits for the deleting session). */
    assert_int_equal(agg_store_hourly_upsert(f->st, rows, 1, NULL, 0, NULL, 0), MON_OK);
    rows[0].samples++;
    c.conn = PQconnectdb(f->uri);
    assert_int_equal(PQstatus(c.conn), CONNECTION_OK);
    snprintf(sql, sizeof(sql), "BEGIN; DELETE FROM servers WHERE id = %lld", (long long)b);
    PQclear(PQexec(c.conn, sql));
    assert_int_equal(pthread_create(&thread, NULL, commit_later, &c), 0);
    assert_int_equal(agg_store_hourly_upsert(f->st, rows, 2, NULL, 0, NULL, 0), MON_OK);
    pthread_join(thread, NULL);
    PQfinish(c.conn);
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM samples_hourly WHERE server_id = %lld",
             (long long)a);
    assert_int_equal(raw_int(f->uri, sql), 1);
    assert_int_equal(raw_int(f->uri, "SELECT COUNT(*) FROM samples_hourly"), 1);
    assert_int_equal(raw_int(f->uri, "SELECT samples FROM samples_hourly"), 13);
}

/* A table without one of its columns (edited by hand, a half-restored dump) is refused at open
 * and by the check, naming the column. */
static void test_schema_check_names_the_missing_column(void **state)
{
    struct fx *f = *state;
    struct agg_store *other = NULL;
    char why[512];

    raw_exec(f->uri, "ALTER TABLE gpu_samples_hourly DROP COLUMN temp_c_max");
    assert_int_equal(agg_store_check(f->st, why, sizeof(why)), MON_EIO);
    assert_non_null(strstr(why, "temp_c_max"));
    assert_int_equal(agg_store_open(f->uri, 1000, &other, why, sizeof(why)), MON_EIO);
    assert_non_null(strstr(why, "schema check"));
    assert_non_null(strstr(why, "temp_c_max"));
    assert_null(other);
}

/* ---- connection ---- */

/* The server ends every session of the database (pg_terminate_backend): the next calls work
 * on a new session, statements prepared again, nothing reported. */
static void test_reconnect_after_terminate(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a"), now = mon_utc_ms() / 1000 / 3600 * 3600;
    struct agg_hourly_row h = hourly(a, now, 1);
    struct agg_server *list = NULL;
    struct agg_point *p = NULL;
    size_t n = 0;
    char sql[256];

    assert_int_equal(agg_store_timeseries(f->st, a, "cpu_pct", "avg", 0, now, &p, &n), MON_OK);
    free(p);
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' "
             "AND pid <> pg_backend_pid()",
             f->db);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(raw_int(f->uri, sql), 1);
        assert_int_equal(agg_store_server_list(f->st, &list, &n), MON_OK);
        assert_int_equal(n, 1);
        agg_server_list_free(list, n);
        assert_string_equal(agg_store_last_error(f->st), "");
        assert_int_equal(raw_int(f->uri, sql), 1);
        h.samples += 1;
        assert_int_equal(agg_store_hourly_upsert(f->st, &h, 1, NULL, 0, NULL, 0), MON_OK);
        assert_int_equal(raw_int(f->uri, sql), 1);
        assert_int_equal(agg_store_timeseries(f->st, a, "cpu_pct", "avg", 0, now, &p, &n), MON_OK);
        assert_int_equal(n, 1);
        free(p);
    }
    snprintf(sql, sizeof(sql), "SELECT samples FROM samples_hourly WHERE server_id = %lld",
             (long long)a);
    assert_int_equal(raw_int(f->uri, sql), 15);
}

/* The password from the URI, from the password file's secret or from PGPASSFILE; a wrong or
 * missing one is refused with libpq's reason and the database named without any password. */
static void test_password_sources(void **state)
{
    struct fx *f = *state;
    struct agg_store *st = NULL;
    char password[128], sql[256], uri[300], passfile[128], line[300], why[512];
    int port = test_pg_port();
    FILE *pf;

    assert_int_equal(test_pg_password(password, sizeof(password)), 0);
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s OWNER TO lanmon_pw", f->db);
    test_pg_uri("postgres", uri, sizeof(uri));
    raw_exec(uri, sql);

    snprintf(uri, sizeof(uri), "postgresql://lanmon_pw:wrong-Pa55@127.0.0.1:%d/%s", port, f->db);
    assert_int_equal(agg_store_open(uri, 1000, &st, why, sizeof(why)), MON_EIO);
    assert_non_null(strstr(why, "password authentication failed"));
    snprintf(line, sizeof(line), "postgresql://lanmon_pw@127.0.0.1:%d/%s: ", port, f->db);
    assert_non_null(strstr(why, line));
    assert_null(strstr(why, "wrong-Pa55"));

    snprintf(uri, sizeof(uri), "postgresql://lanmon_pw@127.0.0.1:%d/%s", port, f->db);
    unsetenv("PGPASSFILE");
    unsetenv("PGPASSWORD");
    assert_int_equal(agg_store_open(uri, 1000, &st, why, sizeof(why)), MON_EIO);
    assert_non_null(strstr(why, "password"));

    /* database_password_file's secret, the schema made by the owner lanmon_pw. */
    assert_int_equal(agg_store_open_ex(uri, password, 1000, 0, &st, why, sizeof(why)), MON_OK);
    assert_int_equal(agg_store_check(st, why, sizeof(why)), MON_OK);
    agg_store_close(st);
    st = NULL;

    /* A password in the URI wins over the file's. */
    snprintf(uri, sizeof(uri), "postgresql://lanmon_pw:%s@127.0.0.1:%d/%s", password, port, f->db);
    assert_int_equal(agg_store_open_ex(uri, "not-this", 1000, 0, &st, why, sizeof(why)), MON_OK);
    agg_store_close(st);
    st = NULL;

    /* PGPASSFILE (libpq wants it private). */
    snprintf(passfile, sizeof(passfile), "%s/pgpass", f->dir);
    pf = fopen(passfile, "w");
    assert_non_null(pf);
    fprintf(pf, "127.0.0.1:%d:*:lanmon_pw:%s\n", port, password);
    fclose(pf);
    chmod(passfile, 0600);
    setenv("PGPASSFILE", passfile, 1);
    snprintf(uri, sizeof(uri), "postgresql://lanmon_pw@127.0.0.1:%d/%s", port, f->db);
    assert_int_equal(agg_store_open(uri, 1000, &st, why, sizeof(why)), MON_OK);
    unsetenv("PGPASSFILE");
    agg_store_close(st);
}

/* One aggregator per database: the lock of the first open store refuses a second one, until
 * it is closed; it is taken again after a reconnect. */
static void test_instance_lock(void **state)
{
    struct fx *f = *state;
    struct agg_store *b = NULL, *c = NULL;
    struct agg_server *list = NULL;
    size_t n = 0;
    char why[512], sql[256];

    assert_int_equal(agg_store_lock_instance(f->st, why, sizeof(why)), MON_OK);
    assert_int_equal(agg_store_open(f->uri, 1000, &b, why, sizeof(why)), MON_OK);
    assert_int_equal(agg_store_lock_instance(b, why, sizeof(why)), MON_EBUSY);
    assert_non_null(strstr(why, "another monitor-aggregator"));
    assert_non_null(strstr(why, f->db));
    agg_store_close(f->st);
    f->st = NULL;
    /* The server releases a session's locks when its process has ended, just after. */
    for (int64_t end = mon_mono_ms() + 5000;
         agg_store_lock_instance(b, why, sizeof(why)) == MON_EBUSY && mon_mono_ms() < end;)
        mon_sleep_ms(20);
    assert_int_equal(agg_store_lock_instance(b, why, sizeof(why)), MON_OK);

    snprintf(sql, sizeof(sql),
             "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' "
             "AND pid <> pg_backend_pid()",
             f->db);
    assert_int_equal(raw_int(f->uri, sql), 1);
    assert_int_equal(agg_store_server_list(b, &list, &n), MON_OK); /* reconnects, re-locks */
    agg_server_list_free(list, n);
    assert_int_equal(agg_store_open(f->uri, 1000, &c, why, sizeof(why)), MON_OK);
    assert_int_equal(agg_store_lock_instance(c, why, sizeof(why)), MON_EBUSY);
    agg_store_close(c);

    /* b's session ends and c takes the lock before b reconnects: b writes nothing until the
     * lock is b's again. */
    assert_int_equal(raw_int(f->uri, sql), 1);
    assert_int_equal(agg_store_open(f->uri, 1000, &c, why, sizeof(why)), MON_OK);
    for (int64_t end = mon_mono_ms() + 5000;
         agg_store_lock_instance(c, why, sizeof(why)) == MON_EBUSY && mon_mono_ms() < end;)
        mon_sleep_ms(20);
    assert_int_equal(agg_store_server_list(b, &list, &n), MON_EBUSY);
    assert_non_null(strstr(agg_store_last_error(b), "another monitor-aggregator"));
    assert_int_equal(agg_store_server_list(b, &list, &n), MON_EBUSY);
    agg_store_close(c);
    for (int64_t end = mon_mono_ms() + 5000;
         agg_store_server_list(b, &list, &n) == MON_EBUSY && mon_mono_ms() < end;)
        mon_sleep_ms(20);
    assert_int_equal(agg_store_server_list(b, &list, &n), MON_OK);
    agg_server_list_free(list, n);
    agg_store_close(b);
}

/* Text that is not UTF-8 (a name cut inside a character) does not cost the checkpoint. */
static void test_invalid_utf8_stored_with_question_marks(void **state)
{
    struct fx *f = *state;
    int64_t a = add_server(f->st, "a"), t = mon_utc_from_date(2026, 3, 1);
    struct agg_gpu_hourly_row g = gpu(a, t), *got = NULL;
    struct agg_disk_hourly_row d = disk(a, t);
    size_t n = 0;

    snprintf(g.name, sizeof(g.name), "GPU \xe4\xbd");             /* cut after 2 of 3 bytes */
    snprintf(d.mount, sizeof(d.mount), "/mnt/\xff\xfe-\xc3\xa9"); /* stray bytes, then é */
    assert_int_equal(agg_store_hourly_upsert(f->st, NULL, 0, &g, 1, &d, 1), MON_OK);
    assert_int_equal(agg_store_gpu_hourly_get(f->st, a, t, &got, &n), MON_OK);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].name, "GPU ??");
    free(got);
    assert_int_equal(raw_int(f->uri, "SELECT COUNT(*) FROM disk_samples_hourly WHERE mount = "
                                     "'/mnt/?"
                                     "?-\xc3\xa9'"),
                     1);
    assert_int_equal(agg_store_service_status_add(f->st, a, t, "bad\x80.service", "act\xc3", "ok"),
                     MON_OK);
    assert_int_equal(raw_int(f->uri, "SELECT COUNT(*) FROM service_status WHERE unit_name = "
                                     "'bad?.service' AND active_state = 'act?'"),
                     1);
}

/* ---- backup and restore ---- */

static void test_backup_restore_name_the_tools(void **state)
{
    struct fx *f = *state;
    char dest[128], why[1024];
    struct stat sb;

    snprintf(dest, sizeof(dest), "%s/x.dump", f->dir);
    assert_int_equal(agg_store_backup_to(f->st, dest, why, sizeof(why)), MON_EUNSUPPORTED);
    assert_non_null(strstr(why, "pg_dump --format=custom"));
    assert_non_null(strstr(why, f->uri));
    assert_non_null(strstr(why, "pg_restore"));
    assert_int_equal(stat(dest, &sb), -1);
    assert_int_equal(agg_store_restore_check(f->uri, why, sizeof(why)), MON_EUNSUPPORTED);
    assert_non_null(strstr(why, "pg_restore"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_partitions_ahead_and_on_demand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_key_twice_in_one_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_drops_whole_months, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_partition_recreated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_survives_concurrent_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_schema_check_names_the_missing_column, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_terminate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_sources, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_instance_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_stored_with_question_marks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backup_restore_name_the_tools, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
