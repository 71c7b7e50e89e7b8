/* SPDX-License-Identifier: MIT */
/* Renders sampled values as Prometheus text: HELP/TYPE once per family, escaped label values. */
#include "agent/metrics.h"

#include "common/buf.h"
#include "common/err.h"

#include <math.h>
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

static void family(struct mon_buf *out, const char *name, const char *help)
{
    (void)mon_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void value(struct mon_buf *out, double v)
{
    if (isfinite(v))
        (void)mon_buf_printf(out, " %.17g\n", v);
    else
        (void)mon_buf_puts(out, " NaN\n");
}

static void plain(struct mon_buf *out, const char *name, const char *help, double v)
{
    family(out, name, help);
    (void)mon_buf_puts(out, name);
    value(out, v);
}

static void gpu_line(struct mon_buf *out, const char *name, const struct gpu_reading *g, double v)
{
    (void)mon_buf_printf(out, "%s{gpu=\"%u\",uuid=\"", name, g->index);
    put_label(out, g->uuid);
    (void)mon_buf_puts(out, "\",name=\"");
    put_label(out, g->name);
    (void)mon_buf_puts(out, "\"}");
    value(out, v);
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
            const struct disk_entry *d = &v->disks[i];
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
            const struct gpu_reading *g = &v->gpus[i];
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

int agent_metrics_render(const char *node_id, const struct agent_values *v,
                         const struct unit_state *units, size_t n_units, struct mon_buf *out)
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
    family(out, "monitor_systemd_unit_active",
           "1 when the unit's ActiveState is active, labelled with its current states.");
    for (size_t i = 0; i < n_units; i++) {
        const struct unit_state *u = &units[i];
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
