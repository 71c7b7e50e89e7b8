/* SPDX-License-Identifier: MIT */
/* Tests for disk usage arithmetic (against df) and the per-mount worker threads, including a
 * statvfs that never returns. */
#include "agent/collect/disk_monitor.h"
#include "common/clock.h"
#include "common/err.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define WAIT_MS 3000 /* generous: sanitizers and loaded CI machines are slow */

/* ---- arithmetic ---- */

static void test_usage_arithmetic(void **state)
{
    struct agent_disk_usage u;

    assert_int_equal(agent_disk_usage_from_statvfs(100, 40, 30, 4096, &u), MON_OK);
    assert_true(u.total_bytes == 100 * 4096);
    assert_true(u.used_bytes == 60 * 4096);
    assert_true(u.avail_bytes == 30 * 4096);
    /* df: used / (used + avail), root's reserve (bfree - bavail) left out */
    assert_true(fabs(u.used_pct - 6000.0 / 90.0) < 1e-9);

    assert_int_equal(agent_disk_usage_from_statvfs(1000, 1000, 1000, 512, &u), MON_OK);
    assert_true(u.used_bytes == 0 && u.used_pct == 0.0);

    /* full for users, only the reserve left: used + avail = used */
    assert_int_equal(agent_disk_usage_from_statvfs(1000, 50, 0, 1024, &u), MON_OK);
    assert_true(fabs(u.used_pct - 100.0) < 1e-9);
}

static void test_usage_pseudo_fs(void **state)
{
    struct agent_disk_usage u = {.used_pct = 5};

    assert_int_equal(agent_disk_usage_from_statvfs(0, 0, 0, 4096, &u), MON_OK);
    assert_true(u.total_bytes == 0 && u.used_bytes == 0 && u.avail_bytes == 0);
    assert_true(u.used_pct == 0.0);
}

static void test_usage_range(void **state)
{
    struct agent_disk_usage u = {.used_pct = -3};
    const uint64_t max_blocks = UINT64_MAX / 4096;

    assert_int_equal(agent_disk_usage_from_statvfs(100, 40, 30, 0, &u), MON_ERANGE);
    assert_int_equal(agent_disk_usage_from_statvfs(100, 101, 30, 4096, &u), MON_ERANGE);
    assert_int_equal(agent_disk_usage_from_statvfs(max_blocks + 1, 0, 0, 4096, &u), MON_ERANGE);
    assert_int_equal(agent_disk_usage_from_statvfs(10, 0, max_blocks + 1, 4096, &u), MON_ERANGE);
    /* each product fits, but used + avail does not */
    assert_int_equal(agent_disk_usage_from_statvfs(max_blocks, 0, max_blocks, 4096, &u),
                     MON_ERANGE);
    assert_true(u.used_pct == -3); /* untouched on error */

    assert_int_equal(agent_disk_usage_from_statvfs(max_blocks, max_blocks / 2, 0, 4096, &u),
                     MON_OK);
    assert_true(u.total_bytes == max_blocks * 4096);
}

/* Same numbers as `df -B1` for the root filesystem of this machine. */
static void test_usage_matches_df(void **state)
{
    unsigned long long size, used, avail;
    unsigned pcent;
    char line[512];
    struct statvfs sv;
    struct agent_disk_usage u;
    double df_pct;
    FILE *p;

    assert_int_equal(statvfs("/", &sv), 0);
    assert_int_equal(agent_disk_usage_from_statvfs(sv.f_blocks, sv.f_bfree, sv.f_bavail,
                                                   sv.f_frsize ? sv.f_frsize : sv.f_bsize, &u),
                     MON_OK);
    p = popen("df -B1 --output=size,used,avail,pcent / 2>&1", "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof(line), p)); /* header */
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    assert_int_equal(sscanf(line, "%llu %llu %llu %u%%", &size, &used, &avail, &pcent), 4);

    /* The size does not change between the two calls; used may, by a little. */
    assert_true(u.total_bytes == size);
    df_pct = used + avail ? (double)used * 100.0 / (double)(used + avail) : 0.0;
    assert_true(fabs(u.used_pct - df_pct) < 0.1);
    /* df rounds Use% up to a whole percent. */
    assert_true(fabs(ceil(u.used_pct) - (double)pcent) <= 1.0);
}

/* ---- fakes injected into the monitor ---- */

struct fake_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls;       /* statvfs calls started */
    int returned;    /* calls that returned */
    int block_after; /* calls with index >= this block until release */
    bool release;
    int fail_errno; /* 0: succeed */
};

