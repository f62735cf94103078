/*
 * main.c: start-up, the loop, signals and shutdown.
 *
 * Order matters: settings are checked before anything connects (a missing
 * agent ID or token is exit status 2, not a connection attempt); SIGPIPE is
 * ignored before any descriptor exists; libevent is made thread-aware
 * before the base exists, because the completion-queue thread activates
 * events on it.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <grpc/grpc.h>
#include <grpc/support/log.h>

#include "agent.h"

extern char **environ;

/* Shutdown waits for cancelled tasks this long beyond their grace. */
#define MAIN_DRAIN_EXTRA_MS 1000

static struct agent agent;
static struct event *main_drain_timer;
static uint64_t main_idle_since;	/* shutdown: tasks done, spool not */
static struct event *main_give_up_timer;
static struct event *main_drain_deadline;	/* --drain-timeout */
/* While draining, how often the loop looks whether all is done. */
#define MAIN_DRAIN_CHECK_MS 100

/*
 * gRPC's own log lines, in the agent's format (GRPC_TRACE=http prints
 * request metadata, the token among it: the logger masks it).
 */
static void
main_grpc_log(gpr_log_func_args *args)
{
	enum log_level level;

	switch (args->severity) {
	case GPR_LOG_SEVERITY_DEBUG:
		level = LOG_DEBUG;
		break;
	case GPR_LOG_SEVERITY_INFO:
		level = LOG_INFO;
		break;
	default:
		level = LOG_ERROR;
		break;
	}
	log_msg(level, "grpc: %s", args->message);
}

/*
 * Descriptors 0, 1 and 2 must be open before anything else is: a pipe or
 * socket that landed on one of them would be clobbered by a spawn, or
 * written to by a log line.
 */
static void
main_open_stdio(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

/* A token in a file others can read is a token others have (config.c
 * refuses one that others can write). */
static void
main_check_config_mode(const struct options *o)
{
	struct stat sb;

	if (o->config == NULL || stat(o->config, &sb) != 0)
		return;
	if (sb.st_mode & (S_IRGRP | S_IROTH))
		log_warnx("configuration file %s is readable by other users; "
		    "if it holds the agent token, chmod 600 it", o->config);
}

/* Usage or configuration errors: an escaped line each, status 2. */
static int
main_usage_error(const char *text)
{
	char shown[2048];
	const char *end;
	size_t len;

	for (; *text != '\0'; text = *end == '\n' ? end + 1 : end) {
		end = strchr(text, '\n');
		len = end != NULL ? (size_t)(end - text) : strlen(text);
		if (end == NULL)
			end = text + len;
		vis_escape(shown, sizeof shown, text, len, 0);
		fprintf(stderr, "%s: %s\n", AGENT_NAME, shown);
	}
	fprintf(stderr, "Try '%s --help' for more information.\n",
	    AGENT_NAME);
	return 2;
}

static void
main_request(void *arg, const void *data, size_t len)
{
	struct agent *a = arg;

	if (link_speaks_head(a->link))
		head_request(a, data, len);
	else
		dispatch_request(a, data, len);
}

/* Paused tasks read their output on (outbox.c decides when). */
static void
main_resume(void *arg)
{
	(void)arg;
	task_proc_resume_all();
	task_file_resume_all();
}

/* A send to a server that never acknowledges completed (outbox.c). */
static void
main_sent(void *arg, const struct msg *m)
{
	(void)arg;
	outbox_sent(m);
}

/* The link no longer holds task output back: the outbox decides. */
static void
main_drained(void *arg)
{
	(void)arg;
	outbox_resume_readers();
}

/* Stops the loop once no task runs and the spool is empty. */
static void
main_check_drained(evutil_socket_t fd, short events, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)events;
	if (task_count(TASK_RUNNING) != 0 || task_count(TASK_QUEUED) != 0)
		return;
	if (outbox_queued() != 0)
		return;		/* a message's journal write, for a moment */
	if (link_spooled(a->link) == 0 ||
	    (state_active() && !link_connected(a->link))) {
		/* Delivered, or kept in the journal for the next start. */
		event_base_loopbreak(a->base);
		return;
	}
	/* The last messages wait for the server a while (without a journal
	 * they are lost after that). */
	if (main_idle_since == 0) {
		main_idle_since = compat_monotime_ms();
		log_info("waiting up to %u s for the server to take %zu bytes of "
		    "messages (--delivery-wait)", a->opts->delivery_wait_s,
		    link_spooled(a->link));
	}
	if (compat_monotime_ms() - main_idle_since >=
	    (uint64_t)a->opts->delivery_wait_s * 1000)
		event_base_loopbreak(a->base);
}

