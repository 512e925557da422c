/*
 * buf.c - a growable byte buffer, kept NUL-terminated so text built in it can
 * be handed to C string functions directly.
 */
#include "common/cmn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cmn_buf_init(cmn_buf *b) { memset(b, 0, sizeof *b); }

void cmn_buf_free(cmn_buf *b)
{
    free(b->data);
    cmn_buf_init(b);
}

void cmn_buf_reset(cmn_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static void reserve(cmn_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = cmn_xrealloc(b->data, cap);
    b->cap = cap;
}

void cmn_buf_reserve(cmn_buf *b, size_t extra) { reserve(b, extra); }

void cmn_buf_append(cmn_buf *b, const void *data, size_t len)
{
    reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void cmn_buf_puts(cmn_buf *b, const char *s) { cmn_buf_append(b, s, strlen(s)); }

void cmn_buf_vprintf(cmn_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        abort(); /* a bad format string: a bug, not input */
    reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void cmn_buf_printf(cmn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cmn_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *cmn_buf_steal(cmn_buf *b)
{
    char *p = b->data;
    if (!p)
        p = cmn_xcalloc(1, 1);
    cmn_buf_init(b);
    return p;
}

/* Formatting into a new string is a buffer built and handed over (the
 * allocation policy is mem.c's, through reserve). */
char *cmn_xvasprintf(const char *fmt, va_list ap)
{
    cmn_buf b;
    cmn_buf_init(&b);
    cmn_buf_vprintf(&b, fmt, ap);
    return cmn_buf_steal(&b);
}

char *cmn_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = cmn_xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}
