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
 *
 * Bytes are copied as little as they can be: valid UTF-8 (nearly all
 * output) is emitted from where it lies, only invalid input is rewritten
 * into the scratch buffer, and a read is kept (copied) only for what it
 * leaves unsent, a partial line.
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
 * Emits the repaired form of the LEN bytes at P, or as many as end on a
 * character boundary when FINAL is unset; returns the bytes used.
 */
static size_t
framer_emit(struct framer *f, const char *p, size_t len, int final,
    framer_emit_fn emit, void *arg)
{
	size_t used;

	if (utf8_valid_prefix(p, len) == len) {
		emit(arg, p, len);	/* valid: no copy */
		return len;
	}
	buf_clear(&f->scratch);
	used = utf8_repair(p, len, &f->scratch, final);
	if (f->scratch.len != 0)
		emit(arg, f->scratch.data, f->scratch.len);
	return used;
}

/*
 * Sends every complete line of the LEN bytes at P, at most max_piece
 * input bytes per chunk; with FLUSH set, sends the rest too.  Returns how
 * many bytes it sent.
 */
static size_t
framer_drain(struct framer *f, const char *p, size_t len, int flush, int eof,
    framer_emit_fn emit, void *arg)
{
	size_t off = 0, take, cut, used, left;

	for (;;) {
		left = len - off;
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
		used = framer_emit(f, p + off, cut, eof && cut == left, emit,
		    arg);
		if (used == 0)
			break;	/* only a partial character is left */
		off += used;
	}
	return off;
}

/* Takes LEN bytes the stream produced and emits what is ready. */
void
framer_push(struct framer *f, const void *data, size_t len,
    framer_emit_fn emit, void *arg)
{
	size_t used;

	if (f->pending.len == 0) {
		/* Straight from the caller's buffer; keep only the rest. */
		used = framer_drain(f, data, len, 0, 0, emit, arg);
		buf_append(&f->pending, (const char *)data + used, len - used);
		return;
	}
	buf_append(&f->pending, data, len);
	used = framer_drain(f, f->pending.data, f->pending.len, 0, 0, emit,
	    arg);
	buf_consume(&f->pending, used);
}

/*
 * Emits the partial line too.  At EOF everything goes, a truncated character
 * as U+FFFD; otherwise a character cut off by the last read stays pending.
 */
void
framer_flush(struct framer *f, int eof, framer_emit_fn emit, void *arg)
{
	size_t used;

	used = framer_drain(f, f->pending.data, f->pending.len, 1, eof, emit,
	    arg);
	buf_consume(&f->pending, used);
	if (eof)
		buf_clear(&f->pending);
}
