/* SPDX-License-Identifier: MIT */
/* Tests for the /proc/<pid> parsers (status, stat, cgroup forms) and the reader, on text and on
 * the fixture processes of tests/fixtures/proc/pids. */
#include "agent/collect/proc_pid.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define PIDS_ROOT MON_FIXTURES "/proc/pids"
#define ID_DOCKER "3f2a9c1b7d0e5a4b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"
#define ID_PODMAN "9b8a7c6d5e4f30211203040506070809a0b0c0d0e0f1011121314151617181ab"
#define ID_K8S    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int status_uid(const char *text, uint32_t *uid)
{
    return agent_parse_pid_status_uid(text, strlen(text), uid);
}

static void test_status_real_uid(void **state)
{
    uint32_t uid = 7;

    (void)state;
    /* the first number is the real uid; effective, saved and fs uids follow */
    assert_int_equal(status_uid("Name:\tx\nUid:\t1001\t0\t0\t0\nGid:\t5\t5\t5\t5\n", &uid), MON_OK);
    assert_int_equal(uid, 1001);
    assert_int_equal(status_uid("Uid:\t4294967295\t0\t0\t0", &uid), MON_OK); /* no newline */
    assert_int_equal(uid, 4294967295u);
    uid = 7;
    assert_int_equal(status_uid("Name:\tx\nGid:\t5\t5\t5\t5\n", &uid), MON_EPARSE);
    assert_int_equal(status_uid("Uid:\t-1\t0\t0\t0\n", &uid), MON_EPARSE);
    assert_int_equal(status_uid("Uid:\t4294967296\t0\t0\t0\n", &uid), MON_EPARSE);
    assert_int_equal(status_uid("Uid:\t12x\t0\n", &uid), MON_EPARSE);
    assert_int_equal(status_uid("Uid:\n", &uid), MON_EPARSE);
    assert_int_equal(status_uid("XUid:\t3\n", &uid), MON_EPARSE); /* only at a line start */
    assert_int_equal(uid, 7);                                     /* untouched on failure */
}

static int stat_text(const char *text, char *name, size_t size, uint64_t *ticks)
{
    return agent_parse_pid_stat(text, strlen(text), name, size, ticks);
}

static void test_stat_name_and_start(void **state)
{
    char name[AGENT_COMM_SIZE] = "untouched";
    uint64_t ticks = 1;

    (void)state;
    assert_int_equal(stat_text("1 (systemd) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 11 "
                               "170000000 2000\n",
                               name, sizeof(name), &ticks),
                     MON_OK);
    assert_string_equal(name, "systemd");
    assert_int_equal(ticks, 11);
    /* parentheses, spaces and markup in the name: everything up to the last ')' */
    assert_int_equal(stat_text("9 (a) b (<img src=x>) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 "
                               "18446744073709551615 1 1\n",
                               name, sizeof(name), &ticks),
                     MON_OK);
    assert_string_equal(name, "a) b (<img src=x>");
    assert_int_equal(ticks, UINT64_MAX);
    /* bytes that are not UTF-8 become '?'; well-formed UTF-8 stays */
    assert_int_equal(stat_text("9 (\xe8\xae\xad\xe7\xbb\x83\xff\xc3) R 1 1 1 0 -1 0 0 0 0 0 0 0 "
                               "0 0 20 0 1 0 5\n",
                               name, sizeof(name), &ticks),
                     MON_OK);
    assert_string_equal(name, "\xe8\xae\xad\xe7\xbb\x83??");
    assert_int_equal(
        stat_text("9 () R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", name, sizeof(name), &ticks),
        MON_OK);
    assert_string_equal(name, "");
    snprintf(name, sizeof(name), "untouched");
    ticks = 1;
    assert_int_equal(stat_text("9 (short) R 1 1 1 0 -1 0\n", name, sizeof(name), &ticks),
                     MON_EPARSE);
    assert_int_equal(stat_text("9 no-paren R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5\n", name,
                               sizeof(name), &ticks),
                     MON_EPARSE);
    assert_int_equal(
        stat_text("9 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5x\n", name, sizeof(name), &ticks),
        MON_EPARSE);
    assert_int_equal(stat_text("9 (too long for the buffer) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 "
                               "1 0 5\n",
                               name, 8, &ticks),
                     MON_EPARSE);
    assert_string_equal(name, "untouched");
    assert_int_equal(ticks, 1);
}

/* The container id found in cgroup text, or "" for none. */
static const char *cgroup_id(const char *text)
{
    static char id[AGENT_CONTAINER_ID_SIZE];
    int r = agent_parse_pid_cgroup(text, strlen(text), id);
    if (r == MON_ENOENT)
        return "";
    assert_int_equal(r, MON_OK);
    return id;
}

