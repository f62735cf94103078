/*
 * task-docker.c: Docker operations, run as the Docker CLI (--docker-binary,
 * "docker" on PATH by default; podman takes the same arguments) in a
 * process task (task-proc.c): output streams like a shell task's, and
 * cancels, timeouts, limits and exactly-once apply unchanged.
 *
 * What a Docker task adds:
 * - the argument vector from docker.c, refused before anything runs when a
 *   value fails Docker's grammar;
 * - an attached run always has a name (the request's, or one the agent
 *   makes), so that a cancel stops the container itself (`docker stop
 *   --time=GRACE NAME`: SIGTERM, then SIGKILL), not only the CLI;
 * - a run's container ID, read from the CLI's --cidfile, in the final
 *   message;
 * - a CLI that cannot reach its daemon makes the final a FAILURE saying so;
 * - images are checked against the policy (policy.images).
 *
 * A shell task with a sandbox (task-shell.c) comes here as a run built
 * from the shell request: `docker run --rm -i IMAGE SHELL -c CMD`.
 */

#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "record.h"

struct docker_task {
	struct agent *agent;
	char *binary;		/* the CLI, found on PATH */
	char *name;		/* an attached run's container */
	char *cidfile;		/* a run's --cidfile */
	int daemon_down;	/* the CLI said it cannot reach the daemon */
	char reason[128];
};

static unsigned long docker_serial;

static void
task_docker_task_free(void *arg)
{
	struct docker_task *dt = arg;

	if (dt->cidfile != NULL)
		unlink(dt->cidfile);
	free(dt->cidfile);
	free(dt->name);
	free(dt->binary);
	free(dt);
}

static void
task_docker_on_stop_exit(void *arg, pid_t pid, int status,
    const struct rusage *ru)
{
	char *name = arg;

	(void)pid;
	(void)ru;
	if (status != 0)
		log_warnx("docker stop %s exited with status %d", name, status);
	free(name);
}

