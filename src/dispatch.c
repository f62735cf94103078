/*
 * dispatch.c: one TaskRequest from the server to the handler for its kind.
 *
 * Whatever the server sends, the agent answers or logs it and carries on: a
 * message that does not decode is logged and dropped (there is no task ID
 * to answer), a request that cannot be served gets a FAILURE final with the
 * reason, and nothing here can end the stream or the agent.
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
	char *id;

	id = log_escape(req->task_id, strlen(req->task_id), 200);
	t = task_find(req->task_id);
	if (t != NULL && task_cancel(t) == 0) {
		log_info("task %s: cancel requested%s%s", id,
		    *req->reason != '\0' ? ": " : "", req->reason);
		task_send_cancel_reply(t, "cancelled: the task was running");
	} else {
		log_info("task %s: cancel for a task that is not running", id);
		t = task_new(a, req->task_id, req->agent_id);
		task_send_cancel_reply(t, "nothing to cancel: the task is not "
		    "running");
		task_free(t);
	}
	free(id);
}

/* Decodes one message from the server and acts on it. */
void
dispatch_request(struct agent *a, const void *data, size_t len)
{
	struct request req;
	char *cause = NULL, *id;

	if (wire_decode_request(data, len, &req, &cause) != 0) {
		if (req.task_id != NULL && *req.task_id != '\0')
			task_fail_request(a, &req, "malformed request: %s",
			    cause);
		else
			log_warn("malformed message from the server ignored: "
			    "%s", cause);
		goto out;
	}
	if (*req.task_id == '\0') {
		log_warn("request without a task_id ignored: nothing could "
		    "answer it");
		goto out;
	}
	if (a->shutting_down && req.kind != REQUEST_CANCEL) {
		task_fail_request(a, &req, "agent is shutting down");
		goto out;
	}

	switch (req.kind) {
	case REQUEST_SHELL:
		if (task_find(req.task_id) != NULL) {
			id = log_escape(req.task_id, strlen(req.task_id), 200);
			log_warn("task %s is already running: repeat ignored",
			    id);
			free(id);
			break;
		}
		if (task_shell_start(a, &req, &cause) != 0)
			task_fail_request(a, &req, "%s", cause);
		break;
	case REQUEST_DOCKER:
		task_fail_request(a, &req, "docker_operation is not supported "
		    "by this agent version");
		break;
	case REQUEST_CANCEL:
		dispatch_cancel(a, &req);
		break;
	case REQUEST_NONE:
		task_fail_request(a, &req, "request has no task: expected "
		    "shell_execute, docker_operation or task_cancel");
		break;
	}
out:
	free(cause);
	wire_request_free(&req);
}
