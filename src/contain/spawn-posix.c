/*
 * spawn-posix.c: start a task's process with posix_spawn().
 *
 * The child gets, in this order: default signal dispositions and an empty
 * signal mask (the agent ignores SIGPIPE, and ignored signals survive exec),
 * a process group of its own (so that a cancel reaches everything it
 * spawns), its working directory, /dev/null on stdin, the task's pipes on
 * stdout and stderr, and no other descriptor.  posix_spawn() does all of
 * that in one call where the platform has the chdir and closefrom file
 * actions (glibc 2.34+, recent BSDs); it never runs pthread_atfork
 * handlers, which matters in a process with gRPC's threads.  A task that
 * starts in a cgroup of its own goes through spawn-fork.c, as does every
 * task where configure finds posix_spawn lacking.
 */

#include "config.h"

#include <sys/types.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>

#include "agent.h"


int
spawn_start(const struct spawn_req *s, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all, none;
	int error;

	if (s->cgroup_fd != -1 || s->n_rlimits != 0 || s->switch_user ||
	    s->in_fd != -1 || s->pty || s->script_fd > 2 ||
	    (s->pdeathsig && SPAWN_HAVE_PDEATHSIG))
		return spawn_fork(s, pid);	/* posix_spawn cannot */

	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	sigemptyset(&none);

	if ((error = posix_spawnattr_init(&attr)) != 0)
		return error;
	if ((error = posix_spawn_file_actions_init(&fa)) != 0) {
		posix_spawnattr_destroy(&attr);
		return error;
	}
	if ((error = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)) != 0 ||
	    (error = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
	    (error = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
	    (error = posix_spawnattr_setsigmask(&attr, &none)) != 0)
		goto out;
	if (s->dir != NULL && (error =
	    posix_spawn_file_actions_addchdir_np(&fa, s->dir)) != 0)
		goto out;
	if ((error = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDONLY, 0)) != 0 ||
	    (error = posix_spawn_file_actions_adddup2(&fa, s->out_fd, 1)) != 0 ||
	    (error = posix_spawn_file_actions_adddup2(&fa, s->err_fd, 2)) != 0 ||
	    (error = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0)
		goto out;
	error = posix_spawn(pid, s->path, &fa, &attr, s->argv, s->envp);
out:
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return error;
}
