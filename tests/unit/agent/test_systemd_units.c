/* SPDX-License-Identifier: MIT */
/* Tests the systemd unit reader against python-dbusmock on a private bus (tests/dbus/). */
#include "agent/collect/systemd_units.h"

#include "common/clock.h"
#include "common/err.h"

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

extern char **environ;

#define START_MOCK     MON_TESTS_DIR "/dbus/start-mock.sh"
#define SET_UNIT_STATE MON_TESTS_DIR "/dbus/set-unit-state.sh"
#define TIMEOUT_MS     3000

struct fixture {
    char dir[64];
    struct agent_systemd_units *u;
};

/* Runs argv[0] (a script that bounds its own waits) and returns its exit status, -1 if it
 * could not run or was killed. */
static int run(const char *const argv[])
{
    pid_t pid;
    int status;

    if (posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv, environ) != 0)
        return -1;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int start_mock(const struct fixture *f)
{
    const char *argv[] = {START_MOCK, f->dir, NULL};
    return run(argv);
}

static int stop_mock(const struct fixture *f, const char *how)
{
    const char *argv[] = {START_MOCK, how, f->dir, NULL};
    return run(argv);
}

static int set_state(const struct fixture *f, const char *unit, const char *active, const char *sub)
{
    const char *argv[] = {SET_UNIT_STATE, f->dir, unit, active, sub, NULL};
    return run(argv);
}

static int add_unit(const struct fixture *f, const char *spec)
{
    const char *argv[] = {SET_UNIT_STATE, f->dir, "--add", spec, NULL};
    return run(argv);
}

static void dir_file(const struct fixture *f, const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", f->dir, name);
    assert_true(n > 0 && (size_t)n < size);
}

/* Points DBUS_SYSTEM_BUS_ADDRESS at the bus written by start-mock.sh. */
static void use_mock_bus(const struct fixture *f)
{
    char path[128], addr[256];
    FILE *fp;

    dir_file(f, "bus-address", path, sizeof(path));
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(addr, sizeof(addr), fp));
    fclose(fp);
    addr[strcspn(addr, "\n")] = '\0';
    assert_int_equal(setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1), 0);
}

/* The mock's pid from DIR/pids, or -1 when it is not running. */
static pid_t mock_pid(const struct fixture *f)
{
    char path[128], line[64];
    long pid = -1;
    FILE *fp;

    if (snprintf(path, sizeof(path), "%s/pids", f->dir) >= (int)sizeof(path))
        return -1;
    fp = fopen(path, "r");
    if (!fp)
        return -1;
    while (fgets(line, sizeof(line), fp))
        if (sscanf(line, "mock %ld", &pid) == 1)
            break;
    fclose(fp);
    return pid > 1 ? (pid_t)pid : -1;
}

static void remove_dir(const char *dir)
{
    char path[PATH_MAX];
    struct dirent *de;
    DIR *d = opendir(dir);

    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char pid[32];

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/lanmon-sdXXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    /* A crashed test must not leave the daemons running. */
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("LANMON_MOCK_WATCH_PID", pid, 1);
    if (start_mock(f) != 0) {
        fprintf(stderr, "start-mock.sh failed; logs in %s\n", f->dir);
        free(f);
        return -1;
    }
    use_mock_bus(f);
    if (agent_systemd_units_new(TIMEOUT_MS, &f->u) < 0)
        goto fail;
    *state = f;
    return 0;
fail:
    stop_mock(f, "--stop");
    remove_dir(f->dir);
    free(f);
    return -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    pid_t pid = mock_pid(f);

    agent_systemd_units_free(f->u);
    if (pid > 0)
        kill(pid, SIGCONT); /* in case a test stopped it and then failed */
    stop_mock(f, "--stop");
    remove_dir(f->dir);
    free(f);
    return 0;
}

static void test_get_active(void **state)
{
    struct fixture *f = *state;
    struct agent_unit_state st;
    int64_t now_s = mon_utc_ms() / 1000;

    assert_int_equal(agent_systemd_units_get(f->u, "nginx.service", &st), MON_OK);
    assert_string_equal(st.name, "nginx.service");
    assert_string_equal(st.active_state, "active");
    assert_string_equal(st.sub_state, "running");
    assert_string_equal(st.error, "");
    /* The mock stamps units when it creates them, i.e. moments ago. */
    assert_true(st.since_utc_s > now_s - 60 && st.since_utc_s <= now_s + 60);

    assert_int_equal(agent_systemd_units_get(f->u, "ssh.service", &st), MON_OK);
    assert_string_equal(st.active_state, "active");
    assert_string_equal(st.sub_state, "running");
}

