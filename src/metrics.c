/*
 * metrics.c: the agent's counters.
 *
 * The loop's files count what happens (streams, tasks, bytes, messages)
 * into one global, `metrics', which only the loop's thread touches; their
 * text form for /metrics and /healthz is metrics-text.c's.  Counting
 * calls nothing, so that every file may count.
 */

#include "config.h"

#include <sys/time.h>

#include <string.h>

#include "agent.h"

struct metrics metrics;

/* Task durations, in seconds (the histogram's upper bounds). */
const double metrics_buckets[METRICS_BUCKETS] = { 0.01, 0.05, 0.1,
    0.5, 1, 5, 10, 30, 60, 300, 1800, 3600 };

/* Unix time, in seconds. */
double
metrics_now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void
metrics_init(void)
{
	memset(&metrics, 0, sizeof metrics);
	metrics.start_time = metrics_now();
}

void
metrics_server_message(void)
{
	metrics.last_server_message = metrics_now();
}

void
metrics_task_started(enum task_kind kind)
{
	metrics.started[kind]++;
}

/* A task ended with OUTCOME after SECONDS. */
void
metrics_task_finished(enum task_kind kind, enum metrics_outcome outcome,
    double seconds)
{
	size_t i;

	metrics.finished[kind][outcome]++;
	for (i = 0; i < METRICS_BUCKETS; i++) {
		if (seconds <= metrics_buckets[i])
			metrics.duration_buckets[kind][i]++;
	}
	metrics.duration_count[kind]++;
	metrics.duration_sum[kind] += seconds;
}

/* Seconds since the server last sent anything; -1 before the first. */
double
metrics_server_message_age(void)
{
	if (metrics.last_server_message == 0)
		return -1;
	return metrics_now() - metrics.last_server_message;
}
