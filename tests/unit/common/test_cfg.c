/* SPDX-License-Identifier: MIT */
/* Unit tests for the YAML config reader: the node tree, key checks, documents the loader
 * refuses (duplicates, aliases, several documents, syntax, nesting), and messages that name the
 * file, line, column and dotted key. Typed getters: test_cfg_values.c; files and secret files:
 * test_cfg_file.c. */
#include "common/cfg.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_cfg_util.h"

static const char valid_doc[] = "name: srv-01\n"                /* 1 */
                                "port: 9109\n"                  /* 2 */
                                "quoted_port: \"9109\"\n"       /* 3 */
                                "single: 'it''s'\n"             /* 4 */
                                "poll:\n"                       /* 5 */
                                "  interval: 5s\n"              /* 6 */
                                "  timeout: 500ms\n"            /* 7 */
                                "servers:\n"                    /* 8 */
                                "  - alpha\n"                   /* 9 */
                                "  - \"beta\"\n"                /* 10 */
                                "flow: [a, 'b c']\n"            /* 11 */
                                "tilde: ~\n"                    /* 12 */
                                "word_null: null\n"             /* 13 */
                                "empty:\n"                      /* 14 */
                                "quoted_null: \"null\"\n"       /* 15 */
                                "quoted_empty: ''\n"            /* 16 */
                                "nested:\n"                     /* 17 */
                                "  deeper:\n"                   /* 18 */
                                "    deepest: x\n"              /* 19 */
                                "inline: {k: v, n: 1}\n"        /* 20 */
                                "block: |\n  line1\n  line2\n"; /* 21-23 */

static void test_load_valid(void **state)
{
    struct mon_cfg_doc *doc = load(valid_doc);
    const struct mon_cfg_node *root = doc->root, *n, *poll, *servers;
    (void)state;
    assert_string_equal(doc->name, NAME);
    assert_int_equal(root->kind, MON_CFG_MAP);
    assert_int_equal(root->n, 15);
    assert_string_equal(root->keys[0], "name");
    assert_string_equal(root->keys[14], "block");

    n = mon_cfg_get(root, "name");
    assert_non_null(n);
    assert_int_equal(n->kind, MON_CFG_SCALAR);
    assert_string_equal(n->scalar, "srv-01");
    assert_string_equal(n->path, "name");
    assert_int_equal(n->line, 1);
    assert_false(n->quoted);
    assert_false(n->is_null);

    n = mon_cfg_get(root, "port");
    assert_string_equal(n->scalar, "9109");
    assert_false(n->quoted);
    assert_int_equal(n->line, 2);
    n = mon_cfg_get(root, "quoted_port");
    assert_string_equal(n->scalar, "9109");
    assert_true(n->quoted);
    n = mon_cfg_get(root, "single");
    assert_string_equal(n->scalar, "it's");
    assert_true(n->quoted);

    poll = mon_cfg_get(root, "poll");
    assert_non_null(poll);
    assert_int_equal(poll->kind, MON_CFG_MAP);
    assert_int_equal(poll->n, 2);
    assert_string_equal(poll->path, "poll");
    n = mon_cfg_get(poll, "timeout");
    assert_string_equal(n->scalar, "500ms");
    assert_string_equal(n->path, "poll.timeout");
    assert_int_equal(n->line, 7);
    assert_null(mon_cfg_get(poll, "name")); /* lookups do not reach into the parent */

    servers = mon_cfg_get(root, "servers");
    assert_int_equal(servers->kind, MON_CFG_SEQ);
    assert_int_equal(servers->n, 2);
    assert_null(servers->keys);
    assert_string_equal(servers->items[0]->scalar, "alpha");
    assert_false(servers->items[0]->quoted);
    assert_string_equal(servers->items[1]->scalar, "beta");
    assert_true(servers->items[1]->quoted);
    assert_string_equal(servers->items[1]->path, "servers[1]");
    assert_int_equal(servers->items[1]->line, 10);
    assert_null(mon_cfg_get(servers, "alpha")); /* not a map */

    n = mon_cfg_get(root, "flow");
    assert_int_equal(n->kind, MON_CFG_SEQ);
    assert_int_equal(n->n, 2);
    assert_string_equal(n->items[1]->scalar, "b c");

    /* The three null forms; quoted text is never null. */
    assert_true(mon_cfg_get(root, "tilde")->is_null);
    assert_true(mon_cfg_get(root, "word_null")->is_null);
    n = mon_cfg_get(root, "empty");
    assert_int_equal(n->kind, MON_CFG_SCALAR);
    assert_true(n->is_null);
    assert_string_equal(n->scalar, "");
    n = mon_cfg_get(root, "quoted_null");
    assert_false(n->is_null);
    assert_string_equal(n->scalar, "null");
    n = mon_cfg_get(root, "quoted_empty");
    assert_false(n->is_null);
    assert_string_equal(n->scalar, "");

    n = mon_cfg_get(mon_cfg_get(mon_cfg_get(root, "nested"), "deeper"), "deepest");
    assert_non_null(n);
    assert_string_equal(n->scalar, "x");
    assert_string_equal(n->path, "nested.deeper.deepest");
    assert_int_equal(n->line, 19);

    n = mon_cfg_get(root, "inline");
    assert_int_equal(n->kind, MON_CFG_MAP);
    assert_string_equal(mon_cfg_get(n, "k")->scalar, "v");
    assert_string_equal(mon_cfg_get(n, "n")->path, "inline.n");

    assert_string_equal(mon_cfg_get(root, "block")->scalar, "line1\nline2\n");
    assert_null(mon_cfg_get(root, "absent"));
    assert_null(mon_cfg_get(NULL, "name"));
    mon_cfg_doc_free(doc);
    mon_cfg_doc_free(NULL);
}

