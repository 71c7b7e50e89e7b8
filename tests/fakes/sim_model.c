/* SPDX-License-Identifier: MIT */
/* The readings of the simulated GPU servers (sim_model.h): GPU jobs that start and end, their
 * processes in the agent's gpus[].processes[] shape, utilisation with some wobble, and the
 * scripted trouble (a lost GPU, a failing unit) that repeats every cycle (struct sim_time). */
#include "sim_model.h"

#include "common/clock.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define JOB_S     480 /* a GPU job lasts this long in the demo, then the next one starts */
#define MIB       1048576.0
#define LOST_FROM 0.3 /* [LOST_FROM, LOST_TO) of each cycle: the flaky GPU is lost */
#define LOST_TO   0.5
#define UNIT_FROM 0.6 /* [UNIT_FROM, UNIT_TO): the flaky unit is failed */
#define UNIT_TO   0.8
#define PI_2      6.283185307179586

/* name, MiB, idle/max W, max SM MHz, fan (boards with one), ECC, row remapping (A100/H100) */
static const struct sim_gpu_model A100 = {
    "NVIDIA A100-SXM4-80GB", 81920, 60, 400, 1410, false, true, true};
static const struct sim_gpu_model A6000 = {
    "NVIDIA RTX A6000", 49140, 22, 300, 1800, true, true, false};
static const struct sim_gpu_model RTX4090 = {
    "NVIDIA GeForce RTX 4090", 24564, 18, 450, 2520, true, false, false};
static const struct sim_gpu_model H100 = {
    "NVIDIA H100 80GB HBM3", 81559, 70, 700, 1980, false, true, true};
static const struct sim_gpu_model L40S = {"NVIDIA L40S", 46068, 35, 350, 2520, false, true, false};
static const struct sim_gpu_model V100 = {
    "Tesla V100-SXM2-32GB", 32768, 40, 300, 1530, false, true, false};

static const struct sim_server servers[SIM_MAX_SERVERS] = {
    {"8-GPU training node", 64, 512, 8, &A100, -1, NULL, 0.8, 0.05, false, false},
    {"shared JupyterHub workstation", 32, 256, 4, &A6000, -1, "jupyterhub.service", 0.2, 0.5, false,
     false},
    {"student desktop (goes down now and then)", 16, 128, 2, &RTX4090, -1, NULL, 0.25, 0.25, true,
     true},
    {"H100 node with a GPU that falls off the bus", 96, 1024, 8, &H100, 6, NULL, 0.6, 0.1, false,
     false},
    {"inference server", 32, 192, 4, &L40S, -1, NULL, 0.6, 0.2, false, false},
    {"old V100 node", 40, 384, 4, &V100, -1, NULL, 0.3, 0.2, false, false},
    {"second student desktop", 16, 64, 2, &RTX4090, -1, NULL, 0.2, 0.3, false, true},
    {"second training node", 64, 512, 8, &A100, -1, NULL, 0.7, 0.05, false, false},
};

const char *const sim_units[] = {"docker.service", "nvidia-persistenced.service",
                                 "jupyterhub.service", "slurmd.service"};
const size_t sim_n_units = sizeof(sim_units) / sizeof(sim_units[0]);

static const char *const unit_descriptions[] = {"Docker Application Container Engine",
                                                "NVIDIA Persistence Daemon", "JupyterHub",
                                                "Slurm node daemon"};

static const char *const users[] = {"alice", "bchen", "dkumar", "emartin",
                                    "fyang", "gli",   "hsato",  "inovak"};

enum job_kind { JOB_IDLE, JOB_TRAIN, JOB_NOTEBOOK };

struct job {
    enum job_kind kind;
    unsigned user;  /* index into users[] */
    unsigned group; /* GPUs of a multi-GPU job share it: first index of the group */
    unsigned ranks; /* GPUs in the group */
    int64_t start_s;
    uint64_t seed;
};

