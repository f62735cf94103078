/*
 * buf.c: a growable byte buffer, used for partial output lines and for
 * building repaired text.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

/* Makes room for N more bytes; grows by half again to stay amortised O(1). */
void
buf_reserve(struct buf *b, size_t n)
{
	size_t want;

	if (n <= b->cap - b->len)
		return;
	want = b->cap + b->cap / 2;
	if (want < b->len + n)
		want = b->len + n;
	if (want < 256)
		want = 256;
	b->data = xrealloc(b->data, want);
	b->cap = want;
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Drops the first N bytes. */
void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
buf_clear(struct buf *b)
{
	b->len = 0;
}