static void test_get_failed(void **state)
{
    struct fixture *f = *state;
    struct agent_unit_state st;

    assert_int_equal(agent_systemd_units_get(f->u, "myapp.service", &st), MON_OK);
    assert_string_equal(st.active_state, "failed");
    assert_string_equal(st.sub_state, "failed");
    assert_string_equal(st.error, "");

    assert_int_equal(agent_systemd_units_get(f->u, "backup.service", &st), MON_OK);
    assert_string_equal(st.active_state, "inactive");
    assert_string_equal(st.sub_state, "dead");
}

static void test_state_change_seen(void **state)
{
    struct fixture *f = *state;
    struct agent_unit_state before, after;

    assert_int_equal(agent_systemd_units_get(f->u, "myapp.service", &before), MON_OK);
    assert_string_equal(before.active_state, "failed");
    assert_int_equal(set_state(f, "myapp.service", "active", "running"), 0);
    assert_int_equal(agent_systemd_units_get(f->u, "myapp.service", &after), MON_OK);
    assert_string_equal(after.active_state, "active");
    assert_string_equal(after.sub_state, "running");
    assert_true(after.since_utc_s >= before.since_utc_s);

    assert_int_equal(set_state(f, "myapp.service", "activating", "auto-restart"), 0);
    assert_int_equal(agent_systemd_units_get(f->u, "myapp.service", &after), MON_OK);
    assert_string_equal(after.active_state, "activating");
    assert_string_equal(after.sub_state, "auto-restart");
}

static void test_unknown_unit(void **state)
{
    struct fixture *f = *state;
    struct agent_unit_state st;

    assert_int_equal(agent_systemd_units_get(f->u, "nope.service", &st), MON_ENOENT);
    assert_string_equal(st.name, "nope.service");
    assert_string_equal(st.active_state, "inactive");
    assert_string_equal(st.sub_state, "dead");
    assert_string_equal(st.error, "unit not found");
    assert_int_equal(st.since_utc_s, -1);

    /* Real systemd: LoadUnit succeeds and the unit says LoadState "not-found". */
    assert_int_equal(add_unit(f, "ghost.service:inactive:dead:disabled:not-found:ghost"), 0);
    assert_int_equal(agent_systemd_units_get(f->u, "ghost.service", &st), MON_ENOENT);
    assert_string_equal(st.active_state, "inactive");
    assert_string_equal(st.error, "unit not found");

    /* The connection is still good after a not-found. */
    assert_int_equal(agent_systemd_units_get(f->u, "cron.service", &st), MON_OK);
    assert_string_equal(st.error, "");
}

static void test_invalid_names(void **state)
{
    struct fixture *f = *state;
    struct agent_unit_state st;
    char long_name[300];
    const char *bad[] = {"",
                         "nodot",
                         "a b.service",
                         "x;y.service",
                         "../x.service",
                         "ünï.service",
                         "a/b.service",
                         "tab\t.service"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(agent_systemd_units_get(f->u, bad[i], &st), MON_EINVAL);
        assert_string_equal(st.error, "invalid unit name");
    }
    memset(long_name, 'a', sizeof(long_name));
    memcpy(long_name + 256 - 8, ".service", 9); /* 256 characters */
    assert_int_equal(agent_systemd_units_get(f->u, long_name, &st), MON_EINVAL);
    assert_string_equal(st.error, "invalid unit name");
    assert_int_equal(strlen(st.name), sizeof(st.name) - 1);

    /* Every allowed character class passes validation and reaches the bus. */
    assert_int_equal(agent_systemd_units_get(f->u, "getty@tty1.service", &st), MON_ENOENT);
    assert_int_equal(agent_systemd_units_get(f->u, "dev-disk-by\\x2dlabel:x_y.device", &st),
                     MON_ENOENT);
    assert_int_equal(add_unit(f, "getty@tty1.service:active:running:enabled"), 0);
    assert_int_equal(agent_systemd_units_get(f->u, "getty@tty1.service", &st), MON_OK);
    assert_string_equal(st.active_state, "active");

    long_name[255 - 8] = '\0';
    memcpy(long_name + 255 - 8, ".service", 9); /* exactly 255 characters: allowed */
    assert_int_equal(strlen(long_name), 255);
    assert_int_equal(agent_systemd_units_get(f->u, long_name, &st), MON_ENOENT);
}

