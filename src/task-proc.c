/*
 * task-proc.c: a task that is a process: a shell command (task-shell.c) or
 * a Docker CLI run (task-docker.c).
 *
 * The process is spawned (contain/spawn-fork.c) with its stdout and stderr on two
 * pipes the loop reads without blocking.  Each read goes through the
 * stream's framer and becomes IN_PROGRESS messages at once; a partial line
 * waits at most flush_delay_ms.  The task is finished only when both pipes
 * have reached EOF *and* the process has been reaped, whichever comes
 * second; then its final message carries the exit code (128 + N for a
 * signal N, as shells report it).
 *
 * A task's processes never outlive it.  A cancel, a timeout, or the main
 * process exiting with others left behind starts the kill sequence
 * (kill.c): SIGTERM to every process of the task (its cgroup, or its
 * process group and escapees: track.c), SIGKILL after the grace period.  The final message waits until none of them is left, so that a
 * background child cannot outlive the task nor, by holding the pipes open,
 * keep it from finishing.  Should processes survive even SIGKILL (a stuck
 * NFS read), the task finishes anyway PROC_GIVE_UP_MS later, and says so.
 *
 * When the outbound spool is full the task stops reading its pipes, so a
 * task that writes faster than the server reads blocks on its own write
 * instead of growing the agent's memory.
 *
 * Limits (limits.c) are enforced where the system can do it exactly: the
 * task's cgroup (memory.max, pids.max) when its controllers are there,
 * else setrlimit() in the child; CPU time, open files and file size are
 * always rlimits; the output limit is the agent's own count.  A task a
 * limit ended gets reason LIMIT_EXCEEDED and a line naming the limit.
 * Secret values (secret_env) are masked (mask.c) before anything leaves.
 *
 * A task may take input (ShellExecute.stdin): its stdin is then a pipe the
 * agent writes TaskInput bytes to as the task reads them, from a queue of
 * at most --max-task-input bytes (input past it ends the task,
 * LIMIT_EXCEEDED: a task never sees a hole in its stdin), never blocking
 * the loop.  A task on a terminal (pty) has the terminal on
 * stdin, stdout and stderr; what it writes arrives as stdout, input goes
 * to the terminal, eof sends its EOF character, a resize its SIGWINCH, and
 * its output is read until the terminal reports EOF (EIO), so that the
 * last bytes after the process exits are not lost.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "record.h"

/* A read takes what one grown pipe holds, so a message can be a whole
 * 1 MiB piece when a task writes fast (compat_pipe_grow). */
#define PROC_READ_SIZE (1024 * 1024)
#define PROC_MAX_PIECE (1024 * 1024)
/* How often a kill in progress looks for processes still alive. */
#define PROC_POLL_MS 100
/* After SIGKILL, how long before the task finishes without its processes. */
#define PROC_GIVE_UP_MS 2000
/* The agent's own settings (options.c) all begin so. */
#define PROC_AGENT_ENV_PREFIX "NODELINK_"

extern char **environ;

struct proc_task;

struct proc_stream {
	struct proc_task *st;
	enum output_stream which;
	int fd;			/* -1 once at EOF */
	struct event *ev;
	struct framer framer;
	struct mask *mask;	/* secret values out, or NULL: none */
	struct buf masked;	/* a read, masked */
	uint64_t bytes;		/* as read, for the usage */
};

struct proc_task {
	LIST_ENTRY(proc_task) entry;	/* the running list */
	struct agent *agent;
	struct task *task;
	pid_t pid;
	int reaped;
	int wstatus;
	int cancelled;
	int paused;		/* not reading its output: in proc_paused */
	LIST_ENTRY(proc_task) pause_entry;
	struct proc_stream out, err;
	struct event *flush;
	uint64_t started_ms;

	struct track *track;	/* where its processes are */
	struct kill_seq kill;
	int killing;		/* the kill sequence has begun */
	int gave_up;		/* processes survived SIGKILL */
	struct event *kill_timer;	/* grace, then give-up */
	struct event *poll_timer;	/* while processes remain */
	unsigned timeout_s;
	int timed_out;
	struct event *timeout_timer;

	const struct proc_hooks *hooks;	/* what the kind of task adds */
	void *hook_arg;

	struct srun *run;	/* its START record (state.c) */
	int in_fd;		/* its stdin's other end, or -1 */
	struct buf in_queue;	/* input not yet written */
	struct event *in_ev;
	int in_eof;		/* close stdin once the queue is written */
	int tty_fd;		/* its terminal's master (resize), or -1 */
	struct limits limits;	/* in force */
	int cgroup_memory;	/* memory.max, not RLIMIT_AS */
	char *limit_hit;	/* which limit ended it, or NULL */
	int input_over;		/* the agent's input bound, not the task's */
	struct rusage ru;	/* of the main process and its reaped ones */
	int adopted;		/* handed over: its exit not yet looked for */
};

static LIST_HEAD(, proc_task) proc_running = LIST_HEAD_INITIALIZER(proc_running);
/* Those paused, so that resuming costs what is paused, not what runs. */
static LIST_HEAD(, proc_task) proc_paused = LIST_HEAD_INITIALIZER(proc_paused);
static unsigned long proc_serial;

/* The descriptor limits the agent was started with (task_proc_set_nofile),
 * which tasks get unless their own limits say otherwise. */
static uint64_t proc_nofile_soft, proc_nofile_hard;
static int proc_nofile_known;

static void proc_on_kill_timer(evutil_socket_t, short, void *);
static void proc_on_poll(evutil_socket_t, short, void *);
static void proc_on_flush(evutil_socket_t, short, void *);

/* Finds an executable NAME on the agent's PATH; NULL if there is none. */
char *
task_proc_find_program(const char *name)
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

struct proc_env_entry {
	const char *s;
	size_t name_len;
	size_t order;
};

static int
proc_env_cmp(const void *a, const void *b)
{
	const struct proc_env_entry *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c;

	if ((c = memcmp(x->s, y->s, n)) != 0)
		return c;
	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The agent's own settings, its token above all, are never a task's. */
static int
proc_env_is_agents(const char *entry)
{
	return strncmp(entry, PROC_AGENT_ENV_PREFIX,
	    sizeof PROC_AGENT_ENV_PREFIX - 1) == 0;
}

/*
 * A task's environment: the agent's, less its own NODELINK_* settings,
 * with the task's entries added, and MARKER (if not NULL) last; a task
 * entry replaces an inherited one of the same name, and of repeated task
 * entries the last wins.  Sorting keeps this O(n log n) for requests with
 * thousands of entries.  The caller frees the array (not the strings).
 */
char **
task_proc_env(char *const *add, size_t n_add, const char *marker)
{
	struct proc_env_entry *all;
	size_t n_inherited = 0, n, i, k;
	const char *eq;
	char **envp;
	char **inherited;

	for (i = 0; environ[i] != NULL; i++)
		n_inherited++;
	inherited = xcalloc(n_inherited + 1, sizeof *inherited);
	for (i = 0, k = 0; environ[i] != NULL; i++) {
		if (!proc_env_is_agents(environ[i]))
			inherited[k++] = environ[i];
	}
	n_inherited = k;
	n = n_inherited + n_add + (marker != NULL ? 1 : 0);
	all = xcalloc(n + 1, sizeof *all);
	for (i = 0; i < n; i++) {
		if (i < n_inherited)
			all[i].s = inherited[i];
		else if (i < n_inherited + n_add)
			all[i].s = add[i - n_inherited];
		else
			all[i].s = marker;	/* last: no task entry beats it */
		eq = strchr(all[i].s, '=');
		all[i].name_len = eq != NULL ? (size_t)(eq - all[i].s) :
		    strlen(all[i].s);
		all[i].order = i;
	}
	qsort(all, n, sizeof *all, proc_env_cmp);
	envp = xcalloc(n + 1, sizeof *envp);
	for (i = 0, k = 0; i < n; i++) {
		if (i + 1 < n && all[i].name_len == all[i + 1].name_len &&
		    memcmp(all[i].s, all[i + 1].s, all[i].name_len) == 0)
			continue;	/* a later entry of the same name wins */
		envp[k++] = (char *)(uintptr_t)all[i].s;
	}
	free(all);
	free(inherited);
	return envp;
}

/*
 * TRACEPARENT for the task: the request's trace ID and flags, and a span
 * ID of the agent's own (SPAN, 16 hex digits), so that instrumented tools
 * in the task join the trace under the agent's span.
 */
static void
proc_traceparent(const char *parent, char *out, char *span)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[8];
	size_t i;

	do
		evutil_secure_rng_get_bytes(r, sizeof r);
	while (memcmp(r, "\0\0\0\0\0\0\0\0", 8) == 0);
	for (i = 0; i < 8; i++) {
		span[2 * i] = hex[r[i] >> 4];
		span[2 * i + 1] = hex[r[i] & 15];
	}
	span[16] = '\0';
	snprintf(out, 96, "TRACEPARENT=00-%.32s-%s-%.2s", parent + 3, span,
	    parent + 53);
}

