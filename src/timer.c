/*
 * timer.c: libevent timers armed in milliseconds, the unit every setting
 * uses.
 */

#include "config.h"

#include <sys/time.h>

#include <stdio.h>

#include <event2/event.h>

#include "agent.h"

void
timer_add_ms(struct event *ev, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (evtimer_add(ev, &tv) != 0)
		fatalx("cannot arm a timer");
}
