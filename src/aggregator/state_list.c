/* SPDX-License-Identifier: MIT */
/* The server list of GET /api/servers written straight to JSON text (no tree: at 10,000
 * servers a cJSON tree cost tens of milliseconds), with filters, sorting (the natural name order
 * kept between requests, status by counting) and paging, taking the registry lock for at most
 * LOCK_CHUNK servers at a time. */
#include "aggregator/sample.h"
#include "aggregator/state.h"
#include "aggregator/state_priv.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/json_text.h"
#include "common/os/lock.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_CHUNK 512 /* servers handled per hold of the registry lock */

/* ---- JSON text (common/json_text.h) ---- */

static int put(struct mon_buf *b, const char *s)
{
    return mon_buf_puts(b, s);
}

static int put_str(struct mon_buf *b, const char *s)
{
    return mon_jtext_str(b, s);
}

static int put_i64(struct mon_buf *b, int64_t v)
{
    return mon_jtext_i64(b, v);
}

static int put_num(struct mon_buf *b, bool present, double v, int decimals)
{
    return mon_jtext_num(b, present, v, decimals);
}

static int put_time(struct mon_buf *b, int64_t utc_s)
{
    return mon_jtext_time(b, utc_s);
}

static int put_str_or_null(struct mon_buf *b, const char *s)
{
    return mon_jtext_str_or_null(b, s);
}

static int put_key(struct mon_buf *b, bool *first, const char *name)
{
    return mon_jtext_key(b, first, name);
}

/* The last sample's values, with the GPUs found free and in error by it (as stale as the
 * values themselves). The disk figures are those of its first disk with a value: the sample
 * kept has no entries unpacked (state_pack.c), so the metrics see that disk alone. */
static int put_latest(struct mon_buf *b, const struct agg_state_rec *rec)
{
    struct agg_disk first = {.has_value = true,
                             .used_pct = rec->disk1.used_pct,
                             .used_bytes = rec->disk1.used_bytes,
                             .total_bytes = rec->disk1.total_bytes};
    struct agg_sample view = *rec->sample, *s = &view;
    const struct agg_disk *d = rec->disk1.has ? &first : NULL;
    bool f = true;
    view.disks = rec->disk1.has ? &first : NULL;
    view.n_disks = rec->disk1.has ? 1 : 0;
    view.gpus = NULL;
    view.units = NULL;
    view.procs = NULL;
    view.n_gpus = view.n_units = view.n_procs = 0;
    int r = put(b, "{");
    if (r == MON_OK && (r = put_key(b, &f, "ts")) == MON_OK)
        r = put_time(b, s->ts);
    for (size_t m = 0; r == MON_OK && m < AGG_METRIC_COUNT; m++) {
        double v = 0;
        bool has = agg_metrics[m].from_sample(s, &v);
        if ((r = put_key(b, &f, agg_metrics[m].name)) == MON_OK)
            r = put_num(b, has, v, agg_metrics[m].decimals);
    }
    /* The totals beside the metrics, from the same disk and GPUs. */
    if (r == MON_OK && (r = put_key(b, &f, "disk_used_bytes")) == MON_OK)
        r = put_num(b, d != NULL, d ? d->used_bytes : 0, 0);
    if (r == MON_OK && (r = put_key(b, &f, "disk_total_bytes")) == MON_OK)
        r = put_num(b, d != NULL, d ? d->total_bytes : 0, 0);
    if (r == MON_OK && (r = put_key(b, &f, "gpu_mem_total_mb")) == MON_OK)
        r = put_num(b, s->has_gpu, s->gpu_mem_total_mb, 0);
    if (r == MON_OK && (r = put_key(b, &f, "gpu_count")) == MON_OK)
        r = put_i64(b, (int64_t)rec->sample->n_gpus);
    if (r == MON_OK && (r = put_key(b, &f, "services_failed_count")) == MON_OK)
        r = put_i64(b, s->services_failed_count);
    if (r == MON_OK && (r = put_key(b, &f, "gpu_free_count")) == MON_OK)
        r = put_i64(b, (int64_t)agg_state_gpus_count(rec, AGG_GPU_FREE));
    if (r == MON_OK && (r = put_key(b, &f, "gpu_error_count")) == MON_OK)
        r = put_i64(b, (int64_t)agg_state_gpus_count(rec, AGG_GPU_ERROR));
    return r == MON_OK ? put(b, "}") : r;
}

