/*
 * journal.c: an append-only log in segment files, with checksummed records
 * (the state directory's journal and finished-task store use it: state.c).
 *
 * A record is: its length (4 bytes, little-endian, counting the type and
 * payload), its CRC-32C (4 bytes, over the type and payload), a type byte
 * and the payload.  Records are appended to the current segment,
 * <dir>/<16 hex digits>.seg, with one write(2) each, so that a record is in
 * the kernel's hands before the message it holds is sent: a SIGKILL or an
 * OOM kill loses nothing that was sent.  fdatasync() makes them survive a
 * power cut too; it is batched, at most JOURNAL_SYNC_MS after a write, and
 * at the end of the loop pass that wrote a record marked urgent (a final
 * message).  The sync itself runs in a thread of the journal's own, on a
 * duplicate of the segment's descriptor that the thread owns (one per
 * segment, made when the segment is): a slow disk can take hundreds of
 * milliseconds, which the loop must never wait for.  So does the sync of
 * the directory that makes a new segment's name durable.
 *
 * A replaced segment gets its last sync with the next batch, not at once,
 * and none if it dies first: a fast task fills a segment in tens of
 * milliseconds, and with a server that acknowledges (or a resend window
 * that moves on) most of it is dead before 100 ms pass.  A dead segment's
 * file is unlinked and its descriptors closed, and the kernel drops its
 * pages without ever writing them: the disk sees only what was still live
 * at a sync.
 *
 * A segment is replaced by a new one past a size; one that holds no live
 * record any more (every message acknowledged or out of the resend
 * window, every task ended) is deleted, so the directory does not grow.
 * Callers count what is live in each segment: journal_retain() and
 * journal_release().
 *
 * Reading back (journal_replay) skips a record whose length or checksum is
 * wrong up to the next intact one; a power cut mid-write leaves a torn
 * record at the end of the last segment, which is logged, dropped, and
 * the file cut there.  Only regular files are read or written, never
 * through a symbolic link and never waiting on a FIFO.
 * When a write fails (ENOSPC, EIO) the partial record is cut off too, the
 * failure is logged once, and appends are skipped (the agent works from
 * memory) until JOURNAL_RETRY_MS later, when the disk is tried again.
 *
 * Writing ahead (journal_append_ahead): a large record, a fast task's
 * output, is written by the journal's thread, not the loop, and its
 * caller learns when (the written hook, on the loop, in order): the
 * message it holds is sent then.  The loop goes on reading and framing
 * meanwhile, on the other CPU.  Everything about the record but the write
 * (its segment, its offset, what is live) is settled on the loop when it
 * is queued, so the thread only checksums and writes, in order.  While
 * any such write is queued, every record (and every message sent without
 * one: a pass) queues behind it, so records stay in order in their
 * segment and messages reach the link in the order they were made.  A
 * small record with nothing queued is written at once by the loop, as
 * before: a dispatch's few small messages never wait for a thread.
 */

#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "compat/tree.h"

#define JOURNAL_SYNC_MS 100
#define JOURNAL_RETRY_MS 5000
#define JOURNAL_HEADER 8
#define JOURNAL_IOV_MAX 8
/* Records from this size up are written by the journal's thread. */
#define JOURNAL_AHEAD_MIN (32 * 1024)
/* A record longer than this is not one: the length is garbage. */
#define JOURNAL_RECORD_MAX (64 * 1024 * 1024)
/* Bytes a resync past a corrupt record may checksum, at most. */
#define JOURNAL_RESYNC_BUDGET (256 * 1024 * 1024)

struct jseg {
	RB_ENTRY(jseg) entry;
	uint64_t id;
	uint64_t bytes;
	size_t live;
	size_t records;
	time_t newest;		/* when its last record was written */
	size_t queued;		/* records the writer thread has yet to write */
	int fd;			/* replaced, kept open for them, or -1 */
	int sync_fd;		/* replaced, its last sync not asked yet:
				   the sync thread's descriptor, else -1 */
};
RB_HEAD(jseg_tree, jseg);

/* A descriptor for the sync thread to close, after a last sync or not. */
struct jclose {
	int fd;
	int sync;
};

/* Work for the journal's thread, in order. */
enum jop_kind {
	JOP_WRITE,	/* a record, then the written hook */
	JOP_PASS	/* no record: the written hook, in its turn */
};
struct jop {
	STAILQ_ENTRY(jop) entry;
	enum jop_kind kind;
	int fd;			/* its segment's (the loop keeps it open) */
	int urgent;		/* sync once written */
	int durable;		/* synced before the written hook and before
				   anything queued behind it goes on */
	int live;
	uint64_t seg, at;
	size_t len;		/* header and payload */
	int failed;		/* set by the thread */
	int error;
	int recovered;		/* the first since a failure */
	void *cookie;		/* for the written hook, or NULL */
	const void *big;	/* the caller's, valid until written */
	size_t big_len;
	size_t small_len;
	unsigned char head[JOURNAL_HEADER + 1];
	unsigned char small[];	/* copied */
};
STAILQ_HEAD(jop_queue, jop);

