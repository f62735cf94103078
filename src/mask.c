/*
 * mask.c: secret values replaced by "***" in a stream of output (pure).
 *
 * A task's output arrives in pieces of any size, down to one byte per read,
 * and a secret may be split anywhere between them.  The masker sits before
 * the framer (framer.c) and holds back only the bytes that could still be
 * the beginning of a secret; everything else passes on at once, so output
 * without secrets is not delayed, and the framer's partial-line flush can
 * never send half a secret because it never sees one.
 *
 * Where secrets overlap, the longest one that matches wins: with "abcd"
 * and "abcdef" both secret, "abcdef" becomes "***", not "***ef".  Values
 * shorter than MASK_MIN_LEN are not masked (task-shell.c warns): masking
 * "a" would garble every line.  A value with line feeds is masked in its
 * terminal form too, each "\n" a "\r\n": a task on a pty prints it so.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* VALUE with every "\n" written "\r\n", as a terminal shows it. */
static char *
mask_crlf(const char *value)
{
	struct buf b;
	const char *p;

	buf_init(&b);
	for (p = value; *p != '\0'; p++) {
		if (*p == '\n' && (p == value || p[-1] != '\r'))
			buf_append(&b, "\r", 1);
		buf_append(&b, p, 1);
	}
	buf_append(&b, "", 1);
	return b.data;
}

static void
mask_add(struct mask *m, char *value)
{
	m->values[m->n] = value;
	m->lens[m->n++] = strlen(value);
	m->first[(unsigned char)value[0]] = 1;
}

void
mask_init(struct mask *m, char *const *values, size_t n)
{
	size_t i;

	memset(m, 0, sizeof *m);
	m->values = xcalloc(2 * n + 1, sizeof *m->values);
	m->lens = xcalloc(2 * n + 1, sizeof *m->lens);
	m->n = 0;
	buf_init(&m->held);
	for (i = 0; i < n; i++) {
		if (strlen(values[i]) < MASK_MIN_LEN)
			continue;
		mask_add(m, xstrdup(values[i]));
		if (strchr(values[i], '\n') != NULL)
			mask_add(m, mask_crlf(values[i]));
	}
}

int
mask_active(const struct mask *m)
{
	return m->n != 0;
}

void
mask_free(struct mask *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		memset(m->values[i], 0, m->lens[i]);
		free(m->values[i]);
	}
	free(m->values);
	free(m->lens);
	if (m->held.data != NULL)
		memset(m->held.data, 0, m->held.cap);
	buf_free(&m->held);
	memset(m, 0, sizeof *m);
}

/*
 * At P (AVAIL bytes to the end of what is known): the length of the
 * longest secret that matches whole, and whether a longer secret could
 * still match if more bytes came (*MORE).
 */
static size_t
mask_at(const struct mask *m, const char *p, size_t avail, int *more)
{
	size_t i, best = 0;

	*more = 0;
	for (i = 0; i < m->n; i++) {
		if (m->lens[i] <= avail) {
			if (m->lens[i] > best &&
			    memcmp(p, m->values[i], m->lens[i]) == 0)
				best = m->lens[i];
		} else if (memcmp(p, m->values[i], avail) == 0)
			*more = 1;
	}
	return best;
}

/*
 * Masks DATA (LEN bytes; a NULL DATA is the end of the stream) after the
 * bytes held from before, appending what may go on to OUT.
 */
static void
mask_run(struct mask *m, const char *data, size_t len, struct buf *out)
{
	struct buf all;
	const char *p, *end;
	size_t i = 0, start = 0, n, avail;
	int more, eof = data == NULL;

	buf_init(&all);
	if (m->held.len != 0) {
		buf_append(&all, m->held.data, m->held.len);
		memset(m->held.data, 0, m->held.len);
		buf_clear(&m->held);
	}
	if (len != 0)
		buf_append(&all, data, len);
	p = all.data;
	n = all.len;
	while (i < n) {
		if (!m->first[(unsigned char)p[i]]) {
			/* Skip to the next byte that can begin a secret. */
			for (end = p + i + 1; end < p + n &&
			    !m->first[(unsigned char)*end]; end++)
				;
			i = (size_t)(end - p);
			continue;
		}
		avail = n - i;
		if ((len = mask_at(m, p + i, avail, &more)) == 0 && !more) {
			i++;
			continue;
		}
		if (more && !eof) {
			/* Could be a (longer) secret: wait for more. */
			buf_append(&m->held, p + i, avail);
			n = i;
			break;
		}
		if (len == 0) {
			i++;	/* the stream ended before the secret did */
			continue;
		}
		buf_append(out, p + start, i - start);
		buf_append(out, "***", 3);
		i += len;
		start = i;
	}
	if (n > start)
		buf_append(out, p + start, n - start);
	if (all.data != NULL)
		memset(all.data, 0, all.len);
	buf_free(&all);
}

void
mask_push(struct mask *m, const void *data, size_t len, struct buf *out)
{
	if (len != 0)
		mask_run(m, data, len, out);
}

/* The end of the stream: nothing can complete a secret any more. */
void
mask_flush(struct mask *m, struct buf *out)
{
	if (m->held.len != 0)
		mask_run(m, NULL, 0, out);
}

/* Forgets what is held: the stream was cut, and what could have been
 * the start of a secret must not go out alone. */
void
mask_drop(struct mask *m)
{
	if (m->held.data != NULL)
		memset(m->held.data, 0, m->held.cap);
	buf_clear(&m->held);
}

size_t
mask_held(const struct mask *m)
{
	return m->held.len;
}

/* S with the values of the N "NAME=VALUE" ENTRIES masked, for the log. */
char *
mask_entries_in(char *const *entries, size_t n, const char *s)
{
	struct mask m;
	struct buf out;
	char **values;
	const char *eq;
	size_t i;

	values = xcalloc(n + 1, sizeof *values);
	for (i = 0; i < n; i++) {
		eq = strchr(entries[i], '=');
		values[i] = (char *)(uintptr_t)(eq != NULL ? eq + 1 : "");
	}
	mask_init(&m, values, n);
	free(values);
	buf_init(&out);
	mask_push(&m, s, strlen(s), &out);
	mask_flush(&m, &out);
	mask_free(&m);
	buf_append(&out, "", 1);
	return out.data;
}
