/*
 * dispatch.c: one TaskRequest from the server to the handler for its kind.
 *
 * Whatever the server sends, the agent answers or logs it and carries on: a
 * message that does not decode is logged and dropped (there is no task ID
 * to answer), a request that cannot be served gets a FAILURE final with the
 * reason, and nothing here can end the stream or the agent.
 *
 * A task ID is run at most once: a repeat of a queued or running task is
 * ignored, a repeat of a finished one is answered with its final message
 * again (see task.c for how long finished IDs are remembered).
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static void
dispatch_cancel(struct agent *a, const struct request *req, const char *id)
{
	struct task *t;
	char msg[160];

	t = task_find(req->task_id);
	log_info("task %s: cancel requested%s%s", id,
	    *req->reason != '\0' ? ": " : "", req->reason);
	if (t == NULL) {
		task_cancel_unknown(a, req, "nothing to cancel: no task with "
		    "this ID is known (it will not run if it arrives later)");
		return;
	}
	switch (task_state(t)) {
	case TASK_NEW:
	case TASK_QUEUED:
		admit_cancel_queued(t);
		task_send_cancel_reply(t, "cancelled: the task was queued and "
		    "never started");
		task_send_final(t, STATUS_FAILURE, 1, 1,
		    "cancelled before it started");
		break;
	case TASK_RUNNING:
		if (task_cancel(t) == 0) {
			if (a->opts->kill_grace_s == 0)
				snprintf(msg, sizeof msg, "cancelling: the task "
				    "was running; SIGKILL sent");
			else
				snprintf(msg, sizeof msg, "cancelling: the task "
				    "was running; SIGTERM sent, SIGKILL in %u s",
				    a->opts->kill_grace_s);
			task_send_cancel_reply(t, msg);
		} else
			task_send_cancel_reply(t, "cancelling: the task was "
			    "already being stopped");
		break;
	case TASK_FINISHED:
		task_send_cancel_reply(t, "nothing to cancel: the task had "
		    "already finished");
		break;
	}
}

/* A task ID the agent has seen before. */
static void
dispatch_repeat(struct task *t, const char *id)
{
	if (task_state(t) == TASK_FINISHED) {
		log_info("task %s finished already: sending its final message "
		    "again", id);
		task_resend_final(t);
	} else
		log_warn("task %s is already %s: repeat ignored", id,
		    task_state(t) == TASK_RUNNING ? "running" : "queued");
}

/* Decodes one message from the server and acts on it. */
void
dispatch_request(struct agent *a, const void *data, size_t len)
{
	struct request req;
	struct task *t;
	char *cause = NULL, *id = NULL;

	if (wire_decode_request(data, len, &req, &cause) != 0) {
		if (req.task_id != NULL && *req.task_id != '\0' &&
		    task_find(req.task_id) == NULL)
			task_fail(a, NULL, &req, "malformed request: %s", cause);
		else
			log_warn("malformed message from the server ignored: "
			    "%s", cause);
		goto out;
	}
	if (*req.task_id == '\0') {
		task_fail(a, NULL, &req, "request has an empty task_id");
		goto out;
	}
	if (strlen(req.task_id) > TASK_ID_MAX) {
		task_fail(a, NULL, &req, "task_id is %zu bytes long; the limit "
		    "is %d", strlen(req.task_id), TASK_ID_MAX);
		goto out;
	}
	id = log_escape(req.task_id, strlen(req.task_id), 200);
	if (req.kind == REQUEST_CANCEL) {
		dispatch_cancel(a, &req, id);
		goto out;
	}
	if ((t = task_find(req.task_id)) != NULL) {
		dispatch_repeat(t, id);
		goto out;
	}
	if (a->shutting_down) {
		task_fail(a, NULL, &req, "agent is shutting down");
		goto out;
	}
	switch (req.kind) {
	case REQUEST_SHELL:
	case REQUEST_DOCKER:
		admit_request(a, &req);
		break;
	case REQUEST_NONE:
	case REQUEST_CANCEL:
		task_fail(a, NULL, &req, "request has no task: expected "
		    "shell_execute, docker_operation or task_cancel");
		break;
	}
out:
	free(id);
	free(cause);
	wire_request_free(&req);
}