struct journal {
	char *dir;
	char *what;		/* for messages: "journal" */
	struct event_base *base;
	struct jseg_tree segs;
	struct jseg *cur;
	int fd;			/* the current segment's, or -1 */
	uint64_t seg_max;
	uint64_t bytes;		/* in all segments */
	int dirty;		/* written since the last sync */
	int failing;		/* a write failed: skipping until retry */
	int failed;		/* ... and none has succeeded since */
	int cur_broken;		/* a write ahead to it failed: replace it */
	int in_hook;
	struct event *sync_timer;
	struct event *sync_now;
	size_t n_replaced;	/* segments with a sync_fd */
	/* The sync thread's, under sync_lock: the current segment's
	 * descriptor, those of segments replaced (synced once more, or not
	 * if dead, then closed: only this thread closes them), and the
	 * directory's. */
	pthread_t sync_thread;
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cond;
	int sync_cur;
	int sync_wanted;
	struct jclose *sync_old;
	size_t n_sync_old, sync_old_size;
	int sync_dir_fd;
	int sync_dir;
	int sync_stop;
	/* The writer thread's, under write_lock: records to write and
	 * passes, in order; those done, for the loop; a segment a write
	 * to failed, whose later records are skipped. */
	pthread_t write_thread;
	int write_started;		/* the loop's */
	pthread_mutex_t write_lock;
	pthread_cond_t write_cond;
	struct jop_queue ops;
	struct jop_queue done;
	uint64_t broken_seg;
	int write_stop;
	/* The loop's: */
	size_t queued;			/* ops queued and not yet done */
	uint64_t queued_bytes;		/* ... their records' bytes */
	struct event *written_ev;
	void (*written)(void *, void *, uint64_t);
	void *written_arg;
	struct event *retry_timer;
	void (*rotated)(void *);	/* a new segment began */
	void *rotated_arg;
	uint64_t syncs;
};

