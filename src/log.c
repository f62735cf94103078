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

#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* A message is cut beyond this many bytes, before and after escaping. */
#define LOG_MSG_MAX 4096
#define LOG_ESC_MAX 8192

static enum log_level log_level = LOG_INFO;
static int log_json;

static const char *const log_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
static const char *const log_lower_names[] = { "debug", "info", "warn",
    "error" };

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

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char stamp[32], msg[LOG_MSG_MAX], esc[LOG_ESC_MAX];
	char line[LOG_ESC_MAX + 128];
	struct timeval tv;
	struct tm tm;
	time_t secs;
	size_t len;
	int n, saved = errno;

	if (level < log_level)
		return;
	gettimeofday(&tv, NULL);
	secs = tv.tv_sec;
	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	if ((n = vsnprintf(msg, sizeof msg, fmt, ap)) < 0)
		n = 0;
	len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
	msg[len] = '\0';
	vis_escape(esc, sizeof esc, msg, len, log_json ? VIS_JSON : 0);
	if ((size_t)n >= sizeof msg && strlen(esc) + 4 < sizeof esc)
		strcat(esc, "...");
	if (log_json)
		n = snprintf(line, sizeof line, "{\"time\":\"%s.%03dZ\","
		    "\"level\":\"%s\",\"msg\":\"%s\"}\n", stamp,
		    (int)(tv.tv_usec / 1000), log_lower_names[level], esc);
	else
		n = snprintf(line, sizeof line, "%s.%03dZ %s %s\n", stamp,
		    (int)(tv.tv_usec / 1000), log_names[level], esc);
	if (n > 0)
		log_write(line, (size_t)n < sizeof line ? (size_t)n :
		    sizeof line - 1);
	errno = saved;
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
