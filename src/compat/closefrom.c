/*
 * closefrom.c: closefrom() where the C library has none (configure's
 * AC_REPLACE_FUNCS builds this file only then).
 *
 * It runs in a child between fork() and exec(), so it makes only
 * async-signal-safe calls.  close_range() closes everything in one call
 * where the kernel has it; the loop up to the descriptor limit is the last
 * resort, and costs tens of milliseconds when that limit is high.
 */

#include "config.h"

#include <unistd.h>

#include "agent.h"

void
closefrom(int lowfd)
{
	long max, fd;

#ifdef HAVE_CLOSE_RANGE
	if (close_range((unsigned)lowfd, ~0U, 0) == 0)
		return;
#endif
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1048576)
		max = 1048576;
	for (fd = lowfd; fd < max; fd++)
		close((int)fd);
}