/*
 * The task's environment: the user's HOME, USER and LOGNAME when it runs
 * as another, then the request's entries and secret entries, and
 * TRACEPARENT (if any) last.  USERENV holds the user's entries.
 */
static char **
proc_task_env(const struct proc_spec *spec, const char *traceparent,
    const char *marker, char userenv[3][300])
{
	char **add, **envp;
	size_t n = 0;

	add = xcalloc(spec->n_env + spec->n_secret_env + 6, sizeof *add);
	if (spec->pty)
		add[n++] = (char *)"TERM=xterm";	/* the request may say */
	if (spec->user != NULL) {
		snprintf(userenv[0], 300, "HOME=%s", spec->user->home);
		snprintf(userenv[1], 300, "USER=%s", spec->user->name);
		snprintf(userenv[2], 300, "LOGNAME=%s", spec->user->name);
		add[n++] = userenv[0];
		add[n++] = userenv[1];
		add[n++] = userenv[2];
	}
	if (spec->n_env != 0)
		memcpy(add + n, spec->env, spec->n_env * sizeof *add);
	n += spec->n_env;
	if (spec->n_secret_env != 0)
		memcpy(add + n, spec->secret_env,
		    spec->n_secret_env * sizeof *add);
	n += spec->n_secret_env;
	if (traceparent != NULL)
		add[n++] = (char *)(uintptr_t)traceparent;
	envp = task_proc_env(add, n, marker);
	free(add);
	return envp;
}

static void
proc_emit(void *arg, const char *text, size_t len)
{
	struct proc_stream *s = arg;
	struct proc_task *st = s->st;

	if (st->hooks != NULL && st->hooks->output != NULL)
		st->hooks->output(st->hook_arg, s->which, text, len);
	metrics.output_bytes[s->which] += len;
	task_send_output(st->task, s->which, text, len);
}

static void
proc_event_free(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

/* Arms timer *EV to call FN in MS; made on first use, since most tasks
 * never need most of their timers (a task's memory counts). */
static void
proc_arm(struct proc_task *st, struct event **ev, event_callback_fn fn,
    uint64_t ms)
{
	if (*ev == NULL && (*ev = evtimer_new(st->agent->base, fn, st)) == NULL)
		fatalx("cannot create a task's timer");
	timer_add_ms(*ev, ms);
}

static void
proc_mask_free(struct proc_stream *s)
{
	if (s->mask == NULL)
		return;
	mask_free(s->mask);
	free(s->mask);
	s->mask = NULL;
}

/* Bytes held back as a possible secret's start go through at EOF. */
static void
proc_stream_end(struct proc_stream *s)
{
	if (s->mask != NULL && s->st->limit_hit != NULL &&
	    s->st->limits.max_output_bytes != 0)
		mask_drop(s->mask);	/* cut by the output limit */
	if (s->mask != NULL) {
		buf_clear(&s->masked);
		mask_flush(s->mask, &s->masked);
		if (s->masked.len != 0)
			framer_push(&s->framer, s->masked.data, s->masked.len,
			    proc_emit, s);
	}
	framer_flush(&s->framer, 1, proc_emit, s);
}

static void
proc_stream_close(struct proc_stream *s)
{
	proc_event_free(&s->ev);
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
}

/* Both output streams' descriptors, framers, maskers and buffers. */
static void
proc_streams_free(struct proc_task *st)
{
	proc_stream_close(&st->out);
	proc_stream_close(&st->err);
	framer_free(&st->out.framer);
	framer_free(&st->err.framer);
	proc_mask_free(&st->out);
	proc_mask_free(&st->err);
	buf_free(&st->out.masked);
	buf_free(&st->err.masked);
}

static void
proc_free(struct proc_task *st)
{
	LIST_REMOVE(st, entry);
	if (st->paused)
		LIST_REMOVE(st, pause_entry);
	proc_streams_free(st);
	proc_event_free(&st->flush);
	proc_event_free(&st->kill_timer);
	proc_event_free(&st->poll_timer);
	proc_event_free(&st->timeout_timer);
	if (st->hooks != NULL && st->hooks->free != NULL)
		st->hooks->free(st->hook_arg);
	track_free(st->track);
	state_task_ended(st->run);
	proc_event_free(&st->in_ev);
	if (st->in_fd != -1)
		close(st->in_fd);
	if (st->tty_fd != -1)
		close(st->tty_fd);
	buf_free(&st->in_queue);
	free(st->limit_hit);
	free(st);
}

static double
proc_elapsed(const struct proc_task *st)
{
	return (double)(compat_monotime_ms() - st->started_ms) / 1000.0;
}

/* Sends SIG to every process of the task. */
static void
proc_signal_tree(struct proc_task *st, int sig)
{
	track_signal(st->track, sig);
}

static const char *
proc_signal_name(int sig)
{
	return sig == SIGKILL ? "SIGKILL" : sig == SIGTERM ? "SIGTERM" : "?";
}

/* Starts the kill sequence: SIGTERM now and SIGKILL after the grace. */
static void
proc_kill_begin(struct proc_task *st, const char *why)
{
	int sig, arm;

	if (st->killing)
		return;
	st->killing = 1;
	sig = kill_begin(&st->kill, &arm);
	log_info("task %s: %s: sending %s to its processes%s", task_id(st->task),
	    why, proc_signal_name(sig), arm ? "" : " (no grace period)");
	proc_signal_tree(st, sig);
	proc_arm(st, &st->kill_timer, proc_on_kill_timer, arm ?
	    st->kill.grace_ms : PROC_GIVE_UP_MS);
	proc_arm(st, &st->poll_timer, proc_on_poll, PROC_POLL_MS);
}

static int proc_check_done(struct proc_task *);

/* The main process has exited: whatever it left running is ended too. */
static void
proc_check_leftovers(struct proc_task *st)
{
	if (!st->killing && st->reaped && track_alive(st->track) == 1)
		proc_kill_begin(st, "main process exited, others remain");
}

/* The grace period is over (SIGKILL), or SIGKILL did not end it (give up). */
static void
proc_on_kill_timer(evutil_socket_t fd, short events, void *arg)
{
	struct proc_task *st = arg;
	int sig, alive;

	(void)fd;
	(void)events;
	if ((sig = kill_expire(&st->kill)) != 0) {
		log_info("task %s: grace period over: sending SIGKILL",
		    task_id(st->task));
		proc_signal_tree(st, sig);
		proc_arm(st, &st->kill_timer, proc_on_kill_timer,
		    PROC_GIVE_UP_MS);
		return;
	}
	/* No process is left, and its output is unread only because the
	 * server is not reading (the spool is full): that is no survivor,
	 * and that output is not to be lost.  It finishes once read. */
	if ((alive = track_alive(st->track)) == 0 && st->paused) {
		log_debug("task %s: its processes have ended; its output waits "
		    "for the server to read", task_id(st->task));
		proc_arm(st, &st->kill_timer, proc_on_kill_timer,
		    PROC_GIVE_UP_MS);
		return;
	}
	if (alive == 0)
		log_warnx("task %s: its processes have ended but its output "
		    "stayed open for %u ms (a process outside its tree holds "
		    "it); finishing without it", task_id(st->task),
		    PROC_GIVE_UP_MS);
	else
		log_warnx("task %s: processes survived SIGKILL for %u ms; "
		    "finishing without them", task_id(st->task),
		    PROC_GIVE_UP_MS);
	st->gave_up = 1;
	proc_stream_end(&st->out);
	proc_stream_end(&st->err);
	proc_stream_close(&st->out);
	proc_stream_close(&st->err);
	proc_check_done(st);
}

/* While a kill is under way: SIGKILL reaches late children too. */
static void
proc_on_poll(evutil_socket_t fd, short events, void *arg)
{
	struct proc_task *st = arg;

	(void)fd;
	(void)events;
	if (kill_current_signal(&st->kill) == SIGKILL)
		proc_signal_tree(st, SIGKILL);
	if (proc_check_done(st))
		return;		/* ST is gone */
	proc_arm(st, &st->poll_timer, proc_on_poll, PROC_POLL_MS);
}

/*
 * The time limit is up.  Only a process still running when it is has
 * timed out: one that ended by itself meanwhile (the agent was stopped,
 * or busy, and its exit is not reaped yet) is reported as it ended.
 */
static void
proc_on_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct proc_task *st = arg;

	(void)fd;
	(void)events;
	if (st->reaped || reaper_exited(st->pid)) {
		log_debug("task %s: time limit reached after it ended",
		    task_id(st->task));
		return;
	}
	st->timed_out = 1;
	proc_kill_begin(st, "timed out");
}

