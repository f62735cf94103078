/*
 * finished.c: the finished tasks a state directory remembers
 * (DIR/finished/): each one's final message, kept 24 hours or for the
 * last 1,000,000 tasks, whichever is less, and indexed in memory by a
 * hash of the task ID (16 bytes a task), so that a repeated task gets
 * its final again and never runs twice.
 */

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agent.h"
#include "record.h"

#define FIN_SEGMENT (8 * 1024 * 1024)
#define FIN_SECONDS (24 * 3600)
#define FIN_MAX 1000000

/* The index: hash of the ID -> where its final is. */
struct fin_slot {
	uint64_t hash;		/* 0: empty */
	uint64_t seg;
	uint64_t offset;
};

static struct journal *fin_jnl;
static struct fin_slot *fin_index;
static size_t fin_index_size, fin_index_used;
static struct event *fin_expire_timer;

static uint64_t
fin_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 0x100000001b3ULL;
	return h != 0 ? h : 1;
}

static void fin_index_put(uint64_t, uint64_t, uint64_t);

static void
fin_index_grow(void)
{
	struct fin_slot *old = fin_index;
	size_t n = fin_index_size, i;

	fin_index_size = n == 0 ? 1024 : n * 2;
	fin_index = xcalloc(fin_index_size, sizeof *fin_index);
	fin_index_used = 0;
	for (i = 0; i < n; i++) {
		if (old[i].hash != 0)
			fin_index_put(old[i].hash, old[i].seg,
			    old[i].offset);
	}
	free(old);
}

static void
fin_index_put(uint64_t hash, uint64_t seg, uint64_t offset)
{
	size_t i;

	if ((fin_index_used + 1) * 4 > fin_index_size * 3)
		fin_index_grow();
	for (i = hash & (fin_index_size - 1); fin_index[i].hash != 0;
	    i = (i + 1) & (fin_index_size - 1)) {
		if (fin_index[i].hash == hash) {
			/* The same ID again (or a twin hash): newest wins. */
			fin_index[i].seg = seg;
			fin_index[i].offset = offset;
			return;
		}
	}
	fin_index[i].hash = hash;
	fin_index[i].seg = seg;
	fin_index[i].offset = offset;
	fin_index_used++;
}

/* Rebuilds the index without the entries of segments up to CUT. */
static void
fin_index_forget(uint64_t cut)
{
	struct fin_slot *old = fin_index;
	size_t n = fin_index_size, i;

	fin_index = xcalloc(n, sizeof *fin_index);
	fin_index_used = 0;
	for (i = 0; i < n; i++) {
		if (old[i].hash != 0 && old[i].seg > cut)
			fin_index_put(old[i].hash, old[i].seg,
			    old[i].offset);
	}
	free(old);
}

/* Task ID's final, in a message ready to send again; NULL if unknown. */
struct msg *
finished_final(const char *id)
{
	uint64_t hash = fin_hash(id);
	struct buf b;
	struct dec d;
	struct msg *m = NULL;
	char *got;
	size_t i;

	if (fin_jnl == NULL || fin_index_size == 0)
		return NULL;
	for (i = hash & (fin_index_size - 1); fin_index[i].hash != 0;
	    i = (i + 1) & (fin_index_size - 1)) {
		if (fin_index[i].hash == hash)
			break;
	}
	if (fin_index[i].hash != hash)
		return NULL;
	buf_init(&b);
	if (journal_read(fin_jnl, fin_index[i].seg,
	    fin_index[i].offset, &b) == REC_FINAL) {
		rec_dec_init(&d, (const unsigned char *)b.data + 1, b.len - 1);
		got = rec_dec_str(&d);
		if (!d.bad && strcmp(got, id) == 0) {
			m = msg_new(d.left);
			memcpy(m->data, d.p, d.left);
		}
		free(got);
	}
	buf_free(&b);
	return m;
}

/* Task ID finished with FINAL: remembered on disk. */
void
finished_add(const char *id, const struct msg *final)
{
	struct iovec_c iov[2];
	struct buf head;
	uint64_t seg, offset;

	if (fin_jnl == NULL)
		return;
	buf_init(&head);
	rec_enc_str(&head, id);
	iov[0].base = head.data;
	iov[0].len = head.len;
	iov[1].base = final->data;
	iov[1].len = final->len;
	seg = journal_append(fin_jnl, REC_FINAL, iov, 2, 1, 0,
	    &offset);
	if (seg != 0)
		fin_index_put(fin_hash(id), seg, offset);
	buf_free(&head);
}

struct fin_expiry {
	time_t now;
	size_t total, newer;
	uint64_t cut;		/* segments up to this go */
};

static void
fin_count_segment(void *arg, uint64_t seg, size_t records, time_t newest)
{
	struct fin_expiry *e = arg;

	(void)seg;
	(void)newest;
	e->total += records;
}

static void
fin_expire_segment(void *arg, uint64_t seg, size_t records, time_t newest)
{
	struct fin_expiry *e = arg;

	/* Older than a day, or with a million newer finals: forgotten. */
	if ((newest != 0 && e->now - newest > FIN_SECONDS) ||
	    e->total - e->newer - records >= FIN_MAX)
		e->cut = seg;
	e->newer += records;
}

/* Forgets finals older than a day or beyond the last million. */
static void
fin_expire(evutil_socket_t fd, short events, void *arg)
{
	struct fin_expiry e;
	uint64_t cur;

	(void)fd;
	(void)events;
	(void)arg;
	if (fin_jnl == NULL)
		return;
	memset(&e, 0, sizeof e);
	e.now = time(NULL);
	journal_each_segment(fin_jnl, fin_count_segment, &e);
	journal_each_segment(fin_jnl, fin_expire_segment, &e);
	cur = journal_current(fin_jnl);
	if (e.cut != 0 && e.cut != cur)
		fin_index_forget(e.cut);
	for (; e.cut != 0; e.cut--) {
		if (e.cut != cur)
			journal_drop(fin_jnl, e.cut);
	}
	timer_add_ms(fin_expire_timer, 600 * 1000);
}

static void
fin_read(void *arg, const struct jrec *r)
{
	struct dec d;
	char *id;

	(void)arg;
	if (r->type != REC_FINAL)
		return;
	rec_dec_init(&d, r->data, r->len);
	id = rec_dec_str(&d);
	if (!d.bad) {
		fin_index_put(fin_hash(id), r->seg, r->offset);
		journal_retain(fin_jnl, r->seg);
	}
	free(id);
}

/* Opens DIR/finished and reads its index back; 0, or -1 with *cause. */
int
finished_open(struct event_base *base, const char *dir, char **cause)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/finished", dir);
	if ((fin_jnl = journal_open(base, path, "finished tasks",
	    FIN_SEGMENT, cause)) == NULL)
		return -1;
	if (journal_replay(fin_jnl, fin_read, NULL, cause) != 0)
		return -1;
	journal_replay_done(fin_jnl);
	if ((fin_expire_timer = evtimer_new(base, fin_expire, NULL)) == NULL)
		fatalx("cannot create a timer");
	fin_expire(-1, 0, NULL);
	return 0;
}

/* How many finals are remembered. */
size_t
finished_count(void)
{
	return fin_index_used;
}

void
finished_close(void)
{
	journal_close(fin_jnl);
	fin_jnl = NULL;
	if (fin_expire_timer != NULL)
		event_free(fin_expire_timer);
	fin_expire_timer = NULL;
	free(fin_index);
	fin_index = NULL;
	fin_index_size = fin_index_used = 0;
}
