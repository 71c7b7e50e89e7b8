/* SPDX-License-Identifier: MIT */
/* Fixed-point encoding of the one-hour chart ring: 10-bit tenths of a percent (1023: absent),
 * 28 bits of a float for GPU memory and a signed 12-bit time step, packed into 10 bytes. */
#include "aggregator/ring.h"

#include "common/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The packing below has room for four percentages before GPU memory, in the table's order. */
_Static_assert(AGG_METRIC_GPU_MEM_USED_MB == 4 && AGG_METRIC_COUNT == 5,
               "the ring packs four percentages and GPU memory");

#define PCT_ABSENT  1023u
#define PCT_MASK    0x3ffu
#define DT_MAX      2047
#define DT_MIN      (-2048)
#define GMEM_ABSENT 0xfffffffu /* 28 bits; as a float a negative NaN, never a stored value */
#define FORWARD_GAP 3600       /* seconds: every older point would be out of the hour */

static uint64_t pct_code(bool has, double v)
{
    long tenths;
    if (!has || !isfinite(v))
        return PCT_ABSENT;
    tenths = lround(v * 10.0);
    return tenths < 0 ? 0u : tenths > 1000 ? 1000u : (uint64_t)tenths;
}

static void pct_decode(uint64_t code, bool *has, double *v)
{
    code &= PCT_MASK;
    *has = code != PCT_ABSENT;
    *v = *has ? (double)code / 10.0 : 0;
}

static uint32_t gmem_code(bool has, double v)
{
    float f;
    uint32_t bits;
    if (!has || !isfinite(v) || v < 0)
        return GMEM_ABSENT;
    f = v > 3e38 ? 3e38f : (float)v;
    memcpy(&bits, &f, sizeof(bits));
    return (bits + 8) >> 4; /* rounded to the nearest kept value */
}

static void gmem_decode(uint32_t code, bool *has, double *v)
{
    uint32_t bits = code << 4;
    float f;
    *has = code != GMEM_ABSENT;
    memcpy(&f, &bits, sizeof(f));
    *v = *has ? (double)f : 0;
}

static void pack(struct agg_ring_point *p, int64_t dt, const struct agg_ring_values *v)
{
    uint32_t gm =
        v ? gmem_code(v->has[AGG_METRIC_GPU_MEM_USED_MB], v->v[AGG_METRIC_GPU_MEM_USED_MB])
          : GMEM_ABSENT;
    uint64_t lo = (uint64_t)(dt & 0xfff);
    for (int m = 0; m < AGG_METRIC_GPU_MEM_USED_MB; m++)
        lo |= (v ? pct_code(v->has[m], v->v[m]) : PCT_ABSENT) << (12 + 10 * m);
    lo |= (uint64_t)(gm & 0xfffu) << 52;
    for (int i = 0; i < 4; i++)
        p->w[i] = (uint16_t)(lo >> (16 * i));
    p->w[4] = (uint16_t)(gm >> 12);
}

static uint64_t low_bits(const struct agg_ring_point *p)
{
    return (uint64_t)p->w[0] | (uint64_t)p->w[1] << 16 | (uint64_t)p->w[2] << 32 |
           (uint64_t)p->w[3] << 48;
}

/* The signed time step of a point. */
static int64_t step_of(const struct agg_ring_point *p)
{
    int64_t dt = (int64_t)(low_bits(p) & 0xfff);
    return dt >= 2048 ? dt - 4096 : dt;
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

/* Appends one point dt seconds after the newest. */
static void append(struct agg_ring *r, int64_t dt, const struct agg_ring_values *v)
{
    if (r->cap == 0)
        return;
    if (r->len == r->cap) { /* drop the oldest: the next one's step says how much later */
        r->head = (uint16_t)((r->head + 1) % r->cap);
        r->len--;
        r->oldest_s += step_of(&r->pts[r->head]);
    }
    pack(&r->pts[(r->head + r->len) % r->cap], r->len ? dt : 0, v);
    if (r->len == 0)
        r->oldest_s = r->newest_s + dt;
    r->len++;
    r->newest_s += dt;
}

void agg_ring_push(struct agg_ring *r, int64_t utc_s, const struct agg_ring_values *v)
{
    int64_t dt = r->len ? utc_s - r->newest_s : 0;
    if (!r->pts)
        return;
    if (dt >= FORWARD_GAP || dt < DT_MIN)
        r->len = 0;
    if (r->len == 0) {
        r->newest_s = utc_s;
        append(r, 0, v);
        return;
    }
    while (dt > DT_MAX) { /* a long gap: empty points keep the time steps small */
        append(r, DT_MAX, NULL);
        dt -= DT_MAX;
    }
    append(r, dt, v);
}

bool agg_ring_next(const struct agg_ring *r, size_t *i, int64_t *t, struct agg_ring_values *v)
{
    const struct agg_ring_point *p;
    uint64_t lo;
    if (*i >= r->len)
        return false;
    p = &r->pts[(r->head + *i) % r->cap];
    lo = low_bits(p);
    *t = *i == 0 ? r->oldest_s : *t + step_of(p);
    for (int m = 0; m < AGG_METRIC_GPU_MEM_USED_MB; m++)
        pct_decode(lo >> (12 + 10 * m), &v->has[m], &v->v[m]);
    gmem_decode((uint32_t)(lo >> 52) | (uint32_t)p->w[4] << 12, &v->has[AGG_METRIC_GPU_MEM_USED_MB],
                &v->v[AGG_METRIC_GPU_MEM_USED_MB]);
    (*i)++;
    return true;
}