/*
 * Sends the final message once the output is drained, the process reaped,
 * and no process of the task is left (or SIGKILL could not end them).
 * Returns 1 when it did, and ST is freed.
 */
/*
 * Which limit, if any, ended the task whose main process ended with CODE
 * (128 + N for signal N); its words go to st->limit_hit.
 */
static void
proc_limit_ended(struct proc_task *st, const struct usage *u)
{
	char *v;
	uint64_t kills = 0;
	int fd, sig = WIFSIGNALED(st->wstatus) ? WTERMSIG(st->wstatus) : 0;
	size_t which = LIMITS_COUNT;

	/* A shell reports a child the signal killed as 128 + N. */
	if (sig == 0 && WIFEXITED(st->wstatus) && WEXITSTATUS(st->wstatus) >
	    128 && (WEXITSTATUS(st->wstatus) - 128 == SIGXCPU ||
	    WEXITSTATUS(st->wstatus) - 128 == SIGXFSZ))
		sig = WEXITSTATUS(st->wstatus) - 128;

	if (st->limit_hit != NULL)
		return;		/* the output limit, counted here */
	if (st->limits.cpu_seconds != 0 && (sig == SIGXCPU ||
	    (sig == SIGKILL && !st->killing && u->user_cpu_us +
	    u->system_cpu_us >= st->limits.cpu_seconds * 1000000)))
		which = 1;
	else if (st->limits.max_file_bytes != 0 && sig == SIGXFSZ)
		which = 4;
	else if (st->cgroup_memory &&
	    (fd = track_cgroup_open(st->track)) != -1) {
		if (cgroup_counter(fd, "memory.events", "oom_kill",
		    &kills) == 0 && kills != 0)
			which = 0;
		close(fd);
	}
	if (which == LIMITS_COUNT)
		return;
	v = limits_describe_value(which, which == 0 ?
	    st->limits.memory_bytes : which == 1 ? st->limits.cpu_seconds :
	    st->limits.max_file_bytes);
	xasprintf(&st->limit_hit, "%s limit of %s exceeded",
	    limits_name(which), v);
	free(v);
}

/* What the task used: its cgroup's CPU time where it has one. */
static void
proc_usage(struct proc_task *st, struct usage *u)
{
	uint64_t user_us, system_us;

	memset(u, 0, sizeof *u);
	u->user_cpu_us = (uint64_t)st->ru.ru_utime.tv_sec * 1000000 +
	    (uint64_t)st->ru.ru_utime.tv_usec;
	u->system_cpu_us = (uint64_t)st->ru.ru_stime.tv_sec * 1000000 +
	    (uint64_t)st->ru.ru_stime.tv_usec;
	if (track_cpu(st->track, &user_us, &system_us) == 0) {
		u->user_cpu_us = user_us;
		u->system_cpu_us = system_us;
	}
	u->max_rss_kib = st->ru.ru_maxrss > 0 ? (uint64_t)st->ru.ru_maxrss : 0;
	u->wall_ms = compat_monotime_ms() - st->started_ms;
	u->stdout_bytes = st->out.bytes;
	u->stderr_bytes = st->err.bytes;
}

static int
proc_check_done(struct proc_task *st)
{
	char reason[192];
	enum response_status status;
	enum fail_reason fail = REASON_NONE;
	struct final f;
	struct usage u;
	const char *why;
	int code, alive;

	if (st->out.fd != -1 || st->err.fd != -1 || !st->reaped)
		return 0;
	if (!st->gave_up) {
		if ((alive = track_alive(st->track)) == -1)
			return 0;	/* track.c calls back */
		if (alive && !st->killing)
			proc_kill_begin(st, "main process exited, others "
			    "remain");
		if (alive)
			return 0;	/* an event or the poll looks again */
	}
	if (WIFEXITED(st->wstatus))
		code = WEXITSTATUS(st->wstatus);
	else if (WIFSIGNALED(st->wstatus))
		code = 128 + WTERMSIG(st->wstatus);
	else
		code = 1;
	proc_usage(st, &u);
	proc_limit_ended(st, &u);
	log_info("task %s finished: exit code %d%s%s%s%s after %.3f s (CPU "
	    "%.3f s user, %.3f s system)", task_id(st->task), code,
	    st->cancelled ? ", cancelled" : "", st->timed_out ?
	    ", timed out" : "", st->limit_hit != NULL ? ", " : "",
	    st->limit_hit != NULL ? st->limit_hit : "", proc_elapsed(st),
	    (double)u.user_cpu_us / 1e6, (double)u.system_cpu_us / 1e6);
	status = STATUS_COMPLETED;
	why = NULL;
	if (st->timed_out) {
		snprintf(reason, sizeof reason, "timed out after %u seconds\n",
		    st->timeout_s);
		status = STATUS_FAILURE;
		fail = REASON_TIMED_OUT;
		why = reason;
	} else if (st->limit_hit != NULL && !st->cancelled) {
		snprintf(reason, sizeof reason, "%s\n", st->limit_hit);
		/* Input refused is a failure of the agent's, not an end the
		 * task's own use brought about. */
		if (st->input_over)
			status = STATUS_FAILURE;
		fail = REASON_LIMIT_EXCEEDED;
		why = reason;
	} else if (st->hooks != NULL && st->hooks->finish != NULL)
		why = st->hooks->finish(st->hook_arg, st->task, code, &status,
		    &fail);
	if (status == STATUS_FAILURE && fail == REASON_NONE)
		fail = REASON_START_FAILED;
	metrics_task_finished(task_kind(st->task), st->timed_out ?
	    OUTCOME_TIMED_OUT : st->cancelled ? OUTCOME_CANCELLED :
	    status == STATUS_FAILURE ? OUTCOME_FAILED : code == 0 ?
	    OUTCOME_SUCCEEDED : OUTCOME_EXITED_NONZERO, proc_elapsed(st));
	memset(&f, 0, sizeof f);
	f.status = status;
	f.exit_code = code;
	f.signal = WIFSIGNALED(st->wstatus) ? WTERMSIG(st->wstatus) : 0;
	f.cancelled = st->cancelled;
	f.reason = fail;
	f.text = why;
	f.usage = &u;
	task_send_final(st->task, &f);
	proc_free(st);
	admit_task_done();
	return 1;
}

static void
proc_on_flush(evutil_socket_t fd, short events, void *arg)
{
	struct proc_task *st = arg;

	(void)fd;
	(void)events;
	framer_flush(&st->out.framer, 0, proc_emit, &st->out);
	framer_flush(&st->err.framer, 0, proc_emit, &st->err);
}

