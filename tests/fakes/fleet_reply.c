/* SPDX-License-Identifier: MIT */
/* The fleet's replies: GET /v1/snapshot answered with made-up but realistic samples (two GPUs
 * with their health fields and the job on each busy one, one or two disks, the units asked
 * for), written with a small formatter, not printf, so that the simulator stays cheaper than
 * the aggregator it drives. */
#include "fleet.h"

#include "common/err.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define FLEET_MAX_BODY 16384
/* Every job (process) on a busy GPU is replaced by a new one at each multiple of this many
 * seconds, as a real agent reports it: one start time for the life of a process. */
#define FLEET_JOB_S 600

/* ---- a tiny writer (bounded; writes nothing past end) ---- */

struct out {
    char *p, *end;
};

static void w_mem(struct out *o, const char *s, size_t n)
{
    if ((size_t)(o->end - o->p) < n) {
        o->p = o->end; /* overflow: the caller sees a full buffer and fails */
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

static void w_str(struct out *o, const char *s)
{
    w_mem(o, s, strlen(s));
}

static void w_u64(struct out *o, uint64_t v)
{
    char tmp[24], *q = tmp + sizeof(tmp);
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    w_mem(o, q, (size_t)(tmp + sizeof(tmp) - q));
}

/* A non-negative value with one decimal, from tenths. */
static void w_tenths(struct out *o, uint64_t tenths)
{
    char d[2] = {'.', (char)('0' + tenths % 10)};
    w_u64(o, tenths / 10);
    w_mem(o, d, 2);
}

static void w_hex(struct out *o, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        tmp[i] = hex[v & 15];
    w_mem(o, tmp, (size_t)digits);
}

/* splitmix64: a deterministic "random" number in [0, 1000) for a seed. */
static uint64_t wobble(uint64_t seed)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (z ^ (z >> 31)) % 1000;
}

static int hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Echoes the comma-separated, percent-encoded units of ?services= as active/running; bytes
 * that cannot be in a unit name are dropped, so nothing needs JSON escaping. */
static void put_services(struct out *o, const char *q, const char *since)
{
    char name[256];
    size_t n = 0;
    bool first = true;
    w_str(o, ",\"services\":[");
    for (;;) {
        if (*q == ',' || *q == '&' || *q == '\0' || *q == ' ') {
            if (n > 0) {
                w_str(o, first ? "{\"name\":\"" : ",{\"name\":\"");
                w_mem(o, name, n);
                w_str(o, "\",\"active_state\":\"active\",\"sub_state\":\"running\",\"since\":\"");
                w_str(o, since);
                w_str(o, "\"}");
                first = false;
            }
            n = 0;
            if (*q++ != ',')
                break;
            continue;
        }
        char ch = *q;
        if (ch == '%' && hex(q[1]) >= 0 && hex(q[2]) >= 0) {
            ch = (char)(hex(q[1]) * 16 + hex(q[2]));
            q += 2;
        }
        if (n < sizeof(name) && ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            name[n++] = ch;
        q++;
    }
    w_str(o, "]");
}

static void refresh_time(struct fleet *f)
{
    int64_t now = mon_utc_ms() / 1000;
    if (now == f->ts_second)
        return;
    f->ts_second = now;
    if (mon_format_iso8601(now, f->ts_text, sizeof(f->ts_text)) < 0 ||
        mon_format_iso8601(now - 3600, f->since_text, sizeof(f->since_text)) < 0 ||
        mon_format_iso8601(now - now % FLEET_JOB_S, f->job_text, sizeof(f->job_text)) < 0)
        f->ts_text[0] = f->since_text[0] = f->job_text[0] = '\0';
}

/* The agent's per-GPU health and process fields (as the real agent sends them with NVML): a
 * GPU above 5 % utilisation runs one job of one of four users, using its memory, started at
 * since (FLEET_JOB_S). */
static void put_gpu_health(struct out *o, const struct agent *a, int g, uint64_t util,
                           const char *since)
{
    static const char *const users[] = {"alice", "bob", "carol", "dave"};
    uint64_t who = ((uint64_t)a->index + (uint64_t)g) % 4;
    w_str(o, ",\"fan_pct\":");
    w_u64(o, 30 + util / 20);
    w_str(o, ",\"sm_clock_mhz\":1410,\"power_limit_w\":400,\"pstate\":0,\"throttle\":");
    w_str(o, util > 900 ? "[\"sw_power_cap\"]" : "[]");
    w_str(o, ",\"ecc\":{\"mode\":\"enabled\",\"volatile_corrected\":0,"
             "\"volatile_uncorrected\":0,\"aggregate_corrected\":0,\"aggregate_uncorrected\":0},"
             "\"remapped_rows\":{\"corrected\":0,\"uncorrected\":0,\"pending\":false,"
             "\"failed\":false},\"xid\":[],\"processes\":[");
    if (util > 50) {
        w_str(o, "{\"pid\":");
        w_u64(o, 100000 + (uint64_t)a->index % 800000 + (uint64_t)g);
        w_str(o, ",\"user\":\"");
        w_str(o, users[who]);
        w_str(o, "\",\"uid\":");
        w_u64(o, 1001 + who);
        w_str(o, ",\"command\":\"python3\",\"type\":\"compute\",\"used_mem_mb\":");
        w_u64(o, 81920 * util / 1000);
        w_str(o, ",\"container\":null,\"started_at\":\"");
        w_str(o, since);
        w_str(o, "\"}");
    }
    w_str(o, "],\"processes_truncated\":false");
}

/* The snapshot body of agent a (values move from request to request). */
static void put_snapshot(struct fleet *f, struct out *o, struct agent *a, const char *services)
{
    uint64_t seed = (uint64_t)a->index * 1000003u + a->served;
    uint64_t cpu = 20 + wobble(seed) * 96 / 100, mem_pct = 300 + wobble(seed + 1) * 4 / 10;
    uint64_t total = 274877906944ULL, disk_total = 1000000000000ULL;
    uint64_t disk_used = 200000000000ULL + wobble(a->index) * 600000000ULL;

    w_str(o, "{\"node_id\":\"fleet-");
    w_u64(o, a->index);
    w_str(o, "\",\"ts\":\"");
    w_str(o, f->ts_text);
    w_str(o, "\",\"agent_version\":\"0.1.0\",\"uptime_s\":");
    w_u64(o, 86400 + (uint64_t)f->ts_second % 1000000);
    w_str(o, ",\"cpu_count\":64,\"load\":[");
    w_tenths(o, cpu * 64 / 100);
    w_str(o, ",");
    w_tenths(o, cpu * 60 / 100);
    w_str(o, ",");
    w_tenths(o, cpu * 55 / 100);
    w_str(o, "],\"cpu_pct\":");
    w_tenths(o, cpu);
    w_str(o, ",\"mem\":{\"used_bytes\":");
    w_u64(o, total / 1000 * mem_pct);
    w_str(o, ",\"total_bytes\":");
    w_u64(o, total);
    w_str(o, ",\"used_pct\":");
    w_tenths(o, mem_pct);
    w_str(o, "},\"disks\":[{\"mount\":\"/\",\"used_bytes\":");
    w_u64(o, disk_used);
    w_str(o, ",\"total_bytes\":");
    w_u64(o, disk_total);
    w_str(o, ",\"used_pct\":");
    w_tenths(o, disk_used / 1000000000ULL);
    w_str(o, "}");
    if (a->index % 2)
        w_str(o, ",{\"mount\":\"/data\",\"used_bytes\":3000000000000,\"total_bytes\":"
                 "8000000000000,\"used_pct\":37.5}");
    w_str(o, "],\"gpus\":[");
    for (int g = 0; g < 2; g++) {
        uint64_t util = wobble(seed + 2 + (uint64_t)g); /* tenths */
        w_str(o, g ? ",{\"index\":1" : "{\"index\":0");
        w_str(o, ",\"name\":\"NVIDIA A100-SXM4-80GB\",\"uuid\":\"GPU-");
        w_hex(o, a->index, 8);
        w_str(o, "-");
        w_hex(o, (uint64_t)g, 4);
        w_str(o, "-4000-8000-");
        w_hex(o, a->index, 12);
        w_str(o, "\",\"util_pct\":");
        w_tenths(o, util);
        w_str(o, ",\"mem_used_mb\":");
        w_u64(o, 81920 * util / 1000);
        w_str(o, ",\"mem_total_mb\":81920,\"temp_c\":");
        w_tenths(o, 350 + util * 4 / 10);
        w_str(o, ",\"power_w\":");
        w_tenths(o, 600 + util * 34 / 10);
        put_gpu_health(o, a, g, util, f->job_text);
        w_str(o, "}");
    }
    w_str(o, "]");
    if (services)
        put_services(o, services, f->since_text);
    w_str(o, ",\"health\":\"ok\"}");
}

/* Returns the value of header name in the NUL-terminated header block, or NULL. */
static const char *header(const char *block, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = strstr(block, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, len) == 0 && p[2 + len] == ':') {
            p += 3 + len;
            return p + strspn(p, " \t");
        }
    }
    return NULL;
}

