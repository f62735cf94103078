/*
 * test-registry.c: the task registry.  Tasks are found by ID in every
 * state; a finished task keeps its final message and resends it unchanged;
 * finished tasks are forgotten oldest first beyond the limit, never a
 * running one.  The link is real but never connected: what tasks send
 * stays in its spool, where the test can count it.
 */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <glib.h>
#include <grpc/grpc.h>

#include "agent.h"

static struct agent agent;
static struct options opts;

static void
no_request(void *arg, const void *data, size_t len)
{
	(void)arg;
	(void)data;
	(void)len;
}

static void
no_drain(void *arg)
{
	(void)arg;
}

static void
setup(void)
{
	struct link_handlers h = { no_request, no_drain, NULL, NULL };
	char *argv[] = { (char *)"agent", (char *)"--agent-id=me",
	    (char *)"--agent-token=t", NULL };
	char *text, *env[] = { NULL };

	options_init(&opts);
	g_assert_cmpint(options_parse(&opts, 3, argv, env, &text), ==,
	    OPTIONS_OK);
	agent.base = event_base_new();
	agent.opts = &opts;
	agent.link = link_new(agent.base, &opts, &h);
	outbox_init(agent.link, no_drain, NULL);
}

static void
teardown(void)
{
	task_free_all();
	link_free(agent.link);
	event_base_free(agent.base);
	options_free(&opts);
}

/* The final of a process that exited with CODE. */
static void
send_completed(struct task *t, int code)
{
	struct final f;

	memset(&f, 0, sizeof f);
	f.status = STATUS_COMPLETED;
	f.exit_code = code;
	task_send_final(t, &f);
}

static void
test_states_and_lookup(void)
{
	struct task *t;

	setup();
	t = task_new(&agent, "q", "", TASK_KIND_SHELL);
	g_assert_cmpint(task_state(t), ==, TASK_NEW);
	task_set_state(t, TASK_QUEUED);
	g_assert_true(task_find("q") == t);
	g_assert_null(task_find("other"));
	g_assert_cmpuint(task_count(TASK_QUEUED), ==, 1);
	task_set_state(t, TASK_RUNNING);
	g_assert_cmpuint(task_count(TASK_QUEUED), ==, 0);
	g_assert_cmpuint(task_count(TASK_RUNNING), ==, 1);
	send_completed(t, 0);
	g_assert_cmpint(task_state(t), ==, TASK_FINISHED);
	g_assert_cmpuint(task_count(TASK_RUNNING), ==, 0);
	g_assert_true(task_find("q") == t);
	teardown();
}

static void
test_resend_is_identical(void)
{
	struct task *t;
	size_t before, first;

	setup();
	t = task_new(&agent, "r", "", TASK_KIND_SHELL);
	task_set_state(t, TASK_RUNNING);
	task_send_output(t, OUTPUT_STDOUT, "x\n", 2);
	before = link_spooled(agent.link);
	send_completed(t, 3);
	first = link_spooled(agent.link) - before;
	task_resend_final(t);
	g_assert_cmpuint(link_spooled(agent.link) - before, ==, 2 * first);
	teardown();
}

static void
test_forgets_oldest_finished(void)
{
	struct task *running, *t;
	char id[32];
	int i;

	setup();
	running = task_new(&agent, "still-running", "", TASK_KIND_SHELL);
	task_set_state(running, TASK_RUNNING);
	for (i = 0; i < 10001; i++) {
		snprintf(id, sizeof id, "t%d", i);
		t = task_new(&agent, id, "", TASK_KIND_SHELL);
		task_set_state(t, TASK_RUNNING);
		send_completed(t, 0);
	}
	g_assert_cmpuint(task_count(TASK_FINISHED), ==, 10000);
	g_assert_null(task_find("t0"));
	g_assert_nonnull(task_find("t1"));
	g_assert_nonnull(task_find("t10000"));
	g_assert_true(task_find("still-running") == running);
	teardown();
}

/* Cancels for IDs never seen have a memory of their own: 10,001 of them
 * forget the oldest of them, never a finished task. */
static void
test_unknown_cancels_apart(void)
{
	struct request req;
	struct task *t;
	char id[32];
	int i;

	setup();
	t = task_new(&agent, "ran", "", TASK_KIND_SHELL);
	task_set_state(t, TASK_RUNNING);
	send_completed(t, 0);
	memset(&req, 0, sizeof req);
	req.agent_id = (char *)"";
	for (i = 0; i < 10001; i++) {
		snprintf(id, sizeof id, "c%d", i);
		req.task_id = id;
		task_cancel_unknown(&agent, &req, "nothing to cancel");
	}
	g_assert_true(task_find("ran") == t);
	g_assert_null(task_find("c0"));
	g_assert_nonnull(task_find("c1"));
	g_assert_nonnull(task_find("c10000"));
	teardown();
}

static void
test_long_failure_reason_is_cut(void)
{
	struct task *t;
	char *reason;
	size_t before;

	setup();
	reason = g_strnfill(100000, 'r');
	before = link_spooled(agent.link);
	task_fail(task_new(&agent, "long", "", TASK_KIND_SHELL),
	    REASON_BAD_REQUEST, "%s", reason);
	t = task_find("long");
	g_assert_nonnull(t);
	g_assert_cmpint(task_state(t), ==, TASK_FINISHED);
	g_assert_cmpuint(link_spooled(agent.link) - before, <, 1200);
	g_free(reason);
	teardown();
}

int
main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	log_set_level(LOG_ERROR);
	grpc_init();
	g_test_add_func("/registry/states-and-lookup", test_states_and_lookup);
	g_test_add_func("/registry/resend-is-identical",
	    test_resend_is_identical);
	g_test_add_func("/registry/forgets-oldest-finished",
	    test_forgets_oldest_finished);
	g_test_add_func("/registry/unknown-cancels-apart",
	    test_unknown_cancels_apart);
	g_test_add_func("/registry/long-failure-reason-is-cut",
	    test_long_failure_reason_is_cut);
	rc = g_test_run();
	grpc_shutdown();
	return rc;
}
