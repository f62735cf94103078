/*
 * compat.h: the platform shims.  Core code calls these named functions and
 * never tests for platform features itself; each shim's file picks the best
 * way its platform offers, as decided by configure.
 */

#ifndef NODELINK_COMPAT_H
#define NODELINK_COMPAT_H

#include <sys/types.h>

#include <stdint.h>

/* pipe-cloexec.c: a pipe whose both ends are close-on-exec. */
int compat_pipe_cloexec(int[2]);

/* closefrom.c, where the C library lacks it. */
#ifndef HAVE_CLOSEFROM
void closefrom(int);
#endif

/* spawn-posix.c or spawn-fork.c: start PATH with ARGV and ENVP in a new process group, stdin from
 * /dev/null, stdout and stderr on the given descriptors, in DIR (or the
 * agent's directory when NULL), with no other descriptor inherited.
 * Returns 0 and the pid, or an errno value. */
struct compat_spawn {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *dir;
	int out_fd;
	int err_fd;
};
int compat_spawn(const struct compat_spawn *, pid_t *);

/* proctree-linux.c or proctree-none.c: a task's processes beyond its
 * process group, and the subreaper that keeps its orphans with the agent. */
int compat_subreaper_enable(void);
size_t compat_proctree_collect(pid_t, const char *, const pid_t *, size_t,
    pid_t **);

/* monotime.c: milliseconds from a clock that never goes back. */
uint64_t compat_monotime_ms(void);

/* features.c: which way each shim went, for --version and the tests. */
const char *compat_features(void);

#endif /* NODELINK_COMPAT_H */
