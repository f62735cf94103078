/*
 * track.c: where a task's processes are, and whether any is left.
 *
 * With a cgroup v2 hierarchy (contain/cgroup-linux.c) every task runs in a
 * cgroup of its own, created before its first instruction: membership is
 * exact, "all gone" is `populated 0' in its cgroup.events, which an
 * inotify watch turns into a loop event, and SIGKILL is one write to
 * cgroup.kill.  Nothing here then depends on how many processes the host
 * runs.
 *
 * Without one, a task's processes are its process group, plus the
 * escapees (setsid) that a sweep attributes to it: the agent is a child
 * subreaper, so an escapee whose parent has died is one of the agent's
 * own children, and it carries the task's marker variable in its
 * environment unless it removed it.  A sweep reads the agent's children
 * (not the host's processes) and runs at most once per loop iteration for
 * all the tasks that asked, from a deferred event: a thousand tasks ending
 * together cost one sweep, not a thousand.  An escapee that drops the
 * marker and double-forks is caught by the cgroup path only; doc/ says so.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_SYS_INOTIFY_H
#include <sys/inotify.h>
#endif

#include <event2/event.h>

#include "agent.h"
#include "compat/tree.h"

/* Looks again this soon, this many times, for an orphan mid-exec. */
#define TRACK_RESWEEP_MS 5
#define TRACK_RESWEEPS 20
/* How long the start waits for a leftover cgroup to empty. */
#define TRACK_LEFTOVER_WAIT_MS 3000

struct track_pid {
	RB_ENTRY(track_pid) entry;
	pid_t pid;			/* a main process or an escapee */
	struct track *track;
};
RB_HEAD(track_pids, track_pid);

struct track {
	RB_ENTRY(track) by_wd;		/* cgroup: its inotify watch */
	LIST_ENTRY(track) all;
	int cgroup;			/* it has one (opened when used:
					   a descriptor each would make
					   every spawn copy thousands) */
	int wd;				/* inotify watch, or -1 */
	char name[32];			/* t<serial> under the base */
	pid_t pgid;			/* the process group (main pid) */
	char marker[64];		/* NODELINK_AGENT_TASK's value */
	pid_t *escapees;		/* fallback: found by sweeps */
	size_t n_escapees;
	struct track_pid main_pid;	/* fallback: in track_pids */
	int main_indexed;
	int sweep_wanted;		/* fallback: waits for a sweep */
	int swept;			/* fallback: one has run since */
	int main_exited;		/* its main process is reaped */
	int group_gone;			/* ... and its group is empty */
	int sig;			/* the signal sent last, if any */
	void (*changed)(void *);	/* processes may have come or gone */
	void *arg;
};
RB_HEAD(track_wds, track);
LIST_HEAD(track_list, track);

static struct track_wds track_wds = RB_INITIALIZER(&track_wds);
/* Fallback: every main process and escapee, so that a sweep tells the
 * agent's children apart in O(log n) each. */
static struct track_pids track_pids = RB_INITIALIZER(&track_pids);
static struct track_list track_all = LIST_HEAD_INITIALIZER(track_all);
static int track_cgroups;		/* cgroups are in use */
static int track_inotify = -1;
static struct event *track_inotify_event;
static struct event *track_sweep_event;
static struct event *track_resweep_event;	/* a child was exec'ing */
static int track_resweeps;
static int track_no_children;		/* the kernel lists no children */
/*
 * A few cgroups made (and watched) ahead: making one costs a mkdir and an
 * inotify watch, 0.05 ms, which a task's start would otherwise wait for.
 * The pool is refilled after the start, from a deferred event.
 */
#define TRACK_POOL 2
static struct track *track_pool[TRACK_POOL];
static size_t track_n_pool;
static unsigned long track_serial;	/* names the cgroups: t<serial> */
static struct event *track_refill_event;

static void track_on_refill(evutil_socket_t, short, void *);

static int
track_wd_cmp(struct track *a, struct track *b)
{
	return a->wd < b->wd ? -1 : a->wd > b->wd;
}

