/*
 * handover.c: re-executing the agent in place (SIGUSR2), tasks untouched.
 *
 * An upgrade replaces the binary; SIGUSR2 makes the running agent exec
 * the file at the path it was started from, with the same arguments,
 * keeping its pid, and so its children: the tasks run on, their pipes
 * stay open, and nothing is signalled.  First the new binary is run with
 * the same arguments and --check-config; if that fails, or the exec does,
 * the agent says why and carries on as it was.
 *
 * What the new agent needs it is handed in an anonymous file whose
 * descriptor survives the exec, named by NODELINK_AGENT_HANDOVER:
 *
 *   H  the cgroup base of the task cgroups and the serial naming them
 *   P  each running process task: its pid, descriptors, deadlines, kill
 *      state, seq, the output read but not yet sent, its secrets
 *      (task-proc.c; a Docker task's part from task-docker.c first)
 *   F  each finished task remembered, with its final
 *   M  without a state directory, each message not known to be stored
 *      (with one, the journal holds them and recovery.c resends them)
 *   Q  each queued task's request, as received (admit.c)
 *
 * Before the exec the tasks' output is paused and the journal's writer
 * drained, so that no message is half made; file transfers, which would
 * need the server to send their chunks again, end as on SIGTERM.  The new
 * agent reads the file before it starts its parts, goes through recovery
 * as on any start, except that the tasks handed over are neither killed
 * nor reported interrupted, and then takes them over.  The server sees the
 * stream close and a new one open.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "record.h"

#define HANDOVER_ENV "NODELINK_AGENT_HANDOVER"
#define HANDOVER_MAGIC "nodelink-agent handover 1"
/* How long the new binary's --check-config may take. */
#define HANDOVER_CHECK_MS 30000
/* How long the journal's writer may take to drain before the exec. */
#define HANDOVER_DRAIN_MS 10000
#define HANDOVER_POLL_MS 10
/* What of the check's stderr is kept, for the log. */
#define HANDOVER_STDERR_MAX 2048

enum handover_record {
	HO_HEADER = 'H',
	HO_PROC = 'P',
	HO_SINK = 'S',		/* a task's sink (today's upstream protocol) */
	HO_FINISHED = 'F',
	HO_MESSAGE = 'M',
	HO_QUEUED = 'Q',
};

extern char **environ;

static char *handover_exe;		/* resolved at start */
static char **handover_argv;
static uint64_t handover_nofile;	/* the soft limit at start, or 0 */

/* The re-execution under way (the old agent). */
static struct agent *handover_agent;
static pid_t handover_check_pid = -1;
static int handover_check_fd = -1;
static struct event *handover_check_ev;
static struct event *handover_timer;
static struct buf handover_stderr;
static uint64_t handover_waited_ms;

/* What was handed over (the new agent). */
static struct buf handover_in;
static char **handover_ids;		/* of the tasks handed over */
static int handover_head;		/* it spoke today's upstream protocol */
static size_t handover_n_ids;

/*
 * Called at start: the binary to exec is the file this one was started
 * from, by its path now (the package may replace it), with ARGV; NOFILE
 * is the descriptor soft limit the agent was started with, put back
 * before the exec (the new agent raises it again), or 0.
 */
void
handover_init(char **argv, uint64_t nofile)
{
	char path[PATH_MAX];
	ssize_t n;

	handover_argv = argv;
	handover_nofile = nofile;
	if ((n = readlink("/proc/self/exe", path, sizeof path - 1)) > 0) {
		path[n] = '\0';
		handover_exe = xstrdup(path);
	} else if (realpath(argv[0], path) != NULL)
		handover_exe = xstrdup(path);
	else
		handover_exe = task_proc_find_program(argv[0]);
}

/* -- the old agent ---------------------------------------------------- */

static void
handover_put(struct buf *out, int type, const struct buf *b)
{
	rec_enc_u64(out, (uint64_t)type);
	rec_enc_bytes(out, b->data, b->len);
}

static void
handover_put_proc(void *arg, const struct buf *b)
{
	handover_put(arg, HO_PROC, b);
}

