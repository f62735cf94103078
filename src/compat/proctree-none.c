/*
 * proctree-none.c: where the platform offers no process table to walk (or
 * configure was told to use no subreaper), a task's process group is the
 * boundary of what a cancel reaches.  Processes that leave the group
 * (setsid) escape a cancel there; the agent says so in its log at start.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "agent.h"

int
compat_subreaper_enable(void)
{
	errno = ENOSYS;
	return -1;
}

size_t
compat_proctree_collect(pid_t root, const char *marker, const pid_t *known,
    size_t n_known, pid_t **out)
{
	(void)root;
	(void)marker;
	(void)known;
	(void)n_known;
	*out = NULL;
	return 0;
}
