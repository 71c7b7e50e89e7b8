/* SPDX-License-Identifier: MIT */
/* Unit tests for the portability layer's path syntax (mon_os_path_last_sep,
 * mon_os_path_is_absolute: '\' and drives only on Windows) and its OS-independent file and name
 * helpers (os_common.c). Runs on Linux and, in the Windows build, under wine. */
#include "common/err.h"
#include "common/os/os.h"
#include "support/test_os.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_last_sep(void **state)
{
    const char *p = "data/sub/x.db", *win = "C:\\lanmon\\config.yaml", *mixed = "a\\b/c\\d";

    (void)state;
    assert_ptr_equal(mon_os_path_last_sep(p), p + 8);
    assert_ptr_equal(mon_os_path_last_sep(p + 8), p + 8);
    assert_null(mon_os_path_last_sep("config.yaml"));
    assert_null(mon_os_path_last_sep(""));
    if (MON_OS_PATH_BACKSLASH) {
        assert_ptr_equal(mon_os_path_last_sep(win), win + 9);
        assert_ptr_equal(mon_os_path_last_sep(mixed), mixed + 5);
    } else {
        /* A backslash is an ordinary character of a POSIX file name. */
        assert_null(mon_os_path_last_sep(win));
        assert_ptr_equal(mon_os_path_last_sep(mixed), mixed + 3);
    }
}

static void test_is_absolute(void **state)
{
    (void)state;
    assert_true(mon_os_path_is_absolute("/var/lib/lanmon/x.db"));
    assert_true(mon_os_path_is_absolute("/"));
    assert_false(mon_os_path_is_absolute("data/x.db"));
    assert_false(mon_os_path_is_absolute("./x.db"));
    assert_false(mon_os_path_is_absolute("x"));
    assert_false(mon_os_path_is_absolute(""));
    assert_int_equal(mon_os_path_is_absolute("C:\\lanmon\\x.db"), MON_OS_PATH_BACKSLASH);
    assert_int_equal(mon_os_path_is_absolute("D:/lanmon/x.db"), MON_OS_PATH_BACKSLASH);
    assert_int_equal(mon_os_path_is_absolute("\\\\server\\share\\x.db"), MON_OS_PATH_BACKSLASH);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void test_read_file(void **state)
{
    char dir[512], path[600], *text = NULL;
    size_t len = 0;
    unsigned long long size = 0;
    int fd = -1;

    (void)state;
    assert_int_equal(test_make_temp_dir("lanmon-os", dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/ten.txt", dir);
    write_file(path, "0123456789");

    assert_int_equal(mon_os_read_file(path, 10, &text, &len), MON_OK);
    assert_int_equal(len, 10);
    assert_string_equal(text, "0123456789");
    free(text);
    text = NULL;
    /* One byte over the cap: refused, nothing written. */
    assert_int_equal(mon_os_read_file(path, 9, &text, &len), MON_ETOOBIG);
    assert_null(text);
    /* A folder is not a regular file; a missing file is missing. */
    assert_int_equal(mon_os_read_file(dir, 100, &text, &len), MON_EINVAL);
    snprintf(path, sizeof(path), "%s/absent.txt", dir);
    assert_int_equal(mon_os_read_file(path, 100, &text, &len), MON_ENOENT);
    assert_null(text);

    /* mon_os_open_regular lists regular files only: a folder is as good as absent. */
    assert_int_equal(mon_os_open_regular(dir, &fd, &size), MON_ENOENT);
    snprintf(path, sizeof(path), "%s/ten.txt", dir);
    assert_int_equal(mon_os_open_regular(path, &fd, &size), MON_OK);
    assert_true(fd >= 0);
    assert_int_equal(size, 10);
    close(fd);

    /* An empty file is an empty text, also with a cap of 0. */
    snprintf(path, sizeof(path), "%s/empty.txt", dir);
    write_file(path, "");
    assert_int_equal(mon_os_read_file(path, 0, &text, &len), MON_OK);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
    test_rm_tree(dir);
}

static void test_host_names(void **state)
{
    char names[1024], list[1030], tiny[1];

    (void)state;
    assert_int_equal(mon_os_init(), MON_OK);
    assert_int_equal(mon_os_host_names(names, sizeof(names)), MON_OK);
    /* The machine's name first, then its addresses: no loopback one, none twice. */
    assert_true(names[0] != '\0' && names[0] != ',');
    assert_null(strstr(names, "127.0.0.1"));
    snprintf(list, sizeof(list), ",%s,", names);
    for (const char *item = list + 1; *item;) {
        const char *comma = strchr(item, ',');
        char pattern[260];
        assert_non_null(comma);
        assert_true(comma > item && (size_t)(comma - item) < sizeof(pattern) - 2);
        snprintf(pattern, sizeof(pattern), ",%.*s,", (int)(comma - item), item);
        assert_null(strstr(comma, pattern)); /* not again further on */
        item = comma + 1;
    }
    assert_int_equal(mon_os_host_names(tiny, 0), MON_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_sep),
        cmocka_unit_test(test_is_absolute),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_host_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
