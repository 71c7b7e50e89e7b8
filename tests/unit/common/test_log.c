/* SPDX-License-Identifier: MIT */
/* Unit tests for logging to a file: time-stamped whole lines, rotation by size with a bounded
 * number of old files, concurrent writers, bad arguments (also run under wine). */
#include "common/log.h"
#include "common/err.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_os.h"

#define MAX_BYTES 2048

/* Reads a whole file; NULL when it does not exist. */
static char *slurp(const char *path, size_t *ret_len)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    *ret_len = (size_t)n;
    return buf;
}

/* Checks that every line of text is "YYYY-MM-DDTHH:MM:SSZ prog: info: line <n>" and returns
 * the numbers in order (count in *ret_n). */
static void parse_lines(const char *text, int *nums, size_t max, size_t *ret_n)
{
    size_t n = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        int num = -1, used = 0;
        assert_non_null(nl); /* lines are whole */
        assert_true(nl - p > 21);
        assert_true(p[4] == '-' && p[10] == 'T' && p[19] == 'Z' && p[20] == ' ');
        if (sscanf(p + 21, "test-log: info: line %d%n", &num, &used) != 1)
            fail_msg("unexpected line: %.*s", (int)(nl - p), p);
        assert_true(num >= 0);
        assert_true(n < max);
        nums[n++] = num;
        p = nl + 1;
    }
    *ret_n = n;
}

struct fx {
    char dir[512], path[600];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f || test_make_temp_dir("lanmon-log", f->dir, sizeof(f->dir)) < 0) {
        free(f);
        return -1;
    }
    /* A folder that does not exist yet: it is created. */
    snprintf(f->path, sizeof(f->path), "%s/logs/sub/test.log", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    mon_log_close();
    test_rm_tree(f->dir);
    free(f);
    return 0;
}

/* Reads the log file of generation k (0: the current file, k: path.k); NULL when missing. */
static char *read_generation(const struct fx *f, int k, size_t *ret_len)
{
    char name[700];
    if (k > 0)
        snprintf(name, sizeof(name), "%s.%d", f->path, k);
    else
        snprintf(name, sizeof(name), "%s", f->path);
    return slurp(name, ret_len);
}

static void test_rotation_keeps_order_and_count(void **state)
{
    struct fx *f = *state;
    char name[700];
    int nums[4096], expect = 0;
    size_t len;

    mon_log_init("test-log", MON_LOG_INFO);
    assert_int_equal(mon_log_to_file(f->path, MAX_BYTES, 3), MON_OK);
    for (int i = 0; i < 400; i++)
        mon_info("line %d %s", i, "padding-padding-padding");
    mon_debug("line %d below the level", 9999);
    mon_log_close();

    /* test.log.3 is the oldest kept, then .2, .1 and test.log: numbers run on without gaps
     * across them, each file stays within the limit and nothing older than .3 is kept. */
    snprintf(name, sizeof(name), "%s.4", f->path);
    assert_null(fopen(name, "rb"));
    for (int k = 3; k >= 0; k--) {
        size_t n;
        char *text = read_generation(f, k, &len);
        if (!text)
            fail_msg("generation %d of %s is missing", k, f->path);
        assert_true(len <= MAX_BYTES);
        assert_true(len > MAX_BYTES / 2); /* rotated when full, not earlier */
        parse_lines(text, nums, 4096, &n);
        assert_true(n > 0);
        if (k == 3)
            expect = nums[0];
        for (size_t i = 0; i < n; i++)
            assert_int_equal(nums[i], expect++);
        free(text);
    }
    assert_int_equal(expect, 400); /* the newest line is the last of test.log */
}

static void test_appends_to_existing_file(void **state)
{
    struct fx *f = *state;
    char *text;
    size_t len, n;
    int nums[16];

    mon_log_init("test-log", MON_LOG_INFO);
    assert_int_equal(mon_log_to_file(f->path, MAX_BYTES, 2), MON_OK);
    mon_info("line %d", 1);
    mon_log_close();
    assert_int_equal(mon_log_to_file(f->path, MAX_BYTES, 2), MON_OK);
    mon_info("line %d", 2);
    mon_log_close();
    text = slurp(f->path, &len);
    assert_non_null(text);
    parse_lines(text, nums, 16, &n);
    assert_int_equal(n, 2);
    assert_int_equal(nums[0], 1);
    assert_int_equal(nums[1], 2);
    free(text);
}

struct writer_arg {
    int base;
};

static void *writer_main(void *arg)
{
    const struct writer_arg *w = arg;
    for (int i = 0; i < 250; i++)
        mon_info("line %d", w->base + i);
    return NULL;
}

static void test_concurrent_writers_lose_no_line(void **state)
{
    struct fx *f = *state;
    pthread_t t[4];
    struct writer_arg args[4];
    static int nums[2048];
    static bool seen[1000];
    size_t total = 0;

    mon_log_init("test-log", MON_LOG_INFO);
    /* Enough old files to keep everything: 1000 lines of ~45 bytes in 2 KiB files. */
    assert_int_equal(mon_log_to_file(f->path, MAX_BYTES, 60), MON_OK);
    for (int i = 0; i < 4; i++) {
        args[i].base = i * 250;
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    mon_log_close();
    for (int k = 0; k <= 60; k++) {
        size_t len, n;
        char *text = read_generation(f, k, &len);
        if (!text)
            continue;
        assert_true(len <= MAX_BYTES);
        parse_lines(text, nums, 2048, &n);
        for (size_t i = 0; i < n; i++) {
            assert_true(nums[i] >= 0 && nums[i] < 1000);
            assert_false(seen[nums[i]]);
            seen[nums[i]] = true;
        }
        total += n;
        free(text);
    }
    assert_int_equal(total, 1000);
}

static void test_bad_arguments(void **state)
{
    struct fx *f = *state;
    char blocked[700];
    FILE *fp;

    assert_int_equal(mon_log_to_file(NULL, MAX_BYTES, 3), MON_EINVAL);
    assert_int_equal(mon_log_to_file("", MAX_BYTES, 3), MON_EINVAL);
    assert_int_equal(mon_log_to_file(f->path, 10, 3), MON_EINVAL);
    assert_int_equal(mon_log_to_file(f->path, MAX_BYTES, 0), MON_EINVAL);
    /* A plain file where the folder should be: an error, and logging stays on stderr. */
    snprintf(blocked, sizeof(blocked), "%s/file", f->dir);
    fp = fopen(blocked, "wb");
    assert_non_null(fp);
    fclose(fp);
    snprintf(blocked, sizeof(blocked), "%s/file/sub/test.log", f->dir);
    assert_true(mon_log_to_file(blocked, MAX_BYTES, 3) < 0);
    mon_info("still logging to stderr");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rotation_keeps_order_and_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appends_to_existing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_lose_no_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
