/* SPDX-License-Identifier: MIT */
/* Fixed-point encoding of the one-hour chart ring: 10-bit tenths of a percent (1023: absent),
 * a float for GPU memory and a signed 16-bit time step. */
#include "aggregator/ring.h"

#include "common/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PCT_ABSENT  1023u
#define PCT_BITS    10
#define PCT_MASK    0x3ffu
#define DT_MAX      32767
#define FORWARD_GAP 3600 /* seconds: every older point would be out of the hour */

static uint32_t pct_code(bool has, double v)
{
    long tenths;
    if (!has || !isfinite(v))
        return PCT_ABSENT;
    tenths = lround(v * 10.0);
    return tenths < 0 ? 0u : tenths > 1000 ? 1000u : (uint32_t)tenths;
}

static void pct_decode(uint32_t code, bool *has, double *v)
{
    *has = code != PCT_ABSENT;
    *v = *has ? (double)code / 10.0 : 0;
}

int agg_ring_init(struct agg_ring *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    if (cap == 0 || cap > 65535)
        return MON_EINVAL;
    r->pts = malloc(cap * sizeof(*r->pts));
    if (!r->pts)
        return MON_ENOMEM;
    /* Not zeroes: a zero fill after malloc may become calloc, which leaves fresh pages
     * untouched; the point is to make them resident now. */
    memset(r->pts, 0xff, cap * sizeof(*r->pts));
    r->cap = (uint16_t)cap;
    return MON_OK;
}

void agg_ring_done(struct agg_ring *r)
{
    free(r->pts);
    memset(r, 0, sizeof(*r));
}

void agg_ring_push(struct agg_ring *r, int64_t utc_s, const struct agg_ring_values *v)
{
    struct agg_ring_point *p;
    int64_t dt = r->len ? utc_s - r->newest_s : 0;
    if (!r->pts)
        return;
    if (dt >= FORWARD_GAP || dt < -DT_MAX) {
        r->len = 0;
        dt = 0;
    }
    if (r->len == r->cap) { /* drop the oldest: the next one's step says how much later */
        r->head = (uint16_t)((r->head + 1) % r->cap);
        r->len--;
        r->oldest_s += (int16_t)(r->pts[r->head].pct_a & 0xffffu);
    }
    if (r->len == 0)
        r->oldest_s = utc_s;
    p = &r->pts[(r->head + r->len) % r->cap];
    p->pct_a = ((uint32_t)(uint16_t)(int16_t)dt) |
               pct_code(v->has[AGG_RING_CPU], v->v[AGG_RING_CPU]) << 16;
    p->pct_b = pct_code(v->has[AGG_RING_MEM], v->v[AGG_RING_MEM]) |
               pct_code(v->has[AGG_RING_DISK], v->v[AGG_RING_DISK]) << PCT_BITS |
               pct_code(v->has[AGG_RING_GPU_UTIL], v->v[AGG_RING_GPU_UTIL]) << (2 * PCT_BITS);
    p->gpu_mem = v->has[AGG_RING_GPU_MEM] && isfinite(v->v[AGG_RING_GPU_MEM])
                     ? (float)v->v[AGG_RING_GPU_MEM]
                     : NAN;
    r->len++;
    r->newest_s = utc_s;
}

bool agg_ring_next(const struct agg_ring *r, size_t *i, int64_t *t, struct agg_ring_values *v)
{
    const struct agg_ring_point *p;
    if (*i >= r->len)
        return false;
    p = &r->pts[(r->head + *i) % r->cap];
    *t = *i == 0 ? r->oldest_s : *t + (int16_t)(p->pct_a & 0xffffu);
    pct_decode((p->pct_a >> 16) & PCT_MASK, &v->has[AGG_RING_CPU], &v->v[AGG_RING_CPU]);
    pct_decode(p->pct_b & PCT_MASK, &v->has[AGG_RING_MEM], &v->v[AGG_RING_MEM]);
    pct_decode((p->pct_b >> PCT_BITS) & PCT_MASK, &v->has[AGG_RING_DISK], &v->v[AGG_RING_DISK]);
    pct_decode((p->pct_b >> (2 * PCT_BITS)) & PCT_MASK, &v->has[AGG_RING_GPU_UTIL],
               &v->v[AGG_RING_GPU_UTIL]);
    v->has[AGG_RING_GPU_MEM] = !isnan(p->gpu_mem);
    v->v[AGG_RING_GPU_MEM] = v->has[AGG_RING_GPU_MEM] ? (double)p->gpu_mem : 0;
    (*i)++;
    return true;
}
