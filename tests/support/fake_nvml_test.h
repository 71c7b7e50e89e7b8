/* SPDX-License-Identifier: MIT */
/* Helpers of the unit tests that drive the fake NVML (tests/fakes/fake_nvml.c): rewriting its
 * state file, opening the collector, and the fake's call counters. Header-only: each test
 * includes it once. */
#ifndef MON_TESTS_SUPPORT_FAKE_NVML_TEST_H
#define MON_TESTS_SUPPORT_FAKE_NVML_TEST_H

#include "agent/collect/gpu_nvml.h"
#include "common/err.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_LIB        MON_FAKES_DIR "/libnvidia-ml.so.1"
#define FAKE_LIB_NOV2   MON_FAKES_DIR "/libnvidia-ml-nov2.so.1"
#define FAKE_LIB_NOSYM  MON_FAKES_DIR "/libnvidia-ml-nosym.so.1"
#define FAKE_LIB_PROCV2 MON_FAKES_DIR "/libnvidia-ml-procv2.so.1"
#define FAKE_LIB_PROCV1 MON_FAKES_DIR "/libnvidia-ml-procv1.so.1"

static inline int fake_nvml_reset_env(void **state)
{
    (void)state;
    unsetenv("FAKE_NVML_GPUS");
    unsetenv("FAKE_NVML_INIT_FAIL");
    unsetenv("FAKE_NVML_LOST");
    unsetenv("FAKE_NVML_STATE_FILE");
    unsetenv("FAKE_NVML_POWER_UNSUPPORTED");
    return 0;
}

static inline struct agent_gpu_nvml *fake_nvml_open(const char *lib)
{
    char why[256] = "";
    struct agent_gpu_nvml *g = NULL;
    if (agent_gpu_nvml_open(lib, &g, why, sizeof(why)) != MON_OK)
        fail_msg("agent_gpu_nvml_open(%s): %s", lib, why);
    return g;
}

/* Replaces the state file and tells whichever fake library is loaded to read it again (it
 * looks at the file's stat() at most every 20 ms). A new file renamed over the old one: the
 * collector's threads read the state at any time, and a file rewritten in place can be read
 * empty (truncated, not yet written), which restarts the fake's Xid events from the first. */
static inline void fake_nvml_write_state(const char *path, const char *text)
{
    static const char *const libs[] = {FAKE_LIB, FAKE_LIB_NOV2, FAKE_LIB_NOSYM, FAKE_LIB_PROCV2,
                                       FAKE_LIB_PROCV1};
    char tmp[128];
    FILE *f;

    assert_true(snprintf(tmp, sizeof(tmp), "%s.new", path) < (int)sizeof(tmp));
    f = fopen(tmp, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        void *self = dlopen(libs[i], RTLD_NOW | RTLD_NOLOAD);
        void (*changed)(void);
        void *sym = self ? dlsym(self, "fake_nvml_state_changed") : NULL;
        if (sym) {
            memcpy(&changed, &sym, sizeof(changed));
            changed();
        }
        if (self)
            dlclose(self);
    }
}

/* Creates an empty state file, points FAKE_NVML_STATE_FILE at it and returns its path
 * (static storage). */
static inline const char *fake_nvml_state_file(void)
{
    static char path[64];
    int fd;
    snprintf(path, sizeof(path), "/tmp/fake_nvml_stateXXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    setenv("FAKE_NVML_STATE_FILE", path, 1);
    return path;
}

/* How often the loaded fake answered call (an "unsupported=" name) since nvmlInit. */
static inline unsigned fake_nvml_calls_of(const char *lib, const char *call)
{
    void *self = dlopen(lib, RTLD_NOW | RTLD_NOLOAD); /* the instance the collector loaded */
    unsigned (*calls)(const char *);
    unsigned n;
    void *sym;

    assert_non_null(self);
    sym = dlsym(self, "fake_nvml_calls");
    assert_non_null(sym);
    memcpy(&calls, &sym, sizeof(calls));
    n = calls(call);
    dlclose(self);
    return n;
}

#endif
