/*
 * task-shell.c: shell tasks.
 *
 * A task runs as `SHELL -c CMD` (compat/spawn.c) with its stdout and stderr
 * on two pipes the loop reads without blocking.  Each read goes through the
 * stream's framer and becomes IN_PROGRESS messages at once; a partial line
 * waits at most flush_delay_ms.  The task is finished only when both pipes
 * have reached EOF *and* the process has been reaped, whichever comes
 * second; then its final message carries the exit code (128 + N for a
 * signal N, as shells report it).
 *
 * When the outbound spool is full the task stops reading its pipes, so a
 * task that writes faster than the server reads blocks on its own write
 * instead of growing the agent's memory.
 */

#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"

#define SHELL_READ_SIZE (64 * 1024)
#define SHELL_MAX_PIECE (1024 * 1024)

extern char **environ;

struct shell_task;

struct shell_stream {
	struct shell_task *st;
	enum output_stream which;
	int fd;			/* -1 once at EOF */
	struct event *ev;
	struct framer framer;
};

struct shell_task {
	struct shell_task *next, *prev;	/* the running list */
	struct agent *agent;
	struct task *task;
	pid_t pid;
	int reaped;
	int wstatus;
	int cancelled;
	int paused;
	struct shell_stream out, err;
	struct event *flush;
	struct timespec started;
};

static void shell_cancel_fn(void *);

static struct shell_task *shell_running;
static size_t shell_running_n;

/* Finds an executable NAME on the agent's PATH; NULL if there is none. */
static char *
shell_find(const char *name)
{
	const char *path, *p, *end;
	char *candidate;
	size_t len;

	if (strchr(name, '/') != NULL)
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = "/usr/bin:/bin";
	for (p = path;; p = end + 1) {
		end = strchr(p, ':');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		xasprintf(&candidate, "%.*s/%s", (int)len,
		    len == 0 ? "." : p, name);
		if (access(candidate, X_OK) == 0)
			return candidate;
		free(candidate);
		if (end == NULL)
			return NULL;
	}
}

struct shell_env_entry {
	const char *s;
	size_t name_len;
	size_t order;
};

static int
shell_env_cmp(const void *a, const void *b)
{
	const struct shell_env_entry *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c;

	if ((c = memcmp(x->s, y->s, n)) != 0)
		return c;
	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * The task's environment: the agent's, with the task's entries added; a
 * task entry replaces an inherited one of the same name, and of repeated
 * task entries the last wins.  Sorting keeps this O(n log n) for requests
 * with thousands of entries.
 */
static char **
shell_env(const struct request *req)
{
	struct shell_env_entry *all;
	size_t n_inherited = 0, n, i, k;
	const char *eq;
	char **envp;

	while (environ[n_inherited] != NULL)
		n_inherited++;
	n = n_inherited + req->n_env;
	all = xcalloc(n, sizeof *all);
	for (i = 0; i < n; i++) {
		all[i].s = i < n_inherited ? environ[i] :
		    req->env[i - n_inherited];
		eq = strchr(all[i].s, '=');
		all[i].name_len = eq != NULL ? (size_t)(eq - all[i].s) :
		    strlen(all[i].s);
		all[i].order = i;
	}
	qsort(all, n, sizeof *all, shell_env_cmp);
	envp = xcalloc(n + 1, sizeof *envp);
	for (i = 0, k = 0; i < n; i++) {
		if (i + 1 < n && all[i].name_len == all[i + 1].name_len &&
		    memcmp(all[i].s, all[i + 1].s, all[i].name_len) == 0)
			continue;	/* a later entry of the same name wins */
		envp[k++] = (char *)(uintptr_t)all[i].s;
	}
	free(all);
	return envp;
}

static void
shell_emit(void *arg, const char *text, size_t len)
{
	struct shell_stream *s = arg;

	task_send_output(s->st->task, s->which, text, len);
}

static void
shell_free(struct shell_task *st)
{
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		shell_running = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	shell_running_n--;
	framer_free(&st->out.framer);
	framer_free(&st->err.framer);
	if (st->flush != NULL)
		event_free(st->flush);
	task_free(st->task);
	free(st);
}

static double
shell_elapsed(const struct shell_task *st)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - st->started.tv_sec) +
	    (double)(now.tv_nsec - st->started.tv_nsec) / 1e9;
}

