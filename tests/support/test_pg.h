/* SPDX-License-Identifier: MIT */
/* PostgreSQL for the store's unit tests (Linux): a new database per test case in the server of
 * the CTest fixture pg (fixture.pg.start runs tests/integration/pgserver.py; $LANMON_PG_FIXTURE
 * names its folder, which holds the base URI and the password of the password user), and raw
 * access with libpq that does not go through the store. */
#ifndef MON_TESTS_SUPPORT_TEST_PG_H
#define MON_TESTS_SUPPORT_TEST_PG_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads the fixture file name (uri, server.json) into buf. -1 with a message on stderr. */
static inline int test_pg_fixture_file(const char *name, char *buf, size_t size)
{
    const char *dir = getenv("LANMON_PG_FIXTURE");
    char path[512];
    FILE *f;
    size_t n;

    if (!dir || !*dir) {
        fprintf(stderr, "LANMON_PG_FIXTURE is not set: run this test through ctest, which "
                        "starts the PostgreSQL server of the fixture pg first\n");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s (is the fixture's server running?)\n", path);
        return -1;
    }
    n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* "postgresql://lanmon@127.0.0.1:PORT/<db>". */
static inline int test_pg_uri(const char *db, char *buf, size_t size)
{
    char base[256];
    char *slash;
    if (test_pg_fixture_file("uri", base, sizeof(base)) < 0)
        return -1;
    slash = strrchr(base, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return snprintf(buf, size, "%s/%s", base, db) < (int)size ? 0 : -1;
}

/* The fixture server's port and the password of its user lanmon_pw. */
static inline int test_pg_password(char *buf, size_t size)
{
    char json[512];
    const char *p, *end;
    if (test_pg_fixture_file("server.json", json, sizeof(json)) < 0)
        return -1;
    p = strstr(json, "\"password\": \"");
    if (!p)
        return -1;
    p += strlen("\"password\": \"");
    end = strchr(p, '"');
    if (!end || (size_t)(end - p) >= size)
        return -1;
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    return 0;
}

static inline int test_pg_port(void)
{
    char uri[256];
    const char *colon;
    if (test_pg_fixture_file("uri", uri, sizeof(uri)) < 0)
        return -1;
    colon = strrchr(uri, ':');
    return colon ? atoi(colon + 1) : -1;
}

static inline void test_pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Runs sql on the database at uri; 0, or -1 with the server's message in err. */
static inline int test_pg_exec(const char *uri, const char *sql, char *err, size_t err_size)
{
    PGconn *c = PQconnectdb(uri);
    PGresult *res;
    int rc = -1;
    PQsetNoticeProcessor(c, test_pg_quiet, NULL); /* "does not exist, skipping" */
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, err_size, "%s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    res = PQexec(c, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
        rc = 0;
    else
        snprintf(err, err_size, "%s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    return rc;
}

/* The first column of the first row of sql as text into buf ("" when no row or NULL); 0 or
 * -1 with the message in buf. */
static inline int test_pg_text(const char *uri, const char *sql, char *buf, size_t size)
{
    PGconn *c = PQconnectdb(uri);
    PGresult *res;
    int rc = -1;
    buf[0] = '\0';
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(buf, size, "%s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    res = PQexec(c, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        rc = 0;
        if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
            snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
    } else {
        snprintf(buf, size, "%s", PQerrorMessage(c));
    }
    PQclear(res);
    PQfinish(c);
    return rc;
}

/* Creates a new empty database; its name into name and its URI into uri. */
static inline int test_pg_create_db(char *name, size_t name_size, char *uri, size_t uri_size)
{
    static unsigned counter;
    char admin[256], sql[256], err[512];
    snprintf(name, name_size, "lanmon_u%ld_%u", (long)getpid(), ++counter);
    if (test_pg_uri("postgres", admin, sizeof(admin)) < 0)
        return -1;
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    if (test_pg_exec(admin, sql, err, sizeof(err)) < 0)
        fprintf(stderr, "%s: %s\n", sql, err);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s OWNER lanmon", name);
    if (test_pg_exec(admin, sql, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", sql, err);
        return -1;
    }
    return test_pg_uri(name, uri, uri_size);
}

static inline void test_pg_drop_db(const char *name)
{
    char admin[256], sql[256], err[512];
    if (test_pg_uri("postgres", admin, sizeof(admin)) < 0)
        return;
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    if (test_pg_exec(admin, sql, err, sizeof(err)) < 0)
        fprintf(stderr, "%s: %s\n", sql, err);
}

#endif
