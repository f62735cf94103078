/*
 * log.c: time-stamped log lines on stderr.
 *
 * One line per event: "2026-11-26T22:45:49.123Z INFO message", or with
 * --log-format json one JSON object per line ({"time": ..., "level": ...,
 * "msg": ...}) for log collectors.
 *
 * The logger escapes every message it writes (vis.c), whatever the call
 * site passed: task IDs, commands and status texts come from the server
 * and from tasks, and none of them may start a line of its own, drive a
 * terminal, or break a collector's UTF-8 or JSON.  Call sites therefore
 * pass raw values.  A line is built in bounded stack buffers and written
 * with one write(2): logging never allocates, never aborts, and lines
 * from gRPC's threads never interleave with the loop's.
 */

#include "config.h"

#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/*
 * A message is cut beyond this many bytes, before and after escaping, so
 * that a whole line fits in PIPE_BUF (4096 on Linux): one write(2) of at
 * most that much is never interleaved with another thread's.
 */
#define LOG_MSG_MAX 3072
#define LOG_ESC_MAX 3968

/* Set by the loop (also on SIGHUP), read by gRPC's threads as they log. */
static _Atomic int log_level = LOG_INFO;
static _Atomic int log_json;
/* stderr is journald's stream: lines start with their priority and carry
 * no time of their own (journald stamps them). */
static int log_journald;
static const int log_priorities[] = { 7, 6, 4, 3 };	/* sd-daemon(3) */
/* Set by log_trace() around one json line of its own thread. */
static _Thread_local const char *log_trace_ids[2];

/*
 * JSON lines carry what they are about as fields of their own: the task
 * (the argument after "task "), the process ("pid "), the server
 * ("connecting to ", "from ").  They are found through the format string,
 * whose conversions say where each argument is and what type it has, so
 * a message's words are never parsed.
 */
struct log_fields {
	char task_id[256];	/* JSON-escaped, or "" */
	char server[256];
	long long pid;		/* or -1 */
};
static _Thread_local const struct log_fields *log_trace_fields;

/*
 * The agent token (and the one before it, after a rotation) is masked in
 * every line: gRPC's tracing prints metadata.  gRPC's threads log too, so
 * the copies are read under a lock.
 */
static pthread_mutex_t log_secret_lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_secrets[2];
/*
 * While the loop handles a request with secret_env (log_scope_secrets),
 * its values are masked in that thread's lines too: a working directory
 * or user named with a secret in it must not show in a warning.
 */
static _Thread_local char *const *log_scope;
static _Thread_local size_t log_scope_n;

static const char *const log_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
static const char *const log_lower_names[] = { "debug", "info", "warn",
    "error" };

/*
 * Under systemd, JOURNAL_STREAM names the device and inode of the stream
 * it connected to stderr; when stderr is still that stream, journald reads
 * "<N>" at a line's start as its priority (journalctl -p err finds the
 * errors) and adds its own timestamp.
 */