static struct fake_state fake = {.lock = PTHREAD_MUTEX_INITIALIZER,
                                 .cond = PTHREAD_COND_INITIALIZER};

static void fake_reset(int block_after, int fail_errno)
{
    pthread_mutex_lock(&fake.lock);
    fake.calls = fake.returned = 0;
    fake.block_after = block_after;
    fake.release = false;
    fake.fail_errno = fail_errno;
    pthread_mutex_unlock(&fake.lock);
}

/* Fills numbers that depend on the path, so the order of entries can be checked. */
static int fake_statvfs(const char *path, struct statvfs *buf)
{
    int err;

    pthread_mutex_lock(&fake.lock);
    if (fake.calls++ >= fake.block_after)
        while (!fake.release)
            pthread_cond_wait(&fake.cond, &fake.lock);
    fake.returned++;
    err = fake.fail_errno;
    pthread_mutex_unlock(&fake.lock);
    if (err) {
        errno = err;
        return -1;
    }
    memset(buf, 0, sizeof(*buf));
    buf->f_bsize = buf->f_frsize = 4096;
    buf->f_blocks = 1000 * strlen(path);
    buf->f_bfree = 250 * strlen(path);
    buf->f_bavail = 200 * strlen(path);
    return 0;
}

static int fake_counter(int *field)
{
    int v;
    pthread_mutex_lock(&fake.lock);
    v = *field;
    pthread_mutex_unlock(&fake.lock);
    return v;
}

/* Releases blocked fakes and waits for them to return, so that the detached workers can
 * free their state before LeakSanitizer looks at exit. */
static void fake_release_all(void)
{
    int64_t until = mon_mono_ms() + WAIT_MS;

    pthread_mutex_lock(&fake.lock);
    fake.release = true;
    pthread_cond_broadcast(&fake.cond);
    pthread_mutex_unlock(&fake.lock);
    while (fake_counter(&fake.returned) < fake_counter(&fake.calls) && mon_mono_ms() < until)
        mon_sleep_ms(2);
    mon_sleep_ms(50); /* the worker unlocks, frees and exits */
}

/* Reads entry 0 until it has a value or an error, or WAIT_MS passes. */
static struct agent_disk_entry wait_settled(struct agent_disk_monitor *m)
{
    int64_t until = mon_mono_ms() + WAIT_MS;
    struct agent_disk_entry e;

    do {
        assert_int_equal(agent_disk_monitor_read(m, &e, 1), 1);
        if (e.have_value || e.error[0])
            return e;
        mon_sleep_ms(2);
    } while (mon_mono_ms() < until);
    fail_msg("no reading within %d ms", WAIT_MS);
    return e;
}

/* ---- monitor ---- */

static void test_monitor_reads_and_copies(void **state)
{
    char root[] = "/", proc[] = "/proc";
    char *mounts[] = {root, proc};
    struct agent_disk_entry e[3];
    struct agent_disk_monitor *m;
    int64_t until;

    fake_reset(1000000, 0);
    assert_int_equal(agent_disk_monitor_new(mounts, 2, 20, 5000, fake_statvfs, &m), MON_OK);
    assert_non_null(m);
    root[0] = 'X'; /* the monitor keeps its own copy */
    until = mon_mono_ms() + WAIT_MS;
    do {
        mon_sleep_ms(2);
        assert_int_equal(agent_disk_monitor_read(m, e, 3), 2);
    } while ((!e[0].have_value || !e[1].have_value) && mon_mono_ms() < until);

    assert_string_equal(e[0].mount, "/");
    assert_string_equal(e[1].mount, "/proc");
    assert_true(e[0].have_value && e[1].have_value);
    assert_false(e[0].stale || e[1].stale);
    assert_string_equal(e[0].error, "");
    assert_true(e[0].usage.total_bytes == 1000ULL * 4096);
    assert_true(e[0].usage.used_bytes == 750ULL * 4096);
    assert_true(e[0].usage.avail_bytes == 200ULL * 4096);
    assert_true(fabs(e[0].usage.used_pct - 75000.0 / 950.0) < 1e-9);
    assert_true(e[1].usage.total_bytes == 5000ULL * 4096); /* strlen("/proc") == 5 */
    assert_true(e[0].read_at_mono_ms <= mon_mono_ms());
    assert_int_equal(agent_disk_monitor_read(m, e, 1), 1); /* max respected */

    /* Workers refresh every interval_ms. */
    until = mon_mono_ms() + WAIT_MS;
    while (fake_counter(&fake.calls) < 10 && mon_mono_ms() < until)
        mon_sleep_ms(5);
    assert_true(fake_counter(&fake.calls) >= 10);
    agent_disk_monitor_free(m);
}

