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
 *
 * A server that acknowledges what it stored (TaskRequest.ack) puts the
 * spool in acking mode for the stream: the window then keeps every message
 * until it is acknowledged, whatever its size (the link counts the window
 * as spooled, so that tasks pause rather than the window grow without
 * end), and a rewind sends again only what is not acknowledged.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "agent.h"

#define SPOOL_COST(m) (sizeof(struct msg) + (m)->len)

void
spool_init(struct spool *s, size_t win_max_bytes, size_t win_max_count)
{
	STAILQ_INIT(&s->queue);
	s->bytes = 0;
	s->count = 0;
	STAILQ_INIT(&s->window);
	s->win_bytes = 0;
	s->win_count = 0;
	s->win_max_bytes = win_max_bytes;
	s->win_max_count = win_max_count;
	s->acking = 0;
}

/* Whether the window waits for acknowledgements (see above). */
void
spool_set_acking(struct spool *s, int on)
{
	s->acking = on;
}

/*
 * Drops what leaves the window: in acking mode the acknowledged messages
 * at its head (and those no ack can name); else the oldest beyond the
 * window's size.  Returns how many went.
 */
size_t
spool_trim(struct spool *s)
{
	struct msg *old;
	size_t n = 0;

	while ((old = STAILQ_FIRST(&s->window)) != NULL) {
		if (s->acking ? !msg_acked(old) && old->ts != NULL :
		    s->win_bytes <= s->win_max_bytes &&
		    s->win_count <= s->win_max_count)
			break;
		STAILQ_REMOVE_HEAD(&s->window, entry);
		s->win_bytes -= SPOOL_COST(old);
		s->win_count--;
		msg_free(old);
		n++;
	}
	return n;
}

void
spool_push(struct spool *s, struct msg *m)
{
	STAILQ_INSERT_TAIL(&s->queue, m, entry);
	s->bytes += SPOOL_COST(m);
	s->count++;
}

struct msg *
spool_peek(const struct spool *s)
{
	return STAILQ_FIRST(&s->queue);
}

/* The queue's head, taken off it (and out of its counts), or NULL. */
static struct msg *
spool_take_first(struct spool *s)
{
	struct msg *m;

	if ((m = STAILQ_FIRST(&s->queue)) == NULL)
		return NULL;
	STAILQ_REMOVE_HEAD(&s->queue, entry);
	s->bytes -= SPOOL_COST(m);
	s->count--;
	return m;
}

/* The head was sent: it moves to the window, whose oldest may drop out. */
void
spool_ack(struct spool *s)
{
	struct msg *m;

	if ((m = spool_take_first(s)) == NULL)
		return;
	STAILQ_INSERT_TAIL(&s->window, m, entry);
	s->win_bytes += SPOOL_COST(m);
	s->win_count++;
	spool_trim(s);
}

/*
 * The stream ended: the window goes back in front, to be sent again, but
 * for what the server acknowledged.  The next stream starts without acks
 * until its server sends one.
 */
size_t
spool_rewind(struct spool *s)
{
	struct msg_queue keep;
	struct msg *m;
	size_t n;

	STAILQ_INIT(&keep);
	while ((m = STAILQ_FIRST(&s->window)) != NULL) {
		STAILQ_REMOVE_HEAD(&s->window, entry);
		if (!msg_acked(m)) {
			STAILQ_INSERT_TAIL(&keep, m, entry);
			continue;
		}
		s->win_bytes -= SPOOL_COST(m);
		s->win_count--;
		msg_free(m);
	}
	STAILQ_CONCAT(&s->window, &keep);
	s->acking = 0;
	n = s->win_count;
	if (STAILQ_EMPTY(&s->window))
		return 0;
	STAILQ_CONCAT(&s->window, &s->queue);	/* the queue is now empty */
	STAILQ_CONCAT(&s->queue, &s->window);
	s->bytes += s->win_bytes;
	s->count += s->win_count;
	s->win_bytes = 0;
	s->win_count = 0;
	return n;
}

/* Bytes waiting to be sent (the window not included but when it waits
 * for acknowledgements). */
size_t
spool_bytes(const struct spool *s)
{
	return s->bytes + (s->acking ? s->win_bytes : 0);
}

size_t
spool_count(const struct spool *s)
{
	return s->count;
}

static void
spool_free_queue(struct msg_queue *q)
{
	struct msg *m;

	while ((m = STAILQ_FIRST(q)) != NULL) {
		STAILQ_REMOVE_HEAD(q, entry);
		msg_free(m);
	}
}

void
spool_free(struct spool *s)
{
	spool_free_queue(&s->queue);
	spool_free_queue(&s->window);
	spool_init(s, s->win_max_bytes, s->win_max_count);
}

/* Each message held, in the order a resend would send them: the window
 * (sent, not known to be stored), then the queue. */
void
spool_each(const struct spool *s, void (*fn)(void *, const struct msg *),
    void *arg)
{
	const struct msg *m;

	STAILQ_FOREACH(m, &s->window, entry)
		if (!msg_acked(m))
			fn(arg, m);
	STAILQ_FOREACH(m, &s->queue, entry)
		fn(arg, m);
}

/* M ahead of the queue: after its head if that is being sent
 * (AFTER_HEAD), else first. */
void
spool_push_first(struct spool *s, struct msg *m, int after_head)
{
	struct msg *first = STAILQ_FIRST(&s->queue);

	if (after_head && first != NULL)
		STAILQ_INSERT_AFTER(&s->queue, first, m, entry);
	else
		STAILQ_INSERT_HEAD(&s->queue, m, entry);
	s->bytes += SPOOL_COST(m);
	s->count++;
}

/* The queue's head, never sent, is dropped. */
void
spool_drop_first(struct spool *s)
{
	msg_free(spool_take_first(s));
}

/* At most COUNT messages are kept once sent (0: none, for a server that
 * never acknowledges and shows repeats). */
void
spool_set_window(struct spool *s, size_t count)
{
	s->win_max_count = count;
	spool_trim(s);
}