static int
track_pid_cmp(struct track_pid *a, struct track_pid *b)
{
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

/* (Not _STATIC: libbsd's spelling of that does not compile.) */
RB_PROTOTYPE(track_wds, track, by_wd, track_wd_cmp)
RB_GENERATE(track_wds, track, by_wd, track_wd_cmp)
RB_PROTOTYPE(track_pids, track_pid, entry, track_pid_cmp)
RB_GENERATE(track_pids, track_pid, entry, track_pid_cmp)

/* The task PID belongs to, if a sweep or a start told the agent. */
static struct track *
track_of(pid_t pid)
{
	struct track_pid key, *p;

	key.pid = pid;
	p = RB_FIND(track_pids, &track_pids, &key);
	return p != NULL ? p->track : NULL;
}

/* Adds PID to T's escapees (and to the index), once. */
static int
track_add_escapee(struct track *t, pid_t pid)
{
	struct track_pid *p;

	if (track_of(pid) != NULL)
		return 0;
	p = xmalloc(sizeof *p);
	p->pid = pid;
	p->track = t;
	RB_INSERT(track_pids, &track_pids, p);
	t->escapees = xreallocarray(t->escapees, t->n_escapees + 1,
	    sizeof *t->escapees);
	t->escapees[t->n_escapees++] = pid;
	return 1;
}

/* Takes PID out of the index only (the caller updates the array). */
static void
track_forget_index(pid_t pid)
{
	struct track_pid key, *p;

	key.pid = pid;
	if ((p = RB_FIND(track_pids, &track_pids, &key)) != NULL &&
	    p != &p->track->main_pid) {
		RB_REMOVE(track_pids, &track_pids, p);
		free(p);
	}
}

/* Takes PID, an escapee, out of the index and its task's list (it is
 * dead). */
void
track_forget(pid_t pid)
{
	struct track *t;
	size_t i;

	if ((t = track_of(pid)) == NULL || t->main_pid.pid == pid)
		return;
	for (i = 0; i < t->n_escapees; i++) {
		if (t->escapees[i] == pid) {
			t->escapees[i] = t->escapees[--t->n_escapees];
			break;
		}
	}
	t->swept = 0;	/* its children may be orphans now: look again */
	track_forget_index(pid);
}

/* Some cgroup.events changed: tell the tasks whose did. */
static void
track_on_inotify(evutil_socket_t fd, short events, void *arg)
{
#ifdef HAVE_SYS_INOTIFY_H
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ie;
	struct track key, *t;
	ssize_t n, off;

	(void)events;
	(void)arg;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (off = 0; off < n;
		    off += (ssize_t)sizeof *ie + (ssize_t)ie->len) {
			ie = (const struct inotify_event *)(buf + off);
			key.wd = ie->wd;
			/* (A pooled cgroup, no task's yet, has none: an
			 * ancestor frozen and thawed touches it too.) */
			if ((t = RB_FIND(track_wds, &track_wds, &key)) != NULL &&
			    t->changed != NULL)
				t->changed(t->arg);
		}
	}
#else
	(void)fd;
	(void)events;
	(void)arg;
#endif
}

/*
 * The sweep: the agent's children that are no task's main process are
 * escapees (or leftovers of finished tasks); each goes to the task whose
 * marker it carries.  Then every task that waited for a sweep hears.
 */
