/*
 * spool.c: the outbound messages, in order, and the window of those
 * recently sent.
 *
 * A message waits in the spool until gRPC reports it sent; then it moves to
 * the sent window.  "Sent" only means handed to the transport: when the
 * connection breaks, the last messages may never have reached the server.
 * So when a stream ends, the window goes back to the front of the spool and
 * is sent again first on the next stream: delivery is at-least-once, and a
 * server drops the duplicates by (task_id, seq).  The window keeps at most
 * win_max_bytes and win_max_count messages, oldest dropped first.
 *
 * Sizes count each message's bookkeeping too, so that a flood of tiny
 * messages is bounded as well as a few large ones.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "agent.h"

#define SPOOL_COST(m) (sizeof(struct msg) + (m)->len)

void
spool_init(struct spool *s, size_t win_max_bytes, size_t win_max_count)
{
	s->head = NULL;
	s->tail = &s->head;
	s->bytes = 0;
	s->count = 0;
	s->win_head = NULL;
	s->win_tail = &s->win_head;
	s->win_bytes = 0;
	s->win_count = 0;
	s->win_max_bytes = win_max_bytes;
	s->win_max_count = win_max_count;
}

void
spool_push(struct spool *s, struct msg *m)
{
	m->next = NULL;
	*s->tail = m;
	s->tail = &m->next;
	s->bytes += SPOOL_COST(m);
	s->count++;
}

struct msg *
spool_peek(const struct spool *s)
{
	return s->head;
}

/* The head was sent: it moves to the window, whose oldest may drop out. */
void
spool_ack(struct spool *s)
{
	struct msg *m, *old;

	if ((m = s->head) == NULL)
		return;
	s->head = m->next;
	if (s->head == NULL)
		s->tail = &s->head;
	s->bytes -= SPOOL_COST(m);
	s->count--;

	m->next = NULL;
	*s->win_tail = m;
	s->win_tail = &m->next;
	s->win_bytes += SPOOL_COST(m);
	s->win_count++;
	while ((old = s->win_head) != NULL &&
	    (s->win_bytes > s->win_max_bytes ||
	    s->win_count > s->win_max_count)) {
		s->win_head = old->next;
		if (s->win_head == NULL)
			s->win_tail = &s->win_head;
		s->win_bytes -= SPOOL_COST(old);
		s->win_count--;
		free(old);
	}
}

/* The stream ended: the window goes back in front, to be sent again. */
size_t
spool_rewind(struct spool *s)
{
	size_t n = s->win_count;

	if (s->win_head == NULL)
		return 0;
	*s->win_tail = s->head;
	if (s->head == NULL)
		s->tail = s->win_tail;
	s->head = s->win_head;
	s->bytes += s->win_bytes;
	s->count += s->win_count;
	s->win_head = NULL;
	s->win_tail = &s->win_head;
	s->win_bytes = 0;
	s->win_count = 0;
	return n;
}

/* Bytes waiting to be sent (the window not included). */
size_t
spool_bytes(const struct spool *s)
{
	return s->bytes;
}

size_t
spool_count(const struct spool *s)
{
	return s->count;
}

static void
spool_free_list(struct msg *m)
{
	struct msg *next;

	for (; m != NULL; m = next) {
		next = m->next;
		free(m);
	}
}

void
spool_free(struct spool *s)
{
	spool_free_list(s->head);
	spool_free_list(s->win_head);
	spool_init(s, s->win_max_bytes, s->win_max_count);
}
