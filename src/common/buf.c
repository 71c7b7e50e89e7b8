/* SPDX-License-Identifier: MIT */
/* Growable, capped byte buffer (like curl's dynbuf: a failed append leaves the content intact). */
#include "common/buf.h"

#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mon_buf_init(struct mon_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void mon_buf_done(struct mon_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void mon_buf_reset(struct mon_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_reserve(struct mon_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > b->max || b->len > b->max - extra)
        return MON_ETOOBIG;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return MON_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    p = realloc(b->data, cap);
    if (!p)
        return MON_ENOMEM;
    b->data = p;
    b->cap = cap;
    return MON_OK;
}

int mon_buf_reserve(struct mon_buf *b, size_t n)
{
    return buf_reserve(b, n);
}

int mon_buf_append(struct mon_buf *b, const void *p, size_t n)
{
    int r = buf_reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return MON_OK;
}

int mon_buf_puts(struct mon_buf *b, const char *s)
{
    return mon_buf_append(b, s, strlen(s));
}

int mon_buf_vprintf(struct mon_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, r;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return MON_EINVAL;
    r = buf_reserve(b, (size_t)n);
    if (r < 0)
        return r;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return MON_OK;
}

int mon_buf_printf(struct mon_buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = mon_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

char *mon_buf_take(struct mon_buf *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