static void
track_on_sweep(evutil_socket_t fd, short events, void *arg)
{
	struct track *t, *next;
	const char *value;
	pid_t *children;
	ssize_t n, i;
	int unreadable = 0;

	(void)fd;
	(void)events;
	(void)arg;
	n = track_no_children ? -1 : proctree_children(&children);
	if (n < 0 && !track_no_children)
		log_debug("cannot list the agent's children now: %s",
		    strerror(errno));
	for (i = 0; i < n; i++) {
		if (track_of(children[i]) != NULL)
			continue;	/* a main process, or known */
		value = proctree_getenv(children[i], PROC_MARKER "=");
		if (value == NULL && errno == EAGAIN)
			unreadable = 1;
		if (value == NULL)
			continue;
		LIST_FOREACH(t, &track_all, all) {
			if (strcmp(t->marker, value) != 0)
				continue;
			log_debug("task process %ld left its process group; "
			    "tracked by its marker", (long)children[i]);
			track_add_escapee(t, children[i]);
			if (t->sig != 0)
				kill(children[i], t->sig);
			t->sweep_wanted = 1;	/* it must hear of this */
			break;
		}
	}
	if (n > 0)
		free(children);
	if (unreadable && track_resweeps < TRACK_RESWEEPS) {
		/* An orphan in the middle of exec shows no environment yet:
		 * the waiting tasks hear after another look. */
		track_resweeps++;
		timer_add_ms(track_resweep_event, TRACK_RESWEEP_MS);
		return;
	}
	track_resweeps = 0;
	LIST_FOREACH_SAFE(t, &track_all, all, next) {
		if (!t->sweep_wanted)
			continue;
		t->sweep_wanted = 0;
		t->swept = 1;
		t->changed(t->arg);	/* may free T */
	}
}

/*
 * Chooses how tasks' processes are tracked: a cgroup each under
 * CGROUP_ROOT ("auto": find one; "none": do not), else process groups.
 */
void
track_init(struct event_base *base, const char *cgroup_root)
{
	pid_t *children = NULL;
	char *where;

	track_sweep_event = event_new(base, -1, 0, track_on_sweep, NULL);
	track_resweep_event = evtimer_new(base, track_on_sweep, NULL);
	track_refill_event = event_new(base, -1, 0, track_on_refill, NULL);
	if (track_sweep_event == NULL || track_resweep_event == NULL ||
	    track_refill_event == NULL)
		fatalx("cannot create the sweep events");
	if (cgroup_setup(cgroup_root, &where) == 0) {
#ifdef HAVE_SYS_INOTIFY_H
		track_inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
#endif
		if (track_inotify == -1) {
			log_warnx("no inotify (%s): not using cgroups",
			    strerror(errno));
			cgroup_teardown();
		} else {
			track_inotify_event = event_new(base, track_inotify,
			    EV_READ | EV_PERSIST, track_on_inotify, NULL);
			if (track_inotify_event == NULL ||
			    event_add(track_inotify_event, NULL) != 0)
				fatalx("cannot watch inotify");
			track_cgroups = 1;
			log_info("task processes: a cgroup each, under %s",
			    where);
		}
	} else {
		log_info("task processes: process groups and the agent's "
		    "children (no cgroups: %s)", where);
		if (proctree_children(&children) < 0) {
			track_no_children = 1;
			log_info("the kernel lists no children: a cancel reaches "
			    "a task's process group and what descends from it");
		}
		free(children);
	}
	free(where);
}

void
track_shutdown(void)
{
	while (track_n_pool != 0) {
		/* (Never in track_all: track_free's LIST_REMOVE needs it.) */
		LIST_INSERT_HEAD(&track_all, track_pool[track_n_pool - 1], all);
		track_free(track_pool[--track_n_pool]);
	}
	if (track_refill_event != NULL)
		event_free(track_refill_event);
	track_refill_event = NULL;
	if (track_inotify_event != NULL)
		event_free(track_inotify_event);
	track_inotify_event = NULL;
	if (track_inotify != -1)
		close(track_inotify);
	track_inotify = -1;
	if (track_sweep_event != NULL)
		event_free(track_sweep_event);
	if (track_resweep_event != NULL)
		event_free(track_resweep_event);
	track_sweep_event = track_resweep_event = NULL;
	cgroup_teardown();
	track_cgroups = 0;
}

/*
 * A tracker for the task numbered SERIAL whose processes carry MARKER;
 * CHANGED(ARG) runs when its processes may have come or gone.  With
 * cgroups, its cgroup is made here (before the spawn).  NULL with *cause
 * set if it cannot be.
 */