static void
main_give_up(evutil_socket_t fd, short events, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)events;
	log_warnx("exiting with %zu task(s) still running and %zu bytes "
	    "unsent", task_count(TASK_RUNNING), link_spooled(a->link));
	event_base_loopbreak(a->base);
}

/* SIGTERM (or a drain's time up): every task is cancelled, then exit. */
static void
main_shut_down(struct agent *a)
{
	a->shutting_down = 1;
	notify_systemd("STOPPING=1");
	if (main_drain_deadline != NULL)
		event_del(main_drain_deadline);
	admit_cancel_all();
	task_proc_cancel_all();
	task_file_cancel_all();
	timer_add_ms(main_drain_timer, 20);
	timer_add_ms(main_give_up_timer, (uint64_t)a->opts->kill_grace_s *
	    1000 + MAIN_DRAIN_EXTRA_MS + (state_active() ? 0 :
	    (uint64_t)a->opts->delivery_wait_s * 1000));
}

static void
main_on_signal(evutil_socket_t sig, short events, void *arg)
{
	struct agent *a = arg;

	(void)events;
	if (a->shutting_down) {
		log_info("%s received again: killing tasks now",
		    strsignal((int)sig));
		task_proc_hurry_all();
		return;
	}
	log_info("%s received: cancelling %zu running and %zu queued "
	    "task(s), then exiting", strsignal((int)sig),
	    task_count(TASK_RUNNING), task_count(TASK_QUEUED));
	main_shut_down(a);
}

/*
 * SIGQUIT: a graceful drain (as GitLab Runner and nginx take it).  No new
 * task is taken (each is answered SHUTTING_DOWN), the running and queued
 * ones finish as they would have, their finals go out, and the agent
 * exits 0.  Past --drain-timeout, what is left is cancelled as on
 * SIGTERM; SIGTERM meanwhile does what it always does.
 */
static void
main_on_drain(evutil_socket_t sig, short events, void *arg)
{
	struct agent *a = arg;

	(void)sig;
	(void)events;
	if (a->shutting_down || a->draining) {
		log_info("SIGQUIT received: ignored (already %s)",
		    a->shutting_down ? "shutting down" : "draining");
		return;
	}
	a->draining = 1;
	/* Not STOPPING=1: systemd would then arm TimeoutStopSec= and kill
	 * the drain, tasks and all, when it runs out.  The status says it;
	 * the exit at the end is a clean stop. */
	notify_status();
	log_info("SIGQUIT received: draining: %zu running and %zu queued "
	    "task(s) finish, no new ones are taken%s", task_count(TASK_RUNNING),
	    task_count(TASK_QUEUED), a->opts->drain_timeout_s != 0 ? "" :
	    " (no time limit: --drain-timeout)");
	if (a->opts->drain_timeout_s != 0)
		timer_add_ms(main_drain_deadline,
		    (uint64_t)a->opts->drain_timeout_s * 1000);
	/* Looked at now and then, not at every task's end: a drain may
	 * take hours. */
	timer_add_ms(main_drain_timer, MAIN_DRAIN_CHECK_MS);
}

static void
main_on_drain_deadline(evutil_socket_t fd, short events, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)events;
	log_info("drain: %u s are up (--drain-timeout): cancelling %zu "
	    "running and %zu queued task(s), then exiting",
	    a->opts->drain_timeout_s, task_count(TASK_RUNNING),
	    task_count(TASK_QUEUED));
	main_shut_down(a);
}

/*
 * Every task holds descriptors (its pipes, its cgroup): the soft limit
 * goes up to the hard one, so that the default 1024 does not cap the
 * agent at a few hundred tasks.  A task that still finds none waits in
 * the queue (admit.c).
 */
