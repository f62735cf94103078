/*
 * reaper.c: every child is reaped in one place.
 *
 * A libevent SIGCHLD event runs wait4(-1, WNOHANG) until nothing is left
 * and hands each status, with what the process used, to whoever watches
 * that pid, found in a red-black
 * tree (a thousand children exiting at once cost a thousand lookups, not a
 * thousand list walks).  Signals are turned into loop events by libevent,
 * so the handlers run on the loop's thread like everything else.
 *
 * wait4(-1) walks all of the agent's children in the kernel, every call:
 * with 5,000 tasks running, a SIGCHLD per exiting task made a mass
 * cancel quadratic.  So with more than REAPER_FEW children watched, a
 * sweep runs at once for a SIGCHLD and then not again for REAPER_GAP_MS
 * (a timer runs the one owed): a burst of exits costs a few sweeps.  With
 * fewer, a sweep is cheap and runs for every SIGCHLD, so that a lone
 * task's exit is never held back.  A task with a cgroup is reaped by its
 * own pid as soon as its cgroup empties (reaper_reap, from task-proc.c),
 * which costs the kernel one lookup.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "agent.h"
#include "compat/tree.h"

struct reaper_watch {
	RB_ENTRY(reaper_watch) entry;
	pid_t pid;
	reaper_fn fn;
	void *arg;
};
RB_HEAD(reaper_tree, reaper_watch);

#define REAPER_GAP_MS 10
#define REAPER_FEW 64

static struct event *reaper_event;
static struct event *reaper_timer;	/* the sweep owed after a gap */
static uint64_t reaper_swept_ms;
static size_t reaper_n_watched;
static struct reaper_tree reaper_watches = RB_INITIALIZER(&reaper_watches);

static int
reaper_cmp(struct reaper_watch *a, struct reaper_watch *b)
{
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

/* (Not _STATIC: libbsd's spelling of that does not compile.) */
RB_PROTOTYPE(reaper_tree, reaper_watch, entry, reaper_cmp)
RB_GENERATE(reaper_tree, reaper_watch, entry, reaper_cmp)

/* Hands PID's STATUS to its watcher, or forgets an adopted orphan. */
static void
reaper_done(pid_t pid, int status, const struct rusage *ru)
{
	struct reaper_watch key, *w;

	key.pid = pid;
	if ((w = RB_FIND(reaper_tree, &reaper_watches, &key)) == NULL) {
		/* An orphan the agent adopted (it is a subreaper). */
		log_debug("reaped process %ld, which no task owned",
		    (long)pid);
		track_forget(pid);
		return;
	}
	RB_REMOVE(reaper_tree, &reaper_watches, w);
	reaper_n_watched--;
	w->fn(w->arg, pid, status, ru);
	free(w);
}

/* Reaps every child that has exited. */
static void
reaper_sweep(void)
{
	struct rusage ru;
	pid_t pid;
	int status;

	reaper_swept_ms = compat_monotime_ms();
	for (;;) {
		pid = wait4(-1, &status, WNOHANG, &ru);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		reaper_done(pid, status, &ru);
	}
}

static void
reaper_on_sigchld(evutil_socket_t sig, short events, void *arg)
{
	uint64_t now = compat_monotime_ms();

	(void)sig;
	(void)events;
	(void)arg;
	if (reaper_n_watched < REAPER_FEW ||
	    now - reaper_swept_ms >= REAPER_GAP_MS)
		reaper_sweep();
	else if (!evtimer_pending(reaper_timer, NULL))
		timer_add_ms(reaper_timer, REAPER_GAP_MS -
		    (now - reaper_swept_ms));
}

static void
reaper_on_timer(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	reaper_sweep();
}

/*
 * Reaps PID now if it has exited (its cgroup emptied): one lookup for the
 * kernel, where wait4(-1) walks every child.
 */
void
reaper_reap(pid_t pid)
{
	struct rusage ru;
	pid_t got;
	int status;

	do
		got = wait4(pid, &status, WNOHANG, &ru);
	while (got == -1 && errno == EINTR);
	if (got == pid)
		reaper_done(pid, status, &ru);
}

void
reaper_start(struct event_base *base)
{
	reaper_event = evsignal_new(base, SIGCHLD, reaper_on_sigchld, NULL);
	reaper_timer = evtimer_new(base, reaper_on_timer, NULL);
	if (reaper_event == NULL || reaper_timer == NULL ||
	    evsignal_add(reaper_event, NULL) != 0)
		fatalx("cannot watch SIGCHLD");
}

/* FN runs once with PID's wait status when it exits. */
void
reaper_watch(pid_t pid, reaper_fn fn, void *arg)
{
	struct reaper_watch *w;

	w = xmalloc(sizeof *w);
	w->pid = pid;
	w->fn = fn;
	w->arg = arg;
	if (RB_INSERT(reaper_tree, &reaper_watches, w) != NULL)
		fatalx("process %ld watched twice", (long)pid);
	reaper_n_watched++;
}

/* PID's watcher is gone (the agent exits): its exit will go unreported. */
void
reaper_unwatch(pid_t pid)
{
	struct reaper_watch key, *w;

	key.pid = pid;
	if ((w = RB_FIND(reaper_tree, &reaper_watches, &key)) == NULL)
		return;
	RB_REMOVE(reaper_tree, &reaper_watches, w);
	reaper_n_watched--;
	free(w);
}

/*
 * True if child PID has exited but is not reaped yet (its SIGCHLD is still
 * on its way): it is left for the reaper, unreaped.
 */
int
reaper_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return 0;
	return si.si_pid == pid;
}

void
reaper_stop(void)
{
	struct reaper_watch *w, *next;

	RB_FOREACH_SAFE(w, reaper_tree, &reaper_watches, next) {
		RB_REMOVE(reaper_tree, &reaper_watches, w);
		free(w);
	}
	reaper_n_watched = 0;
	if (reaper_event != NULL)
		event_free(reaper_event);
	reaper_event = NULL;
	if (reaper_timer != NULL)
		event_free(reaper_timer);
	reaper_timer = NULL;
}