/* splitmix64 */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A deterministic number in [0, 1) for a seed. */
static double u01(uint64_t seed)
{
    return (double)(mix(seed) >> 11) / 9007199254740992.0;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

const struct sim_server *sim_server(size_t i)
{
    return i < SIM_MAX_SERVERS ? &servers[i] : NULL;
}

void sim_server_name(size_t i, char *buf, size_t size)
{
    snprintf(buf, size, "sim-gpu-%02zu", i + 1);
}

/* The job on GPU g of server i at time t (seconds). Eight-GPU nodes run jobs on groups of four
 * GPUs (one process per GPU, as torchrun starts them); smaller ones one job per GPU. */
static struct job gpu_job(size_t i, unsigned g, int64_t t)
{
    const struct sim_server *s = &servers[i];
    unsigned size = s->n_gpus >= 8 ? 4 : 1;
    unsigned group = g / size * size;
    uint64_t key = (uint64_t)i * 1000003u + group * 7919u;
    int64_t phase = (int64_t)(u01(key) * JOB_S), slot = (t + phase) / JOB_S;
    uint64_t h = mix(key ^ (uint64_t)slot * 0x100000001b3ULL);
    double r = u01(h);
    struct job j = {
        .kind = r < s->train                 ? JOB_TRAIN
                : r < s->train + s->notebook ? JOB_NOTEBOOK
                                             : JOB_IDLE,
        .user = (unsigned)(h >> 16) % (sizeof(users) / sizeof(users[0])),
        .group = group,
        .ranks = size,
        .start_s = slot * JOB_S - phase,
        .seed = h,
    };
    /* The first node's first GPUs always run a training job, so the demo (and its test) has
     * someone on a GPU at any moment; the rest of the fleet comes and goes. */
    if (i == 0 && group == 0 && j.kind == JOB_IDLE)
        j.kind = JOB_TRAIN;
    if (j.kind == JOB_NOTEBOOK) { /* notebooks hold one GPU each */
        j.group = g;
        j.ranks = 1;
    }
    return j;
}

/* Where t (seconds) falls in the scripted cycle, 0 <= x < 1. */
static double in_cycle(const struct sim_time *tm, int64_t t)
{
    int64_t since = t - tm->started_ms / 1000;
    return since < 0 ? 0 : (double)(since % tm->cycle_s) / (double)tm->cycle_s;
}

static bool gpu_lost(size_t i, unsigned g, int64_t t, const struct sim_time *tm)
{
    double x = in_cycle(tm, t);
    return servers[i].flaky_gpu == (int)g && x >= LOST_FROM && x < LOST_TO;
}

/* When the current lost window began (the Xid's time). */
static int64_t lost_since(int64_t t, const struct sim_time *tm)
{
    int64_t started_s = tm->started_ms / 1000, since = t - started_s;
    return started_s + since / tm->cycle_s * tm->cycle_s + (int64_t)(LOST_FROM * tm->cycle_s);
}

/* Utilisation of GPU g: steady with a slow wave for training, bursty for notebooks. */
static double gpu_util(size_t i, unsigned g, const struct job *j, double t)
{
    double wave = sin(PI_2 * t / (37.0 + g) + (double)i), noise = u01(j->seed + (uint64_t)t) - 0.5;

    switch (j->kind) {
    case JOB_TRAIN:
        return clamp(90.0 + 6.0 * wave + 4.0 * noise, 0, 100);
    case JOB_NOTEBOOK:
        return clamp(12.0 + 18.0 * wave + 10.0 * noise, 0, 100);
    default:
        return 0;
    }
}

static double gpu_mem_mb(const struct sim_server *s, unsigned g, const struct job *j)
{
    double total = s->gpu->mem_total_mb, xorg = s->desktop && g == 0 ? 212 : 0;

    switch (j->kind) {
    case JOB_TRAIN:
        return floor(total * (0.62 + 0.3 * u01(j->seed + 1))) + xorg;
    case JOB_NOTEBOOK:
        return floor(1500 + 6000 * u01(j->seed + 2)) + xorg;
    default:
        return xorg;
    }
}

static cJSON *add_process(cJSON *arr, uint64_t pid, const char *user, unsigned uid,
                          const char *command, const char *type, double mem_mb,
                          const char *container, int64_t started_s)
{
    cJSON *p = cJSON_CreateObject();

    if (!p || !cJSON_AddItemToArray(arr, p)) {
        cJSON_Delete(p);
        return NULL;
    }
    cJSON_AddNumberToObject(p, "pid", (double)pid);
    cJSON_AddStringToObject(p, "user", user);
    cJSON_AddNumberToObject(p, "uid", uid);
    cJSON_AddStringToObject(p, "command", command); /* the process name (comm), as the agent */
    cJSON_AddStringToObject(p, "type", type);
    cJSON_AddNumberToObject(p, "used_mem_mb", mem_mb);
    if (container)
        cJSON_AddStringToObject(p, "container", container);
    else
        cJSON_AddNullToObject(p, "container");
    mon_json_add_time(p, "started_at", started_s);
    return p;
}

/* gpus[].processes[] as the agent sends them: pid, user, uid, command (the process name),
 * type, used_mem_mb, container (12 hex digits of the container id, or null), started_at. */
static void add_processes(cJSON *gpu, const struct sim_server *s, unsigned g, const struct job *j,
                          double mem_mb, int64_t boot_s)
{
    cJSON *arr = cJSON_AddArrayToObject(gpu, "processes");
    const char *user = users[j->user];
    unsigned uid = 1001 + j->user;
    char container[16];

    if (!arr)
        return;
    snprintf(container, sizeof(container), "%012llx",
             (unsigned long long)(mix(j->seed) & 0xffffffffffffULL));
    if (s->desktop && g == 0) {
        add_process(arr, 1337, "root", 0, "Xorg", "graphics", 212, NULL, boot_s);
        mem_mb -= 212;
    }
    /* The training runs of a job share their container and have neighbouring PIDs. */
    if (j->kind == JOB_TRAIN)
        add_process(arr, 20000 + (j->seed % 30000) + g, user, uid, "python", "compute", mem_mb,
                    j->seed % 2 ? container : NULL, j->start_s);
    else if (j->kind == JOB_NOTEBOOK)
        add_process(arr, 50000 + (j->seed % 10000), user, uid, "python3", "compute", mem_mb,
                    container, j->start_s);
    cJSON_AddFalseToObject(gpu, "processes_truncated");
}

/* What the agent reports for a GPU that fell off the bus: no values, the Xid that explains
 * it, an error. lost_at_s: when it was lost. */
static void fill_lost_gpu(cJSON *o, unsigned g, int64_t lost_at_s)
{
    static const char *const values[] = {
        "util_pct",     "mem_used_mb",   "mem_total_mb", "temp_c",   "power_w", "fan_pct",
        "sm_clock_mhz", "power_limit_w", "pstate",       "throttle", "ecc",     "remapped_rows"};
    cJSON *xid, *e;
    char name[32];

    snprintf(name, sizeof(name), "GPU %u", g);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "uuid", "");
    for (size_t k = 0; k < sizeof(values) / sizeof(values[0]); k++)
        cJSON_AddNullToObject(o, values[k]);
    if ((xid = cJSON_AddArrayToObject(o, "xid")) && (e = cJSON_CreateObject()) &&
        cJSON_AddItemToArray(xid, e)) {
        cJSON_AddNumberToObject(e, "code", 79); /* GPU has fallen off the bus */
        mon_json_add_time(e, "at", lost_at_s);
    }
    cJSON_AddNullToObject(o, "processes");
    cJSON_AddStringToObject(o, "error", "GPU is lost");
}

