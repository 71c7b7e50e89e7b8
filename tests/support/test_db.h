/* SPDX-License-Identifier: MIT */
/* Direct SQLite access for the store and backup unit tests: a value read or a statement run on
 * a database file behind the store's back (include after cmocka.h: failures are asserts). */
#ifndef MON_TESTS_SUPPORT_TEST_DB_H
#define MON_TESTS_SUPPORT_TEST_DB_H

#include <sqlite3.h>
#include <stdint.h>

/* The first column of the first row of sql, read through a read-only connection. */
static inline int64_t test_db_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* Runs sql (several statements allowed) on its own connection. */
static inline void test_db_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

#endif
