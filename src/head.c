/*
 * head.c: today's upstream protocol (StreamCommunication,
 * --wire-dialect upstream-head) on the agent's own machinery.
 *
 * Every request is handled at once and on its own, never one after
 * another as upstream's agent does: a Ping is answered with a Pong ahead
 * of everything queued (so a long command or a slow metrics reading
 * never marks the agent offline), commands and terminal sessions are
 * tasks like any other (a cgroup each, the limits, the policy, the
 * journal), and the host's figures are read in a thread.
 *
 *   CommandRequest    a task (ID "cmd:" and the request's) whose output is
 *                     collected, not streamed: one CommandResponse at its
 *                     end, as upstream builds it (stdout trimmed, stderr
 *                     only on failure and cut to its first and last
 *                     32 KiB, -1 for a signal, "command timed out");
 *                     both cut to fit the 4 MiB a server decodes
 *   TerminalCreate    a task ("term:" and the session's ID): a shell on
 *                     three pipes, no timeout; its output one message per
 *                     line, as upstream's; its end the "Session ended"
 *                     final; closing it ends everything it started
 *   Metrics, SystemInfo  hostinfo.c, in a thread; the CPU percent over
 *                     the time since the last reading (at least 1 s)
 *
 * Responses are not numbered or journaled (upstream's server has no acks
 * and shows a repeat to its user); a command or session running when the
 * agent died is answered once at the next start (head_restarted).
 */

#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "record.h"

/* The server decodes at most 4 MiB a message: stdout and stderr are cut
 * to fit in this together, with room for the rest. */
#define HEAD_MESSAGE_MAX (4 * 1024 * 1024)
#define HEAD_ROOM (64 * 1024)
#define HEAD_STDOUT_KEEP ((HEAD_MESSAGE_MAX - HEAD_ROOM) / 2 - \
	HEAD_STDERR_KEEP)
/* stderr, as upstream's agent keeps it: its first and last 32 KiB. */
#define HEAD_STDERR_KEEP (32 * 1024)
/* A command's time limit: none given, or more than this, is this. */
#define HEAD_TIMEOUT_MAX 300
/* Readings of the host's figures at once, at most (a thread each). */
#define HEAD_JOBS_MAX 8
/* A terminal line is sent at this length even without its newline. */
#define HEAD_LINE_MAX (1024 * 1024)

static struct agent *head_agent;

/* -- the first and last bytes of a stream ------------------------------ */

struct head_keep {
	struct buf head;	/* the first KEEP bytes */
	struct buf tail;	/* the last KEEP (up to 2 KEEP) bytes after */
	size_t keep;
	uint64_t total;
};

static void
head_keep_init(struct head_keep *k, size_t keep)
{
	buf_init(&k->head);
	buf_init(&k->tail);
	k->keep = keep;
	k->total = 0;
}

static void
head_keep_add(struct head_keep *k, const char *p, size_t len)
{
	size_t n;

	k->total += len;
	if (k->head.len < k->keep) {
		n = k->keep - k->head.len < len ? k->keep - k->head.len : len;
		buf_append(&k->head, p, n);
		p += n;
		len -= n;
	}
	if (len == 0)
		return;
	buf_append(&k->tail, p, len);
	if (k->tail.len > 2 * k->keep)
		buf_consume(&k->tail, k->tail.len - k->keep);
}

/*
 * All of it, or its first and last KEEP bytes with upstream's marker
 * between, into OUT (NUL-terminated); *CUT says whether bytes were left
 * out.  The cut never splits a UTF-8 character (the framer made the
 * bytes valid; the repair of wire-head.c would mend a split anyway).
 */