static void
handover_put_finished(void *arg, const char *id, const char *reply_id,
    int kind, const struct msg *final)
{
	struct buf b;

	buf_init(&b);
	rec_enc_str(&b, id);
	rec_enc_str(&b, reply_id);
	rec_enc_u64(&b, (uint64_t)kind);
	rec_enc_u64(&b, final->seq);
	rec_enc_bytes(&b, final->data, final->len);
	handover_put(arg, HO_FINISHED, &b);
	buf_free(&b);
}

static void
handover_put_sink(void *arg, const char *id, const struct task_sink *sink,
    void *sink_arg)
{
	struct buf b;

	if (sink->handover == NULL)
		return;
	buf_init(&b);
	rec_enc_str(&b, id);
	rec_enc_u64(&b, (uint64_t)sink->kind);
	sink->handover(sink_arg, &b);
	handover_put(arg, HO_SINK, &b);
	buf_free(&b);
}

/* A message not known to be stored: without a state directory every one
 * (the journal would have them), with one those of today's upstream
 * protocol (never journaled). */
static void
handover_put_message(void *arg, const struct msg *m)
{
	struct buf b;

	if (state_active() && !m->head)
		return;
	buf_init(&b);
	rec_enc_str(&b, m->ts != NULL ? tstream_id(m->ts) : "");
	rec_enc_u64(&b, m->seq);
	rec_enc_u64(&b, (uint64_t)m->head);
	rec_enc_bytes(&b, m->data, m->len);
	handover_put(arg, HO_MESSAGE, &b);
	buf_free(&b);
}

static void
handover_put_queued(void *arg, const void *wire, size_t len)
{
	struct buf b;

	buf_init(&b);
	rec_enc_bytes(&b, wire, len);
	handover_put(arg, HO_QUEUED, &b);
	buf_free(&b);
}

/* An anonymous file holding B (the state, secrets included: readable
 * by the agent's user alone), at offset 0, or -1. */
static int
handover_file(const struct buf *b)
{
	const void *parts[1] = { b->data };
	size_t lens[1] = { b->len };

	return compat_anon_file("nodelink-handover", parts, lens, 1, 0);
}

/* Everything the new agent needs, into OUT; the descriptors into FDS. */
static size_t
handover_write(struct agent *a, struct buf *out, struct buf *fds)
{
	const char *base = cgroup_base_path();
	struct buf h;
	size_t n;

	buf_init(&h);
	rec_enc_str(&h, HANDOVER_MAGIC);
	rec_enc_str(&h, base != NULL ? base : "");
	rec_enc_u64(&h, track_prepare_exec());
	rec_enc_u64(&h, task_proc_serial());
	rec_enc_u64(&h, (uint64_t)link_speaks_head(a->link));
	handover_put(out, HO_HEADER, &h);
	buf_free(&h);
	n = task_proc_handover(handover_put_proc, out, fds);
	task_each_sunk(handover_put_sink, out);
	task_each_finished(handover_put_finished, out);
	link_each_message(a->link, handover_put_message, out);
	admit_each_queued(handover_put_queued, out);
	return n;
}

static void
handover_set_cloexec(const struct buf *fds, int on)
{
	const int *fd = (const int *)fds->data;
	size_t i;

	for (i = 0; i < fds->len / sizeof *fd; i++)
		(void)fcntl(fd[i], F_SETFD, on ? FD_CLOEXEC : 0);
}

static void
handover_end(void)
{
	if (handover_timer != NULL)
		event_free(handover_timer);
	handover_timer = NULL;
	handover_agent = NULL;
}

/* The re-execution did not happen: the agent carries on. */
static void
handover_abandon(const char *fmt, ...) printflike(1, 2);

static void
handover_abandon(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	task_proc_handover_cancelled();
	notify_systemd("READY=1");
	handover_end();
}

