/*
 * state.c: the state directory, which makes "nothing lost, nothing run
 * twice" survive the agent itself being killed (SIGKILL, the OOM killer,
 * a crash, a power cut).
 *
 *   DIR/lock       held (fcntl) while an agent uses DIR; the kernel
 *                  releases it when the agent dies, however it dies
 *   DIR/journal/   every message the agent sends, written before it is
 *                  sent (outbox.c), until the server acknowledges it (an
 *                  Ack) or it leaves the resend window; and a START record
 *                  for each running task (pid, its start time, its cgroup,
 *                  the marker its processes carry), kept here
 *   DIR/finished/  each finished task's final message (finished.c)
 *
 * This file opens and checks the directory, holds its lock and keeps the
 * START records of running tasks, with the seqs they reserve.  What the
 * next start does with them is recovery.c's.
 *
 * Without a state directory (--state-dir none) the agent works from
 * memory as before: state_journal() is NULL and every caller checks.
 */

#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "record.h"

#define STATE_JOURNAL_SEGMENT (16 * 1024 * 1024)

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
#define STATE_SEQ_BLOCK_MAX 65536

static char *state_dir;
static int state_lock_fd = -1;
static struct journal *state_jnl;	/* messages and running tasks */
static LIST_HEAD(, srun) state_running = LIST_HEAD_INITIALIZER(state_running);

int
state_active(void)
{
	return state_dir != NULL;
}

const char *
state_directory(void)
{
	return state_dir;
}

/* The journal of messages and running tasks, or NULL. */
struct journal *
state_journal(void)
{
	return state_jnl;
}

uint64_t
state_journal_bytes(void)
{
	return journal_bytes(state_jnl);
}

/* A freed message held journal segment SEG (msg.c). */
static void
state_release(uint64_t seg)
{
	if (state_jnl != NULL)
		journal_release(state_jnl, seg);
}

/* The journal cannot be read back: the agent goes on without it. */
void
state_drop_journal(void)
{
	journal_close(state_jnl);
	state_jnl = NULL;
	msg_set_release(NULL);
}

/* -- START records ----------------------------------------------------- */

static void
state_write_start(struct srun *r)
{
	struct iovec_c iov;
	struct buf b;

	rec_start_encode(&b, r);
	iov.base = b.data;
	iov.len = b.len;
	/* Not synced at once: a power cut ends the task too; against the
	 * agent alone being killed, the page cache is enough. */
	r->seg = journal_append(state_jnl, REC_START, &iov, 1, 1, 0, NULL);
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

	if (r == NULL || seq <= r->reserved || state_jnl == NULL)
		return;
	r->block = r->block * 2 > STATE_SEQ_BLOCK_MAX ? STATE_SEQ_BLOCK_MAX :
	    r->block * 2;
	r->reserved = seq + r->block;
	rec_start_encode(&b, r);
	seg = journal_append_durable(state_jnl, REC_START, b.data,
	    b.len);
	buf_free(&b);
	if (seg == 0)
		return;		/* failing: written anew when it recovers */
	/* (The append may have begun a segment, whose rotate hook wrote
	 * this record anew and moved r->seg: release what r holds now.) */
	held = r->seg;
	r->seg = seg;
	journal_release(state_jnl, held);
}

/*
 * A task runs, as TMPL says (ID, reply ID, kind, pid, cgroup, marker, an
 * upload's temporary file, Docker container; absent strings NULL; its
 * stream, for the seq): recorded until it ends, so that the next agent
 * can end what this one could not.  *SLOT (its task's) points to the
 * record until then.
 */
struct srun *
state_task_started(const struct srun *tmpl, struct srun **slot)
{
	struct srun *r;

	*slot = NULL;
	if (state_jnl == NULL)
		return NULL;
	r = xcalloc(1, sizeof *r);
	r->id = xstrdup(tmpl->id);
	r->reply_id = xstrdup(tmpl->reply_id);
	r->kind = tmpl->kind;
	r->pid = tmpl->pid;
	if (proctree_starttime((pid_t)tmpl->pid, &r->start_time) != 0)
		r->start_time = 0;
	r->cgroup = xstrdup(tmpl->cgroup != NULL ? tmpl->cgroup : "");
	r->marker = xstrdup(tmpl->marker != NULL ? tmpl->marker : "");
	r->tmpfile = xstrdup(tmpl->tmpfile != NULL ? tmpl->tmpfile : "");
	r->container = xstrdup(tmpl->container != NULL ? tmpl->container :
	    "");
	r->ts = tmpl->ts;
	r->block = STATE_SEQ_FIRST;
	r->reserved = tstream_seq(r->ts) + STATE_SEQ_FIRST;
	state_write_start(r);
	r->slot = slot;
	*slot = r;
	LIST_INSERT_HEAD(&state_running, r, entry);
	return r;
}

void
state_task_ended(struct srun *r)
{
	if (r == NULL)
		return;
	if (r->slot != NULL)
		*r->slot = NULL;
	LIST_REMOVE(r, entry);
	journal_release(state_jnl, r->seg);
	rec_srun_clear(r);
	free(r);
}

/* Task ID ended with nothing journaled to send again (REC_END). */
void
state_task_done(const char *id)
{
	struct iovec_c iov;
	struct buf b;

	if (state_jnl == NULL)
		return;
	buf_init(&b);
	rec_enc_str(&b, id);
	iov.base = b.data;
	iov.len = b.len;
	(void)journal_append(state_jnl, REC_END, &iov, 1, 0, 0, NULL);
	buf_free(&b);
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
			journal_release(state_jnl, old);
	}
}

/* -- the directory --------------------------------------------------- */

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
		log_warnx("%s: %s", path, strerror(errno));
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
		log_warnx("cannot create the state directory %s: %s: running "
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
		log_warnx("state directory %s is not usable: running from "
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
	if ((state_jnl = journal_open(base, path, "journal",
	    STATE_JOURNAL_SEGMENT, cause)) == NULL)
		return -1;
	if (finished_open(base, dir, cause) != 0)
		return -1;
	state_dir = xstrdup(dir);
	journal_on_rotate(state_jnl, state_on_rotate, NULL);
	msg_set_release(state_release);
	log_info("state directory %s: %zu finished tasks remembered", dir,
	    finished_count());
	return 0;
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
		if (r->slot != NULL)
			*r->slot = NULL;
		rec_srun_clear(r);
		free(r);
	}
	msg_set_release(NULL);
	journal_close(state_jnl);
	state_jnl = NULL;
	finished_close();
	if (state_lock_fd != -1)
		close(state_lock_fd);
	state_lock_fd = -1;
	free(state_dir);
	state_dir = NULL;
}