/* Watches T's cgroup (T->name, made) for "populated" changes: 0, or -1
 * with errno set. */
static int
track_watch(struct track *t)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/cgroup.events", cgroup_path(t->name));
#ifdef HAVE_SYS_INOTIFY_H
	t->wd = inotify_add_watch(track_inotify, path, IN_MODIFY);
#endif
	if (t->wd == -1)
		return -1;
	t->cgroup = 1;
	RB_INSERT(track_wds, &track_wds, t);
	return 0;
}

/* T is task's now: its processes carry MARKER, CHANGED(ARG) hears them. */
static struct track *
track_own(struct track *t, const char *marker, void (*changed)(void *),
    void *arg)
{
	t->changed = changed;
	t->arg = arg;
	snprintf(t->marker, sizeof t->marker, "%s", marker);
	LIST_INSERT_HEAD(&track_all, t, all);
	return t;
}

/* A tracker, with its cgroup made and watched if cgroups are in use. */
static struct track *
track_make(char **cause)
{
	struct track *t;
	int fd;

	t = xcalloc(1, sizeof *t);
	t->wd = -1;
	snprintf(t->name, sizeof t->name, "t%lu", ++track_serial);
	if (track_cgroups) {
		if ((fd = cgroup_create(t->name)) == -1) {
			xasprintf(cause, "cannot create the task's cgroup: %s",
			    strerror(errno));
			free(t);
			return NULL;
		}
		close(fd);
		if (track_watch(t) != 0) {
			xasprintf(cause, "cannot watch the task's cgroup: %s",
			    strerror(errno));
			cgroup_remove(t->name);
			free(t);
			return NULL;
		}
	}
	return t;
}

/* The pool's refill, after the start that took from it. */
static void
track_on_refill(evutil_socket_t fd, short events, void *arg)
{
	struct track *t;
	char *cause;

	(void)fd;
	(void)events;
	(void)arg;
	while (track_cgroups && track_n_pool < TRACK_POOL) {
		if ((t = track_make(&cause)) == NULL) {
			free(cause);	/* the next start says why */
			return;
		}
		track_pool[track_n_pool++] = t;
	}
}

/*
 * A tracker for a task whose processes carry MARKER; CHANGED(ARG) runs
 * when its processes may have come or gone.  With cgroups, its cgroup
 * exists (made ahead, or here) before the spawn.  NULL with *cause set if
 * it cannot be.
 */
struct track *
track_new(const char *marker, void (*changed)(void *), void *arg,
    char **cause)
{
	struct track *t;

	if (track_n_pool != 0)
		t = track_pool[--track_n_pool];
	else if ((t = track_make(cause)) == NULL)
		return NULL;
	if (track_cgroups)
		event_active(track_refill_event, EV_TIMEOUT, 0);
	return track_own(t, marker, changed, arg);
}

void
track_set_owner(struct track *t, void *arg)
{
	t->arg = arg;
}

int
track_has_cgroup(const struct track *t)
{
	return t->cgroup;
}

/* Its cgroup's path (static storage), or NULL. */
const char *
track_cgroup_path(const struct track *t)
{
	return t->cgroup ? cgroup_path(t->name) : NULL;
}

/*
 * The main process has been reaped: its pid may be reused from now on,
 * so it is no longer a root to walk, and the group is used only while it
 * still has members.
 */
void
track_main_exited(struct track *t)
{
	t->main_exited = 1;
}

/* A descriptor of the task's cgroup (the caller closes it), or -1. */
int
track_cgroup_open(const struct track *t)
{
	return t->cgroup ? cgroup_open(t->name) : -1;
}

/* The task's first process is PID, leader of its process group. */
void
track_started(struct track *t, pid_t pid)
{
	struct track_pid *old;

	t->pgid = pid;
	if (t->cgroup)
		return;
	t->main_pid.pid = pid;
	t->main_pid.track = t;
	if ((old = RB_INSERT(track_pids, &track_pids, &t->main_pid)) != NULL) {
		/* The pid was reused: what the index knew of it is stale. */
		RB_REMOVE(track_pids, &track_pids, old);
		if (old == &old->track->main_pid)
			old->track->main_indexed = 0;
		else
			free(old);
		RB_INSERT(track_pids, &track_pids, &t->main_pid);
	}
	t->main_indexed = 1;
}