/* Runs the CLI's ARGV (ARGV[0] its path) with no input and no output. */
static int
task_docker_spawn_quiet(char *const *argv, pid_t *pid)
{
	struct spawn_req sp;
	char **envp;
	int null_fd, error;

	if ((null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		return errno;
	memset(&sp, 0, sizeof sp);
	sp.path = argv[0];
	sp.argv = argv;
	envp = task_proc_env(NULL, 0, NULL);
	sp.envp = envp;
	sp.out_fd = null_fd;
	sp.err_fd = null_fd;
	sp.cgroup_fd = -1;
	sp.in_fd = -1;
	error = spawn_start(&sp, pid);
	free(envp);
	close(null_fd);
	return error;
}

/* A cancelled attached run: the container goes, not only the CLI. */
static void
task_docker_on_cancel(void *arg, unsigned grace_s)
{
	struct docker_task *dt = arg;
	char *argv[5], grace[32];
	int error;
	pid_t pid;

	if (dt->name == NULL)
		return;
	snprintf(grace, sizeof grace, "--time=%u", grace_s);
	argv[0] = dt->binary;
	argv[1] = (char *)"stop";
	argv[2] = grace;
	argv[3] = dt->name;
	argv[4] = NULL;
	if ((error = task_docker_spawn_quiet(argv, &pid)) != 0) {
		log_warnx("cannot stop container %s: %s", dt->name,
		    strerror(error));
		return;
	}
	log_info("stopping container %s (docker stop %s)", dt->name, grace);
	reaper_watch(pid, task_docker_on_stop_exit, xstrdup(dt->name));
}

/*
 * At start, before the loop runs: container NAME of a task the previous
 * agent was running when it died is stopped and removed (docker rm
 * --force), waiting at most WAIT_S seconds for the CLI.  Returns 0 if the
 * CLI said it was done, -1 (logged) otherwise.
 */
int
task_docker_remove_now(const struct options *o, const char *name,
    unsigned wait_s)
{
	char *argv[5], *binary;
	unsigned waited = 0;
	int error, status;
	pid_t pid, got;

	if (!docker_check_container(name)) {
		log_warnx("a recorded container name is not one: left alone");
		return -1;
	}
	if ((binary = task_proc_find_program(o->docker_binary)) == NULL) {
		log_warnx("cannot remove container %s: %s: command not found",
		    name, o->docker_binary);
		return -1;
	}
	argv[0] = binary;
	argv[1] = (char *)"rm";
	argv[2] = (char *)"--force";
	argv[3] = (char *)(uintptr_t)name;
	argv[4] = NULL;
	error = task_docker_spawn_quiet(argv, &pid);
	free(binary);
	if (error != 0) {
		log_warnx("cannot remove container %s: %s", name,
		    strerror(error));
		return -1;
	}
	while ((got = waitpid(pid, &status, WNOHANG)) == 0 &&
	    waited < wait_s * 1000) {
		usleep(10000);
		waited += 10;
	}
	if (got == 0) {
		kill(pid, SIGKILL);
		(void)waitpid(pid, &status, 0);
		log_warnx("cannot remove container %s: %s rm took over %u s",
		    name, o->docker_binary, wait_s);
		return -1;
	}
	if (got != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warnx("cannot remove container %s: %s rm failed", name,
		    o->docker_binary);
		return -1;
	}
	return 0;
}

static void
task_docker_on_output(void *arg, enum output_stream stream, const char *text,
    size_t len)
{
	struct docker_task *dt = arg;
	char *s;

	if (stream != OUTPUT_STDERR || dt->daemon_down)
		return;
	s = xmemdup0(text, len);
	if (strstr(s, "annot connect to the Docker daemon") != NULL ||
	    strstr(s, "annot connect to Podman") != NULL)
		dt->daemon_down = 1;
	free(s);
}

/* The container ID the CLI wrote to its --cidfile, if any. */
static void
task_docker_read_cidfile(struct docker_task *dt, struct task *t)
{
	char id[160];
	size_t n;
	FILE *f;

	if (dt->cidfile == NULL || (f = fopen(dt->cidfile, "r")) == NULL)
		return;
	n = fread(id, 1, sizeof id - 1, f);
	fclose(f);
	id[n] = '\0';
	id[strcspn(id, " \t\r\n")] = '\0';
	if (*id != '\0' && docker_check_container(id))
		task_set_container_id(t, id);
}

static const char *
task_docker_on_finish(void *arg, struct task *t, int code,
    enum response_status *status, enum fail_reason *why)
{
	struct docker_task *dt = arg;

	task_docker_read_cidfile(dt, t);
	if (code != 0 && dt->daemon_down) {
		*status = STATUS_FAILURE;
		*why = REASON_START_FAILED;
		snprintf(dt->reason, sizeof dt->reason, "cannot connect to the "
		    "Docker daemon (%s exited with status %d)\n",
		    dt->agent->opts->docker_binary, code);
		return dt->reason;
	}
	return NULL;
}

/* What a re-executed agent needs of a Docker task (task_docker_adopt). */
static void
task_docker_handover(void *arg, struct buf *b)
{
	struct docker_task *dt = arg;

	rec_enc_str(b, dt->binary);
	rec_enc_str(b, dt->name != NULL ? dt->name : "");
	rec_enc_str(b, dt->cidfile != NULL ? dt->cidfile : "");
	rec_enc_u64(b, (uint64_t)dt->daemon_down);
}

static const struct proc_hooks docker_hooks = {
	task_docker_on_cancel, task_docker_on_output, task_docker_on_finish,
	task_docker_task_free, task_docker_handover,
};

/*
 * A Docker task of the agent before a re-execution, as
 * task_docker_handover wrote it: its hooks and their argument, and the
 * container it runs (or NULL).  -1 if the record is cut short.
 */
int
task_docker_adopt(struct agent *a, struct dec *d,
    const struct proc_hooks **hooks, void **arg, const char **container)
{
	struct docker_task *dt;

	dt = xcalloc(1, sizeof *dt);
	dt->agent = a;
	dt->binary = rec_dec_str(d);
	dt->name = rec_dec_str(d);
	dt->cidfile = rec_dec_str(d);
	dt->daemon_down = (int)rec_dec_u64(d);
	if (*dt->name == '\0') {
		free(dt->name);
		dt->name = NULL;
	}
	if (*dt->cidfile == '\0') {
		free(dt->cidfile);
		dt->cidfile = NULL;
	}
	if (d->bad) {
		task_docker_task_free(dt);
		return -1;
	}
	*hooks = &docker_hooks;
	*arg = dt;
	*container = dt->name;
	return 0;
}

/*
 * Starts Docker operation D for request REQ; BASE holds what the process
 * task gets beyond the CLI's argument vector (secret entries and limits
 * of a sandbox).  The contract of task_proc_start().
 */
static int
task_docker_run(struct task *t, const struct request *req,
    const struct docker_op *d, const struct proc_spec *base, char **cause,
    enum fail_reason *why)
{
	struct agent *a = task_agent(t);
	struct docker_task *dt;
	struct proc_spec spec;
	const char *tmp;
	char **argv, *what, *gen_name = NULL;
	size_t i;
	int rc;

	if ((d->kind == DOCKER_RUN || d->kind == DOCKER_PULL) &&
	    docker_check_image(d->img) &&
	    policy_check_image(a->opts, d->img, cause) != 0) {
		*why = REASON_DENIED;
		return -1;
	}
	dt = xcalloc(1, sizeof *dt);
	dt->agent = a;
	if ((dt->binary = task_proc_find_program(a->opts->docker_binary)) ==
	    NULL) {
		xasprintf(cause, "%s: command not found",
		    a->opts->docker_binary);
		task_docker_task_free(dt);
		return -1;
	}
	if (d->kind == DOCKER_RUN) {
		docker_serial++;
		if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
			tmp = "/tmp";
		xasprintf(&dt->cidfile, "%s/nodelink-agent-%ld-%lu.cid", tmp,
		    (long)getpid(), docker_serial);
		unlink(dt->cidfile);	/* the CLI refuses an existing one */
		if (!d->detach) {
			if (*d->name != '\0')
				dt->name = xstrdup(d->name);
			else {
				xasprintf(&gen_name, "nodelink-%ld-%lu",
				    (long)getpid(), docker_serial);
				dt->name = xstrdup(gen_name);
			}
		}
	}
	argv = docker_argv(d, a->opts->docker_binary, req->task_id, gen_name,
	    dt->cidfile, cause);
	free(gen_name);
	if (argv == NULL) {
		*why = REASON_BAD_REQUEST;
		task_docker_task_free(dt);
		return -1;
	}

	{
		struct buf b;

		buf_init(&b);
		for (i = 0; argv[i] != NULL; i++) {
			if (i != 0)
				buf_append(&b, " ", 1);
			buf_append(&b, argv[i], strlen(argv[i]));
		}
		buf_append(&b, "", 1);
		xasprintf(&what, "%.300s%s", b.data, b.len > 301 ? "..." : "");
		buf_free(&b);
	}
	if (base != NULL)
		spec = *base;
	else
		memset(&spec, 0, sizeof spec);
	spec.path = dt->binary;
	spec.argv = argv;
	spec.what = what;
	spec.traceparent = req->traceparent;
	spec.hooks = &docker_hooks;
	spec.hook_arg = dt;
	spec.container = dt->name;	/* a restart removes it (state.c) */
	rc = task_proc_start(t, &spec, cause);
	free(what);
	docker_argv_free(argv);
	return rc;
}

/* Starts a Docker operation; the contract of task_proc_start(). */
int
task_docker_start(struct task *t, const struct request *req, char **cause,
    enum fail_reason *why)
{
	return task_docker_run(t, req, req->docker, NULL, cause, why);
}

/*
 * Starts shell request REQ in a sandbox of IMAGE: `SHELL -c CMD' in a
 * fresh container, as a Docker run.  Its secret entries reach the
 * container by name through the CLI's environment (docker.c); its limits
 * are the container's, but for the output limit, which the agent counts.
 */
int
task_docker_sandbox(struct task *t, const struct request *req,
    const char *image, int network, const struct limits *limits,
    const char *user, char **cause, enum fail_reason *why)
{
	struct agent *a = task_agent(t);
	struct docker_op d;
	struct proc_spec base;
	char *args[3], **names;
	const char *eq;
	size_t i;
	int rc;

	memset(&d, 0, sizeof d);
	d.kind = DOCKER_RUN;
	d.img = (char *)(uintptr_t)image;
	d.name = (char *)"";
	d.remove = 1;
	args[0] = a->opts->shell;
	args[1] = (char *)"-c";
	args[2] = req->cmd;
	d.args = args;
	d.n_args = 3;
	d.env = req->env;
	d.n_env = req->n_env;
	d.sandbox = 1;
	d.network = network;
	d.workdir = *req->working_dir != '\0' ? req->working_dir : NULL;
	d.user = user;
	d.limits = *limits;
	names = xcalloc(req->n_secret_env + 1, sizeof *names);
	for (i = 0; i < req->n_secret_env; i++) {
		eq = strchr(req->secret_env[i], '=');
		names[i] = xstrndup(req->secret_env[i],
		    (size_t)(eq - req->secret_env[i]));
	}
	d.env_names = names;
	d.n_env_names = req->n_secret_env;

	memset(&base, 0, sizeof base);
	base.secret_env = req->secret_env;
	base.n_secret_env = req->n_secret_env;
	base.limits.max_output_bytes = limits->max_output_bytes;
	base.want_stdin = req->want_stdin;
	base.timeout_s = req->timeout_seconds;
	rc = task_docker_run(t, req, &d, &base, cause, why);
	for (i = 0; i < req->n_secret_env; i++)
		free(names[i]);
	free(names);
	return rc;
}
