/* SPDX-License-Identifier: MIT */
/* JSON text written straight into a mon_buf, byte for byte as cJSON_PrintUnformatted prints the
 * same values, without building a tree (large replies: the server list, the usage report).
 * Each returns MON_OK or mon_buf's error. */
#ifndef MON_COMMON_JSON_TEXT_H
#define MON_COMMON_JSON_TEXT_H

#include "common/buf.h"

#include <stdbool.h>
#include <stdint.h>

/* A JSON string with the escapes RFC 8259 requires (as cJSON writes them). */
int mon_jtext_str(struct mon_buf *b, const char *s);
/* s as a string, or null when s is NULL or empty. */
int mon_jtext_str_or_null(struct mon_buf *b, const char *s);
int mon_jtext_i64(struct mon_buf *b, int64_t v);
/* v rounded to decimals places (mon_round) as cJSON prints it; null when !present or not
 * finite. */
int mon_jtext_num(struct mon_buf *b, bool present, double v, int decimals);
/* The same for 0 to 4 decimals without printf (the same text: a rounded value of at most 15
 * digits prints as its digits, trailing zeros left out). */
int mon_jtext_fixed(struct mon_buf *b, bool present, double v, int decimals);
/* "YYYY-MM-DDTHH:MM:SSZ", or null when utc_s < 0. */
int mon_jtext_time(struct mon_buf *b, int64_t utc_s);
/* ",\"name\":" (without the comma before the first key of an object: *first). */
int mon_jtext_key(struct mon_buf *b, bool *first, const char *name);

#endif
