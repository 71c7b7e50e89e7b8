/* SPDX-License-Identifier: MIT */
/* The simulated GPU servers of `make run` (sim-fleet): a fixed cast of lab machines whose load,
 * GPU jobs, processes, lost GPU, failing unit and outages follow the wall clock, so every
 * reading is a pure function of (server, time). */
#ifndef MON_SIM_MODEL_H
#define MON_SIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define SIM_MAX_SERVERS 8

/* The scripted trouble repeats every cycle_s seconds from the start (600 in the demo): a GPU
 * of the flaky server is lost from 30 % to 50 % of each cycle, the flaky unit failed from 60 %
 * to 80 %. */
struct sim_time {
    int64_t started_ms; /* when sim-fleet started */
    int64_t cycle_s;
};

struct sim_gpu_model {
    const char *name;
    unsigned mem_total_mb;
    unsigned idle_w, max_w;
    unsigned max_sm_mhz;
    bool has_fan;   /* workstation boards; data-centre ones are passively cooled */
    bool has_ecc;   /* GeForce boards have none */
    bool has_remap; /* row remapping: A100/H100 */
};

struct sim_server {
    const char *role; /* for the log: what kind of machine it plays */
    unsigned cpus;
    unsigned mem_gib;
    unsigned n_gpus;
    const struct sim_gpu_model *gpu;
    int flaky_gpu;          /* index of a GPU that falls off the bus now and then, -1: none */
    const char *flaky_unit; /* a unit that fails now and then, NULL: none */
    double train, notebook; /* share of GPU jobs that are training runs / notebooks; rest idle */
    bool goes_down;         /* unreachable now and then (sim-fleet stops its listener) */
    bool desktop;           /* a display server holds a little memory on GPU 0 */
};

/* The server at index i (0-based, i < SIM_MAX_SERVERS). */
const struct sim_server *sim_server(size_t i);

/* Its node name: "sim-gpu-01" for index 0. */
void sim_server_name(size_t i, char *buf, size_t size);

/* The units every simulated server reports (for the aggregator config and /v1/services). */
extern const char *const sim_units[];
extern const size_t sim_n_units;

/* The /v1/snapshot object of server i at wall-clock time now_ms, as the agent would send it
 * with ?services=<services> (a comma-separated list, or NULL for none). NULL when out of
 * memory. */
struct cJSON *sim_snapshot(size_t i, int64_t now_ms, const struct sim_time *tm,
                           const char *services);

/* The /v1/health object of server i at now_ms. */
struct cJSON *sim_health(size_t i, int64_t now_ms, const struct sim_time *tm);

/* The /v1/services object (the unit catalog). */
struct cJSON *sim_catalog(size_t i);

#endif
