/* SPDX-License-Identifier: MIT */
/* Unit tests for the config reader's strict typed getters (integers, booleans, strings,
 * durations, string lists, enums) and the messages of a wrong value. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int),          cmocka_unit_test(test_bool),
        cmocka_unit_test(test_string),       cmocka_unit_test(test_duration),
        cmocka_unit_test(test_string_list),  cmocka_unit_test(test_enum),
        cmocka_unit_test(test_fail_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