/*
 * Adds the descendants of the task's main process (while it runs) and of
 * its escapees to its escapees.
 */
static void
track_add_descendants(struct track *t)
{
	pid_t *found = NULL;
	size_t n = 0, cap = 0, i, known = t->n_escapees;

	if (!t->main_exited)
		proctree_descendants(t->pgid, &found, &n, &cap);
	for (i = 0; i < known; i++)
		proctree_descendants(t->escapees[i], &found, &n, &cap);
	for (i = 0; i < n; i++)
		track_add_escapee(t, found[i]);
	free(found);
}

/* The task's process group, while it may still be the task's. */
static int
track_killpg(struct track *t, int sig)
{
	if (t->group_gone)
		return -1;
	if (killpg(t->pgid, sig) == 0)
		return 0;
	if (errno == ESRCH && t->main_exited)
		t->group_gone = 1;	/* its number may be reused now */
	return -1;
}

/* Sends SIG to every process of the task. */
void
track_signal(struct track *t, int sig)
{
	size_t i;
	int fd;

	t->sig = sig;
	if (t->cgroup) {
		if ((fd = track_cgroup_open(t)) == -1 ||
		    cgroup_signal(fd, sig) != 0)
			log_warnx("cannot signal cgroup %s: %s",
			    cgroup_path(t->name), strerror(errno));
		if (fd != -1)
			close(fd);
		return;
	}
	/*
	 * Its descendants first, while their ancestry still ties them to
	 * the task: once a parent dies, its children are the agent's and
	 * only this list (or the marker) says whose they were.
	 */
	track_add_descendants(t);
	if (track_killpg(t, sig) != 0 && errno != ESRCH && !t->group_gone)
		log_warnx("cannot signal process group %ld: %s", (long)t->pgid,
		    strerror(errno));
	for (i = 0; i < t->n_escapees; i++)
		kill(t->escapees[i], sig);
	/* Escapees that have left since the last look: the task is not
	 * known to be over until a sweep after this signal has run. */
	t->swept = 0;
	t->sweep_wanted = 1;
	event_active(track_sweep_event, EV_TIMEOUT, 0);
}

/*
 * 1 while any process of the task is left, 0 when none is.  Without
 * cgroups the answer waits for one sweep after the task asks (-1: ask
 * again when CHANGED runs).
 */
int
track_alive(struct track *t)
{
	size_t i, k;
	int populated, fd;

	if (t->cgroup) {
		if ((fd = track_cgroup_open(t)) == -1)
			return 1;	/* unreadable: assume alive */
		populated = cgroup_populated(fd);
		close(fd);
		return populated != 0;
	}
	if (track_killpg(t, 0) == 0)
		return 1;
	for (i = 0, k = 0; i < t->n_escapees; i++) {
		if (kill(t->escapees[i], 0) == 0)
			t->escapees[k++] = t->escapees[i];
		else {
			track_forget_index(t->escapees[i]);
			t->swept = 0;	/* its children: look again */
		}
	}
	t->n_escapees = k;
	if (k != 0)
		return 1;
	if (!t->swept && !track_no_children) {
		t->sweep_wanted = 1;
		event_active(track_sweep_event, EV_TIMEOUT, 0);
		return -1;
	}
	return 0;
}

/* CPU time of a cgroup task's processes; -1 without a cgroup. */
int
track_cpu(const struct track *t, uint64_t *user_us, uint64_t *system_us)
{
	int fd, rc;

	if ((fd = track_cgroup_open(t)) == -1)
		return -1;
	rc = cgroup_cpu(fd, user_us, system_us);
	close(fd);
	return rc;
}

