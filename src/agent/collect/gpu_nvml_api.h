/* SPDX-License-Identifier: MIT */
/* Our own declarations of the part of the NVML ABI the agent uses (return codes, structure
 * layouts, function types) and the table of functions resolved with dlsym, shared by the NVML
 * collector's files. No driver header is needed: these layouts are stable across drivers. */
#ifndef MON_AGENT_COLLECT_GPU_NVML_API_H
#define MON_AGENT_COLLECT_GPU_NVML_API_H

/* Ownership and threads: declarations only; a struct nvml_api is filled once when NVML is opened
 * and only read afterwards, so the sampler and the Xid thread share it without locking (NVML's
 * own calls are thread-safe). */

#include <stdint.h>

typedef int nvml_return_t;
typedef struct nvml_device *nvml_device_t;
typedef struct nvml_event_set *nvml_event_set_t;

#define NVML_SUCCESS                         0
#define NVML_ERROR_INVALID_ARGUMENT          2
#define NVML_ERROR_NOT_SUPPORTED             3
#define NVML_ERROR_NO_PERMISSION             4
#define NVML_ERROR_INSUFFICIENT_SIZE         7
#define NVML_ERROR_TIMEOUT                   10
#define NVML_ERROR_FUNCTION_NOT_FOUND        13
#define NVML_ERROR_GPU_IS_LOST               15
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_TEMPERATURE_GPU                 0
#define NVML_CLOCK_SM                        1
#define NVML_FEATURE_ENABLED                 1
#define NVML_MEMORY_ERROR_CORRECTED          0
#define NVML_MEMORY_ERROR_UNCORRECTED        1
#define NVML_VOLATILE_ECC                    0
#define NVML_AGGREGATE_ECC                   1
#define NVML_PSTATE_MAX                      15 /* 32 is "unknown" */
#define NVML_EVENT_XID_CRITICAL              0x8ULL
#define NVML_VALUE_NOT_AVAILABLE             (~0ULL)
#define NVML_TEXT_LEN                        96

struct nvml_memory_v1 {
    unsigned long long total, free, used;
};

struct nvml_memory_v2 {
    unsigned int version;
    unsigned long long total, reserved, free, used;
};

#define NVML_MEMORY_V2_VERSION ((unsigned int)(sizeof(struct nvml_memory_v2) | (2u << 24)))

struct nvml_utilization {
    unsigned int gpu, memory;
};

/* nvmlProcessInfo_v1_t: what the unversioned nvmlDevice*RunningProcesses fill (16 bytes). */
struct nvml_process_v1 {
    unsigned int pid;
    unsigned long long used_gpu_memory;
};

/* nvmlProcessInfo_v2_t, also what the _v3 functions fill (24 bytes: MIG instance ids added). */
struct nvml_process_v2 {
    unsigned int pid;
    unsigned long long used_gpu_memory;
    unsigned int gpu_instance_id, compute_instance_id;
};

/* nvmlEventData_t as nvmlEventSetWait_v2 fills it (the v1 call fills the first three fields). */
struct nvml_event_data {
    nvml_device_t device;
    unsigned long long event_type;
    unsigned long long event_data; /* the Xid code for NVML_EVENT_XID_CRITICAL */
    unsigned int gpu_instance_id, compute_instance_id;
};

