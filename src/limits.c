/*
 * limits.c: the resource limits a task runs with (pure but for the log).
 *
 * A request asks for limits (ShellExecute.limits; 0 is "none asked"), the
 * agent's settings give a default for each (--limit-memory ...) and a
 * ceiling (--limit-memory-ceiling ...).  A task gets what it asked for,
 * lowered to the ceiling (logged), or the default; a default never
 * exceeds its ceiling (options.c refuses that at start).
 *
 * The fields of struct limits are taken as an array of LIMITS_COUNT
 * uint64_t values, in the order of ShellExecute.ResourceLimits.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static const char *const limits_names[LIMITS_COUNT] = {
	"memory", "CPU time", "process", "open file", "file size", "output",
};

const char *
limits_name(size_t i)
{
	return i < LIMITS_COUNT ? limits_names[i] : "?";
}

/* A limit's value as a message says it: "64 MiB", "10 seconds", ... */
char *
limits_describe_value(size_t i, uint64_t v)
{
	char *s;

	switch (i) {
	case 0:	/* memory */
	case 4:	/* file size */
		if (v >= 1024 * 1024 && v % (1024 * 1024) == 0)
			xasprintf(&s, "%llu MiB", (unsigned long long)(v >> 20));
		else
			xasprintf(&s, "%llu bytes", (unsigned long long)v);
		break;
	case 1:
		xasprintf(&s, "%llu seconds", (unsigned long long)v);
		break;
	case 5:
		xasprintf(&s, "%llu bytes", (unsigned long long)v);
		break;
	default:
		xasprintf(&s, "%llu", (unsigned long long)v);
		break;
	}
	return s;
}

/* The limits task TASK_ID runs with, from what it ASKED. */
void
limits_effective(const struct options *o, const struct limits *asked,
    const char *task_id, struct limits *out)
{
	const uint64_t *a = &asked->memory_bytes;
	const uint64_t *d = &o->limit_default.memory_bytes;
	const uint64_t *c = &o->limit_ceiling.memory_bytes;
	uint64_t *e = &out->memory_bytes;
	char *want, *most;
	size_t i;

	for (i = 0; i < LIMITS_COUNT; i++) {
		e[i] = a[i] != 0 ? a[i] : d[i];
		if (c[i] != 0 && (e[i] == 0 || e[i] > c[i])) {
			if (a[i] != 0) {
				want = limits_describe_value(i, a[i]);
				most = limits_describe_value(i, c[i]);
				log_info("task %s: %s limit of %s lowered to "
				    "the agent's ceiling of %s", task_id,
				    limits_names[i], want, most);
				free(want);
				free(most);
			}
			e[i] = c[i];
		}
	}
}

/*
 * Limits so low that no process could start under them are a mistake in
 * the request, said plainly, rather than a task that dies of SIGSEGV.
 * Returns 0, or -1 with *why set.
 */
int
limits_check(const struct limits *l, char **why)
{
	if (l->memory_bytes != 0 && l->memory_bytes < LIMITS_MIN_MEMORY) {
		xasprintf(why, "memory limit of %llu bytes is below %u MiB, "
		    "too little for any process to start",
		    (unsigned long long)l->memory_bytes,
		    LIMITS_MIN_MEMORY >> 20);
		return -1;
	}
	if (l->max_open_files != 0 && l->max_open_files < 3) {
		xasprintf(why, "open file limit of %llu is below 3 (stdin, "
		    "stdout and stderr)", (unsigned long long)l->max_open_files);
		return -1;
	}
	return 0;
}