/* Sends the final message once output is drained and the process reaped. */
static void
shell_check_done(struct shell_task *st)
{
	int code;

	if (st->out.fd != -1 || st->err.fd != -1 || !st->reaped)
		return;
	if (WIFEXITED(st->wstatus))
		code = WEXITSTATUS(st->wstatus);
	else if (WIFSIGNALED(st->wstatus))
		code = 128 + WTERMSIG(st->wstatus);
	else
		code = 1;
	log_info("task %s finished: exit code %d%s after %.3f s",
	    task_id(st->task), code, st->cancelled ? " (cancelled)" : "",
	    shell_elapsed(st));
	task_send_final(st->task, STATUS_COMPLETED, code, st->cancelled, NULL);
	shell_free(st);
}

static void
shell_stream_close(struct shell_stream *s)
{
	if (s->ev != NULL)
		event_free(s->ev);
	s->ev = NULL;
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
}

static void
shell_on_flush(evutil_socket_t fd, short events, void *arg)
{
	struct shell_task *st = arg;

	(void)fd;
	(void)events;
	framer_flush(&st->out.framer, 0, shell_emit, &st->out);
	framer_flush(&st->err.framer, 0, shell_emit, &st->err);
}

/* A partial line goes out flush_delay_ms after it arrived, at the latest. */
static void
shell_arm_flush(struct shell_task *st)
{
	if (evtimer_pending(st->flush, NULL))
		return;
	if (framer_pending(&st->out.framer) == 0 &&
	    framer_pending(&st->err.framer) == 0)
		return;
	timer_add_ms(st->flush, st->agent->opts->flush_delay_ms);
}

static void
shell_pause(struct shell_task *st)
{
	if (st->paused)
		return;
	st->paused = 1;
	if (st->out.ev != NULL)
		event_del(st->out.ev);
	if (st->err.ev != NULL)
		event_del(st->err.ev);
}

static void
shell_on_read(evutil_socket_t fd, short events, void *arg)
{
	static char buf[SHELL_READ_SIZE];
	struct shell_stream *s = arg;
	struct shell_task *st = s->st;
	ssize_t n;

	(void)events;
	n = read(fd, buf, sizeof buf);
	if (n > 0) {
		framer_push(&s->framer, buf, (size_t)n, shell_emit, s);
		shell_arm_flush(st);
		if (link_congested(st->agent->link))
			shell_pause(st);
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1)
		log_warn("task %s: reading its %s: %s", task_id(st->task),
		    s->which == OUTPUT_STDOUT ? "stdout" : "stderr",
		    strerror(errno));
	framer_flush(&s->framer, 1, shell_emit, s);
	shell_stream_close(s);
	shell_check_done(st);
}

static void
shell_on_exit(void *arg, pid_t pid, int status)
{
	struct shell_task *st = arg;

	(void)pid;
	st->reaped = 1;
	st->wstatus = status;
	shell_check_done(st);
}

static void
shell_stream_init(struct shell_task *st, struct shell_stream *s,
    enum output_stream which, int fd)
{
	s->st = st;
	s->which = which;
	s->fd = fd;
	framer_init(&s->framer, SHELL_MAX_PIECE);
	s->ev = event_new(st->agent->base, fd, EV_READ | EV_PERSIST,
	    shell_on_read, s);
	if (s->ev == NULL || event_add(s->ev, NULL) != 0)
		fatalx("cannot watch a task's output");
}

static void
shell_close_pair(int fds[2])
{
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
}

/*
 * Starts a shell task.  Returns 0, or -1 with *cause set to a one-line
 * reason (for the FAILURE final) when it cannot start.
 */
