/* SPDX-License-Identifier: MIT */
/* Unit tests for the aggregator configuration's log section and its database keys: defaults,
 * paths resolved from the config file's folder, a PostgreSQL URI kept as written with its
 * password file read, strict values with file:line:key errors (also run under wine, where a
 * postgresql:// database is refused). */
#include "aggregator/config.h"
#include "common/err.h"
#include "common/os/os.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_os.h"

static struct agg_config *parse_ok(const char *text)
{
    struct agg_config *cfg = NULL;
    struct mon_cfg_error err;
    int r = agg_config_parse("cfg.yaml", text, strlen(text), "/srv/lanmon", &cfg, &err);
    if (r != MON_OK)
        fail_msg("expected a valid config, got: %s", err.msg);
    return cfg;
}

static void parse_bad(const char *text, const char *want)
{
    struct agg_config *cfg = NULL;
    struct mon_cfg_error err;
    int r = agg_config_parse("cfg.yaml", text, strlen(text), "/srv/lanmon", &cfg, &err);
    assert_int_equal(r, MON_EINVAL);
    assert_null(cfg);
    if (!strstr(err.msg, want))
        fail_msg("error '%s' does not contain '%s'", err.msg, want);
}

static void test_log_defaults_without_section(void **state)
{
    struct agg_config *cfg = parse_ok("listen: \"127.0.0.1:8080\"\n");
    (void)state;
    /* No section: stderr, but the service's file is known. */
    assert_false(cfg->log_configured);
    assert_string_equal(cfg->log_file, "/srv/lanmon/logs/monitor-aggregator.log");
    assert_int_equal(cfg->log_max_bytes, 10 * 1024 * 1024);
    assert_int_equal(cfg->log_keep, 5);
    agg_config_free(cfg);
}

static void test_log_section(void **state)
{
    struct agg_config *cfg;
    (void)state;
    cfg = parse_ok("log: { file: \"var/agg.log\", max_size_mb: 2, keep: 9 }\n");
    assert_true(cfg->log_configured);
    assert_string_equal(cfg->log_file, "/srv/lanmon/var/agg.log");
    assert_int_equal(cfg->log_max_bytes, 2 * 1024 * 1024);
    assert_int_equal(cfg->log_keep, 9);
    agg_config_free(cfg);
    /* An absolute path is kept (on Windows a drive path is one: mon_os_path_is_absolute; on
     * Linux it is a relative name like any other); an empty section takes the defaults. */
    cfg = parse_ok("log: { file: \"/var/log/lanmon/a.log\" }\n");
    assert_string_equal(cfg->log_file, "/var/log/lanmon/a.log");
    agg_config_free(cfg);
    cfg = parse_ok("log: { file: \"C:\\\\lanmon\\\\logs\\\\a.log\" }\n");
    assert_string_equal(cfg->log_file, MON_OS_PATH_BACKSLASH
                                           ? "C:\\lanmon\\logs\\a.log"
                                           : "/srv/lanmon/C:\\lanmon\\logs\\a.log");
    agg_config_free(cfg);
    cfg = parse_ok("log: {}\n");
    assert_true(cfg->log_configured);
    assert_string_equal(cfg->log_file, "/srv/lanmon/logs/monitor-aggregator.log");
    agg_config_free(cfg);
}

static void test_log_errors_name_line_and_key(void **state)
{
    (void)state;
    parse_bad("listen: \"127.0.0.1:8080\"\nlog: { size: 3 }\n", "cfg.yaml:2:");
    parse_bad("log: { size: 3 }\n", "log.size");
    parse_bad("log: { max_size_mb: 0 }\n", "log.max_size_mb");
    parse_bad("log: { max_size_mb: 5000 }\n", "log.max_size_mb");
    parse_bad("log: { keep: 0 }\n", "log.keep");
    parse_bad("log: { keep: lots }\n", "log.keep");
    parse_bad("log: { file: \"\" }\n", "log.file");
    parse_bad("log: \"file.log\"\n", "log");
}

/* database: a file is taken from the config's folder, a URI is kept as written. */
static void test_database_values(void **state)
{
    struct agg_config *cfg;
    (void)state;
    cfg = parse_ok("listen: \"127.0.0.1:8080\"\n");
    assert_string_equal(cfg->database, "/srv/lanmon/data/monitor.db");
    assert_null(cfg->database_password);
    agg_config_free(cfg);
#ifdef MON_HAVE_LIBPQ
    cfg = parse_ok("database: \"postgresql://lanmon@db.lan:5432/lanmon?sslmode=require\"\n");
    assert_string_equal(cfg->database, "postgresql://lanmon@db.lan:5432/lanmon?sslmode=require");
    assert_null(cfg->database_password);
    agg_config_free(cfg);
#else
    /* The Windows build has no PostgreSQL: --check-config says so instead of making a file. */
    parse_bad("database: \"postgresql://lanmon@db.lan/lanmon\"\n", "no PostgreSQL support");
#endif
    parse_bad("database: \"\"\n", "cfg.yaml:1:");
    parse_bad("database: \"host=db dbname=lanmon\"\n", "postgresql://USER@HOST");
    parse_bad("database: \"data/x.db\"\ndatabase_password_file: \"pw\"\n",
              "database_password_file");
}