int fleet_reply(struct fleet *f, struct agent *a, const char *block, char *buf, size_t size)
{
    char body[FLEET_MAX_BODY];
    struct out ob = {body, body + sizeof(body)}, oh = {buf, buf + size};
    const char *auth = header(block, "Authorization"), *services = NULL, *text = "OK";
    bool path_ok =
        strncmp(block, "GET /v1/snapshot", 16) == 0 && (block[16] == ' ' || block[16] == '?');
    int status = 200;

    if (!path_ok) {
        status = 404;
        text = "Not Found";
    } else if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 ||
               strncmp(auth + 7, f->token, f->token_len) != 0 || auth[7 + f->token_len] != '\r') {
        status = 401;
        text = "Unauthorized";
    }
    if (path_ok && block[16] == '?')
        for (const char *q = block + 17; q && *q && *q != ' ' && !services;
             q = (q = strpbrk(q, "& ")) && *q == '&' ? q + 1 : NULL)
            if (strncmp(q, "services=", 9) == 0)
                services = q + 9;
    refresh_time(f);
    if (status == 200) {
        put_snapshot(f, &ob, a, services);
    } else {
        w_str(&ob, "{\"error\":\"");
        w_str(&ob, text);
        w_str(&ob, "\"}");
    }
    w_str(&oh, status == 200   ? "HTTP/1.1 200 OK"
               : status == 401 ? "HTTP/1.1 401 Unauthorized"
                               : "HTTP/1.1 404 Not Found");
    w_str(&oh, "\r\nContent-Type: application/json\r\nContent-Length: ");
    w_u64(&oh, (uint64_t)(ob.p - body));
    if (f->close_each)
        w_str(&oh, "\r\nConnection: close");
    w_str(&oh, status == 401 ? "\r\nWWW-Authenticate: Bearer\r\n\r\n" : "\r\n\r\n");
    a->served += status == 200;
    f->requests++;
    if (ob.p == ob.end)
        return MON_ETOOBIG;
    w_mem(&oh, body, (size_t)(ob.p - body));
    return oh.p == oh.end ? MON_ETOOBIG : (int)(oh.p - buf);
}