static void
head_keep_text(struct head_keep *k, struct buf *out, int *cut)
{
	size_t tail = k->tail.len;
	char marker[96];
	uint64_t left;

	const unsigned char *t;
	size_t head = k->head.len;

	buf_init(out);
	*cut = 0;
	if ((uint64_t)k->head.len + tail < k->total || tail > k->keep) {
		/* Cut at characters: the head to its valid prefix, the tail
		 * past any continuation bytes it starts with. */
		head = utf8_valid_prefix(k->head.data, k->head.len);
		if (head + 4 < k->head.len)
			head = k->head.len;	/* not UTF-8 anyway */
		if (tail > k->keep)
			tail = k->keep;
		t = (const unsigned char *)k->tail.data + k->tail.len - tail;
		while (tail > 0 && (*t & 0xc0) == 0x80) {
			t++;
			tail--;
		}
		left = k->total - head - tail;
		buf_append(out, k->head.data, head);
		snprintf(marker, sizeof marker, "\n... omitting %llu bytes "
		    "...\n", (unsigned long long)left);
		buf_append(out, marker, strlen(marker));
		*cut = 1;
	} else
		buf_append(out, k->head.data, head);
	if (tail != 0)
		buf_append(out, (char *)k->tail.data + k->tail.len - tail,
		    tail);
	buf_append(out, "", 1);
	out->len--;
}

static void
head_keep_free(struct head_keep *k)
{
	buf_free(&k->head);
	buf_free(&k->tail);
}

/* -- sending ---------------------------------------------------------- */

static void
head_send(struct msg *m)
{
	if (m->len > HEAD_MESSAGE_MAX)
		log_error("upstream-head: a message of %zu bytes is over the "
		    "server's 4 MiB: sent anyway", m->len);
	outbox_send(m, NULL, 0);
}

/* Go's spelling of a system error: its strerror in lower case. */
static const char *
head_errno(int error, char *buf, size_t size)
{
	size_t i;

	snprintf(buf, size, "%s", strerror(error));
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] = (char)(buf[i] - 'A' + 'a');
	return buf;
}

/*
 * PROGRAM found as Go's exec would find it, or NULL with *cause in Go's
 * words; the working directory DIR ("" none) checked the same way.
 */
static char *
head_find(const char *program, const char *dir, char **cause)
{
	char err[128];
	struct stat sb;
	char *path;
	int error;

	if (*dir != '\0') {
		error = stat(dir, &sb) != 0 ? errno : S_ISDIR(sb.st_mode) ? 0 :
		    ENOTDIR;
		if (error != 0) {
			xasprintf(cause, "chdir %s: %s", dir,
			    head_errno(error, err, sizeof err));
			return NULL;
		}
	}
	if (strchr(program, '/') == NULL) {
		if ((path = task_proc_find_program(program)) == NULL)
			xasprintf(cause, "exec: \"%s\": executable file not "
			    "found in $PATH", program);
		return path;
	}
	/* A relative path is the working directory's, as exec finds it
	 * after the child's chdir. */
	if (*program != '/' && *dir != '\0')
		xasprintf(&path, "%s/%s", dir, program);
	else
		path = xstrdup(program);
	if (access(path, X_OK) != 0) {
		xasprintf(cause, "fork/exec %s: %s", program,
		    head_errno(errno, err, sizeof err));
		free(path);
		return NULL;
	}
	free(path);
	return xstrdup(program);
}