static int
jseg_cmp(struct jseg *a, struct jseg *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

/* (Not _STATIC: libbsd's spelling of that does not compile.) */
RB_PROTOTYPE(jseg_tree, jseg, entry, jseg_cmp)
RB_GENERATE(jseg_tree, jseg, entry, jseg_cmp)

static void *journal_write_main(void *);
static void journal_on_ahead(evutil_socket_t, short, void *);

static void
journal_path(const struct journal *j, uint64_t id, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%016llx.seg", j->dir, (unsigned long long)id);
}

static struct jseg *
journal_seg(struct journal *j, uint64_t id)
{
	struct jseg key, *s;

	key.id = id;
	if ((s = RB_FIND(jseg_tree, &j->segs, &key)) != NULL)
		return s;
	s = xcalloc(1, sizeof *s);
	s->id = id;
	s->fd = -1;
	s->sync_fd = -1;
	RB_INSERT(jseg_tree, &j->segs, s);
	return s;
}

/* The sync thread: fdatasync what is asked for, never on the loop. */
static void *
journal_sync_main(void *arg)
{
	struct journal *j = arg;
	struct jclose old;
	int fd;

	pthread_mutex_lock(&j->sync_lock);
	for (;;) {
		while (!j->sync_wanted && j->n_sync_old == 0 && !j->sync_dir &&
		    !j->sync_stop)
			pthread_cond_wait(&j->sync_cond, &j->sync_lock);
		if (j->n_sync_old != 0) {
			old = j->sync_old[0];
			memmove(j->sync_old, j->sync_old + 1,
			    --j->n_sync_old * sizeof *j->sync_old);
			pthread_mutex_unlock(&j->sync_lock);
			if (old.sync)
				(void)compat_datasync(old.fd);
			close(old.fd);
			pthread_mutex_lock(&j->sync_lock);
			continue;
		}
		if (j->sync_dir) {
			/* New segments' names. */
			j->sync_dir = 0;
			fd = j->sync_dir_fd;
			pthread_mutex_unlock(&j->sync_lock);
			if (fd != -1)
				(void)fsync(fd);
			pthread_mutex_lock(&j->sync_lock);
			continue;
		}
		if (!j->sync_wanted)
			break;	/* stopping, nothing left */
		j->sync_wanted = 0;
		fd = j->sync_cur;
		pthread_mutex_unlock(&j->sync_lock);
		/* (A replaced segment's descriptor is closed only by this
		 * thread, later: FD stays valid.) */
		if (fd != -1 && compat_datasync(fd) != 0)
			log_warnx("%s: cannot sync %s: %s", j->what, j->dir,
			    strerror(errno));
		pthread_mutex_lock(&j->sync_lock);
	}
	pthread_mutex_unlock(&j->sync_lock);
	return NULL;
}

/* A sync within JOURNAL_SYNC_MS, batched with whatever comes meanwhile. */
static void
journal_sync_soon(struct journal *j)
{
	if (!evtimer_pending(j->sync_timer, NULL))
		timer_add_ms(j->sync_timer, JOURNAL_SYNC_MS);
}

/* Gives the sync thread descriptor FD to close, synced first if SYNC
 * (called with sync_lock held). */
static void
journal_hand_over(struct journal *j, int fd, int sync)
{
	if (j->n_sync_old == j->sync_old_size) {
		j->sync_old_size = j->sync_old_size * 2 + 8;
		j->sync_old = xreallocarray(j->sync_old, j->sync_old_size,
		    sizeof *j->sync_old);
	}
	j->sync_old[j->n_sync_old].fd = fd;
	j->sync_old[j->n_sync_old].sync = sync;
	j->n_sync_old++;
}

/* Asks the sync thread for a sync of the current segment, and the last
 * one of the segments replaced since the last time. */
static void
journal_sync(struct journal *j)
{
	struct jseg *s;

	if ((!j->dirty || j->fd == -1) && j->n_replaced == 0)
		return;
	pthread_mutex_lock(&j->sync_lock);
	if (j->n_replaced != 0) {
		RB_FOREACH(s, jseg_tree, &j->segs) {
			/* (With records still to be written: once they
			 * are, journal_written asks again.) */
			if (s->sync_fd == -1 || s->queued != 0)
				continue;
			journal_hand_over(j, s->sync_fd, 1);
			s->sync_fd = -1;
			j->n_replaced--;
		}
	}
	if (j->dirty && j->fd != -1) {
		j->dirty = 0;
		j->syncs++;
		j->sync_wanted = 1;
	}
	pthread_cond_signal(&j->sync_cond);
	pthread_mutex_unlock(&j->sync_lock);
}

/*
 * A new segment: the thread gets its descriptor; the replaced one (OLD,
 * if any) keeps the thread's for its last sync with the next batch, and
 * the directory is synced with it.
 */
static void
journal_sync_segment(struct journal *j, int fd, struct jseg *old)
{
	int dup_fd;

	if ((dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1)
		log_warnx("%s: no descriptor for the sync thread: %s", j->what,
		    strerror(errno));
	pthread_mutex_lock(&j->sync_lock);
	if (old != NULL && j->sync_cur != -1) {
		old->sync_fd = j->sync_cur;
		j->n_replaced++;
	} else if (j->sync_cur != -1)
		journal_hand_over(j, j->sync_cur, 1);
	j->sync_cur = dup_fd;
	j->sync_dir = 1;
	pthread_cond_signal(&j->sync_cond);
	pthread_mutex_unlock(&j->sync_lock);
	journal_sync_soon(j);
}

static void
journal_on_sync(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	journal_sync(arg);
}

static void
journal_on_retry(evutil_socket_t fd, short events, void *arg)
{
	struct journal *j = arg;

	(void)fd;
	(void)events;
	j->failing = 0;		/* the next append tries the disk again */
	/* Running tasks' records now, rather than at the next message. */
	if (j->failed && j->rotated != NULL && !j->in_hook) {
		j->in_hook = 1;
		j->rotated(j->rotated_arg);
		j->in_hook = 0;
	}
}

/* Deletes segment S (not the current one) once nothing in it is live. */
static void
journal_drop_if_dead(struct journal *j, struct jseg *s)
{
	char path[4096];

	/* Nothing goes while writes are queued: what released a record may
	 * have queued the one that replaces it (a task's final, a START
	 * rewritten), and a crash before it is written must find the old.
	 * (journal_on_ahead looks again once the queue is empty.) */
	if (s == j->cur || s->live != 0 || s->queued != 0 || j->queued != 0)
		return;
	if (s->fd != -1)
		close(s->fd);
	journal_path(j, s->id, path, sizeof path);
	if (unlink(path) != 0 && errno != ENOENT)
		log_warnx("%s: cannot remove %s: %s", j->what, path,
		    strerror(errno));
	if (s->sync_fd != -1) {
		/* Dead before its last sync: none.  (The thread closes it:
		 * it may be syncing it as the current segment still.) */
		pthread_mutex_lock(&j->sync_lock);
		journal_hand_over(j, s->sync_fd, 0);
		pthread_cond_signal(&j->sync_cond);
		pthread_mutex_unlock(&j->sync_lock);
		s->sync_fd = -1;
		j->n_replaced--;
	}
	j->bytes -= s->bytes;
	RB_REMOVE(jseg_tree, &j->segs, s);
	free(s);
}

/* Starts segment ID as the current one. */
static int
journal_begin(struct journal *j, uint64_t id, char **cause)
{
	struct jseg *old = j->cur;
	struct stat sb;
	char path[4096];
	int fd;

	journal_path(j, id, path, sizeof path);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (j->fd == -1)
		old = NULL;
	else if (old != NULL && old->queued != 0)
		old->fd = j->fd;	/* the writer thread's records */
	else
		close(j->fd);
	j->fd = fd;
	j->cur = journal_seg(j, id);
	journal_sync_segment(j, fd, old);
	return 0;
}

/*
 * Opens the journal in DIR (created 0700), whose segments are replaced
 * past SEG_MAX bytes.  Returns it, or NULL with *cause set.
 */
struct journal *
journal_open(struct event_base *base, const char *dir, const char *what,
    uint64_t seg_max, char **cause)
{
	struct journal *j;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		xasprintf(cause, "cannot create %s: %s", dir, strerror(errno));
		return NULL;
	}
	j = xcalloc(1, sizeof *j);
	j->dir = xstrdup(dir);
	j->what = xstrdup(what);
	j->base = base;
	RB_INIT(&j->segs);
	j->fd = -1;
	j->seg_max = seg_max;
	j->sync_timer = evtimer_new(base, journal_on_sync, j);
	j->sync_now = event_new(base, -1, 0, journal_on_sync, j);
	j->retry_timer = evtimer_new(base, journal_on_retry, j);
	if (j->sync_timer == NULL || j->sync_now == NULL ||
	    j->retry_timer == NULL)
		fatalx("cannot create the %s's timers", what);
	pthread_mutex_init(&j->sync_lock, NULL);
	pthread_cond_init(&j->sync_cond, NULL);
	j->sync_cur = -1;
	pthread_mutex_init(&j->write_lock, NULL);
	pthread_cond_init(&j->write_cond, NULL);
	STAILQ_INIT(&j->ops);
	STAILQ_INIT(&j->done);
	j->written_ev = event_new(base, -1, 0, journal_on_ahead, j);
	if (j->written_ev == NULL)
		fatalx("cannot create the %s's events", what);
	(void)crc32c(0, "", 0);	/* its tables made here, not in a thread */
	/* The new segments' names must survive a power cut too. */
	j->sync_dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pthread_create(&j->sync_thread, NULL, journal_sync_main, j) != 0)
		fatalx("cannot start the %s's sync thread", what);
	return j;
}

