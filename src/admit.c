/*
 * admit.c: admission control.
 *
 * At most max_concurrent_tasks tasks run at once.  The ones beyond wait in
 * a FIFO queue of at most max_queued_tasks, and max_queued_bytes of their
 * requests (a request may be 16 MiB), registered as queued (so that a
 * repeat is recognised and a cancel finds them), and start as slots free.
 * Beyond the queue a task gets a FAILURE final saying the agent is busy.
 * Slots are refilled from a deferred event, not from inside the finishing
 * task's own callbacks, so that no handler runs inside another.
 *
 * Admission knows no kind of task: it is handed the function that starts
 * one (dispatch.c's) and calls it when a slot is free.  A task that cannot
 * start for want of descriptors (EMFILE) goes back to the head of the
 * queue and starts when a running task has ended, or a moment later when
 * none is running; it is not failed for the agent's own shortage.
 */

/* With nothing running to free descriptors, look again this often. */
#define ADMIT_RETRY_MS 200

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "agent.h"

/*
 * A queued task keeps its request as received, not decoded: smaller, and
 * what a re-executed agent is handed (admit_each_queued).  It is decoded
 * again when it starts.
 */
struct admit_entry {
	TAILQ_ENTRY(admit_entry) entry;
	struct task *task;
	void *wire;
	size_t wire_len;
};
TAILQ_HEAD(admit_queue, admit_entry);

static struct admit_queue admit_queue = TAILQ_HEAD_INITIALIZER(admit_queue);
static struct event *admit_pump_event;
static struct event *admit_retry_event;
static int admit_waiting;	/* the head waits for descriptors */
static uint64_t admit_bytes;	/* of the queued requests */
static struct agent *admit_agent;
static admit_start_fn admit_start;

static int admit_on_cancel(void *);

static int
admit_has_slot(void)
{
	return task_count(TASK_RUNNING) < admit_agent->opts->max_concurrent_tasks;
}

static void
admit_remove(struct admit_entry *e)
{
	TAILQ_REMOVE(&admit_queue, e, entry);
	admit_bytes -= e->wire_len;
	task_set_cancel(e->task, NULL, NULL);
	free(e->wire);
	free(e);
}

/* A queue entry for T, holding a copy of REQ's bytes. */
static struct admit_entry *
admit_entry_new(struct task *t, const struct request *req)
{
	struct admit_entry *e;

	e = xcalloc(1, sizeof *e);
	e->wire = xmalloc(req->wire_len != 0 ? req->wire_len : 1);
	memcpy(e->wire, req->wire, req->wire_len);
	e->wire_len = req->wire_len;
	admit_bytes += e->wire_len;
	e->task = t;
	task_set_state(t, TASK_QUEUED);
	task_set_cancel(t, admit_on_cancel, e);
	return e;
}

/* T could not start for want of descriptors: it waits at the head. */
static void
admit_wait(struct task *t, const struct request *req)
{
	struct admit_entry *e = admit_entry_new(t, req);

	TAILQ_INSERT_HEAD(&admit_queue, e, entry);
	if (!admit_waiting)
		log_warnx("task %s waits: the agent has no descriptors to spare "
		    "(%zu tasks running)", task_id(t), task_count(TASK_RUNNING));
	admit_waiting = 1;
	if (task_count(TASK_RUNNING) == 0)
		timer_add_ms(admit_retry_event, ADMIT_RETRY_MS);
}

static void
admit_on_pump(evutil_socket_t fd, short events, void *arg)
{
	struct admit_entry *e;
	struct request req;
	struct task *t;
	char *cause = NULL;
	void *wire;
	size_t len;
	int rc;

	(void)fd;
	(void)events;
	(void)arg;
	while ((e = TAILQ_FIRST(&admit_queue)) != NULL && admit_has_slot() &&
	    !admit_agent->shutting_down) {
		t = e->task;
		wire = e->wire;
		len = e->wire_len;
		e->wire = NULL;
		admit_remove(e);
		/* (It decoded when it came: it decodes the same now.) */
		if (wire_decode_request(wire, len, &req, &cause) != 0)
			fatalx("a queued request no longer decodes: %s", cause);
		req.wire = wire;
		req.wire_len = len;
		if ((rc = admit_start(t, &req)) == TASK_START_LATER)
			admit_wait(t, &req);
		else
			admit_waiting = 0;
		wire_request_free(&req);
		free(wire);
		if (rc == TASK_START_LATER)
			break;
	}
}

