/*
 * outbox.c: where every outgoing message goes, and where acks come back.
 *
 * A task's message is journaled before the link gets it (so that a crash
 * after the send loses nothing): a small one at once, a large one by the
 * journal's writer thread, the link getting it when written, with the
 * messages behind it queued in order (journal.c).  The outbox also owns
 * the one decision to pause or resume task output: readers pause while
 * the link's spool is full or a send is in flight (link.c says which) or
 * while too much waits for the journal's writer (here), and resume when
 * none of these holds.  An ack from the server goes to the task's stream
 * (msg.c), into the journal, and to the link, whose spool it trims.
 *
 * Without a state directory the journal steps are skipped.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "agent.h"
#include "record.h"

/*
 * At most this much waits for the writer thread: past it, tasks stop
 * reading (outbox_congested), so that a disk slower than the tasks and
 * the network bounds the agent's memory, as the spool does for the
 * network.  Small, too, since what waits is not yet in the journal: a
 * SIGKILL loses it, as it loses what is still in the tasks' pipes.
 */
#define OUTBOX_AHEAD_MAX (4 * 1024 * 1024)

static struct link *outbox_link;
static void (*outbox_resume)(void *);
static void *outbox_resume_arg;
static int outbox_full;

static void outbox_on_written(void *, void *, uint64_t);

/*
 * Messages go to link L; RESUME(ARG) makes paused tasks read on.  After
 * state_open, whose journal the outbox writes to.
 */
void
outbox_init(struct link *l, void (*resume)(void *), void *arg)
{
	outbox_link = l;
	outbox_resume = resume;
	outbox_resume_arg = arg;
	if (state_journal() != NULL)
		journal_on_written(state_journal(), outbox_on_written, NULL);
}

/* A MSG record's fields before the message: task ID, seq, final. */
static void
outbox_msg_head(struct buf *head, const struct msg *m, const char *id,
    int final)
{
	buf_init(head);
	rec_enc_str(head, id);
	rec_enc_u64(head, m->seq);
	buf_append(head, final ? "\1" : "\0", 1);
}

/* Journals message M of task ID, not sent through the outbox (FINAL: its
 * last). */
void
outbox_journal(struct msg *m, const char *id, int final)
{
	struct journal *j = state_journal();
	struct iovec_c iov[2];
	struct buf head;

	if (j == NULL)
		return;
	outbox_msg_head(&head, m, id, final);
	iov[0].base = head.data;
	iov[0].len = head.len;
	iov[1].base = m->data;
	iov[1].len = m->len;
	m->jseg = journal_append(j, REC_MSG, iov, 2, 1, final, NULL);
	buf_free(&head);
}

/* True while too much waits for the journal's writer (see above). */
static int
outbox_backlogged(void)
{
	struct journal *j = state_journal();

	if (!outbox_full && j != NULL &&
	    journal_queued_bytes(j) > OUTBOX_AHEAD_MAX) {
		outbox_full = 1;
		log_debug("journal: %llu bytes wait for the disk: pausing task "
		    "output", (unsigned long long)journal_queued_bytes(j));
	}
	return outbox_full;
}

/* True while tasks should stop reading their output. */
int
outbox_congested(void)
{
	return link_congested(outbox_link) || outbox_backlogged();
}

/*
 * One of the things that pause readers is over (a full spool, a send in
 * flight, the journal's backlog): they read on, unless another still
 * holds them (whose end calls this again).  The one place that decides.
 */
void
outbox_resume_readers(void)
{
	if (!link_congested(outbox_link) && !link_holding(outbox_link) &&
	    !outbox_backlogged())
		outbox_resume(outbox_resume_arg);
}

static void
outbox_on_written(void *arg, void *cookie, uint64_t seg)
{
	struct msg *m = cookie;

	(void)arg;
	if (seg == 0)
		m->jseg = 0;	/* not journaled after all */
	link_send(outbox_link, m);
	if (outbox_full && journal_queued_bytes(state_journal()) <=
	    OUTBOX_AHEAD_MAX / 2) {
		outbox_full = 0;
		outbox_resume_readers();
	}
}

/*
 * Sends M: journaled first as task ID's (its last message if FINAL), or,
 * with ID NULL, not journaled.  A large message is written by the
 * journal's thread and goes to the link when written (journal.c); the
 * others queue behind such writes, so that the link gets every message in
 * the order it was made.
 */
void
outbox_send(struct msg *m, const char *id, int final)
{
	struct journal *j = state_journal();
	struct buf head;
	int queued;

	if (j == NULL) {
		link_send(outbox_link, m);
		return;
	}
	if (id == NULL) {
		if (!journal_pass(j, m))
			link_send(outbox_link, m);
		return;
	}
	outbox_msg_head(&head, m, id, final);
	m->jseg = journal_append_ahead(j, REC_MSG, head.data, head.len,
	    m->data, m->len, final, m, &queued);
	buf_free(&head);
	if (!queued)
		link_send(outbox_link, m);
}

/* M, not journaled, ahead of every message waiting (a Pong). */
void
outbox_send_first(struct msg *m)
{
	link_send_first(outbox_link, m);
}

/* Messages waiting for their journal write (not yet the link's). */
size_t
outbox_queued(void)
{
	return state_journal() != NULL ? journal_queued(state_journal()) : 0;
}

/* The journal's record that task ID's messages up to SEQ are stored. */
static void
outbox_journal_ack(const char *id, uint64_t seq)
{
	struct buf b;

	if (state_journal() == NULL)
		return;
	buf_init(&b);
	rec_enc_str(&b, id);
	rec_enc_u64(&b, seq);
	journal_append(state_journal(), REC_ACK,
	    &(struct iovec_c){ b.data, b.len }, 1, 0, 0, NULL);
	buf_free(&b);
}

/*
 * M's send completed, to a server of upstream's dialects, which never
 * acknowledges and shows a repeat to its user: it counts as stored, so
 * that neither a reconnect nor a restart sends it again.
 */
void
outbox_sent(const struct msg *m)
{
	if (m->ts == NULL || m->seq == 0 || m->seq <= tstream_acked(m->ts))
		return;
	tstream_ack(m->ts, m->seq);
	outbox_journal_ack(tstream_id(m->ts), m->seq);
}

/*
 * The server stored task ID's messages up to SEQ: its stream says so to
 * the spool, the journal records it (a restart resends none of it), and
 * the link trims its window.
 */
void
outbox_ack(const char *id, uint64_t seq)
{
	struct tstream *ts;

	if ((ts = tstream_find(id)) == NULL) {
		metrics.acks_unknown++;
		log_debug("ack for unknown task %s ignored", id);
		return;
	}
	if (seq > tstream_seq(ts)) {
		metrics.acks_unknown++;
		log_debug("task %s: ack for seq %llu, beyond the %llu sent: "
		    "ignored", id, (unsigned long long)seq,
		    (unsigned long long)tstream_seq(ts));
		return;
	}
	tstream_ack(ts, seq);
	outbox_journal_ack(id, seq);
	/* (Said once it is in the journal: tests wait for this line.) */
	log_debug("task %s: acknowledged up to seq %llu", id,
	    (unsigned long long)seq);
	link_acked(outbox_link);
}
