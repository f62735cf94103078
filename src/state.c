/*
 * state.c: the state directory, which makes "nothing lost, nothing run
 * twice" survive the agent itself being killed (SIGKILL, the OOM killer,
 * a crash, a power cut).
 *
 *   DIR/lock       held (fcntl) while an agent uses DIR; the kernel
 *                  releases it when the agent dies, however it dies
 *   DIR/journal/   every message the agent sends, written before it is
 *                  sent, until the server acknowledges it (an Ack) or it
 *                  leaves the resend window; and a START record for each
 *                  running task (pid, its start time, its cgroup, the
 *                  marker its processes carry)
 *   DIR/finished/  each finished task's final message, kept 24 hours or
 *                  for the last 1,000,000 tasks, whichever is less, and
 *                  indexed in memory by a hash of the task ID (16 bytes a
 *                  task), so that a repeated task gets its final again
 *                  and never runs twice
 *
 * At start, before connecting (state_recover): the journal is read back;
 * a task that was running when the previous agent died is killed (its
 * cgroup, or its verified pid and process group, and any process carrying
 * its marker), and gets, after the messages journaled for it, a FAILURE
 * final with reason AGENT_RESTARTED; every message the server had not
 * acknowledged is sent again, with its original bytes and seq.
 *
 * Without a state directory (--state-dir none) the agent works from
 * memory as before.  The whole file is inert then: every function here
 * checks state_dir first.
 */

#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "compat/tree.h"

enum state_record {
	SREC_MSG = 1,		/* id, seq, final, message */
	SREC_ACK = 2,		/* id, seq */
	SREC_START = 3,		/* id, reply_id, kind, pid, start, cgroup, marker,
				   seq (the last sent when written), an upload's
				   temporary file, the seqs reserved, its
				   Docker container (the last two optional) */
	SREC_FINAL = 4,		/* (finished/) id, message */
};

#define STATE_JOURNAL_SEGMENT (16 * 1024 * 1024)
#define STATE_FINISHED_SEGMENT (8 * 1024 * 1024)
#define STATE_FINISHED_SECONDS (24 * 3600)
#define STATE_FINISHED_MAX 1000000
#define STATE_KILL_WAIT_MS 3000

/* What a message holds a reference to: its task's acknowledged seq. */
struct tstream {
	uint64_t acked;
	unsigned refs;
};

/* A running task's START record. */
struct srun {
	LIST_ENTRY(srun) entry;
	char *id, *reply_id, *cgroup, *marker, *tmpfile;
	char *container;	/* the Docker container it runs, or "" */
	int kind;
	int64_t pid;
	uint64_t start_time;
	uint64_t seg;
	struct task *task;	/* its seq, when the record is written again */
	uint64_t seq;		/* (read back) */
	uint64_t reserved;	/* seqs up to this may be in use */
	uint64_t block;		/* the last reservation's size */
};

/*
 * Seqs are reserved before they are used, in records that are on the disk
 * before a message past the last reservation leaves (journal_append_
 * durable): a power cut that loses the journal's tail cannot make the
 * next start number a task's AGENT_RESTARTED final with a seq the server
 * already has.  The first reservation rides on the START record (lost
 * with it, the task is unknown and gets no final); later ones double, so
 * that a task of a million messages costs about 14 syncs.
 */
#define STATE_SEQ_FIRST 64
/* How long the start waits for `docker rm' of a container left behind. */
#define STATE_DOCKER_WAIT_S 30
#define STATE_SEQ_BLOCK_MAX 65536

/* The finished-task index: hash of the ID -> where its final is. */
struct sindex_slot {
	uint64_t hash;		/* 0: empty */
	uint64_t seg;
	uint64_t offset;
};

static char *state_dir;
static int state_lock_fd = -1;
static struct journal *state_journal;	/* messages and running tasks */
static struct journal *state_finished;	/* finals */
static LIST_HEAD(, srun) state_running = LIST_HEAD_INITIALIZER(state_running);
static struct sindex_slot *state_index;
static size_t state_index_size, state_index_used;
static struct event *state_expire_timer;

/* -- messages ---------------------------------------------------------- */

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
	if (m->jseg != 0)
		journal_release(state_journal, m->jseg);
	m->jseg = 0;
	tstream_unref(m->ts);
	m->ts = NULL;
	msg_unref(m);
}

struct tstream *
tstream_new(void)
{
	struct tstream *ts = xcalloc(1, sizeof *ts);

	ts->refs = 1;
	return ts;
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
	if (ts != NULL && --ts->refs == 0)
		free(ts);
}

/* True if the server has acknowledged M. */
int
msg_acked(const struct msg *m)
{
	return m->ts != NULL && m->seq != 0 && m->seq <= m->ts->acked;
}

/* Its task is forgotten: no ack can name it any more, so nothing of it
 * may hold the resend window (an acking server's) back. */
void
tstream_orphan(struct tstream *ts)
{
	if (ts != NULL)
		ts->acked = UINT64_MAX;
}

void
tstream_ack(struct tstream *ts, uint64_t seq)
{
	if (ts != NULL && seq > ts->acked)
		ts->acked = seq;
}

/* -- encoding ---------------------------------------------------------- */

