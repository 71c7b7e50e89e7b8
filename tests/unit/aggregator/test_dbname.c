/* SPDX-License-Identifier: MIT */
/* The `database:` value's kind and its printable form: PostgreSQL URIs lose every password
 * (user information and query parameter), whatever else they hold; file paths stay as they
 * are (also run under wine, where PostgreSQL is not available). */
#include "aggregator/dbname.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void display_is(const char *database, const char *want)
{
    char buf[256];
    agg_db_display(database, buf, sizeof(buf));
    if (strcmp(buf, want) != 0)
        fail_msg("display of '%s' is '%s', expected '%s'", database, buf, want);
}

static void test_kind(void **state)
{
    (void)state;
    assert_int_equal(agg_db_kind_of("postgresql://h/db"), AGG_DB_POSTGRES);
    assert_int_equal(agg_db_kind_of("postgres://h/db"), AGG_DB_POSTGRES);
    assert_int_equal(agg_db_kind_of("PostgreSQL://h/db"), AGG_DB_POSTGRES);
    assert_int_equal(agg_db_kind_of("data/monitor.db"), AGG_DB_SQLITE);
    assert_int_equal(agg_db_kind_of("/var/lib/postgresql/x.db"), AGG_DB_SQLITE);
    assert_int_equal(agg_db_kind_of("postgresql:/h/db"), AGG_DB_SQLITE);
    assert_int_equal(agg_db_kind_of("C:\\lanmon\\monitor.db"), AGG_DB_SQLITE);
    assert_int_equal(agg_db_kind_of(""), AGG_DB_SQLITE);
    assert_int_equal(agg_db_kind_of(NULL), AGG_DB_SQLITE);
    assert_true(agg_db_kind_available(AGG_DB_SQLITE));
#ifdef MON_HAVE_LIBPQ
    assert_true(agg_db_kind_available(AGG_DB_POSTGRES));
#else
    assert_false(agg_db_kind_available(AGG_DB_POSTGRES));
#endif
}

static void test_conninfo_detected(void **state)
{
    (void)state;
    assert_true(agg_db_looks_like_conninfo("host=db dbname=lanmon user=x"));
    assert_true(agg_db_looks_like_conninfo("dbname=lanmon"));
    assert_true(agg_db_looks_like_conninfo("user=a host=b"));
    assert_false(agg_db_looks_like_conninfo("data/host=x.db"));
    assert_false(agg_db_looks_like_conninfo("data/monitor.db"));
    assert_false(agg_db_looks_like_conninfo("postgresql://h/db?host=x"));
    assert_false(agg_db_looks_like_conninfo(NULL));
}

static void test_display_drops_passwords(void **state)
{
    (void)state;
    display_is("postgresql://lanmon:s3cret@db.lan:5432/lanmon",
               "postgresql://lanmon@db.lan:5432/lanmon");
    display_is("postgres://u:p%40ss@h/db?sslmode=require&password=x&application_name=y",
               "postgres://u@h/db?sslmode=require&application_name=y");
    display_is("postgresql://h/db?password=only", "postgresql://h/db");
    display_is("postgresql://h/db?password=a&password=b&connect_timeout=3",
               "postgresql://h/db?connect_timeout=3");
    display_is("postgresql://u:pw@h1:5432,h2:5433/db", "postgresql://u@h1:5432,h2:5433/db");
    display_is("PostgreSQL://U:pw@H/db", "PostgreSQL://U@H/db");
    /* A user without password, no user, a socket folder, '@' after the path: unchanged. */
    display_is("postgresql://lanmon@127.0.0.1:5432/lanmon",
               "postgresql://lanmon@127.0.0.1:5432/lanmon");
    display_is("postgresql:///lanmon?host=/run/postgresql",
               "postgresql:///lanmon?host=/run/postgresql");
    display_is("postgresql://h/db@x", "postgresql://h/db@x");
    display_is("postgresql://:pw@h/db", "postgresql://@h/db");
    /* Files are shown as they are. */
    display_is("data/monitor.db", "data/monitor.db");
    display_is("/srv/a:b@c.db", "/srv/a:b@c.db");
}

static void test_display_truncates(void **state)
{
    char small[16];
    (void)state;
    agg_db_display("postgresql://user:secretsecret@host/db", small, sizeof(small));
    assert_string_equal(small, "postgresql://us");
    assert_null(strstr(small, "secret"));
    agg_db_display("x", small, 1);
    assert_string_equal(small, "");
    agg_db_display(NULL, small, sizeof(small));
    assert_string_equal(small, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_conninfo_detected),
        cmocka_unit_test(test_display_drops_passwords),
        cmocka_unit_test(test_display_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
