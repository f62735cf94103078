/*
 * monotime.c: the one monotonic clock of the agent, in milliseconds.
 *
 * CLOCK_MONOTONIC where the system has it (every current one); otherwise
 * the wall clock, which can jump, so that durations may then be wrong but
 * never negative.
 */

#include "config.h"

#include <sys/time.h>

#include <time.h>

#include "agent.h"

uint64_t
compat_monotime_ms(void)
{
#ifdef CLOCK_MONOTONIC
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		return (uint64_t)ts.tv_sec * 1000 +
		    (uint64_t)ts.tv_nsec / 1000000;
#endif
	{
		static uint64_t last;
		struct timeval tv;
		uint64_t now;

		gettimeofday(&tv, NULL);
		now = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
		if (now < last)
			now = last;	/* never backwards */
		last = now;
		return now;
	}
}
