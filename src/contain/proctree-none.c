/*
 * proctree-none.c: where the platform offers no list of a process's
 * children (or configure was told to use no subreaper), a task's process
 * group is the boundary of what a cancel reaches.  Processes that leave
 * the group (setsid) escape a cancel there; the agent says so in its log
 * at start.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "agent.h"

int
proctree_subreaper_enable(void)
{
	errno = ENOSYS;
	return -1;
}

ssize_t
proctree_children(pid_t **out)
{
	*out = NULL;
	errno = ENOSYS;
	return -1;
}

void
proctree_descendants(pid_t root, pid_t **out, size_t *n, size_t *cap)
{
	(void)root;
	(void)out;
	(void)n;
	(void)cap;
}

const char *
proctree_getenv(pid_t pid, const char *name)
{
	(void)pid;
	(void)name;
	return NULL;
}

int
proctree_starttime(pid_t pid, uint64_t *start)
{
	(void)pid;
	(void)start;
	return -1;
}

void
proctree_kill_marked(const char *name, char *const *values, size_t n,
    int *killed)
{
	(void)name;
	(void)values;
	(void)n;
	(void)killed;
}
