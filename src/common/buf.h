/* SPDX-License-Identifier: MIT */
/* Growable byte buffer with a hard size cap; always NUL-terminated for use as a string. */
#ifndef MON_COMMON_BUF_H
#define MON_COMMON_BUF_H

/* Ownership and threads: the buffer owns data until mon_buf_take hands it to the caller;
 * appended bytes are copied. No locking: a buffer is used by one thread at a time. */

#include <stdarg.h>
#include <stddef.h>

struct mon_buf {
    char *data; /* NULL until the first append; NUL-terminated after it */
    size_t len;
    size_t cap;
    size_t max; /* appends that would exceed max bytes fail with MON_ETOOBIG */
};

/* Initialises an empty buffer that may grow to max bytes (not counting the NUL). */
void mon_buf_init(struct mon_buf *b, size_t max);

/* Frees the storage; the buffer is empty and reusable afterwards. Accepts NULL. */
void mon_buf_done(struct mon_buf *b);

/* Empties the buffer, keeping its storage. */
void mon_buf_reset(struct mon_buf *b);

/* Makes room for n more bytes without appending (one allocation for a body whose size is
 * known roughly in advance). Returns MON_OK, MON_ETOOBIG past the cap or MON_ENOMEM. */
int mon_buf_reserve(struct mon_buf *b, size_t n);

/* Appends n bytes. Returns MON_OK, MON_ETOOBIG past the cap (buffer unchanged) or MON_ENOMEM. */
int mon_buf_append(struct mon_buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string. Same returns as mon_buf_append. */
int mon_buf_puts(struct mon_buf *b, const char *s);

/* Appends formatted text (C locale numbers). Same returns as mon_buf_append. */
int mon_buf_printf(struct mon_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mon_buf_vprintf(struct mon_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Hands the storage to the caller (free() it; never NULL on success: "" for an empty buffer)
 * and leaves the buffer empty. Returns NULL only when allocating the empty string fails. */
char *mon_buf_take(struct mon_buf *b);

#endif
