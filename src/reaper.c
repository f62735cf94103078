/*
 * reaper.c: every child is reaped in one place.
 *
 * A libevent SIGCHLD event runs wait4(-1, WNOHANG) until nothing is left
 * and hands each status, with what the process used, to whoever watches
 * that pid, found in a red-black
 * tree (a thousand children exiting at once cost a thousand lookups, not a
 * thousand list walks).  Signals are turned into loop events by libevent,
 * so the handlers run on the loop's thread like everything else.
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

static struct event *reaper_event;
static struct reaper_tree reaper_watches = RB_INITIALIZER(&reaper_watches);

static int
reaper_cmp(struct reaper_watch *a, struct reaper_watch *b)
{
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

/* (Not _STATIC: libbsd's spelling of that does not compile.) */
RB_PROTOTYPE(reaper_tree, reaper_watch, entry, reaper_cmp)
RB_GENERATE(reaper_tree, reaper_watch, entry, reaper_cmp)

static void
reaper_on_sigchld(evutil_socket_t sig, short events, void *arg)
{
	struct reaper_watch key, *w;
	struct rusage ru;
	pid_t pid;
	int status;

	(void)sig;
	(void)events;
	(void)arg;
	for (;;) {
		pid = wait4(-1, &status, WNOHANG, &ru);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		key.pid = pid;
		if ((w = RB_FIND(reaper_tree, &reaper_watches, &key)) == NULL) {
			/* An orphan the agent adopted (it is a subreaper). */
			log_debug("reaped process %ld, which no task owned",
			    (long)pid);
			track_forget(pid);
			continue;
		}
		RB_REMOVE(reaper_tree, &reaper_watches, w);
		w->fn(w->arg, pid, status, &ru);
		free(w);
	}
}

void
reaper_start(struct event_base *base)
{
	reaper_event = evsignal_new(base, SIGCHLD, reaper_on_sigchld, NULL);
	if (reaper_event == NULL || evsignal_add(reaper_event, NULL) != 0)
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
	if (reaper_event != NULL)
		event_free(reaper_event);
	reaper_event = NULL;
}