void
log_detect_journald(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;

	log_journald = js != NULL &&
	    sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &sb) == 0 &&
	    (unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

/* "debug", "info", "warn" or "error"; returns -1 for anything else. */
int
log_parse_level(const char *name, enum log_level *level)
{
	size_t i;

	for (i = 0; i < sizeof log_lower_names / sizeof log_lower_names[0];
	    i++) {
		if (strcmp(name, log_lower_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_set_json(int json)
{
	log_json = json;
}

/* SECRET (4 bytes or more) is written as *** from now on. */
void
log_set_secret(const char *secret)
{
	char *copy;

	if (secret == NULL || strlen(secret) < 4)
		return;
	if ((copy = strdup(secret)) == NULL)
		return;
	pthread_mutex_lock(&log_secret_lock);
	if (log_secrets[0] != NULL && strcmp(log_secrets[0], secret) == 0)
		free(copy);
	else {
		free(log_secrets[1]);
		log_secrets[1] = log_secrets[0];
		log_secrets[0] = copy;
	}
	pthread_mutex_unlock(&log_secret_lock);
}

/* The N "NAME=VALUE" ENTRIES' values are masked in this thread's lines
 * until log_scope_clear(). */
void
log_scope_secrets(char *const *entries, size_t n)
{
	log_scope = entries;
	log_scope_n = n;
}

void
log_scope_clear(void)
{
	log_scope = NULL;
	log_scope_n = 0;
}

/* Masks SECRET (SLEN bytes, at least 3) in MSG (*LEN bytes), in place. */
static void
log_mask_one(char *msg, size_t *len, const char *secret, size_t slen)
{
	char *p = msg;

	while ((p = strstr(p, secret)) != NULL) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + slen, *len - (size_t)(p - msg) - slen + 1);
		*len -= slen - 3;
		p += 3;
	}
}

/* Masks every secret in MSG (*LEN bytes), in place. */
static void
log_mask(char *msg, size_t *len)
{
	const char *eq;
	size_t i;

	pthread_mutex_lock(&log_secret_lock);
	for (i = 0; i < 2; i++)
		if (log_secrets[i] != NULL && strlen(log_secrets[i]) >= 3)
			log_mask_one(msg, len, log_secrets[i],
			    strlen(log_secrets[i]));
	pthread_mutex_unlock(&log_secret_lock);
	for (i = 0; i < log_scope_n; i++)
		if ((eq = strchr(log_scope[i], '=')) != NULL &&
		    strlen(eq + 1) >= MASK_MIN_LEN)
			log_mask_one(msg, len, eq + 1, strlen(eq + 1));
}

static void
log_write(const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(STDERR_FILENO, s, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* nowhere to report it */
		s += n;
		len -= (size_t)n;
	}
}

/* Whether the literal text LIT (LEN bytes) ends with SUFFIX. */
static int
log_ends(const char *lit, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(lit + len - n, suffix, n) == 0;
}

/*
 * Walks FMT's conversions over AP (a copy), keeping in *F the arguments
 * that name a task, a pid or a server.  Stops at a conversion it does not
 * know, having taken nothing it cannot be sure of.
 */
static void
log_find_fields(const char *fmt, va_list ap, struct log_fields *f)
{
	const char *p, *lit = fmt, *s;
	size_t litlen;
	int longs, size_t_arg, is_int;
	long long v;

	f->task_id[0] = f->server[0] = '\0';
	f->pid = -1;
	for (p = fmt; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '%') {
			p++;
			continue;
		}
		litlen = (size_t)(p - lit);	/* the text before it */
		s = NULL;
		v = 0;
		is_int = longs = size_t_arg = 0;
		for (p++; strchr("-+ #0123456789.*", *p) != NULL; p++)
			if (*p == '*')
				(void)va_arg(ap, int);	/* a width */
		for (; *p == 'l' || *p == 'z' || *p == 'h'; p++) {
			longs += *p == 'l';
			size_t_arg |= *p == 'z';
		}
		switch (*p) {
		case 's':
			s = va_arg(ap, const char *);
			break;
		case 'd': case 'i': case 'u': case 'x': case 'c': case 'o':
			is_int = 1;
			if (size_t_arg)
				v = (long long)va_arg(ap, size_t);
			else if (longs >= 2)
				v = va_arg(ap, long long);
			else if (longs == 1)
				v = va_arg(ap, long);
			else
				v = va_arg(ap, int);
			break;
		case 'f': case 'g': case 'e':
			(void)va_arg(ap, double);
			break;
		case 'p':
			(void)va_arg(ap, void *);
			break;
		default:
			return;		/* unknown: stop here */
		}
		if (s != NULL && f->task_id[0] == '\0' &&
		    log_ends(lit, litlen, "task "))
			vis_escape(f->task_id, sizeof f->task_id, s, strlen(s),
			    VIS_JSON);
		else if (s != NULL && f->server[0] == '\0' &&
		    (log_ends(lit, litlen, "connecting to ") ||
		    log_ends(lit, litlen, "receiving tasks from ")))
			vis_escape(f->server, sizeof f->server, s, strlen(s),
			    VIS_JSON);
		else if (is_int && f->pid < 0 && log_ends(lit, litlen, "pid "))
			f->pid = v;
		lit = p + 1;
	}
}

/* F's fields as `,"name":value' pairs (none for what is absent). */
static void
log_fields_json(const struct log_fields *f, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	if (f->task_id[0] != '\0')
		n += (size_t)snprintf(out + n, size - n, ",\"task_id\":\"%s\"",
		    f->task_id);
	if (f->pid >= 0 && n < size)
		n += (size_t)snprintf(out + n, size - n, ",\"pid\":%lld",
		    f->pid);
	if (f->server[0] != '\0' && n < size)
		snprintf(out + n, size - n, ",\"server\":\"%s\"", f->server);
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char stamp[32], msg[LOG_MSG_MAX], esc[LOG_ESC_MAX], pri[8] = "";
	char line[LOG_ESC_MAX + 128], extra[640] = "";	/* line <= 4096 */
	struct log_fields fields;
	struct timeval tv;
	va_list copy;
	struct tm tm;
	time_t secs;
	size_t len, room;
	int n, saved = errno;

	if ((int)level < log_level)
		return;
	if (log_json) {
		if (log_trace_fields != NULL)
			fields = *log_trace_fields;
		else {
			va_copy(copy, ap);
			log_find_fields(fmt, copy, &fields);
			va_end(copy);
		}
		log_fields_json(&fields, extra, sizeof extra);
		log_mask(extra, &(size_t){ strlen(extra) });
	}
	gettimeofday(&tv, NULL);
	secs = tv.tv_sec;
	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	if ((n = vsnprintf(msg, sizeof msg, fmt, ap)) < 0)
		n = 0;
	len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
	msg[len] = '\0';
	log_mask(msg, &len);
	/* A line stays within PIPE_BUF (one write, never interleaved with
	 * another thread's): the message gives way to the fields and the
	 * priority. */
	room = sizeof esc - strlen(extra) - sizeof pri;
	vis_escape(esc, room, msg, len, log_json ? VIS_JSON : 0);
	if ((size_t)n >= sizeof msg && strlen(esc) + 4 < room)
		strcat(esc, "...");
	if (log_journald)
		snprintf(pri, sizeof pri, "<%d>", log_priorities[level]);
	if (log_journald && !log_json)
		n = snprintf(line, sizeof line, "%s%s %s\n", pri,
		    log_names[level], esc);
	else if (log_json && log_trace_ids[0] != NULL)
		n = snprintf(line, sizeof line, "%s{\"time\":\"%s.%03dZ\","
		    "\"level\":\"%s\",\"msg\":\"%s\",\"trace_id\":\"%s\","
		    "\"span_id\":\"%s\"%s}\n", pri, stamp, (int)(tv.tv_usec /
		    1000), log_lower_names[level], esc, log_trace_ids[0],
		    log_trace_ids[1], extra);
	else if (log_json)
		n = snprintf(line, sizeof line, "%s{\"time\":\"%s.%03dZ\","
		    "\"level\":\"%s\",\"msg\":\"%s\"%s}\n", pri, stamp,
		    (int)(tv.tv_usec / 1000), log_lower_names[level], esc, extra);
	else
		n = snprintf(line, sizeof line, "%s.%03dZ %s %s\n", stamp,
		    (int)(tv.tv_usec / 1000), log_names[level], esc);
	if (n > 0)
		log_write(line, (size_t)n < sizeof line ? (size_t)n :
		    sizeof line - 1);
	errno = saved;
}

/*
 * A message about a task with a trace: in json, the keys trace_id and
 * span_id beside msg; in text, appended as trace_id=... span_id=....
 * Both IDs are hex (checked by wire.c), so they need no escaping.
 */
void
log_trace(enum log_level level, const char *trace_id, const char *span_id,
    const char *fmt, ...)
{
	struct log_fields fields;
	char msg[LOG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (log_json) {
		va_start(ap, fmt);
		log_find_fields(fmt, ap, &fields);
		va_end(ap);
		log_trace_ids[0] = trace_id;
		log_trace_ids[1] = span_id;
		log_trace_fields = &fields;
		log_msg(level, "%s", msg);
		log_trace_ids[0] = log_trace_ids[1] = NULL;
		log_trace_fields = NULL;
		return;
	}
	log_msg(level, "%s trace_id=%s span_id=%s", msg, trace_id, span_id);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* Logs and aborts: for what cannot happen or cannot be survived. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	abort();
}