void
journal_on_rotate(struct journal *j, void (*fn)(void *), void *arg)
{
	j->rotated = fn;
	j->rotated_arg = arg;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* The length of the record at DATA (LEFT bytes on) if one of it fits, or
 * 0: a length that cannot be one. */
static uint32_t
journal_fitting_len(const unsigned char *data, size_t left)
{
	uint32_t len;

	if (left < JOURNAL_HEADER + 1)
		return 0;
	len = get32(data);
	return len <= JOURNAL_RECORD_MAX && len <= left - JOURNAL_HEADER ?
	    len : 0;
}

/* True if a whole, intact record starts at DATA (LEFT bytes on); with a
 * BUDGET, checksumming at most that many bytes (it is spent). */
static int
journal_record_at(const unsigned char *data, size_t left, uint32_t *len,
    uint64_t *budget)
{
	if ((*len = journal_fitting_len(data, left)) == 0)
		return 0;
	if (budget != NULL) {
		if (*len > *budget)
			return 0;
		*budget -= *len;
	}
	return crc32c(0, data + JOURNAL_HEADER, *len) == get32(data + 4);
}

/*
 * True if intact records run from OFF to exactly the end of DATA (LEN
 * bytes), checksumming at most *BUDGET bytes on the way (it is spent).
 */
static int
journal_chains_to_end(const unsigned char *data, size_t len, size_t off,
    uint64_t *budget)
{
	uint32_t rlen;

	while (off < len) {
		if (!journal_record_at(data + off, len - off, &rlen, budget))
			return 0;
		off += JOURNAL_HEADER + rlen;
	}
	return 1;
}

/*
 * Reads one segment's records into FN, in order.  A record that is torn
 * or corrupt is skipped up to the next intact record (a bad sector or a
 * flipped bit costs that record only, not the tasks recorded after it);
 * with none after it, it is a torn end and the file is cut there.
 *
 * A task's output is journaled verbatim, and a record it printed (with a
 * valid checksum) must never be taken for one of the agent's.  So a bad
 * record whose length is plausible (a flipped bit in its data, the
 * common case) is skipped whole, by its length, and nothing inside it is
 * looked at.  Only a garbage length makes the reading search for the
 * next place where intact records run to exactly the end of the file;
 * that search is bounded (JOURNAL_RESYNC_BUDGET bytes checksummed), so
 * that output built to look like lengths cannot stall the start.  (What
 * remains: a length garbled by the disk that happens to point at a record
 * a task printed.)
 */
static void
journal_read_segment(struct journal *j, struct jseg *s,
    void (*fn)(void *, const struct jrec *), void *arg)
{
	unsigned char *data, *p;
	struct stat sb;
	struct jrec r;
	struct buf b;
	char path[4096], *cause;
	uint64_t off = 0, bad, budget;
	int found;
	uint32_t len;

	journal_path(j, s->id, path, sizeof path);
	buf_init(&b);
	/* Whoever could write the directory is not trusted to have made
	 * only segments: a regular file, never through a link, bounded. */
	if (buf_read_file(&b, path, O_NOFOLLOW, j->seg_max * 2 +
	    JOURNAL_RECORD_MAX, &sb, &cause) != 0) {
		log_error("%s: %s: skipped (and kept)", j->what, cause);
		free(cause);
		buf_free(&b);
		s->live++;	/* never deleted unread */
		return;
	}
	s->newest = sb.st_mtime;	/* for expiry (state.c) */
	data = (unsigned char *)b.data;
	while (off < b.len) {
		p = data + off;
		if (!journal_record_at(p, b.len - off, &len, NULL)) {
			budget = JOURNAL_RESYNC_BUDGET;
			/* Its length plausible (a flipped bit in its data):
			 * it alone is skipped, and nothing inside it is ever
			 * read as a record. */
			found = (len = journal_fitting_len(p, b.len - off)) != 0 &&
			    journal_chains_to_end(data, b.len, off +
			    JOURNAL_HEADER + len, &budget);
			if (found)
				bad = off + JOURNAL_HEADER + len;
			/* Its length garbage: the next place where intact
			 * records run to the end. */
			else
				for (bad = off + 1; bad < b.len && budget != 0;
				    bad++)
					if (journal_chains_to_end(data, b.len,
					    bad, &budget)) {
						found = 1;
						break;
					}
			if (found) {
				log_warnx("%s: %s: a corrupt record at offset "
				    "%llu: %llu bytes skipped, reading on at "
				    "the next intact record", j->what, path,
				    (unsigned long long)off,
				    (unsigned long long)(bad - off));
				off = bad;
				continue;
			}
			log_warnx("%s: %s: a torn or corrupt record at offset "
			    "%llu (of %zu bytes): it and what follows are "
			    "dropped", j->what,
			    path, (unsigned long long)off, b.len);
			if (truncate(path, (off_t)off) != 0)
				log_warnx("%s: cannot cut %s: %s", j->what,
				    path, strerror(errno));
			break;
		}
		memset(&r, 0, sizeof r);
		r.type = p[JOURNAL_HEADER];
		r.data = p + JOURNAL_HEADER + 1;
		r.len = len - 1;
		r.seg = s->id;
		r.offset = off;
		s->records++;
		fn(arg, &r);
		off += JOURNAL_HEADER + len;
	}
	s->bytes = off < b.len ? off : b.len;
	j->bytes += s->bytes;
	buf_free(&b);
}

/*
 * Reads every segment back, oldest first, handing each record to FN;
 * then starts a new segment.  The caller calls journal_retain() for the
 * records still live, then journal_replay_done().  Returns 0, or -1 with
 * *cause set if no segment can be written.
 */
int
journal_replay(struct journal *j, void (*fn)(void *, const struct jrec *),
    void *arg, char **cause)
{
	struct jseg *s;
	struct dirent *de;
	unsigned long long id;
	uint64_t last = 0;
	struct stat sb;
	char *end;
	DIR *d;

	if ((d = opendir(j->dir)) == NULL) {
		xasprintf(cause, "%s: %s", j->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 20 ||
		    strcmp(de->d_name + 16, ".seg") != 0)
			continue;
		id = strtoull(de->d_name, &end, 16);
		if (end != de->d_name + 16)
			continue;
		if (id > last)
			last = id;	/* a new segment never reuses a name */
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW)
		    != 0 || !S_ISREG(sb.st_mode)) {
			log_warnx("%s: %s/%s is not a regular file: skipped",
			    j->what, j->dir, de->d_name);
			continue;
		}
		journal_seg(j, id);
	}
	closedir(d);
	RB_FOREACH(s, jseg_tree, &j->segs)
		journal_read_segment(j, s, fn, arg);
	if (journal_begin(j, last + 1, cause) != 0)
		return -1;
	return 0;
}