#ifdef MON_HAVE_LIBPQ
/* database_password_file: read like every secret file (relative to the config's folder,
 * trimmed, never empty), only for a server database; no daily backup section beside one. */
static void test_database_password_file(void **state)
{
    struct agg_config *cfg = NULL;
    struct mon_cfg_error err;
    char dir[256], path[320], text[512];
    FILE *f;
    int r;
    (void)state;

    assert_int_equal(test_make_temp_dir("lanmon-cfgdb", dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/db.pass", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("  s3cret pass\n", f);
    fclose(f);
    snprintf(text, sizeof(text),
             "database: \"postgres://lanmon@127.0.0.1/lanmon\"\ndatabase_password_file: "
             "\"db.pass\"\n");
    r = agg_config_parse("cfg.yaml", text, strlen(text), dir, &cfg, &err);
    if (r != MON_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(cfg->database_password, "s3cret pass");
    assert_string_equal(cfg->database, "postgres://lanmon@127.0.0.1/lanmon");
    agg_config_free(cfg);
    cfg = NULL;

    snprintf(text, sizeof(text),
             "database: \"postgresql://h/db\"\ndatabase_password_file: \"missing.pass\"\n");
    r = agg_config_parse("cfg.yaml", text, strlen(text), dir, &cfg, &err);
    assert_int_equal(r, MON_EINVAL);
    assert_non_null(strstr(err.msg, "cfg.yaml:2:"));
    assert_non_null(strstr(err.msg, "database_password_file"));
    assert_non_null(strstr(err.msg, "missing.pass"));
    test_rm_tree(dir);

    parse_bad("database: \"postgresql://h/db\"\nbackup: { dir: b }\n", "pg_dump");
}
#endif

static void test_gpu_state_and_events(void **state)
{
    struct agg_config *cfg = parse_ok("listen: \"127.0.0.1:8080\"\n");
    (void)state;
    assert_int_equal(cfg->gpu_free_mem_mb, 512);
    assert_int_equal(cfg->gpu_busy_util_pct, 10);
    assert_int_equal(cfg->gpu_idle_after_ms, 30 * 60 * 1000);
    assert_true(cfg->events_gpu_idle);
    agg_config_free(cfg);
    cfg = parse_ok("gpu_state: { free_mem_mb: 0, busy_util_pct: 25, idle_after: 2h }\n"
                   "events: { gpu_idle: false }\n");
    assert_int_equal(cfg->gpu_free_mem_mb, 0);
    assert_int_equal(cfg->gpu_busy_util_pct, 25);
    assert_int_equal(cfg->gpu_idle_after_ms, 2 * 3600 * 1000);
    assert_false(cfg->events_gpu_idle);
    agg_config_free(cfg);
    cfg = parse_ok("gpu_state: { idle_after: 90s }\n");
    assert_int_equal(cfg->gpu_free_mem_mb, 512);
    assert_int_equal(cfg->gpu_idle_after_ms, 90000);
    agg_config_free(cfg);
}

/* history.usage_retention_days: 365 by default, its own value, strict. */
static void test_usage_retention(void **state)
{
    struct agg_config *cfg = parse_ok("listen: \"127.0.0.1:8080\"\n");
    (void)state;
    assert_int_equal(cfg->usage_retention_days, 365);
    assert_int_equal(cfg->retention_days, 30);
    agg_config_free(cfg);
    cfg = parse_ok("history: { retention_days: 7, usage_retention_days: 730 }\n");
    assert_int_equal(cfg->usage_retention_days, 730);
    assert_int_equal(cfg->retention_days, 7);
    agg_config_free(cfg);
    parse_bad("history: { usage_retention_days: 0 }\n", "history.usage_retention_days");
    parse_bad("history: { usage_retention_days: 1y }\n", "history.usage_retention_days");
    parse_bad("history: { usage_retention_days: 40000 }\n", "history.usage_retention_days");
    parse_bad("listen: \"127.0.0.1:8080\"\nhistory: { usage_retention: 5 }\n", "cfg.yaml:2:");
}

static void test_gpu_state_errors_name_line_and_key(void **state)
{
    (void)state;
    parse_bad("listen: \"127.0.0.1:8080\"\ngpu_state: { free_mem: 3 }\n", "cfg.yaml:2:");
    parse_bad("gpu_state: { free_mem: 3 }\n", "gpu_state.free_mem");
    parse_bad("gpu_state: { free_mem_mb: -1 }\n", "gpu_state.free_mem_mb");
    parse_bad("gpu_state: { free_mem_mb: lots }\n", "gpu_state.free_mem_mb");
    parse_bad("gpu_state: { busy_util_pct: 0 }\n", "gpu_state.busy_util_pct");
    parse_bad("gpu_state: { busy_util_pct: 101 }\n", "gpu_state.busy_util_pct");
    parse_bad("gpu_state: { busy_util_pct: 12.5 }\n", "gpu_state.busy_util_pct");
    parse_bad("gpu_state: { idle_after: 30 }\n", "gpu_state.idle_after");
    parse_bad("gpu_state: { idle_after: 500ms }\n", "gpu_state.idle_after");
    parse_bad("gpu_state: { idle_after: 8d }\n", "gpu_state.idle_after");
    parse_bad("gpu_state: 5\n", "gpu_state");
    parse_bad("events: { gpu_idle: maybe }\n", "events.gpu_idle");
    parse_bad("events: { server_down: false }\n", "events.server_down");
}

/* Issue 11 item 2: the aggregator takes allow_from too (checked when a client connects). */
static void test_allow_from(void **state)
{
    struct agg_config *cfg;
    struct sockaddr_in in;
    (void)state;
    cfg = parse_ok("listen: \"127.0.0.1:8080\"\n");
    assert_int_equal(cfg->n_allow_from, 0);
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(0x0a000005); /* 10.0.0.5 */
    assert_true(agg_config_client_allowed(cfg, (struct sockaddr *)&in));
    agg_config_free(cfg);
    cfg = parse_ok("allow_from: [\"192.168.1.0/24\", \"::1\"]\n");
    assert_int_equal(cfg->n_allow_from, 2);
    assert_false(agg_config_client_allowed(cfg, (struct sockaddr *)&in));
    in.sin_addr.s_addr = htonl(0xc0a80107); /* 192.168.1.7 */
    assert_true(agg_config_client_allowed(cfg, (struct sockaddr *)&in));
    agg_config_free(cfg);
    parse_bad("allow_from: [\"10.0.0.0/33\"]\n", "cfg.yaml:1");
    parse_bad("allow_from: [\"10.0.0.0/33\"]\n", "not an IPv4/IPv6 address or CIDR block");
    parse_bad("allow_from: \"10.0.0.0/8\"\n", "allow_from");
}

/* Issue 11 item 14: tokens with line breaks or only spaces, in every place a token is set. */
static void test_token_rules(void **state)
{
    (void)state;
    parse_bad("admin_token: \"admin-token\\r\\nX-Injected: 1\"\n", "control character");
    parse_bad("admin_token: \"          \"\n", "only spaces");
    parse_bad("admin_token: \" admin-token-123\"\n", "starts or ends with a space");
    parse_bad("servers:\n  - {name: a, host: 10.0.0.1, token: \"tok\\n123456\"}\n",
              "servers[0].token");
    parse_bad("servers:\n  - {name: a, host: 10.0.0.1, token: \"   \"}\n", "only spaces");
}

/* Issue 11 item 13: server names in the config follow the API's rules. */
static void test_server_names(void **state)
{
    struct agg_config *cfg;
    (void)state;
    cfg = parse_ok("servers:\n  - {name: \"  srv \\u00a0 01 \", host: 10.0.0.1, token: tok12345}\n"
                   "  - {name: \"\\u540d\\u524d\", host: 10.0.0.2, token: tok12345}\n");
    assert_string_equal(cfg->servers[0].name, "srv 01"); /* spaces normalised */
    assert_string_equal(cfg->servers[1].name, "\xe5\x90\x8d\xe5\x89\x8d");
    agg_config_free(cfg);
    parse_bad("servers:\n  - {name: \"srv\\u200b01\", host: 10.0.0.1, token: tok12345}\n",
              "invisible");
    parse_bad("servers:\n  - {name: srv-01, host: 10.0.0.1, token: tok12345}\n"
              "  - {name: SRV-01, host: 10.0.0.2, token: tok12345}\n",
              "used twice");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_defaults_without_section),
        cmocka_unit_test(test_log_section),
        cmocka_unit_test(test_log_errors_name_line_and_key),
        cmocka_unit_test(test_database_values),
#ifdef MON_HAVE_LIBPQ
        cmocka_unit_test(test_database_password_file),
#endif
        cmocka_unit_test(test_gpu_state_and_events),
        cmocka_unit_test(test_usage_retention),
        cmocka_unit_test(test_gpu_state_errors_name_line_and_key),
        cmocka_unit_test(test_allow_from),
        cmocka_unit_test(test_token_rules),
        cmocka_unit_test(test_server_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