/* A partial line goes out flush_delay_ms after it arrived, at the latest. */
static void
proc_arm_flush(struct proc_task *st)
{
	if (st->flush != NULL && evtimer_pending(st->flush, NULL))
		return;
	if (framer_pending(&st->out.framer) == 0 &&
	    framer_pending(&st->err.framer) == 0)
		return;
	proc_arm(st, &st->flush, proc_on_flush, st->agent->opts->flush_delay_ms);
}

static void
proc_pause(struct proc_task *st)
{
	if (st->paused)
		return;
	st->paused = 1;
	LIST_INSERT_HEAD(&proc_paused, st, pause_entry);
	if (st->out.ev != NULL)
		event_del(st->out.ev);
	if (st->err.ev != NULL)
		event_del(st->err.ev);
}

/*
 * N bytes the task wrote: counted, cut at the output limit (which starts
 * the kill), masked, framed.
 */
static void
proc_output(struct proc_stream *s, const char *data, size_t n)
{
	struct proc_task *st = s->st;
	uint64_t total, limit = st->limits.max_output_bytes;

	total = st->out.bytes + st->err.bytes;
	s->bytes += n;
	if (limit != 0 && total + n > limit) {
		n = total < limit ? (size_t)(limit - total) : 0;
		if (st->limit_hit == NULL) {
			xasprintf(&st->limit_hit,
			    "output limit of %llu bytes exceeded",
			    (unsigned long long)limit);
			proc_kill_begin(st, st->limit_hit);
		}
	}
	if (n == 0)
		return;
	if (s->mask == NULL) {
		framer_push(&s->framer, data, n, proc_emit, s);
		return;
	}
	buf_clear(&s->masked);
	mask_push(s->mask, data, n, &s->masked);
	if (s->masked.len != 0)
		framer_push(&s->framer, s->masked.data, s->masked.len,
		    proc_emit, s);
}

