/*
 * framer.c: cuts one output stream (a task's stdout or stderr) into the
 * chunks that become IN_PROGRESS messages.
 *
 * A chunk is every whole line that has arrived, so a reader on the server
 * side never sees half a line.  Two exceptions keep the agent live and its
 * memory bounded: a line longer than max_piece bytes is sent in max_piece
 * pieces, and a partial line is sent when the caller flushes (after a short
 * quiet moment, or at EOF).  Every chunk is repaired UTF-8 and never ends in
 * the middle of a character, except at EOF, where a truncated character
 * becomes U+FFFD.
 */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "agent.h"

void
framer_init(struct framer *f, size_t max_piece)
{
	buf_init(&f->pending);
	buf_init(&f->scratch);
	/* A piece must hold at least one whole character. */
	f->max_piece = max_piece < 4 ? 4 : max_piece;
}

void
framer_free(struct framer *f)
{
	buf_free(&f->pending);
	buf_free(&f->scratch);
}

size_t
framer_pending(const struct framer *f)
{
	return f->pending.len;
}

/* Offset just past the last newline in the first LEN bytes of P, or 0. */
static size_t
framer_line_end(const char *p, size_t len)
{
	while (len > 0) {
		if (p[len - 1] == '\n')
			return len;
		len--;
	}
	return 0;
}

/*
 * Emits the repaired form of LEN pending bytes from OFF, or as many as end
 * on a character boundary when FINAL is unset; returns the bytes used.
 */
static size_t
framer_emit(struct framer *f, size_t off, size_t len, int final,
    framer_emit_fn emit, void *arg)
{
	size_t used;

	buf_clear(&f->scratch);
	used = utf8_repair(f->pending.data + off, len, &f->scratch, final);
	if (f->scratch.len != 0)
		emit(arg, f->scratch.data, f->scratch.len);
	return used;
}

/*
 * Sends every complete line of the pending bytes, at most max_piece input
 * bytes per chunk; with FLUSH set, sends the rest too.
 */
static void
framer_drain(struct framer *f, int flush, int eof, framer_emit_fn emit,
    void *arg)
{
	size_t off = 0, take, cut, used, left;
	char *p = f->pending.data;

	for (;;) {
		left = f->pending.len - off;
		if (left == 0)
			break;
		take = left < f->max_piece ? left : f->max_piece;
		cut = framer_line_end(p + off, take);
		if (cut == 0) {
			if (left >= f->max_piece)
				cut = f->max_piece;	/* an overlong line */
			else if (flush)
				cut = left;		/* a partial line */
			else
				break;
		}
		/* Lines end on a character boundary; pieces may not. */
		used = framer_emit(f, off, cut, eof && cut == left, emit, arg);
		if (used == 0)
			break;	/* only a partial character is left */
		off += used;
	}
	buf_consume(&f->pending, off);
}

/* Takes LEN bytes the stream produced and emits what is ready. */
void
framer_push(struct framer *f, const void *data, size_t len,
    framer_emit_fn emit, void *arg)
{
	buf_append(&f->pending, data, len);
	framer_drain(f, 0, 0, emit, arg);
}

/*
 * Emits the partial line too.  At EOF everything goes, a truncated character
 * as U+FFFD; otherwise a character cut off by the last read stays pending.
 */
void
framer_flush(struct framer *f, int eof, framer_emit_fn emit, void *arg)
{
	framer_drain(f, 1, eof, emit, arg);
	if (eof)
		buf_clear(&f->pending);
}
