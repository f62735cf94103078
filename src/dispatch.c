/*
 * dispatch.c: one TaskRequest from the server to the handler for its kind.
 *
 * Whatever the server sends, the agent answers or logs it and carries on: a
 * message that does not decode, or whose task ID is not valid UTF-8, is
 * logged, counted and dropped (there is no ID the agent could send back),
 * a request that cannot be served gets a FAILURE final with the reason,
 * and nothing here can end the stream or the agent.
 *
 * A task ID is run at most once: a repeat of a queued or running task is
 * ignored, a repeat of a finished one is answered with its final message
 * again (see task.c for how long finished IDs are remembered).
 *
 * This file registers every task (task_new), and is the one place that
 * knows the kinds of task: admission (admit.c) calls dispatch_start() when
 * a task may run.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static void
dispatch_cancel(struct agent *a, const struct request *req)
{
	struct task *t;
	char plan[64], msg[160];

	struct final f;

	t = task_find(req->task_id);
	log_info("task %s: cancel requested%s%s", req->task_id,
	    *req->reason != '\0' ? ": " : "", req->reason);
	if (t == NULL) {
		task_cancel_unknown(a, req, "nothing to cancel: no task with "
		    "this ID is known (it will not run if it arrives later)");
		return;
	}
	switch (task_state(t)) {
	case TASK_NEW:
	case TASK_QUEUED:
		task_cancel(t);
		task_send_cancel_reply(t, req, "cancelled: the task was queued and "
		    "never started");
		/* It never started: START_FAILED, and `cancelled' says
		 * why. */
		memset(&f, 0, sizeof f);
		f.status = STATUS_FAILURE;
		f.exit_code = 1;
		f.cancelled = 1;
		f.reason = REASON_START_FAILED;
		f.text = "cancelled before it started";
		task_send_final(t, &f);
		break;
	case TASK_RUNNING:
		if (task_cancel(t) == 0) {
			kill_plan((uint64_t)a->opts->kill_grace_s * 1000, plan,
			    sizeof plan);
			snprintf(msg, sizeof msg, "cancelling: the task was "
			    "running; %s", plan);
			task_send_cancel_reply(t, req, msg);
		} else
			task_send_cancel_reply(t, req, "cancelling: the task was "
			    "already being stopped");
		break;
	case TASK_FINISHED:
		task_send_cancel_reply(t, req, "nothing to cancel: the task had "
		    "already finished");
		break;
	}
}

/* A task ID the agent has seen before. */
static void
dispatch_repeat(struct task *t)
{
	if (task_state(t) == TASK_FINISHED) {
		log_info("task %s finished already: sending its final message "
		    "again", task_id(t));
		task_resend_final(t);
	} else
		log_warnx("task %s is already %s: repeat ignored", task_id(t),
		    task_state(t) == TASK_RUNNING ? "running" : "queued");
}

/*
 * Starts a task of any kind now; admission calls this when a slot is free.
 * Returns TASK_START_LATER if it must wait (no descriptors), else 0.
 */
int
dispatch_start(struct task *t, const struct request *req)
{
	enum fail_reason why = REASON_START_FAILED;
	char *cause = NULL, *masked;
	int rc = -1;

	/* What the agent says about the task never shows its secrets. */
	log_scope_secrets(req->secret_env, req->n_secret_env);
	switch (req->kind) {
	case REQUEST_SHELL:
		rc = task_shell_start(t, req, &cause, &why);
		break;
	case REQUEST_DOCKER:
		rc = task_docker_start(t, req, &cause, &why);
		break;
	case REQUEST_NONE:
	case REQUEST_CANCEL:
	case REQUEST_ACK:
	case REQUEST_INPUT:
	case REQUEST_RESIZE:
	case REQUEST_UPLOAD:
	case REQUEST_DOWNLOAD:
	case REQUEST_LOG:
		fatalx("dispatch_start: not a task");	/* never admitted */
	}
	if (rc != 0 && rc != TASK_START_LATER) {
		masked = req->n_secret_env != 0 ? mask_entries_in(
		    req->secret_env, req->n_secret_env, cause) : NULL;
		task_fail(t, why, "%s", masked != NULL ? masked : cause);
		free(masked);
	}
	log_scope_clear();
	free(cause);
	return rc == TASK_START_LATER ? rc : 0;
}