static int put_services(struct mon_buf *b, const struct agg_server *cfg)
{
    int r = put(b, "[");
    for (size_t i = 0; r == MON_OK && i < cfg->n_services; i++) {
        if (i)
            r = put(b, ",");
        if (r == MON_OK)
            r = put_str(b, cfg->services[i]);
    }
    return r == MON_OK ? put(b, "]") : r;
}

/* tls_state: "off" (plain HTTP), "ca" (chain and host name verified), "pinned", "unpinned"
 * (the next handshake pins the key) or "key_changed" (pin mismatch: data refused). */
static int put_tls(struct mon_buf *b, bool *f, const struct agg_state_rec *rec)
{
    const struct agg_server *c = &rec->cfg;
    bool ca = c->tls_ca_file && c->tls_ca_file[0], pinned = c->tls_pin && c->tls_pin[0];
    const char *state = !c->tls            ? "off"
                        : rec->key_changed ? "key_changed"
                        : ca               ? "ca"
                        : pinned           ? "pinned"
                                           : "unpinned";
    int r = put_key(b, f, "tls");
    if (r == MON_OK)
        r = put(b, c->tls ? "true" : "false");
    if (r == MON_OK && (r = put_key(b, f, "tls_pin")) == MON_OK)
        r = put_str_or_null(b, pinned ? c->tls_pin : NULL);
    if (r == MON_OK && (r = put_key(b, f, "tls_ca_file")) == MON_OK)
        r = put_str_or_null(b, ca ? c->tls_ca_file : NULL);
    if (r == MON_OK && (r = put_key(b, f, "tls_state")) == MON_OK)
        r = put_str(b, state);
    return r;
}

int agg_state_rec_write(const struct agg_state_rec *r, unsigned fields, struct mon_buf *b)
{
    enum agg_status status = agg_state_rec_status(r);
    bool f = true;
    int rc = put(b, "{");
#define FIELD(bit, name, expr)                                                                     \
    if (rc == MON_OK && (fields & (bit)) && (rc = put_key(b, &f, name)) == MON_OK)                 \
    rc = (expr)
    FIELD(AGG_FIELD_ID, "id", put_i64(b, r->cfg.id));
    FIELD(AGG_FIELD_NAME, "name", put_str(b, r->cfg.name));
    FIELD(AGG_FIELD_HOST, "host", put_str(b, r->cfg.host));
    FIELD(AGG_FIELD_AGENT_PORT, "agent_port", put_i64(b, r->cfg.port));
    FIELD(AGG_FIELD_ENABLED, "enabled", put(b, r->cfg.enabled ? "true" : "false"));
    FIELD(AGG_FIELD_SERVICES, "services", put_services(b, &r->cfg));
    FIELD(AGG_FIELD_TOKEN_SET, "token_set",
          put(b, r->cfg.token && r->cfg.token[0] ? "true" : "false"));
    FIELD(AGG_FIELD_ONLINE, "online",
          put(b, status == AGG_STATUS_ONLINE || status == AGG_STATUS_DEGRADED ? "true" : "false"));
    FIELD(AGG_FIELD_STATUS, "status", put_str(b, agg_status_name(status)));
    FIELD(AGG_FIELD_LAST_ERROR, "last_error", put_str_or_null(b, r->last_error));
    FIELD(AGG_FIELD_LAST_SEEN_AT, "last_seen_at", put_time(b, r->last_seen_utc_s));
    FIELD(AGG_FIELD_LATEST, "latest", r->sample ? put_latest(b, r) : put(b, "null"));
    if (rc == MON_OK && (fields & AGG_FIELD_TLS))
        rc = put_tls(b, &f, r);
#undef FIELD
    return rc == MON_OK ? put(b, "}") : rc;
}

/* ---- filtering and sorting ---- */

struct entry {
    int64_t id;
    double num;   /* cpu or gpu; -1 without a value */
    uint32_t pos; /* name order (agg_state.by_name) */
    int rank;     /* status order */
};

static const int status_rank[AGG_STATUS_COUNT] = {[AGG_STATUS_OFFLINE] = 0,
                                                  [AGG_STATUS_DEGRADED] = 1,
                                                  [AGG_STATUS_ONLINE] = 2,
                                                  [AGG_STATUS_DISABLED] = 3};
#define RANKS 4

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

