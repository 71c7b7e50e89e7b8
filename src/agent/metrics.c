/* SPDX-License-Identifier: MIT */
/* Renders sampled values as Prometheus text: HELP/TYPE once per family, escaped label values. */
#include "agent/metrics.h"

#include "common/buf.h"
#include "common/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends a label value with \\, \" and \n escaped as the exposition format requires. */
static void put_label(struct mon_buf *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\')
            (void)mon_buf_puts(out, "\\\\");
        else if (*p == '"')
            (void)mon_buf_puts(out, "\\\"");
        else if (*p == '\n')
            (void)mon_buf_puts(out, "\\n");
        else
            (void)mon_buf_append(out, p, 1);
    }
}

static void family_of(struct mon_buf *out, const char *name, const char *help, const char *type)
{
    (void)mon_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void family(struct mon_buf *out, const char *name, const char *help)
{
    family_of(out, name, help, "gauge");
}

/* Writes v with the fewest digits that read back as the same double (0.41, not
 * 0.40999999999999998), as Prometheus' own clients do. */
static void value(struct mon_buf *out, double v)
{
    char text[32];

    if (!isfinite(v)) {
        (void)mon_buf_puts(out, " NaN\n");
        return;
    }
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof(text), "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    (void)mon_buf_printf(out, " %s\n", text);
}

static void plain(struct mon_buf *out, const char *name, const char *help, double v)
{
    family(out, name, help);
    (void)mon_buf_puts(out, name);
    value(out, v);
}

/* One GPU sample line; extra is NULL or more labels, already formatted ("reason=\"x\""). */
static void gpu_line_with(struct mon_buf *out, const char *name, const struct agent_gpu_reading *g,
                          const char *extra, double v)
{
    (void)mon_buf_printf(out, "%s{gpu=\"%u\",uuid=\"", name, g->index);
    put_label(out, g->uuid);
    (void)mon_buf_puts(out, "\",name=\"");
    put_label(out, g->name);
    (void)mon_buf_printf(out, "\"%s%s}", extra ? "," : "", extra ? extra : "");
    value(out, v);
}

static void gpu_line(struct mon_buf *out, const char *name, const struct agent_gpu_reading *g,
                     double v)
{
    gpu_line_with(out, name, g, NULL, v);
}

static void disk_line(struct mon_buf *out, const char *name, const char *mount, double v)
{
    (void)mon_buf_printf(out, "%s{mount=\"", name);
    put_label(out, mount);
    (void)mon_buf_puts(out, "\"}");
    value(out, v);
}

static void render_disks(struct mon_buf *out, const struct agent_values *v)
{
    static const struct {
        const char *name, *help;
    } fams[] = {
        {"monitor_disk_used_bytes", "Used bytes of the filesystem (blocks - bfree, as df)."},
        {"monitor_disk_size_bytes", "Size of the filesystem in bytes."},
        {"monitor_disk_used_ratio", "used / (used + available), as df computes Use%."},
        {"monitor_disk_stale", "1 when the mount did not answer statvfs in time."},
        {"monitor_disk_error", "1 when the mount could not be read."},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        family(out, fams[f].name, fams[f].help);
        for (size_t i = 0; i < v->n_disks; i++) {
            const struct agent_disk_entry *d = &v->disks[i];
            double x;
            if (f < 3 && !d->have_value)
                continue;
            switch (f) {
            case 0:
                x = (double)d->usage.used_bytes;
                break;
            case 1:
                x = (double)d->usage.total_bytes;
                break;
            case 2:
                x = d->usage.used_pct / 100.0;
                break;
            case 3:
                x = d->stale ? 1 : 0;
                break;
            default:
                x = d->error[0] ? 1 : 0;
                break;
            }
            disk_line(out, fams[f].name, d->mount, x);
        }
    }
}

static void render_gpus(struct mon_buf *out, const struct agent_values *v)
{
    static const struct {
        const char *name, *help;
    } fams[] = {
        {"monitor_gpu_utilization_ratio", "GPU utilisation averaged over cpu_window, 0..1."},
        {"monitor_gpu_memory_used_bytes", "GPU memory in use."},
        {"monitor_gpu_memory_total_bytes", "GPU memory size."},
        {"monitor_gpu_temperature_celsius", "GPU core temperature."},
        {"monitor_gpu_power_watts", "GPU power draw."},
        {"monitor_gpu_error", "1 when the GPU reported an error (e.g. GPU is lost)."},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        family(out, fams[f].name, fams[f].help);
        for (size_t i = 0; i < v->n_gpus; i++) {
            const struct agent_gpu_reading *g = &v->gpus[i];
            bool ok = !g->error[0];
            switch (f) {
            case 0:
                if (ok && g->has_util)
                    gpu_line(out, fams[f].name, g, g->util_pct / 100.0);
                break;
            case 1:
                if (ok && g->has_mem)
                    gpu_line(out, fams[f].name, g, (double)g->mem_used_mb * 1048576.0);
                break;
            case 2:
                if (ok && g->has_mem)
                    gpu_line(out, fams[f].name, g, (double)g->mem_total_mb * 1048576.0);
                break;
            case 3:
                if (ok && g->has_temp)
                    gpu_line(out, fams[f].name, g, g->temp_c);
                break;
            case 4:
                if (ok && g->has_power)
                    gpu_line(out, fams[f].name, g, g->power_w);
                break;
            default:
                gpu_line(out, fams[f].name, g, ok ? 0 : 1);
                break;
            }
        }
    }
}

/* One family of per-GPU figures: has() says whether GPU g has it, get() its value. */
struct gpu_figure {
    const char *name, *help;
    bool (*has)(const struct agent_gpu_reading *g);
    double (*get)(const struct agent_gpu_reading *g);
};

static bool has_processes(const struct agent_gpu_reading *g)
{
    return g->has_processes;
}
static double processes(const struct agent_gpu_reading *g)
{
    return g->n_processes;
}
static bool has_fan(const struct agent_gpu_reading *g)
{
    return g->has_fan;
}
static double fan(const struct agent_gpu_reading *g)
{
    return g->fan_pct / 100.0;
}
static bool has_sm_clock(const struct agent_gpu_reading *g)
{
    return g->has_sm_clock;
}
static double sm_clock(const struct agent_gpu_reading *g)
{
    return g->sm_clock_mhz * 1e6;
}
static bool has_power_limit(const struct agent_gpu_reading *g)
{
    return g->has_power_limit;
}
static double power_limit(const struct agent_gpu_reading *g)
{
    return g->power_limit_w;
}
static bool has_pstate(const struct agent_gpu_reading *g)
{
    return g->has_pstate;
}
static double pstate(const struct agent_gpu_reading *g)
{
    return g->pstate;
}
static bool has_ecc_mode(const struct agent_gpu_reading *g)
{
    return g->ecc.has_mode;
}
static double ecc_enabled(const struct agent_gpu_reading *g)
{
    return g->ecc.enabled ? 1 : 0;
}
static bool has_remapped_rows(const struct agent_gpu_reading *g)
{
    return g->has_remapped_rows;
}
static double remapping_pending(const struct agent_gpu_reading *g)
{
    return g->remapped_rows.pending ? 1 : 0;
}
static double remapping_failed(const struct agent_gpu_reading *g)
{
    return g->remapped_rows.failed ? 1 : 0;
}
static bool has_last_xid(const struct agent_gpu_reading *g)
{
    return g->has_xid && g->n_xid > 0;
}
static double last_xid_code(const struct agent_gpu_reading *g)
{
    return g->xid[g->n_xid - 1].code;
}
static double last_xid_time(const struct agent_gpu_reading *g)
{
    return (double)g->xid[g->n_xid - 1].at_utc_s;
}

static void render_gpu_figures(struct mon_buf *out, const struct agent_values *v)
{
    static const struct gpu_figure figures[] = {
        {"monitor_gpu_processes", "Processes holding a context on the GPU (all of them).",
         has_processes, processes},
        {"monitor_gpu_fan_ratio", "Fan speed as a ratio of its maximum (can exceed 1).", has_fan,
         fan},
        {"monitor_gpu_sm_clock_hertz", "Current SM clock.", has_sm_clock, sm_clock},
        {"monitor_gpu_power_limit_watts", "Enforced power limit.", has_power_limit, power_limit},
        {"monitor_gpu_pstate", "Performance state, 0 (fastest) to 15.", has_pstate, pstate},
        {"monitor_gpu_ecc_enabled", "1 when ECC is enabled.", has_ecc_mode, ecc_enabled},
        {"monitor_gpu_row_remapping_pending", "1 when a row remapping waits for a GPU reset.",
         has_remapped_rows, remapping_pending},
        {"monitor_gpu_row_remapping_failed", "1 when a row remapping failed.", has_remapped_rows,
         remapping_failed},
        {"monitor_gpu_last_xid_code", "Code of the newest critical Xid error.", has_last_xid,
         last_xid_code},
        {"monitor_gpu_last_xid_timestamp_seconds", "When the newest critical Xid error arrived.",
         has_last_xid, last_xid_time},
    };
    for (size_t f = 0; f < sizeof(figures) / sizeof(figures[0]); f++) {
        family(out, figures[f].name, figures[f].help);
        for (size_t i = 0; i < v->n_gpus; i++)
            if (!v->gpus[i].error[0] && figures[f].has(&v->gpus[i]))
                gpu_line(out, figures[f].name, &v->gpus[i], figures[f].get(&v->gpus[i]));
    }
}

/* The labelled health families: throttle reasons, ECC counters, remapped rows, Xid count. */
static void render_gpu_health(struct mon_buf *out, const struct agent_values *v)
{
    char label[64];

    family(out, "monitor_gpu_throttle_reason",
           "1 while the clocks are held back for this reason (NVML throttle reasons).");
    for (size_t i = 0; i < v->n_gpus; i++) {
        const struct agent_gpu_reading *g = &v->gpus[i];
        for (int bit = 0; !g->error[0] && g->has_throttle && bit < 64; bit++) {
            const char *name = agent_gpu_throttle_name(1ULL << bit);
            if (!name)
                continue;
            snprintf(label, sizeof(label), "reason=\"%s\"", name);
            gpu_line_with(out, "monitor_gpu_throttle_reason", g, label,
                          (double)((g->throttle_mask >> bit) & 1));
        }
    }
    family(out, "monitor_gpu_ecc_errors",
           "ECC errors by type (corrected, uncorrected) and counter (volatile: since the last "
           "driver load; aggregate: lifetime).");
    for (size_t i = 0; i < v->n_gpus; i++) {
        const struct agent_gpu_ecc *e = &v->gpus[i].ecc;
        const uint64_t counts[4] = {e->volatile_corrected, e->volatile_uncorrected,
                                    e->aggregate_corrected, e->aggregate_uncorrected};
        for (int k = 0; !v->gpus[i].error[0] && e->has_counts && k < 4; k++) {
            snprintf(label, sizeof(label), "type=\"%s\",counter=\"%s\"",
                     k % 2 ? "uncorrected" : "corrected", k < 2 ? "volatile" : "aggregate");
            gpu_line_with(out, "monitor_gpu_ecc_errors", &v->gpus[i], label, (double)counts[k]);
        }
    }
    family(out, "monitor_gpu_remapped_rows",
           "Memory rows remapped, by the kind of error that caused it.");
    for (size_t i = 0; i < v->n_gpus; i++) {
        const struct agent_gpu_reading *g = &v->gpus[i];
        if (g->error[0] || !g->has_remapped_rows)
            continue;
        gpu_line_with(out, "monitor_gpu_remapped_rows", g, "cause=\"correctable\"",
                      g->remapped_rows.corrected);
        gpu_line_with(out, "monitor_gpu_remapped_rows", g, "cause=\"uncorrectable\"",
                      g->remapped_rows.uncorrected);
    }
    family_of(out, "monitor_gpu_xid_errors_total",
              "Critical Xid errors received since the agent started.", "counter");
    for (size_t i = 0; i < v->n_gpus; i++)
        if (v->gpus[i].has_xid)
            gpu_line(out, "monitor_gpu_xid_errors_total", &v->gpus[i],
                     (double)v->gpus[i].xid_total);
}

int agent_metrics_render(const char *node_id, const struct agent_values *v,
                         const struct agent_unit_state *units, size_t n_units, struct mon_buf *out)
{
    family(out, "monitor_agent_info", "Agent version and node id (value is always 1).");
    (void)mon_buf_printf(out, "monitor_agent_info{version=\"%s\",node_id=\"", MON_VERSION);
    put_label(out, node_id);
    (void)mon_buf_puts(out, "\"} 1\n");
    if (v->has_cpu)
        plain(out, "monitor_cpu_utilization_ratio",
              "Whole-machine CPU utilisation averaged over cpu_window, 0..1.", v->cpu_pct / 100.0);
    plain(out, "monitor_cpus", "Number of CPUs in /proc/stat.", v->cpu_count);
    if (v->has_load) {
        plain(out, "monitor_load1", "1-minute load average.", v->load[0]);
        plain(out, "monitor_load5", "5-minute load average.", v->load[1]);
        plain(out, "monitor_load15", "15-minute load average.", v->load[2]);
    }
    if (v->has_uptime)
        plain(out, "monitor_uptime_seconds", "Seconds since the machine booted.", v->uptime_s);
    if (v->has_mem) {
        double used = (double)(v->mem.total_bytes - v->mem.available_bytes);
        plain(out, "monitor_memory_used_bytes", "MemTotal - MemAvailable.", used);
        plain(out, "monitor_memory_total_bytes", "MemTotal.", (double)v->mem.total_bytes);
        plain(out, "monitor_memory_used_ratio", "Used memory as a ratio of MemTotal.",
              v->mem.total_bytes ? used / (double)v->mem.total_bytes : 0);
    }
    render_disks(out, v);
    render_gpus(out, v);
    render_gpu_figures(out, v);
    render_gpu_health(out, v);
    family(out, "monitor_systemd_unit_active",
           "1 when the unit's ActiveState is active, labelled with its current states.");
    for (size_t i = 0; i < n_units; i++) {
        const struct agent_unit_state *u = &units[i];
        if (u->error[0])
            continue;
        (void)mon_buf_puts(out, "monitor_systemd_unit_active{unit=\"");
        put_label(out, u->name);
        (void)mon_buf_puts(out, "\",active_state=\"");
        put_label(out, u->active_state);
        (void)mon_buf_puts(out, "\",sub_state=\"");
        put_label(out, u->sub_state);
        (void)mon_buf_puts(out, "\"}");
        value(out, strcmp(u->active_state, "active") == 0 ? 1 : 0);
    }
    return out->data ? MON_OK : MON_ENOMEM;
}