/*
 * A task ID that finished longer ago than the registry remembers, or
 * before the agent restarted: the state directory has its final, which
 * goes again (a cancel is answered that it had finished).  True if so.
 */
static int
dispatch_finished_earlier(struct agent *a, const struct request *req)
{
	struct msg *final;

	if (!state_active() || (final = finished_final(req->task_id)) ==
	    NULL)
		return 0;
	if (req->kind == REQUEST_CANCEL) {
		log_info("task %s: cancel of a task that finished earlier",
		    req->task_id);
		msg_free(final);
		task_cancel_unknown(a, req, "nothing to cancel: the task had "
		    "already finished");
		return 1;
	}
	log_info("task %s finished earlier (the state directory remembers "
	    "it): sending its final message again", req->task_id);
	outbox_send(final, NULL, 0);
	return 1;
}

/* Starts a file transfer at once: it runs no process. */
static void
dispatch_file(struct task *t, const struct request *req)
{
	enum fail_reason why = REASON_BAD_REQUEST;
	char *cause = NULL;

	if (task_file_start(t, req, &cause, &why) != 0)
		task_fail(t, why, "%s", cause);
	free(cause);
}

/* Drops a message nothing can be sent back for. */
static void
dispatch_drop(const char *why)
{
	metrics.malformed++;
	log_warnx("malformed message from the server ignored: %s (%llu so far)",
	    why, (unsigned long long)metrics.malformed);
}

/* The kind of task REQ would start. */
static enum task_kind
dispatch_task_kind(const struct request *req)
{
	switch (req->kind) {
	case REQUEST_DOCKER:
		return TASK_KIND_DOCKER;
	case REQUEST_UPLOAD:
	case REQUEST_DOWNLOAD:
		return TASK_KIND_FILE;
	default:
		return TASK_KIND_SHELL;
	}
}

/*
 * True if REQ (CAUSE: why it did not decode, or NULL) was rejected: a
 * task ID that cannot be echoed is dropped, an empty or overlong one
 * refused, and a malformed request with a usable ID answered FAILURE
 * BAD_REQUEST (unless the ID is a task the agent knows).
 */
static int
dispatch_reject(struct agent *a, const struct request *req, const char *cause)
{
	struct task *t;
	char *why;

	if (!utf8_valid(req->task_id, strlen(req->task_id))) {
		/* Echoed, it would make a strict server end the stream. */
		xasprintf(&why, "task_id '%.200s' is not valid UTF-8",
		    req->task_id);
		dispatch_drop(why);
		free(why);
		return 1;
	}
	if (cause == NULL && (req->kind == REQUEST_ACK ||
	    req->kind == REQUEST_INPUT || req->kind == REQUEST_RESIZE ||
	    req->kind == REQUEST_LOG))
		return 0;	/* no answer of their own, whatever they name */
	if (*req->task_id == '\0' && cause != NULL)
		dispatch_drop(cause);
	else if (*req->task_id == '\0')
		task_refuse(a, req, REASON_BAD_REQUEST,
		    "request has an empty task_id");
	else if (strlen(req->task_id) > TASK_ID_MAX)
		task_refuse(a, req, REASON_BAD_REQUEST, "task_id is %zu bytes "
		    "long; the limit is %d", strlen(req->task_id), TASK_ID_MAX);
	else if (cause == NULL)
		return 0;
	else if (task_find(req->task_id) != NULL)
		log_warnx("task %s: malformed repeat ignored: %s",
		    req->task_id, cause);
	else if (!dispatch_finished_earlier(a, req)) {
		t = task_new(a, req->task_id, req->agent_id,
		    dispatch_task_kind(req));
		task_fail(t, REASON_BAD_REQUEST, "malformed request: %s",
		    cause);
	}
	return 1;
}

