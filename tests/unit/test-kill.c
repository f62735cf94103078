/*
 * test-kill.c: the kill sequence's state machine.  SIGTERM first and
 * SIGKILL when the grace period ends; SIGKILL at once with no grace or when
 * hurried; every signal sent once.
 */

#include "config.h"

#include <signal.h>

#include <glib.h>

#include "agent.h"

static void
test_term_then_kill(void)
{
	struct kill_seq k;
	int arm;

	kill_init(&k, 10000);
	g_assert_cmpint(kill_current_signal(&k), ==, 0);
	g_assert_cmpint(kill_begin(&k, &arm), ==, SIGTERM);
	g_assert_true(arm);
	g_assert_cmpint(kill_current_signal(&k), ==, SIGTERM);
	/* A second begin (a second cancel) sends nothing new. */
	g_assert_cmpint(kill_begin(&k, &arm), ==, 0);
	g_assert_false(arm);
	g_assert_cmpint(kill_expire(&k), ==, SIGKILL);
	g_assert_cmpint(kill_current_signal(&k), ==, SIGKILL);
	g_assert_cmpint(kill_expire(&k), ==, 0);
	g_assert_cmpint(kill_hurry(&k), ==, 0);
}

static void
test_no_grace(void)
{
	struct kill_seq k;
	int arm;

	kill_init(&k, 0);
	g_assert_cmpint(kill_begin(&k, &arm), ==, SIGKILL);
	g_assert_false(arm);
	g_assert_cmpint(kill_expire(&k), ==, 0);
}

static void
test_hurry(void)
{
	struct kill_seq k;
	int arm;

	/* During the grace period. */
	kill_init(&k, 10000);
	kill_begin(&k, &arm);
	g_assert_cmpint(kill_hurry(&k), ==, SIGKILL);
	g_assert_cmpint(kill_expire(&k), ==, 0);
	/* Before anything was sent. */
	kill_init(&k, 10000);
	g_assert_cmpint(kill_hurry(&k), ==, SIGKILL);
	g_assert_cmpint(kill_begin(&k, &arm), ==, 0);
}

static void
test_expire_before_begin(void)
{
	struct kill_seq k;

	kill_init(&k, 10000);
	g_assert_cmpint(kill_expire(&k), ==, 0);
	g_assert_cmpint(kill_current_signal(&k), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/kill/term-then-kill", test_term_then_kill);
	g_test_add_func("/kill/no-grace", test_no_grace);
	g_test_add_func("/kill/hurry", test_hurry);
	g_test_add_func("/kill/expire-before-begin", test_expire_before_begin);
	return g_test_run();
}