/* Natural order as the dashboard had it (Intl.Collator numeric): digit runs by value, letters
 * without case. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            const char *ea, *eb;
            while (*a == '0' && isdigit((unsigned char)a[1]))
                a++;
            while (*b == '0' && isdigit((unsigned char)b[1]))
                b++;
            for (ea = a; isdigit((unsigned char)*ea); ea++)
                ;
            for (eb = b; isdigit((unsigned char)*eb); eb++)
                ;
            if (ea - a != eb - b)
                return ea - a < eb - b ? -1 : 1;
            for (; a < ea; a++, b++)
                if (*a != *b)
                    return *a < *b ? -1 : 1;
            continue;
        }
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int cmp_rec_name(const void *a, const void *b)
{
    const struct agg_state_rec *x = *(const struct agg_state_rec *const *)a,
                               *y = *(const struct agg_state_rec *const *)b;
    int c = natural_cmp(x->cfg.name ? x->cfg.name : "", y->cfg.name ? y->cfg.name : "");
    return c ? c : x->cfg.id < y->cfg.id ? -1 : x->cfg.id > y->cfg.id;
}

static int cmp_num(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->num != y->num)
        return x->num > y->num ? -1 : 1; /* highest first, no value (-1) last */
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Lock held. Brings st->by_name up to date: the only natural-order sort of the names, once
 * after the servers changed, so that a sorted page costs integer compares only. */
static int name_order_locked(struct agg_state *st)
{
    MON_ASSERT_LOCKED(&st->lock);
    if (!st->names_dirty && st->cap_by_name >= st->n)
        return MON_OK;
    if (st->cap_by_name < st->n) {
        struct agg_state_rec **grown = realloc(st->by_name, st->n * sizeof(*grown));
        if (!grown)
            return MON_ENOMEM;
        st->by_name = grown;
        st->cap_by_name = st->n;
    }
    if (st->n)
        memcpy(st->by_name, st->recs, st->n * sizeof(*st->recs));
    if (st->n > 1)
        qsort(st->by_name, st->n, sizeof(*st->by_name), cmp_rec_name);
    for (size_t i = 0; i < st->n; i++)
        st->by_name[i]->name_pos = (uint32_t)i;
    st->names_dirty = false;
    st->names_gen++;
    return MON_OK;
}

static bool matches(const struct agg_state_rec *r, const struct agg_list_query *q)
{
    if (q->status >= 0 && (int)r->status != q->status)
        return false;
    return !q->q || !q->q[0] || contains_nocase(r->cfg.name, q->q) ||
           contains_nocase(r->cfg.host, q->q);
}

/* Collects the matching servers' sort keys in id order (AGG_SORT_ID) or in name order,
 * LOCK_CHUNK at a time; starts again when the name order changed in between. */
static int collect(struct agg_state *st, const struct agg_list_query *q, struct entry **ret,
                   size_t *ret_n)
{
    bool by_name = q->sort != AGG_SORT_ID, more = true;
    struct entry *list = NULL, *grown;
    size_t n = 0, cap = 0, i = 0;
    int64_t next_id = 0;
    uint64_t gen = 0;
    while (more) {
        pthread_mutex_lock(&st->lock);
        if (by_name && name_order_locked(st) < 0) {
            pthread_mutex_unlock(&st->lock);
            free(list);
            return MON_ENOMEM;
        }
        if (by_name && i > 0 && gen != st->names_gen)
            i = n = 0; /* servers were added, renamed or removed: from the start again */
        gen = st->names_gen;
        if (!by_name)
            i = agg_state_lower_bound(st, next_id);
        for (size_t end = i + LOCK_CHUNK; i < st->n && i < end; i++) {
            const struct agg_state_rec *r = by_name ? st->by_name[i] : st->recs[i];
            struct entry *e;
            if (!matches(r, q))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                grown = realloc(list, cap * sizeof(*list));
                if (!grown) {
                    pthread_mutex_unlock(&st->lock);
                    free(list);
                    return MON_ENOMEM;
                }
                list = grown;
            }
            e = &list[n++];
            e->id = r->cfg.id;
            e->rank = status_rank[r->status];
            e->pos = r->name_pos;
            e->num = -1;
            if (r->sample && q->sort == AGG_SORT_CPU && r->sample->has_cpu)
                e->num = r->sample->cpu_pct;
            if (r->sample && q->sort == AGG_SORT_GPU && r->sample->has_gpu)
                e->num = r->sample->gpu_util_max;
        }
        more = i < st->n;
        if (more && !by_name)
            next_id = st->recs[i]->cfg.id;
        pthread_mutex_unlock(&st->lock);
    }
    *ret = list;
    *ret_n = n;
    return MON_OK;
}

/* Orders entries collected in name order by status (offline first), keeping the name order
 * within each: a stable counting sort, no compares. */
