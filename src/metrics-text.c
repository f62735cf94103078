/*
 * metrics-text.c: the agent's counters (metrics.c) and state as text:
 * /metrics in the Prometheus text exposition format, /healthz and /readyz
 * as JSON.  http.c serves them from the loop, so a scrape sees a
 * consistent view and a wedged loop shows as a scrape that times out.
 * Names follow Prometheus's rules: a `nodelink_agent_' prefix, `_total'
 * on counters, base units (seconds, bytes).
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/time.h>

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

static const char *const metrics_kinds[] = { "shell", "docker", "file",
    "command", "terminal" };
static const char *const metrics_outcomes[] = { "succeeded",
    "exited_nonzero", "failed", "cancelled", "timed_out" };

static void
metrics_help(struct buf *b, const char *name, const char *type,
    const char *help)
{
	char line[512];

	snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
	buf_append(b, line, strlen(line));
}

static void
metrics_line(struct buf *b, const char *fmt, ...) printflike(2, 3);
static void metrics_one(struct buf *, const char *, const char *,
    const char *, unsigned long long);

static void
metrics_line(struct buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_append(b, line, (size_t)n < sizeof line ? (size_t)n :
		    sizeof line - 1);
}

/* A metric with one sample, no labels: its HELP, TYPE and value. */
static void
metrics_one(struct buf *b, const char *name, const char *type,
    const char *help, unsigned long long value)
{
	metrics_help(b, name, type, help);
	metrics_line(b, "%s %llu\n", name, value);
}