/*
 * After a replay, once the caller has retained what it still needs: the
 * old segments with nothing live go.  (One that could not be read stays:
 * it is not known to be dead.)
 */
void
journal_replay_done(struct journal *j)
{
	struct jseg *s, *next;

	RB_FOREACH_SAFE(s, jseg_tree, &j->segs, next)
		journal_drop_if_dead(j, s);
}

void
journal_retain(struct journal *j, uint64_t seg)
{
	struct jseg key, *s;

	key.id = seg;
	if ((s = RB_FIND(jseg_tree, &j->segs, &key)) != NULL)
		s->live++;
}

void
journal_release(struct journal *j, uint64_t seg)
{
	struct jseg key, *s;

	if (j == NULL || seg == 0)
		return;
	key.id = seg;
	if ((s = RB_FIND(jseg_tree, &j->segs, &key)) == NULL || s->live == 0)
		return;
	s->live--;
	journal_drop_if_dead(j, s);
}

/*
 * The segment the next record goes to: the current one, or a new one past
 * its size or after a failed write ahead.  NULL while the journal is not
 * writing (a failure, until the retry).  *RECOVERED: the first try since
 * a failure.
 */
static struct jseg *
journal_place(struct journal *j, int *recovered)
{
	struct jseg *old;
	char *cause;

	*recovered = 0;
	if (j == NULL || j->fd == -1 || j->failing)
		return NULL;
	if (j->failed) {
		/* The disk may take records again (said once one is in). */
		j->failed = 0;
		*recovered = 1;
		if (j->rotated != NULL && !j->in_hook) {
			j->in_hook = 1;
			j->rotated(j->rotated_arg);
			j->in_hook = 0;
		}
		if (j->failing)
			return NULL;
	}
	if (j->cur->bytes >= j->seg_max || j->cur_broken) {
		old = j->cur;
		if (journal_begin(j, old->id + 1, &cause) != 0) {
			log_error("%s: cannot start a new segment: %s", j->what,
			    cause);
			free(cause);
			if (j->cur_broken)
				return NULL;
		} else {
			j->cur_broken = 0;
			journal_drop_if_dead(j, old);
			if (j->rotated != NULL && !j->in_hook) {
				j->in_hook = 1;
				j->rotated(j->rotated_arg);
				j->in_hook = 0;
			}
		}
	}
	return j->cur;
}

/*
 * A write failed (ERROR, or 0 for a short one): said once, and appends are
 * skipped, the agent going on from memory, until the retry.
 */
static void
journal_fail(struct journal *j, int error)
{
	log_error("%s: cannot write to %s: %s: going on from memory, trying "
	    "the disk again in %d s", j->what, j->dir, error != 0 ?
	    strerror(error) : "short write", JOURNAL_RETRY_MS / 1000);
	j->failing = 1;
	j->failed = 1;
	timer_add_ms(j->retry_timer, JOURNAL_RETRY_MS);
}

/* A record of LEN bytes went to the current segment. */
static void
journal_count(struct journal *j, size_t len, int live)
{
	j->cur->bytes += len;
	j->cur->records++;
	j->cur->newest = time(NULL);
	j->bytes += len;
	if (live)
		j->cur->live++;
}

/* Written: synced at the end of this loop pass if URGENT, else within
 * JOURNAL_SYNC_MS. */
static void
journal_written(struct journal *j, int urgent)
{
	j->dirty = 1;
	if (urgent)
		event_active(j->sync_now, EV_TIMEOUT, 0);
	else
		journal_sync_soon(j);
}

/*
 * Hands OP to the writer thread, started on first use: the journal of
 * finished tasks, whose records are all small, never has one.
 */
static void
journal_enqueue(struct journal *j, struct jop *op)
{
	if (!j->write_started) {
		if (pthread_create(&j->write_thread, NULL, journal_write_main,
		    j) != 0)
			fatalx("cannot start the %s's writer thread", j->what);
		j->write_started = 1;
	}
	j->queued++;
	pthread_mutex_lock(&j->write_lock);
	STAILQ_INSERT_TAIL(&j->ops, op, entry);
	pthread_cond_signal(&j->write_cond);
	pthread_mutex_unlock(&j->write_lock);
}

