/*
 * task-shell.c: shell tasks: `SHELL -c CMD` with the request's environment
 * entries, in its working directory, run as a process task (task-proc.c).
 *
 * What can be checked before anything starts is checked here, so that the
 * FAILURE final says what is wrong in the server's words: the working
 * directory, and whether the shell exists at all.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Starts a shell task; the contract of task_proc_start(). */
int
task_shell_start(struct task *t, const struct request *req, char **cause)
{
	struct agent *a = task_agent(t);
	struct proc_spec spec;
	struct stat sb;
	char *shell, *argv[4], *what;
	int rc;

	if (*req->working_dir != '\0') {
		if (stat(req->working_dir, &sb) != 0) {
			xasprintf(cause, "working directory %s: %s",
			    req->working_dir, strerror(errno));
			return -1;
		}
		if (!S_ISDIR(sb.st_mode)) {
			xasprintf(cause, "working directory %s: %s",
			    req->working_dir, strerror(ENOTDIR));
			return -1;
		}
	}
	if ((shell = task_proc_find_program(a->opts->shell)) == NULL) {
		xasprintf(cause, "shell %s: not found or not executable",
		    a->opts->shell);
		return -1;
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
	spec.dir = *req->working_dir != '\0' ? req->working_dir : NULL;
	spec.what = what;
	spec.timeout_s = req->timeout_seconds;
	spec.traceparent = req->traceparent;
	rc = task_proc_start(t, &spec, cause);
	free(what);
	free(shell);
	return rc;
}
