/* SPDX-License-Identifier: MIT */
/* Shared by the libFuzzer harnesses: the entry point's prototype, invariant checks that abort
 * (libFuzzer then saves the input as a crash), small helpers and the checks that more than one
 * harness runs. */
#ifndef MON_FUZZ_UTIL_H
#define MON_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libFuzzer calls this once per input; returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "fuzz invariant failed: file:line: what" and aborts. */
_Noreturn void fuzz_fail(const char *file, int line, const char *what);

#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))

/* True when the char array of size bytes holds a NUL-terminated string. */
bool fuzz_terminated(const char *s, size_t size);

/* True when v is finite and within [min, max]. */
bool fuzz_in_range(double v, double min, double max);

/* A malloc'd NUL-terminated copy of the input (aborts when out of memory). */
char *fuzz_strdup(const uint8_t *data, size_t size);

/* Splits text in place at the first n-1 occurrences of sep: fields[i] point into text, missing
 * fields are NULL. Returns how many fields there were (at most n). */
size_t fuzz_split(char *text, char sep, char **fields, size_t n);

/* A query string split and percent-decoded as libmicrohttpd does ("+" is a space). */
#define FUZZ_QUERY_MAX_ARGS 64
struct fuzz_query {
    size_t n;
    char *key[FUZZ_QUERY_MAX_ARGS];
    char *value[FUZZ_QUERY_MAX_ARGS]; /* NULL for "key" without "=" */
};

/* Splits text ("a=1&b=2") in place into q. */
void fuzz_query_split(char *text, struct fuzz_query *q);

/* mon_http_query(): the first argument named key, NULL when absent. */
const char *fuzz_query_get(const struct fuzz_query *q, const char *key);

/* Fuzzing runs use this as "now" wherever the code under test takes the current time. */
#define FUZZ_NOW_S 1768644000 /* 2026-01-17T10:00:00Z */

/* Runs agg_api_params_timeseries() on the four query values (NULL: absent) and checks the
 * result: a range of at most 400 days whose ends are what mon_parse_iso8601 reads, defaults
 * applied, or a 400 message with nothing written. */
void fuzz_check_timeseries(const char *metric, const char *agg, const char *from, const char *to);

#endif