static void test_monitor_errors(void **state)
{
    char root[] = "/";
    char *mounts[] = {root};
    struct agent_disk_monitor *m;
    struct agent_disk_entry e;

    fake_reset(1000000, ENOENT);
    assert_int_equal(agent_disk_monitor_new(mounts, 1, 20, 5000, fake_statvfs, &m), MON_OK);
    assert_non_null(m);
    e = wait_settled(m);
    assert_false(e.have_value);
    assert_string_equal(e.error, "not found");
    agent_disk_monitor_free(m);

    fake_reset(1000000, EACCES);
    assert_int_equal(agent_disk_monitor_new(mounts, 1, 20, 5000, fake_statvfs, &m), MON_OK);
    assert_non_null(m);
    e = wait_settled(m);
    assert_false(e.have_value);
    assert_string_equal(e.error, strerror(EACCES));
    agent_disk_monitor_free(m);
}

/* The real statvfs and the mount-point check: a directory that is not a mount point must not
 * silently report the filesystem it lives on. */
static void test_monitor_real_statvfs(void **state)
{
    char dir[] = "/tmp/lanmon-statvfs-XXXXXX";
    char root[] = "/", missing[] = "/nonexistent/lanmon-test";
    char *mounts[3] = {root, missing, NULL};
    struct agent_disk_entry e[3];
    struct agent_disk_monitor *m;
    struct statvfs sv;
    int64_t until;

    assert_non_null(mkdtemp(dir));
    mounts[2] = dir;
    assert_int_equal(agent_disk_monitor_new(mounts, 3, 50, 5000, NULL, &m), MON_OK);
    assert_non_null(m);
    until = mon_mono_ms() + WAIT_MS;
    do {
        mon_sleep_ms(2);
        assert_int_equal(agent_disk_monitor_read(m, e, 3), 3);
    } while ((!e[0].have_value || !e[1].error[0] || !e[2].error[0]) && mon_mono_ms() < until);
    agent_disk_monitor_free(m);
    rmdir(dir);

    assert_int_equal(statvfs("/", &sv), 0);
    assert_true(e[0].have_value);
    assert_string_equal(e[0].error, "");
    assert_true(e[0].usage.total_bytes == (uint64_t)sv.f_blocks * sv.f_frsize);
    assert_false(e[1].have_value);
    assert_string_equal(e[1].error, "not found");
    assert_false(e[2].have_value);
    assert_string_equal(e[2].error, "not a mount point");
}

/* A statvfs that never returns: reads stay instant, the entry turns stale with an error, and
 * freeing the monitor does not wait for the stuck worker. */
static void test_monitor_hung_without_value(void **state)
{
    char root[] = "/";
    char *mounts[] = {root};
    struct agent_disk_monitor *m;
    struct agent_disk_entry e;
    int64_t t0, until;

    fake_reset(0, 0);
    assert_int_equal(agent_disk_monitor_new(mounts, 1, 20, 100, fake_statvfs, &m), MON_OK);
    assert_non_null(m);
    until = mon_mono_ms() + WAIT_MS;
    while (fake_counter(&fake.calls) < 1 && mon_mono_ms() < until)
        mon_sleep_ms(1);
    assert_int_equal(fake_counter(&fake.calls), 1);

    t0 = mon_mono_ms();
    assert_int_equal(agent_disk_monitor_read(m, &e, 1), 1);
    assert_true(mon_mono_ms() - t0 < 50);
    assert_false(e.have_value);

    mon_sleep_ms(150); /* past timeout_ms */
    t0 = mon_mono_ms();
    assert_int_equal(agent_disk_monitor_read(m, &e, 1), 1);
    assert_true(mon_mono_ms() - t0 < 50);
    assert_false(e.have_value);
    assert_true(e.stale);
    assert_string_equal(e.error, "statvfs timed out");

    t0 = mon_mono_ms();
    agent_disk_monitor_free(m);
    assert_true(mon_mono_ms() - t0 < 100);
    fake_release_all();
}

