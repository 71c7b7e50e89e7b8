/* SPDX-License-Identifier: MIT */
/* Helpers of the config reader's unit tests (test_cfg.c, test_cfg_values.c, test_cfg_file.c):
 * loading a text that must load or must fail, checking a message's fragments and position, and
 * writing a temporary file. Include after cmocka.h. */
#ifndef MON_TESTS_SUPPORT_TEST_CFG_UTIL_H
#define MON_TESTS_SUPPORT_TEST_CFG_UTIL_H

#include "common/cfg.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME "test.yaml"

static inline struct mon_cfg_doc *load(const char *text)
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
static inline void msg_has(const char *msg, const char *f1, const char *f2, const char *f3)
{
    const char *frags[] = {f1, f2, f3};
    for (size_t i = 0; i < 3; i++)
        if (frags[i] && !strstr(msg, frags[i]))
            fail_msg("message '%s' lacks '%s'", msg, frags[i]);
}

/* Expects the text to be rejected by the loader with a message holding the fragments. */
static inline void load_fails(const char *text, const char *f1, const char *f2, const char *f3)
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
static inline void msg_position(const char *msg, int *line, int *col)
{
    if (sscanf(msg, NAME ":%d:%d:", line, col) != 2 || *line < 1 || *col < 1)
        fail_msg("message '%s' has no position", msg);
}

/* Writes len bytes to a new temporary file; path must hold 64 bytes. */
static inline void write_temp(const char *data, size_t len, char *path)
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

#endif