static void test_list_services(void **state)
{
    struct fixture *f = *state;
    const char *want[] = {"cron.service",  "docker.service",  "myapp.service",
                          "nginx.service", "oneshot.service", "ssh.service"};
    char long_desc[600], spec[700];
    struct agent_unit_state *units = NULL;
    char why[160] = "x";
    size_t n = 0;

    /* Active but static: listed; enabled socket: not a service; inactive static: dropped. */
    assert_int_equal(add_unit(f, "oneshot.service:active:exited:static"), 0);
    assert_int_equal(add_unit(f, "dbus.socket:active:listening:enabled"), 0);
    assert_int_equal(add_unit(f, "helper.service:inactive:dead:static"), 0);

    assert_int_equal(agent_systemd_units_list_services(f->u, 100, &units, &n, why, sizeof(why)),
                     MON_OK);
    assert_string_equal(why, "");
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(units[i].name, want[i]);
        assert_string_equal(units[i].error, "");
        assert_int_equal(units[i].since_utc_s, -1);
    }
    assert_string_equal(units[3].description, "A high performance web server");
    assert_string_equal(units[3].active_state, "active");
    assert_string_equal(units[3].sub_state, "running");
    assert_string_equal(units[3].unit_file_state, "enabled");
    assert_string_equal(units[2].active_state, "failed"); /* listed: enabled */
    assert_string_equal(units[2].unit_file_state, "enabled");
    assert_string_equal(units[4].unit_file_state, "static");
    assert_string_equal(units[4].sub_state, "exited");
    free(units);
    units = NULL;

    /* The cap keeps the first units by name. */
    assert_int_equal(agent_systemd_units_list_services(f->u, 2, &units, &n, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(n, 2);
    assert_string_equal(units[0].name, "cron.service");
    assert_string_equal(units[1].name, "docker.service");
    free(units);
    units = NULL;

    /* Long descriptions are cut at the field size, not overflowed. */
    memset(long_desc, 'd', sizeof(long_desc) - 1);
    long_desc[sizeof(long_desc) - 1] = '\0';
    assert_true(snprintf(spec, sizeof(spec), "aaa.service:active:running:enabled:loaded:%s",
                         long_desc) < (int)sizeof(spec));
    assert_int_equal(add_unit(f, spec), 0);
    assert_int_equal(agent_systemd_units_list_services(f->u, 1, &units, &n, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(n, 1);
    assert_string_equal(units[0].name, "aaa.service");
    assert_int_equal(strlen(units[0].description), sizeof(units[0].description) - 1);
    free(units);
}

static void test_no_bus(void **state)
{
    struct fixture *f = *state;
    struct agent_systemd_units *u;
    struct agent_unit_state st, *units = NULL;
    char addr[128], why[160] = "";
    size_t n = 0;

    assert_true(snprintf(addr, sizeof(addr), "unix:path=%s/no-such-socket", f->dir) <
                (int)sizeof(addr));
    assert_int_equal(setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1), 0);
    assert_int_equal(agent_systemd_units_new(TIMEOUT_MS, &u), MON_OK);
    assert_int_equal(agent_systemd_units_get(u, "nginx.service", &st), MON_EIO);
    assert_string_equal(st.name, "nginx.service");
    assert_non_null(strstr(st.error, "system bus unavailable"));
    assert_string_equal(st.active_state, "");
    assert_int_equal(agent_systemd_units_list_services(u, 10, &units, &n, why, sizeof(why)),
                     MON_EIO);
    assert_non_null(strstr(why, "system bus unavailable"));
    assert_null(units);
    agent_systemd_units_free(u);
}

static void test_reconnect(void **state)
{
    struct fixture *f = *state;
    struct agent_unit_state st;

    assert_int_equal(agent_systemd_units_get(f->u, "nginx.service", &st), MON_OK);
    assert_int_equal(stop_mock(f, "--stop"), 0);
    assert_int_equal(agent_systemd_units_get(f->u, "nginx.service", &st), MON_EIO);
    assert_non_null(strstr(st.error, "bus"));
    assert_int_equal(agent_systemd_units_get(f->u, "nginx.service", &st), MON_EIO);

    /* Same directory, same socket path: this is a D-Bus restart. */
    assert_int_equal(start_mock(f), 0);
    assert_int_equal(agent_systemd_units_get(f->u, "nginx.service", &st), MON_OK);
    assert_string_equal(st.active_state, "active");
    assert_string_equal(st.error, "");

    /* A restart between two calls is absorbed by one retry on a new connection. */
    assert_int_equal(stop_mock(f, "--stop"), 0);
    assert_int_equal(start_mock(f), 0);
    assert_int_equal(agent_systemd_units_get(f->u, "cron.service", &st), MON_OK);
    assert_string_equal(st.error, "");
}

static void test_systemd_gone(void **state)
{
    struct fixture *f = *state;
    struct agent_unit_state st, *units = NULL;
    char why[160] = "";
    size_t n = 0;

    assert_int_equal(agent_systemd_units_get(f->u, "nginx.service", &st), MON_OK);
    assert_int_equal(stop_mock(f, "--stop-mock"), 0);
    assert_int_equal(agent_systemd_units_get(f->u, "nginx.service", &st), MON_EIO);
    assert_non_null(strstr(st.error, "systemd is not on the system bus"));
    assert_int_equal(agent_systemd_units_list_services(f->u, 10, &units, &n, why, sizeof(why)),
                     MON_EIO);
    assert_non_null(strstr(why, "systemd is not on the system bus"));

    assert_int_equal(start_mock(f), 0);
    assert_int_equal(agent_systemd_units_get(f->u, "nginx.service", &st), MON_OK);
    assert_string_equal(st.active_state, "active");
}

static void test_hung_systemd_is_bounded(void **state)
{
    struct fixture *f = *state;
    struct agent_systemd_units *u = NULL;
    struct agent_unit_state st;
    pid_t pid = mock_pid(f);
    int64_t t0, elapsed;
    int r;

    assert_int_equal(agent_systemd_units_new(300, &u), MON_OK);
    assert_true(pid > 0);
    assert_non_null(u);
    assert_int_equal(agent_systemd_units_get(u, "nginx.service", &st), MON_OK);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    t0 = mon_mono_ms();
    r = agent_systemd_units_get(u, "nginx.service", &st);
    elapsed = mon_mono_ms() - t0;
    kill(pid, SIGCONT);
    assert_int_equal(r, MON_EIO);
    assert_non_null(strstr(st.error, "bus"));
    assert_true(elapsed >= 250 && elapsed < 2000);

    /* The timed-out connection was dropped; a new one works once systemd answers again (the
     * resumed mock may take longer than the 300 ms timeout on a loaded machine: a few tries). */
    for (int tries = 0; tries < 10; tries++) {
        r = agent_systemd_units_get(u, "nginx.service", &st);
        if (r == MON_OK)
            break;
    }
    assert_int_equal(r, MON_OK);
    assert_string_equal(st.active_state, "active");
    agent_systemd_units_free(u);
}

static void test_hung_bus_is_bounded(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char addr[160];
    struct agent_unit_state st;
    struct agent_systemd_units *u;
    int64_t t0, elapsed;
    int fd, r;

    /* A socket that accepts connections into its backlog but never speaks D-Bus. */
    assert_true(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/mute.sock", f->dir) <
                (int)sizeof(sa.sun_path));
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_true(snprintf(addr, sizeof(addr), "unix:path=%s", sa.sun_path) < (int)sizeof(addr));
    assert_int_equal(setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1), 0);

    assert_int_equal(agent_systemd_units_new(300, &u), MON_OK);
    t0 = mon_mono_ms();
    r = agent_systemd_units_get(u, "nginx.service", &st);
    elapsed = mon_mono_ms() - t0;
    agent_systemd_units_free(u);
    close(fd);
    assert_int_equal(r, MON_EIO);
    assert_non_null(strstr(st.error, "system bus unavailable"));
    assert_true(elapsed >= 250 && elapsed < 2000);
}

static void test_legacy_manager(void **state)
{
    struct fixture *f = *state;
    struct agent_unit_state st, *units = NULL;
    char why[160] = "";
    size_t n = 0;

    /* No LoadUnit (GetUnit instead) and no UnitFileState property (GetUnitFileState). */
    assert_int_equal(setenv("LANMON_MOCK_LEGACY", "1", 1), 0);
    assert_int_equal(start_mock(f), 0);
    unsetenv("LANMON_MOCK_LEGACY");

    assert_int_equal(agent_systemd_units_get(f->u, "nginx.service", &st), MON_OK);
    assert_string_equal(st.active_state, "active");
    assert_string_equal(st.sub_state, "running");
    assert_true(st.since_utc_s > 0);
    assert_int_equal(agent_systemd_units_get(f->u, "nope.service", &st), MON_ENOENT);
    assert_string_equal(st.error, "unit not found");

    assert_int_equal(agent_systemd_units_list_services(f->u, 100, &units, &n, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(n, 5);
    assert_string_equal(units[0].name, "cron.service");
    assert_string_equal(units[0].unit_file_state, "enabled");
    assert_string_equal(units[2].name, "myapp.service"); /* failed: listed only as enabled */
    assert_string_equal(units[2].unit_file_state, "enabled");
    free(units);
}

static void test_bad_arguments(void **state)
{
    struct fixture *f = *state;
    struct agent_unit_state st, *units = NULL;
    size_t n = 0;

    assert_int_equal(agent_systemd_units_get(NULL, "nginx.service", &st), MON_EINVAL);
    assert_int_equal(agent_systemd_units_get(f->u, NULL, &st), MON_EINVAL);
    assert_int_equal(agent_systemd_units_list_services(f->u, 10, NULL, &n, NULL, 0), MON_EINVAL);
    /* max 0 and no reason buffer are fine. */
    assert_int_equal(agent_systemd_units_list_services(f->u, 0, &units, &n, NULL, 0), MON_OK);
    assert_int_equal(n, 0);
    assert_null(units);
    agent_systemd_units_free(NULL);
}

/* Without libsystemd (a host or container that lacks it) every entry says why, and a library
 * installed later is picked up: loading is retried on the next call. */
static void test_no_libsystemd(void **state)
{
    struct fixture *f = *state;
    struct agent_systemd_units *u = NULL;
    struct agent_unit_state st, *units = NULL;
    char why[160];
    size_t n = 0;

    (void)f;
    assert_int_equal(agent_systemd_units_new_from(TIMEOUT_MS, "libsystemd-absent.so.0", &u),
                     MON_OK);
    assert_non_null(u);
    assert_int_equal(agent_systemd_units_get(u, "nginx.service", &st), MON_EIO);
    assert_string_equal(st.name, "nginx.service");
    assert_string_equal(st.active_state, "");
    assert_non_null(strstr(st.error, "libsystemd-absent.so.0 is not available: "));
    assert_int_equal(agent_systemd_units_list_services(u, 10, &units, &n, why, sizeof(why)),
                     MON_EIO);
    assert_null(units);
    assert_non_null(strstr(why, "libsystemd-absent.so.0 is not available"));
    agent_systemd_units_free(u);

    /* The environment override names the library too. */
    setenv("MONITOR_AGENT_LIBSYSTEMD", "/nonexistent/libsystemd.so.0", 1);
    assert_int_equal(agent_systemd_units_new(TIMEOUT_MS, &u), MON_OK);
    unsetenv("MONITOR_AGENT_LIBSYSTEMD");
    assert_non_null(u);
    assert_int_equal(agent_systemd_units_get(u, "nginx.service", &st), MON_EIO);
    assert_non_null(strstr(st.error, "/nonexistent/libsystemd.so.0 is not available"));
    agent_systemd_units_free(u);
}

/* A library that loads but lacks the sd-bus functions is refused with the missing name. */
static void test_libsystemd_too_old(void **state)
{
    struct agent_unit_state st;
    struct agent_systemd_units *u = NULL;

    (void)state;
    assert_int_equal(agent_systemd_units_new_from(TIMEOUT_MS, "libm.so.6", &u), MON_OK);
    assert_non_null(u);
    assert_int_equal(agent_systemd_units_get(u, "nginx.service", &st), MON_EIO);
    assert_non_null(strstr(st.error, "libm.so.6 is too old: no sd_bus_open_system"));
    agent_systemd_units_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_change_seen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_unit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_services, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_bus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_systemd_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hung_systemd_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hung_bus_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_manager, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_libsystemd, setup, teardown),
        cmocka_unit_test(test_libsystemd_too_old),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