int
task_shell_start(struct agent *a, const struct request *req, char **cause)
{
	struct compat_spawn sp;
	struct shell_task *st;
	struct stat sb;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, error;
	char *shell, *argv[4], **envp, *cmd;
	pid_t pid;

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
	if ((shell = shell_find(a->opts->shell)) == NULL) {
		xasprintf(cause, "shell %s: not found or not executable",
		    a->opts->shell);
		return -1;
	}
	if (compat_pipe_cloexec(out) != 0 || compat_pipe_cloexec(err) != 0 ||
	    compat_set_nonblock(out[0]) != 0 ||
	    compat_set_nonblock(err[0]) != 0) {
		xasprintf(cause, "cannot create pipes: %s", strerror(errno));
		shell_close_pair(out);
		shell_close_pair(err);
		free(shell);
		return -1;
	}

	argv[0] = a->opts->shell;
	argv[1] = (char *)"-c";
	argv[2] = req->cmd;
	argv[3] = NULL;
	envp = shell_env(req);
	memset(&sp, 0, sizeof sp);
	sp.path = shell;
	sp.argv = argv;
	sp.envp = envp;
	sp.dir = *req->working_dir != '\0' ? req->working_dir : NULL;
	sp.out_fd = out[1];
	sp.err_fd = err[1];
	error = compat_spawn(&sp, &pid);
	free(envp);
	close(out[1]);
	close(err[1]);
	if (error != 0) {
		xasprintf(cause, "cannot start %s: %s", shell, strerror(error));
		close(out[0]);
		close(err[0]);
		free(shell);
		return -1;
	}
	free(shell);

	st = xcalloc(1, sizeof *st);
	st->agent = a;
	st->task = task_new(a, req->task_id, req->agent_id);
	task_set_cancel(st->task, shell_cancel_fn, st);
	st->pid = pid;
	clock_gettime(CLOCK_MONOTONIC, &st->started);
	st->flush = evtimer_new(a->base, shell_on_flush, st);
	if (st->flush == NULL)
		fatalx("cannot create a task's timer");
	shell_stream_init(st, &st->out, OUTPUT_STDOUT, out[0]);
	shell_stream_init(st, &st->err, OUTPUT_STDERR, err[0]);
	st->next = shell_running;
	if (shell_running != NULL)
		shell_running->prev = st;
	shell_running = st;
	shell_running_n++;
	reaper_watch(pid, shell_on_exit, st);

	cmd = log_escape(req->cmd, strlen(req->cmd), 200);
	log_info("task %s started: pid %ld: %s", task_id(st->task), (long)pid,
	    cmd);
	free(cmd);
	if (link_congested(a->link))
		shell_pause(st);
	return 0;
}

/* Kills the task's whole process group; its final message follows. */
static void
shell_cancel(struct shell_task *st)
{
	st->cancelled = 1;
	if (!st->reaped && killpg(st->pid, SIGKILL) != 0 && errno != ESRCH)
		log_warn("task %s: cannot kill process group %ld: %s",
		    task_id(st->task), (long)st->pid, strerror(errno));
}

static void
shell_cancel_fn(void *arg)
{
	shell_cancel(arg);
}

/* The spool has room again: every paused task reads on. */
void
task_shell_resume_all(void)
{
	struct shell_task *st;

	for (st = shell_running; st != NULL; st = st->next) {
		if (!st->paused)
			continue;
		st->paused = 0;
		if (st->out.ev != NULL)
			event_add(st->out.ev, NULL);
		if (st->err.ev != NULL)
			event_add(st->err.ev, NULL);
	}
}

/* Cancels every running task (agent shutdown). */
void
task_shell_cancel_all(void)
{
	struct shell_task *st;

	for (st = shell_running; st != NULL; st = st->next)
		shell_cancel(st);
	task_shell_resume_all();
}

size_t
task_shell_running(void)
{
	return shell_running_n;
}
