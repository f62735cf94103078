/*
 * admit.c: admission control.
 *
 * At most max_concurrent_tasks tasks run at once.  The ones beyond wait in
 * a FIFO queue of at most max_queued_tasks, registered as queued (so that a
 * repeat is recognised and a cancel finds them), and start as slots free.
 * Beyond the queue a task gets a FAILURE final saying the agent is busy.
 * Slots are refilled from a deferred event, not from inside the finishing
 * task's own callbacks, so that no handler runs inside another.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "agent.h"

struct admit_entry {
	struct admit_entry *next;
	struct task *task;
	struct request req;
};

static struct admit_entry *admit_head, **admit_tail = &admit_head;
static size_t admit_len;
static struct event *admit_pump_event;

/* Starts REQ now; a task that cannot start is answered with FAILURE. */
static void
admit_start(struct agent *a, struct task *t, const struct request *req)
{
	char *cause = NULL;
	int rc = -1;

	switch (req->kind) {
	case REQUEST_SHELL:
		rc = task_shell_start(a, t, req, &cause);
		break;
	case REQUEST_DOCKER:
		rc = task_docker_start(a, t, req, &cause);
		break;
	default:
		cause = xstrdup("this kind of task cannot run here");
		break;
	}
	if (rc != 0)
		task_fail(a, t, req, "%s", cause);
	free(cause);
}

static int
admit_has_slot(const struct agent *a)
{
	return task_count(TASK_RUNNING) < a->opts->max_concurrent_tasks;
}

static void
admit_on_pump(evutil_socket_t fd, short events, void *arg)
{
	struct agent *a = arg;
	struct admit_entry *e;

	(void)fd;
	(void)events;
	while (admit_head != NULL && admit_has_slot(a) && !a->shutting_down) {
		e = admit_head;
		admit_head = e->next;
		if (admit_head == NULL)
			admit_tail = &admit_head;
		admit_len--;
		admit_start(a, e->task, &e->req);
		wire_request_free(&e->req);
		free(e);
	}
}

void
admit_init(struct agent *a)
{
	admit_pump_event = event_new(a->base, -1, 0, admit_on_pump, a);
	if (admit_pump_event == NULL)
		fatalx("cannot create the admission event");
}

/* Runs, queues or refuses a new task; takes over REQ's contents. */
void
admit_request(struct agent *a, struct request *req)
{
	struct admit_entry *e;
	char *id;

	if (admit_head == NULL && admit_has_slot(a)) {
		admit_start(a, NULL, req);
		return;
	}
	if (admit_len >= a->opts->max_queued_tasks) {
		task_fail(a, NULL, req, "agent is busy: %zu tasks running and "
		    "%zu queued", task_count(TASK_RUNNING), admit_len);
		return;
	}
	e = xcalloc(1, sizeof *e);
	e->req = *req;
	memset(req, 0, sizeof *req);
	e->task = task_new(a, e->req.task_id, e->req.agent_id, TASK_QUEUED);
	*admit_tail = e;
	admit_tail = &e->next;
	admit_len++;
	id = log_escape(e->req.task_id, strlen(e->req.task_id), 200);
	log_info("task %s queued at position %zu: %zu tasks running", id,
	    admit_len, task_count(TASK_RUNNING));
	free(id);
}

/* A running task has finished: its slot goes to the queue's head. */
void
admit_task_done(struct agent *a)
{
	(void)a;
	if (admit_head != NULL)
		event_active(admit_pump_event, EV_TIMEOUT, 0);
}

/* Takes a queued task out of the queue; -1 if it was not there. */
int
admit_cancel_queued(struct task *t)
{
	struct admit_entry **pp, *e;

	for (pp = &admit_head; (e = *pp) != NULL; pp = &e->next) {
		if (e->task != t)
			continue;
		*pp = e->next;
		if (admit_tail == &e->next)
			admit_tail = pp;
		admit_len--;
		wire_request_free(&e->req);
		free(e);
		return 0;
	}
	return -1;
}

/* Answers every queued task as cancelled (agent shutdown). */
void
admit_cancel_all(struct agent *a)
{
	struct admit_entry *e;

	(void)a;
	while ((e = admit_head) != NULL) {
		admit_head = e->next;
		task_send_final(e->task, STATUS_FAILURE, 1, 1,
		    "cancelled before it started: the agent is shutting down");
		wire_request_free(&e->req);
		free(e);
	}
	admit_tail = &admit_head;
	admit_len = 0;
}

size_t
admit_queued(void)
{
	return admit_len;
}

void
admit_free(void)
{
	if (admit_pump_event != NULL)
		event_free(admit_pump_event);
	admit_pump_event = NULL;
}