static void
enc_u64(struct buf *b, uint64_t v)
{
	unsigned char p[8];
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	buf_append(b, p, 8);
}

static void
enc_str(struct buf *b, const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;
	unsigned char p[2];

	if (len > 0xffff)
		len = 0xffff;
	p[0] = (unsigned char)len;
	p[1] = (unsigned char)(len >> 8);
	buf_append(b, p, 2);
	if (len != 0)
		buf_append(b, s, len);
}

struct dec {
	const unsigned char *p;
	size_t left;
	int bad;
};

static uint64_t
dec_u64(struct dec *d)
{
	uint64_t v = 0;
	int i;

	if (d->left < 8) {
		d->bad = 1;
		return 0;
	}
	for (i = 0; i < 8; i++)
		v |= (uint64_t)d->p[i] << (8 * i);
	d->p += 8;
	d->left -= 8;
	return v;
}

/* A string, copied; "" if bad. */
static char *
dec_str(struct dec *d)
{
	size_t len;
	char *s;

	if (d->left < 2) {
		d->bad = 1;
		return xstrdup("");
	}
	len = (size_t)d->p[0] | (size_t)d->p[1] << 8;
	d->p += 2;
	d->left -= 2;
	if (len > d->left) {
		d->bad = 1;
		return xstrdup("");
	}
	s = xmemdup0(d->p, len);
	d->p += len;
	d->left -= len;
	return s;
}

static uint64_t
state_append(struct journal *j, int type, const struct buf *b, int live,
    int urgent, uint64_t *offset)
{
	struct iovec_c iov;

	iov.base = b->data;
	iov.len = b->len;
	return journal_append(j, type, &iov, 1, live, urgent, offset);
}

/* -- the agent's side -------------------------------------------------- */

int
state_active(void)
{
	return state_dir != NULL;
}

uint64_t
state_journal_bytes(void)
{
	return journal_bytes(state_journal);
}

const char *
state_directory(void)
{
	return state_dir;
}

/* A MSG record's fields before the message: task ID, seq, final. */
static void
state_msg_head(struct buf *head, const struct msg *m, const char *id,
    int final)
{
	buf_init(head);
	enc_str(head, id);
	enc_u64(head, m->seq);
	buf_append(head, final ? "\1" : "\0", 1);
}

/* Journals message M of task ID before it is sent (FINAL: its last). */
void
state_journal_msg(struct msg *m, const char *id, int final)
{
	struct iovec_c iov[2];
	struct buf head;

	if (state_journal == NULL)
		return;
	state_msg_head(&head, m, id, final);
	iov[0].base = head.data;
	iov[0].len = head.len;
	iov[1].base = m->data;
	iov[1].len = m->len;
	m->jseg = journal_append(state_journal, SREC_MSG, iov, 2, 1, final,
	    NULL);
	buf_free(&head);
}

/* The link that messages written ahead go to once written. */
static struct link *state_link;
/*
 * At most this much waits for the writer thread: past it, tasks stop
 * reading (link_congested), so that a disk slower than the tasks and the
 * network bounds the agent's memory, as the spool does for the network.
 * Small, too, since what waits is not yet in the journal: a SIGKILL loses
 * it, as it loses what is still in the tasks' pipes.
 */
#define STATE_AHEAD_MAX (4 * 1024 * 1024)
static int state_full;

/* True while too much waits for the journal's writer (see above). */
int
state_backlogged(void)
{
	if (!state_full &&
	    journal_queued_bytes(state_journal) > STATE_AHEAD_MAX) {
		state_full = 1;
		log_debug("journal: %llu bytes wait for the disk: pausing task "
		    "output", (unsigned long long)
		    journal_queued_bytes(state_journal));
	}
	return state_full;
}

static void
state_on_written(void *arg, void *cookie, uint64_t seg)
{
	struct msg *m = cookie;

	(void)arg;
	if (seg == 0)
		m->jseg = 0;	/* not journaled after all */
	link_send(state_link, m);
	if (state_full &&
	    journal_queued_bytes(state_journal) <= STATE_AHEAD_MAX / 2) {
		state_full = 0;
		link_resume_readers(state_link);
	}
}

/*
 * Sends M on link L: journaled first as task ID's (its last message if
 * FINAL), or, with ID NULL, not journaled.  A large message is written by
 * the journal's thread and goes to the link when written (journal.c); the
 * others queue behind such writes, so that the link gets every message in
 * the order it was made.
 */
void
state_send(struct link *l, struct msg *m, const char *id, int final)
{
	struct buf head;
	int queued;

	state_link = l;
	if (state_journal == NULL) {
		link_send(l, m);
		return;
	}
	if (id == NULL) {
		if (!journal_pass(state_journal, m))
			link_send(l, m);
		return;
	}
	state_msg_head(&head, m, id, final);
	m->jseg = journal_append_ahead(state_journal, SREC_MSG, head.data,
	    head.len, m->data, m->len, final, m, &queued);
	buf_free(&head);
	if (!queued)
		link_send(l, m);
}

/* Messages waiting for their journal write (not yet the link's). */
size_t
state_queued(void)
{
	return journal_queued(state_journal);
}

