/* SPDX-License-Identifier: MIT */
/* Unit tests for the YAML config reader: the node tree, strict typed getters, and messages that
 * name the file, line, column and dotted key. */
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

#define NAME "test.yaml"

static struct mon_cfg_doc *load(const char *text)
{
    struct mon_cfg_doc *doc = NULL;
    struct mon_cfg_error err;
    int r = mon_cfg_load_string(NAME, text, strlen(text), &doc, &err);
    if (r != MON_OK)
        fail_msg("load failed (%d): %s\n--- text:\n%s", r, err.msg, text);
    assert_non_null(doc);
    assert_non_null(doc->root);
    return doc;
}

/* Fails unless msg contains every non-NULL fragment. */
static void msg_has(const char *msg, const char *f1, const char *f2, const char *f3)
{
    const char *frags[] = {f1, f2, f3};
    for (size_t i = 0; i < 3; i++)
        if (frags[i] && !strstr(msg, frags[i]))
            fail_msg("message '%s' lacks '%s'", msg, frags[i]);
}

/* Expects the text to be rejected by the loader with a message holding the fragments. */
static void load_fails(const char *text, const char *f1, const char *f2, const char *f3)
{
    struct mon_cfg_doc *doc = NULL;
    struct mon_cfg_error err;
    int r = mon_cfg_load_string(NAME, text, strlen(text), &doc, &err);
    if (r >= 0)
        fail_msg("expected an error for:\n%s", text);
    assert_int_equal(r, MON_EINVAL);
    assert_null(doc);
    assert_true(strncmp(err.msg, NAME ":", strlen(NAME ":")) == 0);
    msg_has(err.msg, f1, f2, f3);
}

/* Reads "NAME:line:col:" from a message; fails when it is not there. */
static void msg_position(const char *msg, int *line, int *col)
{
    if (sscanf(msg, NAME ":%d:%d:", line, col) != 2 || *line < 1 || *col < 1)
        fail_msg("message '%s' has no position", msg);
}