/*
 * Queues a record for the writer thread: the SMALL piece is copied, BIG
 * must stay valid until the written hook has COOKIE (if COOKIE is NULL,
 * BIG is copied too).  Returns its segment (and its offset in *offset),
 * or 0 when it cannot be written.
 */
static uint64_t
journal_queue(struct journal *j, int type, const void *small,
    size_t small_len, const void *big, size_t big_len, int live, int urgent,
    int durable, void *cookie, uint64_t *offset)
{
	struct jseg *s;
	struct jop *op;
	size_t copy = small_len + (cookie == NULL ? big_len : 0);
	int recovered;

	if ((s = journal_place(j, &recovered)) == NULL)
		return 0;
	op = xmalloc(sizeof *op + copy);
	memset(op, 0, sizeof *op);
	op->kind = JOP_WRITE;
	op->fd = j->fd;
	op->urgent = urgent;
	op->durable = durable;
	op->live = live;
	op->seg = s->id;
	op->at = s->bytes;
	op->len = JOURNAL_HEADER + 1 + small_len + big_len;
	op->recovered = recovered;
	op->cookie = cookie;
	if (small_len != 0)
		memcpy(op->small, small, small_len);
	op->small_len = small_len;
	if (cookie == NULL) {
		if (big_len != 0)
			memcpy(op->small + small_len, big, big_len);
		op->small_len += big_len;
	} else {
		op->big = big;
		op->big_len = big_len;
	}
	put32(op->head, (uint32_t)(op->len - JOURNAL_HEADER));
	op->head[JOURNAL_HEADER] = (unsigned char)type;
	journal_count(j, op->len, live);
	s->queued++;
	j->queued_bytes += op->len;
	journal_enqueue(j, op);
	if (offset != NULL)
		*offset = op->at;
	return s->id;
}

/*
 * Appends a record of TYPE with the N pieces of payload; LIVE counts it
 * live in its segment (journal_release() later).  URGENT syncs it at the
 * end of this loop pass.  Returns the segment it went to (with its offset
 * in *offset), or 0 when it could not be written: the agent goes on
 * without it.  Behind records still queued for the writer thread it is
 * queued too (copied), to keep the segment in order.
 */
uint64_t
journal_append(struct journal *j, int type, const struct iovec_c *iov,
    size_t n, int live, int urgent, uint64_t *offset)
{
	unsigned char head[JOURNAL_HEADER + 1];
	struct iovec v[JOURNAL_IOV_MAX];
	struct buf flat;
	struct jseg *s;
	char *cause;
	uint64_t at, seg;
	uint32_t crc;
	ssize_t w;
	size_t i, len = 1;
	int recovered;

	if (n > JOURNAL_IOV_MAX - 1)
		fatalx("journal_append: %zu pieces", n);
	if (j != NULL && j->queued != 0) {
		buf_init(&flat);
		for (i = 0; i < n; i++)
			buf_append(&flat, iov[i].base, iov[i].len);
		seg = journal_queue(j, type, flat.data, flat.len, NULL, 0,
		    live, urgent, 0, NULL, offset);
		buf_free(&flat);
		return seg;
	}
	if ((s = journal_place(j, &recovered)) == NULL)
		return 0;
	for (i = 0; i < n; i++)
		len += iov[i].len;
	head[JOURNAL_HEADER] = (unsigned char)type;
	crc = crc32c(0, head + JOURNAL_HEADER, 1);
	for (i = 0; i < n; i++)
		crc = crc32c(crc, iov[i].base, iov[i].len);
	put32(head, (uint32_t)len);
	put32(head + 4, crc);
	/* One writev: no copy of the record is made. */
	v[0].iov_base = head;
	v[0].iov_len = sizeof head;
	for (i = 0; i < n; i++) {
		v[i + 1].iov_base = (void *)(uintptr_t)iov[i].base;
		v[i + 1].iov_len = iov[i].len;
	}
	at = s->bytes;
	do
		w = writev(j->fd, v, (int)n + 1);
	while (w == -1 && errno == EINTR);
	if (w != (ssize_t)(JOURNAL_HEADER + len)) {
		journal_fail(j, w == -1 ? errno : 0);
		/* No half record stays behind to be read back. */
		if (ftruncate(j->fd, (off_t)at) != 0) {
			/* Garbage would stay before the next records: they
			 * go to a new segment instead. */
			log_warnx("%s: cannot cut a partial record: %s",
			    j->what, strerror(errno));
			if (journal_begin(j, j->cur->id + 1, &cause) != 0) {
				log_error("%s: %s", j->what, cause);
				free(cause);
			}
		}
		return 0;
	}
	if (recovered)
		log_info("%s: writing to %s again", j->what, j->dir);
	journal_count(j, JOURNAL_HEADER + len, live);
	journal_written(j, urgent);
	if (offset != NULL)
		*offset = at;
	return j->cur->id;
}

/*
 * Appends a record that is on the disk (fdatasync) before anything
 * appended or passed after it goes on: the writer thread writes and syncs
 * it, and everything behind it waits in the queue meanwhile.  For the
 * rare record whose loss in a power cut would let the agent contradict
 * what the server already has (a seq reservation: state.c).  Returns its
 * segment, or 0 if the journal is failing.
 */
