/* SPDX-License-Identifier: MIT */
/* Tests for /proc/stat parsing and the busy percentage between two readings. */
#include "agent/collect/proc_stat.h"
#include "agent/collect/procfs.h"
#include "common/err.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define FIXTURE_MAX 65536

static int parse_text(const char *text, struct agent_cpu_times *t, unsigned *ncpu)
{
    return agent_parse_proc_stat(text, strlen(text), t, ncpu);
}

static int parse_fixture(const char *dir, struct agent_cpu_times *t, unsigned *ncpu)
{
    char buf[FIXTURE_MAX];
    struct agent_procfs_file f;
    size_t len;

    assert_int_equal(agent_procfs_file_init(&f, dir, "stat"), MON_OK);
    assert_int_equal(agent_procfs_file_read(&f, buf, sizeof(buf), &len), MON_OK);
    agent_procfs_file_done(&f);
    return agent_parse_proc_stat(buf, len, t, ncpu);
}

static void assert_times(const struct agent_cpu_times *t, uint64_t user, uint64_t nice,
                         uint64_t system, uint64_t idle, uint64_t iowait, uint64_t irq,
                         uint64_t softirq, uint64_t steal)
{
    assert_int_equal(t->user, user);
    assert_int_equal(t->nice, nice);
    assert_int_equal(t->system, system);
    assert_int_equal(t->idle, idle);
    assert_int_equal(t->iowait, iowait);
    assert_int_equal(t->irq, irq);
    assert_int_equal(t->softirq, softirq);
    assert_int_equal(t->steal, steal);
}

static void test_normal(void **state)
{
    struct agent_cpu_times t;
    unsigned n = 99;
    const char *text = "cpu  1 2 3 4 5 6 7 8 9 10\n"
                       "cpu0 1 2 3 4 5 6 7 8 9 10\n"
                       "cpu1 0 0 0 0 0 0 0 0 0 0\n"
                       "intr 5 0 0\nctxt 7\n";

    assert_int_equal(parse_text(text, &t, &n), MON_OK);
    assert_times(&t, 1, 2, 3, 4, 5, 6, 7, 8);
    assert_int_equal(n, 2);
}

static void test_fixture_basic(void **state)
{
    struct agent_cpu_times t;
    unsigned n;

    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/basic", &t, &n), MON_OK);
    assert_times(&t, 1000, 0, 500, 8000, 500, 0, 0, 0);
    assert_int_equal(n, 4);
}

/* Copied from a real machine's /proc/stat: many lines after the cpu lines. */
static void test_fixture_host(void **state)
{
    struct agent_cpu_times t;
    unsigned n;

    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/host", &t, &n), MON_OK);
    assert_times(&t, 2169, 0, 2258, 488509, 415, 0, 30, 9);
    assert_int_equal(n, 2);
}

/* Linux 2.4 printed only user nice system idle. */
static void test_fixture_old_kernel(void **state)
{
    struct agent_cpu_times t;
    unsigned n;

    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/old_kernel", &t, &n), MON_OK);
    assert_times(&t, 300, 0, 100, 600, 0, 0, 0, 0);
    assert_int_equal(n, 2);
}

static void test_extra_columns_ignored(void **state)
{
    struct agent_cpu_times t;
    unsigned n;

    assert_int_equal(parse_text("cpu  1 2 3 4 5 6 7 8 9 10 11 12\ncpu0 1\n", &t, &n), MON_OK);
    assert_times(&t, 1, 2, 3, 4, 5, 6, 7, 8);
    assert_int_equal(n, 1);
}

static void test_cpu_line_not_first_and_no_newline(void **state)
{
    struct agent_cpu_times t;
    unsigned n;

    assert_int_equal(parse_text("cpu0 1 1 1 1\nbtime 5\ncpu  9\t8 7 6 5", &t, &n), MON_OK);
    assert_times(&t, 9, 8, 7, 6, 5, 0, 0, 0);
    assert_int_equal(n, 1);
}

