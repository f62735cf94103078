/*
 * test-backoff.c: reconnect delays grow from the initial ceiling by the
 * multiplier up to the maximum, stay within [0, ceiling] (full jitter), and
 * start over after a reset.  The random source is injected.
 */

#include "config.h"

#include <glib.h>

#include "agent.h"

static uint32_t
rnd_max(void *arg)
{
	(void)arg;
	return UINT32_MAX;
}

static uint32_t
rnd_zero(void *arg)
{
	(void)arg;
	return 0;
}

static uint32_t
rnd_glib(void *arg)
{
	return g_rand_int(arg);
}

static void
test_ceiling_grows_to_max(void)
{
	static const uint64_t want[] = {
		1000, 1500, 2250, 3375, 5062, 7593, 11389, 17083, 25624,
		38436, 57654, 60000, 60000,
	};
	struct backoff b;
	size_t i;

	backoff_init(&b, 1000, 60000, 150, 10000);
	for (i = 0; i < G_N_ELEMENTS(want); i++)
		g_assert_cmpuint(backoff_next(&b, 0, rnd_max, NULL), ==, want[i]);
}

static void
test_full_jitter_bounds(void)
{
	struct backoff b;
	uint64_t ceiling, d;
	GRand *r;
	int i;

	r = g_rand_new_with_seed(7);
	backoff_init(&b, 1000, 60000, 150, 10000);
	g_assert_cmpuint(backoff_next(&b, 0, rnd_zero, NULL), ==, 0);
	for (i = 0; i < 1000; i++) {
		ceiling = b.ceiling_ms;
		d = backoff_next(&b, 0, rnd_glib, r);
		g_assert_cmpuint(d, <=, ceiling);
	}
	g_assert_cmpuint(b.ceiling_ms, ==, 60000);
	g_rand_free(r);
}

static void
test_reset(void)
{
	struct backoff b;
	int i;

	backoff_init(&b, 200, 5000, 200, 10000);
	for (i = 0; i < 10; i++)
		backoff_next(&b, 0, rnd_max, NULL);
	g_assert_cmpuint(b.ceiling_ms, ==, 5000);
	backoff_reset(&b);
	g_assert_cmpuint(backoff_next(&b, 0, rnd_max, NULL), ==, 200);
}

/* A stream that stayed up for healthy_ms starts the sequence over; a short
 * one does not.  The clock is the test's. */
static void
test_healthy_stream_resets(void)
{
	struct backoff b;
	int i;

	backoff_init(&b, 1000, 60000, 150, 10000);
	for (i = 0; i < 5; i++)
		backoff_next(&b, 0, rnd_max, NULL);
	g_assert_cmpuint(b.ceiling_ms, ==, 7593);
	backoff_connected(&b, 50000);
	g_assert_cmpuint(backoff_next(&b, 59999, rnd_max, NULL), ==, 7593);
	backoff_connected(&b, 60000);
	g_assert_cmpuint(backoff_next(&b, 70000, rnd_max, NULL), ==, 1000);
	/* A failed attempt (no connect) after that keeps growing. */
	g_assert_cmpuint(backoff_next(&b, 80000, rnd_max, NULL), ==, 1500);
}

static void
test_degenerate_settings(void)
{
	struct backoff b;

	/* A multiplier below 1 or a 1 ms start still grows and stays sane. */
	backoff_init(&b, 1, 3, 50, 10000);
	g_assert_cmpuint(backoff_next(&b, 0, rnd_max, NULL), ==, 1);
	g_assert_cmpuint(backoff_next(&b, 0, rnd_max, NULL), ==, 2);
	g_assert_cmpuint(backoff_next(&b, 0, rnd_max, NULL), ==, 3);
	g_assert_cmpuint(backoff_next(&b, 0, rnd_max, NULL), ==, 3);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/backoff/ceiling-grows-to-max",
	    test_ceiling_grows_to_max);
	g_test_add_func("/backoff/full-jitter-bounds", test_full_jitter_bounds);
	g_test_add_func("/backoff/reset", test_reset);
	g_test_add_func("/backoff/healthy-stream-resets",
	    test_healthy_stream_resets);
	g_test_add_func("/backoff/degenerate-settings", test_degenerate_settings);
	return g_test_run();
}
