/*
 * backoff.c: the delay before each reconnect attempt.
 *
 * Exponential with full jitter: the n-th delay is drawn uniformly from
 * [0, min(max, initial * multiplier^n)], so that a fleet of agents cut off
 * together does not reconnect together.  A stream that stayed up for
 * healthy_ms before it ended starts the sequence over.  The random source
 * and the clock are passed in, which keeps these functions pure and
 * testable.
 */

#include "config.h"

#include <stdio.h>

#include "agent.h"

void
backoff_init(struct backoff *b, uint64_t initial_ms, uint64_t max_ms,
    unsigned multiplier_pct, uint64_t healthy_ms)
{
	b->initial_ms = initial_ms == 0 ? 1 : initial_ms;
	b->max_ms = max_ms < b->initial_ms ? b->initial_ms : max_ms;
	b->multiplier_pct = multiplier_pct < 100 ? 100 : multiplier_pct;
	b->ceiling_ms = b->initial_ms;
	b->healthy_ms = healthy_ms;
	b->up_since_ms = 0;
	b->up = 0;
}

/* A stream has opened at NOW_MS (any clock that only goes forward). */
void
backoff_connected(struct backoff *b, uint64_t now_ms)
{
	b->up = 1;
	b->up_since_ms = now_ms;
}

/*
 * The stream ended at NOW_MS: returns the delay before the next attempt, in
 * milliseconds, and raises the ceiling.
 */
uint64_t
backoff_next(struct backoff *b, uint64_t now_ms, backoff_random_fn rnd,
    void *arg)
{
	uint64_t delay, next;

	if (b->up && now_ms - b->up_since_ms >= b->healthy_ms)
		backoff_reset(b);
	b->up = 0;

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

/* The next failure starts over. */
void
backoff_reset(struct backoff *b)
{
	b->ceiling_ms = b->initial_ms;
}