/* A command line for the policy and the log: ARGV shell-quoted. */
static char *
head_command_line(const struct head_request *r)
{
	struct buf b;
	size_t i;
	const char *p;

	if (r->n_args == 0)
		return xstrdup(r->command);
	buf_init(&b);
	for (i = 0; i <= r->n_args; i++) {
		p = i == 0 ? r->command : r->args[i - 1];
		if (i != 0)
			buf_append(&b, " ", 1);
		if (*p != '\0' && strspn(p, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,@%+") ==
		    strlen(p)) {
			buf_append(&b, p, strlen(p));
			continue;
		}
		buf_append(&b, "'", 1);
		for (; *p != '\0'; p++) {
			if (*p == '\'')
				buf_append(&b, "'\\''", 4);
			else
				buf_append(&b, p, 1);
		}
		buf_append(&b, "'", 1);
	}
	buf_append(&b, "", 1);
	return b.data;
}

/*
 * The process of request R (task ID): PATH with ARGV, the request's
 * environment and working directory, the agent's default limits, and
 * SIGKILL at once at a limit or a close, as upstream's (its server waits
 * only 5 s past a command's limit).
 */
static void
head_spec(struct agent *a, struct proc_spec *spec,
    const struct head_request *r, const char *id, const char *path,
    char **argv, const char *what)
{
	struct limits asked;

	memset(spec, 0, sizeof *spec);
	spec->path = path;
	spec->argv = argv;
	spec->env = r->env;
	spec->n_env = r->n_env;
	spec->dir = *r->working_dir != '\0' ? r->working_dir : NULL;
	spec->what = what;
	spec->no_grace = 1;
	memset(&asked, 0, sizeof asked);
	limits_effective(a->opts, &asked, id, &spec->limits);
}

/* -- commands --------------------------------------------------------- */

static void head_cmd_refused(const char *, const char *);

struct head_cmd {
	char *request_id;
	char *line;		/* for the log */
	struct head_keep out, err;
};

static void
head_cmd_output(void *arg, enum output_stream stream, const char *text,
    size_t len)
{
	struct head_cmd *c = arg;

	head_keep_add(stream == OUTPUT_STDOUT ? &c->out : &c->err, text, len);
}

/* Go's strings.TrimSpace, for ASCII white space. */
static void
head_trim(struct buf *b, const char **start, size_t *len)
{
	const char *p = b->data, *end = (const char *)b->data + b->len;

	while (p < end && strchr(" \t\n\v\f\r", *p) != NULL && *p != '\0')
		p++;
	while (end > p && strchr(" \t\n\v\f\r", end[-1]) != NULL &&
	    end[-1] != '\0')
		end--;
	*start = p;
	*len = (size_t)(end - p);
}

static void
head_cmd_free(struct head_cmd *c)
{
	head_keep_free(&c->out);
	head_keep_free(&c->err);
	free(c->request_id);
	free(c->line);
	free(c);
}

static void
head_cmd_final(void *arg, const struct final *f)
{
	struct head_cmd *c = arg;
	struct buf out, err;
	const char *o, *error = "";
	size_t olen;
	int cut_out, cut_err, code, failed, timed_out;

	timed_out = f->reason == REASON_TIMED_OUT;
	if (f->status == STATUS_FAILURE && !timed_out &&
	    f->reason != REASON_LIMIT_EXCEEDED) {
		/* It never ran (or the agent is stopping): Go's error. */
		head_cmd_refused(c->request_id, f->text != NULL ? f->text :
		    "the command could not start");
		head_cmd_free(c);
		return;
	}
	code = timed_out ? 0 : f->signal != 0 || f->cancelled ? -1 :
	    f->exit_code;
	failed = !timed_out && code != 0;
	head_keep_text(&c->out, &out, &cut_out);
	head_trim(&out, &o, &olen);
	if (failed)
		head_keep_text(&c->err, &err, &cut_err);
	else {
		buf_init(&err);
		cut_err = 0;
	}
	if (timed_out)
		error = "command timed out";
	else if (f->reason == REASON_LIMIT_EXCEEDED && f->text != NULL)
		error = f->text;
	if (cut_out)
		log_warnx("command %s: its stdout of %llu bytes is cut to its "
		    "first and last %u bytes to fit the server's 4 MiB "
		    "message", c->request_id,
		    (unsigned long long)c->out.total, HEAD_STDOUT_KEEP);
	head_send(wire_head_command(c->request_id, code, o, olen,
	    failed ? (char *)err.data : "", failed ? err.len : 0, error,
	    timed_out));
	buf_free(&out);
	buf_free(&err);
	head_cmd_free(c);
}

/* A command's state for the re-executed agent (head_adopt_sink). */
static void
head_cmd_handover(void *arg, struct buf *b)
{
	struct head_cmd *c = arg;
	int i;

	rec_enc_str(b, c->request_id);
	rec_enc_str(b, c->line);
	for (i = 0; i < 2; i++) {
		struct head_keep *k = i == 0 ? &c->out : &c->err;

		rec_enc_bytes(b, k->head.data, k->head.len);
		rec_enc_bytes(b, k->tail.data, k->tail.len);
		rec_enc_u64(b, k->total);
	}
}

static const struct task_sink head_cmd_sink = {
	head_cmd_output, head_cmd_final, TASK_KIND_COMMAND, head_cmd_handover,
};

/* A command could not start: one CommandResponse saying why. */
static void
head_cmd_refused(const char *request_id, const char *why)
{
	size_t len = strcspn(why, "\n");
	char *line = xstrndup(why, len);

	log_warnx("command %s not started: %s", request_id, line);
	head_send(wire_head_command(request_id, 0, "", 0, "", 0, line, 0));
	free(line);
}

static void
head_command(struct agent *a, const struct head_request *r)
{
	struct proc_spec spec;
	struct head_cmd *c;
	struct task *t;
	char *id, *path, *cause = NULL, **argv;
	size_t i;
	int rc;

	xasprintf(&id, "cmd:%s", r->id);
	if ((t = task_find(id)) != NULL) {
		log_info("command %s is known already: repeat ignored", r->id);
		free(id);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->request_id = xstrdup(r->id);
	c->line = head_command_line(r);
	head_keep_init(&c->out, HEAD_STDOUT_KEEP);
	head_keep_init(&c->err, HEAD_STDERR_KEEP);
	if (policy_check_command(a->opts, c->line, &cause) != 0 ||
	    policy_check_env(a->opts, r->env, r->n_env, NULL, 0,
	    &cause) != 0 || (path = head_find(r->n_args != 0 ? r->command :
	    "sh", r->working_dir, &cause)) == NULL) {
		head_cmd_refused(r->id, cause);
		free(cause);
		head_cmd_free(c);
		free(id);
		return;
	}
	argv = xcalloc(r->n_args + 4, sizeof *argv);
	if (r->n_args != 0) {
		argv[0] = r->command;
		for (i = 0; i < r->n_args; i++)
			argv[i + 1] = r->args[i];
	} else {
		argv[0] = (char *)"sh";
		argv[1] = (char *)"-c";
		argv[2] = r->command;
	}
	t = task_new(a, id, NULL, TASK_KIND_COMMAND);
	task_set_sink(t, &head_cmd_sink, c);
	head_spec(a, &spec, r, id, path, argv, c->line);
	spec.timeout_s = r->timeout_seconds <= 0 ||
	    r->timeout_seconds > HEAD_TIMEOUT_MAX ? HEAD_TIMEOUT_MAX :
	    (unsigned)r->timeout_seconds;
	if ((rc = task_proc_start(t, &spec, &cause)) != 0)
		/* (The task's final goes to the sink: one answer.) */
		task_fail(t, REASON_START_FAILED, "%s", rc == TASK_START_LATER ?
		    "the agent has no descriptors to spare" : cause);
	free(cause);
	free(argv);
	free(path);
	free(id);
}

/* -- terminal sessions ------------------------------------------------ */

struct head_term {
	char *session_id;
	char *shell;
	int started;		/* its create was answered */
	struct buf line[2];	/* stdout's and stderr's unended line */
};

/* Line LEN bytes of P of STREAM, without its newline (and a \r before). */
static void
head_term_line(struct head_term *s, enum output_stream stream,
    const char *p, size_t len)
{
	if (len != 0 && p[len - 1] == '\r')
		len--;
	if (stream == OUTPUT_STDOUT)
		head_send(wire_head_term_output(s->session_id, "", p, len,
		    "", 0, 0, 0));
	else
		head_send(wire_head_term_output(s->session_id, "", "", 0, p,
		    len, 0, 0));
}

static void
head_term_output(void *arg, enum output_stream stream, const char *text,
    size_t len)
{
	struct head_term *s = arg;
	struct buf *held = &s->line[stream == OUTPUT_STDOUT ? 0 : 1];
	const char *nl;

	while ((nl = memchr(text, '\n', len)) != NULL) {
		if (held->len != 0) {
			buf_append(held, text, (size_t)(nl - text));
			head_term_line(s, stream, held->data, held->len);
			buf_clear(held);
		} else
			head_term_line(s, stream, text, (size_t)(nl - text));
		len -= (size_t)(nl - text) + 1;
		text = nl + 1;
	}
	buf_append(held, text, len);
	if (held->len >= HEAD_LINE_MAX) {
		head_term_line(s, stream, held->data, held->len);
		buf_clear(held);
	}
}

static void
head_term_final(void *arg, const struct final *f)
{
	struct head_term *s = arg;
	char said[64], *why;
	int code, i;

	if (!s->started) {
		xasprintf(&why, "failed to start shell: %.*s", (int)strcspn(
		    f->text != NULL ? f->text : "", "\n"), f->text != NULL ?
		    f->text : "");
		head_send(wire_head_term_create(s->session_id, 0, why, ""));
		free(why);
		goto out;
	}
	for (i = 0; i < 2; i++)
		if (s->line[i].len != 0)
			head_term_line(s, i == 0 ? OUTPUT_STDOUT :
			    OUTPUT_STDERR, s->line[i].data, s->line[i].len);
	code = f->signal != 0 || f->cancelled ? -1 : f->exit_code;
	snprintf(said, sizeof said, "Session ended with exit code %d", code);
	log_info("terminal session %s ended: exit code %d", s->session_id,
	    code);
	head_send(wire_head_term_output(s->session_id, "", "", 0, said,
	    strlen(said), 1, code));
out:
	free(s->shell);
	buf_free(&s->line[0]);
	buf_free(&s->line[1]);
	free(s->session_id);
	free(s);
}

static void
head_term_handover(void *arg, struct buf *b)
{
	struct head_term *s = arg;

	rec_enc_str(b, s->session_id);
	rec_enc_u64(b, (uint64_t)s->started);
	rec_enc_bytes(b, s->line[0].data, s->line[0].len);
	rec_enc_bytes(b, s->line[1].data, s->line[1].len);
}

static const struct task_sink head_term_sink = {
	head_term_output, head_term_final, TASK_KIND_TERMINAL,
	head_term_handover,
};

static struct task *
head_term_find(const char *session_id)
{
	struct task *t;
	char *id;

	xasprintf(&id, "term:%s", session_id);
	t = task_find(id);
	free(id);
	return t != NULL && task_state(t) == TASK_RUNNING ? t : NULL;
}

static void
head_term_create(struct agent *a, const struct head_request *r)
{
	struct proc_spec spec;
	struct head_term *s;
	struct task *t;
	char *id, *path, *cause = NULL, *why, *argv[2];
	const char *shell = r->shell;

	if (head_term_find(r->id) != NULL) {
		head_send(wire_head_term_create(r->id, 0,
		    "session already exists", ""));
		return;
	}
	if (*shell == '\0')
		shell = (path = task_proc_find_program("bash")) != NULL ?
		    "bash" : "sh";
	else
		path = NULL;
	free(path);
	if (policy_check_command(a->opts, shell, &cause) != 0 ||
	    policy_check_env(a->opts, r->env, r->n_env, NULL, 0,
	    &cause) != 0 || (path = head_find(shell, r->working_dir,
	    &cause)) == NULL) {
		xasprintf(&why, "failed to start shell: %s", cause);
		log_warnx("terminal session %s not started: %s", r->id, cause);
		head_send(wire_head_term_create(r->id, 0, why, ""));
		free(why);
		free(cause);
		return;
	}
	xasprintf(&id, "term:%s", r->id);
	if ((t = task_find(id)) != NULL)
		task_forget(t);	/* an ended session's ID again: a new one */
	s = xcalloc(1, sizeof *s);
	s->session_id = xstrdup(r->id);
	buf_init(&s->line[0]);
	buf_init(&s->line[1]);
	argv[0] = (char *)(uintptr_t)shell;
	argv[1] = NULL;
	t = task_new(a, id, NULL, TASK_KIND_TERMINAL);
	head_spec(a, &spec, r, id, path, argv, shell);
	spec.want_stdin = 1;
	spec.no_timeout = 1;
	task_set_sink(t, &head_term_sink, s);
	if (task_proc_start(t, &spec, &cause) != 0)
		/* (The sink answers the create.) */
		task_fail(t, REASON_START_FAILED, "%s", cause != NULL ?
		    cause : "no descriptors to spare");
	else {
		s->started = 1;
		head_send(wire_head_term_create(r->id, 1, "", shell));
	}
	free(cause);
	free(path);
	free(id);
}

static void
head_term_command(struct agent *a, const struct head_request *r)
{
	struct request in;
	struct task *t;
	struct buf line;

	if ((t = head_term_find(r->id)) == NULL) {
		head_send(wire_head_term_output(r->id, r->command_id, "", 0,
		    "session not found", 17, 1, 1));
		return;
	}
	buf_init(&line);
	buf_append(&line, r->command, r->command_len);
	buf_append(&line, "\n", 1);
	memset(&in, 0, sizeof in);
	in.kind = REQUEST_INPUT;
	in.task_id = (char *)(uintptr_t)task_id(t);
	in.input = (unsigned char *)line.data;
	in.input_len = line.len;
	task_input(a, &in);
	buf_free(&line);
	head_send(wire_head_term_output(r->id, r->command_id, "", 0, "", 0,
	    0, 0));
}

static void
head_term_close(const struct head_request *r)
{
	struct task *t;

	if ((t = head_term_find(r->id)) == NULL) {
		head_send(wire_head_term_close(r->id, 0, "session not found"));
		return;
	}
	log_info("terminal session %s closed: ending everything it started",
	    r->id);
	task_cancel(t);
	head_send(wire_head_term_close(r->id, 1, ""));
}

/* -- metrics and system info, in a thread ----------------------------- */

struct head_job {
	LIST_ENTRY(head_job) entry;
	enum head_kind kind;
	char *request_id;
	pthread_t thread;
	struct event *done;
	struct host_metrics hm;
	struct host_info hi;
	char *cause;
	int rc;
};
static LIST_HEAD(, head_job) head_jobs = LIST_HEAD_INITIALIZER(head_jobs);

/* The CPU sampler: the last reading, shared by the jobs' threads. */
static pthread_mutex_t head_cpu_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t head_cpu_busy, head_cpu_total, head_cpu_at_ms;

/*
 * The machine's CPU busy percent since the last reading, a second at
 * least (upstream's window): a reading within the second waits, in this
 * thread, for the rest of it.
 */
static double
head_cpu_percent(void)
{
	uint64_t busy, total, now, db, dt;
	double pct = 0;

	pthread_mutex_lock(&head_cpu_lock);
	now = compat_monotime_ms();
	if (head_cpu_at_ms == 0 || now - head_cpu_at_ms < 1000) {
		if (head_cpu_at_ms == 0 && host_cpu_sample(&head_cpu_busy,
		    &head_cpu_total) == 0)
			head_cpu_at_ms = now;
		if (head_cpu_at_ms != 0)
			usleep((useconds_t)(1000 - (now - head_cpu_at_ms)) *
			    1000);
	}
	if (head_cpu_at_ms != 0 && host_cpu_sample(&busy, &total) == 0) {
		db = busy > head_cpu_busy ? busy - head_cpu_busy : 0;
		dt = total > head_cpu_total ? total - head_cpu_total : 0;
		if (db != 0 && dt != 0)
			pct = (double)db / (double)dt * 100.0;
		if (pct > 100)
			pct = 100;
		head_cpu_busy = busy;
		head_cpu_total = total;
		head_cpu_at_ms = compat_monotime_ms();
	}
	pthread_mutex_unlock(&head_cpu_lock);
	return pct;
}

static void *
head_job_main(void *arg)
{
	struct head_job *j = arg;
	double cpu;

	if (j->kind == HEAD_METRICS) {
		cpu = head_cpu_percent();
		if ((j->rc = host_metrics_read(&j->hm, &j->cause)) == 0)
			j->hm.cpu_percent = cpu;
	} else
		j->rc = host_info_read(&j->hi, &j->cause);
	event_active(j->done, EV_TIMEOUT, 0);
	return NULL;
}

static void
head_job_free(struct head_job *j)
{
	pthread_join(j->thread, NULL);
	LIST_REMOVE(j, entry);
	event_free(j->done);
	if (j->kind == HEAD_METRICS)
		host_metrics_free(&j->hm);
	else
		host_info_free(&j->hi);
	free(j->cause);
	free(j->request_id);
	free(j);
}

/* A job's figures are read: answered on the loop. */
static void
head_job_done(evutil_socket_t fd, short events, void *arg)
{
	struct head_job *j = arg;

	(void)fd;
	(void)events;
	if (j->kind == HEAD_METRICS)
		head_send(wire_head_metrics(j->request_id, j->rc == 0 ? &j->hm :
		    NULL, j->rc == 0 ? "" : j->cause));
	else
		head_send(wire_head_sysinfo(j->request_id, j->rc == 0 ? &j->hi :
		    NULL, j->rc == 0 ? "" : j->cause));
	head_job_free(j);
}

static void
head_job(struct agent *a, const struct head_request *r)
{
	struct head_job *j;
	size_t n = 0;
	int error;

	LIST_FOREACH(j, &head_jobs, entry)
		n++;
	if (n >= HEAD_JOBS_MAX) {
		log_warnx("upstream-head: %zu readings of the host's figures "
		    "under way already: request %s answered busy", n, r->id);
		if (r->kind == HEAD_METRICS)
			head_send(wire_head_metrics(r->id, NULL, "the agent is "
			    "busy reading its figures"));
		else
			head_send(wire_head_sysinfo(r->id, NULL, "failed to get "
			    "host info: the agent is busy reading it"));
		return;
	}
	j = xcalloc(1, sizeof *j);
	j->kind = r->kind;
	j->request_id = xstrdup(r->id);
	if ((j->done = event_new(a->base, -1, 0, head_job_done, j)) == NULL)
		fatalx("cannot create an event");
	LIST_INSERT_HEAD(&head_jobs, j, entry);
	if ((error = pthread_create(&j->thread, NULL, head_job_main,
	    j)) != 0) {
		LIST_REMOVE(j, entry);
		event_free(j->done);
		log_error("cannot start a thread for the host's figures: %s",
		    strerror(error));
		if (r->kind == HEAD_METRICS)
			head_send(wire_head_metrics(r->id, NULL, "the agent "
			    "cannot read its figures now"));
		else
			head_send(wire_head_sysinfo(r->id, NULL, "failed to get "
			    "host info: the agent cannot read it now"));
		free(j->request_id);
		free(j);
	}
}

/* -- the requests ----------------------------------------------------- */

/* One ServerMessage. */
void
head_request(struct agent *a, const void *data, size_t len)
{
	struct head_request r;
	char *cause = NULL;

	head_agent = a;
	if (wire_head_decode(data, len, &r, &cause) != 0) {
		metrics.malformed++;
		log_warnx("upstream-head: malformed message from the server "
		    "ignored: %s", cause);
		if (r.kind == HEAD_COMMAND && r.id != NULL)
			head_cmd_refused(r.id, cause);
		free(cause);
		wire_head_request_free(&r);
		return;
	}
	switch (r.kind) {
	case HEAD_PING:
		outbox_send_first(wire_head_pong((int64_t)time(NULL),
		    r.timestamp));
		break;
	case HEAD_COMMAND:
		if (a->shutting_down || a->draining)
			head_cmd_refused(r.id, "the agent is shutting down");
		else
			head_command(a, &r);
		break;
	case HEAD_TERM_CREATE:
		if (a->shutting_down || a->draining)
			head_send(wire_head_term_create(r.id, 0, "failed to "
			    "start shell: the agent is shutting down", ""));
		else
			head_term_create(a, &r);
		break;
	case HEAD_TERM_COMMAND:
		head_term_command(a, &r);
		break;
	case HEAD_TERM_CLOSE:
		head_term_close(&r);
		break;
	case HEAD_METRICS:
	case HEAD_SYSINFO:
		head_job(a, &r);
		break;
	case HEAD_NONE:
		log_debug("upstream-head: a message of a kind this agent does "
		    "not know: ignored");
		break;
	}
	wire_head_request_free(&r);
}

/*
 * The answer to a command or session (task ID ID, of KIND) that was
 * running when the previous agent died (recovery.c): the command's
 * CommandResponse with exit code -1, or the session's end.
 */
void
head_restarted(const char *id, int kind)
{
	const char *name = strchr(id, ':') != NULL ? strchr(id, ':') + 1 : id;
	static const char said[] = "Session ended with exit code -1";

	if (kind == TASK_KIND_COMMAND)
		head_send(wire_head_command(name, -1, "", 0, "", 0, "the agent "
		    "restarted while the command was running", 0));
	else
		head_send(wire_head_term_output(name, "", "", 0, said,
		    sizeof said - 1, 1, -1));
}

/*
 * The sink of task ID of the agent before a re-execution (KIND, state as
 * its handover wrote it), set on the task taken over.  -1 if it cannot be.
 */
int
head_adopt_sink(const char *id, int kind, struct dec *d)
{
	struct head_cmd *c;
	struct head_term *s;
	struct task *t;
	int i;

	if ((t = task_find(id)) == NULL)
		return -1;
	if (kind == TASK_KIND_COMMAND) {
		c = xcalloc(1, sizeof *c);
		c->request_id = rec_dec_str(d);
		c->line = rec_dec_str(d);
		head_keep_init(&c->out, HEAD_STDOUT_KEEP);
		head_keep_init(&c->err, HEAD_STDERR_KEEP);
		for (i = 0; i < 2; i++) {
			struct head_keep *k = i == 0 ? &c->out : &c->err;

			rec_dec_bytes(d, &k->head);
			rec_dec_bytes(d, &k->tail);
			k->total = rec_dec_u64(d);
		}
		if (d->bad) {
			head_cmd_free(c);
			return -1;
		}
		task_set_sink(t, &head_cmd_sink, c);
		return 0;
	}
	s = xcalloc(1, sizeof *s);
	s->session_id = rec_dec_str(d);
	s->started = (int)rec_dec_u64(d);
	buf_init(&s->line[0]);
	buf_init(&s->line[1]);
	rec_dec_bytes(d, &s->line[0]);
	rec_dec_bytes(d, &s->line[1]);
	if (d->bad) {
		buf_free(&s->line[0]);
		buf_free(&s->line[1]);
		free(s->session_id);
		free(s);
		return -1;
	}
	task_set_sink(t, &head_term_sink, s);
	return 0;
}

/* Agent exit: the threads reading the host's figures are waited for. */
void
head_stop(void)
{
	struct head_job *j;

	while ((j = LIST_FIRST(&head_jobs)) != NULL)
		head_job_free(j);
}
