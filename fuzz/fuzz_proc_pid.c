/* SPDX-License-Identifier: MIT */
/* Fuzzes the per-process parsers of the GPU process lists on the same input: /proc/<pid>/stat
 * (name and start time), status (real uid), cgroup (container id) and nvidia-smi's
 * compute-apps CSV. Accepted names are valid UTF-8, ids 12 lowercase hex digits, and nothing is
 * written on rejection. */
#include "fuzz_util.h"

#include "agent/collect/gpu_smi.h"
#include "agent/collect/proc_pid.h"
#include "common/err.h"
#include "common/str.h"

#include <string.h>

#define MAX_APPS 16

static void check_stat(const char *text, size_t size)
{
    char name[AGENT_COMM_SIZE] = "sentinel";
    uint64_t ticks = 77;
    int r = agent_parse_pid_stat(text, size, name, sizeof(name), &ticks);

    if (r < 0) {
        FUZZ_CHECK(r == MON_EPARSE);
        FUZZ_CHECK(strcmp(name, "sentinel") == 0 && ticks == 77);
        return;
    }
    FUZZ_CHECK(r == MON_OK);
    FUZZ_CHECK(fuzz_terminated(name, sizeof(name)));
    FUZZ_CHECK(mon_utf8_valid(name, strlen(name)));
}

static void check_status(const char *text, size_t size)
{
    uint32_t uid = 4242;
    int r = agent_parse_pid_status_uid(text, size, &uid);
    FUZZ_CHECK(r == MON_OK || (r == MON_EPARSE && uid == 4242));
}

static void check_cgroup(const char *text, size_t size)
{
    char id[AGENT_CONTAINER_ID_SIZE] = "sentinel";
    int r = agent_parse_pid_cgroup(text, size, id);

    if (r < 0) {
        FUZZ_CHECK(r == MON_ENOENT && strcmp(id, "sentinel") == 0);
        return;
    }
    FUZZ_CHECK(strlen(id) == AGENT_CONTAINER_ID_SIZE - 1);
    FUZZ_CHECK(strspn(id, "0123456789abcdef") == AGENT_CONTAINER_ID_SIZE - 1);
}

static void check_apps(const char *text, size_t size)
{
    static struct agent_smi_app apps[MAX_APPS];
    char why[256] = "";
    size_t n = 999;
    int r = agent_parse_smi_apps_csv(text, size, apps, MAX_APPS, &n, why, sizeof(why));

    if (r < 0) {
        FUZZ_CHECK(r == MON_EPARSE || r == MON_ERANGE);
        FUZZ_CHECK(n == 999 && why[0]);
        return;
    }
    FUZZ_CHECK(n <= MAX_APPS);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(fuzz_terminated(apps[i].uuid, sizeof(apps[i].uuid)) && apps[i].uuid[0]);
        FUZZ_CHECK(apps[i].process.pid > 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    check_stat(text, size);
    check_status(text, size);
    check_cgroup(text, size);
    check_apps(text, size);
    return 0;
}