/* The server stored task ID up to SEQ: recorded, so a restart resends
 * none of it. */
void
state_journal_ack(const char *id, uint64_t seq)
{
	struct buf b;

	if (state_journal == NULL)
		return;
	buf_init(&b);
	enc_str(&b, id);
	enc_u64(&b, seq);
	state_append(state_journal, SREC_ACK, &b, 0, 0, NULL);
	buf_free(&b);
}

/* R's START record into B: the task, its seq so far, its reservation. */
static void
state_start_record(struct buf *b, const struct srun *r)
{
	buf_init(b);
	enc_str(b, r->id);
	enc_str(b, r->reply_id);
	enc_u64(b, (uint64_t)r->kind);
	enc_u64(b, (uint64_t)r->pid);
	enc_u64(b, r->start_time);
	enc_str(b, r->cgroup);
	enc_str(b, r->marker);
	enc_u64(b, r->task != NULL ? task_seq(r->task) : 0);
	enc_str(b, r->tmpfile);
	enc_u64(b, r->reserved);
	enc_str(b, r->container);
}

static void
state_write_start(struct srun *r)
{
	struct buf b;

	state_start_record(&b, r);
	/* Not synced at once: a power cut ends the task too; against the
	 * agent alone being killed, the page cache is enough. */
	r->seg = state_append(state_journal, SREC_START, &b, 1, 0, NULL);
	buf_free(&b);
}

/*
 * Task R is about to send message SEQ: past its reservation, a larger one
 * is journaled, durable before that message leaves (see above).
 */
void
state_seq_use(struct srun *r, uint64_t seq)
{
	uint64_t seg, held;
	struct buf b;

	if (r == NULL || seq <= r->reserved || state_journal == NULL)
		return;
	r->block = r->block * 2 > STATE_SEQ_BLOCK_MAX ? STATE_SEQ_BLOCK_MAX :
	    r->block * 2;
	r->reserved = seq + r->block;
	state_start_record(&b, r);
	seg = journal_append_durable(state_journal, SREC_START, b.data,
	    b.len);
	buf_free(&b);
	if (seg == 0)
		return;		/* failing: written anew when it recovers */
	/* (The append may have begun a segment, whose rotate hook wrote
	 * this record anew and moved r->seg: release what r holds now.) */
	held = r->seg;
	r->seg = seg;
	journal_release(state_journal, held);
}

/*
 * Task ID (answered as REPLY_ID, of KIND) runs as PID, in CGROUP (a path,
 * or NULL), its processes marked MARKER: recorded until it ends, so that
 * the next agent can end what this one could not.
 */
struct srun *
state_task_started(struct task *t, pid_t pid, const char *cgroup,
    const char *marker, const char *tmpfile, const char *container)
{
	const char *id = task_id(t), *reply_id = task_reply_id(t);
	int kind = (int)task_kind(t);
	struct srun *r;

	if (state_journal == NULL)
		return NULL;
	r = xcalloc(1, sizeof *r);
	r->task = t;
	r->id = xstrdup(id);
	r->reply_id = xstrdup(reply_id);
	r->kind = kind;
	r->pid = pid;
	if (compat_proc_starttime(pid, &r->start_time) != 0)
		r->start_time = 0;
	r->cgroup = xstrdup(cgroup != NULL ? cgroup : "");
	r->marker = xstrdup(marker != NULL ? marker : "");
	r->tmpfile = xstrdup(tmpfile != NULL ? tmpfile : "");
	r->container = xstrdup(container != NULL ? container : "");
	r->block = STATE_SEQ_FIRST;
	r->reserved = task_seq(t) + STATE_SEQ_FIRST;
	state_write_start(r);
	task_set_run(t, r);
	LIST_INSERT_HEAD(&state_running, r, entry);
	return r;
}

/* The strings of a START record (an srun or one read back). */
static void
state_srun_clear(struct srun *r)
{
	free(r->id);
	free(r->reply_id);
	free(r->cgroup);
	free(r->marker);
	free(r->tmpfile);
	free(r->container);
	r->id = r->reply_id = r->cgroup = r->marker = r->tmpfile = NULL;
	r->container = NULL;
}

void
state_task_ended(struct srun *r)
{
	if (r == NULL)
		return;
	if (r->task != NULL)
		task_set_run(r->task, NULL);
	LIST_REMOVE(r, entry);
	journal_release(state_journal, r->seg);
	state_srun_clear(r);
	free(r);
}

/*
 * A new journal segment, or the disk writable again after a failure:
 * running tasks' START records are written anew, so that an old segment
 * is never kept for them alone, and so that they hold each task's seq
 * (messages sent while the disk was full are in no record: a restart
 * must number the AGENT_RESTARTED final after them).
 */
static void
state_on_rotate(void *arg)
{
	struct srun *r;
	uint64_t old;

	(void)arg;
	LIST_FOREACH(r, &state_running, entry) {
		old = r->seg;
		state_write_start(r);
		if (r->seg == 0)
			r->seg = old;	/* not written: the old one stays */
		else
			journal_release(state_journal, old);
	}
}

/* -- finished tasks ---------------------------------------------------- */

static uint64_t
state_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 0x100000001b3ULL;
	return h != 0 ? h : 1;
}

