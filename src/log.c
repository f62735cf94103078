/*
 * log.c: time-stamped log lines on stderr.
 *
 * One line per event: "2026-11-26T22:45:49.123Z INFO message", or with
 * --log-format json one JSON object per line ({"time": ..., "level": ...,
 * "msg": ...}) for log collectors.  Values that come from the server or
 * from tasks go through log_escape() first, so that a hostile task ID
 * cannot forge log lines or flood the log.
 */

#include "config.h"

#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"

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

enum log_level
log_get_level(void)
{
	return log_level;
}

/* "debug", "info", "warn" or "error"; returns -1 for anything else. */
int
log_parse_level(const char *name, enum log_level *level)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(name, names[i]) == 0) {
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

/* Appends S to B as the inside of a JSON string. */
static void
log_json_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	char esc[6];

	for (; (c = (unsigned char)*s) != '\0'; s++) {
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			buf_append(b, esc, 2);
		} else if (c < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			buf_append(b, esc, 6);
		} else
			buf_append(b, s, 1);
	}
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char stamp[32], line[2048];
	struct timeval tv;
	struct tm tm;
	time_t secs;

	if (level < log_level)
		return;
	gettimeofday(&tv, NULL);
	secs = tv.tv_sec;
	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(line, sizeof line, fmt, ap);
	/* One write per line keeps lines whole when several threads log. */
	if (log_json) {
		struct buf b;

		buf_init(&b);
		log_json_escape(&b, line);
		buf_append(&b, "", 1);
		fprintf(stderr, "{\"time\":\"%s.%03dZ\",\"level\":\"%s\","
		    "\"msg\":\"%s\"}\n", stamp, (int)(tv.tv_usec / 1000),
		    log_lower_names[level], b.data);
		buf_free(&b);
	} else
		fprintf(stderr, "%s.%03dZ %s %s\n", stamp,
		    (int)(tv.tv_usec / 1000), log_names[level], line);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	abort();
}

/* Like fatalx(), with strerror(errno) appended. */
void
fatal(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fatalx("%s: %s", msg, strerror(saved));
}

/*
 * Returns a printable copy of LEN bytes of S: control characters and
 * non-ASCII bytes as \xHH, at most MAX input bytes followed by "...".
 * The caller frees it.
 */
char *
log_escape(const char *s, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	struct buf b;
	size_t i, n;
	unsigned char c;
	char esc[4];

	buf_init(&b);
	n = len < max ? len : max;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			buf_append(&b, &c, 1);
			continue;
		}
		esc[0] = '\\';
		esc[1] = 'x';
		esc[2] = hex[c >> 4];
		esc[3] = hex[c & 15];
		buf_append(&b, esc, 4);
	}
	if (n < len)
		buf_append(&b, "...", 3);
	buf_append(&b, "", 1);
	return b.data;
}