static void test_load_explicit_markers(void **state)
{
    struct mon_cfg_doc *doc = load("---\na: 1\n...\n");
    (void)state;
    assert_string_equal(mon_cfg_get(doc->root, "a")->scalar, "1");
    mon_cfg_doc_free(doc);
}

static void test_load_not_nul_terminated(void **state)
{
    /* The length bounds the input: "b: 2" past it is not read. */
    static const char text[] = "a: 1\nb: 2\n";
    struct mon_cfg_doc *doc = NULL;
    struct mon_cfg_error err;
    (void)state;
    assert_int_equal(mon_cfg_load_string(NAME, text, 5, &doc, &err), MON_OK);
    assert_int_equal(doc->root->n, 1);
    mon_cfg_doc_free(doc);
}

static void test_wrong_type_names_line_and_path(void **state)
{
    struct mon_cfg_doc *doc = load("name: a\npoll:\n  interval: [1]\n");
    struct mon_cfg_error err;
    int64_t ms = 42;
    (void)state;
    assert_int_equal(
        mon_cfg_duration(doc, mon_cfg_get(doc->root, "poll"), "interval", 0, 1000000, &ms, &err),
        MON_EINVAL);
    msg_has(err.msg, NAME ":3:", "key 'poll.interval'", NULL);
    assert_int_equal(ms, 42);
    mon_cfg_doc_free(doc);
}

static void test_check_keys(void **state)
{
    static const char *const top[] = {"name", "poll", NULL};
    static const char *const poll_keys[] = {"interval", NULL};
    struct mon_cfg_doc *doc = load("name: a\npoll:\n  interval: 5s\n  intervall: 10s\n");
    struct mon_cfg_error err;
    (void)state;
    assert_int_equal(mon_cfg_check_keys(doc, doc->root, top, &err), MON_OK);
    assert_int_equal(mon_cfg_check_keys(doc, mon_cfg_get(doc->root, "poll"), poll_keys, &err),
                     MON_EINVAL);
    msg_has(err.msg, NAME ":4:", "key 'poll.intervall'", "unknown key");
    /* A scalar or missing node is not a mapping. */
    assert_int_equal(mon_cfg_check_keys(doc, mon_cfg_get(doc->root, "name"), top, &err),
                     MON_EINVAL);
    msg_has(err.msg, "expected a mapping", "key 'name'", NAME ":1:");
    assert_int_equal(mon_cfg_check_keys(doc, NULL, top, &err), MON_EINVAL);
    msg_has(err.msg, "expected a mapping", NULL, NULL);
    mon_cfg_doc_free(doc);
}

