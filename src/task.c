/*
 * task.c: the task registry, the messages every task sends, and the memory
 * that makes "never run a task ID twice" true.
 *
 * Every task ID the agent has answered stays registered: queued, running,
 * or finished.  A finished task keeps a copy of its final message, so that
 * a server that sends the task again (delivery is at-least-once) gets the
 * same answer instead of a second run.  Finished tasks are forgotten oldest
 * first, beyond TASK_REMEMBER_MAX of them or TASK_REMEMBER_SECONDS of age,
 * which bounds the memory this takes.
 *
 * Tasks are found by ID in a binary tree (POSIX tsearch: in every libc, so
 * no container code of our own).  A task numbers its messages from 1 (the
 * seq field), so that a server can drop the duplicates a resend causes.
 */

#include "config.h"

#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"

#define TASK_REMEMBER_MAX 10000
#define TASK_REMEMBER_SECONDS 3600
/* Longest reason a FAILURE final carries; the rest is cut. */
#define TASK_REASON_MAX 1024

struct task {
	char *id;
	char *reply_id;		/* agent_id for the task's responses */
	struct agent *agent;
	enum task_state state;
	uint64_t seq;		/* of the last message sent */
	enum task_kind kind;	/* which response its messages carry */
	char *container_id;	/* for a Docker run's final message */
	int (*cancel)(void *);	/* stops a running task's work */
	void *owner;

	/* Finished tasks: the final message, in finishing order. */
	struct msg *final;
	time_t finished_at;
	struct task *older, *newer;
};

static void *task_root;
static size_t task_counts[4];
static struct task *task_oldest, *task_newest;

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
task_new(struct agent *a, const char *id, const char *reply_id,
    enum task_state state)
{
	struct task *t;

	t = xcalloc(1, sizeof *t);
	t->id = xstrdup(id);
	t->reply_id = xstrdup(reply_id != NULL && *reply_id != '\0' ?
	    reply_id : a->opts->agent_id);
	t->agent = a;
	t->state = state;
	if (tsearch(t, &task_root, task_cmp) == NULL)
		fatalx("out of memory registering a task");
	task_counts[state]++;
	return t;
}

static void
task_free(struct task *t)
{
	if (tdelete(t, &task_root, task_cmp) == NULL)
		fatalx("task %s was not registered", t->id);
	task_counts[t->state]--;
	free(t->id);
	free(t->reply_id);
	free(t->final);
	free(t->container_id);
	free(t);
}

/* Forgets finished tasks beyond the count or age limit, oldest first. */
static void
task_forget_old(time_t now)
{
	struct task *t;

	while ((t = task_oldest) != NULL &&
	    (task_counts[TASK_FINISHED] > TASK_REMEMBER_MAX ||
	    now - t->finished_at > TASK_REMEMBER_SECONDS)) {
		task_oldest = t->newer;
		if (task_oldest != NULL)
			task_oldest->older = NULL;
		else
			task_newest = NULL;
		task_free(t);
	}
}

void
task_set_state(struct task *t, enum task_state state)
{
	task_counts[t->state]--;
	t->state = state;
	task_counts[state]++;
}

enum task_state
task_state(const struct task *t)
{
	return t->state;
}

size_t
task_count(enum task_state state)
{
	return task_counts[state];
}

const char *
task_id(const struct task *t)
{
	return t->id;
}

/* FN(OWNER) cancels the running task's work; see task_cancel(). */
void
task_set_cancel(struct task *t, int (*fn)(void *), void *owner)
{
	t->cancel = fn;
	t->owner = owner;
}

void
task_set_kind(struct task *t, enum task_kind kind)
{
	t->kind = kind;
}

void
task_set_container_id(struct task *t, const char *id)
{
	free(t->container_id);
	t->container_id = id != NULL ? xstrdup(id) : NULL;
}

/* Returns 0 if the cancel started now, 1 if one was already under way. */
int
task_cancel(struct task *t)
{
	return t->cancel != NULL ? t->cancel(t->owner) : 1;
}

static void
task_response_init(struct task *t, struct response *r)
{
	memset(r, 0, sizeof *r);
	r->agent_id = t->reply_id;
	r->task_id = t->id;
	r->seq = ++t->seq;
	r->docker = t->kind == TASK_KIND_DOCKER;
}