static void
proc_on_read(evutil_socket_t fd, short events, void *arg)
{
	static char buf[PROC_READ_SIZE];	/* one for all tasks */
	struct proc_stream *s = arg;
	struct proc_task *st = s->st;
	ssize_t n;

	(void)events;
	n = read(fd, buf, sizeof buf);
	if (n > 0) {
		proc_output(s, buf, (size_t)n);
		proc_arm_flush(st);
		/* A message waits behind the one being sent: let the pipe
		 * gather the next one, to be read whole when the send is
		 * done (fewer, larger messages; link_busy()). */
		if (outbox_congested() ||
		    link_busy(st->agent->link))
			proc_pause(st);
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	/* A terminal whose every slave is closed: its EOF. */
	if (n == -1 && errno == EIO && st->tty_fd != -1)
		n = 0;
	if (n == -1)
		log_warnx("task %s: reading its %s: %s", task_id(st->task),
		    s->which == OUTPUT_STDOUT ? "stdout" : "stderr",
		    strerror(errno));
	proc_stream_end(s);
	proc_stream_close(s);
	proc_check_done(st);
}

/* The main process has exited: what it left behind goes too. */
static void
proc_on_exit(void *arg, pid_t pid, int status, const struct rusage *ru)
{
	struct proc_task *st = arg;

	(void)pid;
	st->reaped = 1;
	st->wstatus = status;
	st->ru = *ru;
	track_main_exited(st->track);
	proc_check_leftovers(st);
	proc_check_done(st);
}

static void
proc_stream_init(struct proc_task *st, struct proc_stream *s,
    enum output_stream which, int fd, const struct proc_spec *spec)
{
	char **values;
	const char *eq;
	size_t i;

	s->st = st;
	s->which = which;
	s->fd = fd;
	framer_init(&s->framer, PROC_MAX_PIECE);
	/* A masker only for a task with secrets: most have none, and it
	 * is a third of a task's memory. */
	if (spec->n_secret_env != 0) {
		values = xcalloc(spec->n_secret_env + 1, sizeof *values);
		for (i = 0; i < spec->n_secret_env; i++) {
			eq = strchr(spec->secret_env[i], '=');
			values[i] = (char *)(uintptr_t)(eq != NULL ? eq + 1 :
			    "");
		}
		s->mask = xmalloc(sizeof *s->mask);
		mask_init(s->mask, values, spec->n_secret_env);
		free(values);
		if (!mask_active(s->mask))
			proc_mask_free(s);	/* all too short to mask */
	}
	buf_init(&s->masked);
	if (fd == -1)
		return;		/* a terminal's task: one stream */
	s->ev = event_new(st->agent->base, fd, EV_READ | EV_PERSIST,
	    proc_on_read, s);
	if (s->ev == NULL || event_add(s->ev, NULL) != 0)
		fatalx("cannot watch a task's output");
}

/* Writes queued input as the task reads it; closes stdin after eof. */
static void
proc_on_input(evutil_socket_t fd, short events, void *arg)
{
	struct proc_task *st = arg;
	ssize_t n;

	(void)fd;
	(void)events;
	while (st->in_queue.len != 0) {
		n = write(st->in_fd, st->in_queue.data, st->in_queue.len);
		if (n > 0) {
			buf_consume(&st->in_queue, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;		/* the task reads slowly: later */
		log_debug("task %s: its stdin is closed (%s): %zu bytes of "
		    "input dropped", task_id(st->task), n == -1 ?
		    strerror(errno) : "short write", st->in_queue.len);
		metrics.input_dropped++;
		buf_clear(&st->in_queue);
		st->in_eof = 1;
		break;
	}
	event_del(st->in_ev);
	if (st->in_eof && st->tty_fd == -1) {
		close(st->in_fd);
		st->in_fd = -1;
	}
}

/* TaskInput for the task: queued, bounded, written as it is read. */
static void
proc_input(void *arg, const struct request *req)
{
	struct proc_task *st = arg;
	unsigned char eof;

	if (st->in_fd == -1 || (st->in_eof && st->tty_fd == -1)) {
		metrics.input_dropped++;
		log_debug("task %s: input after its stdin was closed: dropped",
		    task_id(st->task));
		return;
	}
	/* Input the task does not read is bounded: past the bound the
	 * task ends (never a silent hole in its stdin).  A chunk of any
	 * size the link accepts is taken while the bound allows. */
	if (st->in_queue.len + req->input_len + (req->input_eof &&
	    st->tty_fd != -1 ? 1 : 0) >
	    st->agent->opts->max_task_input) {
		metrics.input_refused++;
		if (st->limit_hit == NULL) {
			xasprintf(&st->limit_hit, "input limit of %llu bytes "
			    "exceeded: %zu bytes were still waiting for the "
			    "task to read them", (unsigned long long)
			    st->agent->opts->max_task_input, st->in_queue.len);
			st->input_over = 1;
			proc_kill_begin(st, st->limit_hit);
		}
		return;
	}
	buf_append(&st->in_queue, req->input, req->input_len);
	if (req->input_eof) {
		if (st->tty_fd != -1) {
			eof = compat_pty_eof_char(st->tty_fd);
			buf_append(&st->in_queue, &eof, 1);
		} else
			st->in_eof = 1;
	}
	proc_on_input(-1, 0, st);
	if (st->in_queue.len != 0)
		event_add(st->in_ev, NULL);
}

/* TaskResize: the terminal's new size, and SIGWINCH. */
static void
proc_resize(void *arg, unsigned rows, unsigned cols)
{
	struct proc_task *st = arg;

	if (rows == 0 || cols == 0 || rows > 65535 || cols > 65535) {
		metrics.input_dropped++;
		log_warnx("task %s: a terminal of %u x %u refused",
		    task_id(st->task), rows, cols);
		return;
	}
	if (compat_pty_resize(st->tty_fd, rows, cols) != 0)
		log_warnx("task %s: cannot resize its terminal: %s",
		    task_id(st->task), strerror(errno));
	else
		log_debug("task %s: terminal now %u x %u", task_id(st->task),
		    rows, cols);
}

/*
 * The task's descriptors: pipes for its stdout and stderr (and stdin when
 * it takes input), or one terminal for all three.  OUT[1], ERR[1], IN[0]
 * are the child's; *IN_W and *TTY the agent's.  Returns 0 or an errno.
 */
static int
proc_open_io(const struct proc_spec *spec, int out[2], int err[2],
    int in[2], int *in_w, int *tty)
{
	int error;

	*in_w = *tty = -1;
	if (spec->pty) {
		if ((error = compat_openpty(&out[0], &out[1],
		    spec->rows != 0 ? spec->rows : 24,
		    spec->cols != 0 ? spec->cols : 80)) != 0)
			return error;
		if ((*in_w = fcntl(out[0], F_DUPFD_CLOEXEC, 3)) == -1 ||
		    (*tty = fcntl(out[0], F_DUPFD_CLOEXEC, 3)) == -1)
			return errno;
		return 0;
	}
	if (compat_pipe_cloexec(out) != 0 || compat_pipe_cloexec(err) != 0 ||
	    evutil_make_socket_nonblocking(out[0]) != 0 ||
	    evutil_make_socket_nonblocking(err[0]) != 0)
		return errno;
	compat_pipe_grow(out[0], PROC_READ_SIZE);
	compat_pipe_grow(err[0], PROC_READ_SIZE);
	if (spec->want_stdin) {
		if (compat_pipe_cloexec(in) != 0 ||
		    evutil_make_socket_nonblocking(in[1]) != 0)
			return errno;
		*in_w = in[1];
		in[1] = -1;
	}
	return 0;
}

static void
proc_close_fd(int *fd)
{
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

static void
proc_close_pair(int fds[2])
{
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
}

/* Everything proc_open_io() made, when the task cannot start. */
static void
proc_close_io(int out[2], int err[2], int in[2], int *in_w, int *tty)
{
	proc_close_pair(out);
	proc_close_pair(err);
	proc_close_pair(in);
	proc_close_fd(in_w);
	proc_close_fd(tty);
}

/* Its processes may have come or gone (track.c): look again. */
static void
proc_on_track_changed(void *arg)
{
	struct proc_task *st = arg;

	if (st == NULL)
		return;		/* not started yet */
	if (!st->reaped && track_has_cgroup(st->track)) {
		/* Its cgroup may have emptied: reaped by its pid, the
		 * finish follows from proc_on_exit (which may free ST). */
		reaper_reap(st->pid);
		return;
	}
	proc_check_leftovers(st);
	proc_check_done(st);
}

/* Cancels the task: 0 if the kill sequence starts now, 1 if it had. */
static int
proc_cancel(void *arg)
{
	struct proc_task *st = arg;

	if (st->cancelled)
		return 1;
	st->cancelled = 1;
	if (st->killing)
		return 1;
	if (st->hooks != NULL && st->hooks->cancel != NULL)
		st->hooks->cancel(st->hook_arg, st->agent->opts->kill_grace_s);
	proc_kill_begin(st, "cancelled");
	return 0;
}


/*
 * The limits of SPEC as the cgroup at CGROUP_FD (or -1) and rlimits for
 * the child: *N of them in RL.  Sets *CGROUP_MEMORY if memory.max holds
 * the memory limit.
 */
static size_t
proc_limits(const struct proc_spec *spec, int cgroup_fd,
    struct spawn_rlimit rl[LIMITS_COUNT], int *cgroup_memory)
{
	const struct limits *l = &spec->limits;
	struct rlimit own;
	size_t n = 0, i;

	*cgroup_memory = 0;
	if (l->memory_bytes != 0) {
		if (cgroup_fd != -1 && cgroup_limit(cgroup_fd,
		    "memory.max", l->memory_bytes) == 0)
			*cgroup_memory = 1;
		else {
			rl[n].resource = RLIMIT_AS;
			rl[n].soft = rl[n].hard = l->memory_bytes;
			n++;
		}
	}
	if (l->cpu_seconds != 0) {
		/* SIGXCPU at the limit, SIGKILL a second later if caught. */
		rl[n].resource = RLIMIT_CPU;
		rl[n].soft = l->cpu_seconds;
		rl[n].hard = l->cpu_seconds + 1;
		n++;
	}
	if (l->max_processes != 0 && (cgroup_fd == -1 || cgroup_limit(
	    cgroup_fd, "pids.max", l->max_processes) != 0)) {
		rl[n].resource = RLIMIT_NPROC;
		rl[n].soft = rl[n].hard = l->max_processes;
		n++;
	}
	if (l->max_open_files != 0) {
		rl[n].resource = RLIMIT_NOFILE;
		rl[n].soft = rl[n].hard = l->max_open_files;
		n++;
	} else if (proc_nofile_known) {
		rl[n].resource = RLIMIT_NOFILE;
		rl[n].soft = proc_nofile_soft;
		rl[n].hard = proc_nofile_hard;
		n++;
	}
	if (l->max_file_bytes != 0) {
		rl[n].resource = RLIMIT_FSIZE;
		rl[n].soft = rl[n].hard = l->max_file_bytes;
		n++;
	}
	/* Never above the agent's own hard limits: those are no limit, and
	 * raising one needs a privilege the agent may lack. */
	for (i = 0; i < n; i++) {
		if (getrlimit(rl[i].resource, &own) != 0 ||
		    own.rlim_max == RLIM_INFINITY)
			continue;
		if (rl[i].hard > (uint64_t)own.rlim_max)
			rl[i].hard = own.rlim_max;
		if (rl[i].soft > rl[i].hard)
			rl[i].soft = rl[i].hard;
	}
	return n;
}

/* What a task's start holds until its process runs (task_proc_start). */
struct proc_start {
	int out[2], err[2], in[2], in_w, tty;
	struct track *track;
	char marker[64];
	int cgroup_memory;
	pid_t pid;
};

/* The pipes or terminal, the marker and the tracker of a task to start. */
static int
proc_start_prepare(struct proc_start *ps, const struct proc_spec *spec,
    char **cause)
{
	int error;

	if ((error = proc_open_io(spec, ps->out, ps->err, ps->in, &ps->in_w,
	    &ps->tty)) != 0) {
		xasprintf(cause, "cannot create %s: %s", spec->pty ?
		    "a terminal" : "pipes", strerror(error));
		return error;
	}
	snprintf(ps->marker, sizeof ps->marker, "%s=%ld-%lu", PROC_MARKER,
	    (long)getpid(), ++proc_serial);
	ps->track = track_new(ps->marker + sizeof PROC_MARKER,
	    proc_on_track_changed, NULL, cause);
	return ps->track == NULL ? errno : 0;
}

/* Why the process could not start (error ERROR at STEP). */
static void
proc_start_failed(const struct proc_spec *spec, enum spawn_step step,
    int error, char **cause)
{
	switch (step) {
	case SPAWN_STEP_NONE:
	case SPAWN_STEP_EXEC:
		xasprintf(cause, "cannot start %s: %s", spec->path,
		    strerror(error));
		break;
	case SPAWN_STEP_DIR:
		xasprintf(cause, "cannot start %s: %s%s%s: %s", spec->path,
		    spawn_step_name(step), spec->dir != NULL ? " " : "",
		    spec->dir != NULL ? spec->dir : "", strerror(error));
		break;
	default:
		xasprintf(cause, "cannot start %s: %s: %s", spec->path,
		    spawn_step_name(step), strerror(error));
		break;
	}
}

/* Starts the process of PS, as SPEC says, in its cgroup if it has one. */
static int
proc_start_spawn(struct proc_start *ps, const struct proc_spec *spec,
    char **cause)
{
	struct spawn_req sp;
	struct spawn_rlimit rl[LIMITS_COUNT];
	enum spawn_step step = SPAWN_STEP_NONE;
	char **envp, traceparent[96], span[17], userenv[3][300];
	int error;

	memset(&sp, 0, sizeof sp);
	sp.cgroup_fd = track_cgroup_open(ps->track);
	if (sp.cgroup_fd == -1 && track_has_cgroup(ps->track)) {
		/* Never outside it: the task would escape every kill. */
		error = errno;
		xasprintf(cause, "cannot open the task's cgroup: %s",
		    strerror(error));
		return error;
	}
	if (spec->traceparent != NULL)
		proc_traceparent(spec->traceparent, traceparent, span);
	envp = proc_task_env(spec, spec->traceparent != NULL ? traceparent :
	    NULL, ps->marker, userenv);
	sp.n_rlimits = proc_limits(spec, sp.cgroup_fd, rl,
	    &ps->cgroup_memory);
	sp.pdeathsig = 1;
	sp.rlimits = rl;
	if (spec->user != NULL) {
		sp.switch_user = 1;
		sp.uid = spec->user->uid;
		sp.gid = spec->user->gid;
		sp.groups = spec->user->groups;
		sp.n_groups = spec->user->n_groups;
	}
	sp.failed_step = &step;
	sp.path = spec->path;
	sp.argv = spec->argv;
	sp.envp = envp;
	sp.dir = spec->dir;
	sp.out_fd = ps->out[1];
	sp.err_fd = spec->pty ? ps->out[1] : ps->err[1];
	sp.in_fd = spec->pty ? ps->out[1] : ps->in[0];
	sp.pty = spec->pty;
	sp.script_fd = spec->script_fd;
	error = spawn_start(&sp, &ps->pid);
	if (sp.cgroup_fd != -1)
		close(sp.cgroup_fd);
	free(envp);
	/* The child's ends are the child's now. */
	proc_close_fd(&ps->out[1]);
	proc_close_fd(&ps->err[1]);
	proc_close_fd(&ps->in[0]);
	if (error != 0)
		proc_start_failed(spec, step, error, cause);
	return error;
}

/* The running task of PS: its streams, input, timeout and records. */
static struct proc_task *
proc_start_register(struct task *t, struct proc_start *ps,
    const struct proc_spec *spec)
{
	struct agent *a = task_agent(t);
	struct proc_task *st;

	st = xcalloc(1, sizeof *st);
	st->in_fd = st->tty_fd = -1;
	st->agent = a;
	task_set_state(t, TASK_RUNNING);
	st->task = t;
	task_set_cancel(t, proc_cancel, st);
	st->hooks = spec->hooks;
	st->hook_arg = spec->hook_arg;
	st->pid = ps->pid;
	st->track = ps->track;
	track_set_owner(ps->track, st);
	track_started(ps->track, ps->pid);
	st->started_ms = compat_monotime_ms();
	kill_init(&st->kill, spec->no_grace ? 0 :
	    (uint64_t)a->opts->kill_grace_s * 1000);
	st->timeout_s = spec->no_timeout ? 0 : spec->timeout_s != 0 ?
	    spec->timeout_s : a->opts->default_timeout_s;
	if (st->timeout_s != 0)
		proc_arm(st, &st->timeout_timer, proc_on_timeout,
		    (uint64_t)st->timeout_s * 1000);
	proc_stream_init(st, &st->out, OUTPUT_STDOUT, ps->out[0], spec);
	proc_stream_init(st, &st->err, OUTPUT_STDERR, ps->err[0], spec);
	st->in_fd = ps->in_w;
	st->tty_fd = ps->tty;
	buf_init(&st->in_queue);
	if (ps->in_w != -1) {
		st->in_ev = event_new(a->base, ps->in_w, EV_WRITE | EV_PERSIST,
		    proc_on_input, st);
		if (st->in_ev == NULL)
			fatalx("cannot watch a task's input");
		task_set_io(t, proc_input, ps->tty != -1 ? proc_resize : NULL);
	}
	st->limits = spec->limits;
	st->cgroup_memory = ps->cgroup_memory;
	LIST_INSERT_HEAD(&proc_running, st, entry);
	reaper_watch(ps->pid, proc_on_exit, st);
	st->run = task_record_start(t, ps->pid, track_cgroup_path(ps->track),
	    ps->marker + sizeof PROC_MARKER, NULL, spec->container);
	return st;
}

/* "task ... started", with its trace if it has one, never a secret. */
static void
proc_log_started(const struct proc_task *st, const struct proc_spec *spec)
{
	char span[17], trace_id[33], traceparent[96], *masked;
	const char *what;

	masked = spec->n_secret_env != 0 ? mask_entries_in(spec->secret_env,
	    spec->n_secret_env, spec->what) : NULL;
	what = masked != NULL ? masked : spec->what;
	if (spec->traceparent != NULL) {
		proc_traceparent(spec->traceparent, traceparent, span);
		snprintf(trace_id, sizeof trace_id, "%.32s",
		    spec->traceparent + 3);
		log_trace(LOG_INFO, trace_id, span, "task %s started: pid %ld: "
		    "%s", task_id(st->task), (long)st->pid, what);
	} else
		log_info("task %s started: pid %ld: %s", task_id(st->task),
		    (long)st->pid, what);
	free(masked);
}

/*
 * Starts the process SPEC describes for the registered task T.  Returns 0;
 * TASK_START_LATER when the agent has no descriptors to spare now (the
 * task waits in the queue); or -1 with *cause set to a one-line reason
 * (for the FAILURE final) when it cannot start.  SPEC's hook argument is
 * freed here unless it started.
 */
int
task_proc_start(struct task *t, const struct proc_spec *spec, char **cause)
{
	struct proc_start ps;
	struct proc_task *st;
	int error;

	memset(&ps, 0, sizeof ps);
	ps.out[0] = ps.out[1] = ps.err[0] = ps.err[1] = -1;
	ps.in[0] = ps.in[1] = ps.in_w = ps.tty = -1;
	if ((error = proc_start_prepare(&ps, spec, cause)) != 0 ||
	    (error = proc_start_spawn(&ps, spec, cause)) != 0) {
		proc_close_io(ps.out, ps.err, ps.in, &ps.in_w, &ps.tty);
		if (ps.track != NULL)
			track_free(ps.track);
		if (spec->hooks != NULL && spec->hooks->free != NULL)
			spec->hooks->free(spec->hook_arg);
		if (error == EMFILE || error == ENFILE) {
			free(*cause);
			*cause = NULL;
			return TASK_START_LATER;
		}
		return -1;
	}
	st = proc_start_register(t, &ps, spec);
	proc_log_started(st, spec);
	metrics_task_started(task_kind(t));
	if (outbox_congested())
		proc_pause(st);
	return 0;
}

/* The spool has room again: every paused task reads on. */
void
task_proc_resume_all(void)
{
	struct proc_task *st;

	while ((st = LIST_FIRST(&proc_paused)) != NULL) {
		LIST_REMOVE(st, pause_entry);
		st->paused = 0;
		if (st->out.ev != NULL)
			event_add(st->out.ev, NULL);
		if (st->err.ev != NULL)
			event_add(st->err.ev, NULL);
	}
}

/* Cancels every running task (agent shutdown). */
void
task_proc_cancel_all(void)
{
	struct proc_task *st;

	LIST_FOREACH(st, &proc_running, entry)
		proc_cancel(st);
	/* Their output must drain for them to finish. */
	task_proc_resume_all();
}

/*
 * Agent exit with tasks still running (the give-up timer fired): each is
 * sent SIGKILL and forgotten at once, so that no timer, pipe or exit of
 * theirs runs once what they point to is freed.  Their START records stay
 * in the journal: the next start reports them AGENT_RESTARTED and ends
 * whatever survived.
 */
void
task_proc_detach_all(void)
{
	struct proc_task *st;

	while ((st = LIST_FIRST(&proc_running)) != NULL) {
		proc_signal_tree(st, SIGKILL);
		if (!st->reaped)
			reaper_unwatch(st->pid);
		st->run = NULL;		/* the record stays journaled */
		proc_free(st);
	}
}

/*
 * The agent's descriptor limits before it raised its own (main.c): what
 * tasks get.
 */
void
task_proc_set_nofile(uint64_t soft, uint64_t hard)
{
	proc_nofile_soft = soft;
	proc_nofile_hard = hard;
	proc_nofile_known = 1;
}

/* SIGKILL now, whatever is left of the grace periods (second signal). */
void
task_proc_hurry_all(void)
{
	struct proc_task *st;
	int sig;

	LIST_FOREACH(st, &proc_running, entry) {
		st->killing = 1;
		if ((sig = kill_hurry(&st->kill)) == 0)
			continue;
		proc_signal_tree(st, sig);
		proc_arm(st, &st->kill_timer, proc_on_kill_timer,
		    PROC_GIVE_UP_MS);
		proc_arm(st, &st->poll_timer, proc_on_poll, PROC_POLL_MS);
	}
}

/* -- across a re-execution (handover.c) ------------------------------ */

#define PROC_HO_KILLING 0x01
#define PROC_HO_CANCELLED 0x02
#define PROC_HO_TIMED_OUT 0x04
#define PROC_HO_REAPED 0x08
#define PROC_HO_IN_EOF 0x10
#define PROC_HO_INPUT_OVER 0x20

static void
proc_handover_fd(struct buf *b, struct buf *fds, int fd)
{
	rec_enc_u64(b, (uint64_t)(fd + 1));
	if (fd != -1)
		buf_append(fds, &fd, sizeof fd);
}

static void
proc_handover_stream(struct buf *b, const struct proc_stream *s)
{
	rec_enc_bytes(b, s->framer.pending.data, s->framer.pending.len);
	if (s->mask != NULL)
		rec_enc_bytes(b, s->mask->held.data, s->mask->held.len);
	else
		rec_enc_bytes(b, NULL, 0);
	rec_enc_u64(b, s->bytes);
}

/* Task ST into B (its hooks' part first), its descriptors into FDS. */
static void
proc_handover_one(struct proc_task *st, struct buf *b, struct buf *fds)
{
	const struct mask *m = st->out.mask != NULL ? st->out.mask :
	    st->err.mask;
	const char *cgroup = track_cgroup_path(st->track);
	struct buf hook;
	size_t i;

	buf_init(&hook);
	if (st->hooks != NULL && st->hooks->handover != NULL)
		st->hooks->handover(st->hook_arg, &hook);
	rec_enc_u64(b, st->hooks != NULL && st->hooks->handover != NULL);
	rec_enc_bytes(b, hook.data, hook.len);
	buf_free(&hook);
	rec_enc_str(b, task_id(st->task));
	rec_enc_str(b, task_reply_id(st->task));
	rec_enc_u64(b, (uint64_t)task_kind(st->task));
	rec_enc_u64(b, tstream_seq(task_stream(st->task)));
	rec_enc_u64(b, (uint64_t)st->pid);
	proc_handover_fd(b, fds, st->out.fd);
	proc_handover_fd(b, fds, st->err.fd);
	proc_handover_fd(b, fds, st->in_fd);
	proc_handover_fd(b, fds, st->tty_fd);
	rec_enc_u64(b, st->started_ms);
	rec_enc_u64(b, st->timeout_s);
	rec_enc_u64(b, (st->killing ? PROC_HO_KILLING : 0) |
	    (st->cancelled ? PROC_HO_CANCELLED : 0) |
	    (st->timed_out ? PROC_HO_TIMED_OUT : 0) |
	    (st->reaped ? PROC_HO_REAPED : 0) |
	    (st->in_eof ? PROC_HO_IN_EOF : 0) |
	    (st->input_over ? PROC_HO_INPUT_OVER : 0));
	rec_enc_u64(b, (uint64_t)(uint32_t)st->wstatus);
	rec_enc_str(b, cgroup != NULL ? cgroup : "");
	rec_enc_str(b, track_marker(st->track));
	rec_enc_bytes(b, &st->limits, sizeof st->limits);
	rec_enc_u64(b, (uint64_t)st->cgroup_memory);
	rec_enc_str(b, st->limit_hit != NULL ? st->limit_hit : "");
	rec_enc_u64(b, m != NULL ? m->n : 0);
	for (i = 0; m != NULL && i < m->n; i++)
		rec_enc_bytes(b, m->values[i], m->lens[i]);
	proc_handover_stream(b, &st->out);
	proc_handover_stream(b, &st->err);
	rec_enc_bytes(b, st->in_queue.data, st->in_queue.len);
	rec_enc_u64(b, (uint64_t)st->ru.ru_utime.tv_sec * 1000000 +
	    (uint64_t)st->ru.ru_utime.tv_usec);
	rec_enc_u64(b, (uint64_t)st->ru.ru_stime.tv_sec * 1000000 +
	    (uint64_t)st->ru.ru_stime.tv_usec);
}

/*
 * Every running process task, for the re-executed agent: one record each
 * through PUT(ARG, record), and every descriptor that must survive the
 * exec appended to FDS (ints).  Their output is paused first, so that
 * nothing more is read before the exec.  Returns how many.
 */
size_t
task_proc_handover(void (*put)(void *, const struct buf *), void *arg,
    struct buf *fds)
{
	struct proc_task *st;
	struct buf b;
	size_t n = 0;

	LIST_FOREACH(st, &proc_running, entry) {
		if (!st->paused)
			proc_pause(st);
		proc_event_free(&st->flush);
		buf_init(&b);
		proc_handover_one(st, &b, fds);
		put(arg, &b);
		buf_free(&b);
		n++;
	}
	return n;
}

/* The serial that names the tasks' markers, for the re-executed agent
 * to go on from (two tasks never share a marker). */
unsigned long
task_proc_serial(void)
{
	return proc_serial;
}

void
task_proc_set_serial(unsigned long serial)
{
	if (serial > proc_serial)
		proc_serial = serial;
}

/* The re-execution failed: the tasks read on. */
void
task_proc_handover_cancelled(void)
{
	struct proc_task *st;

	LIST_FOREACH(st, &proc_running, entry)
		if (framer_pending(&st->out.framer) != 0 ||
		    framer_pending(&st->err.framer) != 0)
			proc_arm_flush(st);
	task_proc_resume_all();
}

static int
proc_adopt_fd(struct dec *d)
{
	int fd = (int)rec_dec_u64(d) - 1;

	if (fd != -1)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

/* A stream's held bytes, its descriptor FD (or -1), as handed over. */
static void
proc_adopt_stream(struct proc_task *st, struct proc_stream *s,
    enum output_stream which, int fd, const struct proc_spec *spec,
    struct dec *d)
{
	struct buf held;

	proc_stream_init(st, s, which, fd, spec);
	rec_dec_bytes(d, &s->framer.pending);
	buf_init(&held);
	rec_dec_bytes(d, &held);
	if (s->mask != NULL)
		buf_append(&s->mask->held, held.data, held.len);
	buf_free(&held);
	s->bytes = rec_dec_u64(d);
}

/* The secret values of a handed-over task, as "=VALUE" entries. */
static char **
proc_adopt_secrets(struct dec *d, size_t *n)
{
	struct buf v;
	char **entries;
	size_t i;

	*n = (size_t)rec_dec_u64(d);
	if (d->bad || *n > d->left) {
		d->bad = 1;
		*n = 0;
		return NULL;
	}
	entries = xcalloc(*n + 1, sizeof *entries);
	for (i = 0; i < *n; i++) {
		buf_init(&v);
		buf_append(&v, "=", 1);
		rec_dec_bytes(d, &v);
		buf_append(&v, "", 1);
		entries[i] = v.data;
	}
	return entries;
}

/* Its timeout, with what is left of it. */
static void
proc_adopt_timeout(struct proc_task *st)
{
	uint64_t now = compat_monotime_ms(), limit, spent;

	if (st->timeout_s == 0 || st->timed_out || st->reaped)
		return;
	limit = (uint64_t)st->timeout_s * 1000;
	spent = now > st->started_ms ? now - st->started_ms : 0;
	proc_arm(st, &st->timeout_timer, proc_on_timeout,
	    spent < limit ? limit - spent : 1);
}

/* What a handed-over record says of its task beyond the process. */
struct proc_adopted {
	char *id, *reply_id, *cgroup, *marker, *hit;
	int kind;
	uint64_t seq, flags, utime, stime;
};

static void
proc_adopted_free(struct proc_adopted *pa)
{
	free(pa->id);
	free(pa->reply_id);
	free(pa->cgroup);
	free(pa->marker);
	free(pa->hit);
}

/* A record of task_proc_handover into ST (its descriptors, streams and
 * input) and PA; -1 if it is cut short. */
static int
proc_adopt_read(struct agent *a, struct proc_task *st, struct dec *d,
    struct proc_adopted *pa)
{
	struct proc_spec spec;
	struct buf limits;
	char **secrets;
	size_t i, n_secrets;
	int out, err;

	pa->id = rec_dec_str(d);
	pa->reply_id = rec_dec_str(d);
	pa->kind = (int)rec_dec_u64(d);
	pa->seq = rec_dec_u64(d);
	st->agent = a;
	st->pid = (pid_t)rec_dec_u64(d);
	out = proc_adopt_fd(d);
	err = proc_adopt_fd(d);
	st->in_fd = proc_adopt_fd(d);
	st->tty_fd = proc_adopt_fd(d);
	st->started_ms = rec_dec_u64(d);
	st->timeout_s = (unsigned)rec_dec_u64(d);
	pa->flags = rec_dec_u64(d);
	st->wstatus = (int)(uint32_t)rec_dec_u64(d);
	pa->cgroup = rec_dec_str(d);
	pa->marker = rec_dec_str(d);
	buf_init(&limits);
	rec_dec_bytes(d, &limits);
	if (limits.len == sizeof st->limits)
		memcpy(&st->limits, limits.data, sizeof st->limits);
	buf_free(&limits);
	st->cgroup_memory = (int)rec_dec_u64(d);
	pa->hit = rec_dec_str(d);
	secrets = proc_adopt_secrets(d, &n_secrets);
	memset(&spec, 0, sizeof spec);
	spec.secret_env = secrets;
	spec.n_secret_env = n_secrets;
	proc_adopt_stream(st, &st->out, OUTPUT_STDOUT, out, &spec, d);
	proc_adopt_stream(st, &st->err, OUTPUT_STDERR, err, &spec, d);
	for (i = 0; i < n_secrets; i++)
		free(secrets[i]);
	free(secrets);
	buf_init(&st->in_queue);
	rec_dec_bytes(d, &st->in_queue);
	pa->utime = rec_dec_u64(d);
	pa->stime = rec_dec_u64(d);
	return d->bad ? -1 : 0;
}

/* A task that cannot be taken over: what was made for it goes. */
static void
proc_adopt_discard(struct proc_task *st, const struct proc_hooks *hooks,
    void *hook_arg)
{
	proc_streams_free(st);
	buf_free(&st->in_queue);
	if (st->in_fd != -1)
		close(st->in_fd);
	if (st->tty_fd != -1)
		close(st->tty_fd);
	if (hooks != NULL && hooks->free != NULL)
		hooks->free(hook_arg);
	free(st);
}

/* ST, read from its record, runs here now, as task PA->id. */
static void
proc_adopt_run(struct agent *a, struct proc_task *st,
    struct proc_adopted *pa, const char *container)
{
	struct task *t;

	st->ru.ru_utime.tv_sec = (time_t)(pa->utime / 1000000);
	st->ru.ru_utime.tv_usec = (suseconds_t)(pa->utime % 1000000);
	st->ru.ru_stime.tv_sec = (time_t)(pa->stime / 1000000);
	st->ru.ru_stime.tv_usec = (suseconds_t)(pa->stime % 1000000);
	st->cancelled = (pa->flags & PROC_HO_CANCELLED) != 0;
	st->timed_out = (pa->flags & PROC_HO_TIMED_OUT) != 0;
	st->reaped = (pa->flags & PROC_HO_REAPED) != 0;
	st->in_eof = (pa->flags & PROC_HO_IN_EOF) != 0;
	st->input_over = (pa->flags & PROC_HO_INPUT_OVER) != 0;
	if (*pa->hit != '\0') {
		st->limit_hit = pa->hit;
		pa->hit = NULL;
	}
	if ((t = task_find(pa->id)) == NULL)
		t = task_new(a, pa->id, pa->reply_id, (enum task_kind)pa->kind);
	if (tstream_seq(task_stream(t)) < pa->seq)
		tstream_set_seq(task_stream(t), pa->seq);
	st->task = t;
	task_set_state(t, TASK_RUNNING);
	task_set_cancel(t, proc_cancel, st);
	track_started(st->track, st->pid);
	kill_init(&st->kill, pa->kind == TASK_KIND_COMMAND ||
	    pa->kind == TASK_KIND_TERMINAL ? 0 :
	    (uint64_t)a->opts->kill_grace_s * 1000);
	if (st->in_fd != -1) {
		st->in_ev = event_new(a->base, st->in_fd, EV_WRITE | EV_PERSIST,
		    proc_on_input, st);
		if (st->in_ev == NULL)
			fatalx("cannot watch a task's input");
		task_set_io(t, proc_input, st->tty_fd != -1 ? proc_resize :
		    NULL);
		if (st->in_queue.len != 0 || st->in_eof)
			event_add(st->in_ev, NULL);
	}
	LIST_INSERT_HEAD(&proc_running, st, entry);
	st->run = task_record_start(t, st->pid, *pa->cgroup != '\0' ?
	    pa->cgroup : NULL, pa->marker, NULL, container);
	log_info("task %s: taken over from the agent before the "
	    "re-execution: pid %ld", pa->id, (long)st->pid);
	proc_adopt_timeout(st);
	if (pa->flags & PROC_HO_KILLING)
		proc_kill_begin(st, "a kill under way before the re-execution");
	if (framer_pending(&st->out.framer) != 0 ||
	    framer_pending(&st->err.framer) != 0)
		proc_arm_flush(st);
	if (outbox_congested())
		proc_pause(st);
	if (!st->reaped)
		reaper_watch(st->pid, proc_on_exit, st);
	st->adopted = 1;	/* task_proc_adopted_start goes on */
}

/*
 * A process task of the agent before it re-executed, from a record of
 * task_proc_handover (after its hooks' part, which gave HOOKS, HOOK_ARG
 * and CONTAINER): it runs on, untouched, as if started here.  Returns 0,
 * or -1 with *cause set (the record is cut short, or its cgroup is not
 * the agent's); the hooks' argument is then freed.
 */
int
task_proc_adopt(struct agent *a, struct dec *d, const struct proc_hooks *hooks,
    void *hook_arg, const char *container, char **cause)
{
	struct proc_adopted pa;
	struct proc_task *st;

	memset(&pa, 0, sizeof pa);
	st = xcalloc(1, sizeof *st);
	if (proc_adopt_read(a, st, d, &pa) != 0)
		xasprintf(cause, "its record is cut short");
	else
		st->track = track_adopt(pa.marker, pa.cgroup,
		    proc_on_track_changed, st, cause);
	if (st->track == NULL) {
		proc_adopt_discard(st, hooks, hook_arg);
		proc_adopted_free(&pa);
		return -1;
	}
	st->hooks = hooks;
	st->hook_arg = hook_arg;
	proc_adopt_run(a, st, &pa, container);
	proc_adopted_free(&pa);
	return 0;
}

/*
 * Once everything handed over is in place (the messages before theirs):
 * the tasks taken over may finish, and an exit during the exec is seen.
 */
void
task_proc_adopted_start(void)
{
	struct proc_task *st, *next;

	LIST_FOREACH_SAFE(st, &proc_running, entry, next) {
		if (!st->adopted)
			continue;
		st->adopted = 0;
		if (!st->reaped)
			reaper_reap(st->pid);	/* (may finish ST) */
		else
			proc_check_done(st);
	}
}

/* Every running task stops reading its output (a re-execution). */
void
task_proc_pause_all(void)
{
	struct proc_task *st;

	LIST_FOREACH(st, &proc_running, entry)
		if (!st->paused)
			proc_pause(st);
}