/* The agent process's own figures, from /proc where there is one. */
static void
metrics_process(struct buf *b)
{
	struct rusage ru;
	struct rlimit rl;
	struct dirent *de;
	long size_pages, rss_pages = -1, pagesize;
	size_t fds = 0;
	FILE *f;
	DIR *d;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		metrics_help(b, "process_cpu_seconds_total", "counter",
		    "User and system CPU time of the agent in seconds.");
		metrics_line(b, "process_cpu_seconds_total %.6f\n",
		    (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	}
	if ((f = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(f, "%ld %ld", &size_pages, &rss_pages) != 2)
			rss_pages = -1;
		fclose(f);
	}
	pagesize = sysconf(_SC_PAGESIZE);
	if (rss_pages >= 0 && pagesize > 0) {
		metrics_help(b, "process_resident_memory_bytes", "gauge",
		    "Resident memory size in bytes.");
		metrics_line(b, "process_resident_memory_bytes %ld\n",
		    rss_pages * pagesize);
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] != '.')
				fds++;
		}
		closedir(d);
		metrics_help(b, "process_open_fds", "gauge",
		    "Number of open file descriptors.");
		metrics_line(b, "process_open_fds %zu\n", fds - 1);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		metrics_help(b, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.");
		metrics_line(b, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
	metrics_help(b, "process_start_time_seconds", "gauge",
	    "Start time of the process since the epoch in seconds.");
	metrics_line(b, "process_start_time_seconds %.3f\n",
	    metrics.start_time);
}

/* The agent and its server. */
static void
metrics_render_link(struct buf *b, const struct metrics_state *st)
{
	size_t i;

	metrics_help(b, "nodelink_agent_build_info", "gauge",
	    "Always 1; the version in a label.");
	metrics_line(b, "nodelink_agent_build_info{version=\"%s\"} 1\n",
	    PACKAGE_VERSION);
	metrics_one(b, "nodelink_agent_connected", "gauge",
	    "1 while a stream to a server is established.",
	    (unsigned long long)st->connected);
	metrics_one(b, "nodelink_agent_connects_total", "counter",
	    "Streams to a server established.", metrics.connects);
	metrics_help(b, "nodelink_agent_connect_attempts_total", "counter",
	    "Streams to a server that ended, by their gRPC status code.");
	for (i = 0; i < METRICS_GRPC_CODES; i++)
		metrics_line(b, "nodelink_agent_connect_attempts_total{code=\"%s"
		    "\"} %llu\n", link_status_name((int)i),
		    (unsigned long long)metrics.connect_attempts[i]);
	metrics_one(b, "nodelink_agent_disconnects_total", "counter",
	    "Established streams that ended.", metrics.disconnects);
	metrics_help(b, "nodelink_agent_last_server_message_timestamp_seconds",
	    "gauge", "When the server last sent anything (0: never).");
	metrics_line(b, "nodelink_agent_last_server_message_timestamp_seconds "
	    "%.3f\n", metrics.last_server_message);
}

/* Tasks started and finished, and how long they took. */
static void
metrics_render_tasks(struct buf *b)
{
	size_t k, o, i;

	metrics_help(b, "nodelink_agent_tasks_started_total", "counter",
	    "Tasks started, by kind.");
	for (k = 0; k < METRICS_KINDS; k++)
		metrics_line(b, "nodelink_agent_tasks_started_total{kind=\"%s\"} "
		    "%llu\n", metrics_kinds[k],
		    (unsigned long long)metrics.started[k]);
	metrics_help(b, "nodelink_agent_tasks_finished_total", "counter",
	    "Tasks finished, by kind and outcome.");
	for (k = 0; k < METRICS_KINDS; k++) {
		for (o = 0; o < METRICS_OUTCOMES; o++)
			metrics_line(b, "nodelink_agent_tasks_finished_total{"
			    "kind=\"%s\",outcome=\"%s\"} %llu\n",
			    metrics_kinds[k], metrics_outcomes[o],
			    (unsigned long long)metrics.finished[k][o]);
	}
	metrics_help(b, "nodelink_agent_task_duration_seconds", "histogram",
	    "How long tasks that ran a process took, by kind.");
	for (k = 0; k < METRICS_KINDS; k++) {
		for (i = 0; i < METRICS_BUCKETS; i++)
			metrics_line(b, "nodelink_agent_task_duration_seconds_"
			    "bucket{kind=\"%s\",le=\"%g\"} %llu\n",
			    metrics_kinds[k], metrics_buckets[i],
			    (unsigned long long)
			    metrics.duration_buckets[k][i]);
		metrics_line(b, "nodelink_agent_task_duration_seconds_bucket{"
		    "kind=\"%s\",le=\"+Inf\"} %llu\n", metrics_kinds[k],
		    (unsigned long long)metrics.duration_count[k]);
		metrics_line(b, "nodelink_agent_task_duration_seconds_sum{"
		    "kind=\"%s\"} %.6f\n", metrics_kinds[k],
		    metrics.duration_sum[k]);
		metrics_line(b, "nodelink_agent_task_duration_seconds_count{"
		    "kind=\"%s\"} %llu\n", metrics_kinds[k],
		    (unsigned long long)metrics.duration_count[k]);
	}
}

/* Tasks now, their limits, refusals, drain and shutdown. */
static void
metrics_render_load(struct buf *b, const struct metrics_state *st)
{
	size_t i;

	metrics_one(b, "nodelink_agent_tasks_running", "gauge",
	    "Tasks running now.", st->running);
	metrics_one(b, "nodelink_agent_tasks_queued", "gauge",
	    "Tasks waiting for a slot.", st->queued);
	metrics_one(b, "nodelink_agent_tasks_max_running", "gauge",
	    "Tasks that may run at once (--max-concurrent-tasks).",
	    st->max_running);
	metrics_one(b, "nodelink_agent_tasks_max_queued", "gauge",
	    "Tasks that may wait (--max-queued-tasks).", st->max_queued);
	metrics_help(b, "nodelink_agent_tasks_refused_total", "counter",
	    "Tasks answered FAILURE without running, by reason.");
	for (i = 1; i < METRICS_REASONS; i++)
		metrics_line(b, "nodelink_agent_tasks_refused_total{reason=\"%s"
		    "\"} %llu\n", fail_reason_name((enum fail_reason)i),
		    (unsigned long long)metrics.refused[i]);
	metrics_one(b, "nodelink_agent_draining", "gauge",
	    "1 from a drain's start (SIGQUIT): no new tasks are taken.",
	    (unsigned long long)st->draining);
	metrics_one(b, "nodelink_agent_shutting_down", "gauge",
	    "1 from SIGTERM (or a drain's time up): tasks are cancelled.",
	    (unsigned long long)st->shutting_down);
}

/* Output, messages, acks, spool and journal. */
static void
metrics_render_messages(struct buf *b, const struct metrics_state *st)
{
	metrics_help(b, "nodelink_agent_output_bytes_total", "counter",
	    "Task output bytes sent, by stream.");
	metrics_line(b, "nodelink_agent_output_bytes_total{stream=\"stdout\"} "
	    "%llu\n", (unsigned long long)metrics.output_bytes[OUTPUT_STDOUT]);
	metrics_line(b, "nodelink_agent_output_bytes_total{stream=\"stderr\"} "
	    "%llu\n", (unsigned long long)metrics.output_bytes[OUTPUT_STDERR]);
	metrics_one(b, "nodelink_agent_messages_sent_total", "counter",
	    "Messages the server's transport took.", metrics.messages_sent);
	metrics_one(b, "nodelink_agent_messages_resent_total", "counter",
	    "Messages sent again after a stream ended.",
	    metrics.messages_resent);
	metrics_one(b, "nodelink_agent_malformed_messages_total", "counter",
	    "Messages from the server dropped as malformed.",
	    metrics.malformed);
	metrics_one(b, "nodelink_agent_input_dropped_total", "counter",
	    "Input or resizes for tasks that take none, dropped.",
	    metrics.input_dropped);
	metrics_one(b, "nodelink_agent_input_refused_total", "counter",
	    "Input refused: the task's queue was full.",
	    metrics.input_refused);
	metrics_one(b, "nodelink_agent_acks_total", "counter",
	    "Acknowledgements from the server taken.", metrics.acks);
	metrics_one(b, "nodelink_agent_acks_dropped_total", "counter",
	    "Acknowledgements of unknown tasks or unsent messages dropped.",
	    metrics.acks_unknown);
	metrics_one(b, "nodelink_agent_spool_bytes", "gauge",
	    "Bytes waiting to be sent to the server.", st->spool_bytes);
	metrics_one(b, "nodelink_agent_journal_bytes", "gauge",
	    "Bytes in the state directory's journal.", state_journal_bytes());
}

/*
 * Every metric in the Prometheus text exposition format 0.0.4, as a
 * NUL-terminated string (the caller frees it).
 */
char *
metrics_render(const struct metrics_state *st)
{
	struct buf b;

	buf_init(&b);
	metrics_render_link(&b, st);
	metrics_render_tasks(&b);
	metrics_render_load(&b, st);
	metrics_render_messages(&b, st);
	metrics_process(&b);
	buf_append(&b, "", 1);
	return b.data;
}

/* MemAvailable from /proc/meminfo, in bytes; -1 where there is none. */
static long long
metrics_mem_available(void)
{
	char line[256];
	long long kib = -1;
	FILE *f;

	if ((f = fopen("/proc/meminfo", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "MemAvailable: %lld kB", &kib) == 1)
			break;
	}
	fclose(f);
	return kib < 0 ? -1 : kib * 1024;
}

/* The JSON body of /healthz and /readyz (the caller frees it). */
char *
metrics_health(const struct metrics_state *st, const char *status)
{
	char age[32], load[32], mem[32], server[2048], *out;
	double loads[1], a;
	long long m;

	if ((a = metrics_server_message_age()) < 0)
		snprintf(age, sizeof age, "null");
	else
		snprintf(age, sizeof age, "%.3f", a);
	if (getloadavg(loads, 1) == 1)
		snprintf(load, sizeof load, "%.2f", loads[0]);
	else
		snprintf(load, sizeof load, "null");
	if ((m = metrics_mem_available()) < 0)
		snprintf(mem, sizeof mem, "null");
	else
		snprintf(mem, sizeof mem, "%lld", m);
	vis_escape(server, sizeof server, st->server, strlen(st->server),
	    VIS_JSON);
	xasprintf(&out, "{\"status\":\"%s\",\"version\":\"%s\","
	    "\"uptime_seconds\":%.3f,\"connected\":%s,\"server\":\"%s\","
	    "\"last_server_message_age_seconds\":%s,\"tasks_running\":%zu,"
	    "\"tasks_queued\":%zu,\"spool_bytes\":%zu,\"load1\":%s,"
	    "\"mem_available_bytes\":%s}\n", status, PACKAGE_VERSION,
	    metrics_now() - metrics.start_time, st->connected ? "true" :
	    "false", server, age, st->running, st->queued, st->spool_bytes,
	    load, mem);
	return out;
}
