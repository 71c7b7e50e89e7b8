/* SPDX-License-Identifier: MIT */
/* Tests for /proc/meminfo parsing: kB to bytes, the pre-3.14 fallback and malformed input. */
#include "agent/collect/proc_meminfo.h"
#include "agent/collect/procfs.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define FIXTURE_MAX 65536

static int parse_text(const char *text, struct agent_meminfo *m)
{
    return agent_parse_proc_meminfo(text, strlen(text), m);
}

static int parse_fixture(const char *dir, struct agent_meminfo *m)
{
    char buf[FIXTURE_MAX];
    struct agent_procfs_file f;
    size_t len;

    assert_int_equal(agent_procfs_file_init(&f, dir, "meminfo"), MON_OK);
    assert_int_equal(agent_procfs_file_read(&f, buf, sizeof(buf), &len), MON_OK);
    agent_procfs_file_done(&f);
    return agent_parse_proc_meminfo(buf, len, m);
}

static void test_fixture_basic(void **state)
{
    struct agent_meminfo m;

    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/basic", &m), MON_OK);
    assert_true(m.total_bytes == 16384000ULL * 1024);
    assert_true(m.available_bytes == 4096000ULL * 1024);
}

/* Copied from a real machine: MemAvailable wins over the MemFree+Buffers+Cached estimate. */
static void test_fixture_host(void **state)
{
    struct agent_meminfo m;

    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/host", &m), MON_OK);
    assert_true(m.total_bytes == 24684096ULL * 1024);
    assert_true(m.available_bytes == 24348840ULL * 1024);
}

static void test_fixture_old_kernel_fallback(void **state)
{
    struct agent_meminfo m;

    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/old_kernel", &m), MON_OK);
    assert_true(m.total_bytes == 1031016ULL * 1024);
    assert_true(m.available_bytes == (13548ULL + 95732 + 474300) * 1024);
}

static void test_order_and_similar_keys(void **state)
{
    struct agent_meminfo m;
    /* "SwapCached" and "Active(file)" must not be taken for "Cached" or anything else. */
    const char *text = "SwapCached: 7 kB\n"
                       "MemAvailable:   2 kB\n"
                       "Active(file):  9 kB\n"
                       "MemTotal:  10 kB";

    assert_int_equal(parse_text(text, &m), MON_OK);
    assert_true(m.total_bytes == 10240);
    assert_true(m.available_bytes == 2048);
}

static void test_missing_fields(void **state)
{
    struct agent_meminfo m = {.total_bytes = 77, .available_bytes = 77};

    assert_int_equal(parse_text("", &m), MON_EPARSE);
    assert_int_equal(parse_text("MemAvailable: 2 kB\n", &m), MON_EPARSE);
    /* no MemAvailable and an incomplete fallback */
    assert_int_equal(parse_text("MemTotal: 10 kB\nMemFree: 1 kB\nBuffers: 1 kB\n", &m), MON_EPARSE);
    assert_true(m.total_bytes == 77 && m.available_bytes == 77); /* untouched on error */
}

static void test_malformed(void **state)
{
    struct agent_meminfo m;
    const char *bad[] = {
        "MemTotal: abc kB\nMemAvailable: 1 kB\n",
        "MemTotal: -10 kB\nMemAvailable: 1 kB\n",
        "MemTotal: 10\nMemAvailable: 1 kB\n",
        "MemTotal: 10 MB\nMemAvailable: 1 kB\n",
        "MemTotal: 10 kB extra\nMemAvailable: 1 kB\n",
        "MemTotal: kB\nMemAvailable: 1 kB\n",
        "MemTotal: 10 kB\nMemAvailable: 1.5 kB\n",
        "MemTotal: 99999999999999999999 kB\nMemAvailable: 1 kB\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_text(bad[i], &m), MON_EPARSE);
}

static void test_range(void **state)
{
    struct agent_meminfo m;

    assert_int_equal(parse_text("MemTotal: 10 kB\nMemAvailable: 11 kB\n", &m), MON_ERANGE);
    /* 2^64 / 1024 kB does not fit in bytes */
    assert_int_equal(parse_text("MemTotal: 18014398509481984 kB\nMemAvailable: 1 kB\n", &m),
                     MON_ERANGE);
    assert_int_equal(parse_text("MemTotal: 18014398509481983 kB\nMemAvailable: 1 kB\n", &m),
                     MON_OK);
    assert_true(m.total_bytes == 18014398509481983ULL * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_basic),
        cmocka_unit_test(test_fixture_host),
        cmocka_unit_test(test_fixture_old_kernel_fallback),
        cmocka_unit_test(test_order_and_similar_keys),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