static void test_cgroup_forms(void **state)
{
    (void)state;
    /* docker: cgroup v2 with the systemd driver, with cgroupfs, and v1 */
    assert_string_equal(cgroup_id("0::/system.slice/docker-" ID_DOCKER ".scope\n"), "3f2a9c1b7d0e");
    assert_string_equal(cgroup_id("0::/docker/" ID_DOCKER "\n"), "3f2a9c1b7d0e");
    assert_string_equal(cgroup_id("12:memory:/docker/" ID_DOCKER
                                  "\n11:cpu,cpuacct:/docker/" ID_DOCKER
                                  "\n1:name=systemd:/docker/" ID_DOCKER "\n"),
                        "3f2a9c1b7d0e");
    /* rootless docker under the user's manager */
    assert_string_equal(cgroup_id("0::/user.slice/user-1000.slice/user@1000.service/"
                                  "docker-" ID_DOCKER ".scope\n"),
                        "3f2a9c1b7d0e");
    /* podman: root, rootless with the inner "container" cgroup; its conmon is no container */
    assert_string_equal(cgroup_id("0::/machine.slice/libpod-" ID_PODMAN ".scope\n"),
                        "9b8a7c6d5e4f");
    assert_string_equal(cgroup_id("0::/user.slice/user-1000.slice/user@1000.service/user.slice/"
                                  "libpod-" ID_PODMAN ".scope/container\n"),
                        "9b8a7c6d5e4f");
    assert_string_equal(cgroup_id("0::/machine.slice/libpod-conmon-" ID_PODMAN ".scope\n"), "");
    /* containerd: Kubernetes with the systemd driver, with cgroupfs, nerdctl, plain namespace */
    assert_string_equal(cgroup_id("0::/kubepods.slice/kubepods-burstable.slice/"
                                  "kubepods-burstable-pod1b2c3d4e_5f60.slice/"
                                  "cri-containerd-" ID_K8S ".scope\n"),
                        "0123456789ab");
    assert_string_equal(cgroup_id("5:memory:/kubepods/burstable/pod1b2c3d4e-5f60/" ID_K8S "\n"),
                        "0123456789ab");
    assert_string_equal(cgroup_id("0::/system.slice/nerdctl-" ID_K8S ".scope\n"), "0123456789ab");
    assert_string_equal(cgroup_id("0::/default/" ID_K8S "\n"), "0123456789ab");
    assert_string_equal(cgroup_id("0::/system.slice/crio-" ID_K8S ".scope\n"), "0123456789ab");
    /* nested: the innermost container wins */
    assert_string_equal(cgroup_id("0::/docker/" ID_DOCKER "/docker/" ID_K8S "\n"), "0123456789ab");
    /* hybrid hierarchy: the v2 line has no id, the v1 lines do */
    assert_string_equal(cgroup_id("12:memory:/docker/" ID_DOCKER "\n0::/\n"), "3f2a9c1b7d0e");
    /* the v2 line is authoritative when it names a container */
    assert_string_equal(cgroup_id("4:memory:/docker/" ID_K8S "\n0::/docker/" ID_DOCKER "\n"),
                        "3f2a9c1b7d0e");
    /* not containers: sessions, services, ids of the wrong length or case, no trailing newline */
    assert_string_equal(cgroup_id("0::/user.slice/user-1000.slice/session-3.scope\n"), "");
    assert_string_equal(cgroup_id("0::/system.slice/nginx.service"), "");
    assert_string_equal(cgroup_id("4:memory:/process_api/4c4e0e07096ba05db5e166b731628a97\n"), "");
    assert_string_equal(cgroup_id("0::/docker/" ID_DOCKER "0\n"), "");
    assert_string_equal(
        cgroup_id("0::/docker/3F2A9C1B7D0E5A4B8C9D0E1F2A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D\n"),
        "");
    assert_string_equal(cgroup_id("0::/system.slice/other-" ID_DOCKER ".scope\n"), "");
    assert_string_equal(cgroup_id(""), "");
    assert_string_equal(cgroup_id("garbage without colons " ID_DOCKER), "");
}

static void test_read_fixtures(void **state)
{
    struct agent_pid_info info;
    char buf[4096], why[128];

    (void)state;
    assert_int_equal(agent_pid_read(PIDS_ROOT, 4242, buf, sizeof(buf), &info, why, sizeof(why)),
                     MON_OK);
    assert_int_equal(info.uid, 1);
    assert_string_equal(info.command, "python3");
    assert_int_equal(info.start_ticks, 2930939);
    assert_string_equal(info.container, "3f2a9c1b7d0e");

    assert_int_equal(agent_pid_read(PIDS_ROOT, 4243, buf, sizeof(buf), &info, why, sizeof(why)),
                     MON_OK);
    assert_string_equal(info.container, "9b8a7c6d5e4f");
    assert_int_equal(agent_pid_read(PIDS_ROOT, 4244, buf, sizeof(buf), &info, why, sizeof(why)),
                     MON_OK);
    assert_string_equal(info.container, "0123456789ab");
    assert_int_equal(info.uid, 0);
    assert_int_equal(agent_pid_read(PIDS_ROOT, 4245, buf, sizeof(buf), &info, why, sizeof(why)),
                     MON_OK);
    assert_string_equal(info.command, "my (weird) app");
    assert_int_equal(info.uid, 65534);
    assert_string_equal(info.container, "fedcba987654");
    assert_int_equal(agent_pid_read(PIDS_ROOT, 4247, buf, sizeof(buf), &info, why, sizeof(why)),
                     MON_OK);
    assert_string_equal(info.container, "");

    /* a PID with no directory: exited, or another PID namespace */
    assert_int_equal(agent_pid_read(PIDS_ROOT, 999999, buf, sizeof(buf), &info, why, sizeof(why)),
                     MON_ENOENT);
    assert_non_null(strstr(why, "not visible"));
    /* a buffer too small for the files */
    assert_true(agent_pid_read(PIDS_ROOT, 4242, buf, 16, &info, why, sizeof(why)) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_real_uid),
        cmocka_unit_test(test_stat_name_and_start),
        cmocka_unit_test(test_cgroup_forms),
        cmocka_unit_test(test_read_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
