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
 *
 * A command longer than one argument may be (the kernel's MAX_ARG_STRLEN,
 * 128 KiB) is handed to the shell as a script on descriptor 4 instead:
 * `SHELL /dev/fd/4`, the script an anonymous memory file (memfd) that no
 * other process can open or replace.  The script's first words close
 * descriptor 4, so the task's processes do not inherit it (the shell reads
 * on through a descriptor of its own).  stdin stays the task's.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
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
			log_warnx("task %s: secret_env %.*s is shorter than %d "
			    "bytes: its value is not masked in the output",
			    task_id(t), (int)(eq - req->secret_env[i]) > 64 ?
			    64 : (int)(eq - req->secret_env[i]),
			    req->secret_env[i], MASK_MIN_LEN);
	}
}

/* Longer commands go as a script (see above). */
#define SHELL_ARG_MAX (64 * 1024)
#define SHELL_SCRIPT_HEAD "exec 4<&- ; "

/*
 * An anonymous file holding the script for command CMD, at offset 0, or
 * -1 with errno set; readable by a task of another user.
 */
static int
shell_script_fd(const char *cmd)
{
	const void *parts[2] = { SHELL_SCRIPT_HEAD, cmd };
	size_t lens[2] = { strlen(SHELL_SCRIPT_HEAD), strlen(cmd) };

	return compat_anon_file("nodelink-script", parts, lens, 2, 1);
}

/* The command in a sandbox container (IMAGE, NETWORK: as configured). */
static int
shell_start_sandboxed(struct task *t, const struct request *req,
    const char *image, int network, const struct limits *limits,
    char **cause, enum fail_reason *why)
{
	struct agent *a = task_agent(t);
	struct run_as user;
	char *shown;

	if (req->pty) {
		*cause = xstrdup("pty is not supported in a sandbox (stdin "
		    "is)");
		*why = REASON_BAD_REQUEST;
		return -1;
	}
	if (!docker_check_image(image)) {
		shown = vis_strdup(image, strlen(image), 200);
		xasprintf(cause, "sandbox.image '%s' is not an image "
		    "reference", shown);
		free(shown);
		*why = REASON_BAD_REQUEST;
		return -1;
	}
	if (*req->user != '\0') {
		if (user_resolve(a->opts, req->user, &user, cause) != 0) {
			*why = REASON_DENIED;
			return -1;
		}
		user_free(&user);
	}
	return task_docker_sandbox(t, req, image, network, limits,
	    *req->user != '\0' ? req->user : NULL, cause, why);
}

/* The working directory, checked as the agent (the child enters it as
 * the task's user). */
static int
shell_check_dir(const char *dir, char **cause)
{
	struct stat sb;

	if (*dir == '\0')
		return 0;
	if (stat(dir, &sb) != 0) {
		xasprintf(cause, "working directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "working directory %s: %s", dir,
		    strerror(ENOTDIR));
		return -1;
	}
	return 0;
}

/*
 * The shell's process for REQ (its user USER, or NULL): `shell -c CMD',
 * or, for a command too long for an argument, the shell reading it from
 * descriptor 4.
 */
static int
shell_start_process(struct task *t, const struct request *req,
    const struct limits *limits, const struct run_as *user, char **cause)
{
	struct agent *a = task_agent(t);
	struct proc_spec spec;
	char *shell, *argv[4], *what = NULL;
	int rc = -1, script = -1;

	if ((shell = task_proc_find_program(a->opts->shell)) == NULL) {
		xasprintf(cause, "shell %s: not found or not executable",
		    a->opts->shell);
		return -1;
	}
	argv[0] = a->opts->shell;
	argv[1] = (char *)"-c";
	argv[2] = req->cmd;
	argv[3] = NULL;
	if (strlen(req->cmd) > SHELL_ARG_MAX) {
		if ((script = shell_script_fd(req->cmd)) == -1) {
			xasprintf(cause, "cannot hand a command of %zu bytes to "
			    "the shell: %s", strlen(req->cmd), strerror(errno));
			goto out;
		}
		argv[1] = (char *)"/dev/fd/4";
		argv[2] = NULL;
	}
	xasprintf(&what, "%.200s%s", req->cmd, strlen(req->cmd) > 200 ?
	    "..." : "");
	memset(&spec, 0, sizeof spec);
	spec.path = shell;
	spec.argv = argv;
	spec.env = req->env;
	spec.n_env = req->n_env;
	spec.secret_env = req->secret_env;
	spec.n_secret_env = req->n_secret_env;
	spec.limits = *limits;
	spec.user = user;
	spec.dir = *req->working_dir != '\0' ? req->working_dir : NULL;
	spec.what = what;
	spec.timeout_s = req->timeout_seconds;
	spec.traceparent = req->traceparent;
	spec.want_stdin = req->want_stdin;
	spec.pty = req->pty;
	spec.rows = req->rows;
	spec.cols = req->cols;
	spec.script_fd = script;
	rc = task_proc_start(t, &spec, cause);
out:
	if (script != -1)
		close(script);
	free(what);
	free(shell);
	return rc;
}

/* Starts a shell task; the contract of task_proc_start(). */
int
task_shell_start(struct task *t, const struct request *req, char **cause,
    enum fail_reason *why)
{
	struct agent *a = task_agent(t);
	struct run_as user;
	struct limits limits;
	const char *image;
	int rc, network;

	if (policy_check_command(a->opts, req->cmd, cause) != 0 ||
	    policy_check_env(a->opts, req->env, req->n_env, req->secret_env,
	    req->n_secret_env, cause) != 0) {
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
	if (image != NULL)
		return shell_start_sandboxed(t, req, image, network, &limits,
		    cause, why);
	if (*req->user != '\0' &&
	    user_resolve(a->opts, req->user, &user, cause) != 0) {
		*why = REASON_DENIED;
		return -1;
	}
	if ((rc = shell_check_dir(req->working_dir, cause)) == 0)
		rc = shell_start_process(t, req, &limits,
		    *req->user != '\0' ? &user : NULL, cause);
	if (*req->user != '\0')
		user_free(&user);
	return rc;
}