/* fan, clocks, power limit, P-state, throttle reasons, ECC and row remapping of a GPU in use
 * at util % (the agent's GPU health fields). */
static void add_health(cJSON *o, const struct sim_gpu_model *m, double util, double temp)
{
    cJSON *throttle, *ecc, *rows;

    if (m->has_fan)
        mon_json_add_rounded(o, "fan_pct", 30.0 + clamp(temp - 40.0, 0, 50) * 1.2, 0);
    else
        cJSON_AddNullToObject(o, "fan_pct");
    cJSON_AddNumberToObject(o, "sm_clock_mhz", util > 1 ? m->max_sm_mhz : 210);
    cJSON_AddNumberToObject(o, "power_limit_w", m->max_w);
    cJSON_AddNumberToObject(o, "pstate", util > 1 ? 0 : 8);
    if ((throttle = cJSON_AddArrayToObject(o, "throttle"))) {
        if (util <= 1)
            cJSON_AddItemToArray(throttle, cJSON_CreateString("gpu_idle"));
        else if (util > 97)
            cJSON_AddItemToArray(throttle, cJSON_CreateString("sw_power_cap"));
    }
    if ((ecc = cJSON_AddObjectToObject(o, "ecc"))) {
        static const char *const counts[] = {"volatile_corrected", "volatile_uncorrected",
                                             "aggregate_corrected", "aggregate_uncorrected"};
        cJSON_AddStringToObject(ecc, "mode", m->has_ecc ? "enabled" : "disabled");
        for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
            if (m->has_ecc)
                cJSON_AddNumberToObject(ecc, counts[k], k == 2 ? 3 : 0);
            else
                cJSON_AddNullToObject(ecc, counts[k]);
        }
    }
    if (!m->has_remap) {
        cJSON_AddNullToObject(o, "remapped_rows");
    } else if ((rows = cJSON_AddObjectToObject(o, "remapped_rows"))) {
        cJSON_AddNumberToObject(rows, "corrected", 0);
        cJSON_AddNumberToObject(rows, "uncorrected", 0);
        cJSON_AddFalseToObject(rows, "pending");
        cJSON_AddFalseToObject(rows, "failed");
    }
}