static struct msg *
task_msg_copy(const struct msg *m)
{
	struct msg *c;

	c = xmalloc(sizeof *c + m->len);
	c->next = NULL;
	c->len = m->len;
	memcpy(c->data, m->data, m->len);
	return c;
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

/* Sends M as the task's last word and remembers it: the task is finished. */
static void
task_finish(struct task *t, struct msg *m)
{
	time_t now = time(NULL);

	t->final = task_msg_copy(m);
	link_send(t->agent->link, m);
	t->cancel = NULL;
	t->owner = NULL;
	task_set_state(t, TASK_FINISHED);
	t->finished_at = now;
	t->older = task_newest;
	t->newer = NULL;
	if (task_newest != NULL)
		task_newest->newer = t;
	else
		task_oldest = t;
	task_newest = t;
	task_forget_old(now);
}

/*
 * The final message; REASON, if any, goes in stderr.  Afterwards the task
 * is only a memory of its answer.
 */
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
	r.container_id = t->container_id;
	if (reason != NULL) {
		r.text = reason;
		r.text_len = strlen(reason);
	}
	task_finish(t, wire_encode_response(&r));
}

/* Sends a finished task's final message again, unchanged (same seq). */
void
task_resend_final(struct task *t)
{
	if (t->final != NULL)
		link_send(t->agent->link, task_msg_copy(t->final));
}

static struct msg *
task_cancel_reply_msg(struct task *t, const char *message)
{
	struct response r;

	task_response_init(t, &r);
	r.status = STATUS_COMPLETED;
	r.is_final = 1;
	r.cancelled = 1;
	r.is_cancel_reply = 1;
	r.text = message;
	r.text_len = strlen(message);
	return wire_encode_response(&r);
}

/* The agent's answer to a cancel request. */
void
task_send_cancel_reply(struct task *t, const char *message)
{
	link_send(t->agent->link, task_cancel_reply_msg(t, message));
}

/*
 * A cancel for an ID the agent has never seen: answered, and remembered
 * with that answer, so that the task, should it arrive late, never runs.
 */
void
task_cancel_unknown(struct agent *a, const struct request *req,
    const char *message)
{
	struct task *t;

	t = task_new(a, req->task_id, req->agent_id, TASK_NEW);
	task_finish(t, task_cancel_reply_msg(t, message));
}

/* Cuts S to at most MAX bytes on a character boundary. */
static void
task_cut_reason(char *s, size_t max)
{
	size_t len = strlen(s);

	if (len <= max)
		return;
	len = max - 3;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;	/* do not split a UTF-8 character */
	memcpy(s + len, "...", 4);
}

/*
 * Answers a request that cannot run with a FAILURE final (exit code 1) and
 * the reason, which is logged too.  T is the request's registered task, or
 * NULL to register one now; an empty or overlong task ID is answered but
 * never registered.
 */
void
task_fail(struct agent *a, struct task *t, const struct request *req,
    const char *fmt, ...)
{
	char *reason, *id;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&reason, fmt, ap);
	va_end(ap);
	task_cut_reason(reason, TASK_REASON_MAX);
	id = log_escape(req->task_id, strlen(req->task_id), 200);
	log_warn("task %s refused: %s", id, reason);
	free(id);
	if (t == NULL && (*req->task_id == '\0' ||
	    strlen(req->task_id) > TASK_ID_MAX)) {
		struct task once;
		struct response r;

		/* Answered from the stack: nothing of it is kept. */
		memset(&once, 0, sizeof once);
		once.kind = req->kind == REQUEST_DOCKER ? TASK_KIND_DOCKER :
		    TASK_KIND_SHELL;
		once.id = req->task_id;
		once.reply_id = *req->agent_id != '\0' ? req->agent_id :
		    a->opts->agent_id;
		task_response_init(&once, &r);
		r.status = STATUS_FAILURE;
		r.is_final = 1;
		r.exit_code = 1;
		r.stream = OUTPUT_STDERR;
		r.text = reason;
		r.text_len = strlen(reason);
		link_send(a->link, wire_encode_response(&r));
	} else {
		if (t == NULL)
			t = task_new(a, req->task_id, req->agent_id, TASK_NEW);
		task_set_kind(t, req->kind == REQUEST_DOCKER ?
		    TASK_KIND_DOCKER : TASK_KIND_SHELL);
		task_send_final(t, STATUS_FAILURE, 1, 0, reason);
	}
	free(reason);
}

/* Frees every task (agent exit). */
void
task_free_all(void)
{
	struct task *t;

	while (task_root != NULL) {
		t = *(struct task **)task_root;
		task_free(t);
	}
	task_oldest = task_newest = NULL;
}