/* Returns the soft limit it raised, or 0. */
static uint64_t
main_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
		return 0;
	/* Tasks get the limits the agent was started with, not the raised
	 * one: programs using select() break above 1,024. */
	task_proc_set_nofile((uint64_t)rl.rlim_cur, (uint64_t)rl.rlim_max);
	was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	log_info("descriptor limit raised from %llu to %llu",
	    (unsigned long long)was, (unsigned long long)rl.rlim_max);
	return (uint64_t)was;
}

static int main_argc;
static char **main_argv;

/*
 * gRPC's settings that only its environment sets, read once by
 * grpc_init(), then taken out again so that tasks do not inherit them.
 * An operator's own value wins.
 *
 * GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS=0: the backup poller polls
 * a channel that no thread polls, every 5 s (a wakeup of gRPC's timer
 * thread and of a poller each time).  Here one thread always polls
 * (link-cq.c blocks in grpc_completion_queue_next() for the whole life of
 * the agent), so it finds nothing to do but costs an idle agent wakeups.
 */
static void
main_grpc_init(void)
{
	static const char *const vars[][2] = {
		{ "GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "0" },
	};
	int set[sizeof vars / sizeof vars[0]];
	size_t i;

	for (i = 0; i < sizeof vars / sizeof vars[0]; i++)
		set[i] = getenv(vars[i][0]) == NULL &&
		    setenv(vars[i][0], vars[i][1], 1) == 0;
	grpc_init();
	for (i = 0; i < sizeof vars / sizeof vars[0]; i++)
		if (set[i])
			unsetenv(vars[i][0]);
}

/*
 * SIGHUP: the configuration is read again (reload.c).  Raised limits let
 * queued tasks start now.
 */
static void
main_on_sighup(evutil_socket_t sig, short events, void *arg)
{
	int changed;

	(void)sig;
	(void)events;
	(void)arg;
	log_info("SIGHUP received: reading the configuration again");
	notify_systemd("RELOADING=1");
	if ((changed = reload_options(agent.opts, main_argc, main_argv,
	    environ)) >= 0) {
		log_info("reload: %d setting(s) changed", changed);
		admit_task_done();
	}
	notify_systemd("READY=1");
	notify_status();
}

/* What `systemctl status' shows (STATUS=). */
static void
main_status(char *buf, size_t size)
{
	snprintf(buf, size, "%s%s %s; %zu task(s) running, %zu queued",
	    agent.shutting_down ? "stopping," : agent.draining ?
	    "draining," : "", link_connected(agent.link) ? "connected to" :
	    "not connected to", link_server(agent.link),
	    task_count(TASK_RUNNING), task_count(TASK_QUEUED));
}

/*
 * Signals that would end the agent by default and orphan its tasks, sent
 * by habit (SIGUSR1), by a stray timer or by the kernel about the agent's
 * own limits (SIGXFSZ, SIGXCPU): logged, and ignored.  (SIGURG and
 * SIGWINCH are ignored by default; they are logged too, at debug level.)
 * Tasks start with every signal at its default (spawn-fork.c).
 */
static const int main_stray_signals[] = {
	SIGUSR1, SIGALRM, SIGVTALRM, SIGPROF, SIGXFSZ, SIGXCPU,
	SIGURG, SIGWINCH,
#ifdef SIGIO
	SIGIO,
#endif
#ifdef SIGPWR
	SIGPWR,
#endif
#ifdef SIGSTKFLT
	SIGSTKFLT,
#endif
};
#define MAIN_N_STRAY (sizeof main_stray_signals / sizeof main_stray_signals[0])

static void
main_on_ignored_signal(evutil_socket_t sig, short events, void *arg)
{
	(void)events;
	(void)arg;
	log_msg(sig == SIGURG || sig == SIGWINCH ? LOG_DEBUG : LOG_INFO,
	    "%s received: ignored%s", strsignal((int)sig), sig == SIGUSR1 ?
	    " (this agent has nothing to reopen: it logs to stderr)" : "");
}

/* The real-time signals: ignored (their default ends the process). */
static void
main_ignore_realtime(void)
{
#if defined(SIGRTMIN) && defined(SIGRTMAX)
	int sig;

	for (sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		signal(sig, SIG_IGN);
#endif
}

/* SIGUSR2: re-execute in place, tasks untouched (handover.c). */
static void
main_on_reexec(evutil_socket_t sig, short events, void *arg)
{
	(void)sig;
	(void)events;
	handover_begin(arg);
}

/* Every signal the loop handles; false if one cannot be watched. */
static struct event *main_signal_events[MAIN_N_STRAY + 5];

static int
main_signals_start(struct agent *a)
{
	struct event **ev = main_signal_events;
	size_t i, n = 0;

	ev[n++] = evsignal_new(a->base, SIGTERM, main_on_signal, a);
	ev[n++] = evsignal_new(a->base, SIGINT, main_on_signal, a);
	ev[n++] = evsignal_new(a->base, SIGHUP, main_on_sighup, NULL);
	ev[n++] = evsignal_new(a->base, SIGQUIT, main_on_drain, a);
	ev[n++] = evsignal_new(a->base, SIGUSR2, main_on_reexec, a);
	for (i = 0; i < MAIN_N_STRAY; i++)
		ev[n++] = evsignal_new(a->base, main_stray_signals[i],
		    main_on_ignored_signal, NULL);
	for (i = 0; i < n; i++)
		if (ev[i] == NULL || evsignal_add(ev[i], NULL) != 0)
			return 0;
	main_ignore_realtime();
	return 1;
}

static void
main_signals_stop(void)
{
	size_t i;

	for (i = 0; i < sizeof main_signal_events /
	    sizeof main_signal_events[0]; i++) {
		if (main_signal_events[i] != NULL)
			event_free(main_signal_events[i]);
		main_signal_events[i] = NULL;
	}
}

/*
 * The command line, environment and file: -1 to go on, or the status to
 * exit with at once (--help, --version, --check-config, a usage error).
 */
static int
main_configure(struct options *opts, int argc, char **argv)
{
	enum options_result r;
	enum log_level level;
	enum wire_dialect dialect;
	char *text;

	options_init(opts);
	r = options_parse(opts, argc, argv, environ, &text);
	if (r == OPTIONS_EXIT) {
		fputs(text, stdout);
		free(text);
		return 0;
	}
	if (r == OPTIONS_ERROR) {
		main_usage_error(text);
		free(text);
		return 2;
	}
	if (opts->check_config) {
		text = options_describe(opts);
		fputs(text, stdout);
		free(text);
		if (opts->token_warning != NULL)
			fprintf(stderr, "%s: warning: %s\n", AGENT_NAME,
			    opts->token_warning);
		return 0;
	}
	if (log_parse_level(opts->log_level, &level) == 0)
		log_set_level(level);
	log_set_json(strcmp(opts->log_format, "json") == 0);
	if (wire_parse_dialect(opts->wire_dialect, &dialect) == 0)
		wire_set_dialect(dialect);
	main_check_config_mode(opts);
	if (opts->token_warning != NULL)
		log_warnx("%s", opts->token_warning);
	return -1;
}

/* The process, gRPC and the loop, before any part of the agent starts. */
static void
main_start_process(struct options *opts)
{
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < MAIN_N_STRAY; i++)	/* until the loop handles them */
		signal(main_stray_signals[i], SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	log_set_secret(opts->agent_token);
	gpr_set_log_function(main_grpc_log);
	main_grpc_init();
	if (evthread_use_pthreads() != 0)
		fatalx("libevent has no thread support");
	agent.base = event_base_new();
	if (agent.base == NULL)
		fatalx("cannot create the event loop");
	agent.opts = opts;
	log_info("%s %s starting: libevent %s (%s), gRPC %s", AGENT_NAME,
	    PACKAGE_VERSION, event_get_version(),
	    event_base_get_method(agent.base), grpc_version_string());
	handover_init(main_argv, main_raise_nofile());
	if (proctree_subreaper_enable() == 0)
		log_debug("child subreaper: orphaned task processes stay with "
		    "the agent");
	else
		log_info("no child subreaper on this system: a cancel reaches "
		    "a task's process group only");
}

/*
 * The agent's parts, in the order they depend on each other: 0, or 2
 * (logged) if the state directory or the HTTP endpoint cannot be had.
 */
static int
main_start(struct options *opts)
{
	struct link_handlers handlers;
	uint64_t watchdog_ms;
	char *text;
	int handed;

	metrics_init();
	/* (Before the cgroups are set up: it names the ones to go on with.) */
	handed = handover_load();
	reaper_start(agent.base);
	track_init(agent.base, opts->cgroup_root);
	if (state_open(agent.base, opts->state_dir, opts->state_dir_explicit,
	    &text) != 0) {
		log_error("%s", text);
		free(text);
		return 2;
	}
	admit_init(&agent, dispatch_start);
	handlers.request = main_request;
	handlers.drained = main_drained;
	handlers.sent = main_sent;
	handlers.arg = &agent;
	agent.link = link_new(agent.base, opts, &handlers);
	outbox_init(agent.link, main_resume, &agent);
	main_drain_timer = event_new(agent.base, -1, EV_PERSIST,
	    main_check_drained, &agent);
	main_give_up_timer = evtimer_new(agent.base, main_give_up, &agent);
	main_drain_deadline = evtimer_new(agent.base, main_on_drain_deadline,
	    &agent);
	if (main_drain_timer == NULL || main_give_up_timer == NULL ||
	    main_drain_deadline == NULL || !main_signals_start(&agent))
		fatalx("cannot watch signals");
	if (opts->http_listen != NULL &&
	    http_start(&agent, opts->http_listen, &text) != 0) {
		log_error("%s", text);
		free(text);
		return 2;
	}
	recovery_run(&agent, handed > 0 ? handover_has_task : NULL);
	if (handed > 0)
		handover_adopt(&agent);
	link_start(agent.link);
	notify_systemd("READY=1");
	if ((watchdog_ms = notify_watchdog_start(agent.base, main_status)) != 0)
		log_info("systemd watchdog: pinged every %llu ms",
		    (unsigned long long)watchdog_ms);
	return 0;
}

/*
 * After the loop: 1 if messages were lost.  Finals the server never got
 * are lost without a state directory: a failure, for a supervisor to see.
 * With one they wait in the journal for the next start.  (Measured
 * before the link closes, which puts the resend window back in the
 * spool.)
 */
static int
main_unsent(void)
{
	size_t unsent;

	if ((unsent = link_spooled(agent.link)) != 0 && state_active())
		log_info("%zu bytes of messages not yet delivered stay in the "
		    "journal for the next start", unsent);
	else if (unsent != 0) {
		log_error("%zu bytes of messages were never delivered: the server "
		    "could not be reached", unsent);
		return 1;
	}
	return 0;
}

static void
main_free_event(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

/*
 * The one way out, from however far main_start got.  Nothing freed here
 * can be reached by a callback that may still run: the tasks the give-up
 * timer left running are killed and forgotten before their START records
 * go (state_close), and the journal is closed before the spool, so what
 * the spool holds stays journaled; the loop runs once more only for the
 * link's own close.
 */
static void
main_stop(struct options *opts)
{
	handover_stop();
	head_stop();
	task_proc_detach_all();
	task_file_detach_all();
	state_close();
	if (agent.link != NULL) {
		link_close(agent.link);
		while (!link_idle(agent.link))
			event_base_loop(agent.base, EVLOOP_ONCE);
	}
	http_stop();
	if (agent.link != NULL)
		link_free(agent.link);
	agent.link = NULL;
	main_free_event(&main_drain_timer);
	main_free_event(&main_give_up_timer);
	main_free_event(&main_drain_deadline);
	notify_stop();
	main_signals_stop();
	reaper_stop();
	track_shutdown();
	admit_free();
	task_free_all();
	event_base_free(agent.base);
	grpc_shutdown();
	options_free(opts);
	libevent_global_shutdown();
	log_info("stopped");
}

int
main(int argc, char **argv)
{
	struct options opts;
	int status;

	main_open_stdio();
	log_detect_journald();
	if ((status = main_configure(&opts, argc, argv)) != -1) {
		options_free(&opts);
		return status;
	}
	main_argc = argc;
	main_argv = argv;
	main_start_process(&opts);
	if ((status = main_start(&opts)) == 0) {
		event_base_loop(agent.base, EVLOOP_NO_EXIT_ON_EMPTY);
		status = main_unsent();
	}
	main_stop(&opts);
	return status;
}