static void add_gpu(cJSON *gpus, size_t i, unsigned g, int64_t now_ms, int64_t boot_s,
                    const struct sim_time *tm)
{
    const struct sim_server *s = &servers[i];
    int64_t t = now_ms / 1000;
    uint64_t u = mix((uint64_t)i * 131u + g);
    struct job j = gpu_job(i, g, t);
    double util = gpu_util(i, g, &j, (double)now_ms / 1000.0), mem = gpu_mem_mb(s, g, &j);
    double temp = 31.0 + util * 0.47 + 3.0 * u01(u + (uint64_t)t / 5);
    double power = s->gpu->idle_w + (s->gpu->max_w - s->gpu->idle_w) * util / 100.0 *
                                        (0.85 + 0.15 * u01(u + (uint64_t)t));
    cJSON *o = cJSON_CreateObject();
    char uuid[64];

    if (!o || !cJSON_AddItemToArray(gpus, o)) {
        cJSON_Delete(o);
        return;
    }
    cJSON_AddNumberToObject(o, "index", g);
    if (gpu_lost(i, g, t, tm)) {
        fill_lost_gpu(o, g, lost_since(t, tm));
        return;
    }
    snprintf(uuid, sizeof(uuid), "GPU-%08x-%04x-%04x-%04x-%012llx", (unsigned)(u >> 32),
             (unsigned)(u >> 16) & 0xffff, (unsigned)u & 0xffff, (unsigned)(u >> 48),
             (unsigned long long)(mix(u) & 0xffffffffffffULL));
    cJSON_AddStringToObject(o, "name", s->gpu->name);
    cJSON_AddStringToObject(o, "uuid", uuid);
    mon_json_add_rounded(o, "util_pct", util, 0);
    cJSON_AddNumberToObject(o, "mem_used_mb", mem);
    cJSON_AddNumberToObject(o, "mem_total_mb", s->gpu->mem_total_mb);
    mon_json_add_rounded(o, "temp_c", temp, 0);
    mon_json_add_rounded(o, "power_w", power, 0);
    add_health(o, s->gpu, util, temp);
    cJSON_AddItemToObject(o, "xid", cJSON_CreateArray());
    add_processes(o, s, g, &j, mem, boot_s);
}

static void add_disk(cJSON *disks, const char *mount, double total, double used_frac)
{
    cJSON *d = cJSON_CreateObject();

    if (!d || !cJSON_AddItemToArray(disks, d)) {
        cJSON_Delete(d);
        return;
    }
    cJSON_AddStringToObject(d, "mount", mount);
    cJSON_AddNumberToObject(d, "used_bytes", floor(total * used_frac));
    cJSON_AddNumberToObject(d, "total_bytes", total);
    mon_json_add_rounded(d, "used_pct", used_frac * 100.0, 1);
}

