/*
 * task.c: the task registry, the messages every task sends, and the memory
 * that makes "never run a task ID twice" true.
 *
 * Every task ID the agent has answered stays registered: queued, running,
 * or finished.  dispatch.c registers a task, in one place, before admission
 * decides whether it runs now or waits.  A finished task keeps a copy of
 * its final message, so that a server that sends the task again (delivery
 * is at-least-once) gets the same answer instead of a second run.
 * Finished tasks are forgotten oldest first, beyond TASK_REMEMBER_MAX of
 * them or TASK_REMEMBER_SECONDS of age, which bounds the memory this takes.
 * Cancels of IDs never seen are remembered the same way but apart, in a
 * memory of their own: a flood of them must not push out the finished
 * tasks that make "never twice" true.
 *
 * Tasks are found by ID in a red-black tree (compat/tree.h); finished ones
 * also sit in a queue in finishing order.  The counts per state are kept
 * here and nowhere else.  A task numbers its messages from 1 (the seq
 * field), so that a server can drop the duplicates a resend causes.
 */

#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "compat/tree.h"
#include "record.h"

#define TASK_REMEMBER_MAX 10000
#define TASK_REMEMBER_SECONDS 3600
/* Longest reason a FAILURE final carries; the rest is cut. */
#define TASK_REASON_MAX 1024

struct task {
	RB_ENTRY(task) entry;		/* the registry */
	TAILQ_ENTRY(task) finished;	/* finished tasks, oldest first */
	char *id;
	char *reply_id;		/* agent_id for the task's responses */
	struct agent *agent;
	enum task_state state;
	enum task_kind kind;	/* which response its messages carry */
	struct srun *run;	/* its START record (state.c), or NULL */
	char *container_id;	/* for a Docker run's final message */
	struct tstream *ts;	/* its seqs, and what the server acknowledged */
	int (*cancel)(void *);	/* stops a queued or running task */
	void (*input)(void *, const struct request *);	/* or NULL */
	void (*resize)(void *, unsigned, unsigned);	/* or NULL */
	void *owner;

	const struct task_sink *sink;	/* where its messages go instead */
	void *sink_arg;

	struct msg *final;	/* a finished task's last word */
	time_t finished_at;
	int unknown_cancel;	/* remembered for a cancel, never ran */
};

RB_HEAD(task_tree, task);
TAILQ_HEAD(task_finished_list, task);

static struct task_tree task_tree = RB_INITIALIZER(&task_tree);
static struct task_finished_list task_finished =
    TAILQ_HEAD_INITIALIZER(task_finished);
static struct task_finished_list task_unknown_cancels =
    TAILQ_HEAD_INITIALIZER(task_unknown_cancels);
static size_t task_n_finished, task_n_unknown_cancels;
static size_t task_counts[TASK_FINISHED + 1];

static int
task_cmp(struct task *a, struct task *b)
{
	return strcmp(a->id, b->id);
}

/* (Not _STATIC: libbsd's spelling of that does not compile.) */
RB_PROTOTYPE(task_tree, task, entry, task_cmp)
RB_GENERATE(task_tree, task, entry, task_cmp)

struct task *
task_find(const char *id)
{
	struct task key;

	key.id = (char *)(uintptr_t)id;
	return RB_FIND(task_tree, &task_tree, &key);
}

/*
 * Registers task ID, not yet queued or running; REPLY_ID is the request's
 * agent_id, if it had one.  The ID must not be registered already.
 */
struct task *
task_new(struct agent *a, const char *id, const char *reply_id,
    enum task_kind kind)
{
	struct task *t;

	t = xcalloc(1, sizeof *t);
	t->id = xstrdup(id);
	t->reply_id = xstrdup(reply_id != NULL && *reply_id != '\0' ?
	    reply_id : a->opts->agent_id);
	t->agent = a;
	t->kind = kind;
	t->state = TASK_NEW;
	t->ts = tstream_new(id, 0);
	if (RB_INSERT(task_tree, &task_tree, t) != NULL)
		fatalx("task registered twice");
	task_counts[TASK_NEW]++;
	return t;
}

static void
task_free(struct task *t)
{
	RB_REMOVE(task_tree, &task_tree, t);
	if (t->state == TASK_FINISHED && t->unknown_cancel) {
		TAILQ_REMOVE(&task_unknown_cancels, t, finished);
		task_n_unknown_cancels--;
	} else if (t->state == TASK_FINISHED) {
		TAILQ_REMOVE(&task_finished, t, finished);
		task_n_finished--;
	}
	task_counts[t->state]--;
	free(t->id);
	free(t->reply_id);
	msg_free(t->final);
	free(t->container_id);
	tstream_orphan(t->ts);
	tstream_unref(t->ts);
	free(t);
}