static int sort_status(struct entry **list, size_t n)
{
    size_t start[RANKS + 1] = {0};
    struct entry *out = malloc(n * sizeof(*out));
    if (!out)
        return MON_ENOMEM;
    for (size_t i = 0; i < n; i++)
        start[(*list)[i].rank + 1]++;
    for (int k = 0; k < RANKS; k++)
        start[k + 1] += start[k];
    for (size_t i = 0; i < n; i++)
        out[start[(*list)[i].rank]++] = (*list)[i];
    free(*list);
    *list = out;
    return MON_OK;
}

/* Writes the entries [from, to) of an id list, LOCK_CHUNK at a time; servers deleted meanwhile
 * are left out. */
static int write_ids(struct agg_state *st, const struct entry *list, size_t from, size_t to,
                     unsigned fields, struct mon_buf *out, bool *first)
{
    int r = MON_OK;
    for (size_t i = from; r == MON_OK && i < to;) {
        size_t end = i + LOCK_CHUNK < to ? i + LOCK_CHUNK : to;
        pthread_mutex_lock(&st->lock);
        for (; r == MON_OK && i < end; i++) {
            const struct agg_state_rec *rec = agg_state_find(st, list[i].id);
            if (!rec)
                continue;
            if (!*first)
                r = put(out, ",");
            *first = false;
            if (r == MON_OK)
                r = agg_state_rec_write(rec, fields, out);
        }
        pthread_mutex_unlock(&st->lock);
    }
    return r;
}

/* Unfiltered, by id: straight from the registry, LOCK_CHUNK servers per lock. */
static int write_all(struct agg_state *st, const struct agg_list_query *q, unsigned fields,
                     struct mon_buf *out, size_t *ret_matched)
{
    size_t skip = q->offset, left = q->limit ? q->limit : SIZE_MAX, total = 0;
    int64_t next_id = 0;
    bool first = true, more = true;
    int r = MON_OK;
    while (r == MON_OK && more) {
        pthread_mutex_lock(&st->lock);
        size_t i = agg_state_lower_bound(st, next_id), end = i + LOCK_CHUNK;
        total = st->n;
        if (skip) { /* the first page boundary is found by position, not by walking */
            i += skip;
            end = i + LOCK_CHUNK;
            skip = 0;
        }
        for (; r == MON_OK && i < st->n && i < end && left; i++, left--) {
            if (!first)
                r = put(out, ",");
            first = false;
            if (r == MON_OK)
                r = agg_state_rec_write(st->recs[i], fields, out);
        }
        more = left && i < st->n;
        if (more)
            next_id = st->recs[i]->cfg.id;
        pthread_mutex_unlock(&st->lock);
    }
    *ret_matched = total;
    return r;
}

int agg_state_list_json(struct agg_state *st, const struct agg_list_query *q, int64_t now_mono_ms,
                        struct mon_buf *out, size_t *ret_matched)
{
    unsigned fields = q->fields ? q->fields : AGG_FIELD_ALL;
    struct entry *list = NULL;
    size_t n = 0, from, to;
    bool first = true;
    int r;

    (void)now_mono_ms;
    if ((r = put(out, "[")) < 0)
        return r;
    if (q->status < 0 && (!q->q || !q->q[0]) && q->sort == AGG_SORT_ID) {
        r = write_all(st, q, fields, out, ret_matched);
        return r == MON_OK ? put(out, "]") : r;
    }
    if ((r = collect(st, q, &list, &n)) < 0)
        return r;
    /* Collected in id or name order already; status and the figures sort from there. */
    if (n < 2) /* nothing to sort (and qsort must not get NULL) */
        ;
    else if (q->sort == AGG_SORT_STATUS && (r = sort_status(&list, n)) < 0) {
        free(list);
        return r;
    } else if (q->sort == AGG_SORT_CPU || q->sort == AGG_SORT_GPU)
        qsort(list, n, sizeof(*list), cmp_num);
    from = q->offset < n ? q->offset : n;
    to = q->limit && q->limit < n - from ? from + q->limit : n;
    r = write_ids(st, list, from, to, fields, out, &first);
    free(list);
    if (r == MON_OK)
        *ret_matched = n;
    return r == MON_OK ? put(out, "]") : r;
}

cJSON *agg_state_servers_json(struct agg_state *st, int64_t now_mono_ms)
{
    struct agg_list_query q = {.status = -1};
    struct mon_buf b;
    size_t matched = 0;
    cJSON *arr = NULL;
    mon_buf_init(&b, SIZE_MAX / 2);
    if (agg_state_list_json(st, &q, now_mono_ms, &b, &matched) == MON_OK)
        arr = cJSON_ParseWithLength(b.data, b.len);
    mon_buf_done(&b);
    return arr;
}
