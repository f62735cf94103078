/*
 * reaper.c: every child is reaped in one place.
 *
 * A libevent SIGCHLD event runs waitpid(-1, WNOHANG) until nothing is left
 * and hands each status to whoever watches that pid.  Signals are turned
 * into loop events by libevent, so the handlers run on the loop's thread
 * like everything else.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "agent.h"

struct reaper_watch {
	struct reaper_watch *next;
	pid_t pid;
	reaper_fn fn;
	void *arg;
};

static struct event *reaper_event;
static struct reaper_watch *reaper_watches;

static void
reaper_on_sigchld(evutil_socket_t sig, short events, void *arg)
{
	struct reaper_watch **pp, *w;
	pid_t pid;
	int status;

	(void)sig;
	(void)events;
	(void)arg;
	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		for (pp = &reaper_watches; *pp != NULL; pp = &(*pp)->next) {
			if ((*pp)->pid == pid)
				break;
		}
		if ((w = *pp) == NULL) {
			log_debug("reaped process %ld, which no task owned",
			    (long)pid);
			continue;
		}
		*pp = w->next;
		w->fn(w->arg, pid, status);
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
	w->next = reaper_watches;
	reaper_watches = w;
}

void
reaper_stop(void)
{
	struct reaper_watch *w;

	while ((w = reaper_watches) != NULL) {
		reaper_watches = w->next;
		free(w);
	}
	if (reaper_event != NULL)
		event_free(reaper_event);
	reaper_event = NULL;
}