/* The exec itself, the journal's writer drained. */
static void
handover_exec(struct agent *a)
{
	struct buf out, fds;
	struct rlimit rl, raised;
	char number[32];
	size_t n;
	int fd, error;

	buf_init(&out);
	buf_init(&fds);
	n = handover_write(a, &out, &fds);
	if ((fd = handover_file(&out)) == -1) {
		buf_free(&out);
		buf_free(&fds);
		handover_abandon("re-execution abandoned: cannot write what the "
		    "new agent needs: %s", strerror(errno));
		return;
	}
	buf_append(&fds, &fd, sizeof fd);
	handover_set_cloexec(&fds, 0);
	snprintf(number, sizeof number, "%d", fd);
	setenv(HANDOVER_ENV, number, 1);
	raised.rlim_cur = 0;
	if (handover_nofile != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		raised = rl;
		rl.rlim_cur = (rlim_t)handover_nofile;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	log_info("re-executing %s: %zu running tasks, %zu bytes handed over",
	    handover_exe, n, out.len);
	buf_free(&out);
	execve(handover_exe, handover_argv, environ);
	error = errno;
	if (raised.rlim_cur != 0)
		(void)setrlimit(RLIMIT_NOFILE, &raised);
	unsetenv(HANDOVER_ENV);
	handover_set_cloexec(&fds, 1);
	close(fd);
	buf_free(&fds);
	handover_abandon("re-execution failed: %s: %s: the agent carries on",
	    handover_exe, strerror(error));
}

/* Waits for the journal's writer before the exec (the tasks are paused). */
static void
handover_on_drain(evutil_socket_t fd, short events, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)events;
	if (a->draining || a->shutting_down) {
		handover_abandon("re-execution abandoned: the agent is %s",
		    a->draining ? "draining" : "shutting down");
		return;
	}
	if (outbox_queued() != 0) {
		if ((handover_waited_ms += HANDOVER_POLL_MS) >=
		    HANDOVER_DRAIN_MS) {
			handover_abandon("re-execution abandoned: the journal's "
			    "writer did not drain in %u ms",
			    HANDOVER_DRAIN_MS);
			return;
		}
		timer_add_ms(handover_timer, HANDOVER_POLL_MS);
		return;
	}
	handover_exec(a);
}

/* The new binary accepted the settings: stop reading, drain, exec. */
static void
handover_proceed(struct agent *a)
{
	task_file_cancel_all();
	task_proc_pause_all();
	handover_waited_ms = 0;
	event_free(handover_timer);
	if ((handover_timer = evtimer_new(a->base, handover_on_drain,
	    a)) == NULL)
		fatalx("cannot create a timer");
	handover_on_drain(-1, 0, a);
}

static void
handover_check_close(void)
{
	if (handover_check_ev != NULL)
		event_free(handover_check_ev);
	handover_check_ev = NULL;
	if (handover_check_fd != -1)
		close(handover_check_fd);
	handover_check_fd = -1;
}

static void
handover_on_check_output(evutil_socket_t fd, short events, void *arg)
{
	char chunk[512];
	ssize_t n;

	(void)events;
	(void)arg;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (handover_stderr.len < HANDOVER_STDERR_MAX)
			buf_append(&handover_stderr, chunk, (size_t)n);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		handover_check_close();
}

/* The new binary's --check-config is over. */
static void
handover_on_check(void *arg, pid_t pid, int status, const struct rusage *ru)
{
	struct agent *a = arg;
	char *said;

	(void)pid;
	(void)ru;
	handover_check_pid = -1;
	if (handover_check_fd != -1)
		handover_on_check_output(handover_check_fd, EV_READ, NULL);
	handover_check_close();
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		buf_free(&handover_stderr);
		handover_proceed(a);
		return;
	}
	buf_append(&handover_stderr, "", 1);
	said = vis_strdup(handover_stderr.data, strlen(handover_stderr.data),
	    HANDOVER_STDERR_MAX);
	buf_free(&handover_stderr);
	if (WIFEXITED(status))
		handover_abandon("re-execution refused: %s --check-config "
		    "exited with status %d%s%s: the agent carries on",
		    handover_exe, WEXITSTATUS(status), *said != '\0' ? ": " :
		    "", said);
	else
		handover_abandon("re-execution refused: %s --check-config "
		    "ended by signal %d: the agent carries on", handover_exe,
		    WTERMSIG(status));
	free(said);
}

/* The check took too long: killed (its exit abandons the re-execution). */
static void
handover_on_check_timeout(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	if (handover_check_pid != -1) {
		log_warnx("%s --check-config still runs after %u ms: killed",
		    handover_exe, HANDOVER_CHECK_MS);
		kill(handover_check_pid, SIGKILL);
	}
}