/* Forgets the oldest of LIST (holding *N) beyond the count or age limit. */
static void
task_forget_old(struct task_finished_list *list, size_t *n, time_t now)
{
	struct task *t;

	while ((t = TAILQ_FIRST(list)) != NULL && (*n > TASK_REMEMBER_MAX ||
	    now - t->finished_at > TASK_REMEMBER_SECONDS))
		task_free(t);
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

enum task_kind
task_kind(const struct task *t)
{
	return t->kind;
}

struct agent *
task_agent(const struct task *t)
{
	return t->agent;
}

/* FN(OWNER) cancels the queued or running task; see task_cancel(). */
void
task_set_cancel(struct task *t, int (*fn)(void *), void *owner)
{
	t->cancel = fn;
	t->owner = owner;
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
	r->seq = tstream_next(t->ts);
	r->docker = t->kind == TASK_KIND_DOCKER;
}

/* A copy of M to send again (the journal holds M already). */
static struct msg *
task_msg_copy(const struct task *t, const struct msg *m)
{
	struct msg *c;

	c = msg_new(m->len);
	memcpy(c->data, m->data, m->len);
	c->seq = m->seq;
	c->ts = tstream_ref(t->ts);
	return c;
}

/* Sends M, the task's latest message (its last if FINAL): journaled
 * first, so that a crash after the send loses nothing. */
static void
task_emit(struct task *t, struct msg *m, int final)
{
	m->seq = tstream_seq(t->ts);
	m->ts = tstream_ref(t->ts);
	state_seq_use(t->run, m->seq);
	outbox_send(m, t->id, final);
}

/*
 * A task of today's upstream protocol (head.c) answers in messages of
 * its own: its output and final go to SINK instead of becoming
 * TaskResponses; nothing of it is numbered or journaled.
 */
void
task_set_sink(struct task *t, const struct task_sink *sink, void *arg)
{
	t->sink = sink;
	t->sink_arg = arg;
}

/* One IN_PROGRESS message with one stream's text. */
void
task_send_output(struct task *t, enum output_stream stream, const char *text,
    size_t len)
{
	struct response r;

	if (t->sink != NULL) {
		t->sink->output(t->sink_arg, stream, text, len);
		return;
	}
	task_response_init(t, &r);
	r.status = STATUS_IN_PROGRESS;
	r.stream = stream;
	r.text = text;
	r.text_len = len;
	task_emit(t, wire_encode_response(&r), 0);
}

/* Sends M as the task's last word and remembers it: the task is finished. */
static void
task_finish(struct task *t, struct msg *m)
{
	time_t now = time(NULL);

	t->final = task_msg_copy(t, m);
	t->input = NULL;
	t->resize = NULL;
	/* Remembered before it can reach the server: an agent killed
	 * between the two must not report as interrupted a task whose final
	 * was delivered (it sends the remembered final instead). */
	finished_add(t->id, t->final);
	task_emit(t, m, 1);
	t->cancel = NULL;
	t->owner = NULL;
	task_set_state(t, TASK_FINISHED);
	t->finished_at = now;
	if (t->unknown_cancel) {
		TAILQ_INSERT_TAIL(&task_unknown_cancels, t, finished);
		task_n_unknown_cancels++;
	} else {
		TAILQ_INSERT_TAIL(&task_finished, t, finished);
		task_n_finished++;
	}
	task_forget_old(&task_finished, &task_n_finished, now);
	task_forget_old(&task_unknown_cancels, &task_n_unknown_cancels, now);
}

/* A sink's task ends: its sink answers, and the task is forgotten soon. */
static void
task_finish_sunk(struct task *t, const struct final *f)
{
	time_t now = time(NULL);
	const struct task_sink *sink = t->sink;
	void *arg = t->sink_arg;

	t->sink = NULL;
	t->sink_arg = NULL;
	/* Its answer is not journaled: the journal says it ended, so that a
	 * restart does not report it interrupted. */
	state_task_done(t->id);
	t->input = NULL;
	t->resize = NULL;
	t->cancel = NULL;
	t->owner = NULL;
	task_set_state(t, TASK_FINISHED);
	t->finished_at = now;
	TAILQ_INSERT_TAIL(&task_finished, t, finished);
	task_n_finished++;
	sink->final(arg, f);
	task_forget_old(&task_finished, &task_n_finished, now);
}

/*
 * The final message; its text, if any, goes in stderr.  Afterwards the
 * task is only a memory of its answer.
 */
void
task_send_final(struct task *t, const struct final *f)
{
	struct response r;

	if (t->sink != NULL) {
		task_finish_sunk(t, f);
		return;
	}
	task_response_init(t, &r);
	r.status = f->status;
	r.is_final = 1;
	r.cancelled = f->cancelled;
	r.exit_code = f->exit_code;
	r.reason = f->reason;
	r.usage = f->usage;
	r.stream = OUTPUT_STDERR;
	r.container_id = t->container_id;
	if (f->text != NULL) {
		r.text = f->text;
		r.text_len = strlen(f->text);
	}
	task_finish(t, wire_encode_response(&r));
}

/* What takes TaskInput and TaskResize for the running task. */
void
task_set_io(struct task *t, void (*input)(void *, const struct request *),
    void (*resize)(void *, unsigned, unsigned))
{
	t->input = input;
	t->resize = resize;
}

/*
 * TaskInput or TaskResize REQ: to its task, if that is running and takes
 * it; else logged at debug level, counted, dropped (never fatal).
 */
void
task_input(struct agent *a, const struct request *req)
{
	struct task *t = task_find(req->task_id);
	const char *what = req->kind == REQUEST_INPUT ? "input" : "resize";

	(void)a;
	if (t == NULL || t->state != TASK_RUNNING || (req->kind ==
	    REQUEST_INPUT ? t->input == NULL : t->resize == NULL)) {
		metrics.input_dropped++;
		log_debug("%s for task %s dropped: %s", what, req->task_id,
		    t == NULL ? "no such task" : t->state != TASK_RUNNING ?
		    "it is not running" : req->kind == REQUEST_INPUT ?
		    "it takes no input (stdin or pty not set)" :
		    "it has no terminal");
		return;
	}
	if (req->kind == REQUEST_INPUT)
		t->input(t->owner, req);
	else
		t->resize(t->owner, req->rows, req->cols);
}

/*
 * A file transfer's message R (its file fields; task_id, seq and the rest
 * are the task's), its last if FINAL.
 */
void
task_send_file(struct task *t, const struct response *tmpl, int final)
{
	struct response r;

	r = *tmpl;
	r.agent_id = t->reply_id;
	r.task_id = t->id;
	r.seq = tstream_next(t->ts);
	r.is_final = final;
	if (final)
		task_finish(t, wire_encode_response(&r));
	else
		task_emit(t, wire_encode_response(&r), 0);
}

/* Sends a finished task's final message again, unchanged (same seq). */
void
task_resend_final(struct task *t)
{
	if (t->final != NULL)
		outbox_send(task_msg_copy(t, t->final), NULL,
		    0);
}

static struct msg *
task_cancel_reply_msg(struct task *t, const struct request *req,
    const char *message)
{
	struct response r;

	task_response_init(t, &r);
	r.status = STATUS_COMPLETED;
	r.is_final = 1;
	r.cancelled = 1;
	r.is_cancel_reply = 1;
	r.cancel_upstream = req->cancel_upstream;
	r.text = message;
	r.text_len = strlen(message);
	return wire_encode_response(&r);
}

/* The agent's answer to the cancel request REQ. */
void
task_send_cancel_reply(struct task *t, const struct request *req,
    const char *message)
{
	task_emit(t, task_cancel_reply_msg(t, req, message), 0);
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

	t = task_new(a, req->task_id, req->agent_id, TASK_KIND_SHELL);
	t->unknown_cancel = 1;
	task_finish(t, task_cancel_reply_msg(t, req, message));
}

static char *task_reason(const char *, va_list) printflike(1, 0);

/* Formats a FAILURE reason, cut to TASK_REASON_MAX on a character. */
static char *
task_reason(const char *fmt, va_list ap)
{
	char *s;
	size_t len;

	xvasprintf(&s, fmt, ap);
	if ((len = strlen(s)) > TASK_REASON_MAX) {
		len = TASK_REASON_MAX - 3;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;	/* do not split a UTF-8 character */
		memcpy(s + len, "...", 4);
	}
	return s;
}

/*
 * Answers a registered task that cannot run with a FAILURE final (exit
 * code 1), WHY, and the reason in words, which is logged too.
 */
void
task_fail(struct task *t, enum fail_reason why, const char *fmt, ...)
{
	struct final f;
	char *reason;
	va_list ap;

	va_start(ap, fmt);
	reason = task_reason(fmt, ap);
	va_end(ap);
	log_warnx("task %s refused (%s): %s", t->id, fail_reason_name(why),
	    reason);
	if ((unsigned)why < METRICS_REASONS)
		metrics.refused[why]++;
	metrics.finished[t->kind][OUTCOME_FAILED]++;
	memset(&f, 0, sizeof f);
	f.status = STATUS_FAILURE;
	f.exit_code = 1;
	f.reason = why;
	f.text = reason;
	task_send_final(t, &f);
	free(reason);
}

/*
 * Answers a request that is never registered (its task ID is empty or
 * too long to remember) with a FAILURE final; nothing of it is kept.
 */
void
task_refuse(struct agent *a, const struct request *req, enum fail_reason why,
    const char *fmt, ...)
{
	struct response r;
	char *reason;
	va_list ap;

	va_start(ap, fmt);
	reason = task_reason(fmt, ap);
	va_end(ap);
	log_warnx("task %s refused (%s): %s", req->task_id,
	    fail_reason_name(why), reason);
	memset(&r, 0, sizeof r);
	r.reason = why;
	r.agent_id = *req->agent_id != '\0' ? req->agent_id :
	    a->opts->agent_id;
	r.task_id = req->task_id;
	r.seq = 1;
	r.docker = req->kind == REQUEST_DOCKER;
	r.status = STATUS_FAILURE;
	r.is_final = 1;
	r.exit_code = 1;
	r.stream = OUTPUT_STDERR;
	r.text = reason;
	r.text_len = strlen(reason);
	outbox_send(wire_encode_response(&r), NULL, 0);
	free(reason);
}

/* Frees every task (agent exit). */
void
task_free_all(void)
{
	struct task *t, *next;

	RB_FOREACH_SAFE(t, task_tree, &task_tree, next)
		task_free(t);
}

struct tstream *
task_stream(struct task *t)
{
	return t->ts;
}

/*
 * Task T runs as PID, in CGROUP (a path, or NULL), its processes marked
 * MARKER, writing an upload to TMPFILE or running Docker container
 * CONTAINER (or NULL): recorded in the state directory until
 * task_record_end, so that the next agent can end what this one could
 * not; its messages keep to the seqs the record reserves.
 */
struct srun *
task_record_start(struct task *t, pid_t pid, const char *cgroup,
    const char *marker, const char *tmpfile, const char *container)
{
	struct srun tmpl;

	memset(&tmpl, 0, sizeof tmpl);
	tmpl.id = t->id;
	tmpl.reply_id = t->reply_id;
	tmpl.kind = (int)t->kind;
	tmpl.pid = pid;
	tmpl.cgroup = (char *)(uintptr_t)cgroup;
	tmpl.marker = (char *)(uintptr_t)marker;
	tmpl.tmpfile = (char *)(uintptr_t)tmpfile;
	tmpl.container = (char *)(uintptr_t)container;
	tmpl.ts = t->ts;
	return state_task_started(&tmpl, &t->run);
}

const char *
task_reply_id(const struct task *t)
{
	return t->reply_id;
}

/*
 * A task of the previous run, read back from the journal (state.c): its
 * messages up to SEQ were sent; FINAL, if not NULL, was its last.
 */
struct task *
task_restore(struct agent *a, const char *id, const char *reply_id, int kind,
    uint64_t seq, const struct msg *final)
{
	struct task *t;
	time_t now = time(NULL);

	if ((t = task_find(id)) == NULL) {
		t = task_new(a, id, reply_id, (enum task_kind)kind);
		tstream_set_seq(t->ts, seq);
	}
	if (final != NULL && t->final == NULL) {
		t->final = task_msg_copy(t, final);
		tstream_set_seq(t->ts, seq);
		task_set_state(t, TASK_FINISHED);
		t->finished_at = now;
		TAILQ_INSERT_TAIL(&task_finished, t, finished);
		task_n_finished++;
		task_forget_old(&task_finished, &task_n_finished, now);
	}
	return t;
}

/*
 * Task ID of the previous run (state.c), interrupted by the agent's death
 * after its messages up to SEQ: it finishes now, FAILURE with reason
 * AGENT_RESTARTED.
 */
void
task_restore_interrupted(struct agent *a, const char *id,
    const char *reply_id, int kind, uint64_t seq)
{
	struct final f;
	struct task *t;

	t = task_restore(a, id, reply_id, kind, seq, NULL);
	tstream_set_seq(t->ts, seq);
	memset(&f, 0, sizeof f);
	f.status = STATUS_FAILURE;
	f.exit_code = 1;
	f.reason = REASON_AGENT_RESTARTED;
	f.text = "the agent restarted while the task was running\n";
	task_send_final(t, &f);
}

/* Each running task with a sink, its sink and argument (a re-execution). */
void
task_each_sunk(void (*fn)(void *, const char *, const struct task_sink *,
    void *), void *arg)
{
	struct task *t;

	RB_FOREACH(t, task_tree, &task_tree)
		if (t->sink != NULL)
			fn(arg, t->id, t->sink, t->sink_arg);
}

/* A finished task forgotten now (its ID is to be used again). */
void
task_forget(struct task *t)
{
	if (t->state == TASK_FINISHED)
		task_free(t);
}

/* Each finished task and its final, oldest first (a re-execution). */
void
task_each_finished(void (*fn)(void *, const char *, const char *, int,
    const struct msg *), void *arg)
{
	struct task *t;

	TAILQ_FOREACH(t, &task_finished, finished)
		if (t->final != NULL)	/* (a sink's task has none) */
			fn(arg, t->id, t->reply_id, (int)t->kind, t->final);
}