/* Adds the requested units: all active except the flaky one during its failed window. */
static void add_services(cJSON *root, size_t i, int64_t t, const struct sim_time *tm,
                         const char *list)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "services");
    int64_t started_s = tm->started_ms / 1000, since_start = t - started_s;
    int64_t cycle_start =
        started_s + (since_start > 0 ? since_start / tm->cycle_s : 0) * tm->cycle_s;
    double x = in_cycle(tm, t);

    while (arr && list && *list) {
        size_t n = strcspn(list, ",");
        char name[256];
        cJSON *u;

        snprintf(name, sizeof(name), "%.*s", (int)(n < 255 ? n : 255), list);
        list += n + (list[n] == ',');
        if (!name[0] || !(u = cJSON_CreateObject()) || !cJSON_AddItemToArray(arr, u))
            continue;
        cJSON_AddStringToObject(u, "name", name);
        if (servers[i].flaky_unit && strcmp(name, servers[i].flaky_unit) == 0 && x >= UNIT_FROM &&
            x < UNIT_TO) {
            cJSON_AddStringToObject(u, "active_state", "failed");
            cJSON_AddStringToObject(u, "sub_state", "failed");
            mon_json_add_time(u, "since", cycle_start + (int64_t)(UNIT_FROM * tm->cycle_s));
        } else {
            bool known = false;
            for (size_t k = 0; k < sim_n_units; k++)
                known = known || strcmp(name, sim_units[k]) == 0;
            cJSON_AddStringToObject(u, "active_state", known ? "active" : "inactive");
            cJSON_AddStringToObject(u, "sub_state", known ? "running" : "dead");
            mon_json_add_time(u, "since", known ? started_s : -1);
            if (!known)
                cJSON_AddStringToObject(u, "error", "unit not found");
        }
    }
}

cJSON *sim_snapshot(size_t i, int64_t now_ms, const struct sim_time *tm, const char *services)
{
    const struct sim_server *s = sim_server(i);
    int64_t t = now_ms / 1000, started_s = tm->started_ms / 1000;
    int64_t uptime = 86400 * (3 + 7 * (int64_t)i) + (now_ms - tm->started_ms) / 1000;
    double util_sum = 0, busy = 0;
    bool degraded = false;
    cJSON *root, *gpus, *mem, *disks, *load;
    char name[32];

    if (!s || !(root = cJSON_CreateObject()))
        return NULL;
    sim_server_name(i, name, sizeof(name));
    for (unsigned g = 0; g < s->n_gpus; g++) {
        struct job j = gpu_job(i, g, t);
        util_sum += gpu_lost(i, g, t, tm) ? 0 : gpu_util(i, g, &j, (double)now_ms / 1000.0);
        busy += j.kind != JOB_IDLE;
        degraded = degraded || gpu_lost(i, g, t, tm);
    }
    double cpu = clamp(3.0 + 0.22 * util_sum / s->n_gpus + 4.0 * u01(i * 7u + (uint64_t)t), 0, 100);
    double mem_total = (double)s->mem_gib * 1024 * MIB;
    double mem_frac = 0.12 + 0.55 * busy / s->n_gpus + 0.02 * u01(i + (uint64_t)t / 10);

    cJSON_AddStringToObject(root, "node_id", name);
    mon_json_add_time(root, "ts", t);
    cJSON_AddStringToObject(root, "agent_version", MON_VERSION);
    cJSON_AddNumberToObject(root, "uptime_s", (double)uptime);
    cJSON_AddNumberToObject(root, "cpu_count", s->cpus);
    if ((load = cJSON_AddArrayToObject(root, "load")))
        for (int k = 0; k < 3; k++)
            cJSON_AddItemToArray(
                load, cJSON_CreateNumber(mon_round(cpu / 100.0 * s->cpus * (1.0 - 0.05 * k), 2)));
    mon_json_add_rounded(root, "cpu_pct", cpu, 1);
    if ((mem = cJSON_AddObjectToObject(root, "mem"))) {
        cJSON_AddNumberToObject(mem, "used_bytes", floor(mem_total * mem_frac));
        cJSON_AddNumberToObject(mem, "total_bytes", mem_total);
        mon_json_add_rounded(mem, "used_pct", mem_frac * 100.0, 1);
    }
    if ((disks = cJSON_AddArrayToObject(root, "disks"))) {
        add_disk(disks, "/", 479.6e9, 0.3 + 0.4 * u01(i));
        /* /data fills up slowly over the day. */
        add_disk(disks, "/data", 7.68e12,
                 0.35 + 0.3 * u01(i + 99) + 0.02 * (double)(t % 86400) / 86400.0);
    }
    if ((gpus = cJSON_AddArrayToObject(root, "gpus")))
        for (unsigned g = 0; g < s->n_gpus; g++)
            add_gpu(gpus, i, g, now_ms, started_s - 86400 * (3 + 7 * (int64_t)i), tm);
    cJSON_AddStringToObject(root, "health", degraded ? "degraded" : "ok");
    cJSON_AddTrueToObject(root, "simulated");
    if (services)
        add_services(root, i, t, tm, services);
    return root;
}

