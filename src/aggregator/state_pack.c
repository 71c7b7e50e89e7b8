/* SPDX-License-Identifier: MIT */
/* Each server's last sample kept small: the scalars as a struct, the disk, GPU, unit and
 * process entries (mostly the NUL padding of fixed-size text fields) with runs of zero bytes
 * squeezed, unpacked into one scratch sample when a view needs them. */
#include "aggregator/sample.h"
#include "aggregator/state_priv.h"
#include "common/err.h"
#include "common/os/lock.h"

#include <stdlib.h>
#include <string.h>

/* agg_state_rec_sample lays the four entry arrays one after the other in one buffer. */
_Static_assert(sizeof(struct agg_disk) % 8 == 0 && sizeof(struct agg_gpu) % 8 == 0 &&
                   sizeof(struct agg_unit) % 8 == 0 && sizeof(struct agg_gpu_proc) % 8 == 0,
               "entries keep the next array 8-byte aligned");

#define RUN_MAX 255 /* a zero byte and a count byte stand for up to this many zero bytes */

/* The entry arrays in packing order. */
struct part {
    void *p;
    size_t bytes;
};

static void parts_of(const struct agg_sample *s, struct part out[4])
{
    out[0] = (struct part){s->disks, s->n_disks * sizeof(*s->disks)};
    out[1] = (struct part){s->gpus, s->n_gpus * sizeof(*s->gpus)};
    out[2] = (struct part){s->units, s->n_units * sizeof(*s->units)};
    out[3] = (struct part){s->procs, s->n_procs * sizeof(*s->procs)};
}

/* Appends n bytes squeezed to out (room for 2 * n bytes); returns the bytes written. */
static size_t squeeze(const unsigned char *in, size_t n, unsigned char *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        const unsigned char *z = memchr(in + i, 0, n - i);
        size_t lit = z ? (size_t)(z - (in + i)) : n - i, run = 0;
        memcpy(out + o, in + i, lit);
        o += lit;
        i += lit;
        while (i < n && in[i] == 0 && run < RUN_MAX) {
            run++;
            i++;
        }
        if (run) {
            out[o++] = 0;
            out[o++] = (unsigned char)run;
        }
    }
    return o;
}

/* Unpacks exactly n bytes from *in (advanced) into out; false when the stream is short. */
static bool expand(const unsigned char **in, const unsigned char *end, unsigned char *out, size_t n)
{
    const unsigned char *p = *in;
    size_t o = 0;
    while (o < n) {
        if (p >= end)
            return false;
        if (*p) {
            const unsigned char *z = memchr(p, 0, (size_t)(end - p));
            size_t lit = (size_t)((z ? z : end) - p);
            if (lit > n - o)
                lit = n - o;
            memcpy(out + o, p, lit);
            o += lit;
            p += lit;
            continue;
        }
        if (end - p < 2 || p[1] > n - o)
            return false;
        memset(out + o, 0, p[1]);
        o += p[1];
        p += 2;
    }
    *in = p;
    return true;
}

void agg_state_drop_sample(struct agg_state_rec *r)
{
    agg_sample_free(r->sample);
    r->sample = NULL;
    free(r->packed);
    r->packed = NULL;
    r->packed_len = r->packed_cap = 0;
}

/* Lock held (buf is st's). Grows *buf to n bytes. */
static int room(unsigned char **buf, size_t *cap, size_t n)
{
    unsigned char *grown;
    if (n <= *cap)
        return MON_OK;
    grown = realloc(*buf, n);
    if (!grown)
        return MON_ENOMEM;
    *buf = grown;
    *cap = n;
    return MON_OK;
}

int agg_state_keep_sample(struct agg_state *st, struct agg_state_rec *r, const struct agg_sample *s)
{
    struct part parts[4];
    size_t total = 0, len = 0;
    const struct agg_disk *d1 = NULL;
    MON_ASSERT_LOCKED(&st->lock);
    parts_of(s, parts);
    for (int k = 0; k < 4; k++)
        total += parts[k].bytes;
    if (total > UINT32_MAX / 2 || room(&st->pack_buf, &st->pack_cap, 2 * total + 1) < 0)
        goto fail;
    for (int k = 0; k < 4; k++)
        len += squeeze(parts[k].p, parts[k].bytes, st->pack_buf + len);
    /* A stored sample keeps its room unless it would waste more than half of it. */
    if (len > r->packed_cap || len < r->packed_cap / 2) {
        unsigned char *p = realloc(r->packed, len ? len : 1);
        if (!p)
            goto fail;
        r->packed = p;
        r->packed_cap = (uint32_t)(len ? len : 1);
    }
    if (!r->sample && agg_sample_new(&r->sample) < 0)
        goto fail;
    if (len) /* (a sample without entries may have no packed room at all) */
        memcpy(r->packed, st->pack_buf, len);
    r->packed_len = (uint32_t)len;
    *r->sample = *s;
    r->sample->disks = NULL;
    r->sample->gpus = NULL;
    r->sample->units = NULL;
    r->sample->procs = NULL;
    r->sample->cap_disks = r->sample->cap_gpus = r->sample->cap_units = r->sample->cap_procs = 0;
    for (size_t i = 0; i < s->n_disks && !d1; i++)
        if (s->disks[i].has_value)
            d1 = &s->disks[i];
    r->disk1.has = d1 != NULL;
    r->disk1.used_pct = d1 ? d1->used_pct : 0;
    r->disk1.used_bytes = d1 ? d1->used_bytes : 0;
    r->disk1.total_bytes = d1 ? d1->total_bytes : 0;
    return MON_OK;
fail:
    agg_state_drop_sample(r);
    return MON_ENOMEM;
}

const struct agg_sample *agg_state_rec_sample(struct agg_state *st, const struct agg_state_rec *r)
{
    struct agg_sample *x = &st->scratch;
    const unsigned char *in = r->packed, *end = in ? in + r->packed_len : in;
    struct part parts[4];
    size_t total = 0, at = 0;
    MON_ASSERT_LOCKED(&st->lock);
    if (!r->sample)
        return NULL;
    *x = *r->sample;
    parts_of(x, parts);
    for (int k = 0; k < 4; k++)
        total += parts[k].bytes;
    if (room(&st->unpack_buf, &st->unpack_cap, total) < 0)
        return NULL;
    /* The four arrays one after the other in one buffer (sizes asserted above). */
    x->disks = x->n_disks ? (void *)(st->unpack_buf + at) : NULL;
    at += parts[0].bytes;
    x->gpus = x->n_gpus ? (void *)(st->unpack_buf + at) : NULL;
    at += parts[1].bytes;
    x->units = x->n_units ? (void *)(st->unpack_buf + at) : NULL;
    at += parts[2].bytes;
    x->procs = x->n_procs ? (void *)(st->unpack_buf + at) : NULL;
    parts_of(x, parts);
    for (int k = 0; k < 4; k++)
        if (parts[k].bytes && !expand(&in, end, parts[k].p, parts[k].bytes))
            return NULL;
    return x;
}
