/*
 * xmalloc.c: allocation that never returns NULL to the caller.
 *
 * Running out of memory in the agent is not something a task or the server
 * can cause (every input is bounded before it is stored), so it is an
 * impossible state and aborts loudly.
 */

#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

void *
xmalloc(size_t size)
{
	void *p;

	p = malloc(size == 0 ? 1 : size);
	if (p == NULL)
		fatalx("out of memory allocating %zu bytes", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
	if (p == NULL)
		fatalx("out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	return xreallocarray(p, 1, size);
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	void *q;

	if (size != 0 && n > SIZE_MAX / size)
		fatalx("allocation of %zu x %zu bytes overflows", n, size);
	q = realloc(p, n * size == 0 ? 1 : n * size);
	if (q == NULL)
		fatalx("out of memory allocating %zu x %zu bytes", n, size);
	return q;
}

char *
xstrdup(const char *s)
{
	return xmemdup0(s, strlen(s));
}

char *
xstrndup(const char *s, size_t max)
{
	const char *end;

	end = memchr(s, '\0', max);
	return xmemdup0(s, end != NULL ? (size_t)(end - s) : max);
}

/* Copies LEN bytes and adds a terminating NUL. */
char *
xmemdup0(const void *s, size_t len)
{
	char *p;

	if (len == SIZE_MAX)
		fatalx("string too long");
	p = xmalloc(len + 1);
	if (len != 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	va_list copy;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		fatalx("bad format string %s", fmt);
	*ret = xmalloc((size_t)n + 1);
	vsnprintf(*ret, (size_t)n + 1, fmt, ap);
	return n;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return n;
}