cJSON *sim_health(size_t i, int64_t now_ms, const struct sim_time *tm)
{
    const struct sim_server *s = sim_server(i);
    int64_t t = now_ms / 1000;
    cJSON *root, *checks, *details;
    char name[32], gpu_detail[128];
    bool lost = false;

    if (!s || !(root = cJSON_CreateObject()))
        return NULL;
    for (unsigned g = 0; g < s->n_gpus; g++)
        lost = lost || gpu_lost(i, g, t, tm);
    if (lost)
        snprintf(gpu_detail, sizeof(gpu_detail), "GPU %d: GPU is lost", s->flaky_gpu);
    else
        snprintf(gpu_detail, sizeof(gpu_detail), "simulated: %u x %s", s->n_gpus, s->gpu->name);
    sim_server_name(i, name, sizeof(name));
    cJSON_AddStringToObject(root, "status", lost ? "degraded" : "ok");
    mon_json_add_time(root, "timestamp", t);
    if ((checks = cJSON_AddObjectToObject(root, "checks"))) {
        cJSON_AddStringToObject(checks, "cpu", "ok");
        cJSON_AddStringToObject(checks, "disk", "ok");
        cJSON_AddStringToObject(checks, "gpu", lost ? "degraded" : "ok");
        cJSON_AddStringToObject(checks, "systemd", "ok");
    }
    if ((details = cJSON_AddObjectToObject(root, "details"))) {
        cJSON_AddNullToObject(details, "cpu");
        cJSON_AddNullToObject(details, "disk");
        cJSON_AddStringToObject(details, "gpu", gpu_detail);
        cJSON_AddNullToObject(details, "systemd");
    }
    cJSON_AddStringToObject(root, "node_id", name);
    cJSON_AddStringToObject(root, "agent_version", MON_VERSION);
    cJSON_AddTrueToObject(root, "simulated");
    return root;
}

cJSON *sim_catalog(size_t i)
{
    cJSON *root = cJSON_CreateObject(), *arr;

    if (!root || !sim_server(i) || !(arr = cJSON_AddArrayToObject(root, "services"))) {
        cJSON_Delete(root);
        return NULL;
    }
    for (size_t k = 0; k < sim_n_units; k++) {
        cJSON *u = cJSON_CreateObject();
        if (!u || !cJSON_AddItemToArray(arr, u)) {
            cJSON_Delete(u);
            break;
        }
        cJSON_AddStringToObject(u, "name", sim_units[k]);
        cJSON_AddStringToObject(u, "description", unit_descriptions[k]);
        cJSON_AddStringToObject(u, "active_state", "active");
        cJSON_AddStringToObject(u, "sub_state", "running");
        cJSON_AddStringToObject(u, "unit_file_state", "enabled");
    }
    return root;
}