typedef nvml_return_t (*nvml_void_fn)(void);
typedef const char *(*nvml_error_string_fn)(nvml_return_t);
typedef nvml_return_t (*nvml_count_fn)(unsigned int *);
typedef nvml_return_t (*nvml_handle_fn)(unsigned int, nvml_device_t *);
typedef nvml_return_t (*nvml_memory_v1_fn)(nvml_device_t, struct nvml_memory_v1 *);
typedef nvml_return_t (*nvml_memory_v2_fn)(nvml_device_t, struct nvml_memory_v2 *);
typedef nvml_return_t (*nvml_utilization_fn)(nvml_device_t, struct nvml_utilization *);
typedef nvml_return_t (*nvml_text_fn)(nvml_device_t, char *, unsigned int);
typedef nvml_return_t (*nvml_temperature_fn)(nvml_device_t, int, unsigned int *);
typedef nvml_return_t (*nvml_uint_fn)(nvml_device_t, unsigned int *);
typedef nvml_return_t (*nvml_ull_fn)(nvml_device_t, unsigned long long *);
typedef nvml_return_t (*nvml_int_fn)(nvml_device_t, int *);
typedef nvml_return_t (*nvml_clock_fn)(nvml_device_t, int, unsigned int *);
typedef nvml_return_t (*nvml_ecc_mode_fn)(nvml_device_t, int *, int *);
typedef nvml_return_t (*nvml_ecc_total_fn)(nvml_device_t, int, int, unsigned long long *);
typedef nvml_return_t (*nvml_remapped_rows_fn)(nvml_device_t, unsigned int *, unsigned int *,
                                               unsigned int *, unsigned int *);
typedef nvml_return_t (*nvml_processes_fn)(nvml_device_t, unsigned int *, void *);
typedef nvml_return_t (*nvml_event_set_create_fn)(nvml_event_set_t *);
typedef nvml_return_t (*nvml_event_set_free_fn)(nvml_event_set_t);
typedef nvml_return_t (*nvml_register_events_fn)(nvml_device_t, unsigned long long,
                                                 nvml_event_set_t);
typedef nvml_return_t (*nvml_event_wait_fn)(nvml_event_set_t, struct nvml_event_data *,
                                            unsigned int);

/* Process-list generations, newest first: each has its own symbol; v2 and v3 fill
 * struct nvml_process_v2, v1 fills struct nvml_process_v1. */
enum nvml_process_api {
    NVML_PROCESSES_V3 = 0,
    NVML_PROCESSES_V2,
    NVML_PROCESSES_V1,
    NVML_PROCESSES_API_COUNT
};

/* The resolved functions. Required ones are always set; the others may be NULL (an older
 * driver) and their figures are then absent. */
struct nvml_api {
    nvml_void_fn init;
    nvml_void_fn shutdown;
    nvml_error_string_fn error_string;
    nvml_count_fn get_count;
    nvml_handle_fn get_handle;
    nvml_memory_v2_fn get_memory_v2; /* one of the two memory functions is set */
    nvml_memory_v1_fn get_memory_v1;
    nvml_utilization_fn get_utilization;
    /* optional from here on */
    nvml_text_fn get_name;
    nvml_text_fn get_uuid;
    nvml_temperature_fn get_temperature;
    nvml_uint_fn get_power;
    nvml_ecc_mode_fn get_ecc_mode;
    nvml_ecc_total_fn get_ecc_total;
    nvml_remapped_rows_fn get_remapped_rows;
    nvml_ull_fn get_throttle_reasons; /* ...ClocksEventReasons, else ...ClocksThrottleReasons */
    nvml_uint_fn get_fan_speed;
    nvml_clock_fn get_clock;
    nvml_uint_fn get_power_limit; /* enforced limit, else the management limit */
    nvml_int_fn get_pstate;
    nvml_processes_fn compute_processes[NVML_PROCESSES_API_COUNT];
    nvml_processes_fn graphics_processes[NVML_PROCESSES_API_COUNT];
    nvml_event_set_create_fn event_set_create;
    nvml_event_set_free_fn event_set_free;
    nvml_ull_fn get_supported_events;
    nvml_register_events_fn register_events;
    nvml_event_wait_fn event_wait; /* nvmlEventSetWait_v2, else nvmlEventSetWait */
};

/* The library's text for rc ("GPU is lost"), never NULL. */
const char *agent_gpu_nvml_error(const struct nvml_api *api, nvml_return_t rc);

#endif
