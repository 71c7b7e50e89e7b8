/* SPDX-License-Identifier: MIT */
/* The agent-reply parser's shared parts: the field readers (sample_read.c), used by sample.c
 * (the snapshot) and sample_gpu.c (one GPU entry with its processes and health), and the
 * sample's storage (sample_mem.c); nothing else includes this. */
#ifndef MON_AGGREGATOR_SAMPLE_PRIV_H
#define MON_AGGREGATOR_SAMPLE_PRIV_H

/* Ownership and threads: a parse context lives on the parser's stack for one reply; the readers
 * write into the sample being parsed. Safe from any thread with its own context. */

#include "aggregator/sample.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define AGG_NO_INDEX   ((size_t)-1)
#define AGG_PREFIX_LEN 64 /* "gpus[63].processes[63]." with room for any size_t */

/* Parsing context: where the readers are, for the reasons (formatted only when a field is
 * rejected: "<outer>[<outer_i>].<inner>[<inner_i>]." with an index of AGG_NO_INDEX and a NULL
 * name left out, e.g. "", "mem.", "gpus[2].ecc.", "gpus[2].processes[0]."), and the reason
 * buffer. */
struct agg_parse_ctx {
    const char *outer, *inner;
    size_t outer_i, inner_i;
    char *why;
    size_t why_len;
    /* The member agg_sample_member found last, and its object: the next look-up starts
     * after it. */
    const struct cJSON *obj, *last;
};

/* Sets the path to outer[outer_i] (no index: AGG_NO_INDEX; NULL: the top level), without an
 * inner level. */
void agg_sample_at(struct agg_parse_ctx *c, const char *outer, size_t outer_i);
/* Sets the inner level below the outer one (NULL: none). */
void agg_sample_in(struct agg_parse_ctx *c, const char *inner, size_t inner_i);
/* Writes the path ("gpus[2].ecc.") into buf of size bytes (at least AGG_PREFIX_LEN). */
void agg_sample_prefix(const struct agg_parse_ctx *c, char *buf, size_t size);

/* The member name of object o, or NULL. The readers ask for the fields in about the order the
 * agent writes them, so the search starts after the member found last: one comparison per
 * field instead of cJSON's walk from the first member (a reply has ~150 fields). The strict
 * parse rejected repeated names, so the match found is the only one. */
const struct cJSON *agg_sample_member(struct agg_parse_ctx *c, const struct cJSON *o,
                                      const char *name);

/* Each reader checks one field of object o and returns MON_OK or MON_EPARSE with
 * "<prefix><field>: <reason>" in c->why. Absent and null fields are "not there" (has false,
 * -1, "" or NULL), never an error unless said otherwise. */

/* Writes "<prefix><field>: <reason>" and returns MON_EPARSE. */
int agg_sample_fail(struct agg_parse_ctx *c, const char *field, const char *reason);
/* A number in [min, max]; *ret_has tells whether it was there. */
int agg_sample_num(struct agg_parse_ctx *c, const struct cJSON *o, const char *name, double min,
                   double max, bool *ret_has, double *ret);
/* A percentage 0..100 (a hair above 100 is clamped). */
int agg_sample_pct(struct agg_parse_ctx *c, const struct cJSON *o, const char *name, bool *ret_has,
                   double *ret);
/* A whole number in [min, max]. */
int agg_sample_int(struct agg_parse_ctx *c, const struct cJSON *o, const char *name, int min,
                   int max, bool *ret_has, int *ret);
/* A whole number in [0, max]; -1 when not there. */
int agg_sample_count(struct agg_parse_ctx *c, const struct cJSON *o, const char *name, double max,
                     int64_t *ret);
/* A string copied into dst (size bytes with the NUL; longer is an error), without control,
 * invisible or text-direction characters; "" when not there. */
int agg_sample_str(struct agg_parse_ctx *c, const struct cJSON *o, const char *name, char *dst,
                   size_t size);
/* A boolean; false when not there. */
int agg_sample_bool(struct agg_parse_ctx *c, const struct cJSON *o, const char *name, bool *ret);
/* An ISO-8601 time in UTC seconds; -1 when not there. */
int agg_sample_time(struct agg_parse_ctx *c, const struct cJSON *o, const char *name, int64_t *ret);
/* An array of at most max entries (missing is an error when required); *ret NULL when not
 * there. */
int agg_sample_array(struct agg_parse_ctx *c, const struct cJSON *o, const char *name,
                     bool required, int max, const struct cJSON **ret, size_t *ret_n);
/* An object; *ret NULL when not there. */
int agg_sample_object(struct agg_parse_ctx *c, const struct cJSON *o, const char *name,
                      const struct cJSON **ret);

/* sample_mem.c: empties s, keeping its arrays for reuse. */
void agg_sample_clear(struct agg_sample *s);
/* sample_mem.c: makes room in s for the given numbers of entries and zeroes them. MON_OK or
 * MON_ENOMEM. */
int agg_sample_reserve(struct agg_sample *s, size_t n_disks, size_t n_gpus, size_t n_units,
                       size_t n_procs);

/* sample_gpu.c: the number of process entries over all GPUs of the gpus array (each list
 * checked against AGG_MAX_GPU_PROCS), so that s->procs is allocated once. */
int agg_sample_count_procs(struct agg_parse_ctx *c, const struct cJSON *gpus, size_t *ret);

/* sample_gpu.c: parses GPU entry o into s->gpus[pos], its processes into s->procs from
 * *proc_cursor on (advanced past them). */
int agg_sample_parse_gpu(struct agg_parse_ctx *c, const struct cJSON *o, size_t pos,
                         struct agg_sample *s, size_t *proc_cursor);

#endif
