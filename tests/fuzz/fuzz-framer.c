/*
 * fuzz-framer.c: libFuzzer target for the output framer and UTF-8 repair.
 *
 * The first byte sets the piece size, the second seeds the read sizes and
 * the quiet-moment flushes; the rest is what a task wrote.  Whatever the
 * bytes and however they are cut, the chunks put together must equal the
 * one-shot repair of the whole input (the input modulo U+FFFD), every chunk
 * must be valid UTF-8, and none may come from more than a piece of input.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fuzz_out {
	struct buf all;
	size_t max_piece;
};

static void
fuzz_check_valid(const char *text, size_t len)
{
	struct buf again;

	/* Valid UTF-8 is exactly what repair leaves unchanged. */
	buf_init(&again);
	if (utf8_repair(text, len, &again, 1) != len || again.len != len ||
	    memcmp(again.data, text, len) != 0)
		abort();
	buf_free(&again);
}

static void
fuzz_collect(void *arg, const char *text, size_t len)
{
	struct fuzz_out *o = arg;

	if (len == 0 || len > 3 * o->max_piece)
		abort();
	fuzz_check_valid(text, len);
	buf_append(&o->all, text, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_out out;
	struct framer f;
	struct buf want;
	unsigned state;
	size_t off, n;

	if (size < 2)
		return 0;
	out.max_piece = 4 + data[0];
	state = data[1] * 2654435761u + 1;
	data += 2;
	size -= 2;

	buf_init(&out.all);
	framer_init(&f, out.max_piece);
	for (off = 0; off < size; off += n) {
		state = state * 1103515245u + 12345u;
		n = 1 + (state >> 16) % 97;
		if (n > size - off)
			n = size - off;
		framer_push(&f, data + off, n, fuzz_collect, &out);
		if ((state >> 8) % 5 == 0)
			framer_flush(&f, 0, fuzz_collect, &out);
	}
	framer_flush(&f, 1, fuzz_collect, &out);
	if (framer_pending(&f) != 0)
		abort();

	buf_init(&want);
	utf8_repair(data, size, &want, 1);
	if (want.len != out.all.len ||
	    (want.len != 0 && memcmp(want.data, out.all.data, want.len) != 0))
		abort();
	buf_free(&want);
	buf_free(&out.all);
	framer_free(&f);
	return 0;
}
