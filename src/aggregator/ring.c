/* SPDX-License-Identifier: MIT */
/* Fixed-point encoding of the one-hour chart ring: a 2-bit step relative to the poll
 * interval, four 10-bit tenths of a percent (1023: absent) and 22 bits of GPU memory in MiB,
 * packed into 8 bytes; time points for the other steps. */
#include "aggregator/ring.h"

#include "common/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The packing below has room for four percentages before GPU memory, in the table's order. */
_Static_assert(AGG_METRIC_GPU_MEM_USED_MB == 4 && AGG_METRIC_COUNT == 5,
               "the ring packs four percentages and GPU memory");
_Static_assert(sizeof(struct agg_ring_point) == 8, "8 bytes a point");

#define STEP_TIME   3u /* step code of a time point */
#define SHOWN_BIT   (UINT64_C(1) << 2)
#define PCT_SHIFT   2
#define PCT_ABSENT  1023u
#define PCT_MASK    0x3ffu
#define GMEM_SHIFT  42
#define GMEM_MASK   0x3fffffu
#define GMEM_ABSENT GMEM_MASK
#define GMEM_EXACT  0x200000 /* MiB below this are kept exactly; above, in steps of GMEM_STEP */
#define GMEM_STEP   2048.0
#define GAP_SHOWN   2047 /* a longer gap shows an empty point this many seconds into it */
#define DT_MIN      (-2048)
#define FORWARD_GAP 3600 /* seconds: every older point would be out of the hour */

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

static uint64_t gmem_code(bool has, double v)
{
    double k;
    if (!has || !isfinite(v) || v < 0)
        return GMEM_ABSENT;
    if (v < GMEM_EXACT - 0.5)
        return (uint64_t)llround(v);
    k = round((v - GMEM_EXACT) / GMEM_STEP);
    return GMEM_EXACT +
           (k > GMEM_ABSENT - 1 - GMEM_EXACT ? GMEM_ABSENT - 1 - GMEM_EXACT : (uint64_t)k);
}

static void gmem_decode(uint64_t code, bool *has, double *v)
{
    code &= GMEM_MASK;
    *has = code != GMEM_ABSENT;
    if (!*has)
        *v = 0;
    else if (code < GMEM_EXACT)
        *v = (double)code;
    else
        *v = GMEM_EXACT + (double)(code - GMEM_EXACT) * GMEM_STEP;
}

static uint64_t value_point(unsigned step_code, const struct agg_ring_values *v)
{
    uint64_t bits = step_code;
    for (int m = 0; m < AGG_METRIC_GPU_MEM_USED_MB; m++)
        bits |= pct_code(v->has[m], v->v[m]) << (PCT_SHIFT + 10 * m);
    return bits | gmem_code(v->has[AGG_METRIC_GPU_MEM_USED_MB], v->v[AGG_METRIC_GPU_MEM_USED_MB])
                      << GMEM_SHIFT;
}

static uint64_t time_point(int64_t dt, bool shown)
{
    return (uint64_t)dt << 3 | (shown ? SHOWN_BIT : 0) | STEP_TIME;
}

/* The signed step of a point, in seconds. */
static int64_t step_of(const struct agg_ring *r, uint64_t bits)
{
    uint64_t u;
    if ((bits & 3u) != STEP_TIME)
        return (int64_t)r->step_s - 1 + (int64_t)(bits & 3u);
    u = bits >> 3; /* 61 bits, sign-extended by hand */
    return (u & (UINT64_C(1) << 60)) ? (int64_t)(u | ~((UINT64_C(1) << 61) - 1)) : (int64_t)u;
}

int agg_ring_init(struct agg_ring *r, size_t cap, int64_t step_ms)
{
    int64_t step_s = (step_ms + 500) / 1000;
    memset(r, 0, sizeof(*r));
    if (cap == 0 || cap > 65535 || step_ms <= 0)
        return MON_EINVAL;
    r->pts = malloc(cap * sizeof(*r->pts));
    if (!r->pts)
        return MON_ENOMEM;
    /* Not zeroes: a zero fill after malloc may become calloc, which leaves fresh pages
     * untouched; the point is to make them resident now. */
    memset(r->pts, 0xff, cap * sizeof(*r->pts));
    r->cap = (uint16_t)cap;
    r->step_s = (uint16_t)(step_s < 1 ? 1 : step_s > GAP_SHOWN ? GAP_SHOWN : step_s);
    return MON_OK;
}

void agg_ring_done(struct agg_ring *r)
{
    free(r->pts);
    memset(r, 0, sizeof(*r));
}

/* Appends one point dt seconds after the newest. */
static void append(struct agg_ring *r, int64_t dt, uint64_t bits)
{
    if (r->cap == 0)
        return;
    if (r->len == r->cap) { /* drop the oldest: the next one's step says how much later */
        r->head = (uint16_t)((r->head + 1) % r->cap);
        r->len--;
        r->oldest_s += step_of(r, r->pts[r->head].bits);
    }
    r->pts[(r->head + r->len) % r->cap].bits = bits;
    r->newest_s += dt;
    if (r->len == 0)
        r->oldest_s = r->newest_s;
    r->len++;
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
        append(r, 0, value_point(1, v));
        return;
    }
    if (dt > GAP_SHOWN) { /* a long gap: an empty point in it, as the chart breaks there */
        append(r, GAP_SHOWN, time_point(GAP_SHOWN, true));
        dt -= GAP_SHOWN;
    }
    if (dt < r->step_s - 1 || dt > r->step_s + 1) { /* off the interval: a time point first */
        append(r, dt - r->step_s, time_point(dt - r->step_s, false));
        dt = r->step_s;
    }
    append(r, dt, value_point((unsigned)(dt - r->step_s + 1), v));
}

bool agg_ring_next(const struct agg_ring *r, size_t *i, int64_t *t, struct agg_ring_values *v)
{
    while (*i < r->len) {
        uint64_t bits = r->pts[(r->head + *i) % r->cap].bits;
        *t = *i == 0 ? r->oldest_s : *t + step_of(r, bits);
        (*i)++;
        if ((bits & 3u) == STEP_TIME && !(bits & SHOWN_BIT))
            continue;
        if ((bits & 3u) == STEP_TIME)
            bits = value_point(0, &(struct agg_ring_values){0}); /* an empty point */
        for (int m = 0; m < AGG_METRIC_GPU_MEM_USED_MB; m++)
            pct_decode(bits >> (PCT_SHIFT + 10 * m), &v->has[m], &v->v[m]);
        gmem_decode(bits >> GMEM_SHIFT, &v->has[AGG_METRIC_GPU_MEM_USED_MB],
                    &v->v[AGG_METRIC_GPU_MEM_USED_MB]);
        return true;
    }
    return false;
}