static void test_check_keys_collection_value_line(void **state)
{
    /* The unknown key's own line, not the line where its block value starts. */
    static const char *const top[] = {"name", NULL};
    struct mon_cfg_doc *doc = load("name: a\n\nbogus:\n\n  inner: 1\n");
    struct mon_cfg_doc *doc2 = load("name: a\nlist:\n  - x\n");
    struct mon_cfg_error err;
    (void)state;
    assert_int_equal(mon_cfg_check_keys(doc, doc->root, top, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":3:", "key 'bogus'", "unknown key");
    assert_int_equal(mon_cfg_check_keys(doc2, doc2->root, top, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":2:", "key 'list'", "unknown key");
    mon_cfg_doc_free(doc);
    mon_cfg_doc_free(doc2);
}

static void test_fixture_files(void **state)
{
    static const char *const top[] = {"name", "port", "enabled", "poll", "servers", NULL};
    static const char *const poll_keys[] = {"interval", "timeout", NULL};
    struct mon_cfg_doc *doc = NULL;
    struct mon_cfg_error err;
    const struct mon_cfg_node *poll;
    int64_t interval = 0;
    char **servers = NULL;
    size_t n_servers = 0;
    (void)state;

    assert_int_equal(mon_cfg_load_file(MON_FIXTURES "/cfg/valid.yaml", &doc, &err), MON_OK);
    assert_string_equal(doc->name, MON_FIXTURES "/cfg/valid.yaml");
    assert_int_equal(mon_cfg_check_keys(doc, doc->root, top, &err), MON_OK);
    poll = mon_cfg_get(doc->root, "poll");
    assert_int_equal(mon_cfg_check_keys(doc, poll, poll_keys, &err), MON_OK);
    assert_int_equal(mon_cfg_duration(doc, poll, "interval", 1, 60000, &interval, &err), MON_OK);
    assert_int_equal(interval, 5000);
    assert_int_equal(mon_cfg_string_list(doc, doc->root, "servers", 8, &servers, &n_servers, &err),
                     MON_OK);
    assert_int_equal(n_servers, 2);
    assert_string_equal(servers[1], "beta");
    mon_cfg_strv_free(servers, n_servers);
    mon_cfg_doc_free(doc);

    doc = NULL;
    assert_int_equal(mon_cfg_load_file(MON_FIXTURES "/cfg/unknown_key.yaml", &doc, &err), MON_OK);
    poll = mon_cfg_get(doc->root, "poll");
    assert_int_equal(mon_cfg_check_keys(doc, poll, poll_keys, &err), MON_EINVAL);
    msg_has(err.msg, MON_FIXTURES "/cfg/unknown_key.yaml:4:", "key 'poll.intervall'", "unknown");
    mon_cfg_doc_free(doc);
}

static void test_duplicate_key(void **state)
{
    (void)state;
    load_fails("a: 1\nb: 2\na: 3\n", NAME ":3:", "'a'", "twice");
    load_fails("p:\n  x: 1\n  y: 2\n  x: 3\n", NAME ":4:", "'x'", "twice");
    load_fails("a: {k: 1, k: 2}\n", NAME ":1:", "'k'", "twice");
}

static void test_alias_rejected(void **state)
{
    (void)state;
    load_fails("a: &anchor 1\nb: *anchor\n", NAME ":2:", "alias", NULL);
    load_fails("base: &b {x: 1}\nother:\n  <<: *b\n", NAME ":3:", "alias", NULL);
}

static void test_multiple_documents(void **state)
{
    (void)state;
    load_fails("a: 1\n---\nb: 2\n", NAME ":2:", "one YAML document", NULL);
    load_fails("---\na: 1\n---\na: 1\n", NAME ":3:", "one YAML document", NULL);
}

static void test_empty_and_top_level(void **state)
{
    (void)state;
    load_fails("", NAME ":1:", "empty", NULL);
    load_fails("\n\n   \n", "empty", NULL, NULL);
    load_fails("# just a comment\n", "empty", NULL, NULL);
    load_fails("- a\n- b\n", NAME ":1:", "mapping", NULL);
    load_fails("\n[1, 2]\n", NAME ":2:", "mapping", NULL);
    load_fails("just text\n", NAME ":1:", "mapping", NULL);
    load_fails("---\n", "mapping", NULL, NULL);
    load_fails("? [a, b]\n: 1\n", NAME ":1:", "keys", NULL);
}

static void test_syntax_errors(void **state)
{
    struct mon_cfg_doc *doc = NULL;
    struct mon_cfg_error err;
    int line, col;
    static const char unclosed[] = "a: 1\nb: \"unclosed\nc: 3\n";
    (void)state;
    load_fails("a:\n\tb: 1\n", NAME ":2:", "YAML syntax error", NULL);
    load_fails("a: 1\n b: 2\n", NAME ":2:", "YAML syntax error", NULL);
    load_fails("a: [1, 2\n", "YAML syntax error", NULL, NULL);
    assert_int_equal(mon_cfg_load_string(NAME, unclosed, strlen(unclosed), &doc, &err), MON_EINVAL);
    assert_null(doc);
    msg_has(err.msg, "YAML syntax error", NULL, NULL);
    msg_position(err.msg, &line, &col);
    assert_true(line >= 2 && line <= 4);
}

static void test_nesting_cap(void **state)
{
    char text[256];
    int n = 0;
    (void)state;
    n += snprintf(text + n, sizeof(text) - (size_t)n, "a: ");
    for (int i = 0; i < 40; i++)
        text[n++] = '[';
    for (int i = 0; i < 40; i++)
        text[n++] = ']';
    text[n++] = '\n';
    text[n] = '\0';
    load_fails(text, NAME ":1:", "too deep", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_valid),
        cmocka_unit_test(test_load_explicit_markers),
        cmocka_unit_test(test_load_not_nul_terminated),
        cmocka_unit_test(test_wrong_type_names_line_and_path),
        cmocka_unit_test(test_check_keys),
        cmocka_unit_test(test_check_keys_collection_value_line),
        cmocka_unit_test(test_fixture_files),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_alias_rejected),
        cmocka_unit_test(test_multiple_documents),
        cmocka_unit_test(test_empty_and_top_level),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_nesting_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