void
track_free(struct track *t)
{
	size_t i;

	if (t->cgroup) {
		RB_REMOVE(track_wds, &track_wds, t);
#ifdef HAVE_SYS_INOTIFY_H
		inotify_rm_watch(track_inotify, t->wd);
#endif
		if (cgroup_remove(t->name) != 0)
			log_warnx("cannot remove cgroup %s: %s",
			    cgroup_path(t->name), strerror(errno));
	}
	LIST_REMOVE(t, all);
	if (t->main_indexed)
		RB_REMOVE(track_pids, &track_pids, &t->main_pid);
	for (i = 0; i < t->n_escapees; i++)
		track_forget_index(t->escapees[i]);
	free(t->escapees);
	free(t);
}

/* -- across a re-execution ------------------------------------------- */

/*
 * Before the agent re-executes: the cgroups made ahead are removed (the
 * new agent makes its own), and the serial that names task cgroups is
 * returned, for the new agent to go on from (track_set_serial).
 */
unsigned long
track_prepare_exec(void)
{
	while (track_n_pool != 0) {
		LIST_INSERT_HEAD(&track_all, track_pool[track_n_pool - 1], all);
		track_free(track_pool[--track_n_pool]);
	}
	return track_serial;
}

/* The re-executed agent names its task cgroups after SERIAL. */
void
track_set_serial(unsigned long serial)
{
	if (serial > track_serial)
		track_serial = serial;
}

/* Its processes' marker (the value of PROC_MARKER). */
const char *
track_marker(const struct track *t)
{
	return t->marker;
}

/*
 * The tracker of a task the agent had before it re-executed: its
 * processes carry MARKER, and CGROUP is its cgroup's path ("": it has
 * none).  NULL with *cause set if that cgroup is not one of the agent's.
 */
struct track *
track_adopt(const char *marker, const char *cgroup, void (*changed)(void *),
    void *arg, char **cause)
{
	const char *name;
	struct track *t;

	t = xcalloc(1, sizeof *t);
	t->wd = -1;
	if (*cgroup != '\0') {
		if (!track_cgroups || (name = strrchr(cgroup, '/')) == NULL ||
		    strlen(name + 1) >= sizeof t->name ||
		    strcmp(cgroup_path(name + 1), cgroup) != 0) {
			xasprintf(cause, "its cgroup %s is not beneath the "
			    "agent's", cgroup);
			free(t);
			return NULL;
		}
		snprintf(t->name, sizeof t->name, "%s", name + 1);
		if (track_watch(t) != 0) {
			xasprintf(cause, "cannot watch %s/cgroup.events: %s",
			    cgroup, strerror(errno));
			free(t);
			return NULL;
		}
	}
	return track_own(t, marker, changed, arg);
}

/* -- what a previous agent left --------------------------------------- */

/*
 * At start, before the loop runs: kills what is left in the cgroup at
 * PATH (a previous agent's task's, checked by the caller to be beneath
 * the agent's cgroup root), waits up to TRACK_LEFTOVER_WAIT_MS for it to
 * empty, and removes it.  0, or -1 if there is no such cgroup.
 */
int
track_kill_cgroup_at(const char *path)
{
	int fd, waited = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	while (cgroup_populated(fd) == 1 &&
	    waited < TRACK_LEFTOVER_WAIT_MS) {
		cgroup_signal(fd, SIGKILL);
		usleep(10000);
		waited += 10;
	}
	close(fd);
	if (rmdir(path) != 0 && errno != ENOENT)
		log_debug("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/*
 * Kills process PID and its process group if it is the very process a
 * record names (a pid is reused): started at START (clock ticks since
 * boot) and carrying MARKER.  True if it did.
 */
int
track_kill_verified(pid_t pid, uint64_t start, const char *marker)
{
	const char *found;
	uint64_t now;

	if (pid <= 0 || start == 0 || *marker == '\0' ||
	    proctree_starttime(pid, &now) != 0 || now != start ||
	    (found = proctree_getenv(pid, PROC_MARKER "=")) == NULL ||
	    strcmp(found, marker) != 0)
		return 0;
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	return 1;
}