/* Only len bytes are read: what follows (here a bad column) must not matter. */
static void test_len_respected(void **state)
{
    const char text[] = "cpu  1 2 3 4 5 garbage";
    struct agent_cpu_times t;
    unsigned n;

    assert_int_equal(agent_parse_proc_stat(text, strlen("cpu  1 2 3 4 5"), &t, &n), MON_OK);
    assert_times(&t, 1, 2, 3, 4, 5, 0, 0, 0);
    assert_int_equal(agent_parse_proc_stat(text, strlen(text), &t, &n), MON_EPARSE);
}

static void test_missing_cpu_line(void **state)
{
    struct agent_cpu_times t;
    unsigned n = 42;

    assert_int_equal(parse_text("cpu0 1 2 3 4\nintr 5\n", &t, &n), MON_EPARSE);
    assert_int_equal(parse_text("", &t, &n), MON_EPARSE);
    assert_int_equal(parse_text("cpu\n", &t, &n), MON_EPARSE);
    assert_int_equal(n, 42); /* untouched on error */
}

static void test_garbage(void **state)
{
    struct agent_cpu_times t;
    unsigned n;
    const char *bad[] = {
        "hello world\n",
        "cpu  1 2 x 4\n",
        "cpu  1 2 3 -4\n",
        "cpu  1 2 3 +4\n",
        "cpu  1 2 3 4.5\n",
        "cpu  1 2 3 4x\n",
        "cpu  0x10 2 3 4\n",
        "cpu  18446744073709551616 0 0 0\n", /* UINT64_MAX + 1 */
        "cpu \n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_text(bad[i], &t, &n), MON_EPARSE);
    assert_int_equal(parse_text("cpu  18446744073709551615 0 0 0\n", &t, &n), MON_OK);
    assert_true(t.user == UINT64_MAX);
}

static void test_truncated(void **state)
{
    static const char host_first_line[] = "cpu  2169 0 2258 488509 415 0 30 9 0 0\n";
    struct agent_cpu_times t;
    unsigned n;

    assert_int_equal(parse_text("cpu  1 2 3\n", &t, &n), MON_EPARSE);
    assert_int_equal(parse_text("cpu  1 2 3", &t, &n), MON_EPARSE);
    /* Cut after "cpu  2169 0 2258" (16 bytes): too few columns. */
    assert_int_equal(agent_parse_proc_stat(host_first_line, 16, &t, &n), MON_EPARSE);
}

static struct agent_cpu_times times_of(uint64_t user, uint64_t system, uint64_t idle,
                                       uint64_t iowait)
{
    return (struct agent_cpu_times){.user = user, .system = system, .idle = idle, .iowait = iowait};
}

static void test_busy_pct(void **state)
{
    struct agent_cpu_times prev = {0}, cur;
    unsigned n;
    double pct = -1;

    assert_int_equal(parse_fixture(MON_FIXTURES "/proc/basic", &cur, &n), MON_OK);
    /* 10000 jiffies, idle 8000 + iowait 500: busy 1500 = 15 %. */
    assert_int_equal(agent_cpu_times_busy_pct(&prev, &cur, &pct), MON_OK);
    assert_true(fabs(pct - 15.0) < 1e-9);

    prev = times_of(100, 100, 700, 100);
    cur = times_of(160, 140, 790, 110); /* +60 +40 busy, +90 +10 idle */
    assert_int_equal(agent_cpu_times_busy_pct(&prev, &cur, &pct), MON_OK);
    assert_true(fabs(pct - 50.0) < 1e-9);

    cur = times_of(100, 100, 800, 100);
    assert_int_equal(agent_cpu_times_busy_pct(&prev, &cur, &pct), MON_OK);
    assert_true(fabs(pct) < 1e-9);

    /* steal, irq and softirq count as busy */
    cur = prev;
    cur.steal = 10;
    cur.irq = 5;
    cur.softirq = 5;
    assert_int_equal(agent_cpu_times_busy_pct(&prev, &cur, &pct), MON_OK);
    assert_true(fabs(pct - 100.0) < 1e-9);

    /* Huge all-busy deltas round in double arithmetic; the result stays within 0..100
     * (found by fuzz_proc_stat: 100.00000000000001). */
    prev = times_of(0, 0, 0, 0);
    cur = times_of(184467440737096760ULL, 0, 0, 0);
    assert_int_equal(agent_cpu_times_busy_pct(&prev, &cur, &pct), MON_OK);
    assert_true(pct <= 100.0 && pct > 99.999);
}

static void test_no_time_passed(void **state)
{
    struct agent_cpu_times t = times_of(5, 5, 5, 5);
    double pct = -1;

    assert_int_equal(agent_cpu_times_busy_pct(&t, &t, &pct), MON_EAGAIN);
    assert_true(pct == -1);
}

/* Every counter, iowait included (some kernels decrement it), must trigger MON_ERANGE. */
static void test_backwards(void **state)
{
    static const size_t field[] = {
        offsetof(struct agent_cpu_times, user),    offsetof(struct agent_cpu_times, nice),
        offsetof(struct agent_cpu_times, system),  offsetof(struct agent_cpu_times, idle),
        offsetof(struct agent_cpu_times, iowait),  offsetof(struct agent_cpu_times, irq),
        offsetof(struct agent_cpu_times, softirq), offsetof(struct agent_cpu_times, steal),
    };

    for (size_t i = 0; i < sizeof(field) / sizeof(field[0]); i++) {
        struct agent_cpu_times prev = {10, 10, 10, 10, 10, 10, 10, 10};
        struct agent_cpu_times cur = {20, 20, 20, 20, 20, 20, 20, 20};
        uint64_t nine = 9;
        double pct = -1;

        memcpy((char *)&cur + field[i], &nine, sizeof(nine));
        assert_int_equal(agent_cpu_times_busy_pct(&prev, &cur, &pct), MON_ERANGE);
        assert_true(pct == -1);
    }
}

/* A counter that wrapped around 2^64 looks like it went backwards. */
static void test_wrap(void **state)
{
    struct agent_cpu_times prev = times_of(UINT64_MAX - 5, 0, 100, 0);
    struct agent_cpu_times cur = times_of(10, 0, 200, 0);
    double pct;

    assert_int_equal(agent_cpu_times_busy_pct(&prev, &cur, &pct), MON_ERANGE);

    /* Deltas that together overflow uint64 are out of range too, not a bogus percentage. */
    prev = times_of(0, 0, 0, 0);
    cur = times_of(UINT64_MAX, UINT64_MAX, 0, 0);
    assert_int_equal(agent_cpu_times_busy_pct(&prev, &cur, &pct), MON_ERANGE);
}

static void test_btime(void **state)
{
    int64_t btime = 5;
    const char *text = "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 5\nbtime 1768600000\nprocesses 9\n";

    (void)state;
    assert_int_equal(agent_parse_proc_stat_btime(text, strlen(text), &btime), MON_OK);
    assert_int_equal(btime, 1768600000);
    text = "cpu  1 2 3 4\nbtime 42"; /* last line without newline */
    assert_int_equal(agent_parse_proc_stat_btime(text, strlen(text), &btime), MON_OK);
    assert_int_equal(btime, 42);
    btime = 5;
    text = "cpu  1 2 3 4\nxbtime 42\n";
    assert_int_equal(agent_parse_proc_stat_btime(text, strlen(text), &btime), MON_ENOENT);
    text = "btime soon\n";
    assert_int_equal(agent_parse_proc_stat_btime(text, strlen(text), &btime), MON_EPARSE);
    assert_int_equal(btime, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_btime),
        cmocka_unit_test(test_normal),
        cmocka_unit_test(test_fixture_basic),
        cmocka_unit_test(test_fixture_host),
        cmocka_unit_test(test_fixture_old_kernel),
        cmocka_unit_test(test_extra_columns_ignored),
        cmocka_unit_test(test_cpu_line_not_first_and_no_newline),
        cmocka_unit_test(test_len_respected),
        cmocka_unit_test(test_missing_cpu_line),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_busy_pct),
        cmocka_unit_test(test_no_time_passed),
        cmocka_unit_test(test_backwards),
        cmocka_unit_test(test_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