/* The released upstream server's log_message, logged as it says. */
static void
dispatch_log_message(const struct request *req)
{
	char shown[1024];

	vis_escape(shown, sizeof shown, req->log_message,
	    strlen(req->log_message), 0);
	log_info("the server says%s%s: %s", *req->task_id != '\0' ?
	    " about task " : "", req->task_id, shown);
}

/* A cancel: of a task known now, of one finished earlier, or unknown. */
static void
dispatch_cancel_request(struct agent *a, const struct request *req)
{
	if (task_find(req->task_id) == NULL &&
	    dispatch_finished_earlier(a, req))
		return;
	dispatch_cancel(a, req);
}

/* A request to run a task: a repeat, one finished earlier, or new. */
static void
dispatch_task(struct agent *a, struct request *req)
{
	struct task *t;

	if ((t = task_find(req->task_id)) != NULL) {
		dispatch_repeat(t);
		return;
	}
	if (dispatch_finished_earlier(a, req))
		return;
	t = task_new(a, req->task_id, req->agent_id, dispatch_task_kind(req));
	if (a->shutting_down)
		task_fail(t, REASON_SHUTTING_DOWN, "agent is shutting down");
	else if (a->draining)
		task_fail(t, REASON_SHUTTING_DOWN, "agent is draining: it "
		    "finishes the tasks it has and takes no new ones");
	else if (req->kind == REQUEST_NONE)
		task_fail(t, REASON_BAD_REQUEST,
		    "request has no task: expected shell_execute, "
		    "docker_operation or task_cancel");
	else if (req->kind == REQUEST_DOCKER && wire_is_upstream())
		/* Upstream's field 7 of a response is its task_cancel: a
		 * Docker answer there would read as a cancel reply. */
		task_fail(t, REASON_BAD_REQUEST, "Docker operations are not "
		    "part of the upstream server's protocol");
	else if (req->kind == REQUEST_UPLOAD || req->kind == REQUEST_DOWNLOAD)
		dispatch_file(t, req);	/* no process: no admission */
	else
		admit_request(t, req);
}

/* Decodes one message from the server and acts on it. */
void
dispatch_request(struct agent *a, const void *data, size_t len)
{
	struct request req;
	struct task *t;
	char *cause = NULL;

	if (wire_decode_request(data, len, &req, &cause) != 0 &&
	    req.task_id == NULL) {
		dispatch_drop(cause);
		goto out;
	}
	req.wire = data;
	req.wire_len = len;
	if (dispatch_reject(a, &req, cause))
		goto out;
	switch (req.kind) {
	case REQUEST_ACK:
		outbox_ack(req.task_id, req.ack_seq);
		break;
	case REQUEST_INPUT:
	case REQUEST_RESIZE:
		task_input(a, &req);
		break;
	case REQUEST_LOG:
		/* The released upstream server's log_message: said, no more. */
		dispatch_log_message(&req);
		break;
	case REQUEST_CANCEL:
		dispatch_cancel_request(a, &req);
		break;
	case REQUEST_UPLOAD:
		/* The next chunk of a running upload? */
		if ((t = task_find(req.task_id)) != NULL &&
		    task_state(t) == TASK_RUNNING && task_file_chunk(t, &req))
			break;
		dispatch_task(a, &req);
		break;
	case REQUEST_NONE:
	case REQUEST_SHELL:
	case REQUEST_DOCKER:
	case REQUEST_DOWNLOAD:
		dispatch_task(a, &req);
		break;
	}
out:
	free(cause);
	wire_request_free(&req);
}