uint64_t
journal_append_durable(struct journal *j, int type, const void *data,
    size_t len)
{
	return journal_queue(j, type, data, len, NULL, 0, 1, 0, 1, NULL, NULL);
}

/*
 * Appends a live record of TYPE whose payload is SMALL then BIG, written
 * ahead by the writer thread when it is large or others wait: *queued is
 * then 1 and the written hook gets COOKIE once it is written (with its
 * segment, or 0 if that failed).  Otherwise (*queued 0) it was written
 * now, or could not be (0 returned); either way the caller goes on at
 * once.  Returns its segment, or 0.
 */
uint64_t
journal_append_ahead(struct journal *j, int type, const void *small,
    size_t small_len, const void *big, size_t big_len, int urgent,
    void *cookie, int *queued)
{
	struct iovec_c iov[2];
	uint64_t seg;

	*queued = 0;
	if (j->queued == 0 && small_len + big_len < JOURNAL_AHEAD_MIN) {
		iov[0].base = small;
		iov[0].len = small_len;
		iov[1].base = big;
		iov[1].len = big_len;
		return journal_append(j, type, iov, 2, 1, urgent, NULL);
	}
	if ((seg = journal_queue(j, type, small, small_len, big, big_len, 1,
	    urgent, 0, cookie, NULL)) != 0) {
		*queued = 1;
		return seg;
	}
	*queued = journal_pass(j, cookie);
	return 0;
}

/*
 * Something with no record to write (COOKIE) takes its turn behind the
 * records queued: returns 1 if it waits for the written hook, 0 if
 * nothing is queued (go on at once).
 */
int
journal_pass(struct journal *j, void *cookie)
{
	struct jop *op;

	if (j == NULL || j->queued == 0)
		return 0;
	op = xcalloc(1, sizeof *op);
	op->kind = JOP_PASS;
	op->cookie = cookie;
	journal_enqueue(j, op);
	return 1;
}

/* Ops queued and not done yet (messages waiting for their write). */
size_t
journal_queued(const struct journal *j)
{
	return j != NULL ? j->queued : 0;
}

/* The bytes of the records queued for the writer thread. */
uint64_t
journal_queued_bytes(const struct journal *j)
{
	return j != NULL ? j->queued_bytes : 0;
}

/* The hook that learns of writes ahead: FN(arg, cookie, segment or 0). */
void
journal_on_written(struct journal *j, void (*fn)(void *, void *, uint64_t),
    void *arg)
{
	j->written = fn;
	j->written_arg = arg;
}

/* The writer thread: checksums and writes queued records, in order. */
static void *
journal_write_main(void *arg)
{
	struct journal *j = arg;
	struct iovec v[3];
	struct jop *op;
	uint32_t crc;
	ssize_t w;
	int n, wake;

	pthread_mutex_lock(&j->write_lock);
	for (;;) {
		while (STAILQ_EMPTY(&j->ops) && !j->write_stop)
			pthread_cond_wait(&j->write_cond, &j->write_lock);
		if ((op = STAILQ_FIRST(&j->ops)) == NULL)
			break;
		STAILQ_REMOVE_HEAD(&j->ops, entry);
		if (op->kind == JOP_WRITE && op->seg == j->broken_seg)
			op->failed = 1;		/* after a failed one: skipped */
		pthread_mutex_unlock(&j->write_lock);
		if (op->kind == JOP_WRITE && !op->failed) {
			crc = crc32c(0, op->head + JOURNAL_HEADER, 1);
			crc = crc32c(crc, op->small, op->small_len);
			crc = crc32c(crc, op->big, op->big_len);
			put32(op->head + 4, crc);
			v[0].iov_base = op->head;
			v[0].iov_len = sizeof op->head;
			n = 1;
			if (op->small_len != 0) {
				v[n].iov_base = op->small;
				v[n++].iov_len = op->small_len;
			}
			if (op->big_len != 0) {
				v[n].iov_base = (void *)(uintptr_t)op->big;
				v[n++].iov_len = op->big_len;
			}
			do
				w = writev(op->fd, v, n);
			while (w == -1 && errno == EINTR);
			if (w != (ssize_t)op->len) {
				op->failed = 1;
				op->error = w == -1 ? errno : 0;
				/* No half record stays behind; the loop starts
				 * a new segment for what follows. */
				if (ftruncate(op->fd, (off_t)op->at) != 0)
					op->error = errno;
			} else if (op->durable && compat_datasync(op->fd) != 0)
				log_warnx("%s: cannot sync %s: %s", j->what,
				    j->dir, strerror(errno));
		}
		pthread_mutex_lock(&j->write_lock);
		if (op->failed)
			j->broken_seg = op->seg;
		wake = STAILQ_EMPTY(&j->done);
		STAILQ_INSERT_TAIL(&j->done, op, entry);
		if (wake) {
			pthread_mutex_unlock(&j->write_lock);
			event_active(j->written_ev, EV_TIMEOUT, 0);
			pthread_mutex_lock(&j->write_lock);
		}
	}
	pthread_mutex_unlock(&j->write_lock);
	return NULL;
}

/* A write ahead failed: as journal_append's failure, from the loop. */
static void
journal_ahead_failed(struct journal *j, struct jseg *s, struct jop *op)
{
	s->bytes -= op->len;
	s->records--;
	j->bytes -= op->len;
	if (op->cookie != NULL && op->live && s->live != 0)
		s->live--;	/* its caller is told: it releases nothing */
	if (s == j->cur)
		j->cur_broken = 1;	/* the thread skips the rest of it */
	if (!j->failing)
		journal_fail(j, op->error);
}

