/* SPDX-License-Identifier: MIT */
/* Agent /v1/snapshot replies for the benchmark workers (bench_replies.c). */
#ifndef MON_BENCH_REPLIES_H
#define MON_BENCH_REPLIES_H

/* Ownership and threads: writes into the caller's buffer; no state. */

#include <stddef.h>

/* An 8-GPU reply with three processes on each GPU (two users per GPU), ~4.5 KB: the reply of
 * bench/usage's parse figure. MON_OK, or MON_ETOOBIG when it does not fit size bytes. */
int bench_reply_gpu8(char *buf, size_t size);

#endif
