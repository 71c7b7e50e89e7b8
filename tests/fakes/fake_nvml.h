/* SPDX-License-Identifier: MIT */
/* Shared parts of the fake NVML (fake_nvml.c: state file, devices, core calls;
 * fake_nvml_health.c: health, process lists, Xid events): the NVML ABI as the fake sees it and
 * the state it is driven by. Internal to the fake library (hidden symbols). */
#ifndef MON_TESTS_FAKES_FAKE_NVML_H
#define MON_TESTS_FAKES_FAKE_NVML_H

#include <stddef.h>

#define FAKE_EXPORT __attribute__((visibility("default")))

#define NVML_SUCCESS                         0
#define NVML_ERROR_UNINITIALIZED             1
#define NVML_ERROR_INVALID_ARGUMENT          2
#define NVML_ERROR_NOT_SUPPORTED             3
#define NVML_ERROR_INSUFFICIENT_SIZE         7
#define NVML_ERROR_DRIVER_NOT_LOADED         9
#define NVML_ERROR_TIMEOUT                   10
#define NVML_ERROR_GPU_IS_LOST               15
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_UNKNOWN                   999

#define FAKE_MAX_GPUS  64
#define FAKE_MAX_PROCS 256
#define FAKE_MAX_XID   256
#define MIB            1048576ULL
#define NOT_AVAILABLE  (~0ULL)

typedef int nvml_return_t;

struct nvml_device {
    unsigned index;
};
typedef struct nvml_device *nvml_device_t;

struct nvml_memory_v1 {
    unsigned long long total, free, used;
};

struct nvml_memory_v2 {
    unsigned int version;
    unsigned long long total, reserved, free, used;
};

struct nvml_utilization {
    unsigned int gpu, memory;
};

struct nvml_process_v1 {
    unsigned int pid;
    unsigned long long used_gpu_memory;
};

struct nvml_process_v2 {
    unsigned int pid;
    unsigned long long used_gpu_memory;
    unsigned int gpu_instance_id, compute_instance_id;
};

struct nvml_event_data {
    nvml_device_t device;
    unsigned long long event_type, event_data;
    unsigned int gpu_instance_id, compute_instance_id;
};

struct nvml_event_set {
    unsigned long long registered[FAKE_MAX_GPUS];
    unsigned delivered; /* Xid entries of the state file seen by this set */
};
typedef struct nvml_event_set *nvml_event_set_t;

/* Per-GPU values of the state file; -1 = not set (the default applies). */
enum fake_field {
    F_UTIL = 0,
    F_MEM_USED_MB,
    F_PROCS_FAIL,
    F_ECC_MODE,
    F_ECC_VOL_CORR,
    F_ECC_VOL_UNC,
    F_ECC_AGG_CORR,
    F_ECC_AGG_UNC,
    F_REMAP_CORR,
    F_REMAP_UNC,
    F_REMAP_PENDING,
    F_REMAP_FAILED,
    F_THROTTLE,
    F_FAN,
    F_SM_CLOCK,
    F_POWER_LIMIT_MW,
    F_PSTATE,
    F_COUNT
};

enum fake_call {
    C_ECC = 0,
    C_ECC_COUNTS,
    C_REMAP,
    C_THROTTLE,
    C_FAN,
    C_CLOCK,
    C_POWER_LIMIT,
    C_PSTATE,
    C_COMPUTE,
    C_GRAPHICS,
    C_COMPUTE_V3,
    C_COMPUTE_V2,
    C_XID,
    C_COUNT
};

struct fake_proc {
    unsigned pid;
    unsigned long long bytes;
};

struct fake_gpu_state {
    long long v[F_COUNT];
    unsigned char unsupported[C_COUNT];
    unsigned n_procs[2]; /* compute, graphics */
    struct fake_proc procs[2][FAKE_MAX_PROCS];
};

struct fake_state {
    long lost;
    int fail_all, init_fail, xid_hang;
    long xid_wait_error;
    unsigned n_xid;
    struct {
        unsigned gpu, code;
    } xid[FAKE_MAX_XID];
    struct fake_gpu_state gpu[FAKE_MAX_GPUS];
};

/* Starts a session (nvmlInit): path (FAKE_NVML_STATE_FILE, may be NULL) is the state file from
 * now on, read afresh at the next call. */
void fake_state_session_begin(const char *path);

/* Takes the state's lock without reading the file (release with fake_state_put). */
void fake_state_lock(void);

/* The name of call in "unsupported=" lists and for fake_nvml_calls. */
const char *fake_call_name(enum fake_call call);

/* Locks the state (re-read when the file changed) and returns it; release with
 * fake_state_put. */
struct fake_state *fake_state_get(void);
void fake_state_put(void);

/* Like fake_state_get, but reads the file now, whatever was cached (by any thread). */
struct fake_state *fake_state_get_fresh(void);

/* Copies the state file's path (as nvmlInit read it) into buf; 0 when there is none. */
int fake_state_path(char *buf, size_t len);

/* GPU i's value of f from the state file, or dflt when not set. */
long long fake_field(const struct fake_state *st, unsigned i, enum fake_field f, long long dflt);

/* Checks a handle and the lost/fail_all state: on success returns with the state locked in
 * *ret (release with fake_state_put), else returns the error to report (unlocked). */
nvml_return_t fake_device_state(nvml_device_t dev, struct fake_state **ret);

/* fake_device_state plus the "unsupported" list for call, counted for fake_nvml_calls. */
nvml_return_t fake_call_state(nvml_device_t dev, enum fake_call call, struct fake_state **ret);

/* Counts one more call of call for fake_nvml_calls. Call with the state locked. */
void fake_count_call(enum fake_call call);

/* The handle of GPU i (i < fake_gpu_count()), and how many GPUs nvmlInit made. */
nvml_device_t fake_device(unsigned i);
unsigned fake_gpu_count(void);

/* Test hook (exported): the state file changed; the next call re-reads it. */
FAKE_EXPORT void fake_nvml_state_changed(void);

#endif