static void test_monitor_hung_after_value(void **state)
{
    char root[] = "/";
    char *mounts[] = {root};
    struct agent_disk_monitor *m;
    struct agent_disk_entry e;
    int64_t t0, until;

    fake_reset(1, 0); /* the first call answers, the second hangs */
    assert_int_equal(agent_disk_monitor_new(mounts, 1, 10, 150, fake_statvfs, &m), MON_OK);
    assert_non_null(m);
    e = wait_settled(m);
    assert_true(e.have_value);
    assert_false(e.stale);
    until = mon_mono_ms() + WAIT_MS;
    while (fake_counter(&fake.calls) < 2 && mon_mono_ms() < until)
        mon_sleep_ms(1);

    until = mon_mono_ms() + WAIT_MS;
    do {
        mon_sleep_ms(5);
        t0 = mon_mono_ms();
        assert_int_equal(agent_disk_monitor_read(m, &e, 1), 1);
        assert_true(mon_mono_ms() - t0 < 50);
    } while (!e.stale && mon_mono_ms() < until);
    assert_true(e.stale);
    assert_true(e.have_value); /* the old value stays, marked stale */
    assert_true(e.usage.total_bytes == 1000ULL * 4096);
    assert_string_equal(e.error, "");

    t0 = mon_mono_ms();
    agent_disk_monitor_free(m);
    assert_true(mon_mono_ms() - t0 < 100);
    fake_release_all();
}

static void test_monitor_arguments(void **state)
{
    char long_mount[300];
    char empty[] = "", root[] = "/";
    char *one[] = {root}, *bad_long[] = {long_mount}, *bad_empty[] = {empty};
    struct agent_disk_entry e;
    struct agent_disk_monitor *m;
    char untouched;

    memset(long_mount, 'a', sizeof(long_mount) - 1);
    long_mount[0] = '/';
    long_mount[sizeof(long_mount) - 1] = '\0';

    assert_int_equal(agent_disk_monitor_new(NULL, 0, 1000, 2000, NULL, &m), MON_OK);
    assert_non_null(m);
    assert_int_equal(agent_disk_monitor_read(m, &e, 1), 0);
    agent_disk_monitor_free(m);

    m = (struct agent_disk_monitor *)&untouched; /* written only on success */
    assert_int_equal(agent_disk_monitor_new(one, 1, 0, 2000, NULL, &m), MON_EINVAL);
    assert_int_equal(agent_disk_monitor_new(one, 1, 1000, 0, NULL, &m), MON_EINVAL);
    assert_int_equal(agent_disk_monitor_new(bad_long, 1, 1000, 2000, NULL, &m), MON_EINVAL);
    assert_int_equal(agent_disk_monitor_new(bad_empty, 1, 1000, 2000, NULL, &m), MON_EINVAL);
    assert_ptr_equal(m, &untouched);
    assert_int_equal(agent_disk_monitor_read(NULL, &e, 1), 0);
    agent_disk_monitor_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_arithmetic),
        cmocka_unit_test(test_usage_pseudo_fs),
        cmocka_unit_test(test_usage_range),
        cmocka_unit_test(test_usage_matches_df),
        cmocka_unit_test(test_monitor_reads_and_copies),
        cmocka_unit_test(test_monitor_errors),
        cmocka_unit_test(test_monitor_real_statvfs),
        cmocka_unit_test(test_monitor_hung_without_value),
        cmocka_unit_test(test_monitor_hung_after_value),
        cmocka_unit_test(test_monitor_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