static void state_index_put(uint64_t, uint64_t, uint64_t);

static void
state_index_grow(void)
{
	struct sindex_slot *old = state_index;
	size_t n = state_index_size, i;

	state_index_size = n == 0 ? 1024 : n * 2;
	state_index = xcalloc(state_index_size, sizeof *state_index);
	state_index_used = 0;
	for (i = 0; i < n; i++) {
		if (old[i].hash != 0)
			state_index_put(old[i].hash, old[i].seg,
			    old[i].offset);
	}
	free(old);
}

static void
state_index_put(uint64_t hash, uint64_t seg, uint64_t offset)
{
	size_t i;

	if ((state_index_used + 1) * 4 > state_index_size * 3)
		state_index_grow();
	for (i = hash & (state_index_size - 1); state_index[i].hash != 0;
	    i = (i + 1) & (state_index_size - 1)) {
		if (state_index[i].hash == hash) {
			/* The same ID again (or a twin hash): newest wins. */
			state_index[i].seg = seg;
			state_index[i].offset = offset;
			return;
		}
	}
	state_index[i].hash = hash;
	state_index[i].seg = seg;
	state_index[i].offset = offset;
	state_index_used++;
}

/* Rebuilds the index without the entries of segments up to CUT. */
static void
state_index_forget(uint64_t cut)
{
	struct sindex_slot *old = state_index;
	size_t n = state_index_size, i;

	state_index = xcalloc(n, sizeof *state_index);
	state_index_used = 0;
	for (i = 0; i < n; i++) {
		if (old[i].hash != 0 && old[i].seg > cut)
			state_index_put(old[i].hash, old[i].seg,
			    old[i].offset);
	}
	free(old);
}

/* Task ID's final, in a message ready to send again; NULL if unknown. */
struct msg *
state_finished_final(const char *id)
{
	uint64_t hash = state_hash(id);
	struct buf b;
	struct dec d;
	struct msg *m = NULL;
	char *got;
	size_t i;

	if (state_finished == NULL || state_index_size == 0)
		return NULL;
	for (i = hash & (state_index_size - 1); state_index[i].hash != 0;
	    i = (i + 1) & (state_index_size - 1)) {
		if (state_index[i].hash == hash)
			break;
	}
	if (state_index[i].hash != hash)
		return NULL;
	buf_init(&b);
	if (journal_read(state_finished, state_index[i].seg,
	    state_index[i].offset, &b) == SREC_FINAL) {
		d.p = (const unsigned char *)b.data + 1;
		d.left = b.len - 1;
		d.bad = 0;
		got = dec_str(&d);
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
state_task_finished(const char *id, const struct msg *final)
{
	struct iovec_c iov[2];
	struct buf head;
	uint64_t seg, offset;

	if (state_finished == NULL)
		return;
	buf_init(&head);
	enc_str(&head, id);
	iov[0].base = head.data;
	iov[0].len = head.len;
	iov[1].base = final->data;
	iov[1].len = final->len;
	seg = journal_append(state_finished, SREC_FINAL, iov, 2, 1, 0,
	    &offset);
	if (seg != 0)
		state_index_put(state_hash(id), seg, offset);
	buf_free(&head);
}

struct state_expiry {
	time_t now;
	size_t total, newer;
	uint64_t cut;		/* segments up to this go */
};

static void
state_count_segment(void *arg, uint64_t seg, size_t records, time_t newest)
{
	struct state_expiry *e = arg;

	(void)seg;
	(void)newest;
	e->total += records;
}

static void
state_expire_segment(void *arg, uint64_t seg, size_t records, time_t newest)
{
	struct state_expiry *e = arg;

	/* Older than a day, or with a million newer finals: forgotten. */
	if ((newest != 0 && e->now - newest > STATE_FINISHED_SECONDS) ||
	    e->total - e->newer - records >= STATE_FINISHED_MAX)
		e->cut = seg;
	e->newer += records;
}

/* Forgets finals older than a day or beyond the last million. */
static void
state_expire(evutil_socket_t fd, short events, void *arg)
{
	struct state_expiry e;
	uint64_t cur;

	(void)fd;
	(void)events;
	(void)arg;
	if (state_finished == NULL)
		return;
	memset(&e, 0, sizeof e);
	e.now = time(NULL);
	journal_each_segment(state_finished, state_count_segment, &e);
	journal_each_segment(state_finished, state_expire_segment, &e);
	cur = journal_current(state_finished);
	if (e.cut != 0 && e.cut != cur)
		state_index_forget(e.cut);
	for (; e.cut != 0; e.cut--) {
		if (e.cut != cur)
			journal_drop(state_finished, e.cut);
	}
	timer_add_ms(state_expire_timer, 600 * 1000);
}

static void
state_read_finished(void *arg, const struct jrec *r)
{
	struct dec d;
	char *id;

	(void)arg;
	if (r->type != SREC_FINAL)
		return;
	d.p = r->data;
	d.left = r->len;
	d.bad = 0;
	id = dec_str(&d);
	if (!d.bad) {
		state_index_put(state_hash(id), r->seg, r->offset);
		journal_retain(state_finished, r->seg);
	}
	free(id);
}

/* -- start-up ---------------------------------------------------------- */

/* Makes DIR (0700) and any missing parent (0755), as install -d would. */
static int
state_mkdir(const char *dir)
{
	char *copy, *p;
	int rc;

	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	copy = xstrdup(dir);
	for (p = copy + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
			free(copy);
			return -1;
		}
		*p = '/';
	}
	free(copy);
	rc = mkdir(dir, 0700);
	return rc == 0 || errno == EEXIST ? 0 : -1;
}

/*
 * DIR (whose stat is SB) must be the agent's user's own and writable by
 * nobody else.  Returns 0, or -1 with *cause naming the problem and the
 * fix.
 */
static int
state_check_owner(const char *dir, const struct stat *sb, char **cause)
{
	if (sb->st_uid != geteuid()) {
		xasprintf(cause, "state directory %s is owned by uid %lu, not "
		    "by the agent's user (uid %lu): chown %lu %s, or choose "
		    "another with --state-dir", dir, (unsigned long)sb->st_uid,
		    (unsigned long)geteuid(), (unsigned long)geteuid(), dir);
		return -1;
	}
	if (sb->st_mode & (S_IWGRP | S_IWOTH)) {
		xasprintf(cause, "state directory %s is writable by other "
		    "users (mode %03o), who could make the agent kill "
		    "processes and remove files: chmod 700 %s", dir,
		    (unsigned)(sb->st_mode & 0777), dir);
		return -1;
	}
	return 0;
}

/* DIR/NAME, if it exists, must be a real directory, held as DIR is. */
static int
state_check_subdir(const char *dir, const char *name, char **cause)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (lstat(path, &sb) != 0)
		return 0;	/* made 0700 by the journal */
	if (!S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "%s is not a directory (%s): remove it, the "
		    "agent makes it again", path, S_ISLNK(sb.st_mode) ?
		    "a symbolic link" : "another kind of file");
		return -1;
	}
	return state_check_owner(path, &sb, cause);
}

