/*
 * msg.c: the message type, and each task's stream of messages.
 *
 * A message (struct msg) is one encoded response on its way to the
 * server: made by wire.c, journaled and handed to the link by outbox.c,
 * held by the spool until sent (and, for an acking server, acknowledged),
 * then freed.  Its task's stream (struct tstream) numbers its messages
 * (seq) and records what the server acknowledged, so that the spool can
 * tell an acknowledged message without asking the task, and outbox.c can
 * take an ack by task ID without the task registry: the streams of live
 * tasks are indexed here by ID.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "compat/tree.h"

struct tstream {
	RB_ENTRY(tstream) entry;	/* while its task lives */
	char *id;
	uint64_t seq;		/* of the last message numbered */
	uint64_t acked;		/* the server has all up to this */
	unsigned refs;		/* its task and each of its messages */
	int indexed;
};

RB_HEAD(tstream_tree, tstream);

static int
tstream_cmp(struct tstream *a, struct tstream *b)
{
	return strcmp(a->id, b->id);
}

RB_PROTOTYPE(tstream_tree, tstream, entry, tstream_cmp)
RB_GENERATE(tstream_tree, tstream, entry, tstream_cmp)

static struct tstream_tree tstream_index = RB_INITIALIZER(&tstream_index);
/* Releases a journal segment a freed message held (state.c sets it, so
 * that the message type needs no journal). */
static void (*msg_release)(uint64_t);

void
msg_set_release(void (*release)(uint64_t))
{
	msg_release = release;
}

struct msg *
msg_new(size_t len)
{
	struct msg *m;

	m = xmalloc(sizeof *m + len);
	memset(m, 0, sizeof *m);
	m->refs = 1;
	m->len = len;
	return m;
}

/* Drops a hold on M's memory; thread-safe (gRPC's threads call it). */
void
msg_unref(struct msg *m)
{
	if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(m);
}

/* The agent is done with M: what it holds goes now, on the loop; its
 * memory when gRPC is done with it too. */
void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	if (m->jseg != 0 && msg_release != NULL)
		msg_release(m->jseg);
	m->jseg = 0;
	tstream_unref(m->ts);
	m->ts = NULL;
	msg_unref(m);
}

/* True if the server has acknowledged M. */
int
msg_acked(const struct msg *m)
{
	return m->ts != NULL && m->seq != 0 && m->seq <= m->ts->acked;
}

/* Task ID's stream, its messages numbered from SEQ + 1; indexed by ID
 * until orphaned (the ID must not have a stream already). */
struct tstream *
tstream_new(const char *id, uint64_t seq)
{
	struct tstream *ts = xcalloc(1, sizeof *ts);

	ts->id = xstrdup(id);
	ts->seq = seq;
	ts->refs = 1;
	if (RB_INSERT(tstream_tree, &tstream_index, ts) != NULL)
		fatalx("task stream %s made twice", id);
	ts->indexed = 1;
	return ts;
}

/* The stream of the live task ID, or NULL. */
struct tstream *
tstream_find(const char *id)
{
	struct tstream key;

	key.id = (char *)(uintptr_t)id;
	return RB_FIND(tstream_tree, &tstream_index, &key);
}

struct tstream *
tstream_ref(struct tstream *ts)
{
	if (ts != NULL)
		ts->refs++;
	return ts;
}

void
tstream_unref(struct tstream *ts)
{
	if (ts == NULL || --ts->refs != 0)
		return;
	if (ts->indexed)
		RB_REMOVE(tstream_tree, &tstream_index, ts);
	free(ts->id);
	free(ts);
}

/* Its task is forgotten: no ack can name it any more, so nothing of it
 * may hold the resend window (an acking server's) back. */
void
tstream_orphan(struct tstream *ts)
{
	if (ts == NULL)
		return;
	ts->acked = UINT64_MAX;
	if (ts->indexed)
		RB_REMOVE(tstream_tree, &tstream_index, ts);
	ts->indexed = 0;
}

/* The server has the stream's messages up to SEQ. */
void
tstream_ack(struct tstream *ts, uint64_t seq)
{
	if (ts != NULL && seq > ts->acked)
		ts->acked = seq;
}

/* What the server has of the stream (or, for a server that never
 * acknowledges, what it was sent). */
uint64_t
tstream_acked(const struct tstream *ts)
{
	return ts->acked;
}

const char *
tstream_id(const struct tstream *ts)
{
	return ts->id;
}

/* The seq of the last message numbered. */
uint64_t
tstream_seq(const struct tstream *ts)
{
	return ts != NULL ? ts->seq : 0;
}

/* The seq of the stream's next message. */
uint64_t
tstream_next(struct tstream *ts)
{
	return ++ts->seq;
}

/* A restored stream: its messages up to SEQ were sent. */
void
tstream_set_seq(struct tstream *ts, uint64_t seq)
{
	ts->seq = seq;
}