/* The writer thread has done some: their callers learn, in order. */
static void
journal_on_ahead(evutil_socket_t fd, short events, void *arg)
{
	struct journal *j = arg;
	struct jop_queue done;
	struct jseg key, *s, *next;
	struct jop *op;

	(void)fd;
	(void)events;
	STAILQ_INIT(&done);
	pthread_mutex_lock(&j->write_lock);
	STAILQ_CONCAT(&done, &j->done);
	pthread_mutex_unlock(&j->write_lock);
	while ((op = STAILQ_FIRST(&done)) != NULL) {
		STAILQ_REMOVE_HEAD(&done, entry);
		j->queued--;
		s = NULL;
		if (op->kind == JOP_WRITE) {
			j->queued_bytes -= op->len;
			key.id = op->seg;
			/* (Found: a segment with queued records stays.) */
			if ((s = RB_FIND(jseg_tree, &j->segs, &key)) == NULL)
				fatalx("%s: a write to a segment gone",
				    j->what);
			s->queued--;
			if (op->failed)
				journal_ahead_failed(j, s, op);
			else {
				if (op->recovered)
					log_info("%s: writing to %s again",
					    j->what, j->dir);
				journal_written(j, op->urgent);
			}
		}
		if (op->cookie != NULL && j->written != NULL)
			j->written(j->written_arg, op->cookie,
			    op->kind == JOP_WRITE && !op->failed ? op->seg : 0);
		if (s != NULL && s->queued == 0 && s != j->cur && s->fd != -1) {
			close(s->fd);
			s->fd = -1;
		}
		free(op);
	}
	if (j->queued == 0)
		RB_FOREACH_SAFE(s, jseg_tree, &j->segs, next)
			journal_drop_if_dead(j, s);
}

/*
 * Reads the record at OFFSET of segment SEG into B (type and payload).
 * Returns its type, or -1.
 */
int
journal_read(struct journal *j, uint64_t seg, uint64_t offset, struct buf *b)
{
	unsigned char head[JOURNAL_HEADER];
	char path[4096];
	uint32_t len;
	ssize_t n;
	int fd, type = -1;

	journal_path(j, seg, path, sizeof path);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return -1;
	if (pread(fd, head, sizeof head, (off_t)offset) == (ssize_t)sizeof head &&
	    (len = get32(head)) != 0 && len <= JOURNAL_RECORD_MAX) {
		buf_clear(b);
		buf_reserve(b, len);
		n = pread(fd, b->data, len, (off_t)offset + JOURNAL_HEADER);
		if (n == (ssize_t)len &&
		    crc32c(0, b->data, len) == get32(head + 4)) {
			b->len = len;
			type = (unsigned char)b->data[0];
		}
	}
	close(fd);
	return type;
}

/* Segments in order, for expiry: FN(arg, id, records, newest). */
void
journal_each_segment(struct journal *j, void (*fn)(void *, uint64_t, size_t,
    time_t), void *arg)
{
	struct jseg *s, *next;

	RB_FOREACH_SAFE(s, jseg_tree, &j->segs, next)
		fn(arg, s->id, s->records, s->newest);
}

/* Deletes segment SEG whatever it holds (expiry of old records). */
void
journal_drop(struct journal *j, uint64_t seg)
{
	struct jseg key, *s;

	key.id = seg;
	if ((s = RB_FIND(jseg_tree, &j->segs, &key)) == NULL || s == j->cur)
		return;
	s->live = 0;
	journal_drop_if_dead(j, s);
}

uint64_t
journal_bytes(const struct journal *j)
{
	return j != NULL ? j->bytes : 0;
}

uint64_t
journal_current(const struct journal *j)
{
	return j != NULL && j->cur != NULL ? j->cur->id : 0;
}

/* Syncs and closes (agent exit). */
void
journal_close(struct journal *j)
{
	struct jseg *s, *next;

	if (j == NULL)
		return;
	/* The writes ahead first: then their callers learn. */
	if (j->write_started) {
		pthread_mutex_lock(&j->write_lock);
		j->write_stop = 1;
		pthread_cond_signal(&j->write_cond);
		pthread_mutex_unlock(&j->write_lock);
		pthread_join(j->write_thread, NULL);
		journal_on_ahead(-1, 0, j);
	}
	pthread_mutex_destroy(&j->write_lock);
	pthread_cond_destroy(&j->write_cond);
	event_free(j->written_ev);
	journal_sync(j);
	/* What was handed over is synced before the agent goes. */
	pthread_mutex_lock(&j->sync_lock);
	j->sync_stop = 1;
	pthread_cond_signal(&j->sync_cond);
	pthread_mutex_unlock(&j->sync_lock);
	pthread_join(j->sync_thread, NULL);
	pthread_mutex_destroy(&j->sync_lock);
	pthread_cond_destroy(&j->sync_cond);
	if (j->sync_cur != -1)
		close(j->sync_cur);
	if (j->sync_dir_fd != -1)
		close(j->sync_dir_fd);
	free(j->sync_old);
	if (j->fd != -1)
		close(j->fd);
	RB_FOREACH_SAFE(s, jseg_tree, &j->segs, next) {
		RB_REMOVE(jseg_tree, &j->segs, s);
		if (s->fd != -1)
			close(s->fd);
		free(s);
	}
	event_free(j->sync_timer);
	event_free(j->sync_now);
	event_free(j->retry_timer);
	free(j->dir);
	free(j->what);
	free(j);
}
