/*
 * task.c: the task registry and the messages every task sends.
 *
 * Tasks are found by ID in a binary tree (POSIX tsearch: in every libc, so
 * no container code of our own).  A task numbers its messages from 1 (the
 * seq field), so that a server can drop the duplicates an at-least-once
 * resend causes.
 */

#include "config.h"

#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

struct task {
	char *id;
	char *reply_id;		/* agent_id for the task's responses */
	struct agent *agent;
	uint64_t seq;		/* of the last message sent */
	void (*cancel)(void *);	/* stops the task's work */
	void *owner;
};

static void *task_root;
static size_t task_n;

static int
task_cmp(const void *a, const void *b)
{
	return strcmp(((const struct task *)a)->id,
	    ((const struct task *)b)->id);
}

struct task *
task_find(const char *id)
{
	struct task key;
	void *found;

	key.id = (char *)(uintptr_t)id;
	found = tfind(&key, &task_root, task_cmp);
	return found != NULL ? *(struct task **)found : NULL;
}

/* Registers task ID; REPLY_ID is the request's agent_id, if it had one. */
struct task *
task_new(struct agent *a, const char *id, const char *reply_id)
{
	struct task *t;

	t = xcalloc(1, sizeof *t);
	t->id = xstrdup(id);
	t->reply_id = xstrdup(reply_id != NULL && *reply_id != '\0' ?
	    reply_id : a->opts->agent_id);
	t->agent = a;
	if (tsearch(t, &task_root, task_cmp) == NULL)
		fatalx("out of memory registering a task");
	task_n++;
	return t;
}

void
task_free(struct task *t)
{
	if (tdelete(t, &task_root, task_cmp) == NULL)
		fatalx("task %s was not registered", t->id);
	task_n--;
	free(t->id);
	free(t->reply_id);
	free(t);
}

/* FN(OWNER) cancels the task's work; it is called by task_cancel(). */
void
task_set_cancel(struct task *t, void (*fn)(void *), void *owner)
{
	t->cancel = fn;
	t->owner = owner;
}

/* Returns 0 if the task could be cancelled, -1 if it has no way to be. */
int
task_cancel(struct task *t)
{
	if (t->cancel == NULL)
		return -1;
	t->cancel(t->owner);
	return 0;
}

size_t
task_count(void)
{
	return task_n;
}

const char *
task_id(const struct task *t)
{
	return t->id;
}

static void
task_response_init(struct task *t, struct response *r)
{
	memset(r, 0, sizeof *r);
	r->agent_id = t->reply_id;
	r->task_id = t->id;
	r->seq = ++t->seq;
}

/* One IN_PROGRESS message with one stream's text. */
void
task_send_output(struct task *t, enum output_stream stream, const char *text,
    size_t len)
{
	struct response r;

	task_response_init(t, &r);
	r.status = STATUS_IN_PROGRESS;
	r.stream = stream;
	r.text = text;
	r.text_len = len;
	link_send(t->agent->link, wire_encode_response(&r));
}

/* The final message: REASON, if any, goes in stderr. */
void
task_send_final(struct task *t, enum response_status status, int exit_code,
    int cancelled, const char *reason)
{
	struct response r;

	task_response_init(t, &r);
	r.status = status;
	r.is_final = 1;
	r.cancelled = cancelled;
	r.exit_code = exit_code;
	r.stream = OUTPUT_STDERR;
	if (reason != NULL) {
		r.text = reason;
		r.text_len = strlen(reason);
	}
	link_send(t->agent->link, wire_encode_response(&r));
}

/* The agent's answer to a cancel request. */
void
task_send_cancel_reply(struct task *t, const char *message)
{
	struct response r;

	task_response_init(t, &r);
	r.status = STATUS_COMPLETED;
	r.is_final = 1;
	r.cancelled = 1;
	r.is_cancel_reply = 1;
	r.text = message;
	r.text_len = strlen(message);
	link_send(t->agent->link, wire_encode_response(&r));
}

/*
 * Answers a request that cannot run with a FAILURE final (exit code 1) and
 * the reason, which is logged too.
 */
void
task_fail_request(struct agent *a, const struct request *req,
    const char *fmt, ...)
{
	struct task t;
	char *reason, *id;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&reason, fmt, ap);
	va_end(ap);
	id = log_escape(req->task_id, strlen(req->task_id), 200);
	log_warn("task %s refused: %s", id, reason);
	free(id);

	/* Not registered: nothing of it outlives this answer. */
	memset(&t, 0, sizeof t);
	t.id = req->task_id;
	t.reply_id = req->agent_id != NULL && *req->agent_id != '\0' ?
	    req->agent_id : a->opts->agent_id;
	t.agent = a;
	task_send_final(&t, STATUS_FAILURE, 1, 0, reason);
	free(reason);
}
