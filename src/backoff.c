/*
 * backoff.c: the delay before each reconnect attempt.
 *
 * Exponential with full jitter: the n-th delay is drawn uniformly from
 * [0, min(max, initial * multiplier^n)], so that a fleet of agents cut off
 * together does not reconnect together.  The random source is passed in,
 * which keeps these functions pure and testable.
 */

#include "config.h"

#include <stdio.h>

#include "agent.h"

void
backoff_init(struct backoff *b, uint64_t initial_ms, uint64_t max_ms,
    unsigned multiplier_pct)
{
	b->initial_ms = initial_ms == 0 ? 1 : initial_ms;
	b->max_ms = max_ms < b->initial_ms ? b->initial_ms : max_ms;
	b->multiplier_pct = multiplier_pct < 100 ? 100 : multiplier_pct;
	b->ceiling_ms = b->initial_ms;
}

/* Returns the next delay in milliseconds and raises the ceiling. */
uint64_t
backoff_next(struct backoff *b, backoff_random_fn rnd, void *arg)
{
	uint64_t delay, next;

	delay = (uint64_t)(((double)rnd(arg) / 4294967296.0) *
	    (double)(b->ceiling_ms + 1));
	if (delay > b->ceiling_ms)
		delay = b->ceiling_ms;
	next = b->ceiling_ms * b->multiplier_pct / 100;
	if (next <= b->ceiling_ms)
		next = b->ceiling_ms + 1;	/* always grow, even at 1 ms */
	b->ceiling_ms = next > b->max_ms ? b->max_ms : next;
	return delay;
}

/* Called once a stream has stayed healthy: the next failure starts over. */
void
backoff_reset(struct backoff *b)
{
	b->ceiling_ms = b->initial_ms;
}
