/*
 * kill.c: the kill sequence of a task, as a state machine without I/O.
 *
 *   idle --begin--> TERM sent --grace expires--> KILL sent
 *     \--begin with grace 0, or hurry-----------/
 *
 * Each step returns the signal the caller should send to the task's
 * processes now (0 for none); the caller owns the timer and the signalling.
 * Keeping the decisions here makes them testable without processes.
 */

#include "config.h"

#include <signal.h>
#include <stdio.h>

#include "agent.h"

void
kill_init(struct kill_seq *k, uint64_t grace_ms)
{
	k->state = KILL_IDLE;
	k->grace_ms = grace_ms;
}

/* Starts the sequence; *arm is set when the grace timer must be armed. */
int
kill_begin(struct kill_seq *k, int *arm)
{
	*arm = 0;
	if (k->state != KILL_IDLE)
		return 0;
	if (k->grace_ms == 0) {
		k->state = KILL_KILL_SENT;
		return SIGKILL;
	}
	k->state = KILL_TERM_SENT;
	*arm = 1;
	return SIGTERM;
}

/* The grace period is over. */
int
kill_expire(struct kill_seq *k)
{
	if (k->state != KILL_TERM_SENT)
		return 0;
	k->state = KILL_KILL_SENT;
	return SIGKILL;
}

/* Skip what is left of the grace period (a second shutdown signal). */
int
kill_hurry(struct kill_seq *k)
{
	if (k->state == KILL_KILL_SENT)
		return 0;
	k->state = KILL_KILL_SENT;
	return SIGKILL;
}

/* The signal to repeat to processes found later (escapees, new children). */
int
kill_current_signal(const struct kill_seq *k)
{
	switch (k->state) {
	case KILL_TERM_SENT:
		return SIGTERM;
	case KILL_KILL_SENT:
		return SIGKILL;
	default:
		return 0;
	}
}

/* What a cancel with this grace does, in words, for the cancel's answer. */
void
kill_plan(uint64_t grace_ms, char *buf, size_t size)
{
	if (grace_ms == 0)
		snprintf(buf, size, "SIGKILL sent");
	else if (grace_ms % 1000 == 0)
		snprintf(buf, size, "SIGTERM sent, SIGKILL in %llu s",
		    (unsigned long long)(grace_ms / 1000));
	else
		snprintf(buf, size, "SIGTERM sent, SIGKILL in %.3f s",
		    (double)grace_ms / 1000.0);
}