/* A queued task's cancel: it leaves the queue, never having started. */
static int
admit_on_cancel(void *arg)
{
	admit_remove(arg);
	return 0;
}

void
admit_init(struct agent *a, admit_start_fn start)
{
	admit_agent = a;
	admit_start = start;
	admit_pump_event = event_new(a->base, -1, 0, admit_on_pump, NULL);
	admit_retry_event = evtimer_new(a->base, admit_on_pump, NULL);
	if (admit_pump_event == NULL || admit_retry_event == NULL)
		fatalx("cannot create the admission events");
}

/*
 * Starts the registered task T now, queues it, or refuses it; takes over
 * REQ's contents when it queues.
 */
void
admit_request(struct task *t, struct request *req)
{
	struct admit_entry *e;

	if (TAILQ_EMPTY(&admit_queue) && admit_has_slot()) {
		if (admit_start(t, req) == TASK_START_LATER)
			admit_wait(t, req);
		return;
	}
	if (task_count(TASK_QUEUED) >= admit_agent->opts->max_queued_tasks) {
		task_fail(t, REASON_BUSY, "agent is busy: %zu tasks running "
		    "and %zu queued",
		    task_count(TASK_RUNNING), task_count(TASK_QUEUED));
		return;
	}
	if (admit_bytes + req->wire_len > admit_agent->opts->max_queued_bytes) {
		task_fail(t, REASON_BUSY, "agent is busy: %zu tasks running "
		    "and %zu queued, holding %llu bytes of requests (at most "
		    "%llu)", task_count(TASK_RUNNING), task_count(TASK_QUEUED),
		    (unsigned long long)admit_bytes, (unsigned long long)
		    admit_agent->opts->max_queued_bytes);
		return;
	}
	e = admit_entry_new(t, req);	/* (not in the macro: it repeats it) */
	TAILQ_INSERT_TAIL(&admit_queue, e, entry);
	log_info("task %s queued at position %zu: %zu tasks running",
	    task_id(t), task_count(TASK_QUEUED), task_count(TASK_RUNNING));
}

/* A running task has finished (or limits were raised): its slot goes to
 * the queue's head. */
void
admit_task_done(void)
{
	if (!TAILQ_EMPTY(&admit_queue) && admit_pump_event != NULL)
		event_active(admit_pump_event, EV_TIMEOUT, 0);
}

/* Answers every queued task as cancelled (agent shutdown). */
void
admit_cancel_all(void)
{
	struct admit_entry *e;
	struct final f;
	struct task *t;

	while ((e = TAILQ_FIRST(&admit_queue)) != NULL) {
		t = e->task;
		admit_remove(e);
		memset(&f, 0, sizeof f);
		f.status = STATUS_FAILURE;
		f.exit_code = 1;
		f.cancelled = 1;
		f.reason = REASON_SHUTTING_DOWN;
		f.text = "cancelled before it started: the agent is shutting "
		    "down";
		task_send_final(t, &f);
	}
}

/* Each queued request as received, oldest first (a re-execution). */
void
admit_each_queued(void (*fn)(void *, const void *, size_t), void *arg)
{
	struct admit_entry *e;

	TAILQ_FOREACH(e, &admit_queue, entry)
		fn(arg, e->wire, e->wire_len);
}

void
admit_free(void)
{
	struct admit_entry *e;

	while ((e = TAILQ_FIRST(&admit_queue)) != NULL)
		admit_remove(e);
	if (admit_pump_event != NULL)
		event_free(admit_pump_event);
	if (admit_retry_event != NULL)
		event_free(admit_retry_event);
	admit_pump_event = admit_retry_event = NULL;
}
