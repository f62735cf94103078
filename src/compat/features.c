/*
 * features.c: the way each shim went in this build, as words for
 * --version ("Built with: ...").  The test suite reads them to skip what
 * a build cannot do (a cancel reaching setsid escapees needs process-tree).
 */

#include "config.h"

#include "agent.h"

const char *
compat_features(void)
{
	return
#ifdef USE_POSIX_SPAWN
	    "posix-spawn"
#else
	    "fork-exec"
#endif
#ifdef HAVE_PIPE2
	    " pipe2"
#else
	    " pipe-fcntl"
#endif
#if defined(HAVE_CLOSEFROM)
	    " closefrom"
#elif defined(HAVE_CLOSE_RANGE)
	    " close_range"
#else
	    " close-loop"
#endif
#ifdef PROCTREE_LINUX
	    " process-tree limits=cgroup+rlimit"
#else
	    " process-group-only limits=rlimit"
#endif
	    ;
}