/* Runs the new binary with the same arguments and --check-config. */
static int
handover_check(struct agent *a)
{
	struct spawn_req sp;
	char **argv;
	int err[2], null, error;
	size_t n, i;

	for (n = 0; handover_argv[n] != NULL; n++)
		;
	argv = xcalloc(n + 2, sizeof *argv);
	for (i = 0; i < n; i++)
		argv[i] = handover_argv[i];
	argv[n] = (char *)"--check-config";
	if ((null = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1 ||
	    compat_pipe_cloexec(err) != 0) {
		error = errno;
		if (null != -1)
			close(null);
		free(argv);
		return error;
	}
	memset(&sp, 0, sizeof sp);
	sp.path = handover_exe;
	sp.argv = argv;
	sp.envp = environ;
	sp.in_fd = -1;
	sp.out_fd = null;
	sp.err_fd = err[1];
	sp.cgroup_fd = -1;
	sp.pdeathsig = 1;
	error = spawn_start(&sp, &handover_check_pid);
	close(null);
	close(err[1]);
	free(argv);
	if (error != 0) {
		close(err[0]);
		handover_check_pid = -1;
		return error;
	}
	handover_check_fd = err[0];
	buf_init(&handover_stderr);
	(void)evutil_make_socket_nonblocking(err[0]);
	handover_check_ev = event_new(a->base, err[0], EV_READ | EV_PERSIST,
	    handover_on_check_output, NULL);
	handover_timer = evtimer_new(a->base, handover_on_check_timeout, NULL);
	if (handover_check_ev == NULL || handover_timer == NULL ||
	    event_add(handover_check_ev, NULL) != 0)
		fatalx("cannot watch the configuration check");
	timer_add_ms(handover_timer, HANDOVER_CHECK_MS);
	reaper_watch(handover_check_pid, handover_on_check, a);
	return 0;
}

/* SIGUSR2: re-execute in place, if the agent can. */
void
handover_begin(struct agent *a)
{
	int error;

	if (handover_agent != NULL) {
		log_info("SIGUSR2 ignored: a re-execution is under way");
		return;
	}
	if (a->draining || a->shutting_down) {
		log_info("SIGUSR2 ignored: the agent is %s", a->draining ?
		    "draining" : "shutting down");
		return;
	}
	if (handover_exe == NULL) {
		log_error("SIGUSR2 ignored: the agent's own binary is unknown");
		return;
	}
	log_info("SIGUSR2: re-executing %s once it accepts the settings",
	    handover_exe);
	notify_systemd("RELOADING=1");
	handover_agent = a;
	if ((error = handover_check(a)) != 0)
		handover_abandon("re-execution refused: cannot run %s: %s: the "
		    "agent carries on", handover_exe, strerror(error));
}

/* Agent exit during a re-execution's check: the check is killed. */
void
handover_stop(void)
{
	if (handover_check_pid != -1) {
		kill(handover_check_pid, SIGKILL);
		reaper_unwatch(handover_check_pid);
		handover_check_pid = -1;
	}
	handover_check_close();
	buf_free(&handover_stderr);
	handover_end();
}

/* -- the new agent ---------------------------------------------------- */

static int
handover_next(struct dec *d, int *type, struct dec *rec)
{
	if (d->left == 0)
		return 0;
	*type = (int)rec_dec_u64(d);
	rec->left = (size_t)rec_dec_u64(d);
	if (d->bad || rec->left > d->left) {
		d->bad = 1;
		return 0;
	}
	rec->p = d->p;
	rec->bad = 0;
	d->p += rec->left;
	d->left -= rec->left;
	return 1;
}

/* The ID of a process task's record (after its hooks' part). */
static char *
handover_proc_id(struct dec rec)
{
	struct buf hook;

	(void)rec_dec_u64(&rec);
	buf_init(&hook);
	rec_dec_bytes(&rec, &hook);
	buf_free(&hook);
	return rec_dec_str(&rec);
}

/*
 * At start, before the agent's parts: what the agent before a
 * re-execution handed over, if it did.  Its task cgroups are reused.
 * Returns 1 if there was a handover, 0 if not, -1 (logged) if it cannot
 * be read: the tasks then count as interrupted.
 */
int
handover_load(void)
{
	const char *value = getenv(HANDOVER_ENV);
	char env[32], *magic, *end;
	struct stat sb;
	struct dec d, rec;
	long fd;
	int type;

	if (value == NULL)
		return 0;
	/* (A copy: unsetenv may take the string away.) */
	snprintf(env, sizeof env, "%s", value);
	unsetenv(HANDOVER_ENV);
	fd = strtol(env, &end, 10);
	buf_init(&handover_in);
	if (*env == '\0' || *end != '\0' || fd < 0 || fd > INT_MAX) {
		log_error("%s=%s is no descriptor: nothing taken over",
		    HANDOVER_ENV, env);
		return -1;
	}
	(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	/* Only the anonymous file the old agent made: never a pipe or a
	 * terminal to wait on. */
	if (fstat((int)fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		log_error("%s=%s is not the file a re-execution hands over: "
		    "nothing taken over", HANDOVER_ENV, env);
		close((int)fd);
		return -1;
	}
	for (;;) {
		char chunk[65536];
		ssize_t n = read((int)fd, chunk, sizeof chunk);

		if (n > 0) {
			buf_append(&handover_in, chunk, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		break;
	}
	close((int)fd);
	rec_dec_init(&d, handover_in.data, handover_in.len);
	if (!handover_next(&d, &type, &rec) || type != HO_HEADER ||
	    strcmp((magic = rec_dec_str(&rec)), HANDOVER_MAGIC) != 0) {
		log_error("what the agent before the re-execution handed over "
		    "is not understood: nothing taken over");
		buf_free(&handover_in);
		return -1;
	}
	free(magic);
	magic = rec_dec_str(&rec);
	cgroup_reuse(magic);
	free(magic);
	track_set_serial((unsigned long)rec_dec_u64(&rec));
	task_proc_set_serial((unsigned long)rec_dec_u64(&rec));
	handover_head = (int)rec_dec_u64(&rec);
	while (handover_next(&d, &type, &rec)) {
		if (type != HO_PROC)
			continue;
		handover_ids = xreallocarray(handover_ids, handover_n_ids + 1,
		    sizeof *handover_ids);
		handover_ids[handover_n_ids++] = handover_proc_id(rec);
	}
	return 1;
}

/* True if task ID was handed over running (recovery.c leaves it be). */
int
handover_has_task(const char *id)
{
	size_t i;

	for (i = 0; i < handover_n_ids; i++)
		if (strcmp(handover_ids[i], id) == 0)
			return 1;
	return 0;
}

/*
 * A task handed over that cannot be taken over (REC, its record): its
 * processes are killed (it is the agent's own child: no pid reuse) and it
 * is reported as a restart would report it.
 */
static void
handover_lost_proc(struct agent *a, struct dec rec)
{
	struct buf hook;
	char *id, *reply_id;
	uint64_t seq;
	int64_t pid;
	int kind;

	(void)rec_dec_u64(&rec);
	buf_init(&hook);
	rec_dec_bytes(&rec, &hook);
	buf_free(&hook);
	id = rec_dec_str(&rec);
	reply_id = rec_dec_str(&rec);
	kind = (int)rec_dec_u64(&rec);
	seq = rec_dec_u64(&rec);
	pid = (int64_t)rec_dec_u64(&rec);
	if (!rec.bad && pid > 0) {
		kill(-(pid_t)pid, SIGKILL);
		kill((pid_t)pid, SIGKILL);
		log_error("task %s (pid %lld) is killed and reported "
		    "interrupted", id, (long long)pid);
		if (kind == TASK_KIND_COMMAND || kind == TASK_KIND_TERMINAL)
			head_restarted(id, kind);
		else
			task_restore_interrupted(a, id, reply_id, kind, seq);
	}
	free(id);
	free(reply_id);
}

static void
handover_take_sink(struct dec *rec)
{
	char *id = rec_dec_str(rec);
	int kind = (int)rec_dec_u64(rec);

	if (rec->bad || head_adopt_sink(id, kind, rec) != 0)
		log_error("task %s: what it had to answer is not understood: "
		    "its answer is lost", id);
	free(id);
}

static void
handover_take_proc(struct agent *a, struct dec *rec)
{
	struct dec copy = *rec;
	const struct proc_hooks *hooks = NULL;
	const char *container = NULL;
	struct buf hook;
	struct dec hd;
	void *arg = NULL;
	char *cause = NULL;
	uint64_t kind;

	kind = rec_dec_u64(rec);
	buf_init(&hook);
	rec_dec_bytes(rec, &hook);
	rec_dec_init(&hd, hook.data, hook.len);
	if (kind == 1 && task_docker_adopt(a, &hd, &hooks, &arg,
	    &container) != 0)
		log_error("a Docker task handed over is not understood: its "
		    "container is not stopped on cancel");
	if (task_proc_adopt(a, rec, hooks, arg, container, &cause) != 0) {
		log_error("a task handed over cannot be taken over: %s", cause);
		free(cause);
		handover_lost_proc(a, copy);
	}
	buf_free(&hook);
}

static void
handover_take_finished(struct agent *a, struct dec *rec)
{
	char *id, *reply_id;
	struct buf final;
	struct msg *m;
	uint64_t seq;
	int kind;

	id = rec_dec_str(rec);
	reply_id = rec_dec_str(rec);
	kind = (int)rec_dec_u64(rec);
	seq = rec_dec_u64(rec);
	buf_init(&final);
	rec_dec_bytes(rec, &final);
	if (!rec->bad && task_find(id) == NULL) {
		m = msg_new(final.len);
		if (final.len != 0)
			memcpy(m->data, final.data, final.len);
		m->seq = seq;
		task_restore(a, id, reply_id, kind, seq, m);
		msg_free(m);
	}
	buf_free(&final);
	free(id);
	free(reply_id);
}

static void
handover_take_message(struct dec *rec)
{
	struct tstream *ts;
	struct buf data;
	struct msg *m;
	uint64_t seq;
	char *id;
	int head;

	id = rec_dec_str(rec);
	seq = rec_dec_u64(rec);
	head = (int)rec_dec_u64(rec);
	buf_init(&data);
	rec_dec_bytes(rec, &data);
	if (!rec->bad) {
		m = msg_new(data.len);
		if (data.len != 0)
			memcpy(m->data, data.data, data.len);
		m->seq = seq;
		m->head = head;
		if (*id != '\0' && (ts = tstream_find(id)) != NULL)
			m->ts = tstream_ref(ts);
		outbox_send(m, NULL, 0);
	}
	buf_free(&data);
	free(id);
}

/*
 * After recovery: the tasks handed over run on here, the finished ones
 * are remembered, the messages not known to be stored go first, and the
 * queued requests are taken as if they had just come.
 */
void
handover_adopt(struct agent *a)
{
	struct dec d, rec;
	struct buf wire;
	size_t n = 0, i;
	int type, pass;

	if (handover_in.data == NULL)
		return;
	if (handover_head && wire_dialect() == WIRE_AUTO)
		link_prefer_head(a->link);
	/* Tasks and finals, then messages (their streams exist then), then
	 * the queue. */
	for (pass = 0; pass < 3; pass++) {
		rec_dec_init(&d, handover_in.data, handover_in.len);
		while (handover_next(&d, &type, &rec)) {
			if (pass == 0 && type == HO_PROC) {
				handover_take_proc(a, &rec);
				n++;
			} else if (pass == 0 && type == HO_SINK)
				handover_take_sink(&rec);
			else if (pass == 0 && type == HO_FINISHED)
				handover_take_finished(a, &rec);
			else if (pass == 1 && type == HO_MESSAGE)
				handover_take_message(&rec);
			else if (pass == 2 && type == HO_QUEUED) {
				buf_init(&wire);
				rec_dec_bytes(&rec, &wire);
				if (!rec.bad)
					dispatch_request(a, wire.data,
					    wire.len);
				buf_free(&wire);
			}
		}
	}
	task_proc_adopted_start();
	log_info("re-executed: %zu running tasks taken over", n);
	buf_free(&handover_in);
	for (i = 0; i < handover_n_ids; i++)
		free(handover_ids[i]);
	free(handover_ids);
	handover_ids = NULL;
	handover_n_ids = 0;
}