/* The lock: one agent per directory, released by the kernel at death. */
static int
state_lock(const char *dir, char **cause)
{
	struct stat sb;
	struct flock fl;
	char path[4096], pid[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC, 0600)) == -1) {
		xasprintf(cause, "%s: %s%s", path, strerror(errno),
		    errno == ELOOP ? " (a symbolic link: remove it)" : "");
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		xasprintf(cause, "%s is not a regular file: remove it, the "
		    "agent makes it again", path);
		close(fd);
		return -1;
	}
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		n = pread(fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		xasprintf(cause, "state directory %s is in use by another agent"
		    "%s%s%s", dir, *pid != '\0' ? " (pid " : "", pid,
		    *pid != '\0' ? ")" : "");
		close(fd);
		return -1;
	}
	snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
		log_warn("%s: %s", path, strerror(errno));
	state_lock_fd = fd;
	return 0;
}

/*
 * Opens state directory DIR (created 0700).  EXPLICIT: it was named, so
 * that one that cannot be used is an error (status 2); the default that
 * cannot be made (an uninstalled build run by a user) means memory only,
 * with a warning.  Returns 0, or -1 with *cause set.
 */
int
state_open(struct event_base *base, const char *dir, int explicit,
    char **cause)
{
	char path[4096];
	struct stat sb;

	*cause = NULL;
	if (dir == NULL || *dir == '\0' || strcmp(dir, "none") == 0) {
		log_info("no state directory (--state-dir none): output not "
		    "yet delivered and the memory of finished tasks are lost "
		    "if the agent is killed");
		return 0;
	}
	if (state_mkdir(dir) != 0) {
		if (explicit) {
			xasprintf(cause, "cannot create the state directory "
			    "%s: %s", dir, strerror(errno));
			return -1;
		}
		log_warn("cannot create the state directory %s: %s: running "
		    "from memory only (--state-dir DIR to choose one)", dir,
		    strerror(errno));
		return 0;
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
	    access(dir, W_OK | X_OK) != 0) {
		if (explicit) {
			xasprintf(cause, "state directory %s: %s", dir,
			    stat(dir, &sb) != 0 || S_ISDIR(sb.st_mode) ?
			    strerror(errno) : "not a directory");
			return -1;
		}
		log_warn("state directory %s is not usable: running from "
		    "memory only", dir);
		return 0;
	}
	/* Whoever can write here can make a root agent kill processes and
	 * remove files (recovery acts on what the records say): refused, as
	 * sshd's StrictModes does, never "warned and used". */
	if (state_check_owner(dir, &sb, cause) != 0 ||
	    state_check_subdir(dir, "journal", cause) != 0 ||
	    state_check_subdir(dir, "finished", cause) != 0)
		return -1;
	if (state_lock(dir, cause) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/journal", dir);
	if ((state_journal = journal_open(base, path, "journal",
	    STATE_JOURNAL_SEGMENT, cause)) == NULL)
		return -1;
	snprintf(path, sizeof path, "%s/finished", dir);
	if ((state_finished = journal_open(base, path, "finished tasks",
	    STATE_FINISHED_SEGMENT, cause)) == NULL)
		return -1;
	if (journal_replay(state_finished, state_read_finished, NULL,
	    cause) != 0)
		return -1;
	journal_replay_done(state_finished);
	state_dir = xstrdup(dir);
	state_expire_timer = evtimer_new(base, state_expire, NULL);
	if (state_expire_timer == NULL)
		fatalx("cannot create a timer");
	state_expire(-1, 0, NULL);
	journal_on_rotate(state_journal, state_on_rotate, NULL);
	journal_on_written(state_journal, state_on_written, NULL);
	log_info("state directory %s: %zu finished tasks remembered", dir,
	    state_index_used);
	return 0;
}

/* -- recovery ---------------------------------------------------------- */

struct rmsg {
	TAILQ_ENTRY(rmsg) entry;
	struct rtask *rt;
	uint64_t seq, seg;
	struct msg *m;
};
TAILQ_HEAD(rmsg_list, rmsg);

struct rtask {
	RB_ENTRY(rtask) entry;
	char *id;
	uint64_t max_seq, acked;
	int final;		/* its final message is journaled */
	int started;		/* a START record */
	int left;		/* running when the previous agent died */
	int killed;		/* ... and something of it was still there */
	struct srun run;	/* ... its fields */
	struct msg *final_msg;
	struct msg *stored;	/* its final, found only in finished/ */
};
RB_HEAD(rtask_tree, rtask);

static int
rtask_cmp(struct rtask *a, struct rtask *b)
{
	return strcmp(a->id, b->id);
}

RB_PROTOTYPE(rtask_tree, rtask, entry, rtask_cmp)
RB_GENERATE(rtask_tree, rtask, entry, rtask_cmp)

struct replay {
	struct rtask_tree tasks;
	struct rmsg_list msgs;
	size_t n_msgs, n_bad;
};

static struct rtask *
replay_task(struct replay *rp, char *id)
{
	struct rtask key, *rt;

	key.id = id;
	if ((rt = RB_FIND(rtask_tree, &rp->tasks, &key)) != NULL) {
		free(id);
		return rt;
	}
	rt = xcalloc(1, sizeof *rt);
	rt->id = id;
	RB_INSERT(rtask_tree, &rp->tasks, rt);
	return rt;
}

static void
state_read_journal(void *arg, const struct jrec *r)
{
	struct replay *rp = arg;
	struct rtask *rt;
	struct rmsg *rm;
	struct dec d;
	uint64_t seq, reserved;
	int final;

	d.p = r->data;
	d.left = r->len;
	d.bad = 0;
	switch (r->type) {
	case SREC_MSG:
		rt = replay_task(rp, dec_str(&d));
		seq = dec_u64(&d);
		if (d.bad || d.left < 1) {
			rp->n_bad++;
			return;
		}
		final = d.p[0];
		d.p++;
		d.left--;
		rm = xcalloc(1, sizeof *rm);
		rm->rt = rt;
		rm->seq = seq;
		rm->seg = r->seg;
		rm->m = msg_new(d.left);
		memcpy(rm->m->data, d.p, d.left);
		rm->m->seq = seq;
		TAILQ_INSERT_TAIL(&rp->msgs, rm, entry);
		rp->n_msgs++;
		if (seq > rt->max_seq)
			rt->max_seq = seq;
		if (final) {
			rt->final = 1;
			msg_free(rt->final_msg);
			rt->final_msg = msg_new(d.left);
			memcpy(rt->final_msg->data, d.p, d.left);
		}
		break;
	case SREC_ACK:
		rt = replay_task(rp, dec_str(&d));
		seq = dec_u64(&d);
		if (!d.bad && seq > rt->acked)
			rt->acked = seq;
		break;
	case SREC_START:
		rt = replay_task(rp, dec_str(&d));
		state_srun_clear(&rt->run);	/* a later copy wins */
		rt->run.reply_id = dec_str(&d);
		rt->run.kind = (int)dec_u64(&d);
		rt->run.pid = (int64_t)dec_u64(&d);
		rt->run.start_time = dec_u64(&d);
		rt->run.cgroup = dec_str(&d);
		rt->run.marker = dec_str(&d);
		seq = dec_u64(&d);
		rt->run.tmpfile = dec_str(&d);
		/* (Absent from an older agent's records.) */
		reserved = d.left != 0 ? dec_u64(&d) : 0;
		rt->run.container = d.left != 0 ? dec_str(&d) : xstrdup("");
		if (!d.bad) {
			rt->started = 1;
			if (seq > rt->max_seq)
				rt->max_seq = seq;
			if (reserved > rt->run.reserved)
				rt->run.reserved = reserved;
		}
		break;
	default:
		rp->n_bad++;
		break;
	}
}

/* Waits (at start, before the loop runs) for a cgroup to empty. */
static int
state_kill_cgroup(const char *path)
{
	int fd, waited = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	while (compat_cgroup_populated(fd) == 1 &&
	    waited < STATE_KILL_WAIT_MS) {
		compat_cgroup_signal(fd, SIGKILL);
		usleep(10000);
		waited += 10;
	}
	close(fd);
	if (rmdir(path) != 0 && errno != ENOENT)
		log_debug("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/*
 * An upload's partial file, as recorded: removed only beneath a file root
 * and only if it carries the agent's own naming and is a regular file.
 */
static int
state_remove_tmpfile(const struct agent *a, const struct rtask *rt)
{
	enum fail_reason reason;
	const char *name;
	char *why = NULL;
	struct stat sb;
	int fd, removed = 0;

	if ((fd = files_open_parent(a->opts, rt->run.tmpfile, &name, &why,
	    &reason)) == -1) {
		log_warn("task %s: its recorded partial upload %s is not "
		    "beneath --file-roots: left alone (%s)", rt->id,
		    rt->run.tmpfile, why);
		free(why);
		return 0;
	}
	if (!files_is_temp_name(name))
		log_warn("task %s: its recorded partial upload %s is not named "
		    "as the agent names them: left alone", rt->id,
		    rt->run.tmpfile);
	else if (fstatat(fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode) && unlinkat(fd, name, 0) == 0) {
		log_info("task %s: its partial upload %s is removed", rt->id,
		    rt->run.tmpfile);
		removed = 1;
	}
	close(fd);
	return removed;
}

/*
 * Ends what is left of task RT of the previous run: true if any was.  A
 * record is input like any other (whoever wrote it): a cgroup is killed
 * only beneath the agent's cgroup root, a process only if its pid, its
 * start time and its task's marker all match.
 */
static int
state_kill_leftover(const struct agent *a, const struct rtask *rt)
{
	const char *marker;
	uint64_t start;
	int killed = 0, in_cgroup = 0;

	if (*rt->run.cgroup != '\0') {
		if (!compat_cgroup_ours(rt->run.cgroup))
			log_warn("task %s: its recorded cgroup %s is not "
			    "beneath the agent's cgroup root: left alone",
			    rt->id, rt->run.cgroup);
		else if (state_kill_cgroup(rt->run.cgroup) == 0)
			killed = in_cgroup = 1;
	}
	/* Its container outlives the CLI: stopped and removed before the
	 * task is reported. */
	if (*rt->run.container != '\0' &&
	    task_docker_remove_now(a->opts, rt->run.container,
	    STATE_DOCKER_WAIT_S) == 0) {
		log_info("task %s: its container %s is removed", rt->id,
		    rt->run.container);
		killed = 1;
	}
	if (*rt->run.tmpfile != '\0' && state_remove_tmpfile(a, rt))
		killed = 1;
	/* Only the very process that was started: a pid is reused. */
	if (!in_cgroup && rt->run.pid > 0 && rt->run.start_time != 0 &&
	    *rt->run.marker != '\0' &&
	    compat_proc_starttime((pid_t)rt->run.pid, &start) == 0 &&
	    start == rt->run.start_time &&
	    (marker = compat_proc_getenv((pid_t)rt->run.pid,
	    PROC_MARKER "=")) != NULL && strcmp(marker, rt->run.marker) == 0) {
		kill(-(pid_t)rt->run.pid, SIGKILL);
		kill((pid_t)rt->run.pid, SIGKILL);
		killed = 1;
	}
	return killed;
}

/* The final of a task the agent's death interrupted. */
static struct msg *
state_restarted_final(const struct rtask *rt)
{
	struct response r;

	memset(&r, 0, sizeof r);
	r.agent_id = rt->run.reply_id;
	r.task_id = rt->id;
	r.seq = rt->max_seq + 1;
	r.docker = rt->run.kind == TASK_KIND_DOCKER;
	r.status = STATUS_FAILURE;
	r.is_final = 1;
	r.exit_code = 1;
	r.reason = REASON_AGENT_RESTARTED;
	r.stream = OUTPUT_STDERR;
	r.text = "the agent restarted while the task was running\n";
	r.text_len = strlen(r.text);
	return wire_encode_response(&r);
}

/*
 * Reads the journal back and puts right what the previous agent left:
 * its tasks' processes killed, their AGENT_RESTARTED finals and every
 * message not acknowledged queued for the server (through SEND).  Runs
 * before the agent connects.
 */
void
state_recover(struct agent *a, void (*send)(struct agent *, struct msg *))
{
	struct replay rp;
	struct rtask *rt, *next;
	struct rmsg *rm;
	struct task *t;
	struct msg *m;
	char *cause, **markers = NULL;
	struct rtask **owners = NULL;
	int *hits;
	size_t n_left = 0, n_markers = 0, n_sent = 0, i;

	if (state_journal == NULL)
		return;
	RB_INIT(&rp.tasks);
	TAILQ_INIT(&rp.msgs);
	rp.n_msgs = rp.n_bad = 0;
	if (journal_replay(state_journal, state_read_journal, &rp,
	    &cause) != 0) {
		log_error("journal: %s: going on without it", cause);
		free(cause);
		journal_close(state_journal);
		state_journal = NULL;
		return;
	}
	if (rp.n_bad != 0)
		log_warn("journal: %zu records not understood, skipped",
		    rp.n_bad);

	/* Tasks running when the previous agent died (a START record whose
	 * final went with an older segment is no such task). */
	RB_FOREACH(rt, rtask_tree, &rp.tasks) {
		if (rt->started && !rt->final &&
		    (m = state_finished_final(rt->id)) != NULL) {
			/* It finished, but its final's journal record was
			 * still queued for the writer when the agent died
			 * (never sent, then): it goes now, from finished/. */
			rt->final = 1;
			rt->stored = m;
		}
		if (!rt->started || rt->final)
			continue;
		n_left++;
		rt->left = 1;
		rt->killed = state_kill_leftover(a, rt);
		/* Without its cgroup, what carries its marker: the
		 * escapees of its process group (a container's removal
		 * ends no process of the host). */
		if (*rt->run.marker != '\0' && (*rt->run.cgroup == '\0' ||
		    !compat_cgroup_ours(rt->run.cgroup))) {
			markers = xreallocarray(markers, n_markers + 1,
			    sizeof *markers);
			owners = xreallocarray(owners, n_markers + 1,
			    sizeof *owners);
			owners[n_markers] = rt;
			markers[n_markers++] = rt->run.marker;
		}
	}
	if (n_markers != 0) {
		hits = xcalloc(n_markers, sizeof *hits);
		compat_proc_kill_marked(PROC_MARKER, markers, n_markers, hits);
		for (i = 0; i < n_markers; i++)
			owners[i]->killed |= hits[i];
		free(hits);
	}
	free(markers);
	free(owners);
	RB_FOREACH(rt, rtask_tree, &rp.tasks)
		if (rt->left)
			log_warn("task %s was running (%s %lld) when the "
			    "previous agent stopped: %s; reported as "
			    "AGENT_RESTARTED", rt->id, rt->run.pid > 0 ? "pid" :
			    "a transfer, no process", (long long)rt->run.pid,
			    rt->killed ? "its processes are killed" : "none of "
			    "its processes is left");

	/* What the server has not acknowledged goes again, as it was. */
	while ((rm = TAILQ_FIRST(&rp.msgs)) != NULL) {
		TAILQ_REMOVE(&rp.msgs, rm, entry);
		rt = rm->rt;
		if (rm->seq <= rt->acked) {
			msg_free(rm->m);
			free(rm);
			continue;
		}
		t = task_restore(a, rt->id, rt->run.reply_id,
		    rt->run.kind, rt->max_seq, rt->final_msg);
		m = rm->m;
		m->ts = tstream_ref(task_stream(t));
		m->jseg = rm->seg;
		journal_retain(state_journal, rm->seg);
		send(a, m);
		n_sent++;
		free(rm);
	}
	/* Only now may the old segments whose records are all done go. */
	journal_replay_done(state_journal);
	/* ... and the leftovers' finals after their output. */
	RB_FOREACH(rt, rtask_tree, &rp.tasks) {
		if (rt->stored != NULL) {
			log_info("task %s: its final message is not in the "
			    "journal (the agent stopped before writing it): "
			    "sent from the finished tasks", rt->id);
			m = rt->stored;
			rt->stored = NULL;
			m->seq = rt->max_seq + 1;	/* (at least) */
			t = task_restore(a, rt->id, rt->run.reply_id,
			    rt->run.kind, m->seq, m);
			m->ts = tstream_ref(task_stream(t));
			state_journal_msg(m, rt->id, 1);
			send(a, m);
			n_sent++;
			continue;
		}
		if (!rt->started || rt->final)
			continue;
		/* Past every seq the previous agent may have used, whether
		 * or not its records survived. */
		if (rt->run.reserved > rt->max_seq)
			rt->max_seq = rt->run.reserved;
		m = state_restarted_final(rt);
		m->seq = rt->max_seq + 1;
		t = task_restore(a, rt->id, rt->run.reply_id, rt->run.kind,
		    rt->max_seq + 1, m);
		m->ts = tstream_ref(task_stream(t));
		state_journal_msg(m, rt->id, 1);
		state_task_finished(rt->id, m);
		send(a, m);
	}
	RB_FOREACH_SAFE(rt, rtask_tree, &rp.tasks, next) {
		RB_REMOVE(rtask_tree, &rp.tasks, rt);
		free(rt->id);
		state_srun_clear(&rt->run);
		msg_free(rt->final_msg);
		msg_free(rt->stored);
		free(rt);
	}
	if (rp.n_msgs != 0 || n_left != 0)
		log_info("journal: %zu messages not acknowledged will be sent "
		    "again; %zu tasks were interrupted", n_sent, n_left);
}

/*
 * Agent exit: everything synced and closed; the lock goes with the fd.
 * What is still in the journal (messages never acknowledged, tasks that
 * did not end) stays there for the next start.
 */
void
state_close(void)
{
	struct srun *r;

	while ((r = LIST_FIRST(&state_running)) != NULL) {
		LIST_REMOVE(r, entry);
		if (r->task != NULL)
			task_set_run(r->task, NULL);
		state_srun_clear(r);
		free(r);
	}
	journal_close(state_journal);
	journal_close(state_finished);
	state_journal = state_finished = NULL;
	if (state_expire_timer != NULL)
		event_free(state_expire_timer);
	state_expire_timer = NULL;
	free(state_index);
	state_index = NULL;
	state_index_size = state_index_used = 0;
	if (state_lock_fd != -1)
		close(state_lock_fd);
	state_lock_fd = -1;
	free(state_dir);
	state_dir = NULL;
}
