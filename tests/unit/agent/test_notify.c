/* SPDX-License-Identifier: MIT */
/* Tests mon_os_notify(), the agent's READY/RELOADING/STOPPING messages to systemd, against a
 * datagram socket standing in for the service manager (path and abstract addresses). */
#include "common/err.h"
#include "common/os/os.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* Binds a datagram socket at addr (a path, or "@name" for the abstract namespace). */
static int listen_at(const char *addr)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(addr);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_true(len < sizeof(sa.sun_path));
    memcpy(sa.sun_path, addr, len);
    if (addr[0] == '@')
        sa.sun_path[0] = '\0';
    assert_int_equal(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
        0);
    return fd;
}

static void expect_message(int fd, const char *want)
{
    char buf[128];
    struct timeval tv = {.tv_sec = 5};
    ssize_t n;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void test_path_socket(void **state)
{
    char dir[] = "/tmp/lanmon-notify-XXXXXX", path[128];
    int fd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    fd = listen_at(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(mon_os_notify("READY=1"), 1);
    expect_message(fd, "READY=1");
    assert_int_equal(mon_os_notify("STOPPING=1"), 1);
    expect_message(fd, "STOPPING=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path);
    rmdir(dir);
}

static void test_abstract_socket(void **state)
{
    char addr[64];
    int fd;

    (void)state;
    snprintf(addr, sizeof(addr), "@lanmon-notify-%ld", (long)getpid());
    fd = listen_at(addr);
    setenv("NOTIFY_SOCKET", addr, 1);
    assert_int_equal(mon_os_notify("RELOADING=1"), 1);
    expect_message(fd, "RELOADING=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

static void test_no_manager(void **state)
{
    char longpath[200];

    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(mon_os_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(mon_os_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(mon_os_notify("READY=1"), MON_EINVAL);
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longpath, 1);
    assert_int_equal(mon_os_notify("READY=1"), MON_EINVAL);
    /* Nobody listening at a valid path: an error, not a crash or a hang. */
    setenv("NOTIFY_SOCKET", "/nonexistent/lanmon-notify", 1);
    assert_true(mon_os_notify("READY=1") < 0);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_no_manager),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
