/* SPDX-License-Identifier: MIT */
/* Unit tests for the config reader on files: a missing, over-sized or empty file, and secret
 * files (token_file:) with their checks. */
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
        cmocka_unit_test(test_load_file_missing),       cmocka_unit_test(test_load_file_size_cap),
        cmocka_unit_test(test_load_file_empty),         cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_secret_file_not_regular),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
