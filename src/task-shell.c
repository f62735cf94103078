/*
 * task-shell.c: shell tasks: `SHELL -c CMD` with the request's environment
 * entries, in its working directory, run as a process task (task-proc.c).
 *
 * What can be checked before anything starts is checked here, so that the
 * FAILURE final says what is wrong in the server's words, with a reason:
 * the command policy (DENIED), the user to run as (DENIED), the working
 * directory and whether the shell exists at all (START_FAILED).  A task
 * with a sandbox, asked for or forced by --sandbox-image, runs in a fresh
 * container instead (task-docker.c).
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Secret values too short to mask are passed on with a warning that names
 * the variable only. */
static void
shell_warn_short_secrets(const struct task *t, const struct request *req)
{
	const char *eq;
	size_t i;

	for (i = 0; i < req->n_secret_env; i++) {
		eq = strchr(req->secret_env[i], '=');
		if (strlen(eq + 1) < MASK_MIN_LEN)
			log_warn("task %s: secret_env %.*s is shorter than %d "
			    "bytes: its value is not masked in the output",
			    task_id(t), (int)(eq - req->secret_env[i]) > 64 ?
			    64 : (int)(eq - req->secret_env[i]),
			    req->secret_env[i], MASK_MIN_LEN);
	}
}

/* Starts a shell task; the contract of task_proc_start(). */
int
task_shell_start(struct task *t, const struct request *req, char **cause,
    enum fail_reason *why)
{
	struct agent *a = task_agent(t);
	struct proc_spec spec;
	struct run_as user;
	struct limits limits;
	struct stat sb;
	const char *image;
	char *shell, *argv[4], *what;
	int rc, network;

	if (policy_check_command(a->opts, req->cmd, cause) != 0) {
		*why = REASON_DENIED;
		return -1;
	}
	if (limits_check(&req->limits, cause) != 0) {
		*why = REASON_BAD_REQUEST;
		return -1;
	}
	shell_warn_short_secrets(t, req);
	limits_effective(a->opts, &req->limits, task_id(t), &limits);
	image = a->opts->sandbox_image != NULL ? a->opts->sandbox_image :
	    *req->sandbox_image != '\0' ? req->sandbox_image : NULL;
	network = a->opts->sandbox_image != NULL ? a->opts->sandbox_network :
	    req->sandbox_network;
	if (image != NULL) {
		if (req->pty) {
			*cause = xstrdup("pty is not supported in a sandbox "
			    "(stdin is)");
			*why = REASON_BAD_REQUEST;
			return -1;
		}
		if (!docker_check_image(image)) {
			shell = vis_strdup(image, strlen(image), 200);
			xasprintf(cause, "sandbox.image '%s' is not an image "
			    "reference", shell);
			free(shell);
			*why = REASON_BAD_REQUEST;
			return -1;
		}
		if (*req->user != '\0' && user_resolve(a->opts, req->user,
		    &user, cause) != 0) {
			*why = REASON_DENIED;
			return -1;
		}
		if (*req->user != '\0')
			user_free(&user);
		return task_docker_sandbox(t, req, image, network, &limits,
		    *req->user != '\0' ? req->user : NULL, cause, why);
	}

	if (*req->user != '\0' &&
	    user_resolve(a->opts, req->user, &user, cause) != 0) {
		*why = REASON_DENIED;
		return -1;
	}
	rc = -1;
	shell = what = NULL;
	if (*req->working_dir != '\0') {
		/* As the agent: the child enters it as the task's user. */
		if (stat(req->working_dir, &sb) != 0) {
			xasprintf(cause, "working directory %s: %s",
			    req->working_dir, strerror(errno));
			goto out;
		}
		if (!S_ISDIR(sb.st_mode)) {
			xasprintf(cause, "working directory %s: %s",
			    req->working_dir, strerror(ENOTDIR));
			goto out;
		}
	}
	if ((shell = task_proc_find_program(a->opts->shell)) == NULL) {
		xasprintf(cause, "shell %s: not found or not executable",
		    a->opts->shell);
		goto out;
	}
	argv[0] = a->opts->shell;
	argv[1] = (char *)"-c";
	argv[2] = req->cmd;
	argv[3] = NULL;
	xasprintf(&what, "%.200s%s", req->cmd, strlen(req->cmd) > 200 ?
	    "..." : "");

	memset(&spec, 0, sizeof spec);
	spec.path = shell;
	spec.argv = argv;
	spec.env = req->env;
	spec.n_env = req->n_env;
	spec.secret_env = req->secret_env;
	spec.n_secret_env = req->n_secret_env;
	spec.limits = limits;
	spec.user = *req->user != '\0' ? &user : NULL;
	spec.dir = *req->working_dir != '\0' ? req->working_dir : NULL;
	spec.what = what;
	spec.timeout_s = req->timeout_seconds;
	spec.traceparent = req->traceparent;
	spec.want_stdin = req->want_stdin;
	spec.pty = req->pty;
	spec.rows = req->rows;
	spec.cols = req->cols;
	rc = task_proc_start(t, &spec, cause);
out:
	free(what);
	free(shell);
	if (*req->user != '\0')
		user_free(&user);
	return rc;
}