/* Writes len bytes to a new temporary file; path must hold 64 bytes. */
static void write_temp(const char *data, size_t len, char *path)
{
    FILE *f;
    int fd;
    snprintf(path, 64, "/tmp/mon_test_cfg_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

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

static void test_int(void **state)
{
    struct mon_cfg_doc *doc = load("n: 5\nbig: 11\nneg: -3\nword: abc\nq: \"5\"\nf: 5.0\n"
                                   "nul: ~\nlist: [1]\nplus: +7\nhex: 0x10\nhuge: "
                                   "9223372036854775808\n");
    struct mon_cfg_error err;
    const struct mon_cfg_node *r = doc->root;
    int64_t v = 99;
    (void)state;
    assert_int_equal(mon_cfg_int(doc, r, "n", 0, 10, &v, &err), MON_OK);
    assert_int_equal(v, 5);
    assert_int_equal(mon_cfg_int(doc, r, "neg", -10, 10, &v, &err), MON_OK);
    assert_int_equal(v, -3);
    assert_int_equal(mon_cfg_int(doc, r, "plus", 0, 10, &v, &err), MON_OK);
    assert_int_equal(v, 7);
    v = 99;
    assert_int_equal(mon_cfg_int(doc, r, "absent", 0, 10, &v, &err), MON_OK);
    assert_int_equal(v, 99);

    assert_int_equal(mon_cfg_int(doc, r, "big", 0, 10, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":2:", "key 'big'", "out of range (0..10)");
    assert_int_equal(mon_cfg_int(doc, r, "neg", 0, 10, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":3:", "out of range", NULL);
    assert_int_equal(mon_cfg_int(doc, r, "word", 0, 10, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":4:", "key 'word'", "expected an integer, got 'abc'");
    assert_int_equal(mon_cfg_int(doc, r, "q", 0, 10, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":5:", "key 'q'", "expected an integer");
    assert_int_equal(mon_cfg_int(doc, r, "f", 0, 10, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":6:", "expected an integer", NULL);
    assert_int_equal(mon_cfg_int(doc, r, "nul", 0, 10, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":7:", "key 'nul'", "expected an integer");
    assert_int_equal(mon_cfg_int(doc, r, "list", 0, 10, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":8:", "key 'list'", "expected an integer");
    assert_int_equal(mon_cfg_int(doc, r, "hex", 0, 100, &v, &err), MON_EINVAL);
    assert_int_equal(mon_cfg_int(doc, r, "huge", INT64_MIN, INT64_MAX, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":11:", "out of range", NULL);
    assert_int_equal(v, 99);
    mon_cfg_doc_free(doc);
}

static void test_bool(void **state)
{
    struct mon_cfg_doc *doc = load("t: true\nf: false\ny: yes\nn: no\ncap: True\nq: \"true\"\n"
                                   "one: 1\non: on\nnul: ~\n");
    struct mon_cfg_error err;
    const struct mon_cfg_node *r = doc->root;
    bool v = false;
    static const char *const bad[] = {"y", "n", "cap", "q", "one", "on", "nul"};
    (void)state;
    assert_int_equal(mon_cfg_bool(doc, r, "t", &v, &err), MON_OK);
    assert_true(v);
    assert_int_equal(mon_cfg_bool(doc, r, "f", &v, &err), MON_OK);
    assert_false(v);
    v = true;
    assert_int_equal(mon_cfg_bool(doc, r, "absent", &v, &err), MON_OK);
    assert_true(v);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char key_frag[32];
        v = true;
        assert_int_equal(mon_cfg_bool(doc, r, bad[i], &v, &err), MON_EINVAL);
        snprintf(key_frag, sizeof(key_frag), "key '%s'", bad[i]);
        msg_has(err.msg, key_frag, "true or false", NULL);
        assert_true(v);
    }
    msg_has(err.msg, NAME ":9:", NULL, NULL);
    mon_cfg_doc_free(doc);
}

static void test_string(void **state)
{
    struct mon_cfg_doc *doc =
        load("s: hello\nq: \"123\"\nnul: ~\nmap: {a: 1}\nlist: [a]\nsub:\n  x: y\n");
    struct mon_cfg_error err;
    const struct mon_cfg_node *r = doc->root;
    char *v = strdup("default");
    (void)state;
    assert_int_equal(mon_cfg_string(doc, r, "absent", false, &v, &err), MON_OK);
    assert_string_equal(v, "default");
    assert_int_equal(mon_cfg_string(doc, r, "s", true, &v, &err), MON_OK); /* frees "default" */
    assert_string_equal(v, "hello");
    assert_int_equal(mon_cfg_string(doc, r, "q", false, &v, &err), MON_OK);
    assert_string_equal(v, "123");
    assert_int_equal(mon_cfg_string(doc, r, "absent", true, &v, &err), MON_EINVAL);
    msg_has(err.msg, "key 'absent'", "required", NULL);
    assert_int_equal(mon_cfg_string(doc, mon_cfg_get(r, "sub"), "gone", true, &v, &err),
                     MON_EINVAL);
    msg_has(err.msg, NAME ":6:", "key 'sub.gone'", "required");
    assert_int_equal(mon_cfg_string(doc, r, "nul", false, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":3:", "key 'nul'", "expected a string");
    assert_int_equal(mon_cfg_string(doc, r, "map", false, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":4:", "key 'map'", NULL);
    assert_int_equal(mon_cfg_string(doc, r, "list", false, &v, &err), MON_EINVAL);
    assert_string_equal(v, "123");
    free(v);
    mon_cfg_doc_free(doc);
}

static void test_duration(void **state)
{
    struct mon_cfg_doc *doc = load("d: 5s\nms: 500ms\nbare: 5\nneg: -5s\nq: \"2m\"\n"
                                   "long: 2d\nsp: 5 s\n");
    struct mon_cfg_error err;
    const struct mon_cfg_node *r = doc->root;
    int64_t v = 1;
    (void)state;
    assert_int_equal(mon_cfg_duration(doc, r, "d", 0, 60000, &v, &err), MON_OK);
    assert_int_equal(v, 5000);
    assert_int_equal(mon_cfg_duration(doc, r, "ms", 0, 60000, &v, &err), MON_OK);
    assert_int_equal(v, 500);
    assert_int_equal(mon_cfg_duration(doc, r, "q", 0, 600000, &v, &err), MON_OK);
    assert_int_equal(v, 120000);
    v = 1;
    assert_int_equal(mon_cfg_duration(doc, r, "absent", 0, 60000, &v, &err), MON_OK);
    assert_int_equal(v, 1);
    assert_int_equal(mon_cfg_duration(doc, r, "bare", 0, 60000, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":3:", "key 'bare'", "unit");
    assert_int_equal(mon_cfg_duration(doc, r, "neg", 0, 60000, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":4:", "key 'neg'", NULL);
    assert_int_equal(mon_cfg_duration(doc, r, "sp", 0, 60000, &v, &err), MON_EINVAL);
    assert_int_equal(mon_cfg_duration(doc, r, "long", 0, 86400000, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":6:", "out of range", "86400000ms");
    assert_int_equal(mon_cfg_duration(doc, r, "ms", 1000, 60000, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":2:", "out of range", NULL);
    assert_int_equal(v, 1);
    mon_cfg_doc_free(doc);
}

static void test_string_list(void **state)
{
    struct mon_cfg_doc *doc = load("ok: [a, \"b\", c]\n" /* 1 */
                                   "scalar: abc\n"       /* 2 */
                                   "nulls:\n"            /* 3 */
                                   "  - a\n"             /* 4 */
                                   "  - ~\n"             /* 5 */
                                   "emptyq: [a, '']\n"   /* 6 */
                                   "nested: [a, [b]]\n"  /* 7 */
                                   "maps:\n  - {k: v}\n" /* 8-9 */
                                   "none: []\n"          /* 10 */
                                   "nul:\n");            /* 11 */
    struct mon_cfg_error err;
    const struct mon_cfg_node *r = doc->root;
    char **v = calloc(2, sizeof(*v));
    size_t n = 2;
    (void)state;
    v[0] = strdup("old0");
    v[1] = strdup("old1");
    assert_int_equal(mon_cfg_string_list(doc, r, "absent", 8, &v, &n, &err), MON_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[1], "old1");
    /* A valid list replaces (and frees) the previous one. */
    assert_int_equal(mon_cfg_string_list(doc, r, "ok", 3, &v, &n, &err), MON_OK);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[1], "b");
    assert_string_equal(v[2], "c");

    assert_int_equal(mon_cfg_string_list(doc, r, "ok", 2, &v, &n, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":1:", "key 'ok'", "too many items (3, at most 2)");
    assert_int_equal(mon_cfg_string_list(doc, r, "scalar", 8, &v, &n, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":2:", "key 'scalar'", "expected a list");
    assert_int_equal(mon_cfg_string_list(doc, r, "nulls", 8, &v, &n, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":5:", "key 'nulls[1]'", "non-empty string");
    assert_int_equal(mon_cfg_string_list(doc, r, "emptyq", 8, &v, &n, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":6:", "key 'emptyq[1]'", NULL);
    assert_int_equal(mon_cfg_string_list(doc, r, "nested", 8, &v, &n, &err), MON_EINVAL);
    msg_has(err.msg, "key 'nested[1]'", NULL, NULL);
    assert_int_equal(mon_cfg_string_list(doc, r, "maps", 8, &v, &n, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":9:", "key 'maps[0]'", NULL);
    assert_int_equal(mon_cfg_string_list(doc, r, "nul", 8, &v, &n, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":11:", "expected a list", NULL);
    /* Failures leave the previous value alone. */
    assert_int_equal(n, 3);
    assert_string_equal(v[2], "c");

    assert_int_equal(mon_cfg_string_list(doc, r, "none", 8, &v, &n, &err), MON_OK);
    assert_int_equal(n, 0);
    assert_non_null(v);
    mon_cfg_strv_free(v, n);
    mon_cfg_strv_free(NULL, 3);
    mon_cfg_doc_free(doc);
}

static void test_enum(void **state)
{
    static const char *const choices[] = {"auto", "nvml", "smi", "off", NULL};
    struct mon_cfg_doc *doc = load("a: smi\nb: bogus\nc: [auto]\nd: AUTO\n");
    struct mon_cfg_error err;
    int v = -1;
    (void)state;
    assert_int_equal(mon_cfg_enum(doc, doc->root, "a", choices, &v, &err), MON_OK);
    assert_int_equal(v, 2);
    v = -1;
    assert_int_equal(mon_cfg_enum(doc, doc->root, "absent", choices, &v, &err), MON_OK);
    assert_int_equal(v, -1);
    assert_int_equal(mon_cfg_enum(doc, doc->root, "b", choices, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":2:", "key 'b'", "'bogus' is not one of: auto, nvml, smi, off");
    assert_int_equal(mon_cfg_enum(doc, doc->root, "c", choices, &v, &err), MON_EINVAL);
    msg_has(err.msg, NAME ":3:", "key 'c'", NULL);
    assert_int_equal(mon_cfg_enum(doc, doc->root, "d", choices, &v, &err), MON_EINVAL);
    assert_int_equal(v, -1);
    mon_cfg_doc_free(doc);
}

static void test_fail_formats(void **state)
{
    struct mon_cfg_doc *doc = load("a: 1\npoll:\n  x: 2\n");
    const struct mon_cfg_node *poll = mon_cfg_get(doc->root, "poll");
    struct mon_cfg_error err;
    (void)state;
    assert_int_equal(mon_cfg_fail(doc, poll, "x", &err, "bad %s %d", "value", 7), MON_EINVAL);
    assert_string_equal(err.msg, NAME ":3:6: key 'poll.x': bad value 7");
    /* An absent key is placed at its parent and appended to the parent's path. */
    assert_int_equal(mon_cfg_fail(doc, poll, "y", &err, "missing"), MON_EINVAL);
    msg_has(err.msg, "key 'poll.y': missing", NULL, NULL);
    /* A node itself (no key). */
    assert_int_equal(mon_cfg_fail(doc, mon_cfg_get(doc->root, "a"), NULL, &err, "odd"), MON_EINVAL);
    assert_string_equal(err.msg, NAME ":1:4: key 'a': odd");
    /* Long messages are truncated, never overflowed. */
    {
        char big[2000];
        memset(big, 'z', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(mon_cfg_fail(doc, poll, "x", &err, "%s", big), MON_EINVAL);
        assert_int_equal(strlen(err.msg), MON_CFG_ERROR_LEN - 1);
    }
    mon_cfg_doc_free(doc);
}

static void test_load_file_missing(void **state)
{
    struct mon_cfg_doc *doc = NULL;
    struct mon_cfg_error err;
    const char *path = "/nonexistent-dir-lanmon/agent.yaml";
    (void)state;
    assert_int_equal(mon_cfg_load_file(path, &doc, &err), MON_ENOENT);
    assert_null(doc);
    msg_has(err.msg, path, NULL, NULL);
}

static void test_load_file_size_cap(void **state)
{
    const size_t mib = 1024 * 1024;
    char *text = malloc(mib + 1);
    char path[64];
    struct mon_cfg_doc *doc = NULL;
    struct mon_cfg_error err;
    char *raw = NULL;
    size_t raw_len = 0;
    (void)state;
    assert_non_null(text);
    /* Exactly 1 MiB: "a: xxxx...\n" is accepted. */
    memcpy(text, "a: ", 3);
    memset(text + 3, 'x', mib - 4);
    text[mib - 1] = '\n';
    write_temp(text, mib, path);
    assert_int_equal(mon_cfg_load_file(path, &doc, &err), MON_OK);
    assert_int_equal(strlen(mon_cfg_get(doc->root, "a")->scalar), mib - 4);
    mon_cfg_doc_free(doc);
    doc = NULL;
    assert_int_equal(mon_cfg_read_file(path, &raw, &raw_len, &err), MON_OK);
    assert_int_equal(raw_len, mib);
    assert_int_equal(raw[mib], '\0');
    assert_memory_equal(raw, text, mib);
    free(raw);
    unlink(path);
    /* One byte more is refused, naming the file. */
    text[mib - 1] = 'x';
    text[mib] = '\n';
    write_temp(text, mib + 1, path);
    assert_int_equal(mon_cfg_load_file(path, &doc, &err), MON_ETOOBIG);
    assert_null(doc);
    msg_has(err.msg, path, "too large", NULL);
    unlink(path);
    free(text);
}

static void test_load_file_empty(void **state)
{
    char path[64];
    struct mon_cfg_doc *doc = NULL;
    struct mon_cfg_error err;
    (void)state;
    write_temp("", 0, path);
    assert_int_equal(mon_cfg_load_file(path, &doc, &err), MON_EINVAL);
    assert_null(doc);
    msg_has(err.msg, path, ":1:", "empty");
    unlink(path);
}

/* Writes content to a temp file and reads it back as a secret. */
static int secret_from(const char *content, char **ret, char *why, size_t why_len)
{
    char path[64];
    int r;
    write_temp(content, strlen(content), path);
    r = mon_cfg_read_secret_file(path, ret, why, why_len);
    unlink(path);
    return r;
}

static void secret_is(const char *content, const char *want)
{
    char *s = NULL;
    char why[256] = "";
    int r = secret_from(content, &s, why, sizeof(why));
    if (r != MON_OK)
        fail_msg("secret from '%s' failed: %d %s", content, r, why);
    assert_string_equal(s, want);
    free(s);
}

static void secret_bad(const char *content, const char *frag)
{
    char *s = NULL;
    char why[256] = "";
    if (secret_from(content, &s, why, sizeof(why)) >= 0)
        fail_msg("secret from '%s' accepted", content);
    assert_null(s);
    msg_has(why, frag, NULL, NULL);
}

static void test_secret_file(void **state)
{
    char *s = NULL;
    char why[256] = "";
    char *big;
    (void)state;
    secret_is("s3cret\n", "s3cret");
    secret_is("s3cret", "s3cret");
    secret_is("  \ts3cret \t\r\n", "s3cret");
    secret_is("first\nsecond\n", "first");
    secret_is("a b\n", "a b");
    secret_bad("", "empty");
    secret_bad("\n", "empty");
    secret_bad(" \t \r\n", "empty");
    secret_bad("\nsecret-on-line-2\n", "empty");
    assert_true(mon_cfg_read_secret_file("/nonexistent-dir-lanmon/token", &s, why, sizeof(why)) <
                0);
    assert_null(s);
    msg_has(why, "/nonexistent-dir-lanmon/token", NULL, NULL);

    /* 4096 bytes is the most; longer is an error, not a silently shortened secret. */
    big = malloc(4099);
    assert_non_null(big);
    memset(big, 'k', 4096);
    big[4096] = '\n';
    big[4097] = '\0';
    secret_from(big, &s, why, sizeof(why));
    assert_non_null(s);
    assert_int_equal(strlen(s), 4096);
    free(s);
    s = NULL;
    big[4096] = 'k';
    big[4097] = '\n';
    big[4098] = '\0';
    if (secret_from(big, &s, why, sizeof(why)) >= 0)
        fail_msg("a 4097-byte secret was accepted (length %zu)", strlen(s));
    assert_null(s);
    msg_has(why, "long", NULL, NULL);
    free(big);
}

/* Issue 11 item 8: a token file (or config) that is a FIFO, a device or huge is refused at once,
 * without waiting for a writer; a NUL in the secret is not cut off silently. */
static void test_secret_file_not_regular(void **state)
{
    char *s = NULL, *text = NULL;
    char why[256] = "", dir[64], path[96], *big;
    struct mon_cfg_error err;
    size_t len = 0;
    (void)state;
#ifndef _WIN32
    snprintf(dir, sizeof(dir), "/tmp/mon_test_cfg_fifo_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/token", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    /* No writer ever opens it: a blocking open would hang here (ctest's timeout). */
    assert_int_equal(mon_cfg_read_secret_file(path, &s, why, sizeof(why)), MON_EINVAL);
    assert_null(s);
    msg_has(why, path, "not a regular file", NULL);
    assert_int_equal(mon_cfg_read_file(path, &text, &len, &err), MON_EINVAL);
    assert_null(text);
    msg_has(err.msg, path, "not a regular file", NULL);
    unlink(path);
    rmdir(dir);
    assert_true(mon_cfg_read_secret_file("/dev/null", &s, why, sizeof(why)) < 0);
    assert_null(s);
    /* A folder is no token file either. */
    assert_int_equal(mon_cfg_read_secret_file("/tmp", &s, why, sizeof(why)), MON_EINVAL);
#else
    (void)dir;
    (void)path;
    (void)err;
    (void)len;
    (void)text;
#endif
    /* A NUL inside the first line: refused, not read as the part before it. */
    write_temp("tok\0junk\n", 9, path);
    assert_int_equal(mon_cfg_read_secret_file(path, &s, why, sizeof(why)), MON_EINVAL);
    assert_null(s);
    msg_has(why, "NUL", NULL, NULL);
    unlink(path);
    /* More than 64 KiB (a wrong file named as the token file): refused before reading. */
    big = malloc(70000);
    assert_non_null(big);
    memset(big, 'x', 70000);
    big[10] = '\n';
    write_temp(big, 70000, path);
    assert_int_equal(mon_cfg_read_secret_file(path, &s, why, sizeof(why)), MON_ETOOBIG);
    assert_null(s);
    msg_has(why, "too large", NULL, NULL);
    unlink(path);
    free(big);
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
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_string_list),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_fail_formats),
        cmocka_unit_test(test_load_file_missing),
        cmocka_unit_test(test_load_file_size_cap),
        cmocka_unit_test(test_load_file_empty),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_secret_file_not_regular),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
